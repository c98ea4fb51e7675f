"""One session's face tracking, from camera-rate signals to engine-tick parameters:

    observe (camera rate, any thread):  signals -> neutral calibration -> adaptive ranges
        -> blink stabilization (eyes) / One Euro filter (the rest) -> predictor
    parameters (engine tick, 60 Hz):    predictor at tick time -> retargeting (bindings,
        damping) -> blend with the rig's rest pose by presence

Tracking is a layer over the state machine: the session applies these parameters after the
animation, so the body keeps idling, walking or emoting while the head and face follow the
user. `presence` (0..1) says how much of the face is the user's: after `loss_timeout`
seconds without a face it eases to 0 over `ease` seconds, the parameters with it to rest,
and the rig's presence parameter (Digi: `ParamFaceTracked`) hands the eyes back to the
animations' own blinks; when the face returns everything eases back. The blend is a
smoothstep of presence, so neither direction pops.

`observe` and `parameters` may run on different threads (tracking worker, render worker):
one lock guards the state.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from engine.rig.data import RigData
from engine.tracking.calibration import AdaptiveRange, NeutralCalibration
from engine.tracking.filters import BlinkStabilizer, OneEuroFilter, Predictor
from engine.tracking.retarget import Retargeter, TrackingData
from engine.tracking.signals import INDEX, LOWER, SIGNALS, UPPER, FaceSignals

# Signals offset by the neutral pose (the user's rest face and camera angle).
NEUTRAL = ("yaw", "pitch", "roll", "x", "y", "gaze_x", "gaze_y", "brow_l", "brow_r", "mouth_form")
# Signals whose upper end adapts to what this user's face reaches: (min span).
ADAPTIVE = {"eye_open_l": 0.35, "eye_open_r": 0.35, "mouth_open": 0.5}
# ... and whose lower end is where this user's face rests: a mouth is shut most of the time,
# and one whose lips part at rest (a smile with teeth) should still read as shut.
RESTING_LOW = ("mouth_open",)
# One Euro settings per signal: (min cutoff Hz, beta per signal unit/s). Angles are in
# degrees, so their beta is small; the eyes go through the blink stabilizer instead.
EURO = {
    "yaw": (1.0, 0.04), "pitch": (1.0, 0.04), "roll": (1.0, 0.04),
    "x": (1.0, 0.5), "y": (1.0, 0.5), "scale": (0.5, 0.5),
    "gaze_x": (2.0, 0.3), "gaze_y": (2.0, 0.3), "brow_l": (1.5, 0.5), "brow_r": (1.5, 0.5),
    "mouth_open": (3.0, 1.0), "mouth_form": (1.5, 0.5),
    "vowel_a": (3.0, 1.0), "vowel_i": (3.0, 1.0), "vowel_u": (3.0, 1.0),
    "vowel_e": (3.0, 1.0), "vowel_o": (3.0, 1.0),
}  # fmt: skip
_EYES = (INDEX["eye_open_l"], INDEX["eye_open_r"])


def _mask(names: object) -> np.ndarray:
    return np.array([s in names for s in SIGNALS])  # type: ignore[operator]


class FaceTracker:
    def __init__(self, data: TrackingData, rig: RigData) -> None:
        self.data = data
        self.retargeter = Retargeter(data, rig)
        self._neutral_mask = _mask(NEUTRAL)
        self._adaptive = np.array([INDEX[s] for s in ADAPTIVE], dtype=np.int64)
        n = len(ADAPTIVE)
        self.neutral = NeutralCalibration(len(SIGNALS))
        self.ranges = AdaptiveRange(
            np.zeros(n), np.ones(n), np.array(list(ADAPTIVE.values())),
            adapt_lo=np.zeros(n, dtype=bool), adapt_hi=np.ones(n, dtype=bool),
            follow_lo=np.array([s in RESTING_LOW for s in ADAPTIVE]),
        )  # fmt: skip
        cut = np.array([EURO.get(s, (1.0, 0.0))[0] for s in SIGNALS])
        beta = np.array([EURO.get(s, (1.0, 0.0))[1] for s in SIGNALS])
        self.euro = OneEuroFilter(cut, beta)
        self.blink = BlinkStabilizer()
        self.predictor = Predictor(lower=LOWER, upper=UPPER)
        self.presence = 0.0
        self.signals: FaceSignals | None = None  # the newest calibrated, filtered signals
        self._seen = -math.inf  # time of the newest face
        self._lock = threading.Lock()

    # --- camera side ----------------------------------------------------------------------

    def observe(self, signals: FaceSignals | None, t: float) -> None:
        """One camera frame's result at time `t` (seconds, the tick's clock); None when the
        frame had no face."""
        if signals is None:
            return
        raw = signals.as_array()
        with self._lock:
            if t - self._seen > self.data.loss_timeout:
                # back after a loss: start the filters afresh instead of sliding from stale
                # values; presence eases the face back in
                self.euro.reset()
                self.blink.reset()
                self.predictor.reset()
            self._seen = t
            self.neutral.observe(raw, t)
            self.ranges.observe(raw[self._adaptive], t)
            x = self.neutral.apply(raw, self._neutral_mask)
            x[self._adaptive] = self.ranges.normalize(x[self._adaptive])
            left, right = self.blink(float(x[_EYES[0]]), float(x[_EYES[1]]), t)
            x = self.euro(x, t)
            x[_EYES[0]], x[_EYES[1]] = left, right
            x = np.clip(x, LOWER, UPPER)
            self.predictor.push(x, t)
            self.signals = FaceSignals.from_array(x)

    def calibrate(self, t: float, duration: float = 0.5) -> None:
        """Take the next `duration` seconds of the face as the user's neutral."""
        with self._lock:
            self.neutral.begin(t, duration)

    def neutral_pose(self) -> list[float] | None:
        """The user's calibrated neutral (one number per signal), None before a calibration:
        what a session saves so that a reload need not calibrate again."""
        with self._lock:
            return self.neutral.offset.tolist() if self.neutral.captured else None

    def restore_neutral(self, values: Any) -> None:
        """Use a neutral saved earlier (`neutral_pose`); ValueError when it does not fit."""
        with self._lock:
            self.neutral.restore(values)

    # --- engine side ----------------------------------------------------------------------

    def parameters(self, t: float, dt: float) -> dict[str, float]:
        """The rig parameters for the tick at time `t`."""
        with self._lock:
            present = t - self._seen <= self.data.loss_timeout
            step = dt / self.data.ease
            self.presence = (
                min(1.0, self.presence + step) if present else max(0.0, self.presence - step)
            )
            rest = self.retargeter.rest
            sample = self.predictor.sample(t)
            values = rest if sample is None else self.retargeter.step(sample, dt)
            w = self.presence * self.presence * (3 - 2 * self.presence)
            blended = rest + (values - rest) * w
            out = dict(zip(self.retargeter.parameters, blended.tolist(), strict=True))
            if self.data.presence_parameter is not None:
                out[self.data.presence_parameter] = w
            return out

    @property
    def last_face(self) -> float:
        """Capture time of the newest frame that had a face (-inf before any): a rendered
        frame that used it measures motion-to-photon from there."""
        return self._seen

    @property
    def state(self) -> str:
        """ "tracking" while the face is followed, "lost" while easing out or away."""
        return "tracking" if self.presence > 0 and self._seen > -math.inf else "lost"
