"""What the benchmarks share: alternate rounds of a bare client and ohnb, print medians; peak memory."""

from __future__ import annotations

import argparse
import gc
import statistics
import tracemalloc
from collections.abc import Awaitable, Callable

import pyarrow as pa


class PeakMemory:
    """Peak memory of a ``with`` block, in bytes: Python's allocations plus Arrow's buffers.

    ``tracemalloc`` sees Python objects and numpy arrays, not Arrow's memory pool, where ohnb keeps its
    settled event log and its frames' text. Both are measured for the block (Arrow's through a proxy
    pool set as the default for the block) and :attr:`total` adds the two peaks: an upper bound of the
    true peak, since they need not coincide.
    """

    python = 0
    arrow = 0

    def __enter__(self) -> PeakMemory:
        gc.collect()
        self._previous = pa.default_memory_pool()
        self._pool = pa.proxy_memory_pool(self._previous)
        pa.set_memory_pool(self._pool)
        tracemalloc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.python = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        self.arrow = self._pool.max_memory()
        pa.set_memory_pool(self._previous)

    @property
    def total(self) -> int:
        return self.python + self.arrow


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--events``, ``--rounds``, ``--bare-orjson`` and ``--gc-off``."""
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--bare-orjson",
        action="store_true",
        help="the bare client decodes with orjson, as ohnb does (default: the standard json module, "
        "what a client gets out of the box): separates ohnb's own per-event work from its choice "
        "of parser",
    )
    parser.add_argument(
        "--gc-off",
        action="store_true",
        help="switch Python's cyclic GC off during the rounds (both clients): shows how much of "
        "ohnb's cost is the collector scanning the payloads it keeps",
    )


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
    bare: PeakMemory, mine: PeakMemory, n: int, mean_json: float, target: str = "target <= 2x"
) -> None:
    """Print ohnb's peak memory per event against the events' mean JSON size, and the bare client's."""
    per_event = mine.total / n
    print(
        f"  peak memory per event (ohnb):      {per_event:8.0f} B vs {mean_json:.0f} B of JSON "
        f"= {per_event / mean_json:.2f}x ({target})"
    )
    print(
        f"    of which Python objects:         {mine.python / n:8.0f} B, Arrow buffers: {mine.arrow / n:.0f} B"
    )
    print(
        f"  a bare client's peak per event:    {bare.total / n:8.0f} B "
        f"(what the transport holds in flight; ohnb's peak beyond it: "
        f"{(mine.total - bare.total) / n / mean_json:.2f}x the JSON)"
    )
