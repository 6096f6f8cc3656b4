"""Readers of stored/exported OpenHands V0 conversations (ohnb.stores)."""

from __future__ import annotations

import collections
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ohnb.stores import default_conversation_path, read_v0_events


def _kind(ev: dict[str, Any]) -> str:
    return ev["action"] if "action" in ev else "obs:" + ev["observation"]


def _ids(events: list[dict[str, Any]]) -> list[int]:
    return [e["id"] for e in events]


# ---------------------------------------------------------------------------------------------
# every fixture form


def test_trajectory_export_counts_match_file(fixtures_dir: Path) -> None:
    path = fixtures_dir / "v0_trajectory_export_297ev.json"
    raw = json.loads(path.read_text())["trajectory"]
    events = read_v0_events(path)
    assert len(events) == len(raw) == 297
    assert _ids(events) == sorted(_ids(events))
    assert _ids(events)[:3] == [0, 3, 4] and events[-1]["id"] == 298  # 1 and 2 hidden
    counts = collections.Counter(_kind(e) for e in events)
    assert counts == collections.Counter(_kind(e) for e in raw)
    # numbers from fixtures/README.md
    assert counts["run"] == counts["obs:run"] == 65
    assert counts["obs:agent_state_changed"] == 49
    assert counts["message"] == 46
    assert (counts["recall"], counts["obs:recall"]) == (24, 7)
    assert counts["obs:null"] == 17
    assert counts["read"] == counts["obs:read"] == 9
    assert counts["change_agent_state"] == 3
    assert counts["condensation"] == 2 and counts["system"] == 1
    # the parsed objects themselves, in order: equal to the file content
    assert events == raw


def test_str_and_path_sources_agree(fixtures_dir: Path) -> None:
    path = fixtures_dir / "v0_basic_gui_mode.json"
    assert read_v0_events(str(path)) == read_v0_events(path)


@pytest.mark.parametrize(
    ("name", "n", "first", "last"),
    [("v0_basic_gui_mode.json", 18, 0, 17), ("v0_wrong_initial_state.json", 8, 0, 9)],
)
def test_bare_list_trajectories(
    fixtures_dir: Path, name: str, n: int, first: int, last: int
) -> None:
    raw = json.loads((fixtures_dir / name).read_text())
    assert isinstance(raw, list)
    events = read_v0_events(fixtures_dir / name)
    assert len(events) == n
    assert (events[0]["id"], events[-1]["id"]) == (first, last)
    assert collections.Counter(map(_kind, events)) == collections.Counter(map(_kind, raw))


def test_basic_gui_mode_types(fixtures_dir: Path) -> None:
    events = read_v0_events(fixtures_dir / "v0_basic_gui_mode.json")
    counts = collections.Counter(map(_kind, events))
    assert counts["obs:agent_state_changed"] == 4
    assert counts["obs:null"] == 3
    assert counts["change_agent_state"] == 1
    states = [e["extras"]["agent_state"] for e in events if _kind(e) == "obs:agent_state_changed"]
    assert states == ["loading", "init", "running", "awaiting_user_input"]


@pytest.mark.parametrize("sub", ["", "events"])
def test_filestore_session(fixtures_dir: Path, sub: str) -> None:
    folder = fixtures_dir / "v0_filestore_session"
    events = read_v0_events(folder / sub if sub else folder)
    assert _ids(events) == list(range(14))  # numeric order: 10 comes after 9, not after 1
    files = sorted((folder / "events").glob("*.json"), key=lambda p: int(p.stem))
    assert events == [json.loads(p.read_text()) for p in files]
    states = [e["extras"]["agent_state"] for e in events if _kind(e) == "obs:agent_state_changed"]
    assert states[0] == "loading" and states[-1] == "finished"
    assert collections.Counter(map(_kind, events))["run_ipython"] == 2


def test_filestore_ignores_other_files(fixtures_dir: Path, tmp_path: Path) -> None:
    dst = tmp_path / "sess"
    shutil.copytree(fixtures_dir / "v0_filestore_session", dst)
    (dst / "events").chmod(0o755)
    (dst / "events" / "notes.json").write_text("{}")
    (dst / "events" / "event_cache").mkdir()
    assert len(read_v0_events(dst)) == 14


def test_eval_output_records(fixtures_dir: Path) -> None:
    path = fixtures_dir / "v0_multi_swe_bench_output.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    default = read_v0_events(path)
    assert default == lines[0]["history"] and len(default) == 49
    assert 3 not in _ids(default)  # id 3 missing in the file
    for i, n in enumerate([49, 70, 103]):
        events = read_v0_events(path, record=i)
        assert len(events) == n
        assert collections.Counter(map(_kind, events)) == collections.Counter(
            map(_kind, lines[i]["history"])
        )
    by_id = read_v0_events(path, instance_id="ponylang__ponyc-4593")
    assert by_id == read_v0_events(path, record=1)
    assert read_v0_events(path, record=-1) == read_v0_events(path, record=2)


def test_eval_output_single_record_json(fixtures_dir: Path, tmp_path: Path) -> None:
    rec = json.loads((fixtures_dir / "v0_multi_swe_bench_output.jsonl").read_text().splitlines()[1])
    p = tmp_path / "one.json"
    p.write_text(json.dumps(rec))
    assert len(read_v0_events(p)) == 70
    assert len(read_v0_events(p, instance_id=rec["instance_id"])) == 70


def test_events_page_form(tmp_path: Path, fixtures_dir: Path) -> None:
    events = read_v0_events(fixtures_dir / "v0_basic_gui_mode.json")
    p = tmp_path / "page.json"
    p.write_text(json.dumps({"events": events[:5], "has_more": True}))
    assert read_v0_events(p) == events[:5]


def _ev(i: int | None, kind: str, **kw: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {"source": "agent", "message": ""}
    if i is not None:
        ev["id"] = i
    if kind.startswith("obs:"):
        ev.update(observation=kind[4:], content="", extras={})
    else:
        ev.update(action=kind, args={})
    ev.update(kw)
    return ev


def test_old_pair_form_is_flattened(tmp_path: Path) -> None:
    history = [
        [_ev(0, "message", source="user"), _ev(None, "obs:null")],  # synthesised placeholder
        [_ev(1, "run"), _ev(2, "obs:run", cause=1)],
        [_ev(None, "null"), _ev(5, "obs:run", cause=-1)],  # background output, NullAction sentinel
        [_ev(3, "read"), _ev(4, "obs:read", cause=3)],
    ]
    flat = read_v0_events(history)
    assert _ids(flat) == [0, 1, 2, 3, 4, 5]
    assert [_kind(e) for e in flat] == ["message", "run", "obs:run", "read", "obs:read", "obs:run"]
    p = tmp_path / "out.jsonl"
    p.write_text(
        json.dumps({"instance_id": "a", "history": []})
        + "\n"
        + json.dumps({"instance_id": "b", "history": history})
        + "\n"
    )
    assert read_v0_events(p, instance_id="b") == flat
    assert read_v0_events(p) == []


def test_pair_form_without_ids_gets_positional_ids() -> None:
    history = [
        [{"action": "run", "args": {"command": "ls"}}, {"observation": "run", "content": "a"}],
        [{"action": "finish", "args": {}}, {"observation": "null", "content": ""}],
    ]
    flat = read_v0_events(history)
    # the (finish, NullObservation) placeholder is dropped, the rest numbered by position
    assert _ids(flat) == [0, 1, 2]
    assert [_kind(e) for e in flat] == ["run", "obs:run", "finish"]
    assert "id" not in history[0][0]  # numbered copies, the input is left alone


def test_in_memory_list_sorted_not_copied() -> None:
    a, b, c = _ev(2, "run"), _ev(0, "message"), _ev(1, "obs:run")
    out = read_v0_events([a, b, c])
    assert out == [b, c, a]
    assert out[0] is b


def test_one_event_per_line_jsonl(tmp_path: Path, fixtures_dir: Path) -> None:
    events = read_v0_events(fixtures_dir / "v0_wrong_initial_state.json")
    p = tmp_path / "events.jsonl"
    p.write_text("\n".join(json.dumps(e) for e in reversed(events)) + "\n")
    assert read_v0_events(p) == events


def test_default_conversation(fixtures_dir: Path) -> None:
    path = default_conversation_path()
    assert path.name == "v0_trajectory_export_297ev.json" and path.is_file()
    assert path.read_bytes() == (fixtures_dir / "v0_trajectory_export_297ev.json").read_bytes()
    assert read_v0_events() == read_v0_events(path)


# ---------------------------------------------------------------------------------------------
# errors


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.json"):
        read_v0_events(tmp_path / "nope.json")


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    with pytest.raises(FileNotFoundError, match=r"events/<id>\.json"):
        read_v0_events(tmp_path)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("", "bad.json: file is empty"),
        ("{not json", r"bad.json: not valid JSON"),
        ('{"foo": 1, "bar": 2}', r"bad.json: unknown JSON shape.*keys: bar, foo"),
        ('"text"', r"bad.json: unknown JSON shape: top level is str"),
        ('[{"id": 0, "action": "run"}, 3]', r"bad.json.*item 1 is a int"),
        ('[{"id": 0, "kind": "MessageEvent"}]', r"bad.json.*V1 \(agent-server\) event"),
        ('[{"id": 0, "foo": 1}]', r"bad.json.*not a V0 event.*keys: foo, id"),
        ('{"trajectory": {"a": 1}}', r"bad.json: key 'trajectory' holds dict"),
        ('{"id": 0, "action": "run"}', r"bad.json: holds a single event"),
    ],
)
def test_bad_json_files(tmp_path: Path, content: str, pattern: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(ValueError, match=pattern):
        read_v0_events(p)


def test_bad_jsonl(tmp_path: Path, fixtures_dir: Path) -> None:
    p = tmp_path / "out.jsonl"
    p.write_text('{"instance_id": "a", "history": []}\n{"instance_id": broken\n')
    with pytest.raises(ValueError, match=r"out.jsonl: line 2 is not valid JSON"):
        read_v0_events(p)
    p.write_text('{"instance_id": "a", "result": 1}\n')
    with pytest.raises(ValueError, match=r"out.jsonl: record on line 1 has no 'history'"):
        read_v0_events(p)
    src = fixtures_dir / "v0_multi_swe_bench_output.jsonl"
    with pytest.raises(ValueError, match=r"v0_multi_swe_bench_output.jsonl: record=7 is out of"):
        read_v0_events(src, record=7)
    with pytest.raises(ValueError, match=r"no record with instance_id 'zzz' \(3 records"):
        read_v0_events(src, instance_id="zzz")
    with pytest.raises(ValueError, match="either record= or instance_id="):
        read_v0_events(src, record=0, instance_id="x")


def test_bad_filestore_event(fixtures_dir: Path, tmp_path: Path) -> None:
    dst = tmp_path / "sess"
    shutil.copytree(fixtures_dir / "v0_filestore_session", dst)
    (dst / "events").chmod(0o755)
    bad = dst / "events" / "7.json"
    bad.chmod(0o644)
    bad.write_text("{oops")
    with pytest.raises(ValueError, match=r"7\.json: not a valid JSON event"):
        read_v0_events(dst)


def test_record_on_non_eval_file(fixtures_dir: Path) -> None:
    with pytest.raises(ValueError, match="only apply to evaluation output"):
        read_v0_events(fixtures_dir / "v0_basic_gui_mode.json", record=0)


def test_unsupported_type() -> None:
    with pytest.raises(TypeError, match="unsupported source int"):
        read_v0_events(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# the package's other readers: V1 forms, captured frames, evaluation records, discovery


def test_package_layout_keeps_the_old_imports() -> None:
    import ohnb.stores as stores
    from ohnb.stores.v0 import read_v0_events as direct

    assert stores.read_v0_events is direct
    assert {"v0_eval_output", "v1_cli", "frames", "server_v1", "ohnb_export"} <= set(stores.FORMS)


def test_read_v1_events_forms(fixtures_dir: Path, tmp_path: Path) -> None:
    from ohnb.stores import read_v1_events

    lines = (fixtures_dir / "v1_sdk_goal_events.jsonl").read_text().splitlines()
    raw = [json.loads(x) for x in lines if x.strip()]
    assert read_v1_events(fixtures_dir / "v1_sdk_goal_events.jsonl") == raw
    listed = tmp_path / "events.json"
    listed.write_text(json.dumps(raw))
    assert read_v1_events(listed) == raw
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"items": raw[:3], "next_page_id": None}))
    assert read_v1_events(page) == raw[:3]
    single = tmp_path / "one.json"
    single.write_text(json.dumps(raw[0]))
    with pytest.raises(ValueError, match="single V1 event"):
        read_v1_events(single)
    with pytest.raises(FileNotFoundError, match="no V1 CLI events"):
        read_v1_events(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_v1_events(tmp_path / "missing")


def test_cli_files_in_numeric_order(tmp_path: Path) -> None:
    from ohnb.stores.v1 import cli_event_files

    for n in (10, 2, 1):
        (tmp_path / f"event-{n:05d}-x{n}.json").write_text("{}")
    (tmp_path / "event-notes.json").write_text("{}")
    assert [p.name.split("-")[1] for p in cli_event_files(tmp_path)] == ["00001", "00002", "00010"]


def test_frames_split_by_meta_and_skip_markers() -> None:
    from ohnb.stores.frames import split_frames

    records = [
        {"_meta": {"conversation_id": "a"}},
        {"recv_ts": 1.8e9, "data": {"id": "1"}},
        {"recv_monotonic": 0.1, "socketio": "connect"},
        {"_meta": {"url": "ws://h/sockets/events/b?resend_mode=all"}},
        {"recv_rel": 0.2, "data": {"id": "2"}},
        {"_meta": {"conversation_id": "a"}},
        {"recv_ts": 1.8e9 + 1, "data": {"id": "3"}},
    ]
    convs = split_frames(records, where="x")
    assert [(c.conversation_id, [e["id"] for e in c.events], c.attempt) for c in convs] == [
        ("a", ["1", "3"], [1, 2]),
        ("b", ["2"], [1]),
    ]
    assert convs[0].received_at == [1.8e9, 1.8e9 + 1] and convs[1].received_at == [None]
    with pytest.raises(ValueError, match="record 1 is not a captured frame"):
        split_frames([{"recv_ts": 1.0, "data": {}}, {"x": 1}], where="x")


def test_eval_records_of_both_generations(fixtures_dir: Path) -> None:
    from ohnb.stores.evals import read_eval_records

    v0 = [(n, json.loads(x)) for n, x in enumerate((fixtures_dir / "v0_multi_swe_bench_output.jsonl").read_text().splitlines(), 1)]
    records = read_eval_records(v0, where="v0")
    assert [r.generation for r in records] == ["v0"] * 3
    assert [len(r.events) for r in records] == [49, 70, 103]
    assert records[1].meta["model"] == v0[1][1]["metadata"]["llm_config"]["model"]
    lines = (fixtures_dir / "v1_eval_output_openagentsafety.jsonl").read_text().splitlines()
    v1 = read_eval_records([(n, json.loads(x)) for n, x in enumerate(lines, 1)], where="v1")
    assert len(v1) == 45 and {r.generation for r in v1} == {"v1", None}
    assert sum(r.generation is None for r in v1) == 2  # the two empty histories
    with pytest.raises(ValueError, match="line 1 is not an evaluation record"):
        read_eval_records([(1, {"instance_id": "a"})], where="w")
    with pytest.raises(ValueError, match="'history' on line 3 is a str"):
        read_eval_records([(3, {"history": "x"})], where="w")


def test_expand_source_skips_hidden_entries_and_sidecars(fixtures_dir: Path, tmp_path: Path) -> None:
    from ohnb.stores.discover import expand_source

    shutil.copy(fixtures_dir / "v0_wrong_initial_state.json", tmp_path / "a.json")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "a.json").write_text("[]")
    (tmp_path / "metadata.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("x")
    shutil.copytree(fixtures_dir / "v0_filestore_session", tmp_path / "sessions" / "abc")
    units = expand_source(tmp_path)
    assert [Path(u.value).relative_to(tmp_path).as_posix() for u in units] == ["a.json", "sessions/abc"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="nothing to load"):
        expand_source(empty)
    with pytest.raises(TypeError, match="either paths or events"):
        expand_source([str(tmp_path), {"id": 1}])
