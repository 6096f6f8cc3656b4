"""ohnb against the real OpenHands V0 server (openhands-ai 0.62.0): opt-in integration tests.

How to run (installs the server into ``~/.cache/ohnb/real-servers/oh-v0`` on first use, ~2-3 min)::

    OHNB_REAL_SERVERS=1 python -m pytest tests/integration -m real_server -s

Without ``OHNB_REAL_SERVERS=1`` every test here is skipped, so the default run (``./scripts/test.sh``)
neither installs nor starts anything. ``-s`` shows what each test observed (timings, attempts tables,
differences from the embedded server). Other knobs: ``OHNB_REAL_SERVER_CACHE`` (cache folder),
``OHNB_PYTHON312`` (the Python 3.12 that builds the venv), ``OHNB_FIXTURES`` (the fixtures folder).
The harness is ``scripts/real_servers.py`` (also a CLI: ``install-v0``, ``run-v0``).

What is checked:

- a stored conversation replayed: a fixture written into the server's file store is replayed to ohnb
  exactly as the protocol page says (ids in order, no null/recall actions, only the last
  ``agent_state_changed``, last), equal payload for payload to what a bare python-socketio client
  receives, and the same ``(id, type)`` sequence as ohnb's embedded ``V0ReplayServer``;
- a live round trip: ``send_message`` comes back as a user ``message`` event and the agent, whose LLM is
  unreachable, goes ``running`` -> ``error``;
- SIGKILL and restart mid-stream: while the agent loop streams (a mock LLM on loopback keeps it
  running ``echo`` commands), the server is killed with SIGKILL and restarted on the same port; ohnb
  retries with backoff (transport errors, each resuming from the last id held) and resumes; its events
  then match the server's file store, no id twice;
- refusals: a wrong session API key is refused once (``invalid_session_api_key``), with no retries.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from .conftest import ENABLED, SESSION_KEY, harness

if not ENABLED:  # opt-in: the default run does not even import what these tests need
    pytest.skip("real OpenHands servers are opt-in: set OHNB_REAL_SERVERS=1", allow_module_level=True)

import pandas as pd  # noqa: E402
import socketio  # noqa: E402

import ohnb  # noqa: E402
from ohnb.servers import V0ReplayServer  # noqa: E402

from .mock_llm import MockLLM  # noqa: E402

try:
    from ohnb.stores import read_v0_events
except ImportError:  # the stores package being reorganised
    from ohnb.stores.v0 import read_v0_events  # type: ignore[no-redef]

pytestmark = [pytest.mark.real_server, pytest.mark.timeout(900)]

pd.set_option("display.width", 220)
pd.set_option("display.max_columns", 30)
pd.set_option("display.max_rows", 300)
pd.set_option("display.max_colwidth", 40)

FIXTURES = ("v0_basic_gui_mode.json", "v0_trajectory_export_297ev.json")
ATTEMPT_COLUMNS = [
    "attempt", "delay_s", "outcome", "error", "resumed_from", "events_replayed", "events_live",
    "duplicates", "disconnect_reason",
]


# --------------------------------------------------------------------------------------------------
# the real server's two filters, from openhands/server/listen_socket.py (replay) and
# openhands/server/session/session.py (WebSession._on_event, live), 0.62.0


def replayed(events: Iterable[dict[str, Any]], after: int = -1) -> list[dict[str, Any]]:
    """What the connect handler replays for ``latest_event_id=after``: ids > after in order, without
    NullAction/NullObservation/RecallAction, and only the last agent_state_changed, at the end."""
    out: list[dict[str, Any]] = []
    last_state = None
    for event in sorted(events, key=lambda e: e["id"]):
        if event["id"] <= after:
            continue
        if event.get("action") in ("null", "recall") or event.get("observation") == "null":
            continue
        if event.get("observation") == "agent_state_changed":
            last_state = event
        else:
            out.append(event)
    return out + ([last_state] if last_state is not None else [])


def sent_live(event: dict[str, Any]) -> bool:
    """Whether the server broadcasts a stored event live."""
    if event.get("action") == "null" or event.get("observation") == "null":
        return False
    if event.get("source") in ("agent", "user"):
        return True
    return event.get("observation") in ("run", "agent_state_changed", "recall", "error")


def type_of(event: dict[str, Any]) -> str:
    return event.get("action") or event.get("observation") or "?"


def ids(events: Iterable[dict[str, Any]]) -> list[int]:
    return [e["id"] for e in events]


def payload_differences(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """Top-level (and args/extras) keys whose values differ between two event dicts."""
    diffs = []
    for key in sorted(set(got) | set(want)):
        if key in ("args", "extras") and isinstance(got.get(key), dict) and isinstance(want.get(key), dict):
            for sub in sorted(set(got[key]) | set(want[key])):
                if got[key].get(sub, "<absent>") != want[key].get(sub, "<absent>"):
                    diffs.append(f"{key}.{sub}")
        elif got.get(key, "<absent>") != want.get(key, "<absent>"):
            diffs.append(key)
    return diffs


def summarize_differences(pairs: Iterable[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for got, want in pairs:
        for key in payload_differences(got, want):
            tag = f"{type_of(want)}:{key}"
            counts[tag] = counts.get(tag, 0) + 1
    return counts


def eq(series: pd.Series, value: Any) -> pd.Series:
    """``series == value`` as plain bools (missing values are False), safe to combine with ``&``."""
    return series.eq(value).fillna(False).astype(bool)


def id_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows that carry an event id (status and error messages have none)."""
    return frame[frame["id"].notna()]


def show(title: str, frame: pd.DataFrame, columns: list[str] | None = None) -> None:
    cols = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    print(f"\n--- {title} ({len(frame)} rows)")
    print(frame[cols].to_string() if len(frame) else "(none)")


def event_table(conv: ohnb.Conversation) -> pd.DataFrame:
    ev = conv.events
    return ev.assign(content=ev["content"].str.slice(0, 30))


EVENT_COLUMNS = ["id", "source", "kind", "type", "agent_state", "delivery", "attempt", "content"]


async def poll_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> float:
    """Poll ``predicate`` until true; return the seconds it took. Raises AssertionError on timeout."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)
    return time.monotonic() - started


async def raw_replay(url: str, conversation_id: str, key: str | None) -> tuple[list[Any], float]:
    """Everything a bare python-socketio client receives before the server's CONNECT."""
    received: list[Any] = []
    connected = asyncio.Event()
    sio = socketio.AsyncClient(reconnection=False)

    @sio.on("oh_event")
    async def on_event(data: Any) -> None:
        if not connected.is_set():
            received.append(data)

    @sio.event
    async def connect() -> None:
        connected.set()

    query = f"conversation_id={conversation_id}&latest_event_id=-1"
    if key:
        query += f"&session_api_key={key}"
    started = time.monotonic()
    await sio.connect(f"{url}?{query}", transports=["websocket"], wait_timeout=60)
    await asyncio.wait_for(connected.wait(), 60)
    elapsed = time.monotonic() - started
    await sio.disconnect()
    return received, elapsed


def load_fixture(fixtures_dir: Path, name: str) -> list[dict[str, Any]]:
    return read_v0_events(fixtures_dir / name)


@pytest.fixture
def v0(real_v0: Any, use_server: Callable[[Any], Any]) -> Any:
    """The shared real server (SESSION_API_KEY set, unreachable LLM), named in failure reports."""
    return use_server(real_v0)


def new_id() -> str:
    return uuid.uuid4().hex


# --------------------------------------------------------------------------------------------------
# stored conversation replayed


@pytest.mark.parametrize("fixture_name", FIXTURES)
async def test_stored_conversation_replayed(v0: Any, fixtures_dir: Path, fixture_name: str) -> None:
    events = load_fixture(fixtures_dir, fixture_name)
    expected = replayed(events)
    ours, theirs = new_id(), new_id()  # one copy for ohnb, one for a bare socketio client
    v0.add_conversation(ours, events)
    v0.add_conversation(theirs, events)

    # a bare python-socketio client: what the real server sends before its CONNECT
    raw, raw_s = await raw_replay(v0.url, theirs, SESSION_KEY)

    # ohnb
    started = time.monotonic()
    conv = ohnb.connect(v0.url, ours, session_api_key=SESSION_KEY)
    try:
        await conv.history_complete(120)
        replay_s = time.monotonic() - started
        # the server starts an agent loop for the conversation when a client joins: live events follow
        await conv.wait_until(lambda c: bool((
            eq(c.events["type"], "agent_state_changed") & eq(c.events["delivery"], "live")
            & eq(c.events["agent_state"], "awaiting_user_input")).any()), 60)
        await asyncio.sleep(0.5)
        frame = conv.events
        attempts = conv.attempts
    finally:
        await conv.close()
    replay = frame[frame["delivery"] == "replay"]
    live = frame[frame["delivery"] == "live"]
    print(f"\n[{fixture_name}] {len(events)} stored events -> {len(replay)} replayed "
          f"(ohnb: history_complete after {replay_s:.3f} s; bare client: {raw_s:.3f} s)")
    show("attempts", attempts, ATTEMPT_COLUMNS)
    show("live events after the replay (the agent loop the join started)", live.assign(
        content=live["content"].str.slice(0, 30)), EVENT_COLUMNS)

    # what the real server replays, seen by a bare client, is what the protocol page says
    assert [e.get("id") for e in raw] == ids(expected)
    # ohnb holds exactly that, in that order, each payload as received
    assert replay["id"].tolist() == ids(expected)
    assert [r for r in ohnb.payloads(replay)] == raw
    assert replay["id"].is_unique
    assert not replay["type"].isin(["null"]).any()
    assert not (eq(replay["kind"], "action") & eq(replay["type"], "recall")).any()
    assert replay["type"].iloc[-1] == "agent_state_changed"
    assert (replay["type"] == "agent_state_changed").sum() == 1
    assert replay["agent_state"].iloc[-1] == expected[-1]["extras"]["agent_state"]
    assert replay["parse_error"].isna().all()
    assert attempts["outcome"].isna().all() or (attempts["outcome"] == "closed_by_user").all()
    assert len(attempts) == 1 and attempts["events_replayed"].iloc[0] == len(expected)

    # the real server re-serialises each stored event (event_from_dict -> event_to_dict)
    differences = summarize_differences(zip(raw, expected, strict=True))
    print(f"payload keys the real replay changes vs the stored fixture: {differences or 'none'}")

    # the embedded server with the same events
    server = V0ReplayServer(events, conversation_id=ours)
    await server.start()
    try:
        started = time.monotonic()
        embedded = ohnb.connect(server.url, ours)
        try:
            await embedded.history_complete(60)
            embedded_s = time.monotonic() - started
            await asyncio.sleep(0.5)
            eframe = embedded.events
        finally:
            await embedded.close()
    finally:
        await server.stop()
    ereplay = eframe[eframe["delivery"] == "replay"]
    print(f"embedded V0ReplayServer: history_complete after {embedded_s:.3f} s; "
          f"{len(eframe) - len(ereplay)} live rows after the replay (real server: {len(live)})")
    assert list(zip(ereplay["id"], ereplay["type"], strict=True)) == list(
        zip(replay["id"], replay["type"], strict=True)
    )
    embedded_differences = summarize_differences(
        zip(list(ohnb.payloads(ereplay)), list(ohnb.payloads(replay)), strict=True)
    )
    print(f"payload keys that differ, embedded vs real replay: {embedded_differences or 'none'}")
    stored_after = v0.stored_events(ours)
    print(f"the real store now holds ids {ids(stored_after)[len(events):]} beyond the fixture: "
          f"{[(e['id'], e.get('source'), type_of(e), (e.get('extras') or {}).get('agent_state')) for e in stored_after if e['id'] > events[-1]['id']]}")


# --------------------------------------------------------------------------------------------------
# live round trip


async def test_live_message_round_trip(v0: Any) -> None:
    conversation_id = new_id()
    v0.add_conversation(conversation_id, [])
    states: list[str | None] = []

    started = time.monotonic()
    conv = ohnb.connect(v0.url, conversation_id, session_api_key=SESSION_KEY)
    conv.on_change(lambda: states.append(conv.agent_state) if not states or states[-1] != conv.agent_state else None)
    try:
        await conv.history_complete(60)
        connected_s = time.monotonic() - started
        await conv.wait_until(lambda c: c.agent_state == "awaiting_user_input", 60)
        ready_s = time.monotonic() - started

        text = f"ohnb round trip {uuid.uuid4().hex[:8]}"
        sent = time.monotonic()
        await conv.send_message(text)

        def echoed(c: ohnb.Conversation) -> bool:
            ev = c.events
            return bool((eq(ev["type"], "message") & eq(ev["source"], "user") & eq(ev["content"], text)).any())

        await conv.wait_until(echoed, 30)
        echo_s = time.monotonic() - sent
        await conv.wait_until(lambda c: c.agent_state == "error", 120)
        error_s = time.monotonic() - sent
        await asyncio.sleep(1.5)  # the status message and anything trailing
        frame = conv.events
        attempts = conv.attempts
    finally:
        await conv.close()

    print(f"\nconnected in {connected_s:.3f} s, awaiting_user_input after {ready_s:.3f} s; "
          f"message echoed after {echo_s:.3f} s, agent in error {error_s:.3f} s after sending")
    states = [s for s in states if s is not None]
    print(f"agent states seen by Conversation.agent_state: {states}")
    show("events", event_table(conv), EVENT_COLUMNS)
    show("attempts", attempts, ATTEMPT_COLUMNS)

    message = frame[eq(frame["type"], "message") & eq(frame["source"], "user")]
    assert len(message) == 1 and message["delivery"].iloc[0] == "live"
    assert ohnb.payloads(message).iloc[0]["args"]["content"] == text
    event_states = frame.loc[frame["type"] == "agent_state_changed", "agent_state"].tolist()
    print(f"agent_state_changed events: {event_states}")
    assert event_states[-1] == "error"
    assert "running" in event_states and event_states.index("running") < len(event_states) - 1
    assert states[-2:] == ["running", "error"]
    status = frame[frame["kind"] == "status"]
    print(f"status messages: {status['type'].tolist()}")
    assert status["type"].str.startswith("STATUS$ERROR").any()
    assert len(attempts) == 1

    # every id ohnb holds is stored; every stored event the server broadcasts live is held
    stored = v0.stored_events(conversation_id)
    held = id_rows(frame)
    assert held["id"].is_unique
    assert set(held["id"].astype(int)) <= set(ids(stored))
    missing = [e for e in stored if e["id"] not in set(held["id"].astype(int))]
    print(f"stored but never sent: {[(e['id'], e.get('source'), type_of(e)) for e in missing]}")
    assert all(not sent_live(e) for e in missing)
    by_id = {e["id"]: e for e in stored}
    live_vs_stored = summarize_differences(
        (row, by_id[row["id"]]) for row in ohnb.payloads(held)
    )
    print(f"payload keys that differ, live copy vs stored file: {live_vs_stored or 'none'}")


# --------------------------------------------------------------------------------------------------
# SIGKILL and restart mid-stream


async def test_sigkill_and_restart_mid_stream(start_v0: Callable[..., Any]) -> None:
    llm = MockLLM(delay=0.3).start()
    conversation_id = new_id()
    policy = ohnb.RetryPolicy(base=0.5, cap=4.0, max_retries=None, seed=20261121)
    try:
        server = start_v0(
            conversations={conversation_id: []}, settings=harness.default_settings(llm.base_url)
        )
        conv = ohnb.connect(server.url, conversation_id, retry=policy)
        try:
            await conv.history_complete(60)
            await conv.wait_until(lambda c: c.agent_state == "awaiting_user_input", 60)
            await conv.send_message("Run one short shell command after another until told to stop.")

            def mid_stream(c: ohnb.Conversation) -> bool:
                ev = id_rows(c.events)
                runs = ev[eq(ev["type"], "run") & eq(ev["kind"], "action")]
                # a few commands in, and the last event held is a command (its output may follow)
                return len(runs) >= 4 and ev["kind"].iloc[-1] == "action" and ev["type"].iloc[-1] == "run"

            await conv.wait_until(mid_stream, 120)
            attempts_before = len(conv.attempts)
            killed = time.monotonic()
            await asyncio.to_thread(server.kill)
            llm.mode = "finish"  # whatever runs after the restart ends the task
            stored_at_kill = server.stored_events(conversation_id)  # the server is dead: final

            # let ohnb fail a few times, then bring the server back on the same port and store
            await poll_until(
                lambda: (conv.attempts["outcome"] == "transport_error").sum() >= 2, 60,
                "two failed reconnect attempts",
            )
            held_before = int(id_rows(conv.events)["id"].max())  # the broken connection is over
            held_set_before = set(id_rows(conv.events)["id"].astype(int))
            ended = conv.attempts["ended_at"]
            first_error_s = (ended.iloc[attempts_before] - ended.iloc[attempts_before - 1]).total_seconds()
            print(f"\nkilled mid-stream; ohnb held ids up to {held_before}; store at kill: ids up to "
                  f"{stored_at_kill[-1]['id']} ({llm.ticks} commands asked of the mock LLM); first "
                  f"transport error {first_error_s:.3f} s after the broken attempt ended")
            restart_started = time.monotonic()
            await asyncio.to_thread(server.restart)
            restart_s = time.monotonic() - restart_started

            def reconnected() -> bool:
                at = conv.attempts
                return (conv.connection_state == "OPEN" and len(at) > attempts_before
                        and bool(pd.notna(at["connected_at"].iloc[-1])))

            await poll_until(reconnected, 120, "ohnb to reconnect after the restart")
            downtime_s = time.monotonic() - killed
            reconnect_attempt = int(conv.attempts["attempt"].iloc[-1])

            # the restarted server starts a fresh agent session (seen: loading -> awaiting_user_input);
            # one more message, which the mock LLM answers with `finish`, shows the live path works
            await conv.wait_until(
                lambda c: bool((eq(c.events["attempt"], reconnect_attempt) & c.events["agent_state"].isin(
                    ["awaiting_user_input", "finished", "error"]).fillna(False).astype(bool)).any()), 60,
            )
            await conv.send_message("Stop now.")

            def finished_after_stop(c: ohnb.Conversation) -> bool:
                ev = c.events
                stop = ev[eq(ev["type"], "message") & eq(ev["content"], "Stop now.")]
                done = ev[eq(ev["agent_state"], "finished")]
                return len(stop) > 0 and len(done) > 0 and int(done["id"].max()) > int(stop["id"].max())

            await conv.wait_until(finished_after_stop, 120)
            await _settle(server, conversation_id, conv)
            frame = conv.events
            attempts = conv.attempts
            stored = server.stored_events(conversation_id)
        finally:
            await conv.close()
    finally:
        llm.stop()

    print(f"server restart took {restart_s:.1f} s (start times: {[round(s, 1) for s in server.starts]}); "
          f"kill -> ohnb OPEN again: {downtime_s:.1f} s")
    show("attempts", attempts, ATTEMPT_COLUMNS)
    show("events", frame.assign(content=frame["content"].str.slice(0, 30)), EVENT_COLUMNS)

    # -- the attempts table: the open attempt broke, transport errors with backoff, then resumed
    after = attempts.iloc[attempts_before - 1:]
    broken, failed, resumed = after.iloc[0], after.iloc[1:-1], after.iloc[-1]
    assert broken["outcome"] == "connected" and broken["disconnect_reason"] == "transport error"
    assert len(failed) >= 2 and (failed["outcome"] == "transport_error").all()
    # Every attempt resumes from the same point, at or below the highest id held: just below the
    # first id missing near the top (V0Transport.resume_point; the 0.62 server never sends some
    # environment events live), so the replay may repeat events, which are dropped as duplicates.
    point = failed["resumed_from"].iloc[0]
    assert point <= held_before
    assert (failed["resumed_from"] == point).all()
    assert resumed["resumed_from"] == point and pd.notna(resumed["connected_at"])
    assert resumed["duplicates"] <= sum(1 for i in held_set_before if i > point)
    for n, delay in enumerate(after.iloc[1:]["delay_s"], start=1):  # full jitter ceilings
        assert 0 <= delay <= min(policy.cap, policy.base * 2 ** (n - 1)) + 1e-9
    assert conv.reconnects == len(after) - 1

    # -- the replay after the restart is exactly the ids > the resume point of the store at the kill
    #    that were not held yet (the held ones came again and were dropped as duplicates)
    replay = frame[eq(frame["attempt"], reconnect_attempt) & eq(frame["delivery"], "replay")]
    assert replay["id"].tolist() == [
        i for i in ids(replayed(stored_at_kill, after=int(point))) if i not in held_set_before
    ]
    lost = [e for e in stored_at_kill if e["id"] > held_before and sent_live(e)
            and e["id"] not in set(replay["id"].astype(int))]
    print(f"stored before the kill, after the last id held, sent live but never replayed (lost to "
          f"every client that was connected): {[(e['id'], type_of(e)) for e in lost] or 'none'}")

    # -- the final events equal the server's stored events, none twice
    held = id_rows(frame)
    held_ids = held["id"].astype(int).tolist()
    assert len(held_ids) == len(set(held_ids))
    assert conv.duplicates == int(attempts["duplicates"].sum())
    assert set(held_ids) <= set(ids(stored))
    kill_ids = set(ids(stored_at_kill))
    replayable = set(ids(replayed(stored_at_kill, after=held_before)))
    for event in stored:
        if event["id"] in set(held_ids):
            continue
        if event["id"] <= held_before or event["id"] not in kill_ids:
            # before the kill and after the reconnect: only events never sent live are missing
            assert not sent_live(event), f"event {event['id']} ({type_of(event)}) was sent live but is missing"
        else:
            assert event["id"] not in replayable, f"event {event['id']} should have been replayed"
    missing = [(e["id"], e.get("source"), type_of(e)) for e in stored if e["id"] not in set(held_ids)]
    print(f"stored but not held (never sent by the server): {missing}")
    by_id = {e["id"]: e for e in stored}
    print("payload keys that differ, ohnb's copy vs stored file: "
          f"{summarize_differences((r, by_id[r['id']]) for r in ohnb.payloads(held)) or 'none'}")
    ticks = held[eq(held["type"], "run") & eq(held["kind"], "observation")]
    print(f"run observations held: {len(ticks)}; empty outputs: {(ticks['content'].fillna('') == '').sum()}")


async def _settle(server: Any, conversation_id: str, conv: ohnb.Conversation, quiet: float = 2.0) -> None:
    """Wait until the store stops growing for ``quiet`` seconds (the agent loop is done)."""
    last, since = None, time.monotonic()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current = len(server.stored_events(conversation_id))
        if current != last:
            last, since = current, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        await asyncio.sleep(0.2)


# --------------------------------------------------------------------------------------------------
# refusals


async def test_wrong_key_refused_once(v0: Any, fixtures_dir: Path) -> None:
    conversation_id = new_id()
    v0.add_conversation(conversation_id, load_fixture(fixtures_dir, "v0_basic_gui_mode.json"))
    wrong = "not-the-key-7c1d"
    started = time.monotonic()
    conv = ohnb.connect(v0.url, conversation_id, session_api_key=wrong,
                        retry=ohnb.RetryPolicy(base=0.1, cap=0.5, max_retries=5))
    with pytest.raises(ohnb.ConnectionRefused, match="invalid_session_api_key"):
        await conv.history_complete(60)
    refused_s = time.monotonic() - started
    await asyncio.sleep(3.0)  # would-be retries have had time to happen
    attempts = conv.attempts
    print(f"\nrefused after {refused_s:.3f} s; state {conv.connection_state}, error {conv.error!r}")
    show("attempts", attempts, ATTEMPT_COLUMNS)
    assert len(attempts) == 1
    assert attempts["outcome"].iloc[0] == "refused"
    assert attempts["error"].iloc[0] == "invalid_session_api_key"
    assert conv.connection_state == "CLOSED"
    # the real server checks the key before it replays anything
    assert len(conv.events) == 0
    shown = repr(conv) + attempts.to_string() + str(conv.error)
    assert wrong not in shown
    await conv.close()


async def test_missing_key_times_out(v0: Any) -> None:
    """The upstream bug: no key at all to a server with SESSION_API_KEY -> KeyError in the handler, the
    client gets neither CONNECT nor CONNECT_ERROR. ohnb counts each attempt as a timeout (transient)."""
    conversation_id = new_id()
    v0.add_conversation(conversation_id, [])
    conv = ohnb.connect(v0.url, conversation_id,
                        retry=ohnb.RetryPolicy(base=0.1, cap=0.2, max_retries=1, connect_timeout=3.0))
    with pytest.raises(ohnb.RetriesExhausted):
        await conv.history_complete(60)
    attempts = conv.attempts
    show("\nattempts (no key)", attempts, ATTEMPT_COLUMNS)
    assert attempts["outcome"].tolist() == ["timeout", "timeout"]
    assert conv.connection_state == "FAILED"
    assert "KeyError" in v0.log_tail(20000)
    await conv.close()


async def test_unknown_conversation_is_created(v0: Any) -> None:
    """Unlike the embedded server (refuses: "Failed to join conversation"), the real OSS server creates
    metadata for an unknown id and starts an agent loop for it."""
    conversation_id = new_id()
    conv = ohnb.connect(v0.url, conversation_id, session_api_key=SESSION_KEY)
    try:
        await conv.history_complete(60)
        await conv.wait_until(lambda c: c.agent_state == "awaiting_user_input", 60)
        frame = conv.events
    finally:
        await conv.close()
    show("\nevents of an unknown conversation id", frame.assign(content=frame["content"].str.slice(0, 30)),
         EVENT_COLUMNS)
    assert (frame["delivery"] == "replay").sum() == 0
    metadata = json.loads((v0.fs / "sessions" / conversation_id / "metadata.json").read_text())
    print(f"metadata the server created: {metadata}")
    assert metadata["conversation_id"] == conversation_id
