/** @vitest-environment jsdom */
import { describe, expect, it } from "vitest";
import { EventList } from "./list";
import type { Row } from "./types";

function row(i: number, hidden: boolean | null = null): Row {
  return {
    i, id: i, kind: "action", type: "message", source: "agent", timestamp: null, message: null,
    content: `row ${i}`, thought: null, agent_state: null, exit_code: null, path: null, cause: null,
    delivery: "live", hidden, parse_error: null, truncated: null,
  };
}

/** A scheduler whose frames run when the test says so. */
function manualFrames() {
  const pending: (() => void)[] = [];
  return {
    pending,
    scheduler: { request: (cb: () => void) => pending.push(cb), cancel: () => {} },
    run() {
      const cbs = pending.splice(0);
      for (const cb of cbs) cb();
    },
  };
}

describe("EventList", () => {
  it("appends queued rows in frame-sized batches, one frame request at a time", () => {
    const frames = manualFrames();
    const list = new EventList({ scheduler: frames.scheduler, maxPerFrame: 500, frameBudgetMs: Infinity });
    list.enqueue(Array.from({ length: 600 }, (_, i) => row(i)));
    list.enqueue(Array.from({ length: 600 }, (_, i) => row(600 + i)));
    expect(frames.pending.length).toBe(1);
    expect(list.el.querySelectorAll(".ohnb-event").length).toBe(0);
    frames.run();
    expect(list.el.querySelectorAll(".ohnb-event").length).toBe(500);
    frames.run();
    frames.run();
    const items = [...list.el.querySelectorAll<HTMLElement>(".ohnb-event")];
    expect(items.length).toBe(1200);
    expect(items.map((el) => Number(el.dataset.i))).toEqual(Array.from({ length: 1200 }, (_, i) => i));
    expect(frames.pending.length).toBe(0);
  });

  it("skips hidden rows but counts them as consumed", () => {
    const list = new EventList({ scheduler: manualFrames().scheduler });
    list.enqueue([row(0), row(1, true), row(2)]);
    list.flush();
    expect([...list.el.querySelectorAll<HTMLElement>(".ohnb-event")].map((el) => el.dataset.i)).toEqual(["0", "2"]);
    expect(list.consumed).toBe(3);
  });

  it("follows the bottom until the user scrolls up", () => {
    const list = new EventList({ scheduler: manualFrames().scheduler });
    let scrollHeight = 1000;
    Object.defineProperty(list.el, "scrollHeight", { get: () => scrollHeight });
    Object.defineProperty(list.el, "clientHeight", { get: () => 200 });
    list.enqueue([row(0)]);
    list.flush();
    expect(list.el.scrollTop).toBe(1000);

    list.el.scrollTop = 300; // the user scrolls up
    list.el.dispatchEvent(new Event("scroll"));
    expect(list.following).toBe(false);
    scrollHeight = 1500;
    list.enqueue([row(1)]);
    list.flush();
    expect(list.el.scrollTop).toBe(300);

    list.el.scrollTop = 1300; // back at the bottom
    list.el.dispatchEvent(new Event("scroll"));
    expect(list.following).toBe(true);
    scrollHeight = 2000;
    list.enqueue([row(2)]);
    list.flush();
    expect(list.el.scrollTop).toBe(2000);
  });
});
