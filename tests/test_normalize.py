"""The V0 normalizer on every real V0 recording in shared/fixtures, and on hostile input."""

from __future__ import annotations

import collections
import json
import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohnb.normalize import normalize_v0
from ohnb.schema import EVENT_COLUMNS, frame_from_rows
from tests.conftest import FIXTURES


def _v0_histories():
    """(name, list of raw events) for every V0 conversation in the fixtures, read with plain json."""
    out = []
    export = json.loads((FIXTURES / "v0_trajectory_export_297ev.json").read_text())
    out.append(("export_297", export["trajectory"]))
    for name in ("v0_basic_gui_mode.json", "v0_wrong_initial_state.json"):
        out.append((name, json.loads((FIXTURES / name).read_text())))
    store = FIXTURES / "v0_filestore_session" / "events"
    out.append(("filestore", [json.loads(p.read_text()) for p in sorted(store.glob("*.json"))]))
    with open(FIXTURES / "v0_multi_swe_bench_output.jsonl") as fh:
        for i, line in enumerate(fh):
            record = json.loads(line)
            history = record["history"]
            if history and isinstance(history[0], list):  # old [action, observation] pairs
                history = [e for pair in history for e in pair]
            out.append((f"multi_swe_bench[{i}]", history))
    return out


HISTORIES = _v0_histories()


def _expected_type(event: dict) -> tuple[str, str]:
    if "action" in event:
        return ("action", event["action"])
    if "observation" in event:
        return ("observation", event["observation"])
    raise AssertionError(f"fixture event without action/observation: {event}")


@pytest.mark.parametrize("name,history", HISTORIES, ids=[h[0] for h in HISTORIES])
def test_counts_by_type_and_ids_match_the_file(name, history):
    rows = [normalize_v0(e, delivery="stored") for e in history]
    got = collections.Counter((r["kind"], r["type"]) for r in rows)
    want = collections.Counter(_expected_type(e) for e in history)
    assert got == want
    assert [r["id"] for r in rows] == [e.get("id") for e in history]
    assert not [r for r in rows if r.get("parse_error")]
    frame = frame_from_rows(rows, EVENT_COLUMNS)
    assert list(frame.columns) == list(EVENT_COLUMNS)
    assert {c: str(t) for c, t in frame.dtypes.items()} == EVENT_COLUMNS
    assert frame["timestamp"].notna().all()


def test_the_297_event_export_in_detail():
    history = dict(HISTORIES)["export_297"]
    rows = [normalize_v0(e) for e in history]
    frame = frame_from_rows(rows, EVENT_COLUMNS)
    assert len(frame) == 297
    assert frame["id"].min() == 0 and frame["id"].max() == 298
    assert 1 not in set(frame["id"]) and 2 not in set(frame["id"])
    user_messages = frame[(frame["type"] == "message") & (frame["source"] == "user")]
    assert len(user_messages) == 24
    runs = frame[(frame["kind"] == "observation") & (frame["type"] == "run")]
    assert runs["exit_code"].notna().all()
    assert (runs["cause"].notna()).all()
    # the last agent state of the conversation, from the file itself
    last_state = [e for e in history if e.get("observation") == "agent_state_changed"][-1]
    assert frame["agent_state"].dropna().iloc[-1] == last_state["extras"]["agent_state"]
    cost = [e["llm_metrics"]["accumulated_cost"] for e in history if e.get("llm_metrics")]
    assert math.isclose(frame["accumulated_cost"].max(), max(cost))
    commands = frame[(frame["kind"] == "action") & (frame["type"] == "run")]
    first_run = next(e for e in history if e.get("action") == "run")
    assert commands["content"].iloc[0] == first_run["args"]["command"]


def test_status_title_and_error_messages_from_the_real_server_capture():
    capture = json.loads((FIXTURES / "captures" / "v0_real_server_live.json").read_text())
    payloads = [item["data"] for item in capture]
    rows = [normalize_v0(p) for p in payloads]
    for payload, row in zip(payloads, rows, strict=True):
        if "status_update" in payload:
            assert row["kind"] == "status"
            assert row["id"] is None
            if isinstance(payload.get("id"), str):
                assert row["type"] == payload["id"]
        elif "observation" in payload or "action" in payload:
            assert row["kind"] in ("observation", "action")
            assert row["id"] == payload.get("id")
    kinds = collections.Counter(r["kind"] for r in rows)
    assert kinds["status"] > 0 and kinds["unknown"] == 0


@pytest.mark.parametrize(
    "payload,kind,error_part",
    [
        ("not json at all", "unknown", "str, not a JSON object"),
        (None, "unknown", "NoneType"),
        ([1, 2, 3], "unknown", "list"),
        ({"foo": 1}, "unknown", "none of the keys"),
        ({"error": True, "message": "boom"}, "error", None),
        (
            {"status_update": True, "type": "info", "message": "c1", "conversation_title": "T"},
            "status",
            None,
        ),
        ({"id": "seven", "action": "run", "args": {"command": "ls"}}, "action", "id is str"),
        (
            {"id": 3, "observation": "run", "content": 5, "extras": []},
            "observation",
            "content is int",
        ),
    ],
)
def test_bad_and_odd_payloads_are_kept_with_a_reason(payload, kind, error_part):
    row = normalize_v0(payload, delivery="live", attempt=1)
    assert row["kind"] == kind
    assert json.loads(row["raw"]) == payload
    if error_part:
        assert error_part in row["parse_error"]
    else:
        assert row.get("parse_error") is None


def test_title_update_uses_the_title_as_message():
    row = normalize_v0(
        {"status_update": True, "type": "info", "message": "cid", "conversation_title": "Fix bug"}
    )
    assert (row["type"], row["message"]) == ("title", "Fix bug")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)
oh_like = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "timestamp": st.text() | json_values,
        "source": json_values,
        "action": json_values,
        "observation": json_values,
        "args": json_values,
        "extras": json_values,
        "content": json_values,
        "status_update": json_values,
        "error": json_values,
        "llm_metrics": json_values,
        "tool_call_metadata": json_values,
        "cause": json_values,
    },
)


@settings(max_examples=400, deadline=None)
@given(st.lists(json_values | oh_like | st.binary(), max_size=8))
def test_fuzz_never_raises_and_every_payload_becomes_one_row(payloads):
    rows = [normalize_v0(p, delivery="live", attempt=1) for p in payloads]
    assert len(rows) == len(payloads)
    for payload, row in zip(payloads, rows, strict=True):
        if isinstance(payload, bytes):
            assert row["raw"] == payload.decode("utf-8", "backslashreplace")
        else:  # the JSON text of the payload itself: NaN and infinities (not JSON) as null when
            # orjson encodes it, as json.dumps writes them when a value orjson refuses sent it there
            back = json.loads(row["raw"])
            assert back == _finite(payload) or repr(back) == repr(payload)
        assert row["kind"] in ("action", "observation", "status", "error", "unknown")
    frame = frame_from_rows(rows, EVENT_COLUMNS)
    assert len(frame) == len(payloads)
    assert isinstance(frame, pd.DataFrame)


def test_equal_message_and_content_and_categorical_values_share_one_string():
    text = json.dumps({"id": 1, "source": "agent", "action": "message", "message": "hi there", "args": {"content": "hi there"}})
    one, two = (normalize_v0(json.loads(text)) for _ in range(2))
    assert one["message"] == one["content"] == "hi there"
    assert one["message"] is one["content"]  # kept once, not twice
    assert one["source"] is two["source"] and one["type"] is two["type"]  # decoded twice, held once


def _finite(value):
    """``value`` with NaN and infinities as None: how a decoded payload's raw text holds them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value
