"""The embedded OpenHands V0 server (ohnb.servers.V0ReplayServer) against a bare
python-socketio AsyncClient, and against the captures of the real openhands-ai 0.62 server."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import socketio

from ohnb.servers import V0ReplayServer
from ohnb.servers.v0 import live_form, replay_action
from ohnb.stores import read_v0_events

CONV = "ohnb-demo"


def _kind(ev: dict[str, Any]) -> str:
    return ev["action"] if "action" in ev else ev["observation"]


class Rec:
    """A bare python-socketio AsyncClient that logs everything it sees, in order."""

    def __init__(self, **client_kw: Any) -> None:
        client_kw.setdefault("reconnection", False)
        self.sio = socketio.AsyncClient(**client_kw)
        self.log: list[tuple[Any, ...]] = []
        self.t0 = time.monotonic()
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.error: Exception | None = None

        @self.sio.on("oh_event")
        async def _oh_event(data: dict[str, Any]) -> None:
            self.log.append(("ev", data, time.monotonic()))

        @self.sio.event
        async def connect() -> None:
            self.log.append(("connect",))
            self.connected.set()

        @self.sio.event
        async def connect_error(data: Any) -> None:
            self.log.append(("connect_error", data))

        @self.sio.event
        async def disconnect(reason: Any = None) -> None:
            self.log.append(("disconnect", reason))
            self.disconnected.set()

    async def connect(self, srv: V0ReplayServer, query: str, wait_timeout: float = 10) -> Rec:
        try:
            await self.sio.connect(
                f"{srv.url}?{query}", transports=["websocket"], wait_timeout=wait_timeout
            )
        except socketio.exceptions.ConnectionError as exc:
            self.error = exc
        return self

    def events(self, *, before_connect: bool | None = None) -> list[dict[str, Any]]:
        out, seen_connect = [], False
        for item in self.log:
            if item[0] == "connect":
                seen_connect = True
            elif item[0] == "ev" and (before_connect is None or before_connect != seen_connect):
                out.append(item[1])
        return out

    def ids(self, **kw: Any) -> list[Any]:
        return [e.get("id") for e in self.events(**kw)]

    async def close(self) -> None:
        await self.sio.disconnect()


def expected_replay(store: list[dict[str, Any]], latest: int = -1) -> list[dict[str, Any]]:
    """The replay rule of openhands/server/listen_socket.py, written out independently."""
    out, last_state = [], None
    for ev in sorted(store, key=lambda e: e["id"]):
        if ev["id"] <= latest:
            continue
        if ev.get("action") in ("null", "recall") or ev.get("observation") == "null":
            continue
        if ev.get("observation") == "agent_state_changed":
            last_state = ev
        else:
            out.append(ev)
    return out + ([last_state] if last_state else [])


async def until(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


# ---------------------------------------------------------------------------------------------
# replay


async def test_replay_order_and_content_before_connect() -> None:
    store = read_v0_events()
    async with V0ReplayServer() as srv:
        assert srv.url == f"http://127.0.0.1:{srv.port}" and srv.port > 0
        c = await Rec().connect(srv, f"conversation_id={CONV}")
        assert c.error is None
        want = expected_replay(store)
        assert len(want) == 297 - 17 - 24 - 48  # null, RecallAction, all but one agent_state
        # the whole replay arrives before the client's connect handler runs
        assert c.events(before_connect=True) == want
        assert c.events(before_connect=False) == []
        assert c.log[-1] == ("connect",)
        last = c.events()[-1]
        assert last["observation"] == "agent_state_changed" and last["id"] == 298
        kinds = {_kind(e) for e in c.events()}
        assert "null" not in kinds and "recall" in kinds  # RecallObservation stays, action goes
        assert not any(e.get("action") == "recall" for e in c.events())
        assert [e for _, e in srv.emitted] == want
        assert srv.connections == 1 and srv.refusals == 0
        await c.close()


@pytest.mark.parametrize(("latest", "query"), [(200, "200"), (-1, "abc"), (298, "298")])
async def test_latest_event_id_resume(latest: int, query: str) -> None:
    store = read_v0_events()
    async with V0ReplayServer() as srv:
        c = await Rec().connect(srv, f"conversation_id={CONV}&latest_event_id={query}")
        assert c.error is None
        assert c.events(before_connect=True) == expected_replay(store, latest)
        if latest == 200:
            assert min(c.ids()) > 200
            assert c.events()[-1]["observation"] == "agent_state_changed"
        await c.close()


# ---------------------------------------------------------------------------------------------
# refusals


@pytest.mark.parametrize(
    ("query", "message", "kw"),
    [
        ("latest_event_id=-1", "No conversation_id in query params", {}),
        (f"conversation_id={CONV}&session_api_key=wrong", "invalid_session_api_key", {}),
        ("conversation_id=other&session_api_key=k", "Failed to join conversation", {}),
        (f"conversation_id={CONV}", "invalid_session_api_key", {"missing_key_bug": False}),
    ],
)
async def test_refusal_wording(query: str, message: str, kw: dict[str, Any]) -> None:
    async with V0ReplayServer(session_api_key="k", **kw) as srv:
        c = await Rec().connect(srv, query, wait_timeout=5)
        assert isinstance(c.error, socketio.exceptions.ConnectionError)
        assert str(c.error) == "One or more namespaces failed to connect: /"
        assert c.log == [("connect_error", {"message": message})]  # exact data shape
        assert srv.refusals == 1 and srv.connections == 0 and srv.emitted == []
        await c.close()


async def test_missing_key_reproduces_upstream_hang() -> None:
    async with V0ReplayServer(session_api_key="k") as srv:
        c = await Rec().connect(srv, f"conversation_id={CONV}", wait_timeout=0.5)
        # no CONNECT and no CONNECT_ERROR: the client only gives up after wait_timeout
        assert isinstance(c.error, socketio.exceptions.ConnectionError)
        assert str(c.error) == "Unexpected connection error"
        assert c.log == []
        assert srv.refusals == 1 and srv.connections == 0
        ok = await Rec().connect(srv, f"conversation_id={CONV}&session_api_key=k")
        assert ok.error is None and ok.events()
        await ok.close()
        await c.close()


# ---------------------------------------------------------------------------------------------
# live


def _script(gaps: list[float], kinds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    t = datetime(2025, 1, 1, 12, 0, 0)
    out = []
    for i, (gap, kw) in enumerate(zip(gaps, kinds, strict=True)):
        t += timedelta(seconds=gap)
        ev = {"id": i, "timestamp": t.isoformat(), "message": "", **kw}
        if "observation" in ev:
            ev.setdefault("content", "")
            ev.setdefault("extras", {})
        else:
            ev.setdefault("args", {})
        out.append(ev)
    return out


LIVE_KINDS = [
    {"source": "user", "action": "message", "args": {"content": "hi"}},  # 0 history
    {
        "source": "environment",
        "observation": "agent_state_changed",
        "extras": {"agent_state": "awaiting_user_input", "reason": ""},
    },  # 1 history
    {"source": "user", "action": "message", "args": {"content": "go"}},  # 2 live
    {
        "source": "environment",
        "action": "change_agent_state",
        "args": {"agent_state": "running"},
    },  # 3 not sent live
    {"source": "user", "action": "recall", "args": {"query": "go"}},  # 4 live only
    {"source": "environment", "observation": "recall", "cause": 4},  # 5 rewritten
    {
        "source": "environment",
        "observation": "agent_state_changed",
        "extras": {"agent_state": "running", "reason": ""},
    },  # 6 rewritten
    {"source": "agent", "action": "run", "args": {"command": "ls"}},  # 7
    {"source": "environment", "observation": "null", "cause": 7},  # 8 never
    {"source": "environment", "observation": "run", "cause": 7},  # 9 rewritten
    {"source": "environment", "observation": "read", "cause": 7},  # 10 not sent live
    {"source": "environment", "observation": "error"},  # 11 rewritten
    {"source": "agent", "action": "null"},  # 12 never
    {"source": "agent", "action": "finish"},  # 13
]


async def test_live_pacing_env_filter_and_source_rewrite() -> None:
    # original gaps in seconds; speed 4 -> /4; the 400 s idle gap is capped at max_gap
    gaps = [0, 1, 1, 0.8, 0.4, 0.4, 0, 0.8, 0, 0, 0.4, 400, 0, 0.4]
    events = _script(gaps, LIVE_KINDS)
    async with V0ReplayServer(events, live_from=2, speed=4, max_gap=0.3) as srv:
        assert srv.pending_live == 12 and not srv.is_live_done
        assert len(srv.stored_events) == 2
        await asyncio.sleep(0.3)
        assert srv.pending_live == 12  # first_connect: nothing happens before a client
        c = await Rec().connect(srv, f"conversation_id={CONV}")
        assert c.ids(before_connect=True) == [0, 1]
        assert await srv.wait_live_done(5)
        assert srv.is_live_done and srv.live_done.is_set()
        await until(lambda: c.ids()[-1:] == [13])
        live = c.events(before_connect=False)
        assert [e["id"] for e in live] == [2, 4, 5, 6, 7, 9, 11, 13]
        by_id = {e["id"]: e for e in live}
        for i in (5, 6, 9, 11):
            assert by_id[i]["source"] == "agent"  # environment -> agent
        assert by_id[4]["source"] == "user" and by_id[2]["source"] == "user"
        # every original event is stored, in stored form
        assert srv.stored_events == events
        # pacing: arrival gaps follow min(gap / speed, max_gap)
        t = {e["id"]: ts for kind, e, ts in (x for x in c.log if x[0] == "ev") if "id" in e}
        expect = {4: (0.8 + 0.4) / 4, 7: (0 + 0.8) / 4, 11: 0.1 + 0.3, 13: 0.1}
        pairs = {4: 2, 7: 6, 11: 9, 13: 11}
        for later, earlier in pairs.items():
            dt = t[later] - t[earlier]
            assert expect[later] * 0.8 <= dt <= expect[later] + 0.2, (later, dt)
        # a later client gets the stored forms: change_agent_state yes, RecallAction no
        c2 = await Rec().connect(srv, f"conversation_id={CONV}")
        assert c2.events(before_connect=True) == expected_replay(events)
        assert 3 in c2.ids() and 4 not in c2.ids() and 10 in c2.ids()
        replayed = {e["id"]: e for e in c2.events()}
        assert replayed[5]["source"] == "environment"
        await c.close()
        await c2.close()


def test_live_form_and_replay_rules() -> None:
    env_run = {"source": "environment", "observation": "run"}
    assert live_form(env_run) == {"source": "agent", "observation": "run"}
    assert env_run["source"] == "environment"  # not mutated
    assert live_form({"source": "environment", "observation": "edit"}) is None
    assert live_form({"source": "environment", "action": "change_agent_state"}) is None
    assert live_form({"source": "user", "action": "change_agent_state"}) is not None
    assert live_form({"source": "agent", "observation": "null"}) is None
    assert replay_action({"action": "recall"}) == "skip"
    assert replay_action({"observation": "recall"}) == "send"
    assert replay_action({"observation": "agent_state_changed"}) == "hold"


async def test_live_start_manual_and_immediately() -> None:
    events = _script([0, 0.1, 0.1], LIVE_KINDS[:1] * 3)
    async with V0ReplayServer(events, live_from=1, live_start="manual", speed=10) as srv:
        c = await Rec().connect(srv, f"conversation_id={CONV}")
        await asyncio.sleep(0.2)
        assert srv.pending_live == 2
        srv.start_live()
        assert await srv.wait_live_done(3)
        await until(lambda: len(c.ids()) == 3)
        assert c.ids(before_connect=False) == [1, 2]
        await c.close()
    async with V0ReplayServer(events, live_from=0, live_start="immediately", speed=10) as srv:
        assert await srv.wait_live_done(3)
        assert len(srv.stored_events) == 3 and srv.emitted == []
    async with V0ReplayServer(events) as srv:
        assert srv.is_live_done and await srv.wait_live_done(0)


async def test_user_message_broadcast_and_deprecated_oh_action() -> None:
    events = read_v0_events()
    async with V0ReplayServer(events) as srv:
        a = await Rec().connect(srv, f"conversation_id={CONV}")
        b = await Rec().connect(srv, f"conversation_id={CONV}&latest_event_id=298")
        assert b.events() == [] and b.error is None
        await a.sio.emit(
            "oh_user_action",
            {"action": "message", "args": {"content": "hello", "image_urls": [], "file_urls": []}},
        )
        await until(lambda: b.events() and a.events(before_connect=False))
        (msg,) = b.events()
        assert msg["id"] == 299 and msg["source"] == "user" and msg["action"] == "message"
        assert msg["message"] == "hello"
        assert msg["args"]["content"] == "hello"
        assert msg["args"]["image_urls"] == [] and msg["args"]["file_urls"] == []
        datetime.fromisoformat(msg["timestamp"])
        assert a.events(before_connect=False) == [msg]
        assert srv.stored_events[-1] == msg
        await b.sio.emit("oh_action", {"action": "message", "args": {"content": "old"}})
        await until(lambda: len(a.events(before_connect=False)) == 2)
        assert a.events()[-1]["id"] == 300 and a.events()[-1]["message"] == "old"
        # a fresh client replays the user messages too
        c = await Rec().connect(srv, f"conversation_id={CONV}&latest_event_id=298")
        assert c.ids() == [299, 300]
        for x in (a, b, c):
            await x.close()


async def test_pause_stops_live_pacing_and_running_resumes() -> None:
    n = 12
    events = _script([0] + [0.05] * (n - 1), [{"source": "agent", "action": "think"}] * n)
    async with V0ReplayServer(events, live_from=1, speed=1) as srv:
        c = await Rec().connect(srv, f"conversation_id={CONV}")
        await until(lambda: len(c.events()) >= 3)
        await c.sio.emit(
            "oh_user_action", {"action": "change_agent_state", "args": {"agent_state": "paused"}}
        )
        await until(lambda: any(e.get("observation") == "agent_state_changed" for e in c.events()))
        paused_at = len(srv.stored_events)
        await asyncio.sleep(0.4)  # 8 gaps' worth: nothing scripted may arrive
        assert len(srv.stored_events) == paused_at and srv.agent_paused
        assert srv.pending_live > 0
        tail = c.events()[-2:]
        # the user's change_agent_state is USER-sourced, so it is sent live (session.py rule)
        assert tail[0]["action"] == "change_agent_state" and tail[0]["source"] == "user"
        assert tail[0]["args"]["agent_state"] == "paused"
        assert tail[1]["extras"]["agent_state"] == "paused" and tail[1]["source"] == "agent"
        stored_state = srv.stored_events[-1]
        assert stored_state["source"] == "environment"
        await c.sio.emit(
            "oh_user_action", {"action": "change_agent_state", "args": {"agent_state": "running"}}
        )
        assert await srv.wait_live_done(3)
        ids = [e["id"] for e in srv.stored_events]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert len(ids) == n + 4  # 11 scripted live + 2 user actions + 2 state observations
        await until(lambda: c.ids()[-1:] == ids[-1:])
        # scripted events published after the user's got fresh ids, in order
        assert c.ids(before_connect=False) == [i for i in ids[1:]]
        await c.close()


async def test_emit_status_on_fresh_join() -> None:
    async with V0ReplayServer(read_v0_events()[:5], emit_status=True) as srv:
        c = await Rec().connect(srv, f"conversation_id={CONV}")
        await until(lambda: len(c.events(before_connect=False)) == 2)
        st = c.events(before_connect=False)
        assert [s["id"] for s in st] == ["STATUS$STARTING_RUNTIME", "STATUS$RUNTIME_STARTED"]
        assert all(s["status_update"] is True and s["type"] == "info" for s in st)
        assert all("timestamp" not in s and "source" not in s for s in st)
        c2 = await Rec().connect(srv, f"conversation_id={CONV}")
        await asyncio.sleep(0.1)
        assert c2.events(before_connect=False) == []  # only the join that starts the loop
        await c2.close()
        await srv.stop()
        await until(lambda: c.disconnected.is_set())
        closing = [e for e in c.events(before_connect=False) if "status_update" not in e]
        assert closing == [
            {
                "message": "",
                "observation": "agent_state_changed",
                "content": "",
                "extras": {"agent_state": "stopped", "reason": ""},
            }
        ]


# ---------------------------------------------------------------------------------------------
# faults and lifecycle


@pytest.mark.parametrize(
    ("abrupt", "reason"), [(False, "server disconnect"), (True, "transport error")]
)
async def test_drop_connections(abrupt: bool, reason: str) -> None:
    async with V0ReplayServer(ping_interval=1, ping_timeout=1) as srv:
        a = await Rec().connect(srv, f"conversation_id={CONV}")
        b = await Rec().connect(srv, f"conversation_id={CONV}")
        assert await srv.drop_connections(abrupt=abrupt) == 2
        await asyncio.wait_for(a.disconnected.wait(), 3)
        await asyncio.wait_for(b.disconnected.wait(), 3)
        assert a.log[-1] == ("disconnect", reason) and b.log[-1] == ("disconnect", reason)
        assert not any(x[0] == "connect_error" for x in a.log)
        c = await Rec().connect(srv, f"conversation_id={CONV}")  # server still serves
        assert c.error is None
        await c.close()


@pytest.mark.parametrize("abrupt", [False, True])
async def test_drop_after_mid_replay(abrupt: bool) -> None:
    store = read_v0_events()
    async with V0ReplayServer(store) as srv:
        srv.drop_after(5, during="replay", abrupt=abrupt)
        assert srv.fault_armed
        c = await Rec().connect(srv, f"conversation_id={CONV}", wait_timeout=0.5)
        # dropped inside the connect handler: 5 events, no CONNECT, no connect_error
        assert [x[0] for x in c.log] == ["ev"] * 5
        assert c.events() == expected_replay(store)[:5]
        assert isinstance(c.error, socketio.exceptions.ConnectionError)
        assert str(c.error) == "Unexpected connection error"
        assert not srv.fault_armed and srv.connections == 0
        await c.close()
        ok = await Rec().connect(srv, f"conversation_id={CONV}")  # one-shot
        assert ok.error is None and ok.events() == expected_replay(store)
        await ok.close()


async def test_drop_after_live_counts_only_live() -> None:
    events = _script([0] + [0.02] * 9, [{"source": "agent", "action": "think"}] * 10)
    async with V0ReplayServer(events, live_from=3, live_start="manual", speed=1) as srv:
        c = await Rec().connect(srv, f"conversation_id={CONV}")
        srv.drop_after(2, during="live", abrupt=False)
        srv.start_live()
        await asyncio.wait_for(c.disconnected.wait(), 3)
        assert c.log[-1] == ("disconnect", "server disconnect")
        assert c.ids(before_connect=True) == [0, 1, 2]
        assert c.ids(before_connect=False) == [3, 4]
        assert await srv.wait_live_done(3)
        await c.close()


async def test_restart_same_port_builtin_reconnect_replays_again() -> None:
    # like captures/v0_real_server_builtin_reconnect.log: transport error, failed attempts,
    # then python-socketio reconnects with the ORIGINAL url and gets the whole replay again
    store = read_v0_events()[:40]
    async with V0ReplayServer(store) as srv:
        port = srv.port
        c = await Rec(
            reconnection=True,
            reconnection_delay=0.05,
            reconnection_delay_max=0.1,
            randomization_factor=0,
        ).connect(srv, f"conversation_id={CONV}")
        await c.sio.emit("oh_user_action", {"action": "message", "args": {"content": "kept"}})
        await until(lambda: len(c.events(before_connect=False)) == 1)
        c.connected.clear()
        await srv.restart(pause=0.3)
        assert srv.port == port and srv.running
        await asyncio.wait_for(c.connected.wait(), 5)
        kinds = [x[0] for x in c.log]
        assert ("disconnect", "transport error") in c.log
        assert "connect_error" in kinds  # attempts while the port was closed
        first = kinds.index("connect")
        second = len(kinds) - 1 - kinds[::-1].index("connect")
        again = [x[1] for x in c.log[first + 1 : second] if x[0] == "ev"][1:]
        want = expected_replay(srv.stored_events)
        assert again == want and want[-2]["message"] == "kept"  # store survived the restart
        assert srv.connections == 2
        await c.close()
    assert not _port_open(port)


async def test_stop_with_clients_leaves_nothing_behind() -> None:
    before = {t for t in asyncio.all_tasks()}
    srv = V0ReplayServer(ping_interval=0.5, ping_timeout=0.5)
    await srv.start()
    port = srv.port
    clients = [await Rec().connect(srv, f"conversation_id={CONV}") for _ in range(3)]
    srv.drop_after(3, during="replay")
    mid = await Rec().connect(srv, f"conversation_id={CONV}", wait_timeout=0.2)
    await srv.stop()
    assert not srv.running and not _port_open(port)
    for c in clients:
        await asyncio.wait_for(c.disconnected.wait(), 3)
        assert c.log[-1] == ("disconnect", "server disconnect")
        await c.close()
    await mid.close()
    await asyncio.sleep(0.05)
    left = {t for t in asyncio.all_tasks() if not t.done()} - before - {asyncio.current_task()}
    assert left == set()
    await srv.stop()  # idempotent


async def test_thread_mode_and_threadsafe_hooks() -> None:
    names = {t.name for t in threading.enumerate()}
    assert "ohnb-v0-server" not in names
    events = _script([0] + [0.02] * 5, [{"source": "agent", "action": "think"}] * 6)
    with V0ReplayServer(events, live_from=2, live_start="manual") as srv:
        assert srv.running and "ohnb-v0-server" in {t.name for t in threading.enumerate()}
        c = await Rec().connect(srv, f"conversation_id={CONV}")
        assert c.ids() == [0, 1]
        await asyncio.to_thread(srv.start_live)
        assert await srv.wait_live_done(3)  # from another loop
        assert await asyncio.to_thread(srv.wait_live_done_threadsafe, 1)
        await until(lambda: len(c.ids()) == 6)
        assert c.ids(before_connect=False) == [2, 3, 4, 5]
        n = await asyncio.to_thread(srv.drop_connections_threadsafe, abrupt=True)
        assert n == 1
        await asyncio.wait_for(c.disconnected.wait(), 3)
        assert c.log[-1] == ("disconnect", "transport error")
        port = srv.port
        await srv.restart()  # awaited from this loop, runs on the server's loop
        assert srv.port == port
        c2 = await Rec().connect(srv, f"conversation_id={CONV}")
        assert await srv.drop_connections() == 1  # forwarded from this loop too
        await asyncio.wait_for(c2.disconnected.wait(), 3)
        await c.close()
        await c2.close()
    assert not srv.running
    assert "ohnb-v0-server" not in {t.name for t in threading.enumerate()}
    assert not _port_open(port)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="speed"):
        V0ReplayServer(speed=0)
    with pytest.raises(ValueError, match="live_start"):
        V0ReplayServer(live_start="later")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no integer id"):
        V0ReplayServer([{"action": "run", "args": {}}, {"id": 1, "action": "run"}])
    with pytest.raises(RuntimeError, match="port"):
        _ = V0ReplayServer().port


# ---------------------------------------------------------------------------------------------
# against the real server captures


def _capture_store(fixtures_dir: Path) -> tuple[list[dict[str, Any]], list[Any], list[Any]]:
    cap = fixtures_dir / "captures"
    replay = json.loads((cap / "v0_real_server_replay.json").read_text())
    live = json.loads((cap / "v0_real_server_live.json").read_text())
    store: dict[int, dict[str, Any]] = {}
    for rec in live + replay:  # replay copies (stored form) win over live copies
        data = rec.get("data")
        if isinstance(data, dict) and isinstance(data.get("id"), int):
            store[data["id"]] = data
    return [store[i] for i in sorted(store)], replay, live


async def test_replay_shape_matches_real_server_capture(fixtures_dir: Path) -> None:
    store, replay, _ = _capture_store(fixtures_dir)
    assert [e["id"] for e in store] == list(range(9))
    want = [(r["data"]["id"], _kind(r["data"])) for r in replay if "data" in r]
    assert [r.get("socketio") for r in replay][-1] == "connect"  # replay before CONNECT
    async with V0ReplayServer(store, conversation_id="c0ffee") as srv:
        c = await Rec().connect(srv, "conversation_id=c0ffee")
        got = [(e["id"], _kind(e)) for e in c.events(before_connect=True)]
        assert (
            got
            == want
            == [
                (1, "system"),
                (2, "change_agent_state"),
                (4, "message"),
                (7, "recall"),
                (8, "agent_state_changed"),
            ]
        )
        assert c.events(before_connect=True) == [r["data"] for r in replay if "data" in r]
        await c.close()


async def test_live_shape_matches_real_server_capture(fixtures_dir: Path) -> None:
    store, _, live = _capture_store(fixtures_dir)
    want = [
        (d["id"], _kind(d), d["source"])
        for d in (r["data"] for r in live)
        if isinstance(d.get("id"), int)
    ]
    async with V0ReplayServer(
        store, conversation_id="c0ffee", live_from=0, live_start="manual", speed=float("inf")
    ) as srv:
        c = await Rec().connect(srv, "conversation_id=c0ffee")
        assert c.events() == []
        srv.start_live()
        assert await srv.wait_live_done(3)
        await until(lambda: len(c.events()) == len(want))
        got = [(e["id"], _kind(e), e["source"]) for e in c.events()]
        assert got == want  # 2 (environment change_agent_state) missing, 5 (RecallAction) sent
        await c.close()
