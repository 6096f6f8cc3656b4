"""The ``ohnb`` command end to end against the embedded servers: ``demo``, ``serve`` (V0 and V1),
``record`` (both generations, until a state, Ctrl-C as a real SIGINT), ``report`` and ``lab``; and
the promise that every user mistake is one line on stderr with a non-zero status, no traceback."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

import ohnb
from ohnb import cli
from ohnb.cli import main
from ohnb.servers import V0ReplayServer
from ohnb.servers.v1 import V1ReplayServer

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ("demo", "serve", "record", "report", "lab")


def _env() -> dict[str, str]:
    """The environment of a child ``python -m ohnb.cli``: imports this checkout's ohnb."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Lines:
    """Lines of a child's pipe, read on a thread; :meth:`wait_for` waits for a matching one."""

    def __init__(self, pipe) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe) -> None:
        for line in iter(pipe.readline, ""):
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}; got:\n{''.join(self.seen)}")

    def rest(self, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
        return "".join(self.seen)


def _one_error_line(err: str, command: str) -> str:
    assert err.startswith(f"ohnb {command}: error:"), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


# ---------------------------------------------------------------------------------------------
# demo (and help)


def test_demo_records_the_conversation_with_one_resumed_reconnect(tmp_path, capsys):
    status = main(["demo", "-o", str(tmp_path), "--speed", "2000", "--max-gap", "0.01", "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0
    found = re.search(r"server sent (\d+) distinct ids, (\d+) lost, (\d+) stored twice", out)
    assert found and found.group(2) == "0" and found.group(3) == "0"
    events = pd.read_parquet(tmp_path / "events.parquet")
    attempts = pd.read_parquet(tmp_path / "attempts.parquet")
    assert len(events) == int(found.group(1))
    assert events["id"].is_unique
    assert len(attempts) == 2
    assert attempts["resumed_from"].isna().tolist() == [True, False]
    assert attempts.loc[0, "disconnect_reason"] == "transport error"
    assert "Event types" in out and "Reconnect summary" in out
    assert events["raw"].str.startswith("{").all()  # raw payloads written as JSON text

    # ... and `ohnb report` reads the demo's output, attempts included (attempts.parquet beside it)
    assert main(["report", str(tmp_path / "events.parquet"), "--out", str(tmp_path / "plots")]) == 0
    out = capsys.readouterr().out
    assert "Connection attempts:" in out and "transport error" in out
    assert (tmp_path / "plots" / "reconnects.png").stat().st_size > 1000


def test_help_lists_every_command_with_examples(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\S", out, re.M), f"{command} missing from ohnb --help"
        assert f"ohnb {command}" in out, f"no example of {command} in ohnb --help"
    for command in COMMANDS:
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        assert "example" in capsys.readouterr().out, f"ohnb {command} --help has no example"
    assert main([]) == 0 and "COMMAND" in capsys.readouterr().out


def test_user_mistakes_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OHNB_TEST_UNSET", raising=False)
    cases = [
        ("demo", ["demo", str(tmp_path / "missing.json"), "-o", str(tmp_path)]),
        ("record", ["record", "http://127.0.0.1:9", "-o", str(tmp_path / "x.parquet")]),  # no id
        ("record", ["record", "ftp://host/x", "--conversation", "c", "-o", str(tmp_path / "x.parquet")]),
        ("record", ["record", "http://127.0.0.1:9", "--conversation", "c", "-o", str(tmp_path / "x.csv")]),
        ("record", ["record", "http://127.0.0.1:9", "--conversation", "c", "-o", str(tmp_path / "x.jsonl"),
                    "--until-state", "sleeping"]),
        ("record", ["record", "http://127.0.0.1:9", "--conversation", "c", "-o", str(tmp_path / "x.jsonl"),
                    "--session-api-key-env", "OHNB_TEST_UNSET"]),
        ("record", ["record", "http://127.0.0.1:9", "--conversation", "c", "-o", str(tmp_path / "x.jsonl"),
                    "--duration", "-1"]),
        ("record", ["record", "http://127.0.0.1:9", "--conversation", "c"]),  # argparse: -o missing
        ("serve", ["serve", "--protocol", "v1"]),
        ("serve", ["serve", str(tmp_path / "missing.json")]),
        ("serve", ["serve", "--speed", "fast"]),  # argparse: not a number
        ("report", ["report", str(tmp_path / "missing.parquet")]),
        ("report", ["report", str(REPO / "pyproject.toml"), "--no-plots"]),  # not a conversation
        ("lab", ["lab", "--dir", str(tmp_path / "nowhere")]),
        ("ohnb", ["nonsense"]),
    ]  # fmt: skip
    for command, argv in cases:
        if command == "ohnb":
            with pytest.raises(SystemExit) as info:
                main(argv)
            status = info.value.code
            err = capsys.readouterr().err
            assert err.startswith("ohnb: error:") and err.count("\n") == 1, err
        else:
            try:
                status = main(argv)
            except SystemExit as exc:  # argparse's own errors
                status = exc.code
            _one_error_line(capsys.readouterr().err, command)
        assert status == 2, (argv, status)
    assert not (tmp_path / "x.parquet").exists() and not (tmp_path / "x.jsonl").exists()


# ---------------------------------------------------------------------------------------------
# record


def test_record_v0_until_state_then_report(tmp_path, capsys):
    # History ends on "running" (id 146); the live part reaches awaiting_user_input at id 152.
    server = V0ReplayServer(live_from=147, speed=2000, max_gap=0.01).start_in_thread()
    try:
        out_file = tmp_path / "rec" / "events.parquet"
        status = main([
            "record", server.url, "--conversation", server.conversation_id, "-o", str(out_file),
            "--until-state", "awaiting_user_input", "--no-progress",
        ])  # fmt: skip
        sent = set(server.emitted_ids)
    finally:
        server.stop_thread()
    out = capsys.readouterr().out
    assert status == 0
    assert "the agent is awaiting_user_input" in out
    events = ohnb.load(out_file)
    attempts = ohnb.load(tmp_path / "rec" / "events.attempts.parquet")
    held = set(events["id"].dropna().astype(int))
    assert events["id"].is_unique and held <= sent
    assert set(range(147)) & sent <= held  # the whole history
    assert events["agent_state"].dropna().iloc[-1] == "awaiting_user_input"
    assert events["delivery"].eq("live").any()
    assert attempts["outcome"].tolist() == ["connected"]

    assert main(["report", str(out_file), "--out", str(tmp_path / "plots")]) == 0
    out = capsys.readouterr().out
    for title in ("Event types", "Action latency", "Cost by model", "Time in each agent state",
                  "Connection attempts:", "Reconnects:"):  # fmt: skip
        assert title in out, title
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert pngs == ["action_latency.png", "agent_states.png", "cost.png", "event_types.png",
                    "reconnects.png", "timeline.png"]  # fmt: skip


def test_record_v1_until_finished_as_jsonl(tmp_path, capsys, fixtures_dir):
    source = fixtures_dir / "v1_cli_conversations" / "cli447_hi_followup_iterative_case_a"
    server = V1ReplayServer(source, live_from=6, speed=float("inf"), emit_status=True).start_in_thread()
    try:
        out_file = tmp_path / "v1.jsonl"
        status = main([
            "record", f"{server.url}/api/conversations/{server.conversation_id}", "-o", str(out_file),
            "--until-state", "finished", "--no-progress",
        ])  # fmt: skip
        stored = {e["id"] for e in server.stored_events}
    finally:
        server.stop_thread()
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "history in (" in captured.err and "V1" in captured.err
    events = ohnb.load(out_file)
    assert set(events["event_id"]) <= stored | {e["id"] for e in _frames(server)}
    assert stored - set(events["event_id"]) == set()  # every stored event, once
    assert events["v1_kind"].notna().all() and events["event_id"].is_unique
    assert events["agent_state"].dropna().iloc[-1] == "finished"
    assert (tmp_path / "v1.attempts.parquet").is_file()


def _frames(server: V1ReplayServer) -> list[dict]:
    return [frame for _, frame in server.emitted if isinstance(frame, dict) and "id" in frame]


def _record_child(url: str, conversation_id: str, out_file: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ohnb.cli", "record", url, "--conversation", conversation_id,
         "-o", str(out_file), "--no-progress"],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("generation", ["v0", "v1"])
def test_record_ctrl_c_saves_what_it_holds(generation, tmp_path, fixtures_dir):
    if generation == "v0":
        server = V0ReplayServer(live_from=100, speed=5, max_gap=0.05).start_in_thread()
    else:
        evals = fixtures_dir / "v1_eval_output_openagentsafety.jsonl"
        server = V1ReplayServer(evals, record="safety-metrics", live_from=60, speed=5, max_gap=0.05)
        server.start_in_thread()
    out_file = tmp_path / f"{generation}.parquet"
    child = _record_child(server.url, server.conversation_id, out_file)
    try:
        err = _Lines(child.stderr)
        err.wait_for(r"history in \(\d+ events")
        deadline = time.monotonic() + 30
        while _live_sent(server, generation) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.pending_live > 0, "the live part ended before Ctrl-C: slow the server down"
        child.send_signal(signal.SIGINT)
        stdout, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        server.stop_thread()
    assert child.returncode == 0, err.rest() + stdout
    assert "stopped by Ctrl-C" in stdout and "Wrote" in stdout
    events = ohnb.load(out_file)
    attempts = ohnb.load(tmp_path / f"{generation}.attempts.parquet")
    assert events["event_id"].is_unique
    assert events["delivery"].eq("live").sum() >= 5
    assert len(attempts) == 1 and attempts["outcome"].iloc[0] in ("connected", "closed_by_user")
    if generation == "v0":
        sent = set(server.emitted_ids)
        held = set(events["id"].dropna().astype(int))
        assert held <= sent and {i for i in sent if i < 100} <= held
        assert len(held) == len(events)
    else:
        sent_ids = {frame["id"] for frame in _frames(server)}
        assert set(events["event_id"]) <= sent_ids
        assert events["delivery"].eq("replay").sum() >= 60


def _live_sent(server, generation: str) -> int:
    if generation == "v0":
        return sum(1 for i in server.emitted_ids if i >= 100)
    return len(server.stored_events) - 60


def test_a_refusal_ends_the_recording_with_one_line_and_status_1(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OHNB_TEST_KEY", "not-the-key")
    server = V0ReplayServer(session_api_key="the-key").start_in_thread()
    try:
        status = main([
            "record", server.url, "--conversation", server.conversation_id, "-o",
            str(tmp_path / "r.parquet"), "--session-api-key-env", "OHNB_TEST_KEY", "--no-progress",
        ])  # fmt: skip
    finally:
        server.stop_thread()
    captured = capsys.readouterr()
    assert status == 1
    lines = [line for line in captured.err.splitlines() if line.startswith("ohnb record: error:")]
    assert len(lines) == 1 and "refused" in lines[0].lower(), captured.err
    assert "not-the-key" not in captured.err + captured.out  # the key is never printed
    assert ohnb.load(tmp_path / "r.attempts.parquet")["outcome"].tolist() == ["refused"]


# ---------------------------------------------------------------------------------------------
# serve


def test_serve_v1_from_a_folder_with_faults_and_record_it(tmp_path, fixtures_dir, capsys):
    source = fixtures_dir / "v1_cli_conversations" / "confirmation_mode"
    port = _free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "ohnb.cli", "serve", str(source), "--port", str(port),
         "--live-fraction", "0.6", "--speed", "1000", "--max-gap", "0.05", "--faults", "kill@8"],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = _Lines(child.stdout)
        first = lines.wait_for(r"^Serving ")
        assert "V1 conversation" in first and f"127.0.0.1:{port}" in first  # auto: a V1 folder
        conversation_id = re.search(r"conversation '([0-9a-f-]{36})'", first).group(1)
        status = main([
            "record", f"http://127.0.0.1:{port}", "--conversation", conversation_id,
            "-o", str(tmp_path / "v1.parquet"), "--until-state", "finished", "--no-progress",
        ])  # fmt: skip
        assert status == 0, capsys.readouterr().err
        lines.wait_for(r"fault: .*kill", timeout=10)  # the fault was printed when it fired
    finally:
        child.terminate()
        child.wait(timeout=30)
    attempts = ohnb.load(tmp_path / "v1.attempts.parquet")
    assert len(attempts) >= 2, attempts  # the kill cut the first connection; the client came back
    # the client came back: an attempt after the kill delivered events; the recorder may stop (state
    # "finished" reached) while the last attempt is still checking its history: closed_by_user then
    assert attempts["outcome"].iloc[-1] in ("connected", "closed_by_user")
    later = attempts.iloc[1:]
    assert (later["events_replayed"] + later["events_live"]).sum() > 0
    events = ohnb.load(tmp_path / "v1.parquet")
    assert events["event_id"].is_unique and events["agent_state"].dropna().iloc[-1] == "finished"


def test_serve_v1_refuses_without_a_source_and_names_what_it_needs(capsys):
    assert main(["serve", "--protocol", "v1"]) == 2
    err = _one_error_line(capsys.readouterr().err, "serve")
    assert "no V1 conversation is bundled" in err


# ---------------------------------------------------------------------------------------------
# report


def test_report_of_an_export_prints_the_tables_and_writes_the_plots(tmp_path, capsys, fixtures_dir):
    status = main(["report", str(fixtures_dir / "v0_trajectory_export_297ev.json"), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0
    assert "297 events in 1 conversation(s)" in out
    assert "litellm_proxy/claude-sonnet-4-20250514" in out  # cost by model
    assert "awaiting_user_input" in out  # time in state
    assert "Connection attempts" not in out  # no attempts file beside it
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["action_latency.png", "agent_states.png", "cost.png", "event_types.png", "timeline.png"]
    assert all((tmp_path / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)


# ---------------------------------------------------------------------------------------------
# lab


def test_lab_dry_run_prints_the_jupyterlab_command(capsys):
    assert main(["lab", "--dry-run", "--no-browser", "--port", "8899", "--", "--ServerApp.token=x"]) == 0
    out = capsys.readouterr().out.strip()
    assert "-m jupyterlab" in out
    assert f"--ServerApp.root_dir={REPO / 'notebooks'}" in out
    assert out.endswith("--no-browser --port=8899 --ServerApp.token=x")


def test_lab_without_the_notebooks_says_so_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "__file__", str(tmp_path / "site-packages" / "ohnb" / "cli.py"))
    assert main(["lab", "--dry-run"]) == 2
    err = _one_error_line(capsys.readouterr().err, "lab")
    assert "notebooks were not found" in err and "--dir" in err


def test_lab_starts_jupyterlab_on_the_notebooks(tmp_path):
    port = _free_port()
    jupyter_dirs = {f"JUPYTER_{name.upper()}_DIR": str(tmp_path / name) for name in ("config", "data", "runtime")}
    env = {**_env(), **jupyter_dirs, "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "JUPYTER_PLATFORM_DIRS": "1"}  # fmt: skip
    child = subprocess.Popen(
        [sys.executable, "-m", "ohnb.cli", "lab", "--no-browser", "--port", str(port), "--",
         "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.ip=127.0.0.1", "--allow-root",
         "--ServerApp.port_retries=0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        listing = None
        while time.monotonic() < deadline and child.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents", timeout=2) as r:
                    listing = r.read().decode()
                    break
            except OSError:
                time.sleep(0.3)
        assert listing is not None, f"JupyterLab did not come up: {child.poll()}"
        for name in ("01_live_conversation.ipynb", "03_reconnects_explained.ipynb",
                     "04_your_openhands.ipynb"):  # fmt: skip
            assert name in listing
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
