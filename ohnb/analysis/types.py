"""Event types: counts by kind / type / source, and their rate over time.

``kind`` and ``type`` mean the same for both server generations: V1 events are mapped to V0 names
(``ohnb.normalize_v1``), so a ``run`` is a shell command whichever server ran it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ohnb.analysis._util import time_column, typed, with_columns

#: Columns of :func:`event_rate` besides the ``by`` columns.
RATE_COLUMNS = {
    "conversation_id": "string",
    "window_start": "datetime64[ns]",
    "count": "Int64",
    "rate_per_min": "Float64",
}


def event_type_counts(events: pd.DataFrame, by: Sequence[str] = ("kind", "type")) -> pd.DataFrame:
    """Count events by ``by`` (default kind and type).

    Args:
        events: an events frame (``ohnb.schema.EVENT_COLUMNS``).
        by: the columns to group by, e.g. ``("kind", "type", "source")``, or
            ``("conversation_id", "kind", "type")`` for counts per conversation.

    Returns:
        One row per group present: the ``by`` columns (missing values shown as ``<NA>`` groups, not
        dropped), ``count`` (Int64) and ``share`` (Float64, count / total), most frequent first, ties
        in ``by`` order.
    """
    by = list(by)
    events = with_columns(events, by)
    if events.empty:
        out = events.loc[:, by].iloc[0:0].copy()
        out["count"] = pd.Series(dtype="Int64")
        out["share"] = pd.Series(dtype="Float64")
        return out.reset_index(drop=True)
    counts = events.groupby(by, dropna=False, sort=True).size().rename("count").reset_index()
    counts["count"] = counts["count"].astype("Int64")
    counts["share"] = (counts["count"] / counts["count"].sum()).astype("Float64")
    counts = counts.sort_values("count", ascending=False, kind="stable")
    return counts.reset_index(drop=True)


def event_rate(
    events: pd.DataFrame,
    freq: str = "1min",
    by: Sequence[str] = ("kind",),
    time: str | None = None,
) -> pd.DataFrame:
    """How many events per minute, window by window, for each conversation and ``by`` group.

    Args:
        events: an events frame.
        freq: the window length, a pandas offset alias (``"30s"``, ``"1min"``, ``"1h"``).
        by: the columns whose values are counted apart (default: ``kind``); ``()`` counts all.
        time: the datetime column that places events in time; default ``timestamp`` (server clock,
            naive local time), or ``received_at`` (UTC) when no row has a timestamp. Rows without
            a time are left out.

    Returns:
        Columns ``conversation_id``, ``window_start`` (the window's start, in the time column's
        clock; a ``received_at`` time is given as naive UTC), the ``by`` columns, ``count``
        (Int64) and ``rate_per_min`` (Float64, count divided by the window length in minutes).
        Every window from a conversation's first event to its last is listed for every ``by``
        group the conversation has, empty windows with count 0; sorted by conversation, window,
        group.

    Raises:
        ValueError: ``freq`` is not a fixed-length offset, or ``time`` is not a datetime column.
    """
    by = list(by)
    columns = {**{k: v for k, v in RATE_COLUMNS.items() if k in ("conversation_id", "window_start")}}
    events = with_columns(events, ["conversation_id", "timestamp", "received_at", *by])
    try:
        width = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"freq={freq!r} is not a fixed-length window ({exc})") from None
    column = time_column(events, time)
    when = events[column]
    if getattr(when.dtype, "tz", None) is not None:
        when = when.dt.tz_convert("UTC").dt.tz_localize(None)
    result_columns = {**columns, **{b: str(events[b].dtype) for b in by}, "count": "Int64", "rate_per_min": "Float64"}
    have = events.loc[when.notna(), ["conversation_id", *by]].copy()
    if have.empty:
        return typed(pd.DataFrame(), result_columns)
    have["window_start"] = when[when.notna()].dt.floor(width)
    counts = have.groupby(["conversation_id", "window_start", *by], dropna=False).size()
    parts = []
    for cid, part in counts.groupby(level="conversation_id", dropna=False, sort=False):
        starts = part.index.get_level_values("window_start")
        windows = pd.date_range(starts.min(), starts.max(), freq=width)
        groups = part.reset_index()[by].drop_duplicates() if by else pd.DataFrame(index=[0])
        grid = pd.DataFrame({"window_start": windows}).merge(groups, how="cross")
        grid.insert(0, "conversation_id", cid)
        keys = ["conversation_id", "window_start", *by]
        full = grid.merge(part.rename("count").reset_index(), on=keys, how="left")
        parts.append(full)
    out = pd.concat(parts, ignore_index=True)
    out["count"] = out["count"].fillna(0).astype("Int64")
    out["rate_per_min"] = (out["count"] / (width / pd.Timedelta(minutes=1))).astype("Float64")
    out = out.sort_values(["conversation_id", "window_start", *by], kind="stable", na_position="last")
    return typed(out, result_columns)
