"""Runs one IK constraint on a pose: reads the chain from the world transforms, calls the
solver kernel, and writes the result back as local rotations blended FK -> IK by `mix`.

Solvers work on world angles. Limits arrive as bounds on the angle between a bone and its
parent (`IkData.relative_limits`), which equals the local rotation plus shearX when the
parent is unsheared; the write-back inverts the parent's full matrix, so it is exact.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.kernels import ik as solvers
from engine.kernels.layout import ROT, WA, WC, WX, WY
from engine.kernels.transform import update_bone, world_to_local_rotation
from engine.rig.data import IkData, RigData

_DEG = 180.0 / math.pi


def solve_constraint(
    rig: RigData, c: IkData, mix: float, local: np.ndarray, world: np.ndarray
) -> None:
    _solve(
        c.chain,
        c.target,
        int(c.solver),
        mix,
        c.bend,
        c.iterations,
        c.tolerance,
        c.velocity,
        c.relative_limits,
        c.lengths,
        rig.parent,
        rig.inherit,
        local,
        world,
    )


@njit(cache=True)
def _solve(
    chain: np.ndarray,
    target: int,
    solver: int,
    mix: float,
    bend: float,
    iterations: int,
    tolerance: float,
    velocity: float,
    limits: np.ndarray,
    lengths: np.ndarray,
    parent: np.ndarray,
    inherit: np.ndarray,
    local: np.ndarray,
    world: np.ndarray,
) -> None:
    n = chain.shape[0]
    b0 = chain[0]
    origin = np.array([world[b0, WX], world[b0, WY]])
    goal = np.array([world[target, WX], world[target, WY]])
    angles = np.empty(n)
    wlen = np.empty(n)
    for i in range(n):
        b = chain[i]
        angles[i] = math.atan2(world[b, WC], world[b, WA]) * _DEG
        wlen[i] = lengths[i] * math.hypot(world[b, WA], world[b, WC])
    p = parent[b0]
    base = math.atan2(world[p, WC], world[p, WA]) * _DEG if p >= 0 else 0.0

    if solver == 0:
        out = solvers.solve_limb(origin, angles, wlen, base, limits, goal, bend)
    elif solver == 1:
        out = solvers.solve_ccd(
            origin, angles, wlen, base, limits, goal, iterations, tolerance, velocity
        )
    else:
        out = solvers.solve_fabrik(origin, angles, wlen, base, limits, goal, iterations, tolerance)

    for i in range(n):
        b = chain[i]
        ik_rot = world_to_local_rotation(b, parent, world, local, out[i])
        fk_rot = local[b, ROT]
        local[b, ROT] = fk_rot + solvers.wrap180(ik_rot - fk_rot) * mix
        update_bone(b, parent, inherit, local, world)
