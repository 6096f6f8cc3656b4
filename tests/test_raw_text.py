"""The ``raw`` column: each payload's JSON text, exactly as the server sent it when it came live.

Live rows keep the text they were decoded from (V0: the event's slice of the Socket.IO packet, V1:
the WebSocket frame), so a payload written with odd spacing or escapes keeps them. Rows read from
files are encoded again. ``ohnb.payloads`` decodes the column; old exports (``raw`` stored as a JSON
column or embedded as objects) read back as text.
"""

from __future__ import annotations

import asyncio
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import ohnb
from ohnb.export import _dtype_spec
from ohnb.schema import EVENT_COLUMNS
from ohnb.servers import V0ReplayServer
from ohnb.servers.v1 import V1ReplayServer
from ohnb.transports.v0_socketio import _Packet, _Received
from tests.conftest import FIXTURES

FAST = ohnb.RetryPolicy(base=0.05, cap=0.2, connect_timeout=5.0, seed=5)

# Valid JSON, but spaced and escaped the way no encoder of ours would write it.
ODD_V0 = '{ "id" : 90001,"source":"agent", "action":"message","args":{"content":"caf\\u00e9 <b>x</b>"} }'
ODD_V1 = (
    '{"kind" : "MessageEvent", "id":"odd-1","timestamp":"2026-01-01T00:00:00",'
    ' "source":"agent","llm_message":{"role":"assistant","content":[{"type":"text","text":"caf\\u00e9"}]}}'
)


async def test_v0_live_raw_is_the_packet_slice_as_sent_and_replayed_rows_decode_to_the_store():
    with V0ReplayServer() as server:
        conv = ohnb.connect(server.url, server.conversation_id, protocol="v0", retry=FAST)
        await conv.history_complete(timeout=10)
        await asyncio.to_thread(server.inject_threadsafe, f'42["oh_event",  {ODD_V0} ]', raw=True)
        await conv.wait_until(lambda c: any(r.get("id") == 90001 for r in c.log.rows), timeout=5)
        await conv.close()
        stored = {e["id"]: e for e in server.stored_events}
    row = next(r for r in conv.log.rows if r.get("id") == 90001)
    assert row["raw"] == ODD_V0
    assert (row["kind"], row["type"], row["content"]) == ("action", "message", "café <b>x</b>")
    replayed = [r for r in conv.log.rows if r["delivery"] == "replay" and r.get("id") is not None]
    assert replayed and all(json.loads(r["raw"]) == stored[r["id"]] for r in replayed)
    events = conv.events
    assert str(events["raw"].dtype) == "string"
    assert ohnb.payloads(events).map(type).eq(dict).all()


async def test_v1_live_raw_is_the_frame_text_as_sent():
    async with V1ReplayServer(FIXTURES / "v1_sdk_goal_events.jsonl") as server:
        conv = ohnb.connect(server.url, server.conversation_id, protocol="v1", retry=FAST)
        await conv.history_complete(timeout=10)
        await server.inject(ODD_V1, raw=True, store=False)
        await conv.wait_until(lambda c: any(r.get("event_id") == "odd-1" for r in c.log.rows), timeout=5)
        await conv.close()
        stored = {e["id"]: e for e in server.stored_events}
    row = next(r for r in conv.log.rows if r.get("event_id") == "odd-1")
    assert row["raw"] == ODD_V1
    assert row["v1_kind"] == "MessageEvent" and "café" in row["content"]
    from_store = [r for r in conv.log.rows if r["event_id"] in stored]
    assert from_store and all(json.loads(r["raw"]) == stored[r["event_id"]] for r in from_store)


def test_binary_attachments_still_reach_the_handler_decoded():
    packet = _Packet(encoded_packet='51-["oh_event",{"_placeholder":true,"num":0}]')
    assert packet.add_attachment(b"\x00\x01")
    assert packet.data == ["oh_event", b"\x00\x01"]  # placeholder filled: no _Received in the way


def test_only_a_single_argument_oh_event_keeps_its_text():
    one = _Packet(encoded_packet='2["oh_event" , [1, 2]]').data
    assert isinstance(one[1], _Received) and (one[1].payload, one[1].text) == ([1, 2], "[1, 2]")
    assert _Packet(encoded_packet='2["oh_event",{"a":1},2]').data == ["oh_event", {"a": 1}, 2]
    assert _Packet(encoded_packet='2["status",{"a":1}]').data == ["status", {"a": 1}]


def test_payloads_decodes_the_column_and_keeps_non_json_text():
    frame = ohnb.load(FIXTURES / "v0_wrong_initial_state.json")
    decoded = ohnb.payloads(frame)
    assert decoded.index.equals(frame.index) and decoded.name == "payload"
    assert decoded.tolist() == [json.loads(t) for t in frame["raw"]]
    assert frame.ohnb.payloads().equals(decoded)
    odd = pd.Series(["{broken", None, '"s"'], dtype="string")
    assert ohnb.payloads(odd).tolist() == ["{broken", None, "s"]


def test_a_format_1_parquet_file_reads_its_json_raw_as_text(tmp_path):
    df = ohnb.load(FIXTURES / "v0_wrong_initial_state.json")
    # what ohnb wrote before raw was text: raw an object column of JSON, declared so in the metadata
    table = pa.Table.from_pandas(df.assign(raw=df["raw"].astype(object)), preserve_index=False)
    dtypes = {c: "object" if c == "raw" else _dtype_spec(t) for c, t in df.dtypes.items()}
    meta = {"format": 1, "dtypes": dtypes, "json_columns": ["raw"]}
    pq.write_table(table.replace_schema_metadata({b"ohnb": json.dumps(meta).encode()}), tmp_path / "v1.parquet")
    back = ohnb.load(tmp_path / "v1.parquet")
    assert list(back.columns) == list(EVENT_COLUMNS)
    pd.testing.assert_frame_equal(back, df, check_exact=True)


def test_an_old_jsonl_export_with_embedded_raw_objects_reads_as_text(tmp_path):
    df = ohnb.load(FIXTURES / "v0_wrong_initial_state.json")
    path = ohnb.save(df, tmp_path / "new.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert all(isinstance(line["raw"], str) for line in lines)  # written as JSON strings
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps({**line, "raw": json.loads(line["raw"])}) + "\n" for line in lines))
    back = ohnb.load(old)
    assert ohnb.payloads(back).tolist() == ohnb.payloads(df).tolist()
    assert str(back["raw"].dtype) == "string"
