"""The update plan: world transforms and constraints in one precomputed order (Spine's
`updateCache`). Computed once per rig; a frame just walks it.

Each IK constraint needs its target and its chain up to date before it runs; it then rewrites
its chain's rotations and world transforms itself, so every other descendant of the chain is
(re)scheduled after it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.rig.data import IkData, UpdateStep, frozen


def build_plan(parent: np.ndarray, ik: Sequence[IkData]) -> tuple[UpdateStep, ...]:
    n = parent.shape[0]
    done = [False] * n
    order: list[int | tuple[str, int]] = []

    def sort_bone(b: int) -> None:
        if done[b]:
            return
        if parent[b] >= 0:
            sort_bone(int(parent[b]))
        order.append(b)
        done[b] = True

    for c in ik:
        sort_bone(c.target)
        sort_bone(c.bones[-1])
        order.append(("ik", c.index))
        chain = set(c.bones)
        below = _descendants(parent, c.bones[0])
        for b in below - chain:
            done[b] = False
    for b in range(n):
        sort_bone(b)

    steps: list[UpdateStep] = []
    run: list[int] = []
    for item in order:
        if isinstance(item, tuple):
            if run:
                steps.append(UpdateStep(bones=frozen(np.array(run, dtype=np.int64))))
                run = []
            steps.append(UpdateStep(ik=item[1]))
        else:
            run.append(item)
    if run:
        steps.append(UpdateStep(bones=frozen(np.array(run, dtype=np.int64))))
    return tuple(steps)


def _descendants(parent: np.ndarray, bone: int) -> set[int]:
    out: set[int] = set()
    for b in range(parent.shape[0]):  # parent-first order: one pass suffices
        p = int(parent[b])
        if p == bone or p in out:
            out.add(b)
    return out
