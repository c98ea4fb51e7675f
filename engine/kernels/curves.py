"""Keyframe sampling with Minecraft's `KeyframeAnimations` semantics, plus step and Spine 4 Bézier.

Keys of one channel are a slice ``[start, end)`` of packed arrays: ``times (K,)``,
``values (K, 4)`` (first `dims` columns used), ``interp (K,)`` and ``curves (K, 4, 4)``
(per dimension: cx1, cy1, cx2, cy2 in absolute seconds and value units).

The DESTINATION key's interpolation governs a segment. For time t:
``i = max(0, first index with t <= time) - 1``, ``j = min(i + 1, last)``,
``a = clamp((t - t_i) / (t_j - t_i), 0, 1)`` (0 when i == j). So before the first key the
value holds the first key and after the last it holds the last.
"""

from __future__ import annotations

import numpy as np
from numba import njit

LINEAR, CATMULLROM, STEP, BEZIER = 0, 1, 2, 3
INTERP_NAMES = ("linear", "catmullrom", "step", "bezier")


@njit(cache=True)
def catmullrom(a: float, p0: float, p1: float, p2: float, p3: float) -> float:
    return 0.5 * (
        2.0 * p1
        + (p2 - p0) * a
        + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * a * a
        + (3.0 * p1 - p0 - 3.0 * p2 + p3) * a * a * a
    )


@njit(cache=True)
def bezier_at(
    t: float,
    t0: float,
    v0: float,
    cx1: float,
    cy1: float,
    cx2: float,
    cy2: float,
    t1: float,
    v1: float,
) -> float:
    """Value of the cubic Bézier (t0,v0)-(cx1,cy1)-(cx2,cy2)-(t1,v1) at time t.

    Solves x(s) = t for the curve parameter s (x is monotonic for valid Spine curves, whose
    control times lie within the segment) by bisection refined with Newton steps.
    """
    if t <= t0:
        return v0
    if t >= t1:
        return v1
    lo = 0.0
    hi = 1.0
    s = (t - t0) / (t1 - t0)
    for _ in range(40):
        u = 1.0 - s
        x = u * u * u * t0 + 3.0 * u * u * s * cx1 + 3.0 * u * s * s * cx2 + s * s * s * t1
        err = x - t
        if abs(err) < 1e-10:
            break
        if err > 0.0:
            hi = s
        else:
            lo = s
        dx = 3.0 * u * u * (cx1 - t0) + 6.0 * u * s * (cx2 - cx1) + 3.0 * s * s * (t1 - cx2)
        nxt = s - err / dx if dx > 1e-12 else -1.0
        s = nxt if lo < nxt < hi else 0.5 * (lo + hi)
    u = 1.0 - s
    return u * u * u * v0 + 3.0 * u * u * s * cy1 + 3.0 * u * s * s * cy2 + s * s * s * v1


@njit(cache=True)
def find_segment(times: np.ndarray, start: int, end: int, t: float) -> tuple[int, int, float]:
    """Binary search: (i, j, a) as in the module docstring, as absolute key indices."""
    lo = start
    hi = end
    while lo < hi:  # first index with t <= times[idx], or `end` if none
        mid = (lo + hi) >> 1
        if t <= times[mid]:
            hi = mid
        else:
            lo = mid + 1
    i = max(start, lo - 1)
    j = min(end - 1, i + 1)
    if j == i:
        return i, j, 0.0
    a = (t - times[i]) / (times[j] - times[i])
    return i, j, min(1.0, max(0.0, a))


@njit(cache=True)
def sample(
    times: np.ndarray,
    values: np.ndarray,
    interp: np.ndarray,
    curves: np.ndarray,
    start: int,
    end: int,
    dims: int,
    t: float,
    out: np.ndarray,
) -> None:
    """Sample the channel at time t into out[:dims]."""
    i, j, a = find_segment(times, start, end, t)
    kind = interp[j]
    for d in range(dims):
        if kind == CATMULLROM:
            out[d] = catmullrom(
                a,
                values[max(start, i - 1), d],
                values[i, d],
                values[j, d],
                values[min(end - 1, j + 1), d],
            )
        elif kind == STEP:
            out[d] = values[j, d] if a >= 1.0 else values[i, d]
        elif kind == BEZIER and j != i:
            c = curves[j, d]
            out[d] = bezier_at(
                t, times[i], values[i, d], c[0], c[1], c[2], c[3], times[j], values[j, d]
            )
        else:
            out[d] = values[i, d] + (values[j, d] - values[i, d]) * a
