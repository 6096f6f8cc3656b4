import { describe, expect, it } from "vitest";
import { decodeRow, RowStore } from "./sync";
import { ROW_FIELDS, type OutgoingMessage, type Row } from "./types";

/** A row on the wire: values in ROW_FIELDS order. */
function wire(i: number, extra: Partial<Row> = {}): unknown[] {
  const row: Record<string, unknown> = { event_id: String(i), kind: "action", type: "message", source: "agent", content: `c${i}`, ...extra };
  return ROW_FIELDS.map((f) => row[f] ?? null);
}

function range(start: number, end: number): unknown[][] {
  return Array.from({ length: end - start }, (_, k) => wire(start + k));
}

function setup(now = { t: 0 }) {
  const sent: OutgoingMessage[] = [];
  const store = new RowStore((msg) => sent.push(msg), 3000, () => now.t);
  const added: number[][] = [];
  store.subscribe((rows, start) => added.push([start, rows.length]));
  return { store, sent, added, now };
}

describe("decodeRow", () => {
  it("zips values with the message's fields and types them", () => {
    const fields = ["event_id", "exit_code", "hidden", "truncated", "content", "new_field"];
    const row = decodeRow(["7", 0, true, { content: 30000, bad: "x" }, 42, "ignored"], 3, fields);
    expect(row).toMatchObject({ i: 3, event_id: "7", exit_code: 0, hidden: true, truncated: { content: 30000 }, content: "42" });
    expect(row.kind).toBeNull();
    expect(decodeRow({ event_id: "x", exit_code: "1", content: { a: 1 } }, 0)).toMatchObject({ event_id: "x", exit_code: null, content: null });
  });
});

describe("RowStore merge", () => {
  it("appends contiguous deltas in order and indexes event ids", () => {
    const { store, sent, added } = setup();
    store.receive({ type: "rows", start: 0, rows: range(0, 3) });
    store.receive({ type: "rows", start: 3, rows: range(3, 5), fields: [...ROW_FIELDS] });
    expect(store.rows.map((r) => [r.i, r.event_id])).toEqual([[0, "0"], [1, "1"], [2, "2"], [3, "3"], [4, "4"]]);
    expect(added).toEqual([[0, 3], [3, 2]]);
    expect(sent).toEqual([]);
    expect(store.indexOf("3")).toBe(3);
    expect(store.indexOf("nope")).toBeUndefined();
  });

  it("ignores duplicates and keeps only the part past the end of an overlap", () => {
    const { store, added } = setup();
    store.receive({ type: "rows", start: 0, rows: range(0, 4) });
    expect(store.receive({ type: "rows", start: 0, rows: range(0, 4) })).toEqual({ added: 0, gap: false });
    expect(store.receive({ type: "rows", start: 2, rows: range(2, 6) })).toEqual({ added: 2, gap: false });
    expect(store.rows.map((r) => r.i)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(added).toEqual([[0, 4], [4, 2]]);
  });

  it("asks for the missing rows on a gap, once, and merges the reply", () => {
    const { store, sent } = setup();
    store.receive({ type: "rows", start: 0, rows: range(0, 2) });
    expect(store.receive({ type: "rows", start: 5, rows: range(5, 7), total: 7 })).toEqual({ added: 0, gap: true });
    store.receive({ type: "rows", start: 7, rows: range(7, 8), total: 8 });
    expect(sent).toEqual([{ type: "sync", have: 2 }]);
    expect(store.syncPending).toBe(true);
    store.receive({ type: "rows", start: 2, rows: range(2, 8), total: 8 });
    expect(store.held).toBe(8);
    expect(store.syncPending).toBe(false);
  });

  it("retries an unanswered request after the timeout", () => {
    const { store, sent, now } = setup();
    store.requestSync(true);
    store.noteTotal(5);
    expect(sent.length).toBe(1);
    now.t = 3500;
    store.noteTotal(5);
    expect(sent).toEqual([{ type: "sync", have: 0 }, { type: "sync", have: 0 }]);
  });

  it("learns totals from n_events and fetches what it lacks", () => {
    const { store, sent } = setup();
    store.noteTotal(0);
    expect(sent).toEqual([]);
    store.noteTotal(3);
    expect(sent).toEqual([{ type: "sync", have: 0 }]);
    expect(store.total).toBe(3);
  });

  it("survives a model without a kernel", () => {
    const store = new RowStore(() => {
      throw new Error("no kernel");
    });
    expect(store.requestSync(true)).toBe(false);
    expect(store.syncPending).toBe(false);
  });

  it("ignores malformed messages", () => {
    const { store } = setup();
    expect(store.receive({ type: "rows", start: -1, rows: range(0, 1) }).added).toBe(0);
    expect(store.receive({ type: "rows", start: 0, rows: "nope" as unknown as unknown[] }).added).toBe(0);
    expect(store.held).toBe(0);
  });
});
