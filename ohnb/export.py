"""Write event and attempt frames to files (parquet), with secrets never among them.

The ``raw`` column holds decoded payloads (dicts); parquet stores it as a JSON string, so a saved file
is plain data any tool can read. ohnb never puts a session API key into a frame, so none reaches a file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def _to_json(value: object) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        return json.dumps(repr(value))


def to_parquet(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` (events or attempts) to ``path`` as parquet; returns the path.

    The ``raw`` column, if present, is written as JSON text (one string per row).

    Raises:
        OSError: the file cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = frame
    if "raw" in frame.columns:
        out = frame.copy()
        out["raw"] = frame["raw"].map(_to_json).astype("string")
    out.to_parquet(path, index=False)
    return path
