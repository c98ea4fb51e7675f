"""Parameter values fed from outside the tracker (a remote-control plugin), layered over the
tracked ones for as long as they are refreshed.

Two layers, both written from any thread and read once per tick on the ticking thread:

- injected values (`inject`): each holds for `HOLD_S` after it was last sent, then lets go,
  and whatever drove the parameter before (the face tracker; else its default) has it
  again. "set" writes the value, mixed by `weight` with what the parameter would be
  without it (1: the value alone); "add" adds to that. One writer per parameter may set
  (an owner key: another owner's set is refused while the first holds it); any number may
  add.
- held values (`hold`): expressions, parameter presets that stay until released.

The base a "set" mixes with or an "add" adds to is the tick's own value from the other
sources (`merge`'s `params`), or the parameter's default when nothing else drives it, so an
add never accumulates from tick to tick.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from engine.rig.data import RigData

HOLD_S = 1.0  # an injected value lets go this long after it was last sent
LIMIT = 1_000_000.0  # the largest value magnitude accepted (as VTube Studio's API)


class InjectionError(ValueError):
    """A value that cannot be injected; `field` says which kind of mistake it is."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field  # "value" | "weight" | "mode" | "owner" | "parameter"


@dataclass(slots=True)
class _Set:
    owner: str
    value: float
    weight: float
    until: float


@dataclass(slots=True)
class _Add:
    value: float
    until: float


class ParameterInjection:
    """Injected and held parameter values for one rig's parameters."""

    def __init__(self, rig: RigData, hold: float = HOLD_S) -> None:
        self.hold_s = hold
        self._default = {p.id: float(p.default) for p in rig.parameters}
        self._range = {p.id: (float(p.min), float(p.max)) for p in rig.parameters}
        self._lock = threading.Lock()
        self._sets: dict[str, _Set] = {}
        self._adds: dict[tuple[str, str], _Add] = {}  # (parameter, owner)
        self._held: dict[str, dict[str, float]] = {}  # name -> parameter values
        self._touched: set[str] = set()  # parameters this layer wrote last tick
        self.face_found_until = -math.inf  # a plugin says the face is there until then

    @property
    def parameters(self) -> Mapping[str, tuple[float, float]]:
        """The rig's parameters and their (min, max)."""
        return self._range

    def check(self, pid: str, value: object, weight: object = 1.0) -> tuple[float, float]:
        """(value, weight) as floats, or InjectionError naming what is wrong."""
        if pid not in self._range:
            raise InjectionError(f'unknown parameter "{pid}"', "parameter")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InjectionError(f'the value for "{pid}" must be a number', "value")
        if abs(value) > LIMIT:
            raise InjectionError(
                f'the value for "{pid}" must be between -{LIMIT:.0f} and {LIMIT:.0f}', "value"
            )
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1:
            raise InjectionError(f'the weight for "{pid}" must be a number from 0 to 1', "weight")
        return float(value), float(weight)

    def inject(
        self,
        owner: str,
        values: Mapping[str, tuple[float, float]],
        now: float,
        *,
        mode: str = "set",
        face_found: bool = False,
    ) -> None:
        """`values`: parameter -> (value, weight), already checked (`check`). All or
        nothing: a set on a parameter another owner holds refuses the whole request."""
        if mode not in ("set", "add"):
            raise InjectionError(f'unknown mode "{mode}" (expected "set" or "add")', "mode")
        until = now + self.hold_s
        with self._lock:
            if mode == "set":
                for pid in values:
                    held = self._sets.get(pid)
                    if held is not None and held.owner != owner and held.until > now:
                        raise InjectionError(
                            f'"{pid}" is being set by another plugin right now', "owner"
                        )
                for pid, (value, weight) in values.items():
                    self._sets[pid] = _Set(owner, value, weight, until)
            else:
                for pid, (value, _) in values.items():
                    self._adds[(pid, owner)] = _Add(value, until)
            if face_found:
                self.face_found_until = until

    def release(self, owner: str) -> None:
        """Let go of everything `owner` injected (it disconnected)."""
        with self._lock:
            self._sets = {k: v for k, v in self._sets.items() if v.owner != owner}
            self._adds = {k: v for k, v in self._adds.items() if k[1] != owner}

    def hold(self, name: str, values: Mapping[str, float]) -> None:
        """Keep `values` (checked parameter ids) until `unhold(name)`: an expression."""
        with self._lock:
            self._held[name] = dict(values)

    def unhold(self, name: str) -> None:
        with self._lock:
            self._held.pop(name, None)

    @property
    def held(self) -> list[str]:
        with self._lock:
            return list(self._held)

    def injected(self, now: float) -> dict[str, float]:
        """What each live "set" holds now (its value before mixing), for readers."""
        with self._lock:
            return {pid: s.value for pid, s in self._sets.items() if s.until > now}

    def face_found(self, now: float) -> bool:
        return self.face_found_until > now

    def merge(self, now: float, params: Mapping[str, float]) -> dict[str, float]:
        """The tick's parameters with this layer over them (called on the ticking thread).
        A parameter this layer wrote last tick and no longer does goes back to its base:
        the tick's own value, or its default."""
        with self._lock:
            self._sets = {k: v for k, v in self._sets.items() if v.until > now}
            self._adds = {k: v for k, v in self._adds.items() if v.until > now}
            sets = dict(self._sets)
            adds = list(self._adds.items())
            held = [dict(v) for v in self._held.values()]
        out = dict(params)
        written: set[str] = set()
        for values in held:
            for pid, v in values.items():
                out[pid] = v
                written.add(pid)
        for pid, s in sets.items():
            base = out.get(pid, self._default[pid])
            out[pid] = base + (s.value - base) * s.weight
            written.add(pid)
        for (pid, _), a in adds:
            out[pid] = out.get(pid, self._default[pid]) + a.value
            written.add(pid)
        for pid in self._touched - written:
            out.setdefault(pid, self._default[pid])
        self._touched = written
        for pid in written:
            lo, hi = self._range[pid]
            out[pid] = min(hi, max(lo, out[pid]))
        return out
