// The rows a front-end model holds, and how they are kept complete.
//
// The kernel sends deltas (`{"type": "rows", start, rows}`); messages sent before a view existed are
// lost, so the store asks for what it misses with `{"type": "sync", have}`: once at start-up, when a
// delta starts past the end of what it holds (a gap), and when the kernel's `n_events` trait says it
// holds more. Overlapping rows (replies meant for another view or tab, replays) are merged: only the
// part past the end is kept. Comm messages arrive in order, so one outstanding request is enough: it
// stays outstanding until the store has caught up with the largest total it has heard of, or until
// `retryAfterMs` passes without progress.

import type { OutgoingMessage, Row, RowsMessage } from "./types";

export type RowsListener = (added: Row[], start: number) => void;

export interface MergeResult {
  /** Rows appended to the store (past what it held). */
  added: number;
  /** The message started past the end of what the store holds; a sync was requested or is pending. */
  gap: boolean;
}

export class RowStore {
  readonly rows: Row[] = [];
  private readonly listeners = new Set<RowsListener>();
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

  get syncPending(): boolean {
    return this.pending !== null;
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
    this.known = Math.max(this.known, start + rows.length);
    if (!Number.isInteger(start) || start < 0) return { added: 0, gap: false };
    const held = this.held;
    if (start > held) {
      this.requestSync();
      return { added: 0, gap: true };
    }
    const fresh = rows.slice(held - start);
    if (fresh.length > 0) {
      for (const row of fresh) this.rows.push(row);
      for (const listener of [...this.listeners]) listener(fresh, held);
    }
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
      // No kernel (e.g. a notebook opened without one): the traits still show the header.
      this.pending = null;
      return false;
    }
    return true;
  }
}
