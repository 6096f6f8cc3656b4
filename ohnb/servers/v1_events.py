"""Pure helpers of the embedded V1 server (:mod:`ohnb.servers.v1`): reading a stored V1
conversation, timestamps, the event shapes the real agent server builds, and the validation of
client messages. No aiohttp here.

Shapes follow what openhands-agent-server 1.58.2 sent on the wire
(``shared/fixtures/captures/v1_real_server_*``): frames are
``event.model_dump(mode="json", exclude_none=True)``, keys in model field order, e.g.::

    {"id": uuid, "timestamp": naive ISO, "source": "user", "parent_id": uuid,
     "llm_message": {"role": "user", "content": [{"cache_prompt": false, "type": "text",
     "text": "..."}], "thinking_blocks": []}, "activated_skills": [], "extended_content": [],
     "kind": "MessageEvent"}
    {"id", "timestamp", "source": "environment", "parent_id", "key", "value",
     "kind": "ConversationStateUpdateEvent"}
    {"id", "timestamp", "source": "environment", "code", "detail", "kind": "ServerErrorEvent"}

``parent_id`` is the id of the last event in the log that is not a
``ConversationStateUpdateEvent`` (the state updates do not move the conversation's leaf).
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Union

__all__ = [
    "EXECUTION_STATUSES",
    "UNSTORED_KINDS",
    "LoadedConversation",
    "MessageValidationError",
    "V1Source",
    "coerce_bool",
    "full_state_event",
    "load_v1_conversation",
    "message_event",
    "new_id",
    "now_iso",
    "parse_query_bool",
    "parse_query_datetime",
    "parse_ts",
    "pause_event",
    "server_error_event",
    "state_update_event",
    "validate_message",
]

#: What ``events=`` accepts: a list of event dicts, an evaluation record (dict with ``history``), a
#: REST search page (``{"items": [...]}``), or a path (CLI folder, JSONL, JSON).
V1Source = Union[str, "os.PathLike[str]", list, Mapping]

#: ConversationExecutionStatus values (openhands-sdk ``conversation/state.py``).
EXECUTION_STATUSES = (
    "idle",
    "running",
    "paused",
    "waiting_for_confirmation",
    "finished",
    "error",
    "stuck",
    "deleting",
)

#: Kinds the real server publishes without persisting them (token deltas, per-socket errors).
UNSTORED_KINDS = frozenset({"StreamingDeltaEvent", "ServerErrorEvent"})

_PYDANTIC_URL = "https://errors.pydantic.dev/2.14/v/"


def new_id() -> str:
    """A fresh event id (UUID4, hyphenated, as the SDK's ``OpenHandsUUID``)."""
    return str(uuid.uuid4())


def now_iso() -> str:
    """Current naive server-local time in ISO 8601 (the SDK's event timestamp format)."""
    return datetime.now().isoformat()


def _to_local_naive(ts: datetime) -> datetime:
    return ts.astimezone(None).replace(tzinfo=None) if ts.tzinfo is not None else ts


def parse_ts(value: Any) -> datetime | None:
    """An event timestamp as a naive server-local datetime (an aware one is converted), or None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        return None
    return _to_local_naive(ts)


def parse_query_datetime(text: str) -> datetime:
    """A ``datetime`` query parameter as FastAPI/pydantic reads it (ISO 8601, or a number of
    seconds since the epoch), normalized like ``normalize_datetime_to_server_timezone``: an aware
    value is converted to server local time and made naive; a naive one is taken as local.

    Raises:
        ValueError: not a datetime (the real server answers 403 on the WebSocket, 422 on REST).
    """
    raw = text.strip()
    if not raw:
        raise ValueError("input is too short")
    try:
        seconds = float(raw)
    except ValueError:
        seconds = None
    if seconds is not None:
        if seconds != seconds or seconds in (float("inf"), float("-inf")):
            raise ValueError("invalid number")
        if abs(seconds) > 2e10:  # pydantic: milliseconds above this
            seconds /= 1000.0
        return _to_local_naive(datetime.fromtimestamp(seconds, tz=timezone.utc))
    ts = parse_ts(raw)
    if ts is None:
        raise ValueError("invalid datetime")
    return ts


_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}


def parse_query_bool(text: str) -> bool:
    """A ``bool`` query parameter as pydantic reads it.

    Raises:
        ValueError: not one of pydantic's boolean spellings.
    """
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"not a boolean: {text!r}")


# ----------------------------------------------------------------------------------------------
# event builders


def _base(source: str, parent_id: str | None, timestamp: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": new_id(),
        "timestamp": timestamp or now_iso(),
        "source": source,
    }
    if parent_id:
        out["parent_id"] = parent_id
    return out


def state_update_event(
    key: str, value: Any, *, parent_id: str | None = None, timestamp: str | None = None
) -> dict[str, Any]:
    """A ``ConversationStateUpdateEvent`` (source ``environment``)."""
    out = _base("environment", parent_id, timestamp)
    out["key"] = key
    out["value"] = value
    out["kind"] = "ConversationStateUpdateEvent"
    return out


def full_state_event(state: dict[str, Any], *, timestamp: str | None = None) -> dict[str, Any]:
    """The snapshot the server sends a new subscriber (and publishes, unstored, when a run ends):
    ``key: "full_state"``, a fresh id, the current time, no ``parent_id``."""
    return state_update_event("full_state", copy.deepcopy(state), timestamp=timestamp)


def message_event(
    llm_message: dict[str, Any], *, parent_id: str | None = None, timestamp: str | None = None
) -> dict[str, Any]:
    """The user ``MessageEvent`` stored for a message sent over the socket or ``POST /events``."""
    out = _base("user", parent_id, timestamp)
    out["llm_message"] = llm_message
    out["activated_skills"] = []
    out["extended_content"] = []
    out["kind"] = "MessageEvent"
    return out


def pause_event(*, parent_id: str | None = None, timestamp: str | None = None) -> dict[str, Any]:
    """The ``PauseEvent`` (source ``user``) a pause stores after ``execution_status: paused``."""
    out = _base("user", parent_id, timestamp)
    out["kind"] = "PauseEvent"
    return out


def server_error_event(code: str, detail: str) -> dict[str, Any]:
    """A ``ServerErrorEvent`` frame (sent to one socket, never stored)."""
    out = _base("environment", None, None)
    out["code"] = code
    out["detail"] = detail
    out["kind"] = "ServerErrorEvent"
    return out


def default_state(conversation_id: str, model: str | None = None) -> dict[str, Any]:
    """A ``ConversationState`` dump shaped like the real server's ``full_state`` value (keys in its
    order; ``last_user_message_id``/``leaf_event_id`` are added when known)."""
    hex_id = conversation_id.replace("-", "")
    return {
        "id": conversation_id,
        "agent": {
            "llm": {"model": model or "unknown", "api_key": "**********", "usage_id": "agent"},
            "tools": [],
            "mcp_config": {},
            "include_default_tools": ["FinishTool", "ThinkTool"],
            "kind": "Agent",
        },
        "workspace": {"working_dir": "/workspace/project", "kind": "LocalWorkspace"},
        "persistence_dir": f"/workspace/conversations/{hex_id}",
        "max_iterations": 500,
        "stuck_detection": True,
        "execution_status": "idle",
        "confirmation_policy": {"kind": "NeverConfirm"},
        "activated_knowledge_skills": [],
        "activated_path_rules": [],
        "invoked_skills": [],
        "blocked_actions": {},
        "blocked_messages": {},
        "head_is_empty": False,
        "stats": {"usage_to_metrics": {}},
        "secret_registry": {"secret_sources": {}},
        "tags": {},
        "agent_state": {},
    }


def set_state_field(state: dict[str, Any], key: str, value: Any) -> None:
    """Set ``state[key]``; ``last_user_message_id``/``leaf_event_id`` go where the real dump has
    them (after ``blocked_messages``) when they are new."""
    if key in state or key not in ("last_user_message_id", "leaf_event_id"):
        state[key] = value
        return
    items = list(state.items())
    anchor = "leaf_event_id" if key == "last_user_message_id" and "leaf_event_id" in state else None
    out: dict[str, Any] = {}
    placed = False
    for k, v in items:
        if anchor is not None and k == anchor and not placed:
            out[key] = value
            placed = True
        out[k] = v
        if anchor is None and k == "blocked_messages" and not placed:
            out[key] = value
            placed = True
    if not placed:
        out[key] = value
    state.clear()
    state.update(out)


def apply_to_state(state: dict[str, Any], event: Any) -> None:
    """Fold one stored event into the conversation state (what ``full_state`` snapshots show)."""
    if not isinstance(event, dict):
        return
    kind = event.get("kind")
    eid = event.get("id")
    if kind == "ConversationStateUpdateEvent":
        key = event.get("key")
        if key == "full_state" and isinstance(event.get("value"), dict):
            keep_id = state.get("id")
            state.clear()
            state.update(copy.deepcopy(event["value"]))
            if keep_id is not None:
                state["id"] = keep_id
        elif isinstance(key, str) and key not in ("id", "full_state"):
            set_state_field(state, key, copy.deepcopy(event.get("value")))
        return
    if isinstance(eid, str):
        set_state_field(state, "leaf_event_id", eid)
        if kind == "MessageEvent" and event.get("source") == "user":
            set_state_field(state, "last_user_message_id", eid)


# ----------------------------------------------------------------------------------------------
# client messages (openhands.sdk.llm.Message, validated like pydantic 2.14)


class MessageValidationError(ValueError):
    """A client ``Message`` that pydantic would refuse; ``str()`` is pydantic's text and
    :attr:`errors` the FastAPI-style error list."""

    def __init__(self, title: str, errors: list[dict[str, Any]]) -> None:
        self.title = title
        self.errors = errors
        super().__init__(_pydantic_text(title, errors))


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 50 else f"{text[:24]}...{text[-23:]}"


def _pydantic_text(title: str, errors: list[dict[str, Any]]) -> str:
    n = len(errors)
    lines = [f"{n} validation error{'s' if n != 1 else ''} for {title}"]
    for err in errors:
        loc = ".".join(str(p) for p in err["loc"])
        if loc:
            lines.append(loc)
        value = err.get("input")
        lines.append(
            f"  {err['msg']} [type={err['type']}, input_value={_short_repr(value)}, "
            f"input_type={type(value).__name__}]"
        )
        lines.append(f"    For further information visit {_PYDANTIC_URL}{err['type']}")
    return "\n".join(lines)


_ROLES = ("user", "system", "assistant", "tool")
_ROLES_MSG = "Input should be 'user', 'system', 'assistant' or 'tool'"


def _content_errors(content: Any, loc: tuple[Any, ...]) -> tuple[list[Any], list[dict[str, Any]]]:
    errors: list[dict[str, Any]] = []
    if isinstance(content, str):
        errors.append(
            {
                "type": "sequence_str",
                "loc": loc,
                "msg": "'str' instances are not allowed as a Sequence value",
                "input": content,
            }
        )
        return [], errors
    if not isinstance(content, list):
        errors.append(
            {
                "type": "is_instance_of",
                "loc": loc,
                "msg": "Input should be an instance of Sequence",
                "input": content,
                "ctx": {"class": "Sequence"},
            }
        )
        return [], errors
    items: list[Any] = []
    for i, item in enumerate(content):
        where = (*loc, i)
        if not isinstance(item, dict):
            for cls in ("TextContent", "ImageContent"):
                errors.append(
                    {
                        "type": "model_type",
                        "loc": (*where, cls),
                        "msg": f"Input should be a valid dictionary or instance of {cls}",
                        "input": item,
                        "ctx": {"class_name": cls},
                    }
                )
            continue
        kind = item.get("type", "text")
        text = item.get("text")
        urls = item.get("image_urls")
        if kind == "text" and isinstance(text, str):
            items.append({"cache_prompt": bool(item.get("cache_prompt", False)), "type": "text", "text": text})
            continue
        if kind == "image" and isinstance(urls, list) and all(isinstance(u, str) for u in urls):
            items.append(
                {"cache_prompt": bool(item.get("cache_prompt", False)), "type": "image", "image_urls": list(urls)}
            )
            continue
        if kind != "text":
            errors.append(
                {
                    "type": "literal_error",
                    "loc": (*where, "TextContent", "type"),
                    "msg": "Input should be 'text'",
                    "input": kind,
                    "ctx": {"expected": "'text'"},
                }
            )
        elif not isinstance(text, str):
            errors.append(
                {
                    "type": "missing" if text is None else "string_type",
                    "loc": (*where, "TextContent", "text"),
                    "msg": "Field required" if text is None else "Input should be a valid string",
                    "input": item if text is None else text,
                }
            )
        if kind != "image":
            errors.append(
                {
                    "type": "literal_error",
                    "loc": (*where, "ImageContent", "type"),
                    "msg": "Input should be 'image'",
                    "input": kind,
                    "ctx": {"expected": "'image'"},
                }
            )
        if not isinstance(urls, list):
            errors.append(
                {
                    "type": "missing" if urls is None else "list_type",
                    "loc": (*where, "ImageContent", "image_urls"),
                    "msg": "Field required" if urls is None else "Input should be a valid list",
                    "input": item if urls is None else urls,
                }
            )
    return items, errors


def coerce_bool(value: Any) -> bool | None:
    """A JSON body's ``bool`` field as pydantic (lax mode) reads it; None when it cannot."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        try:
            return parse_query_bool(value)
        except ValueError:
            return None
    return None


def validate_message(data: Any, *, title: str = "Message", role_required: bool = True) -> dict[str, Any]:
    """Validate a client message like ``Message.model_validate`` (``role`` required, ``content`` a
    list of ``{"type": "text", "text"}`` / ``{"type": "image", "image_urls"}``; other keys
    ignored) and return the ``llm_message`` dump the server stores (``role``, ``content`` with
    ``cache_prompt`` filled in, ``thinking_blocks``). ``role_required=False``: the
    ``SendMessageRequest`` of ``POST /events`` (role defaults to ``user``).

    Raises:
        MessageValidationError: what pydantic would report (code ``ValidationError``).
    """
    if not isinstance(data, dict):
        raise MessageValidationError(
            title,
            [
                {
                    "type": "model_type",
                    "loc": (),
                    "msg": f"Input should be a valid dictionary or instance of {title}",
                    "input": data,
                    "ctx": {"class_name": title},
                }
            ],
        )
    errors: list[dict[str, Any]] = []
    role = data.get("role", None if role_required else "user")
    if "role" not in data and role_required:
        errors.append({"type": "missing", "loc": ("role",), "msg": "Field required", "input": data})
    elif role not in _ROLES:
        errors.append(
            {
                "type": "literal_error",
                "loc": ("role",),
                "msg": _ROLES_MSG,
                "input": role,
                "ctx": {"expected": "'user', 'system', 'assistant' or 'tool'"},
            }
        )
    items, content_errors = _content_errors(data.get("content", []), ("content",))
    errors.extend(content_errors)
    if not role_required and coerce_bool(data.get("run", False)) is None:
        errors.append(
            {
                "type": "bool_parsing",
                "loc": ("run",),
                "msg": "Input should be a valid boolean, unable to interpret input",
                "input": data["run"],
            }
        )
    if errors:
        raise MessageValidationError(title, errors)
    return {"role": role, "content": items, "thinking_blocks": []}


def fastapi_errors(exc: MessageValidationError, prefix: tuple[Any, ...] = ("body",)) -> list[dict[str, Any]]:
    """FastAPI's 422 ``detail`` list for a validation error (``loc`` prefixed, JSON-safe)."""
    out = []
    for err in exc.errors:
        item = {
            "type": err["type"],
            "loc": [*prefix, *err["loc"]],
            "msg": err["msg"],
            "input": err.get("input"),
        }
        if "ctx" in err:
            item["ctx"] = err["ctx"]
        out.append(json.loads(json.dumps(item, default=str)))
    return out


# ----------------------------------------------------------------------------------------------
# reading a stored conversation


@dataclass
class LoadedConversation:
    """What :func:`load_v1_conversation` found: the events (in source order) and, when the
    source tells, the conversation id and a base state (``base_state.json``)."""

    events: list[dict[str, Any]]
    conversation_id: str | None = None
    base_state: dict[str, Any] | None = None


def _as_uuid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def prune_none(value: Any, *, _in_value: bool = False) -> Any:
    """Drop ``None`` entries of dicts recursively, as ``model_dump(exclude_none=True)`` does for
    model fields; the ``value`` of a state update is plain data and kept as it is."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if v is None:
                continue
            out[k] = v if k == "value" else prune_none(v)
        return out
    if isinstance(value, list):
        return [prune_none(v) for v in value]
    return value


def _unwrap_frame(item: Any) -> Any | None:
    """A captured frame record (``{"recv_ts", "data": event}``) -> the event; ``_meta`` lines ->
    None; anything else as it is."""
    if isinstance(item, dict):
        if "_meta" in item and len(item) == 1:
            return None
        if isinstance(item.get("data"), dict) and "kind" in item["data"] and "kind" not in item:
            return item["data"]
    return item


def _events_of(items: list[Any], where: str) -> list[dict[str, Any]]:
    out = []
    for n, raw in enumerate(items):
        item = _unwrap_frame(raw)
        if item is None:
            continue
        if not isinstance(item, dict):
            raise ValueError(f"{where}: item {n} is a {type(item).__name__}, expected an event object")
        if not isinstance(item.get("id"), str) or not item["id"]:
            raise ValueError(f"{where}: item {n} has no string id (keys: {sorted(item)[:8]})")
        out.append(item)
    return out


def _pick_record(records: list[dict[str, Any]], record: int | str | None, where: str) -> dict[str, Any]:
    if isinstance(record, int) and not isinstance(record, bool):
        try:
            return records[record]
        except IndexError:
            raise ValueError(f"{where}: no record {record} ({len(records)} records)") from None
    if isinstance(record, str):
        for rec in records:
            if str(rec.get("instance_id")) == record:
                return rec
        raise ValueError(f"{where}: no record with instance_id {record!r}")
    for rec in records:
        if isinstance(rec.get("history"), list) and rec["history"]:
            return rec
    raise ValueError(f"{where}: every evaluation record has an empty history")


def _from_value(data: Any, where: str, record: int | str | None) -> LoadedConversation:
    if isinstance(data, list):
        if data and all(isinstance(r, dict) and "history" in r for r in data):
            rec = _pick_record(data, record, where)
            return _from_value(rec, where, None)
        return LoadedConversation(_events_of(data, where))
    if isinstance(data, Mapping):
        if isinstance(data.get("history"), list):
            return LoadedConversation(_events_of(data["history"], f"{where} (history)"))
        for key in ("items", "events"):
            if isinstance(data.get(key), list):
                return LoadedConversation(_events_of(data[key], where))
        raise ValueError(f"{where}: unknown JSON shape for V1 events (keys: {sorted(data)[:8]})")
    raise ValueError(f"{where}: unknown shape: {type(data).__name__}")


def _read_folder(path: Path) -> LoadedConversation:
    folder = path / "events" if (path / "events").is_dir() else path
    files = []
    for entry in folder.iterdir():
        name = entry.name
        if name.startswith("event-") and name.endswith(".json") and entry.is_file():
            number = name.split("-", 2)[1]
            files.append((int(number) if number.isdigit() else 0, name, entry))
    if not files:
        raise FileNotFoundError(f"{path}: no V1 CLI events (expected events/event-NNNNN-<uuid>.json)")
    files.sort()
    events = []
    for _, _, file in files:
        try:
            event = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{file}: not a readable JSON event ({exc})") from None
        events.extend(_events_of([event], str(file)))
    base = None
    conv_id = None
    for candidate in (path, path.parent if path.name == "events" else None):
        if candidate is None:
            continue
        state_file = candidate / "base_state.json"
        if state_file.is_file():
            try:
                loaded = json.loads(state_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                loaded = None
            if isinstance(loaded, dict):
                base = loaded
                conv_id = _as_uuid(loaded.get("id"))
        conv_id = conv_id or _as_uuid(candidate.name)
    return LoadedConversation(events, conv_id, base)


def _read_file(path: Path, record: int | str | None) -> LoadedConversation:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
        lines: list[Any] = []
        meta_id = None
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc})") from None
            if isinstance(value, dict) and isinstance(value.get("_meta"), dict):
                meta_id = meta_id or _as_uuid(value["_meta"].get("conversation_id"))
            lines.append(value)
        loaded = _from_value(lines, str(path), record)
        loaded.conversation_id = loaded.conversation_id or meta_id
        return loaded
    if isinstance(data, dict) and "kind" in data and "id" in data:
        data = [data]
    return _from_value(data, str(path), record)


def load_v1_conversation(source: V1Source, *, record: int | str | None = None) -> LoadedConversation:
    """Read one stored V1 conversation.

    Args:
        source: a list of event dicts (captured frame records ``{"data": event}`` are unwrapped);
            a dict with ``history`` (an evaluation record) or ``items`` (a REST search page);
            a CLI conversation folder (``events/event-NNNNN-<uuid>.json``, optional
            ``base_state.json``); a JSONL file (one event or captured frame per line, or
            evaluation records); a JSON file (list, search page, record).
        record: for evaluation output with several records: the index or ``instance_id`` of the
            one to serve (default: the first with a non-empty history).

    Returns:
        The events as stored, ``None`` values removed (the wire form), plus the conversation id
        when the source names one (``base_state.json`` id, a UUID folder name, a capture's
        ``_meta.conversation_id``).

    Raises:
        FileNotFoundError: a missing path or a folder without events.
        ValueError: unreadable JSON, an unknown shape, an event without a string ``id``.
    """
    if isinstance(source, (list, Mapping)):
        loaded = _from_value(source, "events", record)
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        loaded = _read_folder(path) if path.is_dir() else _read_file(path, record)
    loaded.events = [prune_none(ev) for ev in loaded.events]
    if loaded.conversation_id is None:
        for ev in loaded.events:
            if ev.get("key") == "full_state" and isinstance(ev.get("value"), dict):
                loaded.conversation_id = _as_uuid(ev["value"].get("id"))
                if loaded.conversation_id:
                    break
    return loaded


def oversized_event(nbytes: int, *, parent_id: str | None = None) -> dict[str, Any]:
    """A terminal ``ObservationEvent`` whose output text is ``nbytes`` ASCII bytes, like a command
    that printed a huge file. Over 4 MiB it exceeds aiohttp's default ``max_msg_size``: an aiohttp
    client then closes the socket with 1009 (message too big)."""
    out = _base("environment", parent_id, None)
    call = f"call_ohnb_{uuid.uuid4().hex[:12]}"
    out.update(
        {
            "tool_name": "terminal",
            "tool_call_id": call,
            "observation": {
                "content": [{"cache_prompt": False, "type": "text", "text": "x" * int(nbytes)}],
                "is_error": False,
                "command": "cat /dev/huge",
                "exit_code": 0,
                "timeout": False,
                "kind": "TerminalObservation",
            },
            "action_id": new_id(),
            "extended_content": [],
            "kind": "ObservationEvent",
        }
    )
    return out


#: V1 meaning of the fault plan's ``malformed`` variants (:func:`malformed_frame`).
MALFORMED_V1 = {
    "dict": "a stored event dict whose fields have the wrong types (kind a list, ...)",
    "unknown": "a stored, well-formed event of a kind no SDK version has",
    "noid": "a MessageEvent without id (not stored)",
    "badid": "a MessageEvent whose id is a number (not stored)",
    "string": 'a JSON string frame ("not an event")',
    "list": "a JSON list frame",
    "number": "a JSON number frame",
    "null": "the frame null",
    "empty": "an empty text frame",
    "raw": "a text frame with broken JSON",
    "garbage": "a binary frame",
}


def malformed_frame(variant: str) -> tuple[Any, str]:
    """The frame of a ``malformed`` fault: ``(payload, how)`` with ``how`` one of ``"json"`` (a
    dict or other JSON value, sent as JSON text; dicts with a string id are stored), ``"text"``
    (sent verbatim) or ``"binary"`` (bytes).

    Raises:
        ValueError: unknown variant.
    """
    ts = now_iso()
    if variant == "dict":
        return {
            "id": new_id(),
            "timestamp": "not a timestamp",
            "source": 7,
            "llm_message": "not a dict",
            "kind": ["not", "a", "string"],
        }, "json"
    if variant == "unknown":
        return {
            "id": new_id(),
            "timestamp": ts,
            "source": "agent",
            "payload": {"nested": [1, 2, 3]},
            "kind": "OhnbFaultUnknownEvent",
        }, "json"
    if variant in ("noid", "badid"):
        ev = message_event({"role": "user", "content": [{"cache_prompt": False, "type": "text", "text": variant}], "thinking_blocks": []})
        if variant == "noid":
            del ev["id"]
        else:
            ev["id"] = 7
        return ev, "json"
    simple: dict[str, Any] = {"string": "not an event", "list": [1, "two", {"three": 3}], "number": 42, "null": None}
    if variant in simple:
        return simple[variant], "json"
    if variant == "empty":
        return "", "text"
    if variant == "raw":
        return '{"id": "', "text"
    if variant == "garbage":
        return b"\x00\xffohnb garbage: not a text frame", "binary"
    raise ValueError(f"unknown malformed variant {variant!r}; expected one of {sorted(MALFORMED_V1)}")
