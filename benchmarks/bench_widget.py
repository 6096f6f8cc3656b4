"""Benchmark: stream 10,000 events into a displayed ConversationWidget in real JupyterLab + Chromium.

What runs: a throwaway JupyterLab on 127.0.0.1 (the browser tests' harness), Debian's Chromium driven
by Playwright, and a notebook whose kernel starts the embedded V0 server with ``--events`` live events
(default 10,000), connects ``ohnb.connect`` to it and displays ``ConversationWidget(conv)``. The server
then plays every event as fast as it can (``speed=inf``, no gaps): a burst through the real path
(Socket.IO -> normalize -> event log -> widget -> comm -> JupyterLab -> the widget's front end).

Two event sets, each on a fresh kernel (``--scenario``):

- ``bundled``: the bundled real conversation (297 events) repeated with fresh ids: real sizes, with
  OpenHands' ``tool_call_metadata``/``llm_metrics`` (large, never sent to the browser);
- ``lean``: synthetic V0 events without metadata (commands, outputs of 40-1500 characters, messages,
  state changes): the worst case for the bytes ratio, since nothing big is left out.

Printed, against the issue's targets:

- bytes kernel -> browser / the events' JSON size (compact JSON of what the server emitted), <= 1.2x:
  counted in the browser (every websocket frame of the kernel connection while streaming, envelopes
  and all) and in the kernel (the widget's comm messages, JSON as jupyter_client packs them);
- widget messages per second (comm messages of the widget: rows and trait updates; the most in any
  one-second window), <= 20;
- DOM rows rendered (``.ohnb-event`` elements, the most seen at any animation frame), <= 300;
- time from the last event reaching the kernel (appended to the event log) to that event being
  visible in the list's viewport (same machine clock), <= 250 ms;
- the longest main-thread task while streaming (PerformanceObserver ``longtask``; none means every
  task was under 50 ms), <= 200 ms.

Run: ``PYTHONPATH=. python benchmarks/bench_widget.py [--events 10000] [--scenario bundled lean]
[--json out.json]``. Needs /usr/bin/chromium (``OHNB_CHROMIUM``) and a built ``ohnb/static/widget.js``.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser.conftest import (  # noqa: E402 - after the path setup
    CHROMIUM,
    KERNEL_READY_JS,
    kernel_eval,
    launch_chromium,
    start_lab_server,
    stop_lab_server,
    write_notebook,
)

TARGETS = {
    "bytes_ratio_browser": 1.2,
    "messages_per_second": 20,
    "dom_rows": 300,
    "last_event_visible_ms": 250,
    "longest_task_ms": 200,
}

SETUP = '''\
import asyncio, copy, json, random, time
import ohnb
from jupyter_client.session import json_packer
from ohnb.servers import V0ReplayServer
from ohnb.servers.v0 import live_form

N, SCENARIO = {n}, {scenario!r}


def bundled_events(n):
    base = json.load(open({bundled!r}))["trajectory"]
    events, emitted, offset = [], 0, 0
    while emitted < n:
        for e in base:
            e = copy.deepcopy(e)
            e["id"] += offset
            if isinstance(e.get("cause"), int):
                e["cause"] += offset
            events.append(e)
            emitted += live_form(e) is not None
            if emitted == n:
                break
        offset += 1000
    return events


def lean_events(n):
    rng = random.Random(7)
    words = "the agent reads files runs tests and edits code until the build passes".split()
    text = lambda k: " ".join(rng.choice(words) for _ in range(k))
    events = []
    for i in range(n):
        ts = f"2025-01-27T23:{{(i // 60) % 60:02d}}:{{i % 60:02d}}.000000"
        kind = i % 10
        if kind in (0, 2, 4, 6):
            cmd = "pytest -q tests/" + text(3).replace(" ", "_")
            events.append({{"id": i, "timestamp": ts, "source": "agent", "message": "Running command: " + cmd,
                           "action": "run", "args": {{"command": cmd, "thought": text(rng.randint(0, 25))}}}})
        elif kind in (1, 3, 5, 7):
            out = "\\n".join(text(rng.randint(4, 14)) for _ in range(rng.randint(1, 25)))
            events.append({{"id": i, "timestamp": ts, "source": "agent", "cause": i - 1, "observation": "run",
                           "message": "Command finished with exit code 0.", "content": out,
                           "extras": {{"command": "pytest -q", "metadata": {{"exit_code": 0}}}}}})
        elif kind == 8:
            msg = text(rng.randint(10, 80))
            events.append({{"id": i, "timestamp": ts, "source": "agent", "message": msg, "action": "message",
                           "args": {{"content": msg, "image_urls": [], "file_urls": []}}}})
        else:
            events.append({{"id": i, "timestamp": ts, "source": "agent", "message": "", "observation": "agent_state_changed",
                           "content": "", "extras": {{"agent_state": rng.choice(["running", "awaiting_user_input"])}}}})
    return events


events = bundled_events(N) if SCENARIO == "bundled" else lean_events(N)
live = [e for e in events if live_form(e) is not None]
LAST_ID = str(live[-1]["id"])
server = V0ReplayServer(events, live_from=0, speed=float("inf"), max_gap=0.0, live_start="manual").start_in_thread()
conv = ohnb.connect(server.url, server.conversation_id)
await conv.history_complete(timeout=30)
widget = ohnb.ConversationWidget(conv, height="480px")

# Instruments: every comm message of the widget (rows and trait updates), and when the last event
# reaches the kernel's log (a listener after the widget's own).
SENT = []
_send = widget._send
def _counting_send(msg, buffers=None):
    SENT.append((time.time(), len(json_packer(msg)), msg.get("method")))
    return _send(msg, buffers)
widget._send = _counting_send
SEEN = {{}}
def _watch(start, rows):
    for row in rows:
        if row.get("event_id") == LAST_ID:
            SEEN["t"] = time.time()
conv.log.subscribe(_watch)
print(len(live), LAST_ID)
widget'''

STATS = '''\
import json as _json
_sizes = [len(_json.dumps(e, separators=(",", ":"), ensure_ascii=False).encode()) for _, e in server.emitted]
_times = [t for t, _, _ in SENT]
_rows_times = [t for t, _, m in SENT if m == "custom"]
_per_second = max((sum(1 for u in _times if t <= u < t + 1.0) for t in _times), default=0)
print(_json.dumps({
    "events": len(server.emitted), "events_json_bytes": sum(_sizes),
    "kernel_bytes": sum(b for _, b, _ in SENT), "messages": len(SENT),
    "custom_messages": sum(1 for _, _, m in SENT if m == "custom"),
    "messages_per_second": _per_second, "first_sent": min(_times, default=None),
    "last_sent": max(_times, default=None), "last_rows_sent": max(_rows_times, default=None),
    "last_event_kernel_t": SEEN.get("t"),
    "held": len(conv.log),
}))'''

#: Browser-side instruments: the most .ohnb-event elements at any frame, when the last event became
#: visible in the list's viewport, and long tasks.
PROBE_JS = """(lastId) => {
  const bench = { maxRows: 0, visibleAt: null, tasks: [], t0: performance.now() };
  window.__bench = bench;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) bench.tasks.push([e.startTime, e.duration]);
  }).observe({ type: "longtask" });
  const root = document.querySelector(".ohnb-widget");
  const scroller = root.querySelector(".ohnb-events");
  const check = () => {
    const n = root.querySelectorAll(".ohnb-event").length;
    if (n > bench.maxRows) bench.maxRows = n;
    if (bench.visibleAt === null) {
      const el = root.querySelector(`.ohnb-event[data-id="${lastId}"]`);
      if (el) {
        const r = el.getBoundingClientRect(), v = scroller.getBoundingClientRect();
        if (r.bottom > v.top && r.top < v.bottom && r.height > 0) bench.visibleAt = Date.now();
      }
    }
  };
  new MutationObserver(check).observe(root, { childList: true, subtree: true });
  const frame = () => { check(); requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
}"""


def top_functions(profile: dict, k: int = 15) -> list[tuple[str, float]]:
    """The functions with the most self time in a CDP CPU profile: (name @ file:line, ms)."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    deltas = profile.get("timeDeltas", [])
    self_ms: dict[int, float] = {}
    for sample, delta in zip(profile.get("samples", []), deltas[1:] + [0], strict=False):
        self_ms[sample] = self_ms.get(sample, 0.0) + delta / 1000
    totals: dict[str, float] = {}
    for node_id, ms in self_ms.items():
        frame = nodes[node_id]["callFrame"]
        url = frame["url"].rsplit("/", 1)[-1]
        key = f"{frame['functionName'] or '(anonymous)'} @ {url}:{frame['lineNumber']}"
        totals[key] = totals.get(key, 0.0) + ms
    return sorted(totals.items(), key=lambda kv: -kv[1])[:k]


def run_scenario(
    browser: Any, base: Path, scenario: str, n: int, profile: bool = False
) -> dict[str, Any]:
    server = start_lab_server(base / scenario)
    try:
        name = f"bench_{scenario}.ipynb"
        bundled = str(REPO / "ohnb" / "data" / "v0_trajectory_export_297ev.json")
        write_notebook(server.root_dir / name, [SETUP.format(n=n, scenario=scenario, bundled=bundled)])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        ws_bytes = [0]

        def on_ws(ws: Any) -> None:
            if "/api/kernels/" not in ws.url:
                return

            def on_frame(payload: Any) -> None:
                ws_bytes[0] += len(payload.encode()) if isinstance(payload, str) else len(payload)

            ws.on("framereceived", on_frame)

        page.on("websocket", on_ws)
        page.goto(server.url(f"lab/tree/{name}?reset"))
        page.wait_for_function(KERNEL_READY_JS, timeout=120_000, polling=100)
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        page.wait_for_selector(".ohnb-widget .ohnb-connection-state[data-state=OPEN]", timeout=180_000)
        page.wait_for_function(
            """() => { const p = window.jupyterapp.shell.currentWidget;
                       return p.sessionContext.session.kernel.status === 'idle'; }""",
            timeout=180_000,
        )
        live_count, last_id = kernel_eval(page, "print(len(live), LAST_ID)").split()
        page.evaluate(PROBE_JS, last_id)
        page.wait_for_timeout(1000)
        cdp = None
        if profile:
            cdp = context.new_cdp_session(page)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 200})
            cdp.send("Profiler.start")
        before = ws_bytes[0]
        started = time.time()
        kernel_eval(page, "server.start_live()")
        page.wait_for_function(
            "(n) => document.querySelector('.ohnb-widget').dataset.held === n && window.__bench.visibleAt !== null",
            arg=live_count,
            timeout=600_000,
            polling=100,
        )
        streamed_s = time.time() - started
        if cdp is not None:
            cpu = cdp.send("Profiler.stop")["profile"]
            print(f"\n-- {scenario}: main-thread self time while streaming (CDP profile)")
            for name, ms in top_functions(cpu):
                print(f"  {ms:8.1f} ms  {name}")
        page.wait_for_timeout(1500)  # the trailing n_events update
        after = ws_bytes[0]
        browser_stats = page.evaluate("() => window.__bench")
        kernel = json.loads(kernel_eval(page, STATS))
        kernel_eval(page, "server.stop_thread()")
        context.close()
    finally:
        stop_lab_server(server)

    window_tasks = [d for start, d in browser_stats["tasks"] if start >= browser_stats["t0"]]
    return {
        "scenario": scenario,
        "events": kernel["events"],
        "streamed_s": round(streamed_s, 2),
        "events_json_bytes": kernel["events_json_bytes"],
        "browser_ws_bytes": after - before,
        "kernel_comm_bytes": kernel["kernel_bytes"],
        "bytes_ratio_browser": round((after - before) / kernel["events_json_bytes"], 3),
        "bytes_ratio_kernel": round(kernel["kernel_bytes"] / kernel["events_json_bytes"], 3),
        "widget_messages": kernel["messages"],
        "rows_messages": kernel["custom_messages"],
        "messages_per_second": kernel["messages_per_second"],
        "dom_rows": browser_stats["maxRows"],
        "last_event_visible_ms": round(browser_stats["visibleAt"] - kernel["last_event_kernel_t"] * 1000),
        "kernel_send_lag_ms": round((kernel["last_rows_sent"] - kernel["last_event_kernel_t"]) * 1000),
        "longest_task_ms": round(max(window_tasks, default=0)),
        "long_tasks": len(window_tasks),
        "held": kernel["held"],
    }


def report(result: dict[str, Any]) -> bool:
    ok = True
    print(
        f"\n== {result['scenario']}: {result['events']:,} events streamed in {result['streamed_s']} s "
        f"({result['events'] / result['streamed_s']:,.0f} events/s to the screen)"
    )
    rows = [
        ("bytes kernel->browser / events JSON", f"{result['bytes_ratio_browser']:.3f}x", "bytes_ratio_browser",
         f"browser websocket {result['browser_ws_bytes']:,} B; widget comm (kernel) {result['kernel_comm_bytes']:,} B "
         f"= {result['bytes_ratio_kernel']:.3f}x; events JSON {result['events_json_bytes']:,} B"),
        ("widget messages per second (max)", str(result["messages_per_second"]), "messages_per_second",
         f"{result['widget_messages']} messages in all, {result['rows_messages']} of them rows"),
        ("DOM rows rendered (max)", str(result["dom_rows"]), "dom_rows", f"of {result['held']:,} rows held"),
        ("last event: kernel -> visible", f"{result['last_event_visible_ms']} ms", "last_event_visible_ms",
         f"of which {result['kernel_send_lag_ms']} ms until the kernel sent it"),
        ("longest main-thread task", f"{result['longest_task_ms']} ms", "longest_task_ms",
         f"{result['long_tasks']} tasks over 50 ms" if result["long_tasks"] else "no task over 50 ms"),
    ]
    for label, value, key, note in rows:
        numeric = float(str(value).split()[0].rstrip("x"))
        passed = numeric <= TARGETS[key]
        ok &= passed
        print(f"  {label:38} {value:>10}   target <= {TARGETS[key]:<5} {'ok' if passed else 'MISSED'}   {note}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--scenario", nargs="+", choices=["bundled", "lean"], default=["bundled", "lean"])
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--profile", action="store_true", help="print where the page's main thread spent its time")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is absent: apt-get install -y chromium (or set OHNB_CHROMIUM)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    results = []
    with tempfile.TemporaryDirectory(prefix="ohnb-bench-") as tmp, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for scenario in args.scenario:  # one after the other: the machine's cores are shared
                results.append(run_scenario(browser, Path(tmp), scenario, args.events, args.profile))
        finally:
            browser.close()
    ok = all([report(r) for r in results])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
