// One event row -> one DOM element. Pure: no model, no store. Event text reaches the DOM only as text
// nodes (dom.ts) or as sanitized Markdown (markdown.ts). Each family of event types has its own small
// function; `renderEvent` picks one.

import { append, h, type Child } from "./dom";
import { renderMarkdown } from "./markdown";
import { agentStateInfo } from "./states";
import type { Row } from "./types";

export type Family =
  | "message"
  | "system"
  | "thought"
  | "finish"
  | "command"
  | "output"
  | "file"
  | "browse"
  | "mcp"
  | "state"
  | "condensation"
  | "recall"
  | "status"
  | "error"
  | "unknown"
  | "generic";

/** Display names of the families, in filter-menu order. */
export const FAMILY_LABELS: Record<Family, string> = {
  message: "Messages",
  thought: "Thoughts",
  command: "Commands",
  output: "Command output",
  file: "Files",
  browse: "Browsing",
  mcp: "MCP tools",
  finish: "Finish",
  state: "Agent state",
  condensation: "Condensation",
  recall: "Recall",
  status: "Status",
  error: "Errors",
  system: "System prompt",
  unknown: "Unknown",
  generic: "Other",
};

/** Everything the renderer needs besides the row. */
export interface RenderContext {
  /** Keys (`${row.i}:${part}`) of the blocks the user expanded. */
  expanded: ReadonlySet<string>;
  /** Keys of the blocks the user collapsed (wins over the search's expansion). */
  collapsed?: ReadonlySet<string>;
  /** Lower-cased search text: blocks containing it render expanded. */
  query: string;
}

const EMPTY_CONTEXT: RenderContext = { expanded: new Set(), query: "" };

/** A block longer than this many lines or characters is collapsed behind a "Show all" control. */
export const COLLAPSE_LINES = 12;
export const COLLAPSE_CHARS = 1500;

const has = (t: string, ...needles: string[]) => needles.some((n) => t.includes(n));

// Terminal control sequences (colors, bracketed-paste markers such as ESC[?2004h, titles): a terminal
// would act on them; as text they are noise.
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]/g;

/** Terminal output without its control sequences. */
export function stripAnsi(text: string): string {
  return text.includes("\u001b") ? text.replace(ANSI, "") : text;
}

/** Which family of renderers shows a row (V0 type names and V1 class / tool names). */
export function familyOf(row: Row): Family {
  const kind = row.kind;
  const t = (row.type ?? "").toLowerCase();
  if (kind === "error") return "error";
  if (kind === "status") return isErrorStatus(t) ? "error" : "status";
  if (kind === "unknown" || kind === null) return "unknown";
  if (["agent_state_changed", "change_agent_state", "pause", "resume", "stop"].includes(t)) return "state";
  if (has(t, "conversationstateupdate", "pauseevent", "execution_status")) return "state";
  if (has(t, "error") || t === "user_rejected" || t === "reject") return "error";
  if (t === "message" || t === "chat" || has(t, "messageevent")) return "message";
  if (t === "system" || has(t, "systemprompt")) return "system";
  if (t.startsWith("think")) return "thought";
  if (t.startsWith("finish")) return "finish";
  if (t === "run" || t === "run_ipython" || has(t, "terminal", "execute_bash", "bash", "ipython", "cmd")) {
    return kind === "observation" ? "output" : "command";
  }
  if (["read", "write", "edit"].includes(t) || has(t, "file_editor", "fileeditor", "str_replace", "file_edit", "read_file", "write_file")) {
    return "file";
  }
  if (t.startsWith("brows")) return "browse";
  if (has(t, "mcp")) return "mcp";
  if (has(t, "condens")) return "condensation";
  if (t === "recall") return "recall";
  return "generic";
}

function isErrorStatus(type: string): boolean {
  return type === "error" || type.includes("error");
}

/** Build the element of one row: `.ohnb-event[data-i][data-id][data-kind][data-type][data-source][data-family]`. */
export function renderEvent(row: Row, ctx: RenderContext = EMPTY_CONTEXT): HTMLElement {
  const family = familyOf(row);
  const el = h("div", {
    class: `ohnb-event ohnb-${family}`,
    role: "article",
    data: {
      i: row.i,
      id: row.event_id,
      kind: row.kind ?? "unknown",
      type: row.type ?? "",
      source: row.source ?? "",
      family,
      hidden: row.hidden === true ? true : null,
    },
  });
  append(el, ...RENDERERS[family](row, ctx));
  return el;
}

// --- pieces -------------------------------------------------------------------------------------

const SOURCE_LABELS: Record<string, string> = { user: "User", agent: "Agent", environment: "Environment" };

function sourceLabel(row: Row): string {
  return row.source ? (SOURCE_LABELS[row.source] ?? row.source) : "";
}

/** "23:16:54" from an ISO timestamp; the full value goes to the title. */
function time(row: Row): Child {
  if (!row.timestamp) return null;
  const match = /T(\d\d:\d\d:\d\d)/.exec(row.timestamp);
  return h("span", { class: "ohnb-time", title: row.timestamp }, match ? match[1] : row.timestamp);
}

function idTag(row: Row): Child {
  if (row.event_id === null) return null;
  const short = row.event_id.length > 10 ? row.event_id.slice(0, 8) + "…" : row.event_id;
  return h("span", { class: "ohnb-event-id", title: `event ${row.event_id}` }, `#${short}`);
}

/** A link to the action an observation answers. */
function causeTag(row: Row): Child {
  if (!row.cause_id) return null;
  const short = row.cause_id.length > 10 ? row.cause_id.slice(0, 8) + "…" : row.cause_id;
  return h(
    "button",
    { class: "ohnb-cause", type: "button", data: { jump: row.cause_id }, title: `Show the action this answers (event ${row.cause_id})` },
    `↳ #${short}`,
  );
}

function meta(label: string, row: Row, ...extra: Child[]): HTMLElement {
  const hidden = row.hidden === true ? h("span", { class: "ohnb-hidden-tag", title: "OpenHands marks this event hidden" }, "hidden") : null;
  return h(
    "div",
    { class: "ohnb-meta" },
    h("span", { class: "ohnb-label" }, label),
    ...extra,
    hidden,
    h("span", { class: "ohnb-meta-end" }, causeTag(row), idTag(row), time(row)),
  );
}

function truncation(row: Row, field: string): Child {
  const total = row.truncated?.[field];
  if (!total) return null;
  return h("div", { class: "ohnb-truncated" }, `… cut short by the kernel (${total.toLocaleString()} characters in all)`);
}

function lineCount(text: string): number {
  let n = 1;
  for (let k = text.indexOf("\n"); k !== -1; k = text.indexOf("\n", k + 1)) n++;
  return n;
}

/** Markdown (messages, thoughts) collapses later than code and output. */
export const COLLAPSE_MARKDOWN_LINES = 40;
export const COLLAPSE_MARKDOWN_CHARS = 4000;

export function isLong(text: string, markdown = false): boolean {
  return markdown
    ? text.length > COLLAPSE_MARKDOWN_CHARS || lineCount(text) > COLLAPSE_MARKDOWN_LINES
    : text.length > COLLAPSE_CHARS || lineCount(text) > COLLAPSE_LINES;
}

/**
 * Wrap `content` in a collapsible block when `text` is long (or `always`): collapsed unless expanded
 * by the user or containing the search text. The toggle is a button with `data-toggle` (the view
 * handles clicks) and aria-expanded.
 */
function collapsible(row: Row, part: string, text: string, content: HTMLElement, ctx: RenderContext, always = false): HTMLElement {
  if (!always && !isLong(text, content.classList.contains("ohnb-markdown"))) return content;
  const key = `${row.i}:${part}`;
  const expanded =
    !ctx.collapsed?.has(key) && (ctx.expanded.has(key) || (ctx.query !== "" && text.toLowerCase().includes(ctx.query)));
  const lines = lineCount(text);
  const size = lines > 1 ? `${lines.toLocaleString()} lines` : `${text.length.toLocaleString()} characters`;
  const id = `ohnb-block-${row.i}-${part}`;
  content.id = id;
  const button = h(
    "button",
    { class: "ohnb-toggle", type: "button", "aria-expanded": String(expanded), "aria-controls": id, data: { toggle: key } },
    expanded ? "Show less" : `Show all (${size})`,
  );
  return h("div", { class: "ohnb-collapsible", data: { collapsed: !expanded } }, content, button);
}

function markdown(row: Row, part: string, value: string | null, ctx: RenderContext, cls = "ohnb-markdown"): Child {
  if (value === null || value === "") return null;
  const body = h("div", { class: cls });
  body.appendChild(renderMarkdown(value));
  return h("div", null, collapsible(row, part, value, body, ctx), truncation(row, part));
}

function pre(row: Row, part: string, value: string | null, cls: string, ctx: RenderContext, always = false): Child {
  if (value === null || value === undefined) return null;
  const body = h("pre", { class: `ohnb-pre ${cls}` }, value);
  return h("div", null, collapsible(row, part, value, body, ctx, always), truncation(row, part));
}

function thought(row: Row, ctx: RenderContext): Child {
  return markdown(row, "thought", row.thought, ctx, "ohnb-markdown ohnb-thought-text");
}

/** `message` unless the kernel dropped it as equal to `content`. */
function messageText(row: Row): string | null {
  return row.message ?? null;
}

/** A unified diff, one element per line, colored by its first character. */
function diffView(row: Row, part: string, diff: string, ctx: RenderContext): Child {
  const body = h("pre", { class: "ohnb-pre ohnb-diff" });
  for (const line of diff.split("\n")) {
    let cls = "ohnb-diff-context";
    if (line.startsWith("+++") || line.startsWith("---")) cls = "ohnb-diff-file";
    else if (line.startsWith("@@")) cls = "ohnb-diff-hunk";
    else if (line.startsWith("+")) cls = "ohnb-diff-add";
    else if (line.startsWith("-")) cls = "ohnb-diff-del";
    body.appendChild(h("span", { class: `ohnb-diff-line ${cls}` }, line + "\n"));
  }
  return h("div", null, collapsible(row, part, diff, body, ctx), truncation(row, part));
}

const DIFF_START = /^(?:diff --git |--- \S|@@ -\d)/;

export function looksLikeDiff(text: string | null): text is string {
  return !!text && DIFF_START.test(text) && /\n@@ -\d+(?:,\d+)? \+\d+/.test("\n" + text);
}

function pathTag(row: Row): Child {
  return row.path ? h("code", { class: "ohnb-path", title: row.path }, row.path) : null;
}

function exitCode(row: Row): Child {
  const code = row.exit_code;
  if (code === null || code === undefined) return null;
  return h("span", { class: "ohnb-exit-code", data: { ok: code === 0 }, title: "exit code" }, `exit ${code}`);
}

function safeLink(url: string): Child {
  const href = url.trim();
  if (!/^https?:\/\//i.test(href)) return h("code", { class: "ohnb-url" }, url);
  return h("a", { class: "ohnb-url", href, target: "_blank", rel: "noopener noreferrer nofollow" }, url);
}

function verbOf(type: string | null): string {
  const t = (type ?? "").toLowerCase();
  if (t === "read" || t.includes("read")) return "Read";
  if (t === "write" || t.includes("write")) return "Write";
  if (t === "edit" || t.includes("edit") || t.includes("str_replace")) return "Edit";
  return "File";
}

// --- families -----------------------------------------------------------------------------------

type Renderer = (row: Row, ctx: RenderContext) => Child[];

const RENDERERS: Record<Family, Renderer> = {
  message: (row, ctx) => {
    const text = row.content ?? messageText(row);
    return [meta(sourceLabel(row) || "Message", row), thought(row, ctx), markdown(row, row.content !== null ? "content" : "message", text, ctx)];
  },

  system: (row, ctx) => [meta("System prompt", row), pre(row, "content", row.content ?? messageText(row), "ohnb-block", ctx, true)],

  thought: (row, ctx) => [
    meta("Think", row),
    markdown(row, row.content !== null ? "content" : "thought", row.content ?? row.thought, ctx, "ohnb-markdown ohnb-thought-text"),
  ],

  finish: (row, ctx) => [
    meta("Finished", row),
    thought(row, ctx),
    markdown(row, row.content !== null ? "content" : "message", row.content ?? messageText(row), ctx),
  ],

  command: (row, ctx) => {
    const python = (row.type ?? "").toLowerCase().includes("ipython");
    const command = stripAnsi(row.content ?? "");
    const body = h("pre", { class: "ohnb-pre ohnb-terminal ohnb-command" }, h("span", { class: "ohnb-prompt", "aria-hidden": "true" }, python ? ">>> " : "$ "), command);
    return [meta(python ? "Python" : "Command", row), thought(row, ctx), h("div", null, collapsible(row, "content", command, body, ctx), truncation(row, "content"))];
  },

  output: (row, ctx) => {
    const python = (row.type ?? "").toLowerCase().includes("ipython");
    const content = stripAnsi(row.content ?? "");
    const body = content.trim() === "" ? h("div", { class: "ohnb-empty-output" }, "(no output)") : pre(row, "content", content, "ohnb-terminal ohnb-output", ctx);
    return [meta(python ? "Python output" : "Output", row, exitCode(row)), body];
  },

  file: (row, ctx) => {
    const verb = verbOf(row.type);
    const observation = row.kind === "observation";
    const label = observation ? `${verb} result` : verb;
    let body: Child = null;
    if (row.diff) body = diffView(row, "diff", row.diff, ctx);
    else if (looksLikeDiff(row.content)) body = diffView(row, "content", row.content, ctx);
    else if (!(row.kind === "action" && verb === "Read")) body = pre(row, "content", row.content, "ohnb-file-content", ctx);
    // A read action's content is its path: the path tag shows it once.
    const message = observation && row.message && row.message !== row.content ? h("div", { class: "ohnb-text ohnb-dim" }, row.message) : null;
    return [meta(label, row, pathTag(row)), thought(row, ctx), message, body];
  },

  browse: (row, ctx) => {
    const observation = row.kind === "observation";
    const t = (row.type ?? "").toLowerCase();
    if (!observation && t === "browse" && row.content) {
      return [meta("Browse", row, safeLink(row.content)), thought(row, ctx)];
    }
    const label = observation ? "Page" : "Browser actions";
    const message = row.message && row.message !== row.content ? h("div", { class: "ohnb-text ohnb-dim" }, row.message) : null;
    return [meta(label, row), thought(row, ctx), message, pre(row, "content", row.content, "ohnb-block", ctx)];
  },

  mcp: (row, ctx) => {
    const observation = row.kind === "observation";
    if (!observation) {
      const toolName = row.tool ?? row.content;
      const name = toolName ? h("code", { class: "ohnb-tool-name" }, toolName) : null;
      const args = row.tool && row.content && row.content !== row.tool ? pre(row, "content", row.content, "ohnb-block", ctx) : null;
      return [meta("MCP call", row, name), thought(row, ctx), row.message && row.message !== row.content ? h("div", { class: "ohnb-text ohnb-dim" }, row.message) : null, args];
    }
    return [meta("MCP result", row), pre(row, "content", row.content ?? messageText(row), "ohnb-block", ctx)];
  },

  state: (row) => {
    const t = (row.type ?? "").toLowerCase();
    const requested = t === "change_agent_state" || row.source === "user";
    const state = row.agent_state ?? (["pause", "resume", "stop"].includes(t) ? t : null);
    const info = agentStateInfo(state);
    return [
      h(
        "div",
        { class: "ohnb-line" },
        h("span", { class: "ohnb-line-label" }, requested ? "requested" : "agent state"),
        h("span", { class: "ohnb-state-name ohnb-pill", data: { state: state ?? "", tone: info.tone } }, state ? info.label : row.type ?? "?"),
        h("span", { class: "ohnb-meta-end" }, idTag(row), time(row)),
      ),
    ];
  },

  condensation: (row, ctx) => {
    const summary = row.content ?? messageText(row);
    return [meta("Context condensed", row), pre(row, "content", summary, "ohnb-block ohnb-prose", ctx, summary !== null && summary.length > 200)];
  },

  recall: (row, ctx) => {
    const text = row.message ?? row.content ?? "";
    const extra = row.content && row.message && row.content !== row.message ? pre(row, "content", row.content, "ohnb-block", ctx) : null;
    return [
      h("div", { class: "ohnb-line" }, h("span", { class: "ohnb-line-label" }, "recall"), h("span", { class: "ohnb-line-text" }, text), h("span", { class: "ohnb-meta-end" }, idTag(row), time(row))),
      extra,
    ];
  },

  status: (row) => [
    h(
      "div",
      { class: "ohnb-line" },
      h("span", { class: "ohnb-line-label" }, row.type ?? "status"),
      h("span", { class: "ohnb-line-text" }, messageText(row) ?? row.content ?? ""),
      h("span", { class: "ohnb-meta-end" }, time(row)),
    ),
  ],

  error: (row, ctx) => {
    const label = row.kind === "status" ? (row.type ?? "Error") : row.kind === "observation" && row.type !== "error" ? `Error · ${row.type}` : "Error";
    const message = messageText(row);
    const body = row.content && row.content !== message ? pre(row, "content", row.content, "ohnb-block", ctx) : null;
    return [meta(label, row), message ? h("div", { class: "ohnb-text" }, message) : null, body];
  },

  unknown: (row, ctx) => [
    meta(`Unknown event${row.type ? `: ${row.type}` : ""}`, row),
    row.parse_error ? h("div", { class: "ohnb-text ohnb-parse-error" }, row.parse_error, truncation(row, "parse_error")) : null,
    messageText(row) ? h("div", { class: "ohnb-text" }, messageText(row)) : null,
    pre(row, "content", row.content, "ohnb-block", ctx),
  ],

  generic: (row, ctx) => {
    if ((row.type ?? "").toLowerCase() === "null") {
      // NullAction / NullObservation: nothing happened; one quiet line.
      return [h("div", { class: "ohnb-line" }, h("span", { class: "ohnb-line-label" }, `null ${row.kind ?? ""}`), h("span", { class: "ohnb-line-text" }, messageText(row) ?? row.content ?? ""), h("span", { class: "ohnb-meta-end" }, causeTag(row), idTag(row), time(row)))];
    }
    const label = [row.kind === "observation" ? "Result" : sourceLabel(row), row.type ?? row.tool ?? row.kind ?? "event"].filter(Boolean).join(" · ");
    const message = messageText(row);
    const body = row.content !== null && row.content !== "" && row.content !== message ? pre(row, "content", row.content, "ohnb-block", ctx) : null;
    return [meta(label, row, pathTag(row)), thought(row, ctx), message ? h("div", { class: "ohnb-text" }, message) : null, body];
  },
};

/** The text a search looks in (lower-cased, cached per row object). */
const haystacks = new WeakMap<Row, string>();

export function searchText(row: Row): string {
  let text = haystacks.get(row);
  if (text === undefined) {
    text = [row.type, row.message, row.content, row.thought, row.path, row.agent_state, row.diff, row.parse_error]
      .filter((v) => v)
      .join("\n")
      .toLowerCase();
    haystacks.set(row, text);
  }
  return text;
}
