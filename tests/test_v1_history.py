"""V1 history completeness: live frames that overtake the resend must not stand in for history.

A fake agent server that behaves as the real 1.58.2 one was seen to: after a reconnect with
``resend_mode=since``, live frames of newly persisted events reach the socket before the resent history,
and the connection drops while the resend is still under way. (Found against the real server by the
opt-in integration tests; an earlier count check counted the live frames and skipped history.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from aiohttp import web

import ohnb

T0 = dt.datetime(2026, 11, 21, 12, 0, 0)


async def test_live_frames_before_the_resend_do_not_complete_the_history():
    cid = str(uuid.uuid4())
    store: list[dict] = []
    connects = 0
    counted = asyncio.Event()

    def stamp(n: int) -> str:
        return (T0 + dt.timedelta(seconds=n)).isoformat()

    def add(label: str) -> dict:
        event = {"id": str(uuid.uuid4()), "timestamp": stamp(len(store)), "source": "environment",
                 "kind": "ConversationStateUpdateEvent", "key": "label", "value": label}
        store.append(event)
        return event

    def select(query) -> list[dict]:
        gte, lt = query.get("timestamp__gte"), query.get("timestamp__lt")
        return [e for e in store if (gte is None or e["timestamp"] >= gte) and (lt is None or e["timestamp"] < lt)]

    async def health(request):
        return web.json_response({"status": "ok"})

    async def count(request):
        counted.set()
        return web.json_response(len(select(request.query)))

    async def search(request):
        return web.json_response({"items": select(request.query), "next_page_id": None})

    async def sock(request):
        nonlocal connects
        connects += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        after = request.query.get("after_timestamp") if request.query.get("resend_mode") == "since" else None
        history = [e for e in store if after is None or e["timestamp"] >= after]
        await ws.send_json({"id": str(uuid.uuid4()), "timestamp": stamp(len(store)), "source": "environment",
                            "kind": "ConversationStateUpdateEvent", "key": "full_state",
                            "value": {"execution_status": "running"}})
        if connects == 1:  # e0..e4, then e5..e9 are persisted while the connection is down
            for event in history:
                await ws.send_json(event)
            await asyncio.sleep(0.5)
            for i in range(5, 10):
                add(f"e{i}")
            await ws.close(code=1001)
        elif connects == 2:  # live events first, then a slow resend cut short
            counted.clear()
            await asyncio.wait_for(counted.wait(), 5)
            for i in range(len(history)):
                await ws.send_json(add(f"live{i}"))
            await asyncio.sleep(0.2)
            for event in history[:2]:
                await ws.send_json(event)
                await asyncio.sleep(0.1)
            await ws.close(code=1001)
        else:
            for event in history:
                await ws.send_json(event)
            await asyncio.sleep(3)
        return ws

    for i in range(5):
        add(f"e{i}")
    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get(f"/api/conversations/{cid}/events/count", count)
    app.router.add_get(f"/api/conversations/{cid}/events/search", search)
    app.router.add_get(f"/sockets/events/{cid}", sock)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        conv = ohnb.connect(f"http://127.0.0.1:{port}", cid, retry=ohnb.RetryPolicy(base=0.05, cap=0.1, seed=1))
        await conv.wait_until(lambda c: len(c.attempts_log) >= 3 and c.connection_state == "OPEN", 20)
        await conv.wait_until(lambda c: {e["id"] for e in store} <= {r["event_id"] for r in c.log.rows}, 10)
        await conv.close()
    finally:
        await runner.cleanup()
    held = [r["event_id"] for r in conv.log.rows if r.get("event_id")]
    assert len(held) == len(set(held))
    attempts = conv.attempts
    # attempt 2 never got its history: it must not have opened, nor moved the resume point
    assert attempts.loc[1, "outcome"] == "transport_error"
    assert attempts.loc[2, "resumed_after"] == attempts.loc[1, "resumed_after"]


def test_the_history_tally_counts_each_stored_event_older_than_the_snapshot_once():
    from ohnb.transports.v1_websocket import _HistoryTally

    tally = _HistoryTally()
    ev = lambda i, t: {"id": f"e{i}", "timestamp": t, "kind": "MessageEvent"}  # noqa: E731
    tally.note(ev(9, "2026-01-01T00:00:09"))  # a live frame that overtook the snapshot
    tally.note(ev(1, "2026-01-01T00:00:01"))
    assert (tally.snapshot, tally.history, tally.newest) == (None, 0, "2026-01-01T00:00:09")
    tally.note({"id": "s", "timestamp": "2026-01-01T00:00:05", "kind": "ConversationStateUpdateEvent", "key": "full_state"})
    assert (tally.history, tally.newest) == (1, "2026-01-01T00:00:01")  # e9 is newer: live, not history
    tally.note(ev(2, "2026-01-01T00:00:02"))
    tally.note(ev(2, "2026-01-01T00:00:02"))  # the same id again: counted once
    tally.note(ev(8, "2026-01-01T00:00:08"))  # live after the snapshot
    tally.note({"id": "s2", "timestamp": "2026-01-01T00:00:03", "key": "full_state"})  # a later snapshot: ignored
    tally.note(["not", "an", "event"])
    assert (tally.snapshot, tally.history, tally.newest) == ("2026-01-01T00:00:05", 2, "2026-01-01T00:00:02")
