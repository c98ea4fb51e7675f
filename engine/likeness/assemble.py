"""Assembling a character: Digi's rig and art, recoloured from the measured colours and
dressed in the chosen parts, as an ordinary `AvatarBundle`.

The bundle is Digi's skeleton, clips, state machine, tracking bindings and sprite library
(outfits, accessories), so a character is puppeted, previewed, exported and sold like Digi.
Only pictures change: Digi's own art re-rasterized in the character's palette
(engine/likeness/recolor.py), and the hairstyle's art recoloured the same way and worn on
Digi's hair slots (engine/likeness/hair.py), and the face shape and facial hair
(engine/likeness/face_parts.py): the head's picture redrawn with the shape's jaw, the facial
hair on a slot over the head, in its own colour. Nothing here touches GL, torch or MediaPipe.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache

import numpy as np

from engine.assets import RIGS, AvatarBundle, bundle_for
from engine.atlas import Atlas
from engine.likeness.character import Character
from engine.likeness.face_parts import (
    HEAD_ART,
    OWN_BROWS,
    FaceParts,
    append_pictures,
    head_path,
    head_picture,
    load_face_parts,
    picture_of,
    wear_face_parts,
)
from engine.likeness.hair import HAIRSTYLES, Hairstyle, load_hairstyle, style_atlas, wear_hairstyle
from engine.likeness.palette import Palette, delta_e, oklch_of, oklch_to_hex, palette
from engine.likeness.recolor import recolor_atlas
from engine.rig.loader import parse_rig

RIG = "digi"
GLASSES_FRAME = "#5b2430"  # the frame's colour in content/art/digi/glasses.svg
SKIN = "#ffe4d0"  # Digi's skin base tone, what the frame lies on
FRAME_CONTRAST = 20.0  # CIEDE2000 a frame keeps from the skin, else it is darkened
FRAME_STEP = 0.3  # OKLab lightness below the skin a darkened frame takes
# the rig JSON of a style does not depend on pictures: made against an empty atlas
_EMPTY = Atlas(np.zeros((1, 1, 4), np.uint8), {})


def palette_of(character: Character) -> Palette:
    """The character's colours as a palette over Digi's tones (None keeps Digi's)."""
    c = character
    pal = palette(
        skin=c.skin, hair=c.hair, hair_highlight=c.hair_highlight, iris=c.iris, brows=c.brows
    )
    if c.glasses and c.glasses_colour is not None:
        # the frame is one flat colour, used by no other picture: no ramp to derive
        frame = frame_colour(c.glasses_colour, pal.get(SKIN, SKIN))
        pal = Palette({**pal, GLASSES_FRAME: frame})
    return pal


def frame_colour(measured: str, skin: str) -> str:
    """The glasses frame's colour: the measured one, darkened (same hue) where it
    would melt into the skin it lies on (a tan frame on tan skin): drawn as thin lines,
    the glasses must still read as glasses."""
    if delta_e(measured, skin) >= FRAME_CONTRAST:
        return measured
    lch = oklch_of(measured)
    lch[0] = min(lch[0], oklch_of(skin)[0] - FRAME_STEP)
    return oklch_to_hex(lch)[0]


def facial_hair_palette(character: Character) -> Palette:
    """The facial hair's colours: Digi's hair ramp re-based on the facial-hair colour
    (falling back to the hair colour, then to Digi's), so a dark beard gets dark shading;
    the hair's measured highlight is the head hair's own, so it is not carried over."""
    c = character
    return palette(hair=c.facial_hair_colour or c.hair)


def hair_atlas(style: Hairstyle, pal: Palette) -> Hairstyle:
    """The style with its pictures in the palette's colours (recoloured like Digi's art,
    from the pictures' SVG sources; alpha and hulls unchanged)."""
    art = {path: src.svg for path, src in style.sources.items()}
    return replace(style, atlas=recolor_atlas(pal, base=style.atlas, art=art))


def assemble(
    character: Character, name: str | None = None, animation_set: str | None = None,
    sprites: str = "base",
) -> AvatarBundle:  # fmt: skip
    """Digi as `character`: a bundle the ordinary session and renderer run. `name` names
    its pictures for renderer sharing (default: the character's digest)."""
    pal = palette_of(character)
    style = _style(character.hairstyle)
    atlas = style_atlas(recolor_atlas(pal), hair_atlas(style, pal))
    atlas = append_pictures(atlas, face_pictures(character, style, pal))
    label = name or f"character-{character.digest}"
    c = character
    dressed = _dressed(
        c.hairstyle, c.facial_hair, c.face_shape, c.brow_thickness, animation_set, sprites
    )
    bundle = replace(dressed, atlas=atlas, face=label)
    if character.glasses and bundle.sprites is not None:
        accessories = bundle.sprites.categories.get("accessories", {})
        if "glasses" in accessories:
            defaults = {**bundle.sprites.defaults, "accessories": "glasses"}
            bundle = replace(bundle, sprites=replace(bundle.sprites, defaults=defaults))
    return bundle


def face_pictures(character: Character, style: Hairstyle, pal: Palette) -> dict[str, np.ndarray]:
    """The pictures the character's face shape and facial hair add to the atlas, in its
    colours: the head (the one the hairstyle wears, or Digi's) with the shape's jaw, the
    facial hair for that shape and the brows. Digi's own face ("oval", "none", "medium")
    adds none."""
    parts = _face_parts()
    out: dict[str, np.ndarray] = {}
    if character.face_shape != "oval":
        own = style.sources.get(f"hair/{style.name}/head")
        svg = own.svg if own is not None else HEAD_ART.read_text(encoding="utf-8")
        text, image = head_picture(svg, parts.outlines[character.face_shape])
        out[head_path(character.face_shape)] = _recoloured(
            head_path(character.face_shape), text, image, pal
        )
    if character.facial_hair != "none":
        fh = facial_hair_palette(character)
        for att in parts.facial_hair[character.facial_hair][character.face_shape].values():
            path = att["path"]
            out[path] = _recoloured(path, parts.sources[path].svg, picture_of(parts, path), fh)
    if character.brow_thickness != OWN_BROWS:
        for path in parts.brows[character.brow_thickness].values():
            out[path] = _recoloured(path, parts.sources[path].svg, picture_of(parts, path), pal)
    return out


def _recoloured(path: str, svg: str, image: np.ndarray, pal: Palette) -> np.ndarray:
    """One picture drawn from `svg`, in the palette's colours (recolor_atlas on an atlas of
    that picture alone: the same edges as a redraw, the same alpha)."""
    h, w = image.shape[:2]
    one = Atlas(image, {path: (0, 0, w, h)})
    return np.array(recolor_atlas(pal, base=one, art={path: svg}).image)


@lru_cache(maxsize=len(HAIRSTYLES) + 1)
def _style(name: str) -> Hairstyle:
    return load_hairstyle(name)


@lru_cache(maxsize=1)
def _face_parts() -> FaceParts:
    return load_face_parts()


@lru_cache(maxsize=32)
def _dressed(
    hairstyle: str,
    facial_hair: str,
    face_shape: str,
    brows: str,
    animation_set: str | None,
    sprites: str,
) -> AvatarBundle:
    """Digi's bundle dressed in a hairstyle and face parts, without pictures: the rig
    depends on those alone, so its parsing and the clips, machine and library loaded against
    it are done once per combination (most of an assembly's time), not once per character."""
    style = _style(hairstyle)
    data, _ = wear_hairstyle(_rig_json(), _EMPTY, style)
    data = wear_face_parts(data, _face_parts(), facial_hair, face_shape, brows)
    where = f"{RIGS / RIG / 'rig.json'} in hairstyle {hairstyle}"
    if (facial_hair, face_shape, brows) != ("none", "oval", OWN_BROWS):
        where += f", facial hair {facial_hair}, face shape {face_shape}, brows {brows}"
    rig = parse_rig(data, where)
    return bundle_for(rig, RIG, animation_set, sprites)


@lru_cache(maxsize=1)
def _rig_text() -> str:
    return (RIGS / RIG / "rig.json").read_text(encoding="utf-8")


def _rig_json() -> dict:
    return json.loads(_rig_text())
