"""Benchmark: recording a 20,000-event V0 replay, ohnb vs a bare python-socketio client.

The embedded V0 server runs in a separate process (so its JSON encoding does not share this process's
GIL) and replays a conversation made of the bundled real 297-event conversation repeated with fresh ids
until it has N events (default 20,000). Each round connects a fresh client that receives the whole
replay; rounds alternate between:

- **bare**: ``socketio.AsyncClient`` with one ``oh_event`` handler that only counts;
- **ohnb**: ``ohnb.connect`` (normalize every payload into a row, dedupe by id, attempts log), waited
  on until ``history_complete()``, then the DataFrame is built once (``conv.events``) and counted.

Printed: events/s of each round, the median of each client, and their ratio (target: ohnb >= 0.95x the
bare client); then one extra round of each under ``tracemalloc`` and a proxy Arrow memory pool, giving ohnb's peak
memory per event (Python objects plus Arrow buffers) against the events' mean JSON size (target <= 2x).

Run: ``python benchmarks/bench_record.py [--events 20000] [--rounds 5] [--bare-orjson] [--gc-off]``
(``--bare-orjson``: the bare client decodes with orjson, the parser ohnb uses, instead of the standard
``json`` module; ``--gc-off``: the same rounds with Python's cyclic GC switched off, for both).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import orjson
import socketio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _compare import compare, in_child, print_memory, run  # noqa: E402

import ohnb  # noqa: E402
from ohnb.servers.v0 import replay_action  # noqa: E402
from ohnb.stores import default_conversation_path, read_v0_events  # noqa: E402


def make_conversation(n: int) -> list[dict]:
    """The bundled conversation repeated with fresh ids until it has ``n`` replayable events."""
    base = [e for e in read_v0_events(default_conversation_path()) if replay_action(e) == "send"]
    out: list[dict] = []
    while len(out) < n:
        for event in base:
            if len(out) == n:
                break
            copy = dict(event)
            offset = len(out) - event["id"]
            copy["id"] = len(out)
            if isinstance(event.get("cause"), int):
                copy["cause"] = event["cause"] + offset
            out.append(copy)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(path: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "ohnb.cli", "serve", str(path), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start: {proc.stdout.read().decode()[-2000:]}")


class OrjsonPacket(socketio.packet.Packet):
    """python-socketio's packet decoding with orjson (``--bare-orjson``), for this client only."""

    json = types.SimpleNamespace(dumps=json.dumps, loads=orjson.loads)  # read as ``Packet.json``


async def bare_round(url: str, n: int, orjson_decode: bool = False) -> float:
    done = asyncio.Event()
    count = 0

    def on_event(_data):
        nonlocal count
        count += 1
        if count >= n:
            done.set()

    sio = socketio.AsyncClient(
        reconnection=False, handle_sigint=False, serializer=OrjsonPacket if orjson_decode else "default"
    )
    sio.on("oh_event", on_event)
    t0 = time.perf_counter()
    await sio.connect(
        f"{url}?conversation_id=ohnb-demo&latest_event_id=-1",
        transports=["websocket"],
        wait_timeout=120,
    )
    await asyncio.wait_for(done.wait(), 120)
    elapsed = time.perf_counter() - t0
    await sio.disconnect()
    return n / elapsed


async def ohnb_round(url: str, n: int) -> tuple[float, float]:
    """(events/s until the replay is recorded, events/s including one DataFrame build)."""
    t0 = time.perf_counter()
    conv = ohnb.connect(url, "ohnb-demo", retry=ohnb.RetryPolicy(connect_timeout=120))
    await conv.history_complete(timeout=120)
    recorded = time.perf_counter() - t0
    rows = len(conv.events)
    with_frame = time.perf_counter() - t0
    await conv.close()
    if rows != n:
        raise AssertionError(f"ohnb recorded {rows} events, expected {n}")
    return n / recorded, n / with_frame


async def main_async(args: argparse.Namespace) -> None:
    events = make_conversation(args.events)
    json_bytes = sum(len(json.dumps(e).encode()) for e in events)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "conversation.json"
        path.write_text(json.dumps(events))
        port = free_port()
        server = start_server(path, port)
        url = f"http://127.0.0.1:{port}"
        try:
            await compare(
                args,
                lambda: bare_round(url, args.events, args.bare_orjson),
                lambda: ohnb_round(url, args.events),
                bare_name="bare python-socketio client",
                what=f"{args.events} events ({json_bytes / 1e6:.1f} MB JSON)",
            )
            bare = in_child(__file__, "bare", "--url", url, "--events", str(args.events))
            mine = in_child(__file__, "ohnb", "--url", url, "--events", str(args.events))
            print_memory(bare, mine, args.events, json_bytes / args.events)
        finally:
            server.terminate()
            server.wait(10)


def main() -> None:
    run(__doc__.splitlines()[0], main_async, bare_round, lambda url: ohnb.connect(url, "ohnb-demo", retry=ohnb.RetryPolicy(connect_timeout=120)))


if __name__ == "__main__":
    main()
