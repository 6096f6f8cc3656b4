// Markdown for user and agent messages: parsed by `marked`, sanitized by DOMPurify, returned as a
// DocumentFragment (the caller never touches innerHTML).
//
// Safety, in layers:
// 1. Raw HTML inside Markdown is not rendered: marked's `html` tokens come out escaped, so
//    `<img onerror=...>` shows as that text. Images become plain links (no remote loads, no tracking).
// 2. DOMPurify then keeps only an allow-list of tags and attributes (no script, style, svg, math,
//    iframe, form, img, event handlers, data-*), and links only with http(s) or mailto URLs; they open
//    in a new tab with rel="noopener noreferrer nofollow".

import DOMPurify, { type Config } from "dompurify";
import { Marked } from "marked";

const ALLOWED_TAGS = [
  "a", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "b", "em", "i", "del", "s", "code",
  "pre", "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "span",
];
const ALLOWED_ATTR = ["href", "title", "start", "align", "class"];
const SAFE_URL = /^(?:https?:|mailto:)/i;
const SAFE_CLASS = /^language-[\w+#.-]{1,40}$/;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const marked = new Marked({ gfm: true, breaks: true, async: false });
marked.use({
  renderer: {
    html({ text }) {
      return escapeHtml(text);
    },
    image({ href, text }) {
      const label = escapeHtml(text || href || "image");
      return `<a href="${escapeHtml(href || "")}">[image: ${label}]</a>`;
    },
    checkbox({ checked }) {
      return checked ? "☑ " : "☐ ";
    },
  },
});

type Purifier = ReturnType<typeof DOMPurify>;
let purifier: Purifier | null = null;

function getPurifier(): Purifier {
  if (purifier) return purifier;
  const p = DOMPurify(window);
  p.addHook("afterSanitizeAttributes", (node) => {
    if (!(node instanceof Element)) return;
    if (node.hasAttribute("class") && !SAFE_CLASS.test(node.getAttribute("class") ?? "")) node.removeAttribute("class");
    if (node.tagName === "A") {
      const href = (node.getAttribute("href") ?? "").trim();
      if (SAFE_URL.test(href)) {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer nofollow");
      } else {
        node.removeAttribute("href");
      }
    }
  });
  purifier = p;
  return p;
}

const CONFIG: Config & { RETURN_DOM_FRAGMENT: true } = {
  ALLOWED_TAGS,
  ALLOWED_ATTR,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

/** Markdown text -> sanitized DOM. Falls back to plain text when parsing fails. */
export function renderMarkdown(text: string): DocumentFragment {
  let html: string;
  try {
    html = marked.parse(text) as string;
  } catch {
    const fragment = document.createDocumentFragment();
    fragment.appendChild(document.createTextNode(text));
    return fragment;
  }
  const fragment = getPurifier().sanitize(html, CONFIG) as DocumentFragment;
  return document.importNode(fragment, true) as DocumentFragment;
}

/** HTML from `renderMarkdown` as a string (tests and the static export). */
export function markdownToSafeHtml(text: string): string {
  const holder = document.createElement("div");
  holder.appendChild(renderMarkdown(text));
  return holder.innerHTML;
}
