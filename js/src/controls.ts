// Message box with Send, and Pause / Resume / Stop. Each is enabled only when it can work: a live
// conversation whose connection is OPEN; Pause unless paused or stopped; Resume when paused; Stop
// when the Conversation supports it. The actions go to the kernel as custom messages.

import { h } from "./dom";
import { isPaused, isStopped } from "./states";
import type { OutgoingMessage } from "./types";

export interface ControlsState {
  live: boolean;
  connection: string;
  agentState: string | null;
  canStop: boolean;
}

export class Controls {
  readonly el: HTMLDivElement;
  readonly input = h("textarea", {
    class: "ohnb-input",
    rows: 1,
    placeholder: "Message the agent (Enter sends, Shift+Enter: new line)",
    "aria-label": "Message to the agent",
  });
  readonly sendButton = h("button", { class: "ohnb-button ohnb-send", type: "button" }, "Send");
  readonly pauseButton = h("button", { class: "ohnb-button ohnb-pause", type: "button" }, "Pause");
  readonly resumeButton = h("button", { class: "ohnb-button ohnb-resume", type: "button" }, "Resume");
  readonly stopButton = h("button", { class: "ohnb-button ohnb-stop", type: "button" }, "Stop");
  private readonly abort = new AbortController();

  constructor(private readonly send: (msg: OutgoingMessage) => void) {
    this.el = h(
      "div",
      { class: "ohnb-controls" },
      this.input,
      h("div", { class: "ohnb-buttons" }, this.sendButton, h("span", { class: "ohnb-button-gap" }), this.pauseButton, this.resumeButton, this.stopButton),
    );
    const signal = this.abort.signal;
    const act = (button: HTMLButtonElement, msg: OutgoingMessage) =>
      button.addEventListener("click", () => !button.disabled && this.send(msg), { signal });
    this.sendButton.addEventListener("click", () => this.submit(), { signal });
    act(this.pauseButton, { type: "pause" });
    act(this.resumeButton, { type: "resume" });
    act(this.stopButton, { type: "stop" });
    this.input.addEventListener(
      "keydown",
      (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          this.submit();
        }
      },
      { signal },
    );
  }

  update(state: ControlsState): void {
    const open = state.live && state.connection === "OPEN";
    const why = !state.live ? "A stored conversation: read-only" : `Not connected (${state.connection.toLowerCase()})`;
    const paused = isPaused(state.agentState);
    const stopped = isStopped(state.agentState);
    set(this.input, open, why);
    set(this.sendButton, open, why);
    set(this.pauseButton, open && !paused && !stopped, open ? `The agent is ${state.agentState}` : why);
    set(this.resumeButton, open && paused, open ? "The agent is not paused" : why);
    set(this.stopButton, open && state.canStop && !stopped, !state.canStop ? "This conversation cannot stop the agent" : open ? "The agent is stopped" : why);
    this.pauseButton.title ||= "Ask the agent to pause";
    this.resumeButton.title ||= "Ask the agent to continue";
    this.stopButton.title ||= "Ask the agent to stop";
    this.sendButton.title ||= "Send the message (Enter)";
    this.el.dataset.enabled = String(open);
  }

  destroy(): void {
    this.abort.abort();
  }

  private submit(): void {
    const text = this.input.value;
    if (this.sendButton.disabled || text.trim() === "") return;
    this.send({ type: "send_message", text });
    this.input.value = "";
  }
}

function set(el: HTMLButtonElement | HTMLTextAreaElement, enabled: boolean, reason: string): void {
  el.disabled = !enabled;
  el.title = enabled ? "" : reason;
}
