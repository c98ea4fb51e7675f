"""A token bucket: the one rate limit every channel a stranger can talk on uses (the
`control` and `landmarks` data channels, the generation WebSocket)."""

from __future__ import annotations


class TokenBucket:
    """`rate` events a second on average, bursts of up to `burst` (a tab back from the
    background may catch up; a sustained flood is cut to the rate). Time is passed in, so
    callers use their own clock and tests need no sleeping."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self.tokens = float(burst)
        self._at: float | None = None

    def take(self, now: float) -> bool:
        """One event at `now`: True when within the rate, False when it is to be dropped."""
        if self._at is not None:
            self.tokens = min(self.burst, self.tokens + (now - self._at) * self.rate)
        self._at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True
