"""Reconnect-attempt summary."""

from __future__ import annotations

import pandas as pd

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
        "backoff_waited_s": total("delay_s"),
        "events_replayed": int(total("events_replayed")),
        "events_live": int(total("events_live")),
        "duplicates": int(total("duplicates")),
    }
    return pd.DataFrame([row]).astype(SUMMARY_COLUMNS)
