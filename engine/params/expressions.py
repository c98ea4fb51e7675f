"""Expressions: named sets of parameter values toggled live (VTube Studio's hotkeyed
expressions), blended over the tick's parameters (tracking keeps running under them) with a
linear fade, plus the expression editor's held slider values over everything.

`ExpressionLayer` is written by any thread (a control message, a hotkey) and merged on the
tick thread; one lock guards its small state.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from engine.numbers import number_in
from engine.rig.data import RigData

MAX_EXPRESSIONS = 32
MAX_NAME = 40
MAX_FADE = 5.0
DEFAULT_FADE = 0.25
_KEY = re.compile(r"^(Ctrl\+)?(Shift\+)?(Alt\+)?(Digit[1-9]|Key[A-Z]|F(?:[1-9]|1[0-2]))$")
_MODIFIERS = ("Ctrl+", "Shift+", "Alt+")


class ExpressionError(ValueError):
    """An expression that cannot be used; the message names the JSON path or the name."""


@dataclass(frozen=True, slots=True)
class Expression:
    name: str
    values: Mapping[str, float] = field(default_factory=dict)
    hotkey: str | None = None
    fade: float = DEFAULT_FADE

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "values": dict(self.values), "fade": self.fade}
        if self.hotkey is not None:
            out["hotkey"] = self.hotkey
        return out


def _hotkey(v: Any, path: str) -> str:
    """A KeyboardEvent.code-like key with modifiers in the order Ctrl+Shift+Alt+."""
    if not isinstance(v, str):
        raise ExpressionError(f'{path}: expected a string like "Digit1" or "Ctrl+Shift+KeyE"')
    parts = v.split("+")
    key, mods = parts[-1], {p + "+" for p in parts[:-1]}
    if len(mods) != len(parts) - 1 or not mods <= set(_MODIFIERS):
        raise ExpressionError(
            f'{path}: "{v[:40]}" has an unknown or repeated modifier (Ctrl, Shift, Alt)'
        )
    canon = "".join(m for m in _MODIFIERS if m in mods) + key
    if not _KEY.match(canon):
        raise ExpressionError(
            f'{path}: "{v[:40]}" is not a hotkey (Digit1..Digit9, KeyA..KeyZ or F1..F12, '
            "optionally after Ctrl+, Shift+, Alt+)"
        )
    return canon


def _number(v: Any, path: str, lo: float, hi: float) -> float:
    return number_in(v, path, lo, hi, ExpressionError)


def parse_values(data: Any, rig: RigData, path: str) -> dict[str, float]:
    """{parameter id: value}, each known to the rig and within its range."""
    if not isinstance(data, dict):
        raise ExpressionError(f"{path}: expected an object of parameter values")
    if len(data) > len(rig.parameters):
        raise ExpressionError(
            f"{path}: {len(data)} values, the rig has {len(rig.parameters)} parameters"
        )
    out: dict[str, float] = {}
    for pid, v in data.items():
        i = rig.parameter_index.get(pid) if isinstance(pid, str) else None
        if i is None:
            known = ", ".join(p.id for p in rig.parameters[:20])
            shown = str(pid)[:MAX_NAME]
            raise ExpressionError(f'{path}.{shown}: unknown parameter "{shown}" (known: {known})')
        p = rig.parameters[i]
        out[pid] = _number(v, f"{path}.{pid}", p.min, p.max)
    return out


def parse_expression(data: Any, rig: RigData, path: str) -> Expression:
    if not isinstance(data, dict):
        raise ExpressionError(f"{path}: expected an object")
    extra = set(data) - {"name", "values", "hotkey", "fade"}
    if extra:
        raise ExpressionError(
            f"{path}.{sorted(extra)[0][:MAX_NAME]}: unknown key (expected name, values, hotkey, fade)"
        )
    name = data.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
        raise ExpressionError(f"{path}.name: expected 1..{MAX_NAME} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ExpressionError(f"{path}.name: control characters are not allowed")
    hk = data.get("hotkey")
    return Expression(
        name=name,
        values=parse_values(data.get("values", {}), rig, f"{path}.values"),
        hotkey=None if hk is None else _hotkey(hk, f"{path}.hotkey"),
        fade=_number(data.get("fade", DEFAULT_FADE), f"{path}.fade", 0.0, MAX_FADE),
    )


def parse_expressions(data: Any, rig: RigData, path: str = "expressions") -> tuple[Expression, ...]:
    """A list of expressions: at most 32, names and hotkeys unique."""
    if not isinstance(data, list):
        raise ExpressionError(f"{path}: expected a list")
    if len(data) > MAX_EXPRESSIONS:
        raise ExpressionError(f"{path}: {len(data)} expressions, at most {MAX_EXPRESSIONS}")
    out = tuple(parse_expression(d, rig, f"{path}[{i}]") for i, d in enumerate(data))
    names: set[str] = set()
    keys: set[str] = set()
    for i, e in enumerate(out):
        if e.name in names:
            raise ExpressionError(f'{path}[{i}].name: "{e.name}" is used twice')
        names.add(e.name)
        if e.hotkey is not None:
            if e.hotkey in keys:
                raise ExpressionError(f'{path}[{i}].hotkey: "{e.hotkey}" is used twice')
            keys.add(e.hotkey)
    return out


@dataclass(slots=True)
class _Fade:
    on: bool  # ramping towards 1 (on) or 0 (off)
    start: float | None  # when the ramp began: taken at the first merge after a toggle
    from_w: float  # the weight when it began
    w: float = 0.0  # the weight at the last merge


class ExpressionLayer:
    """Which expressions are on, their fades, and the editor's held values."""

    def __init__(self, rig: RigData, expressions: Sequence[Expression] = ()) -> None:
        self.rig = rig
        self._lock = threading.Lock()
        self._list: tuple[Expression, ...] = tuple(expressions)
        self._fades: dict[str, _Fade] = {}  # on, or still fading out
        self._held: dict[str, float] = {}
        self._release: set[str] = set()  # parameters to write back to their base once
        # False when merge has nothing to do: the tick skips it (one attribute read)
        self.busy = False

    @property
    def expressions(self) -> tuple[Expression, ...]:
        return self._list

    @property
    def active(self) -> list[str]:
        with self._lock:
            return [n for n, f in self._fades.items() if f.on]

    def _find(self, name: str) -> Expression:
        for e in self._list:
            if e.name == name:
                return e
        known = ", ".join(e.name for e in self._list[:20]) or "none"
        raise ExpressionError(f'unknown expression "{str(name)[:MAX_NAME]}" (known: {known})')

    def replace(self, expressions: Sequence[Expression]) -> None:
        """A new list; active expressions that still exist (by name) stay on."""
        new = tuple(expressions)
        names = {e.name for e in new}
        with self._lock:
            for n in [n for n in self._fades if n not in names]:
                self._release.update(self._find(n).values)
                del self._fades[n]
            self._list = new
            self._update_busy()

    def toggle(self, name: str) -> bool:
        """Switch an expression on or off; returns whether it is now on."""
        with self._lock:
            self._find(name)
            f = self._fades.get(name)
            on = not (f is not None and f.on)
            self._set(name, on)
            return on

    def set_active(self, name: str, on: bool) -> None:
        with self._lock:
            self._find(name)
            self._set(name, bool(on))

    def _set(self, name: str, on: bool) -> None:
        f = self._fades.get(name)
        if f is None:
            if on:
                self._fades[name] = _Fade(True, None, 0.0)
        elif f.on != on:  # ramp back from wherever it is now
            f.on, f.start, f.from_w = on, None, f.w
        self._update_busy()

    def hold(self, values: Mapping[str, float]) -> None:
        """The editor's sliders: set outright over everything, no fade, until `hold({})`."""
        checked = parse_values(dict(values), self.rig, "values")
        with self._lock:
            self._release.update(set(self._held) - set(checked))
            self._held = checked
            self._update_busy()

    def _update_busy(self) -> None:
        self.busy = bool(self._fades or self._held or self._release)

    def merge(self, now: float, params: Mapping[str, float]) -> dict[str, float]:
        """The tick's parameters with the expressions blended over them and the held values
        set outright, clamped to each parameter's range. A parameter an expression (or a
        held slider) stops touching is written back to its base once, since a session's
        parameter values persist between ticks."""
        rig = self.rig
        out = dict(params)
        with self._lock:
            touched = set(self._release)
            self._release.clear()
            for name, f in list(self._fades.items()):
                e = self._find(name)
                if f.start is None:
                    f.start = now
                ramp = 1.0 if e.fade <= 0.0 else max(0.0, now - f.start) / e.fade
                f.w = min(1.0, f.from_w + ramp) if f.on else max(0.0, f.from_w - ramp)
                if not f.on and f.w <= 0.0:
                    del self._fades[name]
                    touched.update(e.values)
                    continue
                for pid, v in e.values.items():
                    base = out.get(pid, rig.parameters[rig.parameter_index[pid]].default)
                    out[pid] = base + (v - base) * f.w
                    touched.discard(pid)
            for pid in touched:
                out.setdefault(pid, rig.parameters[rig.parameter_index[pid]].default)
            out.update(self._held)
            self._update_busy()
        for pid in out:
            i = rig.parameter_index.get(pid)
            if i is not None:
                p = rig.parameters[i]
                out[pid] = min(p.max, max(p.min, out[pid]))
        return out


__all__ = [
    "DEFAULT_FADE",
    "MAX_EXPRESSIONS",
    "Expression",
    "ExpressionError",
    "ExpressionLayer",
    "parse_expression",
    "parse_expressions",
    "parse_values",
]
