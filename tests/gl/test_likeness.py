"""Likeness through the whole chain: each real test photo is measured (MediaPipe), a
character is chosen and assembled on Digi's rig, and the GL renderer draws it; the drawn
cheeks and hair must have the photo's colours in every render style (dE76 <= 10 against the hand-labelled regions
of tests/likeness/labels.json, chosen by a person, not by the measurement), and the drawn
character must carry the photo's glasses and hair length.

Where the skin and the hair land on screen is found by drawing the same character once with
marker colours for the skin's and the hair's base tones."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from engine.likeness.assemble import assemble
from engine.likeness.character import Character, character_from
from engine.likeness.measure import measure
from engine.likeness.palette import srgb_to_lab
from engine.render import AvatarRenderer
from engine.render.looks import LOOK_NAMES, render_style
from engine.session import AvatarSession
from tests.photos import PHOTOS

LABELS = json.loads((Path(__file__).parents[1] / "likeness" / "labels.json").read_text())["photos"]
SIZE = 320
MARK_SKIN, MARK_HAIR = "#00ff00", "#ff00ff"
MAX_DE = 10.0


@cache
def character_of(name: str) -> Character:
    return character_from(measure(PHOTOS[name]()))


def _draw(gl, character: Character, framing: str = "face", style: str = "none") -> np.ndarray:
    bundle = assemble(character)
    renderer = AvatarRenderer(gl, bundle.rig, bundle.pictures(), (SIZE, SIZE))
    try:
        session = AvatarSession(bundle, seed=3)
        for _ in range(30):  # the hair's springs settle
            session.advance(1 / 60)
        return renderer.render(session.pose, framing, style=render_style(style)).copy()
    finally:
        renderer.release()


def _mask(img: np.ndarray, marker: str) -> np.ndarray:
    from scipy import ndimage

    rgb = np.array([int(marker[i : i + 2], 16) for i in (1, 3, 5)])
    hit = (img[..., 3] == 255) & (np.abs(img[..., :3].astype(int) - rgb).max(-1) < 10)
    return ndimage.binary_erosion(hit)


def _lab(pixels: np.ndarray) -> np.ndarray:
    return srgb_to_lab(np.median(pixels.reshape(-1, 3), axis=0) / 255.0)


def _photo_lab(photo: np.ndarray, boxes: list[list[int]]) -> np.ndarray:
    """The labelled regions' colour, as labels.json defines it: the per-channel median in
    CIELAB over all their pixels."""
    px = np.concatenate([photo[y0:y1, x0:x1].reshape(-1, 3) for x0, y0, x1, y1 in boxes])
    lab = srgb_to_lab(px / 255.0)
    return np.median(lab, axis=0)


@pytest.mark.parametrize("style", LOOK_NAMES)
@pytest.mark.parametrize("name", sorted(LABELS))
def test_the_drawn_character_has_the_photos_skin_and_hair(gl, name: str, style: str) -> None:
    """In every render style: a style shades and grades, but keeps the person's colours."""
    label, photo = LABELS[name], PHOTOS[name]()
    character = character_of(name)
    marked = character.with_overrides(
        {"skin": MARK_SKIN, "hair": MARK_HAIR, "hair_highlight": None}
    )
    where = _draw(gl, marked)
    skin, hair = _mask(where, MARK_SKIN), _mask(where, MARK_HAIR)
    assert skin.sum() > 200 and hair.sum() > 200, (skin.sum(), hair.sum())
    img = _draw(gl, character, style=style)[..., :3]
    drawn_skin, drawn_hair = _lab(img[skin]), _lab(img[hair])
    want_skin = _photo_lab(photo, label["skin_boxes"])
    want_hair = _photo_lab(photo, label["hair_boxes"])
    de_skin = float(np.linalg.norm(drawn_skin - want_skin))
    de_hair = float(np.linalg.norm(drawn_hair - want_hair))
    assert de_skin <= MAX_DE, (
        f"{name}, {style}: the drawn skin is dE {de_skin:.1f} from the photo's"
    )
    assert de_hair <= MAX_DE, (
        f"{name}, {style}: the drawn hair is dE {de_hair:.1f} from the photo's"
    )
    # and not Digi's own colours where the person's differ from them
    digi_skin = srgb_to_lab(np.array([255, 228, 208]) / 255.0)
    if np.linalg.norm(want_skin - digi_skin) > 2 * MAX_DE:
        assert np.linalg.norm(drawn_skin - digi_skin) > MAX_DE


@pytest.mark.parametrize("name", sorted(LABELS))
def test_the_character_wears_the_photos_glasses_and_hair_length(name: str) -> None:
    from engine.likeness.hair import HAIRSTYLES

    label, character = LABELS[name], character_of(name)
    assert character.glasses == label["glasses"], character
    assert character.facial_hair == label["facial_hair"], character
    assert HAIRSTYLES[character.hairstyle].length == label["hair_length"], character
