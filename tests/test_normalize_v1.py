"""The V1 normalizer on every real V1 recording in shared/fixtures, and on hostile input.

Expected values are read from the raw JSON with plain dict lookups here, and the kind/type mapping
is the table of the issue, written out again below (not imported from ohnb).
"""

from __future__ import annotations

import collections
import json
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohnb.normalize_v1 import (
    STREAMING_DELTA,
    is_streaming_delta,
    is_v1_payload,
    normalize_v1,
    v1_tool_type,
)
from ohnb.schema import EVENT_COLUMNS, KINDS, frame_from_rows
from tests.conftest import FIXTURES

CAPTURES = FIXTURES / "captures"


def _v1_conversations() -> list[tuple[str, list[dict[str, Any]]]]:
    """(name, events) for every V1 conversation and capture in the fixtures, read with plain json."""
    out = []
    lines = (FIXTURES / "v1_sdk_goal_events.jsonl").read_text().splitlines()
    out.append(("sdk_goal", [json.loads(x) for x in lines if x.strip()]))
    for folder in sorted((FIXTURES / "v1_cli_conversations").iterdir()):
        files = sorted(folder.glob("event-*.json"), key=lambda p: int(p.name.split("-")[1]))
        out.append((f"cli/{folder.name}", [json.loads(p.read_text()) for p in files]))
    with open(FIXTURES / "v1_eval_output_openagentsafety.jsonl") as fh:
        for line in fh:
            record = json.loads(line)
            if record["history"]:
                out.append((f"eval/{record['instance_id']}", record["history"]))
    for path in sorted(CAPTURES.glob("v1_real_server_*.jsonl")):
        records = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        frames = [r["data"] for r in records if "data" in r]
        if frames:
            out.append((f"capture/{path.name}", frames))
    shutdown = json.loads((CAPTURES / "v1_real_server_shutdown_client_view.json").read_text())
    out.append(("capture/shutdown", [f["data"] for f in shutdown["frames"]]))
    examples = json.loads((CAPTURES / "v1_real_server_examples_by_kind.json").read_text())
    out.append(("capture/examples_by_kind", [v["example"] for v in examples.values()]))
    rest = json.loads((CAPTURES / "v1_real_server_rest.json").read_text())
    items = [i for v in rest.values() if isinstance(v.get("body"), dict) for i in v["body"].get("items", [])]
    out.append(("capture/rest_items", [i for i in items if "kind" in i]))
    return out


CONVERSATIONS = _v1_conversations()
ALL_EVENTS = [e for _, events in CONVERSATIONS for e in events]

# The table: tool name -> (action type, observation type).
TOOLS = {
    "execute_bash": ("run", "run"), "terminal": ("run", "run"), "think": ("think", "think"),
    "finish": ("finish", "finish"), "task_tracker": ("task_tracking", "task_tracking"),
    "browser_navigate": ("browse", "browse"),
}  # fmt: skip
SIMPLE = {
    "MessageEvent": ("action", "message"), "SystemPromptEvent": ("action", "system"),
    "PauseEvent": ("action", "pause"), "ConversationErrorEvent": ("error", "error"),
    "ServerErrorEvent": ("error", "error"), "StreamingDeltaEvent": ("status", "streaming_delta"),
}  # fmt: skip
STATES = {"idle": "awaiting_user_input", "running": "running", "paused": "paused",
          "waiting_for_confirmation": "awaiting_user_confirmation", "finished": "finished",
          "error": "error"}  # fmt: skip


def _expected(event: dict[str, Any]) -> tuple[str, str]:
    kind = event["kind"]
    if kind in SIMPLE:
        return SIMPLE[kind]
    if kind == "ConversationStateUpdateEvent":
        if event["key"] == "execution_status":
            return ("observation", "agent_state_changed")
        return ("status", event["key"])
    tool = event["tool_name"]
    body = event.get("action") or event.get("observation")
    if tool in ("str_replace_editor", "file_editor"):
        name = "read" if body.get("command") == "view" else "edit"
    elif tool.startswith("browser_") and tool != "browser_navigate":
        name = "browse_interactive" if kind == "ActionEvent" else "browse"
    else:
        name = TOOLS[tool][0 if kind == "ActionEvent" else 1]
    return ("action" if kind == "ActionEvent" else "observation", name)


@pytest.mark.parametrize("name,events", CONVERSATIONS, ids=[c[0] for c in CONVERSATIONS])
def test_every_fixture_event_maps_as_the_table_says(name, events):
    rows = [normalize_v1(e, delivery="stored", conversation_id=name) for e in events]
    for event, row in zip(events, rows, strict=True):
        assert set(row) == set(EVENT_COLUMNS)
        assert row["parse_error"] is None, (event, row["parse_error"])
        assert (row["kind"], row["type"]) == _expected(event), event
        assert row["event_id"] == event["id"]
        assert row["v1_kind"] == event["kind"]
        assert row["id"] is None and row["cause"] is None
        assert row["cause_id"] == event.get("action_id")
        assert row["tool"] == event.get("tool_name")
        assert row["tool_call_id"] == event.get("tool_call_id")
        assert row["timestamp"] == event["timestamp"] and row["source"] == event["source"]
        assert json.loads(row["raw"]) == event
    frame = frame_from_rows(rows, EVENT_COLUMNS)
    assert list(frame.columns) == list(EVENT_COLUMNS)
    assert frame["timestamp"].notna().all()


def test_truncated_capture_frames_keep_their_kind():
    # this capture kept only kind/id/timestamp/source/key of each frame
    frames = json.loads((CAPTURES / "v1_real_server_resend_during_run_trial0_frames.json").read_text())
    rows = [normalize_v1(f["data"]) for f in frames]
    assert len(rows) == 204  # 203 distinct ids
    for frame, row in zip(frames, rows, strict=True):
        event = frame["data"]
        assert row["event_id"] == event["id"] and row["v1_kind"] == event["kind"]
        if event["kind"] == "ActionEvent":
            assert (row["kind"], row["type"]) == ("action", None)
            assert "without an 'action'" in row["parse_error"]
        elif event["kind"] == "ObservationEvent":
            assert row["kind"] == "observation" and "without an 'observation'" in row["parse_error"]
        elif event["kind"] == "ConversationStateUpdateEvent":
            assert row["type"] == ("agent_state_changed" if event["key"] == "execution_status" else event["key"])
            assert row["parse_error"] is None
        else:
            assert row["parse_error"] is None
    ids = [f["data"]["id"] for f in frames]
    assert len(ids) - len(set(ids)) == 1  # the resend repeated one event


def test_counts_of_the_eval_output_by_kind_and_type():
    events = [e for n, evs in CONVERSATIONS if n.startswith("eval/") for e in evs]
    assert len(events) == 797  # fixtures/README.md
    got = collections.Counter((r["kind"], r["type"]) for r in map(normalize_v1, events))
    tools = collections.Counter((e["kind"], e.get("tool_name")) for e in events)
    clicks = sum(v for (k, t), v in tools.items() if k == "ActionEvent" and t and t.startswith("browser_") and t != "browser_navigate")
    assert got[("action", "browse_interactive")] == clicks == 82 + 2 + 89 + 5 + 17
    assert got[("action", "browse")] == tools[("ActionEvent", "browser_navigate")] == 11
    assert got[("action", "run")] == tools[("ActionEvent", "execute_bash")] == 123
    assert got[("action", "finish")] == 20 and got[("observation", "finish")] == 18
    assert got[("action", "think")] == got[("observation", "think")] == 7
    editor = [e for e in events if e["kind"] == "ActionEvent" and e["tool_name"] == "str_replace_editor"]
    views = sum(e["action"]["command"] == "view" for e in editor)
    assert got[("action", "read")] == views and got[("action", "edit")] == len(editor) - views


def test_observation_links_point_at_actions_of_the_same_conversation():
    for name, events in CONVERSATIONS:
        actions = {e["id"] for e in events if e["kind"] == "ActionEvent"}
        for row in map(normalize_v1, events):
            # sdk_goal is a slice of a longer conversation: one of its observations answers an
            # action that is not in the file
            if name == "sdk_goal" or name.startswith("capture/rest"):
                continue
            if row["kind"] == "observation" and row["cause_id"] is not None:
                assert row["cause_id"] in actions, (name, row["event_id"])


def test_text_columns():
    by_id = {e["id"]: e for e in ALL_EVENTS}
    for event in ALL_EVENTS:
        row = normalize_v1(event)
        if event["kind"] == "MessageEvent":
            texts = [c["text"] for c in event["llm_message"]["content"] if c.get("type") == "text"]
            assert row["content"] == ("\n".join(texts) if texts else None)
        if event["kind"] == "ActionEvent" and event["tool_name"] in ("execute_bash", "terminal"):
            assert row["content"] == (event["action"]["command"] or None)
        if event["kind"] == "ActionEvent" and event["tool_name"] == "think":
            assert row["content"] == event["action"]["thought"]
        if event["kind"] == "ObservationEvent":
            obs = event["observation"]
            if isinstance(obs.get("content"), list):
                assert row["content"] == "\n".join(c["text"] for c in obs["content"])
            elif isinstance(obs.get("output"), str) and obs["output"]:
                assert row["content"] == obs["output"]
            meta = obs.get("metadata") or {}
            if isinstance(meta.get("exit_code"), int):
                assert row["exit_code"] == meta["exit_code"]
        if event["kind"] in ("ConversationErrorEvent", "ServerErrorEvent"):
            assert (row["content"], row["message"]) == (event["code"], event["detail"])
    assert by_id  # sanity


def test_execution_status_and_full_state_give_the_agent_state():
    seen = set()
    for event in ALL_EVENTS:
        if event["kind"] != "ConversationStateUpdateEvent":
            continue
        row = normalize_v1(event)
        if event["key"] == "execution_status":
            assert row["agent_state"] == STATES.get(event["value"], event["value"])
            seen.add(event["value"])
        elif event["key"] == "full_state" and "value" in event:
            assert row["agent_state"] == STATES[event["value"]["execution_status"]]
    assert {"running", "finished", "error"} <= seen


def test_stats_give_cost_and_tokens_summed_over_usages():
    checked = 0
    for event in ALL_EVENTS:
        if event["kind"] == "ConversationStateUpdateEvent" and event["key"] == "stats":
            usages = event["value"]["usage_to_metrics"].values()
            row = normalize_v1(event)
            assert row["prompt_tokens"] == sum(u["accumulated_token_usage"]["prompt_tokens"] for u in usages)
            assert row["completion_tokens"] == sum(u["accumulated_token_usage"]["completion_tokens"] for u in usages)
            assert row["accumulated_cost"] == pytest.approx(sum(u["accumulated_cost"] for u in usages))
            assert row["model"] in {u["model_name"] for u in usages}
            checked += 1
    assert checked >= 12  # 4 in the goal fixture, 4 + 4 in the mock-LLM captures


def test_goal_fixture_tokens_grow():
    rows = [normalize_v1(e) for e in CONVERSATIONS[0][1]]
    tokens = [r["prompt_tokens"] for r in rows if r["type"] == "stats"]
    assert tokens == sorted(tokens) and tokens[-1] == 107458  # read off the file's last stats event


def test_streaming_delta_is_marked_for_aggregation():
    deltas = [e for e in ALL_EVENTS if e["kind"] == "StreamingDeltaEvent"]
    assert deltas
    for event in deltas:
        row = normalize_v1(event)
        assert is_streaming_delta(row) and row["type"] == STREAMING_DELTA and row["kind"] == "status"
        assert row["content"] == event["content"]
    assert not is_streaming_delta(normalize_v1({"kind": "MessageEvent", "id": "x"}))


def _ev(kind: str, **kw: Any) -> dict[str, Any]:
    return {"id": f"id-{kind}", "timestamp": "2026-01-01T00:00:00", "source": "agent", "kind": kind, **kw}


@pytest.mark.parametrize(
    "event,kind,etype",
    [
        (_ev("AgentErrorEvent", tool_name="terminal", tool_call_id="c1", error="boom"), "observation", "error"),
        (_ev("UserRejectObservation", tool_name="terminal", tool_call_id="c1", action_id="a1",
             rejection_reason="no"), "observation", "user_rejected"),
        (_ev("PauseEvent", source="user"), "action", "pause"),
        (_ev("InterruptEvent", source="user"), "action", "interrupt"),
        (_ev("Condensation", summary="s", forgotten_event_ids=[]), "action", "condensation"),
        (_ev("CondensationRequest"), "action", "condensation_request"),
        (_ev("CondensationSummaryEvent", summary="s"), "observation", "condense"),
        (_ev("ActionEvent", tool_name="file_editor", action={"kind": "FileEditorAction", "command": "view", "path": "/a"}),
         "action", "read"),
        (_ev("ActionEvent", tool_name="glob", action={"kind": "GlobAction", "pattern": "*.py"}), "action", "glob"),
        (_ev("ActionEvent", tool_name="fetch", action={"kind": "MCPToolAction", "data": {"url": "u"}}),
         "action", "call_tool_mcp"),
        (_ev("ObservationEvent", tool_name="fetch", action_id="a", observation={"kind": "MCPToolObservation", "content": []}),
         "observation", "mcp"),
        (_ev("ActionEvent", action={"kind": "TerminalAction", "command": "ls"}), "action", "run"),
        (_ev("BrandNewEvent", foo=1), "unknown", "BrandNewEvent"),
        (_ev("BrandNewActionEvent", tool_name="terminal", action={"command": "ls"}), "action", "run"),
        (_ev("ConversationStateUpdateEvent", key="confirmation_policy", value={"kind": "NeverConfirm"}),
         "status", "confirmation_policy"),
    ],
)
def test_kinds_built_from_the_protocol(event, kind, etype):
    row = normalize_v1(event)
    assert (row["kind"], row["type"]) == (kind, etype)
    assert row["parse_error"] is None
    assert row["v1_kind"] == event["kind"]


def test_details_of_synthetic_kinds():
    err = normalize_v1(_ev("AgentErrorEvent", tool_name="terminal", tool_call_id="c1", error="boom"))
    assert (err["content"], err["tool_call_id"], err["cause_id"]) == ("boom", "c1", None)
    rej = normalize_v1(_ev("UserRejectObservation", tool_name="t", tool_call_id="c", action_id="a1", rejection_reason="no"))
    assert (rej["cause_id"], rej["content"]) == ("a1", "no")
    edit = normalize_v1(_ev("ActionEvent", tool_name="str_replace_editor",
                            action={"command": "str_replace", "path": "/p", "old_str": "a", "new_str": "b"}))
    assert (edit["type"], edit["content"], edit["path"]) == ("edit", "b", "/p")
    state = normalize_v1(_ev("ConversationStateUpdateEvent", key="execution_status", value="stuck"))
    assert state["agent_state"] == "stuck"  # no V0 equivalent: kept as it is
    assert v1_tool_type("browser_click") == "browse_interactive"
    assert v1_tool_type("browser_click", observation=True) == "browse"
    assert v1_tool_type(None) is None


@pytest.mark.parametrize(
    "payload,reason",
    [
        ("text", "payload is str"),
        (None, "payload is NoneType"),
        ([1, 2], "payload is list"),
        ({"id": "x"}, "no 'kind'"),
        ({"kind": 3, "id": "x"}, "kind is int"),
        ({"kind": "MessageEvent", "id": 7, "timestamp": 5}, "id is int"),
    ],
)
def test_unreadable_payloads_are_kept_with_a_reason(payload, reason):
    row = normalize_v1(payload, delivery="live", attempt=2, received_at=1.5, conversation_id="c")
    assert reason in row["parse_error"]
    assert json.loads(row["raw"]) == payload
    assert (row["delivery"], row["attempt"], row["received_at"], row["conversation_id"]) == ("live", 2, 1.5, "c")
    assert row["kind"] in KINDS


def test_is_v1_payload():
    assert is_v1_payload({"kind": "MessageEvent"})
    assert not is_v1_payload({"action": "run", "args": {}})
    assert not is_v1_payload({"observation": "run", "kind": "x"})  # a V0 event that happens to have a kind
    assert not is_v1_payload("x")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
_kinds = st.sampled_from(["ActionEvent", "ObservationEvent", "MessageEvent", "ConversationStateUpdateEvent",
                          "AgentErrorEvent", "StreamingDeltaEvent", "Nope", "SystemPromptEvent"])
_keys = st.sampled_from(["id", "timestamp", "source", "action", "observation", "tool_name", "key", "value",
                         "llm_message", "thought", "action_id", "tool_call_id", "content", "code", "detail"])


@settings(max_examples=300, deadline=None)
@given(kind=_kinds, body=st.dictionaries(_keys, _json, max_size=8))
def test_never_raises_and_always_fits_the_schema(kind, body):
    payload = {**body, "kind": kind}
    row = normalize_v1(payload)
    assert set(row) == set(EVENT_COLUMNS)
    assert row["kind"] in KINDS
    frame = frame_from_rows([row], EVENT_COLUMNS)
    assert len(frame) == 1 and isinstance(frame, pd.DataFrame)
