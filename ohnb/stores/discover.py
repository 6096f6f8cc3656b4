"""Which stored form a source holds, and every conversation in it.

A *source* (what the user passes to ``ohnb.load``) expands into *units* (:func:`expand_source`): one
file, one conversation folder, one dataset folder, one server URL or one in-memory list. Each unit is
read on its own (:func:`read_unit`) into :class:`RawConversation` objects, so that an unreadable unit
can be reported and skipped while the others load.

Forms (``RawConversation.form``; protocol page, "Stored and exported forms"):

=====================  =========================================================================
``v0_trajectory``      V0 ``/trajectory`` export ``{"trajectory": [...]}`` or a bare JSON list
``v0_events_page``     V0 ``GET /events`` page ``{"events": [...], "has_more": ...}``
``v0_events_jsonl``    V0 events, one per line
``v0_file_store``      V0 ``sessions/<id>/events/<n>.json`` (+ ``metadata.json``)
``v0_eval_output``     V0 evaluation output (``history`` per record; pair form too)
``v1_cli``             V1 CLI folder ``events/event-NNNNN-<uuid>.json`` (+ ``base_state.json``)
``v1_events``          V1 events: JSON list, JSONL (one per line), REST search page ``{"items"}``
``v1_eval_output``     V1 evaluation output (``history`` per record)
``frames``             captured WebSocket/Socket.IO frames (V0 or V1) with receive times
``server_v0``          a running V0 server's ``/events`` (paged)
``server_v1``          a running V1 server's ``/events/search`` (paged)
``ohnb_export``        a file or dataset folder written by ``ohnb.save`` (already a frame)
``memory``             a list of event dicts (or of V0 ``[action, observation]`` pairs)
=====================  =========================================================================

Conversation ids: from the data where it has one (frames' ``_meta``, V0 ``metadata.json``, V1
``base_state.json``, the server URL, ohnb exports); the ``instance_id`` of an evaluation record;
otherwise the file or folder name (``RawConversation.id_from_data`` is then False).
"""

from __future__ import annotations

import glob as _glob
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ohnb.normalize_v1 import is_v1_payload
from ohnb.stores._files import JSONL_SUFFIXES, keys_of, read_json_any
from ohnb.stores.evals import is_eval_record, read_eval_records
from ohnb.stores.frames import is_frame_record, split_frames
from ohnb.stores.v0 import (
    events_from_v0_json,
    is_v0_filestore,
    order_v0_events,
    read_v0_events,
)
from ohnb.stores.v1 import base_state, events_from_json, is_v1_cli, read_cli_folder

__all__ = ["FORMS", "RawConversation", "Unit", "expand_source", "read_unit"]

FORMS = (
    "v0_trajectory", "v0_events_page", "v0_events_jsonl", "v0_file_store", "v0_eval_output",
    "v1_cli", "v1_events", "v1_eval_output", "frames", "server_v0", "server_v1", "ohnb_export",
    "memory",
)  # fmt: skip

_SUFFIXES = (".json", ".jsonl", ".ndjson", ".parquet")
#: Files of a conversation folder that are not conversations themselves.
_SIDECARS = {"metadata.json", "base_state.json"}
_URL_SCHEMES = ("http://", "https://", "ws://", "wss://")


@dataclass
class RawConversation:
    """One conversation as stored: payloads in stored order, plus where they came from.

    ``received_at`` / ``attempt`` (frames only) run parallel to ``events``. ``frame`` is set instead
    of ``events`` for ohnb's own exports (already typed rows, possibly of many conversations).
    ``meta`` holds what an evaluation record says (``error``, ``model``, ``accumulated_cost``...).
    """

    source: str
    form: str
    conversation_id: str | None
    events: list[Any] = field(default_factory=list)
    id_from_data: bool = False
    instance_id: str | None = None
    line: int | None = None
    received_at: list[float | None] | None = None
    attempt: list[int | None] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    frame: pd.DataFrame | None = None


@dataclass(frozen=True)
class Unit:
    """A piece of a source read on its own: ``kind`` is ``path``, ``url`` or ``memory``."""

    kind: str
    value: Any

    def __str__(self) -> str:
        if self.kind == "memory":
            return f"in-memory list of {len(self.value)} items"
        return str(self.value)


# --------------------------------------------------------------------------------------------
# expanding a source


def _is_pathlike(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def expand_source(source: Any) -> list[Unit]:
    """The units of ``source``: a path (file or folder, searched recursively), a glob pattern, a
    server URL (``http(s)://``), a list of those, or a list of event dicts / V0 pairs.

    Folders: a V0 session, a V1 CLI conversation or an ohnb dataset folder is one unit; any other
    folder gives the units of its entries (``.json``, ``.jsonl``, ``.ndjson``, ``.parquet`` files and
    sub-folders, sorted by name; hidden entries, ``metadata.json`` and ``base_state.json`` skipped).

    Raises:
        FileNotFoundError: a path that does not exist and matches nothing as a pattern, or a folder
            with nothing to load.
        TypeError: an unsupported source type.
    """
    if isinstance(source, str) and source.strip().lower().startswith(_URL_SCHEMES):
        return [Unit("url", source.strip())]
    if _is_pathlike(source):
        return _expand_path(Path(source), pattern=str(source))
    if isinstance(source, pd.DataFrame):
        raise TypeError("ohnb.load reads stored conversations; a DataFrame is loaded already")
    if isinstance(source, Sequence) and not isinstance(source, (bytes, bytearray)):
        items = list(source)
        if items and all(_is_pathlike(item) for item in items):
            return [unit for item in items for unit in expand_source(item)]
        if any(_is_pathlike(item) for item in items):
            raise TypeError("a list source holds either paths or events, not both")
        return [Unit("memory", items)]
    raise TypeError(
        f"unsupported source {type(source).__name__}: pass a path, a glob pattern, a URL, "
        "or a list of them or of event dicts"
    )


def _expand_path(path: Path, *, pattern: str) -> list[Unit]:
    if not path.exists():
        if any(ch in pattern for ch in "*?["):
            matches = sorted(_glob.glob(pattern, recursive=True))
            if matches:
                return [u for m in matches for u in _expand_path(Path(m), pattern=m)]
            raise FileNotFoundError(f"{pattern}: no file matches this pattern")
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_file():
        return [Unit("path", path)]
    units = _scan(path)
    if not units:
        raise FileNotFoundError(
            f"{path}: nothing to load (no conversation folders, event files, evaluation outputs "
            "or ohnb exports)"
        )
    return units


def _scan(folder: Path) -> list[Unit]:
    from ohnb.export import is_ohnb_dataset

    if is_v0_filestore(folder) or is_v1_cli(folder) or is_ohnb_dataset(folder):
        return [Unit("path", folder)]
    units: list[Unit] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            units.extend(_scan(entry))
        elif entry.suffix.lower() in _SUFFIXES and entry.name not in _SIDECARS:
            units.append(Unit("path", entry))
    return units


# --------------------------------------------------------------------------------------------
# reading one unit


def read_unit(
    unit: Unit,
    *,
    session_api_key: str | None = None,
    generation: str = "auto",
    conversation_id: str | None = None,
    on_page: Callable[[int], None] | None = None,
) -> list[RawConversation]:
    """Read one unit into its conversations (an evaluation output gives one per record).

    ``session_api_key``, ``generation``, ``conversation_id`` and ``on_page`` apply to server URLs
    (:func:`ohnb.stores.remote.fetch_conversation`).

    Raises:
        ValueError: unreadable or unknown content (the message names the file, line or item).
        FileNotFoundError: a folder without the files its form needs.
        OSError, ConnectionError: the file or server cannot be read.
    """
    if unit.kind == "url":
        from ohnb.stores.remote import fetch_conversation

        gen, cid, events = fetch_conversation(
            unit.value, conversation_id, session_api_key=session_api_key,
            generation=generation, on_page=on_page,  # type: ignore[arg-type]
        )  # fmt: skip
        return [RawConversation(_redact(unit.value), f"server_{gen}", cid, events, id_from_data=True)]
    if unit.kind == "memory":
        return [_from_items(unit.value, source=str(unit), name=None, form="memory")]
    path: Path = unit.value
    if path.is_dir():
        return _read_folder(path)
    if path.suffix.lower() == ".parquet" or _is_parquet(path):
        return [_export(path)]
    if path.suffix.lower() in JSONL_SUFFIXES and path.stat().st_size == 0:
        # what ohnb.save writes for a frame without rows
        from ohnb.schema import EVENT_COLUMNS, empty_frame

        frame = empty_frame(EVENT_COLUMNS)
        return [RawConversation(str(path), "ohnb_export", None, frame=frame, id_from_data=True)]
    return _read_file(path)


def _is_parquet(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PAR1"
    except OSError:
        return False


def _redact(url: str) -> str:
    from ohnb.urls import _redact as redact

    return redact(url)


def _export(path: Path) -> RawConversation:
    from ohnb.export import read_export

    return RawConversation(str(path), "ohnb_export", None, frame=read_export(path), id_from_data=True)


def _read_folder(path: Path) -> list[RawConversation]:
    from ohnb.export import is_ohnb_dataset

    if is_ohnb_dataset(path):
        return [_export(path)]
    if is_v0_filestore(path):
        events = read_v0_events(path)
        session = path.parent if path.name == "events" else path
        cid, real = session.name, False
        metadata = _json_object(session / "metadata.json")
        if metadata and isinstance(metadata.get("conversation_id"), str):
            cid, real = metadata["conversation_id"], True
        return [RawConversation(str(path), "v0_file_store", cid, events, id_from_data=real, meta=_filestore_meta(metadata))]
    if is_v1_cli(path):
        events = read_cli_folder(path)
        folder = path.parent if path.name == "events" else path
        state = base_state(path)
        cid, real = folder.name, False
        if state and isinstance(state.get("id"), str):
            cid, real = state["id"], True
        return [RawConversation(str(path), "v1_cli", cid, events, id_from_data=real)]
    raise FileNotFoundError(f"{path}: not a conversation folder")


def _json_object(path: Path) -> dict[str, Any] | None:
    import json

    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _filestore_meta(metadata: dict[str, Any] | None) -> dict[str, Any]:
    if not metadata:
        return {}
    keep = ("title", "llm_model", "accumulated_cost", "prompt_tokens", "completion_tokens")
    meta = {k: metadata[k] for k in keep if k in metadata}
    if "llm_model" in meta:
        meta["model"] = meta.pop("llm_model")
    return meta


def _read_file(path: Path) -> list[RawConversation]:
    form, data = read_json_any(path)
    where = str(path)
    if form == "jsonl":
        records = data
        first = records[0][1]
        if is_frame_record(first):
            return _frames([v for _, v in records], path=path, meta=None)
        if is_eval_record(first):
            return _evals(records, path=path)
        from ohnb.export import is_ohnb_records, records_frame

        if is_ohnb_records(first):
            frame = records_frame([v for _, v in records], where=where)
            return [RawConversation(where, "ohnb_export", None, frame=frame, id_from_data=True)]
        values = [v for _, v in records]
        if isinstance(first, dict) and (is_v1_payload(first) or "action" in first or "observation" in first):
            conv = _from_items(values, source=where, name=path.stem, form=None)
            if conv.form == "v0_trajectory":
                conv.form = "v0_events_jsonl"
            return [conv]
        raise ValueError(
            f"{where}: unknown JSONL shape: the first line is not an event, a frame, an evaluation "
            f"record or an ohnb row (keys: {keys_of(first)})"
        )
    if isinstance(data, dict):
        if is_eval_record(data):
            return _evals([(1, data)], path=path)
        if isinstance(data.get("frames"), list):
            meta = {k: v for k, v in data.items() if k != "frames"}
            return _frames(data["frames"], path=path, meta=meta)
        if isinstance(data.get("items"), list):
            events = events_from_json(data, where=where)
            return [RawConversation(where, "v1_events", path.stem, events)]
        if isinstance(data.get("events"), list) and data["events"] and is_v1_payload(data["events"][0]):
            return [RawConversation(where, "v1_events", path.stem, data["events"])]
        events = events_from_v0_json(data, where=where)
        form = "v0_events_page" if "events" in data else "v0_trajectory"
        return [RawConversation(where, form, path.stem, events)]
    if isinstance(data, list):
        if data and is_frame_record(data[0]):
            return _frames(data, path=path, meta=None)
        return [_from_items(data, source=where, name=path.stem, form=None)]
    raise ValueError(f"{where}: unknown JSON shape: top level is {type(data).__name__}")


def _from_items(items: list[Any], *, source: str, name: str | None, form: str | None) -> RawConversation:
    first = next((it for it in items if isinstance(it, (dict, list, tuple))), None)
    if is_frame_record(first):
        convs = split_frames(items, where=source)
        conv = convs[0] if len(convs) == 1 else None
        if conv is None:
            raise ValueError(f"{source}: frames of several conversations; load the file instead")
        return RawConversation(source, "frames", conv.conversation_id or name, conv.events,
                               received_at=conv.received_at, attempt=conv.attempt)  # fmt: skip
    if isinstance(first, dict) and is_v1_payload(first):
        return RawConversation(source, form or "v1_events", name, list(items))
    events = order_v0_events(items, where=source)
    return RawConversation(source, form or "v0_trajectory", name, events)


def _frames(records: list[Any], *, path: Path, meta: dict[str, Any] | None) -> list[RawConversation]:
    out = []
    for conv in split_frames(records, meta=meta, where=str(path)):
        out.append(
            RawConversation(
                str(path), "frames", conv.conversation_id or path.stem, conv.events,
                id_from_data=conv.conversation_id is not None,
                received_at=conv.received_at, attempt=conv.attempt,
                meta={"attempts": conv.attempts},
            )
        )  # fmt: skip
    return out


def _evals(records: list[tuple[int, Any]], *, path: Path) -> list[RawConversation]:
    parsed = read_eval_records(records, where=str(path))
    known = [r.generation for r in parsed if r.generation]
    default = max(set(known), key=known.count) if known else "v0"
    out = []
    for rec in parsed:
        cid = rec.instance_id if rec.instance_id is not None else f"{path.stem}#{rec.line}"
        out.append(
            RawConversation(
                str(path), f"{rec.generation or default}_eval_output", cid, rec.events,
                instance_id=rec.instance_id, line=rec.line, meta=rec.meta,
            )
        )  # fmt: skip
    return out
