"""A 1-D blend of clips by one input (walk <-> run by speed), phase-synchronised: every clip
is sampled at the same fraction of its own length, so feet stay in step while blending."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.anim.clip import Clip
from engine.rig.data import frozen


@dataclass(frozen=True, slots=True, eq=False)
class Blend1D:
    name: str
    input: str
    clips: tuple[Clip, ...]
    at: tuple[float, ...]  # increasing input values, one per clip
    bone_keyed: np.ndarray
    slot_keyed: np.ndarray

    @classmethod
    def of(cls, name: str, input: str, points: list[tuple[Clip, float]]) -> Blend1D:
        points = sorted(points, key=lambda p: p[1])
        clips = tuple(c for c, _ in points)
        return cls(
            name=name,
            input=input,
            clips=clips,
            at=tuple(a for _, a in points),
            bone_keyed=frozen(np.logical_or.reduce([c.bone_keyed for c in clips])),
            slot_keyed=frozen(np.logical_or.reduce([c.slot_keyed for c in clips])),
        )

    @property
    def looping(self) -> bool:
        return True

    def weights(self, value: float) -> tuple[int, float]:
        """(i, w): blend clip i with weight 1 - w and clip i + 1 with weight w."""
        at = self.at
        if value <= at[0] or len(at) == 1:
            return 0, 0.0
        if value >= at[-1]:
            return len(at) - 2, 1.0
        i = 0
        while at[i + 1] < value:
            i += 1
        return i, (value - at[i]) / (at[i + 1] - at[i])

    def duration(self, value: float) -> float:
        """Seconds per cycle at this input. Outside the points' range the nearest clip
        plays slower or faster in proportion (capped), so feet don't skate."""
        i, w = self.weights(value)
        if len(self.clips) == 1:
            base = self.clips[0].length
        else:
            base = self.clips[i].length * (1.0 - w) + self.clips[i + 1].length * w
        lo, hi = self.at[0], self.at[-1]
        if value < lo and lo > 0:
            return base / max(value / lo, 0.25)
        if value > hi and hi > 0:
            return base / min(value / hi, 2.0)
        return base
