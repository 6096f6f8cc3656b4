"""Readers of stored OpenHands V1 (agent server / SDK / CLI) conversations (no pandas).

V1 events are ``Event.model_dump(mode="json")`` objects with a string ``kind`` and a UUID ``id``
(``openhands-sdk/openhands/sdk/event/``). Forms read here (protocol page, "Stored and exported forms"):

* CLI persistence (``openhands-sdk/openhands/sdk/conversation/persistence``, OpenHands-CLI):
  ``<conversations dir>/<id>/events/event-NNNNN-<uuid>.json`` (one event per file, ``NNNNN`` the
  position) next to ``base_state.json`` (whose ``id`` is the conversation id); the event files may also
  sit directly in the folder (fixtures/v1_cli_conversations/*);
* JSON Lines with one event per line (fixtures/v1_sdk_goal_events.jsonl), or a JSON list of events;
* a REST search page ``GET /api/conversations/{id}/events/search`` -> ``{"items": [...],
  "next_page_id": ...}`` (fixtures/captures/v1_real_server_rest.json);
* evaluation output (one record per line, events under ``history``): see :mod:`ohnb.stores.evals`;
* captured WebSocket frames: see :mod:`ohnb.stores.frames`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ohnb.stores._files import keys_of, read_json_any, read_text

__all__ = ["base_state", "cli_event_files", "is_v1_cli", "read_v1_events"]

_CLI_EVENT = re.compile(r"^event-(\d+)-.*\.json$")


def _events_dir(path: Path) -> Path:
    return path / "events" if (path / "events").is_dir() else path


def cli_event_files(path: Path) -> list[Path]:
    """The ``event-NNNNN-<uuid>.json`` files of a CLI conversation folder (or its ``events/``), in
    ``NNNNN`` order (numeric, so 10 comes after 9). Empty when there are none."""
    folder = _events_dir(path)
    found: list[tuple[int, str, Path]] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    for entry in entries:
        match = _CLI_EVENT.match(entry.name)
        if match and entry.is_file():
            found.append((int(match.group(1)), entry.name, entry))
    found.sort()
    return [p for _, _, p in found]


def is_v1_cli(path: Path) -> bool:
    """Whether folder ``path`` is a V1 CLI conversation (holds ``event-NNNNN-*.json`` files)."""
    return bool(cli_event_files(path))


def base_state(path: Path) -> dict[str, Any] | None:
    """The CLI conversation's ``base_state.json`` (next to ``events/``), or None if absent/unreadable."""
    for folder in (path, path.parent if path.name == "events" else None):
        if folder is None:
            continue
        file = folder / "base_state.json"
        if file.is_file():
            try:
                state = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            return state if isinstance(state, dict) else None
    return None


def read_cli_folder(path: Path) -> list[dict[str, Any]]:
    """The events of a CLI conversation folder, in file order.

    Raises:
        FileNotFoundError: no ``event-NNNNN-*.json`` file.
        ValueError: a file is not JSON or not an object (the file is named).
    """
    files = cli_event_files(path)
    if not files:
        raise FileNotFoundError(f"{path}: no V1 CLI events (expected event-NNNNN-<uuid>.json files)")
    events = []
    for file in files:
        try:
            event = json.loads(read_text(file))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{file}: not a valid JSON event ({exc})") from None
        if not isinstance(event, dict):
            raise ValueError(f"{file}: holds a {type(event).__name__}, expected an event object")  # noqa: TRY004
        events.append(event)
    return events


def events_from_json(data: Any, *, where: str) -> list[Any]:
    """The V1 events of a parsed JSON value: a list of events, ``{"items": [...]}`` (REST search page)
    or ``{"events": [...]}``.

    Raises:
        ValueError: another shape (a single event, an unknown dict, a scalar).
    """
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in ("items", "events"):
            if isinstance(data.get(key), list):
                return data[key]
        if "kind" in data and "id" in data:
            raise ValueError(f"{where}: holds a single V1 event, not a conversation")
        raise ValueError(f"{where}: unknown JSON shape for V1 events (keys: {keys_of(data)})")
    raise ValueError(f"{where}: unknown JSON shape: top level is {type(data).__name__}")


def read_v1_events(source: str | os.PathLike[str]) -> list[Any]:
    """Read the V1 events of one conversation, in stored order.

    Args:
        source: a CLI conversation folder (or its ``events/``), a JSONL file with one event per line, a
            JSON file holding a list of events or a REST search page (``{"items": [...]}``).

    Returns:
        The event dicts as stored (parsed JSON, not copies of anything).

    Raises:
        FileNotFoundError: the path does not exist, or a folder holds no CLI events.
        ValueError: unreadable JSON or an unknown shape; the message names the file.
    """
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_dir():
        return read_cli_folder(path)
    form, data = read_json_any(path)
    if form == "jsonl":
        return [value for _, value in data]
    return events_from_json(data, where=str(path))
