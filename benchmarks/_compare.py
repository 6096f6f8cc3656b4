"""What the benchmarks share: alternate rounds of a bare client and ohnb, print medians; peak memory."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import pyarrow as pa


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--events``, ``--rounds``, ``--bare-orjson`` and ``--gc-off`` (and the memory child's own)."""
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--bare-orjson",
        action="store_true",
        help="the bare client decodes with orjson, as ohnb does (default: the standard json module, "
        "what a client gets out of the box): separates ohnb's own per-event work from its choice "
        "of parser",
    )
    parser.add_argument("--memory-child", choices=("bare", "ohnb"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument(
        "--gc-off",
        action="store_true",
        help="switch Python's cyclic GC off during the rounds (both clients): shows how much of "
        "ohnb's cost is the collector scanning the payloads it keeps",
    )


def measure(fn: Callable[[], Any]) -> dict[str, int]:
    """Run ``fn()`` and return its peak memory in bytes; meant for a fresh child process.

    - ``python``: the peak of Python's allocations (``tracemalloc``; numpy arrays included);
    - ``arrow``: the peak of Arrow's buffers: ohnb's pool (``ohnb.schema.ARROW_POOL``, the system
      allocator) plus Arrow's default pool. Pools only tell their peak since the process started,
      which is why this runs in a child that has not used them before;
    - ``rss``: the growth of resident memory, peak during ``fn()`` minus before it (Linux: the peak
      is reset through ``/proc/self/clear_refs``). It counts what allocators keep after a free, too.

    ``python + arrow`` bounds the true peak from above (the two peaks need not coincide).
    """
    import ohnb.schema

    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _status_kib("VmRSS")
    except OSError:
        before = None
    tracemalloc.start()
    fn()
    python = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # one pool per backend: with ARROW_DEFAULT_MEMORY_POOL=system both names are the same pool
    pools = {p.backend_name: p for p in (ohnb.schema.ARROW_POOL, pa.default_memory_pool())}
    arrow = sum(pool.max_memory() for pool in pools.values())
    rss = (_status_kib("VmHWM") - before) * 1024 if before is not None else -1
    return {"python": python, "arrow": arrow, "rss": rss}


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def in_child(script: str, *args: str) -> dict[str, int]:
    """Run ``python script --memory-child args...`` and return the JSON its last line prints."""
    out = subprocess.run(
        [sys.executable, script, "--memory-child", *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


async def compare(
    args: argparse.Namespace,
    bare_round: Callable[[], Awaitable[float]],
    ohnb_round: Callable[[], Awaitable[tuple[float, float]]],
    *,
    bare_name: str,
    what: str,
) -> None:
    """Run a warm-up, then ``args.rounds`` pairs of rounds; print each round and the medians.

    ``bare_round`` returns events/s; ``ohnb_round`` returns (events/s until recorded, events/s
    including one DataFrame build).
    """
    await bare_round()  # warm-up
    bare, mine, framed = [], [], []
    if args.gc_off:
        gc.disable()
    try:
        for _ in range(args.rounds):
            bare.append(await bare_round())
            recorded, with_frame = await ohnb_round()
            mine.append(recorded)
            framed.append(with_frame)
            gc.collect()
    finally:
        gc.enable()
    for i, (b, m, f) in enumerate(zip(bare, mine, framed, strict=True), 1):
        print(f"round {i}: bare {b:8.0f} ev/s   ohnb {m:8.0f} ev/s   ohnb+DataFrame {f:8.0f} ev/s")
    b, m, f = (statistics.median(x) for x in (bare, mine, framed))
    gc_note = (", cyclic GC off" if args.gc_off else "") + (", bare client on orjson" if args.bare_orjson else "")
    print(f"\n{what}, {args.rounds} rounds{gc_note}, medians:")
    print(f"  {bare_name + ':':34s}{b:8.0f} events/s")
    print(f"  {'ohnb Conversation (recorded):':34s}{m:8.0f} events/s   ratio {m / b:.2f}x (target >= 0.95x)")
    print(f"  {'ohnb + one conv.events DataFrame:':34s}{f:8.0f} events/s   ratio {f / b:.2f}x")


def print_memory(
    bare: dict[str, int], mine: dict[str, int], n: int, mean_json: float, target: str = "target <= 2x"
) -> None:
    """Print ohnb's peak memory per event (see :func:`measure`) against the events' mean JSON size."""
    per_event = (mine["python"] + mine["arrow"]) / n
    print(
        f"  peak memory per event (ohnb):      {per_event:8.0f} B vs {mean_json:.0f} B of JSON "
        f"= {per_event / mean_json:.2f}x ({target})"
    )
    print(f"    of which Python objects:         {mine['python'] / n:8.0f} B, Arrow buffers: {mine['arrow'] / n:.0f} B")
    if mine["rss"] >= 0:
        print(
            f"  resident memory growth per event:  {mine['rss'] / n:8.0f} B = {mine['rss'] / n / mean_json:.2f}x "
            f"(the process's peak RSS; a bare client's: {bare['rss'] / n:.0f} B)"
        )
    print(
        f"  a bare client's peak per event:    {(bare['python'] + bare['arrow']) / n:8.0f} B "
        f"(what the transport holds in flight)"
    )


def run(
    description: str,
    main_async: Callable[[argparse.Namespace], Awaitable[None]],
    bare_round: Callable[[str, int], Awaitable[float]],
    connect: Callable[[str], Any],
) -> None:
    """A recording benchmark's entry point: the benchmark, or (``--memory-child``) one measured round.

    ``connect(url)`` returns a started ``ohnb`` conversation; the measured ohnb round waits for its
    history, builds one ``conv.events`` frame (the peak: the log and a frame of it) and closes it.
    """
    parser = argparse.ArgumentParser(description=description)
    add_arguments(parser)
    args = parser.parse_args()
    if not args.memory_child:
        asyncio.run(main_async(args))
        return
    n = args.events

    async def ohnb_round() -> int:
        conv = connect(args.url)
        await conv.history_complete(timeout=120)
        frame = conv.events
        await conv.close()
        if len(frame) < n:
            raise AssertionError(f"ohnb recorded {len(frame)} events, expected {n}")
        # not the frame itself: the loop's teardown may show the task's result, and a frame's repr
        # takes rows from its multi-chunk Arrow columns, which makes Arrow concatenate them
        return len(frame)

    if args.memory_child == "bare":
        print(json.dumps(measure(lambda: asyncio.run(bare_round(args.url, n)))))
    else:
        print(json.dumps(measure(lambda: asyncio.run(ohnb_round()))))
