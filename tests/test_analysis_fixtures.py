"""The analyses on the real recordings, each expected number worked out here from the raw JSON.

The test walks the files with plain json and datetime and computes what the analysis should say;
it never reads the expected value off ohnb's own output.
"""

from __future__ import annotations

import collections
import json
import statistics
from datetime import datetime
from typing import Any

import pandas as pd
import pytest

import ohnb
from ohnb.analysis import (
    action_latency,
    action_latency_summary,
    agent_state_timeline,
    conversation_summary,
    cost_by_model,
    cost_over_time,
    event_rate,
    event_type_counts,
    time_in_state,
    unanswered_actions,
)
from tests.conftest import FIXTURES

EXPORT = FIXTURES / "v0_trajectory_export_297ev.json"
PONYC = FIXTURES / "v0_multi_swe_bench_output.jsonl"
V1_EVAL = FIXTURES / "v1_eval_output_openagentsafety.jsonl"


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _records(path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.fixture(scope="module")
def export():
    return json.loads(EXPORT.read_text())["trajectory"], ohnb.load(EXPORT)


@pytest.fixture(scope="module")
def ponyc():
    return _records(PONYC), ohnb.load(PONYC)


@pytest.fixture(scope="module")
def v1_eval():
    return _records(V1_EVAL), ohnb.load(V1_EVAL)


# ---------------------------------------------------------------------------------------------
# event types


def test_type_counts_of_the_297_event_export(export):
    raw, df = export
    counts = event_type_counts(df, by=("kind", "type", "source"))
    want = collections.Counter(
        ("action" if "action" in e else "observation", e.get("action") or e.get("observation"), e["source"])
        for e in raw
    )
    got = {tuple(r[:3]): r[3] for r in counts[["kind", "type", "source", "count"]].itertuples(index=False)}
    assert got == dict(want)
    assert counts["count"].sum() == 297
    per_conv = df.ohnb.event_type_counts(by=("conversation_id", "kind"))
    assert per_conv.set_index("kind")["count"].to_dict() == {"action": 150, "observation": 147}


def test_24_user_turns_and_summary(export):
    raw, df = export
    summary = conversation_summary(df).iloc[0]
    assert summary["user_turns"] == sum(e.get("action") == "message" and e["source"] == "user" for e in raw) == 24
    assert summary["agent_messages"] == sum(e.get("action") == "message" and e["source"] == "agent" for e in raw)
    first, last = min(_ts(e["timestamp"]) for e in raw), max(_ts(e["timestamp"]) for e in raw)
    assert summary["duration_s"] == pytest.approx((last - first).total_seconds())
    metrics = [e["llm_metrics"] for e in raw if e.get("llm_metrics")]
    assert summary["accumulated_cost"] == pytest.approx(metrics[-1]["accumulated_cost"])
    assert summary["prompt_tokens"] == metrics[-1]["accumulated_token_usage"]["prompt_tokens"]
    states = [e["extras"]["agent_state"] for e in raw if e.get("observation") == "agent_state_changed"]
    assert summary["final_agent_state"] == states[-1]


def test_event_rate_per_minute_adds_up(export):
    raw, df = export
    rate = event_rate(df, freq="1min", by=("kind",))
    assert rate["count"].sum() == 297
    minutes = collections.Counter(
        (_ts(e["timestamp"]).replace(second=0, microsecond=0), "action" if "action" in e else "observation")
        for e in raw
    )
    got = {(r.window_start.to_pydatetime(), r.kind): r.count for r in rate.itertuples() if r.count}
    assert got == dict(minutes)
    assert (rate["rate_per_min"] == rate["count"]).all()
    span = (max(minutes)[0] - min(minutes)[0]).total_seconds() / 60 + 1
    assert len(rate) == span * 2  # every minute of the span, for both kinds, empty ones with 0
    half = event_rate(df, freq="30s", by=())
    assert half["count"].sum() == 297 and (half["rate_per_min"] == 2 * half["count"]).all()


# ---------------------------------------------------------------------------------------------
# action -> observation latency


def _latencies(history: list[dict[str, Any]]) -> dict[int, float]:
    actions = {e["id"]: e for e in history if "action" in e}
    first: dict[int, dict[str, Any]] = {}
    for e in sorted(history, key=lambda e: e["id"]):
        if "observation" in e and e.get("cause") in actions:
            first.setdefault(e["cause"], e)
    return {c: (_ts(o["timestamp"]) - _ts(actions[c]["timestamp"])).total_seconds() for c, o in first.items()}


def test_median_action_to_observation_latency_of_the_ponyc_histories(ponyc):
    records, df = ponyc
    for record in records:
        want = _latencies(record["history"])
        part = df[df["conversation_id"] == record["instance_id"]]
        overall = action_latency_summary(part, by=None).iloc[0]
        assert overall["answered"] == len(want)
        assert overall["median_s"] == pytest.approx(statistics.median(want.values()))
        assert overall["max_s"] == pytest.approx(max(want.values()))
        rows = action_latency(part).dropna(subset=["latency_s"])
        assert dict(zip(rows["action_event_id"].astype(int), rows["latency_s"], strict=True)) == pytest.approx(want)
    # ponylang__ponyc-4593 (the record test_stores uses): 33 answered actions, median 5.08 ms
    assert statistics.median(_latencies(records[1]["history"]).values()) == pytest.approx(0.00508)


def test_latency_by_type_of_the_ponyc_history(ponyc):
    records, df = ponyc
    history = records[1]["history"]
    types = {e["id"]: e["action"] for e in history if "action" in e}
    by_type: dict[str, list[float]] = collections.defaultdict(list)
    for cause, latency in _latencies(history).items():
        by_type[types[cause]].append(latency)
    part = df[df["conversation_id"] == records[1]["instance_id"]]
    summary = action_latency_summary(part).set_index("action_type")
    for name, values in by_type.items():
        assert summary.loc[name, "answered"] == len(values)
        assert summary.loc[name, "median_s"] == pytest.approx(statistics.median(values))
        assert summary.loc[name, "p90_s"] == pytest.approx(pd.Series(values).quantile(0.9))


def test_v1_eval_unanswered_actions(v1_eval):
    records, df = v1_eval
    want = []
    for record in records:
        history = record["history"] or []
        answered = {e["action_id"] for e in history if e["kind"] == "ObservationEvent"}
        for n, e in enumerate(history):
            if e["kind"] == "ActionEvent" and e["id"] not in answered:
                want.append((record["instance_id"], e["id"], e["tool_name"], len(history) - 1 - n))
    missing = unanswered_actions(df)
    got = list(missing[["conversation_id", "action_event_id", "tool", "events_after"]].itertuples(index=False, name=None))
    assert got == want
    assert len(want) == 4  # fixtures/README.md: "some actions without observation"
    summary = action_latency_summary(df, by="tool").set_index("tool")
    assert summary.loc["browser_click", "unanswered"] == 2 and summary.loc["finish", "unanswered"] == 2


def test_v1_latency_uses_action_id(v1_eval):
    records, df = v1_eval
    want = []
    for record in records:
        history = record["history"] or []
        actions = {e["id"]: e for e in history if e["kind"] == "ActionEvent"}
        for e in history:
            if e["kind"] == "ObservationEvent" and e["action_id"] in actions:
                a = actions[e["action_id"]]
                want.append((_ts(e["timestamp"]) - _ts(a["timestamp"])).total_seconds())
    rows = action_latency(df)
    assert rows["latency_s"].dropna().tolist() == pytest.approx(want)
    run = action_latency_summary(df).set_index("action_type").loc["run"]
    bash = [
        (_ts(o["timestamp"]) - _ts(a["timestamp"])).total_seconds()
        for r in records for a in (r["history"] or []) if a["kind"] == "ActionEvent" and a["tool_name"] == "execute_bash"
        for o in (r["history"] or []) if o["kind"] == "ObservationEvent" and o["action_id"] == a["id"]
    ]  # fmt: skip
    assert run["median_s"] == pytest.approx(statistics.median(bash))


def test_agent_error_event_answers_by_tool_call_id():
    events = [
        {"id": "a1", "kind": "ActionEvent", "timestamp": "2026-01-01T00:00:00", "source": "agent",
         "tool_name": "terminal", "tool_call_id": "call-1", "action": {"kind": "TerminalAction", "command": "x"}},
        {"id": "e1", "kind": "AgentErrorEvent", "timestamp": "2026-01-01T00:00:02.5", "source": "agent",
         "tool_name": "terminal", "tool_call_id": "call-1", "error": "bad arguments"},
    ]
    rows = action_latency(ohnb.load(events, conversation_id="c"))
    assert rows[["observation_event_id", "observation_type"]].values.tolist() == [["e1", "error"]]
    assert rows["latency_s"].iloc[0] == pytest.approx(2.5)


# ---------------------------------------------------------------------------------------------
# cost and tokens


def test_cost_by_model_of_the_export_with_its_model_switch(export):
    raw, df = export
    model, spend, last_cost = None, collections.defaultdict(float), 0.0
    tokens: dict[str, int] = collections.defaultdict(int)
    last_tokens = 0
    for e in raw:  # id order = stored order
        named = ((e.get("tool_call_metadata") or {}).get("model_response") or {}).get("model")
        metrics = e.get("llm_metrics")
        if named:
            model = named
        if metrics:
            cost = metrics["accumulated_cost"]
            prompt = metrics["accumulated_token_usage"]["prompt_tokens"]
            spend[model] += cost - last_cost
            tokens[model] += prompt - last_tokens
            last_cost, last_tokens = cost, prompt
    assert len(spend) == 2  # gpt-5 -> claude-sonnet-4
    got = cost_by_model(df).set_index("model")
    for name, value in spend.items():
        assert got.loc[name, "cost_usd"] == pytest.approx(value)
        assert got.loc[name, "prompt_tokens"] == tokens[name]
    assert got["cost_usd"].sum() == pytest.approx(last_cost)
    over_time = cost_over_time(df)
    assert len(over_time) == sum(1 for e in raw if e.get("llm_metrics"))
    assert (over_time["cost_delta"] >= 0).all()
    drops = over_time[over_time["prompt_tokens_delta"] < 0]
    assert drops["prompt_tokens_delta"].tolist() == [5821138 - 5821277]  # ids 253 -> 262 in the file


def test_v1_stats_cost_and_tokens():
    path = FIXTURES / "v1_sdk_goal_events.jsonl"
    raw = _records(path)
    stats = [e for e in raw if e.get("key") == "stats"]
    rows = cost_over_time(ohnb.load(path))
    want = [sum(u["accumulated_token_usage"]["prompt_tokens"] for u in e["value"]["usage_to_metrics"].values()) for e in stats]
    assert rows["prompt_tokens"].tolist() == want
    assert rows["prompt_tokens_delta"].tolist() == [want[0]] + [b - a for a, b in zip(want, want[1:], strict=False)]
    assert set(rows["model"]) == {"litellm_proxy/minimax-m2.7"}


# ---------------------------------------------------------------------------------------------
# agent state


def _timeline(raw: list[dict[str, Any]]) -> list[tuple[str, float]]:
    changes = sorted(
        ((_ts(e["timestamp"]), e["extras"]["agent_state"]) for e in raw if e.get("observation") == "agent_state_changed"),
        key=lambda c: c[0],
    )
    end = max(_ts(e["timestamp"]) for e in raw)
    merged: list[list[Any]] = []
    for when, state in changes:
        if not merged or merged[-1][1] != state:
            merged.append([when, state])
    out = []
    for n, (when, state) in enumerate(merged):
        until = merged[n + 1][0] if n + 1 < len(merged) else end
        out.append((state, (until - when).total_seconds()))
    return out


def test_agent_state_timeline_of_the_export(export):
    raw, df = export
    want = _timeline(raw)
    timeline = agent_state_timeline(df)
    assert list(zip(timeline["state"], timeline["duration_s"], strict=True)) == [
        (s, pytest.approx(d)) for s, d in want
    ]
    assert timeline["ongoing"].tolist() == [False] * (len(want) - 1) + [True]
    totals: dict[str, float] = collections.defaultdict(float)
    for state, duration in want:
        totals[state] += duration
    got = time_in_state(df).set_index("state")
    assert got["duration_s"].to_dict() == pytest.approx(dict(totals))
    assert got["share"].sum() == pytest.approx(1.0)
    assert got.index[0] == max(totals, key=totals.get)  # longest first: awaiting_user_input


def test_v1_execution_status_timeline():
    path = FIXTURES / "captures" / "v1_real_server_mock_llm_capture.jsonl"
    df = ohnb.load(path)
    timeline = agent_state_timeline(df)
    assert timeline["state"].tolist()[0] == "awaiting_user_input"  # idle, from the first full_state
    assert "running" in set(timeline["state"]) and "finished" in set(timeline["state"])
    assert timeline["duration_s"].sum() == pytest.approx(
        (df["timestamp"].max() - timeline["start"].min()).total_seconds()
    )
