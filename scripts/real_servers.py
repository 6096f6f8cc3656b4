#!/usr/bin/env python3
"""Install and run real OpenHands servers (V0 openhands-ai 0.62.0, V1 openhands-agent-server 1.58.2) on
loopback, for opt-in tests.

The real server is the peer ohnb must talk to; ``ohnb.servers.V0ReplayServer`` only imitates it. This
harness keeps the server outside the checkout and outside ohnb's own environment:

* **install** (once): a Python 3.12 venv in ``$OHNB_REAL_SERVER_CACHE/oh-v0`` (default
  ``~/.cache/ohnb/real-servers/oh-v0``) with ``openhands-ai==0.62.0`` installed under the constraints
  file ``<repo>/../shared/real-servers/openhands-ai-0.62.0.constraints.txt`` (without it pip falls into
  long resolver backtracking). A marker file in the venv records a finished install; later calls return
  at once. About 2-3 minutes and 1.5 GB. Python 3.12 is found as ``$OHNB_PYTHON312``, ``python3.12`` on
  ``PATH``, or pyenv's ``~/.pyenv/versions/3.12.*``.
* **run**: ``python -m uvicorn openhands.server.listen:app`` on 127.0.0.1 and a free port, with a file
  store of its own (``<store>/fs``), ``HOME``/``TMPDIR`` inside the store, ``RUNTIME=cli``,
  ``SERVE_FRONTEND=false``, optionally ``SESSION_API_KEY``, and a ``settings.json`` so connections are
  accepted (by default an unreachable LLM at ``http://127.0.0.1:9/v1``, and ``LLM_NUM_RETRIES=0``: a
  user message makes the agent run and end in the ``error`` state about 1.5 s later; with openhands'
  default retries, 5 waiting 8-64 s each, that takes minutes). :meth:`V0Server.start` waits until
  ``GET /alive`` answers (12-28 s seen); :meth:`V0Server.kill` sends SIGKILL to the server's process group;
  :meth:`V0Server.restart` starts it again on the same port with the same store. Its output goes to
  ``<store>/server.log`` (all runs appended; :meth:`V0Server.log_tail`).
* **conversations**: :meth:`V0Server.add_conversation` writes events as the file store holds them,
  ``fs/sessions/<id>/events/<event id>.json`` plus ``metadata.json`` with a title (without a title the
  server asks the LLM for one), so the server replays them on connect. :meth:`V0Server.stored_events`
  reads them back, as the server stored them.

V1 (``openhands-agent-server`` 1.58.2, the plain-WebSocket agent server; ``ohnb.servers.V1ReplayServer``
imitates it):

* **install-v1** (once): a Python 3.12 venv in ``$OHNB_REAL_SERVER_CACHE/oh-v1`` (default
  ``~/.cache/ohnb/real-servers/oh-v1``), in two steps as ``../shared/real-servers/README.md`` says:
  ``pip install -r openhands-agent-server-1.58.2.requirements.txt``, then ``pip install --no-deps
  openhands-sdk==1.58.2 openhands-tools==1.58.2 openhands-agent-server==1.58.2`` (the wheels pin a
  certifi newer than the index has). A marker file records a finished install. About 1.5 minutes and
  0.75 GB.
* **run-v1**: ``python -m openhands.agent_server --host 127.0.0.1 --port P`` with a store of its own:
  ``OH_CONVERSATIONS_PATH=<store>/conversations``, ``OH_WORKSPACE_PATH=<store>/project``,
  ``OH_BASH_EVENTS_DIR=<store>/bash_events``, ``HOME``/``TMPDIR`` inside the store, optionally
  ``OH_SESSION_API_KEYS_0``, an ``OH_SECRET_KEY`` kept across restarts, VS Code, tool preloading
  and the browser off, ``TMUX_TMPDIR`` in the store (the terminal tool's tmux servers leave the
  process group; they are stopped through their sockets there) and
  ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (with no network, litellm's background fetch of its price list
  deadlocked the server's imports: it died at start in 2 of 5 starts without it).
  :meth:`V1Server.start` waits until ``GET /health`` answers 200 (5.5-6.5 s here);
  :meth:`V1Server.sigterm` sends SIGTERM to the server process (it closes its sockets with 1012, then
  persists what the agent still produces, and stores a run in progress as paused),
  :meth:`V1Server.kill` SIGKILL (clients see 1006), :meth:`V1Server.restart` starts it again on the
  same port and store (the conversations come back with the same event ids).
* **conversations**: :meth:`V1Server.create_conversation` (``POST /api/conversations``, the LLM at
  ``llm_base_url``: the unreachable one by default, or a mock LLM on loopback so the agent emits real
  ActionEvent/ObservationEvent pairs), :meth:`V1Server.send_message` / :meth:`V1Server.pause` /
  :meth:`V1Server.run` / :meth:`V1Server.info` over REST, :meth:`V1Server.rest_events` (every page of
  ``/events/search``) and :meth:`V1Server.stored_events` (the files
  ``conversations/<hex id>/events/event-NNNNN-<id>.json``, as persisted).

Command line (``PYTHONPATH`` must let ``import ohnb`` work for ``--events``)::

    python scripts/real_servers.py install-v0 [--force]
    python scripts/real_servers.py run-v0 [--port N] [--store DIR] [--session-api-key K]
        [--events FIXTURE --conversation-id ID] [--llm-base-url URL]
    python scripts/real_servers.py install-v1 [--force]
    python scripts/real_servers.py run-v1 [--port N] [--store DIR] [--session-api-key K]
        [--create-conversation] [--llm-base-url URL] [--llm-model M] [--message TEXT]

``run-v0``/``run-v1`` print the URL and run until Ctrl-C (a temporary store is removed then; ``--store``
keeps it). The integration tests (``tests/integration``) use the classes directly.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as _dt
import fcntl
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OPENHANDS_V0_VERSION = "0.62.0"
V0_PACKAGE = f"openhands-ai=={OPENHANDS_V0_VERSION}"
V0_CONSTRAINTS_NAME = f"openhands-ai-{OPENHANDS_V0_VERSION}.constraints.txt"
V0_VENV_NAME = "oh-v0"
MARKER_NAME = f".ohnb-installed-openhands-ai-{OPENHANDS_V0_VERSION}"

OPENHANDS_V1_VERSION = "1.58.2"
V1_PACKAGES = tuple(
    f"{name}=={OPENHANDS_V1_VERSION}" for name in ("openhands-sdk", "openhands-tools", "openhands-agent-server")
)
V1_REQUIREMENTS_NAME = f"openhands-agent-server-{OPENHANDS_V1_VERSION}.requirements.txt"
V1_VENV_NAME = "oh-v1"
V1_MARKER_NAME = f".ohnb-installed-openhands-agent-server-{OPENHANDS_V1_VERSION}"

#: An LLM nobody listens on: the agent loop starts, and a user message ends in the ``error`` state.
UNREACHABLE_LLM = "http://127.0.0.1:9/v1"


def default_settings(llm_base_url: str = UNREACHABLE_LLM, llm_model: str = "openai/dummy-model") -> dict:
    """A ``settings.json`` with which the server accepts connections (without one it refuses them with
    ``Settings not found`` after replaying the history)."""
    return {
        "language": "en",
        "agent": "CodeActAgent",
        "llm_model": llm_model,
        "llm_api_key": "sk-dummy",
        "llm_base_url": llm_base_url,
        "confirmation_mode": False,
        "enable_default_condenser": False,
    }


# --------------------------------------------------------------------------------------------------
# install


def cache_dir() -> Path:
    """The folder holding the servers' venvs: ``$OHNB_REAL_SERVER_CACHE`` or ``~/.cache/ohnb/real-servers``."""
    env = os.environ.get("OHNB_REAL_SERVER_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ohnb" / "real-servers"


def shared_real_servers_dir() -> Path:
    """``<repo>/../shared/real-servers`` (the constraints files and the README about these servers)."""
    return REPO.parent / "shared" / "real-servers"


def v0_venv(cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / V0_VENV_NAME


def v0_python(cache: Path | None = None) -> Path:
    return v0_venv(cache) / "bin" / "python"


def v0_installed(cache: Path | None = None) -> bool:
    return (v0_venv(cache) / MARKER_NAME).is_file() and v0_python(cache).exists()


def find_python312() -> str:
    """A Python 3.12 interpreter (openhands-ai 0.62.0 needs >= 3.12)."""
    candidates = [os.environ.get("OHNB_PYTHON312"), shutil.which("python3.12")]
    candidates += sorted(glob.glob(str(Path.home() / ".pyenv" / "versions" / "3.12.*" / "bin" / "python3.12")))
    for candidate in candidates:
        if not candidate:
            continue
        try:
            out = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2] >= (3, 12))"],
                capture_output=True, text=True, timeout=30, check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and out.stdout.strip() == "True":
            return candidate
    raise RuntimeError("no Python >= 3.12 found: set OHNB_PYTHON312 to one (pyenv install 3.12)")


def _install_venv(
    cache: Path,
    *,
    venv_name: str,
    marker_name: str,
    label: str,
    pip_steps: list[list[str]],
    needed_files: Iterable[Path],
    marker_info: Mapping[str, Any],
    force: bool,
    log: Any,
) -> Path:
    """Create ``<cache>/<venv_name>`` with Python 3.12 and run ``pip_steps`` (pip arguments) in it,
    unless a marker says it is done; return the venv's python. Concurrent callers wait on a lock file;
    a failed install leaves no marker, so the next call retries from a fresh venv."""
    venv = cache / venv_name
    python = venv / "bin" / "python"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{venv_name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / marker_name).is_file() and python.exists() and not force:
            return python
        for needed in needed_files:
            if not needed.is_file():
                raise RuntimeError(f"{needed} is missing")
        python312 = find_python312()
        if venv.exists():
            shutil.rmtree(venv)
        log_path = cache / f"{venv_name}.install.log"
        log(f"installing {label} into {venv} (a few minutes; log: {log_path})")
        started = time.monotonic()
        pip = str(venv / "bin" / "pip")
        with open(log_path, "w") as out:
            steps = [[python312, "-m", "venv", str(venv)]]
            steps += [[pip, "install", "--disable-pip-version-check", *args] for args in pip_steps]
            for cmd in steps:
                out.write(f"$ {' '.join(cmd)}\n")
                out.flush()
                rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
                if rc != 0:
                    out.flush()
                    tail = log_path.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"install step failed ({rc}): {' '.join(cmd)}\n{tail}")
        elapsed = time.monotonic() - started
        (venv / marker_name).write_text(
            json.dumps({**marker_info, "python": python312, "seconds": round(elapsed, 1),
                        "installed_at": _dt.datetime.now(_dt.timezone.utc).isoformat()})
        )
        log(f"installed {label} in {elapsed:.0f} s")
        return python


def install_v0(cache: Path | None = None, *, force: bool = False, log: Any = print) -> Path:
    """Install openhands-ai 0.62.0 into ``<cache>/oh-v0`` unless already done; return the venv's python.

    Concurrent callers wait on a lock file; a failed install leaves no marker, so the next call retries
    from a fresh venv.

    Raises:
        RuntimeError: no Python 3.12, the constraints file is missing, or pip failed (its output's tail
            is in the message; the whole log is ``<cache>/oh-v0.install.log``).
    """
    cache = cache or cache_dir()
    constraints = shared_real_servers_dir() / V0_CONSTRAINTS_NAME
    return _install_venv(
        cache, venv_name=V0_VENV_NAME, marker_name=MARKER_NAME, label=V0_PACKAGE,
        pip_steps=[["-c", str(constraints), V0_PACKAGE]], needed_files=[constraints],
        marker_info={"package": V0_PACKAGE, "constraints": str(constraints)}, force=force, log=log,
    )


def v1_venv(cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / V1_VENV_NAME


def v1_python(cache: Path | None = None) -> Path:
    return v1_venv(cache) / "bin" / "python"


def v1_installed(cache: Path | None = None) -> bool:
    return (v1_venv(cache) / V1_MARKER_NAME).is_file() and v1_python(cache).exists()


def install_v1(cache: Path | None = None, *, force: bool = False, log: Any = print) -> Path:
    """Install openhands-agent-server 1.58.2 into ``<cache>/oh-v1`` unless already done; return the
    venv's python.

    Two pip steps, as ``../shared/real-servers/README.md`` says: the requirements file (every
    dependency, ``certifi`` pinned to what the index has), then the three 1.58.2 wheels with
    ``--no-deps`` (they pin ``certifi>=2026.10.19``, newer than the index has; ``pip check`` then
    reports that pin, which is harmless). About 1.5 minutes and 0.75 GB.

    Raises:
        RuntimeError: no Python 3.12, the requirements file is missing, or pip failed (its output's
            tail is in the message; the whole log is ``<cache>/oh-v1.install.log``).
    """
    cache = cache or cache_dir()
    requirements = shared_real_servers_dir() / V1_REQUIREMENTS_NAME
    return _install_venv(
        cache, venv_name=V1_VENV_NAME, marker_name=V1_MARKER_NAME,
        label=f"openhands-agent-server {OPENHANDS_V1_VERSION}",
        pip_steps=[["-r", str(requirements)], ["--no-deps", *V1_PACKAGES]], needed_files=[requirements],
        marker_info={"packages": list(V1_PACKAGES), "requirements": str(requirements)}, force=force, log=log,
    )


# --------------------------------------------------------------------------------------------------
# the file store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_conversation(
    fs: Path,
    conversation_id: str,
    events: Iterable[Mapping[str, Any]],
    *,
    title: str = "ohnb integration test",
) -> Path:
    """Write events (dicts with integer ``id``) and ``metadata.json`` into the V0 file store ``fs``.

    Returns the session folder ``fs/sessions/<conversation_id>``.
    """
    session = fs / "sessions" / conversation_id
    events_dir = session / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    for event in events:
        eid = event["id"]
        if not isinstance(eid, int) or isinstance(eid, bool):
            raise ValueError(f"event without an integer id: {eid!r}")
        (events_dir / f"{eid}.json").write_text(json.dumps(event), encoding="utf-8")
    now = _dt.datetime.now(_dt.timezone.utc).isoformat()
    metadata = {
        "conversation_id": conversation_id,
        "selected_repository": None,
        "user_id": None,
        "title": title,
        "created_at": now,
        "last_updated_at": now,
    }
    (session / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return session


def read_stored_events(fs: Path, conversation_id: str) -> list[dict[str, Any]]:
    """Every event file of a conversation in the file store ``fs``, parsed, in id order (as stored:
    null events and hidden ones included). A file being written right now is skipped."""
    events_dir = fs / "sessions" / conversation_id / "events"
    found: list[tuple[int, dict[str, Any]]] = []
    if not events_dir.is_dir():
        return []
    for path in events_dir.iterdir():
        if path.suffix == ".json" and path.stem.isdigit():
            try:
                found.append((int(path.stem), json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, json.JSONDecodeError):
                continue
    return [event for _, event in sorted(found, key=lambda pair: pair[0])]


# --------------------------------------------------------------------------------------------------
# the server process

#: servers started by this process: killed at exit, so a crashed test run leaves no server behind
_live_servers: set[_ServerProcess] = set()


@atexit.register
def _kill_leftovers() -> None:
    for server in list(_live_servers):
        with contextlib.suppress(Exception):
            server.kill()


class _ServerProcess:
    """What both generations share: one server process on 127.0.0.1 in a session of its own, its
    output in ``<store>/server.log``, started, probed, killed and restarted on the same port."""

    #: the GET path that answers 200 once the server is ready
    ready_path = "/alive"
    #: the harness command that installs this server (for the error when the venv is missing)
    install_command = "install-v0"

    store: Path
    port: int
    python: Path
    log_path: Path
    process: subprocess.Popen | None
    starts: list[float]
    _own_store: bool

    def _init_process(self, store: Path | str | None, port: int | None, python: Path, prefix: str) -> None:
        self._own_store = store is None
        self.store = Path(store) if store is not None else Path(tempfile.mkdtemp(prefix=prefix))
        self.port = port or free_port()
        self.python = python
        self.log_path = self.store / "server.log"
        self.process = None
        self.starts = []  # seconds each start took until the ready path answered

    # -- addresses

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- process

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 120.0):
        """Start the server and wait until ``GET <ready_path>`` answers 200.

        Raises:
            RuntimeError: the process exited, or did not answer within ``timeout`` seconds (the log's
                tail is in the message).
        """
        if self.running:
            return self
        if not self.python.exists():
            raise RuntimeError(
                f"{self.python} is missing: run `python scripts/real_servers.py {self.install_command}`"
            )
        with open(self.log_path, "a") as log:
            log.write(f"\n===== ohnb harness: start on port {self.port} at {time.strftime('%H:%M:%S')} =====\n")
            log.flush()
            started = time.monotonic()
            self.process = subprocess.Popen(
                self.command(), cwd=self.store, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        _live_servers.add(self)
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {self.process.returncode} while starting:\n{self.log_tail()}"
                )
            if self.alive():
                self.starts.append(time.monotonic() - started)
                return self
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"the server did not answer within {timeout:g} s:\n{self.log_tail()}")

    def alive(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}{self.ready_path}", timeout=2) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def kill(self) -> None:
        """SIGKILL the server and everything it started (its process group); wait until it is gone."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        self._after_exit()
        _live_servers.discard(self)
        self._log_note(f"SIGKILL (exit {proc.returncode})")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        # whatever the server started in its session (runtime shells) goes too
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self._after_exit()
        _live_servers.discard(self)
        self._log_note(f"stopped (exit {proc.returncode})")

    def _after_exit(self) -> None:
        """Clean up what outlives the process group (V1: its tmux servers)."""

    def restart(self, timeout: float = 120.0):
        """Start again on the same port with the same store (after :meth:`kill` or :meth:`stop`)."""
        if self.running:
            self.kill()
        self.process = None
        return self.start(timeout)

    def cleanup(self) -> None:
        """Stop the server; remove the store if this object created it."""
        self.stop()
        if self._own_store:
            shutil.rmtree(self.store, ignore_errors=True)

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    def _log_note(self, text: str) -> None:
        with contextlib.suppress(OSError), open(self.log_path, "a") as log:
            log.write(f"\n===== ohnb harness: {text} at {time.strftime('%H:%M:%S')} =====\n")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class V0Server(_ServerProcess):
    """One openhands-ai 0.62.0 server process on 127.0.0.1 with its own file store.

    Args:
        store: folder for everything of this server (file store ``fs``, ``home``, ``tmp``,
            ``server.log``); a new temporary folder when None (removed by :meth:`cleanup`).
        port: TCP port; a free one when None. Kept across :meth:`restart`.
        session_api_key: sets the server's ``SESSION_API_KEY`` (clients must then send it).
        settings: the ``settings.json`` content (default :func:`default_settings`); None writes none
            (the server then refuses connections with ``Settings not found``).
        python: the venv's python (default: the installed V0 venv; see :func:`install_v0`).
        extra_env: more environment variables for the server.
    """

    ready_path = "/alive"
    install_command = "install-v0"

    def __init__(
        self,
        store: Path | str | None = None,
        *,
        port: int | None = None,
        session_api_key: str | None = None,
        settings: Mapping[str, Any] | None = None,
        python: Path | str | None = None,
        extra_env: Mapping[str, str] | None = None,
        write_settings: bool = True,
    ) -> None:
        self._init_process(store, port, Path(python) if python else v0_python(), "ohnb-oh-v0-")
        self.fs = self.store / "fs"
        self.session_api_key = session_api_key
        self.extra_env = dict(extra_env or {})
        for sub in ("fs", "home", "tmp"):
            (self.store / sub).mkdir(parents=True, exist_ok=True)
        if write_settings:
            (self.fs / "settings.json").write_text(json.dumps(dict(settings or default_settings())))

    # -- conversations

    def add_conversation(
        self, conversation_id: str, events: Iterable[Mapping[str, Any]] | str | os.PathLike = (),
        *, title: str = "ohnb integration test",
    ) -> Path:
        """Store a conversation: ``events`` as dicts, or a fixture path read with
        ``ohnb.stores.read_v0_events`` (any stored/exported V0 form)."""
        if isinstance(events, (str, os.PathLike)):
            events = read_fixture(events)
        return write_conversation(self.fs, conversation_id, events, title=title)

    def stored_events(self, conversation_id: str) -> list[dict[str, Any]]:
        return read_stored_events(self.fs, conversation_id)

    # -- process

    def command(self) -> list[str]:
        return [str(self.python), "-m", "uvicorn", "openhands.server.listen:app",
                "--host", "127.0.0.1", "--port", str(self.port)]

    def env(self) -> dict[str, str]:
        venv_bin = str(self.python.parent)
        env = {
            "PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "HOME": str(self.store / "home"),
            "TMPDIR": str(self.store / "tmp"),
            "FILE_STORE": "local",
            "FILE_STORE_PATH": str(self.fs),
            "SERVE_FRONTEND": "false",
            "RUNTIME": "cli",
            "PYTHONUNBUFFERED": "1",
            # one LLM attempt, no backoff: an unreachable LLM puts the agent in `error` in ~1.5 s
            # (openhands' default, 5 retries waiting 8..64 s, takes minutes)
            "LLM_NUM_RETRIES": "0",
        }
        if self.session_api_key:
            env["SESSION_API_KEY"] = self.session_api_key
        env.update(self.extra_env)
        return env


# --------------------------------------------------------------------------------------------------
# V1: openhands-agent-server


class RestError(RuntimeError):
    """A REST call to the agent server answered an HTTP error (``status``, ``body``)."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} -> HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


def conversation_request(
    *,
    llm_base_url: str = UNREACHABLE_LLM,
    llm_model: str = "openai/ohnb-mock",
    tools: Iterable[str] = ("terminal",),
    working_dir: str | os.PathLike,
    max_iterations: int | None = None,
    autotitle: bool = False,
) -> dict[str, Any]:
    """The ``POST /api/conversations`` body: the README's, with the LLM at ``llm_base_url`` (chat
    completions, one attempt, no retries) and the agent's ``tools`` (``terminal`` lets a mock LLM make
    the agent run shell commands; ``finish`` and ``think`` are always there)."""
    body: dict[str, Any] = {
        "agent": {
            "kind": "Agent",
            "llm": {
                "model": llm_model,
                "base_url": llm_base_url,
                "api_key": "sk-dummy",
                "usage_id": "agent",
                "num_retries": 0,
                # chat completions, whatever litellm thinks of the model name (no Responses API)
                "api_mode": "chat",
                "timeout": 60,
            },
            "tools": [{"name": name} for name in tools],
        },
        "workspace": {"working_dir": str(working_dir)},
        "autotitle": autotitle,
    }
    if max_iterations is not None:
        body["max_iterations"] = max_iterations
    return body


class V1Server(_ServerProcess):
    """One openhands-agent-server 1.58.2 process on 127.0.0.1 with its own store.

    Args:
        store: folder for everything of this server (``conversations``, ``project`` (the workspace),
            ``bash_events``, ``home``, ``tmp``, ``server.log``); a new temporary folder when None
            (removed by :meth:`cleanup`).
        port: TCP port; a free one when None. Kept across :meth:`restart`.
        session_api_key: ``OH_SESSION_API_KEYS_0`` (clients must then authenticate: the socket's first
            frame, the ``X-Session-API-Key`` header on REST); None: no key.
        python: the venv's python (default: the installed V1 venv; see :func:`install_v1`).
        extra_env: more environment variables for the server.
    """

    ready_path = "/health"
    install_command = "install-v1"

    def __init__(
        self,
        store: Path | str | None = None,
        *,
        port: int | None = None,
        session_api_key: str | None = None,
        python: Path | str | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self._init_process(store, port, Path(python) if python else v1_python(), "ohnb-oh-v1-")
        self.session_api_key = session_api_key
        # the key that encrypts stored secrets: kept across restarts so the store stays readable
        self.secret_key = secrets.token_hex(16)
        self.extra_env = dict(extra_env or {})
        self.conversations = self.store / "conversations"
        self.workspace = self.store / "project"
        self.signals: list[tuple[str, float, int | None]] = []  # (signal, seconds to exit, exit code)
        for sub in ("conversations", "project", "bash_events", "home", "tmp", "tmux"):
            (self.store / sub).mkdir(parents=True, exist_ok=True)

    # -- process

    def command(self) -> list[str]:
        return [str(self.python), "-m", "openhands.agent_server", "--host", "127.0.0.1", "--port", str(self.port)]

    def env(self) -> dict[str, str]:
        venv_bin = str(self.python.parent)
        env = {
            "PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "HOME": str(self.store / "home"),
            "TMPDIR": str(self.store / "tmp"),
            # the terminal tool's tmux servers put their sockets here (see _after_exit)
            "TMUX_TMPDIR": str(self.store / "tmux"),
            "OH_SECRET_KEY": self.secret_key,
            "OH_CONVERSATIONS_PATH": str(self.conversations),
            "OH_WORKSPACE_PATH": str(self.workspace),
            "OH_BASH_EVENTS_DIR": str(self.store / "bash_events"),
            "OH_ENABLE_VSCODE": "false",
            "OH_PRELOAD_TOOLS": "false",
            "OH_ENABLE_BROWSER": "false",
            "PYTHONUNBUFFERED": "1",
            # litellm's bundled model prices, no fetch from GitHub: with no network the background
            # fetch's retry logs from a thread while litellm is still importing, and the server
            # died at start in an import deadlock (_DeadlockError on litellm.rust_bridge.catalog)
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }
        if self.session_api_key:
            env["OH_SESSION_API_KEYS_0"] = self.session_api_key
        env.update(self.extra_env)
        return env

    def sigterm(self, timeout: float = 60.0) -> float:
        """SIGTERM the server process (as ``docker stop`` or a supervisor would) and wait until it
        exits; return the seconds that took. Its sockets close with 1012; it then persists what the
        agent still produces and stores a run in progress as paused. Anything left of its session is
        SIGKILLed afterwards (and after ``timeout`` seconds, the server too)."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return 0.0
        started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        elapsed = time.monotonic() - started
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self._after_exit()
        _live_servers.discard(self)
        self.signals.append(("SIGTERM", elapsed, proc.returncode))
        self._log_note(f"SIGTERM (exit {proc.returncode} after {elapsed:.2f} s)")
        return elapsed

    def kill(self) -> None:
        proc = self.process
        if proc is not None and proc.poll() is None:
            self.signals.append(("SIGKILL", 0.0, None))
        super().kill()

    def _after_exit(self) -> None:
        """The terminal tool's tmux servers daemonize out of the server's process group: stop each
        one through its own socket under ``<store>/tmux`` (only this server's)."""
        tmux = shutil.which("tmux")
        if not tmux:
            return
        for sock in (self.store / "tmux").glob("tmux-*/*"):
            if sock.is_socket():
                with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                    subprocess.run([tmux, "-S", str(sock), "kill-server"], capture_output=True, timeout=10,
                                   check=False)

    # -- REST

    def request(
        self, method: str, path: str, body: Any = None, *, params: Mapping[str, Any] | None = None,
        key: str | None | bool = True, timeout: float = 30.0,
    ) -> Any:
        """One REST call; the decoded JSON answer (None for an empty body).

        ``key``: True sends the server's session key, a string sends that one, None/False none.

        Raises:
            RestError: an HTTP error status.
        """
        url = f"{self.url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        send_key = self.session_api_key if key is True else (key or None)
        if send_key:
            headers["X-Session-API-Key"] = send_key
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            raise RestError(method, path, exc.code, exc.read().decode(errors="replace")) from None
        return json.loads(text) if text.strip() else None

    def create_conversation(self, *, llm_base_url: str = UNREACHABLE_LLM, **options: Any) -> str:
        """``POST /api/conversations`` (:func:`conversation_request` ``options``); the new id."""
        options.setdefault("working_dir", self.workspace)
        answer = self.request("POST", "/api/conversations", conversation_request(llm_base_url=llm_base_url, **options))
        return str(answer["id"])

    def send_message(self, conversation_id: str, text: str, *, run: bool = True) -> Any:
        """``POST /api/conversations/{id}/events`` with a user message (and ``run``)."""
        body = {"role": "user", "content": [{"type": "text", "text": text}], "run": run}
        return self.request("POST", f"/api/conversations/{conversation_id}/events", body)

    def pause(self, conversation_id: str) -> Any:
        return self.request("POST", f"/api/conversations/{conversation_id}/pause")

    def run(self, conversation_id: str) -> Any:
        return self.request("POST", f"/api/conversations/{conversation_id}/run")

    def info(self, conversation_id: str) -> dict[str, Any]:
        """``GET /api/conversations/{id}`` (``execution_status``, ...)."""
        return self.request("GET", f"/api/conversations/{conversation_id}")

    def event_count(self, conversation_id: str) -> int:
        return int(self.request("GET", f"/api/conversations/{conversation_id}/events/count"))

    def rest_events(self, conversation_id: str, limit: int = 100, **filters: Any) -> list[dict[str, Any]]:
        """Every page of ``GET /api/conversations/{id}/events/search`` (``limit`` per page), in order."""
        items: list[dict[str, Any]] = []
        page_id = None
        while True:
            page = self.request("GET", f"/api/conversations/{conversation_id}/events/search",
                                params={"limit": limit, "page_id": page_id, **filters})
            items.extend(page.get("items") or [])
            page_id = page.get("next_page_id")
            if not page_id or not page.get("items"):
                return items

    # -- the store

    def conversation_dir(self, conversation_id: str) -> Path:
        return self.conversations / conversation_id.replace("-", "")

    def stored_events(self, conversation_id: str) -> list[dict[str, Any]]:
        """The persisted events ``conversations/<hex>/events/event-NNNNN-<id>.json``, in index order (a
        file being written right now is skipped)."""
        events_dir = self.conversation_dir(conversation_id) / "events"
        found: list[tuple[str, dict[str, Any]]] = []
        if not events_dir.is_dir():
            return []
        for path in events_dir.glob("event-*.json"):
            try:
                found.append((path.name, json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, json.JSONDecodeError):
                continue
        return [event for _, event in sorted(found, key=lambda pair: pair[0])]


def read_fixture(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Events of a stored/exported V0 conversation, read with ``ohnb.stores.read_v0_events``."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    try:
        from ohnb.stores import read_v0_events
    except ImportError:  # older/newer layouts of ohnb.stores
        from ohnb.stores.v0 import read_v0_events

    return read_v0_events(path)


# --------------------------------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_install = sub.add_parser("install-v0", help=f"install {V0_PACKAGE} into the cache (once)")
    p_install.add_argument("--force", action="store_true", help="reinstall even if installed")
    p_run = sub.add_parser("run-v0", help="run the V0 server until Ctrl-C (installs it first if needed)")
    p_run.add_argument("--port", type=int, default=None)
    p_run.add_argument("--store", type=Path, default=None, help="store folder (default: a new tmp folder)")
    p_run.add_argument("--session-api-key", default=None)
    p_run.add_argument("--events", default=None, help="a V0 fixture to store as a conversation")
    p_run.add_argument("--conversation-id", default="ohnbrealtest")
    p_run.add_argument("--title", default="ohnb integration test")
    p_run.add_argument("--llm-base-url", default=UNREACHABLE_LLM)
    p_install1 = sub.add_parser("install-v1", help=f"install openhands-agent-server {OPENHANDS_V1_VERSION} (once)")
    p_install1.add_argument("--force", action="store_true", help="reinstall even if installed")
    p_run1 = sub.add_parser("run-v1", help="run the V1 agent server until Ctrl-C (installs it first if needed)")
    p_run1.add_argument("--port", type=int, default=None)
    p_run1.add_argument("--store", type=Path, default=None, help="store folder (default: a new tmp folder)")
    p_run1.add_argument("--session-api-key", default=None)
    p_run1.add_argument("--create-conversation", action="store_true", help="create a conversation via REST")
    p_run1.add_argument("--llm-base-url", default=UNREACHABLE_LLM, help="the conversation's LLM (OpenAI-compatible)")
    p_run1.add_argument("--llm-model", default="openai/ohnb-mock")
    p_run1.add_argument("--message", default=None, help="send this user message (run=true) after creating it")
    args = parser.parse_args(argv)
    if args.command.startswith("run-"):
        # SIGTERM (kill, a supervisor) ends a run like Ctrl-C: the server is stopped, not orphaned
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)

    if args.command == "install-v0":
        python = install_v0(force=args.force)
        print(python)
        return 0
    if args.command == "install-v1":
        print(install_v1(force=args.force))
        return 0
    if args.command == "run-v1":
        return _run_v1(args)

    install_v0()
    server = V0Server(args.store, port=args.port, session_api_key=args.session_api_key,
                      settings=default_settings(args.llm_base_url))
    if args.events:
        server.add_conversation(args.conversation_id, args.events, title=args.title)
    server.start()
    print(f"openhands-ai {OPENHANDS_V0_VERSION} at {server.url} (store {server.store}, log {server.log_path}, "
          f"started in {server.starts[-1]:.1f} s)")
    if args.events:
        key = ", session_api_key=..." if args.session_api_key else ""
        print(f"conversation {args.conversation_id}: ohnb.connect({server.url!r}, {args.conversation_id!r}{key})")
    try:
        while server.running:
            time.sleep(1)
        print(f"the server exited ({server.process.returncode}); log: {server.log_path}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.cleanup()  # removes the store only if it was a new temporary folder (no --store)


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _run_v1(args: argparse.Namespace) -> int:
    install_v1()
    server = V1Server(args.store, port=args.port, session_api_key=args.session_api_key)
    server.start()
    print(f"openhands-agent-server {OPENHANDS_V1_VERSION} at {server.url} (store {server.store}, log "
          f"{server.log_path}, started in {server.starts[-1]:.1f} s)")
    if args.create_conversation:
        conversation_id = server.create_conversation(llm_base_url=args.llm_base_url, llm_model=args.llm_model)
        key = ", session_api_key=..." if args.session_api_key else ""
        print(f"conversation {conversation_id}: ohnb.connect({server.url!r}, {conversation_id!r}{key})")
        if args.message:
            server.send_message(conversation_id, args.message)
    try:
        while server.running:
            time.sleep(1)
        print(f"the server exited ({server.process.returncode}); log: {server.log_path}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.cleanup()


if __name__ == "__main__":
    sys.exit(main())
