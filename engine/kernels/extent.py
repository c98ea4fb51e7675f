"""What a frame's geometry covers, for the renderer's per-frame choices (numba):

- `hull_levels`: per drawable picture, the coarsest mip level the GPU samples it at this
  frame, which picks the hull polygon drawn for it (engine/render/renderer.py);
- `frame_bounds`: the pixels the frame's geometry can touch, which the video converter
  shades (engine/render/video.py) and the next frame clears.

Why numba: both run once a frame on every live stream, over a few dozen pictures and a
thousand mesh vertices; as numpy they were some forty small array operations, 0.1-0.4 ms
a frame of Python on a machine of this kind (more than the maths), and on a GPU host that
is most of a frame's CPU.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.kernels.layout import WA, WB, WC, WD, WX, WY
from engine.kernels.skinning import skin_ranges


@njit(cache=True, inline="always")
def smallest_singular(m00: float, m01: float, m10: float, m11: float) -> float:
    """The smaller singular value of the 2x2 matrix [[m00, m01], [m10, m11]]."""
    sq = m00 * m00 + m01 * m01 + m10 * m10 + m11 * m11
    det = m00 * m11 - m01 * m10
    return math.sqrt(max((sq - math.sqrt(max(sq * sq - 4.0 * det * det, 0.0))) / 2.0, 0.0))


@njit(cache=True)
def mesh_smallest_scale(
    skinned: np.ndarray,
    tris: np.ndarray,
    tex_inv: np.ndarray,
    live: np.ndarray,
    first: np.ndarray,
    sx: float,
    sy: float,
    out: np.ndarray,
) -> None:
    """Per mesh (its triangles from first[k] to first[k + 1]), into out[k]: the smallest
    singular value of any live triangle's texels -> pixels map, how small its picture is
    drawn (inf for a mesh with no live triangle)."""
    out[:] = np.inf
    k = 0
    for t in range(len(tris)):
        while k + 1 < len(first) and first[k + 1] <= t:
            k += 1
        if not live[t]:
            continue
        a, b, c = tris[t, 0], tris[t, 1], tris[t, 2]
        e00 = (skinned[b, 0] - skinned[a, 0]) * sx
        e01 = (skinned[c, 0] - skinned[a, 0]) * sx
        e10 = (skinned[b, 1] - skinned[a, 1]) * sy
        e11 = (skinned[c, 1] - skinned[a, 1]) * sy
        s = smallest_singular(
            e00 * tex_inv[t, 0, 0] + e01 * tex_inv[t, 1, 0],
            e00 * tex_inv[t, 0, 1] + e01 * tex_inv[t, 1, 1],
            e10 * tex_inv[t, 0, 0] + e11 * tex_inv[t, 1, 0],
            e10 * tex_inv[t, 0, 1] + e11 * tex_inv[t, 1, 1],
        )
        if s < out[k]:
            out[k] = s


@njit(cache=True)
def hull_levels(
    world: np.ndarray,
    sx: float,
    sy: float,
    region_bones: np.ndarray,
    region_texel: np.ndarray,
    skin_bones: np.ndarray,
    skin_weights: np.ndarray,
    skin_local: np.ndarray,
    skin_anchor: np.ndarray,
    deform: np.ndarray,
    mesh_starts: np.ndarray,
    mesh_ends: np.ndarray,
    mesh_deformed: np.ndarray,
    mesh_tris: np.ndarray,
    mesh_tex_inv: np.ndarray,
    mesh_tri_live: np.ndarray,
    mesh_tri_first: np.ndarray,
    shown: np.ndarray,
    max_level: int,
    skinned: np.ndarray,
    levels: np.ndarray,
) -> None:
    """Per hull row (regions, then meshes), into `levels`: the coarsest mip level its
    picture is sampled at, as an index into its hulls (0..max_level), max_level + 1 for
    "too small: draw it whole", -1 where not `shown`. Regions are rigid on one bone, whose
    linear part times `region_texel` (bone frame -> texels, inverted) maps texels to engine
    units; (sx, sy) scale engine units to pixels. The shown meshes are skinned into
    `skinned` (rows as the rig's skin buffers), which `frame_bounds` reads next.

    GL picks the level from the texel steps per pixel step, at most 1 / (the smallest
    singular value of texels -> pixels); trilinear filtering reads that level and the
    next. A quarter level of slack for llvmpipe's approximate log2."""
    nr = len(region_bones)
    scale = np.empty(len(levels))
    for i in range(nr):
        b = region_bones[i]
        a00, a01 = sx * world[b, WA], sx * world[b, WB]
        a10, a11 = sy * world[b, WC], sy * world[b, WD]
        t = region_texel[i]
        scale[i] = smallest_singular(
            a00 * t[0, 0] + a01 * t[1, 0],
            a00 * t[0, 1] + a01 * t[1, 1],
            a10 * t[0, 0] + a11 * t[1, 0],
            a10 * t[0, 1] + a11 * t[1, 1],
        )
    meshes = shown[nr:]
    if meshes.any():
        skin_ranges(
            world, skin_bones, skin_weights, skin_local, mesh_starts[meshes],
            mesh_ends[meshes], skinned, deform, skin_anchor, mesh_deformed[meshes],
        )  # fmt: skip
        mesh_smallest_scale(
            skinned, mesh_tris, mesh_tex_inv, mesh_tri_live, mesh_tri_first, sx, sy, scale[nr:]
        )
    for i in range(len(levels)):
        s = scale[i]
        if not shown[i]:
            levels[i] = -1
        elif not s > 0.0:  # no extent (or NaN): nothing of it is resolved, draw it whole
            levels[i] = max_level + 1
        elif s == np.inf:
            levels[i] = 0
        else:
            level = math.floor(-math.log2(s) + 0.25) + 1
            levels[i] = min(max(level, 0), max_level + 1)


@njit(cache=True)
def frame_bounds(
    skinned: np.ndarray,
    mesh_rows: np.ndarray,
    world: np.ndarray,
    region_bones: np.ndarray,
    region_corners: np.ndarray,
    regions: np.ndarray,
    view: np.ndarray,
    w: int,
    h: int,
) -> tuple[int, int, int, int]:
    """The pixels (x0, y0, x1, y1; GL order, ends exclusive, within w x h) the skinned mesh
    vertices `mesh_rows` and the corners of the `regions` shown (each rigid on its bone)
    can touch through `view` (engine units -> clip space); (0, 0, 0, 0) for none."""
    lo_x = lo_y = np.inf
    hi_x = hi_y = -np.inf
    for r in mesh_rows:
        x, y = skinned[r, 0], skinned[r, 1]
        lo_x, hi_x = min(lo_x, x), max(hi_x, x)
        lo_y, hi_y = min(lo_y, y), max(hi_y, y)
    for i in range(len(region_bones)):
        if not regions[i]:
            continue
        b = region_bones[i]
        for c in range(region_corners.shape[1]):
            cx, cy = region_corners[i, c, 0], region_corners[i, c, 1]
            x = world[b, WA] * cx + world[b, WB] * cy + world[b, WX]
            y = world[b, WC] * cx + world[b, WD] * cy + world[b, WY]
            lo_x, hi_x = min(lo_x, x), max(hi_x, x)
            lo_y, hi_y = min(lo_y, y), max(hi_y, y)
    if lo_x > hi_x:
        return (0, 0, 0, 0)
    # engine -> pixels (the view has no rotation), then a pixel of slack each way: a pixel
    # is drawn where a triangle holds its centre
    ax, bx = view[0, 0] * (w / 2), (view[0, 2] + 1.0) * (w / 2)
    ay, by = view[1, 1] * (h / 2), (view[1, 2] + 1.0) * (h / 2)
    px0, px1 = min(lo_x * ax, hi_x * ax) + bx, max(lo_x * ax, hi_x * ax) + bx
    py0, py1 = min(lo_y * ay, hi_y * ay) + by, max(lo_y * ay, hi_y * ay) + by
    x0 = min(max(math.floor(px0) - 1, 0), w)
    y0 = min(max(math.floor(py0) - 1, 0), h)
    x1 = min(max(math.ceil(px1) + 1, 0), w)
    y1 = min(max(math.ceil(py1) + 1, 0), h)
    return (x0, y0, max(x0, x1), max(y0, y1))
