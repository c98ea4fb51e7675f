"""What the binary data channels' intakes share (`landmarks`, `voice`): the counters a
session's status reports, a token-bucket rate limit, the last second's arrivals, and
refusals logged at most every few seconds per peer (a hostile or broken peer can send
thousands a second). Runs on the event loop."""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from streaming.ratelimit import TokenBucket

log = logging.getLogger(__name__)

WARN_EVERY = 5.0  # seconds between warnings about one peer's bad messages


@dataclass(kw_only=True)
class ChannelIntake:
    """The shared part; a subclass parses its own messages in `receive` after `_arrive`."""

    WHAT: ClassVar[str] = "data channel"  # the message's name in the log: "voice", ...
    RATE: ClassVar[float] = 120.0  # messages a second, sustained and in a burst

    clock: Callable[[], float] = time.monotonic
    name: str = "?"  # the peer, for the log
    received: int = 0
    accepted: int = 0
    stale: int = 0  # arrived after a newer one (the channel is unordered): not an error
    refused: int = 0  # bad messages, the flood above the rate included
    rate_limited: int = 0
    last_error: str | None = None
    # a burst of a second's worth is fine (a tab that was in the background catches up)
    _bucket: TokenBucket = field(init=False)
    _warned_at: float = -math.inf
    _unwarned: int = 0
    _arrivals: deque[float] = field(default_factory=deque)  # the last second's, pruned

    def __post_init__(self) -> None:
        self._bucket = TokenBucket(self.RATE, self.RATE)

    def _arrive(self) -> float | None:
        """Count one message; its arrival time, or None when it is over the rate."""
        now = self.clock()
        self.received += 1
        self._arrivals.append(now)
        self._prune(now)
        if not self._bucket.take(now):
            self.rate_limited += 1
            self._refuse(now, f"more than {self.RATE:.0f} messages a second")
            return None
        return now

    def per_second(self) -> float:
        """Messages that arrived over the last second."""
        self._prune(self.clock())
        return float(len(self._arrivals))

    def _prune(self, now: float) -> None:
        # on every message, so a flood keeps a second's worth at most (whoever reads them)
        a = self._arrivals
        while a and now - a[0] > 1.0:
            a.popleft()

    def stats(self) -> dict[str, Any]:
        """The counters for the session's status message."""
        return {
            "per_s": self.per_second(),
            "received": self.received,
            "accepted": self.accepted,
            "stale": self.stale,
            "refused": self.refused,
            "rate_limited": self.rate_limited,
            "last_error": self.last_error,
        }

    def _refuse(self, now: float, why: str) -> None:
        self.refused += 1
        self.last_error = why
        if now - self._warned_at >= WARN_EVERY:
            more = f" (and {self._unwarned} more since the last warning)" if self._unwarned else ""
            log.warning("peer %s: %s message dropped: %s%s", self.name, self.WHAT, why, more)
            self._warned_at = now
            self._unwarned = 0
        else:
            self._unwarned += 1
