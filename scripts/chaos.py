"""Chaos runs: record a conversation from the embedded server while a seeded random fault plan fires.

Each run starts the embedded server (thread mode, so it can be frozen) with the bundled 297-event V0
conversation (or, with ``--protocol v1``, the longest conversation of the V1 evaluation fixture),
applies ``random_plan(seed, ...)``: drops, transport kills, freezes (no heartbeats: detected by the
engine.io ping timeout, shortened here to 1 s + 1 s), restarts on the same port, HTTP 503 rejections,
slow replay, malformed and oversized payloads, at random points of the replay and of the live stream;
then waits until the live part is over and the client is connected again, and checks:

- **lost**: events the server sent (to any of the client's connections) and would send again in a
  replay, that the client does not hold (V1: every stored event). Events the V0 protocol can never
  resend, e.g. a RecallAction whose live copy died with a connection, are counted apart as
  ``unrecoverable``; environment events that V0 replays but never sends live reach only a client that
  replays past them, and are not counted;
- **duplicated**: event ids stored twice;
- **order**: the events each connection attempt delivered are in the order the server emitted them on
  one of its connections (the frame is in arrival order: an event whose first copy died in transit
  arrives later, from the next replay).

Run ``python scripts/chaos.py --runs 200`` (prints ``N runs, 0 lost, 0 duplicated``); the test suite
runs 20 seeds of each protocol (``tests/test_chaos.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import ohnb  # noqa: E402
from ohnb.servers import V0ReplayServer, random_plan  # noqa: E402

V1_EVAL = REPO.parent / "shared" / "fixtures" / "v1_eval_output_openagentsafety.jsonl"
POLICY = dict(base=0.05, cap=0.5, max_retries=None, connect_timeout=3.0)


@dataclass
class RunResult:
    """What one chaos run found."""

    seed: int
    protocol: str
    plan: str
    held: int
    lost: list = field(default_factory=list)
    duplicated: list = field(default_factory=list)
    out_of_order: bool = False
    unrecoverable: int = 0
    attempts: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.out_of_order or self.error)


def _longest_v1_record() -> int:
    lengths = [len(json.loads(line).get("history") or []) for line in V1_EVAL.open()]
    return max(range(len(lengths)), key=lengths.__getitem__)


async def _run_v0(seed: int, timeout: float) -> RunResult:
    server = V0ReplayServer(
        live_from=150, speed=400, max_gap=0.02, ping_interval=1, ping_timeout=1
    ).start_in_thread()
    plan = random_plan(seed, server.clean_run_events)
    result = RunResult(seed, "v0", str(plan), 0)
    conv = None
    try:
        server.apply(plan)
        conv = ohnb.connect(server.url, server.conversation_id, protocol="v0",
                            retry=ohnb.RetryPolicy(seed=seed, **POLICY))
        await asyncio.to_thread(server.wait_live_done_threadsafe, timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (server.plan_pending or conv.connection_state != "OPEN"):
            await asyncio.sleep(0.05)
        # every replayable event the server ever sent must be held (an environment event that the
        # server replays but never sends live only reaches a client that replays past it)
        want = server.replayable_ids & server.emitted_ids
        await conv.wait_until(lambda c: want <= _held_ints(c), timeout=max(1.0, deadline - time.monotonic()))
    except (TimeoutError, asyncio.TimeoutError, ohnb.OhnbError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        if conv is not None:
            await conv.close()
        server.stop_thread()
    rows = [r for r in conv.log.rows if isinstance(r.get("id"), int)] if conv else []
    ids = [r["id"] for r in rows]
    held = set(ids)
    result.held = len(ids)
    result.duplicated = sorted({i for i in ids if ids.count(i) > 1})
    result.lost = sorted((server.replayable_ids & server.emitted_ids) - held)
    result.unrecoverable = len((server.emitted_ids - server.replayable_ids) - held)
    result.out_of_order = not _in_connection_order(rows, _emitted_by_connection(server))
    result.attempts = len(conv.attempts_log) if conv else 0
    return result


async def _run_v1(seed: int, timeout: float) -> RunResult:
    from ohnb.servers.v1 import V1ReplayServer

    server = V1ReplayServer(V1_EVAL, record=_longest_v1_record(), live_from=100, speed=3000,
                            max_gap=0.02, heartbeat=1.0, pause_on_shutdown=False).start_in_thread()
    n_events = len(server.stored_events) + 1
    plan = random_plan(seed, n_events, kinds=("drop", "kill", "freeze", "restart", "reject", "slow", "malformed"))
    result = RunResult(seed, "v1", str(plan), 0)
    conv = None
    try:
        server.apply(plan)
        conv = ohnb.connect(server.url, server.conversation_id, protocol="v1",
                            retry=ohnb.RetryPolicy(seed=seed, **POLICY))
        conv.transport.heartbeat = 1.0  # notice a frozen server within ~1.5 s
        await asyncio.to_thread(server.wait_live_done_threadsafe, timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (getattr(server, "plan_pending", 0) or conv.connection_state != "OPEN"):
            await asyncio.sleep(0.05)
        want = {e["id"] for e in server.stored_events}
        await conv.wait_until(lambda c: want <= _held_strs(c), timeout=max(1.0, deadline - time.monotonic()))
    except (TimeoutError, asyncio.TimeoutError, ohnb.OhnbError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        if conv is not None:
            await conv.close()
        server.stop_thread()
    ids = [r["event_id"] for r in conv.log.rows if r.get("event_id")] if conv else []
    stored = {e["id"] for e in server.stored_events}
    result.held = len(ids)
    result.duplicated = sorted({i for i in ids if ids.count(i) > 1})
    result.lost = sorted(stored - set(ids))
    result.attempts = len(conv.attempts_log) if conv else 0
    return result


def _held_ints(conv) -> set[int]:
    return {r["id"] for r in conv.log.rows if isinstance(r.get("id"), int)}


def _held_strs(conv) -> set[str]:
    return {r["event_id"] for r in conv.log.rows if r.get("event_id")}


def _emitted_by_connection(server) -> list[list[int]]:
    """The integer ids the server emitted on each of its connections, in emission order."""
    by_sid: dict[str, list[int]] = {}
    for sid, event in list(server.emitted):
        eid = event.get("id") if isinstance(event, dict) else None
        if isinstance(eid, int) and not isinstance(eid, bool):
            by_sid.setdefault(sid, []).append(eid)
    return list(by_sid.values())


def _is_subsequence(small: list[int], big: list[int]) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


def _in_connection_order(rows: list[dict], connections: list[list[int]]) -> bool:
    """Whether the ids each attempt stored came in the order of one server connection's emissions."""
    by_attempt: dict[int, list[int]] = {}
    for row in rows:
        by_attempt.setdefault(row["attempt"], []).append(row["id"])
    return all(any(_is_subsequence(ids, sent) for sent in connections) for ids in by_attempt.values())


def run_one(seed: int, protocol: str = "v0", timeout: float = 60.0) -> RunResult:
    """One chaos run (blocking); see the module docstring for what it checks."""
    started = time.monotonic()
    runner = _run_v0 if protocol == "v0" else _run_v1
    result = asyncio.run(runner(seed, timeout))
    result.seconds = time.monotonic() - started
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description="Chaos runs against the embedded server.")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--protocol", choices=("v0", "v1"), default="v0")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per run")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every run")
    args = parser.parse_args()
    lost = duplicated = failed = unrecoverable = 0
    for seed in range(args.first_seed, args.first_seed + args.runs):
        result = run_one(seed, args.protocol, args.timeout)
        lost += len(result.lost)
        duplicated += len(result.duplicated)
        unrecoverable += result.unrecoverable
        failed += not result.ok
        if args.verbose or not result.ok:
            print(
                f"seed {seed}: {'ok' if result.ok else 'FAILED'} held={result.held} "
                f"attempts={result.attempts} lost={result.lost[:10]} duplicated={result.duplicated[:10]} "
                f"out_of_order={result.out_of_order} error={result.error} {result.seconds:.1f}s plan={result.plan}",
                flush=True,
            )
    print(f"{args.runs} runs, {lost} lost, {duplicated} duplicated"
          f" ({failed} failed runs; {unrecoverable} events the protocol could not resend)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
