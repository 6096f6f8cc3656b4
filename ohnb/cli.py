"""The ``ohnb`` command: ``demo``, ``serve``, ``record``, ``report`` and ``lab``.

Errors a user can cause (a bad path, a bad flag, an unset environment variable, a server that refuses)
print one line on stderr, ``ohnb <command>: error: <what>``, and exit with a non-zero status (2 for a
mistake in the command line or its inputs, 1 when a recording ended because the server refused or
could not be reached); no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

EXAMPLES = """examples (ohnb COMMAND --help shows each command's options and more examples):
  ohnb demo                                    a first look: record, reconnect, analyze
  ohnb serve --port 3000 --live-fraction 0.5   the bundled conversation on a V0 server
  ohnb serve conv/ --protocol v1 --faults kill@20,reject:2
  ohnb record http://localhost:3000 --conversation ohnb-demo -o events.parquet
  ohnb report events.parquet --out plots/
  ohnb lab
"""

#: Exit status for mistakes in the command line or its inputs (argparse's own).
USAGE_ERROR = 2
#: Exit status when a recording ended because the server refused it or could not be reached.
CONNECTION_ERROR = 1
#: Output file suffixes ``record`` can write (``ohnb.save`` decides the format by extension).
RECORD_SUFFIXES = (".parquet", ".jsonl", ".ndjson")


class UsageError(Exception):
    """A mistake of the user's that is not a ValueError of the library (printed as one line)."""


class RecordingFailed(Exception):
    """The recording ended because the server refused or was unreachable (exit status 1)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``ohnb record: error: ... (see ohnb record --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def _wrap(text: str) -> str:
    """A description paragraph wrapped for the raw help formatter (epilogs keep their layout)."""
    import textwrap

    return textwrap.fill(" ".join(text.split()), 88)


def build_parser() -> argparse.ArgumentParser:
    """The ``ohnb`` argument parser (every command, with its help and examples)."""
    parser = _Parser(
        prog="ohnb",
        description="Watch, record and analyze OpenHands conversations.",
        epilog=EXAMPLES,
        formatter_class=_formatter,
    )
    from ohnb import __version__

    parser.add_argument("--version", action="version", version=f"ohnb {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_demo(sub)
    _add_serve(sub)
    _add_record(sub)
    _add_report(sub)
    _add_lab(sub)
    return parser


def _add_demo(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="record a real conversation from the embedded server and print the analyses",
        description=_wrap(
            "Starts the embedded V0 server with a real recorded OpenHands conversation, records it "
            "with the background client (replay first, then the rest live), forces one disconnect "
            "midway to show a resumed reconnect, prints the summary tables and writes the events "
            "and attempts as parquet."
        ),
        epilog=(
            "examples:\n"
            "  ohnb demo\n"
            "  ohnb demo -o /tmp/out --speed 500       faster live part, results in /tmp/out\n"
            "  ohnb demo --no-disconnect --no-progress"
        ),
        formatter_class=_formatter,
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


def _add_serve(sub: Any) -> None:
    from ohnb.servers.faults import GRAMMAR as FAULT_GRAMMAR

    serve = sub.add_parser(
        "serve",
        help="serve a stored conversation like an OpenHands V0 or V1 server",
        description=_wrap(
            "Serves a stored conversation on 127.0.0.1 like an OpenHands server: V0 (openhands-ai, "
            "Socket.IO at /socket.io) or V1 (agent server: WebSocket at /sockets/events/<id> and "
            "the REST event API). History is replayed on connect, the rest played live. --faults "
            "injects disconnects, freezes, refusals, restarts, slow replays and malformed payloads; "
            "each fault is printed when it fires. Ctrl-C stops."
        ),
        epilog=(
            "examples:\n"
            "  ohnb serve --port 3000 --speed 20 --live-fraction 0.5\n"
            "  ohnb serve --live-fraction 0.5 --ping-interval 2 --ping-timeout 2 \\\n"
            "      --faults kill@120,freeze@200:6,reject:2,malformed@30\n"
            "  ohnb serve ~/.openhands/conversations/<id>/ --protocol v1 --live-fraction 0.5\n"
            "  ohnb serve output.jsonl --protocol v1 --record 3 --faults drop@10\n\n"
            "SOURCE: a V0 trajectory export, file-store session or evaluation output (default: the\n"
            "bundled 297-event conversation); a V1 CLI conversation folder, events JSONL or\n"
            "evaluation output (no V1 conversation is bundled). --protocol auto (default) serves\n"
            "a V1 source as V1, anything else as V0.\n\n" + FAULT_GRAMMAR
        ),
        formatter_class=_formatter,
    )
    serve.add_argument("source", nargs="?", help="the stored conversation (default: bundled V0)")
    serve.add_argument(
        "--protocol",
        choices=("auto", "v0", "v1"),
        default="auto",
        help="server generation to imitate (default: from SOURCE)",
    )
    serve.add_argument(
        "--record",
        metavar="N",
        help="evaluation output: the record to serve, an index or an instance_id (default 0)",
    )
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument(
        "--conversation-id",
        help="the conversation id to serve (V0 default: ohnb-demo; V1: from the data, a UUID)",
    )
    serve.add_argument("--speed", type=float, default=1.0, help="live playback speed factor")
    serve.add_argument("--max-gap", type=float, default=2.0, help="longest live wait, seconds")
    serve.add_argument(
        "--live-fraction", type=float, default=0.0, help="share of the events played live (0..1)"
    )
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
        default=None,
        metavar="S",
        help="V0: engine.io ping interval, whole seconds (real server: 25); V1: seconds between "
        "WebSocket pings (real server: 20)",
    )
    serve.add_argument(
        "--ping-timeout",
        type=float,
        default=20.0,
        metavar="S",
        help="V0: engine.io ping timeout, seconds (real server: 20); a client notices a frozen "
        "server after interval + timeout",
    )


def _add_record(sub: Any) -> None:
    record = sub.add_parser(
        "record",
        help="record a live conversation into a parquet or JSONL file",
        description=_wrap(
            "Connects to an OpenHands server (V0 or V1, detected by itself) with ohnb's background "
            "client, which reconnects and resumes on its own, and records the conversation's "
            "events until Ctrl-C, --until-state or --duration. Then writes the events to FILE "
            "(parquet or JSONL, by extension) and the connection attempts beside it "
            "(<stem>.attempts.parquet). The session API key is read from an environment variable, "
            "never from the command line."
        ),
        epilog=(
            "examples:\n"
            "  ohnb record http://localhost:3000 --conversation abc123 -o events.parquet\n"
            "  export OH_SESSION_API_KEY=...   # then:\n"
            "  ohnb record https://host/api/conversations/abc123 --session-api-key-env "
            "OH_SESSION_API_KEY \\\n"
            "      -o run.jsonl --until-state awaiting_user_input\n"
            "  ohnb record http://localhost:8000 --conversation <uuid> -o v1.parquet --duration 600"
        ),
        formatter_class=_formatter,
    )
    record.add_argument(
        "url", help="the server's base URL, or a conversation URL (.../api/conversations/<id>)"
    )
    record.add_argument(
        "--conversation",
        "--conversation-id",
        dest="conversation",
        metavar="ID",
        help="the conversation id (optional when URL names it)",
    )
    record.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="events file: .parquet or .jsonl"
    )
    record.add_argument(
        "--session-api-key-env",
        metavar="VAR",
        help="read the session API key from this environment variable",
    )
    record.add_argument(
        "--protocol", choices=("auto", "v0", "v1"), default="auto", help="default: detect"
    )
    record.add_argument(
        "--until-state",
        metavar="STATE",
        help="stop once the history is in and the agent is in STATE (e.g. awaiting_user_input, "
        "finished; V1 execution statuses are accepted too: idle = awaiting_user_input)",
    )
    record.add_argument(
        "--duration", type=float, metavar="S", help="stop after S seconds of recording"
    )
    record.add_argument(
        "--max-retries",
        type=int,
        default=10,
        metavar="N",
        help="consecutive failed connection attempts before giving up (default 10)",
    )
    record.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_report(sub: Any) -> None:
    report = sub.add_parser(
        "report",
        help="print the analysis tables of a stored conversation and write its plots",
        description=_wrap(
            "Reads FILE with ohnb.load (an ohnb recording, an evaluation output, a trajectory "
            "export, a V1 conversation folder...), prints the summary tables (conversations, event "
            "types, action latency, cost by model, time in each agent state, and the connection "
            "attempts when an attempts file is beside FILE) and writes the plots as PNG files."
        ),
        epilog=(
            "examples:\n"
            "  ohnb report events.parquet                 attempts from events.attempts.parquet\n"
            "  ohnb report ohnb-demo-output/events.parquet --out plots/\n"
            "  ohnb report output.jsonl --no-plots"
        ),
        formatter_class=_formatter,
    )
    report.add_argument("file", metavar="FILE", help="anything ohnb.load reads")
    report.add_argument(
        "--attempts",
        metavar="FILE",
        help="the attempts file (default: <stem>.attempts.parquet, or attempts.parquet beside "
        "an events.* FILE)",
    )
    report.add_argument(
        "--out", default="ohnb-report", metavar="DIR", help="folder for the PNG plots"
    )
    report.add_argument("--no-plots", action="store_true", help="print the tables only")


def _add_lab(sub: Any) -> None:
    lab = sub.add_parser(
        "lab",
        help="open JupyterLab on ohnb's notebooks",
        description=_wrap(
            "Starts JupyterLab (from this Python environment) with ohnb's notebooks folder as its "
            "root: the notebooks of a source checkout, or ./notebooks. Arguments after -- go to "
            "JupyterLab as they are."
        ),
        epilog=(
            "examples:\n"
            "  ohnb lab\n"
            "  ohnb lab --no-browser --port 8890\n"
            "  ohnb lab --dry-run                           print the command, start nothing\n"
            "  ohnb lab -- --ServerApp.token=secret --ip=0.0.0.0"
        ),
        formatter_class=_formatter,
    )
    lab.add_argument("--dir", metavar="DIR", help="the notebooks folder (default: found by itself)")
    lab.add_argument("--port", type=int, help="JupyterLab's port (default: its own, 8888)")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser")
    lab.add_argument("--dry-run", action="store_true", help="print the command and exit")
    lab.add_argument("jupyter_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ohnb`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    commands = {"demo": _demo, "serve": _serve, "record": _record_cmd, "report": _report_cmd,
                "lab": _lab}  # fmt: skip
    from ohnb.errors import OhnbError

    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `ohnb report ... | head`: the reader went away; say nothing
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except RecordingFailed as exc:
        _say_error(args.command, exc)
        return CONNECTION_ERROR
    except (UsageError, ValueError, TypeError, OSError, OhnbError, RuntimeError) as exc:
        _say_error(args.command, exc)
        return USAGE_ERROR


def _say_error(command: str, exc: BaseException) -> None:
    text = " ".join(str(exc).split()) or type(exc).__name__
    print(f"ohnb {command}: error: {text}", file=sys.stderr)


def _run(coro):
    """``asyncio.run(coro)``, on a worker thread when this thread already runs a loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="ohnb-cli") as pool:
        return pool.submit(asyncio.run, coro).result()


def _fraction(fraction: float) -> float:
    if not 0 <= fraction <= 1:
        raise ValueError(f"--live-fraction must be between 0 and 1, got {fraction}")
    return fraction


def _live_from(events: list[dict], fraction: float) -> int | None:
    _fraction(fraction)
    if fraction == 0 or not events:
        return None
    ids = sorted(e["id"] for e in events)
    return ids[min(len(ids) - 1, int(len(ids) * (1 - fraction)))]


def _key_from_env(var: str | None) -> str | None:
    if not var:
        return None
    key = os.environ.get(var)
    if not key:
        raise UsageError(f"environment variable {var} is empty or unset")
    return key


# ---------------------------------------------------------------------------------------------
# serve


def _record_arg(value: str | None) -> int | str | None:
    if value is None:
        return None
    return int(value) if value.strip().isdigit() else value.strip()


def _serve(args: argparse.Namespace) -> int:
    import logging

    from ohnb.servers import FaultPlan
    from ohnb.servers.v0 import fault_logger

    key = _key_from_env(args.session_api_key_env)
    plan = FaultPlan.parse(args.faults)
    _fraction(args.live_fraction)
    protocol = _serve_protocol(args)
    server = _v1_server(args, key, plan) if protocol == "v1" else _v0_server(args, key, plan)
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
        count = len(server.stored_events) + server.pending_live
        where = (
            f"{server.url} (WebSocket {server.ws_url}, REST {server.url}/api/conversations/...)"
            if protocol == "v1"
            else f"{server.url} (Socket.IO path /socket.io)"
        )
        print(
            f"Serving {count} events of {protocol.upper()} conversation {server.conversation_id!r} "
            f"at {where}"
            + (f", {server.pending_live} of them live at {args.speed:g}x" if server.pending_live else "")
            + (f" with faults {plan}" if plan else "")
            + ". Ctrl-C stops.",
            flush=True,
        )
        print(
            f"Record it: ohnb record {server.url} --conversation {server.conversation_id} "
            "-o events.parquet" + (f" --session-api-key-env {args.session_api_key_env}" if key else ""),
            flush=True,
        )
        while True:
            time.sleep(3600)
    finally:
        server.stop_thread()
        fault_logger.removeHandler(handler)
        fault_logger.setLevel(previous_level)


def _serve_protocol(args: argparse.Namespace) -> str:
    """Which generation to serve: ``--protocol``, or from the source (auto)."""
    if args.protocol == "v1" and args.source is None:
        raise UsageError(
            "--protocol v1 needs a SOURCE: a V1 CLI conversation folder, an events JSONL file or an "
            "evaluation output (with --record N); no V1 conversation is bundled"
        )
    if args.protocol != "auto":
        return args.protocol
    if args.source is None:
        return "v0"
    from ohnb.servers.v1_events import load_v1_conversation

    try:
        _read_v0(args)
    except (ValueError, FileNotFoundError) as v0_error:
        try:
            load_v1_conversation(args.source, record=_record_arg(args.record))
        except (ValueError, KeyError, TypeError, OSError):
            raise v0_error from None
        return "v1"
    return "v0"


def _read_v0(args: argparse.Namespace) -> list[dict]:
    from ohnb.stores import read_v0_events

    record = _record_arg(args.record)
    if isinstance(record, str):
        return read_v0_events(args.source, instance_id=record)
    return read_v0_events(args.source, record=record)


def _v0_server(args: argparse.Namespace, key: str | None, plan: Any) -> Any:
    from ohnb.servers import V0ReplayServer

    events = _read_v0(args)
    return V0ReplayServer(
        events,
        conversation_id=args.conversation_id or "ohnb-demo",
        port=args.port,
        speed=args.speed,
        max_gap=args.max_gap,
        live_from=_live_from(events, args.live_fraction),
        session_api_key=key,
        ping_interval=25 if args.ping_interval is None else args.ping_interval,
        ping_timeout=args.ping_timeout,
        faults=plan,
    )


def _v1_server(args: argparse.Namespace, key: str | None, plan: Any) -> Any:
    from ohnb.servers.v1 import V1ReplayServer
    from ohnb.servers.v1_events import load_v1_conversation

    record = _record_arg(args.record)
    loaded = load_v1_conversation(args.source, record=record)
    total = len(loaded.events)
    live_from = None
    if args.live_fraction > 0 and total:
        live_from = min(total - 1, int(total * (1 - args.live_fraction)))
    return V1ReplayServer(
        args.source,
        record=record,
        conversation_id=args.conversation_id,
        port=args.port,
        speed=args.speed,
        max_gap=args.max_gap,
        live_from=live_from,
        session_api_key=key,
        heartbeat=20.0 if args.ping_interval is None else float(args.ping_interval),
        emit_status=True,
        faults=plan,
    )


# ---------------------------------------------------------------------------------------------
# record


def _attempts_path(events_path: Path) -> Path:
    """``events.parquet`` -> ``events.attempts.parquet`` (beside it, whatever the events format)."""
    return events_path.with_name(f"{events_path.stem}.attempts.parquet")


def _until_state(state: str | None) -> str | None:
    if state is None:
        return None
    from ohnb.normalize_v1 import EXECUTION_STATUS_TO_AGENT_STATE
    from ohnb.schema import AGENT_STATES

    name = state.strip().lower()
    name = EXECUTION_STATUS_TO_AGENT_STATE.get(name, name)
    known = (*AGENT_STATES, "stuck", "deleting")
    if name not in known:
        raise UsageError(f"--until-state: unknown agent state {state!r}; one of {', '.join(known)}")
    return name


def _record_cmd(args: argparse.Namespace) -> int:
    from ohnb.urls import parse_address

    output = Path(args.output)
    if output.suffix.lower() not in RECORD_SUFFIXES:
        raise UsageError(f"-o {args.output}: the file name must end in .parquet or .jsonl")
    if output.is_dir():
        raise UsageError(f"-o {args.output} is a folder; name a .parquet or .jsonl file")
    if args.duration is not None and not args.duration > 0:
        raise UsageError(f"--duration must be > 0 seconds, got {args.duration:g}")
    if args.max_retries < 0:
        raise UsageError(f"--max-retries must be >= 0, got {args.max_retries}")
    state = _until_state(args.until_state)
    key = _key_from_env(args.session_api_key_env)
    parse_address(args.url, args.conversation)  # a bad URL or a missing id: fail before connecting
    return _run(_record_live(args, output, state, key))


async def _record_live(args: argparse.Namespace, output: Path, state: str | None, key: str | None) -> int:
    from tqdm import tqdm

    import ohnb

    loop = asyncio.get_running_loop()
    policy = ohnb.RetryPolicy(max_retries=args.max_retries)
    conv = ohnb.connect(
        args.url, args.conversation, session_api_key=key, retry=policy, protocol=args.protocol
    )
    bar = tqdm(unit="ev", desc="recording", disable=args.no_progress, file=sys.stderr, leave=False)
    stop = asyncio.Event()
    why: list[str] = []
    last_error: list[str | None] = [None]

    def on_rows(start: int, rows: list) -> None:
        bar.update(len(rows))

    def on_change() -> None:
        bar.set_postfix_str(f"{conv.connection_state} agent={conv.agent_state}", refresh=False)
        if conv.error != last_error[0]:
            last_error[0] = conv.error
            # transient trouble is reported as it happens; a final one by the error line at the end
            if conv.error and conv.connection_state in ("CONNECTING", "RECONNECTING"):
                bar.write(f"ohnb record: {conv.error}; reconnecting", file=sys.stderr)

    def on_signal(reason: str) -> None:
        if not why:
            why.append(reason)
        stop.set()

    unsubscribe_rows = conv.log.subscribe(on_rows)
    unsubscribe_change = conv.on_change(on_change)
    # Ctrl-C (and a service manager's SIGTERM) end the recording and save it. Not on Windows,
    # where asyncio.run turns Ctrl-C into a cancellation instead: see the except below.
    handled = []
    for signum, reason in ((signal.SIGINT, "stopped by Ctrl-C"), (signal.SIGTERM, "stopped by SIGTERM")):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, on_signal, reason)
            handled.append(signum)

    async def history_then_state() -> None:
        await conv.history_complete()
        bar.write(
            f"ohnb record: history in ({len(conv.log)} events, {conv.protocol.upper()}); recording "
            + (f"until the agent is {state}" if state else "live events")
            + (f" for at most {args.duration:g} s" if args.duration else "")
            + "; Ctrl-C stops and saves",
            file=sys.stderr,
        )
        if state is not None:
            await conv.wait_until(lambda c: c.agent_state == state)
            why.append(f"the agent is {state}")

    waiters = [
        asyncio.ensure_future(stop.wait()),
        asyncio.ensure_future(conv.wait_closed()),
        asyncio.ensure_future(history_then_state()),
    ]
    started = time.monotonic()
    try:
        remaining = [w for w in waiters if not w.done()]
        while remaining:
            done, _ = await asyncio.wait(
                remaining,
                timeout=None if args.duration is None else max(0.0, started + args.duration - time.monotonic()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:
                why.append(f"{args.duration:g} s elapsed")
                break
            if waiters[2] in done and waiters[2].exception() is None and state is None:
                remaining = [w for w in remaining if w is not waiters[2]]
                continue  # history is in; record on until Ctrl-C / duration / the end
            break
    except asyncio.CancelledError:  # Ctrl-C where the loop cannot take signal handlers (Windows)
        task = asyncio.current_task()
        if task is not None and hasattr(task, "uncancel"):
            task.uncancel()
        why.append("stopped by Ctrl-C")
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        for signum in handled:
            loop.remove_signal_handler(signum)
        final_error = conv.error if conv.connection_state in ("CLOSED", "FAILED") else None
        await conv.close()
        unsubscribe_rows()
        unsubscribe_change()
        bar.close()
    return _save_recording(conv, output, why, final_error)


def _save_recording(conv: Any, output: Path, why: list[str], failure: str | None) -> int:
    import ohnb

    events, attempts = conv.events, conv.attempts
    events_path = ohnb.save(events, output)
    attempts_path = ohnb.save(attempts, _attempts_path(output))
    replayed = int((events["delivery"] == "replay").sum()) if len(events) else 0
    reason = why[0] if why else (failure or "the connection ended")
    print(
        f"Recorded {len(events)} events ({replayed} replayed, {len(events) - replayed} live) of "
        f"conversation {conv.conversation_id!r} in {len(attempts)} connection attempt(s), "
        f"{conv.reconnects} reconnect(s); agent state: {conv.agent_state}; {reason}."
    )
    print(f"Wrote {events_path} and {attempts_path}")
    if not why and failure:
        last = attempts["error"].dropna()
        detail = f"; last attempt: {last.iloc[-1]}" if len(last) and last.iloc[-1] not in failure else ""
        raise RecordingFailed(
            f"{failure}{detail} (after {len(attempts)} attempt(s); what was received is saved in "
            f"{events_path})"
        )
    return 0


# ---------------------------------------------------------------------------------------------
# report


def _report_cmd(args: argparse.Namespace) -> int:
    import ohnb
    from ohnb.stores.remote import HTTPStatusError

    source = args.file
    if "://" not in source and not Path(source).exists() and not any(c in source for c in "*?["):
        raise UsageError(f"{source}: no such file or folder")
    try:
        frame = ohnb.load(source)
    except HTTPStatusError as exc:
        raise UsageError(f"{source}: {exc}") from None
    if "outcome" in frame.columns and "kind" not in frame.columns:  # an attempts file alone
        events, attempts = None, frame
    else:
        events, attempts = frame, _attempts_beside(source, args.attempts)
    with pd.option_context(
        "display.width", 120, "display.max_columns", 20, "display.max_colwidth", 50
    ):
        if events is not None:
            _print_event_tables(events)
        if attempts is not None:
            _print_attempt_tables(attempts)
    if not args.no_plots:
        written = _write_plots(events, attempts, Path(args.out))
        print(f"\nWrote {len(written)} plots into {args.out}: {', '.join(p.name for p in written)}")
    return 0


def _attempts_beside(source: str, explicit: str | None) -> pd.DataFrame | None:
    import ohnb

    if explicit:
        if not Path(explicit).exists():
            raise UsageError(f"--attempts {explicit}: no such file")
        return ohnb.load(explicit)
    path = Path(source)
    if not path.is_file():
        return None
    candidates = [_attempts_path(path)]
    if path.stem == "events":
        candidates.append(path.with_name("attempts.parquet"))
    for candidate in candidates:
        if candidate.is_file():
            frame = ohnb.load(candidate)
            if "outcome" in frame.columns:
                print(f"(connection attempts from {candidate})")
                return frame
    return None


def _table(title: str, frame: pd.DataFrame, *, head: int | None = None) -> None:
    print(f"\n{title}:")
    if frame.empty:
        print("  (none)")
        return
    shown = frame.head(head) if head else frame
    print(shown.round(3).to_string(index=False))
    if head and len(frame) > head:
        print(f"  ... {len(frame) - head} more rows")


def _print_event_tables(events: pd.DataFrame) -> None:
    from ohnb import analysis

    summary = analysis.conversation_summary(events)
    conversations = summary["conversation_id"].nunique()
    print(
        f"{len(events)} events in {conversations} conversation(s); "
        f"{int(events['kind'].eq('action').sum())} actions, "
        f"{int(events['kind'].eq('observation').sum())} observations"
    )
    columns = [c for c in ("conversation_id", "events", "duration_s", "user_turns", "prompt_tokens",
                           "completion_tokens", "accumulated_cost", "unanswered_actions")
               if c in summary.columns]  # fmt: skip
    if len(summary) > 15:
        summary = summary.sort_values("events", ascending=False, kind="stable")
    _table("Conversations (most events first)" if len(summary) > 15 else "Conversations",
           summary[columns], head=15)  # fmt: skip
    _table("Event types (top 15)", analysis.event_type_counts(events), head=15)
    _table("Action latency (seconds, action -> observation)", analysis.action_latency_summary(events))
    _table("Cost by model (USD, tokens)", analysis.cost_by_model(events))
    states = analysis.time_in_state(events)
    _table("Time in each agent state", states, head=20)


def _print_attempt_tables(attempts: pd.DataFrame) -> None:
    from ohnb import analysis

    shown = [c for c in ("attempt", "delay_s", "outcome", "error", "resumed_from", "events_replayed",
                         "events_live", "duplicates", "disconnect_reason") if c in attempts.columns]  # fmt: skip
    _table("Connection attempts", attempts[shown])
    _table("Reconnects", analysis.reconnect_summary(attempts))


def _write_plots(events: pd.DataFrame | None, attempts: pd.DataFrame | None, out: Path) -> list[Path]:
    from ohnb import analysis

    out.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, Any]] = []
    if events is not None:
        figures += [
            ("timeline", lambda: analysis.plot_timeline(events)),
            ("event_types", lambda: analysis.plot_type_histogram(events)),
            ("action_latency", lambda: analysis.plot_latency_distribution(events)),
            ("agent_states", lambda: analysis.plot_agent_states(events)),
            ("cost", lambda: analysis.plot_cost(events)),
        ]
    if attempts is not None:
        figures.append(("reconnects", lambda: analysis.plot_reconnect_timeline(attempts)))
    written = []
    for name, make in figures:
        path = out / f"{name}.png"
        make().savefig(path, dpi=100)
        written.append(path)
    return written


# ---------------------------------------------------------------------------------------------
# lab


#: A file that marks ohnb's own notebooks folder.
FIRST_NOTEBOOK = "01_live_conversation.ipynb"


def find_notebooks(explicit: str | None = None) -> Path:
    """ohnb's notebooks folder: ``explicit``, else ``./notebooks``, else the source checkout's.

    Raises:
        UsageError: not found (a wheel does not ship the notebooks: they live in the repository).
    """
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_dir():
            raise UsageError(f"--dir {explicit}: no such folder")
        return path.resolve()
    checkout = Path(__file__).resolve().parents[1] / "notebooks"
    for candidate in (Path.cwd() / "notebooks", Path.cwd(), checkout):
        if (candidate / FIRST_NOTEBOOK).is_file():
            return candidate.resolve()
    raise UsageError(
        "ohnb's notebooks were not found (they are in the repository's notebooks/ folder, not in "
        "the installed package): run it in a clone of the repository, or pass --dir DIR"
    )


def lab_command(args: argparse.Namespace) -> tuple[list[str], dict[str, str], Path]:
    """The JupyterLab command ``ohnb lab`` runs, the environment variables it adds, the folder."""
    folder = find_notebooks(args.dir)
    extra = list(args.jupyter_args or [])
    if extra[:1] == ["--"]:
        extra = extra[1:]
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder}"]
    if args.no_browser:
        command.append("--no-browser")
    if args.port is not None:
        command.append(f"--port={args.port}")
    command += extra
    env: dict[str, str] = {}
    # A source checkout used without installing: let the kernels import this ohnb too.
    package_parent = Path(__file__).resolve().parents[1]
    if (package_parent / "pyproject.toml").is_file():
        paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        if str(package_parent) not in paths:
            env["PYTHONPATH"] = os.pathsep.join([str(package_parent), *paths])
    return command, env, folder


def _lab(args: argparse.Namespace) -> int:
    import importlib.util
    import subprocess

    command, env, folder = lab_command(args)
    if args.dry_run:
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        print((assignments + " " if assignments else "") + shlex.join(command))
        return 0
    if importlib.util.find_spec("jupyterlab") is None:
        raise UsageError(
            f"JupyterLab is not installed in this environment ({sys.executable}): "
            "pip install jupyterlab"
        )
    print(f"Starting JupyterLab on {folder} (Ctrl-C twice stops it)", flush=True)
    process = subprocess.Popen(command, env={**os.environ, **env})
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:  # JupyterLab gets the Ctrl-C too and asks or stops by itself
            continue


# ---------------------------------------------------------------------------------------------
# demo


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
        conv = _run(_demo_record(server, args))
    finally:
        server.stop_thread()
    _demo_report(conv, server, Path(args.output))
    return 0


async def _demo_record(server, args: argparse.Namespace):
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
    return {n for n in conv.log.column("id") if isinstance(n, int)}


def _demo_report(conv, server, output: Path) -> None:
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
    ]  # fmt: skip
    print(shown.to_string(index=False))
    print("\nReplay latency (seconds, per attempt):")
    latency = replay_latency(events, attempts)
    print(latency.drop(columns=["started_at"]).round(4).to_string(index=False))
    print("\nReconnect summary:")
    print(reconnect_summary(attempts).round(3).to_string(index=False))
    events_path = to_parquet(events, output / "events.parquet")
    attempts_path = to_parquet(attempts, output / "attempts.parquet")
    print(f"\nWrote {events_path} and {attempts_path}")
    print(f"Next: ohnb report {events_path} --out {output / 'plots'}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
