"""Declarative fault plans for the embedded V0 server (:class:`ohnb.servers.V0ReplayServer`).

A plan is a comma-separated list of steps; the server runs it on its own side, counting every
``oh_event`` it emits (replayed, live, status and injected ones, to every connection, across
restarts) from the moment the plan is applied. This module is pure Python (no Socket.IO): it
parses and prints plans, draws random ones for chaos tests, and builds the injected payloads.

Grammar (:data:`GRAMMAR`, also printed by ``ohnb serve --help``)::

    plan := step ("," step)*          spaces around "," ":" "@" are ignored; "" = no faults
    step := KIND ["@" N] [":" ARG [":" ARG2]]

``@N``: fire once the server has emitted N ``oh_event``s in total since the plan was applied
(N >= 1; required for the one-shot actions). Settings (refuse, reject, slow) without ``@N``
take effect at once.

=====================  ===========================================================================
step                   effect (the real-server behavior it imitates)
=====================  ===========================================================================
``drop@N``             server-side close of every connection: Socket.IO DISCONNECT (engine.io CLOSE
                       for a connection still in its replay) - the server ends the session
``kill@N``             every TCP connection aborted without goodbye (queued frames flushed first) -
                       a crashed process or a proxy cutting the connection
``freeze@N:S``         the server stops answering for S seconds (its event-loop thread is blocked):
                       no event, no engine.io ping, no handshake - SIGSTOP / a cut network path;
                       needs thread mode (``start_in_thread``)
``restart@N[:P]``      abrupt stop (like ``kill``), P seconds with the port closed (default 0), start
                       again on the same port with the same store - a restarted server
``malformed@N[:V]``    inject one malformed payload, variant V (default ``dict``), see
                       :data:`MALFORMED_VARIANTS`
``oversized@N[:B]``    inject a ``run`` observation (integer id, stored) whose content is B bytes
                       (default 5M; suffix k = KiB, M = MiB)
``refuse[@N][:K[:early]]``  the next K connects (default 1) are refused with Socket.IO
                       ``connect_error {"message": "Failed to join conversation"}`` after their replay
                       (``early``: before it) - final for ohnb's client
``reject[@N][:K[:S]]`` the next K connects (default 1) fail at the HTTP/websocket handshake with
                       status S (default 503) - a transient failure (overloaded server or proxy)
``slow[@N]:D``         wait D seconds between replayed events from then on (0 = off)
=====================  ===========================================================================

Example: ``drop@50,kill@120,freeze@200:3,refuse:2,restart@250:1.5,slow:0.01,malformed@30,oversized@60``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "ACTION_KINDS",
    "DEFAULT_OVERSIZED_BYTES",
    "FAULT_KINDS",
    "GRAMMAR",
    "MALFORMED_VARIANTS",
    "RANDOM_KINDS",
    "SETTING_KINDS",
    "FaultPlan",
    "FaultStep",
    "malformed_payload",
    "oversized_payload",
    "random_plan",
]

#: One-shot actions: fire once at ``@N`` (required, N >= 1).
ACTION_KINDS = ("drop", "kill", "freeze", "restart", "malformed", "oversized")
#: Settings: change how the next connects / replays are served; ``@N`` optional (default: at once).
SETTING_KINDS = ("refuse", "reject", "slow")
FAULT_KINDS = ACTION_KINDS + SETTING_KINDS
#: What :func:`random_plan` draws by default: every kind except ``refuse`` (a Socket.IO refusal is
#: final for ohnb's client, so a chaos run could not recover from it).
RANDOM_KINDS = ("drop", "kill", "freeze", "restart", "malformed", "oversized", "reject", "slow")

#: 5 MiB: above the 4 MiB ``max_msg_size`` that aiohttp (python-socketio's asyncio client) accepts
#: by default, so a default python-socketio client drops the connection ("transport error").
DEFAULT_OVERSIZED_BYTES = 5 * 1024 * 1024

#: Malformed payload variants (``malformed@N:VARIANT``, :func:`malformed_payload`):
#:
#: - ``dict``: a dict with an integer id (stored, so replays carry it) and wrongly typed fields
#:   (timestamp not a time, source a number, action a list, args a string, cause a string);
#: - ``unknown``: a well-formed event of an action type no OpenHands version has (stored);
#: - ``noid``: a message action without ``id``; ``badid``: ``"id": "seven"`` (neither stored);
#: - ``string``, ``list``, ``number``, ``null``: an ``oh_event`` whose argument is not a dict;
#: - ``empty``: an ``oh_event`` with no argument at all (``42["oh_event"]``);
#: - ``raw``: a broken Socket.IO frame, ``42["oh_event",{"id":`` (invalid JSON). python-socketio's
#:   client fails to decode it in a background task (asyncio logs "Task exception was never
#:   retrieved", JSONDecodeError), drops it and stays connected: the client sees nothing;
#: - ``garbage``: a frame that is not even engine.io (``ohnb garbage``); python-engineio's client
#:   aborts the connection ("Unexpected error decoding packet"): ``disconnect`` with
#:   ``"transport error"``.
MALFORMED_VARIANTS = (
    "dict",
    "unknown",
    "noid",
    "badid",
    "string",
    "list",
    "number",
    "null",
    "empty",
    "raw",
    "garbage",
)

#: Sentinel payload: send ``oh_event`` with no argument (``malformed`` variant ``empty``).
NO_ARGUMENT: Any = object()

GRAMMAR = """\
fault plan (--faults): comma-separated steps, STEP := KIND[@N][:ARG[:ARG2]]
  @N = once the server has emitted N oh_events in total (replay + live, all connections)
  drop@N               server-side disconnect of every connection ("server disconnect")
  kill@N               abort every TCP connection, no goodbye ("transport error")
  freeze@N:S           stop answering for S seconds: no events, no pings, no handshakes (SIGSTOP)
  restart@N[:P]        kill, keep the port closed P seconds (default 0), start again, same store
  malformed@N[:V]      inject a malformed oh_event, V = dict (default), unknown, noid, badid,
                       string, list, number, null, empty, raw (broken JSON frame),
                       garbage (not engine.io: the client drops the connection)
  oversized@N[:B]      inject a stored run observation of B bytes (default 5M; k/M suffixes)
  refuse[@N][:K[:early]]  refuse the next K connects (default 1) with "Failed to join
                       conversation" after the replay (early: before it); final for ohnb
  reject[@N][:K[:S]]   fail the next K handshakes (default 1) with HTTP status S (default 503)
  slow[@N]:D           D seconds between replayed events (0 = off)
  refuse, reject and slow without @N apply at once.
example: drop@50,kill@120,freeze@200:3,refuse:2,restart@250:1.5,slow:0.01,malformed@30,oversized@60
"""

_STEP_RE = re.compile(
    r"^(?P<kind>[A-Za-z_]+)\s*(?:@\s*(?P<at>[^:]*?))?\s*(?::\s*(?P<args>.*))?$", re.DOTALL
)
_SIZE_RE = re.compile(r"^(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[kKmM]?)$")


def _fmt_num(value: float) -> str:
    return f"{value:g}" if value != int(value) or abs(value) >= 1e16 else str(int(value))


def _fmt_size(nbytes: int) -> str:
    if nbytes and nbytes % (1024 * 1024) == 0:
        return f"{nbytes // (1024 * 1024)}M"
    if nbytes and nbytes % 1024 == 0:
        return f"{nbytes // 1024}k"
    return str(nbytes)


@dataclass(frozen=True)
class FaultStep:
    """One step of a :class:`FaultPlan`.

    Attributes:
        kind: one of :data:`FAULT_KINDS`.
        at: fire once the server has emitted this many ``oh_event``s since the plan was applied;
            0 (settings only) = when the plan is applied.
        value: seconds for ``freeze`` (> 0), ``restart`` (pause >= 0) and ``slow`` (per replayed
            event, >= 0); a count for ``refuse``/``reject`` (>= 1); bytes for ``oversized``;
            None for ``drop``, ``kill``, ``malformed``.
        option: ``malformed`` variant; ``reject`` HTTP status (as text); ``"early"`` for a
            ``refuse`` before the replay; None otherwise.
    """

    kind: str
    at: int = 0
    value: float | None = None
    option: str | None = None

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise ValueError(f"fault step {self.kind!r}: {problem}")

    def _problem(self) -> str | None:
        kind, at, value, option = self.kind, self.at, self.value, self.option
        if kind not in FAULT_KINDS:
            return f"unknown kind; expected one of {', '.join(FAULT_KINDS)}"
        if not isinstance(at, int) or isinstance(at, bool) or at < 0:
            return f"@N must be an integer >= 0, got {at!r}"
        if kind in ACTION_KINDS and at < 1:
            return f"{kind} needs @N with N >= 1 (the number of oh_events after which it fires)"
        if kind in ("drop", "kill"):
            if value is not None or option is not None:
                return f"{kind} takes no argument"
        elif kind == "freeze":
            if value is None or not value > 0 or option is not None:
                return "freeze needs :SECONDS > 0 (e.g. freeze@200:3)"
        elif kind == "restart":
            if value is None or not value >= 0 or option is not None:
                return "restart takes an optional pause in seconds >= 0 (e.g. restart@250:1.5)"
        elif kind == "slow":
            if value is None or not value >= 0 or option is not None:
                return "slow needs :SECONDS >= 0 per replayed event (e.g. slow:0.01; 0 = off)"
        elif kind == "malformed":
            if value is not None or option not in MALFORMED_VARIANTS:
                return f"malformed variant must be one of {', '.join(MALFORMED_VARIANTS)}"
        elif kind == "oversized":
            if value is None or value != int(value) or value < 0 or option is not None:
                return "oversized takes a size in bytes >= 0 (e.g. oversized@60:5M)"
        elif kind in ("refuse", "reject"):
            if value is None or value != int(value) or value < 1:
                return f"{kind} takes a count of connects >= 1 (e.g. {kind}:2)"
            if kind == "refuse" and option not in (None, "early"):
                return f"refuse's second argument can only be 'early', got {option!r}"
            if kind == "reject" and option is not None and not (
                option.isdigit() and 400 <= int(option) <= 599
            ):
                return f"reject's HTTP status must be 400..599, got {option!r}"
        return None

    @property
    def is_action(self) -> bool:
        """True for the one-shot actions (:data:`ACTION_KINDS`)."""
        return self.kind in ACTION_KINDS

    @property
    def status(self) -> int:
        """HTTP status of a ``reject`` step (503 unless given)."""
        return int(self.option) if self.kind == "reject" and self.option else 503

    @property
    def count(self) -> int:
        """Number of connects of a ``refuse``/``reject`` step."""
        return int(self.value or 0)

    def __str__(self) -> str:
        out = self.kind + (f"@{self.at}" if self.at else "")
        args: list[str] = []
        if self.kind == "oversized":
            if self.value != DEFAULT_OVERSIZED_BYTES:
                args.append(_fmt_size(int(self.value or 0)))
        elif self.kind == "malformed":
            if self.option != "dict":
                args.append(str(self.option))
        elif self.kind in ("refuse", "reject"):
            args.append(str(self.count))
            if self.option is not None:
                args.append(self.option)
        elif self.kind == "restart":
            if self.value:
                args.append(_fmt_num(self.value))
        elif self.value is not None:
            args.append(_fmt_num(self.value))
        return out + "".join(f":{a}" for a in args)

    @classmethod
    def parse(cls, text: str) -> FaultStep:
        """Parse one step (``kind[@N][:ARG[:ARG2]]``).

        Raises:
            ValueError: with the reason, e.g. an unknown kind or a missing argument.
        """
        src = text.strip()
        m = _STEP_RE.match(src)
        if not m or not src:
            raise ValueError(f"fault step {text!r}: expected KIND[@N][:ARG[:ARG2]]")
        kind = m.group("kind").lower()
        if kind not in FAULT_KINDS:
            raise ValueError(
                f"fault step {text!r}: unknown kind {kind!r}; expected one of "
                f"{', '.join(FAULT_KINDS)}"
            )
        at = 0
        if m.group("at") is not None:
            raw_at = m.group("at").strip()
            if not raw_at.isdigit():
                raise ValueError(
                    f"fault step {text!r}: @N must be a whole number of oh_events, got {raw_at!r}"
                )
            at = int(raw_at)
        args = [] if m.group("args") is None else [a.strip() for a in m.group("args").split(":")]
        if len(args) > 2 or any(a == "" for a in args):
            raise ValueError(f"fault step {text!r}: expected at most two non-empty :ARGs")
        try:
            value, option = _parse_args(kind, args)
            return cls(kind, at, value, option)
        except ValueError as exc:
            raise ValueError(f"fault step {text!r}: {_reason(exc)}") from None


def _reason(exc: ValueError) -> str:
    msg = str(exc)
    return msg.split(": ", 1)[1] if msg.startswith("fault step ") else msg


def _number(kind: str, raw: str, what: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{kind} needs {what}, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{kind} needs {what}, got {raw!r}")
    return value


def _parse_args(kind: str, args: list[str]) -> tuple[float | None, str | None]:
    first = args[0] if args else None
    second = args[1] if len(args) > 1 else None
    if kind in ("drop", "kill"):
        if args:
            raise ValueError(f"{kind} takes no argument")
        return None, None
    if kind == "malformed":
        if second is not None:
            raise ValueError("malformed takes one argument, the variant")
        return None, (first or "dict").lower()
    if second is not None and kind not in ("refuse", "reject"):
        raise ValueError(f"{kind} takes one argument")
    if kind == "freeze":
        if first is None:
            raise ValueError("freeze needs :SECONDS > 0 (e.g. freeze@200:3)")
        return _number(kind, first, "a duration in seconds"), None
    if kind == "restart":
        return (0.0 if first is None else _number(kind, first, "a pause in seconds")), None
    if kind == "slow":
        if first is None:
            raise ValueError("slow needs :SECONDS per replayed event (e.g. slow:0.01; 0 = off)")
        return _number(kind, first, "seconds per replayed event"), None
    if kind == "oversized":
        if first is None:
            return float(DEFAULT_OVERSIZED_BYTES), None
        m = _SIZE_RE.match(first)
        if not m:
            raise ValueError(f"oversized needs a size in bytes (e.g. 5M, 512k, 1000), not {first!r}")
        scale = {"": 1, "k": 1024, "m": 1024 * 1024}[m.group("unit").lower()]
        return float(int(float(m.group("num")) * scale)), None
    # refuse / reject
    count = 1.0
    if first is not None:
        if not first.isdigit():
            raise ValueError(f"{kind} takes a count of connects >= 1, got {first!r}")
        count = float(first)
    return count, (second.lower() if second is not None else None)


@dataclass(frozen=True)
class FaultPlan:
    """An ordered set of :class:`FaultStep`; ``str(plan)`` gives back a spec that parses to an
    equal plan.

    Build one with :meth:`parse` (``FaultPlan.parse("kill@120,freeze@200:3")``), from steps
    (``FaultPlan((FaultStep("kill", 120),))``) or with :func:`random_plan`; hand it to
    ``V0ReplayServer(faults=...)``, :meth:`V0ReplayServer.apply` or ``ohnb serve --faults``.
    """

    steps: tuple[FaultStep, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        for step in self.steps:
            if not isinstance(step, FaultStep):
                raise TypeError(f"FaultPlan steps must be FaultStep, got {step!r}")

    @classmethod
    def parse(cls, spec: str | FaultPlan | Iterable[FaultStep] | None) -> FaultPlan:
        """Parse a spec string (grammar: :data:`GRAMMAR`); a plan or steps pass through;
        ``None``/``""`` is the empty plan.

        Raises:
            ValueError: naming the bad step and why, e.g.
                ``fault plan 'kill@x': fault step 'kill@x': @N must be a whole number ...``.
        """
        if spec is None:
            return cls()
        if isinstance(spec, FaultPlan):
            return spec
        if not isinstance(spec, str):
            return cls(tuple(spec))
        if not spec.strip():
            return cls()
        steps = []
        for n, part in enumerate(spec.split(","), 1):
            if not part.strip():
                raise ValueError(f"fault plan {spec!r}: step {n} is empty (stray comma?)")
            try:
                steps.append(FaultStep.parse(part))
            except ValueError as exc:
                raise ValueError(f"fault plan {spec!r}: {exc}") from None
        return cls(tuple(steps))

    def __str__(self) -> str:
        return ",".join(str(s) for s in self.steps)

    def __iter__(self) -> Iterator[FaultStep]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __bool__(self) -> bool:
        return bool(self.steps)

    @property
    def kinds(self) -> set[str]:
        """The kinds of fault in this plan."""
        return {s.kind for s in self.steps}

    @property
    def needs_thread_mode(self) -> bool:
        """True when the plan freezes the server (only possible in thread mode)."""
        return "freeze" in self.kinds


def random_plan(
    seed: int | None,
    n_events: int,
    kinds: Sequence[str] = RANDOM_KINDS,
    *,
    per_kind: int = 1,
    max_freeze: float = 1.0,
    max_pause: float = 0.5,
    max_slow: float = 0.005,
    max_reject: int = 2,
    oversized_bytes: int = 3 * 1024 * 1024,
    malformed_variants: Sequence[str] = MALFORMED_VARIANTS,
) -> FaultPlan:
    """A seeded random plan for chaos tests: ``per_kind`` faults of each kind in ``kinds``, at
    points drawn uniformly from ``1..n_events`` (``n_events``: how many ``oh_event``s a clean
    run emits, history replay plus live, so the points fall in both phases).

    Every drawn fault is recoverable for a client that reconnects and resumes:

    - ``freeze`` lasts ``uniform(0.05, max_freeze)`` s; ``restart`` pauses ``uniform(0,
      max_pause)`` s; ``reject`` fails ``1..max_reject`` connects (HTTP 503, transient);
    - ``slow`` sets ``uniform(0.0005, max_slow)`` s per replayed event and a later step turns
      it off again (``slow@M:0``), so the run stays short;
    - ``oversized`` events carry ``oversized_bytes`` (default 3 MiB: under the 4 MiB frame limit
      of a default python-socketio client; with 5 MiB such a client can never get past the
      stored event, see :data:`DEFAULT_OVERSIZED_BYTES`);
    - ``refuse`` is not drawn unless listed in ``kinds`` (a Socket.IO refusal is final for ohnb).

    Same arguments and seed give the same plan (``str(plan)`` shows it, for the failure message).
    With ``freeze`` among the kinds the server must run in thread mode (``start_in_thread``).
    ``n_events``: :attr:`V0ReplayServer.clean_run_events` of the server the plan is for.

    Raises:
        ValueError: unknown kind or variant, ``n_events < 1`` or bad bounds.
    """
    if n_events < 1:
        raise ValueError(f"n_events must be >= 1, got {n_events}")
    if per_kind < 1:
        raise ValueError(f"per_kind must be >= 1, got {per_kind}")
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown}; expected some of {FAULT_KINDS}")
    bad_variants = [v for v in malformed_variants if v not in MALFORMED_VARIANTS]
    if bad_variants or not malformed_variants:
        raise ValueError(f"malformed_variants must be some of {', '.join(MALFORMED_VARIANTS)}")
    if not (max_freeze >= 0.05 and max_pause >= 0 and max_slow >= 0.0005 and max_reject >= 1):
        raise ValueError(
            "bounds: max_freeze >= 0.05 s, max_pause >= 0 s, max_slow >= 0.0005 s, max_reject >= 1"
        )
    rng = random.Random(seed)

    def point() -> int:
        return rng.randint(1, n_events)

    steps: list[tuple[int, int, FaultStep]] = []  # (at, draw order, step): stable, readable order
    for kind in dict.fromkeys(kinds):
        for _ in range(per_kind):
            at = point()
            if kind in ("drop", "kill"):
                new = [FaultStep(kind, at)]
            elif kind == "freeze":
                new = [FaultStep(kind, at, round(rng.uniform(0.05, max_freeze), 3))]
            elif kind == "restart":
                new = [FaultStep(kind, at, round(rng.uniform(0.0, max_pause), 3))]
            elif kind == "malformed":
                new = [FaultStep(kind, at, option=rng.choice(list(malformed_variants)))]
            elif kind == "oversized":
                new = [FaultStep(kind, at, float(oversized_bytes))]
            elif kind == "reject":
                new = [FaultStep(kind, at, float(rng.randint(1, max_reject)))]
            elif kind == "refuse":
                new = [FaultStep(kind, at, 1.0)]
            else:  # slow, switched off again later
                off = rng.randint(at, max(at, n_events)) + 1
                delay = round(rng.uniform(0.0005, max_slow), 4)
                new = [FaultStep(kind, at, delay), FaultStep(kind, off, 0.0)]
            steps.extend((s.at, len(steps) + i, s) for i, s in enumerate(new))
    steps.sort(key=lambda t: (t[0], t[1]))
    return FaultPlan(tuple(s for _, _, s in steps))


# ----------------------------------------------------------------------------------------------
# payloads


def malformed_payload(variant: str, event_id: int, now: datetime | None = None) -> tuple[Any, bool]:
    """The payload of a ``malformed`` step: ``(payload, raw)``.

    ``raw`` True: ``payload`` is the text of one websocket frame, sent as it is. ``event_id`` is
    used by the variants that carry an integer id (``dict``, ``unknown``): pass the next free id.
    :data:`NO_ARGUMENT` (variant ``empty``) means ``oh_event`` without argument.

    Raises:
        ValueError: unknown variant.
    """
    ts = (now or datetime.now()).isoformat()
    if variant == "dict":
        return {
            "id": event_id,
            "timestamp": "not a timestamp",
            "source": 7,
            "message": ["not", "a", "string"],
            "action": ["not", "a", "string"],
            "args": "not a dict",
            "cause": "nine",
            "llm_metrics": [1, 2],
        }, False
    if variant == "unknown":
        return {
            "id": event_id,
            "timestamp": ts,
            "source": "agent",
            "message": "an action type ohnb has never seen",
            "action": "ohnb_fault_unknown_action",
            "args": {"thought": "", "payload": {"nested": [1, 2, 3]}},
        }, False
    if variant == "noid":
        return {
            "timestamp": ts,
            "source": "agent",
            "message": "an event without id",
            "action": "message",
            "args": {"content": "an event without id"},
        }, False
    if variant == "badid":
        return {
            "id": "seven",
            "timestamp": ts,
            "source": "agent",
            "message": "an event whose id is not a number",
            "action": "message",
            "args": {"content": "bad id"},
        }, False
    simple: dict[str, Any] = {
        "string": "not an event",
        "list": [1, "two", {"three": 3}],
        "number": 42,
        "null": None,
        "empty": NO_ARGUMENT,
    }
    if variant in simple:
        return simple[variant], False
    if variant == "raw":
        return '42["oh_event",{"id":', True
    if variant == "garbage":
        return "ohnb garbage: not an engine.io packet", True
    raise ValueError(f"unknown malformed variant {variant!r}; expected one of {MALFORMED_VARIANTS}")


def oversized_payload(event_id: int, nbytes: int, now: datetime | None = None) -> dict[str, Any]:
    """A ``run`` observation with integer id ``event_id`` whose ``content`` is ``nbytes`` bytes
    (ASCII), like the output of a command that printed a huge file."""
    return {
        "id": event_id,
        "timestamp": (now or datetime.now()).isoformat(),
        "source": "agent",
        "message": "Command finished with exit code 0 (oversized output, ohnb fault injection)",
        "observation": "run",
        "content": "x" * int(nbytes),
        "extras": {
            "command": "cat /dev/huge",
            "metadata": {"exit_code": 0, "pid": -1, "prefix": "", "suffix": ""},
            "hidden": False,
        },
        "success": True,
    }
