// One rendered view of a ConversationWidget: header, error banner, filter bar, virtualized event list,
// controls. Several views of one model share the model's RowStore; each has its own filter, scroll
// position and expanded blocks.

import type { AnyModel } from "@anywidget/types";
import { Controls } from "./controls";
import { h } from "./dom";
import { COLLAPSE_LINES, familyOf, renderEvent, type RenderContext } from "./events";
import { Header } from "./header";
import { highlight } from "./highlight";
import type { RowStore } from "./sync";
import { isFiltering, isHiddenRow, NO_FILTER, RowCounts, rowMatches, Toolbar, type Filter } from "./toolbar";
import type { OutgoingMessage, Row, WidgetTraits } from "./types";
import { frameScheduler, VirtualList, type Scheduler, type VirtualListOptions } from "./vlist";

const TRAITS = ["conversation_id", "agent_state", "connection_state", "reconnects", "error", "n_events", "live", "can_stop", "height"] as const;

const CSS_LENGTH = /^\d{1,5}(?:\.\d{1,3})?(?:px|em|rem|vh|%)$/;

export interface ViewOptions extends Partial<Omit<VirtualListOptions, "renderRow">> {
  /** Debounce of the search box (ms). */
  searchDebounceMs?: number;
}

function setData(el: HTMLElement, key: string, value: string): void {
  if (el.dataset[key] !== value) el.dataset[key] = value;
}

/** A rough height (px) of a row before it is measured: fewer jumps while scrolling into new rows. */
export function estimateRowHeight(row: Row): number {
  const family = familyOf(row);
  if (family === "state" || family === "status" || family === "recall") return 30;
  const text = row.content ?? row.message ?? "";
  let lines = 1;
  for (let k = text.indexOf("\n"); k !== -1 && lines <= COLLAPSE_LINES; k = text.indexOf("\n", k + 1)) lines++;
  lines = Math.min(COLLAPSE_LINES + 2, lines + Math.floor(text.length / 110));
  return 36 + lines * 18 + (row.thought ? 22 : 0);
}

export class ConversationView {
  readonly el: HTMLDivElement;
  readonly header = new Header();
  readonly toolbar: Toolbar;
  readonly list: VirtualList;
  readonly controls: Controls;
  private filter: Filter = NO_FILTER;
  private readonly counts = new RowCounts();
  private readonly expanded = new Set<string>();
  private readonly collapsed = new Set<string>();
  private shown = 0;
  private followedBeforeSearch = true;
  private readonly cleanups: (() => void)[] = [];
  private readonly scheduler: Scheduler;
  private chromeScheduled = false;

  constructor(
    private readonly model: AnyModel<WidgetTraits>,
    private readonly store: RowStore,
    options: ViewOptions = {},
  ) {
    this.scheduler = options.scheduler ?? frameScheduler;
    this.list = new VirtualList({
      estimateHeight: estimateRowHeight,
      ...options,
      renderRow: (row) => this.renderRow(row),
    });
    this.toolbar = new Toolbar((filter) => this.setFilter(filter), options.searchDebounceMs);
    this.controls = new Controls((msg: OutgoingMessage) => model.send(msg));
    this.el = h(
      "div",
      { class: "ohnb-widget", "data-lm-suppress-shortcuts": "true" },
      this.header.el,
      this.header.banner,
      this.toolbar.el,
      this.list.el,
      this.controls.el,
    );

    // Keys typed in the widget are the widget's: keep JupyterLab's notebook shortcuts out.
    const stopKeys = (event: KeyboardEvent) => event.stopPropagation();
    this.el.addEventListener("keydown", stopKeys);
    this.cleanups.push(() => this.el.removeEventListener("keydown", stopKeys));
    const onClick = (event: MouseEvent) => this.onListClick(event);
    this.list.scroller.addEventListener("click", onClick);
    this.cleanups.push(() => this.list.scroller.removeEventListener("click", onClick));

    this.counts.add(store.rows);
    this.setItems();
    this.cleanups.push(store.subscribe((added) => this.onRows(added)));
    const onChange = () => this.update();
    for (const name of TRAITS) {
      model.on(`change:${name}`, onChange);
      this.cleanups.push(() => model.off(`change:${name}`, onChange));
    }
    this.cleanups.push(
      () => this.list.destroy(),
      () => this.controls.destroy(),
      () => this.toolbar.destroy(),
    );
    this.update();
  }

  traits(): WidgetTraits {
    const get = <K extends keyof WidgetTraits>(key: K) => this.model.get(key);
    return {
      conversation_id: get("conversation_id") ?? "",
      agent_state: get("agent_state") ?? null,
      connection_state: get("connection_state") ?? "CLOSED",
      reconnects: get("reconnects") ?? 0,
      error: get("error") ?? null,
      n_events: get("n_events") ?? 0,
      live: Boolean(get("live")),
      can_stop: Boolean(get("can_stop")),
      height: get("height") ?? "",
    };
  }

  /** Update everything that comes from traits or counts (header, controls, menus, empty text). */
  update(): void {
    const traits = this.traits();
    this.header.update({ traits, held: this.store.held });
    this.controls.update({
      live: traits.live,
      connection: traits.connection_state,
      agentState: traits.agent_state,
      canStop: traits.can_stop,
    });
    this.toolbar.updateCounts(this.counts);
    this.toolbar.setMatches(this.shown, this.store.held, isFiltering(this.filter));
    const height = String(traits.height || "");
    if (CSS_LENGTH.test(height)) this.list.scroller.style.height = height;
    setData(this.el, "live", String(traits.live));
    setData(this.el, "held", String(this.store.held));
    setData(this.el, "shown", String(this.shown));
    setData(this.el, "lastId", this.store.rows.at(-1)?.event_id ?? "");
    const empty = this.emptyText(traits);
    if (this.list.emptyText.textContent !== empty) this.list.emptyText.textContent = empty;
    this.list.emptyText.hidden = this.shown > 0;
  }

  destroy(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
  }

  // --- rows -----------------------------------------------------------------------------------------

  private onRows(added: Row[]): void {
    this.counts.add(added);
    const matching = this.filter === NO_FILTER ? added.filter((row) => !isHiddenRow(row)) : added.filter((row) => rowMatches(row, this.filter));
    this.shown += matching.length;
    this.list.append(matching);
    this.scheduleChrome();
  }

  private setFilter(filter: Filter): void {
    const queryChanged = filter.query !== this.filter.query;
    const searchStarts = queryChanged && this.filter.query === "" && filter.query !== "";
    if (searchStarts) this.followedBeforeSearch = this.list.following;
    this.filter = filter;
    if (queryChanged) this.collapsed.clear();
    this.setItems();
    if (queryChanged) {
      this.list.refreshAll();
      // A search shows its first match; clearing it goes back to following, if the list was.
      if (filter.query !== "") this.list.scrollToTop();
      else if (this.followedBeforeSearch) this.list.scrollToBottom();
    }
    this.update();
  }

  private setItems(): void {
    const items = this.store.rows.filter((row) => rowMatches(row, this.filter));
    this.shown = items.length;
    this.list.setItems(items);
  }

  private renderRow(row: Row): HTMLElement {
    const ctx: RenderContext = { expanded: this.expanded, collapsed: this.collapsed, query: this.filter.query };
    const el = renderEvent(row, ctx);
    if (ctx.query) highlight(el, ctx.query);
    return el;
  }

  private onListClick(event: MouseEvent): void {
    const target = event.target instanceof Element ? event.target : null;
    const toggle = target?.closest<HTMLElement>("[data-toggle]");
    if (toggle) {
      const key = toggle.dataset.toggle!;
      const expandedNow = toggle.getAttribute("aria-expanded") === "true";
      if (expandedNow) {
        this.expanded.delete(key);
        this.collapsed.add(key);
      } else {
        this.collapsed.delete(key);
        this.expanded.add(key);
      }
      const i = Number(key.split(":", 1)[0]);
      const el = this.list.refresh(i);
      const again = el ? Array.from(el.querySelectorAll<HTMLElement>("[data-toggle]")).find((b) => b.dataset.toggle === key) : undefined;
      again?.focus({ preventScroll: true });
      return;
    }
    const jump = target?.closest<HTMLElement>("[data-jump]");
    if (jump) {
      const i = this.store.indexOf(jump.dataset.jump!);
      if (i === undefined) return;
      if (!this.list.scrollToRow(i)) {
        this.toolbar.typeSelect.value = "";
        this.toolbar.sourceSelect.value = "";
        this.toolbar.search.value = "";
        this.setFilter(this.toolbar.filter);
        this.list.scrollToRow(i);
      }
      const el = this.list.elementOf(i);
      if (el) {
        el.classList.add("ohnb-flash");
        setTimeout(() => el.classList.remove("ohnb-flash"), 1200);
      }
    }
  }

  /** Header and menu counts follow the rows at most once per frame. */
  private scheduleChrome(): void {
    if (this.chromeScheduled) return;
    this.chromeScheduled = true;
    this.scheduler.request(() => {
      this.chromeScheduled = false;
      this.update();
    });
  }

  private emptyText(traits: WidgetTraits): string {
    if (this.shown > 0) return "";
    if (this.store.held > 0) return "No events match the filter.";
    if (traits.n_events > 0) return "Loading events from the kernel…";
    if (traits.live && traits.connection_state === "CONNECTING") return "Connecting…";
    return "No events yet.";
  }
}
