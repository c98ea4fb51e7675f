"""Per-user calibration of face signals: the ranges a face really reaches, and its rest pose.

Faces differ more than trackers assume. Someone with narrow eyes never reaches the openness a
typical open eye measures, so a fixed range would leave their avatar half-asleep; someone with
a habitual head tilt, or a camera mounted off to one side, would have an avatar that always
leans. Two small pieces correct for that, both pure numpy on signal vectors:

- `AdaptiveRange` learns, over a sliding window, where each signal's range actually lies for
  this user and maps raw values onto 0..1 by it.
- `NeutralCalibration` captures the user's rest face on request (a "calibrate" button) and
  subtracts it from the signals that are relative to a rest pose (head angles, brows, ...).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class AdaptiveRange:
    """A per-signal min/max that follows what this user's face actually reaches.

    Samples from the last `window` seconds are kept (at most `max_rate` per second, in a ring
    buffer, so memory stays fixed however long it runs). From them, once they cover at least
    `warmup` seconds:

        lo = p_low                 where follow_lo,
             min(prior_lo, p_low)  where adapt_lo, else prior_lo
        hi = p_high                where adapt_hi, else prior_hi
        hi = max(hi, lo + min_span)

    with p_low / p_high the `low_pct` / `high_pct` percentiles of the window (3rd and 97th by
    default: the extremes, less the odd tracking glitch). An adapting upper end follows the
    user all the way, so narrow eyes that never open past 0.6 of the typical range still read
    fully open. The lower end only ever widens past the prior: it is the end a face visits
    rarely (eyes are closed for a few percent of the time), so its percentile alone is not to
    be trusted. A lower end that `follow_lo` is the opposite case: the end a face rests at
    (a mouth is shut most of the time), so its percentile is this user's rest, even when it
    sits above the prior (lips that part at rest read as shut). `min_span` keeps a user who hardly moves from having their noise stretched to
    the full range. Before `warmup`, the bounds are the priors (with the span floor). The
    percentiles are recomputed at most every `refresh` seconds of sample time.
    """

    def __init__(
        self,
        prior_lo: np.ndarray,
        prior_hi: np.ndarray,
        min_span: np.ndarray,
        window: float = 20.0,
        adapt_lo: np.ndarray | None = None,
        adapt_hi: np.ndarray | None = None,
        follow_lo: np.ndarray | None = None,
        *,
        low_pct: float = 3.0,
        high_pct: float = 97.0,
        warmup: float = 1.0,
        max_rate: float = 60.0,
        refresh: float = 0.25,
    ) -> None:
        self.prior_lo = np.asarray(prior_lo, dtype=np.float64)
        self.prior_hi = np.asarray(prior_hi, dtype=np.float64)
        n = self.prior_lo.shape[0]
        self.min_span = np.broadcast_to(np.asarray(min_span, dtype=np.float64), (n,)).copy()
        self.adapt_lo = np.ones(n, bool) if adapt_lo is None else np.asarray(adapt_lo, bool)
        self.adapt_hi = np.ones(n, bool) if adapt_hi is None else np.asarray(adapt_hi, bool)
        self.follow_lo = np.zeros(n, bool) if follow_lo is None else np.asarray(follow_lo, bool)
        if (
            self.prior_hi.shape != (n,)
            or self.adapt_lo.shape != (n,)
            or self.adapt_hi.shape != (n,)
            or self.follow_lo.shape != (n,)
        ):
            raise ValueError(
                "prior_lo, prior_hi, adapt_lo, adapt_hi and follow_lo must have the same length"
            )
        if np.any(self.min_span < 0):
            raise ValueError("min_span must not be negative")
        if window <= 0 or max_rate <= 0:
            raise ValueError("window and max_rate must be positive")
        self.window = window
        self.low_pct = low_pct
        self.high_pct = high_pct
        self.warmup = warmup
        self.refresh = refresh
        self._min_dt = 1.0 / max_rate
        self.capacity = math.ceil(window * max_rate) + 1
        self._buf = np.zeros((self.capacity, n))
        self._times = np.full(self.capacity, -math.inf)
        self.reset()

    def reset(self) -> None:
        self._times.fill(-math.inf)
        self._head = 0  # next slot to write
        self._count = 0
        self._t_last = -math.inf
        self._cached: tuple[np.ndarray, np.ndarray] | None = None
        self._cached_at = -math.inf

    @property
    def n_samples(self) -> int:
        """How many samples the buffer holds (never more than `capacity`)."""
        return self._count

    def observe(self, x: np.ndarray, t: float) -> None:
        """Record the raw sample `x` taken at time `t` (seconds)."""
        if t - self._t_last < self._min_dt:
            return  # faster than max_rate (or out of order): the window has enough already
        self._buf[self._head] = x
        self._times[self._head] = t
        self._head = (self._head + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)
        self._t_last = t
        # The percentiles move slowly; recomputing them on every camera frame would cost
        # more than the rest of the tracking step, so they refresh every `refresh` seconds.
        if self._cached is not None and t - self._cached_at >= self.refresh:
            self._cached = None

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The current (lo, hi), each of the signals' length."""
        if self._cached is None:
            self._cached = self._compute()
            self._cached_at = self._t_last
        lo, hi = self._cached
        return lo.copy(), hi.copy()

    def _compute(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.prior_lo.copy(), self.prior_hi.copy()
        recent = np.isfinite(self._times) & (self._times >= self._t_last - self.window)
        if recent.any():
            times = self._times[recent]
            if times.max() - times.min() >= self.warmup:
                p_low, p_high = np.percentile(
                    self._buf[recent], [self.low_pct, self.high_pct], axis=0
                )
                lo = np.where(self.adapt_lo, np.minimum(self.prior_lo, p_low), lo)
                lo = np.where(self.follow_lo, p_low, lo)
                hi = np.where(self.adapt_hi, p_high, hi)
        return lo, np.maximum(hi, lo + self.min_span)

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """`x` mapped onto 0..1 by the current bounds, clamped."""
        lo, hi = self.bounds()
        span = hi - lo
        safe = np.where(span > 0, span, 1.0)  # a zero min_span and a still face: no division
        return np.clip((np.asarray(x, dtype=np.float64) - lo) / safe, 0.0, 1.0)


class NeutralCalibration:
    """The user's rest face and camera angle, captured on request.

    `begin(t)` starts a capture; every sample passed to `observe` from then on is kept until
    one arrives `duration` seconds after the start, which completes it. The neutral is the
    per-signal median of the capture, so a frame or two of tracking glitch (or a blink) does
    not move it. Until a first capture completes the neutral is all zeros and `apply` changes
    nothing; a new capture keeps the old neutral in use until it completes.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.reset()

    def reset(self) -> None:
        self._offset = np.zeros(self.n)
        self._captured = False
        self._start: float | None = None  # a capture in progress, from this time
        self._duration = 0.0
        self._samples: list[np.ndarray] = []
        self._done = False

    def begin(self, t: float, duration: float = 0.5) -> None:
        """Start capturing the rest pose at time `t`, for `duration` seconds."""
        if duration < 0:
            raise ValueError("duration must not be negative")
        self._start, self._duration = t, duration
        self._samples = []
        self._done = False

    def observe(self, x: np.ndarray, t: float) -> None:
        """Offer a sample; it is kept only while a capture is running."""
        if self._start is None or t < self._start:
            return
        self._samples.append(np.array(x, dtype=np.float64))
        if t - self._start >= self._duration:
            self._offset = np.median(np.stack(self._samples), axis=0)
            self._captured, self._done = True, True
            self._start, self._samples = None, []

    @property
    def capturing(self) -> bool:
        return self._start is not None

    @property
    def done(self) -> bool:
        """Whether the capture last begun has completed."""
        return self._done

    @property
    def captured(self) -> bool:
        """Whether any capture has completed (so `offset` is a real neutral)."""
        return self._captured

    @property
    def offset(self) -> np.ndarray:
        return self._offset.copy()

    def restore(self, offset: Any) -> None:
        """Use a neutral captured earlier (`offset`, e.g. saved across a page reload) as if
        a capture had just completed. ValueError for a wrong length or a non-finite value."""
        values = np.asarray(offset, dtype=np.float64)
        if values.shape != (self.n,) or not np.isfinite(values).all():
            raise ValueError(f"a neutral is {self.n} finite numbers")
        self._offset = values.copy()
        self._captured = True

    def apply(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """`x` less the neutral, for the signals where `mask` is true."""
        return np.asarray(x, dtype=np.float64) - np.where(mask, self._offset, 0.0)
