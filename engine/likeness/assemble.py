"""Assembling a character: Digi's rig and art, recoloured from the measured colours and
dressed in the chosen parts, as an ordinary `AvatarBundle`.

The bundle is Digi's skeleton, clips, state machine, tracking bindings and sprite library
(outfits, accessories), so a character is puppeted, previewed, exported and sold like Digi.
Only pictures change: Digi's own art re-rasterized in the character's palette
(engine/likeness/recolor.py), and the hairstyle's art recoloured the same way and worn on
Digi's hair slots (engine/likeness/hair.py). Nothing here touches GL, torch or MediaPipe.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache

import numpy as np

from engine.assets import RIGS, AvatarBundle, bundle_for
from engine.atlas import Atlas
from engine.likeness.character import Character
from engine.likeness.hair import HAIRSTYLES, Hairstyle, load_hairstyle, style_atlas, wear_hairstyle
from engine.likeness.palette import Palette, palette
from engine.likeness.recolor import recolor_atlas
from engine.rig.loader import parse_rig

RIG = "digi"
# the rig JSON of a style does not depend on pictures: made against an empty atlas
_EMPTY = Atlas(np.zeros((1, 1, 4), np.uint8), {})


def palette_of(character: Character) -> Palette:
    """The character's colours as a palette over Digi's tones (None keeps Digi's)."""
    c = character
    return palette(
        skin=c.skin, hair=c.hair, hair_highlight=c.hair_highlight, iris=c.iris, brows=c.brows
    )


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
    label = name or f"character-{character.digest}"
    bundle = replace(_dressed(character.hairstyle, animation_set, sprites), atlas=atlas, face=label)
    if character.glasses and bundle.sprites is not None:
        accessories = bundle.sprites.categories.get("accessories", {})
        if "glasses" in accessories:
            defaults = {**bundle.sprites.defaults, "accessories": "glasses"}
            bundle = replace(bundle, sprites=replace(bundle.sprites, defaults=defaults))
    return bundle


@lru_cache(maxsize=len(HAIRSTYLES) + 1)
def _style(name: str) -> Hairstyle:
    return load_hairstyle(name)


@lru_cache(maxsize=8)
def _dressed(hairstyle: str, animation_set: str | None, sprites: str) -> AvatarBundle:
    """Digi's bundle dressed in a hairstyle, without pictures: the rig depends on the
    style alone, so its parsing and the clips, machine and library loaded against it are
    done once per style (most of an assembly's time), not once per character."""
    style = _style(hairstyle)
    data, _ = wear_hairstyle(_rig_json(), _EMPTY, style)
    rig = parse_rig(data, f"{RIGS / RIG / 'rig.json'} in hairstyle {hairstyle}")
    return bundle_for(rig, RIG, animation_set, sprites)


@lru_cache(maxsize=1)
def _rig_text() -> str:
    return (RIGS / RIG / "rig.json").read_text(encoding="utf-8")


def _rig_json() -> dict:
    return json.loads(_rig_text())
