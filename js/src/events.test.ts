/** @vitest-environment jsdom */
import { describe, expect, it } from "vitest";
import { familyOf, renderEvent } from "./events";
import type { Row } from "./types";

function row(fields: Partial<Row>): Row {
  return {
    i: 0, id: 1, kind: "action", type: "message", source: "agent", timestamp: "2025-01-27T23:16:54.105108",
    message: null, content: null, thought: null, agent_state: null, exit_code: null, path: null, cause: null,
    delivery: "stored", hidden: null, parse_error: null, truncated: null, ...fields,
  };
}

const HOSTILE = [
  `<img src=x onerror="window.__pwned = 1">`,
  `<script>window.__pwned = 1</script>`,
  `<a href="javascript:alert(1)">x</a><iframe src="about:blank"></iframe><svg onload=alert(1)>`,
].join("\n");

describe("renderEvent security", () => {
  const cases: Partial<Row>[] = [
    { kind: "action", type: "message", source: "user", content: HOSTILE },
    { kind: "action", type: "message", source: "agent", content: HOSTILE, thought: HOSTILE },
    { kind: "action", type: "run", content: HOSTILE, thought: HOSTILE },
    { kind: "observation", type: "run", content: HOSTILE, exit_code: 1 },
    { kind: "observation", type: "read", path: HOSTILE, content: HOSTILE },
    { kind: "action", type: "edit", path: HOSTILE, content: HOSTILE },
    { kind: "action", type: "system", content: HOSTILE },
    { kind: "action", type: "think", content: HOSTILE },
    { kind: "action", type: "finish", content: HOSTILE },
    { kind: "observation", type: "agent_state_changed", agent_state: HOSTILE },
    { kind: "status", type: HOSTILE, message: HOSTILE },
    { kind: "error", type: "error", message: HOSTILE, content: HOSTILE },
    { kind: "observation", type: "error", content: HOSTILE },
    { kind: "unknown", type: HOSTILE, parse_error: HOSTILE, content: HOSTILE, message: HOSTILE },
    { kind: "observation", type: HOSTILE, message: HOSTILE, content: HOSTILE, source: HOSTILE },
    { kind: "action", type: "message", content: HOSTILE, timestamp: HOSTILE },
  ];

  it.each(cases)("renders hostile text as text: %o", (fields) => {
    const el = renderEvent(row(fields));
    document.body.replaceChildren(el);
    expect(el.querySelector("img, script, a, iframe, svg")).toBeNull();
    expect(el.textContent).toContain("onerror");
    expect((window as unknown as { __pwned?: number }).__pwned).toBeUndefined();
  });
});

describe("renderEvent", () => {
  it("marks each element with stable classes and data attributes", () => {
    const el = renderEvent(row({ i: 4, id: 6, kind: "observation", type: "run", content: "total 0", exit_code: 0 }));
    expect(el.classList.contains("ohnb-event")).toBe(true);
    expect(el.dataset).toMatchObject({ i: "4", id: "6", kind: "observation", type: "run", family: "output" });
    expect(el.querySelector(".ohnb-output")?.textContent).toBe("total 0");
    expect(el.querySelector(".ohnb-exit-code")?.textContent).toBe("exit code 0");
  });

  it("shows a command with its prompt and the user's message with its source", () => {
    const cmd = renderEvent(row({ type: "run", content: "ls -la" }));
    expect(cmd.querySelector(".ohnb-command")?.textContent).toBe("$ ls -la");
    const msg = renderEvent(row({ source: "user", content: "Please rename game_2048.py" }));
    expect(msg.textContent).toContain("User");
    expect(msg.textContent).toContain("Please rename game_2048.py");
    expect(msg.querySelector(".ohnb-time")?.textContent).toBe("23:16:54");
  });

  it("flags text the kernel cut short", () => {
    const el = renderEvent(row({ kind: "observation", type: "read", content: "abc", truncated: { content: 50000 } }));
    expect(el.querySelector(".ohnb-truncated")?.textContent).toContain("50,000");
  });

  it("classifies rows into families", () => {
    expect(familyOf(row({ kind: "observation", type: "error" }))).toBe("error");
    expect(familyOf(row({ kind: "status", type: "STATUS$ERROR_LLM_AUTHENTICATION" }))).toBe("error");
    expect(familyOf(row({ kind: "status", type: "STATUS$READY" }))).toBe("status");
    expect(familyOf(row({ kind: "observation", type: "agent_state_changed" }))).toBe("state");
    expect(familyOf(row({ kind: "unknown", type: null }))).toBe("unknown");
    expect(familyOf(row({ kind: "observation", type: "recall" }))).toBe("generic");
  });
});
