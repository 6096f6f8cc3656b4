"""ConversationWidget: an OpenHands conversation in a notebook output (anywidget).

The widget shows a live :class:`ohnb.conversation.Conversation` or a stored one (a DataFrame with the
columns of ``ohnb.schema.EVENT_COLUMNS``). Its front end is ``js/src/`` bundled into
``ohnb/static/widget.js``; :meth:`ConversationWidget.to_html` writes a page that shows it without a
kernel.

Sync protocol (custom messages sent before a view exists are lost, traits are not):

- Traits hold the small state: ``conversation_id``, ``agent_state``, ``connection_state``,
  ``reconnects``, ``error``, ``n_events`` (rows the kernel has sent or can send; it may lag by up to
  :attr:`ConversationWidget.total_interval` seconds while rows stream), ``live``, ``can_stop`` and
  ``height``.
- Rows travel as deltas in custom messages, kernel -> front end:
  ``{"type": "rows", "start": int, "total": int, "fields": [...], "rows": [[...], ...]}``: ``rows``
  are ``log[start:start + len(rows)]``, each a list of values in the order of ``fields``
  (:data:`WIRE_FIELDS`, see :func:`project_row`); ``total`` is the number of rows sent after it.
- Front end -> kernel: ``{"type": "sync", "have": int}`` asks for ``rows[have:sent]``; the reply is
  one or more ``rows`` messages of at most :attr:`ConversationWidget.chunk_rows` rows and about
  :attr:`ConversationWidget.chunk_chars` characters (always at least one message, possibly with no
  rows, so the front end knows it was answered). The front end sends it when its model initializes
  (a new view, a reopened notebook, a reloaded page), when a delta starts past what it holds, and
  when ``n_events`` says the kernel holds more.
- Front end -> kernel: ``{"type": "send_message", "text": str}``, ``{"type": "pause"}``,
  ``{"type": "resume"}``, ``{"type": "stop"}`` call the conversation's methods; a stored source
  (or a conversation without ``stop``) sets ``error`` instead.

Batching: new rows and state changes of a live conversation are not sent one by one. The widget
"ticks" at most every :attr:`ConversationWidget.flush_interval` seconds (at once when it has been
quiet longer than that, so a lone event is not delayed): a tick sends the rows added since the last
one in one message (the rest at the next tick when they exceed a chunk) and, in one trait update,
the state that changed (at most every :attr:`ConversationWidget.state_interval` seconds) and
``n_events`` (with a state update, else at most every :attr:`ConversationWidget.total_interval`
seconds). So a burst costs at most ``1 / flush_interval + 1 / state_interval`` widget messages per
second (15 by default). Without a running event loop every change is sent at once.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import logging
import math
import pathlib
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import anywidget
import pandas as pd
import traitlets

logger = logging.getLogger("ohnb.widget")

_STATIC = pathlib.Path(__file__).parent / "static"

#: The columns of the event log that the browser gets.
ROW_FIELDS: tuple[str, ...] = (
    "event_id",
    "kind",
    "type",
    "source",
    "timestamp",
    "message",
    "content",
    "thought",
    "agent_state",
    "exit_code",
    "path",
    "cause_id",
    "tool",
    "hidden",
    "parse_error",
)

#: A row on the wire: :data:`ROW_FIELDS`, then ``diff`` (a unified diff of a file edit, when one can
#: be made) and ``truncated`` (``{field: full length}`` of the text fields that were cut, or None).
WIRE_FIELDS: tuple[str, ...] = (*ROW_FIELDS, "diff", "truncated")

#: Text fields cut to :data:`MAX_TEXT` characters before they go to the browser.
TEXT_FIELDS: tuple[str, ...] = ("message", "content", "thought", "parse_error", "diff")

#: Longest text (characters) of one field sent to the browser; longer text is cut and flagged.
MAX_TEXT = 20_000

READ_ONLY_ERROR = (
    "This widget shows a stored conversation: it cannot send messages, pause, resume or stop."
)
NO_STOP_ERROR = "stop failed: this Conversation has no stop()"

_CSS_LENGTH = re.compile(r"^\d{1,5}(?:\.\d{1,3})?(?:px|em|rem|vh|%)$")


class ConversationLike(Protocol):
    """What the widget needs of ``ohnb.conversation.Conversation`` (``stop`` is optional)."""

    log: Any  # ohnb.log.EventLog: .rows, .subscribe(listener) -> unsubscribe
    conversation_id: str
    agent_state: str | None
    connection_state: str
    reconnects: int
    error: str | None

    def on_change(self, fn: Callable[[], None]) -> Callable[[], None]: ...
    def send_message(self, text: str) -> Any: ...
    def pause(self) -> Any: ...
    def resume(self) -> Any: ...


# --- projection -------------------------------------------------------------------------------------


def project_row(row: dict[str, Any], max_text: int = MAX_TEXT) -> list[Any]:
    """The browser's copy of one event row: the values of :data:`WIRE_FIELDS`, JSON-safe.

    - ``raw`` and every other column stay in the kernel;
    - ``message`` is None when it equals ``content`` (the same text is not sent twice);
    - ``diff``: the row's ``diff`` for file edits whose content is not a diff already
      (see :func:`edit_diff`);
    - text fields longer than ``max_text`` are cut and listed in ``truncated``.
    """
    values = {name: _jsonable(row.get(name)) for name in ROW_FIELDS}
    if values["message"] is not None and values["message"] == values["content"]:
        values["message"] = None
    values["diff"] = edit_diff(row)
    truncated: dict[str, int] | None = None
    for name in TEXT_FIELDS:
        value = values[name]
        if isinstance(value, str) and len(value) > max_text:
            truncated = truncated or {}
            truncated[name] = len(value)
            values[name] = value[:max_text]
    values["truncated"] = truncated
    return [values[name] for name in WIRE_FIELDS]


def row_dict(wire_row: Sequence[Any]) -> dict[str, Any]:
    """A projected row (list) as a dict keyed by :data:`WIRE_FIELDS` (tests, debugging)."""
    return dict(zip(WIRE_FIELDS, wire_row, strict=True))


def _jsonable(value: Any) -> Any:
    """None for missing values (None, NA, NaT, NaN); ISO strings for times; Python scalars."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "isoformat"):  # datetime, pandas Timestamp
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return str(value)


_DIFF_START = re.compile(r"^(?:diff --git |--- \S|@@ -\d)")


def edit_diff(row: dict[str, Any]) -> str | None:
    """The ``diff`` column of a file-edit observation, unless its ``content`` is already a diff
    (the front end shows that one as a diff itself). The normalizers fill ``diff``
    (``ohnb.normalize``, ``ohnb.normalize_v1``, ``ohnb.diffs``)."""
    if row.get("kind") != "observation" or row.get("type") != "edit":
        return None
    content = row.get("content")
    if isinstance(content, str) and _DIFF_START.match(content):
        return None
    diff = row.get("diff")
    return diff if isinstance(diff, str) and diff else None


def rows_from_frame(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The :data:`ROW_FIELDS` of a DataFrame's rows as plain dicts (NA -> None, times -> ISO strings).

    Missing columns become None; ``diff`` is read too (for :func:`edit_diff`); other columns are not.
    """
    n = len(df)
    columns: dict[str, list[Any]] = {}
    for name in ROW_FIELDS:
        if name not in df.columns:
            columns[name] = [None] * n
            continue
        series = df[name]
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            columns[name] = [None if pd.isna(v) else v.isoformat() for v in series]
        else:
            columns[name] = [_jsonable(v) for v in series.astype(object).tolist()]
    if "event_id" not in df.columns and "id" in df.columns:  # frames from before event_id existed
        columns["event_id"] = [None if v is None else str(v) for v in map(_jsonable, df["id"].astype(object))]
    rows = [{name: columns[name][k] for name in ROW_FIELDS} for k in range(n)]
    if "diff" in df.columns:
        diffs = [_jsonable(v) for v in df["diff"].astype(object).tolist()]
        for k, row in enumerate(rows):
            row["diff"] = diffs[k]
    return rows


# --- the widget -------------------------------------------------------------------------------------


class ConversationWidget(anywidget.AnyWidget):
    """Shows an OpenHands conversation: a live ``Conversation`` or a stored DataFrame of events.

    Args:
        source: a :class:`ohnb.conversation.Conversation` (live: follows its log and state, and the
            message box, Pause, Resume and Stop act on it) or a ``pandas.DataFrame`` with the columns
            of ``ohnb.schema.EVENT_COLUMNS`` (read-only), e.g. ``conv.events`` or a loaded file.
        height: CSS height of the event list (``"32em"``, ``"600px"``, ``"70vh"``...); the user can
            also drag its corner.
        flush_interval: least seconds between two sends of a live conversation's new rows and state.
        total_interval: least seconds between two updates of ``n_events`` while rows stream.
        state_interval: least seconds between two updates of the conversation's state traits
            (agent state, connection, reconnects, error); a change after a quiet spell goes at once.
        chunk_rows: most rows in one message.
        chunk_chars: about the most text characters in one message (bigger rows come in more
            messages).
        max_text: longest text of one field sent to the browser (characters).
    """

    _esm = _STATIC / "widget.js"
    _css = _STATIC / "widget.css"

    conversation_id = traitlets.Unicode("").tag(sync=True)
    agent_state = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    connection_state = traitlets.Unicode("CLOSED").tag(sync=True)
    reconnects = traitlets.Int(0).tag(sync=True)
    error = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    n_events = traitlets.Int(0).tag(sync=True)
    live = traitlets.Bool(False).tag(sync=True)
    can_stop = traitlets.Bool(False).tag(sync=True)
    height = traitlets.Unicode("32em").tag(sync=True)

    def __init__(
        self,
        source: Any,
        *,
        height: str = "32em",
        flush_interval: float = 0.1,
        total_interval: float = 1.0,
        state_interval: float = 0.2,
        chunk_rows: int = 5000,
        chunk_chars: int = 4_000_000,
        max_text: int = MAX_TEXT,
        **kwargs: Any,
    ) -> None:
        self.flush_interval = float(flush_interval)
        self.total_interval = float(total_interval)
        self.state_interval = float(state_interval)
        self.chunk_rows = max(1, int(chunk_rows))
        self.chunk_chars = max(1, int(chunk_chars))
        self.max_text = max_text
        self._conversation: ConversationLike | None = None
        self._rows: Sequence[dict[str, Any]]
        self._tick_handle: asyncio.TimerHandle | None = None
        self._tick_when = 0.0
        self._last_tick = -math.inf
        self._last_total = -math.inf
        self._last_state = -math.inf
        self._closed = False
        self._unsubscribe: list[Callable[[], None]] = []

        if isinstance(source, pd.DataFrame):
            self._rows = rows_from_frame(source)
            state: dict[str, Any] = {
                "conversation_id": _first_conversation_id(source),
                "agent_state": _last_agent_state(self._rows),
                "live": False,
                "connection_state": "CLOSED",
                "can_stop": False,
            }
        elif hasattr(source, "log") and hasattr(source, "on_change"):
            self._conversation = source
            self._rows = source.log.rows
            state = {
                **_conversation_state(source),
                "live": True,
                "can_stop": callable(getattr(source, "stop", None)),
            }
        else:
            raise TypeError(
                "ConversationWidget needs a Conversation or a pandas DataFrame of events, "
                f"not {type(source).__name__}"
            )
        #: Rows sent (or available to a sync) so far; ``n_events`` follows it.
        self._sent = len(self._rows)
        super().__init__(**{**state, "n_events": self._sent, "height": height, **kwargs})
        if self._conversation is not None:
            self._unsubscribe.append(self._conversation.log.subscribe(self._on_rows))
            self._unsubscribe.append(self._conversation.on_change(self._on_change))
        self.on_msg(self._handle_message)

    @traitlets.validate("height")
    def _check_height(self, proposal: dict) -> str:
        value = str(proposal["value"]).strip()
        if not _CSS_LENGTH.match(value):
            raise traitlets.TraitError(
                f"height must be a CSS length such as '32em', '600px' or '70vh', not {value!r}"
            )
        return value

    # --- kernel -> front end ----------------------------------------------------------------

    def _on_rows(self, start: int, rows: list) -> None:
        """EventLog listener: schedule a tick (the rows themselves are read from the log)."""
        self._request_tick()

    def _on_change(self) -> None:
        """Conversation ``on_change`` listener: schedule a tick that copies the state."""
        self._request_tick()

    def _request_tick(self, delay: float | None = None) -> None:
        if self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._tick()
            return
        now = loop.time()
        if delay is None:
            delay = self._last_tick + self.flush_interval - now
        when = now + max(0.0, delay)
        if self._tick_handle is not None:
            if self._tick_when <= when:
                return
            self._tick_handle.cancel()
        self._tick_when = when
        self._tick_handle = loop.call_at(when, self._tick)

    def _tick(self) -> None:
        """Send new rows (one message) and changed state (one trait update)."""
        self._tick_handle = None
        if self._closed:
            return
        try:
            now = asyncio.get_running_loop().time()
            looping = True
        except RuntimeError:
            now, looping = time.monotonic(), False
        self._last_tick = now
        more = self._send_new_rows()
        state = self._changed_state()
        state_due = bool(state) and (not looping or now - self._last_state >= self.state_interval)
        total_due = self.n_events != self._sent and (
            not looping or state_due or now - self._last_total >= self.total_interval
        )
        if state_due or total_due:
            with self.hold_sync():
                if state_due:
                    for name, value in state.items():
                        setattr(self, name, value)
                    self._last_state = now
                if self.n_events != self._sent:
                    self.n_events = self._sent
                    self._last_total = now
        if more:
            self._request_tick()
            return
        waits = []
        if state and not state_due:
            waits.append(self._last_state + self.state_interval - now)
        if self.n_events != self._sent:
            waits.append(self._last_total + self.total_interval - now)
        if waits:
            self._request_tick(min(waits))

    def _send_new_rows(self) -> bool:
        """Send rows[sent:] as one message of at most a chunk; return whether rows remain."""
        end = len(self._rows)
        if end <= self._sent:
            return False
        start = self._sent
        rows, stop = self._chunk(start, end)
        self._sent = stop
        self._send_rows_message(start, rows, total=stop)
        return stop < end

    def _chunk(self, start: int, end: int) -> tuple[list[list[Any]], int]:
        """Project rows from ``start`` until ``end``, a chunk's row count or its characters."""
        rows: list[list[Any]] = []
        chars = 0
        position = start
        while position < end and len(rows) < self.chunk_rows and chars < self.chunk_chars:
            # Read a block at a time: rows settled into Arrow are read back a slice at once.
            block = self._rows[position : min(end, position + self.chunk_rows - len(rows), position + 256)]
            for stored in block:
                row = project_row(stored, self.max_text)
                rows.append(row)
                position += 1
                chars += 64 + sum(len(v) for v in row if isinstance(v, str))
                if chars >= self.chunk_chars:
                    break
        return rows, position

    def _send_rows_message(self, start: int, rows: list[list[Any]], *, total: int) -> None:
        self.send(
            {"type": "rows", "start": start, "total": total, "fields": list(WIRE_FIELDS), "rows": rows}
        )

    def _changed_state(self) -> dict[str, Any]:
        if self._conversation is None:
            return {}
        return {
            name: value
            for name, value in _conversation_state(self._conversation).items()
            if getattr(self, name) != value
        }

    def flush(self) -> None:
        """Send every pending row and the current state now (without waiting for a tick)."""
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        while self._send_new_rows():
            pass
        with self.hold_sync():
            for name, value in self._changed_state().items():
                setattr(self, name, value)
            self.n_events = self._sent

    def _send_rows(self, start: int, end: int, *, total: int) -> int:
        """Send rows[start:end] in chunks (at least one message); return the number of messages."""
        messages = 0
        position = start
        while position < end or messages == 0:
            rows, stop = self._chunk(position, end)
            self._send_rows_message(position, rows, total=total)
            position = stop
            messages += 1
        return messages

    # --- front end -> kernel ----------------------------------------------------------------

    def _handle_message(self, _widget: Any, content: Any, _buffers: Any = None) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "sync":
            have = content.get("have")
            have = have if isinstance(have, int) and not isinstance(have, bool) and have >= 0 else 0
            have = min(have, self._sent)
            self._send_rows(have, self._sent, total=self._sent)
        elif kind in ("send_message", "pause", "resume", "stop"):
            self._act(kind, content)
        else:
            logger.debug("ignored a widget message of type %r", kind)

    def _act(self, kind: str, content: dict) -> None:
        conv = self._conversation
        if conv is None:
            self.error = READ_ONLY_ERROR
            return
        try:
            if kind == "send_message":
                text = content.get("text")
                if not isinstance(text, str) or not text.strip():
                    return
                result = conv.send_message(text)
            elif kind == "pause":
                result = conv.pause()
            elif kind == "resume":
                result = conv.resume()
            else:
                stop = getattr(conv, "stop", None)
                if not callable(stop):
                    self.error = NO_STOP_ERROR
                    return
                result = stop()
        except Exception as exc:  # a failing call must not break the comm handler
            logger.exception("widget %s failed", kind)
            self.error = f"{kind.replace('_', ' ')} failed: {exc}"
            return
        if isinstance(result, asyncio.Future):
            result.add_done_callback(lambda task, kind=kind: self._report(kind, task))

    def _report(self, kind: str, task: asyncio.Future) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.error = f"{kind.replace('_', ' ')} failed: {exc}"

    # --- static export ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The traits and every row the kernel holds, as :meth:`to_html` embeds them."""
        rows = [project_row(row, self.max_text) for row in list(self._rows)]
        traits = {
            name: getattr(self, name)
            for name in ("conversation_id", "agent_state", "connection_state", "reconnects", "error", "height")
        }
        traits["n_events"] = len(rows)
        traits["live"] = False
        return {"traits": traits, "fields": list(WIRE_FIELDS), "rows": rows}

    def to_html(self, path: str | pathlib.Path | None = None, *, title: str | None = None) -> str:
        """A self-contained HTML page that shows the conversation without a kernel or network.

        The page embeds the widget's script and styles and every row (as :meth:`snapshot`); it
        follows the browser's light or dark preference. Event text is data (JSON in a
        ``<script type="application/json">`` with ``<``, ``>`` and ``&`` escaped), rendered by the
        same sanitizing front end as in Jupyter.

        Args:
            path: when given, the page is also written there (UTF-8).
            title: the page title; default ``"OpenHands conversation <id>"``.

        Returns:
            The HTML text.
        """
        data = _script_json(self.snapshot())
        bundle = base64.b64encode((_STATIC / "widget.js").read_bytes()).decode("ascii")
        css = (_STATIC / "widget.css").read_text(encoding="utf-8")
        if "</" in css:  # our own stylesheet never has it; it would end the <style> element
            raise ValueError("widget.css contains '</'")
        title = title or f"OpenHands conversation {self.conversation_id}".strip()
        page = _HTML_TEMPLATE.format(
            title=html.escape(title),
            page_css=_PAGE_CSS,
            widget_css=css,
            data=data,
            bundle=bundle,
        )
        if path is not None:
            pathlib.Path(path).write_text(page, encoding="utf-8")
        return page

    # --- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop following the conversation and close the widget."""
        self._closed = True
        for unsubscribe in self._unsubscribe:
            try:
                unsubscribe()
            except Exception:  # pragma: no cover - best effort
                logger.debug("unsubscribe failed", exc_info=True)
        self._unsubscribe.clear()
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        super().close()


def _conversation_state(conv: ConversationLike) -> dict[str, Any]:
    return {
        "conversation_id": str(conv.conversation_id or ""),
        "agent_state": conv.agent_state,
        "connection_state": conv.connection_state or "CLOSED",
        "reconnects": int(conv.reconnects or 0),
        "error": conv.error,
    }


def _last_agent_state(rows: Sequence[dict[str, Any]]) -> str | None:
    """The agent state the conversation ended in, as far as its rows tell."""
    for row in reversed(rows):
        if row.get("agent_state"):
            return row["agent_state"]
    return None


def _first_conversation_id(df: pd.DataFrame) -> str:
    if "conversation_id" not in df.columns:
        return ""
    ids = df["conversation_id"].dropna()
    return str(_jsonable(ids.iloc[0])) if len(ids) else ""


def _script_json(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>``, ``&`` can end it."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


_PAGE_CSS = """
:root { color-scheme: light dark; }
body { margin: 0; padding: 24px; background: var(--jp-layout-color0, #fafafa);
  color: var(--jp-content-font-color1, rgba(0,0,0,.87)); font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
.ohnb-page { max-width: 1100px; margin: 0 auto; }
.ohnb-page h1 { font-size: 1.2em; font-weight: 600; margin: 0 0 12px; }
@media (prefers-color-scheme: dark) {
  :root {
    --jp-layout-color0: #111; --jp-layout-color1: #212121; --jp-layout-color2: #424242;
    --jp-cell-editor-background: #2a2a2a; --jp-input-background: #2a2a2a;
    --jp-content-font-color0: #fff; --jp-content-font-color1: #fff;
    --jp-content-font-color2: rgba(255,255,255,.7); --jp-content-font-color3: rgba(255,255,255,.5);
    --jp-ui-font-color1: rgba(255,255,255,.87); --jp-ui-inverse-font-color1: rgba(0,0,0,.8);
    --jp-border-color1: #616161; --jp-border-color2: #424242; --jp-input-border-color: #616161;
    --jp-brand-color1: #2196f3; --jp-success-color1: #4caf50; --jp-warn-color1: #ff9800;
    --jp-error-color1: #f44336; --jp-info-color1: #00bcd4;
    --jp-search-unselected-match-background-color: rgba(255,255,255,.35);
    --jp-search-unselected-match-color: #fff;
  }
  .ohnb-page .ohnb-widget { --ohnb-term-bg: #14161a; }
}
"""

_HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ohnb ConversationWidget.to_html">
<title>{title}</title>
<style>{page_css}</style>
<style>{widget_css}</style>
</head>
<body>
<main class="ohnb-page">
<h1>{title}</h1>
<div id="ohnb-root"></div>
<noscript>This page needs JavaScript to show the conversation.</noscript>
</main>
<script type="application/json" id="ohnb-data">{data}</script>
<script type="application/octet-stream" id="ohnb-bundle">{bundle}</script>
<script type="module">
const b64 = document.getElementById("ohnb-bundle").textContent.trim();
const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const url = URL.createObjectURL(new Blob([bytes], {{ type: "text/javascript" }}));
const widget = await import(url);
URL.revokeObjectURL(url);
const snapshot = JSON.parse(document.getElementById("ohnb-data").textContent);
widget.mountStatic(document.getElementById("ohnb-root"), snapshot);
</script>
</body>
</html>
"""
