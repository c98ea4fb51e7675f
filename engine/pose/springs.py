"""Secondary motion: hair and scarf follow through on angular springs, at a fixed 60 Hz.

Each spring bone carries an angle offset theta (degrees) from its animated world angle and
an angular velocity. Per step it is driven by (1) the acceleration of its origin, acting on
its tip like a pendulum, (2) the turn of its animated angle since the last step, which it
resists by `inertia` (so it lags, then overshoots), and (3) gravity; a spring pulls it back
and damping calms it. Theta is clamped to the limit with the outward velocity removed, so
the ends of the range are stable. Springs run after IK, parents first, each followed by its
subtree's world update, so a lock of hair swings as a chain.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.kernels.layout import ROT, WA, WC, WX, WY
from engine.kernels.transform import update_bones
from engine.pose.pose import Pose
from engine.rig.data import RigData

STEP = 1.0 / 60.0
MAX_STEPS = 4  # after a stall, catch up at most this many steps and drop the rest
_DEG = 180.0 / math.pi


class SpringSystem:
    """Per-session spring state for a rig (empty, and free, when the rig has none)."""

    def __init__(self, rig: RigData) -> None:
        sp = rig.springs
        self.rig = rig
        self.params = np.array(
            [[s.stiffness, s.damping, s.inertia, s.gravity, s.limit] for s in sp], dtype=np.float64
        ).reshape(-1, 5)
        self.bones = np.array([s.bone for s in sp], dtype=np.int64)
        lengths = np.array([rig.bones[s.bone].length for s in sp], dtype=np.float64)
        self.lengths = lengths
        orders = [np.array(sorted({s.bone} | rig.descendants(s.bone)), dtype=np.int64) for s in sp]
        self.subtree = np.concatenate(orders) if orders else np.zeros(0, np.int64)
        self.subtree_start = np.cumsum([0] + [len(o) for o in orders]).astype(np.int64)
        # state: theta, omega, previous origin (x, y) twice, previous animated angle
        self.state = np.zeros((len(sp), 7))
        self.primed = False
        self._accum = 0.0

    def reset(self) -> None:
        self.state[:] = 0.0
        self.primed = False

    def step(self, pose: Pose, dt: float) -> None:
        """Advance the springs by dt (in whole 60 Hz steps) and apply them to the pose."""
        if self.bones.size == 0:
            return
        self._accum += dt
        steps = int(self._accum / STEP + 1e-9)
        self._accum -= steps * STEP
        if steps > MAX_STEPS:
            steps = MAX_STEPS
        rig = self.rig
        _step(
            steps, STEP, not self.primed, self.bones, self.lengths, self.params, self.state,
            self.subtree, self.subtree_start, rig.parent, rig.inherit, pose.local, pose.world,
        )  # fmt: skip
        self.primed = True

    @property
    def offsets(self) -> np.ndarray:
        """Current angle offsets from the animation, degrees (for tests and tools)."""
        return self.state[:, 0].copy()


@njit(cache=True)
def _step(
    steps, dt, prime, bones, lengths, params, state, subtree, start, parent, inherit, local, world
) -> None:
    for k in range(bones.shape[0]):
        b = bones[k]
        ox = world[b, WX]
        oy = world[b, WY]
        anim = math.atan2(world[b, WC], world[b, WA]) * _DEG
        st = state[k]
        if prime:
            st[2] = ox
            st[3] = oy
            st[4] = ox
            st[5] = oy
            st[6] = anim
        stiff, damp, inertia, gravity, limit = (
            params[k, 0],
            params[k, 1],
            params[k, 2],
            params[k, 3],
            params[k, 4],
        )
        # The world motion between ticks is spread evenly over this tick's steps.
        turn = anim - st[6]
        turn = (turn + 180.0) % 360.0 - 180.0
        ax = (ox - 2.0 * st[2] + st[4]) / (dt * dt * max(steps, 1) ** 2)
        ay = (oy - 2.0 * st[3] + st[5]) / (dt * dt * max(steps, 1) ** 2)
        # no whole step this tick: hold the offset; the turn is counted when a step comes
        theta = st[0] - inertia * turn if steps > 0 else st[0]
        omega = st[1]
        for _ in range(steps):
            phi = (anim + theta) / _DEG
            ux = math.cos(phi)
            uy = math.sin(phi)
            # pendulum: the tip resists the origin's acceleration; gravity pulls it down
            alpha = inertia * (ux * ay - uy * ax) * -1.0 / lengths[k] * _DEG
            alpha += gravity * -ux
            alpha += -stiff * theta - damp * omega
            omega += alpha * dt
            theta += omega * dt
            if theta > limit:
                theta = limit
                omega = min(omega, 0.0)
            elif theta < -limit:
                theta = -limit
                omega = max(omega, 0.0)
        if steps > 0:
            st[4] = st[2]
            st[5] = st[3]
            st[2] = ox
            st[3] = oy
            st[6] = anim
        st[0] = theta
        st[1] = omega
        local[b, ROT] += theta
        update_bones(subtree[start[k] : start[k + 1]], parent, inherit, local, world)
