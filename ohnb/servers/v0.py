"""An embedded OpenHands V0 (Socket.IO) server that replays a stored conversation.

It imitates what a client of a real openhands-ai 0.62 server sees on the wire (see the project's
``docs/openhands-protocol.md``, section V0, and ``fixtures/captures/v0_real_server_*``):

* transport: python-socketio ``AsyncServer`` (engine.io 4) at ``/socket.io``, namespace ``/``,
  ``cors_allowed_origins="*"``, ``max_http_buffer_size`` 4 MiB, ping interval 25 s / timeout 20 s
  (``openhands/server/shared.py``). Served here by aiohttp on ``127.0.0.1``.
* ``connect`` follows ``openhands/server/listen_socket.py`` (0.62 era): query ``conversation_id``
  (required), ``latest_event_id`` (int, default -1, a non-integer counts as -1),
  ``session_api_key`` (only checked when the server has a key). The stored events with
  ``id > latest_event_id`` are replayed inside the connect handler, i.e. BEFORE the Socket.IO
  CONNECT packet, as ``oh_event``; NullAction / NullObservation / RecallAction are skipped and
  only the LAST ``agent_state_changed`` observation is sent, after all the others. Then the
  connection joins room ``room:{conversation_id}`` (``openhands/server/constants.py`` ROOM_KEY,
  ``StandaloneConversationManager.join_conversation``).
* live events follow ``WebSession._on_event`` (``openhands/server/session/session.py``): null
  actions/observations are never sent; ``agent`` and ``user`` events are sent as they are;
  ``environment`` events only when they are ``run`` (CmdOutputObservation),
  ``agent_state_changed`` or ``recall`` observations, with ``source`` rewritten to ``"agent"``;
  an ``error`` observation from any other source likewise. Everything is stored, so a later
  replay carries the stored form (e.g. an environment ``change_agent_state`` action is replayed
  but was never sent live; a RecallAction (source ``user``) is sent live but never replayed).
* client -> server: ``oh_user_action`` and the deprecated ``oh_action``
  (``listen_socket.py`` -> ``WebSession.dispatch``): the action is stored with source ``user``
  and published like any other event.

Refusals are ``connect_error`` packets whose data is ``{"message": str}`` (python-socketio's
``ConnectionRefusedError(msg)``; a second positional argument would add ``"data"``, as in the real
``{"message": "Settings not found", "data": {"msg_id": "CONFIGURATION$SETTINGS_NOT_FOUND"}}``).

Deliberate differences from the real server:

* unknown ``conversation_id``: the OSS server's default ``ConversationValidator``
  (``openhands/storage/conversation/conversation_validator.py``) CREATES metadata for an unknown
  id and ``join_conversation`` starts a fresh agent loop, so it does not refuse. Here it is
  refused with ``"Failed to join conversation"``, the words the real server uses when
  ``join_conversation`` returns nothing.
* the real handler replays a snapshot of the store and only then joins the room, so an event
  stored in between reaches neither path. Here the replay drains the store up to its end and joins
  the room with no ``await`` in between: no gap, no duplicate.
* scripted live events keep their original timestamps; user actions get ``datetime.now()``. The
  real live copy of some actions also carries ``"timeout": 120.0`` (set by the runtime after the
  event was stored, see captures/v0_real_server_live.json ids 1 and 5); not reproduced.
* no agent reacts to user actions (no RecallAction, no state change to ``running``).
* ``missing_key_bug``: the KeyError is raised for real, so python-engineio logs its traceback
  ("message async handler error") at ERROR on the logger ``ohnb.servers.v0.engineio``.

Fault injection (methods of :class:`V0ReplayServer`, or a declarative
:class:`~ohnb.servers.faults.FaultPlan` via ``faults=`` / :meth:`V0ReplayServer.apply` /
``ohnb serve --faults``), and what python-socketio's ``AsyncClient`` (5.x) sees:

=========================  ====================================================================
fault                      client side
=========================  ====================================================================
``drop_connections()``     ``disconnect`` handler, reason ``"server disconnect"`` (python-socketio
                           does not reconnect by itself; ohnb does); mid-replay: no CONNECT, the
                           engine.io CLOSE ends ``connect()`` with ``ConnectionError("Unexpected
                           connection error")`` (or ohnb's ``transport_error``)
``...(abrupt=True)``       reason ``"transport error"`` (python-socketio reconnects if enabled)
``freeze(s)``              silence: no ``oh_event``, no engine.io PING. The client notices only when
                           its read times out, ``pingInterval + pingTimeout`` after the last frame
                           it received (45 s with the real 25 s / 20 s settings), then
                           ``disconnect`` with ``"transport error"``. A connect started meanwhile
                           hangs in the websocket handshake until the freeze ends.
``refuse_next(n)``         the replay (``replay_first``), then ``connect_error``
                           ``{"message": ...}``; ``connect()`` raises ``ConnectionError("One or more
                           namespaces failed to connect: /")``
``reject_next(n)``         HTTP 503 on the handshake: ``connect_error`` with the string
                           ``"Connection error"`` and ``ConnectionError("Connection error")``
``slow_replay(d)``         the replay trickles in, ``d`` s between events; CONNECT comes last
``inject(payload)``        the ``oh_event`` handler gets the payload as it is (None, str, list...);
                           a frame over 4 MiB exceeds aiohttp's default ``max_msg_size``: the client
                           closes the websocket, reason ``"transport error"``
``inject(text, raw=True)``  ``42[...`` with broken JSON: dropped by the client (a background-task
                           JSONDecodeError, logged by asyncio), connection kept; a frame that is
                           not engine.io: connection aborted, ``"transport error"``
``restart(p)``             ``"transport error"``, refused TCP connects for ``p`` s, same port after
=========================  ====================================================================
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qs

import socketio
from aiohttp import web
from engineio import packet as eio_packet
from socketio.exceptions import ConnectionRefusedError as SioConnectionRefusedError

from ..stores import V0Source, read_v0_events
from ._base import Fault, LiveStart, Refusal, ReplayServerBase, preview
from ._base import fault_logger as fault_logger
from .faults import NO_ARGUMENT, FaultPlan, FaultStep, malformed_payload, oversized_payload

__all__ = [
    "REFUSAL_INVALID_SESSION_API_KEY",
    "REFUSAL_JOIN_FAILED",
    "REFUSAL_NO_CONVERSATION_ID",
    "V0ReplayServer",
    "live_form",
    "replay_action",
]

logger = logging.getLogger("ohnb.servers.v0")
# Every fault that fires (method call or plan step) is logged at INFO on ``fault_logger``
# (``ohnb.servers.faults``, shared with the V1 server; ``ohnb serve`` prints these lines).

NAMESPACE = "/"
#: ``max_http_buffer_size`` of the real server (openhands/server/shared.py).
MAX_HTTP_BUFFER_SIZE = 4 * 1024 * 1024
#: Where a run's ``AsyncServer`` waits on its aiohttp app until the port is bound.
_SIO = web.AppKey("ohnb_v0_sio", socketio.AsyncServer)

#: connect_error messages, verbatim from openhands/server/listen_socket.py.
REFUSAL_NO_CONVERSATION_ID = "No conversation_id in query params"
REFUSAL_INVALID_SESSION_API_KEY = "invalid_session_api_key"
REFUSAL_JOIN_FAILED = "Failed to join conversation"

FaultPhase = Literal["any", "replay", "live"]

#: Status messages the real server sends when a join starts the agent loop
#: (captures/v0_real_server_live.json, captures/v0_real_server_builtin_reconnect.log).
_START_STATUS = ("STATUS$STARTING_RUNTIME", "STATUS$RUNTIME_STARTED")


# ----------------------------------------------------------------------------------------------
# the two filters


def replay_action(event: dict[str, Any]) -> Literal["send", "skip", "hold"]:
    """How the connect-time replay treats a stored event (openhands/server/listen_socket.py).

    Returns ``"skip"`` for NullAction (``"action": "null"``), NullObservation
    (``"observation": "null"``) and RecallAction (``"action": "recall"``); ``"hold"`` for an
    ``agent_state_changed`` observation (only the last held one is sent, after all others);
    ``"send"`` otherwise.
    """
    if event.get("action") in ("null", "recall") or event.get("observation") == "null":
        return "skip"
    if event.get("observation") == "agent_state_changed":
        return "hold"
    return "send"


def live_form(event: dict[str, Any]) -> dict[str, Any] | None:
    """The dict the real server broadcasts live for a stored event, or None if it sends nothing.

    Rules of ``WebSession._on_event`` (openhands/server/session/session.py): null actions and
    observations are dropped; source ``agent``/``user`` -> sent unchanged; source ``environment``
    -> only ``run``, ``agent_state_changed`` and ``recall`` observations, as a copy with
    ``"source": "agent"``; an ``error`` observation whose source is neither agent nor user ->
    copy with ``"source": "agent"``; anything else -> not sent. The input is never mutated.
    """
    if event.get("action") == "null" or event.get("observation") == "null":
        return None
    source = event.get("source")
    if source in ("agent", "user"):
        return event
    observation = event.get("observation")
    if source == "environment" and observation in ("run", "agent_state_changed", "recall"):
        return {**event, "source": "agent"}
    if observation == "error":
        return {**event, "source": "agent"}
    return None


def _parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    return ts.replace(tzinfo=None) if ts.tzinfo is not None else ts


def _library_logger(name: str) -> logging.Logger:
    # python-socketio / python-engineio log every packet at INFO; keep them quiet unless the
    # application configures these loggers explicitly.
    lg = logging.getLogger(f"ohnb.servers.v0.{name}")
    if lg.level == logging.NOTSET:
        lg.setLevel(logging.ERROR)
    return lg


@dataclass
class _Refusal(Refusal):
    message: str
    replay_first: bool


class _RawFrame(eio_packet.Packet):
    """An engine.io "packet" whose encoding is the given text, verbatim (one websocket frame)."""

    def __init__(self, text: str) -> None:
        super().__init__(eio_packet.MESSAGE, data=text)
        self._text = text

    def encode(self, b64: bool = False) -> str:
        return self._text


def _is_int_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _preview(payload: Any, limit: int = 60) -> str:
    return "<no argument>" if payload is NO_ARGUMENT else preview(payload, limit)


class V0ReplayServer(ReplayServerBase):
    """An OpenHands V0 Socket.IO server on loopback that replays (and optionally plays live) a
    stored conversation.

    Args:
        events: anything :func:`ohnb.stores.read_v0_events` accepts (path to a trajectory export,
            file-store folder, evaluation JSONL, or a list of event dicts). ``None``: the bundled
            297-event conversation. Every event must carry an integer ``id``.
        conversation_id: the only conversation this server knows; other ids are refused with
            ``"Failed to join conversation"``.
        host: interface to bind; loopback by default.
        port: TCP port; 0 picks a free one (see :attr:`port` after :meth:`start`).
        speed: live playback speed factor (> 0; ``float("inf")`` = no waiting).
        max_gap: upper bound, in seconds, of the wait between two live events (idle gaps capped).
        live_from: id of the first "live" event. Events with a smaller id are the stored history
            at start; the others are published later, one by one, waiting
            ``min((ts_i - ts_{i-1}) / speed, max_gap)`` seconds before each (``ts`` = the events'
            original timestamps; the first live event is timed from the last history event).
            ``None``: everything is history (pure replay).
        session_api_key: when set, clients must pass ``session_api_key`` in the query (as the real
            server does when the env var SESSION_API_KEY is set).
        live_start: when the live clock starts: ``"first_connect"`` (when a client has connected,
            again after each restart), ``"immediately"`` (on start) or ``"manual"``
            (:meth:`start_live`).
        missing_key_bug: reproduce the 0.62 bug for a client that sends NO key to a server with a
            key: the connect handler raises KeyError, the client gets neither CONNECT nor
            CONNECT_ERROR and its ``connect()`` times out. False: refuse like a wrong key.
        emit_status: send the ``status_update`` messages the real server sends when a join starts
            the agent loop (STATUS$STARTING_RUNTIME, STATUS$RUNTIME_STARTED, right after the first
            CONNECT of each server run, to the room), and on :meth:`stop` the synthetic
            ``agent_state_changed: stopped`` without id that a closing session emits.
        ping_interval, ping_timeout: engine.io settings in seconds (real server: 25 / 20). A
            python-socketio client declares the server dead ``ping_interval + ping_timeout``
            seconds after the last frame it received (e.g. during a :meth:`freeze`). Use a
            whole number of seconds for ``ping_interval``: python-engineio (4.x) advertises
            ``int(ping_interval) * 1000`` ms in its OPEN packet, so with 0.5 clients are told 0
            and give up ``ping_timeout`` after each ping, racing the next one (spurious
            "transport error" disconnects when ``ping_timeout <= ping_interval``).
        shutdown_timeout: seconds :meth:`stop` lets open HTTP/websocket handlers finish.
        faults: a :class:`~ohnb.servers.faults.FaultPlan` or its spec string (grammar in
            :mod:`ohnb.servers.faults`), applied at once as by :meth:`apply`.

    Lifecycle: ``await start()`` / ``await stop()`` run in the current event loop (also
    ``async with``); :meth:`start_in_thread` / :meth:`stop_thread` run the server on a
    background thread with its own loop (also ``with``). :meth:`restart` keeps the store and port.

    Instrumentation (read from any thread): :attr:`emitted` (``(sid, event_dict)`` for every
    ``oh_event`` sent, replay and live, status messages included; after :meth:`inject` the
    payload can be anything, not only a dict), :attr:`stored_events`,
    :attr:`connections` (successful connects), :attr:`refusals` (refused or stalled connects),
    :attr:`rejections` (handshakes failed by :meth:`reject_next`), :attr:`emitted_ids`,
    :attr:`fault_log`, :attr:`is_live_done` / :meth:`wait_live_done`.

    Fault hooks (all thread-safe; async ones also have a blocking ``*_threadsafe`` twin for other
    threads in thread mode): :meth:`drop_connections`, :meth:`drop_after`, :meth:`restart`,
    :meth:`freeze`, :meth:`refuse_next`, :meth:`reject_next`, :meth:`slow_replay`,
    :meth:`inject`, and :meth:`apply` for a whole :class:`~ohnb.servers.faults.FaultPlan`.

    Raises:
        ValueError: bad ``speed``/``max_gap``/``live_start``, events without integer ids, a bad
            ``faults`` spec, or any error of :func:`ohnb.stores.read_v0_events`.
    """

    _server_name = "V0ReplayServer"
    _tag = "v0"
    _emission = "oh_event(s)"
    _logger = logger

    def __init__(
        self,
        events: V0Source | None = None,
        *,
        conversation_id: str = "ohnb-demo",
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        max_gap: float = 2.0,
        live_from: int | None = None,
        session_api_key: str | None = None,
        live_start: LiveStart = "first_connect",
        missing_key_bug: bool = True,
        emit_status: bool = False,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        shutdown_timeout: float = 2.0,
        faults: FaultPlan | str | None = None,
    ) -> None:
        self._check_pacing(speed, max_gap, live_start)
        if not conversation_id:
            raise ValueError("conversation_id must be a non-empty string")
        all_events = read_v0_events(events)
        for n, ev in enumerate(all_events):
            eid = ev.get("id")
            if not isinstance(eid, int) or isinstance(eid, bool) or eid < 0:
                raise ValueError(f"event at position {n} has no integer id: {eid!r}")
        all_events.sort(key=lambda e: e["id"])

        self.conversation_id = conversation_id
        self.missing_key_bug = missing_key_bug
        self.ping_interval = float(ping_interval)
        self.ping_timeout = float(ping_timeout)

        if live_from is None:
            history, pending = all_events, []
        else:
            history = [e for e in all_events if e["id"] < live_from]
            pending = [e for e in all_events if e["id"] >= live_from]
        self._store: list[dict[str, Any]] = list(history)
        self._pending: collections.deque[dict[str, Any]] = collections.deque(pending)
        self._last_id = history[-1]["id"] if history else -1
        self._prev_ts = _parse_ts(history[-1].get("timestamp")) if history else None
        self._id_map: dict[int, int] = {}

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
        self._sent: dict[str, dict[str, int]] = {}
        self._refusal: _Refusal | None = None

        # per-run state (created by start())
        self._sio: socketio.AsyncServer | None = None
        self._bg_tasks: set[asyncio.Task[Any]] = set()
        self._alive: set[str] = set()
        self._transports: dict[str, set[asyncio.Transport]] = {}
        self._joined_this_run = False

        if faults is not None:
            self.apply(faults)

    # ------------------------------------------------------------------------------------------
    # properties

    @property
    def room(self) -> str:
        """The Socket.IO room of the conversation, ``room:{conversation_id}``."""
        return f"room:{self.conversation_id}"

    @property
    def stored_events(self) -> list[dict[str, Any]]:
        """A snapshot (new list) of the current store, in id order: history plus every live and
        user event published so far, in their stored form."""
        return list(self._store)

    @property
    def emitted_ids(self) -> set[int]:
        """The integer ids of every ``oh_event`` sent so far (any connection, replay or live).
        :attr:`emitted` may also hold injected payloads that are not dicts."""
        return {
            d["id"]
            for _, d in list(self.emitted)
            if isinstance(d, dict) and _is_int_id(d.get("id"))
        }

    @property
    def replayable_ids(self) -> set[int]:
        """The ids a full replay would send now (stored events minus null actions/observations,
        RecallActions and all but the last ``agent_state_changed``).

        Exactly-once check after faults, for a client that resumes from the highest id it holds:
        ``held`` has no duplicates, ``held <= emitted_ids`` and
        ``held >= emitted_ids & replayable_ids``. Ids of :attr:`emitted_ids` outside this set
        (a RecallAction, a superseded ``agent_state_changed``) are lost for good when their live
        copy died with a connection: the real V0 server cannot replay them either. Ids here but
        not in :attr:`emitted_ids` were never sent (e.g. an environment ``change_agent_state``
        published while everyone was live: replayed, never sent live)."""
        out: set[int] = set()
        last_held = None
        for ev in list(self._store):
            what = replay_action(ev)
            if what == "send":
                out.add(ev["id"])
            elif what == "hold":
                last_held = ev["id"]
        if last_held is not None:
            out.add(last_held)
        return out

    @property
    def clean_run_events(self) -> int:
        """How many ``oh_event``s one client that connects once, from the start, and stays
        connected receives in a fault-free run of the current store and pending live events
        (status messages not counted): the ``n_events`` to give
        :func:`~ohnb.servers.faults.random_plan`."""
        replayed = sum(replay_action(ev) == "send" for ev in self._store)
        replayed += any(replay_action(ev) == "hold" for ev in self._store)
        live = sum(live_form(ev) is not None for ev in list(self._pending))
        return replayed + live

    # ------------------------------------------------------------------------------------------
    # lifecycle: a run's Socket.IO app, stop (the rest is ReplayServerBase's)

    def _make_app(self) -> web.Application:
        sio = socketio.AsyncServer(
            async_mode="aiohttp",
            cors_allowed_origins="*",
            max_http_buffer_size=MAX_HTTP_BUFFER_SIZE,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            logger=_library_logger("socketio"),
            engineio_logger=_library_logger("engineio"),
        )
        self._track_background_tasks(sio)
        sio.on("connect", self._on_connect)
        sio.on("disconnect", self._on_disconnect)
        sio.on("oh_user_action", self._on_user_action)
        sio.on("oh_action", self._on_user_action)

        app = web.Application(middlewares=[self._make_transport_middleware()])
        sio.attach(app)
        app[_SIO] = sio
        return app

    def _begin_run(self, app: web.Application) -> None:
        self._sio = app[_SIO]
        self._alive = set()
        self._transports = {}
        self._joined_this_run = False

    async def stop(self, *, abrupt: bool = False) -> None:
        """Stop serving; the store, pending live events and counters are kept.

        Connected clients are dropped first: ``abrupt=False`` -> Socket.IO server-side disconnect
        (python-socketio clients see reason ``"server disconnect"`` and do not reconnect);
        ``abrupt=True`` -> TCP connections aborted without goodbye (``"transport error"``,
        clients with reconnection on will retry). Leaves no task, thread or socket behind.
        Safe to call when not running. Must run on the server's loop (in thread mode use
        :meth:`stop_thread`). A ``restart`` of a fault plan under way is ended first (the server
        stays stopped).
        """
        if not await self._begin_stop():
            return
        self._running = False
        sio = self._sio
        assert sio is not None and self._runner is not None
        await self._cancel_run_tasks()

        if self.emit_status and self._alive and not abrupt:
            # WebSession.close(): synthetic AgentStateChangedObservation('', STOPPED), no id
            closing = {
                "message": "",
                "observation": "agent_state_changed",
                "content": "",
                "extras": {"agent_state": "stopped", "reason": ""},
            }
            await self._broadcast(closing)

        await self._drop_all(abrupt)
        # let graceful goodbyes reach the clients (up to 2 s: a loaded machine, or clients on this
        # very loop, can take more than half a second), then cut whatever is left
        for _ in range(200):
            if not any(not s.closed for s in sio.eio.sockets.values()):
                break
            await asyncio.sleep(0.01)
        for eio_sid, sock in list(sio.eio.sockets.items()):
            if not sock.closed:
                await self._abort_eio(eio_sid)
        await sio.shutdown()
        await self._runner.cleanup()
        bg = [t for t in self._bg_tasks if not t.done()]
        for t in bg:
            t.cancel()
        await asyncio.gather(*bg, return_exceptions=True)
        self._bg_tasks.clear()
        self._alive.clear()
        self._transports.clear()
        with self._lock:
            self._sent.clear()
        self._sio = None
        self._runner = None
        logger.info("V0 replay server on port %s stopped", self._port)

    # ------------------------------------------------------------------------------------------
    # fault hooks

    async def drop_connections(self, *, abrupt: bool = False) -> int:
        """Disconnect every client now; returns how many connections were dropped.

        ``abrupt=False``: Socket.IO DISCONNECT for connected clients (python-socketio:
        ``disconnect`` handler with ``"server disconnect"``, no reconnection); a client still in
        its connect-time replay gets an engine.io CLOSE instead (it never gets CONNECT).
        ``abrupt=True``: queued frames are flushed, then the TCP connection is aborted with no
        Socket.IO/engine.io goodbye (python-socketio: ``"transport error"``, then reconnection
        if enabled). Awaitable from any loop (forwards to the server's loop).
        """
        return await self._on_server_loop(self._drop_all_fault(abrupt))

    def drop_connections_threadsafe(self, *, abrupt: bool = False, timeout: float = 10.0) -> int:
        """Blocking :meth:`drop_connections` for other threads (thread mode)."""
        return self._run_threadsafe(self._drop_all_fault(abrupt), timeout)

    async def _drop_all_fault(self, abrupt: bool) -> int:
        n = await self._drop_all(abrupt)
        self._log_fault(f"drop_connections: {n} connection(s) dropped (abrupt={abrupt})")
        return n

    def drop_after(self, k: int, *, abrupt: bool = False, during: FaultPhase = "any") -> None:
        """Arm a one-shot fault: the first connection that has been sent ``k`` more ``oh_event``s
        (counted from now; ``during="replay"`` counts only connect-time replay emissions,
        ``"live"`` only live ones incl. status/user broadcasts, ``"any"`` both) is dropped right
        after the k-th, as :meth:`drop_connections` would (``k=0``: before its next emission).
        Works mid-replay: the client then never receives CONNECT. Re-arming replaces a pending
        fault. Thread-safe.

        Raises:
            ValueError: ``k < 0`` or an unknown ``during``.
        """
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        if during not in ("any", "replay", "live"):
            raise ValueError(f"during must be 'any', 'replay' or 'live', got {during!r}")
        with self._lock:
            baseline = {sid: dict(c) for sid, c in self._sent.items()}
            self._fault = Fault(k=k, abrupt=abrupt, during=during, baseline=baseline)

    # ------------------------------------------------------------------------------------------
    # more fault hooks: refusals, slow replay, injection, plan steps

    def refuse_next(
        self, n: int, message: str = REFUSAL_JOIN_FAILED, *, replay_first: bool = True
    ) -> None:
        """Refuse the next ``n`` connects (that pass the conversation and key checks) with a
        Socket.IO ``connect_error`` ``{"message": message}``, as the real server does when
        ``join_conversation`` fails. ``replay_first=True`` (the real order): the history is
        replayed first, then refused; False: refused before any event. A Socket.IO refusal is
        final for ohnb's client (for a transient failure use :meth:`reject_next`). ``n=0``
        cancels; re-arming replaces. Thread-safe.

        Raises:
            ValueError: ``n < 0`` or an empty message.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if not message:
            raise ValueError("message must be a non-empty string")
        with self._lock:
            self._refusal = _Refusal(n, message, replay_first) if n else None
        if n:
            when = "after the replay" if replay_first else "before the replay"
            self._log_fault(f"refusing the next {n} connect(s) {when}: {message!r}")

    def reject_next(self, n: int, *, status: int = 503) -> None:
        """Fail the next ``n`` connection handshakes at the HTTP level: the engine.io handshake
        request (websocket upgrade or polling open) gets a plain ``status`` response instead
        of ``101``/``200``, as from an overloaded server or a proxy whose upstream is down. A
        transient failure: python-socketio raises ``ConnectionError("Connection error")``,
        ohnb records a ``transport_error`` and retries. Requests of established connections are
        not affected. ``n=0`` cancels; re-arming replaces. Thread-safe.

        Raises:
            ValueError: ``n < 0`` or ``status`` outside 400..599.
        """
        self._set_rejecting(n, status, status_range="an HTTP error status (400..599)")

    def slow_replay(self, delay_per_event: float) -> None:
        """Wait ``delay_per_event`` seconds between two replayed events of every connect-time
        replay from now on (0 = off; a replay under way picks the change up at its next
        event), so a replay of n events takes at least ``(n - 1) * delay_per_event`` s, like a
        big conversation replayed by a loaded server. CONNECT still comes after the last one:
        tests progress-aware connect timeouts. Thread-safe.

        Raises:
            ValueError: negative delay.
        """
        if not delay_per_event >= 0:
            raise ValueError(f"delay_per_event must be >= 0 seconds, got {delay_per_event!r}")
        self._replay_delay = float(delay_per_event)
        self._log_fault(
            f"replay slowed to {delay_per_event:g} s per event"
            if delay_per_event
            else "replay at full speed"
        )

    async def inject(self, payload: Any, *, raw: bool = False, store: bool = True) -> int:
        """Send ``payload`` as an ``oh_event`` to the connected clients, as it is: a dict (well
        formed or not), a string, list, number, ``None``, an oversized event... (the client's
        handler gets exactly this one argument). Returns how many connections it was sent to.

        ``store=True`` and a dict with an integer ``id`` greater than every stored id: it is
        appended to the store (replays carry it; later live events get ids after it) and sent
        to the room, like a live event (clients still in their replay get it from the replay,
        not twice). Any other payload (or ``store=False``, or an id already used/lower) is not
        stored and goes to every open connection, including those still in their replay.

        ``raw=True``: ``payload`` (a str) is sent verbatim as one websocket text frame, bypassing
        Socket.IO (not stored, not in :attr:`emitted`): ``'42["oh_event",{"id":'`` is a Socket.IO
        event with broken JSON (python-socketio's client drops it, logging a JSONDecodeError
        from a background task, and stays connected); text that is not an engine.io packet makes
        python-engineio's client abort the connection ("transport error"). Awaitable from any
        loop (forwards to the server's loop).

        Raises:
            TypeError: ``raw=True`` with a non-string payload.
        """
        self._check_raw(payload, raw)
        return await self._on_server_loop(self._inject(payload, raw=raw, store=store))

    def inject_threadsafe(
        self, payload: Any, *, raw: bool = False, store: bool = True, timeout: float = 30.0
    ) -> int:
        """Blocking :meth:`inject` for other threads (thread mode)."""
        self._check_raw(payload, raw)
        return self._run_threadsafe(self._inject(payload, raw=raw, store=store), timeout)

    async def _inject(self, payload: Any, *, raw: bool, store: bool) -> int:
        sio = self._sio
        if raw:
            sent = 0
            for sid in list(self._alive):
                eio_sid = sio.manager.eio_sid_from_sid(sid, NAMESPACE) if sio else None
                sock = sio.eio.sockets.get(eio_sid) if sio and eio_sid else None
                if sock is not None and not sock.closed and not sock.closing:
                    await sock.send(_RawFrame(payload))
                    sent += 1
            self._log_fault(f"raw frame {_preview(payload)} sent to {sent} connection(s)")
            return sent
        stored = False
        if store and isinstance(payload, dict) and _is_int_id(payload.get("id")):
            if payload["id"] > self._last_id:
                self._store.append(payload)
                self._last_id = payload["id"]
                stored = True
            else:
                logger.info(
                    "injected id %s not stored: ids up to %s are taken", payload["id"], self._last_id
                )
        members = (
            [sid for sid, _ in sio.manager.get_participants(NAMESPACE, self.room)] if sio else []
        )
        if not stored:
            members += [sid for sid in self._alive if sid not in members]
        sent = 0
        for sid in members:
            if await self._emit_to(sid, payload, "live"):
                sent += 1
        self._log_fault(
            f"injected {_preview(payload)}{' (stored)' if stored else ''} to {sent} connection(s)"
        )
        return sent

    @property
    def plan_count(self) -> int:
        """``oh_event``s emitted since the plan was applied (what ``@N`` is compared with)."""
        return self._plan_count

    def _apply_refuse(self, step: FaultStep) -> None:
        self.refuse_next(step.count, replay_first=step.option != "early")

    async def _plan_drop(self, abrupt: bool) -> None:
        await self._drop_all(abrupt=abrupt)

    async def _before_plan_freeze(self) -> None:
        for eio_sid in list(self._sio.eio.sockets) if self._sio else []:
            await self._flush(eio_sid)  # what was emitted reaches the client first

    async def _plan_malformed(self, step: FaultStep) -> None:
        payload, raw = malformed_payload(step.option or "dict", self._last_id + 1)
        await self._inject(payload, raw=raw, store=True)

    async def _plan_oversized(self, step: FaultStep) -> None:
        payload = oversized_payload(self._last_id + 1, int(step.value or 0))
        await self._inject(payload, raw=False, store=True)

    # ------------------------------------------------------------------------------------------
    # Socket.IO handlers

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool | None:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        raw_latest = query.get("latest_event_id", ["-1"])[0]
        try:
            latest_event_id = int(raw_latest)
        except ValueError:
            logger.debug("invalid latest_event_id %r, using -1", raw_latest)
            latest_event_id = -1
        conversation_id = query.get("conversation_id", [None])[0]
        logger.info(
            "connect %s: conversation %s, latest_event_id %s", sid, conversation_id, latest_event_id
        )
        if not conversation_id:
            self._refuse(sid, REFUSAL_NO_CONVERSATION_ID)
        if self.session_api_key:
            keys = query.get("session_api_key")
            if not keys:
                if self.missing_key_bug:
                    self.refusals += 1
                    logger.warning(
                        "connect %s: no session_api_key; reproducing the upstream KeyError "
                        "(no CONNECT, no CONNECT_ERROR; the client will time out)",
                        sid,
                    )
                    raise KeyError("session_api_key")
                self._refuse(sid, REFUSAL_INVALID_SESSION_API_KEY)
            elif keys[0] != self.session_api_key:
                self._refuse(sid, REFUSAL_INVALID_SESSION_API_KEY)
        if conversation_id != self.conversation_id:
            # the real server replays the (empty) store of an unknown id, then join fails
            self._refuse(sid, REFUSAL_JOIN_FAILED)
        refusal = self._take_refusal()
        if refusal is not None and not refusal.replay_first:
            self._log_fault(f"connect {sid} refused (refuse_next): {refusal.message!r}")
            self._refuse(sid, refusal.message)

        self._alive.add(sid)
        with self._lock:
            self._sent[sid] = {"replay": 0, "live": 0}
        if not await self._replay(sid, latest_event_id):
            logger.info("connect %s: dropped during replay", sid)
            self._alive.discard(sid)
            return False
        if refusal is not None:
            self._alive.discard(sid)
            with self._lock:
                self._sent.pop(sid, None)
            self._log_fault(
                f"connect {sid} refused after its replay (refuse_next): {refusal.message!r}"
            )
            self._refuse(sid, refusal.message)
        assert self._sio is not None
        await self._sio.enter_room(sid, self.room)
        self.connections += 1
        logger.info("connect %s: joined %s", sid, self.room)
        if not self._joined_this_run:
            self._joined_this_run = True
            if self.live_start == "first_connect":
                self._live_triggered = True
                self._set_trigger()
            if self.emit_status:
                self._spawn(self._send_start_status())
        return None

    def _refuse(self, sid: str, message: str) -> None:
        self.refusals += 1
        logger.info("connect %s refused: %s", sid, message)
        raise SioConnectionRefusedError(message)

    async def _replay(self, sid: str, latest_event_id: int) -> bool:
        store = self._store
        i = 0
        held: dict[str, Any] | None = None
        first = True
        while True:
            while i < len(store):
                ev = store[i]
                i += 1
                if ev["id"] <= latest_event_id:
                    continue
                what = replay_action(ev)
                if what == "skip":
                    continue
                if what == "hold":
                    held = ev
                    continue
                await self._pace_replay(first)
                first = False
                if not await self._emit_to(sid, ev, "replay"):
                    return False
            if held is None:
                return True
            ev, held = held, None
            await self._pace_replay(first)
            first = False
            if not await self._emit_to(sid, ev, "replay"):
                return False
            # events published meanwhile are sent next, then we join the room with no await
            # in between the last length check and enter_room: no gap, no duplicate

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        logger.info("disconnect %s (%s)", sid, reason)
        self._alive.discard(sid)
        with self._lock:
            self._sent.pop(sid, None)

    async def _on_user_action(self, sid: str, data: Any = None) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("action"), str):
            logger.warning("oh_user_action from %s ignored: not an action dict: %r", sid, data)
            return
        action = data["action"]
        args = data.get("args") if isinstance(data.get("args"), dict) else {}
        now = datetime.now().isoformat()
        if action == "message":
            content = str(args.get("content", ""))
            event = {
                "id": self._next_id(),
                "timestamp": now,
                "source": "user",
                "message": content,
                "action": "message",
                "args": {
                    "content": content,
                    "file_urls": list(args.get("file_urls") or []),
                    "image_urls": list(args.get("image_urls") or []),
                    "wait_for_response": bool(args.get("wait_for_response", False)),
                    "security_risk": args.get("security_risk", -1),
                },
            }
            await self._publish(event)
        elif action == "change_agent_state":
            state = str(args.get("agent_state", ""))
            await self._publish(
                {
                    "id": self._next_id(),
                    "timestamp": now,
                    "source": "user",
                    "message": f"Agent state changed to {state}",
                    "action": "change_agent_state",
                    "args": {"agent_state": state, "thought": str(args.get("thought", ""))},
                }
            )
            if state in ("paused", "stopped"):
                self._set_gate(False)
            elif state == "running":
                self._set_gate(True)
            await self._publish(
                {
                    "id": self._next_id(),
                    "timestamp": datetime.now().isoformat(),
                    "source": "environment",
                    "message": "",
                    "observation": "agent_state_changed",
                    "content": "",
                    "extras": {"agent_state": state, "reason": ""},
                }
            )
        else:
            event = {k: v for k, v in data.items() if k not in ("id", "timestamp", "source")}
            event = {"id": self._next_id(), "timestamp": now, "source": "user", **event}
            event.setdefault("message", "")
            await self._publish(event)

    # ------------------------------------------------------------------------------------------
    # publishing

    def _next_id(self) -> int:
        self._last_id += 1
        return self._last_id

    async def _publish(self, event: dict[str, Any]) -> None:
        """Append to the store, then broadcast the live form to the room."""
        self._store.append(event)
        live = live_form(event)
        if live is not None:
            await self._broadcast(live)

    async def _broadcast(self, data: dict[str, Any]) -> None:
        if self._sio is None:
            return
        members = [sid for sid, _ in self._sio.manager.get_participants(NAMESPACE, self.room)]
        for sid in members:
            await self._emit_to(sid, data, "live")

    async def _emit_to(self, sid: str, data: Any, phase: str) -> bool:
        """Send one oh_event to one connection, with accounting, fault checks and fault plan
        steps; False when the connection is gone or was dropped here."""
        if sid not in self._alive or self._sio is None:
            return False
        fault = self._take_fault(sid, self._sent.get(sid, {}), phase)
        if fault is not None:
            await self._drop(sid, fault.abrupt)
            return False
        # one argument, whatever it is (None, a tuple...); NO_ARGUMENT: 42["oh_event"]
        args = () if data is NO_ARGUMENT else (data,)
        await self._sio.emit("oh_event", args, to=sid)
        if sid not in self._alive:
            return False
        self.emitted.append((sid, data))
        with self._lock:
            counts = self._sent.setdefault(sid, {"replay": 0, "live": 0})
            counts[phase] += 1
            due = self._count_emission_locked()
        fault = self._take_fault(sid, counts, phase)
        if fault is not None:
            await self._drop(sid, fault.abrupt)
            return False
        if due:
            await self._run_steps(due)
        return sid in self._alive

    # ------------------------------------------------------------------------------------------
    # live clock

    def _event_time(self, ev: dict[str, Any]) -> datetime | None:
        return _parse_ts(ev.get("timestamp"))

    def _adopt(self, ev: dict[str, Any]) -> dict[str, Any]:
        """Give a scripted live event the next free id (its own id unless user events took it),
        remapping ``cause``; returns the input itself when nothing changes."""
        new_id = max(ev["id"], self._last_id + 1)
        self._last_id = new_id
        cause = ev.get("cause")
        new_cause = self._id_map.get(cause, cause) if isinstance(cause, int) else cause
        if new_id != ev["id"]:
            self._id_map[ev["id"]] = new_id
        if new_id == ev["id"] and new_cause == cause:
            return ev
        out = dict(ev)
        out["id"] = new_id
        if "cause" in ev:
            out["cause"] = new_cause
        return out

    async def _send_start_status(self) -> None:
        await asyncio.sleep(0)  # after the CONNECT packet
        for status_id in _START_STATUS:
            await self._broadcast(
                {"status_update": True, "type": "info", "id": status_id, "message": ""}
            )

    # ------------------------------------------------------------------------------------------
    # dropping connections

    async def _drop_all(self, abrupt: bool) -> int:
        if self._sio is None:
            return 0
        sio = self._sio
        count = 0
        for eio_sid in list(sio.eio.sockets):
            sid = sio.manager.sid_from_eio_sid(eio_sid, NAMESPACE)
            if sid is not None:
                await self._drop(sid, abrupt)
            elif abrupt:
                await self._abort_eio(eio_sid)
            else:
                await self._close_eio(eio_sid)
            count += 1
        logger.info("dropped %d connection(s) (abrupt=%s)", count, abrupt)
        return count

    async def _drop(self, sid: str, abrupt: bool) -> None:
        sio = self._sio
        self._alive.discard(sid)
        if sio is None:
            return
        eio_sid = sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        if eio_sid is None:
            return
        if abrupt:
            await self._flush(eio_sid)
            await self._abort_eio(eio_sid)
        elif sio.manager.is_connected(sid, NAMESPACE):
            await sio.disconnect(sid)
        else:
            # still inside the connect handler (pre-connected): a Socket.IO DISCONNECT is not
            # possible yet, close the engine.io session instead
            await self._close_eio(eio_sid)

    async def _close_eio(self, eio_sid: str) -> None:
        """engine.io CLOSE packet (queued after everything already sent), socket forgotten.

        Not ``eio.disconnect()``: that waits for the send queue to be joined, which never happens
        when the client's side went away at the same moment (an engine.io race)."""
        assert self._sio is not None
        sock = self._sio.eio.sockets.get(eio_sid)
        if sock is None or sock.closed or sock.closing:
            return
        await sock.close(wait=False, abort=False, reason=self._sio.eio.reason.SERVER_DISCONNECT)
        self._sio.eio.sockets.pop(eio_sid, None)

    async def _flush(self, eio_sid: str) -> None:
        """Best effort (<= 0.5 s): let the frames already queued for this connection reach the
        socket before it is cut."""
        assert self._sio is not None
        sock = self._sio.eio.sockets.get(eio_sid)
        if sock is None or sock.closed or sock.closing:
            return
        transports = self._transports_of(eio_sid)
        deadline = asyncio.get_running_loop().time() + 0.5
        settled = 0
        while asyncio.get_running_loop().time() < deadline:
            buffered = sum(t.get_write_buffer_size() for t in transports)
            settled = settled + 1 if sock.queue.empty() and buffered == 0 else 0
            if settled >= 3:  # the writer may still hold the last batch for a loop turn
                return
            await asyncio.sleep(0 if settled else 0.001)

    def _transports_of(self, eio_sid: str) -> set[asyncio.Transport]:
        assert self._sio is not None
        found = set(self._transports.get(eio_sid, ()))
        env = self._sio.environ.get(eio_sid) or {}
        request = env.get("aiohttp.request")
        transport = getattr(request, "transport", None) if request is not None else None
        if transport is not None:
            found.add(transport)
        return {t for t in found if not t.is_closing()}

    async def _abort_eio(self, eio_sid: str) -> None:
        assert self._sio is not None
        for t in self._transports_of(eio_sid):
            t.abort()
        self._transports.pop(eio_sid, None)
        sock = self._sio.eio.sockets.get(eio_sid)
        if sock is not None and not sock.upgraded:
            # long-polling client: nothing to cut, forget it without a CLOSE packet
            await sock.close(wait=False, abort=True)
            self._sio.eio.sockets.pop(eio_sid, None)

    def _make_transport_middleware(self) -> Callable[..., Awaitable[web.StreamResponse]]:
        transports = self

        @web.middleware
        async def track_transport(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            eio_sid = request.query.get("sid")
            if eio_sid and request.transport is not None:
                transports._transports.setdefault(eio_sid, set()).add(request.transport)
            if not eio_sid:  # a new engine.io connection: websocket upgrade or polling open
                status = transports._take_rejection()
                if status is not None:
                    return transports._rejection_response(status)
            return await handler(request)

        return track_transport

    # ------------------------------------------------------------------------------------------
    # task / thread plumbing

    def _track_background_tasks(self, sio: socketio.AsyncServer) -> None:
        eio = sio.eio
        original = eio.start_background_task

        def tracked(target: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            task = original(target, *args, **kwargs)
            if isinstance(task, asyncio.Task):
                self._bg_tasks.add(task)
                task.add_done_callback(self._bg_tasks.discard)
            return task

        eio.start_background_task = tracked  # type: ignore[method-assign]
