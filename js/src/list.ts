// The scrolling event list. Rows are queued and appended to the DOM in animation-frame batches (never
// a full re-render); hidden rows are skipped. The list sticks to the bottom until the user scrolls up.
//
// Virtualization (a window of rendered rows over the store) can replace the internals later: callers
// only use `enqueue`, `flush`, `destroy` and `el`.

import { h } from "./dom";
import { renderEvent } from "./events";
import type { Row } from "./types";

export interface Scheduler {
  request(cb: () => void): number;
  cancel(handle: number): void;
}

const frameScheduler: Scheduler =
  typeof requestAnimationFrame === "function"
    ? { request: (cb) => requestAnimationFrame(cb), cancel: (id) => cancelAnimationFrame(id) }
    : { request: (cb) => setTimeout(cb, 16) as unknown as number, cancel: (id) => clearTimeout(id) };

export interface EventListOptions {
  renderRow?: (row: Row) => HTMLElement;
  scheduler?: Scheduler;
  /** Upper bound of rows appended in one frame. */
  maxPerFrame?: number;
  /** Stop a frame's batch after this many milliseconds (at least `minPerFrame` rows are appended). */
  frameBudgetMs?: number;
  minPerFrame?: number;
  /** Distance from the bottom (px) within which the list still counts as "at the bottom". */
  stickThresholdPx?: number;
}

export class EventList {
  readonly el: HTMLDivElement;
  private readonly body: HTMLDivElement;
  private queue: Row[] = [];
  /** Index of the next queued row to render. */
  private head = 0;
  private handle: number | null = null;
  private scheduled = false;
  private stick = true;
  /** Rows taken off the queue (rendered or hidden). */
  consumed = 0;
  private readonly renderRow: (row: Row) => HTMLElement;
  private readonly scheduler: Scheduler;
  private readonly maxPerFrame: number;
  private readonly frameBudgetMs: number;
  private readonly minPerFrame: number;
  private readonly threshold: number;
  private readonly onScroll = () => {
    this.stick = this.el.scrollHeight - this.el.scrollTop - this.el.clientHeight <= this.threshold;
  };

  constructor(options: EventListOptions = {}) {
    this.renderRow = options.renderRow ?? renderEvent;
    this.scheduler = options.scheduler ?? frameScheduler;
    this.maxPerFrame = options.maxPerFrame ?? 500;
    this.frameBudgetMs = options.frameBudgetMs ?? 12;
    this.minPerFrame = options.minPerFrame ?? 25;
    this.threshold = options.stickThresholdPx ?? 24;
    this.body = h("div", { class: "ohnb-events-body" });
    this.el = h("div", { class: "ohnb-events", role: "log", "aria-live": "polite" }, this.body);
    this.el.addEventListener("scroll", this.onScroll, { passive: true });
  }

  /** Whether new rows scroll the list to the bottom (the user has not scrolled up). */
  get following(): boolean {
    return this.stick;
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  enqueue(rows: readonly Row[]): void {
    if (rows.length === 0) return;
    for (const row of rows) this.queue.push(row);
    this.schedule();
  }

  /** Append everything queued now (tests, or before measuring). */
  flush(): void {
    this.unschedule();
    this.append(Infinity, Infinity);
  }

  destroy(): void {
    this.unschedule();
    this.queue = [];
    this.head = 0;
    this.el.removeEventListener("scroll", this.onScroll);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const handle = this.scheduler.request(() => {
      this.scheduled = false;
      this.handle = null;
      this.append(this.maxPerFrame, this.frameBudgetMs);
      if (this.queued > 0) this.schedule();
    });
    // A scheduler may run the callback at once (tests): only keep a handle that is still pending.
    if (this.scheduled) this.handle = handle;
  }

  private unschedule(): void {
    if (this.scheduled && this.handle !== null) this.scheduler.cancel(this.handle);
    this.scheduled = false;
    this.handle = null;
  }

  private append(maxRows: number, budgetMs: number): void {
    const t0 = now();
    const fragment = document.createDocumentFragment();
    let taken = 0;
    while (this.head < this.queue.length && taken < maxRows) {
      const row = this.queue[this.head++];
      taken++;
      if (row.hidden !== true) fragment.appendChild(this.renderRow(row));
      if (taken >= this.minPerFrame && now() - t0 > budgetMs) break;
    }
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    this.consumed += taken;
    if (fragment.childNodes.length > 0) this.body.appendChild(fragment);
    if (this.stick) this.el.scrollTop = this.el.scrollHeight;
  }
}

function now(): number {
  return typeof performance !== "undefined" ? performance.now() : Date.now();
}
