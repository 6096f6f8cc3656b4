"""Reading JSON and JSON Lines files with error messages that name the file and the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ohnb.jsonio import loads

#: File name endings read as JSON Lines.
JSONL_SUFFIXES = (".jsonl", ".ndjson")


def read_text(path: Path) -> str:
    """The file's text (UTF-8).

    Raises:
        ValueError: not UTF-8, or empty.
        OSError: it cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file ({exc})") from None
    if not text.strip():
        raise ValueError(f"{path}: file is empty")
    return text


def read_json_any(path: Path) -> tuple[str, Any]:
    """Parse ``path`` as JSON or JSON Lines.

    Returns:
        ``("json", value)`` or ``("jsonl", [(line_number, value), ...])`` (blank lines skipped). A
        ``.json`` file holding several JSON objects, one per line, is read as JSON Lines.

    Raises:
        ValueError: empty, not UTF-8, or not valid JSON (JSONL: the first bad line is named).
        OSError: it cannot be read.
    """
    text = read_text(path)
    if path.suffix.lower() not in JSONL_SUFFIXES:
        stripped = text.strip()
        try:
            return "json", loads(stripped)
        except json.JSONDecodeError as exc:
            if not (stripped.startswith("{") and "\n" in stripped):
                raise ValueError(f"{path}: not valid JSON ({exc})") from None
    return "jsonl", parse_jsonl(path, text)


def parse_jsonl(path: Path, text: str) -> list[tuple[int, Any]]:
    """``[(line_number, value)]`` for the non-blank lines of ``text``.

    Raises:
        ValueError: a line is not valid JSON, or there is none.
    """
    records: list[tuple[int, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line or line.isspace():
            continue
        try:
            records.append((lineno, loads(line)))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: line {lineno} is not valid JSON ({exc})") from None
    if not records:
        raise ValueError(f"{path}: no JSON records")
    return records


def keys_of(value: Any, limit: int = 8) -> str:
    """The first ``limit`` keys of a dict, sorted, for error messages."""
    return ", ".join(sorted(map(str, value))[:limit]) if isinstance(value, dict) else ""
