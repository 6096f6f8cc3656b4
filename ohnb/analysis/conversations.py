"""One row per conversation: size, turns, span, final state, spend."""

from __future__ import annotations

import pandas as pd

from ohnb.analysis._util import seconds, typed, with_columns
from ohnb.analysis.actions import unanswered_actions
from ohnb.analysis.states import state_changes

#: Columns of :func:`conversation_summary`.
SUMMARY_COLUMNS = {
    "conversation_id": "string",
    "events": "Int64",
    "actions": "Int64",
    "observations": "Int64",
    "errors": "Int64",
    "user_turns": "Int64",
    "agent_messages": "Int64",
    "first_timestamp": "datetime64[ns]",
    "last_timestamp": "datetime64[ns]",
    "duration_s": "Float64",
    "final_agent_state": "string",
    "accumulated_cost": "Float64",
    "prompt_tokens": "Int64",
    "completion_tokens": "Int64",
    "unanswered_actions": "Int64",
}

_NEEDED = ("conversation_id", "kind", "type", "source", "timestamp", "agent_state",
           "accumulated_cost", "prompt_tokens", "completion_tokens")  # fmt: skip


def conversation_summary(events: pd.DataFrame) -> pd.DataFrame:
    """Per conversation (first appearance order):

    - ``events``; ``actions``, ``observations``; ``errors``: rows of kind ``error`` plus
      observations of type ``error`` (V0 ErrorObservation, V1 AgentErrorEvent);
    - ``user_turns``: messages from the user (kind ``action``, type ``message``, source ``user``);
      ``agent_messages``: the same from the agent;
    - ``first_timestamp``, ``last_timestamp``, ``duration_s`` (server time, Float64 seconds);
    - ``final_agent_state``: the last state reported (see ``ohnb.analysis.states``);
    - ``accumulated_cost`` (USD), ``prompt_tokens``, ``completion_tokens``: the last running totals;
    - ``unanswered_actions``: see ``ohnb.analysis.actions.unanswered_actions``.
    """
    events = with_columns(events, _NEEDED)
    if events.empty:
        return typed(pd.DataFrame(), SUMMARY_COLUMNS)
    kind, etype = events["kind"], events["type"]
    flags = pd.DataFrame(
        {
            "conversation_id": events["conversation_id"],
            "actions": (kind == "action").fillna(False).astype(int),
            "observations": (kind == "observation").fillna(False).astype(int),
            "errors": ((kind == "error") | ((kind == "observation") & (etype == "error")))
            .fillna(False)
            .astype(int),
            "user_turns": ((kind == "action") & (etype == "message") & (events["source"] == "user"))
            .fillna(False)
            .astype(int),
            "agent_messages": (
                (kind == "action") & (etype == "message") & (events["source"] == "agent")
            )
            .fillna(False)
            .astype(int),
            "timestamp": events["timestamp"],
        }
    )
    g = flags.groupby("conversation_id", dropna=False, sort=False)
    out = g[["actions", "observations", "errors", "user_turns", "agent_messages"]].sum()
    out.insert(0, "events", g.size())
    out["first_timestamp"] = g["timestamp"].min()
    out["last_timestamp"] = g["timestamp"].max()
    out["duration_s"] = seconds(out["last_timestamp"] - out["first_timestamp"])
    changes = state_changes(events)
    out["final_agent_state"] = changes.groupby("conversation_id", dropna=False)["agent_state"].last()
    for column in ("accumulated_cost", "prompt_tokens", "completion_tokens"):
        have = events.dropna(subset=[column])
        out[column] = have.groupby("conversation_id", dropna=False)[column].last()
    missing = unanswered_actions(events)
    out["unanswered_actions"] = missing.groupby("conversation_id", dropna=False).size()
    out["unanswered_actions"] = out["unanswered_actions"].fillna(0)
    return typed(out.reset_index(), SUMMARY_COLUMNS)
