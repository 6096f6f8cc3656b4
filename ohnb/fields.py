"""Readers for the fields of untrusted JSON payloads, shared by the V0 and V1 normalizers.

Each reader returns a value of the expected type or None, and never raises; the ``*_field`` readers
also note in ``errors`` what did not fit, for the row's ``parse_error``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import orjson


def is_int(value: Any) -> bool:
    """A JSON integer (``bool`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A JSON number (``bool`` is not one)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def int_value(value: Any) -> int | None:
    """``value`` if it is an integer, else None."""
    return value if is_int(value) else None


def text(value: Any) -> str | None:
    """``value`` as text: strings as they are, numbers via ``str``, containers as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        return repr(value)


def payload_text(payload: Any) -> str:
    """The ``raw`` text of a payload that arrived decoded (stored files, REST pages, client notes).

    JSON values are encoded by orjson (about four times faster than ``json.dumps``, which matters
    when ``ohnb.load`` reads 100,000 events); what orjson refuses (integers beyond 64 bits, non-string
    keys, values JSON cannot hold, such as bytes inside a list) by ``json.dumps``, with ``repr`` for
    the rest. NaN and ±Infinity, which JSON does not have, become ``null`` (orjson's rule; ``NaN`` and
    ``Infinity`` where ``json.dumps`` encodes); the typed columns still hold them. Bytes are decoded as UTF-8 with ``backslashreplace``. Transports that
    hold the text as received pass it to the normalizers instead. Never raises.
    """
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload).decode("utf-8", "backslashreplace")
    try:
        return orjson.dumps(payload).decode()
    except TypeError:  # orjson.JSONEncodeError included
        pass
    try:
        return json.dumps(payload, ensure_ascii=False, default=repr)
    except (TypeError, ValueError, RecursionError):
        return repr(payload)


def shared(value: Any) -> Any:
    """One str object for equal values of a categorical field (``source``, ``type``, ``tool``...).

    Every decoded event brings its own copy of ``"agent"`` or ``"run"``; rows keep them for the
    session, so the copies are swapped for one shared (interned) string, about 50 bytes per field
    per event. Interned strings are freed once no row holds them.
    """
    return sys.intern(value) if type(value) is str else value


def first_text(body: dict, keys: tuple[str, ...]) -> str | None:
    """The text of the first of ``keys`` in ``body`` that holds something (not None, "", {}, [])."""
    for key in keys:
        value = body.get(key)
        if value is None or value == "" or (isinstance(value, (dict, list)) and not value):
            continue
        return text(value)
    return None


def int_field(payload: dict, key: str, errors: list[str]) -> int | None:
    """``payload[key]`` if it is an integer; otherwise None, noting a present non-integer."""
    value = payload.get(key)
    if value is None:
        return None
    if is_int(value):
        return value
    errors.append(f"{key} is {type(value).__name__} {value!r:.40}, not an integer")
    return None


def str_field(payload: dict, key: str, errors: list[str]) -> str | None:
    """``payload[key]`` if it is a string; a present non-string is noted and kept as text."""
    value = payload.get(key)
    if value is None or isinstance(value, str):
        return value
    errors.append(f"{key} is {type(value).__name__}, not a string")
    return text(value)


def dict_field(payload: dict, key: str, errors: list[str]) -> dict:
    """``payload[key]`` if it is an object, else ``{}`` (a present non-object is noted)."""
    value = payload.get(key)
    if isinstance(value, dict):
        return value
    if value is not None:
        errors.append(f"{key} is {type(value).__name__}, not an object")
    return {}
