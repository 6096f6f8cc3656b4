"""Opt-in harness for the tests against real OpenHands servers (``test_real_v0.py``, ``test_real_v1.py``).

Every test in this folder gets the ``real_server`` marker and is skipped unless ``OHNB_REAL_SERVERS=1``:
the default ``pytest`` run (``./scripts/test.sh``) never installs or starts a real server.

Fixtures:

- ``v0_python`` (session): the venv python of openhands-ai 0.62.0, installed on first use by
  ``scripts/real_servers.py`` into ``$OHNB_REAL_SERVER_CACHE/oh-v0`` (default
  ``~/.cache/ohnb/real-servers/oh-v0``; a few minutes, once).
- ``real_v0`` (module): a started real V0 server with ``SESSION_API_KEY`` = :data:`SESSION_KEY`, an
  unreachable LLM (a user message ends in the ``error`` state) and its own temporary file store.
- ``start_v0``: a factory for servers a test owns (other settings, or killed and restarted); all are
  stopped after the test.
- ``v1_python`` (session): the venv python of openhands-agent-server 1.58.2, installed on first use
  into ``$OHNB_REAL_SERVER_CACHE/oh-v1`` (~1.5 minutes, once).
- ``real_v1`` (module): a started real V1 agent server with ``OH_SESSION_API_KEYS_0`` =
  :data:`SESSION_KEY` and its own temporary store; tests create their conversations on it.
- ``start_v1``: a factory for V1 servers a test owns (SIGTERMed, killed, restarted); all are stopped
  after the test.
- ``mock_llm``: a started :class:`~tests.integration.mock_llm.MockLLM` (stopped after the test).

When a test fails, the tail of each real server's log it used is attached to the report ("real server
log" section), and the store folder is kept and named there.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ENABLED = os.environ.get("OHNB_REAL_SERVERS") == "1"
SESSION_KEY = "ohnb-integration-key-3f9c"


def _load_harness() -> Any:
    """``scripts/real_servers.py`` as a module (scripts/ is not a package)."""
    name = "ohnb_real_servers_harness"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / "real_servers.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


harness = _load_harness()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="real OpenHands servers are opt-in: set OHNB_REAL_SERVERS=1")
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.real_server)
            if not ENABLED:
                item.add_marker(skip)


# --- servers used by the current test, for the failure report ------------------------------------

_in_use: list[Any] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and _in_use:
        for server in _in_use:
            report.sections.append(
                (f"real server log ({server.url}, store {server.store}, kept)", server.log_tail(12000))
            )
            server.keep_store = True


@pytest.fixture(scope="session")
def v0_python() -> Path:
    return harness.install_v0(log=lambda text: print(f"[real_servers] {text}", flush=True))


@pytest.fixture(scope="module")
def real_v0(v0_python: Path) -> Iterator[Any]:
    server = harness.V0Server(session_api_key=SESSION_KEY, python=v0_python)
    server.keep_store = False
    try:
        server.start()
        print(f"[real_servers] V0 server at {server.url} started in {server.starts[-1]:.1f} s")
        yield server
    finally:
        _stop(server)


@pytest.fixture
def use_server() -> Iterator[Callable[[Any], Any]]:
    """``use_server(server)`` names a server whose log goes into this test's failure report."""
    added: list[Any] = []

    def use(server: Any) -> Any:
        _in_use.append(server)
        added.append(server)
        return server

    yield use
    for server in added:
        _in_use.remove(server)


@pytest.fixture
def start_v0(v0_python: Path, use_server: Callable[[Any], Any]) -> Iterator[Callable[..., Any]]:
    """``start_v0(**V0Server kwargs, conversations={id: events})`` -> a started server owned by the test."""
    owned: list[Any] = []

    def start(conversations: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("python", v0_python)
        server = harness.V0Server(**kwargs)
        server.keep_store = False
        owned.append(server)
        use_server(server)
        for conversation_id, events in (conversations or {}).items():
            server.add_conversation(conversation_id, events)
        server.start()
        return server

    yield start
    for server in owned:
        _stop(server)


@pytest.fixture(scope="session")
def v1_python() -> Path:
    return harness.install_v1(log=lambda text: print(f"[real_servers] {text}", flush=True))


@pytest.fixture(scope="module")
def real_v1(v1_python: Path) -> Iterator[Any]:
    server = harness.V1Server(session_api_key=SESSION_KEY, python=v1_python)
    server.keep_store = False
    try:
        server.start()
        print(f"[real_servers] V1 agent server at {server.url} started in {server.starts[-1]:.1f} s")
        yield server
    finally:
        _stop(server)


@pytest.fixture
def start_v1(v1_python: Path, use_server: Callable[[Any], Any]) -> Iterator[Callable[..., Any]]:
    """``start_v1(**V1Server kwargs)`` -> a started V1 server owned by the test."""
    owned: list[Any] = []

    def start(**kwargs: Any) -> Any:
        kwargs.setdefault("python", v1_python)
        kwargs.setdefault("session_api_key", SESSION_KEY)
        server = harness.V1Server(**kwargs)
        server.keep_store = False
        owned.append(server)
        use_server(server)
        server.start()
        return server

    yield start
    for server in owned:
        _stop(server)


@pytest.fixture
def mock_llm() -> Iterator[Any]:
    """A started mock LLM on loopback (``.base_url``; ``.mode = "finish"`` ends the agent's task)."""
    from .mock_llm import MockLLM

    llm = MockLLM(delay=0.3).start()
    try:
        yield llm
    finally:
        llm.stop()


def _stop(server: Any) -> None:
    server.stop()
    if not getattr(server, "keep_store", False):
        server.cleanup()
