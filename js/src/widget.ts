// anywidget entry point of ohnb's ConversationWidget.
//
// `initialize` (once per front-end model) sets up the model's RowStore: it listens for `rows`
// messages and asks the kernel for the rows it holds (`sync`). `render` (once per view) builds a
// ConversationView over that store. Rows live in the store, not in the views, so a second view or a
// view rendered after the rows arrived shows everything without asking the kernel again.

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

export default { initialize, render };
