"""The client's message handling and lifecycle: fuzzed payloads, secrets, leaks across many cycles."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import threading

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ohnb
from ohnb.conversation import Conversation
from ohnb.normalize import normalize_v0
from ohnb.transports import AttemptEnd
from ohnb.urls import parse_address


class ScriptedTransport:
    """A transport that plays a fixed script of payloads: ``replay`` before open, ``live`` after."""

    protocol = "v0"
    normalize = staticmethod(normalize_v0)

    @staticmethod
    def resume_point(log):
        return log.last_id

    def __init__(self, replay: list, live: list) -> None:
        self.address = parse_address("http://127.0.0.1:1", "scripted")
        self.replay, self.live = replay, live
        self.runs = 0

    async def run(self, latest_event_id, handlers):
        self.runs += 1
        for payload in self.replay:
            handlers.on_event(payload)
        handlers.on_open()
        for payload in self.live:
            handlers.on_event(payload)
        handlers.on_other("surprise", ("x",))
        return AttemptEnd("refused", "done")  # final: the loop stops after one attempt

    async def send_message(self, text):  # pragma: no cover - not used here
        raise ohnb.NotConnected("scripted")

    async def close(self):
        pass


# text as json.loads can make it: lone surrogates ("\ud800" escapes) included
texts = st.text(st.characters(categories=["Cs", "Ll", "Lu", "Nd", "So", "Zs", "Po"]), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=12,
)
event_like = st.fixed_dictionaries(
    {"id": st.integers(0, 30) | st.none() | st.text(max_size=3)},
    optional={
        "action": st.sampled_from(["run", "message", "recall"]) | json_values,
        "observation": st.sampled_from(["run", "agent_state_changed"]) | json_values,
        "extras": st.fixed_dictionaries({"agent_state": st.sampled_from(["running", "paused"]) | json_values}),
        "status_update": st.booleans(),
        "args": json_values,
    },
)
payloads = st.lists(event_like | json_values | st.binary(max_size=10), max_size=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(replay=payloads, live=payloads)
def test_every_payload_is_accounted_for_and_nothing_raises(replay, live):
    async def scenario():
        transport = ScriptedTransport(replay, live)
        conv = Conversation(transport, retry=ohnb.RetryPolicy(base=0, cap=0))
        conv.log.settle_rows = 3  # rows settle into Arrow all along, as in a long replay
        conv.start()
        await conv.wait_closed()
        return conv

    conv = asyncio.run(scenario())
    received = len(replay) + len(live) + 1  # + the unexpected "surprise" message
    assert len(conv.log) + conv.duplicates == received
    ids = [r["event_id"] for r in conv.log.rows if r.get("event_id") is not None]
    assert len(ids) == len(set(ids))
    attempt = conv.attempts.iloc[0]
    assert attempt["events_replayed"] + attempt["events_live"] + attempt["duplicates"] == received
    assert len(conv.events) == len(conv.log)
    assert conv.connection_state == "CLOSED"  # the scripted refusal ended it: no crash, no retry


async def test_secret_key_never_leaks_into_frames_repr_logs_widget_or_files(tmp_path, caplog):
    from ohnb.export import to_parquet
    from ohnb.servers import V0ReplayServer
    from ohnb.widget import ConversationWidget

    caplog.set_level(logging.DEBUG)
    secret = "sk-LEAK-CHECK-7f3a"
    async with V0ReplayServer(session_api_key=secret, live_from=250, speed=1000, max_gap=0.01) as server:
        conv = ohnb.connect(server.url, server.conversation_id, session_api_key=secret)
        widget = ConversationWidget(conv)
        sent: list = []
        widget.send = lambda msg, buffers=None: sent.append(msg)
        await conv.history_complete(timeout=10)
        await server.drop_connections(abrupt=True)
        await conv.wait_until(lambda c: c.reconnects >= 1 and c.connection_state == "OPEN", 10)
        widget._handle_message(widget, {"type": "sync", "have": 0})
        await conv.close()
    to_parquet(conv.events, tmp_path / "events.parquet")
    to_parquet(conv.attempts, tmp_path / "attempts.parquet")
    texts = [
        repr(conv),
        conv.events.astype(str).to_string(),
        conv.attempts.to_string(),
        caplog.text,
        json.dumps(widget.get_state(), default=str),
        json.dumps(sent, default=str),
    ]
    texts += [p.read_bytes().decode("latin-1") for p in tmp_path.iterdir()]
    assert len(sent) > 0 and len(conv.events) > 100
    for text in texts:
        assert secret not in text


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_100_connect_close_cycles_leave_no_task_socket_or_thread():
    from ohnb.servers import V0ReplayServer

    # The server runs on its own thread and loop, so every task left in this loop would be the client's.
    with V0ReplayServer() as server:
        # warm up once (imports, lazily created objects), then measure
        conv = ohnb.connect(server.url, server.conversation_id)
        await conv.history_complete(timeout=10)
        await conv.close()
        await asyncio.sleep(0.1)
        gc.collect()
        tasks0 = {t for t in asyncio.all_tasks() if not t.done()}
        fds0, threads0 = _open_fds(), threading.active_count()
        for _ in range(100):
            conv = ohnb.connect(server.url, server.conversation_id)
            await conv.history_complete(timeout=10)
            await conv.close()
        await asyncio.sleep(0.2)
        gc.collect()
        leftover = {t for t in asyncio.all_tasks() if not t.done()} - tasks0
        assert not leftover, leftover
        assert threading.active_count() == threads0
        # the server side still holds its listening socket; allow the few fds asyncio may cache
        assert _open_fds() <= fds0 + 2, (fds0, _open_fds())
