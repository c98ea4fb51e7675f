"""Stage 1, face processing: MediaPipe's 478 landmarks on the photo (through
`engine.tracking.landmarker`, the MediaPipe boundary), expression and head pose (the tracking
solver), and an aligned square crop of the face and head.

The crop is a similarity transform of the photo: the eye line made level (roll removed), the
face centred a little below the middle so the hair fits above it, scaled to `size` pixels.
The landmarks are carried through the same transform, so they lie on the cropped face.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine import landmarks as lm
from engine.images import check_rgb
from engine.style.errors import NoFaceDetectedError, StyleError
from engine.tracking.solver import solve

MAX_DETECT_SIDE = 1280  # larger photos are scaled down for detection (landmarks are relative)
MIN_SIDE = 32
HEAD_MARGIN = 1.75  # crop side over the face's height (brow to chin), for hair and neck
RIGHT_EYE = (lm.RIGHT_EYE_OUTER, lm.RIGHT_EYE_INNER)  # the person's own right eye
LEFT_EYE = (lm.LEFT_EYE_OUTER, lm.LEFT_EYE_INNER)

_lock = threading.Lock()
_landmarker = None


@dataclass(frozen=True)
class Face:
    """A face found in a photo, cropped and aligned."""

    crop: np.ndarray  # (size, size, 3) uint8 RGB
    landmarks: np.ndarray  # (478, 2) pixels in `crop`
    expression: dict[str, float]  # smile, eyebrowRaise, eyeOpenness, mouthOpen (0..1)
    head_pose: dict[str, float]  # yaw, pitch, roll in degrees
    faces: int  # faces MediaPipe saw in the photo


def check_image(image: np.ndarray) -> np.ndarray:
    return check_rgb(
        image,
        "the photo",
        StyleError,
        MIN_SIDE,
        "a photo of {w}x{h} is too small to find a face in",
    )


def _detect(image: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Normalized (478, 3) landmarks of the largest, most central face, and the face count."""
    global _landmarker
    h, w = image.shape[:2]
    small = image
    if max(h, w) > MAX_DETECT_SIDE:
        k = MAX_DETECT_SIDE / max(h, w)
        small = np.asarray(
            Image.fromarray(image).resize((round(w * k), round(h * k)), Image.BILINEAR)
        )
    from engine.tracking.landmarker import FaceLandmarker  # the MediaPipe boundary

    with _lock:  # one static graph for every photo; MediaPipe graphs are not thread-safe
        if _landmarker is None:
            _landmarker = FaceLandmarker(static=True)
        result = _landmarker.process(small)
    return result.landmarks, result.faces


def expression_of(landmarks: np.ndarray, size: tuple[int, int]) -> tuple[dict, dict]:
    s = solve(landmarks, size)
    expression = {
        "smile": round(max(0.0, s.mouth_form), 3),
        "eyebrowRaise": round(float(np.clip((s.brow_l + s.brow_r) / 2, 0.0, 1.0)), 3),
        "eyeOpenness": round((s.eye_open_l + s.eye_open_r) / 2, 3),
        "mouthOpen": round(s.mouth_open, 3),
    }
    pose = {"yaw": round(s.yaw, 2), "pitch": round(s.pitch, 2), "roll": round(s.roll, 2)}
    return expression, pose


def crop_transform(points: np.ndarray, size: int) -> np.ndarray:
    """The 2x3 affine matrix taking photo pixels to crop pixels, from (478, 2) landmarks."""
    eye_r = points[list(RIGHT_EYE)].mean(axis=0)
    eye_l = points[list(LEFT_EYE)].mean(axis=0)
    d = eye_l - eye_r  # the person's left eye is on the picture's right
    angle = np.arctan2(d[1], d[0])
    c, s = np.cos(-angle), np.sin(-angle)
    rot = np.array([[c, -s], [s, c]])
    upright = points @ rot.T  # roll removed
    lo, hi = upright.min(axis=0), upright.max(axis=0)
    face_h = max(hi[1] - lo[1], (hi[0] - lo[0]) * 1.15)
    side = face_h * HEAD_MARGIN
    centre = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2 - 0.06 * face_h])
    k = size / side
    a = rot * k
    t = np.array([size / 2, size / 2]) - centre * k
    return np.hstack([a, t[:, None]])


def warp_affine(image: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """The photo resampled through the 2x3 matrix `m` (photo -> crop) into size x size."""
    full = np.vstack([m, [0.0, 0.0, 1.0]])
    inv = np.linalg.inv(full)  # PIL wants crop -> photo
    src = Image.fromarray(image)
    k = 1.0 / np.hypot(m[0, 0], m[0, 1])  # photo pixels per crop pixel
    if k > 2.0:  # shrink first so the bicubic resample does not alias
        f = int(k // 1.5)
        src = src.reduce(f)
        inv = np.diag([1.0 / f, 1.0 / f, 1.0]) @ inv
    coeffs = tuple(inv[:2].reshape(-1))
    out = src.transform((size, size), Image.AFFINE, coeffs, Image.BICUBIC, fillcolor=(0, 0, 0))
    return np.asarray(out)


def process_face(image: np.ndarray, size: int = 512) -> Face:
    """Stage 1: find the face (the largest one) and crop it, or NoFaceDetectedError."""
    image = check_image(image)
    h, w = image.shape[:2]
    landmarks, faces = _detect(image)
    if landmarks is None:
        raise NoFaceDetectedError(
            f"no face found in the photo ({w}x{h}): use a photo with one face looking at the "
            "camera, well lit and not too small"
        )
    points = landmarks[:, :2] * np.array([w, h])
    expression, pose = expression_of(landmarks, (w, h))
    m = crop_transform(points, size)
    crop = warp_affine(image, m, size)
    out_points = points @ m[:, :2].T + m[:, 2]
    return Face(crop, out_points.astype(np.float64), expression, pose, faces)
