"""V1 transport: the agent server's plain WebSocket ``/sockets/events/{conversation_id}`` (aiohttp).

Facts this relies on (openhands-agent-server 1.58.2, ``openhands/agent_server/sockets.py`` and
``event_router.py``; captures in shared/fixtures/captures/v1_real_server_*):

- auth: the first frame ``{"type": "auth", "session_api_key": K}`` (the query parameter and the
  ``X-Session-API-Key`` header are deprecated); a wrong key closes with 4001, an unknown conversation
  with 4004, too many subscribers with 1013; a SIGTERM closes with 1012, a killed server gives 1006;
- the server subscribes the socket, sends a fresh ``ConversationStateUpdateEvent`` snapshot, then
  resends history: ``resend_mode=all`` on a first connect, ``resend_mode=since&after_timestamp=T`` (events
  with timestamp >= T, so the boundary event comes back) on a reconnect; live events may come before
  or among resent ones and repeat: the event log deduplicates by id;
- REST: ``GET /api/conversations/{id}/events/count`` (filters ``timestamp__gte``, ``timestamp__lt``)
  and ``/events/search?limit<=100&page_id=&timestamp__gte=`` (``{"items": [...], "next_page_id":
  ...}``), header ``X-Session-API-Key``. Each attempt counts the stored events between its resume
  point and the connect-time snapshot; when the resend has delivered that many, the history is
  complete; when it stops short (after a SIGTERM the server persists events after it closed the
  sockets), ohnb pages the search from the resume point to repair the gap, and then the history is
  complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from ohnb.errors import NotConnected
from ohnb.jsonio import loads
from ohnb.log import EventLog
from ohnb.normalize_v1 import normalize_v1
from ohnb.transports.base import AttemptEnd, Handlers, scrub
from ohnb.urls import ServerAddress

logger = logging.getLogger("ohnb.transports.v1")

#: Close codes after which retrying cannot help (sockets.py): auth failed, conversation not found.
PERMANENT_CLOSE_CODES = {4001: "Authentication failed", 4004: "Conversation not found"}

#: What the other close codes mean, for the attempts table's ``disconnect_reason``.
CLOSE_REASONS = {
    1000: "server closed the connection (1000)",
    1001: "server going away (1001)",
    1006: "connection lost without a close frame (1006)",
    1011: "server error (1011)",
    1012: "server restart (1012)",
    1013: "too many connections for this conversation (1013)",
}

#: REST page size: the agent server's maximum (``limit`` <= 100, event_router.py).
PAGE_LIMIT = 100


class V1Transport:
    """Connects to a V1 agent server's event WebSocket, with REST gap repair.

    Args:
        address: where the conversation lives (``ohnb.urls.parse_address``).
        session_api_key: sent in the first frame and as the ``X-Session-API-Key`` REST header; never
            logged or stored.
        connect_timeout: seconds for the WebSocket handshake and each REST request.
        heartbeat: seconds between WebSocket pings (aiohttp's ``heartbeat``); a connection that does
            not answer a ping within half of that is closed and counted as a transport error, so a
            silent dead connection is noticed within about 1.5 x ``heartbeat``. Default 20 s.
        ssl_verify: verify TLS certificates (``https``/``wss``).
    """

    protocol = "v1"
    #: Seconds without a resent frame, short of the server's count, before ohnb pages the REST
    #: history to repair the gap.
    QUIET = 1.0
    #: The normalizer of this generation's payloads (``ohnb.normalize_v1.normalize_v1``).
    normalize = staticmethod(normalize_v1)

    def __init__(
        self,
        address: ServerAddress,
        *,
        session_api_key: str | None = None,
        connect_timeout: float = 20.0,
        heartbeat: float = 20.0,
        ssl_verify: bool = True,
    ) -> None:
        self.address = address
        self._key = session_api_key
        self.connect_timeout = connect_timeout
        self.heartbeat = heartbeat
        self.ssl_verify = ssl_verify
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closing = False
        self._complete_through: str | None = None

    # -- addresses ------------------------------------------------------------------------------

    def _ws_url(self, after_timestamp: str | None) -> str:
        base = self.address.base_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        path = f"{self.address.prefix}/sockets/events/{quote(self.address.conversation_id)}"
        if after_timestamp is None:
            query = {"resend_mode": "all"}
        else:
            query = {"resend_mode": "since", "after_timestamp": after_timestamp}
        return f"{base}{path}?{urlencode(query)}"

    def _api(self, suffix: str = "") -> str:
        conversation = quote(self.address.conversation_id)
        return f"{self.address.base_url}{self.address.prefix}/api/conversations/{conversation}{suffix}"

    def _headers(self) -> dict[str, str]:
        return {"X-Session-API-Key": self._key} if self._key else {}

    def resume_point(self, log: EventLog) -> str | None:
        """Where a new attempt resumes: ``after_timestamp`` for ``resend_mode=since`` (ISO text).

        Not simply the newest timestamp held: live frames can arrive before the resent history, and
        the snapshot a server sends on connect carries the connect time, so an attempt that dropped
        mid-resend would skip history. ohnb resumes from the newest timestamp it knows it holds
        everything before: the newest of the REST history pages of the last complete attempt and of
        the live frames after it. The boundary event comes back and is deduplicated.
        """
        return self._complete_through if len(log) else None

    def _advance(self, payload: Any) -> None:
        if isinstance(payload, dict) and payload.get("key") != "full_state":
            stamp = payload.get("timestamp")
            if isinstance(stamp, str) and (self._complete_through is None or stamp > self._complete_through):
                self._complete_through = stamp

    # -- one attempt ----------------------------------------------------------------------------

    async def run(self, after_timestamp: str | None, handlers: Handlers) -> AttemptEnd:
        """Run one attempt until it ends; never raises for network or server trouble."""
        self._closing = False
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout)
        session = aiohttp.ClientSession(timeout=timeout)
        self._session = session
        try:
            try:
                ws = await session.ws_connect(
                    self._ws_url(after_timestamp),
                    heartbeat=self.heartbeat,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
                    ssl=self.ssl_verify,
                    max_msg_size=0,
                )
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status in (401, 403):
                    # ohnb sends the key in the first frame, not the query: a 403 here means the
                    # server rejected the request itself (sockets.py: a conversation id that is not
                    # a UUID, a bad resend_mode), or a proxy's auth.
                    return AttemptEnd("refused", f"Handshake refused (HTTP {exc.status}): check the URL and the conversation id")
                if exc.status == 404:
                    return AttemptEnd("refused", "no V1 event socket at this URL (HTTP 404)")
                return AttemptEnd("transport_error", f"handshake failed: HTTP {exc.status}")
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                if self._closing:
                    return AttemptEnd("closed_by_user")
                return AttemptEnd("transport_error", scrub(_describe(exc), self._key))
            self._ws = ws
            if self._key:
                await ws.send_json({"type": "auth", "session_api_key": self._key})
            opened = False
            tally = _HistoryTally()
            progress = asyncio.Event()

            def on_frame(payload: Any, text: str | None = None) -> None:
                handlers.on_event(payload, text)
                if opened:
                    self._advance(payload)
                else:
                    tally.note(payload)
                    progress.set()

            def on_page_item(payload: Any) -> None:
                handlers.on_event(payload)
                tally.note(payload)

            reader = asyncio.ensure_future(self._read(ws, on_frame))
            try:
                complete = await self._history_check(session, after_timestamp, tally, progress, reader)
                if isinstance(complete, AttemptEnd):
                    return complete
                if not complete and not reader.done():
                    repaired = await self._repair(session, after_timestamp, on_page_item, reader)
                    if isinstance(repaired, AttemptEnd):
                        return repaired
                if not reader.done():
                    opened = True
                    if tally.newest is not None:
                        self._advance({"timestamp": tally.newest})
                    handlers.on_open()
                await asyncio.shield(reader)
            except asyncio.CancelledError:
                reader.cancel()
                await ws.close()
                raise
            code = ws.close_code
            if code in PERMANENT_CLOSE_CODES and not opened:
                return AttemptEnd("refused", PERMANENT_CLOSE_CODES[code])
            if self._closing:
                return AttemptEnd("connected" if opened else "closed_by_user",
                                  disconnect_reason="client disconnect" if opened else None)
            reason = _close_reason(code, ws.exception())
            if not opened:
                return AttemptEnd("transport_error", f"closed before the history was complete: {reason}")
            if code in PERMANENT_CLOSE_CODES:
                # Refused after a successful open (e.g. the conversation was deleted): final.
                return AttemptEnd("refused", PERMANENT_CLOSE_CODES[code], disconnect_reason=reason)
            return AttemptEnd("connected", disconnect_reason=reason)
        finally:
            self._ws = None
            self._session = None
            await session.close()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, on_event) -> None:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                try:
                    payload: Any = loads(message.data)
                except ValueError:
                    payload = message.data  # kept as an unknown row with its parse error
                # The frame text becomes the row's raw: the decoded payload is dropped after
                # normalizing, so the log holds strings, which the cyclic GC does not scan.
                on_event(payload, message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                on_event(bytes(message.data))
            elif message.type == aiohttp.WSMsgType.ERROR:
                break

    async def _history_check(
        self,
        session: aiohttp.ClientSession,
        after_timestamp: str | None,
        tally: _HistoryTally,
        progress: asyncio.Event,
        reader: asyncio.Future,
    ) -> AttemptEnd | bool:
        """Whether the resend alone delivered the stored history, judged by ``/events/count``.

        The history is the stored events from ``after_timestamp`` up to the server's connect-time
        snapshot (sockets.py sends a fresh, unstored ``full_state`` first): counting only those
        keeps live events, which can arrive before the resend, from standing in for a missing
        historical one. Waits until the socket has delivered that many, or until it has been quiet
        for :attr:`QUIET` seconds. False means "page the REST history to repair gaps" (also when no
        snapshot came); an AttemptEnd means the server refused (401/403: key, 404: conversation).
        """
        while tally.snapshot is None and not reader.done():
            progress.clear()
            try:
                await asyncio.wait_for(progress.wait(), self.QUIET)
            except asyncio.TimeoutError:
                return False
        if tally.snapshot is None:
            return False
        params = {"timestamp__lt": tally.snapshot}
        if after_timestamp:
            params["timestamp__gte"] = after_timestamp
        answer = await self._get_json(session, "/events/count", params)
        if isinstance(answer, AttemptEnd):
            return answer
        if not isinstance(answer, int) or isinstance(answer, bool):
            return False  # no usable count: repair from REST

        while tally.history < answer and not reader.done():
            progress.clear()
            try:
                await asyncio.wait_for(progress.wait(), self.QUIET)
            except asyncio.TimeoutError:
                return False  # the resend stopped short: repair from REST
        return tally.history >= answer

    async def _repair(
        self,
        session: aiohttp.ClientSession,
        after_timestamp: str | None,
        on_event,
        reader: asyncio.Future,
    ) -> AttemptEnd | None:
        """Page the stored history over REST into ``on_event``; an AttemptEnd if refused."""
        page_id: str | None = None
        while not reader.done():
            params: dict[str, Any] = {"limit": PAGE_LIMIT}
            if page_id:
                params["page_id"] = page_id
            if after_timestamp:
                params["timestamp__gte"] = after_timestamp
            body = await self._get_json(session, "/events/search", params)
            if isinstance(body, AttemptEnd):
                return body
            if body is None:
                return None
            items = body.get("items") if isinstance(body, dict) else None
            for item in items or []:
                on_event(item)
            page_id = body.get("next_page_id") if isinstance(body, dict) else None
            if not page_id or not items:
                return None
            await asyncio.sleep(0)  # let live frames in between pages
        return None

    async def _get_json(self, session: aiohttp.ClientSession, suffix: str, params: dict) -> Any:
        """GET a conversation REST endpoint: the decoded body; an AttemptEnd when the server refuses
        (401/403: key, 404: conversation); None (logged) for any other failure."""
        try:
            async with session.get(
                self._api(suffix),
                params=params or None,
                headers=self._headers(),
                timeout=aiohttp.ClientTimeout(total=self.connect_timeout),
                ssl=self.ssl_verify,
            ) as response:
                if response.status in (401, 403):
                    return AttemptEnd("refused", f"Authentication failed (HTTP {response.status})")
                if response.status == 404:
                    return AttemptEnd("refused", "Conversation not found (HTTP 404)")
                if response.status != 200:
                    logger.warning("%s answered HTTP %s; history may have gaps", suffix, response.status)
                    return None
                return await response.json(content_type=None)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError) as exc:
            logger.warning("%s failed (%s); history may have gaps", suffix, scrub(_describe(exc), self._key))
            return None

    # -- talking to the agent -------------------------------------------------------------------

    async def send_message(self, text: str) -> None:
        """Send a user message as a ``Message`` frame on the open WebSocket; sockets.py stores it and
        runs the agent, as for the OpenHands V1 web client."""
        ws = self._ws
        if ws is None or ws.closed:
            raise NotConnected("not connected to the server")
        await ws.send_json({"role": "user", "content": [{"type": "text", "text": text}]})

    async def set_agent_state(self, state: str) -> None:
        """Pause (``POST .../pause``), resume (``POST .../run``) or stop (pause) over REST."""
        endpoint = {"paused": "/pause", "stopped": "/pause", "running": "/run"}.get(state)
        if endpoint is None:
            raise ValueError(f"cannot set agent state {state!r} on a V1 server")
        session = self._session
        if session is None or self._ws is None or self._ws.closed:
            raise NotConnected("not connected to the server")
        async with session.post(self._api(endpoint), headers=self._headers()) as response:
            if response.status >= 400:
                detail = scrub(await response.text(), self._key)
                raise NotConnected(f"{endpoint[1:]} failed: HTTP {response.status} {detail[:200]}")

    async def close(self) -> None:
        """End the attempt under way, if any."""
        self._closing = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()


class _HistoryTally:
    """What one attempt has seen of the stored history, kept up to date frame by frame (O(1) each).

    The server's connect-time snapshot (sockets.py sends a fresh, unstored ``full_state`` first)
    marks "now": the history is the stored events older than it. Live events can arrive before the
    snapshot, so the count is settled when the snapshot comes and then kept current.

    Attributes:
        snapshot: the snapshot's timestamp, None until it came.
        history: distinct stored events seen that are older than the snapshot.
        newest: the newest of their timestamps (all seen events' before the snapshot came).
    """

    __slots__ = ("_seen", "history", "newest", "snapshot")

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        self.snapshot: str | None = None
        self.history = 0
        self.newest: str | None = None

    def note(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            return
        event_id, stamp = payload.get("id"), payload.get("timestamp")
        if not (isinstance(event_id, str) and isinstance(stamp, str)):
            return
        if payload.get("key") == "full_state":
            if self.snapshot is None:
                self.snapshot = stamp
                older = [t for t in self._seen.values() if t < stamp]
                self.history = len(older)
                self.newest = max(older, default=None)
            return
        if event_id in self._seen:
            return
        self._seen[event_id] = stamp
        if self.snapshot is not None:
            if stamp >= self.snapshot:
                return  # live, not history
            self.history += 1
        if self.newest is None or stamp > self.newest:
            self.newest = stamp


def _close_reason(code: int | None, error: BaseException | None) -> str:
    if error is not None and code in (None, 1006):
        return f"transport error: {_describe(error)}"
    if code is None:
        return "transport error"
    return CLOSE_REASONS.get(code, f"closed with code {code}")


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "..."
