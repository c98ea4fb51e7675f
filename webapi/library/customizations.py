"""A saved avatar's customizations: data the engine applies, checked against its rig.

The format (docs/API.md, "Customizations"), every key optional:

    {"library": "winter",
     "sprites": {"outfit": "armor", "accessories": "hat", "body": "slim"},
     "colors": {"avatar": {"hue": 20}, "hair": {"hue": 90}, "outfit": {"saturation": 1.4}},
     "style": "ghibli",
     "accessories": {"hat": {"x": 4, "y": -2, "rotation": 10, "scale": 1.2}},
     "expressions": [{"name": "smile", "values": {"ParamMouthForm": 1}, "hotkey": "Digit1",
                      "fade": 0.3}],
     "poses": [{"name": "wave", "edits": {"targets": {"hand_r": [60, 250]}}}]}

- `library`: the rig's sprite library (content/sprites/<rig>/<name>.json): `base`, or a
  variant such as `winter` (it extends base, so it has base's labels too).
- `sprites`: sprite category -> label of that library (the accessory is the `accessories`
  category); categories left out wear the library's default.
- `colors`: the renderer's colour filter for the whole avatar (`avatar`) or for the slots of
  one colour part: a sprite category, or a part of the rig's `rigs/<rig>/parts.json` (digi:
  `hair`, `eyes`, `skin`), each `{"hue": -180..180 degrees, "saturation": 0..2,
  "brightness": 0..2, "contrast": 0..2}` (1 changes nothing; values left out are neutral).
- `style`: the render style it is drawn in (engine/render/looks.py LOOK_NAMES; `none`, the
  art as drawn, is the default and is not stored).
- `accessories`: accessory bone -> offset added on that bone wherever the avatar is worn
  (`x`, `y` in rig units within +-200, `rotation` -180..180 degrees, `scale` 0.25..4). The
  bones are the accessory category's own (digi: glasses, hat, scarf_1..3): bones that carry
  only that category's slots, and their slot-less descendants (a scarf's spring chain).
- `expressions`: named parameter sets with a hotkey and a fade (engine/params/expressions.py).
- `poses`: named pose edits (engine/pose/edits.py), at most 32, names unique.

`validate` returns the normalized value (numbers as floats, neutral entries dropped) or
raises `Invalid` naming the exact path (`customizations.colors.body.hue`). `look` turns it
into what a live session wears (`streaming.live.Look`).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from engine.assets import RIGS, SPRITES, load_bundle
from engine.params.expressions import ExpressionError, parse_expressions
from engine.pose.edits import (
    MAX_OFFSET_ROTATION,
    MAX_OFFSET_XY,
    MAX_OFFSETS,
    SCALE_RANGE,
    BoneOffset,
    PoseEditError,
    parse_edits,
)
from engine.render.looks import LOOK_NAMES, NONE
from engine.rig.data import RigData
from engine.sprites import SpriteLibraryData
from streaming.live import COLOR_RANGES, NEUTRAL, WHOLE, Look
from webapi.errors import Invalid, TooLarge

# the normalized JSON: 32 expressions of a few parameters and 32 poses fit with room
MAX_BYTES = 32 * 1024
KEYS = ("library", "sprites", "colors", "style", "accessories", "expressions", "poses")
DEFAULT_LIBRARY = "base"
ACCESSORIES = "accessories"  # the sprite category whose bones take offsets
# an accessory's offset: (lo, hi, neutral) per value, the engine's limits on offsets
OFFSET_RANGES = {
    "x": (-MAX_OFFSET_XY, MAX_OFFSET_XY, 0.0),
    "y": (-MAX_OFFSET_XY, MAX_OFFSET_XY, 0.0),
    "rotation": (-MAX_OFFSET_ROTATION, MAX_OFFSET_ROTATION, 0.0),
    "scale": (*SCALE_RANGE, 1.0),
}
MAX_ACCESSORIES = MAX_OFFSETS
MAX_POSES = 32
MAX_POSE_NAME = 40


@dataclass(frozen=True)
class RigOptions:
    """What a rig offers to customize: its sprite libraries (name -> category -> labels),
    its colour groups (sprite category, then the parts of `rigs/<rig>/parts.json` -> their
    slots), the bones accessories may be offset on, and the rig itself (what expressions
    and poses are checked against)."""

    rig: str
    libraries: dict[str, dict[str, tuple[str, ...]]]
    groups: dict[str, tuple[str, ...]]
    accessory_bones: tuple[str, ...] = ()
    data: RigData | None = None


@lru_cache(maxsize=8)
def rig_options(rig: str) -> RigOptions:
    """Blocking (loads the rig and each of its sprite libraries once): see `options`."""
    names = sorted(p.stem for p in (SPRITES / rig).glob("*.json"))
    libraries: dict[str, dict[str, tuple[str, ...]]] = {}
    groups: dict[str, set[str]] = {}
    bones: set[str] = set()
    data = None
    for name in names:
        bundle = load_bundle(rig, sprites=name)
        data, lib = bundle.rig, bundle.sprites
        if lib is None:
            continue
        libraries[name] = {c: tuple(labels) for c, labels in lib.categories.items()}
        for category in lib.categories:
            slots = {lib.rig.slots[s].name for s in lib.slots_of(category)}
            groups.setdefault(category, set()).update(slots)
        bones |= accessory_bones(lib)
    if data is None:
        data = load_bundle(rig).rig
    out = {g: tuple(sorted(s)) for g, s in groups.items()}
    # the rig's own parts come after the categories: where both hold a slot, the part's
    # colour is drawn (hair over the accessories' hair_top)
    out.update(_parts(rig, data))
    order = [b.name for b in data.bones]
    return RigOptions(rig, libraries, out, tuple(sorted(bones, key=order.index)), data)


def _parts(rig: str, data: RigData) -> dict[str, tuple[str, ...]]:
    """`rigs/<rig>/parts.json`: colour part -> slot names (none without the file). A
    slot the rig lacks is our content's bug: refused loudly, naming file and part."""
    path = RIGS / rig / "parts.json"
    if not path.is_file():
        return {}
    parts = json.loads(path.read_text(encoding="utf-8")).get("parts", {})
    out: dict[str, tuple[str, ...]] = {}
    for part, slots in parts.items():
        missing = [s for s in slots if s not in data.slot_index]
        if missing or part == WHOLE:
            raise ValueError(f"{path}: parts.{part}: no such slot(s) {missing} in rig {rig}")
        out[part] = tuple(slots)
    return out


def accessory_bones(lib: SpriteLibraryData) -> set[str]:
    """The bones an accessory may be offset on: those carrying only the accessory
    category's slots (digi: glasses, hat, scarf_1; not hair_top or neck, which carry
    other parts too), and their descendants that carry no slot (scarf_2, scarf_3)."""
    if ACCESSORIES not in lib.categories:
        return set()
    rig = lib.rig
    mine = lib.slots_of(ACCESSORIES)
    others = {slot.bone for slot in rig.slots if slot.index not in mine}
    carriers = {rig.slots[s].bone for s in mine} - others
    with_slots = {slot.bone for slot in rig.slots}
    found = set(carriers)
    for bone in carriers:
        found |= {b for b in rig.descendants(bone) if b not in with_slots}
    return {rig.bones[b].name for b in found}


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
        raise _fail(path, f"must be an object with any of {', '.join(KEYS)}")
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
        f = _numbers(values, where, COLOR_RANGES, "a colour value")
        if filter_of(f) != NEUTRAL:
            filters[part] = f
    if filters:
        out["colors"] = filters
    style = value.get("style", NONE)
    if not isinstance(style, str) or style not in LOOK_NAMES:
        raise _fail(f"{path}.style", f"must be one of the render styles: {', '.join(LOOK_NAMES)}")
    if style != NONE:
        out["style"] = style
    if value.get("accessories") is not None:
        offsets = _accessories(value["accessories"], opts, f"{path}.accessories")
        if offsets:
            out["accessories"] = offsets
    rig = opts.data
    if ("expressions" in value or "poses" in value) and rig is None:
        raise _fail(path, f"expressions and poses need the rig {opts.rig}'s data")
    if value.get("expressions") not in (None, []):
        out["expressions"] = _expressions(value["expressions"], rig, f"{path}.expressions")
    if value.get("poses") not in (None, []):
        out["poses"] = _poses(value["poses"], rig, f"{path}.poses")
    size = len(json.dumps(out, separators=(",", ":")))
    if size > MAX_BYTES:
        raise TooLarge(f"{path} is too large: {size} bytes as JSON (at most {MAX_BYTES})")
    return out


def _numbers(
    given: Any, where: str, ranges: Mapping[str, tuple[float, ...]], what: str
) -> dict[str, float]:
    """An object of named numbers (a colour filter, an accessory offset), each within its
    range (`ranges`: name -> (lo, hi, ...)); `Invalid` naming the exact path."""
    keys = ", ".join(ranges)
    if not isinstance(given, dict):
        raise _fail(where, f"must be an object with {keys}")
    out: dict[str, float] = {}
    for key, v in given.items():
        at = f"{where}.{key}"[:200]
        if key not in ranges:
            raise _fail(at, f"is not {what} (known: {keys})")
        lo, hi = ranges[key][:2]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise _fail(at, f"must be a number from {lo:g} to {hi:g}")
        if not lo <= v <= hi:
            raise _fail(at, f"must be a number from {lo:g} to {hi:g}, got {v:g}")
        out[key] = float(v)
    return out


def _accessories(value: Any, opts: RigOptions, path: str) -> dict[str, dict[str, float]]:
    """bone -> {x, y, rotation, scale}, neutral values and entries dropped."""
    keys = ", ".join(OFFSET_RANGES)
    if not isinstance(value, dict):
        raise _fail(path, f"must be an object of accessory bone -> {{{keys}}}")
    if len(value) > MAX_ACCESSORIES:
        raise TooLarge(f"{path} has {len(value)} bones (at most {MAX_ACCESSORIES})", field=path)
    known = ", ".join(opts.accessory_bones) or "none"
    out: dict[str, dict[str, float]] = {}
    for bone, offset in value.items():
        where = f"{path}.{bone}"[:200]
        if bone not in opts.accessory_bones:
            raise _fail(where, f"is not an accessory bone (known: {known})")
        given = _numbers(offset, where, OFFSET_RANGES, "an offset value")
        entry = {k: v for k, v in given.items() if v != OFFSET_RANGES[k][2]}  # not neutral
        if entry:
            out[bone] = entry
    return out


def _expressions(value: Any, rig: RigData, path: str) -> list[dict[str, Any]]:
    try:
        parsed = parse_expressions(value, rig, path)
    except ExpressionError as e:
        raise Invalid(str(e), field=path) from None
    return [e.to_json() for e in parsed]


def _poses(value: Any, rig: RigData, path: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _fail(path, f'must be a list of {{"name", "edits"}} (at most {MAX_POSES})')
    if len(value) > MAX_POSES:
        raise TooLarge(f"{path} has {len(value)} poses (at most {MAX_POSES})", field=path)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, pose in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(pose, dict):
            raise _fail(where, 'must be an object {"name", "edits"}')
        for key in pose:
            if key not in ("name", "edits"):
                raise _fail(f"{where}.{key}"[:200], "is not a pose field (known: name, edits)")
        name = pose.get("name")
        if (
            not isinstance(name, str)
            or not name.strip()
            or len(name) > MAX_POSE_NAME
            or any(ord(c) < 32 or ord(c) == 127 for c in name)
        ):
            raise _fail(f"{where}.name", f"must be 1 to {MAX_POSE_NAME} printable characters")
        if name in seen:
            raise _fail(f"{where}.name", f'"{name}" is used by an earlier pose')
        seen.add(name)
        try:
            edits = parse_edits(pose.get("edits", {}), rig, f"{where}.edits")
        except PoseEditError as e:
            raise Invalid(str(e), field=f"{where}.edits") from None
        out.append({"name": name, "edits": edits.to_json()})
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
    offsets = {
        bone: BoneOffset(**{k: float(v) for k, v in entry.items()})
        for bone, entry in (customizations.get("accessories") or {}).items()
    }
    saved_expressions = customizations.get("expressions") or []
    expressions = (
        parse_expressions(saved_expressions, opts.data) if saved_expressions and opts.data else ()
    )
    return Look(
        face=face,
        library=customizations.get("library", DEFAULT_LIBRARY),
        sprites=dict(customizations.get("sprites") or {}),
        colors={part: filter_of(v) for part, v in colors.items()},
        groups=dict(opts.groups),
        saved=saved,
        style=customizations.get("style", NONE),
        offsets=offsets,
        expressions=tuple(expressions),
    )
