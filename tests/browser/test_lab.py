"""ConversationWidget in a real JupyterLab, driven through Debian's Chromium (see conftest.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .conftest import (
    REPO,
    LabServer,
    cell_errors,
    open_and_run_all,
    wait_for_cells_done,
    write_notebook,
)

pytestmark = pytest.mark.browser

FIXTURE = REPO.parent / "shared" / "fixtures" / "v0_wrong_initial_state.json"
HOSTILE = '<img src=x onerror="window.__ohnb_pwned = 1"><script>window.__ohnb_pwned = 2</script>'

STATIC_CELLS = [
    f"""\
import json
import pandas as pd
import ohnb.widget
from ohnb.normalize import normalize_v0
from ohnb.schema import EVENT_COLUMNS, frame_from_rows

events = json.load(open({str(FIXTURE)!r}))
rows = [normalize_v0(e, delivery="stored", conversation_id="wrong-initial-state") for e in events]
# An agent that prints markup: it must show as text.
rows.append(normalize_v0(
    {{"id": 10, "timestamp": "2025-01-27T23:17:03", "source": "agent", "observation": "run",
      "content": {HOSTILE!r}, "extras": {{"metadata": {{"exit_code": 1}}}},
      "message": "Command finished"}},
    delivery="stored", conversation_id="wrong-initial-state"))
df = frame_from_rows(rows, EVENT_COLUMNS)
len(df)""",
    "ohnb.widget.ConversationWidget(df)",
]


def save_screenshot(page, locator, name: str, tmp_path: Path) -> Path:
    """Screenshot ``locator`` to tmp_path (and to $OHNB_SCREENSHOT_DIR when set)."""
    path = tmp_path / name
    locator.screenshot(path=str(path))
    if os.environ.get("OHNB_SCREENSHOT_DIR"):
        target = Path(os.environ["OHNB_SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / name)
    return path


def test_widget_renders_static_dataframe(lab: LabServer, page, tmp_path: Path) -> None:
    write_notebook(lab.root_dir / "static_widget.ipynb", STATIC_CELLS)
    events = open_and_run_all(page, lab, "static_widget.ipynb", ".ohnb-widget .ohnb-event")
    wait_for_cells_done(page)
    assert cell_errors(page) == []
    widget = page.locator(".ohnb-widget")
    assert widget.count() == 1

    # All 9 rows arrive (8 from the fixture + the hostile one), once each, in order.
    page.wait_for_function(
        "() => document.querySelectorAll('.ohnb-widget .ohnb-event').length >= 9"
    )
    assert events.count() == 9
    assert [events.nth(k).get_attribute("data-i") for k in range(9)] == [str(k) for k in range(9)]

    user = widget.locator(".ohnb-event[data-kind=action][data-type=message][data-source=user]")
    assert user.count() == 1
    assert "Please rename game_2048.py to 2048.py" in user.inner_text()
    assert user.is_visible()
    command = widget.locator(".ohnb-event[data-kind=action][data-type=run] .ohnb-command")
    assert command.inner_text() == "$ mv /workspace/game_2048.py /workspace/2048.py"
    finish = widget.locator(".ohnb-event[data-type=finish]")
    assert "successfully renamed" in finish.inner_text()
    reads = widget.locator(".ohnb-event[data-kind=observation][data-type=read]")
    assert reads.count() == 2 and "/workspace/game_2048.py" in reads.first.inner_text()
    output = widget.locator(".ohnb-event[data-kind=observation][data-type=run]").first
    assert "exit code 0" in output.inner_text()

    # Header from traits; a stored conversation is read-only.
    assert widget.locator(".ohnb-conversation-id").inner_text() == "wrong-initial-state"
    assert widget.locator(".ohnb-connection-state").get_attribute("data-state") == "STORED"
    assert widget.locator(".ohnb-count").inner_text() == "9 events"
    assert widget.locator(".ohnb-send").is_disabled()
    assert widget.locator(".ohnb-pause").is_disabled()

    # Untrusted content is text: no element was created from it and no script ran.
    hostile = widget.locator(".ohnb-event[data-id='10']")
    assert "onerror" in hostile.inner_text()
    assert widget.locator("img, script:not([src]), iframe").count() == 0
    assert page.evaluate("() => window.__ohnb_pwned") is None

    # The list follows the bottom: the last row is in view after rendering.
    page.wait_for_function(
        "() => { const l = document.querySelector('.ohnb-events');"
        " return l.scrollHeight - l.scrollTop - l.clientHeight < 30; }"
    )
    shot = save_screenshot(page, widget, "static_widget_light.png", tmp_path)
    assert shot.stat().st_size > 10_000

    # Dark theme: same widget, colors from the theme's variables.
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})"
    )
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    page.wait_for_timeout(500)
    save_screenshot(page, widget, "static_widget_dark.png", tmp_path)
    # Theme settings outlive the page (the session's settings dir): restore the default.
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})"
    )
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'", timeout=30_000)
    assert [e for e in page.ohnb_errors if "ohnb" in e.lower()] == []


LIVE_CELLS = [
    """\
import asyncio
from ohnb.log import EventLog
from ohnb.widget import ConversationWidget


class LocalConversation:
    \"\"\"Stands in for ohnb.Conversation: the same attributes, driven from this kernel.\"\"\"

    def __init__(self):
        self.log = EventLog()
        self.conversation_id = "local-fake"
        self.agent_state = "awaiting_user_input"
        self.connection_state = "OPEN"
        self.reconnects = 0
        self.error = None
        self._listeners = []

    def on_change(self, fn):
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn)

    def _set(self, **attrs):
        self.__dict__.update(attrs)
        for fn in list(self._listeners):
            fn()

    def _row(self, **row):
        self.log.append({"id": len(self.log), "delivery": "live", **row})

    def send_message(self, text):
        async def work():
            self._row(kind="action", type="message", source="user", content=text)
            await asyncio.sleep(0.05)
            self._set(agent_state="running")
            for k in range(300):  # a burst: must arrive batched, once each, in order
                self._row(kind="observation", type="run", source="agent", content=f"line {k}", exit_code=0)
            self._row(kind="action", type="message", source="agent", content="done: " + text)
            self._set(agent_state="awaiting_user_input")
        return asyncio.get_running_loop().create_task(work())

    def pause(self):
        async def work():
            self._set(agent_state="paused", connection_state="RECONNECTING", reconnects=1,
                      error="Connection lost: transport error")
        return asyncio.get_running_loop().create_task(work())

    def resume(self):
        return asyncio.get_running_loop().create_task(asyncio.sleep(0))


conv = LocalConversation()
for k in range(3):
    conv._row(kind="action", type="message", source="agent", content=f"hello {k}")
widget = ConversationWidget(conv)
widget""",
]


def test_widget_live_round_trip_and_reload(lab: LabServer, page, tmp_path: Path) -> None:
    write_notebook(lab.root_dir / "live_widget.ipynb", LIVE_CELLS)
    open_and_run_all(page, lab, "live_widget.ipynb", ".ohnb-widget .ohnb-event")
    wait_for_cells_done(page)
    assert cell_errors(page) == []
    widget = page.locator(".ohnb-widget")
    page.wait_for_function(
        "() => document.querySelectorAll('.ohnb-widget .ohnb-event').length === 3"
    )
    assert widget.locator(".ohnb-connection-state").get_attribute("data-state") == "OPEN"
    assert widget.locator(".ohnb-send").is_enabled()

    # Send a message: the kernel's fake conversation answers with 302 rows.
    widget.locator(".ohnb-input").fill("rename <b>it</b>")
    widget.locator(".ohnb-send").click()
    page.wait_for_function(
        "() => document.querySelectorAll('.ohnb-widget .ohnb-event').length === 305", timeout=30_000
    )
    indices = page.evaluate(
        "() => [...document.querySelectorAll('.ohnb-widget .ohnb-event')].map(e => Number(e.dataset.i))"
    )
    assert indices == list(range(305))
    assert "rename <b>it</b>" in widget.locator(".ohnb-event[data-source=user]").inner_text()
    assert widget.locator(".ohnb-event b").count() == 0
    assert widget.locator(".ohnb-count").inner_text() == "305 events"
    page.wait_for_function(
        "() => document.querySelector('.ohnb-agent-state').dataset.state === 'awaiting_user_input'"
    )
    assert widget.locator(".ohnb-error-banner").is_hidden()

    # Pause: state traits and the error banner update; controls disable while not OPEN.
    widget.locator(".ohnb-pause").click()
    banner = widget.locator(".ohnb-error-banner")
    banner.wait_for(state="visible")
    assert banner.inner_text() == "Connection lost: transport error"
    assert widget.locator(".ohnb-agent-state").get_attribute("data-state") == "paused"
    assert widget.locator(".ohnb-reconnects").inner_text() == "1 reconnect"
    assert widget.locator(".ohnb-send").is_disabled()
    save_screenshot(page, widget, "live_widget.png", tmp_path)

    # Reload the page: the view comes back from the kernel (traits + a sync of all rows).
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function(
        "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=15_000
    )
    page.reload()
    page.wait_for_function(
        "() => document.querySelectorAll('.ohnb-widget .ohnb-event').length === 305", timeout=60_000
    )
    assert page.locator(".ohnb-widget .ohnb-count").inner_text() == "305 events"
    assert page.locator(".ohnb-widget .ohnb-agent-state").get_attribute("data-state") == "paused"


def test_widget_renders_in_notebook7(lab: LabServer, page) -> None:
    write_notebook(lab.root_dir / "static_widget_nb7.ipynb", STATIC_CELLS)
    open_and_run_all(
        page, lab, "static_widget_nb7.ipynb", ".ohnb-widget .ohnb-event", ui="notebook"
    )
    wait_for_cells_done(page)
    assert cell_errors(page) == []
    page.wait_for_function(
        "() => document.querySelectorAll('.ohnb-widget .ohnb-event').length === 9"
    )
    user = page.locator(".ohnb-event[data-source=user]")
    assert "Please rename game_2048.py to 2048.py" in user.inner_text()
