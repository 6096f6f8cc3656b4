"""The ``ohnb`` command: ``ohnb demo`` (and ``ohnb serve``).

Errors a user can cause (a bad path, a bad flag) print one line on stderr and exit with status 2;
no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import pandas as pd

EXAMPLES = """examples:
  ohnb demo                          replay the bundled real conversation, force a reconnect, print tables
  ohnb demo -o /tmp/out --speed 500  faster live part, results in /tmp/out
  ohnb serve --port 3000             serve the bundled conversation for your own client or notebook
"""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ohnb`` console script; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="ohnb",
        description="Watch, record and analyze OpenHands conversations.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="record a real conversation from the embedded server and print the analyses",
        description=(
            "Starts the embedded V0 server with a real recorded OpenHands conversation, records it "
            "with the background client (replay first, then the rest live), forces one disconnect "
            "midway to show a resumed reconnect, prints the summary tables and writes the events "
            "and attempts as parquet."
        ),
        epilog="example:\n  ohnb demo -o ./ohnb-demo-output --speed 200",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("source", nargs="?", help="a stored V0 conversation (default: bundled)")
    demo.add_argument("-o", "--output", default="ohnb-demo-output", help="output folder")
    demo.add_argument("--speed", type=float, default=200.0, help="live playback speed factor")
    demo.add_argument("--max-gap", type=float, default=0.05, help="longest live wait, seconds")
    demo.add_argument(
        "--live-fraction", type=float, default=0.5, help="share of the events played live (0..1)"
    )
    demo.add_argument(
        "--no-disconnect", action="store_true", help="do not force the midway disconnect"
    )
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")

    from ohnb.servers.faults import GRAMMAR as FAULT_GRAMMAR

    serve = sub.add_parser(
        "serve",
        help="serve a stored conversation over Socket.IO like a V0 OpenHands server",
        description=(
            "Serves a stored conversation on 127.0.0.1 like an OpenHands V0 server (Socket.IO at "
            "/socket.io): history replayed on connect, the rest played live. --faults injects "
            "disconnects, freezes, refusals, restarts, slow replays and malformed payloads; each "
            "fault is printed when it fires."
        ),
        epilog=(
            "examples:\n"
            "  ohnb serve --port 3000 --speed 20 --live-fraction 0.5\n"
            "  ohnb serve --live-fraction 0.5 --ping-interval 2 --ping-timeout 2 \\\n"
            "      --faults kill@120,freeze@200:6,reject:2,malformed@30\n\n" + FAULT_GRAMMAR
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("source", nargs="?", help="a stored V0 conversation (default: bundled)")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--conversation-id", default="ohnb-demo")
    serve.add_argument("--speed", type=float, default=1.0)
    serve.add_argument("--max-gap", type=float, default=2.0)
    serve.add_argument("--live-fraction", type=float, default=0.0)
    serve.add_argument(
        "--session-api-key-env",
        metavar="VAR",
        help="require the session API key held in this environment variable",
    )
    serve.add_argument(
        "--faults",
        metavar="SPEC",
        help="fault plan, e.g. kill@120,freeze@200:3,reject:2 (grammar below)",
    )
    serve.add_argument(
        "--ping-interval",
        type=int,
        default=25,
        metavar="S",
        help="engine.io ping interval, whole seconds (real server: 25)",
    )
    serve.add_argument(
        "--ping-timeout",
        type=float,
        default=20.0,
        metavar="S",
        help="engine.io ping timeout, seconds (real server: 20); a client notices a frozen "
        "server after interval + timeout",
    )

    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "demo":
            return _demo(args)
        return _serve(args)
    except KeyboardInterrupt:
        return 130
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"ohnb {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _run(coro):
    """``asyncio.run(coro)``, on a worker thread when this thread already runs a loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="ohnb-cli") as pool:
        return pool.submit(asyncio.run, coro).result()


def _live_from(events: list[dict], fraction: float) -> int | None:
    if not 0 <= fraction <= 1:
        raise ValueError(f"--live-fraction must be between 0 and 1, got {fraction}")
    if fraction == 0 or not events:
        return None
    ids = sorted(e["id"] for e in events)
    return ids[min(len(ids) - 1, int(len(ids) * (1 - fraction)))]


def _serve(args: argparse.Namespace) -> int:
    import logging
    import os
    import time

    from ohnb.servers import FaultPlan, V0ReplayServer
    from ohnb.servers.v0 import fault_logger
    from ohnb.stores import read_v0_events

    key = None
    if args.session_api_key_env:
        key = os.environ.get(args.session_api_key_env)
        if not key:
            raise ValueError(f"environment variable {args.session_api_key_env} is empty or unset")
    plan = FaultPlan.parse(args.faults)
    events = read_v0_events(args.source)
    server = V0ReplayServer(
        events,
        conversation_id=args.conversation_id,
        port=args.port,
        speed=args.speed,
        max_gap=args.max_gap,
        live_from=_live_from(events, args.live_fraction),
        session_api_key=key,
        ping_interval=args.ping_interval,
        ping_timeout=args.ping_timeout,
        faults=plan,
    )
    # every fault is printed as it fires (the point of --faults in a teaching session)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s fault: %(message)s", "%H:%M:%S"))
    previous_level = fault_logger.level
    fault_logger.addHandler(handler)
    fault_logger.setLevel(logging.INFO)
    # Thread mode: a freeze blocks the server's loop thread, like a SIGSTOPped server; this thread
    # only waits for Ctrl-C.
    server.start_in_thread()
    try:
        print(
            f"Serving {len(events)} events of conversation {args.conversation_id!r} at "
            f"{server.url} (Socket.IO path /socket.io)"
            + (f" with faults {plan}" if plan else "")
            + ". Ctrl-C stops.",
            flush=True,
        )
        while True:
            time.sleep(3600)
    finally:
        server.stop_thread()
        fault_logger.removeHandler(handler)
        fault_logger.setLevel(previous_level)


def _demo(args: argparse.Namespace) -> int:
    from ohnb.servers import V0ReplayServer
    from ohnb.stores import read_v0_events

    events = read_v0_events(args.source)
    live_from = _live_from(events, args.live_fraction)
    server = V0ReplayServer(
        events, speed=args.speed, max_gap=args.max_gap, live_from=live_from
    ).start_in_thread()
    try:
        print(
            f"Embedded V0 server at {server.url}: conversation {server.conversation_id!r}, "
            f"{len(events)} stored events (ids {events[0]['id']}..{events[-1]['id']}), "
            f"events from id {live_from} played live at {args.speed:g}x."
        )
        conv = _run(_record(server, args))
    finally:
        server.stop_thread()
    _report(conv, server, Path(args.output))
    return 0


async def _record(server, args: argparse.Namespace):
    from tqdm.auto import tqdm

    import ohnb

    policy = ohnb.RetryPolicy(base=0.2, cap=2.0, connect_timeout=20.0)
    bar = tqdm(unit="ev", desc="recording", disable=args.no_progress, file=sys.stdout)
    conv = ohnb.connect(server.url, server.conversation_id, retry=policy)
    unsubscribe = conv.log.subscribe(lambda start, rows: bar.update(len(rows)))
    try:
        await conv.history_complete(timeout=60)
        replayed = len(conv.log)
        if not args.no_disconnect and server.pending_live:
            # Midway through the live part, cut the transport as a network failure would.
            half = replayed + max(1, server.pending_live // 2)
            await conv.wait_until(lambda c: len(c.log) >= half or server.is_live_done, timeout=120)
            await asyncio.to_thread(server.drop_connections_threadsafe, abrupt=True)
            bar.write(f"forced a disconnect after {len(conv.log)} events; resuming...")
        await asyncio.to_thread(server.wait_live_done_threadsafe, 300)
        sent = _ids_sent(server)
        await conv.wait_until(lambda c: sent <= _held(c) and c.connection_state == "OPEN", 60)
    finally:
        unsubscribe()
        bar.close()
        await conv.close()
    return conv


def _ids_sent(server) -> set[int]:
    return set(server.emitted_ids)


def _held(conv) -> set[int]:
    return {r["id"] for r in conv.log.rows if isinstance(r.get("id"), int)}


def _report(conv, server, output: Path) -> None:
    from ohnb.analysis import event_type_counts, reconnect_summary, replay_latency
    from ohnb.export import to_parquet

    events, attempts = conv.events, conv.attempts
    pd.set_option("display.width", 120)
    pd.set_option("display.max_columns", 20)
    sent, held = _ids_sent(server), _held(conv)
    print()
    print(
        f"Recorded {len(events)} events: server sent {len(sent)} distinct ids, "
        f"{len(sent - held)} lost, {int(events['id'].duplicated().sum())} stored twice, "
        f"{conv.duplicates} duplicate copies dropped; final agent state: {conv.agent_state}."
    )
    print("\nEvent types (top 12):")
    print(event_type_counts(events).head(12).to_string(index=False))
    print("\nConnection attempts:")
    shown = attempts[
        ["attempt", "delay_s", "outcome", "resumed_from", "events_replayed", "events_live",
         "duplicates", "disconnect_reason"]
    ]
    print(shown.to_string(index=False))
    print("\nReplay latency (seconds, per attempt):")
    latency = replay_latency(events, attempts)
    print(latency.drop(columns=["started_at"]).round(4).to_string(index=False))
    print("\nReconnect summary:")
    print(reconnect_summary(attempts).round(3).to_string(index=False))
    events_path = to_parquet(events, output / "events.parquet")
    attempts_path = to_parquet(attempts, output / "attempts.parquet")
    print(f"\nWrote {events_path} and {attempts_path}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
