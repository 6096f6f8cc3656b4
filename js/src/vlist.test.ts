/** @vitest-environment jsdom */
import { describe, expect, it } from "vitest";
import { makeRow } from "./testing";
import type { Row } from "./types";
import { VirtualList } from "./vlist";

/** A scheduler whose frames run when the test says so. */
function manualFrames() {
  const pending: (() => void)[] = [];
  return {
    scheduler: { request: (cb: () => void) => pending.push(cb), cancel: () => {} },
    run() {
      while (pending.length) pending.shift()!();
    },
  };
}

const rows = (start: number, end: number) => Array.from({ length: end - start }, (_, k) => makeRow(start + k));

/** jsdom has no layout: rows measure 40 px (or what `heights` says), the viewport is 400 px. */
function setup(heights: Record<number, number> = {}) {
  const frames = manualFrames();
  const list: VirtualList = new VirtualList({
    renderRow: (row: Row) => {
      const el = document.createElement("div");
      el.className = "ohnb-event";
      el.dataset.i = String(row.i);
      return el;
    },
    estimateHeight: () => 40,
    measure: (el) => heights[Number(el.dataset.i)] ?? 40,
    viewport: () => ({ top: list.scroller.scrollTop, height: 400 }),
    scheduler: frames.scheduler,
    overscanPx: 200,
    maxRendered: 50,
  });
  document.body.replaceChildren(list.el);
  const rendered = () => [...list.el.querySelectorAll<HTMLElement>(".ohnb-event")].map((e) => Number(e.dataset.i));
  const userScroll = (top: number) => {
    list.scroller.scrollTop = top;
    list.scroller.dispatchEvent(new Event("scroll"));
    frames.run();
  };
  return { list, frames, rendered, userScroll };
}

describe("VirtualList", () => {
  it("renders only the rows near the viewport of 10,000, at the bottom while following", () => {
    const { list, frames, rendered } = setup();
    list.append(rows(0, 10_000));
    frames.run();
    const shown = rendered();
    expect(shown.length).toBeLessThanOrEqual(50);
    expect(shown.at(-1)).toBe(9999);
    expect(shown).toEqual(Array.from({ length: shown.length }, (_, k) => shown[0] + k));
    expect(list.scroller.scrollTop).toBe(10_000 * 40 - 400);
    expect(list.following).toBe(true);
    expect(list.jumpButton.hidden).toBe(true);
  });

  it("keeps following as rows arrive, reusing the elements it has", () => {
    const { list, frames, rendered } = setup();
    list.append(rows(0, 100));
    frames.run();
    const last = list.el.querySelector('[data-i="99"]');
    list.append(rows(100, 103));
    frames.run();
    expect(rendered().at(-1)).toBe(102);
    expect(list.el.querySelector('[data-i="99"]')).toBe(last);
    expect(list.scroller.scrollTop).toBe(103 * 40 - 400);
  });

  it("stops following when the user scrolls up, counts new rows, and jumps back", () => {
    const { list, frames, rendered, userScroll } = setup();
    list.append(rows(0, 200));
    frames.run();
    userScroll(2000);
    expect(list.following).toBe(false);
    list.append(rows(200, 230));
    frames.run();
    expect(list.scroller.scrollTop).toBe(2000);
    expect(rendered()).toContain(50);
    expect(list.jumpButton.hidden).toBe(false);
    expect(list.jumpButton.textContent).toBe("↓ 30 new");
    list.jumpButton.click();
    frames.run();
    expect(list.following).toBe(true);
    expect(list.scroller.scrollTop).toBe(230 * 40 - 400);
    expect(list.jumpButton.hidden).toBe(true);
    expect(rendered().at(-1)).toBe(229);
  });

  it("follows again when the user scrolls back to the bottom, and with the End key", () => {
    const { list, frames, userScroll } = setup();
    list.append(rows(0, 100));
    frames.run();
    userScroll(0);
    expect(list.following).toBe(false);
    userScroll(100 * 40 - 400);
    expect(list.following).toBe(true);
    userScroll(0);
    list.scroller.dispatchEvent(new KeyboardEvent("keydown", { key: "End", bubbles: true }));
    expect(list.following).toBe(true);
    expect(list.scroller.scrollTop).toBe(100 * 40 - 400);
  });

  it("keeps the first visible row in place when rows above it turn out taller", () => {
    const heights: Record<number, number> = {};
    const { list, frames, userScroll } = setup(heights);
    list.append(rows(0, 100));
    frames.run();
    userScroll(40 * 50); // row 50 at the top
    for (let i = 45; i < 50; i++) heights[i] = 100; // rendered in the overscan above: 60 px taller each
    list.refreshAll();
    frames.run();
    expect(list.scroller.scrollTop).toBe(40 * 50 + 5 * 60);
    expect(list.following).toBe(false);
  });

  it("keeps the anchor row when the items change, and scrolls to a row", () => {
    const { list, frames, rendered, userScroll } = setup();
    list.append(rows(0, 100));
    frames.run();
    userScroll(40 * 60);
    list.setItems(rows(0, 100).filter((r) => r.i % 2 === 0));
    frames.run();
    expect(rendered()).toContain(60);
    expect(list.scroller.scrollTop).toBe(30 * 40);
    expect(list.scrollToRow(10)).toBe(true);
    expect(rendered()).toContain(10);
    expect(list.scrollToRow(11)).toBe(false);
  });

  it("re-renders one row on refresh", () => {
    const { list, frames } = setup();
    list.append(rows(0, 5));
    frames.run();
    const old = list.elementOf(3)!;
    const fresh = list.refresh(3)!;
    expect(fresh).not.toBe(old);
    expect(old.isConnected).toBe(false);
    expect(fresh.isConnected).toBe(true);
  });

  it("shows the empty text when there is nothing to list", () => {
    const { list, frames } = setup();
    list.emptyText.textContent = "No events yet.";
    list.setItems([]);
    frames.run();
    expect(list.emptyText.hidden).toBe(false);
    list.destroy();
  });
});
