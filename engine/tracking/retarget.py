"""FaceSignals -> rig parameters, through data-driven bindings per rig
(`rigs/<id>/tracking.json`, schema 1; format in `rigs/README.md`).

A binding reads one signal, maps its input range onto 0..1 (clamped; `invert` flips it),
shapes that with a response curve, and maps it onto an output range in the parameter's own
units; `damping` (seconds) smooths the result per engine tick. Bindings that drive the same
parameter add up, so the body's lean can follow the head by a fraction while an animation
or another signal moves it too.

The mirror convention lives in the bindings, not in code: Digi's binds the person's left
eye to the avatar's right eye and turns the head the other way, so the avatar moves like
the user's reflection, as VTubers expect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.rig.data import RigData
from engine.rig.errors import FormatError
from engine.rig.reader import Node, read_rig_file
from engine.tracking.signals import INDEX, SIGNALS

SCHEMA_VERSION = 1


class TrackingFormatError(FormatError):
    """A `tracking.json` file is invalid."""


CURVES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda u: u,
    "smooth": lambda u: u * u * (3 - 2 * u),  # eases into and out of both ends
    "ease-in": lambda u: u * u,  # small motions damped, big ones full
    "ease-out": lambda u: 1 - (1 - u) * (1 - u),  # small motions amplified
}


@dataclass(frozen=True, slots=True)
class Binding:
    signal: str
    parameter: str
    input: tuple[float, float]
    output: tuple[float, float]
    invert: bool = False
    curve: str = "linear"
    damping: float = 0.0  # seconds: the time constant of the per-tick smoothing


@dataclass(frozen=True, slots=True)
class TrackingData:
    """A rig's tracking set-up, frozen and shared by sessions."""

    rig: str
    bindings: tuple[Binding, ...]
    presence_parameter: str | None  # set to 0..1 with how present the tracked face is
    loss_timeout: float  # seconds without a face before easing to rest
    ease: float  # seconds to ease to rest and back


def load_tracking(path: str | Path, rig: RigData) -> TrackingData:
    """Load and validate a rig's tracking bindings; errors name the file and JSON path."""
    root = read_rig_file(Path(path), TrackingFormatError, SCHEMA_VERSION, rig.name, "bindings are")
    params = rig.parameter_index

    def parameter(node: Node) -> str:
        pid = node.str_()
        if pid not in params:
            raise node.fail(f'unknown parameter "{pid}" for rig "{rig.name}"')
        return pid

    bindings = []
    for b in root.get("bindings").list(min_len=1):
        signal = b.get("signal").choice(SIGNALS)
        lo_in, hi_in = b.get("input").vec(2)
        if lo_in == hi_in:
            raise b.get("input").fail("the input range is empty")
        bindings.append(
            Binding(
                signal=signal,
                parameter=parameter(b.get("parameter")),
                input=(lo_in, hi_in),
                output=b.get("output").vec(2),  # type: ignore[arg-type]
                invert=b.get("invert", False).bool_(),
                curve=b.get("curve", "linear").choice(tuple(CURVES)),
                damping=b.get("damping", 0.0).num(lo=0.0, hi=5.0),
            )
        )
    pnode = root.get("presence_parameter", None)
    return TrackingData(
        rig=rig.name,
        bindings=tuple(bindings),
        presence_parameter=None if pnode.value is None else parameter(pnode),
        loss_timeout=root.get("loss_timeout", 0.5).num(lo=0.0, hi=10.0),
        ease=root.get("ease", 0.4).num(lo=0.01, hi=10.0),
    )


class Retargeter:
    """A session's retargeting state: the damped outputs of its bindings."""

    def __init__(self, data: TrackingData, rig: RigData) -> None:
        self.data = data
        b = data.bindings
        self.parameters: tuple[str, ...] = tuple(dict.fromkeys(x.parameter for x in b))
        self.rest = np.array(
            [rig.parameters[rig.parameter_index[p]].default for p in self.parameters]
        )
        self._lo = np.array([rig.parameters[rig.parameter_index[p]].min for p in self.parameters])
        self._hi = np.array([rig.parameters[rig.parameter_index[p]].max for p in self.parameters])
        slot = {p: i for i, p in enumerate(self.parameters)}
        self._target = np.array([slot[x.parameter] for x in b], dtype=np.int64)
        self._signal = np.array([INDEX[x.signal] for x in b], dtype=np.int64)
        self._in_lo = np.array([x.input[0] for x in b])
        self._in_span = np.array([x.input[1] - x.input[0] for x in b])
        self._out_lo = np.array([x.output[0] for x in b])
        self._out_span = np.array([x.output[1] - x.output[0] for x in b])
        self._invert = np.array([x.invert for x in b])
        self._tau = np.array([x.damping for x in b])
        self._curves = [
            (np.flatnonzero([x.curve == name for x in b]), fn)
            for name, fn in CURVES.items()
            if name != "linear" and any(x.curve == name for x in b)
        ]
        self._state: np.ndarray | None = None  # damped binding outputs

    def map(self, signals: np.ndarray) -> np.ndarray:
        """Every binding's undamped output for a signal vector."""
        u = np.clip((signals[self._signal] - self._in_lo) / self._in_span, 0.0, 1.0)
        u = np.where(self._invert, 1.0 - u, u)
        for idx, fn in self._curves:
            u[idx] = fn(u[idx])
        return self._out_lo + u * self._out_span

    def step(self, signals: np.ndarray, dt: float) -> np.ndarray:
        """Parameter values (in `self.parameters` order) for this tick, damped, clamped to
        the parameters' ranges."""
        out = self.map(signals)
        if self._state is None or dt <= 0:
            self._state = out
        else:
            # exact exponential smoothing over dt, so damping does not depend on the tick rate
            k = np.where(self._tau > 0, 1.0 - np.exp(-dt / np.maximum(self._tau, 1e-9)), 1.0)
            self._state = self._state + (out - self._state) * k
        values = self.rest.copy()
        np.add.at(values, self._target, self._state - self.rest[self._target])
        return np.clip(values, self._lo, self._hi)

    def reset(self) -> None:
        self._state = None
