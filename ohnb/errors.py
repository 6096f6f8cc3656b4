"""Exceptions ohnb raises."""

from __future__ import annotations


class OhnbError(Exception):
    """Base class of ohnb's errors."""


class ConnectionRefused(OhnbError):
    """The server refused the connection (wrong session API key, unknown conversation...): final.

    The message is the server's own wording, e.g. ``invalid_session_api_key`` (V0
    ``connect_error {"message": ...}`` from openhands/server/listen_socket.py).
    """


class RetriesExhausted(OhnbError):
    """Every allowed reconnect attempt failed (see ``RetryPolicy.max_retries``)."""


class NotConnected(OhnbError):
    """An action (send a message, pause, resume) needs an open connection and there is none."""


class ConversationClosed(OhnbError):
    """The conversation was closed by the user before what was awaited happened."""
