"""engine/kernels/extent.py (numba) against numpy: how small each picture is drawn, the
mip level that picks its hull, and the pixels a frame's geometry can touch."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.kernels.extent import (
    frame_bounds,
    hull_levels,
    mesh_smallest_scale,
    smallest_singular,
)
from engine.kernels.layout import WA, WB, WC, WD, WX, WY
from engine.kernels.skinning import skin_reference

MAX_LEVEL = 4


def _world(rng: np.random.Generator, bones: int) -> np.ndarray:
    world = np.zeros((bones, 6))
    angle = rng.uniform(-math.pi, math.pi, bones)
    scale = rng.uniform(0.05, 2.0, (bones, 2))
    world[:, WA] = np.cos(angle) * scale[:, 0]
    world[:, WB] = -np.sin(angle) * scale[:, 1]
    world[:, WC] = np.sin(angle) * scale[:, 0]
    world[:, WD] = np.cos(angle) * scale[:, 1]
    world[:, WX], world[:, WY] = rng.uniform(-300, 300, (2, bones))
    return world


def _level(s: float) -> int:
    """The level a picture drawn at scale `s` (texels -> pixels) is sampled at, as GL picks
    it (log2 of the texel step per pixel), with the renderer's quarter level of slack."""
    if not s > 0:
        return MAX_LEVEL + 1
    return int(np.clip(math.floor(-math.log2(s) + 0.25) + 1, 0, MAX_LEVEL + 1))


def _off_edge(x: float) -> float:
    return min(x % 1, 1 - x % 1)


@settings(max_examples=40, deadline=None)
@given(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3), st.floats(-1e3, 1e3), st.floats(-1e3, 1e3))
def test_the_smallest_singular_value_is_numpys(a: float, b: float, c: float, d: float) -> None:
    expected = np.linalg.svd(np.array([[a, b], [c, d]]), compute_uv=False).min()
    assert math.isclose(smallest_singular(a, b, c, d), expected, rel_tol=1e-6, abs_tol=1e-3)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_hull_levels_match_the_svd_of_every_picture(seed: int) -> None:
    rng = np.random.default_rng(seed)
    bones, verts = 6, 40
    world = _world(rng, bones)
    sx, sy = rng.uniform(0.05, 2.0), -rng.uniform(0.05, 2.0)  # y flips, as the view does
    # regions: a bone and the inverse of its picture's texel steps in the bone's frame
    region_bones = rng.integers(0, bones, 5)
    region_texel = rng.normal(size=(5, 2, 2)) * rng.uniform(0.05, 3.0, (5, 1, 1))
    # two meshes of 20 vertices, 12 triangles each (one triangle with no texel area)
    skin_bones = rng.integers(0, bones, (verts, 4))
    skin_weights = rng.dirichlet(np.ones(4), verts)
    skin_local = rng.normal(size=(verts, 4, 2)) * 50
    anchor = rng.integers(0, bones, verts)
    deform = rng.normal(size=(verts, 2)) * 3
    starts, ends = np.array([0, 20]), np.array([20, 40])
    tris = np.concatenate([rng.integers(0, 20, (12, 3)), rng.integers(20, 40, (12, 3))])
    tex_inv = rng.normal(size=(24, 2, 2))
    tex_inv[5] = 0.0
    live = np.abs(tex_inv).sum(axis=(1, 2)) > 0
    first = np.array([0, 12])
    for shown in (np.ones(7, bool), np.array([1, 0, 1, 1, 0, 0, 1], bool)):
        deformed = np.array([True, False])
        skinned = np.zeros((verts, 2))
        levels = np.full(7, 9, np.int8)
        hull_levels(
            world, sx, sy, region_bones, region_texel, skin_bones, skin_weights, skin_local,
            anchor, deform, starts, ends, deformed, tris, tex_inv, live, first, shown,
            MAX_LEVEL, skinned, levels,
        )  # fmt: skip
        to_px = np.diag([sx, sy])
        want = []
        for b, t in zip(region_bones, region_texel, strict=True):
            lin = np.array([[world[b, WA], world[b, WB]], [world[b, WC], world[b, WD]]])
            want.append(np.linalg.svd(to_px @ lin @ t, compute_uv=False).min())
        ref = skin_reference(world, skin_bones, skin_weights, skin_local)
        ref[:20] = skin_reference(world, skin_bones, skin_weights, skin_local, deform, anchor)[:20]
        for k in range(2):
            if shown[5 + k]:  # a shown mesh is skinned (the deformed one with its offsets)
                np.testing.assert_allclose(skinned[starts[k] : ends[k]], ref[starts[k] : ends[k]])
            scales = [
                np.linalg.svd(
                    to_px @ np.column_stack([ref[b] - ref[a], ref[c] - ref[a]]) @ tex_inv[t],
                    compute_uv=False,
                ).min()
                for t, (a, b, c) in enumerate(tris)
                if first[k] <= t < first[k] + 12 and live[t]
            ]
            want.append(min(scales))
        expected = [_level(s) if on else -1 for s, on in zip(want, shown, strict=True)]
        # a scale within rounding of a level's edge may land on either side
        near = [0 < s < np.inf and _off_edge(-math.log2(s) + 0.25) < 1e-9 for s in want]
        got = levels.tolist()
        assert all(g == e or n for g, e, n in zip(got, expected, near, strict=True)), want


def test_each_triangle_counts_to_its_own_mesh_and_an_empty_one_to_none() -> None:
    skinned = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    out = np.zeros(4)
    tris = np.array([[0, 1, 2], [0, 1, 2], [0, 1, 2]])
    inv = np.stack([np.eye(2), np.eye(2) / 2, np.eye(2) / 4])
    live = np.array([True, True, False])
    # meshes: [0, 1) scale 10, [1, 1) no triangle, [1, 2) scale 5, [2, 3) a dead triangle
    mesh_smallest_scale(skinned, tris, inv, live, np.array([0, 1, 1, 2]), 1.0, 1.0, out)
    assert out.tolist() == [10.0, np.inf, 5.0, np.inf]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_frame_bounds_hold_every_point_within_a_pixel(seed: int) -> None:
    rng = np.random.default_rng(seed)
    world = _world(rng, 4)
    skinned = rng.uniform(-400, 400, (30, 2))
    rows = np.sort(rng.choice(30, rng.integers(0, 30), replace=False))
    region_bones = rng.integers(0, 4, 3)
    corners = rng.uniform(-60, 60, (3, 4, 2))
    regions = rng.random(3) < 0.6
    s = rng.uniform(0.001, 0.01)
    view = np.array([[s, 0, rng.uniform(-0.5, 0.5)], [0, s, rng.uniform(-0.5, 0.5)], [0, 0, 1]])
    w, h = 320, 240
    got = frame_bounds(skinned, rows, world, region_bones, corners, regions, view, w, h)
    pts = [skinned[rows]]
    for b, c in zip(region_bones[regions], corners[regions], strict=True):
        x = world[b, WA] * c[:, 0] + world[b, WB] * c[:, 1] + world[b, WX]
        y = world[b, WC] * c[:, 0] + world[b, WD] * c[:, 1] + world[b, WY]
        pts.append(np.column_stack([x, y]))
    p = np.concatenate(pts)
    if not len(p):
        assert got == (0, 0, 0, 0)
        return
    px = (p[:, 0] * view[0, 0] + view[0, 2] + 1) * w / 2
    py = (p[:, 1] * view[1, 1] + view[1, 2] + 1) * h / 2
    lo = np.clip(np.floor([px.min(), py.min()]) - 1, 0, [w, h])
    hi = np.clip(np.ceil([px.max(), py.max()]) + 1, 0, [w, h])
    expected = (int(lo[0]), int(lo[1]), int(max(lo[0], hi[0])), int(max(lo[1], hi[1])))
    assert got == expected
