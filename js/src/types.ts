// The data the kernel (ohnb/widget.py) and the front end exchange. Keep in sync with widget.py.

/** One event row as the kernel projects it for the browser (a subset of ohnb.schema.EVENT_COLUMNS). */
export interface Row {
  /** Position of the row in the kernel's log (0-based, dense). */
  i: number;
  /** The event's identity: V0 `str(id)`, V1 UUID; null for status and error messages. */
  event_id: string | null;
  kind: string | null; // "action" | "observation" | "status" | "error" | "unknown"
  type: string | null;
  source: string | null;
  timestamp: string | null;
  /** Null when it equals `content` (the kernel does not send the same text twice). */
  message: string | null;
  content: string | null;
  thought: string | null;
  agent_state: string | null;
  exit_code: number | null;
  path: string | null;
  /** The event_id of the action an observation answers. */
  cause_id: string | null;
  /** The tool an action calls (V1 `tool_name`), when known. */
  tool: string | null;
  hidden: boolean | null;
  parse_error: string | null;
  /** A unified diff of a file edit, when the kernel could make one. */
  diff: string | null;
  /** Text fields the kernel cut short, with their full length in characters. */
  truncated: Record<string, number> | null;
}

/**
 * The fields of a row on the wire (`WIRE_FIELDS` in widget.py). Only a fallback: every `rows` message
 * carries its own `fields`, so a kernel and a bundle of different versions still agree.
 */
export const ROW_FIELDS = [
  "event_id",
  "kind",
  "type",
  "source",
  "timestamp",
  "message",
  "content",
  "thought",
  "agent_state",
  "exit_code",
  "path",
  "cause_id",
  "tool",
  "hidden",
  "parse_error",
  "diff",
  "truncated",
] as const;

/**
 * Kernel -> front end: rows[start : start + rows.length], each row an array of values in the order
 * of `fields`; `total` is how many rows the kernel has sent (or can send) after this message.
 */
export interface RowsMessage {
  type: "rows";
  start: number;
  rows: unknown[];
  fields?: string[];
  total?: number;
}

/** Front end -> kernel. */
export type OutgoingMessage =
  | { type: "sync"; have: number }
  | { type: "send_message"; text: string }
  | { type: "pause" }
  | { type: "resume" }
  | { type: "stop" };

/** The synced traits of ConversationWidget. */
export interface WidgetTraits {
  conversation_id: string;
  agent_state: string | null;
  connection_state: string;
  reconnects: number;
  error: string | null;
  n_events: number;
  live: boolean;
  can_stop: boolean;
  height: string;
  [key: string]: unknown;
}
