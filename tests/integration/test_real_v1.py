"""ohnb against the real OpenHands V1 agent server (openhands-agent-server 1.58.2): opt-in integration tests.

How to run (installs the server into ``~/.cache/ohnb/real-servers/oh-v1`` on first use, ~1.5 min)::

    OHNB_REAL_SERVERS=1 python -m pytest tests/integration -m real_server -s

Without ``OHNB_REAL_SERVERS=1`` every test here is skipped, so the default run (``./scripts/test.sh``)
neither installs nor starts anything. ``-s`` shows what each test observed (timings, attempts tables,
event tables, differences from the embedded server and the protocol page). The harness is
``scripts/real_servers.py`` (also a CLI: ``install-v1``, ``run-v1``); the agent's LLM is
``mock_llm.MockLLM`` on loopback, which makes it run ``echo`` commands with the ``terminal`` tool until
told to ``finish``, so the server emits real ActionEvent/ObservationEvent pairs.

What is checked:

- a live run recorded: a conversation created over REST, ``protocol="auto"`` picks v1, ohnb's
  ``send_message`` (a Message frame on the socket) comes back as a user MessageEvent, the agent runs
  commands and finishes; the recorded event ids equal the server's ``/events/search`` (every page)
  and its stored files, none twice, payload for payload; no real frame normalizes to ``unknown``;
  a second message takes the agent ``finished`` -> ``idle`` -> ``running`` -> ``finished``;
- a dropped connection (the client's socket closed under ohnb) resumes with
  ``resend_mode=since&after_timestamp=T``, T the newest timestamp held; still exactly once; pause
  and resume over REST work on the live run;
- refusals: a wrong key -> ``ConnectionRefused`` after one attempt; an unknown conversation id ->
  refused (4004 on the socket, 404 on REST);
- SIGTERM mid-run and restart: the socket closes with 1012, reconnects fail while the server is down,
  then resume; the events the server persisted after closing its sockets (the running command's
  output, ``execution_status: paused``, a PauseEvent, sometimes a ``stats`` update and an
  InterruptEvent) arrive in the resumed attempt, and the log equals
  the server's stored events; ``conv.resume()`` finishes the paused run. SIGKILL likewise: 1006, and
  the restarted server stores the interrupted run as ``error`` (and, when a command was running, an
  AgentErrorEvent "A restart occurred while this tool was in progress..."); ``conv.resume()``
  finishes it.
- every time an attempt opens, ohnb holds every stored event up to the resume point it just set
  (checked afterwards). A violation is reported as XFAIL, a known transport bug: the history check
  counts live frames of new events toward ``/events/count`` of the resent history, so an attempt can
  open before the resend arrived, with its resume point past events it does not hold yet.

The ``full_state`` snapshots (a ``ConversationStateUpdateEvent`` sent on every connect and at the end of
every run, with a fresh id, never stored) are rows of ohnb's log but not events of the server's history:
the comparisons leave them out and count them.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from .conftest import ENABLED, SESSION_KEY

if not ENABLED:  # opt-in: the default run does not even import what these tests need
    pytest.skip("real OpenHands servers are opt-in: set OHNB_REAL_SERVERS=1", allow_module_level=True)

import aiohttp  # noqa: E402
import pandas as pd  # noqa: E402

import ohnb  # noqa: E402

pytestmark = [pytest.mark.real_server, pytest.mark.timeout(600)]

pd.set_option("display.width", 250)
pd.set_option("display.max_columns", 30)
pd.set_option("display.max_rows", 400)
pd.set_option("display.max_colwidth", 40)

ATTEMPT_COLUMNS = [
    "attempt", "delay_s", "outcome", "error", "resumed_after", "events_replayed", "events_live",
    "duplicates", "disconnect_reason",
]
EVENT_COLUMNS = [
    "event_id", "timestamp", "source", "kind", "type", "tool", "agent_state", "delivery", "attempt", "content",
]
#: what a run of the agent emits with the mock LLM (ConversationStateUpdateEvent covers the keys)
REAL_KINDS = {
    "ConversationStateUpdateEvent", "SystemPromptEvent", "MessageEvent", "ActionEvent", "ObservationEvent",
    "PauseEvent", "InterruptEvent",
    # written by a server restarted after a SIGKILL for the action whose command was running
    "AgentErrorEvent",
}


# --------------------------------------------------------------------------------------------------
# helpers


def transport_of(conv: ohnb.Conversation) -> Any:
    """The V1 transport (behind ``AutoTransport`` when the protocol was detected)."""
    return getattr(conv.transport, "delegate", None) or conv.transport


def is_snapshot(frame: pd.DataFrame) -> pd.Series:
    """Rows of ``full_state`` snapshots (sent on connect and when a run ends; never stored)."""
    return frame["v1_kind"].eq("ConversationStateUpdateEvent").fillna(False).astype(bool) & frame["type"].eq(
        "full_state"
    ).fillna(False).astype(bool)


def history_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """ohnb's rows that are events of the conversation's stored history (snapshots left out)."""
    return frame[~is_snapshot(frame)]


def eq(series: pd.Series, value: Any) -> pd.Series:
    return series.eq(value).fillna(False).astype(bool)


def show(title: str, frame: pd.DataFrame, columns: list[str] | None = None) -> None:
    cols = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    print(f"\n--- {title} ({len(frame)} rows)")
    print(frame[cols].to_string() if len(frame) else "(none)")


def event_table(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(content=frame["content"].str.slice(0, 28), event_id=frame["event_id"].str.slice(0, 8))


def ids(events: Iterable[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in events]


def describe(event: dict[str, Any]) -> str:
    extra = event.get("key") or event.get("tool_name") or ""
    value = event.get("value") if event.get("key") == "execution_status" else ""
    return f"{event.get('kind')}{'/' + extra if extra else ''}{'=' + value if value else ''}"


async def poll_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll ``predicate`` until true; return the seconds it took. Raises AssertionError on timeout."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)
    return time.monotonic() - started


async def settle(server: Any, conversation_id: str, quiet: float = 2.0, timeout: float = 60.0) -> None:
    """Wait until the server's stored events stop changing for ``quiet`` seconds."""
    last, since = None, time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = len(await asyncio.to_thread(server.stored_events, conversation_id))
        if current != last:
            last, since = current, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        await asyncio.sleep(0.2)


def runs(frame: pd.DataFrame, kind: str = "action") -> int:
    return int((eq(frame["type"], "run") & eq(frame["kind"], kind)).sum())


def check_exactly_once(frame: pd.DataFrame, server: Any, conversation_id: str, label: str) -> dict[str, Any]:
    """ohnb's history rows == REST /events/search (all pages) == the stored files: same ids, none
    twice, payload for payload. Returns facts for the report."""
    rest = server.rest_events(conversation_id)
    small_pages = server.rest_events(conversation_id, limit=7)  # paging itself, several pages
    stored = server.stored_events(conversation_id)
    held = history_rows(frame)
    held_ids = held["event_id"].tolist()
    rest_ids = ids(rest)

    assert frame["event_id"].notna().all(), "a row without an event id"
    assert frame["event_id"].is_unique
    assert len(rest_ids) == len(set(rest_ids)), "REST returned an id twice"
    assert ids(small_pages) == rest_ids, "paging with limit=7 differs from limit=100"
    assert ids(stored) == rest_ids, "REST order differs from the stored files' order"
    missing = [describe(e) for e in rest if e["id"] not in set(held_ids)]
    extra = held[~held["event_id"].isin(rest_ids)]
    assert not missing, f"{label}: stored but not recorded: {missing}"
    assert extra.empty, f"{label}: recorded but not stored: {extra[['type', 'v1_kind']].to_dict('records')}"
    assert len(held_ids) == len(rest_ids)

    by_id = {e["id"]: e for e in rest}
    differing = [eid for eid, raw in zip(held["event_id"], ohnb.payloads(held), strict=True) if raw != by_id[eid]]
    assert not differing, f"{label}: payloads differ from REST for {differing[:5]}"
    same_order = held_ids == rest_ids
    inversions = sum(1 for a, b in zip(rest, rest[1:], strict=False) if b["timestamp"] < a["timestamp"])
    facts = {
        "stored": len(rest_ids),
        "snapshots": int(is_snapshot(frame).sum()),
        "arrival order == stored order": same_order,
        "timestamp inversions in stored order": inversions,
        "kinds": dict(held["v1_kind"].value_counts()),
    }
    print(f"[{label}] exactly once: {len(held_ids)} history rows == {len(rest_ids)} REST items (every page, "
          f"also with limit=7) == stored files, payloads equal; {facts}")
    return facts


def check_normalized(frame: pd.DataFrame) -> None:
    """No real frame is an ``unknown`` row or has a parse error; actions and observations pair up."""
    unknown = frame[eq(frame["kind"], "unknown") | frame["parse_error"].notna()]
    assert unknown.empty, f"unknown/unparsed rows: {unknown[['v1_kind', 'type', 'parse_error']].to_dict('records')}"
    assert set(frame["v1_kind"]) <= REAL_KINDS, f"new kinds: {set(frame['v1_kind']) - REAL_KINDS}"
    actions = frame[eq(frame["v1_kind"], "ActionEvent")]
    observations = frame[eq(frame["v1_kind"], "ObservationEvent")]
    assert set(observations["cause_id"]) <= set(actions["event_id"]), "an observation answers no held action"
    answered = actions["event_id"].isin(observations["cause_id"])
    print(f"normalized: kinds {dict(frame['kind'].value_counts())}; types {dict(frame['type'].value_counts())}; "
          f"{int(answered.sum())}/{len(actions)} actions answered")


async def raw_close(url: str, conversation_id: str, key: str | None, seconds: float = 3.0) -> tuple[Any, list]:
    """A bare aiohttp client: (close code or handshake status, frames) for a socket."""
    frames: list = []
    ws_url = url.replace("http://", "ws://") + f"/sockets/events/{conversation_id}?resend_mode=all"
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(ws_url)
        except aiohttp.WSServerHandshakeError as exc:
            return f"HTTP {exc.status}", frames
        if key is not None:
            await ws.send_json({"type": "auth", "session_api_key": key})
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                message = await ws.receive(timeout=deadline - time.monotonic())
            except asyncio.TimeoutError:
                break
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            frames.append(json.loads(message.data))
        code = ws.close_code
        await ws.close()
        return code, frames


class OpenWatcher:
    """What ohnb held each time an attempt opened (``history_complete``), and the resume point it had
    just set: ``(attempt, ids held, after_timestamp)``. Checked afterwards against the store: when an
    attempt opens, ohnb must hold every stored event up to its resume point (a later attempt resumes
    from there with ``resend_mode=since`` and would never ask for what lies behind it again)."""

    def __init__(self, conv: ohnb.Conversation) -> None:
        self.conv = conv
        self.opens: list[tuple[int, set[str], str | None]] = []
        self._was_open = False
        conv.on_change(self._changed)

    def _changed(self) -> None:
        is_open = self.conv.connection_state == "OPEN"
        if is_open and not self._was_open:
            rows = self.conv.log.rows
            self.opens.append((len(self.conv.attempts_log), {r["event_id"] for r in rows if r.get("event_id")},
                               getattr(transport_of(self.conv), "_complete_through", None)))
        self._was_open = is_open

    def gaps(self, stored: list[dict[str, Any]]) -> list[str]:
        """Per open: stored events before the resume point that were not held when it opened."""
        found = []
        for attempt, held, through in self.opens:
            if through is None:
                continue
            newest = max((i for i, e in enumerate(stored) if e["timestamp"] <= through), default=-1)
            missing = [describe(e) for e in stored[: newest + 1] if e["id"] not in held]
            if missing:
                found.append(f"attempt {attempt} opened with resume point {through} but without {missing}")
        return found


def xfail_if_gaps(watcher: OpenWatcher, server: Any, conversation_id: str) -> None:
    """The transport's history check can declare an attempt complete on live frames before the
    resend has delivered the stored events behind them (a drop then would lose those for good):
    shown as XFAIL when it happened, about one run in five of the reconnect test."""
    gaps = watcher.gaps(server.stored_events(conversation_id))
    print(f"gaps behind the resume point when attempts opened: {gaps or 'none'}")
    if gaps:
        pytest.xfail("ohnb V1 transport: history declared complete before the resend arrived: " + "; ".join(gaps))


@pytest.fixture
def v1(real_v1: Any, use_server: Callable[[Any], Any]) -> Any:
    """The shared real V1 server (key set), named in failure reports."""
    return use_server(real_v1)


# --------------------------------------------------------------------------------------------------
# a live run recorded


async def test_record_a_live_run(v1: Any, mock_llm: Any) -> None:
    conversation_id = await asyncio.to_thread(v1.create_conversation, llm_base_url=mock_llm.base_url)
    states: list[str | None] = []
    started = time.monotonic()
    conv = ohnb.connect(v1.url, conversation_id, session_api_key=SESSION_KEY)
    assert conv.protocol == "auto"
    conv.on_change(lambda: states.append(conv.agent_state) if not states or states[-1] != conv.agent_state else None)
    try:
        await conv.history_complete(60)
        connected_s = time.monotonic() - started
        assert conv.protocol == "v1"
        first = conv.events
        snapshot_state = first.loc[is_snapshot(first), "agent_state"].tolist()
        print(f"\nprotocol {conv.protocol!r} detected; history complete after {connected_s:.3f} s; "
              f"rows {first[['v1_kind', 'type', 'agent_state']].to_dict('records')}; "
              f"conv.agent_state={conv.agent_state!r} (snapshot says {snapshot_state})")

        mock_llm.finish_after = 3
        text = f"ohnb live run {uuid.uuid4().hex[:8]}: run three commands, then finish"
        sent = time.monotonic()
        await conv.send_message(text)

        def echoed(c: ohnb.Conversation) -> bool:
            ev = c.events
            return bool((eq(ev["v1_kind"], "MessageEvent") & eq(ev["source"], "user") & eq(ev["content"], text)).any())

        await conv.wait_until(echoed, 30)
        echo_s = time.monotonic() - sent
        await conv.wait_until(lambda c: c.agent_state == "finished", 120)
        finished_s = time.monotonic() - sent
        await settle(v1, conversation_id)
        await asyncio.sleep(0.5)
        turn1 = len(conv.events)

        # a second turn on the finished conversation: idle -> running -> finished
        await conv.send_message("ohnb: once more, and finish")
        await conv.wait_until(
            lambda c: len(c.events) > turn1 and c.agent_state == "finished"
            and bool(eq(c.events["type"].iloc[turn1:], "finish").any()), 120,
        )
        await settle(v1, conversation_id)
        await asyncio.sleep(0.5)
        frame = conv.events
        attempts = conv.attempts
        info = await asyncio.to_thread(v1.info, conversation_id)
    finally:
        await conv.close()

    print(f"message echoed after {echo_s:.3f} s; execution_status finished {finished_s:.3f} s after sending; "
          f"mock LLM: {mock_llm.requests} requests, tools offered {mock_llm.seen[0][1]}, model {mock_llm.seen[0][0]!r}")
    print(f"agent states seen by Conversation.agent_state: {[s for s in states if s is not None]}; "
          f"REST execution_status {info.get('execution_status')!r}")
    show("events", event_table(frame), EVENT_COLUMNS)
    show("attempts", attempts, ATTEMPT_COLUMNS)

    assert len(attempts) == 1 and conv.reconnects == 0
    message = frame[eq(frame["v1_kind"], "MessageEvent") & eq(frame["source"], "user")]
    assert message["content"].tolist()[0] == text
    assert ohnb.payloads(message).iloc[0]["llm_message"]["role"] == "user"
    assert runs(frame, "action") == 3 and runs(frame, "observation") == 3
    ticks = frame[eq(frame["type"], "run") & eq(frame["kind"], "observation")]
    assert all("ohnb-tick-" in content for content in ticks["content"])
    assert ticks["exit_code"].tolist() == [0, 0, 0]
    assert eq(frame["type"], "finish").sum() == 4  # two FinishActions and their observations
    changes = frame.loc[eq(frame["type"], "agent_state_changed"), "agent_state"].tolist()
    print(f"agent_state_changed rows: {changes}")
    assert changes == ["running", "finished", "awaiting_user_input", "running", "finished"]
    assert info["execution_status"] == "finished"
    check_normalized(frame)
    check_exactly_once(frame, v1, conversation_id, "live run")


# --------------------------------------------------------------------------------------------------
# a dropped connection resumes with resend_mode=since


async def test_reconnect_resumes_since(v1: Any, mock_llm: Any) -> None:
    conversation_id = await asyncio.to_thread(v1.create_conversation, llm_base_url=mock_llm.base_url)
    policy = ohnb.RetryPolicy(base=0.5, cap=2.0, max_retries=None, seed=20261121)
    conv = ohnb.connect(v1.url, conversation_id, session_api_key=SESSION_KEY, retry=policy)
    watcher = OpenWatcher(conv)
    try:
        await conv.history_complete(60)
        await conv.send_message("Run one short shell command after another until told to stop.")
        await conv.wait_until(lambda c: runs(c.events) >= 3, 60)

        # drop the connection under ohnb: close the client's socket
        ws = transport_of(conv)._ws
        assert ws is not None
        dropped = time.monotonic()
        await ws.close()
        close_code = ws.close_code
        await poll_until(lambda: len(conv.attempts) >= 2 and conv.connection_state == "OPEN", 30,
                         "the next attempt to open")
        reopen_s = time.monotonic() - dropped
        frame_at_drop = conv.events
        first = frame_at_drop[eq(frame_at_drop["attempt"], 1) & ~is_snapshot(frame_at_drop)]
        newest_held = max(raw["timestamp"] for raw in ohnb.payloads(first))

        # live on the new connection: more commands, then pause and resume over REST
        runs_at_reopen = runs(conv.events)
        await conv.wait_until(lambda c: runs(c.events) >= runs_at_reopen + 2, 60)
        await conv.pause()
        await conv.wait_until(lambda c: c.agent_state == "paused", 30)
        mock_llm.mode = "finish"
        await conv.resume()
        await conv.wait_until(lambda c: c.agent_state == "finished", 60)
        await settle(v1, conversation_id)
        await asyncio.sleep(0.5)
        frame = conv.events
        attempts = conv.attempts
    finally:
        await conv.close()

    print(f"\nclient socket closed (close_code {close_code}); the next attempt was OPEN {reopen_s:.3f} s later; "
          f"newest timestamp held from attempt 1: {newest_held}")
    show("attempts", attempts, ATTEMPT_COLUMNS)
    show("events", event_table(frame), EVENT_COLUMNS)
    log_lines = [line.strip() for line in v1.log_tail(200000).splitlines() if "Resending events" in line]
    print(f"server log: {log_lines[-3:]}")

    assert len(attempts) == 2
    one, two = attempts.iloc[0], attempts.iloc[1]
    assert one["outcome"] == "connected" and pd.isna(one["resumed_after"])
    print(f"attempt 1 disconnect_reason: {one['disconnect_reason']!r}")
    # the second attempt resumed with resend_mode=since from the newest timestamp held
    assert two["resumed_after"] == newest_held
    assert pd.notna(two["connected_at"])
    assert two["duplicates"] >= 1  # the boundary event (timestamp >= after_timestamp) came back
    assert conv.reconnects == 1
    states = frame.loc[eq(frame["type"], "agent_state_changed"), "agent_state"].tolist()
    print(f"agent_state_changed rows: {states}")
    assert states[-3:] == ["paused", "running", "finished"]
    assert eq(frame["v1_kind"], "PauseEvent").sum() == 1
    check_normalized(frame)
    check_exactly_once(frame, v1, conversation_id, "reconnect")
    xfail_if_gaps(watcher, v1, conversation_id)


# --------------------------------------------------------------------------------------------------
# refusals


async def test_wrong_key_refused_once(v1: Any) -> None:
    conversation_id = await asyncio.to_thread(v1.create_conversation)
    wrong = "not-the-key-7c1d"
    raw_code, raw_frames = await raw_close(v1.url, conversation_id, wrong)
    started = time.monotonic()
    conv = ohnb.connect(v1.url, conversation_id, session_api_key=wrong,
                        retry=ohnb.RetryPolicy(base=0.1, cap=0.5, max_retries=5))
    with pytest.raises(ohnb.ConnectionRefused, match="Authentication failed"):
        await conv.history_complete(60)
    refused_s = time.monotonic() - started
    await asyncio.sleep(3.0)  # would-be retries have had time to happen
    attempts = conv.attempts
    print(f"\nbare client with the wrong key in the first frame: close {raw_code}, {len(raw_frames)} frames")
    print(f"ohnb refused after {refused_s:.3f} s; protocol {conv.protocol}; state {conv.connection_state}, "
          f"error {conv.error!r}")
    show("attempts", attempts, ATTEMPT_COLUMNS)
    assert raw_code == 4001 and raw_frames == []
    assert conv.protocol == "v1"
    assert len(attempts) == 1 and attempts["outcome"].iloc[0] == "refused"
    assert conv.connection_state == "CLOSED"
    assert len(conv.events) == 0
    shown = repr(conv) + attempts.to_string() + str(conv.error)
    assert wrong not in shown
    await conv.close()


async def test_unknown_conversation_refused(v1: Any) -> None:
    unknown = str(uuid.uuid4())
    raw_code, raw_frames = await raw_close(v1.url, unknown, SESSION_KEY)
    conv = ohnb.connect(v1.url, unknown, session_api_key=SESSION_KEY,
                        retry=ohnb.RetryPolicy(base=0.1, cap=0.5, max_retries=5))
    with pytest.raises(ohnb.ConnectionRefused, match="not found"):
        await conv.history_complete(60)
    await asyncio.sleep(2.0)
    attempts = conv.attempts
    print(f"\nbare client, unknown conversation: close {raw_code}, {len(raw_frames)} frames; ohnb: {conv.error!r}")
    show("attempts", attempts, ATTEMPT_COLUMNS)
    assert raw_code == 4004 and raw_frames == []
    assert len(attempts) == 1 and attempts["outcome"].iloc[0] == "refused"
    assert len(conv.events) == 0
    await conv.close()

    # not a UUID at all: the route's validation answers the handshake with HTTP 403
    raw_status, _ = await raw_close(v1.url, "not-a-uuid", SESSION_KEY)
    conv = ohnb.connect(v1.url, "not-a-uuid", session_api_key=SESSION_KEY,
                        retry=ohnb.RetryPolicy(base=0.1, cap=0.5, max_retries=5))
    with pytest.raises(ohnb.ConnectionRefused) as refused:
        await conv.history_complete(60)
    print(f"a non-UUID id: bare client {raw_status}; ohnb refused once: {refused.value}")
    assert raw_status == "HTTP 403"
    assert len(conv.attempts) == 1
    await conv.close()


# --------------------------------------------------------------------------------------------------
# SIGTERM / SIGKILL mid-run, then restart


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
async def test_signal_and_restart_mid_run(start_v1: Callable[..., Any], mock_llm: Any, how: str) -> None:
    server = await asyncio.to_thread(start_v1)
    conversation_id = await asyncio.to_thread(server.create_conversation, llm_base_url=mock_llm.base_url)
    policy = ohnb.RetryPolicy(base=0.5, cap=4.0, max_retries=None, seed=20261121)
    conv = ohnb.connect(server.url, conversation_id, session_api_key=SESSION_KEY, retry=policy)
    watcher = OpenWatcher(conv)
    try:
        await conv.history_complete(60)
        await conv.send_message("Run one short shell command after another until told to stop.")
        await conv.wait_until(lambda c: runs(c.events) >= 4, 120)

        # the signal, while the agent loops on the mock LLM
        signalled = asyncio.ensure_future(asyncio.to_thread(server.sigterm if how == "SIGTERM" else server.kill))
        await poll_until(lambda: conv.attempts_log.rows[0].get("ended_at") is not None, 30,
                         "the first attempt to end")
        held_at_close = set(conv.events["event_id"])
        shutdown_s = await signalled or 0.0
        mock_llm.mode = "finish"  # what runs after the restart ends the task
        stored_at_exit = server.stored_events(conversation_id)  # the server is gone: final
        after_close = [e for e in stored_at_exit if e["id"] not in held_at_close]

        await poll_until(lambda: (conv.attempts["outcome"] == "transport_error").sum() >= 2, 60,
                         "two failed reconnect attempts")
        restarted = time.monotonic()
        await asyncio.to_thread(server.restart)
        restart_s = time.monotonic() - restarted

        def reconnected() -> bool:
            rows = conv.attempts_log.rows
            return conv.connection_state == "OPEN" and len(rows) > 1 and rows[-1].get("connected_at") is not None

        await poll_until(reconnected, 120, "ohnb to reconnect after the restart")
        up_s = time.monotonic() - restarted
        reconnect_attempt = int(conv.attempts["attempt"].iloc[-1])
        status = (await asyncio.to_thread(server.info, conversation_id))["execution_status"]
        await conv.wait_until(lambda c: c.agent_state == {"idle": "awaiting_user_input"}.get(status, status), 30)
        agent_state_on_reconnect = conv.agent_state
        if status in ("paused", "error"):
            await conv.resume()  # POST /run
        await conv.wait_until(lambda c: c.agent_state == "finished", 120)
        await settle(server, conversation_id)
        await asyncio.sleep(0.5)
        frame = conv.events
        attempts = conv.attempts
    finally:
        await conv.close()

    print(f"\n{how}: the server exited {shutdown_s:.2f} s after the signal; ohnb held {len(held_at_close)} rows when "
          f"the socket closed; the store at exit held {len(stored_at_exit)} events, {len(after_close)} of them "
          f"persisted after the sockets closed: {[describe(e) for e in after_close]}")
    print(f"restart took {restart_s:.1f} s (start times {[round(s, 1) for s in server.starts]}); ohnb OPEN again "
          f"{up_s:.1f} s after the restart began; the conversation came back {status!r} (conv.agent_state "
          f"{agent_state_on_reconnect!r}); {conv.reconnects} reconnects")
    show("attempts", attempts, ATTEMPT_COLUMNS)
    show("events", event_table(frame), EVENT_COLUMNS)
    restart_rows = frame[eq(frame["attempt"], reconnect_attempt) & ~frame["event_id"].isin(ids(stored_at_exit))]
    print("written by the restarted server: " + str([
        (r["v1_kind"], r["type"], r["agent_state"], r["delivery"]) for _, r in restart_rows.iterrows()][:6]))
    for raw in ohnb.payloads(frame):
        if raw.get("kind") in ("PauseEvent", "InterruptEvent", "AgentErrorEvent"):
            print(f"{raw['kind']}: {json.dumps(raw)}")

    # -- the attempts: closed (1012 / 1006), transport errors while down, then resumed with since
    broken, failed, resumed = attempts.iloc[0], attempts.iloc[1:-1], attempts.iloc[-1]
    assert broken["outcome"] == "connected"
    if how == "SIGTERM":
        assert broken["disconnect_reason"] == "server restart (1012)"
    else:
        assert broken["disconnect_reason"].startswith("transport error")
    assert len(failed) >= 2 and (failed["outcome"] == "transport_error").all()
    resume_point = attempts.iloc[1]["resumed_after"]
    first = frame[eq(frame["attempt"], 1) & ~is_snapshot(frame)]
    assert resume_point == max(raw["timestamp"] for raw in ohnb.payloads(first))
    assert (attempts.iloc[1:]["resumed_after"] == resume_point).all()
    assert pd.notna(resumed["connected_at"]) and resumed["attempt"] == reconnect_attempt
    for n, delay in enumerate(attempts.iloc[1:]["delay_s"], start=1):  # full jitter ceilings
        assert 0 <= delay <= min(policy.cap, policy.base * 2 ** (n - 1)) + 1e-9

    # -- what the server persisted after closing its sockets arrived in the resumed attempt
    late = frame[frame["event_id"].isin(ids(after_close))]
    assert len(late) == len(after_close)
    assert (late["attempt"] == reconnect_attempt).all()
    if how == "SIGTERM":
        assert after_close, "the server persisted nothing after closing its sockets"
        assert status == "paused" and agent_state_on_reconnect == "paused"
        print(f"persisted after the close, recorded in attempt {reconnect_attempt}: "
              f"{late[['v1_kind', 'type', 'agent_state', 'delivery']].to_dict('records')}")
    else:
        assert status == "error" and agent_state_on_reconnect == "error"
    states = frame.loc[eq(frame["type"], "agent_state_changed"), "agent_state"].tolist()
    print(f"agent_state_changed rows: {states}")
    assert states[-3:] == [agent_state_on_reconnect, "running", "finished"]
    check_normalized(frame)
    check_exactly_once(frame, server, conversation_id, f"{how} and restart")
    xfail_if_gaps(watcher, server, conversation_id)
