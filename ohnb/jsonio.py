"""Decoding JSON text: orjson for speed, with the standard library's exact semantics.

Every event ohnb receives or reads is decoded here (V0 packet slices, V1 frames, stored files).
orjson decodes a typical OpenHands event about three times faster than ``json.loads``, which is most
of what recording costs per event. It is stricter than the standard library, though: it rejects
``NaN``/``Infinity`` and lone surrogate escapes (``"\\ud800"``), which Python's ``json`` (and so
python-socketio and the OpenHands servers) accepts. Whatever orjson rejects is therefore decoded
again by ``json.loads``, so the result, and the error for text that is not JSON, are what
``json.loads`` gives.

One difference remains: an integer beyond 64 bits (unsigned) decodes as a float, where ``json.loads``
gives an int. OpenHands payloads hold none (ids, token counts and costs are far smaller), and a live
event's ``raw`` keeps the text as received, digits included.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["loads"]

_fast = orjson.loads
_slow = json.loads


def loads(text: str | bytes) -> Any:
    """Decode one JSON document, as ``json.loads`` would.

    Args:
        text: the JSON text (``str``, or UTF-8 ``bytes``).

    Returns:
        The decoded value (dicts, lists, str, int, float, bool, None).

    Raises:
        json.JSONDecodeError: ``text`` is not JSON (the standard library's error and message).
        UnicodeDecodeError: ``bytes`` that are not UTF-8.
    """
    try:
        # A non-ASCII str is encoded first: handed the str itself, orjson would make CPython cache a
        # UTF-8 copy inside it, which a caller keeping the str (the log, until its rows settle into
        # Arrow) would hold twice.
        return _fast(text if not isinstance(text, str) or text.isascii() else text.encode("utf-8", "surrogatepass"))
    except orjson.JSONDecodeError:
        return _slow(text)
