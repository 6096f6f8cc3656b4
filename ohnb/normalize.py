"""Normalize OpenHands V0 ``oh_event`` payloads into flat rows (pure functions, no I/O).

This is the only module that knows the shapes OpenHands sends. One payload gives exactly one row dict
whose keys are the columns of ``ohnb.schema.EVENT_COLUMNS``; ``ohnb.schema.frame_from_rows`` turns a
list of rows into the typed DataFrame. :func:`normalize_v0` never raises: a payload it cannot read is
kept as a row of kind ``unknown`` with the reason in ``parse_error`` and the payload's text in ``raw``.

Where the shapes come from (OpenHands 0.62.0):

- actions and observations: ``openhands/events/serialization/event.py`` (``event_to_dict``): keys ``id``
  (int), ``timestamp`` (naive local ISO-8601), ``source``, ``message``, ``cause``, ``tool_call_metadata``,
  ``llm_metrics``, and ``action`` + ``args`` or ``observation`` + ``content`` + ``extras``;
- status messages: ``openhands/server/session/session.py`` (``send_status_message``):
  ``{"status_update": true, "type": "info"|"error", "id": "STATUS$...", "message": str}``, title updates
  with ``conversation_title`` and no ``id``, and ``{"error": true, "message": str}``.

Column by column (V0):

========================  ===============================================================================
``id``                    the event id (int); missing for status and error messages
``event_id``              the event's identity as a string, the same for both server generations: V0
                          ``str(id)``, V1 the UUID; rows are deduplicated by it
``timestamp``             as sent (naive local time of the server); missing for status messages
``received_at``           UTC epoch seconds when ohnb received it (a datetime in the DataFrame)
``source``                ``agent`` / ``user`` / ``environment`` as sent
``kind``                  ``action`` / ``observation`` / ``status`` / ``error`` / ``unknown``
``type``                  the action or observation name (``run``, ``message``, ...); for status
                          messages the status id (``STATUS$READY``), ``title`` for a title update, or
                          the status ``type`` (``info``/``error``) when there is no id; ``error`` for
                          ``{"error": true}``; for unknown payloads the discriminator if any
``v1_kind``               V1 only (``ohnb.normalize_v1``): the event's ``kind`` class name; missing for V0
``cause``                 the id of the action an observation answers
``cause_id``              ``str(cause)`` (V1: ``action_id``): the observation -> action link for both
``message``               the event's ``message`` (for a title update, the title)
``content``               observation ``content``; for actions the main argument: ``content`` (message),
                          ``command`` (run), ``code`` (run_ipython), ``url`` (browse), ``final_thought``
                          (finish), ``content`` of think, ``file_text``/``new_str`` (write/edit) ...
``thought``               ``args.thought`` of an action
``agent_state``           ``extras.agent_state`` (agent_state_changed) or ``args.agent_state``
                          (change_agent_state)
``exit_code``             ``extras.metadata.exit_code`` of a run observation
``path``                  ``args.path`` / ``extras.path`` of file reads and edits
``diff``                  edit observations: ``extras.diff``, else a unified diff of
                          ``extras.old_content`` -> ``extras.new_content`` (``ohnb.diffs``)
``tool_call_id``          ``tool_call_metadata.tool_call_id``
``tool``                  ``tool_call_metadata.function_name``: the tool the agent called (V1: ``tool_name``)
``hidden``                ``args.hidden`` / ``extras.hidden`` (OpenHands hides some events from the UI)
``model``                 ``tool_call_metadata.model_response.model`` where present
``accumulated_cost``      ``llm_metrics.accumulated_cost`` (USD, running total for the conversation)
``prompt_tokens``         ``llm_metrics.accumulated_token_usage.prompt_tokens`` (running total)
``completion_tokens``     ``llm_metrics.accumulated_token_usage.completion_tokens`` (running total)
``delivery``              ``replay`` / ``live`` (set by the client) or ``stored`` (read from a file)
``attempt``               the connection attempt (1-based) that delivered the row
``parse_error``           why the payload or one of its fields could not be read, else missing
``raw``                   the payload as JSON text: live, the exact text the server sent (V0: the
                          event's slice of the Socket.IO packet; V1: the WebSocket frame); read from
                          a file or a REST page, the decoded payload encoded again
                          (``ohnb.fields.payload_text``); ``ohnb.payloads(frame)`` decodes the column.
                          Text, not dicts: strings are not scanned by Python's cyclic GC, and take
                          about the JSON's size, where the decoded dicts take over twice as much
========================  ===============================================================================
"""

from __future__ import annotations

from typing import Any

from ohnb.diffs import edit_diff
from ohnb.fields import dict_field as _dict_field
from ohnb.fields import first_text as _first_text
from ohnb.fields import int_field as _int_field
from ohnb.fields import int_value as _int_value
from ohnb.fields import payload_text as _payload_text
from ohnb.fields import shared as _shared
from ohnb.fields import str_field as _str_field
from ohnb.fields import text as _text

#: For each action type, the ``args`` keys whose first non-empty value fills ``content``.
_ACTION_CONTENT_KEYS: dict[str, tuple[str, ...]] = {
    "message": ("content",),
    "system": ("content",),
    "run": ("command",),
    "run_ipython": ("code",),
    "browse": ("url",),
    "browse_interactive": ("browser_actions",),
    "finish": ("final_thought", "outputs"),
    "think": ("thought",),
    "write": ("content",),
    "edit": ("file_text", "new_str", "content"),
    "read": ("path",),
    "call_tool_mcp": ("name",),
    "delegate": ("agent",),
    "recall": ("query",),
    "change_agent_state": ("agent_state",),
    "condensation": ("summary",),
}

_NO_KEY = (
    "payload has none of the keys 'action', 'observation', 'status_update', 'error'"
)


def normalize_v0(
    payload: Any,
    *,
    received_at: float | None = None,
    delivery: str | None = None,
    attempt: int | None = None,
    conversation_id: str | None = None,
    raw: str | None = None,
) -> dict[str, Any]:
    """Turn one V0 ``oh_event`` payload into a row dict (keys: ``ohnb.schema.EVENT_COLUMNS``).

    Args:
        payload: the decoded ``oh_event`` argument: normally a JSON object (dict), but anything is
            accepted (a string, a list, None...) and kept.
        received_at: UTC epoch seconds when it arrived (``time.time()``), or None.
        delivery: ``"replay"``, ``"live"`` or ``"stored"``.
        attempt: the 1-based connection attempt that delivered it.
        conversation_id: copied into the row.
        raw: the payload's text as received (a transport's frame or packet slice), kept in the
            ``raw`` column; None: the text is made from ``payload`` (``ohnb.fields.payload_text``).

    Returns:
        A dict with every event column. Never raises.
    """
    row: dict[str, Any] = {
        "conversation_id": conversation_id,
        "received_at": received_at,
        "delivery": delivery,
        "attempt": attempt,
        "raw": raw if raw is not None else _payload_text(payload),
    }
    try:
        _fill(row, payload)
    except Exception as exc:  # noqa: BLE001 - a normalizer bug must not cost the event: keep it, say why
        row["kind"] = "unknown"
        row["parse_error"] = f"normalizer failed: {type(exc).__name__}: {exc}"
    return row


def _fill(row: dict[str, Any], payload: Any) -> None:
    if not isinstance(payload, dict):
        row["kind"] = "unknown"
        row["parse_error"] = f"payload is {type(payload).__name__}, not a JSON object"
        return
    errors: list[str] = []
    get = payload.get
    is_status = "status_update" in payload
    # Status messages carry string ids such as STATUS$READY: they are not event ids.
    row["id"] = None if is_status else _int_field(payload, "id", errors)
    row["timestamp"] = _str_field(payload, "timestamp", errors)
    row["source"] = _shared(_str_field(payload, "source", errors))
    row["message"] = _str_field(payload, "message", errors)
    row["cause"] = _int_field(payload, "cause", errors)

    if "action" in payload:
        row["kind"] = "action"
        atype = _shared(_str_field(payload, "action", errors))
        row["type"] = atype
        args = _dict_field(payload, "args", errors)
        row["thought"] = _text(args.get("thought"))
        row["content"] = _first_text(args, _ACTION_CONTENT_KEYS.get(atype or "", ("content",)))
        row["path"] = _text(args.get("path"))
        if atype == "change_agent_state":
            row["agent_state"] = _shared(_text(args.get("agent_state")))
        hidden = args.get("hidden")
    elif "observation" in payload:
        row["kind"] = "observation"
        row["type"] = _shared(_str_field(payload, "observation", errors))
        row["content"] = _str_field(payload, "content", errors)
        extras = _dict_field(payload, "extras", errors)
        if row["type"] == "agent_state_changed":
            row["agent_state"] = _shared(_text(extras.get("agent_state")))
        metadata = extras.get("metadata")
        if isinstance(metadata, dict):
            code = metadata.get("exit_code")
            row["exit_code"] = code if isinstance(code, int) and not isinstance(code, bool) else None
        row["path"] = _text(extras.get("path"))
        if row["type"] == "edit":
            row["diff"] = edit_diff(
                extras.get("diff"), extras.get("old_content"), extras.get("new_content"), row["path"]
            )
        hidden = extras.get("hidden")
    elif is_status:
        row["kind"] = "status"
        status_id = get("id")
        if isinstance(status_id, str) and status_id:
            row["type"] = status_id
        elif "conversation_title" in payload:
            row["type"] = "title"
            row["message"] = _text(payload.get("conversation_title"))
        else:
            row["type"] = _text(payload.get("type")) or "status"
        hidden = None
    elif "error" in payload:
        row["kind"] = "error"
        row["type"] = "error"
        hidden = None
    else:
        row["kind"] = "unknown"
        row["type"] = _text(get("kind") or get("type"))
        errors.append(_NO_KEY)
        hidden = None

    row["hidden"] = hidden if isinstance(hidden, bool) else None
    message = row["message"]
    if message is not None and message == row.get("content"):
        row["message"] = row["content"]  # a message action repeats its text: keep one string
    _fill_metadata(row, payload)
    if errors:
        row["parse_error"] = "; ".join(errors)
    if row["id"] is not None:
        row["event_id"] = str(row["id"])
    if row["cause"] is not None:
        row["cause_id"] = str(row["cause"])


def _fill_metadata(row: dict[str, Any], payload: dict) -> None:
    tcm = payload.get("tool_call_metadata")
    if isinstance(tcm, dict):
        row["tool_call_id"] = _text(tcm.get("tool_call_id"))
        row["tool"] = _shared(_text(tcm.get("function_name")))
        response = tcm.get("model_response")
        if isinstance(response, dict):
            row["model"] = _shared(_text(response.get("model")))
    metrics = payload.get("llm_metrics")
    if isinstance(metrics, dict):
        cost = metrics.get("accumulated_cost")
        if isinstance(cost, (int, float)) and not isinstance(cost, bool):
            row["accumulated_cost"] = float(cost)
        usage = metrics.get("accumulated_token_usage")
        if isinstance(usage, dict):
            row["prompt_tokens"] = _int_value(usage.get("prompt_tokens"))
            row["completion_tokens"] = _int_value(usage.get("completion_tokens"))
