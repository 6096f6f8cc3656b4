/** @vitest-environment jsdom */
import type { AnyModel } from "@anywidget/types";
import { describe, expect, it } from "vitest";
import { RowStore } from "./sync";
import type { OutgoingMessage, Row, WidgetTraits } from "./types";
import { ConversationView } from "./view";
import widget from "./widget";

type Handler = (...args: unknown[]) => void;

/** Enough of an anywidget model for the view: traits, events and sent messages. */
class FakeModel {
  sent: OutgoingMessage[] = [];
  private handlers = new Map<string, Set<Handler>>();
  constructor(public traits: WidgetTraits) {}
  get<K extends keyof WidgetTraits>(key: K): WidgetTraits[K] {
    return this.traits[key];
  }
  set<K extends keyof WidgetTraits>(key: K, value: WidgetTraits[K]): void {
    this.traits[key] = value;
    this.emit(`change:${String(key)}`);
  }
  on(name: string, fn: Handler): void {
    if (!this.handlers.has(name)) this.handlers.set(name, new Set());
    this.handlers.get(name)!.add(fn);
  }
  off(name?: string | null, fn?: Handler | null): void {
    if (name && fn) this.handlers.get(name)?.delete(fn);
  }
  emit(name: string, ...args: unknown[]): void {
    for (const fn of this.handlers.get(name) ?? []) fn(...args);
  }
  listeners(name: string): number {
    return this.handlers.get(name)?.size ?? 0;
  }
  send(msg: OutgoingMessage): void {
    this.sent.push(msg);
  }
  save_changes(): void {}
  widget_manager = { get_model: () => Promise.reject(new Error("no")) };
}

function traits(extra: Partial<WidgetTraits> = {}): WidgetTraits {
  return {
    conversation_id: "abc123", agent_state: "running", connection_state: "OPEN", reconnects: 1,
    error: null, n_events: 0, live: true, ...extra,
  };
}

function row(i: number, fields: Partial<Row> = {}): Row {
  return {
    i, id: i, kind: "action", type: "message", source: "agent", timestamp: null, message: null,
    content: `hello ${i}`, thought: null, agent_state: null, exit_code: null, path: null, cause: null,
    delivery: "live", hidden: null, parse_error: null, truncated: null, ...fields,
  };
}

const asModel = (m: FakeModel) => m as unknown as AnyModel<WidgetTraits>;
const syncScheduler = { request: (cb: () => void) => (cb(), 0), cancel: () => {} };

describe("ConversationView", () => {
  it("renders header state from traits and rows from the store, hiding hidden rows", () => {
    const model = new FakeModel(traits({ n_events: 3 }));
    const store = new RowStore((m) => model.send(m));
    store.receive({ type: "rows", start: 0, rows: [row(0), row(1, { hidden: true })] });
    const view = new ConversationView(asModel(model), store, { scheduler: syncScheduler });
    expect(view.el.querySelector(".ohnb-conversation-id")?.textContent).toBe("abc123");
    expect(view.el.querySelector<HTMLElement>(".ohnb-agent-state")?.dataset.state).toBe("running");
    expect(view.el.querySelector(".ohnb-connection-state")?.textContent).toBe("open");
    expect(view.el.querySelector(".ohnb-reconnects")?.textContent).toBe("1 reconnect");
    expect(view.el.querySelector(".ohnb-count")?.textContent).toBe("2 / 3 events");
    expect(view.el.querySelectorAll(".ohnb-event").length).toBe(1);

    // New rows append to the DOM; existing elements are kept (no re-render).
    const first = view.el.querySelector(".ohnb-event");
    store.receive({ type: "rows", start: 2, rows: [row(2)] });
    expect(view.el.querySelectorAll(".ohnb-event").length).toBe(2);
    expect(view.el.querySelector(".ohnb-event")).toBe(first);
    expect(view.el.querySelector(".ohnb-count")?.textContent).toBe("3 events");
    view.destroy();
  });

  it("shows the error banner and disables controls unless live and OPEN", () => {
    const model = new FakeModel(traits());
    const view = new ConversationView(asModel(model), new RowStore(() => {}), { scheduler: syncScheduler });
    const banner = view.el.querySelector<HTMLElement>(".ohnb-error-banner")!;
    expect(banner.hidden).toBe(true);
    expect(view.controls.sendButton.disabled).toBe(false);
    model.set("error", "Connection lost: <b>transport</b> error");
    model.set("connection_state", "RECONNECTING");
    expect(banner.hidden).toBe(false);
    expect(banner.textContent).toBe("Connection lost: <b>transport</b> error");
    expect(banner.querySelector("b")).toBeNull();
    expect(view.controls.sendButton.disabled).toBe(true);
    expect(view.controls.pauseButton.disabled).toBe(true);
    model.set("connection_state", "OPEN");
    model.set("live", false);
    expect(view.controls.input.disabled).toBe(true);
    view.destroy();
    expect(model.listeners("change:error")).toBe(0);
  });

  it("sends messages, pause and resume to the kernel", () => {
    const model = new FakeModel(traits());
    const view = new ConversationView(asModel(model), new RowStore(() => {}), { scheduler: syncScheduler });
    view.controls.input.value = "hi there";
    view.controls.input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    view.controls.pauseButton.click();
    view.controls.resumeButton.click();
    view.controls.sendButton.click(); // empty box: nothing
    expect(model.sent).toEqual([{ type: "send_message", text: "hi there" }, { type: "pause" }, { type: "resume" }]);
    expect(view.controls.input.value).toBe("");
  });
});

describe("widget entry point", () => {
  it("initialize asks for rows; render shows what arrives; a gap triggers a sync", async () => {
    const model = new FakeModel(traits({ n_events: 2 }));
    const signal = new AbortController().signal;
    const props = { model: asModel(model), signal, experimental: {} as never };
    const cleanup = await widget.initialize!(props);
    expect(model.sent).toEqual([{ type: "sync", have: 0 }]);
    model.emit("msg:custom", { type: "rows", start: 0, rows: [row(0), row(1)], total: 2 });

    const el = document.createElement("div");
    await widget.render!({ ...props, el, host: {} as never });
    await new Promise((resolve) => setTimeout(resolve, 50)); // animation frames
    expect(el.querySelectorAll(".ohnb-widget .ohnb-event").length).toBe(2);

    model.emit("msg:custom", { type: "rows", start: 5, rows: [row(5)], total: 6 });
    expect(model.sent.at(-1)).toEqual({ type: "sync", have: 2 });
    if (typeof cleanup === "function") await cleanup();
    expect(model.listeners("msg:custom")).toBe(0);
  });
});
