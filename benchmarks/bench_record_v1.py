"""Benchmark: recording a 20,000-event V1 replay, ohnb vs a bare aiohttp WebSocket loop.

The embedded V1 agent server (``ohnb.servers.v1.V1ReplayServer``) runs in a separate process and holds
a conversation made of the real V1 evaluation events (``v1_eval_output_openagentsafety.jsonl``, every
record) repeated with fresh ids and increasing timestamps until it has N events. Each round connects a
fresh client with ``resend_mode=all``; rounds alternate between:

- **bare**: ``aiohttp`` ``ws_connect`` that parses every text frame with ``json.loads`` (with
  ``--bare-orjson``: ``orjson.loads``, the parser ohnb uses) and counts until it has seen the N stored
  events (plus the connect-time snapshot);
- **ohnb**: ``ohnb.connect(..., protocol="v1")`` until ``history_complete()`` (normalize, dedupe,
  attempts log, and the ``/events/count`` check that the resend delivered everything), then one
  ``conv.events`` DataFrame build, timed separately.

Printed: events/s of each round, medians, and ratios (target: ohnb >= 0.95x the bare loop); then one
more round of each giving peak memory per event (Python objects plus Arrow buffers) against the
events' mean JSON size (no target for V1; issue 3's is 2x, for V0).

Run: ``python benchmarks/bench_record_v1.py [--events 20000] [--rounds 5] [--bare-orjson] [--gc-off]``
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
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
EVAL = REPO.parent / "shared" / "fixtures" / "v1_eval_output_openagentsafety.jsonl"

from _compare import compare, in_child, print_memory, run  # noqa: E402

import ohnb  # noqa: E402

CONVERSATION = "0f4b9a56-1c1e-4c35-9a1e-3b1f5d7c2a10"
SERVER = """
import asyncio, sys
sys.path.insert(0, {repo!r})
from ohnb.servers.v1 import V1ReplayServer
async def main():
    async with V1ReplayServer({path!r}, conversation_id={cid!r}, port={port}) as server:
        await asyncio.Event().wait()
asyncio.run(main())
"""


def make_conversation(n: int) -> list[dict]:
    """Real V1 events repeated with fresh ids and timestamps 10 ms apart until there are ``n``."""
    base = [e for line in EVAL.open() for e in (json.loads(line).get("history") or [])]
    start = datetime(2026, 1, 1, 12, 0, 0)
    out = []
    while len(out) < n:
        for event in base:
            if len(out) == n:
                break
            copy = dict(event)
            copy["id"] = str(uuid.uuid4())
            copy["timestamp"] = (start + timedelta(milliseconds=10 * len(out))).isoformat()
            out.append(copy)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{url}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("V1 server did not start")


async def bare_round(url: str, n: int, loads=json.loads) -> float:
    ws_url = url.replace("http://", "ws://") + f"/sockets/events/{CONVERSATION}?resend_mode=all"
    t0 = time.perf_counter()
    seen = 0
    elapsed = None
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url, max_msg_size=0) as ws:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                loads(message.data)
                seen += 1
                if seen >= n + 1:  # the stored events and the snapshot
                    elapsed = time.perf_counter() - t0  # not the close handshake (ohnb's is not timed)
                    break
    if elapsed is None:
        raise AssertionError(f"the bare loop saw {seen} frames, expected {n + 1}")
    return n / elapsed


async def ohnb_round(url: str, n: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    conv = ohnb.connect(url, CONVERSATION, protocol="v1", retry=ohnb.RetryPolicy(connect_timeout=120))
    await conv.history_complete(timeout=120)
    recorded = time.perf_counter() - t0
    rows = len(conv.events)
    with_frame = time.perf_counter() - t0
    await conv.close()
    if rows < n:
        raise AssertionError(f"ohnb recorded {rows} events, expected {n}")
    return n / recorded, n / with_frame


async def main_async(args: argparse.Namespace) -> None:
    events = make_conversation(args.events)
    json_bytes = sum(len(json.dumps(e).encode()) for e in events)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        path.write_text("\n".join(json.dumps(e) for e in events))
        port = free_port()
        code = SERVER.format(repo=str(REPO), path=str(path), cid=CONVERSATION, port=port)
        server = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ))
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_ready(url)
            await compare(
                args,
                lambda: bare_round(url, args.events, orjson.loads if args.bare_orjson else json.loads),
                lambda: ohnb_round(url, args.events),
                bare_name="bare aiohttp WebSocket loop",
                what=f"{args.events} V1 events ({json_bytes / 1e6:.1f} MB JSON)",
            )
            bare = in_child(__file__, "bare", "--url", url, "--events", str(args.events))
            mine = in_child(__file__, "ohnb", "--url", url, "--events", str(args.events))
            # small events: the per-row cost of 29 typed columns (about 0.4 kB) weighs more than in V0
            print_memory(bare, mine, args.events, json_bytes / args.events, "no target for V1; V0's is 2x")
        finally:
            server.terminate()
            server.wait(10)


def main() -> None:
    run(__doc__.splitlines()[0], main_async, bare_round, lambda url: ohnb.connect(url, CONVERSATION, protocol="v1", retry=ohnb.RetryPolicy(connect_timeout=120)))


if __name__ == "__main__":
    main()
