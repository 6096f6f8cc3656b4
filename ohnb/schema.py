"""The column spec of ohnb's event and attempt DataFrames, and the OpenHands enums they use.

Every frame ohnb hands out (``Conversation.events``, ``Conversation.attempts``, and later loaders) has
exactly these columns, in this order, with these dtypes, whether it holds zero rows or a million. The
values of the enums come from OpenHands 0.62.0: ``openhands/core/schema/action.py`` (ActionType),
``observation.py`` (ObservationType) and ``agent.py`` (AgentState).
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

#: Event kinds (column ``kind``).
KINDS = ("action", "observation", "status", "error", "unknown")

#: How a row reached ohnb (column ``delivery``): in the history replay of a connection attempt, live
#: after the attempt connected, or read from a stored/exported file.
DELIVERIES = ("replay", "live", "stored")

#: OpenHands AgentState values (openhands/core/schema/agent.py); ``init`` appears in older data.
AGENT_STATES = (
    "loading",
    "init",
    "running",
    "awaiting_user_input",
    "paused",
    "stopped",
    "finished",
    "rejected",
    "error",
    "awaiting_user_confirmation",
    "user_confirmed",
    "user_rejected",
    "rate_limited",
)

#: Connection states, as the OpenHands web client names them, plus FAILED (retries exhausted).
CONNECTION_STATES = ("CONNECTING", "OPEN", "RECONNECTING", "CLOSED", "FAILED")

#: Attempt outcomes (column ``outcome`` of the attempts frame).
OUTCOMES = ("connected", "refused", "timeout", "transport_error", "closed_by_user")

#: Event columns and dtypes. ``timestamp`` is the server's naive local time as sent; ``received_at`` is
#: ohnb's UTC receive time. See ``ohnb.normalize`` for how each column is filled.
EVENT_COLUMNS: dict[str, str] = {
    "conversation_id": "string",
    "id": "Int64",
    "event_id": "string",
    "timestamp": "datetime64[ns]",
    "received_at": "datetime64[ns, UTC]",
    "source": "string",
    "kind": "string",
    "type": "string",
    "v1_kind": "string",
    "cause": "Int64",
    "cause_id": "string",
    "message": "string",
    "content": "string",
    "thought": "string",
    "agent_state": "string",
    "exit_code": "Int64",
    "path": "string",
    "diff": "string",
    "tool_call_id": "string",
    "tool": "string",
    "hidden": "boolean",
    "model": "string",
    "accumulated_cost": "Float64",
    "prompt_tokens": "Int64",
    "completion_tokens": "Int64",
    "delivery": "string",
    "attempt": "Int64",
    "parse_error": "string",
    "raw": "string",
}

#: Attempt columns and dtypes (one row per connection attempt). Times are UTC.
ATTEMPT_COLUMNS: dict[str, str] = {
    "attempt": "Int64",
    "started_at": "datetime64[ns, UTC]",
    "connected_at": "datetime64[ns, UTC]",
    "ended_at": "datetime64[ns, UTC]",
    "delay_s": "Float64",
    "outcome": "string",
    "error": "string",
    "resumed_from": "Int64",
    "resumed_after": "string",
    "events_replayed": "Int64",
    "events_live": "Int64",
    "duplicates": "Int64",
    "disconnect_reason": "string",
}

_TIME_COLUMNS = {"timestamp", "received_at", "started_at", "connected_at", "ended_at"}


#: ``string`` columns hold Python ``str`` objects (pandas' "python" storage): the strings are shared
#: with the row dicts and the ``raw`` payloads instead of being copied into Arrow buffers, which for a
#: 20,000-event replay saves about a second and the memory of every message and output once more.
STRING = pd.StringDtype("python")


def _dtype(dtype: str):
    return STRING if dtype == "string" else dtype


def payloads(frame: pd.DataFrame | pd.Series) -> pd.Series:
    """The ``raw`` column decoded: each row's payload as the JSON value it holds (a dict per event).

    Args:
        frame: an events frame (its ``raw`` column is read) or the ``raw`` Series itself.

    Returns:
        An object Series with the frame's index (name ``payload``). A ``raw`` text that is not JSON
        (a broken frame or packet kept as an ``unknown`` row) is given as the text itself; a missing
        ``raw`` as None.

    Raises:
        KeyError: ``frame`` is a DataFrame without a ``raw`` column.
    """
    texts = frame if isinstance(frame, pd.Series) else frame["raw"]
    loads = json.loads

    def decode(text: Any) -> Any:
        if not isinstance(text, str):
            return None
        try:
            return loads(text)
        except ValueError:
            return text

    return pd.Series([decode(t) for t in texts.tolist()], index=texts.index, dtype=object, name="payload")


def empty_frame(columns: dict[str, str]) -> pd.DataFrame:
    """A zero-row DataFrame with ``columns`` (name -> dtype), in order."""
    return pd.DataFrame({name: pd.Series(dtype=_dtype(dtype)) for name, dtype in columns.items()})


def frame_from_rows(rows: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    """Build a typed DataFrame from row dicts.

    Time columns may hold ISO-8601 strings (parsed; unparseable ones become NaT), epoch seconds as
    floats (UTC columns), or None. Missing keys become missing values. Never raises on bad values of a
    row: a value that does not fit its dtype becomes missing (the ``raw`` column keeps the original).
    """
    if not rows:
        return empty_frame(columns)
    data = {name: [row.get(name) for row in rows] for name in columns}
    out = {}
    for name, dtype in columns.items():
        values = data[name]
        if name in _TIME_COLUMNS:
            out[name] = _to_datetime(values, utc=dtype.endswith("UTC]"))
        elif dtype == "object":
            out[name] = pd.Series(values, dtype=object)
        elif dtype == "Int64":
            out[name] = _fast_or_clean(values, "Int64", _int64)
        elif dtype == "Float64":
            out[name] = _fast_or_clean(values, "Float64", _float)
        elif dtype == "string":
            out[name] = _fast_or_clean(values, STRING, _str)
        else:
            out[name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(out)


def _fast_or_clean(values: list, dtype, clean) -> pd.api.extensions.ExtensionArray:
    """``values`` as a ``dtype`` array; when some value does not fit, each is cleaned first.

    Rows from the normalizers already hold the right Python types, so the fast path is the usual one.
    """
    try:
        if dtype == "Int64" and any(isinstance(v, (bool, float)) for v in values):
            raise TypeError("not integers")  # pandas would accept them silently
        return pd.array(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError):
        return pd.array([clean(v) for v in values], dtype=dtype)


def _str(value):
    return value if value is None or isinstance(value, str) else str(value)


def _int64(value):
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value
    return None


def _float(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return None
    return None


def _to_datetime(values: list, *, utc: bool) -> pd.Series:
    if utc and all(v is None or type(v) is float for v in values):
        # The common case, receive times from the client: epoch seconds or None.
        seconds = pd.Series(values, dtype="float64")
        seconds = seconds.where(seconds.abs() < 9e9)
        return pd.to_datetime(seconds, unit="s", utc=True).astype("datetime64[ns, UTC]")
    series = pd.Series(values, dtype=object)
    numeric = series.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
    result = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns, UTC]" if utc else "datetime64[ns]")
    if numeric.any():
        seconds = pd.to_numeric(series[numeric], errors="coerce").astype(float)
        seconds = seconds.where(seconds.abs() < 9e9)  # beyond year 2255: not a receive time
        nums = pd.to_datetime(seconds, unit="s", utc=True)
        result[numeric] = nums if utc else nums.dt.tz_localize(None)
    strings = series.map(lambda v: isinstance(v, str))
    if strings.any():
        try:
            parsed = _parse_iso(series[strings], utc=utc)
        except (ValueError, TypeError, OverflowError):
            # Mixed zones or odd values: parse one by one so one bad value spoils only itself.
            parsed = series[strings].map(lambda v: _parse_one(v, utc=utc)).astype(result.dtype)
        result[strings] = parsed
    return result


def _parse_iso(values: pd.Series, *, utc: bool) -> pd.Series:
    parsed = pd.to_datetime(values, format="ISO8601", errors="coerce", utc=utc)
    if not utc and getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed.astype("datetime64[ns, UTC]" if utc else "datetime64[ns]")


def _parse_one(value: str, *, utc: bool):
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return pd.NaT
    if stamp is pd.NaT:
        return pd.NaT
    try:
        stamp = stamp.as_unit("ns")
    except (ValueError, OverflowError):
        return pd.NaT
    if utc:
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.tz_localize(None) if stamp.tzinfo is not None else stamp
