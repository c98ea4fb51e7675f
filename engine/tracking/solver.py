"""Landmarks -> FaceSignals: pure numpy, no MediaPipe (signs and ranges: `signals.py`).

Head pose is a similarity fit (Umeyama) of the reference face's rigid points, about 150 of
them on the forehead, temples, nose and cheekbones (`content/tracking/face_reference.json`),
so an open mouth, a blink or raised brows do not tilt the head. Every other measure is read
in the face's own frame (the landmarks with the fitted pose taken out, eye corners one unit
apart), so it does not change when the head turns or the person moves nearer the camera.

Scales below are fractions of the outer-eye-corner distance, from typical faces: they put a
relaxed face near 0 and a full expression near 1 before calibration adapts them to a user.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine import landmarks as lm
from engine.tracking.geometry import angles, fit_similarity, lift
from engine.tracking.signals import FaceSignals

REFERENCE_FILE = (
    Path(__file__).resolve().parents[2] / "content" / "tracking" / "face_reference.json"
)
LANDMARKS = lm.POINTS

# What each measure reads (engine/landmarks.py names the points). Right and left are the
# person's own.
RIGHT_EYE = {
    "outer": lm.RIGHT_EYE_OUTER, "inner": lm.RIGHT_EYE_INNER,
    "lids": lm.RIGHT_LID_PAIRS, "iris": lm.RIGHT_IRIS[0],
}  # fmt: skip
LEFT_EYE = {
    "outer": lm.LEFT_EYE_OUTER, "inner": lm.LEFT_EYE_INNER,
    "lids": lm.LEFT_LID_PAIRS, "iris": lm.LEFT_IRIS[0],
}  # fmt: skip
RIGHT_BROW = lm.RIGHT_BROW_UPPER
LEFT_BROW = lm.LEFT_BROW_UPPER
INNER_LIPS = lm.INNER_LIP_PAIRS  # upper, lower inner-lip points
# the same as index arrays, for the hot path
for _eye in (RIGHT_EYE, LEFT_EYE):
    _eye["upper"] = np.array([a for a, _ in _eye["lids"]])
    _eye["lower"] = np.array([b for _, b in _eye["lids"]])
_LIPS_UPPER = np.array([a for a, _ in INNER_LIPS])
_LIPS_LOWER = np.array([b for _, b in INNER_LIPS])
MOUTH_CORNERS = lm.MOUTH_CORNERS
UPPER_LIP = lm.UPPER_LIP_TOP

EYE_CLOSED, EYE_OPEN = 0.09, 0.27  # lid gap over eye width
GAZE_RANGE = 0.2  # iris offset over eye width at a full sideways glance
GAZE_RANGE_Y = 0.1
BROW_RANGE = 0.07  # brow lift at a full raise
MOUTH_FULL = 0.32  # inner-lip gap at a wide-open mouth
FORM_RANGE = 0.05  # mouth-corner lift at a full smile
# Vowel mouth shapes as (openness, width over the rest width); soft nearest-shape weights.
VOWELS = {
    "a": (0.85, 1.0), "i": (0.25, 1.14), "u": (0.25, 0.82),
    "e": (0.5, 1.1), "o": (0.6, 0.84),
}  # fmt: skip
VOWEL_SPREAD = np.array([0.22, 0.07])


@dataclass(frozen=True, slots=True)
class Reference:
    points: np.ndarray  # (478, 3) face frame
    rigid: np.ndarray  # indices
    brow_height: tuple[float, float]  # right, left: at rest
    corner_lift: float  # mouth corners above the upper lip at rest (negative: below)
    mouth_width: float
    iris: dict[int, np.ndarray]  # iris offset from the eye's centre looking ahead, per iris


@lru_cache(maxsize=1)
def reference() -> Reference:
    doc = json.loads(REFERENCE_FILE.read_text())
    pts = np.array(doc["points"], dtype=np.float64)
    rigid = np.array(doc["rigid"], dtype=np.int64)
    brows = (_brow_height(pts, RIGHT_BROW, RIGHT_EYE), _brow_height(pts, LEFT_BROW, LEFT_EYE))
    iris = {eye["iris"]: _iris_offset(pts, eye) for eye in (RIGHT_EYE, LEFT_EYE)}
    return Reference(pts, rigid, brows, _corner_lift(pts), _mouth_width(pts), iris)


class LandmarkShapeError(ValueError):
    """Landmarks that are not MediaPipe's 478 refined points."""


def solve(landmarks: np.ndarray, image_size: tuple[int, int]) -> FaceSignals:
    """FaceSignals of one face: `landmarks` (478, 3) in MediaPipe's normalized form, from a
    picture of `image_size` (width, height) pixels."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (LANDMARKS, 3):
        raise LandmarkShapeError(
            f"expected {LANDMARKS} refined landmarks of shape ({LANDMARKS}, 3), got {lm.shape}"
        )
    if not np.isfinite(lm).all():
        raise LandmarkShapeError("landmarks contain NaN or infinity")
    w, h = image_size
    ref = reference()
    pts = lift(lm, (w, h))
    s, rot, t = fit_similarity(ref.points[ref.rigid], pts[ref.rigid])
    yaw, pitch, roll = angles(rot)
    face = (pts - t) @ rot / s  # the face's own frame, eye corners ~1 apart

    open_r, open_l = _eye_open(face, RIGHT_EYE), _eye_open(face, LEFT_EYE)
    # The iris of a closing eye is hidden and poorly placed: look from the more open eye.
    gaze_eye = LEFT_EYE if open_l >= open_r else RIGHT_EYE
    gaze = _iris_offset(face, gaze_eye) - ref.iris[gaze_eye["iris"]]
    gaze_x, gaze_y = gaze[0] / GAZE_RANGE, gaze[1] / GAZE_RANGE_Y
    brow_r = (_brow_height(face, RIGHT_BROW, RIGHT_EYE) - ref.brow_height[0]) / BROW_RANGE
    brow_l = (_brow_height(face, LEFT_BROW, LEFT_EYE) - ref.brow_height[1]) / BROW_RANGE
    gap = float((face[_LIPS_UPPER, 1] - face[_LIPS_LOWER, 1]).mean())
    mouth_open = _clip01(gap / MOUTH_FULL)
    form = (_corner_lift(face) - ref.corner_lift) / FORM_RANGE
    vowels = _vowels(mouth_open, _mouth_width(face) / ref.mouth_width)

    centre = pts[ref.rigid].mean(axis=0)
    return FaceSignals(
        yaw=yaw, pitch=pitch, roll=roll,
        x=float(centre[0] / w * 2 - 1), y=float(centre[1] / h * 2 + 1), scale=s / w,
        eye_open_l=open_l, eye_open_r=open_r,
        gaze_x=float(np.clip(gaze_x, -1, 1)), gaze_y=float(np.clip(gaze_y, -1, 1)),
        brow_l=float(np.clip(brow_l, -1, 1)), brow_r=float(np.clip(brow_r, -1, 1)),
        mouth_open=mouth_open, mouth_form=float(np.clip(form, -1, 1)),
        vowel_a=vowels[0], vowel_i=vowels[1], vowel_u=vowels[2],
        vowel_e=vowels[3], vowel_o=vowels[4],
    )  # fmt: skip


def _clip01(v: float) -> float:
    return float(min(1.0, max(0.0, v)))


def _eye_width(face: np.ndarray, eye: dict) -> float:
    o, i = eye["outer"], eye["inner"]
    return math.hypot(face[o, 0] - face[i, 0], face[o, 1] - face[i, 1])


def _eye_open(face: np.ndarray, eye: dict) -> float:
    gap = float((face[eye["upper"], 1] - face[eye["lower"], 1]).mean())
    return _clip01((gap / _eye_width(face, eye) - EYE_CLOSED) / (EYE_OPEN - EYE_CLOSED))


def _iris_offset(face: np.ndarray, eye: dict) -> np.ndarray:
    """The iris centre from the eye's centre (between the corners across, between the lids
    up and down), over the eye's width."""
    lids_y = (face[eye["upper"], 1].mean() + face[eye["lower"], 1].mean()) / 2
    centre = np.array([(face[eye["outer"], 0] + face[eye["inner"], 0]) / 2, lids_y])
    return (face[eye["iris"], :2] - centre) / _eye_width(face, eye)


def _brow_height(face: np.ndarray, brow: tuple[int, ...], eye: dict) -> float:
    eye_y = (face[eye["outer"], 1] + face[eye["inner"], 1]) / 2
    return float(face[list(brow), 1].mean() - eye_y)


def _corner_lift(face: np.ndarray) -> float:
    a, b = MOUTH_CORNERS
    return float((face[a, 1] + face[b, 1]) / 2 - face[UPPER_LIP, 1])


def _mouth_width(face: np.ndarray) -> float:
    a, b = MOUTH_CORNERS
    return math.hypot(face[a, 0] - face[b, 0], face[a, 1] - face[b, 1])


_VOWEL_SHAPES = np.array(list(VOWELS.values()))


def _vowels(openness: float, width: float) -> tuple[float, ...]:
    """Soft weights of the five mouth shapes, summing to how open the mouth is (so a
    shut mouth says nothing)."""
    d = (_VOWEL_SHAPES - np.array([openness, width])) / VOWEL_SPREAD
    k = np.exp(-0.5 * (d * d).sum(axis=1))
    k /= k.sum() + 1e-12
    gate = float(np.clip((openness - 0.08) / 0.17, 0.0, 1.0))
    return tuple(float(v) for v in k * gate)
