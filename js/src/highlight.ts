// Search highlighting: wrap every case-insensitive occurrence of the query in the text nodes of an
// element in <mark class="ohnb-mark">, with DOM calls only (splitText), never markup.

const SKIP = "button, .ohnb-time, .ohnb-event-id, .ohnb-prompt";

/** Highlight `query` (lower-cased, non-empty) inside `root`; returns the number of marks made. */
export function highlight(root: HTMLElement, query: string): number {
  if (!query) return 0;
  const doc = root.ownerDocument;
  const walker = doc.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      const parent = node.parentElement;
      if (!parent || parent.closest(SKIP)) return NodeFilter.FILTER_REJECT;
      return node.nodeValue && node.nodeValue.toLowerCase().includes(query) ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_REJECT;
    },
  });
  const nodes: Text[] = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) nodes.push(node as Text);
  let marks = 0;
  for (let node of nodes) {
    for (;;) {
      const value = node.nodeValue ?? "";
      const lower = value.toLowerCase();
      // Lower-casing that changes the length (a few Unicode letters) would misplace the mark.
      const at = lower.length === value.length ? lower.indexOf(query) : -1;
      if (at === -1) break;
      const match = node.splitText(at);
      const rest = match.splitText(query.length);
      const mark = doc.createElement("mark");
      mark.className = "ohnb-mark";
      match.parentNode!.replaceChild(mark, match);
      mark.appendChild(match);
      marks++;
      node = rest;
    }
  }
  return marks;
}
