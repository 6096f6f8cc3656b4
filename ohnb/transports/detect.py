"""Which server generation answers at an address (V0 Socket.IO or V1 agent server)."""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from ohnb.transports.base import AttemptEnd, Handlers
from ohnb.urls import ServerAddress

logger = logging.getLogger("ohnb.transports.detect")


async def detect_protocol(address: ServerAddress, *, timeout: float = 10.0, ssl_verify: bool = True) -> str | None:
    """``"v0"``, ``"v1"``, or None when neither answers (unreachable, or neither endpoint exists).

    V0: an engine.io handshake at ``{prefix}/socket.io/?EIO=4&transport=polling`` answers 200 with a
    body starting with ``0{`` (engine.io's OPEN packet). V1: the agent server answers ``GET
    {prefix}/health`` with 200 (openhands/agent_server/api.py); neither probe needs a key.
    """
    ssl = None if ssl_verify else False
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    try:
        async with aiohttp.ClientSession(timeout=client_timeout) as session:
            url = f"{address.base_url}{address.socketio_path}/"
            async with session.get(url, params={"EIO": "4", "transport": "polling"}, ssl=ssl) as r:
                if r.status == 200 and (await r.text()).startswith("0{"):
                    return "v0"
            async with session.get(f"{address.base_url}{address.prefix}/health", ssl=ssl) as r:
                if r.status == 200:
                    return "v1"
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        logger.info("protocol probe failed: %s", type(exc).__name__)
    return None


class AutoTransport:
    """Detects the server generation on its first attempt, then behaves as that transport.

    Until detection the generation is unknown; an attempt whose probe fails counts as a
    ``transport_error`` and is retried like any other.
    """

    protocol = "auto"

    def __init__(self, address: ServerAddress, factories: dict, *, connect_timeout: float, ssl_verify: bool) -> None:
        self.address = address
        self._factories = factories
        self._timeout = connect_timeout
        self._ssl_verify = ssl_verify
        self.delegate = None

    @property
    def normalize(self):
        return self.delegate.normalize

    def resume_point(self, log):
        return None if self.delegate is None else self.delegate.resume_point(log)

    async def run(self, resume, handlers: Handlers) -> AttemptEnd:
        if self.delegate is None:
            found = await detect_protocol(self.address, timeout=self._timeout, ssl_verify=self._ssl_verify)
            if found is None:
                return AttemptEnd(
                    "transport_error",
                    "no OpenHands server answered (neither a V0 Socket.IO endpoint nor a V1 /health)",
                )
            self.delegate = self._factories[found]()
            self.protocol = found
        return await self.delegate.run(resume, handlers)

    async def send_message(self, text: str) -> None:
        await self._require().send_message(text)

    async def set_agent_state(self, state: str) -> None:
        await self._require().set_agent_state(state)

    async def close(self) -> None:
        if self.delegate is not None:
            await self.delegate.close()

    def _require(self):
        if self.delegate is None:
            from ohnb.errors import NotConnected

            raise NotConnected("not connected to the server yet")
        return self.delegate
