"""The reference face and the solver's landmark indices against MediaPipe itself."""

from __future__ import annotations

import json

import numpy as np
from mediapipe.python.solutions import face_mesh_connections as fmc

from engine.tracking import solver
from tests.content import build_script


def _points(group: frozenset) -> set[int]:
    return {i for edge in group for i in edge}


def test_the_solvers_indices_are_mediapipes_features() -> None:
    """Right and left are the person's own in MediaPipe's naming, as in ours."""
    for eye, group in (
        (solver.RIGHT_EYE, fmc.FACEMESH_RIGHT_EYE),
        (solver.LEFT_EYE, fmc.FACEMESH_LEFT_EYE),
    ):
        lids = {i for pair in eye["lids"] for i in pair}
        assert lids | {eye["outer"], eye["inner"]} <= _points(group)
    assert set(solver.RIGHT_BROW) <= _points(fmc.FACEMESH_RIGHT_EYEBROW)
    assert set(solver.LEFT_BROW) <= _points(fmc.FACEMESH_LEFT_EYEBROW)
    lips = {i for pair in solver.INNER_LIPS for i in pair} | set(solver.MOUTH_CORNERS)
    assert lips | {solver.UPPER_LIP} <= _points(fmc.FACEMESH_LIPS)
    # iris centres sit inside their iris rings' index blocks
    assert solver.RIGHT_EYE["iris"] + 1 in _points(fmc.FACEMESH_RIGHT_IRIS)
    assert solver.LEFT_EYE["iris"] + 1 in _points(fmc.FACEMESH_LEFT_IRIS)


def test_rigid_points_leave_out_everything_expressions_move() -> None:
    ref = solver.reference()
    moving = set()
    for g in (fmc.FACEMESH_LIPS, fmc.FACEMESH_LEFT_EYE, fmc.FACEMESH_RIGHT_EYE,
              fmc.FACEMESH_LEFT_EYEBROW, fmc.FACEMESH_RIGHT_EYEBROW, fmc.FACEMESH_IRISES):  # fmt: skip
        moving |= _points(g)
    rigid = set(ref.rigid.tolist())
    assert len(rigid) > 100 and not rigid & moving
    assert max(ref.points[ref.rigid, 1]) > 0.5  # forehead
    assert min(ref.points[ref.rigid, 1]) >= ref.points[2, 1]  # nothing below the nose


def test_the_reference_is_symmetric_and_frontal() -> None:
    doc = json.loads(solver.REFERENCE_FILE.read_text())
    pts, partner = np.array(doc["points"]), np.array(doc["mirror"])
    assert (partner[partner] == np.arange(len(partner))).all()  # an involution
    assert np.allclose(pts[partner] * [-1, 1, 1], pts, atol=1e-4)
    assert np.isclose(np.linalg.norm(pts[263] - pts[33]), 1.0, atol=1e-4)  # the unit


def test_the_content_build_reproduces_the_committed_reference() -> None:
    built = build_script("face_reference").build()
    committed = json.loads(solver.REFERENCE_FILE.read_text())
    assert built["rigid"] == committed["rigid"] and built["mirror"] == committed["mirror"]
    assert np.allclose(built["points"], committed["points"], atol=2e-4)
