"""World transforms: Spine 4's bone model, numba-compiled.

Conventions: y-up, degrees counter-clockwise; rows as in `engine.kernels.layout`. A bone's
world transform is its parent's world transform times its local one, except where the
inherit mode drops the parent's rotation, scale or reflection (Spine's
`Bone.updateWorldTransform`, with the skeleton at scale 1 and no flip).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.kernels.layout import (
    INHERIT_NO_ROTATION,
    INHERIT_NO_SCALE,
    INHERIT_NORMAL,
    INHERIT_ONLY_TRANSLATION,
    ROT,
    SHX,
    SHY,
    SX,
    SY,
    WA,
    WB,
    WC,
    WD,
    WX,
    WY,
    X,
    Y,
)

_DEG = math.pi / 180.0


@njit(cache=True)
def _axes(rx: float, ry: float, sx: float, sy: float) -> tuple[float, float, float, float]:
    """(a, b, c, d) of axes at angles rx (x axis) and ry (y axis), degrees, scaled."""
    rx *= _DEG
    ry *= _DEG
    return math.cos(rx) * sx, math.cos(ry) * sy, math.sin(rx) * sx, math.sin(ry) * sy


@njit(cache=True)
def _set_linear(world: np.ndarray, b: int, a: float, bb: float, c: float, d: float) -> None:
    world[b, WA] = a
    world[b, WB] = bb
    world[b, WC] = c
    world[b, WD] = d


@njit(cache=True)
def update_bone(
    b: int, parent: np.ndarray, inherit: np.ndarray, local: np.ndarray, world: np.ndarray
) -> None:
    x = local[b, X]
    y = local[b, Y]
    rot = local[b, ROT]
    sx = local[b, SX]
    sy = local[b, SY]
    shx = local[b, SHX]
    shy = local[b, SHY]
    p = parent[b]
    if p < 0:
        la, lb, lc, ld = _axes(rot + shx, rot + 90.0 + shy, sx, sy)
        _set_linear(world, b, la, lb, lc, ld)
        world[b, WX] = x
        world[b, WY] = y
        return

    pa = world[p, WA]
    pb = world[p, WB]
    pc = world[p, WC]
    pd = world[p, WD]
    world[b, WX] = pa * x + pb * y + world[p, WX]
    world[b, WY] = pc * x + pd * y + world[p, WY]
    mode = inherit[b]

    if mode == INHERIT_NORMAL:
        la, lb, lc, ld = _axes(rot + shx, rot + 90.0 + shy, sx, sy)
        _set_linear(
            world, b, pa * la + pb * lc, pa * lb + pb * ld, pc * la + pd * lc, pc * lb + pd * ld
        )
    elif mode == INHERIT_ONLY_TRANSLATION:
        la, lb, lc, ld = _axes(rot + shx, rot + 90.0 + shy, sx, sy)
        _set_linear(world, b, la, lb, lc, ld)
    elif mode == INHERIT_NO_ROTATION:
        s = pa * pa + pc * pc
        if s > 0.0001:
            s = abs(pa * pd - pb * pc) / s
            pb = pc * s
            pd = pa * s
            prx = math.atan2(pc, pa) / _DEG
        else:
            pa = 0.0
            pc = 0.0
            prx = 90.0 - math.atan2(pd, pb) / _DEG
        la, lb, lc, ld = _axes(rot + shx - prx, rot + shy - prx + 90.0, sx, sy)
        _set_linear(
            world, b, pa * la - pb * lc, pa * lb - pb * ld, pc * la + pd * lc, pc * lb + pd * ld
        )
    else:  # noScale, noScaleOrReflection
        r = rot * _DEG
        cos = math.cos(r)
        sin = math.sin(r)
        za = pa * cos + pb * sin
        zc = pc * cos + pd * sin
        s = math.sqrt(za * za + zc * zc)
        if s > 0.00001:
            s = 1.0 / s
        za *= s
        zc *= s
        s = math.sqrt(za * za + zc * zc)
        if mode == INHERIT_NO_SCALE and pa * pd - pb * pc < 0.0:
            s = -s
        r = math.pi / 2.0 + math.atan2(zc, za)
        zb = math.cos(r) * s
        zd = math.sin(r) * s
        la, lb, lc, ld = _axes(shx, 90.0 + shy, sx, sy)
        _set_linear(
            world, b, za * la + zb * lc, za * lb + zb * ld, zc * la + zd * lc, zc * lb + zd * ld
        )


@njit(cache=True)
def update_bones(
    order: np.ndarray, parent: np.ndarray, inherit: np.ndarray, local: np.ndarray, world: np.ndarray
) -> None:
    """Update the world rows of the bones in `order` (parents before children)."""
    for i in range(order.shape[0]):
        update_bone(order[i], parent, inherit, local, world)


@njit(cache=True)
def world_to_local_rotation(
    b: int, parent: np.ndarray, world: np.ndarray, local: np.ndarray, angle: float
) -> float:
    """The local rotation that points bone `b`'s x axis along world `angle` (degrees).

    Inverts the parent's linear part, so it is exact for any parent scale or shear under the
    normal inherit mode; the bone's own shearX is kept.
    """
    p = parent[b]
    ux = math.cos(angle * _DEG)
    uy = math.sin(angle * _DEG)
    if p >= 0:
        pa = world[p, WA]
        pb = world[p, WB]
        pc = world[p, WC]
        pd = world[p, WD]
        det = pa * pd - pb * pc
        if abs(det) > 1e-12:
            lx = (pd * ux - pb * uy) / det
            ly = (-pc * ux + pa * uy) / det
            ux = lx
            uy = ly
    return math.atan2(uy, ux) / _DEG - local[b, SHX]


@njit(cache=True)
def world_to_local_point(
    b: int, parent: np.ndarray, world: np.ndarray, wx: float, wy: float
) -> tuple[float, float]:
    """The local (x, y) that places bone `b`'s origin at world (wx, wy)."""
    p = parent[b]
    if p < 0:
        return wx, wy
    pa = world[p, WA]
    pb = world[p, WB]
    pc = world[p, WC]
    pd = world[p, WD]
    dx = wx - world[p, WX]
    dy = wy - world[p, WY]
    det = pa * pd - pb * pc
    if abs(det) < 1e-12:
        return 0.0, 0.0
    return (pd * dx - pb * dy) / det, (-pc * dx + pa * dy) / det
