"""Append-only event and attempt logs, with typed DataFrame snapshots.

The logs sit between the transports (which hand them normalized rows) and the consumers (widget,
analyses, exports), which read them. They are plain Python and run on the event loop's thread: an
append is a list append plus a set lookup, so a 20,000-event replay costs nothing visible; DataFrames
are built only when asked for, from the rows added since the last snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from ohnb.schema import ATTEMPT_COLUMNS, EVENT_COLUMNS, frame_from_rows

#: A subscriber gets ``(start, rows)``: the position of the first new row in the log and the new rows.
Listener = Callable[[int, list], None]


class EventLog:
    """The rows of one conversation, in arrival order, each event id at most once.

    Rows are dicts keyed by ``ohnb.schema.EVENT_COLUMNS`` (see ``ohnb.normalize``). Rows without an
    ``event_id`` (status and error messages, unknown payloads) are always kept. A row whose
    ``event_id`` is already held is not stored again: it is counted in :attr:`duplicates` (the live
    and replayed copies of one V0 event can differ in ``source``, so identity is the id alone, per
    OpenHands' listen_socket.py; V1 servers repeat ids during a live run).
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.duplicates = 0
        self._ids: set[Any] = set()
        self._max_id: int | None = None
        self._frame: pd.DataFrame | None = None
        self._framed = 0
        self._listeners: list[Listener] = []

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def last_id(self) -> int | None:
        """The highest integer (V0) event id held, or None."""
        return self._max_id

    def __contains__(self, event_id: object) -> bool:
        """Whether an ``event_id`` (string) is held."""
        return event_id in self._ids

    def append(self, row: dict[str, Any]) -> bool:
        """Store ``row`` unless its id is held already; return whether it was stored."""
        event_id = row.get("event_id")
        if event_id is not None:
            if event_id in self._ids:
                self.duplicates += 1
                return False
            self._ids.add(event_id)
            number = row.get("id")
            if number is not None and (self._max_id is None or number > self._max_id):
                self._max_id = number
        start = len(self.rows)
        self.rows.append(row)
        for listener in tuple(self._listeners):
            listener(start, [row])
        return True

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(start, rows)`` after each stored row; returns a function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def to_frame(self) -> pd.DataFrame:
        """The rows as a typed DataFrame (columns and dtypes: ``ohnb.schema.EVENT_COLUMNS``).

        Builds only the rows added since the previous call and concatenates; the result is a new
        frame the caller may modify.
        """
        if self._frame is None or self._framed < len(self.rows):
            new = frame_from_rows(self.rows[self._framed :], EVENT_COLUMNS)
            if self._frame is None or self._framed == 0:
                self._frame = new
            else:
                self._frame = pd.concat([self._frame, new], ignore_index=True)
            self._framed = len(self.rows)
        return self._frame.copy()


class AttemptLog:
    """One row per connection attempt (columns and dtypes: ``ohnb.schema.ATTEMPT_COLUMNS``).

    A row is created when the attempt starts and updated in place as it connects, receives events and
    ends, so the frame always shows the attempt under way. Times are UTC epoch seconds in the rows and
    ``datetime64[ns, UTC]`` in the frame.
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.rows)

    def start(self, *, started_at: float, delay_s: float, resume: int | str | None) -> dict[str, Any]:
        """Open the row of a new attempt and return it (the caller updates it in place).

        ``resume`` is the transport's resume point: a V0 ``latest_event_id`` (int, column
        ``resumed_from``) or a V1 ``after_timestamp`` (ISO text, column ``resumed_after``).
        """
        row: dict[str, Any] = {
            "attempt": len(self.rows) + 1,
            "started_at": started_at,
            "delay_s": delay_s,
            "resumed_from": resume if isinstance(resume, int) else None,
            "resumed_after": resume if isinstance(resume, str) else None,
            "events_replayed": 0,
            "events_live": 0,
            "duplicates": 0,
        }
        self.rows.append(row)
        return row

    def to_frame(self) -> pd.DataFrame:
        """The attempts as a typed DataFrame."""
        return frame_from_rows(self.rows, ATTEMPT_COLUMNS)
