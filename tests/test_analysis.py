"""The first analyses, with expected numbers worked out in the test from the inputs."""

from __future__ import annotations

import collections
import json

import pandas as pd
import pytest

from ohnb.analysis import delivery_lag, event_type_counts, reconnect_summary, replay_latency
from ohnb.normalize import normalize_v0
from ohnb.schema import ATTEMPT_COLUMNS, EVENT_COLUMNS, empty_frame, frame_from_rows
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def export_frame():
    history = json.loads((FIXTURES / "v0_trajectory_export_297ev.json").read_text())["trajectory"]
    return history, frame_from_rows([normalize_v0(e, delivery="stored") for e in history], EVENT_COLUMNS)


def test_event_type_counts_of_the_297_event_export(export_frame):
    history, frame = export_frame
    counts = event_type_counts(frame)
    want = collections.Counter(
        ("action", e["action"]) if "action" in e else ("observation", e["observation"]) for e in history
    )
    got = {(k, t): c for k, t, c in counts[["kind", "type", "count"]].itertuples(index=False)}
    assert got == dict(want)
    assert counts["count"].is_monotonic_decreasing
    assert counts["share"].sum() == pytest.approx(1.0)
    assert counts.iloc[0]["type"] == "run"  # 65 run actions and 65 run observations lead


def test_event_type_counts_by_source_keeps_missing_groups():
    rows = [normalize_v0(p) for p in ({"status_update": True, "id": "STATUS$READY"}, {"id": 1, "source": "user", "action": "message", "args": {}})]
    counts = event_type_counts(frame_from_rows(rows, EVENT_COLUMNS), by=("kind", "source"))
    assert len(counts) == 2 and counts["count"].sum() == 2


def _at(seconds: float) -> float:
    return 1_700_000_000.0 + seconds


def test_reconnect_summary_definitions():
    attempts = frame_from_rows(
        [
            dict(attempt=1, started_at=_at(0), connected_at=_at(1), ended_at=_at(10), delay_s=0.0,
                 outcome="connected", events_replayed=100, events_live=20, duplicates=0),
            dict(attempt=2, started_at=_at(10.5), ended_at=_at(11), delay_s=0.5,
                 outcome="transport_error", events_replayed=3, events_live=0, duplicates=0),
            dict(attempt=3, started_at=_at(12), connected_at=_at(13), ended_at=_at(20), delay_s=1.0,
                 outcome="connected", events_replayed=5, events_live=7, duplicates=2),
        ],
        ATTEMPT_COLUMNS,
    )
    summary = reconnect_summary(attempts).iloc[0]
    assert summary["attempts"] == 3
    assert summary["connected"] == 2 and summary["transport_error"] == 1
    assert summary["reconnects"] == 2
    assert summary["downtime_s"] == pytest.approx(13 - 10)  # first end -> next connect
    assert summary["backoff_waited_s"] == pytest.approx(1.5)
    assert (summary["events_replayed"], summary["events_live"], summary["duplicates"]) == (108, 27, 2)


def test_replay_latency_per_attempt():
    attempts = frame_from_rows(
        [
            dict(attempt=1, started_at=_at(0), connected_at=_at(2), ended_at=_at(5), outcome="connected",
                 events_replayed=4, events_live=1),
            dict(attempt=2, started_at=_at(6), ended_at=_at(7), outcome="timeout", events_replayed=0,
                 events_live=0),
        ],
        ATTEMPT_COLUMNS,
    )
    events = frame_from_rows(
        [dict(id=i, attempt=1, received_at=_at(0.5 + i)) for i in range(5)], EVENT_COLUMNS
    )
    out = replay_latency(events, attempts)
    assert out["time_to_first_event_s"].tolist()[0] == pytest.approx(0.5)
    assert pd.isna(out["time_to_first_event_s"].iloc[1])
    assert out["time_to_history_complete_s"].iloc[0] == pytest.approx(2.0)
    assert out["replay_rate_eps"].iloc[0] == pytest.approx(2.0)
    assert pd.isna(out["time_to_history_complete_s"].iloc[1])


def test_delivery_lag_uses_the_given_server_zone():
    events = frame_from_rows(
        [dict(id=1, type="run", delivery="live", attempt=1, timestamp="2026-01-01T12:00:00",
              received_at=pd.Timestamp("2026-01-01T11:00:01.5Z").timestamp())],
        EVENT_COLUMNS,
    )
    lag = delivery_lag(events, server_tz="Europe/Paris")  # UTC+1 in January
    assert lag["lag_s"].iloc[0] == pytest.approx(1.5)


@pytest.mark.parametrize("fn", [
    lambda: event_type_counts(empty_frame(EVENT_COLUMNS)),
    lambda: reconnect_summary(empty_frame(ATTEMPT_COLUMNS)),
    lambda: replay_latency(empty_frame(EVENT_COLUMNS), empty_frame(ATTEMPT_COLUMNS)),
    lambda: delivery_lag(empty_frame(EVENT_COLUMNS)),
])
def test_analyses_accept_empty_frames(fn):
    out = fn()
    assert isinstance(out, pd.DataFrame)
