"""The background client against the embedded V0 server with the real 297-event conversation."""

from __future__ import annotations

import asyncio
import logging

import pytest

import ohnb
from ohnb.servers import V0ReplayServer
from ohnb.stores import default_conversation_path, read_v0_events

FAST = ohnb.RetryPolicy(base=0.05, cap=0.2, connect_timeout=5.0, seed=1)


def sent_sequence(server: V0ReplayServer) -> list[int]:
    """The event ids the server emitted, first copy of each, in emission order."""
    seen: set[int] = set()
    order = []
    for _, event in list(server.emitted):
        eid = event.get("id")
        if isinstance(eid, int) and eid not in seen:
            seen.add(eid)
            order.append(eid)
    return order


def held_sequence(conv: ohnb.Conversation) -> list[int]:
    return [r["id"] for r in conv.log.rows if r.get("id") is not None]


async def record_until_done(conv: ohnb.Conversation, server: V0ReplayServer, timeout=30.0):
    await server.wait_live_done(timeout)
    await conv.wait_until(
        lambda c: set(sent_sequence(server)) <= set(held_sequence(c)) and c.connection_state == "OPEN",
        timeout,
    )


def assert_exactly_once(conv: ohnb.Conversation, server: V0ReplayServer) -> None:
    events = conv.events
    sent = sent_sequence(server)
    held = events["id"].dropna().astype(int).tolist()
    assert len(held) == len(set(held)), "an id is stored twice"
    assert set(held) == set(sent), f"lost {set(sent) - set(held)}, extra {set(held) - set(sent)}"
    # arrival order is the server's emission order (first copies)
    assert held == [i for i in sent if i in set(held)]


async def test_pure_replay_of_the_297_event_conversation():
    stored = read_v0_events(default_conversation_path())
    async with V0ReplayServer() as server:
        conv = ohnb.connect(server.url, server.conversation_id, retry=FAST)
        await conv.history_complete(timeout=10)
        events = conv.events
        await conv.close()
    # what the real server replays: no null events, no RecallAction, one agent_state_changed, last
    expected = [
        e["id"] for e in stored
        if e.get("action") not in ("null", "recall") and e.get("observation") not in ("null", "agent_state_changed")
    ]
    last_state = [e for e in stored if e.get("observation") == "agent_state_changed"][-1]
    assert events["id"].tolist() == expected + [last_state["id"]]
    assert (events["delivery"] == "replay").all() and (events["attempt"] == 1).all()
    assert conv.agent_state == last_state["extras"]["agent_state"]
    assert events["id"].sort_values().is_monotonic_increasing and events["id"].is_unique
    attempts = conv.attempts
    assert attempts["outcome"].tolist() == ["connected"]
    assert attempts.loc[0, "events_replayed"] == len(expected) + 1
    assert conv.connection_state == "CLOSED"


@pytest.mark.parametrize("abrupt", [False, True], ids=["server-close", "transport-kill"])
async def test_disconnects_mid_replay_and_mid_live_lose_and_duplicate_nothing(abrupt):
    async with V0ReplayServer(live_from=150, speed=2000, max_gap=0.01) as server:
        server.drop_after(60, abrupt=abrupt, during="replay")
        conv = ohnb.connect(server.url, server.conversation_id, retry=FAST)
        await conv.history_complete(timeout=10)
        server.drop_after(40, abrupt=abrupt, during="live")
        await record_until_done(conv, server)
        await conv.close()
    assert_exactly_once(conv, server)
    attempts = conv.attempts
    # attempt 1 died mid-replay (no CONNECT), a later one connected and was cut while live
    assert attempts.loc[0, "outcome"] == "transport_error"
    assert attempts.loc[0, "events_replayed"] == 60
    assert pd_na(attempts.loc[0, "connected_at"])
    # attempt 2 resumed at or below the last id of attempt 1 (never above: that could skip events),
    # and every id above its resume point that attempt 1 held came again and was dropped
    first = conv.events[conv.events["attempt"] == 1]["id"].tolist()
    resumed = attempts.loc[1, "resumed_from"]
    assert resumed <= max(first)
    assert attempts.loc[1, "duplicates"] == sum(i > resumed for i in first)
    live_cut = attempts[(attempts["outcome"] == "connected") & (attempts["events_live"] > 0)]
    assert (live_cut["disconnect_reason"].iloc[0]) == ("transport error" if abrupt else "server disconnect")
    assert len(attempts) >= 3
    assert conv.reconnects >= 1
    assert set(conv.events["delivery"]) == {"replay", "live"}


def pd_na(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


async def test_wrong_key_is_refused_once_with_the_servers_words_and_no_retry_storm(caplog):
    caplog.set_level(logging.DEBUG)
    secret = "sk-very-secret-123"
    async with V0ReplayServer(session_api_key="right-key") as server:
        conv = ohnb.connect(server.url, server.conversation_id, session_api_key=secret, retry=FAST)
        with pytest.raises(ohnb.ConnectionRefused, match="invalid_session_api_key"):
            await conv.history_complete(timeout=10)
        await asyncio.sleep(0.5)  # long enough for several retries, were there any
        assert server.refusals == 1
    attempts = conv.attempts
    assert attempts["outcome"].tolist() == ["refused"]
    assert attempts.loc[0, "error"] == "invalid_session_api_key"
    assert conv.connection_state == "CLOSED"
    assert conv.error == "Connection refused: invalid_session_api_key"
    for text in (repr(conv), conv.events.to_string(), attempts.to_string(), caplog.text):
        assert secret not in text


async def test_right_key_connects_and_the_key_is_nowhere(caplog):
    caplog.set_level(logging.DEBUG)
    secret = "sk-right-key-456"
    async with V0ReplayServer(session_api_key=secret) as server:
        conv = ohnb.connect(server.url, server.conversation_id, session_api_key=secret, retry=FAST)
        await conv.history_complete(timeout=10)
        await conv.close()
    assert len(conv.events) > 100
    for text in (repr(conv), conv.events.to_string(), conv.attempts.to_string(), caplog.text):
        assert secret not in text


async def test_missing_key_hang_times_out_and_is_retried_with_backoff():
    policy = ohnb.RetryPolicy(base=0.05, cap=0.1, connect_timeout=0.5, max_retries=1, seed=3)
    async with V0ReplayServer(session_api_key="k", missing_key_bug=True) as server:
        conv = ohnb.connect(server.url, server.conversation_id, retry=policy)
        with pytest.raises(ohnb.RetriesExhausted):
            await conv.history_complete(timeout=10)
    assert conv.attempts["outcome"].tolist() == ["timeout", "timeout"]
    assert conv.connection_state == "FAILED"
    assert conv.error == "Failed to connect to server"


async def test_unknown_conversation_is_refused():
    async with V0ReplayServer() as server:
        conv = ohnb.connect(server.url, "no-such-conversation", retry=FAST)
        with pytest.raises(ohnb.ConnectionRefused):
            await conv.history_complete(timeout=10)
    assert conv.attempts["outcome"].tolist() == ["refused"]


async def test_send_message_pause_and_resume_reach_the_server_and_come_back():
    async with V0ReplayServer(live_from=200, speed=50, max_gap=0.05) as server:
        conv = ohnb.connect(server.url, server.conversation_id, retry=FAST)
        await conv.history_complete(timeout=10)
        await conv.pause()
        await conv.wait_until(lambda c: c.agent_state == "paused", timeout=5)
        held = len(conv.log)
        await asyncio.sleep(0.3)
        paused_growth = len(conv.log) - held
        await conv.send_message("hello <b>agent</b>")
        await conv.wait_until(
            lambda c: any(r.get("content") == "hello <b>agent</b>" for r in c.log.rows), timeout=5
        )
        await conv.resume()
        await conv.wait_until(lambda c: c.agent_state == "running", timeout=5)
        await conv.close()
    assert paused_growth <= 1  # the live stream stops while paused (one event may be in flight)
    events = conv.events
    mine = events[events["content"] == "hello <b>agent</b>"]
    assert mine[["kind", "type", "source", "delivery"]].values.tolist() == [
        ["action", "message", "user", "live"]
    ]


async def test_send_when_not_connected_raises_not_connected():
    async with V0ReplayServer(session_api_key="k", missing_key_bug=False) as server:
        conv = ohnb.connect(server.url, server.conversation_id, retry=FAST)
        with pytest.raises(ohnb.ConnectionRefused):
            await conv.history_complete(timeout=10)
        with pytest.raises(ohnb.NotConnected):
            await conv.send_message("anyone?")


async def test_close_leaves_no_task_behind():
    before = {t for t in asyncio.all_tasks()}
    async with V0ReplayServer(live_from=150, speed=1, max_gap=1) as server:
        conv = ohnb.connect(server.url, server.conversation_id, retry=FAST)
        await conv.history_complete(timeout=10)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await conv.close()
        assert loop.time() - t0 < 1.0
    await asyncio.sleep(0.05)
    leftover = {t for t in asyncio.all_tasks() if not t.done()} - before - {asyncio.current_task()}
    assert not leftover, leftover
    assert conv.attempts["disconnect_reason"].tolist() == ["client disconnect"]


def test_connect_without_a_running_loop_says_how_to_use_it():
    with pytest.raises(RuntimeError, match="asyncio.run"):
        ohnb.connect("http://127.0.0.1:1", "x")


async def test_unreachable_server_retries_then_fails():
    policy = ohnb.RetryPolicy(base=0.01, cap=0.02, connect_timeout=1.0, max_retries=2)
    conv = ohnb.connect("http://127.0.0.1:9", "x", retry=policy)
    with pytest.raises(ohnb.RetriesExhausted):
        await conv.history_complete(timeout=20)
    attempts = conv.attempts
    assert attempts["outcome"].tolist() == ["transport_error"] * 3
    assert (attempts["delay_s"].iloc[1:] <= 0.02).all()
    assert conv.connection_state == "FAILED"
