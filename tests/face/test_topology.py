"""MediaPipe's face topology as committed: a clean disc with three holes whose named
contours are its boundary, and exactly what the build script makes from the wheel."""

from __future__ import annotations

import collections
import itertools
import json

import numpy as np

from engine.face.topology import MESH_POINTS, TOPOLOGY_FILE, topology
from tests.content import build_script


def _edge_uses(tris: np.ndarray) -> collections.Counter:
    return collections.Counter(
        tuple(sorted((int(t[a]), int(t[b])))) for t in tris for a, b in ((0, 1), (1, 2), (0, 2))
    )


def test_the_tessellation_is_a_manifold_disc_with_three_holes() -> None:
    t = topology()
    uses = _edge_uses(t.triangles)
    assert set(uses.values()) == {1, 2}  # no edge is shared by three triangles
    verts = np.unique(t.triangles)
    assert len(verts) == MESH_POINTS and verts.max() == MESH_POINTS - 1
    assert len(verts) - len(uses) + len(t.triangles) == -2  # Euler: a disc with 3 holes


def test_the_named_contours_are_exactly_the_boundary() -> None:
    t = topology()
    boundary = {e for e, n in _edge_uses(t.triangles).items() if n == 1}
    loops = [np.append(t.outline, t.outline[0])]
    for hole in (t.eye_right, t.eye_left, t.mouth):
        assert hole.upper[0] == hole.lower[0] and hole.upper[-1] == hole.lower[-1]
        assert len(hole.upper) == len(hole.lower)
        loops += [hole.upper, hole.lower]
    named = {tuple(sorted((int(a), int(b)))) for lp in loops for a, b in itertools.pairwise(lp)}
    assert named == boundary
    assert t.eye_right.corners == (33, 133) and t.mouth.corners == (78, 308)
    assert 159 in t.eye_right.upper and 145 in t.eye_right.lower
    assert 13 in t.mouth.upper and 14 in t.mouth.lower


def test_the_committed_file_is_what_the_build_script_makes() -> None:
    assert json.loads(TOPOLOGY_FILE.read_text()) == build_script("face_topology").build()
