"""Resume points: nothing is lost when live events arrive out of id order, as the real server does."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

import socketio
from aiohttp import web

import ohnb
from ohnb.log import EventLog
from ohnb.normalize import normalize_v0
from ohnb.transports import V0Transport

STORE = [
    {"id": i, "timestamp": f"2026-01-01T00:00:0{i}", "source": "agent", "message": f"m{i}",
     "action": "message", "args": {"content": f"m{i}"}}
    for i in range(8)
]


def log_with(ids, settle_rows: int = EventLog.settle_rows) -> EventLog:
    log = EventLog()
    log.settle_rows = settle_rows
    for i in ids:
        log.append(normalize_v0({"id": i, "action": "message", "args": {}}))
    return log


def test_resume_point_is_below_the_first_gap_near_the_top():
    assert V0Transport.resume_point(EventLog()) is None
    assert V0Transport.resume_point(log_with(range(10))) == 9
    assert V0Transport.resume_point(log_with([0, 1, 2, 3, 4, 5, 7])) == 5
    # a gap far below the top (a hidden event long ago) does not pull the resume point down
    far = list(range(0, 3)) + list(range(4, 200))
    assert V0Transport.resume_point(log_with(far)) == 199


def test_resume_point_reads_ids_that_settled_into_arrow():
    # the ids near the top sit in record batches and in the unsettled tail alike
    assert V0Transport.resume_point(log_with([*range(0, 150), *range(151, 200)], settle_rows=16)) == 149
    assert V0Transport.resume_point(log_with(range(300), settle_rows=16)) == 299


async def test_an_event_in_flight_below_the_highest_id_is_not_lost():
    """Replay 0..4, then live 5 and 7 (6 stored, its emit still in flight), then a disconnect."""
    sio = socketio.AsyncServer(async_mode="aiohttp")
    app = web.Application()
    sio.attach(app)
    asked: list[int] = []

    @sio.event
    async def connect(sid, environ, auth=None):
        latest = int(parse_qs(environ["QUERY_STRING"])["latest_event_id"][0])
        asked.append(latest)
        first = len(asked) == 1
        for event in STORE:
            if event["id"] > latest and (not first or event["id"] <= 4):
                await sio.emit("oh_event", event, to=sid)
        if first:
            async def live():
                await asyncio.sleep(0.2)
                for i in (5, 7):
                    await sio.emit("oh_event", STORE[i], to=sid)
                await asyncio.sleep(0.1)
                await sio.disconnect(sid)

            asyncio.get_running_loop().create_task(live())

    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        conv = ohnb.connect(f"http://127.0.0.1:{port}", "c1", retry=ohnb.RetryPolicy(base=0.05, cap=0.1))
        await conv.wait_until(lambda c: len(c.log) == 8, timeout=10)
        await conv.close()
    finally:
        await runner.cleanup()
    assert asked == [-1, 5]
    assert sorted(conv.events["id"]) == list(range(8))
    assert conv.attempts.loc[1, "duplicates"] == 1  # 7 came again and was dropped
