"""Event-type counts."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def event_type_counts(events: pd.DataFrame, by: Sequence[str] = ("kind", "type")) -> pd.DataFrame:
    """Count events by ``by`` (default kind and type).

    Args:
        events: an events frame (``ohnb.schema.EVENT_COLUMNS``).
        by: the columns to group by, e.g. ``("kind", "type", "source")``.

    Returns:
        One row per group present: the ``by`` columns (missing values shown as ``<NA>`` groups, not
        dropped), ``count`` (Int64) and ``share`` (Float64, count / total), most frequent first, ties
        in ``by`` order.
    """
    by = list(by)
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
