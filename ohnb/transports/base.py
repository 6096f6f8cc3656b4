"""What every transport reports about one connection attempt."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass
class AttemptEnd:
    """How one connection attempt ended.

    Attributes:
        outcome: ``connected`` (it opened, and later ended), ``refused`` (the server said no: final),
            ``timeout`` (no progress for ``connect_timeout`` seconds), ``transport_error`` (could not
            reach the server, or the connection broke before it opened), ``closed_by_user``.
        error: the error text (the server's refusal wording, or the transport's), secrets removed.
        disconnect_reason: for an attempt that opened, why it ended: ``server disconnect``,
            ``transport error`` or ``client disconnect`` (python-socketio's reasons).
    """

    outcome: str
    error: str | None = None
    disconnect_reason: str | None = None


@dataclass
class Handlers:
    """Callbacks a transport calls on the event loop's thread, in the order things arrived.

    Attributes:
        on_event: one decoded event payload (anything: normally a dict), and the text it was
            decoded from when the transport has it (``on_event(payload, text)``), which becomes the
            row's ``raw``.
        on_open: the connection opened; for V0 the history replay is complete at this point.
        on_other: an unexpected message ``(name, args)``, kept as an unknown row.
    """

    on_event: Callable[..., None]
    on_open: Callable[[], None]
    on_other: Callable[[str, tuple], None]


def scrub(text: str | None, secret: str | None) -> str | None:
    """``text`` with every occurrence of ``secret`` (plain or URL-encoded) replaced by ``***``."""
    if not text or not secret:
        return text
    from urllib.parse import quote, quote_plus

    for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
        text = text.replace(form, "***")
    return text


class Transport(Protocol):
    """What ``ohnb.conversation.Conversation`` needs of a server generation's transport.

    One :meth:`run` call is one connection attempt; the reconnect loop lives in the conversation.
    """

    protocol: str
    address: Any
    normalize: Callable[..., dict]

    def resume_point(self, log: Any) -> Any:
        """Where a new attempt resumes, computed from the event log held (None: from the start)."""

    async def run(self, resume: Any, handlers: Handlers) -> AttemptEnd:
        """Run one attempt until it ends; report how (never raise for network/server trouble)."""

    async def send_message(self, text: str) -> None:
        """Send a user message; raise ``NotConnected`` without an open connection."""

    async def set_agent_state(self, state: str) -> None:
        """Ask for ``paused`` / ``running`` / ``stopped``; raise ``NotConnected`` when not open."""

    async def close(self) -> None:
        """End the attempt under way, if any."""
