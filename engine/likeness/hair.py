"""Hairstyles: Digi's hair slots dressed in a style from the part library, at run time.

A style (content/hair/<name>/, built by content/build/hair.py; format in content/README.md,
"Hairstyles") holds its classes (length, fringe, texture, volume, parting, bald), the
attachments it puts on Digi's own slots and bones (the hair chains' springs swing them), the
hair slots it leaves empty, its pictures in Digi's default hair colours (an atlas) and each
picture's SVG, so a caller can recolour it (engine/likeness/recolor.py) and pass the
pictures back to `wear_hairstyle`.

Wearing a style is a rig JSON edit, like wearing a face (engine/face/wear.py): the slots
keep their names and their attachments' names, so clips, parameter bindings and the sprite
library resolve unchanged; the style's pictures are appended below the rig's atlas.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.assets import RIGS, ROOT
from engine.atlas import Atlas, AtlasFormatError, load_atlas
from engine.likeness.art import ArtError, svg_viewbox
from engine.rig.errors import FormatError
from engine.rig.reader import Node, check_schema, read_json

SCHEMA_VERSION = 1
LIBRARY = ROOT / "content" / "hair"
RIG = "digi"
HAIR_SLOTS = (
    "hair_back",
    "hair_side_l",
    "hair_side_r",
    "hair_top",
    "hair_front_1",
    "hair_front_2",
    "hair_front_3",
    "hair_front_4",
    "hair_front_5",
)
# slots a style may dress: the hair, and the head (whose forehead carries the fringe's shadow)
DRESSABLE = (*HAIR_SLOTS, "head")
EMPTY = "hair/empty"  # the picture of a hidden slot's attachments
GAP = 4  # texels between the rig's atlas and the style's pictures (mipmaps stay apart)

CLASSES: dict[str, tuple[str, ...]] = {
    "length": ("short", "ear", "chin", "shoulder", "long"),
    "fringe": ("none", "side", "full"),
    "texture": ("straight", "wavy", "curly"),
    "volume": ("low", "medium", "high"),
    # the character's own side: right is the near side (screen left), as in bone names
    "parting": ("none", "left", "right", "centre"),
    "bald": ("none", "shaved", "bald"),
}


class HairstyleError(FormatError):
    """A hairstyle's files are invalid (the message names the file and JSON path)."""


@dataclass(frozen=True, slots=True)
class HairClasses:
    length: str
    fringe: str
    texture: str
    volume: str
    parting: str
    bald: str


@dataclass(frozen=True, slots=True)
class PictureSource:
    """One picture's art: the SVG (Digi's hair colours and classes), its viewBox in art
    units and the texels per unit it is rasterized at (engine/likeness/art.py)."""

    svg: str
    viewbox: tuple[float, float, float, float]
    scale: float


@dataclass(frozen=True, slots=True)
class Hairstyle:
    name: str
    classes: HairClasses
    # slot -> attachment name -> attachment, in rig schema 1 (rigs/README.md)
    attachments: dict[str, dict[str, dict]]
    hides: tuple[str, ...]  # Digi's hair slots this style leaves empty
    atlas: Atlas  # the style's pictures, by path ("hair/<name>/<picture>")
    sources: dict[str, PictureSource]  # by picture path


@lru_cache(maxsize=1)
def _bones() -> frozenset[str]:
    """Digi's bone names: what a style's weights may name."""
    rig = json.loads((RIGS / RIG / "rig.json").read_text(encoding="utf-8"))
    return frozenset(b["name"] for b in rig["bones"])


def _read_classes(node: Node) -> HairClasses:
    known = set(CLASSES)
    for key, item in node.items():
        if key not in known:
            raise item.fail(f'unknown class "{key}" (expected {", ".join(CLASSES)})')
    return HairClasses(**{k: node.get(k).choice(v) for k, v in CLASSES.items()})


def _catalogue() -> dict[str, HairClasses]:
    out = {}
    for f in sorted(LIBRARY.glob("*/style.json")):
        root = Node(read_json(f, HairstyleError), "", str(f), HairstyleError)
        out[f.parent.name] = _read_classes(root.get("classes"))
    return out


HAIRSTYLES: dict[str, HairClasses] = _catalogue()


def load_hairstyle(name: str, library: Path = LIBRARY) -> Hairstyle:
    """The style `name` from the library, validated: its classes, attachments (on Digi's
    slots and bones, pictures in its atlas) and picture sources."""
    directory = library / name
    path = directory / "style.json"
    if not path.exists():
        known = sorted(p.parent.name for p in library.glob("*/style.json"))
        raise HairstyleError(str(path), "", f'no hairstyle "{name}" (known: {", ".join(known)})')
    root = Node(read_json(path, HairstyleError), "", str(path), HairstyleError)
    root.obj()
    check_schema(root, SCHEMA_VERSION)
    rnode = root.get("rig")
    if rnode.str_() != RIG:
        raise rnode.fail(f'a hairstyle for rig "{rnode.value}", not "{RIG}"')
    nnode = root.get("name")
    if nnode.str_() != name:
        raise nnode.fail(f'names the style "{nnode.value}", but it lies in "{name}/"')
    classes = _read_classes(root.get("classes"))
    try:
        atlas = load_atlas(directory)
    except AtlasFormatError as e:
        raise HairstyleError(e.source, e.path, e.problem) from None
    sources = _read_sources(root.get("pictures"), directory, atlas)
    attachments = _read_attachments(root.get("attachments"), _bones(), set(sources))
    hides = []
    for h in root.get("hides").list():
        slot = h.choice(HAIR_SLOTS)
        if slot in attachments:
            raise h.fail(f'slot "{slot}" is both dressed and hidden')
        hides.append(slot)
    return Hairstyle(name, classes, attachments, tuple(hides), atlas, sources)


def _read_sources(node: Node, directory: Path, atlas: Atlas) -> dict[str, PictureSource]:
    out = {}
    for pic, item in node.items():
        if pic not in atlas.regions:
            raise item.fail(f'picture "{pic}" has no region in {directory / "atlas.json"}')
        svg_node = item.get("svg")
        file = directory / svg_node.str_()
        try:
            text = file.read_text(encoding="utf-8")
            vb = svg_viewbox(text)
        except FileNotFoundError:
            raise svg_node.fail(f"file not found: {file}") from None
        except ArtError as e:
            raise svg_node.fail(f"{file}: {e}") from None
        out[pic] = PictureSource(text, vb, item.get("scale").num(lo=0.1, hi=16.0))
    missing = set(atlas.regions) - set(out)
    if missing:
        raise node.fail(f"no source for the atlas's pictures {sorted(missing)}")
    return out


def _read_attachments(node: Node, bones: set[str], pictures: set[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for slot, per_slot in node.items():
        if slot not in DRESSABLE:
            raise per_slot.fail(
                f'slot "{slot}" is not one a hairstyle dresses ({", ".join(DRESSABLE)})'
            )
        out[slot] = {}
        for name, att in per_slot.items():
            kind = att.get("type").choice(("region", "mesh"))
            pnode = att.get("path")
            if pnode.str_() not in pictures:
                raise pnode.fail(f'picture "{pnode.value}" is not one of the style\'s')
            if kind == "region":
                for key in ("x", "y", "rotation", "scaleX", "scaleY"):
                    att.get(key, 0.0).num()
                att.get("width").num(lo=0.0)
                att.get("height").num(lo=0.0)
            else:
                _check_mesh(att, bones)
            out[slot][name] = copy.deepcopy(att.value)
    return out


def _check_mesh(att: Node, bones: set[str]) -> None:
    verts = att.get("vertices").list(min_len=3)
    for v in verts:
        v.vec(2)
    n = len(verts)
    uvs = att.get("uvs").list()
    if len(uvs) != n:
        raise att.get("uvs").fail(f"expected {n} uvs (one per vertex), got {len(uvs)}")
    for uv in uvs:
        u, v = uv.vec(2)
        if not (0 <= u <= 1 and 0 <= v <= 1):
            raise uv.fail(f"uv {[u, v]} is outside 0..1")
    for t in att.get("triangles").list(min_len=1):
        idx = t.list()
        if len(idx) != 3:
            raise t.fail(f"expected 3 vertex indices, got {len(idx)}")
        for i in idx:
            if i.int_(lo=0) >= n:
                raise i.fail(f"vertex index {i.value} out of range (mesh has {n} vertices)")
    if att.has("weights"):
        ws = att.get("weights").list()
        if len(ws) != n:
            raise att.get("weights").fail(f"expected {n} weight lists, got {len(ws)}")
        for infl in ws:
            total = 0.0
            for pair in infl.list(min_len=1):
                bw = pair.list()
                if len(bw) != 2:
                    raise pair.fail('expected ["bone", weight]')
                if bw[0].str_() not in bones:
                    raise bw[0].fail(f'unknown bone "{bw[0].value}" (not one of Digi\'s)')
                total += bw[1].num(lo=0.0, hi=1.0)
            if abs(total - 1.0) > 1e-3:
                raise infl.fail(f"weights sum to {total:.6g}, not 1")


def wear_hairstyle(
    rig_json: dict,
    atlas: Atlas,
    style: Hairstyle,
    pictures: dict[str, np.ndarray] | None = None,
) -> tuple[dict, Atlas]:
    """Digi's rig JSON with its hair slots dressed in `style` (a new dict; `rig_json` is
    not changed), and `atlas` with the style's pictures appended. `pictures` replaces
    some of them by path (recoloured ones: same size, straight-alpha RGBA uint8)."""
    data = copy.deepcopy(rig_json)
    slots = {s["name"]: s for s in data["slots"]}
    for slot in (*style.attachments, *style.hides):
        if slot not in slots:
            raise ValueError(f'the rig has no slot "{slot}" for hairstyle "{style.name}"')
    for slot, atts in style.attachments.items():
        old = data["attachments"].get(slot, {})
        data["attachments"][slot] = copy.deepcopy(atts)
        # names the rig had that the style lacks (a hat's top, say) show the style's default
        fallback = atts.get(slot) or next(iter(atts.values()))
        for name in old:
            data["attachments"][slot].setdefault(name, copy.deepcopy(fallback))
        if slots[slot].get("attachment") is not None:
            slots[slot]["attachment"] = slot if slot in atts else next(iter(atts))
    for slot in style.hides:
        names = list(data["attachments"].get(slot, {})) or [slot]
        data["attachments"][slot] = {
            n: {"type": "region", "path": EMPTY, "width": 1, "height": 1} for n in names
        }
        slots[slot].pop("attachment", None)
    return data, _with_pictures(atlas, style, pictures or {})


def style_atlas(
    base: Atlas, style: Hairstyle, pictures: dict[str, np.ndarray] | None = None
) -> Atlas:
    """The atlas half of `wear_hairstyle`: `base` with the style's pictures appended (the
    rig JSON depends on the style alone, so a caller may build it once per style)."""
    return _with_pictures(base, style, pictures or {})


def _with_pictures(base: Atlas, style: Hairstyle, pictures: dict[str, np.ndarray]) -> Atlas:
    """`base` with the style's atlas (and the empty picture) appended below it."""
    own = style.atlas
    image = own.image
    for path, pic in pictures.items():
        if path not in own.regions:
            raise ValueError(f'hairstyle "{style.name}" has no picture "{path}"')
        x, y, w, h = own.regions[path]
        if pic.shape != (h, w, 4) or pic.dtype != np.uint8:
            raise ValueError(
                f'picture "{path}" must be ({h}, {w}, 4) uint8 like the style\'s own, '
                f"got {pic.shape} {pic.dtype}"
            )
        if image is own.image:
            image = image.copy()
        image[y : y + h, x : x + w] = pic
    h0, w0 = base.image.shape[:2]
    h1, w1 = image.shape[:2]
    empty = 4
    out = np.zeros((h0 + GAP + max(h1, empty), max(w0, w1 + GAP + empty), 4), np.uint8)
    out[:h0, :w0] = base.image
    out[h0 + GAP : h0 + GAP + h1, :w1] = image
    regions = dict(base.regions)
    hulls = dict(base.hulls)
    for path, (x, y, w, h) in own.regions.items():
        regions[path] = (x, y + h0 + GAP, w, h)
        # a recoloured picture keeps its alpha, and with it its hull
        same = path not in pictures or np.array_equal(
            pictures[path][..., 3], own.image[y : y + h, x : x + w, 3]
        )
        if path in own.hulls and same:
            hulls[path] = own.hulls[path]
    regions[EMPTY] = (w1 + GAP, h0 + GAP, empty, empty)
    return Atlas(out, regions, hulls)
