"""Hostile event content in a real browser: script tags, event-handler attributes, javascript: links,
SVG payloads and HTML inside Markdown, in messages, thoughts, commands, command output, file names,
diffs, status and error messages, unknown event types and the widget's own traits, streamed live from
the embedded server and shown from a DataFrame, in JupyterLab and in the static HTML export. Nothing
may execute (no dialog, no global set) and the text must stay visible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import (
    LabServer,
    cell_errors,
    kernel_eval,
    open_and_run_all,
    wait_for_cells_done,
    wait_kernel,
    write_notebook,
)

pytestmark = pytest.mark.browser

#: Each payload sets window.__ohnb_pwned or opens a dialog if it ever runs.
PAYLOADS = [
    "<script>window.__ohnb_pwned = 'script'</script>",
    "<img src=x onerror=\"window.__ohnb_pwned = 'img'; alert('img')\">",
    "[click me](javascript:window.__ohnb_pwned='mdlink')",
    "<a href=\"javascript:window.__ohnb_pwned='alink'\">a link</a>",
    "<svg onload=\"window.__ohnb_pwned='svg'\"><script>window.__ohnb_pwned='svgscript'</script></svg>",
    "<svg><animate onbegin=\"window.__ohnb_pwned='animate'\" attributeName=x dur=1s></svg>",
    "<iframe srcdoc=\"<script>parent.__ohnb_pwned='iframe'</script>\"></iframe>",
    "<math><mtext><table><mglyph><style><img src=x onerror=\"window.__ohnb_pwned='mxss'\">",
    "<details open ontoggle=\"window.__ohnb_pwned='details'\">d</details>",
    "![pixel](javascript:window.__ohnb_pwned='mdimg')",
    "<style>.ohnb-widget { display: none !important }</style>",
    "</script><script>window.__ohnb_pwned='breakout'</script>",
]
HOSTILE = "**bold** " + "\n\n".join(PAYLOADS)
#: Text that must be visible wherever a payload was shown (the markup, as text).
VISIBLE = ["window.__ohnb_pwned = 'script'", "onerror=", "javascript:window.__ohnb_pwned='mdlink'", "<svg onload="]


def hostile_events() -> list[dict]:
    """V0 payloads carrying the payloads in every text field the widget shows."""
    ts = "2025-01-27T23:17:%02d"
    return [
        {"id": 1, "timestamp": ts % 1, "source": "user", "message": HOSTILE, "action": "message",
         "args": {"content": HOSTILE, "image_urls": [], "file_urls": []}},
        {"id": 2, "timestamp": ts % 2, "source": "agent", "message": "Running command", "action": "run",
         "args": {"command": HOSTILE, "thought": HOSTILE}},
        {"id": 3, "timestamp": ts % 3, "source": "agent", "message": HOSTILE, "cause": 2, "observation": "run",
         "content": HOSTILE, "extras": {"metadata": {"exit_code": 1}, "command": HOSTILE}},
        {"id": 4, "timestamp": ts % 4, "source": "agent", "message": "Reading", "action": "read",
         "args": {"path": "/tmp/" + PAYLOADS[1] + ".py", "thought": HOSTILE}},
        {"id": 5, "timestamp": ts % 5, "source": "agent", "message": HOSTILE, "cause": 4, "observation": "read",
         "content": HOSTILE, "extras": {"path": "/tmp/" + PAYLOADS[4] + ".py"}},
        {"id": 6, "timestamp": ts % 6, "source": "agent", "message": "I edited the file", "cause": 4,
         "observation": "edit", "content": "edited",
         "extras": {"path": "/w/" + PAYLOADS[0], "old_content": "a\n", "new_content": HOSTILE}},
        {"id": 7, "timestamp": ts % 7, "source": "agent", "message": HOSTILE, "action": "message",
         "args": {"content": HOSTILE, "thought": HOSTILE}},
        {"id": 8, "timestamp": ts % 8, "source": "agent", "message": HOSTILE, "action": "browse",
         "args": {"url": "javascript:window.__ohnb_pwned='browse'", "thought": HOSTILE}},
        {"id": 9, "timestamp": ts % 9, "source": "agent", "message": HOSTILE, "action": "finish",
         "args": {"final_thought": HOSTILE}},
        {"id": 10, "timestamp": ts % 10, "source": "agent", "message": HOSTILE, "observation": "error",
         "content": HOSTILE, "extras": {}},
        {"id": 11, "timestamp": ts % 11, "source": "agent", "message": HOSTILE, "observation": PAYLOADS[4],
         "content": HOSTILE, "extras": {}},
        {"id": 12, "timestamp": ts % 12, "source": "environment", "message": "", "observation": "agent_state_changed",
         "content": "", "extras": {"agent_state": PAYLOADS[1]}},
        {"id": 13, "timestamp": ts % 13, "source": "agent", "message": HOSTILE, "action": "call_tool_mcp",
         "args": {"name": PAYLOADS[0], "arguments": {"x": HOSTILE}, "thought": HOSTILE}},
    ]


def notebook_cells(export: Path) -> list[str]:
    events = json.dumps(hostile_events())
    return [
        f"""\
import json
import ohnb
from ohnb.normalize import normalize_v0
from ohnb.schema import EVENT_COLUMNS, frame_from_rows
from ohnb.servers import V0ReplayServer

events = json.loads({events!r})
rows = [normalize_v0(e, delivery="stored", conversation_id={PAYLOADS[1]!r}) for e in events]
rows.append({{"kind": "status", "type": {PAYLOADS[4]!r}, "message": {HOSTILE!r}}})
rows.append({{"kind": "unknown", "type": {PAYLOADS[0]!r}, "parse_error": {HOSTILE!r}, "content": {HOSTILE!r}}})
stored = ohnb.ConversationWidget(frame_from_rows(rows, EVENT_COLUMNS), height="2600px")
stored.error = {HOSTILE!r}
stored.to_html({str(export)!r}, title={PAYLOADS[0]!r})
stored""",
        """\
server = V0ReplayServer(events, conversation_id="xss-live").start_in_thread()
conv = ohnb.connect(server.url, server.conversation_id)
live = ohnb.ConversationWidget(conv, height="2600px")
live""",
    ]


#: Active content inside the widgets: elements that can run code or load things, on* attributes,
#: links that are not http(s)/mailto.
ACTIVE_JS = """() => {
  const found = [];
  for (const root of document.querySelectorAll('.ohnb-widget')) {
    for (const el of root.querySelectorAll('script, iframe, img, svg, math, object, embed, form, style, link, meta, base, details, input:not(.ohnb-show-hidden):not(.ohnb-search)')) {
      found.push('element ' + el.tagName);
    }
    for (const el of root.querySelectorAll('*')) {
      for (const attr of el.getAttributeNames()) if (attr.startsWith('on')) found.push('attribute ' + attr);
    }
    for (const a of root.querySelectorAll('a[href]')) {
      if (!/^(https?:|mailto:)/i.test(a.getAttribute('href'))) found.push('href ' + a.getAttribute('href'));
    }
  }
  return found;
}"""


def assert_inert_and_visible(page, widgets: int) -> None:
    page.wait_for_timeout(1500)  # onerror / onload / SVG animations fire asynchronously
    assert page.ohnb_dialogs == []
    assert page.evaluate("() => window.__ohnb_pwned") is None
    assert page.evaluate("() => parent.__ohnb_pwned") is None
    assert page.evaluate(ACTIVE_JS) == []
    roots = page.locator(".ohnb-widget")
    assert roots.count() == widgets
    for n in range(widgets):
        root = roots.nth(n)
        assert root.is_visible(), "a <style> payload must not hide the widget"
        text = root.inner_text()
        for snippet in VISIBLE:
            assert snippet in text, f"{snippet!r} not visible in widget {n}"
        # Markdown still renders around the payloads.
        assert root.locator(".ohnb-markdown strong", has_text="bold").count() >= 1


def test_hostile_content_never_executes(lab: LabServer, page) -> None:
    export = lab.root_dir / "xss_export.html"
    write_notebook(lab.root_dir / "xss.ipynb", notebook_cells(export))
    open_and_run_all(page, lab, "xss.ipynb", ".ohnb-widget .ohnb-event")
    wait_for_cells_done(page)
    assert cell_errors(page) == []
    page.wait_for_function("() => document.querySelectorAll('.ohnb-widget').length === 2")
    held = wait_kernel(page, "len(conv.log) if conv.connection_state == 'OPEN' else 0")
    page.wait_for_function(
        "([n, m]) => { const w = document.querySelectorAll('.ohnb-widget');"
        " return w[0].dataset.held === String(n) && w[1].dataset.held === String(m); }",
        arg=[15, held],
    )
    assert_inert_and_visible(page, 2)
    stored = page.locator(".ohnb-widget").first
    assert "onerror=" in stored.locator(".ohnb-conversation-id").inner_text()
    assert "<script>" in stored.locator(".ohnb-error-banner").inner_text()
    assert stored.locator(".ohnb-event[data-kind=unknown]").count() == 1
    kernel_eval(page, "await conv.close(); server.stop_thread()")

    # The static export, opened from disk without a kernel (in a new page: JupyterLab's
    # "leave the page?" dialog would count as a dialog).
    static = page.context.new_page()
    static.ohnb_dialogs = []
    static.on("dialog", lambda d: (static.ohnb_dialogs.append(d.message), d.dismiss()))
    static.goto(export.resolve().as_uri())
    static.wait_for_selector(".ohnb-widget .ohnb-event", state="visible")
    static.wait_for_function("() => document.querySelector('.ohnb-widget').dataset.held === '15'")
    assert static.title() == PAYLOADS[0]
    assert_inert_and_visible(static, 1)
    assert static.locator(".ohnb-connection-state").get_attribute("data-state") == "STORED"
    assert page.ohnb_dialogs == []
