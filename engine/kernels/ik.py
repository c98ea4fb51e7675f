"""2D inverse kinematics on bone chains: analytic two-bone (limb), CCD and FABRIK.

Pure numeric kernels, numba-compiled, no rig objects (`engine.pose.ik` adapts a rig's chain).

Conventions
-----------
* Engine space: y-up, angles in DEGREES counter-clockwise, everything in WORLD space.
* A chain of n bones: ``origin`` (2,) is the first joint, ``angles`` (n,) the world angle of
  each bone's x axis, ``lengths`` (n,) the world lengths (> 0, may differ). Joint k lies at
  ``origin + sum_{i<k} lengths[i] * (cos a_i, sin a_i)``; the effector is joint n.
* ``base_angle`` is the world angle of the x axis of the chain root's parent; it only matters
  for limits.
* ``limits`` (n, 2) bounds each bone's RELATIVE angle: bone i's world angle minus bone i-1's
  (minus ``base_angle`` for i = 0). ``-inf``/``+inf`` means no limit on that side; NaN works
  the same way. Angles are circular, so a bound only restricts anything when both sides are
  finite and ``max - min < 360``; otherwise the bone is free. Bounds may lie outside
  (-180, 180] (e.g. [140, 200] around a rest angle of 170); ``min <= max`` is assumed.
* Bend sign (limb): ``bend >= 0`` bends the second bone counter-clockwise relative to the
  first: ``a2 - a1`` in [0, 180] (before limits), ``cross(bone1, bone2) >= 0``. Looking
  from the origin at the target, the elbow is then on the RIGHT of the line origin ->
  target (``cross(target - origin, elbow - origin) <= 0``). ``bend < 0`` mirrors it.

Return convention: every solver returns a NEW (n,) float64 array of world angles (degrees);
inputs are never written. Results are angles modulo 360; for a limited bone the raw
difference ``out[i] - out[i-1]`` (or ``out[0] - base_angle``) itself lies in [min, max].
Solvers only output angles, so forward kinematics with the same lengths keeps the lengths.
Targets at or beyond reach (distance >= sum of lengths) give a straight chain aimed at the
target, limits still applied.

Iterative solvers (CCD, FABRIK): start from the given pose moved into its limits, stop after
`iterations` passes or once the effector is within `tolerance` (world units). CCD's error
never grows from pass to pass: each turn slides the effector along its circle towards the
target, and a limit stops a turn at the bound it meets (no jumping across the gap). Both
plain algorithms are stuck on a chain lying along the line effector -> target (a straight
rest pose whose target moved along it); there the solvers first turn the bones along the
second-order steepest way off that line, kept only when it brings the effector nearer.
Convergence is not fast everywhere: from knotted poses or near full folds CCD at velocity
0.5 may need thousands of passes and FABRIK hundreds.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_RAD = math.pi / 180.0
_DEG = 180.0 / math.pi
# below this fraction of the chain's length the direction to the target is meaningless
_TINY = 1e-12
# joints closer than this fraction of the error to the effector -> target line count as on it
_ON_LINE = 1e-2
# bisection steps for the way off that line (each halves the bracket)
_BISECTIONS = 60


@njit(cache=True)
def wrap180(d: float) -> float:
    """d wrapped into (-180, 180]."""
    return d - 360.0 * math.ceil((d - 180.0) / 360.0)  # numba has no math.fmod


@njit(cache=True)
def _limited(lo: float, hi: float) -> bool:
    return hi - lo < 360.0  # false for infinite and NaN bounds


@njit(cache=True)
def clamp_relative(r: float, lo: float, hi: float) -> float:
    """A relative angle clamped to [lo, hi] on the circle (free unless both are finite and
    hi - lo < 360). The result is inside [lo, hi] as a number, not only modulo 360; when r is
    outside, the nearer bound along the circle wins."""
    if not _limited(lo, hi):
        return r
    c = 0.5 * (lo + hi)
    # centred on the allowed arc, so the forbidden arc splits at its middle
    r = c + wrap180(r - c)
    if r < lo:
        return lo
    if r > hi:
        return hi
    return r


@njit(cache=True)
def _turn_bone(
    angles: np.ndarray, i: int, turn: float, base_angle: float, limits: np.ndarray
) -> None:
    """Turn bone i and its descendants by `turn` degrees, stopping at the first bound met on
    the way. Needs bone i's raw relative angle already inside its limits, which then holds
    as plain numbers, so a plain clamp stops the turn instead of jumping across the gap."""
    lo = limits[i, 0]
    hi = limits[i, 1]
    if _limited(lo, hi):
        r = angles[i] - (base_angle if i == 0 else angles[i - 1])
        turn = min(hi, max(lo, r + turn)) - r
    for k in range(i, angles.shape[0]):
        angles[k] += turn


@njit(cache=True)
def apply_limits(angles: np.ndarray, base_angle: float, limits: np.ndarray) -> None:
    """Clamp every bone's relative angle in place, root first (descendants keep their world
    angles, as a solver that just produced them expects)."""
    prev = base_angle
    for i in range(angles.shape[0]):
        angles[i] = prev + clamp_relative(angles[i] - prev, limits[i, 0], limits[i, 1])
        prev = angles[i]


@njit(cache=True)
def _fk_from(p: np.ndarray, angles: np.ndarray, lengths: np.ndarray, start: int) -> None:
    """Joints start+1..n from joint `start` (in place)."""
    for k in range(start, angles.shape[0]):
        a = angles[k] * _RAD
        p[k + 1, 0] = p[k, 0] + lengths[k] * math.cos(a)
        p[k + 1, 1] = p[k, 1] + lengths[k] * math.sin(a)


@njit(cache=True)
def forward(origin: np.ndarray, angles: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(n+1, 2) joint positions of the chain; row n is the effector."""
    p = np.empty((angles.shape[0] + 1, 2))
    p[0, 0] = origin[0]
    p[0, 1] = origin[1]
    _fk_from(p, angles, lengths, 0)
    return p


@njit(cache=True)
def mix_angles(fk: np.ndarray, ik: np.ndarray, mix: float) -> np.ndarray:
    """(n,) blend from `fk` (mix 0) to `ik` (mix 1) along the shorter way round; a difference
    of exactly 180 turns counter-clockwise."""
    out = np.empty(fk.shape[0])
    for i in range(fk.shape[0]):
        out[i] = fk[i] + wrap180(ik[i] - fk[i]) * mix
    return out


@njit(cache=True)
def _straight_if_unreachable(
    origin: np.ndarray,
    lengths: np.ndarray,
    base_angle: float,
    limits: np.ndarray,
    target: np.ndarray,
    out: np.ndarray,
) -> bool:
    """Aim the whole chain at the target when it is at or beyond reach; says whether it did."""
    dx = target[0] - origin[0]
    dy = target[1] - origin[1]
    if math.hypot(dx, dy) < lengths.sum():
        return False
    out[:] = math.atan2(dy, dx) * _DEG
    apply_limits(out, base_angle, limits)
    return True


@njit(cache=True)
def _effector_distance(p: np.ndarray, target: np.ndarray) -> float:
    n = p.shape[0] - 1
    return math.hypot(target[0] - p[n, 0], target[1] - p[n, 1])


@njit(cache=True)
def _on_one_line(p: np.ndarray, target: np.ndarray, err: float) -> bool:
    """Whether every joint lies (within a hair of `err`) on the line effector -> target.

    FABRIK's passes keep such a chain on its line, and where every joint sees effector and
    target on the same side CCD turns nothing, so neither solver could ever bend a straight
    chain whose target moved along it. Needs err > 0.
    """
    n = p.shape[0] - 1
    ux = (p[n, 0] - target[0]) / err
    uy = (p[n, 1] - target[1]) / err
    for k in range(n):
        if abs((target[0] - p[k, 0]) * uy - (target[1] - p[k, 1]) * ux) > _ON_LINE * err:
            return False
    return True


@njit(cache=True)
def _bend_direction(
    angles: np.ndarray, lengths: np.ndarray, p: np.ndarray, target: np.ndarray, err: float
) -> tuple[np.ndarray, float]:
    """Per-bone turns along which the error falls fastest from a pose on the effector ->
    target line, and the rate (negative when the error can fall at all).

    On the line every first derivative vanishes, so this is second order: turning each bone
    (alone) by x[i] radians moves the squared error by x^T M x, M = diag(d) + v v^T, where
    v[i] is bone i's length projected on the direction effector -> target and d = err * v.
    M's lowest eigenvalue lies between the two lowest d (a rank-one update interlaces) and
    solves 1 + sum v^2 / (d - lam) = 0, increasing there, so bisection finds it; the
    eigenvector is v / (d - lam).
    """
    n = angles.shape[0]
    x = np.zeros(n)
    if n < 2:
        return x, 0.0  # one bone on the line already points at the target
    wx = (target[0] - p[n, 0]) / err
    wy = (target[1] - p[n, 1]) / err
    v = np.empty(n)
    i1 = 0  # lowest d, then second lowest
    i2 = 1
    for i in range(n):
        v[i] = lengths[i] * (math.cos(angles[i] * _RAD) * wx + math.sin(angles[i] * _RAD) * wy)
    if v[1] < v[0]:
        i1, i2 = 1, 0
    for i in range(2, n):
        if v[i] < v[i1]:
            i1, i2 = i, i1
        elif v[i] < v[i2]:
            i2 = i
    if not v[i1] < 0.0:
        return x, 0.0  # M is positive semi-definite: nowhere to go
    lo = err * v[i1]
    hi = err * v[i2]
    if hi - lo <= 1e-12 * lengths.sum():
        # a repeated lowest d: its eigenvectors are the turns of the pair that cancel in v
        x[i1] = v[i2]
        x[i2] = -v[i1]
    else:
        for _ in range(_BISECTIONS):
            lam = 0.5 * (lo + hi)
            f = 1.0
            for i in range(n):
                f += v[i] * v[i] / (err * v[i] - lam)
            if f < 0.0:
                lo = lam
            else:
                hi = lam
        lam = 0.5 * (lo + hi)
        for i in range(n):
            x[i] = v[i] / (err * v[i] - lam)
    vx = (v * x).sum()
    return x, err * (v * x * x).sum() + vx * vx


@njit(cache=True)
def _unstick(
    out: np.ndarray,
    p: np.ndarray,
    lengths: np.ndarray,
    target: np.ndarray,
    err: float,
    base_angle: float,
    limits: np.ndarray,
    trial: np.ndarray,
) -> None:
    """Get a chain off the effector -> target line, where neither solver can move it: CCD's
    turns are all zero there and FABRIK's passes keep every joint on the line.

    Turns the bones a little along `_bend_direction`, trying a few sizes and both ways, and
    keeps the best pose only if it is nearer the target (limits applied), so the error never
    grows; when no way helps (a local minimum, or limits) the pose stays. Rewrites the
    joints `p` from the pose; `trial` is scratch of out's size.
    """
    d, rate = _bend_direction(out, lengths, p, target, err)
    if not rate < 0.0:
        _fk_from(p, out, lengths, 0)  # p was only read, but keep one contract
        return
    d /= np.abs(d).max()
    best = err
    best_step = 0.0
    step = min(30.0, math.sqrt(err / lengths.sum()) * _DEG)  # turns that shorten by ~err
    for _ in range(4):
        for sign in (1.0, -1.0):
            for i in range(out.shape[0]):
                trial[i] = out[i] + sign * step * d[i]
            apply_limits(trial, base_angle, limits)
            _fk_from(p, trial, lengths, 0)
            e = _effector_distance(p, target)
            if e < best:
                best = e
                best_step = sign * step
        step *= 0.25
    if best_step != 0.0:
        out += best_step * d
        apply_limits(out, base_angle, limits)
    _fk_from(p, out, lengths, 0)


@njit(cache=True)
def solve_limb(
    origin: np.ndarray,
    angles: np.ndarray,
    lengths: np.ndarray,
    base_angle: float,
    limits: np.ndarray,
    target: np.ndarray,
    bend: float,
) -> np.ndarray:
    """Analytic two-bone IK (law of cosines) for a chain of exactly 2 bones; see the module
    docstring for the bend sign (``bend >= 0`` counter-clockwise, ``bend < 0`` clockwise).

    Out of reach: both bones aim at the target. Closer than |l1 - l2|: the chain folds
    (relative angle ±180) on the line to the target, the effector as near as it can get.
    Target on the origin: the first bone keeps its angle and the second folds back.
    Limits are clamped afterwards (root first), so a limited limb may miss the target.
    """
    out = np.empty(2)
    l1 = lengths[0]
    l2 = lengths[1]
    s = 1.0 if bend >= 0.0 else -1.0
    dx = target[0] - origin[0]
    dy = target[1] - origin[1]
    dist = math.hypot(dx, dy)
    if dist <= _TINY * (l1 + l2):
        out[0] = angles[0]
        out[1] = angles[0] + s * 180.0
    else:
        # clamping the cosines covers "too far" (straight) and "too near" (folded) too
        ca = (l1 * l1 + dist * dist - l2 * l2) / (2.0 * l1 * dist)
        cb = (l1 * l1 + l2 * l2 - dist * dist) / (2.0 * l1 * l2)
        alpha = math.acos(min(1.0, max(-1.0, ca))) * _DEG  # at the origin, bone 1 to target
        beta = math.acos(min(1.0, max(-1.0, cb))) * _DEG  # inside the elbow
        out[0] = math.atan2(dy, dx) * _DEG - s * alpha
        out[1] = out[0] + s * (180.0 - beta)
    apply_limits(out, base_angle, limits)
    return out


@njit(cache=True)
def solve_ccd(
    origin: np.ndarray,
    angles: np.ndarray,
    lengths: np.ndarray,
    base_angle: float,
    limits: np.ndarray,
    target: np.ndarray,
    iterations: int = 10,
    tolerance: float = 0.01,
    velocity: float = 0.5,
) -> np.ndarray:
    """Cyclic coordinate descent as Unity's CCD2D: each iteration turns bones last to first,
    each by `velocity` (0..1] of the turn that puts the effector on the line joint -> target,
    clamped to its limits. Stops once the effector is within `tolerance` (world units) or
    after `iterations` passes.
    """
    n = angles.shape[0]
    out = angles.astype(np.float64)  # a copy, and float even for integer input
    if _straight_if_unreachable(origin, lengths, base_angle, limits, target, out):
        return out
    apply_limits(out, base_angle, limits)  # start from a legal pose so each step keeps it so
    p = forward(origin, out, lengths)
    trial = np.empty(n)
    for _ in range(iterations):
        err = _effector_distance(p, target)
        if err <= tolerance:
            break
        if _on_one_line(p, target, err):
            _unstick(out, p, lengths, target, err, base_angle, limits, trial)
        for i in range(n - 1, -1, -1):
            ex = p[n, 0] - p[i, 0]
            ey = p[n, 1] - p[i, 1]
            tx = target[0] - p[i, 0]
            ty = target[1] - p[i, 1]
            # signed angle effector -> target seen from joint i; atan2(0, 0) = 0 keeps
            # coincident points harmless
            turn = math.atan2(ex * ty - ey * tx, ex * tx + ey * ty) * _DEG * velocity
            _turn_bone(out, i, turn, base_angle, limits)
            _fk_from(p, out, lengths, i)
    return out


@njit(cache=True)
def _toward(p: np.ndarray, frm: int, to: int, length: float, fallback: float) -> None:
    """Put joint `to` at `length` from joint `frm` along the line frm -> to; along the
    `fallback` angle (degrees) when the two coincide."""
    dx = p[to, 0] - p[frm, 0]
    dy = p[to, 1] - p[frm, 1]
    d = math.hypot(dx, dy)
    if d > _TINY * length:
        p[to, 0] = p[frm, 0] + dx * (length / d)
        p[to, 1] = p[frm, 1] + dy * (length / d)
    else:
        p[to, 0] = p[frm, 0] + length * math.cos(fallback * _RAD)
        p[to, 1] = p[frm, 1] + length * math.sin(fallback * _RAD)


@njit(cache=True)
def solve_fabrik(
    origin: np.ndarray,
    angles: np.ndarray,
    lengths: np.ndarray,
    base_angle: float,
    limits: np.ndarray,
    target: np.ndarray,
    iterations: int = 10,
    tolerance: float = 0.01,
) -> np.ndarray:
    """FABRIK: each iteration drags the effector onto the target and the joints after it
    (backward), re-anchors the root at the origin (forward), then reads the angles back,
    clamps them to the limits and rebuilds the joints from them. Stops once the effector is
    within `tolerance` (world units) or after `iterations` passes.
    """
    n = angles.shape[0]
    out = angles.astype(np.float64)  # a copy, and float even for integer input
    if _straight_if_unreachable(origin, lengths, base_angle, limits, target, out):
        return out
    apply_limits(out, base_angle, limits)
    p = forward(origin, out, lengths)
    trial = np.empty(n)
    for _ in range(iterations):
        err = _effector_distance(p, target)
        if err <= tolerance:
            break
        if _on_one_line(p, target, err):
            _unstick(out, p, lengths, target, err, base_angle, limits, trial)
        p[n, 0] = target[0]
        p[n, 1] = target[1]
        for i in range(n - 1, -1, -1):
            _toward(p, i + 1, i, lengths[i], out[i] + 180.0)
        p[0, 0] = origin[0]
        p[0, 1] = origin[1]
        for i in range(n):
            _toward(p, i, i + 1, lengths[i], out[i])
        for i in range(n):
            a = math.atan2(p[i + 1, 1] - p[i, 1], p[i + 1, 0] - p[i, 0]) * _DEG
            out[i] += wrap180(a - out[i])  # stay near the previous angle: no 360 jumps
        apply_limits(out, base_angle, limits)
        _fk_from(p, out, lengths, 0)
    return out
