"""The landmarker reads MediaPipe's landmark lists from their wire bytes (`_points`): the
same numbers, bit for bit, as reading each field, and the field-by-field read wherever
the bytes are laid out otherwise."""

from __future__ import annotations

import numpy as np
from mediapipe.framework.formats import landmark_pb2

from engine.tracking.landmarker import FaceLandmarker, _points
from tests.photos import astronaut


def _by_field(face: landmark_pb2.NormalizedLandmarkList) -> np.ndarray:
    return np.array([(p.x, p.y, p.z) for p in face.landmark], np.float64).reshape(-1, 3)


def _listed(points: list[dict]) -> landmark_pb2.NormalizedLandmarkList:
    face = landmark_pb2.NormalizedLandmarkList()
    for p in points:
        face.landmark.add(**p)
    return face


def test_a_real_face_reads_the_same_as_field_by_field() -> None:
    with FaceLandmarker(static=True) as lm:
        out = lm._mesh.process(astronaut())
    face = out.multi_face_landmarks[0]
    points = _points(face)
    assert points.shape == (478, 3) and points.dtype == np.float64
    assert np.array_equal(points, _by_field(face))


def test_other_layouts_are_read_field_by_field() -> None:
    rng = np.random.default_rng(2)
    plain = [{"x": float(x), "y": float(y), "z": float(z)} for x, y, z in rng.random((5, 3))]
    cases = {
        "visibility set": [*plain[:2], {**plain[2], "visibility": 0.5}, *plain[3:]],
        "no z": [*plain[:4], {"x": 0.25, "y": 0.75}],
        "zeros set": [{"x": 0.0, "y": 0.0, "z": 0.0}, *plain[1:]],
        "negative and tiny": [{"x": -1e-30, "y": 1e30, "z": -0.0}],
        "plain": plain,
    }
    for name, points in cases.items():
        face = _listed(points)
        assert np.array_equal(_points(face), _by_field(face)), name
    assert _points(_listed([])).shape == (0, 3)
