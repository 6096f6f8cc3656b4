"""Every analysis, figure and accessor method on edge cases: empty frames, single events, arbitrary
payloads, attempts frames of any shape. None may fail; each returns its documented columns."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

import ohnb
from ohnb import analysis
from ohnb.analysis.actions import ACTION_LATENCY_COLUMNS, UNANSWERED_COLUMNS
from ohnb.analysis.actions import SUMMARY_COLUMNS as LATENCY_SUMMARY_COLUMNS
from ohnb.analysis.conversations import SUMMARY_COLUMNS as CONVERSATION_COLUMNS
from ohnb.analysis.costs import COST_COLUMNS
from ohnb.analysis.reconnects import ATTEMPT_DETAIL_COLUMNS
from ohnb.analysis.reconnects import SUMMARY_COLUMNS as RECONNECT_COLUMNS
from ohnb.analysis.states import TIME_IN_STATE_COLUMNS, TIMELINE_COLUMNS
from ohnb.normalize import normalize_v0
from ohnb.normalize_v1 import normalize_v1
from ohnb.schema import ATTEMPT_COLUMNS, EVENT_COLUMNS, empty_frame, frame_from_rows
from tests.conftest import FIXTURES

#: name -> (function of an events frame, documented columns or None)
EVENT_ANALYSES = {
    "event_type_counts": (analysis.event_type_counts, None),
    "event_rate": (analysis.event_rate, None),
    "action_latency": (analysis.action_latency, ACTION_LATENCY_COLUMNS),
    "action_latency_summary": (analysis.action_latency_summary, {"action_type": "string"} | LATENCY_SUMMARY_COLUMNS),
    "unanswered_actions": (analysis.unanswered_actions, UNANSWERED_COLUMNS),
    "cost_over_time": (analysis.cost_over_time, COST_COLUMNS),
    "cost_by_model": (analysis.cost_by_model, None),
    "agent_state_timeline": (analysis.agent_state_timeline, TIMELINE_COLUMNS),
    "time_in_state": (analysis.time_in_state, TIME_IN_STATE_COLUMNS),
    "conversation_summary": (analysis.conversation_summary, CONVERSATION_COLUMNS),
    "delivery_lag": (analysis.delivery_lag, None),
}
PLOTS = ["plot_timeline", "plot_event_rate", "plot_type_histogram", "plot_latency_distribution",
         "plot_agent_states", "plot_cost"]  # fmt: skip


def _check(frame: pd.DataFrame, columns: dict[str, str] | None) -> None:
    assert isinstance(frame, pd.DataFrame)
    if columns is not None:
        assert list(frame.columns) == list(columns)
        reference = empty_frame(columns).dtypes
        assert (frame.dtypes == reference).all(), frame.dtypes[frame.dtypes != reference]


def _run_all(events: pd.DataFrame) -> None:
    before = events.copy()
    for name, (fn, columns) in EVENT_ANALYSES.items():
        _check(fn(events), columns)
        _check(getattr(events.ohnb, name)(), columns)
    for name in PLOTS:
        fig = getattr(events.ohnb, name)()
        assert isinstance(fig, Figure) and fig.axes and fig.axes[-1].get_xlabel()
    pd.testing.assert_frame_equal(events, before)  # nothing modified the input


def test_empty_events_frame():
    empty = empty_frame(EVENT_COLUMNS)
    _run_all(empty)
    assert analysis.event_type_counts(empty).empty
    assert analysis.conversation_summary(empty).empty


def test_frames_cut_down_to_a_few_columns():
    df = ohnb.load(FIXTURES / "v0_wrong_initial_state.json")
    _run_all(df[["kind", "type", "timestamp"]])
    _run_all(df[["event_id"]])


def _pool() -> list[dict]:
    export = json.loads((FIXTURES / "v0_basic_gui_mode.json").read_text())
    lines = (FIXTURES / "captures" / "v1_real_server_mock_llm_stream_capture.jsonl").read_text().splitlines()
    frames = [json.loads(x)["data"] for x in lines if x.strip() and "data" in json.loads(x)]
    status = [{"status_update": True, "type": "info", "id": "STATUS$READY", "message": ""}, {"error": True, "message": "x"}]
    return export + frames + status


POOL = _pool()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(POOL) - 1), cid=st.sampled_from([None, "c1"]), at=st.one_of(st.none(), st.floats(1e9, 2e9)))
def test_any_single_event(index, cid, at):
    payload = POOL[index]
    norm = normalize_v1 if "kind" in payload else normalize_v0
    frame = frame_from_rows([norm(payload, conversation_id=cid, received_at=at, attempt=1)], EVENT_COLUMNS)
    _run_all(frame)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads=st.lists(_json, min_size=1, max_size=4))
def test_garbage_payloads(payloads):
    frame = frame_from_rows([normalize_v0(p) for p in payloads] + [normalize_v1(p) for p in payloads], EVENT_COLUMNS)
    _run_all(frame)


_times = st.one_of(st.none(), st.floats(1.7e9, 1.7e9 + 100))
_attempt = st.fixed_dictionaries(
    {"started_at": _times, "connected_at": _times, "ended_at": _times,
     "delay_s": st.one_of(st.none(), st.floats(0, 10)),
     "outcome": st.sampled_from(["connected", "refused", "timeout", "transport_error", "closed_by_user", None]),
     "events_replayed": st.one_of(st.none(), st.integers(0, 50))}
)  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_attempt, max_size=5))
def test_any_attempts_frame(rows):
    attempts = frame_from_rows([{**r, "attempt": n + 1} for n, r in enumerate(rows)], ATTEMPT_COLUMNS)
    _check(analysis.reconnect_summary(attempts), RECONNECT_COLUMNS)
    detail = attempts.ohnb.reconnect_attempts()
    _check(detail, ATTEMPT_DETAIL_COLUMNS)
    assert len(detail) == len(rows)
    assert isinstance(attempts.ohnb.plot_reconnect_timeline(), Figure)
    events = frame_from_rows([{"event_id": "1", "attempt": 1, "received_at": 1.7e9 + 1}], EVENT_COLUMNS)
    assert len(analysis.replay_latency(events, attempts)) == len(rows)


def test_reconnect_attempts_definitions():
    def at(seconds: float) -> float:
        return 1_700_000_000.0 + seconds

    attempts = frame_from_rows(
        [
            dict(attempt=1, started_at=at(0), connected_at=at(1), ended_at=at(10), delay_s=0.0, outcome="connected"),
            dict(attempt=2, started_at=at(10.5), ended_at=at(11), delay_s=0.5, outcome="transport_error"),
            dict(attempt=3, started_at=at(12), connected_at=at(13.5), ended_at=at(20), delay_s=1.0, outcome="connected"),
        ],
        ATTEMPT_COLUMNS,
    )
    detail = analysis.reconnect_attempts(attempts)
    assert detail["backoff_s"].tolist() == [0.0, 0.5, 1.0]
    assert detail["time_to_connect_s"].tolist()[0] == 1.0 and pd.isna(detail["time_to_connect_s"].iloc[1])
    assert detail["time_to_connect_s"].iloc[2] == pytest.approx(1.5)
    assert detail["connected_for_s"].tolist()[0] == 9.0
    assert pd.isna(detail["time_to_reconnect_s"].iloc[0]) and pd.isna(detail["time_to_reconnect_s"].iloc[1])
    assert detail["time_to_reconnect_s"].iloc[2] == pytest.approx(13.5 - 10)
    summary = analysis.reconnect_summary(attempts).iloc[0]
    assert summary["max_time_to_reconnect_s"] == pytest.approx(3.5) == summary["downtime_s"]
    fig = analysis.plot_reconnect_timeline(attempts)
    assert fig.axes[0].get_xlabel() == "time since the first attempt started (s)"


def test_plots_draw_into_a_given_axes():
    from matplotlib.figure import Figure as Fig

    df = ohnb.load(FIXTURES / "v0_multi_swe_bench_output.jsonl")
    fig = Fig()
    ax = fig.add_subplot()
    assert analysis.plot_latency_distribution(df, ax=ax) is fig
    assert ax.get_xscale() == "log" and "latency (s" in ax.get_xlabel()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert any(label.startswith("run (n=") for label in labels)


def test_figure_labels_and_units():
    df = ohnb.load(FIXTURES / "v0_trajectory_export_297ev.json")
    timeline = df.ohnb.plot_timeline().axes[0]
    assert timeline.get_xlabel() == "time since the conversation's first event (h)"  # ~34 h span
    assert timeline.get_ylabel() == "type"
    hist = df.ohnb.plot_type_histogram().axes[0]
    assert hist.get_xlabel() == "events (count)"
    assert [t.get_text() for t in hist.get_yticklabels()][:2] == ["run (action)", "run (observation)"]
    cost = df.ohnb.plot_cost()
    assert cost.axes[0].get_ylabel() == "accumulated cost (USD)"
    assert {t.get_text() for t in cost.axes[0].get_legend().get_texts()} == {
        "litellm_proxy/gpt-5-2025-08-07", "litellm_proxy/claude-sonnet-4-20250514"
    }
    states = df.ohnb.plot_agent_states().axes[0]
    assert states.get_xlabel().endswith("(h)")
    rate = df.ohnb.plot_event_rate(freq="1h").axes[0]
    assert rate.get_ylabel() == "events per minute"


def test_accessor_save(tmp_path):
    df = ohnb.load(FIXTURES / "v0_wrong_initial_state.json")
    path = df.ohnb.save(tmp_path / "x.parquet")
    pd.testing.assert_frame_equal(ohnb.load(path), df)
