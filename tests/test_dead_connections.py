"""Silent dead connections (a frozen server: no events, no heartbeats) are noticed and retried, and
the user-facing state follows the OpenHands web client's rules."""

from __future__ import annotations

import asyncio
import time

import ohnb
from ohnb.servers import V0ReplayServer
from tests.conftest import FIXTURES

POLICY = ohnb.RetryPolicy(base=0.05, cap=0.2, connect_timeout=5.0, seed=4)


async def test_v0_frozen_server_is_detected_by_the_engineio_heartbeat_then_resumed():
    # engine.io: the client gives up ping_interval + ping_timeout after the last frame it received
    with V0ReplayServer(live_from=200, speed=50, max_gap=0.05, ping_interval=1, ping_timeout=1) as server:
        conv = ohnb.connect(server.url, server.conversation_id, retry=POLICY, protocol="v0")
        await conv.history_complete(timeout=10)
        states: list[tuple[str, str | None]] = []
        conv.on_change(lambda: states.append((conv.connection_state, conv.error)))
        frozen_at = time.monotonic()
        await asyncio.to_thread(server.freeze_threadsafe, 4.0)
        await conv.wait_until(lambda c: c.connection_state == "RECONNECTING", timeout=10)
        detected = time.monotonic() - frozen_at
        await conv.wait_until(lambda c: c.connection_state == "OPEN", timeout=20)
        await asyncio.to_thread(server.wait_live_done_threadsafe, 30)
        await conv.wait_until(lambda c: server.emitted_ids & server.replayable_ids <= set(c.events["id"].dropna()), 20)
        await conv.close()
    assert 0.5 <= detected <= 2.5 + 0.5, detected  # interval + timeout = 2 s, plus scheduling slack
    first = conv.attempts.iloc[0]
    assert first["outcome"] == "connected" and first["disconnect_reason"] == "transport error"
    assert ("RECONNECTING", "Connection lost: transport error") in states
    assert conv.events["event_id"].is_unique


async def test_v1_frozen_server_is_detected_by_websocket_pings():
    from ohnb.servers.v1 import V1ReplayServer

    source = FIXTURES / "v1_eval_output_openagentsafety.jsonl"
    with V1ReplayServer(source, record=0) as server:
        conv = ohnb.connect(server.url, server.conversation_id, retry=POLICY, protocol="v1")
        conv.transport.heartbeat = 1.0
        await conv.history_complete(timeout=10)
        frozen_at = time.monotonic()
        await asyncio.to_thread(server.freeze_threadsafe, 3.0)
        await conv.wait_until(lambda c: c.connection_state == "RECONNECTING", timeout=10)
        detected = time.monotonic() - frozen_at
        await conv.wait_until(lambda c: c.connection_state == "OPEN", timeout=20)
        await conv.close()
    # aiohttp pings every heartbeat s and gives up when no pong comes within heartbeat / 2
    assert detected <= 1.5 * 1.0 + 1.0, detected
    assert conv.error is None
    assert conv.attempts.iloc[0]["disconnect_reason"].startswith("transport error")


async def test_failed_to_connect_before_a_first_open_and_connection_lost_after():
    policy = ohnb.RetryPolicy(base=0.05, cap=0.1, connect_timeout=2.0, max_retries=3)
    server = V0ReplayServer()
    await server.start()
    port = server.port
    try:
        server.reject_next(2)
        conv = ohnb.connect(server.url, server.conversation_id, retry=policy, protocol="v0")
        seen: list[tuple[str, str | None]] = []
        conv.on_change(lambda: seen.append((conv.connection_state, conv.error)))
        await conv.history_complete(timeout=10)
        assert ("CONNECTING", "Failed to connect to server") in seen
        assert conv.error is None and conv.connection_state == "OPEN"
        await server.drop_connections()
        await conv.wait_until(lambda c: c.reconnects >= 1 and c.connection_state == "OPEN", timeout=10)
        assert ("RECONNECTING", "Connection lost: server disconnect") in seen
        await conv.close()
    finally:
        await server.stop()
    assert port == server.port
    assert conv.attempts["outcome"].tolist()[:2] == ["transport_error", "transport_error"]
