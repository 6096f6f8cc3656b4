"""An embedded OpenHands V1 agent server that replays a stored conversation (WebSocket + REST).

It imitates what a client of a real openhands-agent-server 1.58.2 sees (``docs/openhands-protocol.md``,
section V1; ``fixtures/captures/v1_real_server_*``, which win where they and the upstream source
disagree). Served by aiohttp on ``127.0.0.1``.

WebSocket ``GET /sockets/events/{conversation_id}`` (``openhands/agent_server/sockets.py``), in the
real server's order:

1. handshake checks, answered with a plain HTTP **403** before the upgrade (FastAPI validation of a
   WebSocket route): ``conversation_id`` not a UUID (the 32-hex form is accepted); ``resend_mode``
   other than ``all``/``since`` (there is no ``none``: omit it); ``after_timestamp`` not a datetime;
   ``resend_all`` not a boolean; a WRONG key in the deprecated ``session_api_key`` query parameter
   or the ``X-Session-API-Key`` header (query wins over header).
2. the socket is accepted. A server with a key and a client that gave none must send the first
   frame ``{"type": "auth", "session_api_key": K}`` within 10 s (``auth_timeout``); silence, a wrong
   key, another ``type``, non-JSON text or JSON that is not an object -> close **4001**
   ``"Authentication failed"`` (a binary first frame too: not captured, see below).
3. unknown conversation (a valid UUID that is not this one) -> close **4004**
   ``"Conversation not found"`` (after the auth step: a wrong first-frame key on an unknown id
   gives 4001, as captured).
4. more than ``max_subscribers`` (49 = the real ``PubSub(max_subscribers=50)`` minus the server's
   own subscriber) concurrent sockets -> close **1013** ``"Too many connections for this
   conversation"``.
5. subscribed: from here on every published event reaches the socket. Then one event-loop hop
   (the real snapshot is built in a worker thread), then the snapshot: a
   ``ConversationStateUpdateEvent`` ``{"id": fresh uuid, "timestamp": now, "source":
   "environment", "key": "full_state", "value": {...state...}, "kind": ...}``, never stored.
6. resend: ``resend_mode=all`` (or the deprecated ``resend_all=true`` when ``resend_mode`` is
   absent) -> every stored event; ``resend_mode=since&after_timestamp=T`` -> stored events with
   timestamp >= T (the boundary comes back; an aware T is converted to server local time, a naive
   one is taken as local); ``since`` without ``after_timestamp`` or no mode -> nothing. The store
   is paged 100 at a time while it grows (``page_iterator(search_events)``): live events published
   meanwhile reach the socket at once AND again when a later page reaches them (the duplicate
   ids of ``v1_real_server_resend_during_run_trial0_frames.json``); ``duplicate_live=False``
   skips, in the resend, ids the socket already got live. A page fetched when the store held
   at most 100 events ends the resend, so events published during it come only live.
7. client frames (read concurrently, handled after the resend, like the real loop that starts
   after it): a ``Message`` JSON (``{"role": "user", "content": [{"type": "text", "text": ...}]}``;
   there is no ``run`` key: a socket message always runs the agent) is stored as a user
   ``MessageEvent`` and published. A redundant ``{"type": "auth", ...}`` frame is ignored. Any
   failure answers one ``ServerErrorEvent`` frame ``{"id", "timestamp", "source": "environment",
   "code", "detail", "kind": "ServerErrorEvent"}`` and the socket stays open: non-JSON text ->
   ``JSONDecodeError`` (``detail`` = Python's message); a binary frame -> ``KeyError`` ``"'text'"``
   (starlette's ``receive_json`` reads ``message["text"]``); not a valid Message ->
   ``ValidationError`` (pydantic's text); a role other than ``user`` -> ``AssertionError``
   ``"Only user messages are allowed to be sent to the agent."``.

Frames are compact JSON (``separators=(",", ":")``, ``ensure_ascii=False``, starlette's
``send_json``) of ``model_dump(mode="json", exclude_none=True)``: ``None`` values are removed from
stored events when they are loaded.

What a message or a control request stores (and broadcasts), as the SDK does: a message on a
``finished``/``stuck`` conversation first stores ``execution_status: idle``; then the
``MessageEvent`` (source ``user``, ``parent_id`` = the leaf), ``last_user_message_id``; with run
(always on the socket, ``"run": true`` on REST) ``execution_status: running`` unless the agent is
already running. Pause (``POST /pause``) on an ``idle``/``running`` conversation stores
``execution_status: paused`` then a ``PauseEvent`` (source ``user``) and halts live pacing;
``POST /run`` stores ``execution_status: running`` and resumes it (409 while running). There is
no agent here: the scripted live events are the agent. A run requested with no live event left
finishes at once (``execution_status: finished``). When a run ends (live playback done, or such an
empty run) a ``full_state`` snapshot is published, unstored, as the real run task does.

REST (``event_router.py``, ``conversation_router.py``; header ``X-Session-API-Key`` when the server
has a key, missing or wrong -> **401** ``{"detail": "Unauthorized"}``; ``/health``, ``/alive``,
``/ready``, ``/server_info`` are open):

- ``GET /api/conversations/{id}/events/search?page_id&limit&kind&source&body&sort_order
  &timestamp__gte&timestamp__lt`` -> ``{"items": [...], "next_page_id": id|null}``; ``limit`` 1..100
  (default 100, else 422 as captured); ``page_id`` is inclusive (the id of the next page's first
  item) and an unknown one restarts from the first event; ``kind`` matches the bare class name
  (as 1.58.2 does, captured) or a dotted path ending in it; ``sort_order`` ``TIMESTAMP`` |
  ``TIMESTAMP_DESC``.
- ``GET .../events/count`` (same filters) -> an integer; ``GET .../events/{event_id}`` -> the event
  or 404 ``{"detail": "Not Found"}``; unknown conversation on these -> 404 ``{"detail":
  "Conversation not found: <id>"}``; a non-UUID id -> 422.
- ``POST .../events`` ``{"role": "user", "content": [...], "run": false}`` (``SendMessageRequest``:
  role defaults to user, run to false) -> ``{"success": true}``; invalid -> 422; another role ->
  500 ``{"detail": "Internal Server Error", "exception": "Only user messages ..."}``.
- ``POST /api/conversations/{id}/pause`` and ``/run`` -> ``{"success": true}``; ``/run`` while the
  agent runs -> 409 ``{"detail": "Conversation already running. Wait for completion or pause
  first."}``; unknown id -> 400 (pause) / 404 (run).
- ``GET /api/conversations/{id}`` -> the conversation info (``execution_status``...);
  ``/api/conversations/search``, ``/count``; ``GET /health`` -> ``{"status": "ok"}``.

Shutdown, as uvicorn does it: :meth:`stop` (SIGTERM) closes every socket with **1012** (empty
reason) and then, during a live run and with ``write_after_close=k``, persists the next k live
events without sending them (the real server keeps writing after its sockets are closed: 250 frames
before the SIGTERM, 261 events after the restart in ``restart_midrun.json``; a client must repair
the gap with REST after the restart); with ``pause_on_shutdown`` a run in progress is then stored as
``execution_status: paused`` + ``PauseEvent`` and stays paused after a restart (the real server
came back ``paused``: ``POST /run`` resumes). ``stop(abrupt=True)`` (SIGKILL) aborts the TCP
connections: an aiohttp client sees close code **1006**.

Deliberate differences from the real server:

* no agent, no LLM: live events are the stored ones, paced by their timestamps; by default
  (``retime_live``) a live event gets the current time as it is published, so timestamps stay
  monotonic (user messages and state updates are stamped with the current time too, never
  earlier than the last stored event) and ``resend_mode=since`` resumes work.
* the stored events are ordered by timestamp, then source order (the real log is in append order,
  where a ``stats`` update can carry an older timestamp than the action before it);
  ``order="source"`` keeps the source order.
* a binary first frame (auth) gets 4001; the real server's ``receive_text`` raises there and the
  socket is dropped without a close frame (not captured).
* validation ``detail`` texts are pydantic-like for the common cases (the captured
  ``role``/``content`` case is exact), not byte-exact for every input.
* one conversation per server; ``DELETE``, confirmations, secrets, bash sockets are not served.

Faults (methods; ``*_threadsafe`` twins for other threads in thread mode; :meth:`apply` runs a
:class:`~ohnb.servers.faults.FaultPlan`) and what an aiohttp client sees:

==============================  ===============================================================
fault                           client side
==============================  ===============================================================
``drop_connections()``          close frame ``code`` (default 1001 "going away"; pass 1000 to
                                test a client that treats a normal close as final)
``drop_connections(abrupt)``    TCP abort: ``WSMsgType.CLOSED``, ``close_code`` 1006
``drop_after(k, ...)``          the same, after k more frames to one socket (``during``:
                                ``"any"``, ``"resend"``, ``"live"``)
``freeze(s)``                   silence: no frame, no pong, no handshake for s seconds (thread
                                mode); a client with ``heartbeat`` notices after ~1.5 x heartbeat
``refuse_next(n)``              the next n sockets (past auth) close with 4004 "Conversation not
                                found" - final for a client (``code=4001`` for an auth refusal)
``reject_next(n, status)``      HTTP ``status`` (503) instead of the upgrade:
                                ``WSServerHandshakeError`` - transient
``slow_replay(d)``              d seconds between resent events
``inject(payload)``             a dict/JSON value as a text frame (a dict with a new string id
                                and a ``kind`` is stored, like a live event); ``raw=True``: the
                                text as it is (broken JSON...); bytes: a binary frame; an event
                                over 4 MiB (:func:`~ohnb.servers.v1_events.oversized_event`):
                                an aiohttp client fails with 1009 (message too big)
``restart(p)``                  abrupt stop (1006), port closed p seconds, same port and store
==============================  ===============================================================
"""

from __future__ import annotations

import asyncio
import collections
import copy
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from aiohttp import WSMsgType, web

from ._base import Fault, LiveStart, Refusal, ReplayServerBase, preview
from ._base import fault_logger as fault_logger
from .faults import FaultPlan, FaultStep
from .v1_events import (
    UNSTORED_KINDS,
    MessageValidationError,
    V1Source,
    apply_to_state,
    coerce_bool,
    default_state,
    fastapi_errors,
    full_state_event,
    load_v1_conversation,
    malformed_frame,
    message_event,
    oversized_event,
    parse_query_bool,
    parse_query_datetime,
    parse_ts,
    pause_event,
    server_error_event,
    state_update_event,
    validate_message,
)

__all__ = [
    "CLOSE_AUTH_FAILED",
    "CLOSE_NOT_FOUND",
    "CLOSE_SERVICE_RESTART",
    "CLOSE_TOO_MANY",
    "V1ReplayServer",
]

logger = logging.getLogger("ohnb.servers.v1")
# Every fault that fires is logged at INFO on ``ohnb.servers.faults`` (shared with the V0 server).

#: Close codes and reasons, verbatim from sockets.py and the captures.
CLOSE_AUTH_FAILED = (4001, "Authentication failed")
CLOSE_NOT_FOUND = (4004, "Conversation not found")
CLOSE_TOO_MANY = (1013, "Too many connections for this conversation")
CLOSE_SERVICE_RESTART = (1012, "")
_REASONS = {4001: CLOSE_AUTH_FAILED[1], 4004: CLOSE_NOT_FOUND[1], 1013: CLOSE_TOO_MANY[1]}

#: uvicorn's default ``ws_max_size`` (16 MiB): a bigger client frame is refused with 1009.
MAX_CLIENT_FRAME = 16 * 1024 * 1024
#: ``page_iterator``'s page size (``search_events`` default limit).
RESEND_PAGE = 100
ASSERTION_DETAIL = "Only user messages are allowed to be sent to the agent."
ALREADY_RUNNING = "Conversation already running. Wait for completion or pause first."

FaultPhase = Literal["any", "resend", "live", "replay"]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(text=_dumps(value), status=status, content_type="application/json")


def _detail(status: int, detail: Any) -> web.Response:
    return _json_response({"detail": detail}, status)


def _utc_z(ts: datetime | None) -> str:
    ts = ts or datetime.now()
    return ts.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"


@dataclass
class _Conn:
    """One accepted WebSocket."""

    id: str
    ws: web.WebSocketResponse
    request: web.Request
    subscribed: bool = False
    resend_done: bool = False
    closed: bool = False
    sent: dict[str, int] = field(default_factory=lambda: {"snapshot": 0, "resend": 0, "live": 0})
    live_ids: set[str] = field(default_factory=set)


@dataclass
class _Refusal(Refusal):
    code: int
    reason: str


class _Conflict(Exception):
    """``POST /run`` while the agent runs (409)."""


class V1ReplayServer(ReplayServerBase):
    """An OpenHands V1 agent server on loopback that replays (and optionally plays live) a stored
    conversation over ``/sockets/events/{id}`` and the REST event API.

    Args:
        events: the stored V1 conversation (required: no V1 conversation is bundled): a list of
            event dicts, a CLI conversation folder (``events/event-NNNNN-<uuid>.json``), a JSONL
            file (one event, or one captured frame record, per line), a JSON file or REST search
            page, an evaluation-output JSONL/record (``history``; pick one with ``record``).
            Every event needs a string ``id``. Sorted by timestamp, then source order.
        record: for evaluation output: index or ``instance_id`` of the record to serve.
        conversation_id: a UUID (any form); default: the one the data names (``base_state.json``,
            a UUID folder name, a capture's ``_meta``, a ``full_state`` value) or a fresh one.
        host, port: where to listen (port 0 = a free port, kept across :meth:`restart`).
        speed: live playback speed factor (> 0; ``float("inf")`` = no waiting).
        max_gap: upper bound, in seconds, of the wait between two live events.
        live_from: the first live event: an index into the sorted events, or an event id. Earlier
            events are the stored history at start; later ones are published one by one, waiting
            ``min((ts_i - ts_{i-1}) / speed, max_gap)`` before each. None: all history.
        session_api_key: when set, sockets must authenticate (first frame, or the deprecated
            query parameter / header) and REST calls need ``X-Session-API-Key``.
        live_start: ``"first_connect"`` (the first subscribed socket of each server run),
            ``"immediately"`` or ``"manual"`` (:meth:`start_live`; a run request also starts it).
        heartbeat: seconds between WebSocket pings the server sends (None: none; uvicorn's
            default is 20 s ping / 20 s timeout).
        max_subscribers: concurrent subscribed sockets before 1013 (default 49, as captured).
        auth_timeout: seconds to wait for the first-frame auth (real: 10).
        duplicate_live: True (real behavior): an event published during a resend can arrive
            live and again from the resend. False: the resend skips ids the socket got live.
        write_after_close: on a graceful :meth:`stop` during a live run (events pending, not
            paused, live clock started), persist this many pending live events after the sockets
            are closed (sent to no one).
        pause_on_shutdown: on a graceful stop during a live run, store ``execution_status:
            paused`` + ``PauseEvent`` after the sockets closed; the run stays paused after a
            restart (``POST /run`` resumes), as the real server does.
        retime_live: stamp live events with the current time when published (keeps timestamps
            monotonic for ``since`` resumes); False keeps their stored timestamps.
        emit_status: synthesize ``execution_status: running`` when live playback starts and
            ``finished`` when it ends (for data that has no status updates).
        order: ``"timestamp"`` (default) or ``"source"``: the order of the stored events.
        resend_page_pause: seconds awaited between resend pages (the real page fetch runs in a
            worker thread; 0 = one event-loop hop).
        close_timeout: seconds a server-side close waits for the client's close frame.
        shutdown_timeout: seconds :meth:`stop` lets open handlers finish.
        faults: a :class:`~ohnb.servers.faults.FaultPlan` or its spec, applied at once.

    Lifecycle like :class:`~ohnb.servers.V0ReplayServer`: ``await start()`` / ``await stop()``
    (``async with``), :meth:`start_in_thread` / :meth:`stop_thread` (``with``), :meth:`restart`.

    Instrumentation (any thread): :attr:`emitted` (``(connection_id, frame)`` for every frame
    sent: dicts for JSON objects, other JSON values, text or bytes for raw frames),
    :attr:`stored_events`, :attr:`connections` (subscribed sockets), :attr:`refusals` (sockets or
    handshakes refused: 403, 4001, 4004, 1013, refuse_next), :attr:`close_codes`
    (``(connection_id, code, reason)`` of every close frame the server sent),
    :attr:`handshake_failures` (``(connection_id, http_status)``), :attr:`rejections`,
    :attr:`fault_log`, :attr:`is_live_done` / :meth:`wait_live_done`, :attr:`execution_status`.

    Raises:
        ValueError: no events, bad arguments, events without string ids, a non-UUID
            ``conversation_id``, an unknown ``live_from`` id, a bad ``faults`` spec.
    """

    _server_name = "V1ReplayServer"
    _tag = "v1"
    _emission = "frame(s)"
    _logger = logger

    def __init__(
        self,
        events: V1Source | None = None,
        *,
        record: int | str | None = None,
        conversation_id: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        max_gap: float = 2.0,
        live_from: int | str | None = None,
        session_api_key: str | None = None,
        live_start: LiveStart = "first_connect",
        heartbeat: float | None = None,
        max_subscribers: int = 49,
        auth_timeout: float = 10.0,
        duplicate_live: bool = True,
        write_after_close: int = 0,
        pause_on_shutdown: bool = True,
        retime_live: bool = True,
        emit_status: bool = False,
        order: Literal["timestamp", "source"] = "timestamp",
        resend_page_pause: float = 0.0,
        close_timeout: float = 2.0,
        shutdown_timeout: float = 2.0,
        faults: FaultPlan | str | None = None,
    ) -> None:
        if events is None:
            raise ValueError(
                "events is required: no V1 conversation is bundled with ohnb (pass a list of "
                "events, a CLI conversation folder, a JSONL file or an evaluation record)"
            )
        self._check_pacing(speed, max_gap, live_start)
        if max_subscribers < 0 or write_after_close < 0 or not auth_timeout > 0:
            raise ValueError("max_subscribers and write_after_close must be >= 0, auth_timeout > 0")
        if order not in ("timestamp", "source"):
            raise ValueError(f"order must be 'timestamp' or 'source', got {order!r}")
        loaded = load_v1_conversation(events, record=record)
        conv = conversation_id or loaded.conversation_id or str(uuid.uuid4())
        try:
            self._uuid = uuid.UUID(conv)
        except ValueError:
            raise ValueError(f"conversation_id must be a UUID (V1 ids are), got {conv!r}") from None
        self.conversation_id = str(self._uuid)

        all_events = list(loaded.events)
        if order == "timestamp":
            keyed = []
            last: datetime | None = None
            for n, ev in enumerate(all_events):
                ts = parse_ts(ev.get("timestamp"))
                last = ts if ts is not None else last
                keyed.append((last or datetime.min, n, ev))
            keyed.sort(key=lambda t: (t[0], t[1]))
            all_events = [ev for _, _, ev in keyed]
        if isinstance(live_from, str):
            idx = next((i for i, e in enumerate(all_events) if e.get("id") == live_from), None)
            if idx is None:
                raise ValueError(f"live_from: no event with id {live_from!r}")
            split = idx
        elif live_from is None:
            split = len(all_events)
        else:
            split = max(0, min(int(live_from), len(all_events)))
        history, pending = all_events[:split], all_events[split:]

        self.heartbeat = heartbeat
        self.max_subscribers = int(max_subscribers)
        self.auth_timeout = float(auth_timeout)
        self.duplicate_live = duplicate_live
        self.write_after_close = int(write_after_close)
        self.pause_on_shutdown = pause_on_shutdown
        self.retime_live = retime_live
        self.resend_page_pause = float(resend_page_pause)
        self.close_timeout = float(close_timeout)

        model = None
        for ev in all_events:
            if ev.get("key") == "stats" and isinstance(ev.get("value"), dict):
                for usage in (ev["value"].get("usage_to_metrics") or {}).values():
                    if isinstance(usage, dict) and isinstance(usage.get("model_name"), str):
                        model = usage["model_name"]
        self._state: dict[str, Any] = default_state(self.conversation_id, model)
        if loaded.base_state:
            apply_to_state(
                self._state,
                {"kind": "ConversationStateUpdateEvent", "key": "full_state", "value": loaded.base_state},
            )
        self._store: list[dict[str, Any]] = []
        self._ids: set[str] = set()
        #: id -> position in ``_store``: a resend or search page starts at its ``page_id`` at once
        #: (a scan per page made a 100,000-event resend quadratic).
        self._positions: dict[str, int] = {}
        self._leaf: str | None = None
        self._last_ts: datetime | None = None
        self._created = parse_ts(all_events[0].get("timestamp")) if all_events else None
        for ev in history:
            self._store_event(ev, quiet=True)
        self._pending: collections.deque[dict[str, Any]] = collections.deque(pending)
        self._prev_ts = self._last_ts

        self._init_common(
            host=host,
            port=port,
            speed=speed,
            max_gap=max_gap,
            live_from=live_from,
            session_api_key=session_api_key,
            live_start=live_start,
            emit_status=emit_status,
            shutdown_timeout=shutdown_timeout,
        )
        self.close_codes: list[tuple[str, int, str]] = []
        self.handshake_failures: list[tuple[str, int]] = []
        self._refusal: _Refusal | None = None
        self._conn_seq = 0

        # per-run state
        self._accepting = False
        self._conns: dict[str, _Conn] = {}
        self._subscribers: dict[str, _Conn] = {}
        self._subscribed_this_run = False
        self._started_at = datetime.now()

        if faults is not None:
            self.apply(faults)

    # ------------------------------------------------------------------------------------------
    # properties

    @property
    def ws_url(self) -> str:
        """``ws://HOST:PORT/sockets/events/{conversation_id}``."""
        return self.url.replace("http://", "ws://", 1) + f"/sockets/events/{self.conversation_id}"

    @property
    def stored_events(self) -> list[dict[str, Any]]:
        """A snapshot (new list) of the persisted log: history plus every event stored since."""
        return list(self._store)

    @property
    def state(self) -> dict[str, Any]:
        """A copy of the conversation state (what a ``full_state`` snapshot carries now)."""
        return copy.deepcopy(self._state)

    @property
    def execution_status(self) -> str:
        """The conversation's current ``execution_status``."""
        return str(self._state.get("execution_status", "idle"))

    @property
    def subscribers(self) -> int:
        """Number of sockets subscribed right now."""
        return len(self._subscribers)

    @property
    def emitted_ids(self) -> list[str]:
        """Ids of the emitted event frames, in order, repeats included (snapshots too)."""
        return [f["id"] for _, f in list(self.emitted) if isinstance(f, dict) and isinstance(f.get("id"), str)]

    # ------------------------------------------------------------------------------------------
    # lifecycle

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._make_middleware()])
        self._add_routes(app)
        return app

    def _begin_run(self, app: web.Application) -> None:
        self._conns = {}
        self._subscribers = {}
        self._subscribed_this_run = False
        self._accepting = True

    async def stop(self, *, abrupt: bool = False) -> None:
        """Stop serving; the store, pending live events and counters are kept.

        ``abrupt=False`` (SIGTERM): every socket gets a close frame 1012; then ``write_after_close``
        live events are persisted (and, with ``pause_on_shutdown`` during a run, the pause).
        ``abrupt=True`` (SIGKILL): TCP connections aborted (client: 1006), nothing written.
        Safe when not running. Must run on the server's loop (thread mode: :meth:`stop_thread`).
        """
        if not await self._begin_stop():
            return
        running_run = self._agent_running()
        self._running = False
        self._accepting = False
        await self._cancel_run_tasks()
        conns = list(self._conns.values())
        self._subscribers.clear()
        if abrupt:
            for c in conns:
                self._abort(c)
        else:
            await asyncio.gather(
                *(self._close(c, *CLOSE_SERVICE_RESTART) for c in conns), return_exceptions=True
            )
            self._persist_after_close(running_run)
        assert self._runner is not None
        await self._runner.cleanup()
        self._runner = None
        self._conns.clear()
        logger.info("V1 replay server on port %s stopped (abrupt=%s)", self._port, abrupt)

    def _persist_after_close(self, running_run: bool) -> None:
        written = 0
        while running_run and written < self.write_after_close and self._pending:
            ev = self._pending.popleft()
            ts = parse_ts(ev.get("timestamp"))
            if ts is not None:
                self._prev_ts = ts
            if ev.get("kind") not in UNSTORED_KINDS and ev.get("key") != "full_state":
                self._store_event(self._adopt(ev))
                written += 1
        if written:
            self._log_fault(f"persisted {written} event(s) after the sockets were closed")
        if running_run and self.pause_on_shutdown and self._pending:
            self._store_event(self._state_event("execution_status", "paused"))
            self._store_event(pause_event(parent_id=self._leaf, timestamp=self._stamp()))
            self._gate_open = False
            self._log_fault("run paused by the shutdown (execution_status paused + PauseEvent)")
        if not self._pending and not self._live_done.is_set():
            self._mark_live_done()

    # ------------------------------------------------------------------------------------------
    # live control

    async def pause(self) -> None:
        """What ``POST /pause`` does (any loop)."""
        await self._on_server_loop(self._pause())

    async def run(self) -> bool:
        """What ``POST /run`` does (any loop); False when the agent is already running (409)."""
        try:
            await self._on_server_loop(self._run(conflict=True))
        except _Conflict:
            return False
        return True

    async def send_message(self, text: str, *, run: bool = True) -> None:
        """Store and publish a user message, as ``POST /events`` does (any loop)."""
        llm = validate_message({"role": "user", "content": [{"type": "text", "text": text}]})
        await self._on_server_loop(self._send_message(llm, run))

    # ------------------------------------------------------------------------------------------
    # faults

    async def drop_connections(
        self, *, abrupt: bool = False, code: int = 1001, reason: str = ""
    ) -> int:
        """Close every open socket now (close frame ``code``/``reason``; ``abrupt``: TCP abort,
        client 1006). Returns how many. Any loop."""
        return await self._on_server_loop(self._drop_all_fault(abrupt, code, reason))

    def drop_connections_threadsafe(
        self, *, abrupt: bool = False, code: int = 1001, reason: str = "", timeout: float = 10.0
    ) -> int:
        """Blocking :meth:`drop_connections` for other threads."""
        return self._run_threadsafe(self._drop_all_fault(abrupt, code, reason), timeout)

    async def _drop_all_fault(self, abrupt: bool, code: int, reason: str) -> int:
        conns = list(self._conns.values())
        for c in conns:
            await self._drop(c, abrupt, code, reason)
        self._log_fault(f"drop_connections: {len(conns)} socket(s) (abrupt={abrupt}, code={code})")
        return len(conns)

    def drop_after(
        self,
        k: int,
        *,
        abrupt: bool = False,
        during: FaultPhase = "any",
        code: int = 1001,
        reason: str = "",
    ) -> None:
        """Arm a one-shot fault: the first socket that is sent ``k`` more frames (counted from now;
        ``during="resend"`` counts resent events only, ``"live"`` live ones, ``"any"`` every frame
        incl. snapshots) is dropped right after the k-th (``k=0``: before its next frame).
        Thread-safe.

        Raises:
            ValueError: ``k < 0`` or an unknown ``during``.
        """
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        phase = "resend" if during == "replay" else during
        if phase not in ("any", "resend", "live"):
            raise ValueError(f"during must be 'any', 'resend' or 'live', got {during!r}")
        with self._lock:
            baseline = {cid: dict(c.sent) for cid, c in self._conns.items()}
            self._fault = Fault(k, abrupt, phase, baseline, code=code, reason=reason)

    def reject_next(self, n: int, *, status: int = 503) -> None:
        """Fail the next ``n`` WebSocket handshakes with HTTP ``status`` instead of the upgrade (an
        overloaded server or proxy; transient). REST is not affected. ``n=0`` cancels.

        Raises:
            ValueError: ``n < 0`` or ``status`` outside 400..599.
        """
        self._set_rejecting(n, status, status_range="400..599")

    def refuse_next(self, n: int, *, code: int = 4004, reason: str | None = None) -> None:
        """Refuse the next ``n`` sockets that pass the auth step: accepted, then closed with
        ``code`` (default 4004 ``"Conversation not found"``; 4001 -> ``"Authentication failed"``)
        before any frame - the final refusals of the real server. ``n=0`` cancels.

        Raises:
            ValueError: ``n < 0``.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        text = reason if reason is not None else _REASONS.get(code, "")
        with self._lock:
            self._refusal = _Refusal(n, code, text) if n else None
        if n:
            self._log_fault(f"refusing the next {n} socket(s) with close {code} {text!r}")

    def slow_replay(self, delay_per_event: float) -> None:
        """Wait ``delay_per_event`` seconds between resent events from now on (0 = off).

        Raises:
            ValueError: negative delay.
        """
        if not delay_per_event >= 0:
            raise ValueError(f"delay_per_event must be >= 0, got {delay_per_event!r}")
        self._replay_delay = float(delay_per_event)
        self._log_fault(f"resend slowed to {delay_per_event:g} s per event")

    async def inject(self, payload: Any, *, raw: bool = False, store: bool = True) -> int:
        """Send ``payload`` to every subscribed socket; returns how many got it.

        A dict with a string ``id`` no stored event has and a string ``kind`` is stored and
        published like a live event (``store=False``: sent only); any other JSON value (a dict
        without id, a list, a number, None, a string) is sent as its JSON text. ``raw=True``: the
        str is one text frame as it is (broken JSON...); ``bytes``: one binary frame. Any loop.

        Raises:
            TypeError: ``raw=True`` with a payload that is not a str.
        """
        self._check_raw(payload, raw)
        return await self._on_server_loop(self._inject(payload, raw=raw, store=store))

    def inject_threadsafe(self, payload: Any, *, raw: bool = False, store: bool = True, timeout: float = 30.0) -> int:
        """Blocking :meth:`inject` for other threads."""
        self._check_raw(payload, raw)
        return self._run_threadsafe(self._inject(payload, raw=raw, store=store), timeout)

    async def _inject(self, payload: Any, *, raw: bool, store: bool) -> int:
        how = "binary" if isinstance(payload, (bytes, bytearray)) else ("text" if raw else "json")
        if (
            how == "json"
            and store
            and isinstance(payload, dict)
            and isinstance(payload.get("id"), str)
            and isinstance(payload.get("kind"), str)
            and payload["id"] not in self._ids
        ):
            n = await self._publish(payload)
            self._log_fault(f"injected {preview(payload)} (stored) to {n} socket(s)")
            return n
        subs = list(self._subscribers.values())
        results = await asyncio.gather(*(self._send(c, payload, "live", how) for c in subs))
        n = sum(1 for r in results if r)
        self._log_fault(f"injected {how} frame {preview(payload)} to {n} socket(s)")
        return n

    def _apply_refuse(self, step: FaultStep) -> None:
        self.refuse_next(int(step.value or 1))

    async def _plan_drop(self, abrupt: bool) -> None:
        for c in list(self._conns.values()):
            await self._drop(c, abrupt, 1001, "")

    async def _plan_malformed(self, step: FaultStep) -> None:
        try:
            payload, how = malformed_frame(step.option or "dict")
        except ValueError as exc:
            self._log_fault(f"plan step {step} skipped: {exc}")
            return
        await self._inject(payload, raw=how == "text", store=True)

    async def _plan_oversized(self, step: FaultStep) -> None:
        await self._inject(oversized_event(int(step.value or 0), parent_id=self._leaf), raw=False, store=True)

    # ------------------------------------------------------------------------------------------
    # the store and publishing

    def _stamp(self) -> str:
        """Now, never earlier than the last stored event (keeps the log monotonic)."""
        now = datetime.now()
        if self._last_ts is not None and now <= self._last_ts:
            now = self._last_ts + timedelta(microseconds=1)
        return now.isoformat()

    def _store_event(self, ev: dict[str, Any], *, quiet: bool = False) -> bool:
        """Append to the log (unless the kind is never persisted); always fold into the state.
        Returns True when stored."""
        apply_to_state(self._state, ev)
        if ev.get("kind") in UNSTORED_KINDS or ev.get("key") == "full_state":
            return False
        if ev.get("id") in self._ids:
            if not quiet:
                logger.warning("event %s already stored; not stored twice", ev.get("id"))
            return False
        self._store.append(ev)
        eid = ev.get("id")
        if isinstance(eid, str):
            self._ids.add(eid)
            self._positions[eid] = len(self._store) - 1
        if ev.get("kind") != "ConversationStateUpdateEvent" and isinstance(eid, str):
            self._leaf = eid
        ts = parse_ts(ev.get("timestamp"))
        if ts is not None and (self._last_ts is None or ts > self._last_ts):
            self._last_ts = ts
        return True

    def _state_event(self, key: str, value: Any) -> dict[str, Any]:
        return state_update_event(key, value, parent_id=self._leaf, timestamp=self._stamp())

    async def _publish(self, ev: dict[str, Any]) -> int:
        """Persist (when the kind is persisted), then send to every subscriber."""
        self._store_event(ev)
        return await self._broadcast(ev)

    async def _broadcast(self, ev: Any) -> int:
        subs = list(self._subscribers.values())
        if not subs:
            return 0
        results = await asyncio.gather(*(self._send(c, ev, "live") for c in subs))
        return sum(1 for r in results if r)

    async def _publish_status(self, status: str) -> None:
        await self._publish(self._state_event("execution_status", status))

    async def _send(self, conn: _Conn, frame: Any, phase: str, how: str = "json") -> bool:
        """Send one frame with accounting, fault checks and plan steps; False when the socket is
        gone or was dropped here."""
        if conn.closed or conn.ws.closed:
            return False
        fault = self._take_fault(conn.id, conn.sent, phase)
        if fault is not None:
            await self._drop(conn, fault.abrupt, fault.code, fault.reason)
            return False
        try:
            if how == "binary":
                await conn.ws.send_bytes(bytes(frame))
            elif how == "text":
                await conn.ws.send_str(frame)
            else:
                await conn.ws.send_str(_dumps(frame))
        except (ConnectionError, RuntimeError) as exc:
            logger.debug("send to %s failed: %s", conn.id, exc)
            conn.closed = True
            return False
        self.emitted.append((conn.id, frame))
        if phase == "live" and not conn.resend_done and isinstance(frame, dict):
            eid = frame.get("id")
            if isinstance(eid, str):
                conn.live_ids.add(eid)
        with self._lock:
            conn.sent[phase] = conn.sent.get(phase, 0) + 1
            due = self._count_emission_locked()
        fault = self._take_fault(conn.id, conn.sent, phase)
        if fault is not None:
            await self._drop(conn, fault.abrupt, fault.code, fault.reason)
            return False
        if due:
            await self._run_steps(due)
        return not conn.closed

    async def _drop(self, conn: _Conn, abrupt: bool, code: int, reason: str) -> None:
        if abrupt:
            self._abort(conn)
            return
        if conn.ws.closed:
            return
        conn.closed = True
        self._subscribers.pop(conn.id, None)
        self._spawn(self._close(conn, code, reason))
        await asyncio.sleep(0)

    def _abort(self, conn: _Conn) -> None:
        conn.closed = True
        self._subscribers.pop(conn.id, None)
        transport = conn.request.transport
        if transport is not None and not transport.is_closing():
            transport.abort()

    async def _close(self, conn: _Conn, code: int, reason: str) -> None:
        """Send a close frame (recorded in :attr:`close_codes`) and wait (bounded) for the reply."""
        if conn.ws.closed:
            conn.closed = True
            return
        conn.closed = True
        self._subscribers.pop(conn.id, None)
        self.close_codes.append((conn.id, code, reason))
        try:
            await asyncio.wait_for(
                conn.ws.close(code=code, message=reason.encode()), self.close_timeout + 1.0
            )
        except (asyncio.TimeoutError, ConnectionError, RuntimeError) as exc:
            logger.debug("close of %s: %s", conn.id, exc)
            self._abort(conn)

    # ------------------------------------------------------------------------------------------
    # live clock and the fake agent

    def _agent_running(self) -> bool:
        """A live run is under way: events pending, not paused, the live clock started."""
        trigger = self._live_trigger
        return bool(self._pending) and self._gate_open and trigger is not None and trigger.is_set()

    async def _live_started(self) -> None:
        self._live_triggered = True
        if self.emit_status and self.execution_status != "running" and self._gate_open:
            await self._publish_status("running")

    async def _live_finished(self) -> None:
        await self._end_run(emit_finished=self.emit_status)

    async def _end_run(self, *, emit_finished: bool) -> None:
        if emit_finished and self.execution_status not in ("finished", "error", "stuck"):
            await self._publish_status("finished")
        await self._broadcast(full_state_event(self._state))

    def _event_time(self, ev: dict[str, Any]) -> datetime | None:
        return parse_ts(ev.get("timestamp"))

    def _adopt(self, ev: dict[str, Any]) -> dict[str, Any]:
        if not self.retime_live or ev.get("kind") in UNSTORED_KINDS:
            return ev
        out = dict(ev)
        out["timestamp"] = self._stamp()
        return out

    async def _send_message(self, llm_message: dict[str, Any], run: bool) -> dict[str, Any]:
        if self.execution_status in ("finished", "stuck"):
            await self._publish_status("idle")
        msg = message_event(llm_message, parent_id=self._leaf, timestamp=self._stamp())
        await self._publish(msg)
        await self._publish(self._state_event("last_user_message_id", msg["id"]))
        if run:
            await self._run(conflict=False)
        return msg

    async def _run(self, *, conflict: bool) -> None:
        if self._agent_running():
            if conflict:
                raise _Conflict
            return
        if self.execution_status != "running":
            await self._publish_status("running")
        self._set_gate(True)
        if self._pending:
            self._live_triggered = True
            self._set_trigger()
            return
        await self._end_run(emit_finished=True)

    async def _pause(self) -> None:
        if self.execution_status in ("idle", "running") or self._agent_running():
            await self._publish_status("paused")
            await self._publish(pause_event(parent_id=self._leaf, timestamp=self._stamp()))
        self._set_gate(False)

    # ------------------------------------------------------------------------------------------
    # WebSocket endpoint

    def _refuse_http(self, conn_id: str, status: int, why: str) -> web.Response:
        self.refusals += 1
        self.handshake_failures.append((conn_id, status))
        logger.info("socket %s refused with HTTP %s: %s", conn_id, status, why)
        return web.Response(status=status, text="Forbidden" if status == 403 else f"{status}")

    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        self._conn_seq += 1
        conn_id = f"ws-{self._conn_seq}"
        status = self._take_rejection()
        if status is not None:
            self.handshake_failures.append((conn_id, status))
            return self._rejection_response(status)
        try:
            cid = uuid.UUID(request.match_info["conversation_id"])
        except ValueError:
            return self._refuse_http(conn_id, 403, "conversation_id is not a UUID")
        query = request.query
        resend_mode = query.get("resend_mode")
        if resend_mode is not None and resend_mode not in ("all", "since"):
            return self._refuse_http(conn_id, 403, f"resend_mode {resend_mode!r}")
        after = None
        if "after_timestamp" in query:
            try:
                after = parse_query_datetime(query["after_timestamp"])
            except ValueError:
                return self._refuse_http(conn_id, 403, "after_timestamp is not a datetime")
        resend_all = False
        if "resend_all" in query:
            try:
                resend_all = parse_query_bool(query["resend_all"])
            except ValueError:
                return self._refuse_http(conn_id, 403, "resend_all is not a boolean")
        key = query.get("session_api_key")
        if key is None:
            key = request.headers.get("X-Session-API-Key")
        if self.session_api_key and key is not None and key != self.session_api_key:
            return self._refuse_http(conn_id, 403, "wrong session_api_key (query or header)")

        ws = web.WebSocketResponse(
            timeout=self.close_timeout, heartbeat=self.heartbeat, max_msg_size=MAX_CLIENT_FRAME
        )
        await ws.prepare(request)
        conn = _Conn(conn_id, ws, request)
        self._conns[conn_id] = conn
        reader: asyncio.Task[None] | None = None
        try:
            if not self._accepting:
                await self._close(conn, *CLOSE_SERVICE_RESTART)
                return ws
            if self.session_api_key and key is None and not await self._first_frame_auth(conn):
                return ws
            if cid != self._uuid:
                self.refusals += 1
                await self._close(conn, *CLOSE_NOT_FOUND)
                return ws
            refusal = self._take_refusal()
            if refusal is not None:
                self.refusals += 1
                self._log_fault(f"socket {conn_id} refused (refuse_next): {refusal.code} {refusal.reason!r}")
                await self._close(conn, refusal.code, refusal.reason)
                return ws
            if len(self._subscribers) >= self.max_subscribers:
                self.refusals += 1
                await self._close(conn, *CLOSE_TOO_MANY)
                return ws
            # subscribed: live events reach this socket from now on
            self._subscribers[conn_id] = conn
            conn.subscribed = True
            self.connections += 1
            if not self._subscribed_this_run:
                self._subscribed_this_run = True
                if self.live_start == "first_connect":
                    self._live_triggered = True
                    self._set_trigger()
            mode = resend_mode or ("all" if resend_all else None)
            logger.info("socket %s subscribed (resend %s, after %s)", conn_id, mode, after)
            queue: asyncio.Queue[Any] = asyncio.Queue()
            reader = asyncio.get_running_loop().create_task(self._serve_socket(conn, mode, after, queue))
            while True:
                msg = await ws.receive()
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    queue.put_nowait(msg)
                    continue
                break
        except (ConnectionError, RuntimeError, asyncio.CancelledError) as exc:
            logger.debug("socket %s ended: %r", conn_id, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            if reader is not None:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
            conn.closed = True
            self._subscribers.pop(conn_id, None)
            self._conns.pop(conn_id, None)
            logger.info("socket %s closed (code %s)", conn_id, ws.close_code)
        return ws

    async def _first_frame_auth(self, conn: _Conn) -> bool:
        ws = conn.ws
        why = ""
        try:
            msg = await ws.receive(timeout=self.auth_timeout)
        except asyncio.TimeoutError:
            why = "timeout waiting for the auth frame"
        else:
            if conn.closed:  # closed by the server meanwhile (stop, drop)
                return False
            if msg.type == WSMsgType.TEXT:
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    why = "malformed JSON"
                else:
                    if not isinstance(data, dict):
                        why = "payload is not a JSON object"
                    elif data.get("type") != "auth":
                        why = "wrong message type"
                    elif data.get("session_api_key") != self.session_api_key:
                        why = "invalid API key"
            elif msg.type == WSMsgType.BINARY:
                why = "binary first frame"
            else:
                why = "client disconnected"
        if not why:
            return True
        self.refusals += 1
        logger.info("socket %s: first-message auth failed: %s", conn.id, why)
        await self._close(conn, *CLOSE_AUTH_FAILED)
        return False

    async def _serve_socket(self, conn: _Conn, mode: str | None, after: datetime | None, queue: asyncio.Queue[Any]) -> None:
        await asyncio.sleep(0)  # the real snapshot is built in a worker thread
        if not await self._send(conn, full_state_event(self._state), "snapshot"):
            return
        resend = mode == "all" or (mode == "since" and after is not None)
        if resend and not await self._resend(conn, after if mode == "since" else None):
            return
        conn.resend_done = True
        conn.live_ids.clear()
        while not conn.closed:
            msg = await queue.get()
            await self._client_frame(conn, msg)

    async def _resend(self, conn: _Conn, after: datetime | None) -> bool:
        page_id: str | None = None
        first = True
        while True:
            items, next_page_id = self._search(page_id=page_id, limit=RESEND_PAGE, ts_gte=after)
            for ev in items:
                if not self.duplicate_live and ev.get("id") in conn.live_ids:
                    continue
                await self._pace_replay(first)
                first = False
                if not await self._send(conn, ev, "resend"):
                    return False
            if next_page_id is None:
                return True
            page_id = next_page_id
            await asyncio.sleep(self.resend_page_pause)

    async def _client_frame(self, conn: _Conn, msg: Any) -> None:
        error: tuple[str, str] | None = None
        if msg.type == WSMsgType.BINARY:
            error = ("KeyError", "'text'")
        else:
            try:
                data = json.loads(msg.data)
            except json.JSONDecodeError as exc:
                error = ("JSONDecodeError", str(exc))
            else:
                if isinstance(data, dict) and data.get("type") == "auth" and set(data) <= {"type", "session_api_key"}:
                    logger.debug("socket %s: redundant auth frame ignored", conn.id)
                    return
                try:
                    llm = validate_message(data)
                except MessageValidationError as exc:
                    error = ("ValidationError", str(exc))
                else:
                    if llm["role"] != "user":
                        error = ("AssertionError", ASSERTION_DETAIL)
                    else:
                        # like the real handler, a message being handled is not cut short when
                        # the socket goes away meanwhile
                        await asyncio.shield(self._send_message(llm, run=True))
        if error is not None:
            logger.info("socket %s: bad client frame: %s", conn.id, error[0])
            await self._send(conn, server_error_event(*error), "live")

    # ------------------------------------------------------------------------------------------
    # REST

    def _add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/sockets/events/{conversation_id}", self._ws_handler)
        r.add_get("/health", self._health)
        r.add_get("/alive", self._health)
        r.add_get("/ready", self._ready)
        r.add_get("/server_info", self._server_info)
        r.add_get("/api/conversations/search", self._conversations_search)
        r.add_get("/api/conversations/count", self._conversations_count)
        r.add_get("/api/conversations/{conversation_id}/events/search", self._events_search)
        r.add_get("/api/conversations/{conversation_id}/events/count", self._events_count)
        r.add_get("/api/conversations/{conversation_id}/events/{event_id}", self._event_get)
        r.add_post("/api/conversations/{conversation_id}/events", self._events_post)
        r.add_post("/api/conversations/{conversation_id}/pause", self._pause_post)
        r.add_post("/api/conversations/{conversation_id}/run", self._run_post)
        r.add_get("/api/conversations/{conversation_id}", self._conversation_get)

    def _make_middleware(self) -> Callable[..., Awaitable[web.StreamResponse]]:
        server = self

        @web.middleware
        async def api_middleware(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            if (
                request.path.startswith("/api/")
                and server.session_api_key
                and request.headers.get("X-Session-API-Key") != server.session_api_key
            ):
                return _detail(401, "Unauthorized")
            try:
                return await handler(request)
            except web.HTTPNotFound:
                return _detail(404, "Not Found")
            except web.HTTPMethodNotAllowed:
                return _detail(405, "Method Not Allowed")

        return api_middleware

    async def _health(self, request: web.Request) -> web.Response:
        return _json_response({"status": "ok"})

    async def _ready(self, request: web.Request) -> web.Response:
        return _json_response({"status": "ready"})

    async def _server_info(self, request: web.Request) -> web.Response:
        now = time.time()
        return _json_response(
            {
                "uptime": int(now - self._started_at.timestamp()),
                "idle_time": 0,
                "title": "OpenHands Agent Server",
                "version": "1.58.2 (ohnb V1ReplayServer)",
                "docs": "/docs",
                "redoc": "/redoc",
            }
        )

    def _conversation_of(self, request: web.Request) -> tuple[uuid.UUID | None, web.Response | None]:
        raw = request.match_info["conversation_id"]
        try:
            return uuid.UUID(raw), None
        except ValueError:
            return None, _detail(
                422,
                [
                    {
                        "type": "uuid_parsing",
                        "loc": ["path", "conversation_id"],
                        "msg": "Input should be a valid UUID",
                        "input": raw,
                    }
                ],
            )

    def _events_guard(self, request: web.Request) -> web.Response | None:
        cid, error = self._conversation_of(request)
        if error is not None:
            return error
        if cid != self._uuid:
            return _detail(404, f"Conversation not found: {cid}")
        return None

    def _filters(self, request: web.Request) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        q = request.query
        out: dict[str, Any] = {
            "kind": q.get("kind"),
            "source": q.get("source"),
            "body": q.get("body"),
            "ts_gte": None,
            "ts_lt": None,
        }
        errors = []
        for name, key in (("timestamp__gte", "ts_gte"), ("timestamp__lt", "ts_lt")):
            if name in q:
                try:
                    out[key] = parse_query_datetime(q[name])
                except ValueError:
                    errors.append(
                        {
                            "type": "datetime_from_date_parsing",
                            "loc": ["query", name],
                            "msg": "Input should be a valid datetime or date, invalid character in year",
                            "input": q[name],
                            "ctx": {"error": "invalid character in year"},
                        }
                    )
        return out, errors

    async def _events_search(self, request: web.Request) -> web.Response:
        guard = self._events_guard(request)
        if guard is not None:
            return guard
        filters, errors = self._filters(request)
        q = request.query
        limit = 100
        if "limit" in q:
            try:
                limit = int(q["limit"])
            except ValueError:
                errors.append(
                    {
                        "type": "int_parsing",
                        "loc": ["query", "limit"],
                        "msg": "Input should be a valid integer, unable to parse string as an integer",
                        "input": q["limit"],
                    }
                )
            else:
                if limit <= 0:
                    errors.append(
                        {
                            "type": "greater_than",
                            "loc": ["query", "limit"],
                            "msg": "Input should be greater than 0",
                            "input": q["limit"],
                            "ctx": {"gt": 0},
                        }
                    )
                elif limit > 100:
                    errors.append(
                        {
                            "type": "less_than_equal",
                            "loc": ["query", "limit"],
                            "msg": "Input should be less than or equal to 100",
                            "input": q["limit"],
                            "ctx": {"le": 100},
                        }
                    )
        sort_order = q.get("sort_order", "TIMESTAMP")
        if sort_order not in ("TIMESTAMP", "TIMESTAMP_DESC"):
            errors.append(
                {
                    "type": "enum",
                    "loc": ["query", "sort_order"],
                    "msg": "Input should be 'TIMESTAMP' or 'TIMESTAMP_DESC'",
                    "input": sort_order,
                    "ctx": {"expected": "'TIMESTAMP' or 'TIMESTAMP_DESC'"},
                }
            )
        if errors:
            return _detail(422, errors)
        items, next_page_id = self._search(
            page_id=q.get("page_id"), limit=limit, reverse=sort_order == "TIMESTAMP_DESC", **filters
        )
        return _json_response({"items": items, "next_page_id": next_page_id})

    async def _events_count(self, request: web.Request) -> web.Response:
        guard = self._events_guard(request)
        if guard is not None:
            return guard
        filters, errors = self._filters(request)
        if errors:
            return _detail(422, errors)
        return _json_response(sum(1 for ev in list(self._store) if self._matches(ev, **filters)))

    async def _event_get(self, request: web.Request) -> web.Response:
        guard = self._events_guard(request)
        if guard is not None:
            return guard
        event_id = request.match_info["event_id"]
        for ev in list(self._store):
            if ev.get("id") == event_id:
                return _json_response(ev)
        return _detail(404, "Not Found")

    async def _events_post(self, request: web.Request) -> web.Response:
        cid, error = self._conversation_of(request)
        if error is not None:
            return error
        raw = await request.read()
        if not raw:
            return _detail(422, [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}])
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return _detail(
                422,
                [
                    {
                        "type": "json_invalid",
                        "loc": ["body", 0],
                        "msg": "JSON decode error",
                        "input": {},
                        "ctx": {"error": str(exc)},
                    }
                ],
            )
        try:
            llm = validate_message(body, title="SendMessageRequest", role_required=False)
        except MessageValidationError as exc:
            return _detail(422, fastapi_errors(exc))
        if cid != self._uuid:
            return _detail(404, f"Conversation not found: {cid}")
        if llm["role"] != "user":
            return _json_response({"detail": "Internal Server Error", "exception": ASSERTION_DETAIL}, 500)
        run = bool(coerce_bool(body.get("run", False)))
        await self._send_message(llm, run)
        return _json_response({"success": True})

    async def _pause_post(self, request: web.Request) -> web.Response:
        cid, error = self._conversation_of(request)
        if error is not None:
            return error
        if cid != self._uuid:
            return _detail(400, "Bad Request")
        await self._pause()
        return _json_response({"success": True})

    async def _run_post(self, request: web.Request) -> web.Response:
        cid, error = self._conversation_of(request)
        if error is not None:
            return error
        if cid != self._uuid:
            return _detail(404, "Not Found")
        try:
            await self._run(conflict=True)
        except _Conflict:
            return _detail(409, ALREADY_RUNNING)
        return _json_response({"success": True})

    def _info(self) -> dict[str, Any]:
        st = copy.deepcopy(self._state)
        last = parse_ts(self._store[-1].get("timestamp")) if self._store else None
        return {
            "id": self.conversation_id,
            "workspace": st.get("workspace"),
            "persistence_dir": st.get("persistence_dir"),
            "max_iterations": st.get("max_iterations", 500),
            "stuck_detection": st.get("stuck_detection", True),
            "execution_status": st.get("execution_status", "idle"),
            "confirmation_policy": st.get("confirmation_policy", {"kind": "NeverConfirm"}),
            "security_analyzer": None,
            "activated_knowledge_skills": st.get("activated_knowledge_skills", []),
            "invoked_skills": st.get("invoked_skills", []),
            "blocked_actions": st.get("blocked_actions", {}),
            "blocked_messages": st.get("blocked_messages", {}),
            "last_user_message_id": st.get("last_user_message_id"),
            "leaf_event_id": st.get("leaf_event_id"),
            "stats": st.get("stats", {"usage_to_metrics": {}}),
            "secret_registry": st.get("secret_registry", {"secret_sources": {}}),
            "agent_state": st.get("agent_state", {}),
            "hook_config": None,
            "title": None,
            "metrics": None,
            "created_at": _utc_z(self._created or self._started_at),
            "updated_at": _utc_z(last or self._started_at),
            "forked_from_conversation_id": None,
            "forked_from_event_id": None,
            "parent_conversation_id": None,
            "sub_conversation_ids": [],
            "tags": st.get("tags", {}),
            "current_model_id": None,
            "available_models": [],
            "supports_runtime_model_switch": False,
            "launched_agent_profile": None,
            "agent": st.get("agent"),
            "client_tools": [],
            "tool_module_qualnames": {},
            "runtime_info": {"runtime_status": "available", "can_resume": True, "runtime_error": None},
        }

    async def _conversation_get(self, request: web.Request) -> web.Response:
        cid, error = self._conversation_of(request)
        if error is not None:
            return error
        if cid != self._uuid:
            return _detail(404, "Not Found")
        return _json_response(self._info())

    async def _conversations_search(self, request: web.Request) -> web.Response:
        return _json_response({"items": [self._info()], "next_page_id": None})

    async def _conversations_count(self, request: web.Request) -> web.Response:
        return _json_response(1)

    @staticmethod
    def _matches(
        ev: dict[str, Any],
        *,
        kind: str | None = None,
        source: str | None = None,
        body: str | None = None,
        ts_gte: datetime | None = None,
        ts_lt: datetime | None = None,
    ) -> bool:
        if kind is not None:
            ev_kind = ev.get("kind")
            if not isinstance(ev_kind, str) or (kind != ev_kind and not kind.endswith("." + ev_kind)):
                return False
        if source is not None and ev.get("source") != source:
            return False
        if ts_gte is not None or ts_lt is not None:
            ts = parse_ts(ev.get("timestamp"))
            if ts is not None:
                if ts_gte is not None and ts < ts_gte:
                    return False
                if ts_lt is not None and ts >= ts_lt:
                    return False
        if body is not None:
            if ev.get("kind") != "MessageEvent":
                return False
            parts = []
            msg = ev.get("llm_message")
            for item in (msg.get("content") if isinstance(msg, dict) else None) or []:
                if isinstance(item, dict) and isinstance(item.get("text"), str):
                    parts.append(item["text"])
            for item in ev.get("extended_content") or []:
                if isinstance(item, dict) and isinstance(item.get("text"), str):
                    parts.append(item["text"])
            if isinstance(ev.get("reasoning_content"), str):
                parts.append(ev["reasoning_content"])
            if body.lower() not in " ".join(parts).lower():
                return False
        return True

    def _search(
        self,
        *,
        page_id: str | None = None,
        limit: int = 100,
        reverse: bool = False,
        kind: str | None = None,
        source: str | None = None,
        body: str | None = None,
        ts_gte: datetime | None = None,
        ts_lt: datetime | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """``search_events``: walk the log from ``page_id`` (inclusive; unknown -> the start) in
        log order (reversed for TIMESTAMP_DESC), keep ``limit`` matches; ``next_page_id`` is the
        id of the next match."""
        store = self._store  # read in one go, on the server's loop: no append can come in between
        total = len(store)
        start = self._positions.get(page_id) if page_id else None
        if start is None:
            start = total - 1 if reverse else 0
        indices = range(start, -1, -1) if reverse else range(start, total)
        items: list[dict[str, Any]] = []
        for i in indices:
            ev = store[i]
            if not self._matches(ev, kind=kind, source=source, body=body, ts_gte=ts_gte, ts_lt=ts_lt):
                continue
            if len(items) >= limit:
                return items, ev.get("id")
            items.append(ev)
        return items, None
