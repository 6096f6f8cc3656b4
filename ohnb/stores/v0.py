"""Readers of stored and exported OpenHands V0 conversations (first stage, no pandas).

Every reader returns plain event dicts, exactly as OpenHands V0 serialised them
(``openhands/events/serialization/event.py``, ``event_to_dict``), in id order::

    action:      {"id": int, "timestamp": "2025-08-31T15:23:21.581223", "source": "agent"|"user"|
                  "environment", "message": str, "action": str, "args": {...}, ...}
    observation: {"id": int, "timestamp": ..., "source": ..., "message": str, "cause": int,
                  "observation": str, "content": str, "extras": {...}, ...}

Timestamps are naive local ISO-8601 strings (no zone). Unknown action/observation types are kept.

Forms understood by :func:`read_v0_events` (see the protocol page, "Stored and exported forms"):

* ``GET /api/conversations/{id}/trajectory`` export and the headless ``save_trajectory_path`` file:
  ``{"trajectory": [event, ...]}`` or a bare JSON list of events. Hidden events are dropped by
  the export, so ids can have gaps (fixtures/v0_trajectory_export_297ev.json).
* ``GET /api/conversations/{id}/events`` page: ``{"events": [...], "has_more": bool}``.
* The V0 file store (``openhands/storage/locations.py``):
  ``sessions/{conversation_id}/events/{id}.json`` (one event per file) next to ``metadata.json``;
  either the session folder or its ``events/`` folder may be given (fixtures/v0_filestore_session).
* Evaluation output JSONL (``evaluation/benchmarks/*/.../output.jsonl``): one record per line with
  the event list under ``history`` (fixtures/v0_multi_swe_bench_output.jsonl). Very old records hold
  ``[action, observation]`` pairs (``get_pairs_from_events`` in ``openhands/events/utils.py``); they
  are flattened, and the placeholder ``NullObservation``/``NullAction`` that the pair form
  synthesises (no id) are dropped. A JSON file holding a single record (a dict with ``history``) is
  accepted too.
* An in-memory list of event dicts (or of pairs).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Union

__all__ = [
    "V0Source",
    "default_conversation_path",
    "events_from_v0_json",
    "is_v0_filestore",
    "order_v0_events",
    "read_v0_events",
]

#: Anything :func:`read_v0_events` accepts.
V0Source = Union[str, "os.PathLike[str]", Sequence[Any]]

_DEFAULT_NAME = "v0_trajectory_export_297ev.json"


def default_conversation_path() -> Path:
    """Path of the bundled demo conversation ``ohnb/data/v0_trajectory_export_297ev.json``.

    A real OpenHands V0 ``/trajectory`` export (297 events, ids 0..298, ids 1 and 2 hidden and
    dropped by the export), copied from enyst/playground @1d806e6b under the MIT license
    (``ohnb/data/PROVENANCE.md``). Resolved through :mod:`importlib.resources`, so it works from a
    wheel as well as from a checkout.

    Raises:
        FileNotFoundError: if the package data file is missing (broken install).
    """
    ref = resources.files("ohnb") / "data" / _DEFAULT_NAME
    path = Path(str(ref))
    if not path.is_file():
        raise FileNotFoundError(f"bundled conversation {_DEFAULT_NAME} is missing from ohnb/data")
    return path


def read_v0_events(
    source: V0Source | None = None,
    *,
    record: int | None = None,
    instance_id: str | None = None,
) -> list[dict[str, Any]]:
    """Read OpenHands V0 events from any stored/exported form, in id order.

    Args:
        source: a path (``str`` or ``os.PathLike``) to a trajectory export (``.json``, a dict with
            ``"trajectory"`` or a bare list), an ``/events`` page (dict with ``"events"``), a V0
            file-store session folder or its ``events/`` folder, an evaluation output ``.jsonl``
            (or a ``.json`` holding one record with ``"history"``); or an in-memory list of event
            dicts (or of ``[action, observation]`` pairs). ``None`` reads the bundled default
            conversation (:func:`default_conversation_path`).
        record: for evaluation JSONL, the 0-based record (line) index. Default: the first record.
        instance_id: for evaluation JSONL, pick the record whose ``instance_id`` equals this.
            Mutually exclusive with ``record``.

    Returns:
        The event dicts (the parsed objects themselves, not copies), sorted by ``id``. When no event
        carries an integer id (very old pair-form histories), positional ids 0..n-1 are assigned.

    Raises:
        FileNotFoundError: the path does not exist, or a folder holds no ``<id>.json`` events.
        ValueError: the file is not JSON/JSONL, has an unknown shape, holds a non-dict event, holds
            V1 events (``kind`` key) instead of V0 ones, or ``record``/``instance_id`` do not match.
            Messages name the file and what is wrong.
        TypeError: ``source`` is of an unsupported type.
    """
    if record is not None and instance_id is not None:
        raise ValueError("pass either record= or instance_id=, not both")
    if source is None:
        source = default_conversation_path()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        if path.is_dir():
            if record is not None or instance_id is not None:
                raise ValueError(f"{path}: record=/instance_id= only apply to evaluation JSONL")
            return _read_filestore(path)
        return _read_file(path, record=record, instance_id=instance_id)
    if isinstance(source, (bytes, bytearray)) or not isinstance(source, Sequence):
        raise TypeError(
            f"read_v0_events: unsupported source {type(source).__name__}; pass a path or a list"
        )
    return _normalise(list(source), where="in-memory list")


# --------------------------------------------------------------------------------------------
# files


def _read_file(path: Path, *, record: int | None, instance_id: str | None) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file ({exc})") from None
    stripped = text.strip()
    if not stripped:
        raise ValueError(f"{path}: file is empty")
    is_jsonl = path.suffix.lower() == ".jsonl"
    data: Any = None
    if not is_jsonl:
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            # a .json file that is really JSON Lines
            if stripped.startswith("{") and "\n" in stripped:
                is_jsonl = True
            else:
                raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if is_jsonl:
        return _read_jsonl(path, text, record=record, instance_id=instance_id)

    if record is not None or instance_id is not None:
        if isinstance(data, dict) and "history" in data:
            if record not in (None, 0):
                raise ValueError(f"{path}: holds a single record; record={record} is out of range")
            if instance_id is not None and data.get("instance_id") != instance_id:
                raise ValueError(
                    f"{path}: its record has instance_id {data.get('instance_id')!r}, "
                    f"not {instance_id!r}"
                )
        else:
            raise ValueError(f"{path}: record=/instance_id= only apply to evaluation output")
    return _events_from_container(data, where=str(path))


def _events_from_container(data: Any, *, where: str) -> list[dict[str, Any]]:
    if isinstance(data, list):
        return _normalise(data, where=where)
    if isinstance(data, dict):
        for key in ("trajectory", "events", "history"):
            if key in data:
                items = data[key]
                if items is None:
                    return []
                if not isinstance(items, list):
                    raise ValueError(
                        f"{where}: key {key!r} holds {type(items).__name__}, expected a list"
                    )
                return _normalise(items, where=f"{where} [{key!r}]")
        if "action" in data or "observation" in data:
            raise ValueError(
                f"{where}: holds a single event, not a conversation "
                "(expected a list, or a dict with 'trajectory', 'events' or 'history')"
            )
        keys = ", ".join(sorted(map(str, data))[:8])
        raise ValueError(
            f"{where}: unknown JSON shape: a dict without 'trajectory', 'events' or 'history' "
            f"(keys: {keys})"
        )
    raise ValueError(f"{where}: unknown JSON shape: top level is {type(data).__name__}")


def _read_jsonl(
    path: Path, text: str, *, record: int | None, instance_id: str | None
) -> list[dict[str, Any]]:
    records: list[tuple[int, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: line {lineno} is not valid JSON ({exc})") from None
    if not records:
        raise ValueError(f"{path}: no JSON records")
    first = records[0][1]
    if isinstance(first, dict) and ("action" in first or "observation" in first or "kind" in first):
        # one event per line
        if record is not None or instance_id is not None:
            raise ValueError(f"{path}: holds one event per line; record=/instance_id= do not apply")
        return _normalise([r for _, r in records], where=str(path))

    for lineno, rec in records:
        if not isinstance(rec, dict):
            kind = type(rec).__name__
            raise ValueError(f"{path}: line {lineno} is a {kind}, expected a record")  # noqa: TRY004
    if instance_id is not None:
        matches = [(ln, r) for ln, r in records if r.get("instance_id") == instance_id]
        if not matches:
            known = [str(r.get("instance_id")) for _, r in records[:5]]
            raise ValueError(
                f"{path}: no record with instance_id {instance_id!r} "
                f"({len(records)} records, e.g. {', '.join(known)})"
            )
        lineno, rec = matches[0]
    else:
        index = 0 if record is None else record
        if not -len(records) <= index < len(records):
            raise ValueError(f"{path}: record={record} is out of range ({len(records)} records)")
        lineno, rec = records[index]
    if "history" not in rec:
        keys = ", ".join(sorted(map(str, rec))[:8])
        raise ValueError(
            f"{path}: record on line {lineno} has no 'history' (keys: {keys}); "
            "expected OpenHands evaluation output"
        )
    history = rec["history"]
    if history is None:
        return []
    if not isinstance(history, list):
        raise ValueError(  # noqa: TRY004 - bad file content, not a bad argument
            f"{path}: 'history' on line {lineno} is a {type(history).__name__}, expected a list"
        )
    return _normalise(history, where=f"{path} line {lineno} ['history']")


def _read_filestore(path: Path) -> list[dict[str, Any]]:
    events_dir = path / "events" if (path / "events").is_dir() else path
    files: list[tuple[int, Path]] = []
    for entry in events_dir.iterdir():
        if entry.is_file() and entry.suffix == ".json" and entry.stem.isdigit():
            files.append((int(entry.stem), entry))
    if not files:
        raise FileNotFoundError(
            f"{path}: no V0 file-store events (expected events/<id>.json files)"
        )
    files.sort()
    events: list[dict[str, Any]] = []
    for _, file in files:
        try:
            ev = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{file}: not a valid JSON event ({exc})") from None
        if not isinstance(ev, dict):
            kind = type(ev).__name__
            raise ValueError(f"{file}: holds a {kind}, expected an event object")  # noqa: TRY004
        events.append(ev)
    return _normalise(events, where=str(events_dir))


# --------------------------------------------------------------------------------------------
# normalisation


def _is_event(obj: Any) -> bool:
    return isinstance(obj, Mapping) and ("action" in obj or "observation" in obj)


def _valid_id(ev: Mapping[str, Any]) -> bool:
    i = ev.get("id")
    return isinstance(i, int) and not isinstance(i, bool) and i >= 0


def _is_null(ev: Mapping[str, Any]) -> bool:
    return ev.get("action") == "null" or ev.get("observation") == "null"


def _flatten_pairs(items: Iterable[Any], *, where: str) -> list[Any]:
    flat: list[Any] = []
    for n, item in enumerate(items):
        if isinstance(item, (list, tuple)):
            for part in item:
                if part is None or part == {}:
                    continue
                if not isinstance(part, Mapping):
                    raise ValueError(  # noqa: TRY004 - bad file content, not a bad argument
                        f"{where}: item {n} is a pair holding a {type(part).__name__}, "
                        "expected event objects"
                    )
                flat.append(part)
        else:
            flat.append(item)
    return flat


def _normalise(items: list[Any], *, where: str) -> list[dict[str, Any]]:
    pair_form = any(isinstance(it, (list, tuple)) for it in items)
    if pair_form:
        items = _flatten_pairs(items, where=where)
    for n, ev in enumerate(items):
        if not isinstance(ev, Mapping):
            raise ValueError(  # noqa: TRY004 - bad file content, not a bad argument
                f"{where}: item {n} is a {type(ev).__name__}, expected an event object"
            )
        if "action" not in ev and "observation" not in ev:
            if "kind" in ev:
                raise ValueError(
                    f"{where}: item {n} is a V1 (agent-server) event (kind={ev.get('kind')!r}); "
                    "read_v0_events reads V0 events with an 'action' or 'observation' key"
                )
            keys = ", ".join(sorted(map(str, ev))[:8])
            raise ValueError(
                f"{where}: item {n} is not a V0 event: no 'action' or 'observation' key "
                f"(keys: {keys})"
            )
    events: list[dict[str, Any]] = list(items)  # type: ignore[arg-type]
    if pair_form:
        # the pair form synthesises NullObservation('') / NullAction() placeholders without ids
        events = [ev for ev in events if _valid_id(ev) or not _is_null(ev)]
        seen: set[int] = set()
        unique: list[dict[str, Any]] = []
        for ev in events:
            if _valid_id(ev):
                if ev["id"] in seen:
                    continue
                seen.add(ev["id"])
            unique.append(ev)
        events = unique
    if events and not any(_valid_id(ev) for ev in events):
        # very old histories carry no ids: number them by position
        events = [{**ev, "id": n} for n, ev in enumerate(events)]
    # stable sort by id; an id-less event stays right after the event before it
    keyed: list[tuple[float, int, dict[str, Any]]] = []
    last = -1.0
    for pos, ev in enumerate(events):
        if _valid_id(ev):
            last = float(ev["id"])
            keyed.append((last, pos, ev))
        else:
            keyed.append((last + 0.5, pos, ev))
    keyed.sort(key=lambda t: (t[0], t[1]))
    return [ev for _, _, ev in keyed]


# --------------------------------------------------------------------------------------------
# used by ohnb.stores.discover (whole-folder and many-record loads)


def order_v0_events(items: list[Any], *, where: str) -> list[dict[str, Any]]:
    """Validate and order a V0 history as :func:`read_v0_events` does for one conversation: pairs
    flattened (placeholder Null events dropped), id-less histories numbered, events sorted by id.

    Raises:
        ValueError: an item is not a V0 event (the message names ``where`` and the item).
    """
    return _normalise(list(items), where=where)


def events_from_v0_json(data: Any, *, where: str) -> list[dict[str, Any]]:
    """The ordered V0 events of a parsed JSON file: a list, or a dict with ``trajectory``, ``events``
    or ``history``.

    Raises:
        ValueError: another shape, or items that are not V0 events (``where`` named).
    """
    return _events_from_container(data, where=where)


def is_v0_filestore(path: Path) -> bool:
    """Whether folder ``path`` is a V0 file-store session (``events/<id>.json``) or its ``events/``."""
    events_dir = path / "events" if (path / "events").is_dir() else path
    try:
        return any(
            e.suffix == ".json" and e.stem.isdigit() and e.is_file() for e in events_dir.iterdir()
        )
    except OSError:
        return False
