"""Synthetic faces for the solver's tests: the reference face (or a deformed copy) posed by
known angles in front of a pinhole camera and put into MediaPipe's normalized form, the way
FaceMesh would report it (x, y as fractions of the picture, y down; z on x's scale,
smaller nearer the camera)."""

from __future__ import annotations

import numpy as np

from engine.tracking.geometry import rotation
from engine.tracking.solver import INNER_LIPS, LEFT_EYE, RIGHT_EYE, reference

EYE_SPAN_CM = 9.0  # outer eye corner to outer eye corner on an adult face


def face_points() -> np.ndarray:
    """The reference face in its own frame (outer eye corners 1 apart), a copy."""
    return reference().points.copy()


def project(
    face: np.ndarray,
    yaw: float = 0.0,
    pitch: float = 0.0,
    roll: float = 0.0,
    size: tuple[int, int] = (640, 480),
    distance_cm: float = 55.0,
    offset_cm: tuple[float, float] = (0.0, 0.0),
    focal: float = 1.1,
) -> np.ndarray:
    """(478, 3) normalized landmarks of `face` turned by the angles (degrees) and seen by a
    camera with focal length `focal` picture widths, `distance_cm` away."""
    w, h = size
    f = focal * w
    cam = face * EYE_SPAN_CM @ rotation(yaw, pitch, roll).T  # x right, y up, z to the camera
    cam += np.array([offset_cm[0], offset_cm[1], 0.0])
    depth = distance_cm - cam[:, 2]  # along the view axis, positive in front
    px = w / 2 + f * cam[:, 0] / depth
    py = h / 2 - f * cam[:, 1] / depth
    # MediaPipe's z: relative depth at the face's own scale (as x), nearer is smaller
    z = (depth - distance_cm) * (f / distance_cm) / w
    return np.column_stack([px / w, py / h, z])


def open_mouth(face: np.ndarray, amount: float) -> np.ndarray:
    """The jaw dropped by `amount` (eye-span units): everything below the lips' parting
    moves down, the mouth corners half as much."""
    out = face.copy()
    top, bottom = INNER_LIPS[0]
    parting = (face[top, 1] + face[bottom, 1]) / 2
    weight = np.clip((parting - face[:, 1]) / 0.005, 0.0, 1.0)
    weight[[61, 291, 78, 308]] = 0.5
    out[:, 1] -= amount * weight
    return out


def close_eye(face: np.ndarray, side: str, amount: float = 1.0) -> np.ndarray:
    """Upper lids of one eye ('l' or 'r', the person's own) lowered onto the lower lids."""
    out = face.copy()
    eye = LEFT_EYE if side == "l" else RIGHT_EYE
    for upper, lower in eye["lids"]:
        out[upper] = face[upper] + (face[lower] - face[upper]) * amount * 0.97
    return out


def shape_mouth(face: np.ndarray, opening: float, width: float) -> np.ndarray:
    """Lips parted by `opening` (eye-span units) and the mouth's width scaled by `width`
    about its centre (corners and every lip point alike)."""
    out = open_mouth(face, opening)
    corners = np.array([61, 291])
    centre_x = face[corners, 0].mean()
    mouth = np.abs(face[:, 0] - centre_x) < np.abs(face[corners[0], 0] - centre_x) * 1.05
    lips = mouth & (np.abs(face[:, 1] - face[corners, 1].mean()) < 0.2)
    out[lips, 0] = centre_x + (out[lips, 0] - centre_x) * width
    return out


def mirror(landmarks: np.ndarray) -> np.ndarray:
    """What FaceMesh reports for the mirrored picture: x flipped, and each point swapped
    with its mirror partner (the person's left eye is now their right)."""
    import json

    from engine.tracking.solver import REFERENCE_FILE

    partner = np.array(json.loads(REFERENCE_FILE.read_text())["mirror"])
    out = landmarks[partner].copy()
    out[:, 0] = 1.0 - out[:, 0]
    return out
