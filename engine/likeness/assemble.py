"""Assembling a character: Digi's rig and art, recoloured from the measured colours and
dressed in the chosen parts, as an ordinary `AvatarBundle`.

The bundle is Digi's skeleton, clips, state machine, tracking bindings and sprite library
(outfits, accessories), so a character is puppeted, previewed, exported and sold like Digi.
Only pictures change: Digi's own art re-rasterized in the character's palette
(engine/likeness/recolor.py), and the hairstyle's art recoloured the same way and worn on
Digi's hair slots (engine/likeness/hair.py), and the face shape and facial hair
(engine/likeness/face_parts.py): the head's picture redrawn with the shape's jaw, the facial
hair on a slot over the head, in its own colour, the eye slots showing the eye shape's
pictures. Nothing here touches GL, torch or MediaPipe.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache

import numpy as np

from engine.assets import RIGS, ROOT, AvatarBundle, bundle_for
from engine.atlas import Atlas
from engine.likeness.character import Character
from engine.likeness.face_parts import (
    HEAD_ART,
    OWN_BROWS,
    OWN_EYES,
    FaceParts,
    append_pictures,
    head_path,
    head_picture,
    load_face_parts,
    picture_of,
    wear_face_parts,
)
from engine.likeness.hair import HAIRSTYLES, Hairstyle, load_hairstyle, style_atlas, wear_hairstyle
from engine.likeness.palette import Palette, Ramp, delta_e, oklch_of, oklch_to_hex, palette
from engine.likeness.recolor import recolor_atlas
from engine.rig.loader import parse_rig

RIG = "digi"
GLASSES_FRAME = "#5b2430"  # the frame's colour in content/art/digi/glasses.svg
# Digi's cap (content/art/digi/hat_cap.svg): its teal base, shade and light, re-based on a
# measured hat colour. The same teal is the jacket's, so only the cap's picture is redrawn.
HAT_CAP = Ramp("hat", ("#2f97a0", "#1f6a78", "#63c3c6"))
HAT_PICTURE = "digi/hat_cap"
HAT_ART = ROOT / "content" / "art" / "digi" / "hat_cap.svg"
GLASSES_AND_HAT = "glasses_hat"  # the accessory label a character with both wears
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
        c.hairstyle, c.facial_hair, c.face_shape, c.brow_thickness, animation_set, sprites,
        c.eye_shape,
    )  # fmt: skip
    if c.hat and c.hat_colour is not None:
        art = {HAT_PICTURE: HAT_ART.read_text(encoding="utf-8")}
        atlas = recolor_atlas(Palette(HAT_CAP.rebase(c.hat_colour)), base=atlas, art=art)
    bundle = replace(dressed, atlas=atlas, face=label)
    return _accessories(bundle, c)


def _accessories(bundle: AvatarBundle, c: Character) -> AvatarBundle:
    """The character's glasses and hat as the sprite library's default accessory. The
    library's accessories hold one item; a character measured with both wears a label
    made here that shows the two (its hair top flattened under the cap)."""
    lib = bundle.sprites
    if lib is None or not (c.glasses or c.hat):
        return bundle
    accessories = lib.categories.get("accessories", {})
    if c.glasses and c.hat and "glasses" in accessories and "hat" in accessories:
        both = {**accessories["glasses"], **accessories["hat"]}
        categories = {**lib.categories, "accessories": {**accessories, GLASSES_AND_HAT: both}}
        lib = replace(lib, categories=categories)
        wear = GLASSES_AND_HAT
    elif c.hat and "hat" in accessories:
        wear = "hat"
    elif c.glasses and "glasses" in accessories:
        wear = "glasses"
    else:
        return bundle
    lib = replace(lib, defaults={**lib.defaults, "accessories": wear})
    return replace(bundle, sprites=lib)


def face_pictures(character: Character, style: Hairstyle, pal: Palette) -> dict[str, np.ndarray]:
    """The pictures the character's face shape and facial hair add to the atlas, in its
    colours: the head (the one the hairstyle wears, or Digi's) with the shape's jaw, the
    facial hair for that shape, the brows and the eye shape's pictures (in the iris and skin
    colours, like Digi's eyes). Digi's own face ("oval", "none", "medium", "round") adds
    none."""
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
    if character.eye_shape != OWN_EYES:
        for path in parts.eyes[character.eye_shape].values():
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
    eyes: str = OWN_EYES,
) -> AvatarBundle:
    """Digi's bundle dressed in a hairstyle and face parts, without pictures: the rig
    depends on those alone, so its parsing and the clips, machine and library loaded against
    it are done once per combination (most of an assembly's time), not once per character."""
    style = _style(hairstyle)
    data, _ = wear_hairstyle(_rig_json(), _EMPTY, style)
    data = wear_face_parts(data, _face_parts(), facial_hair, face_shape, brows, eyes)
    where = f"{RIGS / RIG / 'rig.json'} in hairstyle {hairstyle}"
    if (facial_hair, face_shape, brows, eyes) != ("none", "oval", OWN_BROWS, OWN_EYES):
        where += f", facial hair {facial_hair}, face shape {face_shape}"
        where += f", brows {brows}, eyes {eyes}"
    rig = parse_rig(data, where)
    return bundle_for(rig, RIG, animation_set, sprites)


@lru_cache(maxsize=1)
def _rig_text() -> str:
    return (RIGS / RIG / "rig.json").read_text(encoding="utf-8")


def _rig_json() -> dict:
    return json.loads(_rig_text())
