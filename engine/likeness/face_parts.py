"""Face parts: a character's face shape and facial hair, worn on Digi's rig at run time.

The face-part library (content/face/, built by content/build/face_parts.py; format in
content/README.md, "Face parts") holds

- the face shapes: each one's face outline (the `<path id="face">` of Digi's head.svg: jaw
  and chin), which replaces Digi's in whatever head picture the character wears (Digi's own,
  or a hairstyle's with its fringe's forehead shadow), re-rasterized here at Digi's head
  scale: the head's mesh, bone and draw order are untouched, only its picture changes;
- the brow thicknesses: thin and thick pictures for Digi's brow slots (hers are medium),
  drawn in her brows' viewBoxes so her region attachments show them unchanged;
- the eye shapes: per shape, a picture for every one of Digi's eye pictures (the white, the
  iris, the open, half and closed lids, the happy eye; both eyes) drawn in the same viewBox,
  so her eye slots' region attachments (and the blink and expressions switching between
  them) show them unchanged; the iris is clipped inside the white for every gaze;
- the facial-hair styles: per face shape, the pictures (clipped to that shape's face, so a
  beard follows the jaw) and meshes worn on the slots wearing adds: `facial_hair` right
  above Digi's head (under the nose and mouth, which stay drawn over it) for a beard or
  stubble, `moustache` right above the mouth slots (an open mouth does not hide it); skinned
  to the head along the jaw and to the mouth bone round the mouth, so they follow both.

Digi's own face (shape "oval", no facial hair, medium brows, round eyes) wears nothing: the rig JSON and the atlas
stay exactly what they were, so such a character draws as it did before this library.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from engine.assets import RIGS, ROOT
from engine.atlas import Atlas, AtlasFormatError, load_atlas
from engine.likeness.art import picture_size, rasterize_svg, svg_viewbox
from engine.likeness.hair import PictureSource, _check_mesh, _read_sources
from engine.rig.errors import FormatError
from engine.rig.reader import read_rig_file

SCHEMA_VERSION = 1
LIBRARY = ROOT / "content" / "face"
RIG = "digi"
FACE_SHAPES = ("oval", "round", "square", "heart")
FACIAL_HAIR = ("stubble", "moustache", "beard")  # "none" wears nothing
OWN_SHAPE = "oval"  # Digi's own face: wearing it changes nothing
BROW_THICKNESS = ("thin", "medium", "thick")
OWN_BROWS = "medium"  # Digi's own brows: wearing them changes nothing
BROWS = ("thin", "thick")  # the library's brow variants
BROW_SLOTS = ("brow_r", "brow_l")
EYE_SHAPES = ("round", "almond", "narrow", "upturned")
OWN_EYES = "round"  # Digi's own eyes: wearing them changes nothing
EYES = ("almond", "narrow", "upturned")  # the library's eye shapes
# Digi's eye pictures an eye shape redraws (content/art/digi/), both eyes
EYE_PICTURES = tuple(
    f"{pic}_{side}"
    for side in ("r", "l")
    for pic in ("eye_white", "iris", "lid_open", "lid_half", "lid_closed", "eye_happy")
)
# the slots showing them (the eyelids switch open/half/closed for a blink; eye_expr shows the
# closed and happy eyes of the expressions)
EYE_SLOTS = tuple(
    f"{slot}_{side}" for side in ("r", "l") for slot in ("eye_white", "iris", "eyelid", "eye_expr")
)
# the slots facial hair adds, each drawn right after (over) a slot of Digi's: the beard and
# stubble over the head, under the nose and mouth; a moustache over the mouth, so an open
# mouth does not hide it (it overlaps the upper teeth as a real one does)
SLOTS = {"facial_hair": "head", "moustache": "mouth_expr"}
BELOW = "head"  # the slot whose picture a face shape redraws
HEAD_SCALE = 3.0  # texels per art unit of Digi's head picture (content/build/digi_art.py)
GAP = 4  # texels between pictures appended to an atlas (mipmaps stay apart)
DIGI_ART = ROOT / "content" / "art" / "digi"
HEAD_ART = DIGI_ART / "head.svg"

# the face outline in a head SVG: <path id="face" d="..."/> (Digi's head.svg and the
# hairstyles' heads drawn from it)
_FACE_PATH = re.compile(r'(<path\s+id="face"\s+d=")([^"]*)(")')


class FacePartsError(FormatError):
    """The face-part library's files are invalid (the message names the file and JSON path)."""


@dataclass(frozen=True, slots=True)
class FaceParts:
    # face shape -> its face outline (SVG path data in Digi's world frame)
    outlines: dict[str, str]
    # facial-hair style -> face shape -> slot (of SLOTS) -> the attachment worn on it
    facial_hair: dict[str, dict[str, dict[str, dict]]]
    # brow thickness -> brow slot -> the picture its attachments show
    brows: dict[str, dict[str, str]]
    # eye shape -> Digi's picture path ("digi/lid_open_l") -> the shape's picture
    eyes: dict[str, dict[str, str]]
    atlas: Atlas  # the facial-hair pictures in Digi's default hair colours, the brows' in hers
    sources: dict[str, PictureSource]  # by picture path


@lru_cache(maxsize=1)
def _bones() -> frozenset[str]:
    rig = json.loads((RIGS / RIG / "rig.json").read_text(encoding="utf-8"))
    return frozenset(b["name"] for b in rig["bones"])


def load_face_parts(library: Path = LIBRARY) -> FaceParts:
    """The face-part library, validated: every face shape's outline, and every facial-hair
    style's attachment for every face shape (meshes on Digi's bones, pictures in its atlas
    with their SVG sources)."""
    path = library / "parts.json"
    if not path.exists():
        raise FacePartsError(str(path), "", "no face-part library (build it with "
                             "content/build/face_parts.py)")  # fmt: skip
    root = read_rig_file(path, FacePartsError, SCHEMA_VERSION, RIG, "face parts")
    try:
        atlas = load_atlas(library)
    except AtlasFormatError as e:
        raise FacePartsError(e.source, e.path, e.problem) from None
    sources = _read_sources(root.get("pictures"), library, atlas)

    shapes = root.get("face_shapes")
    outlines = {}
    for shape, item in shapes.items():
        if shape not in FACE_SHAPES:
            raise item.fail(f'unknown face shape "{shape}" (expected {", ".join(FACE_SHAPES)})')
        outline = item.get("outline")
        d = outline.str_()
        # a path starts with a move and closes: anything else would leave the head open
        if not re.fullmatch(r"\s*M[-\d.,\sMCLZ]*Z\s*", d):
            raise outline.fail("not a closed SVG path (M ... Z, with M, L, C and numbers)")
        outlines[shape] = d
    missing = [s for s in FACE_SHAPES if s not in outlines]
    if missing:
        raise shapes.fail(f"no outline for the face shapes {missing}")

    hair_node = root.get("facial_hair")
    facial_hair: dict[str, dict[str, dict[str, dict]]] = {}
    bones = _bones()
    for style, per_shape in hair_node.items():
        if style not in FACIAL_HAIR:
            raise per_shape.fail(
                f'unknown facial-hair style "{style}" (expected {", ".join(FACIAL_HAIR)})'
            )
        facial_hair[style] = {}
        for shape, per_slot in per_shape.items():
            if shape not in FACE_SHAPES:
                raise per_slot.fail(
                    f'unknown face shape "{shape}" (expected {", ".join(FACE_SHAPES)})'
                )
            facial_hair[style][shape] = {}
            for slot, att in per_slot.items():
                if slot not in SLOTS:
                    raise att.fail(f'unknown slot "{slot}" (expected {", ".join(SLOTS)})')
                att.get("type").choice(("mesh",))
                pnode = att.get("path")
                if pnode.str_() not in sources:
                    raise pnode.fail(f'picture "{pnode.value}" is not one of the library\'s')
                _check_mesh(att, bones)
                facial_hair[style][shape][slot] = copy.deepcopy(att.value)
            if not facial_hair[style][shape]:
                raise per_slot.fail("no attachment on any slot")
        gaps = [s for s in FACE_SHAPES if s not in facial_hair[style]]
        if gaps:
            raise per_shape.fail(f'facial hair "{style}" has no attachment for {gaps}')
    absent = [s for s in FACIAL_HAIR if s not in facial_hair]
    if absent:
        raise hair_node.fail(f"no facial-hair styles {absent}")

    brows_node = root.get("brows")
    brows: dict[str, dict[str, str]] = {}
    for thickness, per_slot in brows_node.items():
        if thickness not in BROWS:
            raise per_slot.fail(
                f'unknown brow thickness "{thickness}" (expected {", ".join(BROWS)})'
            )
        brows[thickness] = {}
        for slot in BROW_SLOTS:
            pnode = per_slot.get(slot)
            if pnode.str_() not in sources:
                raise pnode.fail(f'picture "{pnode.value}" is not one of the library\'s')
            brows[thickness][slot] = pnode.value
        extra = sorted(set(per_slot.obj()) - set(BROW_SLOTS))
        if extra:
            raise per_slot.fail(f"unknown brow slots {extra} (expected {', '.join(BROW_SLOTS)})")
    lacking = [b for b in BROWS if b not in brows]
    if lacking:
        raise brows_node.fail(f"no brows {lacking}")

    eyes_node = root.get("eye_shapes")
    eyes: dict[str, dict[str, str]] = {}
    own = {f"digi/{pic}" for pic in EYE_PICTURES}
    for name, per_pic in eyes_node.items():
        if name not in EYES:
            raise per_pic.fail(f'unknown eye shape "{name}" (expected {", ".join(EYES)})')
        eyes[name] = {}
        for digi, pnode in per_pic.items():
            if digi not in own:
                raise pnode.fail(f'"{digi}" is not one of Digi\'s eye pictures')
            if pnode.str_() not in sources:
                raise pnode.fail(f'picture "{pnode.value}" is not one of the library\'s')
            # the region attachments keep their place: the picture must share the centre
            # of Digi's (it may be larger: the wearer sizes the regions to it)
            x, y, w, h = svg_viewbox(sources[pnode.value].svg)
            ox, oy, ow, oh = _digi_viewbox(digi.split("/", 1)[1])
            if abs(x + w / 2 - ox - ow / 2) > 1e-6 or abs(y + h / 2 - oy - oh / 2) > 1e-6:
                raise pnode.fail(
                    f'picture "{pnode.value}": its viewBox is not centred on {digi}\'s'
                )
            eyes[name][digi] = pnode.value
        # a shape missing a picture would show Digi's round eye for a blink or a smile
        lacking = sorted(own - set(eyes[name]))
        if lacking:
            raise per_pic.fail(f"no pictures for {lacking}")
    absent = [e for e in EYES if e not in eyes]
    if absent:
        raise eyes_node.fail(f"no eye shapes {absent}")
    return FaceParts(outlines, facial_hair, brows, eyes, atlas, sources)


@cache
def _digi_viewbox(picture: str) -> tuple[float, float, float, float]:
    return svg_viewbox((DIGI_ART / f"{picture}.svg").read_text(encoding="utf-8"))


def eye_path(shape: str, picture: str) -> str:
    """The atlas path of an eye shape's version of Digi's eye picture `picture`."""
    return f"face/eyes/{shape}/{picture}"


def head_path(shape: str) -> str:
    """The atlas path of the head picture a face shape wears."""
    return f"face/{shape}/head"


def shaped_head(head_svg: str, outline: str) -> str:
    """A head SVG (Digi's, or a hairstyle's drawn from it) with its face outline replaced:
    the jaw and chin change, everything clipped to the face (shadows) follows them."""
    text, n = _FACE_PATH.subn(lambda m: m.group(1) + outline + m.group(3), head_svg, count=1)
    if n != 1:
        raise ValueError('the head SVG has no face outline (<path id="face" d="...">)')
    return text


@lru_cache(maxsize=16)
def head_picture(head_svg: str, outline: str) -> tuple[str, np.ndarray]:
    """The shaped head's SVG and its picture, at Digi's head scale, with the head's viewBox
    (so the head mesh's uvs still fit). Read-only: shared between assemblies."""
    text = shaped_head(head_svg, outline)
    image = rasterize_svg(text, picture_size(svg_viewbox(text), HEAD_SCALE))
    image.setflags(write=False)
    return text, image


def wear_face_parts(
    rig_json: dict,
    parts: FaceParts,
    facial_hair: str,
    face_shape: str,
    brows: str = OWN_BROWS,
    eyes: str = OWN_EYES,
) -> dict:
    """Digi's rig JSON (perhaps already wearing a hairstyle) with the face shape on its head
    slot, the facial hair on the slots it adds (SLOTS), the brows' thickness on the brow
    slots and the eye shape on the eye slots (a new dict; `rig_json` is not changed). Digi's
    own face ("none", "oval", "medium", "round") returns an unchanged copy."""
    if eyes not in EYE_SHAPES:
        raise ValueError(f'unknown eye shape "{eyes}" (known: {", ".join(EYE_SHAPES)})')
    if brows not in BROW_THICKNESS:
        raise ValueError(f'unknown brow thickness "{brows}" (known: {", ".join(BROW_THICKNESS)})')
    if face_shape not in FACE_SHAPES:
        raise ValueError(f'unknown face shape "{face_shape}" (known: {", ".join(FACE_SHAPES)})')
    if facial_hair != "none" and facial_hair not in parts.facial_hair:
        known = ", ".join(("none", *parts.facial_hair))
        raise ValueError(f'unknown facial hair "{facial_hair}" (known: {known})')
    data = copy.deepcopy(rig_json)
    names = [s["name"] for s in data["slots"]]
    for slot, below in (*SLOTS.items(), (BELOW, BELOW)):
        if below not in names:
            raise ValueError(f'the rig has no slot "{below}" to wear a face on')
        if slot in names and slot != below:
            raise ValueError(f'the rig already has a slot "{slot}"')
    if face_shape != OWN_SHAPE:
        # every attachment of the head slot (one, "head") keeps its mesh: the shaped head
        # has the same viewBox, so only the picture changes
        for att in data["attachments"][BELOW].values():
            att["path"] = head_path(face_shape)
    if facial_hair != "none":
        for slot, att in parts.facial_hair[facial_hair][face_shape].items():
            after = [s["name"] for s in data["slots"]].index(SLOTS[slot])
            data["slots"].insert(after + 1, {"name": slot, "bone": "head", "attachment": slot})
            data["attachments"][slot] = {slot: copy.deepcopy(att)}
    if brows != OWN_BROWS:
        # the variants are drawn in Digi's brows' viewBoxes: the regions keep their size
        for slot, path in parts.brows[brows].items():
            for brow in data["attachments"][slot].values():
                brow["path"] = path
    if eyes != OWN_EYES:
        # every attachment of the eye slots showing one of Digi's eye pictures (the lids'
        # open/half/closed, the expressions' closed and happy eyes): the shape's pictures
        # are centred as Digi's (the loader checks), so a region keeps its place and takes
        # the picture's size (a region's size is its viewBox's, one unit per texel/scale)
        swap = parts.eyes[eyes]
        for slot in EYE_SLOTS:
            if slot not in data["attachments"]:
                raise ValueError(f'the rig has no attachments on the eye slot "{slot}"')
            for att in data["attachments"][slot].values():
                path = swap.get(att["path"])
                if path is None:
                    continue
                _, _, w, h = svg_viewbox(parts.sources[path].svg)
                att.update(path=path, width=w, height=h)
    return data


def append_pictures(base: Atlas, pictures: dict[str, np.ndarray]) -> Atlas:
    """`base` with `pictures` (path -> straight-alpha RGBA uint8) in a row below it; their
    hulls are computed when the renderer first asks (Atlas.hull)."""
    if not pictures:
        return base
    h0, w0 = base.image.shape[:2]
    row_h = max(p.shape[0] for p in pictures.values())
    row_w = sum(p.shape[1] for p in pictures.values()) + GAP * (len(pictures) - 1)
    out = np.zeros((h0 + GAP + row_h, max(w0, row_w), 4), np.uint8)
    out[:h0, :w0] = base.image
    regions = dict(base.regions)
    x = 0
    for path, pic in pictures.items():
        if path in regions:
            raise ValueError(f'the atlas already has a picture "{path}"')
        h, w = pic.shape[:2]
        out[h0 + GAP : h0 + GAP + h, x : x + w] = pic
        regions[path] = (x, h0 + GAP, w, h)
        x += w + GAP
    return Atlas(out, regions, dict(base.hulls))


def picture_of(parts: FaceParts, path: str) -> np.ndarray:
    """One of the library's pictures, cut out of its atlas (a copy)."""
    x, y, w, h = parts.atlas.regions[path]
    return parts.atlas.image[y : y + h, x : x + w].copy()
