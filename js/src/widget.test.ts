/** @vitest-environment jsdom */
import type { AnyModel } from "@anywidget/types";
import { describe, expect, it } from "vitest";
import { RowStore } from "./sync";
import { makeRow, PAYLOADS } from "./testing";
import { ROW_FIELDS, type OutgoingMessage, type Row, type WidgetTraits } from "./types";
import { ConversationView, type ViewOptions } from "./view";
import widget, { mountStatic } from "./widget";

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
    error: null, n_events: 0, live: true, can_stop: false, height: "32em", ...extra,
  };
}

const toWire = (row: Row) => ROW_FIELDS.map((f) => (row as unknown as Record<string, unknown>)[f] ?? null);
const rowsMsg = (start: number, rows: Row[], total?: number) => ({ type: "rows" as const, start, rows: rows.map(toWire), fields: [...ROW_FIELDS], total });

const asModel = (m: FakeModel) => m as unknown as AnyModel<WidgetTraits>;
const syncScheduler = { request: (cb: () => void) => (cb(), 0), cancel: () => {} };
/** jsdom has no layout: fixed row heights and a 400 px viewport. */
const layout: ViewOptions = { scheduler: syncScheduler, measure: () => 40, viewport: () => ({ top: 0, height: 400 }), searchDebounceMs: 0 };

function view(model: FakeModel, store: RowStore): ConversationView {
  let scroller: HTMLElement | null = null;
  const v: ConversationView = new ConversationView(asModel(model), store, {
    ...layout,
    viewport: () => ({ top: scroller?.scrollTop ?? 0, height: 400 }),
  });
  scroller = v.list.scroller;
  document.body.replaceChildren(v.el);
  return v;
}

const events = (v: ConversationView) => [...v.el.querySelectorAll<HTMLElement>(".ohnb-event")];

describe("ConversationView", () => {
  it("renders header state from traits and rows from the store, hiding hidden rows", () => {
    const model = new FakeModel(traits({ n_events: 3 }));
    const store = new RowStore((m) => model.send(m));
    store.receive(rowsMsg(0, [makeRow(0), makeRow(1, { hidden: true })]));
    const v = view(model, store);
    expect(v.toolbar.hiddenToggle.parentElement?.textContent).toBe(" hidden (1)");
    expect(v.el.querySelector(".ohnb-conversation-id")?.textContent).toBe("abc123");
    const badge = v.el.querySelector<HTMLElement>(".ohnb-agent-state")!;
    expect(badge.dataset).toMatchObject({ state: "running", tone: "progress" });
    expect(badge.textContent).toBe("Running");
    expect(v.el.querySelector<HTMLElement>(".ohnb-connection-state")?.dataset.state).toBe("OPEN");
    expect(v.el.querySelector(".ohnb-connection-state")?.textContent).toBe("Connected");
    expect(v.el.querySelector(".ohnb-reconnects")?.textContent).toBe("1 reconnect");
    expect(v.el.querySelector(".ohnb-count")?.textContent).toBe("2 / 3 events");
    expect(events(v).length).toBe(1);

    store.receive(rowsMsg(2, [makeRow(2), makeRow(3, { kind: "status", type: "streaming_delta", content: "tok" })]));
    expect(events(v).map((e) => e.dataset.id)).toEqual(["0", "2"]);
    expect(v.el.querySelector(".ohnb-count")?.textContent).toBe("4 events");
    expect(v.el.dataset).toMatchObject({ held: "4", lastId: "3" });

    v.toolbar.hiddenToggle.checked = true;
    v.toolbar.hiddenToggle.dispatchEvent(new Event("change"));
    expect(events(v).map((e) => e.dataset.id)).toEqual(["0", "1", "2", "3"]);
    v.destroy();
  });

  it("keeps at most a window of rows in the DOM for 10,000 events", () => {
    const model = new FakeModel(traits());
    const store = new RowStore(() => {});
    const v = view(model, store);
    for (let start = 0; start < 10_000; start += 500) {
      store.receive(rowsMsg(start, Array.from({ length: 500 }, (_, k) => makeRow(start + k))));
    }
    expect(store.held).toBe(10_000);
    expect(events(v).length).toBeLessThanOrEqual(300);
    expect(events(v).at(-1)?.dataset.id).toBe("9999");
  });

  it("filters by type family, exact type and source, with counts in the menus", () => {
    const model = new FakeModel(traits());
    const store = new RowStore(() => {});
    store.receive(rowsMsg(0, [
      makeRow(0, { source: "user", content: "please list files" }),
      makeRow(1, { type: "run", content: "ls" }),
      makeRow(2, { kind: "observation", type: "run", content: "a.txt", exit_code: 0, source: "environment" }),
      makeRow(3, { type: "run_ipython", content: "print(1)" }),
    ]));
    const v = view(model, store);
    const type = v.toolbar.typeSelect;
    const labels = [...type.options].map((o) => o.textContent);
    expect(labels).toContain("Commands (2)");
    expect(labels).toContain("action: run (1)");
    type.value = "family:command";
    type.dispatchEvent(new Event("change"));
    expect(events(v).map((e) => e.dataset.id)).toEqual(["1", "3"]);
    expect(v.toolbar.matchCount.textContent).toBe("2 of 4 shown");
    type.value = "type:observation/run";
    type.dispatchEvent(new Event("change"));
    expect(events(v).map((e) => e.dataset.id)).toEqual(["2"]);
    type.value = "";
    type.dispatchEvent(new Event("change"));
    v.toolbar.sourceSelect.value = "user";
    v.toolbar.sourceSelect.dispatchEvent(new Event("change"));
    expect(events(v).map((e) => e.dataset.id)).toEqual(["0"]);

    // New rows are filtered as they arrive.
    store.receive(rowsMsg(4, [makeRow(4, { source: "user", content: "thanks" }), makeRow(5)]));
    expect(events(v).map((e) => e.dataset.id)).toEqual(["0", "4"]);
    expect(v.toolbar.matchCount.textContent).toBe("2 of 6 shown");
  });

  it("searches: shows matching rows and highlights the matches, Escape clears", () => {
    const model = new FakeModel(traits());
    const store = new RowStore(() => {});
    store.receive(rowsMsg(0, [makeRow(0, { content: "The **Needle** is here" }), makeRow(1, { content: "hay" }), makeRow(2, { type: "run", content: "grep needle file" })]));
    const v = view(model, store);
    v.toolbar.search.value = "needle";
    v.toolbar.search.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
    expect(events(v).map((e) => e.dataset.id)).toEqual(["0", "2"]);
    const marks = [...v.el.querySelectorAll(".ohnb-mark")].map((m) => m.textContent);
    expect(marks).toEqual(["Needle", "needle"]);
    expect(v.el.querySelector("strong .ohnb-mark")).not.toBeNull();
    expect(v.list.following).toBe(false); // a search starts at its first match
    v.toolbar.search.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape" }));
    expect(events(v).length).toBe(3);
    expect(v.list.following).toBe(true); // ... and clearing it follows the stream again
    expect(v.el.querySelector(".ohnb-mark")).toBeNull();
  });

  it("expands and collapses long outputs, keeping focus on the toggle", () => {
    const model = new FakeModel(traits());
    const store = new RowStore(() => {});
    const long = Array.from({ length: 30 }, (_, k) => `line ${k}`).join("\n");
    store.receive(rowsMsg(0, [makeRow(0, { kind: "observation", type: "run", content: long })]));
    const v = view(model, store);
    const toggle = () => v.el.querySelector<HTMLButtonElement>(".ohnb-toggle")!;
    expect(toggle().getAttribute("aria-expanded")).toBe("false");
    toggle().click();
    expect(toggle().getAttribute("aria-expanded")).toBe("true");
    expect(document.activeElement).toBe(toggle());
    toggle().click();
    expect(toggle().getAttribute("aria-expanded")).toBe("false");
  });

  it("jumps from an observation to its action", () => {
    const model = new FakeModel(traits());
    const store = new RowStore(() => {});
    store.receive(rowsMsg(0, [makeRow(0, { type: "run", event_id: "a1" }), ...Array.from({ length: 50 }, (_, k) => makeRow(k + 1)), makeRow(51, { kind: "observation", type: "run", cause_id: "a1" })]));
    const v = view(model, store);
    v.el.querySelector<HTMLButtonElement>('.ohnb-event[data-i="51"] .ohnb-cause')!.click();
    expect(v.list.following).toBe(false);
    expect(v.el.querySelector('.ohnb-event[data-id="a1"]')?.classList.contains("ohnb-flash")).toBe(true);
  });

  it("shows the error banner; controls work only when they can", () => {
    const model = new FakeModel(traits({ agent_state: "running" }));
    const v = view(model, new RowStore(() => {}));
    const c = v.controls;
    const banner = v.el.querySelector<HTMLElement>(".ohnb-error-banner")!;
    expect(banner.hidden).toBe(true);
    expect([c.sendButton.disabled, c.pauseButton.disabled, c.resumeButton.disabled, c.stopButton.disabled]).toEqual([false, false, true, true]);
    expect(c.stopButton.title).toBe("This conversation cannot stop the agent");

    model.set("agent_state", "paused");
    expect([c.pauseButton.disabled, c.resumeButton.disabled]).toEqual([true, false]);
    model.set("can_stop", true);
    expect(c.stopButton.disabled).toBe(false);
    model.set("agent_state", "stopped");
    expect(c.stopButton.disabled).toBe(true);

    model.set("error", "Connection lost: <b>transport</b> error");
    model.set("connection_state", "RECONNECTING");
    expect(banner.hidden).toBe(false);
    expect(banner.textContent).toBe("Connection lost: <b>transport</b> error");
    expect(banner.dataset.tone).toBe("warning");
    expect(banner.querySelector("b")).toBeNull();
    for (const el of [c.input, c.sendButton, c.pauseButton, c.resumeButton, c.stopButton]) expect(el.disabled).toBe(true);
    expect(c.sendButton.title).toBe("Not connected (reconnecting)");
    model.set("connection_state", "FAILED");
    expect(banner.dataset.tone).toBe("danger");
    model.set("connection_state", "OPEN");
    model.set("live", false);
    expect(c.input.disabled).toBe(true);
    expect(v.el.querySelector(".ohnb-connection-state")?.textContent).toBe("Stored");
    v.destroy();
    expect(model.listeners("change:error")).toBe(0);
  });

  it("sends messages, pause, resume and stop to the kernel", () => {
    const model = new FakeModel(traits({ agent_state: "running", can_stop: true }));
    const v = view(model, new RowStore(() => {}));
    v.controls.input.value = "hi there";
    v.controls.input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    v.controls.pauseButton.click();
    model.set("agent_state", "paused");
    v.controls.resumeButton.click();
    v.controls.stopButton.click();
    v.controls.sendButton.click(); // empty box: nothing
    expect(model.sent).toEqual([{ type: "send_message", text: "hi there" }, { type: "pause" }, { type: "resume" }, { type: "stop" }]);
    expect(v.controls.input.value).toBe("");
  });

  it("keeps the notebook's keyboard shortcuts out of the widget", () => {
    const model = new FakeModel(traits());
    const v = view(model, new RowStore(() => {}));
    let reached = false;
    document.body.addEventListener("keydown", () => (reached = true));
    v.toolbar.search.dispatchEvent(new KeyboardEvent("keydown", { key: "a", bubbles: true }));
    v.list.scroller.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowDown", bubbles: true }));
    expect(reached).toBe(false);
  });

  it("renders hostile traits as text", () => {
    const model = new FakeModel(traits({ conversation_id: PAYLOADS, agent_state: PAYLOADS, error: PAYLOADS, connection_state: PAYLOADS, height: "1px; background: url(x)" }));
    const v = view(model, new RowStore(() => {}));
    expect(v.el.querySelector("img, script, svg, iframe, a")).toBeNull();
    expect(v.el.textContent).toContain("onerror");
    expect(v.list.scroller.style.height).toBe("");
  });
});

describe("widget entry point", () => {
  it("initialize asks for rows; render shows what arrives; a gap triggers a sync", async () => {
    const model = new FakeModel(traits({ n_events: 2 }));
    const signal = new AbortController().signal;
    const props = { model: asModel(model), signal, experimental: {} as never };
    const cleanup = await widget.initialize!(props);
    expect(model.sent).toEqual([{ type: "sync", have: 0 }]);
    model.emit("msg:custom", rowsMsg(0, [makeRow(0), makeRow(1)], 2));

    const el = document.createElement("div");
    document.body.replaceChildren(el);
    await widget.render!({ ...props, el, host: {} as never });
    await new Promise((resolve) => setTimeout(resolve, 50)); // animation frames
    expect(el.querySelectorAll(".ohnb-widget .ohnb-event").length).toBe(2);

    // A second view of the same model shows the same rows at once.
    const el2 = document.createElement("div");
    document.body.appendChild(el2);
    await widget.render!({ ...props, el: el2, host: {} as never });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(el2.querySelectorAll(".ohnb-event").length).toBe(2);

    model.emit("msg:custom", rowsMsg(5, [makeRow(5)], 6));
    expect(model.sent.at(-1)).toEqual({ type: "sync", have: 2 });
    if (typeof cleanup === "function") await cleanup();
    expect(model.listeners("msg:custom")).toBe(0);
  });

  it("mountStatic shows a snapshot without a kernel", async () => {
    const el = document.createElement("div");
    document.body.replaceChildren(el);
    const rows = [makeRow(0, { source: "user", content: "hi" }), makeRow(1, { content: PAYLOADS })];
    const v = mountStatic(el, { traits: { conversation_id: "c1", agent_state: "finished", live: true }, fields: [...ROW_FIELDS], rows: rows.map(toWire) });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(el.querySelectorAll(".ohnb-event").length).toBe(2);
    expect(el.querySelector<HTMLElement>(".ohnb-connection-state")?.dataset.state).toBe("STORED");
    expect(v.controls.sendButton.disabled).toBe(true);
    expect(el.querySelector("img, script, svg")).toBeNull();
  });
});
