"""Animation clips: frozen, packed keyframes (the seed's `AnimationDefinition`).

Bone channels and slot colour channels share one set of packed key arrays, sampled by
`engine.kernels.curves`; `apply_bones` mixes a whole clip into a pose in one kernel call.
Values are relative to the setup pose: position, rotation and shear add, scale multiplies.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from engine.kernels.curves import sample
from engine.kernels.layout import ROT, SHX, SHY, SX, SY, T_POSITION, T_ROTATION, T_SCALE, X, Y

_NO_INTS = np.zeros(0, dtype=np.int64)
_NO_INTS.setflags(write=False)


class ParamFrame:
    """One tick's parameter values as clips see them: the session's values, copied on the
    first clip that keys a parameter (so a tick without parameter timelines copies
    nothing), then mixed into by each playing clip."""

    __slots__ = ("base", "mixed", "values")

    def __init__(self, n: int) -> None:
        self.base: np.ndarray = np.zeros(n)
        self.values = np.zeros(n)
        self.mixed = False

    def begin(self, base: np.ndarray) -> None:
        self.base = base
        self.mixed = False

    def mix(self, clip: Clip, t: float, alpha: float) -> None:
        if not self.mixed:
            np.copyto(self.values, self.base)
            self.mixed = True
        clip.mix_parameters(t, self.values, alpha)


@dataclass(frozen=True, slots=True)
class EventData:
    time: float
    name: str
    string: str = ""
    int_: int = 0
    float_: float = 0.0


@dataclass(frozen=True, slots=True)
class AttachmentTimeline:
    slot: int
    times: tuple[float, ...]
    names: tuple[str | None, ...]

    def at(self, t: float) -> str | None:
        i = bisect.bisect_right(self.times, t) - 1
        return self.names[max(i, 0)]


@dataclass(frozen=True, slots=True, eq=False)
class Clip:
    name: str
    length: float
    looping: bool
    # packed keys shared by every channel
    times: np.ndarray  # (K,)
    values: np.ndarray  # (K, 4)
    interp: np.ndarray  # (K,) int64
    curves: np.ndarray  # (K, 4, 4)
    # bone channels
    chan_bone: np.ndarray  # (C,) int64
    chan_target: np.ndarray  # (C,) int64, engine.kernels.layout.T_*
    chan_start: np.ndarray  # (C,) int64
    chan_end: np.ndarray  # (C,) int64
    bone_keyed: np.ndarray  # (bones, 4) bool: which targets of which bones this clip keys
    # slot timelines
    attachments: tuple[AttachmentTimeline, ...]
    color_slot: np.ndarray  # (S,) int64
    color_start: np.ndarray
    color_end: np.ndarray
    slot_keyed: np.ndarray  # (slots,) bool: attachment or colour keyed
    events: tuple[EventData, ...]  # sorted by time
    # parameter timelines (1-dim channels over the same packed keys): the rig's parameter
    # index, its id, and the key slice of each
    param_index: np.ndarray = field(default_factory=lambda: _NO_INTS)  # (P,) int64
    param_ids: tuple[str, ...] = ()
    param_start: np.ndarray = field(default_factory=lambda: _NO_INTS)
    param_end: np.ndarray = field(default_factory=lambda: _NO_INTS)

    def sample_parameters(self, t: float) -> dict[str, float]:
        """Every parameter timeline's value at time t."""
        buf = np.empty(4)
        out: dict[str, float] = {}
        for k, pid in enumerate(self.param_ids):
            s, e = int(self.param_start[k]), int(self.param_end[k])
            sample(self.times, self.values, self.interp, self.curves, s, e, 1, t, buf)
            out[pid] = float(buf[0])
        return out

    def mix_parameters(self, t: float, values: np.ndarray, alpha: float) -> None:
        """Mix this clip's parameter timelines at time t over `values` (indexed like the
        rig's parameters): v = v + (clip - v) * alpha."""
        _mix_params(
            t, self.param_index, self.param_start, self.param_end,
            self.times, self.values, self.interp, self.curves, values, alpha,
        )  # fmt: skip

    def apply_bones(
        self, t: float, setup: np.ndarray, local: np.ndarray, alpha: np.ndarray, additive: bool
    ) -> None:
        """Mix this clip at time t into `local`; alpha is (bones, 4) per bone and target."""
        apply_bones(
            t, self.chan_bone, self.chan_target, self.chan_start, self.chan_end,
            self.times, self.values, self.interp, self.curves, setup, local, alpha, additive,
        )  # fmt: skip

    def apply_slots(
        self,
        t: float,
        attachments: list[str | None],
        color: np.ndarray,
        alpha: np.ndarray,
    ) -> None:
        """Attachments switch when the slot's alpha reaches 0.5 (Spine's attachment
        threshold), so a cross-fade swaps sprites half-way; colours (absolute RGBA, as in
        Spine) lerp by alpha."""
        for tl in self.attachments:
            if alpha[tl.slot] >= 0.5:
                attachments[tl.slot] = tl.at(t)
        if self.color_slot.shape[0]:
            _apply_colors(
                t, self.color_slot, self.color_start, self.color_end,
                self.times, self.values, self.interp, self.curves, color, alpha,
            )  # fmt: skip

    def events_in(self, t0: float, t1: float, include_end: bool = False) -> list[EventData]:
        """Events with t0 <= time < t1 (or <= t1 with include_end), in clip time."""
        out = []
        for e in self.events:
            if e.time < t0:
                continue
            if e.time < t1 or (include_end and e.time <= t1):
                out.append(e)
            else:
                break
        return out


@njit(cache=True)
def apply_bones(
    t, chan_bone, chan_target, chan_start, chan_end, times, values, interp, curves,
    setup, local, alpha, additive,
) -> None:  # fmt: skip
    buf = np.empty(4)
    for c in range(chan_bone.shape[0]):
        b = chan_bone[c]
        tg = chan_target[c]
        a = alpha[b, tg]
        if a <= 0.0:
            continue
        dims = 1 if tg == T_ROTATION else 2
        sample(times, values, interp, curves, chan_start[c], chan_end[c], dims, t, buf)
        if tg == T_ROTATION:
            if additive:
                local[b, ROT] += buf[0] * a
            else:
                local[b, ROT] += (setup[b, ROT] + buf[0] - local[b, ROT]) * a
            continue
        if tg == T_POSITION:
            i0, i1 = X, Y
        elif tg == T_SCALE:
            i0, i1 = SX, SY
        else:
            i0, i1 = SHX, SHY
        if tg == T_SCALE:
            if additive:
                local[b, i0] += setup[b, i0] * (buf[0] - 1.0) * a
                local[b, i1] += setup[b, i1] * (buf[1] - 1.0) * a
            else:
                local[b, i0] += (setup[b, i0] * buf[0] - local[b, i0]) * a
                local[b, i1] += (setup[b, i1] * buf[1] - local[b, i1]) * a
        elif additive:
            local[b, i0] += buf[0] * a
            local[b, i1] += buf[1] * a
        else:
            local[b, i0] += (setup[b, i0] + buf[0] - local[b, i0]) * a
            local[b, i1] += (setup[b, i1] + buf[1] - local[b, i1]) * a


@njit(cache=True)
def _apply_colors(
    t, color_slot, color_start, color_end, times, values, interp, curves, color, alpha,
) -> None:  # fmt: skip
    buf = np.empty(4)
    for c in range(color_slot.shape[0]):
        s = color_slot[c]
        a = alpha[s]
        if a <= 0.0:
            continue
        sample(times, values, interp, curves, color_start[c], color_end[c], 4, t, buf)
        for k in range(4):
            color[s, k] += (buf[k] - color[s, k]) * a


@njit(cache=True)
def _mix_params(t, index, start, end, times, values, interp, curves, out, alpha) -> None:
    buf = np.empty(4)
    for c in range(index.shape[0]):
        sample(times, values, interp, curves, start[c], end[c], 1, t, buf)
        p = index[c]
        out[p] += (buf[0] - out[p]) * alpha
