/** @vitest-environment jsdom */
import { describe, expect, it } from "vitest";
import { COLLAPSE_LINES, familyOf, looksLikeDiff, renderEvent, searchText, type Family } from "./events";
import { makeRow, PAYLOADS } from "./testing";
import type { Row } from "./types";

const row = (fields: Partial<Row>) => makeRow(0, { content: null, ...fields });

describe("familyOf", () => {
  const V0_ACTIONS: Record<string, Family> = {
    message: "message", system: "system", start: "generic", read: "file", write: "file", edit: "file", run: "command",
    run_ipython: "command", browse: "browse", browse_interactive: "browse", call_tool_mcp: "mcp", delegate: "generic",
    think: "thought", finish: "finish", reject: "error", null: "generic", pause: "state", resume: "state", stop: "state",
    change_agent_state: "state", push: "generic", send_pr: "generic", recall: "recall", condensation: "condensation",
    condensation_request: "condensation", task_tracking: "generic", loop_recovery: "generic",
  };
  const V0_OBSERVATIONS: Record<string, Family> = {
    read: "file", write: "file", edit: "file", browse: "browse", run: "output", run_ipython: "output", chat: "message",
    delegate: "generic", message: "message", error: "error", success: "generic", null: "generic", think: "thought",
    agent_state_changed: "state", user_rejected: "error", condense: "condensation", recall: "recall", mcp: "mcp",
    download: "generic", task_tracking: "generic", loop_detection: "generic",
  };

  it.each(Object.entries(V0_ACTIONS))("action %s -> %s", (type, family) => {
    expect(familyOf(row({ kind: "action", type }))).toBe(family);
  });
  it.each(Object.entries(V0_OBSERVATIONS))("observation %s -> %s", (type, family) => {
    expect(familyOf(row({ kind: "observation", type }))).toBe(family);
  });

  it("classifies status, error, unknown and V1 tool names", () => {
    expect(familyOf(row({ kind: "status", type: "STATUS$ERROR_LLM_AUTHENTICATION" }))).toBe("error");
    expect(familyOf(row({ kind: "status", type: "STATUS$READY" }))).toBe("status");
    expect(familyOf(row({ kind: "error", type: "error" }))).toBe("error");
    expect(familyOf(row({ kind: "unknown", type: null }))).toBe("unknown");
    expect(familyOf(row({ kind: null, type: "whatever" }))).toBe("unknown");
    expect(familyOf(row({ kind: "action", type: "interrupt" }))).toBe("generic");
    expect(familyOf(row({ kind: "action", type: "glob" }))).toBe("generic");
    expect(familyOf(row({ kind: "observation", type: "terminal" }))).toBe("output");
    expect(familyOf(row({ kind: "action", type: "file_editor" }))).toBe("file");
  });
});

describe("renderEvent", () => {
  const cases: Partial<Row>[] = [
    { kind: "action", type: "message", source: "user" },
    { kind: "action", type: "message", source: "agent", thought: "__X__" },
    { kind: "action", type: "run", thought: "__X__" },
    { kind: "observation", type: "run", exit_code: 1 },
    { kind: "action", type: "read", path: "__X__" },
    { kind: "observation", type: "read", path: "__X__" },
    { kind: "action", type: "edit", path: "__X__" },
    { kind: "observation", type: "edit", path: "__X__", diff: "--- a\n+++ b\n@@ -1 +1 @@\n-__X__\n+__X__" },
    { kind: "action", type: "system" },
    { kind: "action", type: "think" },
    { kind: "action", type: "finish" },
    { kind: "action", type: "browse" },
    { kind: "action", type: "browse_interactive" },
    { kind: "observation", type: "browse", message: "__X__" },
    { kind: "action", type: "call_tool_mcp", tool: "__X__" },
    { kind: "observation", type: "mcp" },
    { kind: "action", type: "condensation" },
    { kind: "observation", type: "recall", message: "__X__" },
    { kind: "observation", type: "agent_state_changed", agent_state: "__X__" },
    { kind: "status", type: "__X__", message: "__X__" },
    { kind: "status", type: "STATUS$ERROR_X", message: "__X__" },
    { kind: "error", type: "error", message: "__X__" },
    { kind: "observation", type: "error" },
    { kind: "unknown", type: "__X__", parse_error: "__X__", message: "__X__" },
    { kind: "observation", type: "__X__", message: "__X__", source: "__X__" },
    { kind: "action", type: "null" },
  ];

  it.each(cases)("renders hostile text as text, never as markup: %o", (fields) => {
    const hostile = Object.fromEntries(
      Object.entries(fields).map(([k, v]) => [k, v === "__X__" ? PAYLOADS : typeof v === "string" && v.includes("__X__") ? v.replaceAll("__X__", "<img src=x onerror=alert(1)>") : v]),
    );
    const el = renderEvent(row({ content: PAYLOADS, timestamp: PAYLOADS, ...hostile }));
    document.body.replaceChildren(el);
    expect(el.querySelector("img, script, iframe, svg, math, style, form, details, object, embed")).toBeNull();
    for (const node of el.querySelectorAll("*")) {
      for (const attr of node.getAttributeNames()) expect(attr.startsWith("on")).toBe(false);
    }
    for (const a of el.querySelectorAll("a[href]")) expect(a.getAttribute("href")).toMatch(/^https?:|^mailto:/);
    expect(el.textContent).toMatch(/onerror/);
    expect((window as unknown as { __pwned?: number }).__pwned).toBeUndefined();
  });

  it("marks each element with stable classes and data attributes", () => {
    const el = renderEvent(makeRow(4, { event_id: "6", kind: "observation", type: "run", content: "total 0", exit_code: 0, cause_id: "5" }));
    expect(el.classList.contains("ohnb-event")).toBe(true);
    expect(el.dataset).toMatchObject({ i: "4", id: "6", kind: "observation", type: "run", family: "output", source: "agent" });
    expect(el.querySelector(".ohnb-output")?.textContent).toBe("total 0");
    expect(el.querySelector(".ohnb-exit-code")?.textContent).toBe("exit 0");
    expect(el.querySelector<HTMLElement>(".ohnb-exit-code")?.dataset.ok).toBe("true");
    expect(el.querySelector<HTMLElement>(".ohnb-cause")?.dataset.jump).toBe("5");
  });

  it("uses the V1 UUID as identity and shortens it for display", () => {
    const uuid = "0b6f0c2e-4f3a-4d7e-9a55-3a1f2b9c7d10";
    const el = renderEvent(makeRow(0, { event_id: uuid }));
    expect(el.dataset.id).toBe(uuid);
    expect(el.querySelector(".ohnb-event-id")?.textContent).toBe("#0b6f0c2e…");
  });

  it("shows a command in a terminal and messages as Markdown with their source", () => {
    const cmd = renderEvent(row({ type: "run", content: "ls -la" }));
    expect(cmd.querySelector(".ohnb-terminal.ohnb-command")?.textContent).toBe("$ ls -la");
    const py = renderEvent(row({ type: "run_ipython", content: "print(1)" }));
    expect(py.querySelector(".ohnb-command")?.textContent).toBe(">>> print(1)");
    const msg = renderEvent(row({ source: "user", content: "Please **rename** game_2048.py" }));
    expect(msg.querySelector(".ohnb-label")?.textContent).toBe("User");
    expect(msg.querySelector(".ohnb-markdown strong")?.textContent).toBe("rename");
    expect(msg.querySelector(".ohnb-time")?.textContent).toBe("23:16:54");
    const empty = renderEvent(row({ kind: "observation", type: "run", content: "", exit_code: 0 }));
    expect(empty.textContent).toContain("(no output)");
  });

  it("drops terminal control sequences from command output", () => {
    const el = renderEvent(row({ kind: "observation", type: "run", content: "\u001b[?2004l\u001b[31mred\u001b[0m text\u001b]0;title\u0007\n\u001b[?2004h", exit_code: 0 }));
    expect(el.querySelector(".ohnb-output")?.textContent).toBe("red text\n");
    const blank = renderEvent(row({ kind: "observation", type: "run", content: "\u001b[?2004l\u001b[?2004h", exit_code: 0 }));
    expect(blank.textContent).toContain("(no output)");
  });

  it("falls back to message when the kernel sent no content", () => {
    const el = renderEvent(row({ type: "message", content: null, message: "only the message" }));
    expect(el.textContent).toContain("only the message");
  });

  it("shows edits as diffs (a diff column, or content that is one)", () => {
    const diff = "--- /w/a.py\n+++ /w/a.py\n@@ -1,2 +1,2 @@\n a = 1\n-b = 2\n+b = 3";
    for (const fields of [{ diff, content: "I edited the file" }, { content: diff }]) {
      const el = renderEvent(row({ kind: "observation", type: "edit", path: "/w/a.py", ...fields }));
      expect(el.querySelector(".ohnb-diff-add")?.textContent).toBe("+b = 3\n");
      expect(el.querySelector(".ohnb-diff-del")?.textContent).toBe("-b = 2\n");
      expect(el.querySelector(".ohnb-diff-hunk")?.textContent).toContain("@@ -1,2 +1,2 @@");
      expect(el.querySelector(".ohnb-path")?.textContent).toBe("/w/a.py");
    }
    expect(looksLikeDiff("The file /w/a.py has been edited.")).toBe(false);
    expect(looksLikeDiff(null)).toBe(false);
  });

  it("links http(s) browse URLs only", () => {
    const ok = renderEvent(row({ type: "browse", content: "https://example.com/x" }));
    expect(ok.querySelector("a.ohnb-url")?.getAttribute("href")).toBe("https://example.com/x");
    const bad = renderEvent(row({ type: "browse", content: "javascript:alert(1)" }));
    expect(bad.querySelector("a")).toBeNull();
    expect(bad.textContent).toContain("javascript:alert(1)");
  });

  it("shows unknown events plainly with their parse error", () => {
    const el = renderEvent(row({ kind: "unknown", type: "NewKindOfEvent", parse_error: "payload has none of the keys", content: "{...}" }));
    expect(el.textContent).toContain("Unknown event: NewKindOfEvent");
    expect(el.textContent).toContain("payload has none of the keys");
    expect(el.textContent).toContain("{...}");
  });

  it("shows agent states as badges with a tone", () => {
    const el = renderEvent(row({ kind: "observation", type: "agent_state_changed", agent_state: "awaiting_user_input" }));
    const pill = el.querySelector<HTMLElement>(".ohnb-state-name")!;
    expect(pill.textContent).toBe("Awaiting input");
    expect(pill.dataset).toMatchObject({ state: "awaiting_user_input", tone: "attention" });
  });

  it("flags text the kernel cut short", () => {
    const el = renderEvent(row({ kind: "observation", type: "read", content: "abc", truncated: { content: 50000 } }));
    expect(el.querySelector(".ohnb-truncated")?.textContent).toContain("50,000");
  });

  it("collapses long outputs behind an accessible toggle, expanded on request or by a search", () => {
    const long = Array.from({ length: 40 }, (_, k) => `line ${k}`).join("\n");
    const r = row({ kind: "observation", type: "run", content: long, exit_code: 0 });
    const collapsed = renderEvent(r);
    const block = collapsed.querySelector<HTMLElement>(".ohnb-collapsible")!;
    const toggle = collapsed.querySelector<HTMLButtonElement>("button.ohnb-toggle")!;
    expect(block.dataset.collapsed).toBe("true");
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    expect(toggle.textContent).toBe("Show all (40 lines)");
    expect(toggle.dataset.toggle).toBe("0:content");
    expect(document.getElementById !== undefined && toggle.getAttribute("aria-controls")).toBe("ohnb-block-0-content");

    const expanded = renderEvent(r, { expanded: new Set(["0:content"]), query: "" });
    expect(expanded.querySelector<HTMLElement>(".ohnb-collapsible")!.dataset.collapsed).toBe("false");
    expect(expanded.querySelector("button.ohnb-toggle")!.textContent).toBe("Show less");
    const searched = renderEvent(r, { expanded: new Set(), query: "line 39" });
    expect(searched.querySelector<HTMLElement>(".ohnb-collapsible")!.dataset.collapsed).toBe("false");
    const userCollapsed = renderEvent(r, { expanded: new Set(), collapsed: new Set(["0:content"]), query: "line 39" });
    expect(userCollapsed.querySelector<HTMLElement>(".ohnb-collapsible")!.dataset.collapsed).toBe("true");

    const short = renderEvent(row({ kind: "observation", type: "run", content: "x\n".repeat(COLLAPSE_LINES - 1) }));
    expect(short.querySelector(".ohnb-collapsible")).toBeNull();
  });

  it("searches the row's text, not its markup", () => {
    const r = row({ content: "Hello World", thought: "Thinking", path: "/A/B" });
    expect(searchText(r)).toContain("hello world");
    expect(searchText(r)).toContain("/a/b");
    expect(searchText(r)).toContain("thinking");
  });
});
