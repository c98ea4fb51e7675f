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
from engine.likeness.art import picture_size, rasterize_svg
from engine.likeness.character import Character
from engine.likeness.hair import Hairstyle, load_hairstyle, wear_hairstyle
from engine.likeness.palette import Palette, palette
from engine.likeness.recolor import recolor_atlas, recolor_svg
from engine.rig.loader import parse_rig

RIG = "digi"


def palette_of(character: Character) -> Palette:
    """The character's colours as a palette over Digi's tones (None keeps Digi's)."""
    c = character
    return palette(
        skin=c.skin, hair=c.hair, hair_highlight=c.hair_highlight, iris=c.iris, brows=c.brows
    )


def hair_pictures(style: Hairstyle, pal: Palette) -> dict[str, np.ndarray]:
    """The style's pictures in the palette's colours (only those it recolours)."""
    out = {}
    for path, src in style.sources.items():
        text = recolor_svg(src.svg, pal)
        if text != src.svg:
            out[path] = rasterize_svg(text, picture_size(src.viewbox, src.scale))
    return out


def assemble(
    character: Character, name: str | None = None, animation_set: str | None = None,
    sprites: str = "base",
) -> AvatarBundle:  # fmt: skip
    """Digi as `character`: a bundle the ordinary session and renderer run. `name` names
    its pictures for renderer sharing (default: the character's own key)."""
    pal = palette_of(character)
    atlas = recolor_atlas(pal)
    style = load_hairstyle(character.hairstyle)
    data, atlas = wear_hairstyle(_rig_json(), atlas, style, hair_pictures(style, pal))
    label = name or f"character-{character.digest}"
    rig = parse_rig(data, f"{RIGS / RIG / 'rig.json'} as character {label}")
    bundle = bundle_for(rig, RIG, animation_set, sprites, atlas=atlas, face=label)
    if character.glasses and bundle.sprites is not None:
        accessories = bundle.sprites.categories.get("accessories", {})
        if "glasses" in accessories:
            defaults = {**bundle.sprites.defaults, "accessories": "glasses"}
            bundle = replace(bundle, sprites=replace(bundle.sprites, defaults=defaults))
    return bundle


@lru_cache(maxsize=1)
def _rig_text() -> str:
    return (RIGS / RIG / "rig.json").read_text(encoding="utf-8")


def _rig_json() -> dict:
    return json.loads(_rig_text())
