"""The reconnect policy: exponential backoff with full jitter, and which failures are permanent.

Both server generations use this; the transports only report what happened to an attempt.
Backoff follows AWS's "Exponential Backoff and Jitter" (full jitter): before retry ``n`` (1-based, counted
since the last successful connect) ohnb sleeps ``uniform(0, min(cap, base * 2 ** (n - 1)))`` seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class RetryPolicy:
    """When and how often ohnb reconnects.

    Attributes:
        base: seconds; the first retry waits up to this long (default 0.5 s).
        cap: seconds; no wait is longer than this (default 15 s; the OpenHands web client caps at 5 s,
            the OpenHands SDK at 30 s).
        max_retries: consecutive failed attempts after which ohnb gives up (connection state
            ``FAILED``); the count restarts after each successful connect. None retries forever, like
            the OpenHands web client. Default 10.
        connect_timeout: seconds an attempt may go without progress (no replayed event, no CONNECT)
            before it counts as a ``timeout``. The real V0 server replays the whole history before its
            CONNECT packet, so this is measured from the last replayed event, not from the start:
            a long replay that keeps arriving never times out. Default 20 s (socket.io-client's default).
        seed: seeds the jitter, for reproducible tests; None uses system randomness.
    """

    base: float = 0.5
    cap: float = 15.0
    max_retries: int | None = 10
    connect_timeout: float = 20.0
    seed: int | None = None
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0 or self.connect_timeout <= 0:
            raise ValueError("base and cap must be >= 0 and connect_timeout > 0 (seconds)")
        if self.max_retries is not None and self.max_retries < 0:
            raise ValueError("max_retries must be >= 0 or None")
        self._rng = random.Random(self.seed)

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); 0 for ``retry <= 0``."""
        if retry <= 0:
            return 0.0
        ceiling = min(self.cap, self.base * 2 ** min(retry - 1, 62))
        return self._rng.uniform(0.0, ceiling)

    def gives_up(self, failures: int) -> bool:
        """Whether ``failures`` consecutive failed attempts exhaust the retries."""
        return self.max_retries is not None and failures > self.max_retries


#: The V0 server refuses with a Socket.IO ``connect_error``; every such refusal is final: retrying a
#: wrong key or a missing conversation only repeats the refusal (openhands/server/listen_socket.py
#: raises ConnectionRefusedError for a missing conversation_id, an invalid key, missing settings and a
#: conversation it cannot join).
PERMANENT_OUTCOMES = frozenset({"refused"})


def is_permanent(outcome: str) -> bool:
    """Whether an attempt's outcome means "stop retrying"."""
    return outcome in PERMANENT_OUTCOMES
