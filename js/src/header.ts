// The header (conversation id, agent state, connection, reconnects, counts) and the error banner.
// Everything comes from traits, so it shows even before (or without) any rows.

import { h, setText } from "./dom";
import type { WidgetTraits } from "./types";

export interface HeaderState {
  traits: Pick<WidgetTraits, "conversation_id" | "agent_state" | "connection_state" | "reconnects" | "error" | "n_events" | "live">;
  /** Rows this view has received from the kernel. */
  held: number;
}

export class Header {
  readonly el: HTMLDivElement;
  readonly banner: HTMLDivElement;
  private readonly id = h("span", { class: "ohnb-conversation-id" });
  private readonly agent = h("span", { class: "ohnb-agent-state ohnb-badge" });
  private readonly connection = h("span", { class: "ohnb-connection-state" });
  private readonly reconnects = h("span", { class: "ohnb-reconnects" });
  private readonly count = h("span", { class: "ohnb-count" });

  constructor() {
    this.el = h(
      "div",
      { class: "ohnb-header" },
      h("span", { class: "ohnb-title" }, "Conversation"),
      this.id,
      this.agent,
      h("span", { class: "ohnb-spacer" }),
      this.connection,
      this.reconnects,
      this.count,
    );
    this.banner = h("div", { class: "ohnb-error-banner", role: "alert", hidden: true });
  }

  update({ traits, held }: HeaderState): void {
    setText(this.id, traits.conversation_id || "—");
    this.id.title = traits.conversation_id || "";

    const state = traits.agent_state ?? "";
    setText(this.agent, state ? state.replace(/_/g, " ") : "no state");
    this.agent.dataset.state = state || "none";
    this.agent.title = "agent state";

    const live = traits.live;
    const connection = live ? traits.connection_state || "CLOSED" : "STORED";
    setText(this.connection, connection.toLowerCase());
    this.connection.dataset.state = connection;
    this.connection.title = live ? "connection to the OpenHands server" : "a stored conversation (DataFrame)";

    const n = traits.reconnects ?? 0;
    setText(this.reconnects, live ? `${n} reconnect${n === 1 ? "" : "s"}` : "");
    this.reconnects.dataset.count = String(n);
    this.reconnects.hidden = !live;

    const total = traits.n_events ?? 0;
    setText(this.count, held < total ? `${held.toLocaleString()} / ${total.toLocaleString()} events` : `${total.toLocaleString()} events`);
    this.count.dataset.held = String(held);
    this.count.dataset.total = String(total);

    const error = traits.error;
    setText(this.banner, error ?? "");
    this.banner.hidden = !error;
  }
}
