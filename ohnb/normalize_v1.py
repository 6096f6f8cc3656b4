"""Normalize OpenHands V1 (agent server / SDK) events into the same flat rows as V0 (pure functions).

:func:`normalize_v1` is to V1 what :func:`ohnb.normalize.normalize_v0` is to V0: one payload, one row
dict keyed by the columns of ``ohnb.schema.EVENT_COLUMNS``, never an exception. Unreadable payloads
become rows of kind ``unknown`` with ``parse_error`` set and the payload's text kept in ``raw``.

Where the shapes come from (OpenHands/software-agent-sdk, ``openhands-sdk/openhands/sdk/event/``, and
the frames a real ``openhands-agent-server`` 1.58.2 sent, ``fixtures/captures/v1_real_server_*``):
every event is ``{"id": uuid, "timestamp": naive ISO-8601, "source": ..., "kind": ClassName, ...}``
(``Event.model_dump(mode="json")``). ActionEvent carries ``action{kind, ...}``, ``tool_name``,
``tool_call_id``, ``thought[]``, ``reasoning_content``, ``summary``; ObservationEvent carries
``observation{kind, content[] | output, ...}``, ``tool_name``, ``tool_call_id`` and ``action_id``;
ConversationStateUpdateEvent carries ``key`` and ``value``.

The mapping, chosen so that event-type analyses mean the same thing for both generations (V0 names
from ``openhands/core/schema/action.py`` and ``observation.py``):

====================================  ==============  ==========================================
V1 event (``kind``)                   ``kind``        ``type``
====================================  ==============  ==========================================
ActionEvent                           action          from the tool, table below
ObservationEvent                      observation     from the tool, table below
UserRejectObservation                 observation     ``user_rejected``
AgentErrorEvent                       observation     ``error`` (V0 ErrorObservation)
MessageEvent                          action          ``message`` (user or agent, as V0)
SystemPromptEvent                     action          ``system``
PauseEvent                            action          ``pause``
InterruptEvent                        action          ``interrupt`` (no V0 equivalent)
Condensation                          action          ``condensation``
CondensationRequest                   action          ``condensation_request``
CondensationSummaryEvent              observation     ``condense``
ConversationStateUpdateEvent          observation     ``agent_state_changed`` when ``key`` is
                                                      ``execution_status``
ConversationStateUpdateEvent          status          the ``key`` otherwise: ``full_state``,
                                                      ``stats``, ``last_user_message_id`` ...
ConversationErrorEvent                error           ``error`` (``content``: the error code)
ServerErrorEvent                      error           ``error`` (``content``: the error code)
StreamingDeltaEvent                   status          ``streaming_delta`` (see below)
any other kind with ``action{}``      action          from the tool, table below
any other kind with ``observation{}`` observation     from the tool, table below
any other kind                        unknown         the V1 kind itself (kept, no parse error)
====================================  ==============  ==========================================

Tools (``tool_name``, or the action/observation ``kind`` when the tool is not named), as
``tool -> action type / observation type``:

- ``execute_bash``, ``terminal``, ``bash`` -> ``run`` / ``run``
- ``execute_ipython_cell``, ``ipython`` -> ``run_ipython`` / ``run_ipython``
- ``str_replace_editor``, ``file_editor``, ``planning_file_editor`` -> ``read`` when the ``command`` is
  ``view``, else ``edit`` (as V0's function calling turns ``str_replace_editor`` into FileReadAction
  or FileEditAction) / the same for the observation
- ``think`` -> ``think`` / ``think``; ``finish`` -> ``finish`` / ``finish``
- ``browser_navigate`` -> ``browse`` / ``browse``; any other ``browser_*`` -> ``browse_interactive`` /
  ``browse`` (V0's BrowseInteractiveAction answered by a ``browse`` observation)
- ``task_tracker`` -> ``task_tracking`` / ``task_tracking``; ``delegate`` -> ``delegate`` / ``delegate``
- an MCP tool (``MCPToolAction`` / ``MCPToolObservation``) -> ``call_tool_mcp`` / ``mcp``
- anything else (``glob``, ``grep``, new tools) -> the tool name itself, for both

An ActionEvent or ObservationEvent without its ``action`` / ``observation`` object (truncated
captures) keeps its kind, takes its type from the tool if named, and says so in ``parse_error``.

The original V1 names are kept: ``v1_kind`` holds the event's ``kind`` (``ActionEvent``...), ``tool``
the ``tool_name``, and ``raw`` the whole payload as JSON text (as for V0, see ``ohnb.normalize``).

Column by column (V1):

========================  ===============================================================================
``id``, ``cause``         missing (V0 integer ids only)
``event_id``              ``id`` (the UUID string; rows are deduplicated by it)
``timestamp``             as sent (naive local time of the server)
``source``                as sent
``cause_id``              ``action_id`` (observations and user rejections -> the ActionEvent answered)
``message``               ActionEvent ``summary``; error events ``detail``
``content``               actions: the main argument (``command``, ``code``, ``path`` for a view,
                          ``file_text``/``new_str`` for an edit, ``thought``, ``message``, ``url``;
                          for other tools the first of ``command``, ``code``, ``url``, ``text``,
                          ``message``, ``thought``, ``query``, ``content``, else the action's fields
                          as JSON); observations: the text of ``content``
                          (or ``output`` in older SDKs); messages: the text of ``llm_message.content``;
                          system prompt text; error ``code``; streaming ``content``; other state keys:
                          ``value`` as text (JSON for objects; none for ``full_state``/``stats``)
``thought``               ActionEvent ``thought`` texts, else ``reasoning_content``
``agent_state``           ``execution_status`` mapped to V0 AgentState: idle -> awaiting_user_input,
                          running -> running, paused -> paused, waiting_for_confirmation ->
                          awaiting_user_confirmation, finished -> finished, error -> error; ``stuck``,
                          ``deleting`` and new values are kept as they are. Filled for
                          ``execution_status`` updates and for ``full_state`` snapshots.
``exit_code``             observation ``metadata.exit_code`` (as V0), else ``exit_code``
``path``                  action / observation ``path``
``diff``                  edit observations: ``observation.diff``, else a unified diff of
                          ``old_content`` -> ``new_content`` (``ohnb.diffs``)
``tool_call_id``          ``tool_call_id``
``tool``                  ``tool_name``
``model``                 ``stats`` / ``full_state``: the model of the ``agent`` usage (else
                          ``default``, else the first one named); ``full_state`` also
                          ``agent.llm.model``
``accumulated_cost``      ``stats`` (and ``full_state.stats``): ``usage_to_metrics.*.accumulated_cost``
                          summed over usages (agent, condenser...): USD, running total
``prompt_tokens``,        the same sums of ``accumulated_token_usage.prompt_tokens`` /
``completion_tokens``     ``completion_tokens`` (running totals)
``hidden``                missing
========================  ===============================================================================

Streaming deltas: a ``StreamingDeltaEvent`` is a transient token delta (never persisted nor replayed,
``openhands/sdk/event/streaming_delta.py``). Its row has kind ``status`` and type ``streaming_delta``
(:data:`STREAMING_DELTA`, test with :func:`is_streaming_delta`), ``content`` = the delta text and
``thought`` = its ``reasoning_content``: a live client should aggregate such rows into the message
being streamed instead of logging each one.
"""

from __future__ import annotations

from typing import Any

from ohnb.diffs import edit_diff
from ohnb.fields import first_text as _first_text
from ohnb.fields import is_int as _is_int
from ohnb.fields import is_number as _is_number
from ohnb.fields import payload_text as _payload_text
from ohnb.fields import shared as _shared
from ohnb.fields import str_field as _str_field
from ohnb.fields import text as _text
from ohnb.schema import EVENT_COLUMNS

__all__ = [
    "EXECUTION_STATUS_TO_AGENT_STATE",
    "STREAMING_DELTA",
    "is_streaming_delta",
    "is_v1_payload",
    "normalize_v1",
    "v1_tool_type",
]

#: ``type`` of a StreamingDeltaEvent row (kind ``status``).
STREAMING_DELTA = "streaming_delta"

#: V1 ``execution_status`` -> V0 AgentState (values without a V0 equivalent are kept as they are).
EXECUTION_STATUS_TO_AGENT_STATE: dict[str, str] = {
    "idle": "awaiting_user_input",
    "running": "running",
    "paused": "paused",
    "waiting_for_confirmation": "awaiting_user_confirmation",
    "finished": "finished",
    "error": "error",
}

# tool name -> (action type, observation type); file editors are decided by their ``command``.
_TOOLS: dict[str, tuple[str, str]] = {
    "execute_bash": ("run", "run"),
    "terminal": ("run", "run"),
    "bash": ("run", "run"),
    "execute_ipython_cell": ("run_ipython", "run_ipython"),
    "ipython": ("run_ipython", "run_ipython"),
    "think": ("think", "think"),
    "finish": ("finish", "finish"),
    "browser_navigate": ("browse", "browse"),
    "task_tracker": ("task_tracking", "task_tracking"),
    "delegate": ("delegate", "delegate"),
}
_EDITORS = {"str_replace_editor", "file_editor", "planning_file_editor"}

# action / observation ``kind`` -> tool name, for payloads that do not name their tool
_KIND_TOOLS: dict[str, str] = {
    "ExecuteBashAction": "execute_bash",
    "ExecuteBashObservation": "execute_bash",
    "TerminalAction": "terminal",
    "TerminalObservation": "terminal",
    "FileEditorAction": "file_editor",
    "FileEditorObservation": "file_editor",
    "StrReplaceEditorAction": "str_replace_editor",
    "StrReplaceEditorObservation": "str_replace_editor",
    "PlanningFileEditorAction": "planning_file_editor",
    "PlanningFileEditorObservation": "planning_file_editor",
    "ThinkAction": "think",
    "ThinkObservation": "think",
    "FinishAction": "finish",
    "FinishObservation": "finish",
    "BrowserNavigateAction": "browser_navigate",
    "TaskTrackerAction": "task_tracker",
    "TaskTrackerObservation": "task_tracker",
    "DelegateAction": "delegate",
    "DelegateObservation": "delegate",
}

# simple event kinds -> (kind, type)
_SIMPLE: dict[str, tuple[str, str]] = {
    "MessageEvent": ("action", "message"),
    "SystemPromptEvent": ("action", "system"),
    "PauseEvent": ("action", "pause"),
    "InterruptEvent": ("action", "interrupt"),
    "Condensation": ("action", "condensation"),
    "CondensationRequest": ("action", "condensation_request"),
    "CondensationSummaryEvent": ("observation", "condense"),
    "UserRejectObservation": ("observation", "user_rejected"),
    "AgentErrorEvent": ("observation", "error"),
    "ConversationErrorEvent": ("error", "error"),
    "ServerErrorEvent": ("error", "error"),
    "StreamingDeltaEvent": ("status", STREAMING_DELTA),
}

# action fields tried, in order, for ``content`` when the type has no rule of its own
_CONTENT_KEYS = ("command", "code", "url", "text", "message", "thought", "query", "content")
_ACTION_CONTENT: dict[str, tuple[str, ...]] = {
    "run": ("command",),
    "run_ipython": ("code",),
    "read": ("path",),
    "edit": ("file_text", "new_str", "path"),
    "think": ("thought",),
    "finish": ("message", "final_thought"),
    "browse": ("url",),
}


def is_v1_payload(payload: Any) -> bool:
    """Whether ``payload`` is a V1 event: a JSON object whose ``kind`` is a string (V0 events have an
    ``action`` or ``observation`` *string* and no ``kind``)."""
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("kind"), str)
        and not isinstance(payload.get("action"), str)
        and not isinstance(payload.get("observation"), str)
    )


def is_streaming_delta(row: dict[str, Any]) -> bool:
    """Whether a normalized row is a StreamingDeltaEvent (to aggregate rather than log)."""
    return row.get("kind") == "status" and row.get("type") == STREAMING_DELTA


def v1_tool_type(tool: str | None, *, observation: bool = False, command: Any = None) -> str | None:
    """The V0 ``type`` for a V1 tool name (the tool table of this module); None when ``tool`` is None.

    ``command`` decides file editors: ``"view"`` -> ``read``, anything else -> ``edit``.
    """
    if tool is None:
        return None
    if tool in _EDITORS:
        return "read" if command == "view" else "edit"
    if tool in _TOOLS:
        return _TOOLS[tool][1 if observation else 0]
    if tool.startswith("browser_"):
        return "browse" if observation else "browse_interactive"
    return tool


def normalize_v1(
    payload: Any,
    *,
    received_at: float | None = None,
    delivery: str | None = None,
    attempt: int | None = None,
    conversation_id: str | None = None,
    raw: str | None = None,
) -> dict[str, Any]:
    """Turn one V1 event (a decoded WebSocket frame, REST item or stored event) into a row dict.

    Args:
        payload: the decoded event, normally a JSON object with a ``kind``; anything is accepted.
        received_at: UTC epoch seconds when it arrived, or None.
        delivery: ``"replay"``, ``"live"`` or ``"stored"``.
        attempt: the 1-based connection attempt that delivered it.
        conversation_id: copied into the row.
        raw: the payload's text as received (a transport's frame or packet slice), kept in the
            ``raw`` column; None: the text is made from ``payload`` (``ohnb.fields.payload_text``).

    Returns:
        A dict with every key of ``ohnb.schema.EVENT_COLUMNS``. Never raises.
    """
    row: dict[str, Any] = dict.fromkeys(_ROW_KEYS)
    row.update(
        conversation_id=conversation_id,
        received_at=received_at,
        delivery=delivery,
        attempt=attempt,
        raw=raw if raw is not None else _payload_text(payload),
    )
    try:
        _fill(row, payload)
    except Exception as exc:  # noqa: BLE001 - a normalizer bug must not cost the event: keep it, say why
        row["kind"] = "unknown"
        row["parse_error"] = f"normalizer failed: {type(exc).__name__}: {exc}"
    return row


_ROW_KEYS = tuple(EVENT_COLUMNS)


def _fill(row: dict[str, Any], payload: Any) -> None:
    if not isinstance(payload, dict):
        row["kind"] = "unknown"
        row["parse_error"] = f"payload is {type(payload).__name__}, not a JSON object"
        return
    errors: list[str] = []
    kind = payload.get("kind")
    if not isinstance(kind, str):
        row["kind"] = "unknown"
        if kind is None:
            errors.append("payload has no 'kind' (not a V1 event)")
        else:
            errors.append(f"kind is {type(kind).__name__}, not a string")
            kind = None
    row["v1_kind"] = kind = _shared(kind)
    event_id = payload.get("id")
    if isinstance(event_id, str):
        row["event_id"] = event_id or None
    elif event_id is not None:
        errors.append(f"id is {type(event_id).__name__}, not a string")
        row["event_id"] = str(event_id) if not isinstance(event_id, (dict, list)) else None
    row["timestamp"] = _str_field(payload, "timestamp", errors)
    row["source"] = _shared(_str_field(payload, "source", errors))
    row["tool_call_id"] = _str_field(payload, "tool_call_id", errors)
    row["tool"] = _shared(_str_field(payload, "tool_name", errors))
    action_id = payload.get("action_id")
    if action_id is not None:
        row["cause_id"] = _text(action_id)

    if kind is not None:
        if kind == "ConversationStateUpdateEvent":
            _state_update(row, payload)
        elif kind in _SIMPLE:
            row["kind"], row["type"] = _SIMPLE[kind]
            _simple(row, kind, payload)
        elif kind == "ActionEvent" or isinstance(payload.get("action"), dict):
            _action(row, payload, errors)
        elif kind == "ObservationEvent" or isinstance(payload.get("observation"), dict):
            _observation(row, payload, errors)
        else:
            row["kind"] = "unknown"
            row["type"] = kind
    if errors:
        row["parse_error"] = "; ".join(errors)


def _action(row: dict[str, Any], payload: dict, errors: list[str]) -> None:
    action = payload.get("action")
    if not isinstance(action, dict):
        errors.append("ActionEvent without an 'action' object")
        action = {}
    row["kind"] = "action"
    tool = row["tool"] or _KIND_TOOLS.get(str(action.get("kind")))
    atype = _tool_type(tool, action, observation=False)
    row["type"] = atype
    keys = _ACTION_CONTENT.get(atype or "", _CONTENT_KEYS)
    row["content"] = _first_text(action, keys)
    if row["content"] is None and atype not in _ACTION_CONTENT:
        rest = {k: v for k, v in action.items() if k != "kind" and v is not None}
        row["content"] = _text(rest) if rest else None
    row["path"] = _text(action.get("path"))
    row["message"] = _text(payload.get("summary"))
    thought = _content_text(payload.get("thought"))
    row["thought"] = thought or _text(payload.get("reasoning_content"))


def _observation(row: dict[str, Any], payload: dict, errors: list[str]) -> None:
    obs = payload.get("observation")
    if not isinstance(obs, dict):
        errors.append("ObservationEvent without an 'observation' object")
        obs = {}
    row["kind"] = "observation"
    tool = row["tool"] or _KIND_TOOLS.get(str(obs.get("kind")))
    row["type"] = _tool_type(tool, obs, observation=True)
    text = _content_text(obs.get("content"))
    if text is None:
        for key in ("output", "message", "error"):
            value = obs.get(key)
            if isinstance(value, str) and value:
                text = value
                break
    row["content"] = text
    row["path"] = _text(obs.get("path"))
    if row["type"] == "edit":
        row["diff"] = edit_diff(obs.get("diff"), obs.get("old_content"), obs.get("new_content"), row["path"])
    metadata = obs.get("metadata")
    code = metadata.get("exit_code") if isinstance(metadata, dict) else None
    if not _is_int(code):
        code = obs.get("exit_code")
    row["exit_code"] = code if _is_int(code) else None
    if "content" in obs and not isinstance(obs["content"], (list, str, type(None))):
        errors.append("observation content is not a list or a string")


def _tool_type(tool: str | None, body: dict, *, observation: bool) -> str | None:
    if body.get("kind") in ("MCPToolAction", "MCPToolObservation"):
        return "mcp" if observation else "call_tool_mcp"
    if tool is None:
        kind = body.get("kind")
        return _text(kind) if kind is not None else None
    return v1_tool_type(tool, observation=observation, command=body.get("command"))


def _simple(row: dict[str, Any], kind: str, payload: dict) -> None:
    if kind == "MessageEvent":
        message = payload.get("llm_message")
        if isinstance(message, dict):
            row["content"] = _content_text(message.get("content"))
            row["thought"] = _text(message.get("reasoning_content"))
        row["thought"] = row["thought"] or _text(payload.get("reasoning_content"))
    elif kind == "SystemPromptEvent":
        row["content"] = _content_text(payload.get("system_prompt"))
    elif kind in ("Condensation", "CondensationSummaryEvent"):
        row["content"] = _text(payload.get("summary"))
    elif kind == "CondensationRequest":
        row["content"] = _text(payload.get("reason"))
    elif kind == "UserRejectObservation":
        row["content"] = _text(payload.get("rejection_reason"))
    elif kind == "AgentErrorEvent":
        row["content"] = _text(payload.get("error"))
    elif kind == "InterruptEvent":
        row["content"] = _text(payload.get("reason"))
    elif kind in ("ConversationErrorEvent", "ServerErrorEvent"):
        row["content"] = _text(payload.get("code"))
        row["message"] = _text(payload.get("detail"))
    elif kind == "StreamingDeltaEvent":
        row["content"] = _text(payload.get("content"))
        row["thought"] = _text(payload.get("reasoning_content"))


def _state_update(row: dict[str, Any], payload: dict) -> None:
    key = payload.get("key")
    value = payload.get("value")
    if key == "execution_status":
        row["kind"] = "observation"
        row["type"] = "agent_state_changed"
        row["agent_state"] = _agent_state(value)
        return
    row["kind"] = "status"
    row["type"] = _text(key) if key is not None else "state_update"
    if key == "full_state":
        if isinstance(value, dict):
            row["agent_state"] = _agent_state(value.get("execution_status"))
            _fill_stats(row, value.get("stats"))
            agent = value.get("agent")
            llm = agent.get("llm") if isinstance(agent, dict) else None
            if isinstance(llm, dict) and row["model"] is None:
                row["model"] = _text(llm.get("model"))
    elif key == "stats":
        _fill_stats(row, value)
    elif value is not None:
        row["content"] = _text(value)


def _agent_state(value: Any) -> str | None:
    if not isinstance(value, str):
        return _text(value)
    return EXECUTION_STATUS_TO_AGENT_STATE.get(value, value)


def _fill_stats(row: dict[str, Any], stats: Any) -> None:
    usages = stats.get("usage_to_metrics") if isinstance(stats, dict) else None
    if not isinstance(usages, dict) or not usages:
        return
    cost = prompt = completion = None
    models: dict[str, str] = {}
    for usage_id, metrics in usages.items():
        if not isinstance(metrics, dict):
            continue
        name = metrics.get("model_name")
        if isinstance(name, str) and name:
            models[str(usage_id)] = name
        value = metrics.get("accumulated_cost")
        if _is_number(value):
            cost = (cost or 0.0) + float(value)
        usage = metrics.get("accumulated_token_usage")
        if isinstance(usage, dict):
            if _is_int(usage.get("prompt_tokens")):
                prompt = (prompt or 0) + usage["prompt_tokens"]
            if _is_int(usage.get("completion_tokens")):
                completion = (completion or 0) + usage["completion_tokens"]
    row["accumulated_cost"] = cost
    row["prompt_tokens"] = prompt
    row["completion_tokens"] = completion
    for preferred in ("agent", "default"):
        if preferred in models:
            row["model"] = models[preferred]
            return
    if models:
        row["model"] = next(iter(models.values()))


# --------------------------------------------------------------------------------------------
# small helpers






def _content_text(value: Any) -> str | None:
    """Text of an SDK content value: a string, a ``TextContent`` dict, or a list of them (joined by
    newlines; images and other non-text parts are skipped). None when there is no text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        text = value.get("text")
        return text if isinstance(text, str) else None
    if isinstance(value, list):
        parts = [_content_text(item) for item in value]
        texts = [p for p in parts if p is not None]
        return "\n".join(texts) if texts else None
    return _text(value)
