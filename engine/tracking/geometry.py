"""Face geometry in 3-D: lifting MediaPipe's normalized landmarks into an isotropic frame,
the similarity fit of a reference face (Umeyama), and head angles from a rotation.

Frames (all right-handed):
- camera frame: x to the picture's right, y up, z towards the camera, in pixels. MediaPipe
  gives x and y as fractions of the picture's width and height with y down, and z on x's
  scale with smaller values nearer the camera, so `lift` scales by (w, -h, -w).
- face frame: the reference face's own axes: x from the person's right eye to their left,
  y from chin to forehead, z out of the face.

A head rotation R maps face-frame directions into the camera frame, and is read as
`R = Rz(roll) @ Ry(yaw) @ Rx(-pitch)`: pitch first (nodding in the face's own frame), then
yaw, then roll in the picture's plane. So an in-plane rotation of the picture changes roll
alone, and FaceSignals' signs follow (yaw > 0 turns the face towards the picture's right,
pitch > 0 looks up, roll > 0 is counter-clockwise).
"""

from __future__ import annotations

import numpy as np

from engine.landmarks import CHIN, FOREHEAD, LEFT_EYE_OUTER, RIGHT_EYE_OUTER


def lift(landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(n, 3) normalized landmarks -> camera-frame points in pixels."""
    w, h = image_size
    return landmarks * np.array([w, -h, -w], dtype=np.float64)


def symmetry_frame(
    points: np.ndarray, mirror: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A face's own axes (columns of the returned rotation) and centre. With `mirror`
    (each point's mirror partner) the x axis is the normal of the best symmetry plane;
    without it, the outer eye corners' line."""
    centre = points.mean(axis=0)
    eye_line = points[LEFT_EYE_OUTER] - points[RIGHT_EYE_OUTER]
    if mirror is None:
        x = eye_line
    else:
        paired = mirror != np.arange(len(mirror))
        d = points[paired] - points[mirror[paired]]
        _, vecs = np.linalg.eigh(d.T @ d)
        x = vecs[:, -1] * np.sign(vecs[:, -1] @ eye_line)
    x = x / np.linalg.norm(x)
    up = points[FOREHEAD] - points[CHIN]
    y = up - (up @ x) * x
    y /= np.linalg.norm(y)
    return np.column_stack([x, y, np.cross(x, y)]), centre


def fit_similarity(
    reference: np.ndarray, observed: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares s, R, t with observed ≈ s * reference @ R.T + t (Umeyama 1991); R is a
    proper rotation."""
    mu_r = reference.mean(axis=0)
    mu_o = observed.mean(axis=0)
    a = reference - mu_r
    b = observed - mu_o
    cov = b.T @ a / len(a)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[2] = -1.0
    rot = (u * d) @ vt
    var_r = (a * a).sum() / len(a)
    s = float((sig * d).sum() / var_r)
    return s, rot, mu_o - s * mu_r @ rot.T


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The head rotation for angles in degrees (see the module docstring)."""
    a, b, c = np.radians([-pitch, yaw, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def angles(rot: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a head rotation; inverse of `rotation` for
    |yaw| < 90."""
    yaw = np.degrees(np.arcsin(np.clip(-rot[2, 0], -1.0, 1.0)))
    pitch = -np.degrees(np.arctan2(rot[2, 1], rot[2, 2]))
    roll = np.degrees(np.arctan2(rot[1, 0], rot[0, 0]))
    return float(yaw), float(pitch), float(roll)
