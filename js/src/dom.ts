// A tiny element builder that can only create text: every string child becomes a text node and
// attributes are set with setAttribute. Event data never goes through innerHTML.

export type Child = Node | string | number | null | undefined | false;

export interface Attrs {
  class?: string;
  title?: string;
  /** `data-*` attributes, without the prefix. */
  data?: Record<string, string | number | boolean | null | undefined>;
  [attr: string]: unknown;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "data") {
        for (const [key, v] of Object.entries(value as NonNullable<Attrs["data"]>)) {
          if (v !== undefined && v !== null) el.setAttribute(`data-${key}`, String(v));
        }
      } else {
        el.setAttribute(name, value === true ? "" : String(value));
      }
    }
  }
  append(el, ...children);
  return el;
}

/** Append children to `el`; strings and numbers as text nodes. */
export function append(el: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
}

/** Replace the text of `el` (no markup); nothing is touched when it is unchanged. */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}
