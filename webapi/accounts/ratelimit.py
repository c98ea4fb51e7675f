"""Sign-in and sign-up limits, in memory (one process; a restart forgets them, which only
helps an attacker once per restart).

Failed sign-ins are counted per account name (whatever was typed: an unknown name is
counted just like a real one, so the limit tells nothing about which exist) and per client
address, in sliding windows. Past either limit, further attempts are refused before any
password is hashed (429 with Retry-After) until the oldest failure leaves the window. An
attempt counts as a failure from the moment it begins; a good one is then forgiven, and
clears its account's count. Sign-ups are counted per address (each costs a
password hash and a row). Every map is bounded: the oldest keys go first.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from webapi.errors import RateLimited


@dataclass(frozen=True)
class AccountLimits:
    failures_per_account: int = 10
    failures_per_address: int = 50
    failure_window_s: float = 15 * 60
    signups_per_address: int = 20
    signup_window_s: float = 3600
    max_keys: int = 50_000  # per map: ~100 bytes each, bounded whatever an attacker sprays


class _Window:
    """Events per key within the last `window_s` seconds."""

    def __init__(self, limit: int, window_s: float, max_keys: int) -> None:
        self.limit, self.window_s, self.max_keys = limit, window_s, max_keys
        self._events: dict[str, deque[float]] = {}

    def _live(self, key: str, now: float) -> deque[float] | None:
        events = self._events.get(key)
        if events is None:
            return None
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events

    def wait(self, key: str, now: float) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        events = self._live(key, now)
        if events is None or len(events) < self.limit:
            return 0.0
        return events[-self.limit] + self.window_s - now

    def add(self, key: str, now: float) -> None:
        events = self._live(key, now)
        if events is None:
            while len(self._events) >= self.max_keys:
                self._events.pop(next(iter(self._events)))
            events = self._events[key] = deque(maxlen=self.limit)
        events.append(now)

    def clear(self, key: str) -> None:
        self._events.pop(key, None)

    def discard(self, key: str, stamp: float) -> None:
        events = self._events.get(key)
        if events is not None and stamp in events:
            events.remove(stamp)
            if not events:
                del self._events[key]


class SignInLimiter:
    def __init__(self, limits: AccountLimits | None = None) -> None:
        self.limits = limits = limits or AccountLimits()
        w, k = limits.failure_window_s, limits.max_keys
        self._accounts = _Window(limits.failures_per_account, w, k)
        self._addresses = _Window(limits.failures_per_address, w, k)
        self._signups = _Window(limits.signups_per_address, limits.signup_window_s, k)

    def begin_sign_in(self, account: str, address: str, now: float | None = None) -> float:
        """Before a password is checked: RateLimited when this account or address has failed
        too often lately; otherwise the attempt is counted as a failure at once (before any
        `await`, so a burst of concurrent attempts cannot slip past the limit) and its
        stamp returned for `succeeded`."""
        now = time.monotonic() if now is None else now
        wait = self._addresses.wait(address, now)
        if wait > 0:
            raise RateLimited(
                f"too many failed sign-ins from your address: try again in {_secs(wait)}",
                retry_after=wait,
            )
        wait = self._accounts.wait(account, now)
        if wait > 0:
            raise RateLimited(
                f"too many failed sign-ins for this account: try again in {_secs(wait)}",
                retry_after=wait,
            )
        self._accounts.add(account, now)
        self._addresses.add(address, now)
        return now

    def succeeded(self, account: str, address: str, stamp: float) -> None:
        """The attempt begun at `stamp` was good: the account's failures are forgiven and
        this attempt no longer counts against the address."""
        self._accounts.clear(account)
        self._addresses.discard(address, stamp)

    def check_sign_up(self, address: str, now: float | None = None) -> None:
        """Count one sign-up attempt from `address`; RateLimited past the limit."""
        now = time.monotonic() if now is None else now
        wait = self._signups.wait(address, now)
        if wait > 0:
            raise RateLimited(
                f"too many sign-ups from your address: try again in {_secs(wait)}",
                retry_after=wait,
            )
        self._signups.add(address, now)


def _secs(s: float) -> str:
    s = max(1, round(s))
    return f"{s} s" if s < 120 else f"{round(s / 60)} min"
