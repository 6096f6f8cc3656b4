// Filter bar: event type (by family or exact type), source, text search, and "show hidden events".
// It owns no rows: it reports a Filter, and the view tells it which types exist and how many rows
// match.

import { h } from "./dom";
import { FAMILY_LABELS, familyOf, searchText, type Family } from "./events";
import type { Row } from "./types";

const NUMBER = new Intl.NumberFormat();
const fmt = (n: number) => NUMBER.format(n);

export interface Filter {
  /** "" (all), "family:<Family>" or "type:<kind>/<type>". */
  type: string;
  /** "" (all) or a source value. */
  source: string;
  /** Lower-cased, trimmed search text ("" = none). */
  query: string;
  showHidden: boolean;
}

export const NO_FILTER: Filter = { type: "", source: "", query: "", showHidden: false };

/** Whether the filter shows all rows that are not hidden. */
export function isFiltering(filter: Filter): boolean {
  return filter.type !== "" || filter.source !== "" || filter.query !== "";
}

function typeKey(row: Row): string {
  return `${row.kind ?? "unknown"}/${row.type ?? ""}`;
}

/**
 * Rows shown only with "hidden" ticked: OpenHands' hidden events, and V1 streaming token deltas
 * (transient; the message they build arrives as an event of its own).
 */
export function isHiddenRow(row: Row): boolean {
  return row.hidden === true || (row.kind === "status" && row.type === "streaming_delta");
}

export function rowMatches(row: Row, filter: Filter): boolean {
  if (isHiddenRow(row) && !filter.showHidden) return false;
  if (filter.source !== "" && (row.source ?? "") !== filter.source) return false;
  if (filter.type !== "") {
    if (filter.type.startsWith("family:")) {
      if (familyOf(row) !== filter.type.slice(7)) return false;
    } else if (filter.type.startsWith("type:")) {
      if (typeKey(row) !== filter.type.slice(5)) return false;
    }
  }
  if (filter.query !== "" && !searchText(row).includes(filter.query)) return false;
  return true;
}

/** Counts of the rows seen so far, by family, exact type and source (for the menus). */
export class RowCounts {
  readonly families = new Map<Family, number>();
  readonly types = new Map<string, number>();
  readonly sources = new Map<string, number>();
  hidden = 0;
  /** Bumped when a menu needs a new option (not just a new count). */
  shape = 0;
  /** Bumped on every change. */
  version = 0;

  add(rows: readonly Row[]): void {
    if (rows.length > 0) this.version++;
    for (const row of rows) {
      const family = familyOf(row);
      this.bump(this.families, family);
      this.bump(this.types, typeKey(row));
      if (row.source) this.bump(this.sources, row.source);
      if (isHiddenRow(row)) this.hidden++;
    }
  }

  private bump<K>(map: Map<K, number>, key: K): void {
    const n = map.get(key);
    if (n === undefined) this.shape++;
    map.set(key, (n ?? 0) + 1);
  }
}

export class Toolbar {
  readonly el: HTMLDivElement;
  readonly typeSelect = h("select", { class: "ohnb-filter-type", "aria-label": "Filter by event type", title: "Show one kind of event" });
  readonly sourceSelect = h("select", { class: "ohnb-filter-source", "aria-label": "Filter by source", title: "Show events from one source" });
  readonly search = h("input", {
    class: "ohnb-search",
    type: "search",
    placeholder: "Search events",
    "aria-label": "Search events",
    title: "Show only events containing this text (Esc clears)",
    spellcheck: "false",
  });
  readonly hiddenToggle = h("input", { class: "ohnb-show-hidden", type: "checkbox" });
  readonly matchCount = h("span", { class: "ohnb-match-count", "aria-live": "polite" });
  private readonly hiddenLabel: HTMLLabelElement;
  private shape = -1;
  private version = -1;
  private countedAt = -Infinity;
  private pendingCounts: ReturnType<typeof setTimeout> | null = null;
  private readonly countsEveryMs = 500;
  private debounce: ReturnType<typeof setTimeout> | null = null;
  private readonly abort = new AbortController();

  constructor(
    private readonly onChange: (filter: Filter) => void,
    private readonly debounceMs = 120,
  ) {
    this.hiddenLabel = h("label", { class: "ohnb-hidden-label", title: "Show the events OpenHands marks hidden" }, this.hiddenToggle, " hidden");
    this.el = h(
      "div",
      { class: "ohnb-toolbar", role: "toolbar", "aria-label": "Filter events" },
      this.typeSelect,
      this.sourceSelect,
      h("span", { class: "ohnb-search-wrap" }, this.search),
      this.hiddenLabel,
      this.matchCount,
    );
    this.typeSelect.appendChild(h("option", { value: "" }, "All types"));
    this.sourceSelect.appendChild(h("option", { value: "" }, "All sources"));
    const signal = this.abort.signal;
    this.typeSelect.addEventListener("change", () => this.emit(), { signal });
    this.sourceSelect.addEventListener("change", () => this.emit(), { signal });
    this.hiddenToggle.addEventListener("change", () => this.emit(), { signal });
    this.search.addEventListener("input", () => this.emitSoon(), { signal });
    this.search.addEventListener(
      "keydown",
      (event) => {
        if (event.key === "Escape" && this.search.value !== "") {
          event.preventDefault();
          this.search.value = "";
          this.emit();
        } else if (event.key === "Enter") {
          event.preventDefault();
          this.emit();
        }
      },
      { signal },
    );
  }

  get filter(): Filter {
    return {
      type: this.typeSelect.value,
      source: this.sourceSelect.value,
      query: this.search.value.trim().toLowerCase(),
      showHidden: this.hiddenToggle.checked,
    };
  }

  /**
   * Update the menus from the counts: options are rebuilt only when a new type or source appears,
   * and their counts refreshed at most every `countsEveryMs` (a stream changes them every frame).
   */
  updateCounts(counts: RowCounts, now = Date.now()): void {
    if (counts.shape === this.shape && counts.version === this.version) return;
    if (counts.shape === this.shape && now - this.countedAt < this.countsEveryMs) {
      this.pendingCounts ??= setTimeout(() => {
        this.pendingCounts = null;
        this.updateCounts(counts);
      }, this.countsEveryMs);
      return;
    }
    this.version = counts.version;
    this.countedAt = now;
    if (counts.shape !== this.shape) {
      this.shape = counts.shape;
      this.rebuild(counts);
    }
    for (const option of Array.from(this.typeSelect.options)) {
      const value = option.value;
      let n: number | undefined;
      if (value.startsWith("family:")) n = counts.families.get(value.slice(7) as Family);
      else if (value.startsWith("type:")) n = counts.types.get(value.slice(5));
      if (n !== undefined) setTextIfChanged(option, `${option.dataset.label} (${fmt(n)})`);
    }
    for (const option of Array.from(this.sourceSelect.options)) {
      const n = counts.sources.get(option.value);
      if (n !== undefined) setTextIfChanged(option, `${option.dataset.label} (${fmt(n)})`);
    }
    setTextIfChanged(this.hiddenLabel.lastChild as Text, counts.hidden > 0 ? ` hidden (${counts.hidden})` : " hidden");
  }

  /** "12 of 3,456 shown" when filtering, else nothing. */
  setMatches(shown: number, total: number, filtering: boolean): void {
    setTextIfChanged(this.matchCount, filtering ? `${fmt(shown)} of ${fmt(total)} shown` : "");
    this.matchCount.dataset.shown = String(shown);
    this.el.dataset.filtering = String(filtering);
  }

  destroy(): void {
    this.abort.abort();
    if (this.debounce !== null) clearTimeout(this.debounce);
    if (this.pendingCounts !== null) clearTimeout(this.pendingCounts);
  }

  private rebuild(counts: RowCounts): void {
    const typeValue = this.typeSelect.value;
    const sourceValue = this.sourceSelect.value;
    const families = (Object.keys(FAMILY_LABELS) as Family[]).filter((f) => counts.families.has(f));
    const byFamily = h("optgroup", { label: "Category" });
    for (const family of families) byFamily.appendChild(option(`family:${family}`, FAMILY_LABELS[family]));
    const byType = h("optgroup", { label: "Type" });
    for (const key of [...counts.types.keys()].sort()) {
      const [kind, type] = key.split("/", 2);
      byType.appendChild(option(`type:${key}`, `${kind}: ${type || "(none)"}`));
    }
    this.typeSelect.replaceChildren(h("option", { value: "" }, "All types"), byFamily, byType);
    this.typeSelect.value = typeValue;
    if (this.typeSelect.value !== typeValue) this.typeSelect.value = "";

    this.sourceSelect.replaceChildren(h("option", { value: "" }, "All sources"));
    for (const source of [...counts.sources.keys()].sort()) this.sourceSelect.appendChild(option(source, source));
    this.sourceSelect.value = sourceValue;
    if (this.sourceSelect.value !== sourceValue) this.sourceSelect.value = "";
  }

  private emitSoon(): void {
    if (this.debounce !== null) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.emit(), this.debounceMs);
  }

  private emit(): void {
    if (this.debounce !== null) clearTimeout(this.debounce);
    this.debounce = null;
    this.onChange(this.filter);
  }
}

function option(value: string, label: string): HTMLOptionElement {
  return h("option", { value, data: { label } }, label);
}

function setTextIfChanged(node: Node, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}
