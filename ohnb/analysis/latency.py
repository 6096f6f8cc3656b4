"""Replay latency (per connection attempt) and per-event delivery lag.

Both need a live recording (``Conversation.events`` / ``.attempts``, or their saved copies): rows read
from stored files have no receive time.
"""

from __future__ import annotations

import pandas as pd

from ohnb.analysis._util import typed, with_columns

#: Columns of :func:`replay_latency`.
REPLAY_COLUMNS = {
    "attempt": "Int64",
    "started_at": "datetime64[ns, UTC]",
    "time_to_first_event_s": "Float64",
    "time_to_history_complete_s": "Float64",
    "events_replayed": "Int64",
    "replay_rate_eps": "Float64",
    "events_live": "Int64",
}


def replay_latency(events: pd.DataFrame, attempts: pd.DataFrame) -> pd.DataFrame:
    """How fast each connection attempt delivered its history.

    Definitions (all in seconds, measured on this machine's clock, so no clock-offset caveat):
        time_to_first_event_s: ``received_at`` of the first row the attempt stored (replayed or live)
            minus the attempt's ``started_at``; missing if it stored none.
        time_to_history_complete_s: ``connected_at`` minus ``started_at``. A V0 server replays the
            history before its CONNECT packet, so CONNECT marks the end of the replay; missing for an
            attempt that never connected.
        replay_rate_eps: ``events_replayed / time_to_history_complete_s`` (events per second).

    Args:
        events: ``Conversation.events``.
        attempts: ``Conversation.attempts``.

    Returns:
        One row per attempt, columns ``REPLAY_COLUMNS``.
    """
    if attempts.empty:
        return typed(pd.DataFrame(), REPLAY_COLUMNS)
    events = with_columns(events, ("attempt", "received_at"))
    first = events.dropna(subset=["attempt"]).groupby("attempt")["received_at"].min()
    out = pd.DataFrame(
        {"attempt": attempts["attempt"], "started_at": pd.to_datetime(attempts["started_at"], utc=True)}
    )
    first_at = pd.to_datetime(out["attempt"].map(first), utc=True)
    out["time_to_first_event_s"] = (first_at - out["started_at"]).dt.total_seconds()
    out["time_to_history_complete_s"] = (
        pd.to_datetime(attempts["connected_at"], utc=True) - out["started_at"]
    ).dt.total_seconds()
    out["events_replayed"] = attempts["events_replayed"]
    rate = out["events_replayed"].astype("Float64") / out["time_to_history_complete_s"]
    out["replay_rate_eps"] = rate.where(out["time_to_history_complete_s"] > 0)
    out["events_live"] = attempts["events_live"]
    return out.astype(REPLAY_COLUMNS).reset_index(drop=True)


def delivery_lag(events: pd.DataFrame, server_tz: str | None = None) -> pd.DataFrame:
    """Per-event delivery lag: when ohnb received each event minus the event's own timestamp.

    Caveat: V0 timestamps are the server's naive local time (openhands/events/serialization/event.py
    writes ``datetime.now().isoformat()``), so ``lag_s`` is only as good as the guess of the server's
    time zone and the two clocks' agreement: a server in another zone shows an offset of whole hours, and
    replayed history shows its age, not a delay. Compare live rows with live rows.

    Args:
        events: ``Conversation.events``.
        server_tz: the server's time zone (IANA name, e.g. ``"UTC"``, ``"Europe/Paris"``); default: this
            machine's local zone (right for a server on the same machine).

    Returns:
        One row per event that has both times: ``conversation_id`` (string), ``event_id`` (string),
        ``id`` (Int64), ``type`` (string), ``delivery`` (string), ``attempt`` (Int64), ``lag_s``
        (Float64 seconds; negative when the clocks disagree).
    """
    columns = {"conversation_id": "string", "event_id": "string", "id": "Int64", "type": "string",
               "delivery": "string", "attempt": "Int64", "lag_s": "Float64"}  # fmt: skip
    events = with_columns(events, [*list(columns)[:-1], "timestamp", "received_at"])
    have = events.dropna(subset=["timestamp", "received_at"])
    if have.empty:
        return typed(pd.DataFrame(), columns)
    if server_tz is None:
        sent = have["timestamp"].dt.tz_localize(_local_zone(), ambiguous="NaT", nonexistent="NaT")
    else:
        sent = have["timestamp"].dt.tz_localize(server_tz, ambiguous="NaT", nonexistent="NaT")
    out = have.loc[:, ["conversation_id", "event_id", "id", "type", "delivery", "attempt"]].copy()
    out["lag_s"] = (have["received_at"] - sent.dt.tz_convert("UTC")).dt.total_seconds()
    return typed(out, columns)


def _local_zone():
    import datetime

    return datetime.datetime.now().astimezone().tzinfo
