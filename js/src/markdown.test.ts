/** @vitest-environment jsdom */
import { describe, expect, it } from "vitest";
import { markdownToSafeHtml, renderMarkdown } from "./markdown";
import { PAYLOADS } from "./testing";

function dom(text: string): HTMLElement {
  const div = document.createElement("div");
  div.appendChild(renderMarkdown(text));
  document.body.replaceChildren(div);
  return div;
}

describe("renderMarkdown", () => {
  it("renders Markdown: emphasis, lists, code, tables, links", () => {
    const el = dom("# Title\n\n**bold** and `code`\n\n- a\n- b\n\n```python\nprint(1)\n```\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n[docs](https://example.com)");
    expect(el.querySelector("h1")?.textContent).toBe("Title");
    expect(el.querySelector("strong")?.textContent).toBe("bold");
    expect(el.querySelectorAll("li").length).toBe(2);
    expect(el.querySelector("pre code.language-python")?.textContent).toBe("print(1)\n");
    expect(el.querySelectorAll("td").length).toBe(2);
    const a = el.querySelector("a")!;
    expect(a.getAttribute("href")).toBe("https://example.com");
    expect(a.getAttribute("target")).toBe("_blank");
    expect(a.getAttribute("rel")).toBe("noopener noreferrer nofollow");
  });

  it("keeps line breaks of chat text", () => {
    expect(dom("line one\nline two").querySelectorAll("br").length).toBe(1);
  });

  it("shows raw HTML as text and never creates active elements", () => {
    const el = dom(PAYLOADS);
    expect(el.querySelector("script, img, svg, math, iframe, style, form, button, details, input, object, embed")).toBeNull();
    for (const node of el.querySelectorAll("*")) {
      for (const attr of node.getAttributeNames()) expect(attr).toMatch(/^(href|title|start|align|class|target|rel)$/);
    }
    for (const a of el.querySelectorAll("a[href]")) expect(a.getAttribute("href")).toMatch(/^(https?:|mailto:)/);
    expect(el.textContent).toContain("<script>window.__pwned = 1</script>");
    expect(el.textContent).toContain('onerror="window.__pwned = 2"');
    expect(el.textContent).toContain("[image: y]");
    expect(el.querySelector("strong")?.textContent).toBe("bold");
    expect((window as unknown as { __pwned?: number }).__pwned).toBeUndefined();
  });

  it("drops javascript: hrefs but keeps the link text", () => {
    const el = dom("[click me](javascript:alert(1)) [mail](mailto:a@b.c) [rel](./x)");
    const links = [...el.querySelectorAll("a")];
    expect(links.map((a) => a.getAttribute("href"))).toEqual([null, "mailto:a@b.c", null]);
    expect(el.textContent).toContain("click me");
  });

  it("does not leak classes other than code languages", () => {
    expect(markdownToSafeHtml("```js\nx\n```")).toContain('class="language-js"');
    expect(markdownToSafeHtml('<span class="jp-Dialog">x</span>')).not.toContain("<span");
    expect(markdownToSafeHtml("`x`{.jp-Dialog}")).not.toContain('class="jp');
  });
});
