"""engine/hulls.py: opaque hulls hold every texel with alpha > 0 (and no more than they
must), mesh clipping keeps the picture inside the polygon, mip supports and opaque cores."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.hulls import (
    DIRECTIONS,
    MipSupport,
    clip_triangles,
    contains,
    core_rectangle,
    covers,
    fan,
    grow,
    opaque_core,
    opaque_hull,
    slender,
    support_polygon,
)


def _texel_corners(mask: np.ndarray, reach: float = 0.0) -> np.ndarray:
    """Every corner of every True texel's square, grown by `reach` and clipped to the
    picture (n, 2)."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    pts = [
        np.stack([xs + dx, ys + dy], axis=1).astype(float)
        for dx in (-reach, 1 + reach)
        for dy in (-reach, 1 + reach)
    ]
    return np.clip(np.concatenate(pts), 0, [w, h])


def _area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


alphas = arrays(
    np.uint8,
    st.tuples(st.integers(1, 24), st.integers(1, 24)),
    elements=st.sampled_from([0, 0, 0, 1, 128, 255]),
)


@settings(max_examples=150, deadline=None)
@given(alpha=alphas, reach=st.sampled_from([0.0, 1.0, 2.5, 10.0]))
def test_the_hull_holds_every_texel_with_alpha(alpha: np.ndarray, reach: float) -> None:
    poly = opaque_hull(alpha, reach)
    if not alpha.any():
        assert poly.shape == (0, 2)
        return
    h, w = alpha.shape
    assert 3 <= len(poly) <= DIRECTIONS + 4
    assert (poly >= 0).all() and (poly[:, 0] <= w).all() and (poly[:, 1] <= h).all()
    assert _area(poly) > 0  # counter-clockwise as numbers go
    # stored hulls are rounded to 2 decimals: still holding every texel, grown by reach
    stored = np.round(poly, 2)
    assert contains(stored, _texel_corners(alpha > 0, reach), 1e-9).all()
    assert covers(stored, alpha)


def test_the_hull_hugs_the_art() -> None:
    alpha = np.zeros((100, 100), np.uint8)
    for i in range(10, 90):  # a diagonal stroke 3 texels wide
        alpha[i, i - 1 : i + 2] = 200
    poly = opaque_hull(alpha)
    assert _area(poly) < 0.15 * 100 * 100  # the rectangle would be 10000
    assert not covers(poly * 0.9 + 5, alpha)  # shrunk, it misses texels: covers() can tell


def test_grow_is_a_superset_and_stays_in_the_picture() -> None:
    alpha = np.zeros((40, 60), np.uint8)
    alpha[10:20, 30:35] = 255
    poly = opaque_hull(alpha)
    for directions in (4, 8, 16):
        grown = grow(poly, 5.0, (60, 40), simplify=False, directions=directions)
        assert contains(grown, _texel_corners(alpha > 0, 5.0), 1e-9).all()
        assert (grown >= 0).all() and (grown[:, 0] <= 60).all()
    with pytest.raises(ValueError, match="multiple of 4"):
        grow(poly, 1.0, (60, 40), directions=6)


def test_fan_triangulates_a_convex_polygon() -> None:
    assert fan(3).tolist() == [[0, 1, 2]]
    assert fan(5).tolist() == [[0, 1, 2], [0, 2, 3], [0, 3, 4]]
    assert fan(2).shape == (0, 3)


def test_clipped_triangles_draw_the_same_inside_the_polygon() -> None:
    rng = np.random.default_rng(3)
    points = rng.uniform(0, 50, (12, 2))
    tris = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11], [0, 4, 8]])
    poly = np.array([[10.0, 10.0], [40.0, 12.0], [35.0, 40.0], [12.0, 35.0]])
    sources, weights, out = clip_triangles(points, tris, poly)
    assert np.allclose(weights.sum(axis=1), 1.0)
    new = (weights[:, :, None] * points[sources]).sum(axis=1)
    allpts = np.concatenate([points, new])
    # new corners lie on the polygon (inside it, up to rounding)
    assert contains(poly, new, 1e-6).all()
    # a point inside the polygon and a triangle is inside one of the pieces, and gets the
    # same value of any linear attribute (here: its own position)
    probes = rng.uniform(0, 50, (4000, 2))
    for tri in tris:
        a, b, c = points[tri]
        m = np.column_stack([b - a, c - a])
        bc = np.linalg.solve(m, (probes - a).T).T
        inside_tri = (bc >= 1e-6).all(axis=1) & (bc.sum(axis=1) <= 1 - 1e-6)
        hit = probes[inside_tri & contains(poly, probes, -1e-6)]
        covered = np.zeros(len(hit), bool)
        for piece in out:
            pa, pb, pc = allpts[piece]
            pm = np.column_stack([pb - pa, pc - pa])
            if abs(np.linalg.det(pm)) < 1e-12:
                continue
            pbc = np.linalg.solve(pm, (hit - pa).T).T
            covered |= (pbc >= -1e-9).all(axis=1) & (pbc.sum(axis=1) <= 1 + 1e-9)
        assert covered.all()
    # pieces never reach outside the polygon
    centroids = allpts[out].mean(axis=1)
    assert contains(poly, centroids, 1e-6).all()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_cut_pieces_meet_corner_to_corner(seed: int) -> None:
    """A grid mesh cut by a convex polygon: every cut of an edge two triangles share is one
    corner (a corner each would leave a crack or an overlap where the GPU rounds them
    apart), no corner lies partway along another piece's edge (a T-junction), and each
    clipped polygon is split into its least slender fan."""
    rng = np.random.default_rng(seed)
    n = 6
    gx, gy = np.meshgrid(np.linspace(0, 50, n), np.linspace(0, 50, n))
    points = np.stack([gx.ravel(), gy.ravel()], axis=1) + rng.uniform(-2, 2, (n * n, 2))
    tris = np.array(
        [
            t
            for r in range(n - 1)
            for c in range(n - 1)
            for t in (
                (r * n + c, r * n + c + 1, (r + 1) * n + c + 1),
                (r * n + c, (r + 1) * n + c + 1, (r + 1) * n + c),
            )
        ]
    )
    poly = grow(rng.uniform(5, 45, (6, 2)), rng.uniform(0, 8), (50, 50), simplify=False)
    sources, weights, out = clip_triangles(points, tris, poly)
    at = np.concatenate([points, (weights[:, :, None] * points[sources]).sum(axis=1)])
    used = np.unique(out)
    # no two corners in one place
    pos = at[used]
    gap = np.hypot(*(pos[:, None, :] - pos[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(gap, np.inf)
    assert gap.min() > 1e-6
    # no corner strictly inside another piece's edge
    for a, b in {tuple(sorted((t[i], t[(i + 1) % 3]))) for t in out for i in range(3)}:
        p, q = at[a], at[b]
        d = q - p
        rel = pos - p
        along = rel @ d / (d @ d)
        off = np.abs(d[0] * rel[:, 1] - d[1] * rel[:, 0]) / np.hypot(*d)
        on = (along > 1e-6) & (along < 1 - 1e-6) & (off < 1e-6)
        assert not on.any(), f"a corner lies on the edge {a}-{b}"


def test_a_clipped_polygon_is_split_into_its_least_slender_fan() -> None:
    # a kite inside one big triangle, lying either way: fanned from a sharp end it is two
    # slivers (slender 20), from a blunt corner two fat triangles (about 5)
    points = np.array([[-200.0, -100.0], [300.0, -100.0], [50.0, 400.0]])
    for kite in (
        np.array([[50.0, -50.0], [55.0, 0.0], [50.0, 50.0], [45.0, 0.0]]),
        np.array([[0.0, 0.0], [50.0, -5.0], [100.0, 0.0], [50.0, 5.0]]),
    ):
        sources, weights, out = clip_triangles(points, np.array([[0, 1, 2]]), kite)
        at = np.concatenate([points, (weights[:, :, None] * points[sources]).sum(axis=1)])
        assert len(out) == 2
        assert slender(at[out]).max() < 6


def test_slender_flags_slivers() -> None:
    fat = np.array([[[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]])
    sliver = np.array([[[0.0, 0.0], [100.0, 0.0], [50.0, 0.5]]])
    assert slender(fat)[0] < 3
    assert slender(sliver)[0] > 100


def test_mip_support_sees_what_filtering_reads_and_cores_are_solid() -> None:
    level0 = np.zeros((16, 16), np.uint8)
    level0[4:12, 4:12] = 255
    level1 = np.zeros((8, 8), np.uint8)
    level1[2:6, 2:6] = 255
    level1[1, 2] = 30  # a soft edge, as a mip level makes
    support = MipSupport([level0, level1])
    (seen0, solid0), (seen1, solid1) = support.masks((0, 0, 16, 16), 2)
    # level 0: one texel round the art seen, one texel in from its edge solid
    assert seen0[3:13, 3:13].all() and not seen0[:2].any()
    assert solid0[5:11, 5:11].all() and not solid0[4].any()
    # counting level 1 too: its soft texel (rows 2..3 at full size) and its neighbours
    assert seen1[0:2, 2:8].all()
    assert (seen1 >= seen0).all() and (solid1 <= solid0).all()
    x0, y0, x1, y1 = core_rectangle(solid1)
    assert solid1[y0:y1, x0:x1].all() and (x1 - x0) * (y1 - y0) > 0
    assert support_polygon(np.zeros((4, 4), bool)).shape == (0, 2)
    assert contains(support_polygon(seen1), _texel_corners(seen1), 1e-9).all()


def test_opaque_core_keeps_its_distance_from_soft_texels() -> None:
    alpha = np.zeros((40, 40), np.uint8)
    alpha[5:30, 10:35] = 255
    assert opaque_core(alpha, 0) == (10, 5, 35, 30)
    x0, y0, x1, y1 = opaque_core(alpha, 2.5)  # 3 texels in from every edge
    assert (x0, y0) >= (13, 8) and (x1, y1) <= (32, 27)
    assert opaque_core(np.full((4, 4), 128, np.uint8), 0) is None
