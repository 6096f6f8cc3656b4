"""notebooks/01_live_conversation.ipynb in real JupyterLab and Chromium: the live widget shows the
real conversation streamed from the embedded server, the reconnect, the user's message and the final
agent state."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.browser.conftest import LabServer, cell_errors, open_and_run_all, wait_for_cells_done
from tests.conftest import FIXTURES

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01_live_conversation.ipynb"


def test_live_notebook_shows_the_conversation_and_final_state(lab: LabServer, page, tmp_path):
    started = time.monotonic()
    open_and_run_all(page, lab, NOTEBOOK, ".ohnb-widget .ohnb-event", timeout_ms=90_000)
    wait_for_cells_done(page, timeout_ms=180_000)
    assert cell_errors(page) == []

    widget = page.locator(".ohnb-widget").first
    # The final agent state of the stored conversation, read from the fixture itself.
    history = json.loads((FIXTURES / "v0_trajectory_export_297ev.json").read_text())["trajectory"]
    final_state = [e for e in history if e.get("observation") == "agent_state_changed"][-1]
    want_state = final_state["extras"]["agent_state"]
    page.wait_for_function(
        "s => document.querySelector('.ohnb-widget .ohnb-agent-state')?.dataset.state === s",
        arg=want_state,
        timeout=30_000,
    )
    # The first user message of the conversation and the message sent from the notebook are shown.
    first_user = next(e for e in history if e.get("action") == "message" and e["source"] == "user")
    first_line = first_user["args"]["content"].splitlines()[0].strip()
    widget.scroll_into_view_if_needed()
    # The list is virtualized (only the rows near its viewport are in the DOM): find them by search.
    search = widget.locator(".ohnb-search")
    for wanted in (first_line, "Please summarize the review in three bullet points."):
        search.fill(wanted)
        widget.locator(".ohnb-event[data-source='user']", has_text=wanted).first.wait_for()
    search.fill("")
    # The reconnect forced by the notebook is counted, and the connection ended closed.
    assert "1 reconnect" in widget.locator(".ohnb-reconnects").text_content()
    assert widget.locator(".ohnb-connection-state").get_attribute("data-state") == "CLOSED"
    widget.locator(".ohnb-filter-type").select_option("type:action/run")
    shown = widget.locator(".ohnb-match-count").inner_text()  # "65 of 249 shown"
    assert int(shown.split(" of ")[0]) > 10
    assert widget.locator(".ohnb-event[data-kind='action'][data-type='run']").count() > 0
    page.screenshot(path=str(tmp_path / "live_notebook.png"), full_page=True)
    print(f"live notebook browser test: {time.monotonic() - started:.1f} s")
