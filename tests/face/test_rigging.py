"""The face rig in art space (pure numpy), on every style of every bundled real face photo
(the astronaut smiles with parted lips, so the rest pose has work to do): each parameter's deform does what it claims and nothing else, and no deform folds
the mesh over itself."""

from __future__ import annotations

import numpy as np
import pytest

from engine.face.rigging import FaceRig, FaceRigError, rig_face
from engine.face.topology import topology
from engine.style import STYLES
from tests.photos import PHOTOS
from tests.worn import generated

NOSE_TIP, CHEEK_R, CHEEK_L = 1, 234, 454


@pytest.fixture(scope="module", params=[(p, s) for p in PHOTOS for s in STYLES], ids="-".join)
def art(request) -> np.ndarray:
    return generated(*request.param).landmarks


@pytest.fixture(scope="module")
def rig(art) -> FaceRig:
    return rig_face(art, 512)


def _at(rig: FaceRig, pid: str, value: float) -> np.ndarray:
    """The face's vertices with one parameter at `value` (linear between keys)."""
    keys = rig.face.deforms[pid]
    xs = [v for v, _ in keys]
    j = int(np.clip(np.searchsorted(xs, value), 1, len(xs) - 1))
    a = (value - xs[j - 1]) / (xs[j] - xs[j - 1])
    d = keys[j - 1][1] + (keys[j][1] - keys[j - 1][1]) * np.clip(a, 0, 1)
    return rig.face.vertices + d


def _gap(v: np.ndarray, hole) -> np.ndarray:
    return v[hole.lower[1:-1], 1] - v[hole.upper[1:-1], 1]


def test_the_face_rests_with_its_mouth_closed_and_the_art_as_its_texture(art, rig) -> None:
    t = topology()
    assert np.abs(_gap(rig.face.vertices, t.mouth)).max() < 0.5
    assert np.allclose(rig.face.uvs * 512, art)
    # nothing but the lips moved to close it
    lips = np.concatenate([t.mouth.upper, t.mouth.lower])
    far = np.linalg.norm(art - art[lips].mean(axis=0), axis=1) > 0.6 * rig.width
    assert np.abs(rig.face.vertices[far] - art[far]).max() < 0.01


def test_opening_the_mouth_drops_the_lower_lip_and_keeps_the_corners(rig) -> None:
    t = topology()
    rest, open_ = rig.face.vertices, _at(rig, "ParamMouthOpenY", 1.0)
    mouth_w = np.linalg.norm(rest[291] - rest[61])
    assert _gap(open_, t.mouth).max() > 0.35 * mouth_w
    assert (_gap(open_, t.mouth) >= -0.01).all()  # the lips never cross
    half = _gap(_at(rig, "ParamMouthOpenY", 0.5), t.mouth).max()
    assert half == pytest.approx(_gap(open_, t.mouth).max() / 2, rel=0.02)
    for i in (*t.mouth.corners, 61, 291, NOSE_TIP, 159, 386, *t.mouth.upper):
        assert np.linalg.norm(open_[i] - rest[i]) < 0.02 * mouth_w, i
    assert open_[152, 1] - rest[152, 1] > 0.1 * mouth_w  # the chin follows the jaw


@pytest.mark.parametrize("pid,eye,other", [("ParamEyeROpen", "eye_right", "eye_left"),
                                           ("ParamEyeLOpen", "eye_left", "eye_right")])  # fmt: skip
def test_closing_an_eye_brings_its_lids_together_and_only_its_lids(rig, pid, eye, other) -> None:
    t = topology()
    rest, shut = rig.face.vertices, _at(rig, pid, 0.0)
    hole, far = getattr(t, eye), getattr(t, other)
    assert _gap(rest, hole).min() > 2  # open in the art (the lower lid lies lower: y down)
    assert np.abs(_gap(shut, hole)).max() < 0.05
    half = _gap(_at(rig, pid, 0.5), hole)
    assert np.allclose(half, _gap(rest, hole) / 2, atol=0.05)
    moved = np.linalg.norm(shut - rest, axis=1)
    assert moved[np.concatenate([far.upper, far.lower])].max() < 1e-6
    assert moved[[NOSE_TIP, 13, 14, 152]].max() < 1e-6
    lid = np.abs(_gap(rest, hole)).max()
    brow = t.brow_right if eye == "eye_right" else t.brow_left
    assert moved[brow].max() < 0.35 * lid  # the skin above follows, the brow hardly


def test_turning_moves_the_nose_more_than_the_cheeks_and_the_right_way(rig) -> None:
    rest = rig.face.vertices
    for deg, sign in ((30, 1), (-30, -1)):
        v = _at(rig, "ParamAngleX", deg)
        nose = (v[NOSE_TIP, 0] - rest[NOSE_TIP, 0]) * sign
        cheeks = (v[[CHEEK_R, CHEEK_L], 0] - rest[[CHEEK_R, CHEEK_L], 0]) * sign
        assert nose > 0.05 * rig.width and nose > cheeks.max() + 0.03 * rig.width
        assert np.abs(v[:, 1] - rest[:, 1]).max() == 0  # a turn about the vertical
    up = _at(rig, "ParamAngleY", 30)
    assert rest[NOSE_TIP, 1] - up[NOSE_TIP, 1] > 0.05 * rig.width  # looking up: nose rises
    # the hair layer shifts the other way (parallax)
    back = dict(rig.back.deforms["ParamAngleX"])[30.0]
    assert (back[:, 0] < 0).all()


def test_brows_raise_and_lower_without_moving_the_mouth(rig) -> None:
    t = topology()
    rest = rig.face.vertices
    up, down = _at(rig, "ParamBrowRY", 1.0), _at(rig, "ParamBrowRY", -1.0)
    assert (up[t.brow_right, 1] < rest[t.brow_right, 1] - 1).all()
    assert (down[t.brow_right, 1] > rest[t.brow_right, 1] + 0.5).all()
    assert np.abs(up[t.brow_left] - rest[t.brow_left]).max() < 0.5
    assert np.abs(up[[13, 14, 61, 291]] - rest[[13, 14, 61, 291]]).max() < 1e-6


def test_a_smile_lifts_the_mouth_corners(rig) -> None:
    rest = rig.face.vertices
    smile, frown = _at(rig, "ParamMouthForm", 1.0), _at(rig, "ParamMouthForm", -1.0)
    for i in (61, 291):
        assert smile[i, 1] < rest[i, 1] - 1 and frown[i, 1] > rest[i, 1] + 1
    assert smile[291, 0] - smile[61, 0] > rest[291, 0] - rest[61, 0]  # and widens it


def _areas(v: np.ndarray, tris: np.ndarray) -> np.ndarray:
    a, b, c = v[tris[:, 0]], v[tris[:, 1]], v[tris[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def test_no_deform_folds_a_triangle_over(rig) -> None:
    tris = rig.face.triangles
    v = rig.face.vertices
    rest = _areas(v, tris)
    longest = np.max([np.linalg.norm(v[tris[:, a]] - v[tris[:, b]], axis=1)
                      for a, b in ((0, 1), (1, 2), (0, 2))], axis=0)  # fmt: skip
    solid = np.abs(rest) / longest > 1.0  # at least a pixel high: slivers (the shut mouth's) aside
    for pid, keys in rig.face.deforms.items():
        for value, d in keys:
            now = _areas(rig.face.vertices + d, tris)
            # turned over with a twentieth of its area or more: a shut eye's triangles
            # collapse onto the lid line, flat, and may land a hair either way
            flipped = solid & (np.sign(now) != np.sign(rest)) & (np.abs(now) > 0.05 * np.abs(rest))
            if pid in ("ParamEyeROpen", "ParamEyeLOpen") and value == 0.0:
                # a shut eye's fill collapses onto the curved lid line (its slivers lie
                # under the drawn lid layer): only the skin round it must not fold
                flipped[len(topology().triangles) :] = False
            assert not flipped.any(), (pid, value, np.nonzero(flipped)[0][:5])


def test_landmarks_that_are_no_face_are_refused(art) -> None:
    with pytest.raises(FaceRigError, match="478"):
        rig_face(art[:468], 512)
    with pytest.raises(FaceRigError, match="too small"):
        rig_face(np.full((478, 2), 100.0) + np.random.default_rng(0).random((478, 2)), 512)
    with pytest.raises(FaceRigError, match="outside"):
        rig_face(art * 4, 512)
    bad = art.copy()
    bad[5, 0] = np.nan
    with pytest.raises(FaceRigError, match="finite"):
        rig_face(bad, 512)


def test_a_shut_eye_is_drawn_as_a_clean_lid_line(rig) -> None:
    """The lid layers: their lash line runs where the shut lids meet, and they show only
    as the eye shuts."""
    t = topology()
    for lid, hole, pid in ((rig.lids[0], t.eye_right, "ParamEyeROpen"),
                           (rig.lids[1], t.eye_left, "ParamEyeLOpen")):  # fmt: skip
        n = len(hole.upper)
        line = (lid.vertices[n : 2 * n] + lid.vertices[2 * n :]) / 2
        shut = _at(rig, pid, 0.0)[hole.upper]
        assert np.abs(line - shut).max() < 0.5
        assert (lid.vertices[:n, 1] < line[:, 1]).all()  # the lid skin above the line
        xs, alphas = np.array(lid.alpha[pid]).T
        assert np.interp(0.0, xs, alphas) == 1.0 and np.interp(0.5, xs, alphas) == 0.0
        assert set(lid.deforms) == {"ParamAngleX", "ParamAngleY"}
