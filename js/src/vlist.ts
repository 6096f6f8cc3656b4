// A virtualized, variable-height event list: only the rows in (and near) the viewport are in the DOM,
// so 10,000+ events stay smooth.
//
// How it works: every item has a height, measured once rendered, estimated before. Prefix sums of the
// heights (`offsets`) give each item's top; a sizer element as tall as the whole list gives the
// scrollbar its range, and the rendered rows sit in one absolutely positioned body moved to the top
// of the first rendered item. Each update (at most once per animation frame) picks the items that
// overlap the viewport plus `overscanPx` on both sides, reuses the elements it already has, measures
// them, and when measurements differ from the estimates keeps the first visible item where it was on
// screen (no jump), or, while following, stays at the bottom.
//
// Following: the list sticks to the bottom as items arrive until the user scrolls up (wheel, keys,
// scrollbar); a "jump to latest" button (and the End key) brings it back.

import { h } from "./dom";
import type { Row } from "./types";

export interface Scheduler {
  request(cb: () => void): number;
  cancel(handle: number): void;
}

export const frameScheduler: Scheduler =
  typeof requestAnimationFrame === "function"
    ? { request: (cb) => requestAnimationFrame(cb), cancel: (id) => cancelAnimationFrame(id) }
    : { request: (cb) => setTimeout(cb, 16) as unknown as number, cancel: (id) => clearTimeout(id) };

export interface VirtualListOptions {
  renderRow: (row: Row) => HTMLElement;
  /** Height (px) assumed for a row until it has been rendered and measured. */
  estimateHeight?: (row: Row) => number;
  scheduler?: Scheduler;
  /** Extra pixels rendered above and below the viewport. */
  overscanPx?: number;
  /** Most rows in the DOM at once. */
  maxRendered?: number;
  /** Distance from the bottom (px) within which the list counts as "at the bottom". */
  stickThresholdPx?: number;
  /** Tests (jsdom has no layout): the height of a rendered row, and the viewport. */
  measure?: (el: HTMLElement) => number;
  viewport?: () => { top: number; height: number };
}

export class VirtualList {
  /** The list's outer element (scroller, empty-state text, jump button). */
  readonly el: HTMLDivElement;
  readonly scroller: HTMLDivElement;
  readonly jumpButton: HTMLButtonElement;
  readonly emptyText: HTMLDivElement;
  private readonly sizer: HTMLDivElement;
  private readonly body: HTMLDivElement;
  private items: Row[] = [];
  /** Measured heights by row position `i` (they survive filter changes). */
  private readonly heights = new Map<number, number>();
  /** offsets[k] = top of item k; offsets[n] = total height. Valid up to `valid - 1`. */
  private offsets = new Float64Array(1024);
  private valid = 1;
  private readonly rendered = new Map<number, HTMLElement>();
  /** The items rendered by the last update (first > last: none). */
  private first = 0;
  private last = -1;
  /** Elements whose height is known (measured since they were rendered and since the last resize). */
  private measuredEls = new WeakSet<HTMLElement>();
  private follow = true;
  private unseen = 0;
  private scheduled = false;
  private handle: number | null = null;
  private updating = false;
  private programmaticTop: number | null = null;
  /** The viewport height seen by the last update (for clamping without a layout read). */
  private viewportHeight = 0;
  private destroyed = false;
  private readonly resizeObserver: ResizeObserver | null = null;
  private readonly abort = new AbortController();
  private readonly renderRow: (row: Row) => HTMLElement;
  private readonly estimate: (row: Row) => number;
  private readonly scheduler: Scheduler;
  private readonly overscan: number;
  private readonly maxRendered: number;
  private readonly threshold: number;
  private readonly measureEl: (el: HTMLElement) => number;
  private readonly viewportOf: () => { top: number; height: number };

  constructor(options: VirtualListOptions) {
    this.renderRow = options.renderRow;
    this.estimate = options.estimateHeight ?? (() => 48);
    this.scheduler = options.scheduler ?? frameScheduler;
    this.overscan = options.overscanPx ?? 600;
    this.maxRendered = options.maxRendered ?? 200;
    this.threshold = options.stickThresholdPx ?? 16;
    this.measureEl = options.measure ?? ((el) => el.getBoundingClientRect().height);
    this.viewportOf = options.viewport ?? (() => ({ top: this.scroller.scrollTop, height: this.scroller.clientHeight }));

    this.body = h("div", { class: "ohnb-events-body" });
    this.sizer = h("div", { class: "ohnb-events-sizer" }, this.body);
    this.scroller = h("div", { class: "ohnb-events", tabindex: 0, role: "log", "aria-live": "off", "aria-label": "Conversation events" }, this.sizer);
    this.emptyText = h("div", { class: "ohnb-empty", hidden: true });
    this.jumpButton = h("button", { class: "ohnb-jump", type: "button", hidden: true, title: "Scroll to the newest event and follow new ones (End)" }, "↓ Latest");
    this.el = h("div", { class: "ohnb-list" }, this.scroller, this.emptyText, this.jumpButton);

    const signal = this.abort.signal;
    this.scroller.addEventListener("scroll", () => this.onScroll(), { passive: true, signal });
    this.scroller.addEventListener(
      "wheel",
      (event) => {
        if (event.deltaY < 0) this.stopFollowing();
      },
      { passive: true, signal },
    );
    this.scroller.addEventListener("keydown", (event) => this.onKey(event), { signal });
    this.jumpButton.addEventListener("click", () => this.scrollToBottom(), { signal });
    if (typeof ResizeObserver === "function") {
      this.resizeObserver = new ResizeObserver((entries) => {
        let stale = false;
        for (const entry of entries) {
          if (entry.target === this.body) {
            // Rows changed height on their own (a theme, fonts)? The body grows with every update
            // too: only a height that disagrees with the measured rows means re-measuring.
            const expected = this.last >= this.first ? this.offsets[this.last + 1] - this.offsets[this.first] : 0;
            if (entry.contentRect.height > 0 && Math.abs(entry.contentRect.height - expected) > 1) stale = true;
          } else {
            // A new size (a new width re-wraps text, or the list was hidden): measure everything again.
            stale = true;
          }
        }
        if (stale) {
          this.measuredEls = new WeakSet();
          this.schedule();
        }
      });
      this.resizeObserver.observe(this.scroller);
      this.resizeObserver.observe(this.body);
    }
  }

  /** Whether new items scroll the list to the bottom (the user has not scrolled up). */
  get following(): boolean {
    return this.follow;
  }

  get itemCount(): number {
    return this.items.length;
  }

  get renderedCount(): number {
    return this.rendered.size;
  }

  /** Items that arrived while the user was scrolled up. */
  get unseenCount(): number {
    return this.unseen;
  }

  /** The rendered element of row `i`, if it is in the DOM. */
  elementOf(i: number): HTMLElement | undefined {
    return this.rendered.get(i);
  }

  /** Add items at the end (rows that arrived and pass the filter). */
  append(rows: readonly Row[]): void {
    if (rows.length === 0) return;
    for (const row of rows) this.items.push(row);
    if (!this.follow) this.unseen += rows.length;
    this.schedule();
  }

  /**
   * Replace every item (the filter changed). While following, the list stays at the bottom; otherwise
   * the first visible row stays in view when it is still listed.
   */
  setItems(rows: Row[]): void {
    const anchor = this.follow ? null : this.firstVisibleRow();
    this.items = rows;
    this.valid = 1;
    this.unseen = 0;
    this.clearRendered();
    if (anchor !== null) {
      const k = this.indexOfRow(anchor);
      if (k !== -1) {
        this.ensureOffsets();
        this.setTop(this.offsets[k]);
      }
    }
    this.schedule();
  }

  /** Render row `i` again (expanded, collapsed); returns its new element when it is in the DOM. */
  refresh(i: number): HTMLElement | undefined {
    const old = this.rendered.get(i);
    if (!old) return undefined;
    const k = this.indexOfRow(i);
    if (k === -1) return undefined;
    const el = this.renderRow(this.items[k]);
    old.replaceWith(el);
    this.rendered.set(i, el);
    this.schedule();
    return el;
  }

  /** Render every row again (the search text changed). */
  refreshAll(): void {
    this.clearRendered();
    this.schedule();
  }

  scrollToBottom(): void {
    this.follow = true;
    this.unseen = 0;
    this.update();
  }

  scrollToTop(): void {
    this.stopFollowing();
    this.setTop(0);
    this.update();
  }

  /** Scroll so that row `i` is at the top; false when it is not listed (filtered out). */
  scrollToRow(i: number): boolean {
    const k = this.indexOfRow(i);
    if (k === -1) return false;
    this.stopFollowing();
    this.ensureOffsets();
    this.setTop(Math.max(0, this.offsets[k] - 4));
    this.update();
    return true;
  }

  /** Run a pending update now (tests, measurements). */
  flush(): void {
    this.unschedule();
    this.update();
  }

  destroy(): void {
    this.destroyed = true;
    this.unschedule();
    this.abort.abort();
    this.resizeObserver?.disconnect();
    this.clearRendered();
    this.items = [];
  }

  // --- internals ----------------------------------------------------------------------------------

  private stopFollowing(): void {
    this.follow = false;
  }

  private onKey(event: KeyboardEvent): void {
    if (event.target !== this.scroller) return;
    if (event.key === "End") {
      event.preventDefault();
      this.scrollToBottom();
    } else if (event.key === "Home") {
      event.preventDefault();
      this.scrollToTop();
    } else if (["ArrowUp", "PageUp"].includes(event.key)) {
      this.stopFollowing();
    }
  }

  private onScroll(): void {
    const { top, height } = this.viewportOf();
    if (this.programmaticTop !== null && Math.abs(top - this.programmaticTop) < 2) {
      this.schedule();
      return;
    }
    this.programmaticTop = null;
    this.ensureOffsets();
    const atBottom = this.offsets[this.items.length] - top - height <= this.threshold;
    if (atBottom && !this.follow) {
      this.follow = true;
      this.unseen = 0;
    } else if (!atBottom && this.follow) {
      this.follow = false;
    }
    this.schedule();
  }

  /** Scroll to `top` (clamped to the list's range); no layout read-back. */
  private setTop(top: number): void {
    this.ensureOffsets();
    const max = Math.max(0, this.offsets[this.items.length] - this.viewportHeight);
    const value = Math.round(Math.min(Math.max(0, top), max));
    this.programmaticTop = value;
    this.scroller.scrollTop = value;
  }

  private schedule(): void {
    if (this.scheduled || this.destroyed) return;
    this.scheduled = true;
    const handle = this.scheduler.request(() => {
      this.scheduled = false;
      this.handle = null;
      this.update();
    });
    // A scheduler may run the callback at once (tests): only keep a handle that is still pending.
    if (this.scheduled) this.handle = handle;
  }

  private unschedule(): void {
    if (this.scheduled && this.handle !== null) this.scheduler.cancel(this.handle);
    this.scheduled = false;
    this.handle = null;
  }

  private clearRendered(): void {
    for (const el of this.rendered.values()) el.remove();
    this.rendered.clear();
  }

  private heightOf(k: number): number {
    const row = this.items[k];
    return this.heights.get(row.i) ?? this.estimate(row);
  }

  private ensureOffsets(): void {
    const n = this.items.length;
    if (this.offsets.length < n + 1) {
      const grown = new Float64Array(Math.max(n + 1, this.offsets.length * 2));
      grown.set(this.offsets.subarray(0, this.valid));
      this.offsets = grown;
    }
    for (let k = this.valid - 1; k < n; k++) this.offsets[k + 1] = this.offsets[k] + this.heightOf(k);
    this.valid = n + 1;
  }

  /** The largest k with offsets[k] <= y (0 <= k < n). */
  private indexAt(y: number): number {
    const n = this.items.length;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.offsets[mid] <= y) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Index of the item with row position `i` (items are in row order), or -1. */
  private indexOfRow(i: number): number {
    let lo = 0;
    let hi = this.items.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const at = this.items[mid].i;
      if (at === i) return mid;
      if (at < i) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  private firstVisibleRow(): number | null {
    if (this.items.length === 0) return null;
    this.ensureOffsets();
    const k = this.indexAt(this.viewportOf().top);
    return this.items[k]?.i ?? null;
  }

  private update(): void {
    if (this.destroyed || this.updating) return;
    this.updating = true;
    try {
      this.render();
    } finally {
      this.updating = false;
    }
  }

  private render(): void {
    const n = this.items.length;
    this.ensureOffsets();
    this.emptyText.hidden = n > 0 || !this.emptyText.textContent;
    if (n === 0) {
      this.clearRendered();
      this.first = 0;
      this.last = -1;
      this.sizer.style.height = "0px";
      this.body.style.transform = "";
      this.updateJump(0, 0);
      return;
    }
    let { top, height } = this.viewportOf();
    const laidOut = height > 0;
    // Hidden (display: none, a collapsed output, a theme switch): the scroll position reads 0 and
    // nothing can be measured. Keep the rows there are; the resize when it shows again re-renders.
    if (!laidOut && this.rendered.size > 0) return;
    const span = laidOut ? height : 400;
    this.viewportHeight = span;
    for (let pass = 0; pass < 4; pass++) {
      const total = this.offsets[n];
      this.sizer.style.height = `${total}px`;
      if (this.follow) {
        top = Math.max(0, total - span);
        if (laidOut) this.setTop(top);
      }
      const anchor = this.indexAt(top);
      const anchorOffset = this.offsets[anchor];
      let first = this.indexAt(Math.max(0, top - this.overscan));
      let last = this.indexAt(top + span + this.overscan);
      if (last - first + 1 > this.maxRendered) {
        // Keep the viewport's rows: trim the overscan on the side away from the anchor first.
        first = Math.max(first, Math.min(anchor - 10, last - this.maxRendered + 1));
        last = Math.min(last, first + this.maxRendered - 1);
      }
      this.reconcile(first, last);
      this.first = first;
      this.last = last;
      this.body.style.transform = `translateY(${this.offsets[first]}px)`;
      if (!laidOut) break;

      let changedFrom = -1;
      for (let k = first; k <= last; k++) {
        const row = this.items[k];
        const el = this.rendered.get(row.i);
        if (!el || this.measuredEls.has(el)) continue;
        const measured = this.measureEl(el);
        if (measured > 0) this.measuredEls.add(el);
        if (measured > 0 && Math.abs(measured - this.heightOf(k)) > 0.5) {
          this.heights.set(row.i, measured);
          if (changedFrom === -1) changedFrom = k;
        }
      }
      if (changedFrom === -1) break;
      this.valid = Math.min(this.valid, changedFrom + 1);
      this.ensureOffsets();
      if (!this.follow) {
        // Keep the anchor row where it was on screen: rows above it changed height.
        const shift = this.offsets[anchor] - anchorOffset;
        if (shift !== 0) {
          top += shift;
          this.sizer.style.height = `${this.offsets[n]}px`;
          this.setTop(top);
        }
      }
    }
    const total = this.offsets[n];
    this.sizer.style.height = `${total}px`;
    if (this.follow && laidOut) this.setTop(Math.max(0, total - span));
    this.updateJump(total, top + span);
  }

  /** Make the body hold the elements of items first..last, in order, reusing the ones it has. */
  private reconcile(first: number, last: number): void {
    const wanted: HTMLElement[] = [];
    const keep = new Set<number>();
    for (let k = first; k <= last; k++) {
      const row = this.items[k];
      let el = this.rendered.get(row.i);
      if (!el) {
        el = this.renderRow(row);
        this.rendered.set(row.i, el);
      }
      wanted.push(el);
      keep.add(row.i);
    }
    for (const [i, el] of this.rendered) {
      if (!keep.has(i)) {
        el.remove();
        this.rendered.delete(i);
      }
    }
    let cursor: ChildNode | null = this.body.firstChild;
    for (const el of wanted) {
      if (el === cursor) {
        cursor = cursor.nextSibling;
        continue;
      }
      this.body.insertBefore(el, cursor);
    }
  }

  private updateJump(total: number, bottom: number): void {
    const show = !this.follow && total - bottom > this.threshold;
    this.jumpButton.hidden = !show;
    const label = this.unseen > 0 ? `↓ ${this.unseen.toLocaleString()} new` : "↓ Latest";
    if (this.jumpButton.textContent !== label) this.jumpButton.textContent = label;
    this.jumpButton.setAttribute("aria-label", this.unseen > 0 ? `Jump to latest: ${this.unseen} new events` : "Jump to latest event");
    this.el.dataset.following = String(this.follow);
  }
}
