// anywidget entry point of ohnb's ConversationWidget, and the mount function of its static HTML export.
//
// `initialize` (once per front-end model) sets up the model's RowStore: it listens for `rows`
// messages and asks the kernel for the rows it holds (`sync`). `render` (once per view) builds a
// ConversationView over that store. Rows live in the store, not in the views, so a second view or a
// view rendered after the rows arrived shows everything without asking the kernel again.
//
// `mountStatic(el, snapshot)` renders a snapshot written by `ConversationWidget.to_html()` without a
// kernel: a stand-in model holds the traits, the store gets every row at once.

import type { AnyModel, Initialize, Render } from "@anywidget/types";
import { RowStore } from "./sync";
import type { OutgoingMessage, RowsMessage, WidgetTraits } from "./types";
import { ConversationView } from "./view";
import "./widget.css";

type Model = AnyModel<WidgetTraits>;

interface Attached {
  store: RowStore;
  detach(): void;
}

const attached = new WeakMap<Model, Attached>();

/** The model's RowStore, created (and wired to the model) on first use. */
export function storeFor(model: Model): RowStore {
  const existing = attached.get(model);
  if (existing) return existing.store;
  const store = new RowStore((msg: OutgoingMessage) => model.send(msg));
  const onMessage = (msg: unknown) => {
    if (isRowsMessage(msg)) store.receive(msg);
  };
  const onTotal = () => store.noteTotal(Number(model.get("n_events") ?? 0));
  model.on("msg:custom", onMessage);
  model.on("change:n_events", onTotal);
  attached.set(model, {
    store,
    detach() {
      model.off("msg:custom", onMessage);
      model.off("change:n_events", onTotal);
      attached.delete(model);
    },
  });
  return store;
}

function isRowsMessage(msg: unknown): msg is RowsMessage {
  return typeof msg === "object" && msg !== null && (msg as { type?: unknown }).type === "rows";
}

export const initialize: Initialize<WidgetTraits> = ({ model }) => {
  const store = storeFor(model);
  store.requestSync(true);
  return () => attached.get(model)?.detach();
};

export const render: Render<WidgetTraits> = ({ model, el }) => {
  const store = storeFor(model);
  const view = new ConversationView(model, store);
  el.appendChild(view.el);
  if (store.held < Number(model.get("n_events") ?? 0)) store.requestSync();
  return () => {
    view.destroy();
    view.el.remove();
  };
};

/** What `ConversationWidget.to_html()` embeds: the traits and every row. */
export interface Snapshot {
  traits: Partial<WidgetTraits>;
  fields: string[];
  rows: unknown[];
}

/** A model without a kernel: traits from the snapshot, sending is refused. */
class StaticModel {
  constructor(private readonly traits: Partial<WidgetTraits>) {}
  get(key: string): unknown {
    return this.traits[key];
  }
  set(): void {}
  on(): void {}
  off(): void {}
  save_changes(): void {}
  send(): void {
    throw new Error("a static export has no kernel");
  }
}

/** Render a `to_html()` snapshot into `el`; returns the view. */
export function mountStatic(el: HTMLElement, snapshot: Snapshot): ConversationView {
  const traits: Partial<WidgetTraits> = { ...snapshot.traits, live: false };
  const model = new StaticModel(traits) as unknown as Model;
  const store = new RowStore(() => {
    throw new Error("a static export has no kernel");
  });
  store.receive({ type: "rows", start: 0, fields: snapshot.fields, rows: snapshot.rows, total: snapshot.rows.length });
  const view = new ConversationView(model, store);
  el.appendChild(view.el);
  return view;
}

export default { initialize, render };
