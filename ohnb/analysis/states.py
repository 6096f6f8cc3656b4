"""Agent-state timeline: which state the agent was in, from when to when.

State changes: V0 ``agent_state_changed`` observations (``extras.agent_state``; AgentState values in
``openhands/core/schema/agent.py``), V1 ``execution_status`` updates and ``full_state`` snapshots
(mapped to the same names by ``ohnb.normalize_v1``). V0 ``change_agent_state`` *actions* are requests,
not states, and are not used. Times are the events' ``timestamp`` (server clock); rows without one
are left out.
"""

from __future__ import annotations

import pandas as pd

from ohnb.analysis._util import seconds, typed, with_columns

#: Columns of :func:`agent_state_timeline`.
TIMELINE_COLUMNS = {
    "conversation_id": "string",
    "state": "string",
    "start": "datetime64[ns]",
    "end": "datetime64[ns]",
    "duration_s": "Float64",
    "ongoing": "boolean",
}

#: Columns of :func:`time_in_state`.
TIME_IN_STATE_COLUMNS = {
    "conversation_id": "string",
    "state": "string",
    "intervals": "Int64",
    "duration_s": "Float64",
    "share": "Float64",
}


def state_changes(events: pd.DataFrame) -> pd.DataFrame:
    """The rows that say which state the agent is in (see the module), in stored order."""
    events = with_columns(events, ("conversation_id", "kind", "type", "agent_state", "timestamp"))
    is_change = (events["kind"] == "observation") & (events["type"] == "agent_state_changed")
    is_snapshot = (events["kind"] == "status") & (events["type"] == "full_state")
    mask = (is_change | is_snapshot).fillna(False) & events["agent_state"].notna()
    return events.loc[mask & events["timestamp"].notna()]


def agent_state_timeline(events: pd.DataFrame) -> pd.DataFrame:
    """One row per interval the agent spent in one state.

    An interval starts at a state change and ends at the next change to a *different* state
    (repeats of the same state extend it). The last interval of a conversation ends at the
    conversation's last timestamped event and is marked ``ongoing`` (the state held when the
    record ends; its duration is a lower bound).

    Returns:
        Columns ``TIMELINE_COLUMNS``: ``state`` (V0 AgentState names), ``start``, ``end``
        (server time), ``duration_s`` (Float64 seconds), ``ongoing``. Ordered by conversation
        (first appearance) then time.
    """
    events = with_columns(events, ("conversation_id", "timestamp"))
    changes = state_changes(events)
    if changes.empty:
        return typed(pd.DataFrame(), TIMELINE_COLUMNS)
    ends = events.dropna(subset=["timestamp"]).groupby("conversation_id", dropna=False, sort=False)[
        "timestamp"
    ].max()
    rows = []
    for cid, part in changes.groupby("conversation_id", dropna=False, sort=False):
        part = part.sort_values("timestamp", kind="stable")
        states = part["agent_state"].astype(object).tolist()
        times = part["timestamp"].tolist()
        starts = [n for n in range(len(states)) if n == 0 or states[n] != states[n - 1]]
        last_time = ends.get(cid) if not pd.isna(cid) else ends[ends.index.isna()].iloc[0]
        for k, n in enumerate(starts):
            ongoing = k == len(starts) - 1
            end = last_time if ongoing else times[starts[k + 1]]
            rows.append(
                {"conversation_id": cid, "state": states[n], "start": times[n], "end": end,
                 "ongoing": ongoing}
            )  # fmt: skip
    out = pd.DataFrame(rows)
    out["start"] = pd.to_datetime(out["start"])
    out["end"] = pd.to_datetime(out["end"])
    out["duration_s"] = seconds(out["end"] - out["start"])
    return typed(out, TIMELINE_COLUMNS)


def time_in_state(events: pd.DataFrame) -> pd.DataFrame:
    """Total time per conversation and state (from :func:`agent_state_timeline`).

    Returns:
        Columns ``TIME_IN_STATE_COLUMNS``: ``intervals`` (how many), ``duration_s`` (Float64
        seconds), ``share`` (of the conversation's timeline, missing when that is 0 s long). Per
        conversation, the longest first.
    """
    timeline = agent_state_timeline(events)
    if timeline.empty:
        return typed(pd.DataFrame(), TIME_IN_STATE_COLUMNS)
    g = timeline.groupby(["conversation_id", "state"], dropna=False, sort=False)
    out = pd.DataFrame({"intervals": g.size(), "duration_s": g["duration_s"].sum()}).reset_index()
    total = out.groupby("conversation_id", dropna=False, sort=False)["duration_s"].transform("sum")
    out["share"] = (out["duration_s"] / total.where(total > 0)).astype("Float64")
    order = {cid: n for n, cid in enumerate(timeline["conversation_id"].astype(object).unique())}
    out["_order"] = out["conversation_id"].astype(object).map(order)
    out = out.sort_values(["_order", "duration_s"], ascending=[True, False], kind="stable")
    return typed(out, TIME_IN_STATE_COLUMNS)
