// One rendered view of a ConversationWidget: header, error banner, event list, controls. Several
// views of one model share the model's RowStore.

import type { AnyModel } from "@anywidget/types";
import { Controls } from "./controls";
import { h } from "./dom";
import { Header } from "./header";
import { EventList, type EventListOptions } from "./list";
import type { RowStore } from "./sync";
import type { OutgoingMessage, WidgetTraits } from "./types";

const TRAITS = ["conversation_id", "agent_state", "connection_state", "reconnects", "error", "n_events", "live"] as const;

export class ConversationView {
  readonly el: HTMLDivElement;
  readonly header = new Header();
  readonly list: EventList;
  readonly controls: Controls;
  private readonly cleanups: (() => void)[] = [];

  constructor(
    private readonly model: AnyModel<WidgetTraits>,
    private readonly store: RowStore,
    listOptions: EventListOptions = {},
  ) {
    this.list = new EventList(listOptions);
    this.controls = new Controls((msg: OutgoingMessage) => model.send(msg));
    this.el = h("div", { class: "ohnb-widget" }, this.header.el, this.header.banner, this.list.el, this.controls.el);

    this.list.enqueue(store.rows);
    this.cleanups.push(
      store.subscribe((added) => {
        this.list.enqueue(added);
        this.update();
      }),
    );
    const onChange = () => this.update();
    for (const name of TRAITS) {
      model.on(`change:${name}`, onChange);
      this.cleanups.push(() => model.off(`change:${name}`, onChange));
    }
    this.cleanups.push(() => this.list.destroy(), () => this.controls.destroy());
    this.update();
  }

  traits(): WidgetTraits {
    const get = <K extends keyof WidgetTraits>(key: K) => this.model.get(key);
    return {
      conversation_id: get("conversation_id") ?? "",
      agent_state: get("agent_state") ?? null,
      connection_state: get("connection_state") ?? "CLOSED",
      reconnects: get("reconnects") ?? 0,
      error: get("error") ?? null,
      n_events: get("n_events") ?? 0,
      live: Boolean(get("live")),
    };
  }

  update(): void {
    const traits = this.traits();
    this.header.update({ traits, held: this.store.held });
    const open = traits.live && traits.connection_state === "OPEN";
    const reason = !traits.live
      ? "A stored conversation: read-only"
      : `Not connected (${traits.connection_state.toLowerCase()})`;
    this.controls.setEnabled(open, reason);
    this.el.dataset.live = String(traits.live);
  }

  destroy(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
  }
}
