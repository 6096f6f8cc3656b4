"""Fault injection in the embedded V0 server (ohnb.servers.V0ReplayServer, ohnb.servers.faults),
each fault observed the way a client sees it: a bare python-socketio AsyncClient, a raw
engine.io websocket, and ohnb's own client."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
import socketio

import ohnb
from ohnb.cli import main
from ohnb.servers import FaultPlan, FaultStep, V0ReplayServer, random_plan
from ohnb.servers.faults import GRAMMAR, MALFORMED_VARIANTS, RANDOM_KINDS, malformed_payload

CONV = "ohnb-demo"
QUERY = f"conversation_id={CONV}"
FAST = ohnb.RetryPolicy(base=0.05, cap=0.2, connect_timeout=5.0, seed=3)


def script(n: int, gap: float = 0.01) -> list[dict[str, Any]]:
    """n agent ``think`` actions, ``gap`` seconds apart."""
    t0 = datetime(2025, 1, 1, 12, 0, 0)
    return [
        {
            "id": i,
            "timestamp": (t0 + timedelta(seconds=gap * i)).isoformat(),
            "source": "agent",
            "message": f"thought {i}",
            "action": "think",
            "args": {"thought": f"thought {i}"},
        }
        for i in range(n)
    ]


class Rec:
    """A bare python-socketio AsyncClient that logs what it sees, with arrival times."""

    def __init__(self, **client_kw: Any) -> None:
        client_kw.setdefault("reconnection", False)
        self.sio = socketio.AsyncClient(**client_kw)
        self.log: list[tuple[Any, ...]] = []
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.error: Exception | None = None
        self.disconnect_at: float | None = None

        @self.sio.on("oh_event")
        async def _oh_event(*args: Any) -> None:
            self.log.append(("ev", args[0] if args else "<no argument>", time.monotonic()))

        @self.sio.event
        async def connect() -> None:
            self.log.append(("connect", time.monotonic()))
            self.connected.set()

        @self.sio.event
        async def connect_error(data: Any) -> None:
            self.log.append(("connect_error", data))

        @self.sio.event
        async def disconnect(reason: Any = None) -> None:
            self.disconnect_at = time.monotonic()
            self.log.append(("disconnect", reason))
            self.disconnected.set()

    async def connect(self, srv: V0ReplayServer, query: str = QUERY, wait_timeout: float = 5) -> Rec:
        try:
            await self.sio.connect(
                f"{srv.url}?{query}", transports=["websocket"], wait_timeout=wait_timeout
            )
        except socketio.exceptions.ConnectionError as exc:
            self.error = exc
        return self

    def events(self) -> list[Any]:
        return [x[1] for x in self.log if x[0] == "ev"]

    def ids(self) -> list[Any]:
        return [e.get("id") for e in self.events() if isinstance(e, dict)]

    def kinds(self) -> list[str]:
        return [x[0] for x in self.log]

    async def close(self) -> None:
        await self.sio.disconnect()


async def until(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def held_ids(conv: ohnb.Conversation) -> list[int]:
    return [int(r["id"]) for r in conv.log.rows if isinstance(r.get("id"), int)]


# ---------------------------------------------------------------------------------------------
# the plan grammar


def test_plan_grammar_round_trip() -> None:
    spec = "drop@50,kill@120,freeze@200:3,refuse:2,restart@250:1.5,slow:0.01,malformed@30,oversized@60"
    plan = FaultPlan.parse(spec)
    assert str(plan) == spec and FaultPlan.parse(str(plan)) == plan
    assert [s.kind for s in plan] == [
        "drop", "kill", "freeze", "refuse", "restart", "slow", "malformed", "oversized",
    ]  # fmt: skip
    assert plan.steps[2] == FaultStep("freeze", 200, 3.0)
    assert plan.steps[3] == FaultStep("refuse", 0, 2.0) and plan.steps[3].count == 2
    assert plan.steps[6].option == "dict" and plan.steps[7].value == 5 * 1024 * 1024
    assert plan.needs_thread_mode and len(plan) == 8
    other = FaultPlan.parse(
        " reject@3 : 2 : 502 , refuse@4:1:early, oversized@9:512k, malformed@2:garbage, restart@7 "
    )
    assert str(other) == "reject@3:2:502,refuse@4:1:early,oversized@9:512k,malformed@2:garbage,restart@7"
    assert other.steps[0].status == 502 and other.steps[0].count == 2
    assert other.steps[2].value == 512 * 1024
    assert FaultPlan.parse("") == FaultPlan.parse(None) == FaultPlan() and not FaultPlan()
    assert FaultPlan.parse("KILL@1").steps == (FaultStep("kill", 1),)
    assert "example: drop@50" in GRAMMAR


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("explode@3", "unknown kind 'explode'"),
        ("kill", "kill needs @N with N >= 1"),
        ("kill@0", "kill needs @N with N >= 1"),
        ("kill@x", "@N must be a whole number"),
        ("kill@-1", "@N must be a whole number"),
        ("kill@5:2", "kill takes no argument"),
        ("freeze@5", "freeze needs :SECONDS"),
        ("freeze@5:0", "freeze needs :SECONDS > 0"),
        ("freeze@5:soon", "freeze needs a duration in seconds, got 'soon'"),
        ("restart@5:-1", "restart takes an optional pause in seconds >= 0"),
        ("slow", "slow needs :SECONDS"),
        ("refuse:0", "refuse takes a count of connects >= 1"),
        ("refuse:2:late", "refuse's second argument can only be 'early'"),
        ("reject:1:200", "reject's HTTP status must be 400..599"),
        ("malformed@3:weird", "malformed variant must be one of"),
        ("oversized@3:lots", "oversized needs a size in bytes"),
        ("kill@3,,drop@4", "step 2 is empty"),
        ("kill@3:", "at most two non-empty :ARGs"),
        ("@3", "expected KIND"),
    ],
)
def test_plan_grammar_errors_say_what_is_wrong(spec: str, reason: str) -> None:
    with pytest.raises(ValueError, match="fault plan") as info:
        FaultPlan.parse(spec)
    assert reason in str(info.value)


def test_random_plan_is_seeded_and_recoverable() -> None:
    a, b = random_plan(7, 300), random_plan(7, 300)
    assert a == b and str(a) == str(b) and FaultPlan.parse(str(a)) == a
    assert random_plan(8, 300) != a
    assert a.kinds == set(RANDOM_KINDS) and "refuse" not in a.kinds
    assert all(1 <= s.at <= 301 for s in a)
    assert [s.at for s in a] == sorted(s.at for s in a)
    slows = [s for s in a if s.kind == "slow"]
    assert len(slows) == 2 and slows[-1].value == 0 and slows[0].at <= slows[1].at  # off again
    assert all(s.value <= 1.0 for s in a if s.kind == "freeze")
    assert all(s.count <= 2 and s.status == 503 for s in a if s.kind == "reject")
    assert all(s.value < 4 * 1024 * 1024 for s in a if s.kind == "oversized")
    many = random_plan(1, 50, ["kill", "refuse"], per_kind=3)
    assert len(many) == 6 and many.kinds == {"kill", "refuse"}
    with pytest.raises(ValueError, match="unknown fault kinds"):
        random_plan(1, 10, ["nope"])
    with pytest.raises(ValueError, match="n_events"):
        random_plan(1, 0)


# ---------------------------------------------------------------------------------------------
# freeze


async def _raw_engineio(srv: V0ReplayServer, frames: list[tuple[float, str]]) -> Any:
    """A raw engine.io websocket client that answers pings and logs every frame it receives."""
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(
        f"ws://127.0.0.1:{srv.port}/socket.io/?EIO=4&transport=websocket&{QUERY}"
    )
    await ws.send_str("40")  # Socket.IO CONNECT to namespace /

    async def reader() -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            frames.append((time.monotonic(), msg.data))
            if msg.data == "2":
                await ws.send_str("3")

    task = asyncio.create_task(reader())
    return session, ws, task


async def test_freeze_is_silence_pings_included_then_everything_resumes() -> None:
    events = script(6, gap=0.05)
    with V0ReplayServer(
        events, live_from=3, live_start="manual", speed=1, ping_interval=0.2, ping_timeout=3
    ) as srv:
        frames: list[tuple[float, str]] = []
        session, ws, reader = await _raw_engineio(srv, frames)
        await until(lambda: any(f.startswith("40{") for _, f in frames))  # CONNECT after replay
        await until(lambda: sum(f == "2" for _, f in frames) >= 3)  # pings every 0.2 s
        await srv.freeze(1.2)
        t0 = time.monotonic()
        srv.start_live()  # reaches the frozen loop only when the freeze ends
        late = Rec()
        connecting = asyncio.create_task(late.connect(srv))  # TCP accepted, handshake unanswered
        await asyncio.sleep(1.0)
        assert srv.frozen
        assert [f for t, f in frames if t > t0 + 0.05] == []  # nothing at all: no ping, no event
        assert not connecting.done()
        await connecting
        t_handshake = time.monotonic() - t0
        assert late.error is None and 1.1 < t_handshake < 3
        assert not srv.frozen
        await until(lambda: sum(f == "2" for t, f in frames if t > t0) >= 2)  # pings resume
        await until(lambda: sum(f.startswith("42") for _, f in frames) == 6)  # live resumes
        ids = [json.loads(f[2:])[1]["id"] for _, f in frames if f.startswith("42")]
        assert ids == [0, 1, 2, 3, 4, 5] and not ws.closed
        assert any("frozen for 1.2 s" in text for _, text in srv.fault_log)
        await late.close()
        await ws.close()
        await session.close()
        await reader


async def test_freeze_detected_by_the_client_after_ping_interval_plus_timeout() -> None:
    # whole seconds for ping_interval: python-engineio advertises int(ping_interval) to clients
    with V0ReplayServer(script(5), ping_interval=1, ping_timeout=0.5) as srv:
        c = await Rec().connect(srv)
        assert c.error is None and c.ids() == [0, 1, 2, 3, 4]
        await asyncio.sleep(1.3)
        t0 = time.monotonic()
        await srv.freeze(2.0)
        await asyncio.wait_for(c.disconnected.wait(), 3)
        assert c.disconnect_at is not None
        detection = c.disconnect_at - t0
        print(f"freeze detected after {detection:.2f} s (ping_interval 1 s + ping_timeout 0.5 s)")
        # the client's read times out ping_interval + ping_timeout after the last frame it got
        # (a ping at most ping_interval before the freeze): between ping_timeout and the sum
        assert 0.4 < detection < 1.7
        assert c.log[-1] == ("disconnect", "transport error")
        await c.close()
        await asyncio.sleep(2.0 - (time.monotonic() - t0) + 0.1)
        again = await Rec().connect(srv)  # answered again once the freeze is over
        assert again.error is None and again.ids() == [0, 1, 2, 3, 4]
        await again.close()


async def test_ohnb_client_recovers_from_a_freeze_exactly_once() -> None:
    events = script(40, gap=0.05)
    with V0ReplayServer(
        events, live_from=10, speed=1, ping_interval=1, ping_timeout=0.3, faults="freeze@15:2"
    ) as srv:
        conv = ohnb.connect(srv.url, CONV, retry=FAST)
        await conv.history_complete(10)
        assert await srv.wait_live_done(10)
        await conv.wait_until(lambda c: set(held_ids(c)) >= srv.emitted_ids, 10)
        await conv.close()
    assert held_ids(conv) == list(range(40))
    attempts = conv.attempts
    assert attempts["outcome"].tolist()[:2] == ["connected", "connected"]
    assert attempts.loc[0, "disconnect_reason"] == "transport error"
    assert attempts.loc[1, "resumed_from"] == 14
    assert [t for _, t in srv.fault_log if "fires" in t] == [
        "plan step freeze@15:2 fires after 15 oh_event(s)"
    ]


async def test_freeze_needs_thread_mode() -> None:
    async with V0ReplayServer(script(3)) as srv:
        with pytest.raises(RuntimeError, match="start_in_thread"):
            await srv.freeze(1)
        with pytest.raises(RuntimeError, match="thread mode"):
            srv.apply("freeze@3:1")
        srv.apply("kill@3")  # other plans are fine
    with pytest.raises(RuntimeError, match="start_in_thread"):
        async with V0ReplayServer(script(3), faults="freeze@2:0.5"):
            pass
    srv = V0ReplayServer(script(3))
    with pytest.raises(RuntimeError, match="not running"):
        srv.freeze_threadsafe(1)
    with pytest.raises(ValueError, match="seconds"):
        srv.freeze_threadsafe(0)


# ---------------------------------------------------------------------------------------------
# refusals: Socket.IO (final) and HTTP (transient)


async def test_refuse_next_after_or_before_the_replay() -> None:
    async with V0ReplayServer(script(4)) as srv:
        srv.refuse_next(1)
        c = await Rec().connect(srv)
        assert str(c.error) == "One or more namespaces failed to connect: /"
        assert c.kinds() == ["ev"] * 4 + ["connect_error"]  # replayed, then refused
        assert c.log[-1] == ("connect_error", {"message": "Failed to join conversation"})
        srv.refuse_next(2, "Settings not found", replay_first=False)
        assert srv.refusing == 2
        d = await Rec().connect(srv)
        assert d.log == [("connect_error", {"message": "Settings not found"})]  # no event
        e = await Rec().connect(srv, query=f"{QUERY}&latest_event_id=2")
        assert e.kinds() == ["connect_error"] and srv.refusing == 0
        ok = await Rec().connect(srv)
        assert ok.error is None and ok.ids() == [0, 1, 2, 3]
        assert srv.refusals == 3 and srv.connections == 1
        for x in (c, d, e, ok):
            await x.close()
        srv.refuse_next(1)
        conv = ohnb.connect(srv.url, CONV, retry=FAST)
        with pytest.raises(ohnb.ConnectionRefused, match="Failed to join conversation"):
            await conv.history_complete(5)
        assert conv.attempts["outcome"].tolist() == ["refused"]  # final: one attempt
        assert conv.connection_state == "CLOSED"


async def test_reject_next_fails_the_handshake_then_lets_through() -> None:
    async with V0ReplayServer(script(4)) as srv:
        srv.reject_next(2)
        a, b = await Rec().connect(srv), await Rec().connect(srv)
        for r in (a, b):
            assert isinstance(r.error, socketio.exceptions.ConnectionError)
            assert str(r.error) == "Connection error"
            assert r.log == [("connect_error", "Connection error")]  # a string, not a dict
        ok = await Rec().connect(srv)
        assert ok.error is None and ok.ids() == [0, 1, 2, 3]
        assert srv.rejections == 2 and srv.refusals == 0 and srv.rejecting == 0
        await ok.close()
        async with aiohttp.ClientSession() as http:
            srv.reject_next(1, status=429)
            async with http.get(f"{srv.url}/socket.io/?EIO=4&transport=polling") as resp:
                assert resp.status == 429
        srv.reject_next(3)
        conv = ohnb.connect(srv.url, CONV, retry=FAST)
        await conv.history_complete(10)
        await conv.close()
        # transient: retried until through (an attempt may make more than one handshake
        # request, e.g. a protocol probe, so up to 3 attempts fail)
        outcomes = conv.attempts["outcome"].tolist()
        assert outcomes[-1] == "connected" and 1 <= len(outcomes) - 1 <= 3
        assert set(outcomes[:-1]) == {"transport_error"}
        assert srv.rejecting == 0 and srv.rejections == 6
        assert held_ids(conv) == [0, 1, 2, 3]
        for r in (a, b):
            await r.close()


# ---------------------------------------------------------------------------------------------
# slow replay, injection


async def test_slow_replay_spaces_events_and_ohnb_does_not_time_out() -> None:
    async with V0ReplayServer(script(12)) as srv:
        srv.slow_replay(0.05)
        t0 = time.monotonic()
        c = await Rec().connect(srv)
        took = time.monotonic() - t0
        assert c.ids() == list(range(12)) and 0.5 < took < 2.5
        times = [x[2] for x in c.log if x[0] == "ev"]
        assert min(b - a for a, b in zip(times, times[1:], strict=False)) > 0.03
        await c.close()
        srv.slow_replay(0.1)  # 1.1 s of replay, connect timeout 0.4 s without progress
        conv = ohnb.connect(srv.url, CONV, retry=ohnb.RetryPolicy(base=0.05, connect_timeout=0.4))
        await conv.history_complete(5)
        await conv.close()
        assert conv.attempts["outcome"].tolist() == ["connected"] and held_ids(conv) == list(range(12))
        srv.slow_replay(0)
        t0 = time.monotonic()
        fast = await Rec().connect(srv)
        assert fast.ids() == list(range(12)) and time.monotonic() - t0 < 0.5
        await fast.close()
        with pytest.raises(ValueError):
            srv.slow_replay(-1)


async def test_inject_payloads_as_the_client_sees_them() -> None:
    async with V0ReplayServer(script(3)) as srv:
        c = await Rec().connect(srv)
        for payload in (None, "not an event", [1, "two"], 42, {"no": "id"}):
            assert await srv.inject(payload) == 1
        stored_event = {"id": 3, "source": "agent", "action": "think", "args": {}, "message": ""}
        assert await srv.inject(stored_event) == 1
        assert await srv.inject({"id": 1, "dup": True}) == 1  # id taken: sent, not stored
        payload, _ = malformed_payload("empty", 0)
        await srv.inject(payload)
        await until(lambda: len(c.events()) == 3 + 8)
        assert c.events()[3:] == [
            None, "not an event", [1, "two"], 42, {"no": "id"}, stored_event, {"id": 1, "dup": True},
            "<no argument>",
        ]  # fmt: skip
        assert srv.stored_events[-1] == stored_event and len(srv.stored_events) == 4
        assert srv.emitted_ids == {0, 1, 2, 3}
        # a broken Socket.IO frame is dropped by the client, which stays connected
        assert await srv.inject('42["oh_event",{"id":', raw=True) == 1
        await srv.inject("after the broken frame")
        await until(lambda: c.events()[-1] == "after the broken frame")
        assert c.sio.connected and not c.disconnected.is_set()
        # a frame that is not engine.io: the client aborts the connection
        await srv.inject("ohnb garbage", raw=True)
        await asyncio.wait_for(c.disconnected.wait(), 3)
        assert c.log[-1] == ("disconnect", "transport error")
        await c.close()
        d = await Rec().connect(srv)  # the stored injection is replayed, the others are not
        assert d.ids() == [0, 1, 2, 3]
        await d.close()
        with pytest.raises(TypeError):
            await srv.inject({"id": 9}, raw=True)
    assert set(MALFORMED_VARIANTS) >= {"raw", "garbage", "dict"}


async def test_oversized_event_exceeds_python_socketio_default_frame_limit() -> None:
    async with V0ReplayServer(script(2)) as srv:
        default = await Rec().connect(srv)
        roomy = await Rec(websocket_extra_options={"max_msg_size": 0}).connect(srv)
        srv.apply("oversized@1")  # 5 MiB, stored: fires at the next emission
        await srv.inject({"no": "id"})
        await asyncio.wait_for(default.disconnected.wait(), 5)
        assert default.log[-1] == ("disconnect", "transport error")  # aiohttp: 4 MiB max_msg_size
        await until(lambda: 2 in roomy.ids(), 5)
        big = roomy.events()[roomy.ids().index(2)]
        assert len(big["content"]) == 5 * 1024 * 1024 and big["observation"] == "run"
        assert srv.stored_events[-1]["id"] == 2
        await default.close()
        await roomy.close()


# ---------------------------------------------------------------------------------------------
# plans on the server


@pytest.mark.parametrize(("kind", "reason"), [("drop", "server disconnect"), ("kill", "transport error")])
async def test_plan_drop_and_kill(kind: str, reason: str) -> None:
    events = script(10, gap=0.02)
    async with V0ReplayServer(events, live_from=4, speed=1, faults=f"{kind}@6") as srv:
        c = await Rec().connect(srv)
        await asyncio.wait_for(c.disconnected.wait(), 3)
        assert c.log[-1] == ("disconnect", reason)
        assert c.ids() == [0, 1, 2, 3, 4, 5] and srv.plan_pending == [] and srv.plan_count >= 6
        await c.close()
    # mid-replay: no CONNECT reaches the client
    async with V0ReplayServer(script(10), faults=f"{kind}@3") as srv:
        c = await Rec().connect(srv, wait_timeout=0.5)
        assert c.ids() == [0, 1, 2] and "connect" not in c.kinds()
        assert str(c.error) == "Unexpected connection error"
        await c.close()


async def test_plan_restart_keeps_port_and_store() -> None:
    async with V0ReplayServer(script(8), faults="restart@5:0.3") as srv:
        port = srv.port
        c = await Rec(
            reconnection=True, reconnection_delay=0.05, reconnection_delay_max=0.1,
            randomization_factor=0,
        ).connect(srv, wait_timeout=5)  # fmt: skip
        # killed mid-replay after 5 events; python-socketio retries the ORIGINAL url
        await until(lambda: "connect" in c.kinds(), 5)
        assert srv.running and srv.port == port
        assert c.ids() == [0, 1, 2, 3, 4] + list(range(8))
        assert srv.stored_events == script(8)
        assert [t for _, t in srv.fault_log if t.startswith("restarted")] == [
            f"restarted on port {port} after 0.3 s"
        ]
        await c.close()
    # stop() during the restart pause: the server stays stopped, nothing left behind
    srv = V0ReplayServer(script(8), faults="restart@2:5")
    await srv.start()
    c = await Rec().connect(srv, wait_timeout=0.3)
    await until(lambda: not srv.running)
    t0 = time.monotonic()
    await srv.stop()
    assert time.monotonic() - t0 < 1 and not srv.running
    await asyncio.sleep(0.1)
    assert not srv.running
    await c.close()


async def test_plan_settings_at_a_point() -> None:
    async with V0ReplayServer(script(3), faults="refuse@3:1:early,reject@6:1,slow@3:0.01") as srv:
        a = await Rec().connect(srv)
        assert a.error is None and srv.refusing == 1 and srv.replay_delay == 0.01
        b = await Rec().connect(srv)
        assert b.log == [("connect_error", {"message": "Failed to join conversation"})]
        c = await Rec().connect(srv)  # 6 emitted now: reject armed
        assert c.error is None and srv.rejecting == 1
        d = await Rec().connect(srv)
        assert str(d.error) == "Connection error"
        for x in (a, b, c, d):
            await x.close()
        srv.apply(None)
        assert srv.plan == FaultPlan() and srv.plan_pending == []


async def test_clean_run_events_and_replayable_ids_on_the_real_conversation() -> None:
    with V0ReplayServer(live_from=150, speed=float("inf")) as srv:
        expected = srv.clean_run_events
        c = await Rec().connect(srv)
        assert await srv.wait_live_done(10)
        await until(lambda: len(c.events()) == expected)
        await asyncio.sleep(0.1)
        assert len(srv.emitted) == len(c.events()) == expected == 248
        # live-only (RecallAction), superseded agent_state_changed / replay-only (environment
        # change_agent_state): the two sets differ, in both directions
        assert srv.emitted_ids - srv.replayable_ids and srv.replayable_ids - srv.emitted_ids
        await c.close()


async def test_random_plan_end_to_end_with_ohnb_exactly_once() -> None:
    events = script(60, gap=0.01)
    n = V0ReplayServer(events, live_from=30).clean_run_events
    assert n == 60
    plan = random_plan(11, n, max_freeze=0.4, max_pause=0.2, oversized_bytes=256 * 1024)
    with V0ReplayServer(events, live_from=30, speed=1, faults=plan) as srv:
        conv = ohnb.connect(srv.url, CONV, retry=FAST)
        assert await srv.wait_live_done(20)
        await conv.wait_until(
            lambda c: set(held_ids(c)) >= srv.emitted_ids & srv.replayable_ids
            and c.connection_state == "OPEN",
            20,
        )
        await conv.close()
    held = held_ids(conv)
    assert len(held) == len(set(held)), f"an id stored twice under plan {plan}"
    assert srv.emitted_ids & srv.replayable_ids <= set(held) <= srv.emitted_ids, f"plan {plan}"
    assert len(conv.attempts) > 1
    assert all(s.kind == "slow" for s in srv.plan_pending)  # at most the final "slow off"


# ---------------------------------------------------------------------------------------------
# ohnb serve


def test_serve_help_lists_the_grammar(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert "--faults SPEC" in out and "freeze@N:S" in out
    assert "example: drop@50,kill@120,freeze@200:3" in out


def test_serve_bad_fault_spec_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--faults", "kill@soon", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ohnb serve: error: fault plan 'kill@soon'") and err.count("\n") == 1


async def test_an_undecodable_packet_becomes_a_visible_row_not_a_silent_loss():
    import ohnb

    with V0ReplayServer() as server:
        conv = ohnb.connect(server.url, server.conversation_id, protocol="v0")
        await conv.history_complete(timeout=10)
        before = len(conv.log)
        await asyncio.to_thread(server.inject_threadsafe, '42["oh_event",{"id":', raw=True)
        await conv.wait_until(lambda c: len(c.log) > before, timeout=5)
        await conv.close()
    row = conv.log.rows[-1]
    assert row["kind"] == "unknown"
    payload = json.loads(row["raw"])
    assert payload["event"] == "undecodable packet"
    assert "JSONDecodeError" in payload["args"][1]
    assert conv.connection_state == "CLOSED" and conv.attempts["outcome"].tolist() == ["connected"]
