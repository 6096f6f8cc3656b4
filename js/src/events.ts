// One event row -> one DOM element. Pure: no model, no store; every piece of event text is a text
// node (see dom.ts). Each family of event types has its own small function; `renderEvent` picks one.

import { append, h, type Child } from "./dom";
import type { Row } from "./types";

type Renderer = (row: Row) => Child[];

/** Build the element of one row: `.ohnb-event[data-kind][data-type][data-source]`. */
export function renderEvent(row: Row): HTMLElement {
  const family = familyOf(row);
  const el = h("div", {
    class: `ohnb-event ohnb-${family}`,
    data: { i: row.i, id: row.id, kind: row.kind ?? "unknown", type: row.type ?? "", source: row.source ?? "", family },
  });
  append(el, ...RENDERERS[family](row));
  return el;
}

export type Family =
  | "message"
  | "system"
  | "thought"
  | "finish"
  | "command"
  | "output"
  | "file"
  | "state"
  | "status"
  | "error"
  | "unknown"
  | "generic";

export function familyOf(row: Row): Family {
  const { kind, type } = row;
  if (kind === "error" || (kind === "observation" && type === "error")) return "error";
  if (kind === "status") return isErrorStatus(row) ? "error" : "status";
  if (kind === "unknown" || kind === null) return "unknown";
  if (type === "agent_state_changed" || type === "change_agent_state") return "state";
  if (kind === "action") {
    switch (type) {
      case "message":
        return "message";
      case "system":
        return "system";
      case "think":
        return "thought";
      case "finish":
        return "finish";
      case "run":
      case "run_ipython":
        return "command";
      case "read":
      case "edit":
      case "write":
        return "file";
    }
  }
  if (kind === "observation") {
    switch (type) {
      case "run":
      case "run_ipython":
        return "output";
      case "read":
      case "edit":
      case "write":
        return "file";
    }
  }
  return "generic";
}

function isErrorStatus(row: Row): boolean {
  const type = (row.type ?? "").toLowerCase();
  return type === "error" || type.includes("error");
}

// --- pieces -------------------------------------------------------------------------------------

const SOURCE_LABELS: Record<string, string> = { user: "User", agent: "Agent", environment: "Environment" };

function sourceLabel(row: Row): string {
  return row.source ? (SOURCE_LABELS[row.source] ?? row.source) : "";
}

/** "23:16:54" from a naive ISO timestamp; the full value goes to the title. */
function time(row: Row): Child {
  if (!row.timestamp) return null;
  const match = /T(\d\d:\d\d:\d\d)/.exec(row.timestamp);
  return h("span", { class: "ohnb-time", title: row.timestamp }, match ? match[1] : row.timestamp);
}

function meta(label: string, row: Row, ...extra: Child[]): HTMLElement {
  return h("div", { class: "ohnb-meta" }, h("span", { class: "ohnb-label" }, label), ...extra, time(row));
}

function text(value: string | null, row: Row, field: string, cls = "ohnb-text"): Child {
  if (value === null || value === undefined || value === "") return null;
  return h("div", { class: cls }, value, truncation(row, field));
}

function pre(value: string | null, row: Row, field: string, cls: string): Child {
  if (value === null || value === undefined) return null;
  return h("pre", { class: `ohnb-pre ${cls}` }, value, truncation(row, field));
}

function truncation(row: Row, field: string): Child {
  const total = row.truncated?.[field];
  if (!total) return null;
  return h("span", { class: "ohnb-truncated" }, `\n… cut short (${total.toLocaleString()} characters in all)`);
}

function thought(row: Row): Child {
  return text(row.thought, row, "thought", "ohnb-text ohnb-thought-text");
}

// --- families -----------------------------------------------------------------------------------

const RENDERERS: Record<Family, Renderer> = {
  message: (row) => [meta(sourceLabel(row) || "Message", row), thought(row), text(row.content ?? row.message, row, row.content !== null ? "content" : "message")],

  system: (row) => {
    const details = h("details", { class: "ohnb-details" }, h("summary", null, "System prompt"), pre(row.content, row, "content", "ohnb-block"));
    return [meta("System", row), details];
  },

  thought: (row) => [meta("Thought", row), text(row.content ?? row.thought, row, row.content !== null ? "content" : "thought", "ohnb-text ohnb-thought-text")],

  finish: (row) => [meta("Finished", row), thought(row), text(row.content ?? row.message, row, row.content !== null ? "content" : "message")],

  command: (row) => {
    const prompt = row.type === "run_ipython" ? ">>> " : "$ ";
    const command = row.content ?? "";
    return [
      meta(row.type === "run_ipython" ? "Python" : "Command", row),
      thought(row),
      h("pre", { class: "ohnb-pre ohnb-command" }, h("span", { class: "ohnb-prompt" }, prompt), command, truncation(row, "content")),
    ];
  },

  output: (row) => {
    const code = row.exit_code;
    const status =
      code === null || code === undefined
        ? null
        : h("span", { class: "ohnb-exit-code", data: { ok: code === 0 } }, `exit code ${code}`);
    const body = row.content ? pre(row.content, row, "content", "ohnb-output") : null;
    return [meta(row.type === "run_ipython" ? "Python output" : "Output", row, status), body];
  },

  file: (row) => {
    const verb = { read: "Read", edit: "Edit", write: "Write" }[row.type ?? ""] ?? row.type ?? "File";
    const label = row.kind === "observation" ? `${verb} result` : verb;
    const path = row.path ? h("code", { class: "ohnb-path" }, row.path) : null;
    // A read action's content is its path: show it once.
    const body = row.kind === "action" && row.type === "read" ? null : pre(row.content, row, "content", "ohnb-file-content");
    return [meta(label, row, path), thought(row), body];
  },

  state: (row) => {
    const verb = row.type === "change_agent_state" ? "requested agent state" : "agent state";
    return [
      h(
        "div",
        { class: "ohnb-line" },
        `${verb} → `,
        h("span", { class: "ohnb-state-name", data: { state: row.agent_state ?? "" } }, row.agent_state ?? "?"),
        " ",
        time(row),
      ),
    ];
  },

  status: (row) => [
    h("div", { class: "ohnb-line" }, h("span", { class: "ohnb-label" }, row.type ?? "status"), " ", row.message ?? "", " ", time(row)),
  ],

  error: (row) => {
    const label = row.kind === "status" ? (row.type ?? "Error") : "Error";
    const body = row.content && row.content !== row.message ? pre(row.content, row, "content", "ohnb-block") : null;
    return [meta(label, row), text(row.message ?? (body ? null : row.content), row, "message"), body];
  },

  unknown: (row) => [
    meta(`unknown event${row.type ? `: ${row.type}` : ""}`, row),
    text(row.parse_error, row, "parse_error", "ohnb-text ohnb-parse-error"),
    text(row.message, row, "message"),
    pre(row.content, row, "content", "ohnb-block"),
  ],

  generic: (row) => {
    const label = [sourceLabel(row), row.type ?? row.kind ?? "event"].filter(Boolean).join(" · ");
    const body = row.content !== null && row.content !== "" && row.content !== row.message ? pre(row.content, row, "content", "ohnb-block") : null;
    return [meta(label, row), thought(row), text(row.message, row, "message"), body];
  },
};
