"""Admission: counted slots reserved before any work is done for a request.

A limit checked before an `await` and counted after it is no limit: sixty offers that
arrive together all pass the check while the first is still being set up (issue 12). A
`Slots` counts what is reserved, not what is finished, and `reserve` checks and counts in
one step with no `await` in between, so concurrent requests cannot all slip through.

A `Reservation` is a context manager: leaving the block by any exception (a bad offer,
a cancelled request, our own bug) releases it; the code that finished the work hands it
over to what holds the slot from then on (a session, a peer), which releases it when it
ends. `release` is idempotent, so a path that releases twice cannot free a slot it does
not hold.
"""

from __future__ import annotations

from types import TracebackType

# A new peer has this long (seconds) to connect and start streaming, or it is closed and its
# slot freed (`digigami serve --connect-timeout`): a slot held by a peer that never connects
# is one nobody else gets; too short, and a slow network or a loaded software GL (a new
# view's first frame can take seconds) never makes it.
CONNECT_WITHIN = 15.0
MIN_CONNECT_WITHIN, MAX_CONNECT_WITHIN = 2.0, 120.0


def check_connect_within(seconds: float) -> float:
    """`seconds` as a connect timeout, or ValueError naming the bounds (NaN fails too)."""
    if not MIN_CONNECT_WITHIN <= seconds <= MAX_CONNECT_WITHIN:
        raise ValueError(
            f"the connect timeout must be {MIN_CONNECT_WITHIN:g} to "
            f"{MAX_CONNECT_WITHIN:g} seconds, got {seconds:g}"
        )
    return seconds


class Busy(RuntimeError):
    """The server holds as many of something (sessions, previews, viewers) as it may."""


class Slots:
    """At most `limit` reservations at once; `what` names them in the busy message."""

    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.what = what
        self.used = 0

    def reserve(self) -> Reservation:
        """One slot, or Busy. Synchronous on purpose: never put an await before this in a
        request that does costly work after it."""
        if self.used >= self.limit:
            raise Busy(f"busy: {self.limit} {self.what} already (the limit); try again soon")
        self.used += 1
        return Reservation(self)

    @property
    def free(self) -> int:
        return self.limit - self.used


class Reservation:
    """One reserved slot, released exactly once."""

    def __init__(self, slots: Slots) -> None:
        self._slots: Slots | None = slots
        self._handed_over = False

    @property
    def held(self) -> bool:
        return self._slots is not None

    def hand_over(self) -> Reservation:
        """The work succeeded: whoever keeps this now releases it (the block's exit won't)."""
        self._handed_over = True
        return self

    def release(self) -> None:
        if self._slots is not None:
            self._slots.used -= 1
            self._slots = None

    def __enter__(self) -> Reservation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # an exception (cancellation included) always frees the slot; a block that ended
        # without handing it over did not keep it either
        if exc_type is not None or not self._handed_over:
            self.release()
