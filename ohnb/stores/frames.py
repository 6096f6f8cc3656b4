"""Captured WebSocket / Socket.IO frames: events with the time they were received.

Captures (fixtures/captures/v1_real_server_*.jsonl, v0_real_server_*.json) hold one record per frame,
``{"recv_ts": epoch seconds, "recv_rel": s, "size": bytes, "data": event}`` (V0 captures have
``recv_monotonic`` instead of ``recv_ts``, and markers such as ``{"socketio": "connect"}`` without
``data``, which are skipped), and in JSONL form a ``{"_meta": {...}}`` line before the
frames of each connection (``conversation_id``, ``url``, ``t_connected``, ``close_code``...). A JSON
file may also hold a list of frames, or a dict with ``frames`` (one connection; its own fields are
the meta).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FrameConversation", "is_frame", "is_frame_record", "split_frames"]

_RECV_KEYS = ("recv_ts", "recv_rel", "recv_monotonic")
_URL_ID = re.compile(r"/(?:sockets/events|conversations)/([^/?#]+)")


def is_frame(value: Any) -> bool:
    """Whether ``value`` is a captured frame: a dict with ``data`` and a receive time."""
    return isinstance(value, dict) and "data" in value and any(k in value for k in _RECV_KEYS)


def _is_marker(value: Any) -> bool:
    # a receive time without data: a protocol marker such as {"socketio": "connect"}
    return isinstance(value, dict) and "data" not in value and any(k in value for k in _RECV_KEYS)


def is_frame_record(value: Any) -> bool:
    """A frame, a ``{"_meta": {...}}`` connection header, or a protocol marker (a receive time
    without ``data``, e.g. ``{"recv_monotonic": 0.01, "socketio": "connect"}``)."""
    return (
        is_frame(value)
        or _is_marker(value)
        or (isinstance(value, dict) and isinstance(value.get("_meta"), dict))
    )


@dataclass
class FrameConversation:
    """The frames of one conversation: payloads with their receive time and connection number."""

    conversation_id: str | None
    events: list[Any] = field(default_factory=list)
    received_at: list[float | None] = field(default_factory=list)
    attempt: list[int | None] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)


def _meta_id(meta: dict[str, Any]) -> str | None:
    cid = meta.get("conversation_id")
    if isinstance(cid, str) and cid:
        return cid
    url = meta.get("url")
    if isinstance(url, str):
        match = _URL_ID.search(url)
        if match:
            return match.group(1)
    return None


def split_frames(
    records: list[Any], *, meta: dict[str, Any] | None = None, where: str
) -> list[FrameConversation]:
    """Group frame records by conversation, in order of first appearance.

    Each ``_meta`` record (or ``meta`` for a file that holds one connection) starts a new connection
    attempt (numbered from 1 per conversation; None when the capture has no meta at all).
    ``received_at`` is ``recv_ts`` when it is epoch seconds, else None (``recv_rel`` and
    ``recv_monotonic`` are relative to an unknown origin).

    Raises:
        ValueError: a record is neither a frame nor a meta header (``where`` and the index named).
    """
    out: dict[str | None, FrameConversation] = {}
    current_id = _meta_id(meta) if meta else None
    attempt_of: dict[str | None, int] = {}
    current_attempt: int | None = None
    if meta:
        attempt_of[current_id] = 1
        current_attempt = 1
        out[current_id] = FrameConversation(current_id, attempts=[meta])
    for n, rec in enumerate(records):
        if isinstance(rec, dict) and isinstance(rec.get("_meta"), dict):
            current_id = _meta_id(rec["_meta"])
            attempt_of[current_id] = attempt_of.get(current_id, 0) + 1
            current_attempt = attempt_of[current_id]
            conv = out.setdefault(current_id, FrameConversation(current_id))
            conv.attempts.append(rec["_meta"])
            continue
        if _is_marker(rec):
            continue
        if not is_frame(rec):
            raise ValueError(
                f"{where}: record {n} is not a captured frame (expected 'data' and 'recv_ts')"
            )
        conv = out.setdefault(current_id, FrameConversation(current_id))
        ts = rec.get("recv_ts")
        epoch = isinstance(ts, (int, float)) and not isinstance(ts, bool) and ts > 1e8
        conv.events.append(rec["data"])
        conv.received_at.append(float(ts) if epoch else None)
        conv.attempt.append(current_attempt)
    return list(out.values())
