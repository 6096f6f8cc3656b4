"""ohnb.load / ohnb.save on every stored form in shared/fixtures, on servers, and round trips.

Expected numbers are computed here from the raw files with plain json, not from ohnb's output.
"""

from __future__ import annotations

import collections
import http.server
import json
import shutil
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ohnb
from ohnb.loader import LoadError, load_conversations
from ohnb.normalize import normalize_v0
from ohnb.normalize_v1 import normalize_v1
from ohnb.schema import EVENT_COLUMNS, empty_frame, frame_from_rows
from ohnb.stores import read_v1_events
from ohnb.stores.remote import HTTPStatusError
from tests.conftest import FIXTURES

CAPTURES = FIXTURES / "captures"


def _jsonl(path: Path) -> list[Any]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _schema_ok(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(EVENT_COLUMNS)
    reference = empty_frame(EVENT_COLUMNS).dtypes
    assert (frame.dtypes == reference).all(), frame.dtypes[frame.dtypes != reference]
    assert isinstance(frame.index, pd.RangeIndex)


def _kind_type(event: dict[str, Any]) -> tuple[str, str]:
    return ("action", event["action"]) if "action" in event else ("observation", event["observation"])


# ---------------------------------------------------------------------------------------------
# V0 forms


def test_trajectory_export(fixtures_dir):
    raw = json.loads((fixtures_dir / "v0_trajectory_export_297ev.json").read_text())["trajectory"]
    df = ohnb.load(fixtures_dir / "v0_trajectory_export_297ev.json")
    _schema_ok(df)
    assert len(df) == 297
    assert (df["conversation_id"] == "v0_trajectory_export_297ev").all()
    assert (df["delivery"] == "stored").all() and df["received_at"].isna().all()
    assert df["id"].tolist() == sorted(e["id"] for e in raw)
    got = collections.Counter(zip(df["kind"], df["type"], strict=True))
    assert got == collections.Counter(map(_kind_type, raw))
    users = sum(1 for e in raw if e.get("action") == "message" and e.get("source") == "user")
    assert users == 24
    user_turns = ((df["kind"] == "action") & (df["type"] == "message") & (df["source"] == "user")).sum()
    assert user_turns == users
    assert ohnb.payloads(df).tolist() == raw


def test_v0_bare_lists_and_file_store(fixtures_dir):
    for name in ("v0_basic_gui_mode.json", "v0_wrong_initial_state.json"):
        raw = json.loads((fixtures_dir / name).read_text())
        df = ohnb.load(fixtures_dir / name)
        assert collections.Counter(zip(df["kind"], df["type"], strict=True)) == collections.Counter(map(_kind_type, raw))
    meta = json.loads((fixtures_dir / "v0_filestore_session" / "metadata.json").read_text())
    for path in (fixtures_dir / "v0_filestore_session", fixtures_dir / "v0_filestore_session" / "events"):
        df = ohnb.load(path)
        assert df["id"].tolist() == list(range(14))
        assert (df["conversation_id"] == meta["conversation_id"]).all()
    table = load_conversations(fixtures_dir / "v0_filestore_session")
    assert table.loc[0, "accumulated_cost"] == pytest.approx(meta["accumulated_cost"])
    assert table.loc[0, "model"] == meta["llm_model"]


def test_v0_eval_output_one_conversation_per_record(fixtures_dir):
    path = fixtures_dir / "v0_multi_swe_bench_output.jsonl"
    records = _jsonl(path)
    df = ohnb.load(path)
    _schema_ok(df)
    ids = [r["instance_id"] for r in records]
    assert df["conversation_id"].unique().tolist() == ids
    sizes = df.groupby("conversation_id", sort=False).size()
    assert sizes.tolist() == [len(r["history"]) for r in records] == [49, 70, 103]
    table = load_conversations(path)
    assert table["instance_id"].tolist() == ids and table["line"].tolist() == [1, 2, 3]
    assert table["error"].isna().tolist() == [r["error"] is None for r in records]
    assert table["prompt_tokens"].tolist() == [r["metrics"]["accumulated_token_usage"]["prompt_tokens"] for r in records]


def test_pair_form_eval_record(tmp_path):
    history = [
        [{"id": 0, "action": "message", "source": "user", "args": {"content": "hi"}}, {"observation": "null", "content": ""}],
        [{"id": 1, "action": "run", "source": "agent", "args": {"command": "ls"}},
         {"id": 2, "observation": "run", "cause": 1, "content": "a", "extras": {}}],
    ]
    path = tmp_path / "output.jsonl"
    path.write_text(json.dumps({"instance_id": "old", "history": history}) + "\n")
    df = ohnb.load(path)
    assert df["id"].tolist() == [0, 1, 2] and (df["conversation_id"] == "old").all()
    assert df["cause_id"].tolist()[-1] == "1"


def test_v0_events_per_line_and_events_page(tmp_path, fixtures_dir):
    raw = json.loads((fixtures_dir / "v0_basic_gui_mode.json").read_text())
    lines = tmp_path / "events.jsonl"
    lines.write_text("\n".join(json.dumps(e) for e in raw))
    assert ohnb.load(lines)["id"].tolist() == [e["id"] for e in raw]
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"events": raw[:5], "has_more": True}))
    assert len(ohnb.load(page)) == 5
    assert load_conversations(page)["form"].tolist() == ["v0_events_page"]


# ---------------------------------------------------------------------------------------------
# V1 forms


def test_v1_eval_output_45_conversations(fixtures_dir):
    path = fixtures_dir / "v1_eval_output_openagentsafety.jsonl"
    records = _jsonl(path)
    assert len(records) == 45
    df = ohnb.load(path)
    _schema_ok(df)
    assert len(df) == sum(len(r["history"] or []) for r in records) == 797
    non_empty = [r["instance_id"] for r in records if r["history"]]
    assert df["conversation_id"].unique().tolist() == non_empty and len(non_empty) == 43
    table = load_conversations(path)
    assert len(table) == 45
    assert table["conversation_id"].tolist() == [r["instance_id"] for r in records]
    assert (table["events"] == 0).sum() == 2
    assert table["events"].tolist() == [len(r["history"] or []) for r in records]
    assert set(table["form"]) == {"v1_eval_output"}
    assert table["model"].tolist() == [r["metadata"]["llm"]["model"] for r in records]
    errors = [r["instance_id"] for r in records if r["error"]]
    assert table.loc[table["error"].notna(), "conversation_id"].tolist() == errors


def test_v1_cli_folders(fixtures_dir):
    root = fixtures_dir / "v1_cli_conversations"
    df = ohnb.load(root)
    folders = sorted(p.name for p in root.iterdir())
    assert df["conversation_id"].unique().tolist() == folders
    for folder in folders:
        files = sorted((root / folder).glob("event-*.json"), key=lambda p: int(p.name.split("-")[1]))
        want = [json.loads(p.read_text())["id"] for p in files]
        assert df.loc[df["conversation_id"] == folder, "event_id"].tolist() == want
        assert read_v1_events(root / folder) == [json.loads(p.read_text()) for p in files]
    assert (df["v1_kind"].notna()).all() and df["id"].isna().all()


def test_v1_cli_base_state_names_the_conversation(fixtures_dir, tmp_path):
    conv = tmp_path / "abc123"
    shutil.copytree(fixtures_dir / "v1_cli_conversations" / "simple_echo_hello_world", conv / "events")
    (conv / "base_state.json").write_text(json.dumps({"id": "real-id-1"}))
    df = ohnb.load(conv)
    assert (df["conversation_id"] == "real-id-1").all() and len(df) == 5


def test_v1_events_per_line(fixtures_dir):
    raw = _jsonl(fixtures_dir / "v1_sdk_goal_events.jsonl")
    df = ohnb.load(fixtures_dir / "v1_sdk_goal_events.jsonl")
    assert df["event_id"].tolist() == [e["id"] for e in raw]
    assert df["type"].value_counts()["stats"] == sum(e.get("key") == "stats" for e in raw)


def test_captured_frames_keep_receive_times_and_attempts(fixtures_dir):
    path = CAPTURES / "v1_real_server_live_capture_run2.jsonl"
    records = _jsonl(path)
    df = ohnb.load(path)
    attempt, want_rows, seen = 0, [], set()
    for rec in records:
        if "_meta" in rec:
            attempt += 1
            continue
        if rec["data"]["id"] not in seen:
            seen.add(rec["data"]["id"])
            want_rows.append((rec["data"]["id"], rec["recv_ts"], attempt))
    assert attempt == 4
    assert df["event_id"].tolist() == [w[0] for w in want_rows]
    assert df["attempt"].tolist() == [w[2] for w in want_rows]
    got = df["received_at"].map(lambda t: t.timestamp()).tolist()
    assert got == pytest.approx([w[1] for w in want_rows], abs=1e-6)
    cid = records[0]["_meta"]["conversation_id"]
    assert (df["conversation_id"] == cid).all()
    lag = df.ohnb.delivery_lag(server_tz="UTC")  # the capture's server ran in UTC
    assert (lag["lag_s"].abs() < 2).all()


def test_frames_are_deduplicated_and_counted(fixtures_dir):
    path = CAPTURES / "v1_real_server_resend_during_run_trial0_frames.json"
    frames = json.loads(path.read_text())
    ids = [f["data"]["id"] for f in frames]
    df = ohnb.load(path)
    assert len(df) == len(set(ids))
    table = load_conversations(path)
    assert table.loc[0, "duplicates"] == len(ids) - len(set(ids)) == 1
    assert len(ohnb.load(path, dedupe=False)) == len(ids)


def test_v0_capture_frames(fixtures_dir):
    frames = json.loads((CAPTURES / "v0_real_server_live.json").read_text())
    df = ohnb.load(CAPTURES / "v0_real_server_live.json")
    assert len(df) == len(frames)
    assert df["kind"].tolist()[:3] == ["observation", "status", "status"]
    assert df["received_at"].isna().all()  # recv_monotonic has no epoch


def test_rest_search_page(tmp_path):
    rest = json.loads((CAPTURES / "v1_real_server_rest.json").read_text())
    page = tmp_path / "search.json"
    page.write_text(json.dumps(rest["search_default"]["body"]))
    df = ohnb.load(page)
    assert df["event_id"].tolist() == [i["id"] for i in rest["search_default"]["body"]["items"]]


# ---------------------------------------------------------------------------------------------
# many files, folders, errors


def test_many_files_one_frame(fixtures_dir):
    paths = [fixtures_dir / "v0_trajectory_export_297ev.json", fixtures_dir / "v1_sdk_goal_events.jsonl",
             fixtures_dir / "v0_multi_swe_bench_output.jsonl"]
    df = ohnb.load(paths)
    _schema_ok(df)
    assert len(df) == 297 + 10 + 222
    assert df["conversation_id"].nunique() == 1 + 1 + 3
    assert ohnb.load([str(p) for p in paths]).equals(df)


def test_glob_pattern(fixtures_dir):
    df = ohnb.load(str(fixtures_dir / "v0_*.json"))
    assert set(df["conversation_id"]) == {"v0_basic_gui_mode", "v0_trajectory_export_297ev", "v0_wrong_initial_state"}
    with pytest.raises(FileNotFoundError, match="no file matches"):
        ohnb.load(str(fixtures_dir / "nothing_*.json"))


#: The files in shared/fixtures that hold no conversation (summaries of experiments, examples).
NOT_CONVERSATIONS = {
    "v1_real_server_examples_by_kind.json",
    "v1_real_server_limits_and_close_codes.json",
    "v1_real_server_reconnect.jsonl",
    "v1_real_server_rest.json",
    "v1_real_server_restart_midrun.json",
    "v1_real_server_sigkill_restart.json",
}


def test_whole_fixtures_folder_reports_what_it_skips(fixtures_dir):
    df, errors = ohnb.load(fixtures_dir, errors="skip", progress=False)
    assert {Path(e.source).name for e in errors} == NOT_CONVERSATIONS
    assert all(isinstance(e, LoadError) and "ValueError" in e.error for e in errors)
    _schema_ok(df)
    expected = 297 + 18 + 8 + 222 + 14 + 10 + 44 + 797
    assert len(df) > expected  # plus the captures
    assert df.groupby("conversation_id")["event_id"].apply(lambda s: s.dropna().is_unique).all()
    with pytest.raises(ValueError, match=r"v1_real_server_examples_by_kind\.json: unknown JSON shape"):
        ohnb.load(fixtures_dir)


def test_skip_reports_missing_and_broken_files(tmp_path, fixtures_dir):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    good = fixtures_dir / "v0_wrong_initial_state.json"
    df, errors = ohnb.load([good, bad, tmp_path / "missing.json"], errors="skip")
    assert len(df) == 8
    assert [Path(e.source).name for e in errors] == ["bad.json", "missing.json"]
    assert "not valid JSON" in errors[0].error and "FileNotFoundError" in errors[1].error
    with pytest.raises(ValueError, match=r"bad\.json: not valid JSON"):
        ohnb.load([good, bad])
    lines = tmp_path / "out.jsonl"
    lines.write_text('{"instance_id": "a", "history": []}\n{"instance_id": broken\n')
    with pytest.raises(ValueError, match=r"out\.jsonl: line 2 is not valid JSON"):
        ohnb.load(lines)
    with pytest.raises(ValueError, match="errors must be"):
        ohnb.load(good, errors="ignore")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="unsupported source int"):
        ohnb.load(42)


def test_conversation_id_override(fixtures_dir):
    df = ohnb.load(fixtures_dir / "v0_wrong_initial_state.json", conversation_id="mine")
    assert (df["conversation_id"] == "mine").all()
    with pytest.raises(ValueError, match="holds 3"):
        ohnb.load(fixtures_dir / "v0_multi_swe_bench_output.jsonl", conversation_id="x")


def test_names_that_collide_are_kept_apart_but_real_ids_merge(tmp_path, fixtures_dir):
    for run in ("run1", "run2"):
        (tmp_path / run).mkdir()
        shutil.copy(fixtures_dir / "v0_multi_swe_bench_output.jsonl", tmp_path / run / "output.jsonl")
        shutil.copy(fixtures_dir / "v0_wrong_initial_state.json", tmp_path / run / "trajectory.json")
    df = ohnb.load(tmp_path)
    assert len(df) == 2 * (222 + 8)
    assert df["conversation_id"].nunique() == 2 * (3 + 1)
    assert {"run1/trajectory", "run2/trajectory", "run1/output:ponylang__ponyc-4593"} <= set(df["conversation_id"])
    # the same real conversation captured twice is one conversation
    capture = CAPTURES / "v1_real_server_mock_llm_capture.jsonl"
    twice = ohnb.load([capture, capture])
    assert twice.equals(ohnb.load(capture))


def test_duplicate_instance_ids_in_one_file(tmp_path):
    rec = {"instance_id": "same", "history": [{"id": 0, "action": "message", "source": "user", "args": {}}]}
    path = tmp_path / "output.jsonl"
    path.write_text(json.dumps(rec) + "\n" + json.dumps(rec) + "\n")
    assert ohnb.load(path)["conversation_id"].tolist() == ["same", "same#2"]


def test_in_memory_lists():
    v0 = [{"id": 1, "action": "run", "args": {}}, {"id": 0, "action": "message", "args": {}}]
    assert ohnb.load(v0)["id"].tolist() == [0, 1]
    v1 = [{"id": "a", "kind": "MessageEvent", "source": "user", "llm_message": {"content": [{"type": "text", "text": "hi"}]}}]
    df = ohnb.load(v1, conversation_id="c")
    assert df[["conversation_id", "type", "content"]].values.tolist() == [["c", "message", "hi"]]
    assert len(ohnb.load([])) == 0


def test_progress_bar_can_be_forced(fixtures_dir, capsys):
    ohnb.load(fixtures_dir / "v1_cli_conversations", progress=True)
    assert "normalizing" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# servers


class _Server:
    """A stdlib HTTP server with a V1 ``/events/search`` (pages of 2, ``next_page_id`` = first id of
    the next page) and a V0 ``/events`` (``start_id``, ``limit``, ``has_more``), both behind
    ``X-Session-API-Key``."""

    def __init__(self, v1_events: list[dict], v0_events: list[dict], key: str) -> None:
        outer = self
        self.requests: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                outer.requests.append(self.path)
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if self.headers.get("X-Session-API-Key") != key:
                    return self._send(401, {"detail": "Unauthorized"})
                if url.path == "/api/conversations/v1conv/events/search":
                    ids = [e["id"] for e in v1_events]
                    start = ids.index(query["page_id"]) if "page_id" in query else 0
                    limit = min(int(query.get("limit", 100)), 2)
                    page = v1_events[start : start + limit]
                    nxt = ids[start + limit] if start + limit < len(ids) else None
                    return self._send(200, {"items": page, "next_page_id": nxt})
                if url.path == "/api/conversations/v0conv/events":
                    start, limit = int(query["start_id"]), int(query["limit"])
                    matching = [e for e in v0_events if e["id"] >= start]
                    return self._send(200, {"events": matching[:limit], "has_more": len(matching) > limit})
                return self._send(404, {"detail": "Not Found"})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(fixtures_dir):
    v1 = [r["data"] for r in _jsonl(CAPTURES / "v1_real_server_mock_llm_capture.jsonl") if "data" in r]
    unique = list({e["id"]: e for e in v1}.values())
    v0 = json.loads((fixtures_dir / "v0_trajectory_export_297ev.json").read_text())["trajectory"]
    with _Server(unique, v0, key="s3cret") as srv:
        srv.v1, srv.v0 = unique, v0
        yield srv


def test_v1_server_is_read_page_by_page(server):
    df = ohnb.load(f"{server.url}/api/conversations/v1conv", session_api_key="s3cret")
    assert df["event_id"].tolist() == [e["id"] for e in server.v1]
    assert (df["conversation_id"] == "v1conv").all()
    pages = [r for r in server.requests if "/events/search" in r]
    assert len(pages) == -(-len(server.v1) // 2)
    assert load_conversations(server.url, conversation_id="v1conv", session_api_key="s3cret")["form"].tolist() == ["server_v1"]


def test_v0_server_is_found_when_v1_is_absent(server):
    df = ohnb.load(server.url, conversation_id="v0conv", session_api_key="s3cret")
    assert df["id"].tolist() == [e["id"] for e in server.v0]
    v0_pages = [r for r in server.requests if "/events?" in r]
    assert len(v0_pages) == 3  # 100 + 100 + 97
    assert "start_id=299" not in " ".join(v0_pages)
    assert ohnb.load(server.url, conversation_id="v0conv", session_api_key="s3cret", generation="v0").equals(df)


def test_server_errors_name_the_status_not_the_key(server):
    with pytest.raises(HTTPStatusError, match="401") as info:
        ohnb.load(server.url, conversation_id="v1conv", session_api_key="wrong-key")
    assert "wrong-key" not in str(info.value)
    df, errors = ohnb.load(f"{server.url}/api/conversations/nope", session_api_key="s3cret", errors="skip")
    assert df.empty and "404" in errors[0].error
    assert "s3cret" not in errors[0].error


# ---------------------------------------------------------------------------------------------
# save and load back


@pytest.fixture(scope="module")
def everything():
    frame, _ = ohnb.load(FIXTURES, errors="skip", progress=False)
    return frame


@pytest.mark.parametrize("name,kwargs", [("a.parquet", {}), ("a.jsonl", {}), ("a.ndjson", {}),
                                         ("dataset", {"partition_by": "conversation_id"})])
def test_load_save_load_is_identical(everything, tmp_path, name, kwargs):
    path = ohnb.save(everything, tmp_path / name, **kwargs)
    back = ohnb.load(path)
    pd.testing.assert_frame_equal(back, everything, check_exact=True)
    again = ohnb.load(ohnb.save(back, tmp_path / ("b" + name), **kwargs))
    pd.testing.assert_frame_equal(again, everything, check_exact=True)


def test_dataset_is_plain_hive_parquet(everything, tmp_path):
    import pyarrow.dataset as ds

    root = everything.ohnb.save(tmp_path / "ds", partition_by="conversation_id")
    folders = {p.name for p in root.iterdir()}
    assert len(folders) == everything["conversation_id"].nunique()
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == len(everything)
    assert "_ohnb_row" in table.column_names and "conversation_id" in table.column_names
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ohnb.save(everything, root, partition_by="conversation_id")
    ohnb.save(everything.head(3), root, partition_by="conversation_id", overwrite=True)
    assert len(ohnb.load(root)) == 3
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="holds other files"):
        ohnb.save(everything, tmp_path / "other", partition_by="conversation_id", overwrite=True)
    with pytest.raises(ValueError, match="does not apply to JSONL"):
        ohnb.save(everything, tmp_path / "x.jsonl", partition_by="conversation_id")


def test_parquet_without_suffix(tmp_path, fixtures_dir):
    df = ohnb.load(fixtures_dir / "v0_wrong_initial_state.json")
    path = ohnb.save(df, tmp_path / "events")
    pd.testing.assert_frame_equal(ohnb.load(path), df)


def test_attempts_round_trip(tmp_path):
    from ohnb.schema import ATTEMPT_COLUMNS

    attempts = frame_from_rows(
        [dict(attempt=1, started_at=1.7e9, connected_at=1.7e9 + 0.25, delay_s=0.0, outcome="connected",
              events_replayed=3, events_live=0, duplicates=0)],
        ATTEMPT_COLUMNS,
    )
    for name in ("att.parquet", "att.jsonl"):
        back = ohnb.load(ohnb.save(attempts, tmp_path / name))
        pd.testing.assert_frame_equal(back, attempts, check_exact=True)


def test_old_ohnb_parquet_without_metadata(tmp_path, fixtures_dir):
    df = ohnb.load(fixtures_dir / "v0_wrong_initial_state.json")
    old = df.drop(columns=["tool", "v1_kind"]).copy()
    old["raw"] = old["raw"].astype(object)  # JSON text in an untyped column
    old.to_parquet(tmp_path / "old.parquet", index=False)  # as ohnb 0.1 wrote it
    back = ohnb.load(tmp_path / "old.parquet")
    assert list(back.columns) == list(EVENT_COLUMNS)
    pd.testing.assert_frame_equal(back.drop(columns=["tool"]), df.drop(columns=["tool"]), check_exact=True)


def test_exports_written_with_python_string_storage_read_back_as_todays_frames(tmp_path, fixtures_dir):
    df = ohnb.load(fixtures_dir / "v0_wrong_initial_state.json")
    text = [c for c, spec in EVENT_COLUMNS.items() if spec == "string"]
    before = df.astype({c: pd.StringDtype("python") for c in text})  # as ohnb wrote frames until Arrow
    for name in ("old.parquet", "old.jsonl"):
        back = ohnb.load(ohnb.save(before, tmp_path / name))
        assert all(back[c].dtype.storage == "pyarrow" for c in text)
        pd.testing.assert_frame_equal(back, df, check_exact=True)


def test_large_inputs_convert_in_chunks_with_one_dtype_per_column(monkeypatch):
    import ohnb.schema as schema

    monkeypatch.setattr(schema, "CHUNK_ROWS", 3)
    rows = [{"id": n, "event_id": str(n), "content": f"é{n}", "timestamp": f"2026-01-01T00:00:{n:02d}"} for n in range(7)]
    rows[4]["timestamp"] = 1_767_225_604.0  # a chunk whose times are numbers, not text
    rows[5]["id"] = "not a number"
    made = iter(rows)
    frame = frame_from_rows(made, EVENT_COLUMNS)
    assert next(made, None) is None  # a generator is read to its end
    assert list(frame.dtypes) == list(frame_from_rows(rows[:1], EVENT_COLUMNS).dtypes)
    assert frame["id"].tolist() == [0, 1, 2, 3, 4, pd.NA, 6]
    assert frame["content"].tolist() == [f"é{n}" for n in range(7)]
    assert frame.loc[4, "timestamp"] == pd.Timestamp("2026-01-01T00:00:04")
    assert frame.loc[6, "timestamp"] == pd.Timestamp("2026-01-01T00:00:06")


_POOL = [e for e in json.loads((FIXTURES / "v0_basic_gui_mode.json").read_text())] + [
    r["data"] for r in _jsonl(CAPTURES / "v1_real_server_mock_llm_stream_capture.jsonl") if "data" in r
]
_ids = st.one_of(st.none(), st.sampled_from(["a", "b/c", "x=y", "ünï cödé", "%20 space", "__HIVE_DEFAULT_PARTITION__x"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    picks=st.lists(st.tuples(st.integers(0, len(_POOL) - 1), _ids,
                             st.one_of(st.none(), st.floats(1e9, 2e9)), st.one_of(st.none(), st.integers(1, 5))),
                   max_size=12),
    fmt=st.sampled_from(["f.parquet", "f.jsonl", "ds"]),
)
def test_round_trip_property(tmp_path_factory, picks, fmt):
    rows = []
    for index, cid, at, attempt in picks:
        payload = _POOL[index]
        norm = normalize_v1 if "kind" in payload else normalize_v0
        rows.append(norm(payload, received_at=at, attempt=attempt, delivery="live", conversation_id=cid))
    frame = frame_from_rows(rows, EVENT_COLUMNS)
    folder = tmp_path_factory.mktemp("rt")
    kwargs = {"partition_by": "conversation_id"} if fmt == "ds" else {}
    if fmt == "ds" and frame.empty:
        return  # an empty dataset is an empty folder: nothing to read back
    back = ohnb.load(ohnb.save(frame, folder / fmt, **kwargs))
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
