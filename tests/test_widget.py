"""Kernel side of ConversationWidget: batching, sync replies, projection, state and actions (no browser)."""

from __future__ import annotations

import asyncio
import json
import pathlib

import pandas as pd
import pytest

from ohnb.log import EventLog
from ohnb.normalize import normalize_v0
from ohnb.schema import EVENT_COLUMNS, frame_from_rows
from ohnb.widget import MAX_TEXT, READ_ONLY_ERROR, ROW_FIELDS, ConversationWidget, project_row

SECRET = "RAW-PAYLOAD-SENTINEL-7f3a"


class FakeConversation:
    """The attributes and methods of ohnb.conversation.Conversation that the widget uses."""

    def __init__(self, conversation_id: str = "conv-1") -> None:
        self.log = EventLog()
        self.conversation_id = conversation_id
        self.agent_state: str | None = "loading"
        self.connection_state = "CONNECTING"
        self.reconnects = 0
        self.error: str | None = None
        self.calls: list[tuple] = []
        self.fail_with: Exception | None = None
        self._listeners: list = []

    def on_change(self, fn):
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn)

    def changed(self, **attrs) -> None:
        for name, value in attrs.items():
            setattr(self, name, value)
        for fn in list(self._listeners):
            fn()

    def _task(self, name: str, *args):
        self.calls.append((name, *args))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        fail = self.fail_with

        async def work():
            if fail is not None:
                raise fail

        return loop.create_task(work())

    def send_message(self, text: str):
        return self._task("send_message", text)

    def pause(self):
        return self._task("pause")

    def resume(self):
        return self._task("resume")


def make_row(n: int, **extra) -> dict:
    row = {
        "conversation_id": "conv-1",
        "id": n,
        "event_id": str(n),
        "kind": "action",
        "type": "message",
        "source": "agent",
        "timestamp": f"2025-01-27T23:16:{n % 60:02d}.000000",
        "message": f"message {n}",
        "content": f"content {n}",
        "delivery": "live",
        "raw": {"secret": SECRET, "n": n},
    }
    row.update(extra)
    return row


@pytest.fixture
def sent(monkeypatch):
    """Every ``widget.send`` content, in order."""
    messages: list[dict] = []

    def capture(self, content, buffers=None):
        # The comm would JSON-encode it: fail here on anything that is not JSON.
        json.dumps(content, allow_nan=False)
        messages.append(content)

    monkeypatch.setattr(ConversationWidget, "send", capture)
    return messages


def rows_of(messages: list[dict]) -> list[dict]:
    return [row for msg in messages if msg["type"] == "rows" for row in msg["rows"]]


@pytest.fixture
def wrong_initial_frame(fixtures_dir: pathlib.Path) -> pd.DataFrame:
    events = json.loads((fixtures_dir / "v0_wrong_initial_state.json").read_text())
    rows = [normalize_v0(e, delivery="stored", conversation_id="wrong-initial") for e in events]
    return frame_from_rows(rows, EVENT_COLUMNS)


# --- batching -------------------------------------------------------------------------------------


async def test_live_rows_are_batched_sent_once_in_order(sent):
    conv = FakeConversation()
    widget = ConversationWidget(conv, flush_interval=0.02, chunk_rows=500)
    for n in range(1200):
        conv.log.append(make_row(n))
    assert sent == [], "rows must wait for the flush timer, not go one by one"
    await asyncio.sleep(0.08)
    assert len(sent) == 3  # 1200 rows in chunks of 500
    assert [m["start"] for m in sent] == [0, 500, 1000]
    assert [r["i"] for r in rows_of(sent)] == list(range(1200))
    assert [r["id"] for r in rows_of(sent)] == list(range(1200))
    assert widget.n_events == 1200
    assert all(m["total"] == 1200 for m in sent)

    # A second burst is a delta from where the first ended, never a resend.
    for n in range(1200, 1250):
        conv.log.append(make_row(n))
    await asyncio.sleep(0.08)
    assert len(sent) == 4
    assert sent[-1]["start"] == 1200
    assert [r["i"] for r in sent[-1]["rows"]] == list(range(1200, 1250))
    assert widget.n_events == 1250


async def test_rows_arriving_over_time_flush_at_most_once_per_interval(sent):
    conv = FakeConversation()
    ConversationWidget(conv, flush_interval=0.05)
    for n in range(40):
        conv.log.append(make_row(n))
        await asyncio.sleep(0.005)  # 40 rows over ~0.2 s or more
    await asyncio.sleep(0.1)
    assert 1 <= len(sent) <= 8, f"{len(sent)} messages for 40 rows"
    assert [r["i"] for r in rows_of(sent)] == list(range(40))


def test_without_a_running_loop_rows_flush_at_once(sent):
    conv = FakeConversation()
    widget = ConversationWidget(conv)
    conv.log.append(make_row(0))
    conv.log.append(make_row(1))
    assert [(m["start"], len(m["rows"])) for m in sent] == [(0, 1), (1, 1)]
    assert widget.n_events == 2


def test_duplicate_rows_rejected_by_the_log_are_not_sent(sent):
    conv = FakeConversation()
    ConversationWidget(conv)
    conv.log.append(make_row(0))
    conv.log.append(make_row(0, delivery="replay"))
    assert len(rows_of(sent)) == 1


# --- sync replies ---------------------------------------------------------------------------------


def test_sync_replies_from_the_offset_in_chunks(sent):
    df = frame_from_rows([make_row(n) for n in range(1234)], EVENT_COLUMNS)
    widget = ConversationWidget(df, chunk_rows=500)
    assert sent == [], "a stored source sends nothing until a view asks"
    widget._handle_message(widget, {"type": "sync", "have": 100})
    assert [(m["start"], len(m["rows"])) for m in sent] == [(100, 500), (600, 500), (1100, 134)]
    assert [r["i"] for r in rows_of(sent)] == list(range(100, 1234))
    assert all(m["total"] == 1234 for m in sent)


def test_sync_when_up_to_date_gets_one_empty_reply(sent):
    widget = ConversationWidget(frame_from_rows([make_row(0)], EVENT_COLUMNS))
    widget._handle_message(widget, {"type": "sync", "have": 1})
    assert sent == [{"type": "rows", "start": 1, "rows": [], "total": 1}]
    sent.clear()
    widget._handle_message(widget, {"type": "sync", "have": 99})  # more than held: clamp
    assert sent == [{"type": "rows", "start": 1, "rows": [], "total": 1}]


@pytest.mark.parametrize("have", [None, -3, "2", True, 1.5])
def test_sync_with_a_bad_offset_sends_everything(sent, have):
    widget = ConversationWidget(frame_from_rows([make_row(n) for n in range(3)], EVENT_COLUMNS))
    widget._handle_message(widget, {"type": "sync", "have": have})
    assert [r["i"] for r in rows_of(sent)] == [0, 1, 2]


async def test_sync_covers_sent_rows_and_the_next_flush_continues_without_overlap(sent):
    conv = FakeConversation()
    for n in range(5):
        conv.log.append(make_row(n))  # before the widget: available to a sync
    widget = ConversationWidget(conv, flush_interval=0.02)
    assert widget.n_events == 5
    conv.log.append(make_row(5))  # pending, not flushed yet
    widget._handle_message(widget, {"type": "sync", "have": 0})
    assert [r["i"] for r in rows_of(sent)] == [0, 1, 2, 3, 4]
    await asyncio.sleep(0.06)
    assert sent[-1]["start"] == 5
    assert [r["i"] for r in rows_of(sent)] == [0, 1, 2, 3, 4, 5]
    assert widget.n_events == 6


def test_big_rows_come_in_smaller_chunks(sent):
    df = frame_from_rows([make_row(n, content="x" * 15_000) for n in range(10)], EVENT_COLUMNS)
    widget = ConversationWidget(df, chunk_rows=500)
    widget.chunk_chars = 40_000
    widget._handle_message(widget, {"type": "sync", "have": 0})
    assert len(sent) > 1
    assert all(len(m["rows"]) <= 3 for m in sent)
    assert [r["i"] for r in rows_of(sent)] == list(range(10))


# --- projection -----------------------------------------------------------------------------------


def test_dataframe_source_from_normalized_fixture(sent, wrong_initial_frame):
    df = wrong_initial_frame
    widget = ConversationWidget(df)
    assert widget.live is False
    assert widget.n_events == len(df) == 8
    assert widget.conversation_id == "wrong-initial"
    widget._handle_message(widget, {"type": "sync", "have": 0})
    rows = rows_of(sent)
    assert [r["id"] for r in rows] == [0, 3, 4, 5, 6, 7, 8, 9]
    assert rows[0]["content"] == "Please rename game_2048.py to 2048.py"
    assert rows[0]["timestamp"] == "2025-01-27T23:16:50.239610"
    assert rows[4]["exit_code"] == 0 and type(rows[4]["exit_code"]) is int
    assert rows[0]["exit_code"] is None  # <NA> in the frame
    assert rows[0]["cause"] is None and rows[2]["cause"] == 3
    assert set(rows[0]) == {"i", *ROW_FIELDS, "truncated"}


def test_na_and_timestamps_become_none_and_iso_strings():
    df = frame_from_rows(
        [
            make_row(1, timestamp="2025-01-27T23:16:50.5", exit_code=2, hidden=True),
            make_row(2, timestamp=None, exit_code=None, hidden=None, message=None),
        ],
        EVENT_COLUMNS,
    )
    widget = ConversationWidget(df)
    first, second = widget._rows
    assert first["timestamp"] == "2025-01-27T23:16:50.500000"
    assert first["exit_code"] == 2 and type(first["exit_code"]) is int
    assert first["hidden"] is True and type(first["hidden"]) is bool
    assert type(first["id"]) is int
    assert second["timestamp"] is None
    assert second["exit_code"] is None
    assert second["hidden"] is None
    assert second["message"] is None


def test_dataframe_with_missing_columns_and_object_dtypes():
    df = pd.DataFrame({"id": [1, 2], "kind": ["action", None], "exit_code": [0.0, float("nan")]})
    widget = ConversationWidget(df)
    assert widget.conversation_id == ""
    assert widget._rows[0]["message"] is None
    assert widget._rows[1]["kind"] is None
    assert widget._rows[1]["exit_code"] is None


async def test_raw_is_never_sent(sent):
    conv = FakeConversation()
    conv.log.append(make_row(0))
    widget = ConversationWidget(conv, flush_interval=0.01)
    conv.log.append(make_row(1))
    widget._handle_message(widget, {"type": "sync", "have": 0})
    await asyncio.sleep(0.05)
    stored = ConversationWidget(frame_from_rows([make_row(2)], EVENT_COLUMNS))
    stored._handle_message(stored, {"type": "sync", "have": 0})
    assert len(rows_of(sent)) == 3
    assert all("raw" not in row for row in rows_of(sent))
    assert SECRET not in json.dumps(sent)


def test_long_text_is_cut_and_flagged():
    row = project_row(7, make_row(7, content="y" * (MAX_TEXT + 5), thought="short"))
    assert row["i"] == 7
    assert len(row["content"]) == MAX_TEXT
    assert row["truncated"] == {"content": MAX_TEXT + 5}
    assert row["thought"] == "short"
    assert project_row(0, make_row(0))["truncated"] is None


# --- state and actions ----------------------------------------------------------------------------


def test_traits_follow_the_conversation():
    conv = FakeConversation("abc")
    widget = ConversationWidget(conv)
    assert (widget.conversation_id, widget.agent_state, widget.connection_state) == (
        "abc",
        "loading",
        "CONNECTING",
    )
    assert widget.live is True and widget.error is None
    conv.changed(connection_state="OPEN", agent_state="running")
    assert (widget.connection_state, widget.agent_state) == ("OPEN", "running")
    conv.changed(
        connection_state="RECONNECTING", reconnects=2, error="Connection lost: transport error"
    )
    assert widget.connection_state == "RECONNECTING"
    assert widget.reconnects == 2
    assert widget.error == "Connection lost: transport error"
    conv.changed(connection_state="OPEN", error=None)
    assert widget.error is None


def test_close_stops_following(sent):
    conv = FakeConversation()
    widget = ConversationWidget(conv)
    widget.close()
    assert conv._listeners == [] and conv.log._listeners == []
    conv.log.append(make_row(0))
    conv.changed(agent_state="finished")
    assert sent == []
    assert widget.agent_state == "loading"


def test_actions_reach_the_conversation():
    conv = FakeConversation()
    widget = ConversationWidget(conv)
    widget._handle_message(widget, {"type": "send_message", "text": "hello <b>agent</b>"})
    widget._handle_message(widget, {"type": "send_message", "text": "   "})  # blank: ignored
    widget._handle_message(widget, {"type": "send_message"})  # no text: ignored
    widget._handle_message(widget, {"type": "pause"})
    widget._handle_message(widget, {"type": "resume"})
    widget._handle_message(widget, {"type": "nonsense"})
    widget._handle_message(widget, "not a dict")
    assert conv.calls == [("send_message", "hello <b>agent</b>"), ("pause",), ("resume",)]
    assert widget.error is None


async def test_a_failed_action_shows_in_error():
    conv = FakeConversation()
    conv.fail_with = RuntimeError("not connected")
    widget = ConversationWidget(conv)
    widget._handle_message(widget, {"type": "pause"})
    await asyncio.sleep(0.01)
    assert widget.error == "pause failed: not connected"


@pytest.mark.parametrize(
    "msg", [{"type": "send_message", "text": "hi"}, {"type": "pause"}, {"type": "resume"}]
)
def test_actions_on_a_stored_conversation_set_error(msg, wrong_initial_frame):
    widget = ConversationWidget(wrong_initial_frame)
    widget._handle_message(widget, msg)
    assert widget.error == READ_ONLY_ERROR


def test_other_sources_are_rejected():
    with pytest.raises(TypeError, match="Conversation or a pandas DataFrame"):
        ConversationWidget([make_row(0)])


def test_static_bundle_is_built(wrong_initial_frame):
    path = pathlib.Path(__file__).parents[1] / "ohnb" / "static" / "widget.js"
    assert path.exists(), (
        "ohnb/static/widget.js is missing: run `npm install && npm run build` in js/"
    )
    assert "ohnb-widget" in str(ConversationWidget(wrong_initial_frame)._esm)


def test_dataframe_agent_state_is_the_last_known():
    rows = [
        make_row(0, kind="observation", type="agent_state_changed", agent_state="running"),
        make_row(1, kind="observation", type="agent_state_changed", agent_state="finished"),
        make_row(2),
    ]
    assert ConversationWidget(frame_from_rows(rows, EVENT_COLUMNS)).agent_state == "finished"
    assert ConversationWidget(frame_from_rows([make_row(0)], EVENT_COLUMNS)).agent_state is None
