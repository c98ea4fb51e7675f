"""Smoothing and resampling of tracked face signals, between the camera and the 60 Hz engine.

A face tracker's raw output jitters by a few pixels' worth every frame, arrives at 15-30 fps
with uneven timestamps, and blinks last only a frame or two. Three small pieces deal with that:

- `OneEuroFilter` (Casiez, Roussel & Vogel, CHI 2012): a low-pass whose cutoff rises with
  speed, so a still head is steady and a fast turn is not dragged behind. It is computed from
  the real time between samples, so it behaves the same whatever the camera's frame rate.
- `BlinkStabilizer`: links the two eyelids so a blink measured one frame apart per eye never
  shows as a wink, lets a held wink through, and snaps nearly-closed and nearly-open to
  closed and open. It has no memory on the closing path: blinks are too short to delay.
- `Predictor`: turns camera-rate samples into a value at any engine time, extrapolating a
  little past the newest sample (the camera's latency) and blending, never jumping, when a
  new sample disagrees with the prediction.

All work on float64 signal vectors (see `engine.tracking.signals.SIGNALS`), of any length.
"""

from __future__ import annotations

import math

import numpy as np


def _smoothstep(u: np.ndarray | float) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


class OneEuroFilter:
    """One independent One Euro filter per element of the signal vector.

    Per sample, with dt the time since the previous sample:

        alpha(cutoff) = 1 / (1 + tau / dt),  tau = 1 / (2 * pi * cutoff)
        dx     = (x - x_prev_hat) / dt,  dx_hat = lerp(dx_prev_hat, dx, alpha(d_cutoff))
        cutoff = min_cutoff + beta * |dx_hat|
        x_hat  = lerp(x_prev_hat, x, alpha(cutoff))

    That alpha is the exact backward-Euler step of a first-order low-pass with time constant
    tau, which is why the output follows the same curve at 15, 30 or 60 fps. `min_cutoff` (Hz)
    sets the smoothing at rest (lower: steadier, more lag); `beta` (1/signal unit) how fast the
    cutoff rises with speed (higher: less lag in fast motion). Both may be per-element arrays.
    """

    def __init__(
        self,
        min_cutoff: np.ndarray | float,
        beta: np.ndarray | float,
        d_cutoff: float | np.ndarray = 1.0,
    ) -> None:
        self.min_cutoff = np.asarray(min_cutoff, dtype=np.float64)
        self.beta = np.asarray(beta, dtype=np.float64)
        self.d_cutoff = np.asarray(d_cutoff, dtype=np.float64)
        if np.any(self.min_cutoff <= 0) or np.any(self.d_cutoff <= 0):
            raise ValueError("One Euro cutoffs must be positive")
        if np.any(self.beta < 0):
            raise ValueError("One Euro beta must not be negative")
        self.reset()

    def reset(self) -> None:
        self._t: float | None = None
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray, dt: float) -> np.ndarray:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """The filtered value of sample `x` taken at time `t` (seconds)."""
        x = np.asarray(x, dtype=np.float64)
        if self._t is None or self._x is None or self._dx is None:
            self._t, self._x, self._dx = t, x.copy(), np.zeros_like(x)
            return x.copy()
        dt = t - self._t
        if not dt > 0.0:
            # a repeated or out-of-order timestamp carries no new time to filter over
            return self._x.copy()
        dx = (x - self._x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self._dx = self._dx + a_d * (dx - self._dx)
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self._dx), dt)
        self._x = self._x + a * (x - self._x)
        self._t = t
        return self._x.copy()


class BlinkStabilizer:
    """Both eyes' openness (0 closed .. 1 open, the person's left and right), made to read
    like an animated character's eyelids.

    Per sample `(left, right, t)`:

    1. Linking. Unless the eyes are winking, both read the same value, a blend leaning to the
       more closed eye: `min + (1 - close_bias) * (mean - min)`. Leaning to the closed eye
       means a blink where one eye's measurement trails the other still closes both at once.
       The eyes are winking once |left - right| has stayed above `wink_threshold` for at least
       `wink_hold` seconds (a held difference, not one lagging frame); they stop winking when
       the difference falls below `wink_release` (hysteresis, so a wink does not flicker).
    2. Snapping, per eye: below `close_below` reads 0, above `open_above` reads 1, smoothstep
       between. A half-measured blink still shuts the lids fully, and the small noise of an
       open eye does not make them flutter.

    Neither step looks at earlier samples on the way to closed, so a blink one camera frame
    long is shown on that very frame. The only delay is the `wink_hold` before a wink shows.
    """

    def __init__(
        self,
        wink_threshold: float = 0.35,
        wink_hold: float = 0.08,
        close_below: float = 0.2,
        open_above: float = 0.8,
        close_bias: float = 0.75,
        wink_release: float = 0.25,
    ) -> None:
        if not 0.0 <= close_below < open_above <= 1.0:
            raise ValueError("need 0 <= close_below < open_above <= 1")
        if not 0.0 <= wink_release <= wink_threshold:
            raise ValueError("need 0 <= wink_release <= wink_threshold")
        if not 0.0 <= close_bias <= 1.0:
            raise ValueError("close_bias must lie in 0..1")
        self.wink_threshold = wink_threshold
        self.wink_hold = wink_hold
        self.close_below = close_below
        self.open_above = open_above
        self.close_bias = close_bias
        self.wink_release = wink_release
        self.reset()

    def reset(self) -> None:
        self._apart_since: float | None = None  # when |l - r| last rose above the threshold
        self._winking = False

    @property
    def winking(self) -> bool:
        return self._winking

    def snap(self, v: float) -> float:
        """The snapped openness of one eye."""
        u = (v - self.close_below) / (self.open_above - self.close_below)
        return float(_smoothstep(u))

    def __call__(self, left: float, right: float, t: float) -> tuple[float, float]:
        """The stabilized (left, right) openness for the sample taken at time `t` (seconds)."""
        diff = abs(left - right)
        if self._winking:
            if diff < self.wink_release:
                self._winking = False
                self._apart_since = None
        elif diff > self.wink_threshold:
            if self._apart_since is None or t < self._apart_since:
                self._apart_since = t
            if t - self._apart_since >= self.wink_hold:
                self._winking = True
        else:
            self._apart_since = None
        if self._winking:
            return self.snap(left), self.snap(right)
        lo = min(left, right)
        linked = self.snap(lo + (1.0 - self.close_bias) * (0.5 * (left + right) - lo))
        return linked, linked


class Predictor:
    """Camera-rate samples resampled at engine time, with a little extrapolation.

    The trajectory after the newest sample (x1 at t1, the one before x0 at t0) is

        x1 + v * g(t - t1),  v = (x1 - x0) / max(t1 - t0, 1/120 s)

    where g(s) = s up to `horizon` (exact on linear motion), then eases out:
    g(s) = horizon + settle * (1 - exp(-(s - horizon) / settle)). So the velocity fades
    smoothly after the horizon and a stopped stream comes to rest at most
    |v| * (horizon + settle) past its newest sample, never running away. Before t1 the
    trajectory interpolates back to x0 and holds there. With one sample, or when the two
    newest are over `max_gap` apart (the stream restarted), v = 0.

    A new sample changes the trajectory. On the first `sample(t)` after a push, the output
    keeps the value the old trajectory had at t and moves over to the new one along a
    smoothstep of `blend` seconds, so a new sample never pops the output. The result is
    clamped to `lower`/`upper` when given. Call `sample` with non-decreasing engine times.
    """

    def __init__(
        self,
        horizon: float = 0.05,
        blend: float = 0.03,
        lower: np.ndarray | None = None,
        upper: np.ndarray | None = None,
        settle: float = 0.025,
        max_gap: float = 0.25,
    ) -> None:
        if horizon < 0 or blend < 0 or settle < 0 or max_gap <= 0:
            raise ValueError("Predictor times must not be negative")
        self.horizon = horizon
        self.blend = blend
        self.settle = settle
        self.max_gap = max_gap
        self.lower = None if lower is None else np.asarray(lower, dtype=np.float64)
        self.upper = None if upper is None else np.asarray(upper, dtype=np.float64)
        self.reset()

    def reset(self) -> None:
        # newest samples, as pushed
        self._prev: tuple[np.ndarray, float] | None = None
        self._last: tuple[np.ndarray, float] | None = None
        self._pending = False  # pushed since the shown trajectory was last adopted
        # the shown trajectory: anchor value, anchor time, velocity, how far back it reaches
        self._traj: tuple[np.ndarray, float, np.ndarray, float] | None = None
        self._offset: np.ndarray | None = None  # what is left of the old trajectory
        self._offset_t = 0.0

    def push(self, x: np.ndarray, t: float) -> None:
        """Record a sample `x` taken at time `t`; a sample not newer than the last is dropped."""
        if self._last is not None and not t > self._last[1]:
            return
        self._prev = self._last
        self._last = (np.array(x, dtype=np.float64), t)
        self._pending = True

    def age(self, t: float) -> float:
        """Seconds from the newest sample to time `t` (inf before any sample; never below 0)."""
        return math.inf if self._last is None else max(0.0, t - self._last[1])

    def _new_trajectory(self) -> tuple[np.ndarray, float, np.ndarray, float]:
        assert self._last is not None
        x1, t1 = self._last
        if self._prev is None or t1 - self._prev[1] > self.max_gap:
            return x1, t1, np.zeros_like(x1), 0.0
        x0, t0 = self._prev
        span = t1 - t0
        return x1, t1, (x1 - x0) / max(span, 1.0 / 120.0), span

    def _g(self, s: float, back: float) -> float:
        if s <= self.horizon:
            return max(s, -back)
        if self.settle <= 0.0:
            return self.horizon
        return self.horizon + self.settle * -math.expm1(-(s - self.horizon) / self.settle)

    def _along(self, t: float) -> np.ndarray:
        assert self._traj is not None
        x1, t1, v, back = self._traj
        out = x1 + v * self._g(t - t1, back)
        if self._offset is not None:
            w = 1.0 if self.blend <= 0.0 else float(_smoothstep((t - self._offset_t) / self.blend))
            if w >= 1.0:
                self._offset = None
            else:
                out = out + (1.0 - w) * self._offset
        return out

    def sample(self, t: float) -> np.ndarray | None:
        """The value at engine time `t`, or None before any sample."""
        if self._last is None:
            return None
        if self._pending:
            old = None if self._traj is None else self._along(t)
            self._traj = self._new_trajectory()
            self._offset = None
            if old is not None:
                self._offset, self._offset_t = old - self._along(t), t
            self._pending = False
        out = self._along(t)
        if self.lower is not None or self.upper is not None:
            out = np.clip(out, self.lower, self.upper)
        return out
