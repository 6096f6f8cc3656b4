"""A running server's stored history over REST, page by page (standard library HTTP, synchronous).

- V1 agent server (``openhands-agent-server/openhands/agent_server/event_router.py``):
  ``GET {prefix}/api/conversations/{id}/events/search?limit<=100&page_id=...`` ->
  ``{"items": [...], "next_page_id": str | null}``; ``next_page_id`` is the id of the first event of
  the next page (fixtures/captures/v1_real_server_rest.json). Auth: header ``X-Session-API-Key``.
- V0 server (``openhands/server/routes/conversation.py``, ``search_events``):
  ``GET {prefix}/api/conversations/{id}/events?start_id=N&limit<=100`` ->
  ``{"events": [...], "has_more": bool}`` (``start_id`` inclusive). Auth: the same header.

The session API key is sent only in that header: never in a URL, an error message or a log record.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import quote, urlencode

from ohnb.urls import parse_address

__all__ = ["HTTPStatusError", "fetch_conversation"]

#: The most either server returns per page.
PAGE_LIMIT = 100


class HTTPStatusError(ConnectionError):
    """The server answered with an error status (``status``), or did not answer at all (``0``)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _get_json(url: str, key: str | None, timeout: float) -> Any:
    headers = {"Accept": "application/json"}
    if key:
        headers["X-Session-API-Key"] = key
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http(s) checked by parse_address
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace").strip()
        raise HTTPStatusError(f"GET {url} -> HTTP {exc.code} {exc.reason}: {detail}", exc.code) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HTTPStatusError(f"GET {url} failed: {reason}", 0) from None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ValueError(f"GET {url}: the answer is not JSON ({exc})") from None


def fetch_conversation(
    url: str,
    conversation_id: str | None = None,
    *,
    session_api_key: str | None = None,
    generation: Literal["auto", "v0", "v1"] = "auto",
    page_size: int = PAGE_LIMIT,
    timeout: float = 30.0,
    on_page: Callable[[int], None] | None = None,
) -> tuple[str, str, list[dict[str, Any]]]:
    """Fetch every stored event of one conversation from a running server.

    Args:
        url: the server (``http://host:3000``, with a path prefix if any) or a conversation URL
            (``.../api/conversations/<id>``), as :func:`ohnb.urls.parse_address` reads it.
        conversation_id: the conversation, unless the URL names it.
        session_api_key: sent as ``X-Session-API-Key``.
        generation: ``"v1"`` (``/events/search``), ``"v0"`` (``/events``) or ``"auto"``: V1 first,
            then V0 when the V1 route does not answer with a page.
        page_size: events per request (1..100).
        timeout: seconds per request.
        on_page: called with the number of events of each page received (progress bars).

    Returns:
        ``(generation, conversation_id, events)``: events in the server's order (V1 by timestamp,
        V0 by id).

    Raises:
        ValueError: bad URL or arguments, or an answer of an unexpected shape.
        HTTPStatusError: an error status (401 without the right key, 404 unknown conversation...) or
            no answer; with ``"auto"``, the message gives both attempts.
    """
    if not 1 <= page_size <= PAGE_LIMIT:
        raise ValueError(f"page_size must be between 1 and {PAGE_LIMIT}, got {page_size}")
    if generation not in ("auto", "v0", "v1"):
        raise ValueError(f"generation must be 'auto', 'v0' or 'v1', got {generation!r}")
    address = parse_address(url, conversation_id)
    root = f"{address.base_url}{address.prefix}/api/conversations/{quote(address.conversation_id, safe='')}"
    if generation == "v1":
        return "v1", address.conversation_id, _v1_pages(root, session_api_key, page_size, timeout, on_page)
    if generation == "v0":
        return "v0", address.conversation_id, _v0_pages(root, session_api_key, page_size, timeout, on_page)
    try:
        events = _v1_pages(root, session_api_key, page_size, timeout, on_page)
    except (HTTPStatusError, ValueError) as v1_error:
        if isinstance(v1_error, HTTPStatusError) and v1_error.status in (401, 403):
            raise
        try:
            events = _v0_pages(root, session_api_key, page_size, timeout, on_page)
        except (HTTPStatusError, ValueError) as v0_error:
            status = getattr(v0_error, "status", 0)
            raise HTTPStatusError(
                f"neither a V1 nor a V0 history: V1: {v1_error}; V0: {v0_error}", status
            ) from None
        return "v0", address.conversation_id, events
    return "v1", address.conversation_id, events


def _v1_pages(root: str, key: str | None, limit: int, timeout: float, on_page) -> list[dict]:
    events: list[dict] = []
    page_id: str | None = None
    seen_pages: set[str] = set()
    while True:
        params: dict[str, Any] = {"limit": limit}
        if page_id is not None:
            params["page_id"] = page_id
        url = f"{root}/events/search?{urlencode(params)}"
        body = _get_json(url, key, timeout)
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise ValueError(f"GET {url}: expected {{'items': [...], 'next_page_id': ...}}")
        events.extend(body["items"])
        if on_page is not None:
            on_page(len(body["items"]))
        page_id = body.get("next_page_id")
        if not page_id or not body["items"]:
            return events
        if page_id in seen_pages:
            raise ValueError(f"GET {url}: next_page_id {page_id!r} repeats; stopping")
        seen_pages.add(page_id)


def _v0_pages(root: str, key: str | None, limit: int, timeout: float, on_page) -> list[dict]:
    events: list[dict] = []
    start = 0
    while True:
        url = f"{root}/events?{urlencode({'start_id': start, 'limit': limit})}"
        body = _get_json(url, key, timeout)
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            raise ValueError(f"GET {url}: expected {{'events': [...], 'has_more': ...}}")
        page = body["events"]
        events.extend(page)
        if on_page is not None:
            on_page(len(page))
        ids = [e.get("id") for e in page if isinstance(e, dict) and isinstance(e.get("id"), int)]
        if not body.get("has_more") or not ids:
            return events
        if max(ids) + 1 <= start:
            raise ValueError(f"GET {url}: the page does not advance past id {start}; stopping")
        start = max(ids) + 1
