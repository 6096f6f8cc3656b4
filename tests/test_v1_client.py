"""The background client against the embedded V1 agent server (WebSocket + REST repair)."""

from __future__ import annotations

import json

import pytest

import ohnb
from ohnb.servers.v1 import V1ReplayServer
from tests.conftest import FIXTURES

FAST = ohnb.RetryPolicy(base=0.05, cap=0.2, connect_timeout=5.0, seed=2)
EVAL = FIXTURES / "v1_eval_output_openagentsafety.jsonl"


def longest_record() -> int:
    import json

    lengths = [len(json.loads(line).get("history") or []) for line in EVAL.open()]
    return max(range(len(lengths)), key=lengths.__getitem__)


def stored_ids(server: V1ReplayServer) -> set[str]:
    return {e["id"] for e in server.stored_events}


def held(conv: ohnb.Conversation) -> list[str]:
    return [r["event_id"] for r in conv.log.rows if r.get("event_id")]


async def wait_all_stored(conv, server, timeout=30.0):
    await server.wait_live_done(timeout)
    await conv.wait_until(lambda c: stored_ids(server) <= set(held(c)), timeout)


async def test_records_a_v1_conversation_exactly_once_with_auto_detection():
    async with V1ReplayServer(EVAL, record=longest_record(), live_from=100, speed=5000, max_gap=0.005) as server:
        conv = ohnb.connect(server.url, server.conversation_id, retry=FAST)
        await conv.history_complete(timeout=10)
        assert conv.protocol == "v1"
        await wait_all_stored(conv, server)
        await conv.close()
    ids = held(conv)
    assert len(ids) == len(set(ids))
    # every stored event, plus the unstored snapshots the server sent (full_state)
    assert stored_ids(server) <= set(ids)
    extra = set(ids) - stored_ids(server)
    assert all(json.loads(r["raw"]).get("key") == "full_state" for r in conv.log.rows if r.get("event_id") in extra)
    events = conv.events
    assert events["id"].isna().all() and events["event_id"].notna().any()
    assert {"replay", "live"} <= set(events["delivery"])
    assert (events["kind"] != "unknown").all()


@pytest.mark.parametrize("abrupt", [False, True], ids=["close-1001", "kill-1006"])
async def test_drops_mid_resend_and_mid_live_lose_and_duplicate_nothing(abrupt):
    async with V1ReplayServer(EVAL, record=longest_record(), live_from=120, speed=3000, max_gap=0.01) as server:
        server.drop_after(50, abrupt=abrupt, during="resend")
        conv = ohnb.connect(server.url, server.conversation_id, retry=FAST, protocol="v1")
        await conv.history_complete(timeout=10)
        server.drop_after(30, abrupt=abrupt, during="live")
        await wait_all_stored(conv, server)
        await conv.close()
    ids = held(conv)
    assert len(ids) == len(set(ids))
    assert stored_ids(server) <= set(ids)
    attempts = conv.attempts
    assert len(attempts) >= 3
    # attempt 1 broke before its history was complete: nothing is known complete, so attempt 2 asks
    # for everything again; later attempts resume from a timestamp (resend_mode=since)
    assert attempts["resumed_after"].isna().tolist()[:2] == [True, True]
    assert attempts["resumed_after"].iloc[2:].notna().all()


async def test_sigterm_then_restart_repairs_events_written_after_the_close():
    server = V1ReplayServer(EVAL, record=longest_record(), live_from=60, speed=2000, max_gap=0.01, write_after_close=5)
    await server.start()
    try:
        conv = ohnb.connect(server.url, server.conversation_id, retry=FAST, protocol="v1")
        await conv.history_complete(timeout=10)
        await conv.wait_until(lambda c: len(c.log) > 80, timeout=10)
        await server.restart(pause=0.3, abrupt=False)  # 1012, 5 events persisted after the close
        await conv.wait_until(lambda c: stored_ids(server) <= set(held(c)) and c.connection_state == "OPEN", 15)
        await conv.close()
    finally:
        await server.stop()
    reasons = conv.attempts["disconnect_reason"].dropna().tolist()
    assert any("1012" in r for r in reasons)
    assert stored_ids(server) <= set(held(conv))


async def test_wrong_key_is_refused_once():
    async with V1ReplayServer(EVAL, record=0, session_api_key="right") as server:
        conv = ohnb.connect(server.url, server.conversation_id, session_api_key="wrong", retry=FAST, protocol="v1")
        with pytest.raises(ohnb.ConnectionRefused, match="Authentication failed"):
            await conv.history_complete(timeout=10)
    assert conv.attempts["outcome"].tolist() == ["refused"]
    assert "wrong" not in conv.attempts.to_string()


async def test_right_key_and_unknown_conversation():
    async with V1ReplayServer(EVAL, record=0, session_api_key="k3y") as server:
        conv = ohnb.connect(server.url, server.conversation_id, session_api_key="k3y", retry=FAST)
        await conv.history_complete(timeout=10)
        await conv.close()
        assert len(conv.events) >= len(server.stored_events)
        other = ohnb.connect(server.url, "6d3c7f1e-0000-4000-8000-000000000000", session_api_key="k3y", retry=FAST)
        with pytest.raises(ohnb.ConnectionRefused, match="not found"):
            await other.history_complete(timeout=10)


async def test_send_message_pause_and_resume_on_v1():
    async with V1ReplayServer(EVAL, record=longest_record(), live_from=150, speed=20, max_gap=0.05) as server:
        conv = ohnb.connect(server.url, server.conversation_id, retry=FAST)
        await conv.history_complete(timeout=10)
        await conv.pause()
        await conv.wait_until(lambda c: c.agent_state == "paused", timeout=5)
        await conv.send_message("hello from ohnb")
        await conv.wait_until(lambda c: any(r.get("content") == "hello from ohnb" for r in c.log.rows), 5)
        await conv.close()
    mine = conv.events[conv.events["content"] == "hello from ohnb"]
    assert mine[["kind", "type", "source"]].values.tolist() == [["action", "message", "user"]]


async def test_streaming_deltas_are_aggregated_not_logged():
    import json

    frames = [json.loads(line) for line in (FIXTURES / "captures" / "v1_real_server_mock_llm_stream_capture.jsonl").open()]
    deltas = [f["data"] for f in frames if "data" in f and f["data"].get("kind") == "StreamingDeltaEvent"]
    assert deltas, "the capture holds StreamingDeltaEvent frames"
    async with V1ReplayServer(EVAL, record=0) as server:
        conv = ohnb.connect(server.url, server.conversation_id, retry=FAST, protocol="v1")
        await conv.history_complete(timeout=10)
        rows_before = len(conv.log)
        seen: list[str] = []
        conv.on_change(lambda: seen.append(conv.streaming_text))
        for delta in deltas:
            await server.inject(delta, store=False)
        expected = "".join(d["content"] for d in deltas)
        await conv.wait_until(lambda c: c.streaming_deltas == len(deltas), timeout=5)
        await conv.close()
    assert conv.streaming_text == expected
    assert len(conv.log) == rows_before  # no delta became a row
    assert seen and seen[-1] == expected


async def test_an_event_missing_from_the_resend_is_repaired_from_rest():
    async with V1ReplayServer(EVAL, record=longest_record()) as server:
        missing = server.stored_events[40]["id"]
        send = server._send

        async def lossy_send(conn, frame, phase, *args, **kwargs):
            if phase == "resend" and isinstance(frame, dict) and frame.get("id") == missing:
                return True  # pretend it was sent: the gap a client must repair
            return await send(conn, frame, phase, *args, **kwargs)

        server._send = lossy_send
        conv = ohnb.connect(server.url, server.conversation_id, retry=FAST, protocol="v1")
        await conv.history_complete(timeout=15)
        await conv.close()
    assert missing in held(conv)
    assert stored_ids(server) <= set(held(conv))
    assert conv.attempts["outcome"].tolist() == ["connected"]
