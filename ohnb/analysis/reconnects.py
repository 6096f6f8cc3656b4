"""Connection attempts: per attempt, and summed up.

Input: ``Conversation.attempts`` (``ohnb.schema.ATTEMPT_COLUMNS``): one row per connection attempt,
times in UTC measured by ohnb's own clock, ``delay_s`` the backoff actually waited before the attempt
(full jitter, ``ohnb.retry``).
"""

from __future__ import annotations

import pandas as pd

from ohnb.analysis._util import seconds, typed

#: Columns of :func:`reconnect_attempts`.
ATTEMPT_DETAIL_COLUMNS = {
    "attempt": "Int64",
    "outcome": "string",
    "started_at": "datetime64[ns, UTC]",
    "connected_at": "datetime64[ns, UTC]",
    "ended_at": "datetime64[ns, UTC]",
    "backoff_s": "Float64",
    "time_to_connect_s": "Float64",
    "connected_for_s": "Float64",
    "time_to_reconnect_s": "Float64",
    "events_replayed": "Int64",
    "events_live": "Int64",
    "duplicates": "Int64",
    "error": "string",
    "disconnect_reason": "string",
}

#: Columns of :func:`reconnect_summary`.
SUMMARY_COLUMNS = {
    "attempts": "Int64",
    "connected": "Int64",
    "refused": "Int64",
    "timeout": "Int64",
    "transport_error": "Int64",
    "closed_by_user": "Int64",
    "reconnects": "Int64",
    "downtime_s": "Float64",
    "mean_time_to_reconnect_s": "Float64",
    "max_time_to_reconnect_s": "Float64",
    "backoff_waited_s": "Float64",
    "events_replayed": "Int64",
    "events_live": "Int64",
    "duplicates": "Int64",
}


def reconnect_summary(attempts: pd.DataFrame) -> pd.DataFrame:
    """Summarize an attempts frame (``Conversation.attempts``) in one row.

    Definitions:
        attempts: rows in the frame; ``connected``/``refused``/``timeout``/``transport_error``/
        ``closed_by_user``: attempts with that outcome.
        reconnects: attempts started after the first attempt that connected.
        downtime_s: seconds without an open connection between the first connect and the last
            attempt's connect: for each connected attempt after the first, its ``connected_at`` minus the
            ``ended_at`` of the previous attempt that had connected.
        mean_time_to_reconnect_s / max_time_to_reconnect_s: over the outages, the time from losing
            a connection to the next connect (``time_to_reconnect_s`` of :func:`reconnect_attempts`);
            missing when there was no reconnect.
        backoff_waited_s: the sum of ``delay_s`` (backoff actually waited before attempts), seconds.
        events_replayed / events_live / duplicates: sums over attempts.

    Returns:
        A one-row DataFrame with the columns of ``SUMMARY_COLUMNS`` (all zeros for an empty frame).
    """
    outcome = attempts["outcome"] if "outcome" in attempts else pd.Series(dtype="string")
    connected_at = attempts.get("connected_at", pd.Series(dtype="datetime64[ns, UTC]"))
    opened = attempts[connected_at.notna()] if len(attempts) else attempts
    reconnects = 0
    downtime = 0.0
    if len(opened):
        first = opened.index[0]
        reconnects = int((attempts.index > first).sum())
        ends = opened["ended_at"].tolist()
        starts = opened["connected_at"].tolist()
        for prev_end, start in zip(ends[:-1], starts[1:], strict=True):
            if pd.notna(prev_end) and pd.notna(start):
                downtime += max(0.0, (start - prev_end).total_seconds())

    def total(column: str) -> float:
        return float(attempts[column].fillna(0).sum()) if column in attempts and len(attempts) else 0

    row = {
        "attempts": len(attempts),
        "connected": int((outcome == "connected").sum()),
        "refused": int((outcome == "refused").sum()),
        "timeout": int((outcome == "timeout").sum()),
        "transport_error": int((outcome == "transport_error").sum()),
        "closed_by_user": int((outcome == "closed_by_user").sum()),
        "reconnects": reconnects,
        "downtime_s": downtime,
        "mean_time_to_reconnect_s": _outages(attempts).mean() if len(attempts) else None,
        "max_time_to_reconnect_s": _outages(attempts).max() if len(attempts) else None,
        "backoff_waited_s": total("delay_s"),
        "events_replayed": int(total("events_replayed")),
        "events_live": int(total("events_live")),
        "duplicates": int(total("duplicates")),
    }
    return pd.DataFrame([row]).astype(SUMMARY_COLUMNS)


def _outages(attempts: pd.DataFrame) -> pd.Series:
    values = reconnect_attempts(attempts)["time_to_reconnect_s"].dropna().astype("float64")
    return values if len(values) else pd.Series([float("nan")])


def reconnect_attempts(attempts: pd.DataFrame) -> pd.DataFrame:
    """One row per connection attempt, with the durations that matter.

    Definitions (seconds, Float64, ohnb's clock):
        backoff_s: the delay waited before the attempt (``delay_s``).
        time_to_connect_s: ``connected_at`` minus ``started_at`` (for a V0 server: the history replay
            included); missing when the attempt never connected.
        connected_for_s: ``ended_at`` minus ``connected_at``: how long the connection lasted
            (missing while it is open or if it never opened).
        time_to_reconnect_s: for a connected attempt after the first connected one, its
            ``connected_at`` minus the ``ended_at`` of the previous connected attempt: the outage,
            backoffs and failed attempts included. Missing otherwise.

    Returns:
        Columns ``ATTEMPT_DETAIL_COLUMNS``, in attempt order. Missing input columns are treated as
        empty.
    """
    if attempts.empty:
        return typed(pd.DataFrame(), ATTEMPT_DETAIL_COLUMNS)
    frame = attempts.reset_index(drop=True)
    blank = pd.Series([None] * len(frame), dtype=object)

    def col(name: str) -> pd.Series:
        return frame[name] if name in frame.columns else blank

    def utc(name: str) -> pd.Series:
        return pd.to_datetime(col(name), utc=True)

    started, connected, ended = utc("started_at"), utc("connected_at"), utc("ended_at")
    out = pd.DataFrame(
        {
            "attempt": col("attempt"),
            "outcome": col("outcome"),
            "started_at": started,
            "connected_at": connected,
            "ended_at": ended,
            "backoff_s": pd.to_numeric(col("delay_s")),
            "time_to_connect_s": seconds(connected - started),
            "connected_for_s": seconds(ended - connected),
            "events_replayed": col("events_replayed"),
            "events_live": col("events_live"),
            "duplicates": col("duplicates"),
            "error": col("error"),
            "disconnect_reason": col("disconnect_reason"),
        }
    )
    reconnect: list[float | None] = [None] * len(out)
    previous_end = None
    seen_connected = False
    for n in range(len(out)):
        if pd.isna(connected.iloc[n]):
            continue
        if seen_connected and previous_end is not None and not pd.isna(previous_end):
            reconnect[n] = max(0.0, (connected.iloc[n] - previous_end).total_seconds())
        seen_connected = True
        previous_end = ended.iloc[n]
    out["time_to_reconnect_s"] = pd.array(reconnect, dtype="Float64")
    return typed(out, ATTEMPT_DETAIL_COLUMNS)
