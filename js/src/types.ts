// The data the kernel (ohnb/widget.py) and the front end exchange. Keep in sync with widget.py.

/** One event row as the kernel projects it for the browser (a subset of ohnb.schema.EVENT_COLUMNS). */
export interface Row {
  /** Position of the row in the kernel's log (0-based, dense). */
  i: number;
  id: number | null;
  kind: string | null; // "action" | "observation" | "status" | "error" | "unknown"
  type: string | null;
  source: string | null;
  timestamp: string | null;
  message: string | null;
  content: string | null;
  thought: string | null;
  agent_state: string | null;
  exit_code: number | null;
  path: string | null;
  cause: number | null;
  delivery: string | null;
  hidden: boolean | null;
  parse_error: string | null;
  /** Text fields the kernel cut short, with their full length in characters. */
  truncated?: Record<string, number> | null;
}

/** Kernel -> front end: rows[start : start + rows.length]; `total` is how many rows the kernel has sent. */
export interface RowsMessage {
  type: "rows";
  start: number;
  rows: Row[];
  total?: number;
}

/** Front end -> kernel. */
export type OutgoingMessage =
  | { type: "sync"; have: number }
  | { type: "send_message"; text: string }
  | { type: "pause" }
  | { type: "resume" };

/** The synced traits of ConversationWidget. */
export interface WidgetTraits {
  conversation_id: string;
  agent_state: string | null;
  connection_state: string;
  reconnects: number;
  error: string | null;
  n_events: number;
  live: boolean;
  [key: string]: unknown;
}
