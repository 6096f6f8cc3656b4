"""ConversationWidget: an OpenHands conversation in a notebook output (anywidget).

The widget shows a live :class:`ohnb.conversation.Conversation` or a stored one (a DataFrame with the
columns of ``ohnb.schema.EVENT_COLUMNS``). Its front end is ``js/src/`` bundled into
``ohnb/static/widget.js``.

Sync protocol (custom messages sent before a view exists are lost, traits are not):

- Traits hold the small state: ``conversation_id``, ``agent_state``, ``connection_state``,
  ``reconnects``, ``error``, ``n_events`` (rows the kernel has sent or can send) and ``live``.
- Rows travel as deltas in custom messages, kernel -> front end:
  ``{"type": "rows", "start": int, "rows": [...], "total": int}`` (``rows`` are
  ``rows[start:start + len(rows)]`` of the log, projected by :func:`project_row`; ``total`` is
  ``n_events`` after the message).
- Front end -> kernel: ``{"type": "sync", "have": int}`` asks for ``rows[have:n_events]``; the reply
  is one or more ``rows`` messages of at most :attr:`ConversationWidget.chunk_rows` rows (always at
  least one message, possibly with no rows, so the front end knows it was answered). The front end
  sends it when its model initializes, when a delta starts past what it holds, and when ``n_events``
  says the kernel holds more.
- Front end -> kernel: ``{"type": "send_message", "text": str}``, ``{"type": "pause"}``,
  ``{"type": "resume"}`` call the conversation's methods; a stored source sets ``error`` instead.

New rows of a live conversation are not sent one by one: the widget notes that the log grew and
flushes ``rows[sent:]`` at most every :attr:`ConversationWidget.flush_interval` seconds (with the
running event loop's ``call_later``; synchronously when no loop runs), then updates ``n_events``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import pathlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import anywidget
import pandas as pd
import traitlets

logger = logging.getLogger("ohnb.widget")

_STATIC = pathlib.Path(__file__).parent / "static"

#: The columns of a row the browser gets, in this order, plus ``i`` (its position) first.
ROW_FIELDS: tuple[str, ...] = (
    "id",
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
    "cause",
    "delivery",
    "hidden",
    "parse_error",
)

#: Text fields cut to :data:`MAX_TEXT` characters before they go to the browser.
TEXT_FIELDS: tuple[str, ...] = ("message", "content", "thought", "parse_error")

#: Longest text (characters) of one field sent to the browser; longer text is cut and flagged.
MAX_TEXT = 20_000

READ_ONLY_ERROR = (
    "This widget shows a stored conversation: it cannot send messages, pause or resume."
)


class ConversationLike(Protocol):
    """What the widget needs of ``ohnb.conversation.Conversation``."""

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


def project_row(i: int, row: dict[str, Any], max_text: int = MAX_TEXT) -> dict[str, Any]:
    """The browser's copy of one event row: ``i`` plus :data:`ROW_FIELDS`, JSON-safe, long text cut.

    ``raw`` and every other column stay in the kernel. Text fields longer than ``max_text`` are cut
    and listed in ``truncated`` (field -> full length); ``truncated`` is None when nothing was cut.
    """
    out: dict[str, Any] = {"i": i}
    truncated: dict[str, int] | None = None
    for name in ROW_FIELDS:
        value = _jsonable(row.get(name))
        if name in TEXT_FIELDS and isinstance(value, str) and len(value) > max_text:
            truncated = truncated or {}
            truncated[name] = len(value)
            value = value[:max_text]
        out[name] = value
    out["truncated"] = truncated
    return out


def _jsonable(value: Any) -> Any:
    """None for missing values (None, NA, NaT, NaN); ISO strings for times; Python scalars."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "isoformat"):  # datetime, pandas Timestamp
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return str(value)


def rows_from_frame(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The :data:`ROW_FIELDS` of a DataFrame's rows as plain dicts (NA -> None, times -> ISO strings).

    Missing columns become None; ``raw`` and other columns are not read.
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
    return [{name: columns[name][k] for name in ROW_FIELDS} for k in range(n)]


class ConversationWidget(anywidget.AnyWidget):
    """Shows an OpenHands conversation: a live ``Conversation`` or a stored DataFrame of events.

    Args:
        source: a :class:`ohnb.conversation.Conversation` (live: follows its log and state, and the
            message box, Pause and Resume act on it) or a ``pandas.DataFrame`` with the columns of
            ``ohnb.schema.EVENT_COLUMNS`` (read-only).
        flush_interval: seconds between two sends of new rows of a live conversation.
        chunk_rows: most rows in one message.
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

    def __init__(
        self,
        source: Any,
        *,
        flush_interval: float = 0.05,
        chunk_rows: int = 500,
        max_text: int = MAX_TEXT,
        **kwargs: Any,
    ) -> None:
        self.flush_interval = flush_interval
        self.chunk_rows = max(1, int(chunk_rows))
        #: Rough character budget of one message (text fields), so big rows come in smaller chunks.
        self.chunk_chars = 2_000_000
        self.max_text = max_text
        self._conversation: ConversationLike | None = None
        self._rows: Sequence[dict[str, Any]]
        self._flush_handle: asyncio.TimerHandle | None = None
        self._unsubscribe: list[Callable[[], None]] = []

        if isinstance(source, pd.DataFrame):
            self._rows = rows_from_frame(source)
            state: dict[str, Any] = {
                "conversation_id": _first_conversation_id(source),
                "agent_state": _last_agent_state(self._rows),
                "live": False,
                "connection_state": "CLOSED",
            }
        elif hasattr(source, "log") and hasattr(source, "on_change"):
            self._conversation = source
            self._rows = source.log.rows
            state = {**_conversation_state(source), "live": True}
        else:
            raise TypeError(
                "ConversationWidget needs a Conversation or a pandas DataFrame of events, "
                f"not {type(source).__name__}"
            )
        #: Rows sent (or available to a sync) so far; ``n_events`` follows it.
        self._sent = len(self._rows)
        super().__init__(**{**state, "n_events": self._sent, **kwargs})
        if self._conversation is not None:
            self._unsubscribe.append(self._conversation.log.subscribe(self._on_rows))
            self._unsubscribe.append(self._conversation.on_change(self._sync_state))
        self.on_msg(self._handle_message)

    # --- kernel -> front end ----------------------------------------------------------------

    def _sync_state(self) -> None:
        """Conversation ``on_change`` listener: copy its state into the traits."""
        if self._conversation is None:
            return
        with self.hold_sync():
            for name, value in _conversation_state(self._conversation).items():
                setattr(self, name, value)

    def _on_rows(self, start: int, rows: list) -> None:
        """EventLog listener: schedule a flush (the rows themselves are read from the log)."""
        if self._flush_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_handle = loop.call_later(self.flush_interval, self.flush)

    def flush(self) -> None:
        """Send the rows added since the last flush, then update ``n_events``."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        end = len(self._rows)
        if end <= self._sent:
            return
        start = self._sent
        self._sent = end
        self._send_rows(start, end, total=end)
        self.n_events = end

    def _send_rows(self, start: int, end: int, *, total: int, always: bool = False) -> int:
        """Send rows[start:end] in chunks; return the number of messages."""
        messages = 0
        position = start
        while position < end or (always and messages == 0):
            chunk: list[dict[str, Any]] = []
            chars = 0
            while position < end and len(chunk) < self.chunk_rows:
                row = project_row(position, self._rows[position], self.max_text)
                chunk.append(row)
                position += 1
                chars += sum(len(row[f]) for f in TEXT_FIELDS if isinstance(row[f], str))
                if chars >= self.chunk_chars:
                    break
            self.send(
                {"type": "rows", "start": position - len(chunk), "rows": chunk, "total": total}
            )
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
            self._send_rows(have, self._sent, total=self._sent, always=True)
        elif kind in ("send_message", "pause", "resume"):
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
            else:
                result = conv.resume()
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

    # --- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop following the conversation and close the widget."""
        for unsubscribe in self._unsubscribe:
            try:
                unsubscribe()
            except Exception:  # pragma: no cover - best effort
                logger.debug("unsubscribe failed", exc_info=True)
        self._unsubscribe.clear()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
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
