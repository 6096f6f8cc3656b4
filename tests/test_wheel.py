"""A newcomer's install, checked: build the wheel, install it into a fresh virtual environment, and
use it there with no node or npm on the PATH.

- The wheel is built by pip with build isolation (``pip wheel . --no-deps``), as ``pip install .``
  builds it: hatchling and hatch-jupyter-builder come from the package index. When the widget bundle
  ``ohnb/static/widget.js`` is already built (``scripts/test.sh`` builds it first), the build hook
  skips npm; otherwise it runs npm itself.
- The virtual environment is a plain ``python -m venv``, NOT ``--system-site-packages``: inheriting
  this machine's packages would hide a dependency missing from pyproject.toml, which is exactly what
  this test is for. Its dependencies come from the package index (pip's cache makes reruns quick,
  about 20 s here).
- Every command then runs with ``PATH`` = the venv's ``bin`` only (``node`` and ``npm`` live in
  ``/usr/bin``), no ``PYTHONPATH``, from a folder outside the checkout, so ``import ohnb`` can only
  find the installed wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(900)


def _run(argv: list, *, env: dict | None = None, cwd: Path | None = None, timeout: float = 600) -> str:
    done = subprocess.run(
        [str(a) for a in argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, argv))} exited {done.returncode}\n"
            f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
        )
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", out, REPO])
    wheels = list(out.glob("ohnb-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_the_wheel_ships_the_widget_bundle_the_data_and_its_license(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        bundle = zf.read("ohnb/static/widget.js").decode()
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert {"ohnb/static/widget.js", "ohnb/static/widget.css"} <= names
    assert "ohnb ConversationWidget front end" in bundle[:200] and "export" in bundle
    assert {
        "ohnb/data/v0_trajectory_export_297ev.json",  # the bundled conversation
        "ohnb/data/LICENSE.v0_trajectory_export_297ev.txt",  # its license (MIT) ...
        "ohnb/data/PROVENANCE.md",  # ... and where it comes from
    } <= names
    assert "ohnb = ohnb.cli:main" in entry_points
    assert "License: MIT" in metadata or "License-Expression: MIT" in metadata
    assert not [n for n in names if n.startswith(("tests/", "js/", "notebooks/"))]


def test_a_fresh_venv_runs_the_demo_and_the_widget_without_node(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    _run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel])

    env = {"PATH": str(bin_dir), "HOME": os.environ.get("HOME", str(tmp_path)), "LANG": "C.UTF-8"}
    assert shutil.which("node", path=env["PATH"]) is None and shutil.which("npm", path=env["PATH"]) is None
    work = tmp_path / "work"
    work.mkdir()

    out = _run([bin_dir / "ohnb", "--help"], env=env, cwd=work)
    assert all(command in out for command in ("demo", "serve", "record", "report", "lab"))

    out = _run(
        [bin_dir / "ohnb", "demo", "--no-progress", "-o", "demo-out", "--speed", "2000", "--max-gap", "0.01"],
        env=env, cwd=work, timeout=300,
    )  # fmt: skip
    assert " 0 lost, 0 stored twice" in out
    assert (work / "demo-out" / "events.parquet").is_file() and (work / "demo-out" / "attempts.parquet").is_file()

    check = (
        "import pathlib, sys, ohnb\n"
        "assert pathlib.Path(ohnb.__file__).is_relative_to(pathlib.Path(sys.argv[1])), ohnb.__file__\n"
        "events = ohnb.load('demo-out/events.parquet')\n"
        "widget = ohnb.ConversationWidget(events)\n"
        "assert 'ohnb ConversationWidget front end' in str(widget._esm)[:200]\n"
        "widget.to_html('conversation.html')\n"
        "print('widget ok', len(events), ohnb.__version__)\n"
    )
    assert "widget ok" in _run([python, "-c", check, venv], env=env, cwd=work)
    page = (work / "conversation.html").read_text()
    assert "ohnb-bundle" in page and "mountStatic" in page

    out = _run([bin_dir / "ohnb", "report", "demo-out/events.parquet", "--out", "plots"], env=env, cwd=work)
    assert "Connection attempts:" in out and (work / "plots" / "timeline.png").is_file()

    # The notebooks are not in the wheel: `ohnb lab` says so in one line.
    done = subprocess.run(
        [bin_dir / "ohnb", "lab", "--dry-run"], env=env, cwd=work, capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("ohnb lab: error: ohnb's notebooks were not found")
