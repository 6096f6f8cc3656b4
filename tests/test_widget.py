"""Kernel side of ConversationWidget: batching, rate, sync replies, projection, state, actions and the
static export (no browser; tests/browser/ drives the front end)."""

from __future__ import annotations

import asyncio
import json
import pathlib
import re
import time

import pandas as pd
import pytest

from ohnb.log import EventLog
from ohnb.normalize import normalize_v0
from ohnb.schema import AGENT_STATES, EVENT_COLUMNS, frame_from_rows
from ohnb.widget import (
    MAX_TEXT,
    NO_STOP_ERROR,
    READ_ONLY_ERROR,
    WIRE_FIELDS,
    ConversationWidget,
    edit_diff,
    project_row,
    row_dict,
)

SECRET = "RAW-PAYLOAD-SENTINEL-7f3a"
REPO = pathlib.Path(__file__).resolve().parents[1]


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


class StoppableConversation(FakeConversation):
    def stop(self):
        return self._task("stop")


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


class Wire:
    """Every comm message the widget sends (custom messages and trait updates), with times."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, dict]] = []

    @property
    def custom(self) -> list[dict]:
        return [m["content"] for _, m in self.messages if m["method"] == "custom"]

    @property
    def updates(self) -> list[dict]:
        return [m["state"] for _, m in self.messages if m["method"] == "update"]

    def rows(self) -> list[dict]:
        out = []
        for msg in self.custom:
            if msg["type"] == "rows":
                assert msg["fields"] == list(WIRE_FIELDS)
                out.extend(row_dict(r) for r in msg["rows"])
        return out

    def max_per_second(self) -> int:
        times = [t for t, _ in self.messages]
        return max((sum(1 for u in times if t <= u < t + 1.0) for t in times), default=0)


@pytest.fixture
def wire(monkeypatch) -> Wire:
    recorded = Wire()

    def capture(self, msg, buffers=None):
        # The comm would JSON-encode it: fail here on anything that is not JSON.
        json.dumps(msg, allow_nan=False)
        recorded.messages.append((time.monotonic(), msg))

    monkeypatch.setattr(ConversationWidget, "_send", capture)
    return recorded


def with_positions(rows: list[dict]) -> list[tuple[str | None, str | None]]:
    return [(r["event_id"], r["content"]) for r in rows]


@pytest.fixture
def wrong_initial_frame(fixtures_dir: pathlib.Path) -> pd.DataFrame:
    events = json.loads((fixtures_dir / "v0_wrong_initial_state.json").read_text())
    rows = [normalize_v0(e, delivery="stored", conversation_id="wrong-initial") for e in events]
    return frame_from_rows(rows, EVENT_COLUMNS)


# --- batching and rate ------------------------------------------------------------------------------


async def test_a_burst_is_one_message_then_deltas_never_a_resend(wire):
    conv = FakeConversation()
    widget = ConversationWidget(conv, flush_interval=0.02, total_interval=0.02)
    for n in range(1200):
        conv.log.append(make_row(n))
    assert wire.custom == [], "rows must wait for the tick, not go one by one"
    await asyncio.sleep(0.06)
    assert [(m["start"], len(m["rows"]), m["total"]) for m in wire.custom] == [(0, 1200, 1200)]
    assert [r["event_id"] for r in wire.rows()] == [str(n) for n in range(1200)]
    assert widget.n_events == 1200

    # A second burst is a delta from where the first ended.
    for n in range(1200, 1250):
        conv.log.append(make_row(n))
    await asyncio.sleep(0.06)
    assert [(m["start"], len(m["rows"])) for m in wire.custom] == [(0, 1200), (1200, 50)]
    assert widget.n_events == 1250


async def test_big_bursts_are_chunked_across_ticks(wire):
    conv = FakeConversation()
    ConversationWidget(conv, flush_interval=0.01, chunk_rows=500)
    for n in range(1234):
        conv.log.append(make_row(n))
    await asyncio.sleep(0.1)
    assert [(m["start"], len(m["rows"])) for m in wire.custom] == [(0, 500), (500, 500), (1000, 234)]
    assert [m["total"] for m in wire.custom] == [500, 1000, 1234]
    assert [r["event_id"] for r in wire.rows()] == [str(n) for n in range(1234)]


async def test_a_lone_event_goes_at_once(wire):
    conv = FakeConversation()
    ConversationWidget(conv, flush_interval=0.5)
    started = time.monotonic()
    conv.log.append(make_row(0))
    while not wire.custom and time.monotonic() - started < 1:
        await asyncio.sleep(0.002)
    assert time.monotonic() - started < 0.1, "a quiet widget must not wait a whole interval"


async def test_streaming_rows_and_state_stay_under_20_messages_per_second(wire):
    conv = FakeConversation()
    widget = ConversationWidget(conv)  # defaults: 0.1 s ticks, n_events at most once a second
    wire.messages.clear()  # anywidget's own updates at construction (_esm, _css...)
    states = ["running", "awaiting_user_input"]
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < 2.5:
        for _ in range(5):
            conv.log.append(make_row(n))
            n += 1
        conv.changed(agent_state=states[n % 2], reconnects=n // 500)
        await asyncio.sleep(0.002)
    await asyncio.sleep(1.2)
    # By design at most 1 / flush_interval + 1 / state_interval = 15 (+1 at window edges); the
    # requirement is about 20, and a loaded machine can bunch late timers, so assert the requirement.
    assert wire.max_per_second() <= 20, f"{wire.max_per_second()} widget messages in one second"
    assert [r["event_id"] for r in wire.rows()] == [str(k) for k in range(n)]
    assert widget.n_events == n
    assert widget.agent_state == conv.agent_state


async def test_state_changes_are_coalesced_into_one_update_per_tick(wire):
    conv = FakeConversation()
    widget = ConversationWidget(conv, flush_interval=0.05)
    wire.messages.clear()  # anywidget's own updates at construction (_esm, _css...)
    for k in range(100):
        conv.changed(agent_state="running" if k % 2 else "paused", reconnects=k)
    await asyncio.sleep(0.12)
    assert 1 <= len(wire.updates) <= 3
    assert (widget.agent_state, widget.reconnects) == ("running", 99)


def test_without_a_running_loop_everything_goes_at_once(wire):
    conv = FakeConversation()
    widget = ConversationWidget(conv)
    conv.log.append(make_row(0))
    conv.log.append(make_row(1))
    assert [(m["start"], len(m["rows"])) for m in wire.custom] == [(0, 1), (1, 1)]
    assert widget.n_events == 2
    conv.changed(connection_state="OPEN")
    assert widget.connection_state == "OPEN"


def test_duplicate_rows_rejected_by_the_log_are_not_sent(wire):
    conv = FakeConversation()
    ConversationWidget(conv)
    conv.log.append(make_row(0))
    conv.log.append(make_row(0, delivery="replay"))
    assert len(wire.rows()) == 1


async def test_flush_sends_everything_now(wire):
    conv = FakeConversation()
    widget = ConversationWidget(conv, flush_interval=10, chunk_rows=100)
    widget._last_tick = asyncio.get_running_loop().time()  # as if it had just ticked
    for n in range(250):
        conv.log.append(make_row(n))
    conv.changed(agent_state="finished")
    widget.flush()
    assert [len(m["rows"]) for m in wire.custom] == [100, 100, 50]
    assert (widget.n_events, widget.agent_state) == (250, "finished")


# --- sync replies ---------------------------------------------------------------------------------


def test_sync_replies_from_the_offset_in_chunks(wire):
    df = frame_from_rows([make_row(n) for n in range(1234)], EVENT_COLUMNS)
    widget = ConversationWidget(df, chunk_rows=500)
    assert wire.custom == [], "a stored source sends nothing until a view asks"
    widget._handle_message(widget, {"type": "sync", "have": 100})
    assert [(m["start"], len(m["rows"])) for m in wire.custom] == [(100, 500), (600, 500), (1100, 134)]
    assert [r["event_id"] for r in wire.rows()] == [str(n) for n in range(100, 1234)]
    assert all(m["total"] == 1234 for m in wire.custom)


def test_sync_when_up_to_date_gets_one_empty_reply(wire):
    widget = ConversationWidget(frame_from_rows([make_row(0)], EVENT_COLUMNS))
    widget._handle_message(widget, {"type": "sync", "have": 1})
    assert wire.custom == [
        {"type": "rows", "start": 1, "total": 1, "fields": list(WIRE_FIELDS), "rows": []}
    ]
    wire.messages.clear()
    widget._handle_message(widget, {"type": "sync", "have": 99})  # more than held: clamp
    assert [(m["start"], m["rows"]) for m in wire.custom] == [(1, [])]


@pytest.mark.parametrize("have", [None, -3, "2", True, 1.5])
def test_sync_with_a_bad_offset_sends_everything(wire, have):
    widget = ConversationWidget(frame_from_rows([make_row(n) for n in range(3)], EVENT_COLUMNS))
    widget._handle_message(widget, {"type": "sync", "have": have})
    assert [r["event_id"] for r in wire.rows()] == ["0", "1", "2"]


def test_a_sync_reads_rows_settled_into_arrow_back_as_they_were(wire):
    conv = FakeConversation()
    conv.log.settle_rows = 16  # most rows below sit in record batches, the last ones in the tail
    rows = [make_row(n, content=f"résultat {n} 🎉", message=f"msg {n}", raw="{}") for n in range(100)]
    for row in rows:
        conv.log.append(row)
    widget = ConversationWidget(conv, chunk_rows=30)
    widget._handle_message(widget, {"type": "sync", "have": 7})
    assert [(m["start"], len(m["rows"])) for m in wire.custom] == [(7, 30), (37, 30), (67, 30), (97, 3)]
    sent = wire.rows()
    assert [r["event_id"] for r in sent] == [str(n) for n in range(7, 100)]
    assert [(r["content"], r["message"], r["timestamp"]) for r in sent] == [
        (r["content"], r["message"], r["timestamp"]) for r in rows[7:]
    ]


async def test_sync_covers_sent_rows_and_the_next_tick_continues_without_overlap(wire):
    conv = FakeConversation()
    for n in range(5):
        conv.log.append(make_row(n))  # before the widget: available to a sync
    widget = ConversationWidget(conv, flush_interval=0.02)
    assert widget.n_events == 5
    conv.log.append(make_row(5))  # pending, not sent yet
    widget._handle_message(widget, {"type": "sync", "have": 0})
    assert [r["event_id"] for r in wire.rows()] == ["0", "1", "2", "3", "4"]
    await asyncio.sleep(0.06)
    assert wire.custom[-1]["start"] == 5
    assert [r["event_id"] for r in wire.rows()] == ["0", "1", "2", "3", "4", "5"]
    assert widget.n_events == 6


def test_big_rows_come_in_smaller_chunks(wire):
    df = frame_from_rows([make_row(n, content="x" * 15_000) for n in range(10)], EVENT_COLUMNS)
    widget = ConversationWidget(df, chunk_rows=500, chunk_chars=40_000)
    widget._handle_message(widget, {"type": "sync", "have": 0})
    assert len(wire.custom) > 1
    assert all(len(m["rows"]) <= 3 for m in wire.custom)
    assert [r["event_id"] for r in wire.rows()] == [str(n) for n in range(10)]


# --- projection -----------------------------------------------------------------------------------


def test_dataframe_source_from_normalized_fixture(wire, wrong_initial_frame):
    df = wrong_initial_frame
    widget = ConversationWidget(df)
    assert widget.live is False and widget.can_stop is False
    assert widget.n_events == len(df) == 8
    assert widget.conversation_id == "wrong-initial"
    widget._handle_message(widget, {"type": "sync", "have": 0})
    rows = wire.rows()
    assert [r["event_id"] for r in rows] == ["0", "3", "4", "5", "6", "7", "8", "9"]
    assert rows[0]["content"] == "Please rename game_2048.py to 2048.py"
    assert rows[0]["message"] is None, "message equal to content is not sent twice"
    assert rows[0]["timestamp"] == "2025-01-27T23:16:50.239610"
    assert rows[4]["exit_code"] == 0 and type(rows[4]["exit_code"]) is int
    assert rows[0]["exit_code"] is None  # <NA> in the frame
    assert rows[0]["cause_id"] is None and rows[2]["cause_id"] == "3"
    assert set(rows[0]) == set(WIRE_FIELDS)


def test_na_and_timestamps_become_none_and_iso_strings():
    df = frame_from_rows(
        [
            make_row(1, timestamp="2025-01-27T23:16:50.5", exit_code=2, hidden=True),
            make_row(2, timestamp=None, exit_code=None, hidden=None, message=None),
        ],
        EVENT_COLUMNS,
    )
    first, second = (row_dict(project_row(r)) for r in ConversationWidget(df)._rows)
    assert first["timestamp"] == "2025-01-27T23:16:50.500000"
    assert first["exit_code"] == 2 and type(first["exit_code"]) is int
    assert first["hidden"] is True and type(first["hidden"]) is bool
    assert first["event_id"] == "1"
    assert second["timestamp"] is None
    assert second["exit_code"] is None
    assert second["hidden"] is None
    assert second["message"] is None


def test_dataframe_with_missing_columns_and_object_dtypes():
    df = pd.DataFrame({"id": [1, 2], "kind": ["action", None], "exit_code": [0.0, float("nan")]})
    widget = ConversationWidget(df)
    assert widget.conversation_id == ""
    rows = [row_dict(project_row(r)) for r in widget._rows]
    assert rows[0]["message"] is None
    assert rows[1]["kind"] is None
    assert rows[1]["exit_code"] is None
    assert [r["event_id"] for r in rows] == ["1", "2"], "frames without event_id use id"


async def test_raw_is_never_sent(wire):
    conv = FakeConversation()
    conv.log.append(make_row(0))
    widget = ConversationWidget(conv, flush_interval=0.01)
    conv.log.append(make_row(1))
    widget._handle_message(widget, {"type": "sync", "have": 0})
    await asyncio.sleep(0.05)
    stored = ConversationWidget(frame_from_rows([make_row(2)], EVENT_COLUMNS))
    stored._handle_message(stored, {"type": "sync", "have": 0})
    assert len(wire.rows()) == 3
    assert SECRET not in json.dumps([m for _, m in wire.messages])
    assert SECRET not in stored.to_html()


def test_long_text_is_cut_and_flagged():
    row = row_dict(project_row(make_row(7, content="y" * (MAX_TEXT + 5), thought="short")))
    assert len(row["content"]) == MAX_TEXT
    assert row["truncated"] == {"content": MAX_TEXT + 5}
    assert row["thought"] == "short"
    assert row_dict(project_row(make_row(0)))["truncated"] is None


def test_edit_diff_comes_from_the_normalized_diff_column():
    from ohnb.normalize import normalize_v0
    from ohnb.normalize_v1 import normalize_v1

    raw = {
        "id": 3, "observation": "edit", "content": "edited",
        "extras": {"path": "/w/a.py", "old_content": "a = 1\nb = 2\n", "new_content": "a = 1\nb = 3\n"},
    }
    row = normalize_v0(raw)
    diff = row_dict(project_row(row))["diff"]
    assert diff.splitlines() == ["--- /w/a.py", "+++ /w/a.py", "@@ -1,2 +1,2 @@", " a = 1", "-b = 2", "+b = 3"]
    # A created file (old_content None), a V1 observation, a ready diff.
    created = normalize_v0({"id": 4, "observation": "edit", "extras": {"old_content": None, "new_content": "x\n"}})
    assert "+x" in edit_diff(created)
    v1 = normalize_v1({
        "id": "e1", "kind": "ObservationEvent", "source": "environment", "tool_name": "file_editor",
        "observation": {"kind": "FileEditorObservation", "command": "str_replace", "path": "/w/b.py",
                        "old_content": "1\n", "new_content": "2\n", "content": [{"type": "text", "text": "ok"}]},
    })
    assert v1["type"] == "edit" and "-1" in edit_diff(v1)
    ready = normalize_v0({"id": 5, "observation": "edit", "extras": {"diff": "--- a\n+++ b"}})
    assert edit_diff(ready) == "--- a\n+++ b"
    # Content that is a diff already, other types, oversized files: nothing extra.
    assert edit_diff({**row, "content": "--- /w/a.py\n+++ /w/a.py\n@@ -1 +1 @@"}) is None
    assert edit_diff({**row, "type": "read"}) is None
    huge = normalize_v0({"id": 6, "observation": "edit", "extras": {"new_content": "x" * 500_000}})
    assert huge["diff"] is None
    assert edit_diff(huge) is None
    # the widget reads no payload: a row whose raw holds a diff but whose diff column is empty shows none
    assert edit_diff({**row, "diff": None, "raw": {"extras": {"diff": "--- a\n+++ b"}}}) is None


def test_edit_diffs_of_a_stored_frame(fixtures_dir):
    events = json.loads((fixtures_dir / "v0_basic_gui_mode.json").read_text())
    rows = [normalize_v0(e, delivery="stored") for e in events]
    widget = ConversationWidget(frame_from_rows(rows, EVENT_COLUMNS))
    edits = [row_dict(project_row(r)) for r in widget._rows if r["type"] == "edit"]
    observations = [r for r in edits if r["kind"] == "observation"]
    assert observations and all(r["content"].startswith("--- /workspace/") for r in observations)
    assert all(r["diff"] is None for r in observations), "the content is the diff already"


# --- state and actions ----------------------------------------------------------------------------


def test_traits_follow_the_conversation():
    conv = FakeConversation("abc")
    widget = ConversationWidget(conv)
    assert (widget.conversation_id, widget.agent_state, widget.connection_state) == (
        "abc",
        "loading",
        "CONNECTING",
    )
    assert widget.live is True and widget.error is None and widget.can_stop is False
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


def test_close_stops_following(wire):
    conv = FakeConversation()
    widget = ConversationWidget(conv)
    widget.close()
    assert conv._listeners == [] and conv.log._listeners == []
    conv.log.append(make_row(0))
    conv.changed(agent_state="finished")
    assert wire.custom == []
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


def test_stop_calls_conv_stop_when_there_is_one():
    plain = ConversationWidget(FakeConversation())
    plain._handle_message(plain, {"type": "stop"})
    assert plain.error == NO_STOP_ERROR
    conv = StoppableConversation()
    widget = ConversationWidget(conv)
    assert widget.can_stop is True
    widget._handle_message(widget, {"type": "stop"})
    assert conv.calls == [("stop",)] and widget.error is None


async def test_a_failed_action_shows_in_error():
    conv = FakeConversation()
    conv.fail_with = RuntimeError("not connected")
    widget = ConversationWidget(conv)
    widget._handle_message(widget, {"type": "pause"})
    await asyncio.sleep(0.01)
    assert widget.error == "pause failed: not connected"


@pytest.mark.parametrize(
    "msg",
    [{"type": "send_message", "text": "hi"}, {"type": "pause"}, {"type": "resume"}, {"type": "stop"}],
)
def test_actions_on_a_stored_conversation_set_error(msg, wrong_initial_frame):
    widget = ConversationWidget(wrong_initial_frame)
    widget._handle_message(widget, msg)
    assert widget.error == READ_ONLY_ERROR


def test_other_sources_are_rejected():
    with pytest.raises(TypeError, match="Conversation or a pandas DataFrame"):
        ConversationWidget([make_row(0)])


@pytest.mark.parametrize("height", ["600px", "32em", "70vh", "12.5rem"])
def test_height_accepts_css_lengths(height):
    assert ConversationWidget(FakeConversation(), height=height).height == height


@pytest.mark.parametrize("height", ["600", "red", "1px; background: url(x)", ""])
def test_height_rejects_anything_else(height):
    with pytest.raises(Exception, match="CSS length"):
        ConversationWidget(FakeConversation(), height=height)


def test_static_bundle_is_built(wrong_initial_frame):
    path = REPO / "ohnb" / "static" / "widget.js"
    assert path.exists(), "ohnb/static/widget.js is missing: run `npm install && npm run build` in js/"
    assert "ohnb-widget" in str(ConversationWidget(wrong_initial_frame)._esm)


def test_dataframe_agent_state_is_the_last_known():
    rows = [
        make_row(0, kind="observation", type="agent_state_changed", agent_state="running"),
        make_row(1, kind="observation", type="agent_state_changed", agent_state="finished"),
        make_row(2),
    ]
    assert ConversationWidget(frame_from_rows(rows, EVENT_COLUMNS)).agent_state == "finished"
    assert ConversationWidget(frame_from_rows([make_row(0)], EVENT_COLUMNS)).agent_state is None


def test_every_agent_state_has_a_label_and_tone_in_the_front_end():
    source = (REPO / "js" / "src" / "states.ts").read_text()
    agent = source.split("export const AGENT_STATES", 1)[1].split("};", 1)[0]
    for state in AGENT_STATES:
        assert re.search(rf"\b{state}: \{{ label:", agent), f"{state} has no label in states.ts"
    execution = source.split("export const EXECUTION_STATUSES", 1)[1].split("};", 1)[0]
    statuses = ("idle", "running", "paused", "waiting_for_confirmation", "finished", "error", "stuck", "deleting")
    for status in statuses:
        assert re.search(rf"\b{status}:", execution), f"{status} missing from EXECUTION_STATUSES"


# --- static export --------------------------------------------------------------------------------


def test_to_html_embeds_rows_as_inert_json(tmp_path, wrong_initial_frame):
    hostile = '</script><script>alert(1)</script><!-- <img src=x onerror=alert(2)> & "'
    df = pd.concat(
        [
            wrong_initial_frame,
            frame_from_rows(
                [make_row(99, content=hostile, path=hostile, conversation_id="wrong-initial")],
                EVENT_COLUMNS,
            ),
        ],
        ignore_index=True,
    )
    widget = ConversationWidget(df)
    out = tmp_path / "conversation.html"
    page = widget.to_html(out, title="A <b>title</b>")
    assert out.read_text(encoding="utf-8") == page
    assert "<title>A &lt;b&gt;title&lt;/b&gt;</title>" in page
    data = page.split('<script type="application/json" id="ohnb-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and ">" not in data and "&" not in data
    snapshot = json.loads(data)
    assert snapshot["fields"] == list(WIRE_FIELDS)
    assert len(snapshot["rows"]) == 9
    assert row_dict(snapshot["rows"][-1])["content"] == hostile
    assert snapshot["traits"]["conversation_id"] == "wrong-initial"
    assert snapshot["traits"]["live"] is False
    # The only script elements are the data, the base64 bundle and the loader.
    assert page.count("<script") == 3
    assert "alert(1)" not in page.replace(data, "")
