"""Opaque hulls and cores: for each atlas picture, a small convex polygon around its texels
with alpha > 0, so the renderer draws that instead of the whole rectangle, and a rectangle
of fully opaque texels, which hides whatever is drawn behind it.

Why: most of a picture's rectangle is fully transparent texels, and on a CPU rasteriser
(llvmpipe) each such fragment still costs a filtered texture fetch; and Digi's layers hide
half of what is drawn under them. The picture must not change, so a hull must hold every
texel the GPU could see as not fully transparent, and a core only texels it sees as fully
opaque: linear filtering and the coarser mip levels smear alpha out from the last opaque
texel, the more the smaller a picture is drawn. `MipSupport` reads that off the texture's
own mip levels; without them, `mip_reach` bounds it.

Pure numpy, no GL: the content build stores each picture's tight hull in atlas.json
(engine/atlas.py; `opaque_hull`), atlases made at run time (engine/face) get theirs when
loaded, and the renderer grows them per mip level.
"""

from __future__ import annotations

import math

import numpy as np

DIRECTIONS = 16  # support directions, a multiple of 4 (the bounding box is one of them)
_MARGIN = 0.02  # texels; more than rounding the stored vertices to 2 decimals takes back
_SHORT = 0.5  # texels: an edge shorter than this is not worth its vertex


def mip_reach(level: int) -> float:
    """How far (in full-size texels) trilinear sampling of mip levels up to `level` can
    carry alpha out from an opaque texel: a level-L texel averages a 2^L block, and bilinear
    filtering mixes texels whose centres lie within one texel (2^L) of the sample, so the
    block's far edge is 1.5 * 2^L away; one more 2^L covers the rounding of odd-sized
    levels, whose texels average up to 3 texels of the level above each way."""
    return 2.5 * 2**level


def opaque_hull(alpha: np.ndarray, reach: float = 0.0) -> np.ndarray:
    """A convex polygon, (k, 2) float64 in the picture's texel frame (x right, y down, the
    picture spanning 0..w, 0..h; vertices counter-clockwise as numbers go), that holds every
    texel square with alpha > 0 grown by `reach` texels each way, clipped to the picture.
    (0, 2) when no texel has alpha > 0. The polygon is the intersection of the support
    half-planes in DIRECTIONS evenly spaced directions: at most DIRECTIONS + 4 vertices."""
    if alpha.ndim != 2:
        raise ValueError(f"alpha must be a 2-D array, got shape {alpha.shape}")
    h, w = alpha.shape
    if not alpha.any():
        return np.zeros((0, 2))
    return grow(_extreme_corners(alpha), reach, (w, h))


def _extreme_corners(alpha: np.ndarray) -> np.ndarray:
    """Corners of each row's outermost texels with alpha > 0 (n, 2): only these can be
    extreme in any direction, so a convex polygon holding them holds every such texel."""
    w = alpha.shape[1]
    rows = np.flatnonzero(alpha.any(axis=1))
    on = alpha[rows] > 0
    left = on.argmax(axis=1)
    right = w - on[:, ::-1].argmax(axis=1)  # one past the last opaque texel
    y0, y1 = rows.astype(np.float64), rows + 1.0
    xs = np.concatenate([left, left, right, right]).astype(np.float64)
    ys = np.concatenate([y0, y1, y0, y1])
    return np.stack([xs, ys], axis=1)


def covers(poly: np.ndarray, alpha: np.ndarray) -> bool:
    """Whether the convex counter-clockwise `poly` holds every texel with alpha > 0."""
    if not alpha.any():
        return True
    return len(poly) >= 3 and bool(contains(poly, _extreme_corners(alpha), 1e-6).all())


def grow(
    points: np.ndarray,
    reach: float,
    size: tuple[float, float],
    simplify: bool = True,
    directions: int = DIRECTIONS,
) -> np.ndarray:
    """The support polygon of `points` (n, 2) (a hull's vertices, say) grown by `reach`
    texels each way (a square's reach: what a filter kernel sees), clipped to the picture
    0..w, 0..h: a superset of the points' convex hull so grown. (0, 2) for no points.
    `simplify` drops edges too short to matter (slower; worth it for stored hulls, whose
    rounded vertices would otherwise bunch up)."""
    if len(points) == 0:
        return np.zeros((0, 2))
    if directions < 4 or directions % 4:
        raise ValueError(f"directions must be a positive multiple of 4, got {directions}")
    angles = 2 * np.pi * np.arange(directions) / directions
    normals = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    # support of the points, plus that of the square [-reach, reach]^2
    support = (normals @ np.asarray(points, np.float64).T).max(axis=1)
    support += float(reach) * np.abs(normals).sum(axis=1) + _MARGIN
    keep = _drop_short_edges(normals, support, angles) if simplify else np.arange(directions)
    w, h = size
    return _dedupe(_clip_to_box(_vertices(normals[keep], support[keep]), float(w), float(h)))


def _vertices(normals: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Where consecutive support lines meet: the polygon's vertices, in order."""
    n0, n1 = normals, np.roll(normals, -1, axis=0)
    s0, s1 = support, np.roll(support, -1)
    det = n0[:, 0] * n1[:, 1] - n0[:, 1] * n1[:, 0]
    vx = (s0 * n1[:, 1] - s1 * n0[:, 1]) / det
    vy = (n0[:, 0] * s1 - n1[:, 0] * s0) / det
    return np.stack([vx, vy], axis=1)


def _drop_short_edges(normals: np.ndarray, support: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Indices of the support lines worth a vertex each: a line whose edge is shorter than
    _SHORT (several lines through one corner of a small picture) is dropped, which only
    grows the polygon, and by little, as its neighbours are at most 90 degrees apart."""
    keep = np.arange(len(normals))
    while len(keep) > 4:
        v = _vertices(normals[keep], support[keep])
        length = np.hypot(*(v - np.roll(v, 1, axis=0)).T)  # edge of line i: v[i-1] -> v[i]
        gap = (np.roll(angles[keep], -1) - np.roll(angles[keep], 1)) % (2 * np.pi)
        droppable = (length < _SHORT) & (gap > 0) & (gap <= np.pi / 2 + 1e-9)
        if not droppable.any():
            break
        keep = np.delete(keep, np.flatnonzero(droppable)[np.argmin(length[droppable])])
    return keep


def _clip_to_box(poly: np.ndarray, w: float, h: float) -> np.ndarray:
    """Sutherland-Hodgman against 0 <= x <= w, 0 <= y <= h."""
    for axis, limit, keep_below in ((0, 0.0, False), (0, w, True), (1, 0.0, False), (1, h, True)):
        if len(poly) == 0:
            break
        out = []
        for i in range(len(poly)):
            a, b = poly[i - 1], poly[i]
            a_in = a[axis] <= limit if keep_below else a[axis] >= limit
            b_in = b[axis] <= limit if keep_below else b[axis] >= limit
            if a_in != b_in:
                t = (limit - a[axis]) / (b[axis] - a[axis])
                p = a + t * (b - a)
                p[axis] = limit
                out.append(p)
            if b_in:
                out.append(b)
        poly = np.array(out).reshape(-1, 2)
    return poly


def _dedupe(poly: np.ndarray) -> np.ndarray:
    """Drop repeated vertices (clipping puts a vertex that lies on the box there twice)."""
    if len(poly) == 0:
        return poly
    step = np.abs(poly - np.roll(poly, 1, axis=0)).max(axis=1)
    return poly[step > 1e-9]


def fan(vertex_count: int) -> np.ndarray:
    """Triangles (k - 2, 3) of a convex polygon of k vertices, as a fan from the first."""
    i = np.arange(1, max(vertex_count - 1, 1))
    return np.stack([np.zeros_like(i), i, i + 1], axis=1)


def contains(poly: np.ndarray, points: np.ndarray, tolerance: float = 0.0) -> np.ndarray:
    """Which of `points` (n, 2) lie inside the convex counter-clockwise `poly` (k, 2), or
    within about `tolerance` (times an edge's length) of it."""
    a = poly
    b = np.roll(poly, -1, axis=0)
    e = b - a  # (k, 2)
    d = points[:, None, :] - a[None, :, :]  # (n, k, 2)
    cross = e[None, :, 0] * d[..., 1] - e[None, :, 1] * d[..., 0]
    return (cross >= -tolerance).all(axis=1)


def slender(corners: np.ndarray) -> np.ndarray:
    """Per triangle (t, 3, 2), longest edge over height to it: large for slivers. A GPU
    snaps corners to its sub-pixel grid, and across a sliver that tilts the interpolated
    texture coordinates noticeably; a sliver can only cover what its whole triangle would."""
    e = np.roll(corners, -1, axis=1) - corners
    lengths = np.hypot(e[..., 0], e[..., 1])
    area2 = np.abs(e[:, 0, 0] * e[:, 1, 1] - e[:, 0, 1] * e[:, 1, 0])
    longest = lengths.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(area2 > 0, longest**2 / area2, np.inf)


def clip_triangles(
    points: np.ndarray, triangles: np.ndarray, poly: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangles (m, 3) over `points` (n, 2) cut down to the convex counter-clockwise `poly`:
    (sources (q, 3), barycentric weights (q, 3), triangles (t, 3)). A triangle wholly
    inside stays as it is, one wholly outside goes, one across the edge becomes its clipped
    polygon, whose new corners are numbered n, n + 1, ... and lie at
    `weights[j] @ points[sources[j]]`. Attributes that vary linearly over a triangle
    (texture coordinates, skinning) interpolate the same way, so the picture inside `poly`
    is drawn as before.

    The pieces fit together as the triangles did: a cut through an edge two triangles share
    is one corner, made once from that edge's ends (a corner each would meet at T-junctions,
    where a pixel can fall between them or be drawn twice), and each clipped polygon is
    split into the least slender triangles its fans give (a sliver tilts its interpolated
    texture coordinates when a GPU snaps its corners to its sub-pixel grid)."""
    if len(poly) < 3:
        return np.zeros((0, 3), np.int64), np.zeros((0, 3)), np.zeros((0, 3), np.int64)
    points = np.asarray(points, np.float64)
    a = poly
    e = np.roll(poly, -1, axis=0) - poly
    # side[i, j] >= 0: point i on the inner side of poly's edge j
    side = e[None, :, 0] * (points[:, None, 1] - a[None, :, 1]) - e[None, :, 1] * (
        points[:, None, 0] - a[None, :, 0]
    )
    inside = side >= 0
    side_rows, inside_rows = side.tolist(), inside.tolist()  # plain floats for the corners
    sources: list[tuple[int, int, int]] = []
    weights: list[tuple[float, float, float]] = []
    made: dict[tuple[int, int, int], int] = {}  # (edge's ends, poly edge) -> new corner
    out: list[list[int]] = []
    n = len(points)

    def corner(v: tuple[float, ...], tri: list[int]) -> int:
        """The point index of barycentric `v` over `tri`: an original point, a shared cut of
        one of its edges, or a new corner inside it."""
        ends = [c for c in range(3) if v[c] != 0.0]  # exact zeros survive the clipping
        if len(ends) == 1:
            return tri[ends[0]]
        if len(ends) == 2:
            i, k = sorted((tri[ends[0]], tri[ends[1]]))
            si, sk, ii, ik = side_rows[i], side_rows[k], inside_rows[i], inside_rows[k]
            crossing = [j for j in range(len(si)) if ii[j] != ik[j]]
            if crossing:
                # the poly edge the point lies on: where its side value is nearest zero
                p0, p1 = side_rows[tri[ends[0]]], side_rows[tri[ends[1]]]
                f = v[ends[1]]
                j = min(crossing, key=lambda j: abs((1.0 - f) * p0[j] + f * p1[j]))
                key = (i, k, j)
                if key not in made:
                    t = si[j] / (si[j] - sk[j])  # the same from either side
                    made[key] = n + len(sources)
                    sources.append((i, k, k))
                    weights.append((1.0 - t, t, 0.0))
                return made[key]
        sources.append((tri[0], tri[1], tri[2]))
        weights.append((float(v[0]), float(v[1]), float(v[2])))
        return n + len(sources) - 1

    for tri in np.asarray(triangles, np.int64).tolist():
        s = inside[tri]  # (3, k)
        if s.all():
            out.append(tri)
            continue
        if (~s).all(axis=0).any():  # all three beyond one edge
            continue
        # Sutherland-Hodgman on barycentric coordinates, against the edges the triangle
        # crosses (plain floats: a few thousand tiny polygons, numpy's overhead dominates)
        dists = side[tri].T.tolist()  # (k, 3)
        verts: list[tuple[float, ...]] = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]
        for j in np.flatnonzero(~s.all(axis=0)).tolist():
            d0, d1, d2 = dists[j]
            dist = [b0 * d0 + b1 * d1 + b2 * d2 for b0, b1, b2 in verts]
            clipped = []
            for i in range(len(verts)):
                p, q = verts[i - 1], verts[i]
                dp, dq = dist[i - 1], dist[i]
                if (dp >= 0) != (dq >= 0):
                    f = dp / (dp - dq)
                    clipped.append(tuple(pi + (qi - pi) * f for pi, qi in zip(p, q, strict=True)))
                if dq >= 0:
                    clipped.append(q)
            verts = clipped
            if len(verts) < 3:
                break
        # an edge through a corner leaves that point twice
        verts = [
            v
            for i, v in enumerate(verts)
            if max(abs(x - y) for x, y in zip(v, verts[i - 1], strict=True)) > 1e-12
        ]
        if len(verts) < 3:
            continue
        (x0, y0), (x1, y1), (x2, y2) = points[tri].tolist()
        made_here = [
            (corner(v, tri), (v[0] * x0 + v[1] * x1 + v[2] * x2, v[0] * y0 + v[1] * y1 + v[2] * y2))
            for v in verts
        ]
        made_here = [c for i, c in enumerate(made_here) if c[0] != made_here[i - 1][0]]
        if len(made_here) < 3:
            continue
        ids = [c[0] for c in made_here]
        out.extend(_least_slender_fan(ids, [c[1] for c in made_here]))
    return (
        np.array(sources, np.int64).reshape(-1, 3),
        np.array(weights, np.float64).reshape(-1, 3),
        np.array(out, np.int64).reshape(-1, 3),
    )


def _least_slender_fan(ids: list[int], at: list[tuple[float, float]]) -> list[list[int]]:
    """A convex polygon's corners `ids` (positions `at`) as the fan, from whichever corner,
    whose most slender triangle (`slender`) is the least slender."""
    k = len(ids)
    if k == 3:
        return [ids]
    best = (math.inf, 0)
    for apex in range(k):
        ax, ay = at[apex]
        worst = 0.0
        for i in range(1, k - 1):
            bx, by = at[(apex + i) % k]
            cx, cy = at[(apex + i + 1) % k]
            area2 = abs((bx - ax) * (cy - ay) - (by - ay) * (cx - ax))
            longest = max(
                (bx - ax) ** 2 + (by - ay) ** 2,
                (cx - bx) ** 2 + (cy - by) ** 2,
                (ax - cx) ** 2 + (ay - cy) ** 2,
            )
            worst = max(worst, longest / area2 if area2 > 0 else math.inf)
        if worst < best[0]:
            best = (worst, apex)
    order = [ids[(best[1] + i) % k] for i in range(k)]
    return [[order[0], order[i], order[i + 1]] for i in range(1, k - 1)]


def opaque_core(alpha: np.ndarray, reach: float) -> tuple[int, int, int, int] | None:
    """The largest axis-aligned rectangle (x0, y0, x1, y1), texel edges in the picture's
    frame, whose texels are all fully opaque (alpha 255) together with every texel within
    `reach` of them: wherever a sample there lands, filtering reads only alpha 255, so the
    picture hides whatever is behind it completely. None when there is no such texel."""
    r = int(np.ceil(reach))
    opaque = alpha >= 255
    h, w = opaque.shape
    if not opaque.any() or h <= 2 * r or w <= 2 * r:
        return None
    # eroded: the (2r + 1)^2 window round a texel is all opaque (integral image counts)
    holes = np.pad((~opaque).astype(np.int32), r + 1, constant_values=1)
    ii = holes.cumsum(axis=0).cumsum(axis=1)
    k = 2 * r + 1
    window = ii[k:, k:] - ii[:-k, k:] - ii[k:, :-k] + ii[:-k, :-k]
    return _block_rectangle(window[:h, :w] == 0, 64)


def _largest_rectangle(mask: np.ndarray) -> tuple[int, int, int, int]:
    """The largest all-True axis-aligned rectangle of a boolean mask (the histogram-stack
    method, row by row): (x0, y0, x1, y1), exclusive ends."""
    h, w = mask.shape
    heights = np.zeros(w + 1, np.int64)
    best = (0, 0, 0, 0, 0)  # area, x0, y0, x1, y1
    for y in range(h):
        heights[:w] = np.where(mask[y], heights[:w] + 1, 0)
        stack: list[int] = []
        hs = heights.tolist()
        for x in range(w + 1):
            while stack and hs[stack[-1]] >= hs[x]:
                height = hs[stack.pop()]
                left = stack[-1] + 1 if stack else 0
                area = height * (x - left)
                if area > best[0]:
                    best = (area, left, y + 1 - height, x, y + 1)
            stack.append(x)
    return best[1], best[2], best[3], best[4]


class MipSupport:
    """Where the GPU can see a picture's alpha through trilinear filtering, read off the
    texture's own mip levels (as the driver built them, so nothing is assumed about how):
    per level, the texels with alpha > 0 grown by one texel (bilinear filtering reads the
    texels round a sample's), and the texels with alpha 255 shrunk by one."""

    def __init__(self, levels: list[np.ndarray]) -> None:
        """`levels`: the atlas's alpha at mip levels 0, 1, ... (each (h_l, w_l) uint8)."""
        self.size = levels[0].shape  # H, W
        # also over each texel and its next one right and down: a full-size texel's square
        # touches at most two texels of a level each way, the first of them looked up
        # (level 0 is the full size: one texel each)
        self.seen = [_spread(a > 0, np.maximum) for a in levels]
        self.solid = [_spread(a >= 255, np.minimum) for a in levels]
        for lv in range(1, len(levels)):
            self.seen[lv] = _pair(self.seen[lv], np.maximum)
            self.solid[lv] = _pair(self.solid[lv], np.minimum)

    def masks(
        self, rect: tuple[int, int, int, int], levels: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """For the picture at `rect` (x, y, w, h) of the full-size atlas, per mip level
        0..levels-1: (seen, solid) masks (h, w) over its full-size texels, each counting
        every level up to that one: `seen` where a sample may read alpha > 0, `solid`
        where every texel a sample reads has alpha 255."""
        x, y, w, h = rect
        H, W = self.size
        X, Y = x + np.arange(w), y + np.arange(h)
        out = []
        seen = np.zeros((h, w), bool)
        solid = np.ones((h, w), bool)
        for lv in range(min(levels, len(self.seen))):
            hl, wl = self.seen[lv].shape
            # the first of the level's texels a full-size texel's square [X, X + 1) touches
            cols, rows = X * wl // W, Y * hl // H
            seen |= self.seen[lv][rows][:, cols]
            solid &= self.solid[lv][rows][:, cols]
            out.append((seen.copy(), solid.copy()))
        return out


def _pair(mask: np.ndarray, op: np.ufunc) -> np.ndarray:
    """op over each texel and the next one right, down and diagonally (clamped at the
    last row and column, which have no next one)."""
    out = mask.copy()
    out[:-1] = op(out[:-1], out[1:])
    out[:, :-1] = op(out[:, :-1], out[:, 1:])
    return out


def _spread(mask: np.ndarray, op: np.ufunc) -> np.ndarray:
    """A boolean mask's 3x3 max (op=np.maximum) or min (np.minimum), wrapping round the
    edges as the atlas texture does (GL_REPEAT)."""
    out = mask.copy()
    for axis in (0, 1):
        fwd = np.roll(out, 1, axis=axis)
        back = np.roll(out, -1, axis=axis)
        out = op(op(out, fwd), back)
    return out


def support_polygon(mask: np.ndarray, directions: int = DIRECTIONS) -> np.ndarray:
    """A convex polygon (texel frame) holding every True texel square of `mask`."""
    if not mask.any():
        return np.zeros((0, 2))
    h, w = mask.shape
    return grow(_extreme_corners(mask), 0.0, (w, h), simplify=False, directions=directions)


def core_rectangle(solid: np.ndarray) -> tuple[int, int, int, int] | None:
    """A large axis-aligned rectangle (x0, y0, x1, y1) of texels all True in `solid`."""
    return _block_rectangle(solid, 32) if solid.any() else None


def _block_rectangle(mask: np.ndarray, parts: int) -> tuple[int, int, int, int] | None:
    """A large all-True rectangle (x0, y0, x1, y1) of `mask`, searched on square blocks of
    1/`parts` of its longer side that are wholly True: a slightly smaller rectangle than the
    largest, found in milliseconds instead of seconds. None when no block is all True."""
    h, w = mask.shape
    b = max(1, -(-max(h, w) // parts))
    hb, wb = -(-h // b), -(-w // b)
    padded = np.zeros((hb * b, wb * b), bool)
    padded[:h, :w] = mask
    blocks = padded.reshape(hb, b, wb, b).all(axis=(1, 3))
    if not blocks.any():
        return None
    x0, y0, x1, y1 = _largest_rectangle(blocks)
    return x0 * b, y0 * b, x1 * b, y1 * b
