// Message box with Send, Pause and Resume. Enabled only for a live conversation whose connection is
// OPEN; the actions go to the kernel as custom messages.

import { h } from "./dom";
import type { OutgoingMessage } from "./types";

export class Controls {
  readonly el: HTMLDivElement;
  readonly input = h("textarea", { class: "ohnb-input", rows: 2, placeholder: "Message the agent (Enter sends, Shift+Enter: new line)" });
  readonly sendButton = h("button", { class: "ohnb-button ohnb-send", type: "button" }, "Send");
  readonly pauseButton = h("button", { class: "ohnb-button ohnb-pause", type: "button" }, "Pause");
  readonly resumeButton = h("button", { class: "ohnb-button ohnb-resume", type: "button" }, "Resume");
  private enabled = false;
  private readonly abort = new AbortController();

  constructor(private readonly send: (msg: OutgoingMessage) => void) {
    this.el = h(
      "div",
      { class: "ohnb-controls" },
      this.input,
      h("div", { class: "ohnb-buttons" }, this.sendButton, this.pauseButton, this.resumeButton),
    );
    const signal = this.abort.signal;
    this.sendButton.addEventListener("click", () => this.submit(), { signal });
    this.pauseButton.addEventListener("click", () => this.enabled && this.send({ type: "pause" }), { signal });
    this.resumeButton.addEventListener("click", () => this.enabled && this.send({ type: "resume" }), { signal });
    this.input.addEventListener(
      "keydown",
      (event) => {
        // Keep JupyterLab's notebook shortcuts out of the text box.
        event.stopPropagation();
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          this.submit();
        }
      },
      { signal },
    );
  }

  setEnabled(enabled: boolean, reason: string): void {
    this.enabled = enabled;
    for (const el of [this.input, this.sendButton, this.pauseButton, this.resumeButton]) {
      el.disabled = !enabled;
      el.title = enabled ? "" : reason;
    }
    this.el.dataset.enabled = String(enabled);
  }

  destroy(): void {
    this.abort.abort();
  }

  private submit(): void {
    const text = this.input.value;
    if (!this.enabled || text.trim() === "") return;
    this.send({ type: "send_message", text });
    this.input.value = "";
  }
}
