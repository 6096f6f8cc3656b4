"""``ohnb.load``: every stored form of an OpenHands conversation -> the event DataFrame.

The frame has the columns and dtypes of a live recording (``ohnb.schema.EVENT_COLUMNS``; each column
documented in ``ohnb.normalize`` for V0 and ``ohnb.normalize_v1`` for V1), one row per event, in stored
order conversation after conversation, each ``(conversation_id, event_id)`` at most once. Rows read
from files or servers have ``delivery == "stored"``; captured frames keep their receive time
(``received_at``) and connection number (``attempt``); ohnb's own exports come back exactly as saved.
The forms and how conversation ids are found: ``ohnb.stores.discover``.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import pandas as pd

from ohnb.normalize import normalize_v0
from ohnb.normalize_v1 import is_v1_payload, normalize_v1
from ohnb.schema import EVENT_COLUMNS, empty_frame, frame_from_rows
from ohnb.stores.discover import RawConversation, Unit, expand_source, read_unit

__all__ = ["CONVERSATION_COLUMNS", "LoadError", "frame_from_events", "load", "load_conversations"]

Errors = Literal["raise", "skip"]

#: Exceptions that make a unit unreadable (reported and skipped with ``errors="skip"``).
_READ_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, KeyError, TypeError)

#: Show a progress bar (``progress=None``) from this many units or events on.
_AUTO_UNITS = 20
_AUTO_EVENTS = 50_000

#: Columns of :func:`load_conversations`.
CONVERSATION_COLUMNS: dict[str, str] = {
    "conversation_id": "string",
    "source": "string",
    "form": "string",
    "instance_id": "string",
    "line": "Int64",
    "events": "Int64",
    "duplicates": "Int64",
    "first_timestamp": "datetime64[ns]",
    "last_timestamp": "datetime64[ns]",
    "model": "string",
    "accumulated_cost": "Float64",
    "prompt_tokens": "Int64",
    "completion_tokens": "Int64",
    "error": "string",
}


@dataclass(frozen=True)
class LoadError:
    """A source that could not be read: which one (``source``: path, URL or list) and why."""

    source: str
    error: str
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.source}: {self.error}"


@overload
def load(
    source: Any,
    *,
    conversation_id: str | None = ...,
    errors: Literal["raise"] = ...,
    progress: bool | None = ...,
    session_api_key: str | None = ...,
    generation: Literal["auto", "v0", "v1"] = ...,
    dedupe: bool = ...,
) -> pd.DataFrame: ...


@overload
def load(
    source: Any,
    *,
    conversation_id: str | None = ...,
    errors: Literal["skip"],
    progress: bool | None = ...,
    session_api_key: str | None = ...,
    generation: Literal["auto", "v0", "v1"] = ...,
    dedupe: bool = ...,
) -> tuple[pd.DataFrame, list[LoadError]]: ...


def load(
    source: Any,
    *,
    conversation_id: str | None = None,
    errors: Errors = "raise",
    progress: bool | None = None,
    session_api_key: str | None = None,
    generation: Literal["auto", "v0", "v1"] = "auto",
    dedupe: bool = True,
) -> pd.DataFrame | tuple[pd.DataFrame, list[LoadError]]:
    """Read stored OpenHands conversations (any generation, any form) into one event DataFrame.

    Args:
        source: what to read:

            - a file: V0 trajectory export (``{"trajectory": [...]}`` or a bare list), V0 ``/events``
              page, V0 or V1 evaluation output (``.jsonl``, ``history`` per record: one conversation
              per record, ``conversation_id`` = its ``instance_id``), V0/V1 events one per line, V1
              event list or REST search page, captured frames (``recv_ts`` + ``data``), or an ohnb
              export (``.parquet``, ``.jsonl``);
            - a folder: a V0 file-store session (``events/<n>.json``), a V1 CLI conversation
              (``events/event-NNNNN-<uuid>.json``), an ohnb partitioned dataset, or any folder of
              those and of files (searched recursively);
            - a glob pattern (``"outputs/**/output.jsonl"``), or a list of paths;
            - a server: ``http://host:3000/api/conversations/<id>`` (or the base URL with
              ``conversation_id=``): V1 ``/events/search`` or V0 ``/events``, all pages;
            - a list of event dicts (V0, V1, or V0 ``[action, observation]`` pairs).
        conversation_id: for a server, the conversation to fetch; for a source holding a single
            conversation, the id to give it (instead of the one derived from the file name).
        errors: ``"raise"`` (default): the first unreadable file raises. ``"skip"``: unreadable
            files are left out and reported: the call returns ``(frame, [LoadError, ...])``.
        progress: show a tqdm progress bar (``tqdm.auto``: a widget in Jupyter); default: only for
            long loads (20 files or 50,000 events and more).
        session_api_key: for servers; sent as the ``X-Session-API-Key`` header only.
        generation: for servers: ``"v1"``, ``"v0"`` or ``"auto"`` (V1 first, then V0).
        dedupe: drop repeated event ids within a conversation (the first copy is kept), as a live
            recording does. Captures of reconnects repeat events.

    Returns:
        The events frame (``ohnb.schema.EVENT_COLUMNS``, RangeIndex); with ``errors="skip"`` the
        tuple ``(frame, errors)``. An ohnb export read alone comes back exactly as saved.

    Raises:
        FileNotFoundError: a path that does not exist (or an empty folder).
        ValueError: an unreadable or unknown file (the message names the file and, for JSONL, the
            line), ``conversation_id=`` given for a source of several conversations, or frames of
            different kinds (events and attempts) mixed.
        ohnb.stores.remote.HTTPStatusError: a server answered with an error status or not at all.
        TypeError: an unsupported ``source`` type.
    """
    convs, problems = _read(source, conversation_id, errors, progress, session_api_key, generation)
    frame, _ = _frame(convs, dedupe=dedupe, progress=progress)
    return (frame, problems) if errors == "skip" else frame


def load_conversations(
    source: Any,
    *,
    conversation_id: str | None = None,
    errors: Errors = "raise",
    progress: bool | None = None,
    session_api_key: str | None = None,
    generation: Literal["auto", "v0", "v1"] = "auto",
    dedupe: bool = True,
) -> pd.DataFrame | tuple[pd.DataFrame, list[LoadError]]:
    """One row per conversation read (arguments as :func:`load`), empty ones included.

    Evaluation outputs give one row per record, so a record with an empty history shows with
    ``events == 0`` (it has no row in the events frame).

    Returns:
        Columns ``CONVERSATION_COLUMNS``: ``conversation_id``, ``source`` (file, folder or URL),
        ``form`` (``ohnb.stores.discover.FORMS``), ``instance_id`` and ``line`` (evaluation records),
        ``events`` (rows loaded), ``duplicates`` (repeated ids dropped), ``first_timestamp`` /
        ``last_timestamp`` (server time), ``model``, ``accumulated_cost`` (USD), ``prompt_tokens``,
        ``completion_tokens`` (the record's or file store's totals, else the last running total in
        the events), ``error`` (the evaluation record's). With ``errors="skip"``: ``(table, errors)``.

    Raises:
        As :func:`load`.
    """
    convs, problems = _read(source, conversation_id, errors, progress, session_api_key, generation)
    frame, origins = _frame(convs, dedupe=dedupe, progress=progress, keep_origin=True)
    table = _conversation_table(convs, frame, origins)
    return (table, problems) if errors == "skip" else table


def frame_from_events(
    payloads: Iterable[Any], *, conversation_id: str | None = None, delivery: str = "stored"
) -> pd.DataFrame:
    """Normalize parsed event payloads (V0 and V1 mixed, any order) into the event frame, as they
    come: no reordering, no deduplication, no validation beyond the normalizers' (which keep
    unreadable payloads as rows with ``parse_error``). This is the step of :func:`load` after the
    files are parsed.

    Returns:
        The events frame (``ohnb.schema.EVENT_COLUMNS``), one row per payload.
    """
    rows = (
        normalize_v1(p, delivery=delivery, conversation_id=conversation_id)
        if is_v1_payload(p)
        else normalize_v0(p, delivery=delivery, conversation_id=conversation_id)
        for p in payloads
    )
    return frame_from_rows(rows, EVENT_COLUMNS)


# --------------------------------------------------------------------------------------------
# reading


def _bar(total: int, desc: str, unit: str, progress: bool | None, auto: int):
    from tqdm.auto import tqdm

    show = progress if progress is not None else total >= auto
    return tqdm(total=total, desc=desc, unit=unit, disable=not show, leave=False)


def _problem(source: Any, exc: BaseException) -> LoadError:
    return LoadError(str(source), f"{type(exc).__name__}: {exc}", exc)


def _units(source: Any, errors: Errors) -> list[Unit | LoadError]:
    """The units of ``source`` in order; with ``errors="skip"`` a part that cannot be expanded (a
    missing path) stays in its place as a :class:`LoadError`."""
    items = source if isinstance(source, (list, tuple)) and source and all(
        isinstance(s, (str, Path)) for s in source
    ) else [source]  # fmt: skip
    units: list[Unit | LoadError] = []
    for item in items:
        try:
            units.extend(expand_source(item))
        except TypeError:
            raise
        except _READ_ERRORS as exc:
            if errors != "skip":
                raise
            units.append(_problem(item, exc))
    return units


def _read(
    source: Any,
    conversation_id: str | None,
    errors: Errors,
    progress: bool | None,
    session_api_key: str | None,
    generation: str,
) -> tuple[list[RawConversation], list[LoadError]]:
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
    problems: list[LoadError] = []
    units = _units(source, errors)
    convs: list[RawConversation] = []
    show = progress if len(units) > 1 else False
    with _bar(len(units), "reading", "file", show, _AUTO_UNITS) as bar:
        for unit in units:
            bar.update(1)
            if isinstance(unit, LoadError):
                problems.append(unit)
                continue
            try:
                convs.extend(
                    read_unit(
                        unit, session_api_key=session_api_key, generation=generation,
                        conversation_id=conversation_id if unit.kind == "url" else None,
                    )
                )  # fmt: skip
            except _READ_ERRORS as exc:
                if errors != "skip":
                    raise
                problems.append(_problem(unit, exc))
    by_url = any(isinstance(u, Unit) and u.kind == "url" for u in units)
    if conversation_id is not None and not by_url:
        _rename_single(convs, conversation_id)
    _disambiguate(convs)
    return convs, problems


def _rename_single(convs: list[RawConversation], conversation_id: str) -> None:
    if any(c.frame is not None for c in convs) or len(convs) != 1:
        raise ValueError(
            f"conversation_id={conversation_id!r} names a single conversation, but the source holds "
            f"{len(convs)}; select one from the frame instead (df[df.conversation_id == ...])"
        )
    convs[0].conversation_id = conversation_id
    convs[0].id_from_data = True


def _disambiguate(convs: list[RawConversation]) -> None:
    """Make ids derived from names unique: the same real id read twice is one conversation (merged,
    duplicates dropped), but two files that only share a name or an instance id are not."""
    groups: dict[str | None, list[RawConversation]] = defaultdict(list)
    for conv in convs:
        if conv.frame is None:
            groups[conv.conversation_id].append(conv)
    for cid, group in groups.items():
        derived = [c for c in group if not c.id_from_data]
        if cid is None or len(group) < 2 or not derived:
            continue
        sources = {c.source for c in group}
        if len(sources) == 1:
            for n, conv in enumerate(group[1:], start=2):
                conv.conversation_id = f"{cid}#{conv.line if conv.line is not None else n}"
            continue
        paths = [Path(c.source) for c in derived]
        try:
            common = Path(*Path(paths[0]).parts[: _common_depth(paths)])
        except TypeError:
            common = Path()
        for conv, path in zip(derived, paths, strict=True):
            rel = path.relative_to(common) if common.parts else path
            label = rel.with_suffix("").as_posix()
            conv.conversation_id = label if cid == path.stem else f"{label}:{cid}"


def _common_depth(paths: list[Path]) -> int:
    parts = [p.parts[:-1] for p in paths]
    depth = 0
    for column in zip(*parts, strict=False):
        if len(set(column)) != 1:
            break
        depth += 1
    return depth


# --------------------------------------------------------------------------------------------
# normalizing


def _rows(conv: RawConversation) -> Iterable[dict[str, Any]]:
    cid = conv.conversation_id
    received = conv.received_at if conv.received_at is not None else itertools.repeat(None)
    attempts = conv.attempt if conv.attempt is not None else itertools.repeat(None)
    for payload, at, attempt in zip(conv.events, received, attempts, strict=False):  # repeat(None)
        if is_v1_payload(payload):
            yield normalize_v1(payload, received_at=at, delivery="stored", attempt=attempt, conversation_id=cid)
        else:
            yield normalize_v0(payload, received_at=at, delivery="stored", attempt=attempt, conversation_id=cid)


def _frame(
    convs: list[RawConversation], *, dedupe: bool, progress: bool | None, keep_origin: bool = False
) -> tuple[pd.DataFrame, list[int]]:
    exports = [c.frame for c in convs if c.frame is not None]
    kinds = {"attempts" if "outcome" in f.columns and "kind" not in f.columns else "events" for f in exports}
    if "attempts" in kinds and (len(kinds) > 1 or any(c.frame is None for c in convs)):
        raise ValueError("an attempts export cannot be loaded together with events")
    if len(exports) == len(convs) and len(exports) == 1 and not keep_origin:
        return exports[0], []
    origins: list[int] = []
    seen: dict[Any, set[str]] = defaultdict(set)
    total = sum(len(c.events) for c in convs)

    def rows() -> Iterator[dict[str, Any]]:  # read a chunk at a time by frame_from_rows
        with _bar(total, "normalizing", "ev", progress, _AUTO_EVENTS) as bar:
            for index, conv in enumerate(convs):
                if conv.frame is not None:
                    continue
                ids = seen[conv.conversation_id]
                dropped = 0
                for row in _rows(conv):
                    event_id = row.get("event_id")
                    if dedupe and event_id is not None:
                        if event_id in ids:
                            dropped += 1
                            continue
                        ids.add(event_id)
                    origins.append(index)
                    yield row
                conv.meta["_duplicates"] = dropped
                bar.update(len(conv.events))

    frame = frame_from_rows(rows(), EVENT_COLUMNS)
    normalized = len(origins)
    if exports:
        origins.extend(-1 - n for n, f in enumerate(exports) for _ in range(len(f)))
        frame = pd.concat([frame, *exports], ignore_index=True) if normalized else (
            pd.concat(exports, ignore_index=True) if len(exports) > 1 else exports[0]
        )  # fmt: skip
    return frame.reset_index(drop=True), origins


# --------------------------------------------------------------------------------------------
# the conversations table


def _conversation_table(
    convs: list[RawConversation], frame: pd.DataFrame, origins: list[int]
) -> pd.DataFrame:
    by_origin = frame.assign(_origin=origins).groupby("_origin", sort=False) if len(frame) else None
    stats: dict[int, dict[str, Any]] = {}
    if by_origin is not None:
        agg = by_origin.agg(
            events=("kind", "size"),
            first_timestamp=("timestamp", "min"),
            last_timestamp=("timestamp", "max"),
        )
        for origin, row in agg.iterrows():
            stats[int(origin)] = row.to_dict()
        last = frame.assign(_origin=origins)
        for column in ("model", "accumulated_cost", "prompt_tokens", "completion_tokens"):
            values = last.dropna(subset=[column]).groupby("_origin")[column].last()
            for origin, value in values.items():
                stats.setdefault(int(origin), {})[column] = value
    rows: list[dict[str, Any]] = []
    export_no = 0
    for index, conv in enumerate(convs):
        if conv.frame is not None:
            rows.extend(_export_rows(conv, frame, origins, -1 - export_no))
            export_no += 1
            continue
        got = stats.get(index, {})
        rows.append(
            {
                "conversation_id": conv.conversation_id,
                "source": conv.source,
                "form": conv.form,
                "instance_id": conv.instance_id,
                "line": conv.line,
                "events": int(got.get("events", 0) or 0),
                "duplicates": conv.meta.get("_duplicates", 0),
                "first_timestamp": _iso(got.get("first_timestamp")),
                "last_timestamp": _iso(got.get("last_timestamp")),
                "model": conv.meta.get("model", _py(got.get("model"))),
                "accumulated_cost": conv.meta.get("accumulated_cost", _py(got.get("accumulated_cost"))),
                "prompt_tokens": conv.meta.get("prompt_tokens", _py(got.get("prompt_tokens"))),
                "completion_tokens": conv.meta.get(
                    "completion_tokens", _py(got.get("completion_tokens"))
                ),
                "error": _str_or_none(conv.meta.get("error")),
            }
        )
    return frame_from_rows(rows, CONVERSATION_COLUMNS) if rows else empty_frame(CONVERSATION_COLUMNS)


def _export_rows(conv: RawConversation, frame: pd.DataFrame, origins: list[int], origin: int):
    part = frame[[o == origin for o in origins]] if origins else conv.frame
    assert part is not None
    if "conversation_id" not in part.columns or part.empty:
        return []
    out = []
    for cid, group in part.groupby("conversation_id", dropna=False, sort=False):
        def last(column: str, group=group):
            values = group[column].dropna() if column in group.columns else []
            return _py(values.iloc[-1]) if len(values) else None

        stamps = group["timestamp"].dropna() if "timestamp" in group.columns else pd.Series([])
        out.append(
            {
                "conversation_id": None if pd.isna(cid) else str(cid),
                "source": conv.source,
                "form": conv.form,
                "events": len(group),
                "duplicates": 0,
                "first_timestamp": _iso(stamps.min() if len(stamps) else None),
                "last_timestamp": _iso(stamps.max() if len(stamps) else None),
                "model": last("model"),
                "accumulated_cost": last("accumulated_cost"),
                "prompt_tokens": last("prompt_tokens"),
                "completion_tokens": last("completion_tokens"),
            }
        )
    return out


def _py(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    return value.item() if isinstance(value, np.generic) else value


def _iso(value: Any) -> str | None:
    value = _py(value)
    return value.isoformat() if isinstance(value, pd.Timestamp) else value


def _str_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value)
