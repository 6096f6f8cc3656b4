#!/usr/bin/env python3
"""Install and run a real OpenHands V0 server (openhands-ai 0.62.0) on loopback, for opt-in tests.

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

Command line (``PYTHONPATH`` must let ``import ohnb`` work for ``--events``)::

    python scripts/real_servers.py install-v0 [--force]
    python scripts/real_servers.py run-v0 [--port N] [--store DIR] [--session-api-key K]
        [--events FIXTURE --conversation-id ID] [--llm-base-url URL]

``run-v0`` prints the URL and runs until Ctrl-C (a temporary store is removed then; ``--store`` keeps
it). The integration tests (``tests/integration``) use the class directly.
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
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
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


def install_v0(cache: Path | None = None, *, force: bool = False, log: Any = print) -> Path:
    """Install openhands-ai 0.62.0 into ``<cache>/oh-v0`` unless already done; return the venv's python.

    Concurrent callers wait on a lock file; a failed install leaves no marker, so the next call retries
    from a fresh venv.

    Raises:
        RuntimeError: no Python 3.12, the constraints file is missing, or pip failed (its output's tail
            is in the message; the whole log is ``<cache>/oh-v0.install.log``).
    """
    cache = cache or cache_dir()
    venv = v0_venv(cache)
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{V0_VENV_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if v0_installed(cache) and not force:
            return v0_python(cache)
        constraints = shared_real_servers_dir() / V0_CONSTRAINTS_NAME
        if not constraints.is_file():
            raise RuntimeError(f"constraints file {constraints} is missing")
        python312 = find_python312()
        if venv.exists():
            shutil.rmtree(venv)
        log_path = cache / f"{V0_VENV_NAME}.install.log"
        log(f"installing {V0_PACKAGE} into {venv} (a few minutes; log: {log_path})")
        started = time.monotonic()
        with open(log_path, "w") as out:
            steps = [
                [python312, "-m", "venv", str(venv)],
                [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check",
                 "-c", str(constraints), V0_PACKAGE],
            ]
            for cmd in steps:
                out.write(f"$ {' '.join(cmd)}\n")
                out.flush()
                rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
                if rc != 0:
                    out.flush()
                    tail = log_path.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"install step failed ({rc}): {' '.join(cmd)}\n{tail}")
        elapsed = time.monotonic() - started
        (venv / MARKER_NAME).write_text(
            json.dumps({"package": V0_PACKAGE, "constraints": str(constraints), "python": python312,
                        "seconds": round(elapsed, 1),
                        "installed_at": _dt.datetime.now(_dt.timezone.utc).isoformat()})
        )
        log(f"installed {V0_PACKAGE} in {elapsed:.0f} s")
        return v0_python(cache)


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
_live_servers: set[V0Server] = set()


@atexit.register
def _kill_leftovers() -> None:
    for server in list(_live_servers):
        with contextlib.suppress(Exception):
            server.kill()


class V0Server:
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
        self._own_store = store is None
        self.store = Path(store) if store is not None else Path(tempfile.mkdtemp(prefix="ohnb-oh-v0-"))
        self.fs = self.store / "fs"
        self.port = port or free_port()
        self.session_api_key = session_api_key
        self.python = Path(python) if python else v0_python()
        self.extra_env = dict(extra_env or {})
        self.log_path = self.store / "server.log"
        self.process: subprocess.Popen | None = None
        self.starts: list[float] = []  # seconds each start took until /alive answered
        for sub in ("fs", "home", "tmp"):
            (self.store / sub).mkdir(parents=True, exist_ok=True)
        if write_settings:
            (self.fs / "settings.json").write_text(json.dumps(dict(settings or default_settings())))

    # -- addresses

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

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

    def start(self, timeout: float = 120.0) -> V0Server:
        """Start the server and wait until ``GET /alive`` answers 200.

        Raises:
            RuntimeError: the process exited, or did not answer within ``timeout`` seconds (the log's
                tail is in the message).
        """
        if self.running:
            return self
        if not self.python.exists():
            raise RuntimeError(f"{self.python} is missing: run `python scripts/real_servers.py install-v0`")
        with open(self.log_path, "a") as log:
            log.write(f"\n===== ohnb harness: start on port {self.port} at {time.strftime('%H:%M:%S')} =====\n")
            log.flush()
            started = time.monotonic()
            self.process = subprocess.Popen(
                [str(self.python), "-m", "uvicorn", "openhands.server.listen:app",
                 "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.store, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
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
            with urllib.request.urlopen(f"{self.url}/alive", timeout=2) as response:
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
        _live_servers.discard(self)
        self._log_note(f"stopped (exit {proc.returncode})")

    def restart(self, timeout: float = 120.0) -> V0Server:
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

    def __enter__(self) -> V0Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
    args = parser.parse_args(argv)

    if args.command == "install-v0":
        python = install_v0(force=args.force)
        print(python)
        return 0

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


if __name__ == "__main__":
    sys.exit(main())
