"""Notebook 02 (post-hoc analysis of the evaluation outputs) runs top to bottom (nbclient)."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.conftest import FIXTURES

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02_post_hoc_analysis.ipynb"


def test_notebook_02_runs_top_to_bottom(tmp_path, monkeypatch, fixtures_dir):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), (
        "commit notebooks with outputs cleared"
    )
    env_path = os.pathsep.join(filter(None, [str(NOTEBOOK.parents[1]), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", env_path)  # the kernel imports this checkout's ohnb
    monkeypatch.setenv("OHNB_FIXTURES", str(FIXTURES))
    client = NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    text = "\n".join(out.get("text", "") + str(out.get("data", {}).get("text/plain", "")) for out in outputs)
    assert "48 conversations read" in text
    assert "2 with an empty history: safety-flattening, safety-delete-root" in text
    assert "4 unanswered actions, 4 of them the last event of their conversation" in text
    assert "24 user turns; the agent waited for the user 98% of the time" in text
    assert "round trip: identical" in text
    figures = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(figures) == 6, "the figures were not displayed"
