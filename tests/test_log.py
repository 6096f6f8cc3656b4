"""The event log: rows settle into Arrow record batches and read back unchanged, in frames and as dicts."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohnb.fields import payload_text
from ohnb.log import EventLog
from ohnb.normalize import normalize_v0
from ohnb.schema import EVENT_COLUMNS, STRING, frame_from_rows
from ohnb.stores import default_conversation_path, read_v0_events


def real_rows() -> list[dict]:
    """The bundled real 297-event conversation, normalized as a live client would."""
    rows = []
    for k, event in enumerate(read_v0_events(default_conversation_path())):
        rows.append(
            normalize_v0(
                event,
                received_at=1_700_000_000.0 + k / 10,
                delivery="replay",
                attempt=1,
                conversation_id="c1",
                raw=payload_text(event),
            )
        )
    return rows


def filled(row: dict) -> dict:
    """A row as it reads back after settling: every column a key."""
    return {name: row.get(name) for name in EVENT_COLUMNS}


def log_of(rows: list[dict], settle_rows: int) -> EventLog:
    log = EventLog()
    log.settle_rows = settle_rows
    for row in rows:
        log.append(row)
    return log


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return real_rows()


def test_settled_rows_read_back_equal_to_the_rows_put_in(rows):
    log = log_of(rows, settle_rows=50)
    assert log._settled == 250 and len(log._tail) == len(rows) - 250  # most rows did settle
    assert len(log.rows) == len(rows)
    assert list(log.rows) == [filled(r) for r in rows]
    # non-ASCII text (the conversation's terminal output) survives the UTF-8 round trip
    assert any(r["content"] and not r["content"].isascii() for r in log.rows)


def test_indexing_and_slicing_across_batch_boundaries(rows):
    log = log_of(rows, settle_rows=50)
    expected = [filled(r) for r in rows]
    assert log.rows[0] == expected[0]
    assert log.rows[49] == expected[49] and log.rows[50] == expected[50]
    assert log.rows[-1] == expected[-1]
    assert log.rows[-len(rows)] == expected[0]
    assert log.rows[45:130] == expected[45:130]
    assert log.rows[240:] == expected[240:]  # settled and unsettled rows in one slice
    assert log.rows[-256:] == expected[-256:]
    assert log.rows[::7] == expected[::7]
    assert log.rows[10:5] == []
    with pytest.raises(IndexError):
        log.rows[len(rows)]
    with pytest.raises(IndexError):
        log.rows[-len(rows) - 1]


def test_iteration_reads_rows_appended_meanwhile(rows):
    log = log_of(rows[:60], settle_rows=25)
    seen = []
    for k, row in enumerate(log.rows):
        seen.append(row["event_id"])
        if k == 10:
            for extra in rows[60:120]:  # two more batches settle while the iterator is paused
                log.append(extra)
    assert seen == [r["event_id"] for r in rows[:120]]


def test_frames_equal_a_frame_built_from_the_rows_at_every_step(rows):
    log = log_of([], settle_rows=40)
    for stop in (0, 1, 39, 40, 41, 120, 200, len(rows)):
        for row in rows[len(log) : stop]:
            log.append(row)
        frame = log.to_frame()
        pd.testing.assert_frame_equal(frame, frame_from_rows(rows[:stop], EVENT_COLUMNS))
        assert list(frame.dtypes) == list(frame_from_rows(rows[:1], EVENT_COLUMNS).dtypes)


def test_frame_text_shares_the_batches_buffers_and_is_a_safe_copy(rows):
    log = log_of(rows, settle_rows=100)
    frame = log.to_frame()
    assert frame["raw"].dtype == STRING and STRING.storage == "pyarrow"
    stored = log._batches[0].column("raw")
    chunk = frame["raw"].array._pa_array.chunks[0]
    assert chunk.buffers()[2].address == stored.buffers()[2].address  # no copy of the text
    frame.loc[0, "content"] = "changed by the caller"
    frame.loc[0, "id"] = -1
    again = log.to_frame()
    assert again.loc[0, "content"] == rows[0]["content"] and again.loc[0, "id"] == rows[0]["id"]


def test_duplicates_are_found_among_settled_rows(rows):
    log = log_of(rows[:100], settle_rows=10)
    assert log.append(dict(rows[3], source="user")) is False
    assert log.duplicates == 1 and len(log) == 100
    assert log.last_id == max(r["id"] for r in rows[:100] if r["id"] is not None)


def test_column_reads_one_column_from_any_start(rows):
    log = log_of(rows, settle_rows=64)
    for start in (0, 1, 63, 64, 200, len(rows) - 1, len(rows), len(rows) + 5, -3):
        assert log.column("id", start) == [r.get("id") for r in rows[max(0, start) :]]
    with pytest.raises(KeyError):
        log.column("no such column")


def test_values_that_do_not_fit_read_back_as_the_frame_shows_them():
    odd = {
        "event_id": "odd",
        "id": 2**70,  # beyond int64
        "cause": True,  # a bool is not an id
        "accumulated_cost": float("nan"),
        "hidden": "yes",
        "content": 12,
        "raw": json.dumps({"id": 2**70}),
    }
    log = log_of([odd] + [{"event_id": str(k)} for k in range(3)], settle_rows=2)
    back = log.rows[0]
    assert back["id"] is None and back["cause"] is None and back["hidden"] is None
    assert back["accumulated_cost"] is None and back["content"] == "12"
    assert back["raw"] == odd["raw"]  # the original stays readable
    frame = log.to_frame()
    assert frame["id"].isna()[0] and frame.loc[0, "content"] == "12"


def test_record_batches_hold_text_as_utf8(rows):
    log = log_of(rows, settle_rows=len(rows))
    batch = log._batches[0]
    assert batch.schema.field("content").type == pa.large_string()
    content = [r["content"] for r in rows if r["content"]]
    utf8 = sum(len(c.encode()) for c in content)
    held = batch.column("content").buffers()[2].size
    assert held == utf8  # one byte per ASCII character, not CPython's 2 or 4 per character


def test_lone_surrogates_settle_as_replacement_characters():
    # json.loads('"\\ud800"') gives a str UTF-8 cannot hold; the log must keep the row, not raise
    odd = {"event_id": "s1", "content": "a\ud800b", "message": "\udfff", "timestamp": "2026\ud800", "raw": '"\\ud800"'}
    log = log_of([odd, {"event_id": "s2"}], settle_rows=2)
    back = log.rows[0]
    assert back["content"] == "a\ufffdb" and back["message"] == "\ufffd"
    assert back["raw"] == odd["raw"]
    frame = log.to_frame()
    assert frame.loc[0, "content"] == "a\ufffdb" and pd.isna(frame.loc[0, "timestamp"])
    assert "s1" in log and log.append(dict(odd)) is False  # still deduplicated by the original id


_text = st.one_of(st.none(), st.text(st.characters(categories=["Cs", "Ll", "So", "Nd"]), max_size=8))
_value = st.one_of(
    _text,
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "event_id": _text,
                "id": _value,
                "content": _value,
                "timestamp": st.one_of(_text, st.floats(-1e12, 1e12)),
                "received_at": st.one_of(st.none(), st.floats(0, 4e9), _text),
                "hidden": _value,
                "accumulated_cost": _value,
            },
        ),
        max_size=12,
    )
)
def test_any_row_values_settle_without_raising_and_match_the_frame(rows):
    for k, row in enumerate(rows):  # unique ids (the log keeps one row per id), odd text kept
        if row.get("event_id") is not None:
            row["event_id"] = f"{k}:{row['event_id']}"
    log = log_of(rows, settle_rows=4)
    assert len(log.rows) == len(rows) == len(log.to_frame())
    pd.testing.assert_frame_equal(log.to_frame(), frame_from_rows(rows, EVENT_COLUMNS))
