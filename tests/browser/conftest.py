"""Real-browser test harness: a throwaway JupyterLab server and Debian's Chromium driven by Playwright.

Fixtures:

- ``lab_server`` (session): JupyterLab on 127.0.0.1 and a free port, no token, its own settings,
  workspaces, data, config and runtime dirs, ``root_dir`` a temporary folder; ``PYTHONPATH`` includes
  the repository so kernels import ``ohnb`` without installing it. Kernel sessions are deleted after
  each test (a surviving kernel would keep old modules imported).
- ``browser`` (package) and ``page`` (per test, fresh context, reduced motion): Chromium at
  ``/usr/bin/chromium`` (``OHNB_CHROMIUM`` overrides); tests are skipped when it is absent.
  ``page.ohnb_errors`` collects page and console errors, ``page.ohnb_dialogs`` every dialog (each
  dismissed).

Helpers other tests (and ``benchmarks/bench_widget.py``) reuse:

- :func:`start_lab_server` / :func:`stop_lab_server`, :func:`launch_chromium`;
- :func:`write_notebook` builds a notebook from code strings;
- :meth:`LabServer.add_notebook` copies a notebook (path or ``NotebookNode``) into the server's root;
- :func:`open_notebook` opens a notebook in JupyterLab (or Notebook 7) and waits for an idle kernel;
  :func:`open_and_run_all` also runs all cells and waits for a selector; :func:`run_cell` runs one;
  :func:`wait_for_cells_done` and :func:`cell_errors` check that every cell ran and none raised;
- :func:`kernel_eval`, :func:`kernel_json`, :func:`wait_kernel` run code in the notebook's kernel
  outside any cell (to read or poke the kernel's objects while the page shows the widget).

See ``/work/shared/docs/browser-testing.md`` for why each step is done the way it is.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
STATIC_JS = REPO / "ohnb" / "static" / "widget.js"
CHROMIUM = Path(os.environ.get("OHNB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 60.0

#: True when the current notebook's kernel is connected and idle and run-all can start (a synchronous
#: predicate: page.wait_for_function does not wait on Promises). Works in JupyterLab and Notebook 7.
KERNEL_READY_JS = """() => {
  const app = window.jupyterapp;
  if (!app || !app.commands || !app.commands.hasCommand("notebook:run-all-cells")) return false;
  const panel = app.shell.currentWidget;
  if (!panel || !panel.context || !panel.context.isReady || !panel.sessionContext) return false;
  const session = panel.sessionContext;
  if (!session.isReady) return false;
  const kernel = session.session && session.session.kernel;
  return !!kernel && kernel.connectionStatus === "connected" && kernel.status === "idle";
}"""

#: True when every code cell of the current notebook has an execution count and the kernel is idle.
CELLS_DONE_JS = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return false;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (!kernel || kernel.status !== "idle") return false;
  const cells = panel.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type === "code" && cell.sharedModel.source.trim() && cell.executionCount == null) return false;
  }
  return true;
}"""

#: The error outputs of the current notebook: [{cell, ename, evalue}].
CELL_ERRORS_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.model.cells;
  const errors = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== "code") continue;
    for (let k = 0; k < cell.outputs.length; k++) {
      const out = cell.outputs.get(k).toJSON();
      if (out.output_type === "error") errors.push({ cell: i, ename: out.ename, evalue: out.evalue });
    }
  }
  return errors;
}"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)


# --- JupyterLab server ------------------------------------------------------------------------------


@dataclass
class LabServer:
    base_url: str
    root_dir: Path
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    def add_notebook(
        self, notebook: Path | str | nbformat.NotebookNode, name: str | None = None
    ) -> str:
        """Copy a notebook file (or write a NotebookNode) into the server's root; return its name."""
        if isinstance(notebook, nbformat.NotebookNode):
            name = name or "test.ipynb"
            nbformat.write(notebook, self.root_dir / name)
        else:
            source = Path(notebook)
            name = name or source.name
            shutil.copyfile(source, self.root_dir / name)
        return name

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def api(self, method: str, path: str) -> Any:
        """Call the server's REST API (with the XSRF cookie and header it wants for writes)."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        headers = {}
        if method != "GET":
            opener.open(self.url("lab"), timeout=10).read()
            xsrf = next((c.value for c in jar if c.name == "_xsrf"), None)
            if xsrf:
                headers["X-XSRFToken"] = xsrf
        request = urllib.request.Request(self.url(path), method=method, headers=headers)
        with opener.open(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def delete_sessions(self) -> None:
        """Shut down every kernel session (so the next test's kernel imports fresh modules)."""
        for session in self.api("GET", "api/sessions"):
            try:
                self.api("DELETE", f"api/sessions/{session['id']}")
            except Exception as exc:  # noqa: BLE001 - cleanup is best effort, report and go on
                print(f"could not delete session {session['id']}: {exc}", file=sys.stderr)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_server(server: LabServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited ({server.process.returncode}):\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(server.url("api/status"), timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{server.log_tail()}")


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: `apt-get install -y chromium` (or set OHNB_CHROMIUM)")
    return CHROMIUM


@pytest.fixture(scope="session")
def widget_bundle() -> Path:
    if not STATIC_JS.exists():
        pytest.fail(
            f"{STATIC_JS.relative_to(REPO)} is missing: build the front end first "
            "(cd js && npm install && npm run build)"
        )
    return STATIC_JS


def start_lab_server(base: Path) -> LabServer:
    """Start JupyterLab (and Notebook 7, same server) on 127.0.0.1, isolated under ``base``.

    The server's root is ``base / "root"``; settings, workspaces, data, config and runtime dirs live
    beside it. ``PYTHONPATH`` includes the repository so kernels import ``ohnb`` without installing
    it. Stop it with :func:`stop_lab_server`. (A plain function: the benchmark uses it too.)
    """
    root = base / "root"
    dirs = {name: base / name for name in ("settings", "workspaces", "data", "config", "runtime")}
    for path in (root, *dirs.values()):
        path.mkdir(parents=True, exist_ok=True)
    notification = dirs["settings"] / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True, exist_ok=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    port = _free_port()
    log_path = base / "server.log"
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.ip=127.0.0.1",
        f"--port={port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = LabServer(f"http://127.0.0.1:{port}", root, log_path, process)
    try:
        _wait_for_server(server, SERVER_START_TIMEOUT)
    except BaseException:
        stop_lab_server(server)
        raise
    return server


def stop_lab_server(server: LabServer) -> None:
    """Stop the server and the kernels it started (its process group)."""
    process = server.process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
def lab_server(
    tmp_path_factory: pytest.TempPathFactory, chromium_path: Path
) -> Iterator[LabServer]:
    """A JupyterLab server isolated from the user's settings; its root is an empty temporary folder."""
    server = start_lab_server(tmp_path_factory.mktemp("jupyter"))
    try:
        yield server
    finally:
        stop_lab_server(server)


@pytest.fixture
def lab(lab_server: LabServer, widget_bundle: Path) -> Iterator[LabServer]:
    """The session's JupyterLab server, with every kernel session shut down after the test."""
    yield lab_server
    lab_server.delete_sessions()


# --- browser ----------------------------------------------------------------------------------------


def launch_chromium(playwright: Any, chromium_path: Path = CHROMIUM) -> Any:
    """Debian's Chromium through Playwright (its own browser download cannot work here)."""
    return playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)


@pytest.fixture(scope="package")
def browser(chromium_path: Path) -> Iterator[Any]:
    # Package scope, not session: Playwright's sync API keeps an asyncio loop running in the main
    # thread while it is open, which would break every asyncio test collected after this folder.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, chromium_path)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page; page errors and console errors are kept in ``page.ohnb_errors``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
    page = context.new_page()
    errors: list[str] = []
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.ohnb_dialogs = dialogs
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: (
            errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    page.ohnb_errors = errors
    try:
        yield page
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed and errors:
            print("browser errors:\n" + "\n".join(errors), file=sys.stderr)
        context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report


# --- helpers ----------------------------------------------------------------------------------------


def write_notebook(path: Path, cells: list[str], *, markdown: str | None = None) -> Path:
    """Write a notebook of code cells (and an optional leading markdown cell) to ``path``."""
    nb = nbformat.v4.new_notebook()
    if markdown:
        nb.cells.append(nbformat.v4.new_markdown_cell(markdown))
    nb.cells.extend(nbformat.v4.new_code_cell(source) for source in cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def open_notebook(
    page: Any, server: LabServer, notebook: str | Path, *, ui: str = "lab", timeout_ms: float = 60_000
) -> str:
    """Open ``notebook`` (a name in the server's root, or a path copied there) in JupyterLab
    (``ui="lab"``) or Notebook 7 (``ui="notebook"``) and wait until its kernel is connected and idle.
    Returns the notebook's name."""
    name = (
        notebook
        if isinstance(notebook, str) and "/" not in notebook
        else server.add_notebook(Path(notebook))
    )
    url = server.url(f"lab/tree/{name}?reset" if ui == "lab" else f"notebooks/{name}")
    page.goto(url)
    page.wait_for_function(KERNEL_READY_JS, timeout=timeout_ms, polling=100)
    return name


def open_and_run_all(
    page: Any,
    server: LabServer,
    notebook: str | Path,
    selector: str,
    *,
    ui: str = "lab",
    timeout_ms: float = 60_000,
) -> Any:
    """Open ``notebook`` in the browser, run all cells and wait until ``selector`` is visible.

    Args:
        page: a Playwright (sync API) page.
        server: the :class:`LabServer` (fixture ``lab``).
        notebook: a notebook name in the server's root, or a path anywhere (copied into the root).
        selector: what to wait for after run-all, e.g. ``".ohnb-widget .ohnb-event"``.
        ui: ``"lab"`` (JupyterLab) or ``"notebook"`` (Notebook 7).
        timeout_ms: for each of: the kernel getting ready, the selector appearing.

    Returns:
        ``page.locator(selector)``. Raises AssertionError (with the cells' errors and the server log)
        when the selector does not appear.
    """
    name = open_notebook(page, server, notebook, ui=ui, timeout_ms=timeout_ms)
    # Start run-all without awaiting the command's promise (awaiting it early has hung).
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    return wait_for_visible(page, server, selector, name, timeout_ms)


def run_cell(page: Any, index: int) -> None:
    """Run the code cell at ``index`` of the open notebook (without waiting for it to finish)."""
    page.evaluate(
        """(index) => {
          const panel = window.jupyterapp.shell.currentWidget;
          panel.content.activeCellIndex = index;
          window.jupyterapp.commands.execute("notebook:run-cell");
        }""",
        index,
    )


def wait_for_visible(
    page: Any, server: LabServer, selector: str, name: str = "", timeout_ms: float = 60_000
) -> Any:
    """Wait until ``selector`` is visible; on failure raise with the cells' errors and the server log."""
    try:
        page.wait_for_selector(selector, state="visible", timeout=timeout_ms)
    except Exception as exc:
        errors = cell_errors(page)
        raise AssertionError(
            f"{selector!r} did not appear in {name} ({type(exc).__name__}).\n"
            f"cell errors: {errors}\nbrowser errors: {getattr(page, 'ohnb_errors', [])}\n"
            f"server log:\n{server.log_tail()}"
        ) from exc
    return page.locator(selector)


#: Execute code in the open notebook's kernel; resolves to its stdout (and execute_result text).
KERNEL_EVAL_JS = """async ([code, timeoutMs]) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session.kernel;
  const future = kernel.requestExecute({ code, silent: false, store_history: false, stop_on_error: false });
  let out = "";
  let error = null;
  future.onIOPub = (msg) => {
    const type = msg.header.msg_type;
    if (type === "stream") out += msg.content.text;
    else if (type === "execute_result") out += msg.content.data["text/plain"] || "";
    else if (type === "error") error = msg.content.ename + ": " + msg.content.evalue;
  };
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("kernel_eval timed out")), timeoutMs);
  });
  try {
    await Promise.race([future.done, timeout]);
  } finally {
    clearTimeout(timer);
  }
  if (error) throw new Error(error);
  return out;
}"""


def kernel_eval(page: Any, code: str, timeout_ms: float = 30_000) -> str:
    """Run ``code`` in the kernel of the open notebook (not in a cell); return what it printed.

    The kernel must not be busy with a cell (ipykernel runs one execute request at a time).
    """
    return page.evaluate(KERNEL_EVAL_JS, [code, timeout_ms])


def kernel_json(page: Any, expression: str, timeout_ms: float = 30_000) -> Any:
    """Evaluate ``expression`` in the kernel and return it (it must be JSON-serializable)."""
    out = kernel_eval(page, f"import json as _j; print(_j.dumps({expression}))", timeout_ms)
    return json.loads(out)


def wait_kernel(page: Any, expression: str, timeout_s: float = 30.0, every_s: float = 0.2) -> Any:
    """Poll a kernel expression until it is truthy; return its value (AssertionError on timeout)."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = kernel_json(page, expression)
        if value:
            return value
        page.wait_for_timeout(every_s * 1000)
    raise AssertionError(f"kernel expression {expression!r} still {value!r} after {timeout_s} s")


def wait_for_cells_done(page: Any, timeout_ms: float = 60_000) -> None:
    """Wait until every non-empty code cell has run and the kernel is idle."""
    page.wait_for_function(CELLS_DONE_JS, timeout=timeout_ms, polling=100)


def cell_errors(page: Any) -> list[dict]:
    """The error outputs of the open notebook: ``[{"cell": i, "ename": ..., "evalue": ...}]``."""
    try:
        return page.evaluate(CELL_ERRORS_JS)
    except Exception as exc:  # noqa: BLE001 - a diagnostic helper must not raise
        return [{"cell": None, "ename": "could not read outputs", "evalue": str(exc)}]
