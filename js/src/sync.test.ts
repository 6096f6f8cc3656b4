import { describe, expect, it } from "vitest";
import { RowStore } from "./sync";
import type { OutgoingMessage, Row } from "./types";

function row(i: number): Row {
  return {
    i, id: i, kind: "action", type: "message", source: "agent", timestamp: null, message: `m${i}`,
    content: `c${i}`, thought: null, agent_state: null, exit_code: null, path: null, cause: null,
    delivery: "live", hidden: null, parse_error: null, truncated: null,
  };
}

function range(start: number, end: number): Row[] {
  return Array.from({ length: end - start }, (_, k) => row(start + k));
}

function setup(now = { t: 0 }) {
  const sent: OutgoingMessage[] = [];
  const store = new RowStore((msg) => sent.push(msg), 3000, () => now.t);
  const added: number[][] = [];
  store.subscribe((rows, start) => added.push([start, rows.length]));
  return { store, sent, added, now };
}

describe("RowStore merge", () => {
  it("appends contiguous deltas in order", () => {
    const { store, sent, added } = setup();
    store.receive({ type: "rows", start: 0, rows: range(0, 3) });
    store.receive({ type: "rows", start: 3, rows: range(3, 5) });
    expect(store.rows.map((r) => r.i)).toEqual([0, 1, 2, 3, 4]);
    expect(added).toEqual([[0, 3], [3, 2]]);
    expect(sent).toEqual([]);
  });

  it("ignores duplicates and keeps only the part past the end of an overlap", () => {
    const { store, added } = setup();
    store.receive({ type: "rows", start: 0, rows: range(0, 4) });
    expect(store.receive({ type: "rows", start: 0, rows: range(0, 4) })).toEqual({ added: 0, gap: false });
    expect(store.receive({ type: "rows", start: 2, rows: range(2, 6) })).toEqual({ added: 2, gap: false });
    expect(store.rows.map((r) => r.i)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(added).toEqual([[0, 4], [4, 2]]);
  });

  it("asks for a sync from what it holds when a delta leaves a gap, and drops the delta", () => {
    const { store, sent } = setup();
    store.receive({ type: "rows", start: 0, rows: range(0, 2) });
    expect(store.receive({ type: "rows", start: 5, rows: range(5, 7), total: 7 })).toEqual({ added: 0, gap: true });
    expect(store.held).toBe(2);
    expect(sent).toEqual([{ type: "sync", have: 2 }]);
  });

  it("sends one request per gap until the reply catches up", () => {
    const { store, sent } = setup();
    store.receive({ type: "rows", start: 3, rows: range(3, 4), total: 4 });
    store.receive({ type: "rows", start: 4, rows: range(4, 5), total: 5 });
    store.noteTotal(5);
    expect(sent).toEqual([{ type: "sync", have: 0 }]);
    // The reply, in two chunks: the request stays outstanding until held reaches the known total.
    store.receive({ type: "rows", start: 0, rows: range(0, 3), total: 5 });
    expect(store.syncPending).toBe(true);
    store.receive({ type: "rows", start: 3, rows: range(3, 5), total: 5 });
    expect(store.syncPending).toBe(false);
    expect(store.rows.map((r) => r.i)).toEqual([0, 1, 2, 3, 4]);
    // A later gap asks again.
    store.receive({ type: "rows", start: 9, rows: range(9, 10), total: 10 });
    expect(sent).toEqual([{ type: "sync", have: 0 }, { type: "sync", have: 5 }]);
  });

  it("asks again when an outstanding request goes unanswered", () => {
    const now = { t: 0 };
    const { store, sent } = setup(now);
    store.noteTotal(3);
    store.noteTotal(3);
    expect(sent.length).toBe(1);
    now.t = 3500;
    store.noteTotal(3);
    expect(sent).toEqual([{ type: "sync", have: 0 }, { type: "sync", have: 0 }]);
  });

  it("an empty reply answers a request when nothing is missing", () => {
    const { store } = setup();
    store.requestSync(true);
    expect(store.syncPending).toBe(true);
    store.receive({ type: "rows", start: 0, rows: [], total: 0 });
    expect(store.syncPending).toBe(false);
  });

  it("does not ask when n_events is not ahead", () => {
    const { store, sent } = setup();
    store.receive({ type: "rows", start: 0, rows: range(0, 2) });
    store.noteTotal(2);
    store.noteTotal(1);
    expect(sent).toEqual([]);
  });

  it("survives a send that throws (no kernel)", () => {
    const store = new RowStore(() => {
      throw new Error("no comm");
    });
    expect(store.requestSync()).toBe(false);
    expect(store.syncPending).toBe(false);
  });
});
