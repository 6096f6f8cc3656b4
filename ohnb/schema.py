"""The column spec of ohnb's event and attempt DataFrames, and the OpenHands enums they use.

Every frame ohnb hands out (``Conversation.events``, ``Conversation.attempts``, and later loaders) has
exactly these columns, in this order, with these dtypes, whether it holds zero rows or a million. The
values of the enums come from OpenHands 0.62.0: ``openhands/core/schema/action.py`` (ActionType),
``observation.py`` (ObservationType) and ``agent.py`` (AgentState).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd
import pyarrow as pa

from ohnb import jsonio

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


#: ``string`` columns are Arrow-backed (``string[pyarrow]``): text is kept once, as UTF-8, in Arrow
#: buffers. An event log keeps its settled rows in Arrow record batches (see ``ohnb.log``), and its
#: frames take those buffers without copying them. CPython stores a ``str`` holding one emoji at 4
#: bytes per character, which made a terminal-heavy conversation's text cost 1.5x its UTF-8 size.
STRING = pd.StringDtype("pyarrow")

#: The Arrow memory pool ohnb's conversions (:func:`arrow_column`) allocate from: the C library's
#: allocator, the one CPython's large strings come from. When a log's rows settle, the memory of their
#: decoded text goes back to malloc and the next batch reuses it; Arrow's default pool (mimalloc) keeps
#: its own pages: after a 20,000-event V0 replay and one frame, resident memory had grown by 2.33x the
#: JSON with it and 2.0x with this pool (measured in one process each; ``benchmarks/bench_record.py``
#: prints the peak). Arrow's pools report their peak since the process started (``max_memory()``).
ARROW_POOL: pa.MemoryPool = pa.system_memory_pool()

#: The Arrow type each column spec is stored as in a record batch (time columns: see :func:`arrow_column`).
_ARROW_TYPES = {
    "string": pa.large_string(),
    "Int64": pa.int64(),
    "Float64": pa.float64(),
    "boolean": pa.bool_(),
}
_PANDAS_TYPES = {"string": STRING, "Int64": pd.Int64Dtype(), "Float64": pd.Float64Dtype(), "boolean": pd.BooleanDtype()}


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
    loads = jsonio.loads  # orjson, with json.loads' results

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


#: Rows converted together by :func:`frame_from_rows`: a chunk's dicts stay in the CPU's caches while
#: their columns are read one by one (reading 29 columns across 100,000 dicts missed them every time).
CHUNK_ROWS = 4096


def frame_from_rows(rows: Iterable[dict], columns: dict[str, str]) -> pd.DataFrame:
    """Build a typed DataFrame from row dicts.

    Time columns may hold ISO-8601 strings (parsed; unparseable ones become NaT), epoch seconds as
    floats (UTC columns), or None. Missing keys become missing values. Never raises on bad values of a
    row: a value that does not fit its dtype becomes missing (the ``raw`` column keeps the original).
    ``object`` columns keep their values as they are; every other column goes through the same Arrow
    conversion as :func:`batch_from_rows`, so a log's frames and a loader's agree value for value.

    ``rows`` may be any iterable: it is read :data:`CHUNK_ROWS` rows at a time, so rows a generator
    makes are freed once converted.
    """
    iterator = iter(rows)
    frames = []
    while chunk := list(itertools.islice(iterator, CHUNK_ROWS)):
        frames.append(_frame_from_chunk(chunk, columns))
    if not frames:
        return empty_frame(columns)
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _frame_from_chunk(rows: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    out = {}
    for name, dtype in columns.items():
        values = [row.get(name) for row in rows]
        if _has_arrow_form(name, dtype):
            out[name] = column_from_arrow(arrow_column(values, name, dtype), name, dtype)
        else:
            out[name] = pd.Series(values, dtype=_dtype(dtype))
    return pd.DataFrame(out)


def batch_from_rows(rows: list[dict], columns: dict[str, str]) -> pa.RecordBatch:
    """Row dicts as one Arrow record batch with a column per entry of ``columns`` (in order).

    The values are those :func:`frame_from_rows` would give, cleaned the same way; a time column keeps
    its values as sent when they are all text (ISO-8601, parsed only by :func:`frame_from_batch`) or
    all floats (epoch seconds), so ``batch.to_pylist()`` gives back rows equal to the ones put in
    (plus None for keys a row did not have). Only Arrow-typed specs are allowed (no ``object``).

    Raises:
        ValueError: a column's dtype has no Arrow form.
    """
    arrays = []
    for name, dtype in columns.items():
        if not _has_arrow_form(name, dtype):
            raise ValueError(f"column {name!r} of dtype {dtype!r} has no Arrow form")
        arrays.append(arrow_column([row.get(name) for row in rows], name, dtype))
    return pa.RecordBatch.from_arrays(arrays, names=list(columns))


def _has_arrow_form(name: str, dtype: str) -> bool:
    return dtype in _ARROW_TYPES or name in _TIME_COLUMNS


def frame_from_batch(batch: pa.RecordBatch, columns: dict[str, str]) -> pd.DataFrame:
    """A :func:`batch_from_rows` batch as a typed DataFrame (``string`` columns share its buffers)."""
    return pd.DataFrame(
        {name: column_from_arrow(batch.column(name), name, dtype) for name, dtype in columns.items()}
    )


def arrow_column(values: list, name: str, dtype: str) -> pa.Array:
    """One column's Python values as an Arrow array of the column's storage type.

    Values that do not fit (text in an integer column, an integer beyond 64 bits, a bool where a
    number belongs) become null; NaN is null in every column, as pandas reads it; a lone surrogate
    in a text (JSON can escape one, UTF-8 cannot hold it) becomes U+FFFD (``raw`` keeps the escape). Time columns
    (``timestamp``, ``received_at``, the attempts' times) stay text when every value is text or None,
    float64 when every value is a float or None, and are parsed to Arrow timestamps otherwise.
    """
    types = set(map(type, values))
    if name in _TIME_COLUMNS:
        try:
            if types <= _TEXT:
                return pa.array(values, type=pa.large_string(), memory_pool=ARROW_POOL)
            if types <= _FLOAT:
                return pa.array(values, type=pa.float64(), from_pandas=True, memory_pool=ARROW_POOL)
        except (pa.ArrowException, ValueError):  # a lone surrogate in a text: parsed below (NaT)
            pass
        return pa.array(_to_datetime(values, utc=dtype.endswith("UTC]")), memory_pool=ARROW_POOL)
    kind = _ARROW_TYPES[dtype]
    if types == _ONLY_NONE:  # common: most columns belong to a few event types
        return pa.nulls(len(values), type=kind, memory_pool=ARROW_POOL)
    if not types <= _FITS[dtype]:  # pyarrow would take some of these silently (1.5 as 1, True as 1.0)
        values = [_CLEAN[dtype](v) for v in values]
    try:
        # NaN is null, as pandas reads it
        return pa.array(values, type=kind, from_pandas=float in types, memory_pool=ARROW_POOL)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):  # a text's lone surrogate, a huge int
        cleaned = [_CLEAN[dtype](v) for v in values]
        return pa.array(cleaned, type=kind, from_pandas=True, memory_pool=ARROW_POOL)


def column_from_arrow(array: pa.Array | pa.ChunkedArray, name: str, dtype: str):
    """An :func:`arrow_column` array as the pandas array of ``dtype`` (no copy for text)."""
    if name in _TIME_COLUMNS:
        utc = dtype.endswith("UTC]")
        if pa.types.is_timestamp(array.type):
            return pd.Series(array.to_pandas(), dtype=dtype).array
        return _to_datetime(array.to_pylist(), utc=utc).array
    return _PANDAS_TYPES[dtype].__from_arrow__(array)


def _str(value):
    if isinstance(value, float) and value != value:
        return None
    if value is not None and not isinstance(value, str):
        value = str(value)
    # JSON can escape a lone surrogate ("\ud800") but UTF-8 cannot hold one: U+FFFD takes its place
    return value if value is None else _SURROGATE.sub("\ufffd", value)


def _bool(value):
    return value if isinstance(value, bool) else None


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


_CLEAN = {"string": _str, "Int64": _int64, "Float64": _float, "boolean": _bool}
_NONE = type(None)
_SURROGATE = re.compile("[\ud800-\udfff]")
_ONLY_NONE = {_NONE}
_TEXT = {str, _NONE}
_FLOAT = {float, _NONE}
#: The Python types each column takes as they are (anything else is cleaned value by value first).
_FITS = {"string": _TEXT, "Int64": {int, _NONE}, "Float64": {float, int, _NONE}, "boolean": {bool, _NONE}}
