"""Append-only event and attempt logs, with typed DataFrame snapshots.

The logs sit between the transports (which hand them normalized rows) and the consumers (widget,
analyses, exports), which read them. They run on the event loop's thread: an append is a list append
plus a set lookup, so a 20,000-event replay costs nothing visible; DataFrames are built only when asked
for, from the rows added since the last snapshot.

An event log keeps its newest rows as dicts and settles every :attr:`EventLog.settle_rows` of them
into an Arrow record batch (``ohnb.schema.batch_from_rows``). Text is then held once, as UTF-8: the
V0 server's JSON is ASCII, so ``raw`` costs a byte per character either way, but decoded messages
and terminal output with one emoji in them cost CPython 4 bytes per character. Frames take the
batches' text buffers without copying them (``string[pyarrow]`` columns).
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

import pandas as pd
import pyarrow as pa

from ohnb.schema import (
    ATTEMPT_COLUMNS,
    EVENT_COLUMNS,
    batch_from_rows,
    frame_from_batch,
    frame_from_rows,
)

#: A subscriber gets ``(start, rows)``: the position of the first new row in the log and the new rows.
Listener = Callable[[int, list], None]


class EventLog:
    """The rows of one conversation, in arrival order, each event id at most once.

    Rows are dicts keyed by ``ohnb.schema.EVENT_COLUMNS`` (see ``ohnb.normalize``). Rows without an
    ``event_id`` (status and error messages, unknown payloads) are always kept. A row whose
    ``event_id`` is already held is not stored again: it is counted in :attr:`duplicates` (the live
    and replayed copies of one V0 event can differ in ``source``, so identity is the id alone, per
    OpenHands' listen_socket.py; V1 servers repeat ids during a live run).

    :attr:`rows` is a read-only sequence of the rows in order. Each row read is a new dict with every
    column as a key (None where the stored row had no value). Once a row has settled into Arrow its
    values are those the frame shows: one that did not fit its column (an id beyond 64 bits, text
    where a number belongs) reads back as None, a number in a text column as its text.
    """

    #: Rows kept as dicts before they settle into one record batch. Small enough that the dict form of
    #: the newest rows costs little; large enough to spread a batch's fixed cost (about 2 kB of
    #: buffers, measured) and to keep frames to few chunks per column.
    settle_rows = 1024

    def __init__(self) -> None:
        self.duplicates = 0
        self.rows: Sequence[dict[str, Any]] = _Rows(self)
        self._batches: list[pa.RecordBatch] = []
        self._starts: list[int] = []  # position of each batch's first row
        self._settled = 0
        self._tail: list[dict[str, Any]] = []
        self._ids: set[Any] = set()
        self._max_id: int | None = None
        self._frame: pd.DataFrame | None = None  # the settled rows, framed
        self._framed_batches = 0
        self._listeners: list[Listener] = []

    def __len__(self) -> int:
        return self._settled + len(self._tail)

    @property
    def last_id(self) -> int | None:
        """The highest integer (V0) event id held, or None."""
        return self._max_id

    def __contains__(self, event_id: object) -> bool:
        """Whether an ``event_id`` (string) is held."""
        return event_id in self._ids

    def append(self, row: dict[str, Any]) -> bool:
        """Store ``row`` unless its id is held already; return whether it was stored.

        The log keeps ``row`` itself until it settles; the caller must not change it afterwards.
        """
        event_id = row.get("event_id")
        if event_id is not None:
            if event_id in self._ids:
                self.duplicates += 1
                return False
            self._ids.add(event_id)
            number = row.get("id")
            if type(number) is int and (self._max_id is None or number > self._max_id):
                self._max_id = number  # (an id of another type is not a V0 id: not compared)
        start = len(self)
        self._tail.append(row)
        if len(self._tail) >= self.settle_rows:
            self._settle()
        for listener in tuple(self._listeners):
            listener(start, [row])
        return True

    def column(self, name: str, start: int = 0) -> list[Any]:
        """The values of one column (an ``EVENT_COLUMNS`` name) for rows ``start`` onwards, in order.

        Cheaper than reading :attr:`rows` when one column is wanted (resume points, id sets).

        Raises:
            KeyError: ``name`` is not an event column.
        """
        if name not in EVENT_COLUMNS:
            raise KeyError(name)
        start = max(0, min(start, len(self)))
        out: list[Any] = []
        for first, batch in self._batches_from(start):
            out.extend(batch.column(name).slice(max(0, start - first)).to_pylist())
        out.extend(row.get(name) for row in self._tail[max(0, start - self._settled) :])
        return out

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(start, rows)`` after each stored row; returns a function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def to_frame(self) -> pd.DataFrame:
        """The rows as a typed DataFrame (columns and dtypes: ``ohnb.schema.EVENT_COLUMNS``).

        Frames only the batches settled since the previous call (text columns share their Arrow
        buffers) and the rows not settled yet; the result is a new frame the caller may modify.
        """
        if self._framed_batches < len(self._batches):
            parts = [frame_from_batch(b, EVENT_COLUMNS) for b in self._batches[self._framed_batches :]]
            if self._frame is not None:
                parts.insert(0, self._frame)
            self._frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
            self._framed_batches = len(self._batches)
        if self._frame is None:  # nothing settled yet
            return frame_from_rows(self._tail, EVENT_COLUMNS)
        if not self._tail:
            return self._frame.copy()
        return pd.concat([self._frame, frame_from_rows(self._tail, EVENT_COLUMNS)], ignore_index=True)

    # -- storage ------------------------------------------------------------------------------

    def _settle(self) -> None:
        batch = batch_from_rows(self._tail, EVENT_COLUMNS)
        self._batches.append(batch)
        self._starts.append(self._settled)
        self._settled += batch.num_rows
        self._tail = []

    def _batches_from(self, start: int) -> Iterator[tuple[int, pa.RecordBatch]]:
        """(first position, batch) of each batch holding rows at ``start`` or later."""
        k = max(0, bisect.bisect_right(self._starts, start) - 1)
        for first, batch in zip(self._starts[k:], self._batches[k:], strict=True):
            if first + batch.num_rows > start:
                yield first, batch

    def _slice(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Rows ``start`` to ``stop`` (positions within the log) as dicts."""
        out: list[dict[str, Any]] = []
        if start < self._settled:
            for first, batch in self._batches_from(start):
                if first >= stop:
                    break
                lo = start - first if start > first else 0
                hi = min(batch.num_rows, stop - first)
                out.extend(batch.slice(lo, hi - lo).to_pylist())
        if stop > self._settled:
            tail = self._tail[max(0, start - self._settled) : stop - self._settled]
            out.extend({name: row.get(name) for name in EVENT_COLUMNS} for row in tail)
        return out


class _Rows(Sequence):
    """:attr:`EventLog.rows`: the log's rows as a read-only sequence of dicts (a view, not a copy)."""

    __slots__ = ("_log",)

    def __init__(self, log: EventLog) -> None:
        self._log = log

    def __len__(self) -> int:
        return len(self._log)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index):
        n = len(self._log)
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step != 1:
                return self._log._slice(0, n)[index]
            return self._log._slice(start, stop) if start < stop else []
        position = operator.index(index)
        if position < 0:
            position += n
        if not 0 <= position < n:
            raise IndexError("event log index out of range")
        return self._log._slice(position, position + 1)[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        position = 0
        while position < len(self._log):  # rows appended meanwhile are read too, as a list's would be
            block = self._log._slice(position, position + self._log.settle_rows)
            yield from block
            position += len(block)

    def __repr__(self) -> str:
        return f"<EventLog rows: {len(self)}>"


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
