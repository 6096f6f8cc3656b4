"""The live widget in real JupyterLab 4 and Notebook 7: a conversation streamed from the embedded V0
server, auto-scroll and "jump to latest", a message and pause/resume reaching the server, a dropped
connection, a second view and a late-created widget that backfill, and a page reload with the kernel
still running. Each view must end identical to the kernel's log."""

from __future__ import annotations

import time

import pytest

from .conftest import (
    LabServer,
    cell_errors,
    kernel_eval,
    kernel_json,
    open_and_run_all,
    run_cell,
    wait_for_cells_done,
    wait_kernel,
    write_notebook,
)

pytestmark = pytest.mark.browser

LIVE_CELLS = [
    """\
import ohnb
from ohnb.servers import V0ReplayServer

# History up to event 119; the rest plays live (when the test starts it) at a steady pace.
server = V0ReplayServer(live_from=120, speed=20, max_gap=0.06, live_start="manual").start_in_thread()
conv = ohnb.connect(server.url, server.conversation_id)
widget = ohnb.ConversationWidget(conv, height="360px")
widget""",
    "widget  # a second view of the same widget",
    """\
late = ohnb.ConversationWidget(conv, height="200px")  # a new widget, created mid-stream
late""",
]

#: JS: state of the n-th widget view: rows held, last event id, distance from the bottom, jump button.
VIEW_JS = """([n]) => {
  const w = document.querySelectorAll('.ohnb-widget')[n];
  if (!w) return null;
  const l = w.querySelector('.ohnb-events');
  return { held: Number(w.dataset.held), lastId: w.dataset.lastId,
           fromBottom: l.scrollHeight - l.scrollTop - l.clientHeight, scrollTop: l.scrollTop,
           jump: !w.querySelector('.ohnb-jump').hidden, jumpText: w.querySelector('.ohnb-jump').textContent,
           rows: w.querySelectorAll('.ohnb-event').length,
           state: w.querySelector('.ohnb-agent-state').dataset.state,
           connection: w.querySelector('.ohnb-connection-state').dataset.state };
}"""

KERNEL_LOG = "{'held': len(conv.log), 'last': conv.log.rows[-1]['event_id']}"


def wait_for_views(page, count: int, timeout_ms: float = 30_000) -> None:
    page.wait_for_function(
        "(n) => document.querySelectorAll('.ohnb-widget').length === n", arg=count, timeout=timeout_ms
    )


def view(page, n: int = 0) -> dict:
    return page.evaluate(VIEW_JS, [n])


def wait_view(page, predicate: str, n: int = 0, timeout_ms: float = 30_000) -> dict:
    """Wait until ``predicate`` (JS, over ``v`` = VIEW_JS's result) holds for view ``n``."""
    page.wait_for_function(
        f"([n]) => {{ const v = ({VIEW_JS})([n]); return !!v && ({predicate}); }}",
        arg=[n],
        timeout=timeout_ms,
        polling=50,
    )
    return view(page, n)


def settled_scroll(page, v: dict, n: int = 0) -> dict:
    """The view once its scroll position holds still for 250 ms (at most 5 s)."""
    for _ in range(20):
        time.sleep(0.25)
        now = view(page, n)
        if now["scrollTop"] == v["scrollTop"]:
            return now
        v = now
    raise AssertionError(f"the list kept scrolling: {v}")


def assert_views_match_kernel(page, views: int) -> None:
    """Every view holds exactly the kernel's rows (count and last event id)."""
    log = kernel_json(page, KERNEL_LOG)
    for n in range(views):
        wait_view(
            page, f"v.held === {log['held']} && v.lastId === {log['last']!r}", n, timeout_ms=30_000
        )


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_live_streaming_controls_backfill_and_reload(lab: LabServer, page, ui: str) -> None:
    name = f"live_widget_{ui}.ipynb"
    write_notebook(lab.root_dir / name, LIVE_CELLS)
    open_and_run_all(page, lab, name, ".ohnb-widget .ohnb-event", ui=ui)
    wait_for_cells_done(page)
    assert cell_errors(page) == []
    # Run-all displayed the three views already; keep the first one for the live part and run the
    # other two again mid-stream below (the late widget is replaced by a fresh one).
    wait_for_views(page, 3)

    # History is in, connected, the list at the bottom.
    history = wait_kernel(page, "len(conv.log) if conv.connection_state == 'OPEN' else 0")
    v = wait_view(page, f"v.held === {history} && v.connection === 'OPEN'")
    assert v["fromBottom"] < 2 and not v["jump"]
    assert v["rows"] <= 60, "virtualized: a window of rows, not all of them"

    # Live: rows stream in and the list follows them.
    kernel_eval(page, "server.start_live()")
    v = wait_view(page, f"v.held >= {history + 15}")
    v = wait_view(page, f"v.held >= {v['held'] + 5} && v.fromBottom < 2")
    assert not v["jump"]

    # Scroll up: the list stays where the user put it, counts what arrives, offers a jump.
    events = page.locator(".ohnb-widget").first.locator(".ohnb-events")
    events.hover()
    page.mouse.wheel(0, -400)
    # Parked once the wheel has landed (the list stopped following, so new rows raise the jump
    # button; a batch not yet followed can leave it far from the bottom for a frame, too) and the
    # scroll has settled.
    v = settled_scroll(page, wait_view(page, "v.fromBottom > 100 && v.jump"))
    parked = v["scrollTop"]
    v = wait_view(page, f"v.held >= {v['held'] + 8} && v.jump")
    assert abs(v["scrollTop"] - parked) < 2, "new rows must not move a list the user scrolled"
    assert v["jumpText"].endswith(" new")
    page.locator(".ohnb-widget").first.locator(".ohnb-jump").click()
    v = wait_view(page, f"v.fromBottom < 2 && !v.jump && v.held >= {v['held'] + 3}")

    # A message from the box reaches the server (stored as a user action) and comes back.
    text = "Widget test: please <b>summarize</b> in one line."
    box = page.locator(".ohnb-widget").first.locator(".ohnb-input")
    box.fill(text)
    box.press("Enter")
    wait_kernel(
        page,
        f"any(e.get('action') == 'message' and e.get('source') == 'user' "
        f"and e['args']['content'] == {text!r} for e in server.stored_events)",
    )
    page.wait_for_selector(
        f".ohnb-widget >> nth=0 >> .ohnb-event[data-source=user]:has-text({text!r})",
        state="visible",
        timeout=15_000,
    )
    assert page.locator(".ohnb-widget").first.locator(".ohnb-event b").count() == 0

    # Pause reaches the server and halts the live stream; Resume continues it.
    page.locator(".ohnb-widget").first.locator(".ohnb-pause").click()
    wait_kernel(page, "server.agent_paused")
    assert kernel_json(
        page,
        "[e['args']['agent_state'] for e in server.stored_events "
        "if e.get('action') == 'change_agent_state' and e.get('source') == 'user']",
    ) == ["paused"]
    v = wait_view(page, "v.state === 'paused'")
    page.wait_for_timeout(300)
    held = view(page)["held"]
    page.wait_for_timeout(1000)
    assert view(page)["held"] == held, "paused: nothing more streams"
    resume = page.locator(".ohnb-widget").first.locator(".ohnb-resume")
    assert resume.is_enabled() and page.locator(".ohnb-widget").first.locator(".ohnb-pause").is_disabled()
    resume.click()
    wait_kernel(page, "not server.agent_paused")
    wait_view(page, f"v.held > {held}")

    # A dropped connection: the reconnect is counted and the view carries on.
    kernel_eval(page, "server.drop_connections_threadsafe(abrupt=True)")
    page.wait_for_selector(
        ".ohnb-widget >> nth=0 >> .ohnb-reconnects[data-count='1']", timeout=30_000
    )
    wait_view(page, "v.connection === 'OPEN'")

    # Mid-stream: a second view of the widget and a widget created now both backfill.
    run_cell(page, 1)
    run_cell(page, 2)
    wait_for_cells_done(page)
    wait_for_views(page, 3)
    wait_kernel(page, "server.is_live_done", timeout_s=60)
    assert_views_match_kernel(page, 3)
    wait_kernel(page, "widget.n_events == late.n_events == len(conv.log)")

    # Reload the page with the kernel still running: the views come back identical.
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function(
        "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=15_000
    )
    page.reload()
    page.wait_for_selector(".ohnb-widget .ohnb-event", state="visible", timeout=60_000)
    wait_for_views(page, 3, timeout_ms=60_000)
    assert_views_match_kernel(page, 3)
    v = view(page)
    assert v["connection"] == "OPEN" and v["state"] == kernel_json(page, "conv.agent_state")

    # ... and still live: a message sent after the reload shows up.
    box = page.locator(".ohnb-widget").first.locator(".ohnb-input")
    box.fill("after the reload")
    box.press("Enter")
    wait_kernel(
        page,
        "any(e.get('source') == 'user' and e.get('args', {}).get('content') == 'after the reload' "
        "for e in server.stored_events)",
    )
    page.wait_for_selector(
        ".ohnb-widget >> nth=0 >> .ohnb-event[data-source=user]:has-text('after the reload')",
        timeout=15_000,
    )
    assert_views_match_kernel(page, 3)
    kernel_eval(page, "await conv.close(); server.stop_thread()")
    assert [e for e in page.ohnb_errors if "ohnb" in e.lower()] == []
