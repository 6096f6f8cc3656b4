"""``Conversation``: a background asyncio client that records one OpenHands conversation.

It runs as a task in the current event loop (in Jupyter, the kernel's), so a cell that calls
:func:`connect` returns at once and the DataFrame grows while the user works. It owns the reconnect loop:
each attempt resumes from the highest event id held (the OpenHands web client does the same: it sets
``latest_event_id`` to the last id it holds before reconnecting, frontend/src/context/ws-client-provider.tsx),
and the event log drops any id it holds already, so nothing is lost and nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from ohnb.errors import ConnectionRefused, ConversationClosed, RetriesExhausted
from ohnb.log import AttemptLog, EventLog
from ohnb.retry import RetryPolicy, is_permanent
from ohnb.transports import AttemptEnd, Handlers, Transport, V0Transport
from ohnb.transports.detect import AutoTransport
from ohnb.urls import parse_address

logger = logging.getLogger("ohnb.conversation")

#: Row types whose ``agent_state`` is the agent's state now.
_STATE_TYPES = frozenset({"agent_state_changed", "full_state"})


def connect(
    url: str,
    conversation_id: str | None = None,
    *,
    session_api_key: str | None = None,
    retry: RetryPolicy | None = None,
    protocol: str = "auto",
    ssl_verify: bool = True,
) -> Conversation:
    """Start recording a conversation in the background and return its :class:`Conversation`.

    Call it where an asyncio event loop is running: a Jupyter cell (the kernel's loop) or a coroutine.
    In a script::

        async def main():
            async with ohnb.connect("http://127.0.0.1:3000", "abc123") as conv:
                await conv.history_complete()
                print(conv.events)

        asyncio.run(main())

    Args:
        url: the server's base URL, a runtime URL with a path prefix, or a conversation URL
            (``.../api/conversations/<id>``); http, https, ws or wss.
        conversation_id: the conversation id (optional when the URL names it).
        session_api_key: the session API key, if the server requires one. It is kept only in memory and
            never appears in a DataFrame, repr, log record or widget.
        retry: backoff and timeout policy (``ohnb.RetryPolicy``; default ``RetryPolicy()``).
        protocol: ``"v0"`` (Socket.IO, openhands-ai <= 1.6), ``"v1"`` (agent server WebSocket), or
            ``"auto"`` (default: probe the server on the first attempt).
        ssl_verify: verify TLS certificates.

    Raises:
        ValueError: bad URL or protocol.
        RuntimeError: no asyncio event loop is running in this thread.
    """
    if protocol not in ("auto", "v0", "v1"):
        raise ValueError(f"protocol must be 'auto', 'v0' or 'v1', not {protocol!r}")
    address = parse_address(url, conversation_id)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "ohnb.connect needs a running asyncio event loop: call it in a Jupyter cell, or inside "
            "`async def main(): ...` run with asyncio.run(main())"
        ) from None
    policy = retry or RetryPolicy()
    options = {"session_api_key": session_api_key, "connect_timeout": policy.connect_timeout, "ssl_verify": ssl_verify}

    def make_v0():
        return V0Transport(address, **options)

    def make_v1():
        from ohnb.transports.v1_websocket import V1Transport

        return V1Transport(address, **options)

    factories = {"v0": make_v0, "v1": make_v1}
    if protocol == "auto":
        transport = AutoTransport(
            address, factories, connect_timeout=policy.connect_timeout, ssl_verify=ssl_verify
        )
    else:
        transport = factories[protocol]()
    conversation = Conversation(transport, retry=policy)
    conversation.start()
    return conversation


class Conversation:
    """A live recording of one conversation.

    Attributes:
        conversation_id: the conversation's id.
        log: the :class:`ohnb.log.EventLog` behind :attr:`events` (rows in arrival order).
        attempts_log: the :class:`ohnb.log.AttemptLog` behind :attr:`attempts`.
        agent_state: the last agent state seen (``extras.agent_state`` of the latest
            ``agent_state_changed``), e.g. ``running`` or ``awaiting_user_input``; None before any.
        connection_state: ``CONNECTING`` (first attempt under way), ``OPEN``, ``RECONNECTING``,
            ``CLOSED`` (closed by the user, or refused: see :attr:`error`), ``FAILED`` (retries
            exhausted).
        error: what a user should be told, like the OpenHands web client words it: ``Connection lost:
            <reason>`` only after a first successful connect, ``Failed to connect to server`` before;
            the refusal text when refused; None while all is well.
        reconnects: attempts started after the first successful connect.
        streaming_text: V1 only: the agent's text streamed so far as token deltas
            (``StreamingDeltaEvent``), reset when the agent's next event arrives; deltas are not rows.
        streaming_deltas: how many token deltas were received in all.
    """

    def __init__(self, transport: Transport, *, retry: RetryPolicy | None = None) -> None:
        self.transport = transport
        self.retry = retry or RetryPolicy()
        self.conversation_id = transport.address.conversation_id
        self.log = EventLog()
        self.attempts_log = AttemptLog()
        self.agent_state: str | None = None
        self.connection_state = "CONNECTING"
        self.error: str | None = None
        self.reconnects = 0
        self.streaming_text = ""
        self.streaming_deltas = 0
        self._ever_opened = False
        self._opened = asyncio.Event()
        self._finished = asyncio.Event()
        self._final_error: BaseException | None = None
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self._listeners: list[Callable[[], None]] = []
        self._changed = asyncio.Event()

    # -- public data ------------------------------------------------------------------------------

    @property
    def events(self) -> pd.DataFrame:
        """Every event received, one row each, in arrival order, no id twice.

        Columns and dtypes: ``ohnb.schema.EVENT_COLUMNS`` (documented in ``ohnb.normalize``). A new
        DataFrame on each access; building it costs only the rows added since the last access.
        """
        return self.log.to_frame()

    @property
    def attempts(self) -> pd.DataFrame:
        """One row per connection attempt (columns and dtypes: ``ohnb.schema.ATTEMPT_COLUMNS``).

        ``attempt`` (1-based), ``started_at``/``connected_at``/``ended_at`` (UTC), ``delay_s`` (the
        backoff waited before it, seconds), ``outcome`` (connected / refused / timeout /
        transport_error / closed_by_user), ``error``, ``resumed_from`` (V0: the ``latest_event_id``
        sent; missing on a first attempt from the start), ``resumed_after`` (V1: the
        ``after_timestamp`` sent), ``events_replayed`` and ``events_live`` (new
        events stored), ``duplicates`` (copies of held ids received and dropped),
        ``disconnect_reason`` (for attempts that connected).
        """
        return self.attempts_log.to_frame()

    @property
    def protocol(self) -> str:
        """``"v0"`` or ``"v1"`` (``"auto"`` until the first attempt has probed the server)."""
        return self.transport.protocol

    @property
    def duplicates(self) -> int:
        """How many received events were copies of ids already held (dropped, counted)."""
        return self.log.duplicates

    def __repr__(self) -> str:
        return (
            f"<Conversation {self.conversation_id!r} {self.connection_state} "
            f"agent_state={self.agent_state!r} events={len(self.log)} "
            f"attempts={len(self.attempts_log)}>"
        )

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background task (``connect`` does this)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"ohnb:{self.conversation_id}"
            )

    def close(self) -> asyncio.Task:
        """Stop recording: end the connection and the reconnect loop. Idempotent.

        Returns a task; ``await conv.close()`` waits until no socket or task is left.
        """
        return asyncio.get_running_loop().create_task(self._close())

    async def _close(self) -> None:
        task = self._task
        if task is None or task.done():
            self._set_state("CLOSED")
            return
        self._closing = True
        await self.transport.close()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), 1.0)
        except asyncio.TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def __aenter__(self) -> Conversation:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def history_complete(self, timeout: float | None = None) -> Conversation:
        """Wait until the history replay of the current attempt is complete; returns ``self``.

        For V0 the replay is complete when the server's CONNECT arrives (the server replays before it).

        Raises:
            ConnectionRefused: the server refused the connection.
            RetriesExhausted: every attempt failed.
            ConversationClosed: closed before a replay completed.
            TimeoutError: ``timeout`` seconds passed.
        """
        waiter = asyncio.ensure_future(self._opened.wait())
        ender = asyncio.ensure_future(self._finished.wait())
        try:
            done, _ = await asyncio.wait(
                {waiter, ender}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
            ender.cancel()
        if self._opened.is_set():
            return self
        if not done:
            raise TimeoutError(f"history not complete after {timeout} s")
        raise self._final_error or ConversationClosed("conversation closed")

    async def wait_until(
        self, predicate: Callable[[Conversation], bool], timeout: float | None = None
    ) -> Conversation:
        """Wait until ``predicate(self)`` is true (checked after every change); returns ``self``.

        Example: ``await conv.wait_until(lambda c: c.agent_state == "awaiting_user_input", 60)``.

        Raises:
            TimeoutError: ``timeout`` seconds passed first.
            ConversationClosed / ConnectionRefused / RetriesExhausted: recording ended first.
        """
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while not predicate(self):
            if self._finished.is_set():
                raise self._final_error or ConversationClosed("conversation closed")
            self._changed.clear()
            remaining = None if deadline is None else deadline - asyncio.get_running_loop().time()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"condition not met after {timeout} s")
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                continue
        return self

    async def wait_closed(self) -> None:
        """Wait until recording has ended (closed, refused or retries exhausted)."""
        await self._finished.wait()

    # -- talking to the agent ---------------------------------------------------------------------

    def send_message(self, text: str) -> asyncio.Task:
        """Send a user message (V0: ``oh_user_action`` ``{"action": "message", ...}``).

        Returns a task; awaiting it raises ``NotConnected`` when no connection is open.

        Raises:
            TypeError: ``text`` is not a string.
        """
        if not isinstance(text, str):
            raise TypeError("text must be a string")
        return self._schedule(self.transport.send_message(text))

    def pause(self) -> asyncio.Task:
        """Ask the agent to pause (V0: ``change_agent_state`` to ``paused``). Returns a task."""
        return self._schedule(self.transport.set_agent_state("paused"))

    def resume(self) -> asyncio.Task:
        """Ask the agent to resume (V0: ``change_agent_state`` to ``running``). Returns a task."""
        return self._schedule(self.transport.set_agent_state("running"))

    def stop(self) -> asyncio.Task:
        """Ask the agent to stop (V0: ``change_agent_state`` to ``stopped``). Returns a task.

        This stops the agent, not the recording: see :meth:`close`.
        """
        return self._schedule(self.transport.set_agent_state("stopped"))

    @staticmethod
    def _schedule(coro) -> asyncio.Task:
        return asyncio.get_running_loop().create_task(coro)

    # -- streaming (V1 StreamingDeltaEvent) -------------------------------------------------------

    def _stream(self, record: dict) -> None:
        # Token deltas are not events of the log (never persisted nor replayed by the agent server,
        # openhands/sdk/event/streaming_delta.py): they are aggregated into the text being streamed.
        self.streaming_text += record.get("content") or ""
        self.streaming_deltas += 1
        self._notify()

    # -- change notification (widget) -------------------------------------------------------------

    def on_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` when agent_state, connection_state, reconnects, error or
        streaming_text change; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _notify(self) -> None:
        self._changed.set()
        for listener in tuple(self._listeners):
            try:
                listener()
            except Exception:
                logger.exception("on_change listener failed")

    def _set_state(self, state: str, error: str | None = None) -> None:
        if (state, error) != (self.connection_state, self.error):
            self.connection_state, self.error = state, error
            self._notify()

    # -- the reconnect loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        try:
            while not self._closing:
                delay = self.retry.delay(failures)
                if delay > 0:
                    self._wake.clear()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
                    if self._closing:
                        break
                end = await self._one_attempt(delay)
                if end.outcome == "closed_by_user" or self._closing:
                    break
                if is_permanent(end.outcome):
                    self._final_error = ConnectionRefused(end.error or "connection refused")
                    self._set_state("CLOSED", f"Connection refused: {end.error}")
                    return
                failures = 1 if end.outcome == "connected" else failures + 1
                if self.retry.gives_up(failures):
                    self._final_error = RetriesExhausted(
                        f"gave up after {failures} failed attempts; last: {end.outcome}"
                        + (f" ({end.error})" if end.error else "")
                    )
                    self._set_state("FAILED", self.error or "Failed to connect to server")
                    return
                if self._ever_opened:
                    reason = end.disconnect_reason or end.error or end.outcome
                    self._set_state("RECONNECTING", f"Connection lost: {reason}")
                else:
                    self._set_state("CONNECTING", "Failed to connect to server")
            self._set_state("CLOSED", None)
            self._final_error = self._final_error or ConversationClosed("closed by the user")
        except Exception as exc:  # a bug in ohnb: make it visible, not silent
            logger.exception("ohnb conversation task failed")
            self._final_error = exc
            self._set_state("FAILED", f"ohnb error: {exc}")
        finally:
            self._finished.set()
            self._changed.set()

    async def _one_attempt(self, delay: float) -> AttemptEnd:
        self._opened.clear()
        resume = self.transport.resume_point(self.log)
        row = self.attempts_log.start(started_at=time.time(), delay_s=delay, resume=resume)
        if self._ever_opened:
            self.reconnects += 1
            self._notify()
        number = row["attempt"]
        conversation_id = self.conversation_id
        log = self.log
        transport = self.transport
        opened = False

        def on_event(payload: Any, text: str | None = None) -> None:
            delivery = "live" if opened else "replay"
            record = transport.normalize(
                payload,
                received_at=time.time(),
                delivery=delivery,
                attempt=number,
                conversation_id=conversation_id,
                raw=text,
            )
            if record.get("type") == "streaming_delta" and record.get("kind") == "status":
                self._stream(record)
                return
            if self.streaming_text and record.get("source") == "agent":
                self.streaming_text = ""  # the streamed text now lives in a real event
                self._notify()
            if log.append(record):
                row["events_live" if opened else "events_replayed"] += 1
                self._changed.set()
                state = record.get("agent_state")
                # agent_state_changed (V0, and V1 execution_status updates) and V1's full_state
                # snapshot set the state; a change_agent_state action is only a request.
                if record.get("type") in _STATE_TYPES and state not in (None, self.agent_state):
                    self.agent_state = state
                    self._notify()
            else:
                row["duplicates"] += 1

        def on_open() -> None:
            nonlocal opened
            opened = True
            row["connected_at"] = time.time()
            self._ever_opened = True
            self._opened.set()
            self._set_state("OPEN", None)

        def on_other(name: str, args: tuple) -> None:
            on_event({"event": name, "args": list(args)})

        try:
            end = await self.transport.run(resume, Handlers(on_event, on_open, on_other))
        except asyncio.CancelledError:
            row.update(ended_at=time.time(), outcome="closed_by_user")
            raise
        row.update(
            ended_at=time.time(),
            outcome=end.outcome,
            error=end.error,
            disconnect_reason=end.disconnect_reason,
        )
        self._opened.clear()
        return end

