"""The embedded OpenHands V1 agent server (ohnb.servers.v1.V1ReplayServer) against a bare aiohttp
client, and against the captures of a real openhands-agent-server 1.58.2
(shared/fixtures/captures/v1_real_server_*)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import WSMsgType

from ohnb.servers.v1 import V1ReplayServer
from ohnb.servers.v1_events import load_v1_conversation, oversized_event

CAPTURED_ID = "1d98cb85-c9d9-4eda-be05-e0815bf6bf59"
KEY = "testkey123"


# ----------------------------------------------------------------------------------------------
# helpers


def captures(fixtures_dir: Path, name: str) -> Path:
    return fixtures_dir / "captures" / name


@pytest.fixture(scope="module")
def rest_capture(fixtures_dir: Path) -> dict[str, Any]:
    return json.loads(captures(fixtures_dir, "v1_real_server_rest.json").read_text())


@pytest.fixture(scope="module")
def captured_events(rest_capture: dict[str, Any]) -> list[dict[str, Any]]:
    """The 6 events the real server stored (its REST search page)."""
    return rest_capture["search_default"]["body"]["items"]


def make_events(n: int, *, step: float = 1.0, start: datetime | None = None) -> list[dict[str, Any]]:
    """n synthetic V1 events (message, then action/observation pairs), ``step`` s apart."""
    t0 = start or datetime(2026, 1, 1, 12, 0, 0)
    out: list[dict[str, Any]] = []
    for i in range(n):
        ts = (t0 + timedelta(seconds=i * step)).isoformat()
        eid = str(uuid.uuid4())
        if i == 0:
            out.append(
                {
                    "id": eid,
                    "timestamp": ts,
                    "source": "user",
                    "llm_message": {"role": "user", "content": [{"type": "text", "text": "go"}]},
                    "kind": "MessageEvent",
                }
            )
        elif i % 2:
            out.append(
                {
                    "id": eid,
                    "timestamp": ts,
                    "source": "agent",
                    "action": {"command": f"echo {i}", "kind": "TerminalAction"},
                    "tool_name": "terminal",
                    "tool_call_id": f"call_{i}",
                    "kind": "ActionEvent",
                }
            )
        else:
            out.append(
                {
                    "id": eid,
                    "timestamp": ts,
                    "source": "environment",
                    "observation": {"content": [{"type": "text", "text": str(i)}], "kind": "TerminalObservation"},
                    "action_id": out[-1]["id"],
                    "kind": "ObservationEvent",
                }
            )
    return out


async def drain(
    ws: aiohttp.ClientWebSocketResponse,
    quiet: float = 0.25,
    limit: float = 10.0,
    until: Callable[[list[Any]], bool] | None = None,
):
    """Frames until ``quiet`` s of silence, the end, or ``until(frames)`` holds; returns (frames, end
    message or None)."""
    frames: list[Any] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            msg = await ws.receive(timeout=quiet)
        except asyncio.TimeoutError:
            return frames, None
        if msg.type == WSMsgType.TEXT:
            try:
                frames.append(json.loads(msg.data))
            except ValueError:
                frames.append(msg.data)  # not JSON: the text as it came
        elif msg.type == WSMsgType.BINARY:
            frames.append(msg.data)
        else:
            return frames, msg
        if until is not None and until(frames):
            return frames, None
    return frames, None


async def read_until(ws, pred, limit: float = 5.0) -> list[Any]:
    """Frames up to and including the first one for which ``pred`` is true."""
    frames: list[Any] = []
    deadline = time.monotonic() + limit
    while True:
        msg = await ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        assert msg.type == WSMsgType.TEXT, msg
        frame = json.loads(msg.data)
        frames.append(frame)
        if pred(frame):
            return frames


def summary(frame: dict[str, Any]) -> tuple[Any, ...]:
    """The columns of the captures' ``frames_summary`` rows (minus the receive time)."""
    key = frame.get("key")
    value = None
    if key is not None and key != "full_state":
        value = json.dumps(frame.get("value"))[:80]
    return (frame.get("kind"), frame.get("id"), frame.get("timestamp"), frame.get("source"), key, value)


def is_snapshot(frame: Any) -> bool:
    return isinstance(frame, dict) and frame.get("key") == "full_state"


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


def api(srv: V1ReplayServer, tail: str = "") -> str:
    return f"{srv.url}/api/conversations/{srv.conversation_id}{tail}"


# ----------------------------------------------------------------------------------------------
# resend modes and auth, against reconnect.jsonl


def _reconnect_rows(fixtures_dir: Path) -> dict[str, dict[str, Any]]:
    path = captures(fixtures_dir, "v1_real_server_reconnect.jsonl")
    return {row["label"]: row for row in map(json.loads, path.read_text().splitlines())}


async def test_reconnect_capture_replayed(fixtures_dir, captured_events, session):
    """Every case of reconnect.jsonl (resend modes, auth, ids) gives what the real server gave:
    same handshake status / close code and reason, same frames after the fresh snapshot."""
    rows = _reconnect_rows(fixtures_dir)
    utc_server = datetime.now().astimezone().utcoffset() == timedelta(0)
    srv = V1ReplayServer(captured_events, conversation_id=CAPTURED_ID, session_api_key=KEY, auth_timeout=0.5)
    first_frame = {
        "auth_wrong_first_frame": {"type": "auth", "session_api_key": "WRONG"},
        "unknown_conversation_wrong_key": {"type": "auth", "session_api_key": "WRONG"},
        "auth_nonjson_first_frame": "this is not json",
        "auth_none_sent_wait": None,
        "auth_query_param_correct": None,
        "auth_query_param_wrong": None,
        "auth_header_correct": None,
        "auth_header_wrong": None,
    }
    headers = {"auth_header_correct": {"X-Session-API-Key": KEY}, "auth_header_wrong": {"X-Session-API-Key": "WRONG"}}
    async with srv:
        checked = 0
        for label, row in rows.items():
            if ("offset" in label or "Zsuffix" in label) and not utc_server:
                continue  # the capture's server ran in UTC; aware times convert to local time
            url = urlsplit(row["url"])
            target = f"{srv.url.replace('http', 'ws')}{url.path}" + (f"?{url.query}" if url.query else "")
            try:
                ws = await session.ws_connect(target, headers=headers.get(label))
            except aiohttp.WSServerHandshakeError as exc:
                assert row["handshake_status"] == exc.status, label
                checked += 1
                continue
            assert row["handshake_status"] is None, label
            t0 = time.monotonic()
            frame = first_frame.get(label, {"type": "auth", "session_api_key": KEY})
            if isinstance(frame, dict):
                await ws.send_json(frame)
            elif isinstance(frame, str):
                await ws.send_str(frame)
            frames, end = await drain(ws, quiet=0.15 if label != "auth_none_sent_wait" else 2.0)
            if row["close_code"] in (4001, 4004):
                assert end is not None and end.type == WSMsgType.CLOSE, label
                assert (end.data, end.extra) == (row["close_code"], row["close_reason"]), label
                assert frames == [], label
                if label == "auth_none_sent_wait":
                    assert 0.4 < time.monotonic() - t0 < 1.5  # auth_timeout (real: 10 s)
            else:
                assert end is None, label
                assert len(frames) == row["n_frames"], label
                assert is_snapshot(frames[0]) and is_snapshot_shape(frames[0])
                expected = [tuple(r[1:]) for r in row["frames_summary"][1:]]
                assert [summary(f) for f in frames[1:]] == expected, label
            await ws.close()
            checked += 1
        assert checked >= 20 if utc_server else checked >= 18


def is_snapshot_shape(frame: dict[str, Any]) -> bool:
    """A fresh snapshot: new id, current time, keys in the real order, the server's state."""
    assert list(frame) == ["id", "timestamp", "source", "key", "value", "kind"]
    assert frame["source"] == "environment" and frame["kind"] == "ConversationStateUpdateEvent"
    ts = datetime.fromisoformat(frame["timestamp"])
    assert abs((datetime.now() - ts).total_seconds()) < 5
    assert frame["value"]["id"] == CAPTURED_ID or uuid.UUID(frame["value"]["id"])
    return True


async def test_snapshot_state_from_data(captured_events, session):
    srv = V1ReplayServer(captured_events, conversation_id=CAPTURED_ID)
    async with srv:
        ws = await session.ws_connect(srv.ws_url)
        frames, _ = await drain(ws)
        assert len(frames) == 1
        value = frames[0]["value"]
        # the real snapshot of this conversation (shutdown_client_view.json): error, these ids
        assert value["execution_status"] == "error"
        assert value["last_user_message_id"] == "983eb287-50f1-4f44-be28-5152b46ddc70"
        assert value["leaf_event_id"] == "4f5c8e7e-0942-4360-abf9-51537a6870cc"
        assert frames[0]["id"] not in {e["id"] for e in captured_events}
        assert srv.execution_status == "error"
        r = await session.get(api(srv))
        info = await r.json()
        assert info["execution_status"] == "error" and info["id"] == CAPTURED_ID
        assert info["runtime_info"] == {"runtime_status": "available", "can_resume": True, "runtime_error": None}


# ----------------------------------------------------------------------------------------------
# REST, against rest.json


async def test_rest_capture_replayed(rest_capture, captured_events, session):
    """The captured REST calls return the captured status and body (search pages, filters,
    count, 422s, 401, 404)."""
    srv = V1ReplayServer(captured_events, conversation_id=CAPTURED_ID, session_api_key=KEY)
    skip = {"batch_get", "conversation_info", "conversations_search", "conversations_count"}
    async with srv:
        for label, call in rest_capture.items():
            if label in skip:
                continue
            params = call["params"]
            headers = {} if label == "no_auth_search" else {"X-Session-API-Key": KEY}
            r = await session.get(srv.url + call["path"], params=params, headers=headers)
            assert r.status == call["status"], label
            body = await r.json()
            if label == "get_one_event":  # get-one is dumped without exclude_none upstream
                body["classification"]["error_id"] = None
            assert body == call["body"], label
        r = await session.get(api(srv, "/events/search"), params={"limit": 2}, headers={"X-Session-API-Key": KEY})
        assert list(await r.json()) == ["items", "next_page_id"]


async def test_rest_paging_and_filters(session):
    events = make_events(250, step=0.5)
    srv = V1ReplayServer(events)
    async with srv:
        seen: list[str] = []
        page_id = None
        pages = 0
        while True:
            params = {"page_id": page_id} if page_id else {}
            r = await session.get(api(srv, "/events/search"), params=params)
            body = await r.json()
            pages += 1
            assert len(body["items"]) <= 100
            seen += [e["id"] for e in body["items"]]
            page_id = body["next_page_id"]
            if page_id is None:
                break
            assert page_id == events[len(seen)]["id"]  # inclusive: the next page's first item
        assert pages == 3 and seen == [e["id"] for e in events]
        r = await session.get(api(srv, "/events/count"))
        assert await r.json() == 250
        r = await session.get(api(srv, "/events/count"), params={"kind": "ActionEvent"})
        assert await r.json() == 125
        fq = "openhands.sdk.event.llm_convertible.action.ActionEvent"
        r = await session.get(api(srv, "/events/count"), params={"kind": fq, "source": "agent"})
        assert await r.json() == 125
        r = await session.get(api(srv, "/events/count"), params={"timestamp__gte": events[200]["timestamp"]})
        assert await r.json() == 50
        r = await session.get(api(srv, "/events/search"), params={"sort_order": "TIMESTAMP_DESC", "limit": 3})
        body = await r.json()
        assert [e["id"] for e in body["items"]] == [e["id"] for e in events[-1:-4:-1]]
        assert body["next_page_id"] == events[-4]["id"]
        r = await session.get(api(srv, "/events/search"), params={"limit": "x"})
        assert r.status == 422 and (await r.json())["detail"][0]["type"] == "int_parsing"
        r = await session.get(api(srv, "/events/" + events[7]["id"]))
        assert (await r.json())["id"] == events[7]["id"]
        r = await session.get(f"{srv.url}/api/conversations/not-a-uuid/events/search")
        assert r.status == 422
        r = await session.get(f"{srv.url}/health")
        assert await r.json() == {"status": "ok"}


# ----------------------------------------------------------------------------------------------
# limits, close codes, shutdown


async def test_subscriber_limit_1013(captured_events, session):
    srv = V1ReplayServer(captured_events, max_subscribers=49)
    async with srv:
        sockets = []
        for _ in range(49):
            ws = await session.ws_connect(srv.ws_url)
            assert is_snapshot((await ws.receive(timeout=2)).json())
            sockets.append(ws)
        assert srv.subscribers == 49
        extra = await session.ws_connect(srv.ws_url)
        frames, end = await drain(extra)
        assert frames == [] and (end.type, end.data, end.extra) == (
            WSMsgType.CLOSE,
            1013,
            "Too many connections for this conversation",
        )
        await sockets[0].close()
        await asyncio.sleep(0.05)
        again = await session.ws_connect(srv.ws_url)
        frames, end = await drain(again, quiet=0.1)
        assert end is None and is_snapshot(frames[0])
        for ws in sockets[1:] + [again]:
            await ws.close()
        assert srv.close_codes[-1][1:] == (1013, "Too many connections for this conversation")


async def test_stop_1012_abrupt_1006_restart_keeps_port_and_store(captured_events, session):
    srv = V1ReplayServer(captured_events)
    async with srv:
        port = srv.port
        ws = await session.ws_connect(srv.ws_url + "?resend_mode=all")
        frames, _ = await drain(ws)
        assert len(frames) == 7
        await srv.restart(0.1, abrupt=False)  # SIGTERM-like
        msg = await ws.receive(timeout=2)
        assert (msg.type, msg.data, msg.extra) == (WSMsgType.CLOSE, 1012, "")
        assert srv.port == port
        ws = await session.ws_connect(srv.ws_url + "?resend_mode=all")
        frames2, _ = await drain(ws)
        assert [f["id"] for f in frames2[1:]] == [f["id"] for f in frames[1:]]
        t0 = time.monotonic()
        await srv.restart(0.2)  # SIGKILL-like (default abrupt)
        msg = await ws.receive(timeout=2)
        assert msg.type == WSMsgType.CLOSED and ws.close_code == 1006
        assert time.monotonic() - t0 >= 0.2 and srv.port == port
        r = await session.get(api(srv, "/events/count"))
        assert await r.json() == 6


# ----------------------------------------------------------------------------------------------
# live playback


async def test_live_pacing_and_gap_cap(session):
    events = make_events(8, step=1.0)
    events[7]["timestamp"] = (datetime.fromisoformat(events[6]["timestamp"]) + timedelta(hours=5)).isoformat()
    srv = V1ReplayServer(events, live_from=3, speed=10, max_gap=0.3)
    async with srv:
        assert srv.pending_live == 5
        ws = await session.ws_connect(srv.ws_url + "?resend_mode=all")
        arrivals: list[tuple[float, dict[str, Any]]] = []
        t0 = time.monotonic()
        while len(arrivals) < 4 + 5 + 1:  # snapshot + 3 history + 5 live + run-end snapshot
            msg = await ws.receive(timeout=3)
            arrivals.append((time.monotonic() - t0, json.loads(msg.data)))
        assert await srv.wait_live_done(2)
        live = [(t, f) for t, f in arrivals[4:] if not is_snapshot(f)]
        assert [f["id"] for _, f in live] == [e["id"] for e in events[3:]]
        gaps = [b[0] - a[0] for a, b in zip(live, live[1:], strict=False)]
        assert all(0.05 < g < 0.3 for g in gaps[:3]), gaps  # 1 s / speed 10
        assert 0.2 < gaps[3] < 0.6, gaps  # 5 h capped by max_gap
        assert is_snapshot(arrivals[-1][1])  # the run task's closing full_state, unstored
        # stored as they happened, retimed (monotonic), and resent to later sockets
        stored = srv.stored_events
        assert [e["id"] for e in stored] == [e["id"] for e in events]
        stamps = [e["timestamp"] for e in stored]
        assert stamps == sorted(stamps) and stamps[-1] > events[-1]["timestamp"][:4]
        r = await session.get(api(srv, "/events/count"))
        assert await r.json() == 8


async def test_duplicate_ids_during_resend(session):
    """A live run during a long resend: live events arrive at once AND again from a later page
    (resend_during_run_trial0_frames.json); duplicate_live=False removes the repeats."""
    for duplicate in (True, False):
        events = make_events(170, step=0.01)
        srv = V1ReplayServer(events, live_from=150, speed=float("inf"), duplicate_live=duplicate)
        srv.slow_replay(0.002)
        async with srv:
            ws = await session.ws_connect(srv.ws_url + "?resend_mode=all")
            wanted = {e["id"] for e in events}
            expected = len(events) + (len(events) - 150 if duplicate else 0)  # + the live repeats

            def complete(got: list[Any], wanted: set = wanted, expected: int = expected) -> bool:
                ids = [f.get("id") for f in got if isinstance(f, dict) and not is_snapshot(f)]
                return wanted <= set(ids) and len(ids) >= expected

            # Wait for what must come however the machine stalls, then for anything more.
            frames, _ = await drain(ws, quiet=5.0, limit=30.0, until=complete)
            frames += (await drain(ws, quiet=0.5))[0]
            ids = [f["id"] for f in frames if not is_snapshot(f)]
            live_ids = {e["id"] for e in events[150:]}
            assert set(ids) == {e["id"] for e in events}
            if duplicate:
                repeated = [i for i in set(ids) if ids.count(i) > 1]
                assert set(repeated) == live_ids
                first_copies = {ids.index(i) for i in live_ids}
                assert min(first_copies) < 100  # live, in the middle of the first page
                resent = [i for n, i in enumerate(ids) if n not in first_copies]
                assert resent == [e["id"] for e in events]  # the resend reaches them later
            else:
                assert len(ids) == len(set(ids)) == 170


async def test_trial0_capture_shape(fixtures_dir):
    """The capture this imitates: one id twice, the first copy live inside the resend."""
    frames = json.loads(captures(fixtures_dir, "v1_real_server_resend_during_run_trial0_frames.json").read_text())
    ids = [f["data"]["id"] for f in frames]
    dups = [i for i in set(ids) if ids.count(i) > 1]
    assert len(dups) == 1
    first, second = [n for n, i in enumerate(ids) if i == dups[0]]
    assert is_snapshot(frames[0]["data"]) and first == 101 and second > first


# ----------------------------------------------------------------------------------------------
# messages, pause and run


async def test_messages_ws_and_rest(captured_events, session):
    srv = V1ReplayServer(captured_events, conversation_id=CAPTURED_ID)
    async with srv:
        ws = await session.ws_connect(srv.ws_url)
        await drain(ws)
        await ws.send_json({"role": "user", "content": [{"type": "text", "text": "hello over ws"}]})
        frames = await read_until(ws, is_snapshot)
        kinds = [(f["kind"], f.get("key"), f.get("value") if f.get("key") != "full_state" else None) for f in frames]
        msg = frames[0]
        assert kinds[0][0] == "MessageEvent" and msg["source"] == "user"
        assert msg["llm_message"] == {
            "role": "user",
            "content": [{"cache_prompt": False, "type": "text", "text": "hello over ws"}],
            "thinking_blocks": [],
        }
        assert list(msg) == ["id", "timestamp", "source", "parent_id", "llm_message", "activated_skills", "extended_content", "kind"]
        assert msg["parent_id"] == "4f5c8e7e-0942-4360-abf9-51537a6870cc"  # the leaf
        assert kinds[1:] == [
            ("ConversationStateUpdateEvent", "last_user_message_id", msg["id"]),
            ("ConversationStateUpdateEvent", "execution_status", "running"),
            ("ConversationStateUpdateEvent", "execution_status", "finished"),  # no agent, nothing to do
            ("ConversationStateUpdateEvent", "full_state", None),
        ]
        assert frames[1]["parent_id"] == msg["id"]
        # REST, run false: message and last_user_message_id only; a finished conversation goes idle first
        r = await session.post(api(srv, "/events"), json={"content": [{"type": "text", "text": "via rest"}]})
        assert r.status == 200 and await r.json() == {"success": True}
        frames, _ = await drain(ws)
        assert [(f["kind"], f.get("value") if f.get("key") else None) for f in frames] == [
            ("ConversationStateUpdateEvent", "idle"),
            ("MessageEvent", None),
            ("ConversationStateUpdateEvent", frames[1]["id"]),
        ]
        r = await session.get(api(srv, "/events/search"), params={"source": "user", "body": "VIA REST"})
        assert [e["id"] for e in (await r.json())["items"]] == [frames[1]["id"]]
        r = await session.get(api(srv, "/events/count"))
        assert await r.json() == 6 + 4 + 3  # the closing full_state is not stored
        r = await session.post(api(srv, "/events"), json={"role": "assistant", "content": []})
        assert r.status == 500 and (await r.json())["exception"].startswith("Only user messages")
        r = await session.post(api(srv, "/events"), json={"role": "bogus", "content": "x"})
        assert r.status == 422 and [d["loc"] for d in (await r.json())["detail"]] == [["body", "role"], ["body", "content"]]
        r = await session.post(f"{srv.url}/api/conversations/{uuid.uuid4()}/events", json={"content": []})
        assert r.status == 404 and (await r.json())["detail"].startswith("Conversation not found: ")


async def test_bad_client_frames(fixtures_dir, captured_events, session):
    """Bad frames get one ServerErrorEvent each and the socket stays open; the captured
    ValidationError text is reproduced exactly."""
    captured = [
        json.loads(line)
        for line in captures(fixtures_dir, "v1_real_server_live_capture_run2.jsonl").read_text().splitlines()
    ]
    real = next(r["data"] for r in captured if r.get("data", {}).get("kind") == "ServerErrorEvent")
    srv = V1ReplayServer(captured_events, session_api_key=KEY)
    async with srv:
        ws = await session.ws_connect(srv.ws_url)
        await ws.send_json({"type": "auth", "session_api_key": KEY})
        await drain(ws, quiet=0.1)
        await ws.send_json({"role": "bogus", "content": 5})
        await ws.send_json({"kind": "MessageEvent", "text": "x"})
        await ws.send_json({"role": "assistant", "content": [{"type": "text", "text": "x"}]})
        await ws.send_json({"type": "auth", "session_api_key": "ignored"})
        await ws.send_str("not json")
        await ws.send_bytes(b"\x00binary")
        frames, end = await drain(ws)
        assert end is None and all(f["kind"] == "ServerErrorEvent" for f in frames)
        assert [f["code"] for f in frames] == ["ValidationError", "ValidationError", "AssertionError", "JSONDecodeError", "KeyError"]
        assert frames[0]["detail"] == real["detail"]
        assert list(frames[0]) == list(real)
        assert frames[3]["detail"] == "Expecting value: line 1 column 1 (char 0)"
        assert frames[4]["detail"] == "'text'"
        assert len(srv.stored_events) == 6


async def test_pause_and_run(session):
    events = make_events(30, step=1.0)
    srv = V1ReplayServer(events, live_from=2, speed=10)
    async with srv:
        ws = await session.ws_connect(srv.ws_url)
        await read_until(ws, lambda f: f.get("kind") == "ObservationEvent")  # live has begun
        r = await session.post(api(srv, "/pause"))
        assert await r.json() == {"success": True}
        frames = await read_until(ws, lambda f: f["kind"] == "PauseEvent")
        assert [(f["kind"], f.get("value")) for f in frames[-2:]] == [
            ("ConversationStateUpdateEvent", "paused"),
            ("PauseEvent", None),
        ]
        assert frames[-1]["source"] == "user"
        left = srv.pending_live
        frames, _ = await drain(ws, quiet=0.4)
        assert frames == [] and srv.pending_live == left and srv.agent_paused
        r = await session.get(api(srv))
        assert (await r.json())["execution_status"] == "paused"
        r = await session.post(api(srv, "/run"))
        assert await r.json() == {"success": True}
        frames = await read_until(ws, lambda f: f.get("kind") == "ActionEvent")
        assert (frames[0].get("key"), frames[0].get("value")) == ("execution_status", "running")
        r = await session.post(api(srv, "/run"))
        assert r.status == 409 and (await r.json())["detail"].startswith("Conversation already running")
        assert srv.pending_live < left


async def test_write_after_close_then_rest_repairs(session):
    events = make_events(40, step=1.0)
    srv = V1ReplayServer(events, live_from=4, speed=20, write_after_close=3)
    async with srv:
        ws = await session.ws_connect(srv.ws_url + "?resend_mode=all")
        frames = await read_until(ws, lambda f: f.get("id") == events[6]["id"])
        last = frames[-1]
        seen = {f["id"] for f in frames}
        before = len(srv.stored_events)
        await srv.stop()
        msg = await ws.receive(timeout=2)
        assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1012)
        stored = srv.stored_events
        # 3 live events persisted after the close, then the shutdown's pause
        assert len(stored) == before + 3 + 2
        assert [e["id"] for e in stored[before : before + 3]] == [e["id"] for e in events[before : before + 3]]
        assert (stored[-2].get("value"), stored[-1]["kind"]) == ("paused", "PauseEvent")
        await srv.start()
        r = await session.get(api(srv, "/events/search"), params={"timestamp__gte": last["timestamp"]})
        items = (await r.json())["items"]
        assert items[0]["id"] == last["id"]  # the boundary comes back
        missing = [e["id"] for e in items if e["id"] not in seen]
        assert missing == [e["id"] for e in stored[before:]]
        ws = await session.ws_connect(srv.ws_url + f"?resend_mode=since&after_timestamp={last['timestamp']}")
        frames, _ = await drain(ws)
        assert frames[0]["value"]["execution_status"] == "paused"
        assert [f["id"] for f in frames[1:]] == [last["id"], *missing]
        # still paused after the restart: nothing plays until POST /run
        r = await session.post(api(srv, "/run"))
        assert r.status == 200
        frames = await read_until(ws, lambda f: f.get("kind") == "ActionEvent")
        assert frames[0]["value"] == "running"


# ----------------------------------------------------------------------------------------------
# faults


async def test_faults(captured_events, session):
    events = make_events(120, step=0.01)
    srv = V1ReplayServer(events)
    async with srv:
        srv.reject_next(1)
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(srv.ws_url)
        assert info.value.status == 503 and srv.rejections == 1
        srv.refuse_next(1)
        ws = await session.ws_connect(srv.ws_url)
        frames, end = await drain(ws)
        assert frames == [] and (end.data, end.extra) == (4004, "Conversation not found")
        # drop_after: abrupt, after 10 resent events
        srv.drop_after(10, abrupt=True, during="resend")
        ws = await session.ws_connect(srv.ws_url + "?resend_mode=all")
        frames, end = await drain(ws)
        assert len(frames) == 11 and end.type == WSMsgType.CLOSED and ws.close_code == 1006
        # drop_connections: a close frame
        ws = await session.ws_connect(srv.ws_url)
        await drain(ws, quiet=0.1)
        assert await srv.drop_connections() == 1
        msg = await ws.receive(timeout=2)
        assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1001)
        # inject: JSON values, raw text, binary, a stored event, an oversized one
        ws = await session.ws_connect(srv.ws_url)
        await drain(ws, quiet=0.1)
        await srv.inject([1, 2])
        await srv.inject('{"id": ', raw=True)
        await srv.inject(b"\x00\x01")
        extra = make_events(2, start=datetime(2030, 1, 1))[1]
        assert await srv.inject(extra) == 1
        frames, _ = await drain(ws)
        assert frames == [[1, 2], '{"id": ', b"\x00\x01", extra]
        assert srv.stored_events[-1]["id"] == extra["id"]
        assert [f for _, f in srv.emitted[-4:]] == frames
        await srv.inject(oversized_event(5 * 1024 * 1024))
        msg = await ws.receive(timeout=5)
        assert msg.type in (WSMsgType.ERROR, WSMsgType.CLOSED, WSMsgType.CLOSE)
        assert ws.close_code == 1009  # aiohttp's default max_msg_size is 4 MiB
        # slow_replay
        srv.slow_replay(0.01)
        ws = await session.ws_connect(srv.ws_url + "?resend_mode=all", max_msg_size=0)
        t0 = time.monotonic()
        frames, _ = await drain(ws, quiet=0.3)
        assert len(frames) == 1 + 122 and time.monotonic() - t0 > 1.0  # 120 + 2 injected
        srv.slow_replay(0)


async def test_malformed_text_frame_reaches_client(session, captured_events):
    srv = V1ReplayServer(captured_events)
    async with srv:
        ws = await session.ws_connect(srv.ws_url)
        await drain(ws, quiet=0.1)
        await srv.inject('{"id": ', raw=True)
        msg = await ws.receive(timeout=2)
        assert (msg.type, msg.data) == (WSMsgType.TEXT, '{"id": ')
        with pytest.raises(ValueError):
            msg.json()


async def test_fault_plan(captured_events, session):
    srv = V1ReplayServer(make_events(20), faults="drop@5")
    async with srv:
        ws = await session.ws_connect(srv.ws_url + "?resend_mode=all")
        frames, end = await drain(ws)
        assert len(frames) == 5 and (end.type, end.data) == (WSMsgType.CLOSE, 1001)
        srv.apply("kill@3")
        ws = await session.ws_connect(srv.ws_url + "?resend_mode=all")
        frames, end = await drain(ws)
        assert len(frames) == 3 and ws.close_code == 1006


def test_thread_mode_freeze_and_threadsafe(captured_events):
    srv = V1ReplayServer(captured_events, session_api_key=KEY)

    async def client() -> tuple[float, Any]:
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(srv.ws_url, heartbeat=0.4)
            await ws.send_json({"type": "auth", "session_api_key": KEY})
            await drain(ws, quiet=0.1)
            await asyncio.to_thread(srv.freeze_threadsafe, 1.5)
            t0 = time.monotonic()
            msg = await ws.receive(timeout=3)
            return time.monotonic() - t0, (msg.type, ws.close_code)

    with srv:
        assert srv.thread_mode
        elapsed, end = asyncio.run(client())
        # no pong from a frozen server: the client gives up after ~1.5 x heartbeat, long before
        # the freeze ends
        assert end == (WSMsgType.CLOSED, 1006) or end[1] == 1006, end
        assert elapsed < 1.4
        assert srv.inject_threadsafe({"not": "stored"}) == 0
        srv.restart_threadsafe(0.05, abrupt=False)
        assert srv.running and any("frozen" in text for _, text in srv.fault_log)
    assert not srv.running


# ----------------------------------------------------------------------------------------------
# loading stored conversations


def test_sources(fixtures_dir):
    cli = fixtures_dir / "v1_cli_conversations" / "simple_echo_hello_world"
    srv = V1ReplayServer(cli)
    assert len(srv.stored_events) == 5 and uuid.UUID(srv.conversation_id)
    srv = V1ReplayServer(fixtures_dir / "v1_eval_output_openagentsafety.jsonl", record=1, live_from=5)
    assert srv.pending_live > 0 and all(e.get("kind") for e in srv.stored_events)
    assert all(None not in e.values() for e in srv.stored_events)  # exclude_none, as on the wire
    srv = V1ReplayServer(fixtures_dir / "v1_sdk_goal_events.jsonl")
    assert len(srv.stored_events) == 10
    # captured frames: full_state snapshots are never persisted; _meta names the conversation
    live = captures(fixtures_dir, "v1_real_server_live_capture.jsonl")
    loaded = load_v1_conversation(live)
    srv = V1ReplayServer(live)
    assert srv.conversation_id == loaded.conversation_id == CAPTURED_ID
    assert len(srv.stored_events) == 6 and srv.execution_status == "error"
    stamps = [e["timestamp"] for e in srv.stored_events]
    assert stamps == sorted(stamps)
    with pytest.raises(ValueError, match="events is required"):
        V1ReplayServer()
    with pytest.raises(ValueError, match="UUID"):
        V1ReplayServer([], conversation_id="ohnb-demo")
    with pytest.raises(ValueError, match="live_from"):
        V1ReplayServer(make_events(3), live_from="nope")
