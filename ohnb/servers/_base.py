"""What the two embedded replay servers share, whatever their wire protocol.

:class:`ReplayServerBase` is the common part of :class:`~ohnb.servers.v0.V0ReplayServer`
(Socket.IO) and :class:`~ohnb.servers.v1.V1ReplayServer` (WebSocket + REST): the lifecycle on
the current loop or on a thread of its own (``start_in_thread``), ``restart`` on the same port,
``freeze`` (the loop thread blocked, as a SIGSTOPped server), the ``*_threadsafe`` plumbing, the
live clock (pacing by the events' timestamps, gaps capped by ``max_gap``), the bookkeeping of the
fault hooks (``drop_after``, ``refuse_next``, ``reject_next``, ``slow_replay``), the running of a
:class:`~ohnb.servers.faults.FaultPlan` and the instrumentation (``fault_log``, counters).

Each server keeps what differs: its wire protocol (app, handlers, sending, dropping, injecting),
its event model (ids, timestamps, what is stored) and the facts of its docstrings. It plugs in
through the hooks at the end of :class:`ReplayServerBase` (``_make_app``, ``_begin_run``,
``_publish``, ``_adopt``, ``_event_time``, ``_plan_*``...).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from aiohttp import web

from .faults import SETTING_KINDS, FaultPlan, FaultStep

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Fault", "LiveStart", "Refusal", "ReplayServerBase", "fault_logger"]

#: Every fault that fires (method call or plan step, either server) is logged here at INFO
#: (``ohnb serve`` prints these lines).
fault_logger = logging.getLogger("ohnb.servers.faults")

_T = TypeVar("_T")

LiveStart = Literal["first_connect", "immediately", "manual"]

FREEZE_NEEDS_THREAD = (
    "freeze blocks the thread that runs the server's event loop (that is how it imitates a "
    "SIGSTOPped server); in current-loop mode that thread also runs your code and clients. "
    "Start the server with start_in_thread() (thread mode) to use freeze or a plan with freeze@N."
)


def preview(payload: Any, limit: int = 60) -> str:
    """``repr(payload)``, cut to ``limit`` characters (for the fault log)."""
    text = repr(payload)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


@dataclass
class Fault:
    """An armed ``drop_after``: drop the first connection sent ``k`` more emissions of phase
    ``during`` than its ``baseline`` (per-phase counts when armed). ``code``/``reason``: the
    close frame of a V1 drop (unused by V0)."""

    k: int
    abrupt: bool
    during: str
    baseline: dict[str, dict[str, int]] = field(default_factory=dict)
    code: int = 1001
    reason: str = ""


@dataclass
class Refusal:
    """An armed ``refuse_next``: how many connects are still refused (each server adds how)."""

    remaining: int


class ReplayServerBase:
    """The protocol-independent half of an embedded replay server (see the module docstring).

    Not used on its own: a server sets the class attributes below, calls
    :meth:`_check_pacing` and :meth:`_init_common` in its ``__init__`` (after ``_pending`` and
    ``_store`` exist), and implements the hooks.
    """

    #: the class name, for error messages
    _server_name: ClassVar[str] = "ReplayServerBase"
    #: ``v0``/``v1``: task and thread names (``ohnb-v0-live``...); upper-cased in log lines
    _tag: ClassVar[str] = ""
    #: what a plan's ``@N`` and ``drop_after`` count, as the fault log names it
    _emission: ClassVar[str] = "frame(s)"
    _logger: ClassVar[logging.Logger] = logging.getLogger("ohnb.servers")

    conversation_id: str  # set by each server's __init__
    _store: list[dict[str, Any]]
    _pending: collections.deque[dict[str, Any]]
    _prev_ts: datetime | None

    @staticmethod
    def _check_pacing(speed: float, max_gap: float, live_start: str) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        if not max_gap >= 0:
            raise ValueError(f"max_gap must be >= 0 seconds, got {max_gap!r}")
        if live_start not in ("first_connect", "immediately", "manual"):
            raise ValueError(
                f"live_start must be 'first_connect', 'immediately' or 'manual', got {live_start!r}"
            )

    def _init_common(
        self,
        *,
        host: str,
        port: int,
        speed: float,
        max_gap: float,
        live_from: Any,
        session_api_key: str | None,
        live_start: LiveStart,
        emit_status: bool,
        shutdown_timeout: float,
    ) -> None:
        """The settings and state every server has: instrumentation, cross-thread state, per-run
        state, thread mode. Needs ``_pending``."""
        self.host = host
        self.speed = float(speed)
        self.max_gap = float(max_gap)
        self.live_from = live_from
        self.session_api_key = session_api_key
        self.live_start = live_start
        self.emit_status = emit_status
        self.shutdown_timeout = float(shutdown_timeout)
        self._config_port = int(port)
        self._port: int | None = None

        # instrumentation
        self.emitted: list[tuple[str, Any]] = []
        self.connections = 0
        self.refusals = 0
        self.rejections = 0
        self.fault_log: list[tuple[float, str]] = []

        # cross-thread state
        self._lock = threading.Lock()
        self._live_done = threading.Event()
        if not self._pending:
            self._live_done.set()
        self._live_triggered = False  # start_live() called (manual) / clock started once
        self._gate_open = True  # False while the agent is paused/stopped
        self._fault: Fault | None = None
        self._refusal: Any = None  # the server's Refusal subclass
        self._reject_left = 0
        self._reject_status = 503
        self._replay_delay = 0.0
        self._plan = FaultPlan()
        self._plan_todo: list[FaultStep] = []
        self._plan_count = 0
        self._frozen_until = 0.0
        self._restart_task: asyncio.Task[None] | None = None
        self._halt_restart = False

        # per-run state (created by start())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._running = False
        self._live_task: asyncio.Task[None] | None = None
        self._aux_tasks: set[asyncio.Task[Any]] = set()
        self._live_trigger: asyncio.Event | None = None
        self._gate: asyncio.Event | None = None
        self._live_done_async: asyncio.Event | None = None

        # thread mode
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------------------------------
    # properties

    @property
    def port(self) -> int:
        """The bound TCP port (fixed across :meth:`restart`). RuntimeError before the first start
        when ``port=0`` was given."""
        if self._port is not None:
            return self._port
        if self._config_port:
            return self._config_port
        raise RuntimeError(f"{self._server_name}: port is not known before start()")

    @property
    def url(self) -> str:
        """``http://HOST:PORT``: for V0, pass it to ``socketio.AsyncClient.connect`` with a query
        string; for V1 it is the REST base (the socket is ``ws://HOST:PORT/sockets/events/{id}``,
        :attr:`~ohnb.servers.v1.V1ReplayServer.ws_url`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """True between a successful start() and stop()."""
        return self._running

    @property
    def pending_live(self) -> int:
        """Number of live events not yet published."""
        return len(self._pending)

    @property
    def live_done(self) -> threading.Event:
        """A :class:`threading.Event`, set once every live event has been published (set from
        the start when there is nothing live). Do not set/clear it yourself."""
        return self._live_done

    @property
    def is_live_done(self) -> bool:
        """Thread-safe: True once every live event has been published (at once if none)."""
        return self._live_done.is_set()

    @property
    def agent_paused(self) -> bool:
        """True while the live pacing is halted: V0, a client's change_agent_state paused or
        stopped it; V1, a pause (``POST /pause``, :meth:`pause`, or a graceful stop with
        ``pause_on_shutdown`` during a run)."""
        return not self._gate_open

    @property
    def thread_mode(self) -> bool:
        """True when the server runs on its own thread (:meth:`start_in_thread`)."""
        return self._thread is not None

    @property
    def frozen(self) -> bool:
        """True while a :meth:`freeze` blocks the server (readable from other threads)."""
        return time.monotonic() < self._frozen_until

    @property
    def fault_armed(self) -> bool:
        """True while a :meth:`drop_after` fault is waiting to fire."""
        return self._fault is not None

    @property
    def refusing(self) -> int:
        """How many connects (V1: sockets) :meth:`refuse_next` will still refuse."""
        refusal = self._refusal
        return refusal.remaining if refusal is not None else 0

    @property
    def rejecting(self) -> int:
        """How many handshakes :meth:`reject_next` will still fail."""
        return self._reject_left

    @property
    def replay_delay(self) -> float:
        """Current :meth:`slow_replay` delay, seconds per replayed (V1: resent) event."""
        return self._replay_delay

    @property
    def plan(self) -> FaultPlan:
        """The fault plan applied last (empty if none)."""
        return self._plan

    @property
    def plan_pending(self) -> list[FaultStep]:
        """Steps of the plan that have not fired yet, in firing order."""
        with self._lock:
            return list(self._plan_todo)

    # ------------------------------------------------------------------------------------------
    # lifecycle (current loop)

    async def start(self) -> None:
        """Start listening in the running event loop (same port again after a restart).

        Raises:
            RuntimeError: already running, or the fault plan has a ``freeze`` step and this is
                not thread mode.
            OSError: the port cannot be bound.
        """
        if self._running:
            raise RuntimeError(f"{self._server_name} is already running")
        with self._lock:
            needs_thread = any(s.kind == "freeze" for s in self._plan_todo)
        if needs_thread and self._thread is None:
            raise RuntimeError(FREEZE_NEEDS_THREAD)
        self._halt_restart = False
        loop = asyncio.get_running_loop()
        self._loop = loop
        app = self._make_app()
        runner = web.AppRunner(app, shutdown_timeout=self.shutdown_timeout, access_log=None)
        await runner.setup()
        port = self._port if self._port is not None else self._config_port
        site = web.TCPSite(runner, self.host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._port = int(runner.addresses[0][1])
        self._runner = runner
        self._begin_run(app)
        self._live_trigger = asyncio.Event()
        self._gate = asyncio.Event()
        if self._gate_open:
            self._gate.set()
        self._live_done_async = asyncio.Event()
        if self._live_done.is_set():
            self._live_done_async.set()
        self._running = True
        if self._pending:
            if self.live_start == "immediately" or (
                self.live_start == "manual" and self._live_triggered
            ):
                self._live_trigger.set()
            self._live_task = loop.create_task(self._live_loop(), name=f"ohnb-{self._tag}-live")
        self._logger.info(
            "%s replay server listening on %s (conversation %s, %d stored, %d live pending)",
            self._tag.upper(),
            self.url,
            self.conversation_id,
            len(self._store),
            len(self._pending),
        )

    async def _begin_stop(self) -> bool:
        """The start of every ``stop()``: end a plan's ``restart`` under way, then say whether
        there is a running server to stop (on its own loop: RuntimeError from another one)."""
        pending = self._restart_task
        if pending is not None and pending is not asyncio.current_task():
            await self._forward_check("stop")
            self._halt_restart = True
            await asyncio.gather(pending, return_exceptions=True)
        if not self._running:
            return False
        await self._forward_check("stop")
        return True

    async def _cancel_run_tasks(self) -> None:
        """Cancel (and await) the live clock and the auxiliary tasks of this run."""
        tasks = [t for t in (self._live_task, *self._aux_tasks) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._live_task = None
        self._aux_tasks.clear()

    async def stop(self, *, abrupt: bool = False) -> None:  # pragma: no cover - each server's own
        raise NotImplementedError

    async def restart(self, pause: float = 0.0, *, abrupt: bool = True) -> None:
        """Stop (``abrupt`` as in :meth:`stop`; default: like a killed server), wait ``pause``
        seconds, start again on the SAME port with the same store. Pending live events resume
        according to ``live_start`` (first_connect: at the next connect). Awaitable from any
        loop (forwards to the server's loop)."""
        await self._on_server_loop(self._restart(pause, abrupt))

    def restart_threadsafe(
        self, pause: float = 0.0, *, abrupt: bool = True, timeout: float = 30.0
    ) -> None:
        """Blocking :meth:`restart` for other threads (thread mode)."""
        self._run_threadsafe(self._restart(pause, abrupt), timeout)

    async def _restart(self, pause: float, abrupt: bool) -> None:
        self._log_fault(f"restart: stopping (abrupt={abrupt}), port closed for {pause:g} s")
        await self.stop(abrupt=abrupt)
        if pause > 0:
            await asyncio.sleep(pause)
        await self.start()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------------------------------
    # lifecycle (thread mode)

    def start_in_thread(self, timeout: float = 10.0) -> Self:
        """Run the server on a daemon thread with its own event loop; returns ``self`` once it is
        listening.

        Raises:
            RuntimeError: already running in a thread, or it did not come up within ``timeout``.
            OSError: the port cannot be bound (re-raised from the thread).
        """
        if self._thread is not None:
            raise RuntimeError(f"{self._server_name} is already running in a thread")
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._thread_loop = loop
            try:
                try:
                    loop.run_until_complete(self.start())
                except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                    failure.append(exc)
                    return
                finally:
                    ready.set()
                loop.run_forever()
            finally:
                try:
                    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                    for t in pending:
                        t.cancel()
                    if pending:
                        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                    loop.run_until_complete(loop.shutdown_asyncgens())
                    loop.run_until_complete(loop.shutdown_default_executor())
                finally:
                    asyncio.set_event_loop(None)
                    loop.close()

        thread = threading.Thread(target=main, name=f"ohnb-{self._tag}-server", daemon=True)
        self._thread = thread
        thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"{self._server_name} did not start within {timeout} s")
        if failure:
            thread.join(timeout)
            self._thread = None
            self._thread_loop = None
            raise failure[0]
        return self

    def stop_thread(self, timeout: float = 10.0, *, abrupt: bool = False) -> None:
        """Stop a server started with :meth:`start_in_thread` and join its thread (no-op if not
        running in a thread). ``abrupt`` as in :meth:`stop`."""
        thread, loop = self._thread, self._thread_loop
        if thread is None or loop is None:
            return
        try:
            if not loop.is_closed():
                fut = asyncio.run_coroutine_threadsafe(self.stop(abrupt=abrupt), loop)
                fut.result(timeout)
        finally:
            if not loop.is_closed():
                loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            self._thread = None
            self._thread_loop = None

    def __enter__(self) -> Self:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()

    # ------------------------------------------------------------------------------------------
    # live control and the live clock

    def start_live(self) -> None:
        """Start the live clock now (for ``live_start="manual"``; harmless otherwise).
        Thread-safe; remembered across restarts."""
        self._live_triggered = True
        self._call_in_loop(self._set_trigger)

    async def wait_live_done(self, timeout: float | None = None) -> bool:
        """Wait until every live event has been published; True if so, False on timeout
        (seconds). Awaitable from the server's loop or any other loop."""
        if self._live_done.is_set():
            return True
        current = _running_loop()
        if current is self._loop and self._live_done_async is not None and self._running:
            try:
                await asyncio.wait_for(self._live_done_async.wait(), timeout)
            except asyncio.TimeoutError:
                return self._live_done.is_set()
            return True
        return await asyncio.to_thread(self._live_done.wait, timeout)

    def wait_live_done_threadsafe(self, timeout: float | None = None) -> bool:
        """Blocking variant of :meth:`wait_live_done` for plain threads (not the server loop)."""
        return self._live_done.wait(timeout)

    async def _live_loop(self) -> None:
        assert self._live_trigger is not None and self._gate is not None
        await self._live_trigger.wait()
        await self._live_started()
        while self._pending:
            ev = self._pending[0]
            await asyncio.sleep(self._delay_before(ev))
            await self._gate.wait()
            self._pending.popleft()
            ts = self._event_time(ev)
            if ts is not None:
                self._prev_ts = ts
            await self._publish(self._adopt(ev))
        await self._live_finished()
        self._mark_live_done()

    def _delay_before(self, ev: dict[str, Any]) -> float:
        """``min((ts - previous ts) / speed, max_gap)``, 0 without both timestamps."""
        ts = self._event_time(ev)
        if ts is None or self._prev_ts is None:
            return 0.0
        gap = (ts - self._prev_ts).total_seconds() / self.speed
        return max(0.0, min(gap, self.max_gap))

    def _mark_live_done(self) -> None:
        self._live_done.set()
        if self._live_done_async is not None:
            self._live_done_async.set()
        self._logger.info("live playback finished (%d events stored)", len(self._store))

    def _set_trigger(self) -> None:
        if self._live_trigger is not None:
            self._live_trigger.set()

    def _set_gate(self, open_: bool) -> None:
        self._gate_open = open_
        if self._gate is not None:
            if open_:
                self._gate.set()
            else:
                self._gate.clear()

    # ------------------------------------------------------------------------------------------
    # fault hooks (the protocol-independent part)

    def cancel_fault(self) -> None:
        """Disarm a pending :meth:`drop_after` fault. Thread-safe."""
        with self._lock:
            self._fault = None

    async def freeze(self, seconds: float, *, wait: bool = False) -> None:
        """Stop answering entirely for ``seconds``, as a SIGSTOPped server process or a cut
        network path would: the thread running the server's event loop is blocked (a
        ``time.sleep`` in a loop callback), so nothing is processed: V0, no ``oh_event``, no
        engine.io PING/PONG, no handshake; V1, no frame, no pong, no handshake, no REST answer.
        TCP connections stay open and the kernel still completes new TCP connects (listen
        backlog) and buffers incoming data, exactly as for a stopped process. When the freeze
        ends, everything resumes in the state it was in: connections still open carry on (and
        get what was queued), waiting handshakes are answered, and the transport's own timers
        fire (V0: a freeze longer than ``ping_interval + ping_timeout`` makes the server close
        connections whose pongs it missed, like a real resumed server; V1: a client with
        ``heartbeat`` notices after ~1.5 x heartbeat).

        Returns once the freeze has begun (``wait=True``: once it is over). Needs thread mode
        (:meth:`start_in_thread`) or a caller on another thread/loop than the server's.

        Raises:
            ValueError: ``seconds <= 0``.
            RuntimeError: not running, or called on the server's own event loop (current-loop
                mode: blocking that loop would freeze the caller too).
        """
        started, ended = self._schedule_freeze(seconds)
        if not await asyncio.to_thread(started.wait, 10.0):
            raise RuntimeError(f"{self._server_name}.freeze: the server's loop did not respond")
        if wait:
            await asyncio.to_thread(ended.wait)

    def freeze_threadsafe(
        self, seconds: float, *, wait: bool = False, timeout: float = 10.0
    ) -> None:
        """Blocking :meth:`freeze` for other threads (thread mode); ``timeout`` bounds the wait
        for the freeze to begin."""
        started, ended = self._schedule_freeze(seconds)
        if not started.wait(timeout):
            raise RuntimeError(f"{self._server_name}.freeze: the server's loop did not respond")
        if wait:
            ended.wait()

    def _schedule_freeze(self, seconds: float) -> tuple[threading.Event, threading.Event]:
        if not seconds > 0:
            raise ValueError(f"seconds must be > 0, got {seconds!r}")
        loop = self._loop
        if loop is None or loop.is_closed() or not self._running:
            raise RuntimeError(f"{self._server_name} is not running")
        if _running_loop() is loop:
            raise RuntimeError(FREEZE_NEEDS_THREAD)
        started, ended = threading.Event(), threading.Event()

        def block() -> None:
            started.set()
            try:
                self._block(seconds, "freeze()")
            finally:
                ended.set()

        loop.call_soon_threadsafe(block)
        return started, ended

    def _block(self, seconds: float, why: str) -> None:
        """Block the calling (server loop) thread: the freeze itself."""
        self._log_fault(f"{why}: server frozen for {seconds:g} s")
        self._frozen_until = time.monotonic() + seconds
        try:
            time.sleep(seconds)
        finally:
            self._frozen_until = 0.0
        self._log_fault(f"{why}: server answers again")

    async def _pace_replay(self, first: bool) -> None:
        """The :meth:`slow_replay` wait before a replayed (resent) event, none before the first
        (no suspension at all when there is no delay)."""
        if not first and self._replay_delay > 0:
            await asyncio.sleep(self._replay_delay)

    def _set_rejecting(self, n: int, status: int, *, status_range: str) -> None:
        """``reject_next``: check, arm (``status_range`` words the ValueError), log."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if not 400 <= status <= 599:
            raise ValueError(f"status must be {status_range}, got {status}")
        with self._lock:
            self._reject_left = n
            self._reject_status = status
        if n:
            self._log_fault(f"rejecting the next {n} handshake(s) with HTTP {status}")

    def _take_rejection(self) -> int | None:
        """The status to fail this new handshake with (``reject_next``), or None."""
        with self._lock:
            if self._reject_left <= 0:
                return None
            self._reject_left -= 1
            status = self._reject_status
            self.rejections += 1
        self._log_fault(f"handshake rejected with HTTP {status} (reject_next)")
        return status

    @staticmethod
    def _rejection_response(status: int) -> web.Response:
        return web.Response(status=status, text=f"{status} (ohnb fault injection: reject_next)\n")

    def _take_refusal(self) -> Any:
        """The armed ``refuse_next`` record, one connect used up, or None."""
        with self._lock:
            refusal = self._refusal
            if refusal is None or refusal.remaining <= 0:
                return None
            refusal.remaining -= 1
            if refusal.remaining == 0:
                self._refusal = None
            return refusal

    def _take_fault(self, key: str, sent: dict[str, int], phase: str) -> Fault | None:
        """The armed ``drop_after`` fault if connection ``key`` (its per-phase counts ``sent``)
        has now reached it, disarmed; else None."""
        with self._lock:
            fault = self._fault
            if fault is None or (fault.during != "any" and fault.during != phase):
                return None
            base = fault.baseline.get(key, {})
            if fault.during == "any":
                n = sum(sent.values()) - sum(base.values())
            else:
                n = sent.get(phase, 0) - base.get(phase, 0)
            if n < fault.k:
                return None
            self._fault = None
        self._log_fault(
            f"drop_after: dropping {key} after {n} {self._emission} "
            f"({fault.during}, abrupt={fault.abrupt})"
        )
        return fault

    def _check_raw(self, payload: Any, raw: bool) -> None:
        if raw and not isinstance(payload, str):
            raise TypeError("inject(raw=True) needs the frame text as a str")

    # ------------------------------------------------------------------------------------------
    # fault plans

    def apply(self, plan: FaultPlan | str | None) -> FaultPlan:
        """Run a :class:`~ohnb.servers.faults.FaultPlan` (or its spec string, grammar in
        :mod:`ohnb.servers.faults`) on this server; replaces the previous plan, ``None``/``""``
        clears it. ``@N`` counts what this server sends from now on, every connection, across
        restarts (V0: the ``oh_event``s it emits, replay, live, status and injected ones; V1:
        the frames it sends to every socket); steps at the same N fire in the order written.
        Settings without ``@N`` take effect at once. Returns the plan. Thread-safe.

        V1 meaning of the steps: ``drop`` close 1001, ``kill`` TCP abort, ``freeze``,
        ``restart`` (abrupt), ``malformed`` (variants:
        :data:`~ohnb.servers.v1_events.MALFORMED_V1`), ``oversized`` (a stored
        ObservationEvent), ``refuse`` (4004), ``reject`` (HTTP status), ``slow``.

        Raises:
            ValueError: a bad spec (which step and why).
            RuntimeError: the plan has a ``freeze`` step and the server runs in current-loop
                mode (checked again by :meth:`start`).
        """
        parsed = FaultPlan.parse(plan)
        if parsed.needs_thread_mode and self._running and self._thread is None:
            raise RuntimeError(FREEZE_NEEDS_THREAD)
        with self._lock:
            self._plan = parsed
            self._plan_count = 0
            steps = list(parsed.steps)
            now = [s for s in steps if s.at == 0]
            self._plan_todo = sorted((s for s in steps if s.at > 0), key=lambda s: s.at)
        if parsed:
            self._log_fault(f"fault plan applied: {parsed}")
        for step in now:
            self._apply_setting(step)
        return parsed

    def _count_emission_locked(self) -> list[FaultStep]:
        """One more emission for the plan's ``@N`` (call with ``_lock`` held); returns the steps
        now due, to run with :meth:`_run_steps` once the lock is released."""
        self._plan_count += 1
        due: list[FaultStep] = []
        while self._plan_todo and self._plan_todo[0].at <= self._plan_count:
            due.append(self._plan_todo.pop(0))
        return due

    def _apply_setting(self, step: FaultStep) -> None:
        if step.kind == "refuse":
            self._apply_refuse(step)
        elif step.kind == "reject":
            self.reject_next(step.count, status=step.status)
        elif step.kind == "slow":
            self.slow_replay(float(step.value or 0.0))

    async def _run_steps(self, steps: list[FaultStep]) -> None:
        for step in steps:
            self._log_fault(f"plan step {step} fires after {self._plan_count} {self._emission}")
            kind = step.kind
            if kind in SETTING_KINDS:
                self._apply_setting(step)
            elif kind in ("drop", "kill"):
                await self._plan_drop(abrupt=kind == "kill")
            elif kind == "freeze":
                await self._before_plan_freeze()
                self._block(float(step.value or 0.0), f"plan step {step}")
            elif kind == "restart":
                await self._plan_drop(abrupt=True)
                if self._restart_task is None and self._running:
                    self._restart_task = asyncio.get_running_loop().create_task(
                        self._plan_restart(float(step.value or 0.0)),
                        name=f"ohnb-{self._tag}-fault-restart",
                    )
            elif kind == "malformed":
                await self._plan_malformed(step)
            elif kind == "oversized":
                await self._plan_oversized(step)
            else:
                self._log_fault(f"plan step {step}: kind not served by the server, skipped")

    async def _plan_restart(self, pause: float) -> None:
        """A plan's ``restart``: on its own task (stop() cancels the live task and the handlers,
        one of which fired the step)."""
        try:
            await self.stop(abrupt=True)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + pause
            while not self._halt_restart and loop.time() < deadline:
                await asyncio.sleep(min(0.02, max(0.0, deadline - loop.time())))
            if not self._halt_restart:
                await self.start()
                self._log_fault(f"restarted on port {self._port} after {pause:g} s")
        except Exception:  # noqa: BLE001 - make a failed restart visible, not a silent task death
            self._logger.exception("fault plan restart failed")
        finally:
            self._restart_task = None

    def _log_fault(self, text: str) -> None:
        self.fault_log.append((time.time(), text))
        fault_logger.info("%s", text)

    # ------------------------------------------------------------------------------------------
    # task / thread plumbing

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._aux_tasks.add(task)
        task.add_done_callback(self._aux_tasks.discard)

    def _call_in_loop(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed() or not self._running:
            return
        if _running_loop() is loop:
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    async def _on_server_loop(self, coro: Coroutine[Any, Any, _T]) -> _T:
        loop = self._loop
        if loop is None or asyncio.get_running_loop() is loop:
            return await coro
        if loop.is_closed():
            coro.close()
            raise RuntimeError(f"{self._server_name}'s event loop is closed")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    def _run_threadsafe(self, coro: Coroutine[Any, Any, _T], timeout: float) -> _T:
        loop = self._loop
        if loop is None or loop.is_closed():
            coro.close()
            raise RuntimeError(f"{self._server_name} is not running")
        if _running_loop() is loop:
            coro.close()
            raise RuntimeError(
                "*_threadsafe methods block; on the server's loop await the async method instead"
            )
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    async def _forward_check(self, what: str) -> None:
        if self._loop is not None and asyncio.get_running_loop() is not self._loop:
            raise RuntimeError(
                f"{self._server_name}.{what}() must run on the server's loop; "
                "in thread mode use stop_thread()"
            )

    # ------------------------------------------------------------------------------------------
    # hooks: what each server implements

    def _make_app(self) -> web.Application:
        """The aiohttp application of one run (handlers, middleware)."""
        raise NotImplementedError

    def _begin_run(self, app: web.Application) -> None:
        """Reset the per-run protocol state once the port is bound (no ``await`` allowed)."""
        raise NotImplementedError

    def _event_time(self, ev: dict[str, Any]) -> datetime | None:
        """An event's timestamp as the server reads it (naive), or None."""
        raise NotImplementedError

    def _adopt(self, ev: dict[str, Any]) -> dict[str, Any]:
        """The form a scripted live event is published in."""
        raise NotImplementedError

    async def _publish(self, ev: dict[str, Any]) -> Any:
        """Store (as the server does) and send to the connected clients."""
        raise NotImplementedError

    async def _live_started(self) -> None:
        """Once the live clock has started, before the first live event."""

    async def _live_finished(self) -> None:
        """After the last live event was published, before live_done is set."""

    def _apply_refuse(self, step: FaultStep) -> None:
        """A plan's ``refuse`` setting."""
        raise NotImplementedError

    async def _plan_drop(self, abrupt: bool) -> None:
        """A plan's ``drop``/``kill`` (and the cut before a ``restart``): every connection."""
        raise NotImplementedError

    async def _before_plan_freeze(self) -> None:
        """Before a plan's ``freeze`` blocks the loop."""

    async def _plan_malformed(self, step: FaultStep) -> None:
        raise NotImplementedError

    async def _plan_oversized(self, step: FaultStep) -> None:
        raise NotImplementedError
