"""World transforms (Spine's bone model) and linear blend skinning against numpy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.kernels.layout import INHERIT_NAMES, WA, WB, WC, WD, WX, WY
from engine.kernels.skinning import skin_ranges, skin_reference
from engine.kernels.transform import update_bones, world_to_local_point, world_to_local_rotation
from engine.pose import Pose
from engine.rig import parse_rig
from tests.conftest import arm_rig_data

ARM = parse_rig(arm_rig_data())


def local_matrix(row: np.ndarray) -> np.ndarray:
    x, y, r, sx, sy, shx, shy = row
    rx, ry = math.radians(r + shx), math.radians(r + 90 + shy)
    return np.array(
        [
            [math.cos(rx) * sx, math.cos(ry) * sy, x],
            [math.sin(rx) * sx, math.sin(ry) * sy, y],
            [0, 0, 1],
        ]
    )


finite = st.floats(-200, 200)
angle = st.floats(-360, 360)
scale = st.floats(0.2, 3.0)
shear = st.floats(-30, 30)
row = st.tuples(finite, finite, angle, scale, scale, shear, shear)


@settings(max_examples=150, deadline=None)
@given(st.lists(row, min_size=1, max_size=8))
def test_normal_inherit_is_matrix_composition(rows: list[tuple[float, ...]]) -> None:
    n = len(rows)
    local = np.array(rows, dtype=np.float64)
    parent = np.arange(-1, n - 1, dtype=np.int64)  # a chain
    world = np.zeros((n, 6))
    update_bones(np.arange(n, dtype=np.int64), parent, np.zeros(n, np.int64), local, world)
    m = np.eye(3)
    for b in range(n):
        m = m @ local_matrix(local[b])
        got = np.array(
            [[world[b, WA], world[b, WB], world[b, WX]], [world[b, WC], world[b, WD], world[b, WY]]]
        )
        np.testing.assert_allclose(got, m[:2], rtol=1e-9, atol=1e-6 * max(1.0, np.abs(m).max()))


@settings(max_examples=100, deadline=None)
@given(row, row)
def test_inherit_modes_drop_what_they_say(p: tuple[float, ...], c: tuple[float, ...]) -> None:
    local = np.array([p, c], dtype=np.float64)
    parent = np.array([-1, 0], dtype=np.int64)
    results = {}
    for mode in range(len(INHERIT_NAMES)):
        world = np.zeros((2, 6))
        update_bones(
            np.arange(2, dtype=np.int64), parent, np.array([0, mode], np.int64), local, world
        )
        results[INHERIT_NAMES[mode]] = world[1].copy()
    # every mode places the child's origin through the parent's full transform
    for w in results.values():
        np.testing.assert_allclose(w[4:], results["normal"][4:], atol=1e-6)
    only = results["onlyTranslation"]
    np.testing.assert_allclose(only[:4], local_matrix(local[1])[:2, :2].ravel(), atol=1e-9)
    for mode in ("noScale", "noScaleOrReflection"):  # axis lengths are the child's own scale
        w = results[mode]
        assert math.hypot(w[WA], w[WC]) == pytest.approx(c[3], rel=1e-6)
        assert math.hypot(w[WB], w[WD]) == pytest.approx(c[4], rel=1e-6)


@settings(max_examples=100, deadline=None)
@given(row, row, angle, finite, finite)
def test_world_to_local_inverts_the_parent(p, c, a, wx, wy) -> None:
    local = np.array([p, c], dtype=np.float64)
    parent = np.array([-1, 0], dtype=np.int64)
    inherit = np.zeros(2, np.int64)
    world = np.zeros((2, 6))
    order = np.arange(2, dtype=np.int64)
    update_bones(order, parent, inherit, local, world)
    local[1, 2] = world_to_local_rotation(1, parent, world, local, a)
    local[1, 0], local[1, 1] = world_to_local_point(1, parent, world, wx, wy)
    update_bones(order, parent, inherit, local, world)
    got = math.degrees(math.atan2(world[1, WC], world[1, WA]))
    assert (got - a + 180) % 360 - 180 == pytest.approx(0, abs=1e-6)
    assert world[1, WX] == pytest.approx(wx, abs=1e-6) and world[1, WY] == pytest.approx(
        wy, abs=1e-6
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 200), st.integers(0, 2**32 - 1))
def test_numba_skinning_matches_the_numpy_reference(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    world = rng.normal(size=(6, 6))
    bones = rng.integers(0, 6, size=(n, 4))
    weights = rng.random((n, 4)) * (rng.random((n, 4)) > 0.3)
    weights[:, 0] += 1e-3
    weights /= weights.sum(axis=1, keepdims=True)
    local = rng.normal(size=(n, 4, 2)) * 50
    out = np.zeros((n, 2))
    deform = rng.normal(size=(n, 2)) * 5
    anchor = rng.integers(0, 6, size=n)
    one = (np.array([0]), np.array([n]), out, deform, anchor)
    skin_ranges(world, bones, weights, local, *one, np.array([True]))
    expected = skin_reference(world, bones, weights, local, deform, anchor)
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-9)
    skin_ranges(world, bones, weights, local, *one, np.array([False]))
    expected = skin_reference(world, bones, weights, local)
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.floats(-170, 170), st.floats(-170, 170), st.floats(-50, 50), st.floats(-50, 50))
def test_single_weight_vertex_moves_rigidly_with_its_bone(r1, r2, dx, dy) -> None:
    rig = ARM
    pose = Pose(rig)
    before = skin_reference(pose.world, rig.skin_bones, rig.skin_weights, rig.skin_local)
    w0 = pose.world.copy()
    pose.local[2, 2] += r1
    pose.local[3, 2] += r2
    pose.local[1, 0] += dx
    pose.local[1, 1] += dy
    pose.update_world()
    after = skin_reference(pose.world, rig.skin_bones, rig.skin_weights, rig.skin_local)
    for v in range(rig.vertex_count):
        if rig.skin_weights[v, 0] != 1.0:
            continue
        b = rig.skin_bones[v, 0]
        # the vertex expressed in its bone's frame is the same before and after
        for world, pos in ((w0, before[v]), (pose.world, after[v])):
            m = np.array([[world[b, WA], world[b, WB]], [world[b, WC], world[b, WD]]])
            rel = np.linalg.solve(m, pos - world[b, 4:6])
            np.testing.assert_allclose(rel, rig.skin_local[v, 0], atol=1e-9)
