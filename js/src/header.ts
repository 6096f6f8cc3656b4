// The header (conversation id, agent state, connection, reconnects, counts) and the error banner.
// Everything comes from traits, so it shows even before (or without) any rows.

import { h, setText } from "./dom";
import { agentStateInfo, connectionInfo } from "./states";
import type { WidgetTraits } from "./types";

const NUMBER = new Intl.NumberFormat();

export interface HeaderState {
  traits: Pick<WidgetTraits, "conversation_id" | "agent_state" | "connection_state" | "reconnects" | "error" | "n_events" | "live">;
  /** Rows this view's model has received from the kernel. */
  held: number;
}

export class Header {
  readonly el: HTMLDivElement;
  readonly banner: HTMLDivElement;
  private readonly id = h("span", { class: "ohnb-conversation-id" });
  private readonly agent = h("span", { class: "ohnb-agent-state ohnb-badge ohnb-pill", role: "status", "aria-live": "polite" });
  private readonly connection = h("span", { class: "ohnb-connection-state ohnb-pill" });
  private readonly reconnects = h("span", { class: "ohnb-reconnects" });
  private readonly count = h("span", { class: "ohnb-count" });

  constructor() {
    this.el = h(
      "div",
      { class: "ohnb-header" },
      h("span", { class: "ohnb-title" }, "OpenHands"),
      this.id,
      this.agent,
      h("span", { class: "ohnb-spacer" }),
      this.count,
      this.reconnects,
      this.connection,
    );
    this.banner = h("div", { class: "ohnb-error-banner", role: "alert", hidden: true });
  }

  update({ traits, held }: HeaderState): void {
    setText(this.id, traits.conversation_id || "—");
    this.id.title = traits.conversation_id ? `conversation ${traits.conversation_id}` : "";

    const state = traits.agent_state ?? "";
    const info = agentStateInfo(state);
    setText(this.agent, info.label);
    this.agent.dataset.state = state || "none";
    this.agent.dataset.tone = info.tone;
    this.agent.title = state ? `Agent state: ${state}. ${info.help}` : info.help;

    const live = traits.live;
    const connection = live ? traits.connection_state || "CLOSED" : "STORED";
    const cinfo = connectionInfo(connection);
    setText(this.connection, cinfo.label);
    this.connection.dataset.state = connection;
    this.connection.dataset.tone = cinfo.tone;
    this.connection.title = cinfo.help;

    const n = traits.reconnects ?? 0;
    setText(this.reconnects, live ? `${n} reconnect${n === 1 ? "" : "s"}` : "");
    this.reconnects.dataset.count = String(n);
    this.reconnects.hidden = !live;

    const total = Math.max(traits.n_events ?? 0, held);
    setText(this.count, held < total ? `${NUMBER.format(held)} / ${NUMBER.format(total)} events` : `${NUMBER.format(total)} events`);
    this.count.dataset.held = String(held);
    this.count.dataset.total = String(total);

    const error = traits.error;
    setText(this.banner, error ?? "");
    this.banner.hidden = !error;
    // A lost connection that is being retried is a warning; anything else is an error.
    this.banner.dataset.tone = live && (connection === "RECONNECTING" || connection === "CONNECTING") ? "warning" : "danger";
  }
}
