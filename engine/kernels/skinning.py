"""Linear blend skinning, up to 4 influences per vertex.

Each mesh vertex stores, per influence, the bone index, the weight and the vertex position
in that bone's local space at the setup pose (Spine's weighted-mesh layout; equivalent to
classic LBS with inverse bind matrices). The skinned position is

    v = sum_i w_i * (M_i @ p_i + t_i)       with (M_i, t_i) the bone's world transform.

A parameter deform adds a per-vertex offset d, given in the frame of the slot's bone (the
"anchor" A), after weighting: v += A_linear @ d.

`skin_reference` is the numpy specification the GPU shader is tested against; `skin_ranges`
is the numba hot path and is tested against it. Unused influence slots have weight 0.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.kernels.layout import WA, WB, WC, WD, WX, WY


def skin_reference(
    world: np.ndarray,
    bones: np.ndarray,
    weights: np.ndarray,
    local: np.ndarray,
    deform: np.ndarray | None = None,
    anchor: np.ndarray | None = None,
) -> np.ndarray:
    """(n, 4) bones, (n, 4) weights, (n, 4, 2) bone-local positions -> (n, 2) world;
    optional (n, 2) deform offsets in the frame of each vertex's (n,) anchor bone."""
    w = world[bones]  # (n, 4, 6)
    px = w[..., WA] * local[..., 0] + w[..., WB] * local[..., 1] + w[..., WX]
    py = w[..., WC] * local[..., 0] + w[..., WD] * local[..., 1] + w[..., WY]
    out = np.stack([(px * weights).sum(axis=1), (py * weights).sum(axis=1)], axis=1)
    if deform is not None and anchor is not None:
        a = world[anchor]
        out[:, 0] += a[:, WA] * deform[:, 0] + a[:, WB] * deform[:, 1]
        out[:, 1] += a[:, WC] * deform[:, 0] + a[:, WD] * deform[:, 1]
    return out


@njit(cache=True, fastmath=True, inline="always")
def skin_vertex(
    world: np.ndarray, bones: np.ndarray, weights: np.ndarray, local: np.ndarray, v: int
) -> tuple[float, float]:
    """Vertex `v` of the packed buffers skinned (no deform): the one place the weighted sum
    is written for the numba paths (`skin_ranges`, the live framing's extent)."""
    x = 0.0
    y = 0.0
    for i in range(4):
        w = weights[v, i]
        if w == 0.0:
            continue
        b = bones[v, i]
        lx = local[v, i, 0]
        ly = local[v, i, 1]
        x += w * (world[b, WA] * lx + world[b, WB] * ly + world[b, WX])
        y += w * (world[b, WC] * lx + world[b, WD] * ly + world[b, WY])
    return x, y


@njit(cache=True, fastmath=True)
def skin_ranges(
    world: np.ndarray,
    bones: np.ndarray,
    weights: np.ndarray,
    local: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    out: np.ndarray,
    deform: np.ndarray,
    anchor: np.ndarray,
    deformed: np.ndarray,
) -> None:
    """Skin the vertex ranges [starts[k], ends[k]) of the packed mesh buffers into `out`;
    ranges with deformed[k] also get their deform offsets."""
    for k in range(starts.shape[0]):
        for v in range(starts[k], ends[k]):
            x, y = skin_vertex(world, bones, weights, local, v)
            if deformed[k]:
                a = anchor[v]
                dx = deform[v, 0]
                dy = deform[v, 1]
                x += world[a, WA] * dx + world[a, WB] * dy
                y += world[a, WC] * dx + world[a, WD] * dy
            out[v, 0] = x
            out[v, 1] = y
