"""FaceSignals: what the solver reads off a face, the only thing tracking hands onward.

Conventions (camera view: the picture as the camera took it, not mirrored):

- Angles in degrees. `yaw` > 0 when the face turns towards the picture's right (the
  person's own left); `pitch` > 0 when the face tilts up (chin forward, looking up);
  `roll` > 0 when the head tilts counter-clockwise in the picture (the engine's
  counter-clockwise-positive angle convention, seen by the camera).
- `x`, `y`: the face's centre in the picture, -1..1 from the middle, x to the right, y up.
  `scale`: the face's width (eye corner to eye corner, outer) over the picture's width.
- Left and right name the person's own sides (MediaPipe's convention): `eye_open_l` is the
  person's left eye, which a camera sees on the picture's right.
- `eye_open_*`: 0 closed .. 1 open. `gaze_x`, `gaze_y`: -1..1, x > 0 looking towards the
  picture's right, y > 0 looking up; both from the more open eye when one is closed.
- `brow_*`: brow raise, 0 at a relaxed brow, 1 raised high, -1 lowered (frown).
- `mouth_open`: 0 closed .. 1 wide open. `mouth_form`: -1 frown .. 0 neutral .. 1 smile.
- `vowel_*`: weights 0..1 of the mouth shapes A, I, U, E, O (all 0 when the mouth is shut).

A FaceSignals is also a vector: `as_array()` / `from_array()` in the order of `SIGNALS`, so
calibration, filters and retargeting work on arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter

import numpy as np


@dataclass(frozen=True, slots=True)
class FaceSignals:
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    x: float = 0.0
    y: float = 0.0
    scale: float = 0.0
    eye_open_l: float = 1.0
    eye_open_r: float = 1.0
    gaze_x: float = 0.0
    gaze_y: float = 0.0
    brow_l: float = 0.0
    brow_r: float = 0.0
    mouth_open: float = 0.0
    mouth_form: float = 0.0
    vowel_a: float = 0.0
    vowel_i: float = 0.0
    vowel_u: float = 0.0
    vowel_e: float = 0.0
    vowel_o: float = 0.0

    def as_array(self) -> np.ndarray:
        return np.array(_values(self), dtype=np.float64)

    @classmethod
    def from_array(cls, a: np.ndarray) -> FaceSignals:
        return cls(*(float(v) for v in a))


SIGNALS: tuple[str, ...] = tuple(f.name for f in fields(FaceSignals))
_values = attrgetter(*SIGNALS)  # dataclasses.astuple deep-copies: 20x slower
INDEX: dict[str, int] = {name: i for i, name in enumerate(SIGNALS)}
REST = FaceSignals()  # a relaxed face looking into the camera

# Ranges a signal can take, for clamping after calibration and filters.
LIMITS: dict[str, tuple[float, float]] = {
    "yaw": (-90.0, 90.0), "pitch": (-90.0, 90.0), "roll": (-180.0, 180.0),
    "x": (-1.5, 1.5), "y": (-1.5, 1.5), "scale": (0.0, 2.0),
    "eye_open_l": (0.0, 1.0), "eye_open_r": (0.0, 1.0),
    "gaze_x": (-1.0, 1.0), "gaze_y": (-1.0, 1.0),
    "brow_l": (-1.0, 1.0), "brow_r": (-1.0, 1.0),
    "mouth_open": (0.0, 1.0), "mouth_form": (-1.0, 1.0),
    "vowel_a": (0.0, 1.0), "vowel_i": (0.0, 1.0), "vowel_u": (0.0, 1.0),
    "vowel_e": (0.0, 1.0), "vowel_o": (0.0, 1.0),
}  # fmt: skip
LOWER = np.array([LIMITS[s][0] for s in SIGNALS])
UPPER = np.array([LIMITS[s][1] for s in SIGNALS])
