"""A saved avatar's customizations: data the engine applies, checked against its rig.

The format (docs/API.md, "Customizations"), every key optional:

    {"library": "winter",
     "sprites": {"outfit": "armor", "accessories": "hat", "body": "slim"},
     "colors": {"avatar": {"hue": 20}, "outfit": {"saturation": 1.4, "contrast": 1.1}},
     "style": "ghibli"}

- `library`: the rig's sprite library (content/sprites/<rig>/<name>.json): `base`, or a
  variant such as `winter` (it extends base, so it has base's labels too).
- `sprites`: sprite category -> label of that library (the accessory is the `accessories`
  category); categories left out wear the library's default.
- `colors`: the renderer's colour filter for the whole avatar (`avatar`) or for the slots of
  one sprite category (a part), each `{"hue": -180..180 degrees, "saturation": 0..2,
  "brightness": 0..2, "contrast": 0..2}` (1 changes nothing; values left out are neutral).
- `style`: the render style it is drawn in (engine/render/looks.py LOOK_NAMES; `none`, the
  art as drawn, is the default and is not stored).

`validate` returns the normalized value (numbers as floats, neutral entries dropped) or
raises `Invalid` naming the exact path (`customizations.colors.body.hue`). `look` turns it
into what a live session wears (`streaming.live.Look`).
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from engine.assets import SPRITES, load_bundle
from engine.render.looks import LOOK_NAMES, NONE
from streaming.live import COLOR_RANGES, NEUTRAL, WHOLE, Look
from webapi.errors import Invalid, TooLarge

MAX_BYTES = 4096  # the normalized JSON: a few dozen short names and numbers
KEYS = ("library", "sprites", "colors", "style")
DEFAULT_LIBRARY = "base"


@dataclass(frozen=True)
class RigOptions:
    """What a rig offers to customize: its sprite libraries (name -> category -> labels)
    and its colour groups (sprite category -> the slots its labels use)."""

    rig: str
    libraries: dict[str, dict[str, tuple[str, ...]]]
    groups: dict[str, tuple[str, ...]]


@lru_cache(maxsize=8)
def rig_options(rig: str) -> RigOptions:
    """Blocking (loads the rig and each of its sprite libraries once): see `options`."""
    names = sorted(p.stem for p in (SPRITES / rig).glob("*.json"))
    libraries: dict[str, dict[str, tuple[str, ...]]] = {}
    groups: dict[str, set[str]] = {}
    for name in names:
        lib = load_bundle(rig, sprites=name).sprites
        if lib is None:
            continue
        libraries[name] = {c: tuple(labels) for c, labels in lib.categories.items()}
        for category in lib.categories:
            slots = {lib.rig.slots[s].name for s in lib.slots_of(category)}
            groups.setdefault(category, set()).update(slots)
    return RigOptions(rig, libraries, {g: tuple(sorted(s)) for g, s in groups.items()})


async def options(rig: str) -> RigOptions:
    """`rig_options` off the event loop (the first call loads files)."""
    return await asyncio.get_running_loop().run_in_executor(None, rig_options, rig)


def _fail(path: str, message: str) -> Invalid:
    return Invalid(f"{path} {message}", field=path)


def validate(value: Any, opts: RigOptions, path: str = "customizations") -> dict[str, Any]:
    """`value` checked against the rig and normalized; `Invalid` names the bad path."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(path, 'must be an object {"library", "sprites", "colors", "style"}')
    for key in value:
        if key not in KEYS:
            raise _fail(f"{path}.{key}"[:200], f"is not a customization (known: {', '.join(KEYS)})")
    out: dict[str, Any] = {}
    library = value.get("library", DEFAULT_LIBRARY)
    if not isinstance(library, str) or library not in opts.libraries:
        known = ", ".join(opts.libraries) or "none"
        raise _fail(f"{path}.library", f"must be one of the rig's sprite libraries: {known}")
    if "library" in value:
        out["library"] = library
    categories = opts.libraries[library]
    sprites = value.get("sprites", {})
    if not isinstance(sprites, dict):
        raise _fail(f"{path}.sprites", "must be an object of sprite category -> label")
    chosen: dict[str, str] = {}
    for category, label in sprites.items():
        where = f"{path}.sprites.{category}"[:200]
        if category not in categories:
            raise _fail(where, f"is not a sprite category (known: {', '.join(categories)})")
        if not isinstance(label, str) or label not in categories[category]:
            known = ", ".join(categories[category])
            raise _fail(where, f'must be one of the "{library}" library\'s labels: {known}')
        chosen[category] = label
    if chosen:
        out["sprites"] = chosen
    colors = value.get("colors", {})
    if not isinstance(colors, dict):
        raise _fail(f"{path}.colors", f"must be an object of part -> {{{', '.join(COLOR_RANGES)}}}")
    parts = (WHOLE, *opts.groups)
    filters: dict[str, dict[str, float]] = {}
    for part, values in colors.items():
        where = f"{path}.colors.{part}"[:200]
        if part not in parts:
            raise _fail(where, f"is not a colour part (known: {', '.join(parts)})")
        if not isinstance(values, dict):
            raise _fail(where, f"must be an object with {', '.join(COLOR_RANGES)}")
        f: dict[str, float] = {}
        for key, v in values.items():
            at = f"{where}.{key}"[:200]
            if key not in COLOR_RANGES:
                raise _fail(at, f"is not a colour value (known: {', '.join(COLOR_RANGES)})")
            lo, hi = COLOR_RANGES[key]
            if (
                isinstance(v, bool)
                or not isinstance(v, int | float)
                or not math.isfinite(v)
                or not lo <= v <= hi
            ):
                raise _fail(at, f"must be a number from {lo:g} to {hi:g}")
            f[key] = float(v)
        if filter_of(f) != NEUTRAL:
            filters[part] = f
    if filters:
        out["colors"] = filters
    style = value.get("style", NONE)
    if not isinstance(style, str) or style not in LOOK_NAMES:
        raise _fail(f"{path}.style", f"must be one of the render styles: {', '.join(LOOK_NAMES)}")
    if style != NONE:
        out["style"] = style
    if len(json.dumps(out, separators=(",", ":"))) > MAX_BYTES:  # bounded above; a guard
        raise TooLarge(f"{path} is too large (at most {MAX_BYTES} bytes as JSON)")
    return out


def filter_of(values: dict[str, float]) -> tuple[float, float, float, float]:
    """A colour entry as the renderer's (hue, saturation, brightness, contrast)."""
    neutral = dict(zip(COLOR_RANGES, NEUTRAL, strict=True))
    return tuple(float(values.get(k, neutral[k])) for k in COLOR_RANGES)  # type: ignore[return-value]


def look(
    customizations: dict[str, Any],
    opts: RigOptions,
    *,
    face: str | None = None,
    saved: str | None = None,
) -> Look:
    """What a live session wears for these (already validated) customizations."""
    colors = customizations.get("colors") or {}
    return Look(
        face=face,
        library=customizations.get("library", DEFAULT_LIBRARY),
        sprites=dict(customizations.get("sprites") or {}),
        colors={part: filter_of(v) for part, v in colors.items()},
        groups=dict(opts.groups),
        saved=saved,
        style=customizations.get("style", NONE),
    )
