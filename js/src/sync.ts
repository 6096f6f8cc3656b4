// The rows a front-end model holds, and how they are kept complete.
//
// The kernel sends deltas (`{"type": "rows", start, fields, rows}`); messages sent before a view existed
// are lost, so the store asks for what it misses with `{"type": "sync", have}`: once at start-up, when
// a delta starts past the end of what it holds (a gap), and when the kernel's `n_events` trait says it
// holds more. Overlapping rows (replies meant for another view or tab, replays) are merged: only the
// part past the end is kept. Comm messages arrive in order, so one outstanding request is enough: it
// stays outstanding until the store has caught up with the largest total it has heard of, or until
// `retryAfterMs` passes without progress.

import { ROW_FIELDS, type OutgoingMessage, type Row, type RowsMessage } from "./types";

export type RowsListener = (added: Row[], start: number) => void;

export interface MergeResult {
  /** Rows appended to the store (past what it held). */
  added: number;
  /** The message started past the end of what the store holds; a sync was requested or is pending. */
  gap: boolean;
}

const TEXT_FIELDS = new Set([
  "event_id", "kind", "type", "source", "timestamp", "message", "content", "thought", "agent_state",
  "path", "cause_id", "tool", "parse_error", "diff",
]);

/** A text value from the wire: strings as they are, other scalars as text, anything else null. */
function text(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return null;
}

/** Turn one row of a `rows` message (an array in `fields` order, or an object) into a Row. */
export function decodeRow(raw: unknown, i: number, fields: readonly string[] = ROW_FIELDS): Row {
  const row: Row = {
    i, event_id: null, kind: null, type: null, source: null, timestamp: null, message: null, content: null,
    thought: null, agent_state: null, exit_code: null, path: null, cause_id: null, tool: null, hidden: null,
    parse_error: null, diff: null, truncated: null,
  };
  const get: (name: string, k: number) => unknown = Array.isArray(raw)
    ? (_name, k) => raw[k]
    : (name) => (raw !== null && typeof raw === "object" ? (raw as Record<string, unknown>)[name] : undefined);
  const target = row as unknown as Record<string, unknown>;
  fields.forEach((name, k) => {
    const value = get(name, k);
    if (value === undefined || value === null) return;
    if (TEXT_FIELDS.has(name)) target[name] = text(value);
    else if (name === "exit_code") target[name] = typeof value === "number" && Number.isFinite(value) ? value : null;
    else if (name === "hidden") target[name] = value === true;
    else if (name === "truncated" && typeof value === "object" && !Array.isArray(value)) {
      const cut: Record<string, number> = {};
      for (const [field, n] of Object.entries(value as Record<string, unknown>)) if (typeof n === "number") cut[field] = n;
      row.truncated = cut;
    }
  });
  return row;
}

export class RowStore {
  readonly rows: Row[] = [];
  private readonly listeners = new Set<RowsListener>();
  private readonly byEventId = new Map<string, number>();
  /** Largest row count the kernel is known to hold (from `total` and `n_events`). */
  private known = 0;
  /** `have` of the outstanding sync request, or null. */
  private pending: number | null = null;
  private pendingSince = 0;

  constructor(
    private readonly send: (msg: OutgoingMessage) => void,
    private readonly retryAfterMs = 3000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  get held(): number {
    return this.rows.length;
  }

  /** Largest row count the kernel is known to hold. */
  get total(): number {
    return Math.max(this.known, this.held);
  }

  get syncPending(): boolean {
    return this.pending !== null;
  }

  /** Position of the row with this event_id, or undefined. */
  indexOf(eventId: string): number | undefined {
    return this.byEventId.get(eventId);
  }

  /** Call `listener(added, start)` whenever rows are appended; returns an unsubscribe function. */
  subscribe(listener: RowsListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Merge a `rows` message from the kernel. */
  receive(msg: RowsMessage): MergeResult {
    const start = msg.start;
    const rows = Array.isArray(msg.rows) ? msg.rows : [];
    if (typeof msg.total === "number") this.known = Math.max(this.known, msg.total);
    if (!Number.isInteger(start) || start < 0) return { added: 0, gap: false };
    this.known = Math.max(this.known, start + rows.length);
    const held = this.held;
    if (start > held) {
      this.requestSync();
      return { added: 0, gap: true };
    }
    const fields = Array.isArray(msg.fields) ? msg.fields : ROW_FIELDS;
    const fresh: Row[] = [];
    for (let k = held - start; k < rows.length; k++) {
      const row = decodeRow(rows[k], start + k, fields);
      fresh.push(row);
      this.rows.push(row);
      if (row.event_id !== null && !this.byEventId.has(row.event_id)) this.byEventId.set(row.event_id, row.i);
    }
    if (fresh.length > 0) for (const listener of [...this.listeners]) listener(fresh, held);
    if (this.pending !== null && this.held >= this.known) this.pending = null;
    return { added: fresh.length, gap: false };
  }

  /** The kernel says it holds `total` rows (the `n_events` trait): fetch what is missing. */
  noteTotal(total: number): void {
    if (!Number.isFinite(total)) return;
    this.known = Math.max(this.known, total);
    if (total > this.held) this.requestSync();
  }

  /**
   * Ask the kernel for rows from `held` on. Skipped while a request is outstanding (unless `force`);
   * returns whether a request was sent.
   */
  requestSync(force = false): boolean {
    const now = this.now();
    if (!force && this.pending !== null && now - this.pendingSince < this.retryAfterMs) return false;
    this.pending = this.held;
    this.pendingSince = now;
    try {
      this.send({ type: "sync", have: this.held });
    } catch {
      // No kernel (a static export, or a notebook opened without one): the traits still show.
      this.pending = null;
      return false;
    }
    return true;
  }
}
