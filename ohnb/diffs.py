"""Unified diffs of file edits (pure text; the normalizers decide where old and new content come from)."""

from __future__ import annotations

import difflib
from typing import Any

#: Larger inputs (old + new, characters) are not diffed: too slow for a live stream, too big to show.
MAX_DIFF_INPUT = 400_000


def edit_diff(diff: Any, old: Any, new: Any, path: Any) -> str | None:
    """A unified diff for a file edit: ``diff`` when the event carries one, else one made from ``old``
    and ``new`` content (``old`` missing: a created file). None when neither is usable or the contents
    are larger than :data:`MAX_DIFF_INPUT` characters. Never raises."""
    if isinstance(diff, str) and diff:
        return diff
    if not isinstance(new, str) or not (old is None or isinstance(old, str)):
        return None
    old = old or ""
    if len(old) + len(new) > MAX_DIFF_INPUT:
        return None
    name = path if isinstance(path, str) and path else "file"
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=name, tofile=name
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return text.rstrip("\n") or None
