"""Turn the URLs users have into what the transports need.

Users paste a server's base URL (``http://localhost:3000``), a runtime URL with a path prefix
(``https://host/runtime/abc``), or a conversation URL (``.../api/conversations/{id}`` or the web UI's
``.../conversations/{id}``). The OpenHands web client builds its Socket.IO path as the prefix before
``/api/conversations`` plus ``/socket.io`` (frontend/src/context/ws-client-provider.tsx); ohnb does the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

_CONVERSATION_PATH = re.compile(r"^(?P<prefix>.*?)/(?:api/)?conversations/(?P<id>[^/?#]+)/?$")
_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


@dataclass(frozen=True)
class ServerAddress:
    """Where a conversation lives.

    Attributes:
        base_url: ``http(s)://host[:port]`` with no path (ws/wss are mapped to http/https).
        prefix: the path prefix before ``/api`` (``""`` or e.g. ``/runtime/abc``), no trailing slash.
        conversation_id: the conversation id.
    """

    base_url: str
    prefix: str
    conversation_id: str

    @property
    def socketio_path(self) -> str:
        """The V0 Socket.IO path: ``{prefix}/socket.io``."""
        return f"{self.prefix}/socket.io"


def parse_address(url: str, conversation_id: str | None = None) -> ServerAddress:
    """Split ``url`` into base URL, path prefix and conversation id.

    Raises:
        ValueError: the URL has no http/https/ws/wss scheme or host, no conversation id is given nor
            found in the URL, or the id given disagrees with the one in the URL.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError("url must be a non-empty string such as 'http://127.0.0.1:3000'")
    parts = urlsplit(url.strip())
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(
            f"url {_redact(url)!r} must start with http://, https://, ws:// or wss:// and name a host"
        )
    path = parts.path.rstrip("/")
    found = _CONVERSATION_PATH.match(path)
    if found:
        path = found.group("prefix")
        if conversation_id is not None and conversation_id != found.group("id"):
            raise ValueError(
                f"conversation_id {conversation_id!r} differs from the one in the URL "
                f"({found.group('id')!r})"
            )
        conversation_id = found.group("id")
    elif path.endswith("/socket.io"):
        path = path[: -len("/socket.io")]
    if not conversation_id:
        raise ValueError("no conversation id: pass conversation_id= or a .../conversations/<id> URL")
    return ServerAddress(urlunsplit((scheme, parts.netloc, "", "", "")), path, str(conversation_id))


def _redact(url: str) -> str:
    """The URL without its query string (it may carry a session_api_key)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
