"""Action -> observation latency: how long each tool call took to be answered.

An observation answers the action whose id it names: V0 ``cause`` (``openhands/events/observation/
observation.py``), V1 ``action_id`` (``ObservationEvent``, ``UserRejectObservation``); both are in
the ``cause_id`` column. A V1 ``AgentErrorEvent`` names no action, only its ``tool_call_id``: it
answers the action with that tool call id. Latencies are differences of the events' own
``timestamp``s, both written by the server's clock, so no clock-offset caveat applies.

An action *expects* an answer when it is a V1 ``ActionEvent`` (every V1 tool call gets an
observation, an error or a rejection) or a V0 runnable action (``run``, ``run_ipython``, ``read``,
``write``, ``edit``, ``browse``, ``browse_interactive``, ``call_tool_mcp``: ``Action.runnable`` in
``openhands/events/action/``). Other actions (messages, ``think``, ``finish``, ``recall``...) are
listed only when something answered them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ohnb.analysis._util import seconds, typed, with_columns

#: V0 action types the runtime executes (``runnable = True``): each gets an observation.
RUNNABLE_V0 = frozenset(
    {"run", "run_ipython", "read", "write", "edit", "browse", "browse_interactive", "call_tool_mcp"}
)

#: Columns of :func:`action_latency`.
ACTION_LATENCY_COLUMNS = {
    "conversation_id": "string",
    "action_event_id": "string",
    "action_type": "string",
    "tool": "string",
    "action_timestamp": "datetime64[ns]",
    "observation_event_id": "string",
    "observation_type": "string",
    "observation_timestamp": "datetime64[ns]",
    "latency_s": "Float64",
    "answered": "boolean",
    "expects_observation": "boolean",
}

#: Columns of :func:`action_latency_summary` besides the group column.
SUMMARY_COLUMNS = {
    "actions": "Int64",
    "answered": "Int64",
    "unanswered": "Int64",
    "median_s": "Float64",
    "mean_s": "Float64",
    "p90_s": "Float64",
    "max_s": "Float64",
}

#: Columns of :func:`unanswered_actions`.
UNANSWERED_COLUMNS = {
    "conversation_id": "string",
    "action_event_id": "string",
    "action_type": "string",
    "tool": "string",
    "action_timestamp": "datetime64[ns]",
    "content": "string",
    "events_after": "Int64",
}

_NEEDED = ("conversation_id", "event_id", "kind", "type", "v1_kind", "cause_id", "tool_call_id",
           "tool", "timestamp", "content")  # fmt: skip


def _key(value: Any) -> Any:
    return None if value is None or value is pd.NA else value


def _objects(series: pd.Series) -> list[Any]:
    """The values as Python objects, missing ones as None (never pd.NA, whose truth is ambiguous)."""
    return [None if v is pd.NA or v is None or v != v else v for v in series.astype(object).tolist()]


def action_latency(events: pd.DataFrame) -> pd.DataFrame:
    """One row per action that was answered or expected an answer, with its first answer.

    Returns:
        Columns ``ACTION_LATENCY_COLUMNS``: the action (``action_event_id``, ``action_type``,
        ``tool``, ``action_timestamp``), its first observation in stored order
        (``observation_event_id``, ``observation_type``, ``observation_timestamp``), ``latency_s``
        (Float64 seconds, observation timestamp minus action timestamp; missing when unanswered or a
        timestamp is missing), ``answered`` and ``expects_observation`` (boolean). Rows in stored
        order.
    """
    events = with_columns(events, _NEEDED)
    if events.empty:
        return typed(pd.DataFrame(), ACTION_LATENCY_COLUMNS)
    frame = events.reset_index(drop=True)
    conv = _objects(frame["conversation_id"])
    kinds = _objects(frame["kind"])
    causes = _objects(frame["cause_id"])
    calls = _objects(frame["tool_call_id"])
    by_cause: dict[tuple[Any, Any], int] = {}
    by_call: dict[tuple[Any, Any], int] = {}
    for pos, (cid, kind, cause, call) in enumerate(zip(conv, kinds, causes, calls, strict=True)):
        if kind != "observation":
            continue
        if _key(cause) is not None:
            by_cause.setdefault((_key(cid), cause), pos)
        elif _key(call) is not None:
            by_call.setdefault((_key(cid), call), pos)
    ids = _objects(frame["event_id"])
    types = _objects(frame["type"])
    v1 = _objects(frame["v1_kind"])
    action_pos: list[int] = []
    answer_pos: list[int | None] = []
    expects: list[bool] = []
    for pos, kind in enumerate(kinds):
        if kind != "action":
            continue
        cid, eid = _key(conv[pos]), _key(ids[pos])
        answer = by_cause.get((cid, eid)) if eid is not None else None
        if answer is None and _key(calls[pos]) is not None:
            answer = by_call.get((cid, calls[pos]))
            if answer is not None and answer < pos:
                answer = None
        expected = v1[pos] == "ActionEvent" if _key(v1[pos]) is not None else types[pos] in RUNNABLE_V0
        if answer is None and not expected:
            continue
        action_pos.append(pos)
        answer_pos.append(answer)
        expects.append(bool(expected))
    if not action_pos:
        return typed(pd.DataFrame(), ACTION_LATENCY_COLUMNS)
    actions = frame.iloc[action_pos].reset_index(drop=True)
    answered = [a is not None for a in answer_pos]
    answers = frame.reindex([a if a is not None else -1 for a in answer_pos]).reset_index(drop=True)
    out = pd.DataFrame(
        {
            "conversation_id": actions["conversation_id"],
            "action_event_id": actions["event_id"],
            "action_type": actions["type"],
            "tool": actions["tool"],
            "action_timestamp": actions["timestamp"],
            "observation_event_id": answers["event_id"],
            "observation_type": answers["type"],
            "observation_timestamp": answers["timestamp"],
        }
    )
    out["latency_s"] = seconds(out["observation_timestamp"] - out["action_timestamp"])
    out["answered"] = pd.array(answered, dtype="boolean")
    out["expects_observation"] = pd.array(expects, dtype="boolean")
    return typed(out, ACTION_LATENCY_COLUMNS)


def action_latency_summary(events: pd.DataFrame, by: str | None = "action_type") -> pd.DataFrame:
    """Latency statistics of :func:`action_latency`, per action type (or ``tool``, or overall).

    Args:
        events: an events frame.
        by: ``"action_type"`` (default), ``"tool"``, ``"conversation_id"``, or None for one row
            over all actions.

    Returns:
        The ``by`` column (absent when None), then ``actions`` (rows of :func:`action_latency`),
        ``answered``, ``unanswered`` (expected an answer and got none), and over the answered ones
        with both timestamps ``median_s``, ``mean_s``, ``p90_s`` (90th percentile, linear
        interpolation), ``max_s`` (Float64 seconds). Most actions first.
    """
    rows = action_latency(events)
    rows = rows.assign(_all="all") if by is None else rows
    key = "_all" if by is None else by
    if key not in rows.columns:
        raise ValueError(f"by={by!r} is not a column of action_latency()")
    columns = ({} if by is None else {by: "string"}) | SUMMARY_COLUMNS
    if rows.empty:
        return typed(pd.DataFrame(), columns)
    lat = rows["latency_s"].astype("float64")
    unanswered = (~rows["answered"].astype(bool)) & rows["expects_observation"].astype(bool)
    grouped = rows.assign(_lat=lat, _un=unanswered.astype(int), _ans=rows["answered"].astype(int))
    g = grouped.groupby(key, dropna=False, sort=True)
    out = pd.DataFrame(
        {
            "actions": g.size(),
            "answered": g["_ans"].sum(),
            "unanswered": g["_un"].sum(),
            "median_s": g["_lat"].median(),
            "mean_s": g["_lat"].mean(),
            "p90_s": g["_lat"].quantile(0.9),
            "max_s": g["_lat"].max(),
        }
    ).reset_index()
    out = out.sort_values("actions", ascending=False, kind="stable")
    return typed(out, columns)


def unanswered_actions(events: pd.DataFrame) -> pd.DataFrame:
    """The actions that expected an answer and never got one.

    Returns:
        Columns ``UNANSWERED_COLUMNS``: the action, its ``content`` (command, URL, ...), and
        ``events_after``: how many events of its conversation come after it (0: the conversation
        ended on it, e.g. cut off by an iteration limit or a crash). Stored order.
    """
    events = with_columns(events, _NEEDED)
    rows = action_latency(events)
    if rows.empty:
        return typed(pd.DataFrame(), UNANSWERED_COLUMNS)
    missing = rows[(~rows["answered"].astype(bool)) & rows["expects_observation"].astype(bool)]
    if missing.empty:
        return typed(pd.DataFrame(), UNANSWERED_COLUMNS)
    frame = events.reset_index(drop=True)
    position = {
        (_key(c), e): n
        for n, (c, e) in enumerate(zip(frame["conversation_id"].astype(object), frame["event_id"].astype(object), strict=True))
        if _key(e) is not None
    }  # fmt: skip
    last = frame.assign(_n=range(len(frame))).groupby("conversation_id", dropna=False)["_n"].max()
    last_of = {_key(k): v for k, v in last.items()}
    after, content = [], []
    for cid, eid in zip(missing["conversation_id"].astype(object), missing["action_event_id"].astype(object), strict=True):
        pos = position.get((_key(cid), eid))
        after.append(None if pos is None else int(last_of.get(_key(cid), pos) - pos))
        content.append(None if pos is None else frame["content"].iloc[pos])
    out = missing.assign(content=content, events_after=pd.array(after, dtype="Int64"))
    return typed(out, UNANSWERED_COLUMNS)
