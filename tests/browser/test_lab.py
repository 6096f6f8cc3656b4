"""ConversationWidget on a stored conversation (a DataFrame) in real JupyterLab and Notebook 7:
rendering, virtualization, filter, search, collapse, keyboard, and the README screenshots."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ohnb.normalize import normalize_v0

from .conftest import (
    REPO,
    LabServer,
    cell_errors,
    kernel_json,
    open_and_run_all,
    wait_for_cells_done,
    wait_kernel,
    write_notebook,
)

pytestmark = pytest.mark.browser

BUNDLED = REPO / "ohnb" / "data" / "v0_trajectory_export_297ev.json"

STATIC_CELLS = [
    f"""\
import json
import ohnb.widget
from ohnb.normalize import normalize_v0
from ohnb.schema import EVENT_COLUMNS, frame_from_rows

events = json.load(open({str(BUNDLED)!r}))["trajectory"]
rows = [normalize_v0(e, delivery="stored", conversation_id="review-297") for e in events]
df = frame_from_rows(rows, EVENT_COLUMNS)
widget = ohnb.widget.ConversationWidget(df, height="480px")
widget""",
]

#: JS: how far the list is from its bottom (px).
FROM_BOTTOM_JS = """(sel) => { const l = document.querySelector(sel + ' .ohnb-events');
  return l.scrollHeight - l.scrollTop - l.clientHeight; }"""

#: JS: event ids of the rows in the DOM, and whether each is inside the list's viewport.
RENDERED_JS = """(sel) => {
  const list = document.querySelector(sel + ' .ohnb-events').getBoundingClientRect();
  return [...document.querySelectorAll(sel + ' .ohnb-event')].map((e) => {
    const r = e.getBoundingClientRect();
    return { id: e.dataset.id, family: e.dataset.family, source: e.dataset.source,
             visible: r.bottom > list.top && r.top < list.bottom };
  });
}"""


def rendered(page, selector: str = ".ohnb-widget") -> list[dict]:
    """The rows in the DOM after the next two animation frames (the list renders in frames)."""
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return page.evaluate(RENDERED_JS, selector)


def in_view(page, event_id: str) -> bool:
    """Whether the row of ``event_id`` is rendered and inside the list's viewport."""
    return any(r["id"] == event_id and r["visible"] for r in rendered(page))


def bundled_rows() -> list[dict]:
    events = json.loads(BUNDLED.read_text())["trajectory"]
    return [normalize_v0(e, delivery="stored") for e in events]


def search_hits(rows: list[dict], term: str) -> int:
    """Rows the widget's search shows for ``term`` (js/src/events.ts searchText)."""
    fields = ("type", "message", "content", "thought", "path", "agent_state", "parse_error")
    term = term.lower()
    return sum(1 for r in rows if term in "\n".join(str(r.get(f) or "") for f in fields).lower())


def save_screenshot(locator, name: str, tmp_path: Path) -> Path:
    """Screenshot ``locator`` to tmp_path, and to $OHNB_SCREENSHOT_DIR when set (e.g. docs/images)."""
    path = tmp_path / name
    locator.screenshot(path=str(path), animations="disabled")
    if os.environ.get("OHNB_SCREENSHOT_DIR"):
        target = Path(os.environ["OHNB_SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / name)
    return path


def set_theme(page, theme: str) -> None:
    light = "true" if theme == "JupyterLab Light" else "false"
    page.evaluate("(t) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", theme)
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'", timeout=30_000)
    page.wait_for_timeout(400)


def test_static_conversation_renders_virtualized_and_filters(lab: LabServer, page) -> None:
    rows = bundled_rows()
    write_notebook(lab.root_dir / "static_widget.ipynb", STATIC_CELLS)
    open_and_run_all(page, lab, "static_widget.ipynb", ".ohnb-widget .ohnb-event")
    wait_for_cells_done(page)
    assert cell_errors(page) == []
    widget = page.locator(".ohnb-widget")
    page.wait_for_function(
        "() => document.querySelector('.ohnb-widget').dataset.held === '297'", timeout=30_000
    )

    # Header from traits; a stored conversation is read-only.
    assert widget.locator(".ohnb-conversation-id").inner_text() == "review-297"
    assert widget.locator(".ohnb-connection-state").get_attribute("data-state") == "STORED"
    assert widget.locator(".ohnb-count").inner_text() == "297 events"
    final_state = [r for r in rows if r.get("agent_state")][-1]["agent_state"]
    assert widget.locator(".ohnb-agent-state").get_attribute("data-state") == final_state
    for button in ("send", "pause", "resume", "stop"):
        assert widget.locator(f".ohnb-{button}").is_disabled()

    # Virtualized: a window of rows in the DOM, the newest at the bottom, in view.
    in_dom = rendered(page)
    assert 5 <= len(in_dom) <= 80, f"{len(in_dom)} rows in the DOM"
    assert in_dom[-1]["id"] == rows[-1]["event_id"] and in_dom[-1]["visible"]
    assert page.evaluate(FROM_BOTTOM_JS, ".ohnb-widget") < 2

    # Filter by category: only commands, counted.
    commands = sum(1 for r in rows if r["kind"] == "action" and r["type"] in ("run", "run_ipython"))
    widget.locator(".ohnb-filter-type").select_option("family:command")
    count = widget.locator(".ohnb-match-count")
    assert count.inner_text() == f"{commands} of 297 shown"
    assert {r["family"] for r in rendered(page)} == {"command"}
    # ... then by source (with all types again).
    widget.locator(".ohnb-filter-type").select_option("")
    widget.locator(".ohnb-filter-source").select_option("user")
    users = sum(1 for r in rows if r["source"] == "user")
    assert count.inner_text() == f"{users} of 297 shown"
    assert {r["source"] for r in rendered(page)} == {"user"}
    widget.locator(".ohnb-filter-source").select_option("")
    assert count.inner_text() == ""

    # Search: only matching rows, the matches highlighted; Escape clears.
    search = widget.locator(".ohnb-search")
    search.fill("bitbucket")
    expected = search_hits(rows, "bitbucket")
    page.wait_for_function(
        "(n) => document.querySelector('.ohnb-match-count').textContent === `${n} of 297 shown`",
        arg=expected,
    )
    assert expected > 5
    marks = widget.locator("mark.ohnb-mark")
    assert marks.count() > 0 and marks.first.inner_text().lower() == "bitbucket"
    search.press("Escape")
    assert count.inner_text() == ""
    assert widget.locator("mark.ohnb-mark").count() == 0

    # Collapse: long outputs behind "Show all", by mouse and by keyboard.
    widget.locator(".ohnb-filter-type").select_option("family:output")
    rendered(page)
    toggle = widget.locator(".ohnb-event[data-family=output] .ohnb-toggle").last
    block = widget.locator(".ohnb-event[data-family=output] .ohnb-collapsible").last
    assert toggle.get_attribute("aria-expanded") == "false"
    collapsed_height = block.bounding_box()["height"]
    toggle.click()
    toggle = widget.locator(".ohnb-toggle[aria-expanded=true]")
    assert toggle.count() == 1 and toggle.inner_text() == "Show less"
    expanded = widget.locator(".ohnb-collapsible[data-collapsed=false]").bounding_box()["height"]
    assert expanded > collapsed_height + 50
    toggle.focus()
    page.keyboard.press("Enter")
    assert widget.locator(".ohnb-toggle[aria-expanded=true]").count() == 0
    widget.locator(".ohnb-filter-type").select_option("")

    # Keyboard: Home/End scroll the focused list; notebook shortcuts stay out of the widget.
    cells_before = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets.length"
    )
    widget.locator(".ohnb-events").focus()
    page.keyboard.press("Home")
    page.wait_for_selector(f".ohnb-event[data-id='{rows[0]['event_id']}']", state="visible")
    assert widget.locator(".ohnb-jump").is_visible()
    page.keyboard.press("a")  # JupyterLab: "insert cell above" in command mode
    page.keyboard.press("ArrowDown")
    page.keyboard.press("End")
    page.wait_for_function(f"() => ({FROM_BOTTOM_JS})('.ohnb-widget') < 2")
    assert widget.locator(".ohnb-jump").is_hidden()
    search.focus()
    page.keyboard.type("b")
    page.keyboard.press("Escape")
    cells_after = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets.length"
    )
    assert cells_after == cells_before

    # An observation links to its action.
    cause = widget.locator(".ohnb-event[data-kind=observation] .ohnb-cause").last
    target = cause.get_attribute("data-jump")
    cause.click()
    page.wait_for_selector(f".ohnb-event[data-id='{target}']", state="visible")
    assert [r for r in rendered(page) if r["id"] == target][0]["visible"]
    assert [e for e in page.ohnb_errors if "ohnb" in e.lower()] == []


def test_static_widget_in_notebook7(lab: LabServer, page) -> None:
    write_notebook(lab.root_dir / "static_widget_nb7.ipynb", STATIC_CELLS)
    open_and_run_all(
        page, lab, "static_widget_nb7.ipynb", ".ohnb-widget .ohnb-event", ui="notebook"
    )
    wait_for_cells_done(page)
    assert cell_errors(page) == []
    page.wait_for_function(
        "() => document.querySelector('.ohnb-widget').dataset.held === '297'", timeout=30_000
    )
    widget = page.locator(".ohnb-widget")
    assert widget.locator(".ohnb-count").inner_text() == "297 events"
    widget.locator(".ohnb-search").fill("Please send a final message")
    page.wait_for_selector(".ohnb-event[data-source=user] mark.ohnb-mark", state="visible")
    assert widget.locator(".ohnb-event").count() >= 1


SCREENSHOT_CELLS = [
    """\
import ohnb
from ohnb.servers import V0ReplayServer

# The bundled conversation up to event 99 is history; the live part is not started, so the view is
# the same on every run.
server = V0ReplayServer(live_from=100, live_start="manual").start_in_thread()
conv = ohnb.connect(server.url, server.conversation_id)
widget = ohnb.ConversationWidget(conv, height="640px")
widget""",
]


def test_screenshots_light_and_dark(lab: LabServer, page, tmp_path: Path) -> None:
    """The README's screenshots: `OHNB_SCREENSHOT_DIR=docs/images pytest tests/browser -k screenshots`."""
    page.set_viewport_size({"width": 1200, "height": 1000})
    write_notebook(lab.root_dir / "screenshot.ipynb", SCREENSHOT_CELLS)
    open_and_run_all(page, lab, "screenshot.ipynb", ".ohnb-widget .ohnb-event")
    wait_for_cells_done(page)
    assert cell_errors(page) == []
    page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")
    held = wait_kernel(page, "len(conv.log) if conv.connection_state == 'OPEN' else 0")
    page.wait_for_function(
        "(n) => document.querySelector('.ohnb-widget').dataset.held === String(n)", arg=held
    )
    widget = page.locator(".ohnb-widget")
    assert widget.locator(".ohnb-connection-state").inner_text() == "Connected"
    # Start the view at the user's request (#92) rather than mid-row.
    page.evaluate(
        "() => document.querySelector('.ohnb-event[data-id=\"92\"]').scrollIntoView({block: 'start'})"
    )
    page.wait_for_timeout(600)
    badge_color = "() => getComputedStyle(document.querySelector('.ohnb-agent-state')).color"
    try:
        assert in_view(page, "92")
        light = save_screenshot(widget, "widget-light.png", tmp_path)
        light_badge = page.evaluate(badge_color)
        set_theme(page, "JupyterLab Dark")
        # The list keeps its rows and position through the theme switch (it is hidden meanwhile).
        assert in_view(page, "92")
        dark = save_screenshot(widget, "widget-dark.png", tmp_path)
        assert light.stat().st_size > 50_000 and dark.stat().st_size > 50_000
        # The badge follows the theme's variables.
        assert page.evaluate(badge_color) != light_badge
    finally:
        # Theme settings outlive the page (the session's settings dir): restore the default.
        set_theme(page, "JupyterLab Light")
    kernel_json(page, "(server.stop_thread(), True)[1]")
