// Helpers shared by the unit tests (not bundled: only *.test.ts import it).
import type { Row } from "./types";

export function makeRow(i: number, fields: Partial<Row> = {}): Row {
  return {
    i, event_id: String(i), kind: "action", type: "message", source: "agent", timestamp: "2025-01-27T23:16:54.105108",
    message: null, content: `hello ${i}`, thought: null, agent_state: null, exit_code: null, path: null, cause_id: null,
    tool: null, hidden: null, parse_error: null, diff: null, truncated: null, ...fields,
  };
}

/** Hostile strings of every flavor: script tags, event handlers, javascript: links, SVG, HTML in Markdown. */
export const PAYLOADS = [
  `<script>window.__pwned = 1</script>`,
  `<img src=x onerror="window.__pwned = 2">`,
  `[click me](javascript:window.__pwned=3)`,
  `<a href="javascript:window.__pwned=4">link</a>`,
  `<svg onload="window.__pwned=5"><script>window.__pwned=6</script></svg>`,
  `<svg><animate onbegin="window.__pwned=7" attributeName="x" dur="1s"/></svg>`,
  `<iframe srcdoc="<script>parent.__pwned=8</script>"></iframe>`,
  `<math><mtext><table><mglyph><style><img src=x onerror="window.__pwned=9">`,
  `<details open ontoggle="window.__pwned=10">x</details>`,
  `![x](javascript:window.__pwned=11)`,
  `![y](https://tracker.example/pixel.png "t")`,
  `<form><button formaction="javascript:window.__pwned=12">go</button></form>`,
  `**bold** <b onmouseover="window.__pwned=13">html bold</b>`,
  `<style>body { display: none }</style>`,
  `[ok](https://example.com/docs)`,
].join("\n\n");
