"""LLM cost and tokens over time, and per model.

Where the numbers come from: V0 events carry ``llm_metrics`` (``accumulated_cost`` in USD and
``accumulated_token_usage``: running totals of the agent's LLM, ``openhands/llm/metrics.py``); V1
sends them as ``ConversationStateUpdateEvent`` ``stats`` (and inside ``full_state`` snapshots):
running totals per usage (agent, condenser...), summed by ``ohnb.normalize_v1``. Both land in the
``accumulated_cost``, ``prompt_tokens`` and ``completion_tokens`` columns.

The model: V0 names it on the actions an LLM response produced
(``tool_call_metadata.model_response.model``), V1 in the stats (``model_name`` of the agent usage).
A row without one takes the last model named before it in its conversation (else the first after).
Spend between two rows is credited to the later row's model. Increments are plain differences, so
they add up to the last running total; one is negative when the server lowered a total (the 297-event
export's prompt tokens drop by 139 at its model switch).
"""

from __future__ import annotations

import pandas as pd

from ohnb.analysis._util import typed, with_columns

#: Columns of :func:`cost_over_time`.
COST_COLUMNS = {
    "conversation_id": "string",
    "event_id": "string",
    "timestamp": "datetime64[ns]",
    "model": "string",
    "accumulated_cost": "Float64",
    "prompt_tokens": "Int64",
    "completion_tokens": "Int64",
    "cost_delta": "Float64",
    "prompt_tokens_delta": "Int64",
    "completion_tokens_delta": "Int64",
}

#: Columns of :func:`cost_by_model` (after the group columns).
BY_MODEL_COLUMNS = {
    "cost_usd": "Float64",
    "prompt_tokens": "Int64",
    "completion_tokens": "Int64",
    "updates": "Int64",
}

_METRICS = ("accumulated_cost", "prompt_tokens", "completion_tokens")


def _delta(values: pd.Series, groups: pd.Series) -> pd.Series:
    # the previous reported value of the conversation (rows without a value are skipped)
    previous = values.dropna().groupby(groups[values.notna()], dropna=False, sort=False).shift(1)
    previous = previous.reindex(values.index)
    return (values - previous).where(previous.notna(), values)


def cost_over_time(events: pd.DataFrame) -> pd.DataFrame:
    """The running cost and token totals, one row per event that reports them.

    Returns:
        Columns ``COST_COLUMNS``, in stored order: ``accumulated_cost`` (USD), ``prompt_tokens``,
        ``completion_tokens`` (running totals, as reported), ``model`` (filled as the module says),
        and the increments since the previous row of the conversation that reported the same total:
        ``cost_delta`` (USD), ``prompt_tokens_delta``, ``completion_tokens_delta`` (the first
        increment is the total itself). Missing totals stay missing, with missing increments.
    """
    events = with_columns(events, ("conversation_id", "event_id", "timestamp", "model", *_METRICS))
    if events.empty:
        return typed(pd.DataFrame(), COST_COLUMNS)
    model = events["model"].groupby(events["conversation_id"], dropna=False, sort=False).transform(
        lambda s: s.ffill().bfill()
    )
    has = events[list(_METRICS)].notna().any(axis=1)
    rows = events.loc[has, ["conversation_id", "event_id", "timestamp", *_METRICS]].copy()
    if rows.empty:
        return typed(pd.DataFrame(), COST_COLUMNS)
    rows["model"] = model[has]
    group = rows["conversation_id"]
    rows["cost_delta"] = _delta(rows["accumulated_cost"].astype("Float64"), group)
    rows["prompt_tokens_delta"] = _delta(rows["prompt_tokens"].astype("Int64"), group)
    rows["completion_tokens_delta"] = _delta(rows["completion_tokens"].astype("Int64"), group)
    return typed(rows, COST_COLUMNS)


def cost_by_model(events: pd.DataFrame, per_conversation: bool = False) -> pd.DataFrame:
    """Spend per model: the increments of :func:`cost_over_time` summed.

    Args:
        events: an events frame.
        per_conversation: one row per (conversation, model) instead of per model.

    Returns:
        ``conversation_id`` (with ``per_conversation``), ``model`` (missing when never named), then
        ``cost_usd`` (Float64, USD), ``prompt_tokens``, ``completion_tokens`` (Int64) and
        ``updates`` (reporting rows). Most expensive first.
    """
    keys = ["conversation_id", "model"] if per_conversation else ["model"]
    columns = {k: "string" for k in keys} | BY_MODEL_COLUMNS
    rows = cost_over_time(events)
    if rows.empty:
        return typed(pd.DataFrame(), columns)
    g = rows.groupby(keys, dropna=False, sort=True)
    out = pd.DataFrame(
        {
            "cost_usd": g["cost_delta"].sum(min_count=1),
            "prompt_tokens": g["prompt_tokens_delta"].sum(min_count=1),
            "completion_tokens": g["completion_tokens_delta"].sum(min_count=1),
            "updates": g.size(),
        }
    ).reset_index()
    out = out.sort_values("cost_usd", ascending=False, kind="stable", na_position="last")
    return typed(out, columns)
