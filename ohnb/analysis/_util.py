"""Helpers shared by the analyses: typed empty results, column checks, the time column."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ohnb.schema import EVENT_COLUMNS, empty_frame


def typed(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """``frame`` reduced to ``columns`` (in order) with those dtypes, index reset."""
    if frame.empty:
        return empty_frame(columns)
    out = frame.loc[:, list(columns)].reset_index(drop=True)
    for name, dtype in columns.items():
        if dtype == "string":
            out[name] = out[name].astype(empty_frame({name: dtype})[name].dtype)
        elif str(out[name].dtype) != dtype:
            out[name] = out[name].astype(dtype)
    return out


def with_columns(events: pd.DataFrame, names: Iterable[str]) -> pd.DataFrame:
    """``events`` with every column of ``names`` present (missing ones added empty, typed as in
    ``EVENT_COLUMNS``), so analyses accept frames saved before a column existed or cut down by the
    user. Never modifies ``events``."""
    missing = [n for n in names if n not in events.columns]
    if not missing:
        return events
    out = events.copy()
    blank = empty_frame({n: EVENT_COLUMNS.get(n, "object") for n in missing})
    for name in missing:
        out[name] = pd.Series([None] * len(out), index=out.index, dtype=blank[name].dtype)
    return out


def time_column(events: pd.DataFrame, time: str | None) -> str:
    """The column to place events in time: ``time`` if given, else ``timestamp`` (the server's clock)
    when any row has one, else ``received_at`` (ohnb's UTC receive time).

    Raises:
        ValueError: ``time`` is not a datetime column of ``events``.
    """
    if time is not None:
        if time not in events.columns or not pd.api.types.is_datetime64_any_dtype(events[time]):
            raise ValueError(f"time={time!r} is not a datetime column of the frame")
        return time
    if "timestamp" in events.columns and events["timestamp"].notna().any():
        return "timestamp"
    if "received_at" in events.columns and events["received_at"].notna().any():
        return "received_at"
    return "timestamp"


def seconds(delta: pd.Series) -> pd.Series:
    """A timedelta Series as Float64 seconds (missing stays missing)."""
    return delta.dt.total_seconds().astype("Float64")
