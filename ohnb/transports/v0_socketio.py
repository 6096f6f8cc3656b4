"""V0 transport: one python-socketio ``AsyncClient`` connection attempt at a time.

Facts this relies on (openhands/server/listen_socket.py, OpenHands 0.62.0, and the captures in
shared/fixtures/captures/v0_real_server_*):

- the query string carries ``conversation_id``, ``latest_event_id`` and ``session_api_key``;
- the server replays every stored event with id > ``latest_event_id`` *inside* its connect handler, so
  the replay arrives before the Socket.IO CONNECT packet: when ``connect`` fires, the replay is complete;
- a refusal is a ``connect_error`` with ``{"message": ...}``, and may come after a replay.

python-socketio's built-in reconnection is switched off: it reuses the first URL and so replays the whole
history again on every reconnect, and it does not reconnect after a server-side disconnect. The
reconnect loop lives in ``ohnb.conversation``; this class runs exactly one attempt per :meth:`run`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any
from urllib.parse import urlencode

import socketio

from ohnb.errors import NotConnected
from ohnb.jsonio import loads as fast_loads
from ohnb.log import EventLog
from ohnb.normalize import normalize_v0
from ohnb.transports.base import AttemptEnd, Handlers, scrub
from ohnb.urls import ServerAddress

logger = logging.getLogger("ohnb.transports.v0")

_EVENT_HEAD = re.compile(r'\[\s*"oh_event"\s*,\s*')
_EVENT_TAIL = re.compile(r"\s*\]\s*\Z")
_DECODER = json.JSONDecoder()


class _Received:
    """An ``oh_event`` argument as decoded by :class:`_Packet`, with the text it was decoded from."""

    __slots__ = ("payload", "text")

    def __init__(self, payload: Any, text: str) -> None:
        self.payload = payload
        self.text = text


class _TextKeepingJSON:
    """The ``json`` module of :class:`_Packet`: the standard one, except that ``loads`` of an event
    packet's data with one argument, ``["oh_event",<payload>]``, gives ``["oh_event", _Received]``.

    The payload's slice of the packet becomes the row's ``raw``; the decoded payload is dropped once
    normalized. The slice is decoded by ``ohnb.jsonio.loads`` (orjson). Anything else decodes as
    ``json.loads`` would.
    """

    dumps = staticmethod(json.dumps)

    @staticmethod
    def loads(data: Any, **kwargs: Any) -> Any:
        if isinstance(data, str) and not kwargs:
            head = _EVENT_HEAD.match(data)
            if head is not None:
                # The usual packet: the payload runs from after the name to the closing bracket.
                stop = len(data.rstrip()) - 1
                if data[stop] == "]":
                    text = data[head.end() : stop].rstrip()
                    try:
                        return ["oh_event", _Received(fast_loads(text), text)]
                    except ValueError:
                        pass  # several arguments, or broken: find the payload's end exactly
                try:
                    payload, end = _DECODER.raw_decode(data, head.end())
                except ValueError:
                    pass  # json.loads below raises the error python-socketio expects
                else:
                    if _EVENT_TAIL.match(data, end):
                        return ["oh_event", _Received(payload, data[head.end() : end])]
        return json.loads(data, **kwargs)


class _Packet(socketio.packet.Packet):
    """python-socketio's packet with :class:`_TextKeepingJSON` (set on this subclass only: the
    ``json=`` argument of ``AsyncClient`` would replace the module of every ``Packet`` in the process).
    """

    json = _TextKeepingJSON

    def decode(self, encoded_packet: Any) -> int:
        attachments = super().decode(encoded_packet)
        if attachments and isinstance(self.data, list):
            # Binary placeholders must stay reachable for python-socketio to fill them in.
            self.data = [d.payload if isinstance(d, _Received) else d for d in self.data]
        return attachments


class V0Transport:
    """Connects to a V0 OpenHands server over Socket.IO (websocket transport, namespace ``/``).

    Args:
        address: where the conversation lives (``ohnb.urls.parse_address``).
        session_api_key: sent as the ``session_api_key`` query parameter; never logged or stored.
        connect_timeout: seconds without progress (no replayed event, no CONNECT) before an attempt
            counts as a ``timeout``; also engine.io's request timeout.
        ssl_verify: verify TLS certificates (``https``/``wss`` servers).
    """

    protocol = "v0"
    #: The normalizer of this generation's payloads (``ohnb.normalize.normalize_v0``).
    normalize = staticmethod(normalize_v0)

    def __init__(
        self,
        address: ServerAddress,
        *,
        session_api_key: str | None = None,
        connect_timeout: float = 20.0,
        ssl_verify: bool = True,
    ) -> None:
        self.address = address
        self._key = session_api_key
        self.connect_timeout = connect_timeout
        self.ssl_verify = ssl_verify
        self._sio: socketio.AsyncClient | None = None
        self._closing = False

    def _url(self, latest_event_id: int | None) -> str:
        query = {
            "conversation_id": self.address.conversation_id,
            "latest_event_id": -1 if latest_event_id is None else latest_event_id,
        }
        if self._key:
            query["session_api_key"] = self._key
        return f"{self.address.base_url}?{urlencode(query)}"

    async def run(self, latest_event_id: int | None, handlers: Handlers) -> AttemptEnd:
        """Run one attempt until it ends; never raises for network or server trouble.

        Args:
            latest_event_id: resume point: the server replays ids greater than this (None: all).
            handlers: called for each event, on open, and for unexpected messages.

        Returns:
            How the attempt ended (``AttemptEnd``).
        """
        self._closing = False
        sio = socketio.AsyncClient(
            reconnection=False,
            handle_sigint=False,
            serializer=_Packet,
            logger=False,
            engineio_logger=False,
            request_timeout=self.connect_timeout,
            ssl_verify=self.ssl_verify,
            # aiohttp caps websocket messages at 4 MiB by default; OpenHands events (command output,
            # file contents) can be larger, and the real server accepts up to its own buffer size.
            websocket_extra_options={"max_msg_size": 0},
        )
        self._sio = sio
        progress = asyncio.Event()
        state: dict[str, Any] = {"opened": False, "refused": None, "reason": None}

        def on_event(data: Any = None, *extra: Any) -> None:
            # Synchronous on purpose: engine.io runs each message in its own task, and order holds
            # only while a handler stores its event before any await.
            if isinstance(data, _Received) and not extra:
                handlers.on_event(data.payload, data.text)
            else:
                handlers.on_event(data if not extra else [data, *extra])
            progress.set()

        def on_connect() -> None:
            state["opened"] = True
            handlers.on_open()
            progress.set()

        def on_connect_error(data: Any = None) -> None:
            message = data.get("message") if isinstance(data, dict) else data
            state["refused"] = str(message) if message is not None else "connection refused"
            progress.set()

        def on_disconnect(reason: Any = None) -> None:
            state["reason"] = str(reason) if reason is not None else None
            progress.set()

        def on_any(event: str, *args: Any) -> None:
            handlers.on_other(event, args)
            progress.set()

        # A packet python-socketio cannot decode (broken JSON) would die in its task, unseen: keep it
        # as a visible row instead.
        decode = sio.eio.handlers.get("message")
        if decode is not None:

            async def guarded(data: Any) -> None:
                try:
                    await decode(data)
                except Exception as exc:  # noqa: BLE001 - any decode failure becomes a row
                    text = data if isinstance(data, str) else repr(data)
                    handlers.on_other("undecodable packet", (text[:10_000], f"{type(exc).__name__}: {exc}"))

            sio.eio.on("message", guarded)
        sio.on("oh_event", on_event)
        sio.on("connect", on_connect)
        sio.on("connect_error", on_connect_error)
        sio.on("disconnect", on_disconnect)
        sio.on("*", on_any)

        try:
            # engine.io's handshake has no overall timeout of its own: a frozen server or a
            # black-holed path would hang it until aiohttp's 300 s session timeout.
            await asyncio.wait_for(
                sio.connect(
                    self._url(latest_event_id),
                    transports=["websocket"],
                    socketio_path=self.address.socketio_path,
                    wait=False,
                ),
                self.connect_timeout,
            )
        except asyncio.TimeoutError:
            await self._shutdown(sio)
            self._sio = None
            if self._closing:
                return AttemptEnd("closed_by_user")
            return AttemptEnd("timeout", f"no engine.io handshake within {self.connect_timeout:g} s")
        except (socketio.exceptions.ConnectionError, OSError) as exc:
            # The engine.io handshake failed: python-socketio also fires connect_error for it, but
            # that is not the server's refusal (which needs an open engine.io connection).
            await self._shutdown(sio)
            self._sio = None
            if self._closing:
                return AttemptEnd("closed_by_user")
            return AttemptEnd("transport_error", scrub(_describe(exc), self._key))

        ended = asyncio.ensure_future(sio.eio.wait())
        ended.add_done_callback(lambda _: progress.set())
        try:
            # Wait for CONNECT, a refusal or the end, allowing connect_timeout without progress.
            while not (state["opened"] or state["refused"] is not None or ended.done()):
                progress.clear()
                try:
                    await asyncio.wait_for(progress.wait(), self.connect_timeout)
                except asyncio.TimeoutError:
                    if not (state["opened"] or state["refused"] is not None or ended.done()):
                        await self._shutdown(sio)
                        await _drain(ended)
                        return AttemptEnd(
                            "timeout",
                            f"no progress for {self.connect_timeout:g} s before the server's CONNECT",
                        )
            if state["refused"] is not None and not state["opened"]:
                await self._shutdown(sio)
                await _drain(ended)
                return AttemptEnd("refused", scrub(state["refused"], self._key))
            await asyncio.shield(ended)
        except asyncio.CancelledError:
            await self._shutdown(sio)
            raise
        finally:
            self._sio = None
        # Let message tasks engine.io already started store their events before we report.
        for _ in range(2):
            await asyncio.sleep(0)
        if not state["opened"]:
            if self._closing:
                return AttemptEnd("closed_by_user")
            return AttemptEnd("transport_error", "connection closed before the server's CONNECT")
        reason = state["reason"] or ("client disconnect" if self._closing else "transport error")
        return AttemptEnd("connected", disconnect_reason=reason)

    #: How far below the highest id held a resume may start (ids), see :meth:`resume_point`.
    RESUME_WINDOW = 64

    @classmethod
    def resume_point(cls, log: EventLog) -> int | None:
        """Where a new attempt resumes (``latest_event_id``): None means from the start.

        Not simply the highest id held: the real 0.62 server sometimes emits live events out of id
        order (7 before 6), and a connection that breaks between the two would, resumed from 7, never
        get 6. So ohnb resumes just below the lowest id missing among the last ``RESUME_WINDOW`` ids
        under the highest one held; ids skipped for good (null events, hidden ones) only cost a few
        repeated events, which the log drops as duplicates.
        """
        top = log.last_id
        if top is None:
            return None
        floor = max(0, top - cls.RESUME_WINDOW)
        held = set(log.column("id", len(log) - 4 * cls.RESUME_WINDOW))
        for number in range(floor, top):
            if number not in held:
                return number - 1
        return top

    async def send_message(self, text: str) -> None:
        """Send a user message as the web client does (``oh_user_action``, action ``message``)."""
        args = {"content": text, "image_urls": [], "file_urls": []}
        await self.emit("oh_user_action", {"action": "message", "args": args})

    async def set_agent_state(self, state: str) -> None:
        """Ask for an agent state change (``change_agent_state``: paused, running, stopped)."""
        await self.emit("oh_user_action", {"action": "change_agent_state", "args": {"agent_state": state}})

    async def emit(self, event: str, data: Any) -> None:
        """Send ``event`` with ``data`` on the open connection.

        Raises:
            NotConnected: no connection is open.
        """
        sio = self._sio
        if sio is None or not sio.connected or not sio.namespaces:
            raise NotConnected("not connected to the server")
        await sio.emit(event, data)

    async def close(self) -> None:
        """End the attempt under way, if any (its outcome becomes ``closed_by_user``)."""
        self._closing = True
        if self._sio is not None:
            await self._shutdown(self._sio)

    @staticmethod
    async def _shutdown(sio: socketio.AsyncClient) -> None:
        try:
            await sio.disconnect()
        except Exception:  # already gone: nothing left to close
            logger.debug("disconnect after failure raised", exc_info=True)
        if sio.eio.state != "disconnected":
            try:
                await sio.eio.disconnect(abort=True)
            except Exception:
                logger.debug("engine.io abort raised", exc_info=True)
        # A handshake cut short by our timeout leaves engine.io's aiohttp session open: close it
        # here rather than leave it to the garbage collector (aiohttp's "Unclosed connection").
        http = getattr(sio.eio, "http", None)
        if http is not None and not http.closed:
            await http.close()


async def _drain(task: asyncio.Future) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(task), 2.0)
    except Exception:  # noqa: BLE001 - the connection is being abandoned; any end will do
        task.cancel()


def _describe(exc: BaseException) -> str:
    parts = [str(a) for a in getattr(exc, "args", ()) if a not in (None, "")]
    text = ": ".join(dict.fromkeys(parts)) or type(exc).__name__
    return text
