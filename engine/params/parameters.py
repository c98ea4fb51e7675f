"""Named parameters (Live2D / Inochi2D style): the only way tracking, hotkeys and tools move
the avatar. A parameter has an id, a range and a default; its bindings map its value to bone
offsets (added; scale factors multiply) through piecewise-linear keys.

Applied after animation, so a parameter layers over whatever the body is doing.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numba import njit

from engine.kernels.layout import SX, SY
from engine.pose.pose import Pose
from engine.rig.data import RigData


class UnknownParameterError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class ParameterSet:
    """A session's parameter values for one rig."""

    def __init__(self, rig: RigData) -> None:
        self.rig = rig
        self.values = np.array([p.default for p in rig.parameters], dtype=np.float64)
        self._lo = np.array([p.min for p in rig.parameters], dtype=np.float64)
        self._hi = np.array([p.max for p in rig.parameters], dtype=np.float64)
        b = [(p.index, bind) for p in rig.parameters for bind in p.bindings]
        self._param = np.array([i for i, _ in b], dtype=np.int64)
        self._bone = np.array([x.bone for _, x in b], dtype=np.int64)
        self._prop = np.array([x.prop for _, x in b], dtype=np.int64)
        starts = np.cumsum([0] + [len(x.inputs) for _, x in b]).astype(np.int64)
        self._start = starts
        self._xs = np.concatenate([x.inputs for _, x in b]) if b else np.zeros(0)
        self._ys = np.concatenate([x.outputs for _, x in b]) if b else np.zeros(0)
        self._slot_bindings = [(p.index, sb) for p in rig.parameters for sb in p.slot_bindings]

    def index(self, pid: str) -> int:
        try:
            return self.rig.parameter_index[pid]
        except KeyError:
            raise UnknownParameterError(
                f'unknown parameter "{pid}" for rig "{self.rig.name}"'
            ) from None

    def set(self, pid: str, value: float) -> None:
        """Set a parameter, clamped to its range."""
        i = self.index(pid)
        self.values[i] = min(self._hi[i], max(self._lo[i], float(value)))

    def update(self, values: Mapping[str, float]) -> None:
        for pid, v in values.items():
            self.set(pid, v)

    def get(self, pid: str) -> float:
        return float(self.values[self.index(pid)])

    def reset(self) -> None:
        self.values[:] = [p.default for p in self.rig.parameters]

    def apply(self, pose: Pose) -> None:
        """Bone offsets into the pose's local transforms, then slot alphas and attachments."""
        _apply(
            self.values,
            self._param,
            self._bone,
            self._prop,
            self._start,
            self._xs,
            self._ys,
            pose.local,
        )
        for p, b in self._slot_bindings:
            v = self.values[p]
            if b.offsets is not None and b.mesh is not None:
                d = _interp_offsets(v, b.inputs, b.offsets)
                if d is not None:
                    pose.add_deform(b.mesh, d)
            elif b.alphas is not None:
                pose.slot_color[b.slot, 3] *= float(np.interp(v, b.inputs, b.alphas))
            elif b.names is not None:
                i = int(np.searchsorted(b.inputs, v, side="right")) - 1
                pose.slot_attachment[b.slot] = b.names[max(i, 0)]


def _interp_offsets(v: float, xs: np.ndarray, offsets: np.ndarray) -> np.ndarray | None:
    """Offsets at parameter value v, piecewise linear between keys; None when all zero."""
    if v <= xs[0]:
        d = offsets[0]
    elif v >= xs[-1]:
        d = offsets[-1]
    else:
        j = int(np.searchsorted(xs, v))
        a = (v - xs[j - 1]) / (xs[j] - xs[j - 1])
        d = offsets[j - 1] + (offsets[j] - offsets[j - 1]) * a
    return d if d.any() else None


@njit(cache=True)
def _apply(values, param, bone, prop, start, xs, ys, local) -> None:
    for k in range(param.shape[0]):
        v = values[param[k]]
        s, e = start[k], start[k + 1]
        if v <= xs[s]:
            y = ys[s]
        elif v >= xs[e - 1]:
            y = ys[e - 1]
        else:
            j = s + 1
            while xs[j] < v:
                j += 1
            a = (v - xs[j - 1]) / (xs[j] - xs[j - 1])
            y = ys[j - 1] + (ys[j] - ys[j - 1]) * a
        p = prop[k]
        if p in (SX, SY):
            local[bone[k], p] *= y
        else:
            local[bone[k], p] += y
