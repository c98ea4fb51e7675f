"""A measured hat is worn: Digi's cap in the hat's colour (only the cap recoloured, not the
jacket that shares its teal), as the default accessory, together with glasses when the
person wears both (the library's accessories hold one item: the character gets a label
showing the two)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.likeness.assemble import GLASSES_AND_HAT, assemble
from engine.likeness.character import Character, CharacterError, character_from
from engine.likeness.measure import measure
from engine.likeness.palette import srgb_to_lab
from engine.render import AvatarRenderer
from engine.session import AvatarSession
from tests.photos import PHOTOS

SIZE = 256
RED = "#b8322e"  # no skin, hair or outfit of Digi's is this red
TEAL = "#2f97a0"  # the cap's and the jacket's base


def _draw(gl, character: Character, framing: str = "full") -> np.ndarray:
    bundle = assemble(character)
    r = AvatarRenderer(gl, bundle.rig, bundle.pictures(), (SIZE, SIZE))
    try:
        s = AvatarSession(bundle, seed=3)
        for _ in range(20):
            s.advance(1 / 60)
        return r.render(s.pose, framing).copy()
    finally:
        r.release()


def _near(img: np.ndarray, colour: str, de: float = 6.0) -> np.ndarray:
    want = srgb_to_lab(np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255.0)
    opaque = img[..., 3] == 255
    lab = srgb_to_lab(img[..., :3].reshape(-1, 3) / 255.0).reshape((*img.shape[:2], 3))
    return opaque & (np.linalg.norm(lab - want, axis=-1) < de)


def test_a_hat_is_worn_in_its_colour_and_the_jacket_keeps_its_own(gl) -> None:
    plain = _draw(gl, Character())
    hat = _draw(gl, Character(hat=True, hat_colour=RED))
    top = slice(0, SIZE // 4)  # the head's top in the full-body framing
    assert _near(hat, RED)[top].sum() > 100, "no cap of the hat's colour on the head"
    assert _near(plain, RED)[top].sum() == 0  # (her shoes are red: the head only)
    # the jacket (below the head) keeps Digi's teal, as much of it as without the hat
    body = slice(SIZE // 3, SIZE)
    assert _near(hat, TEAL)[body].sum() == _near(plain, TEAL)[body].sum() > 50


def test_glasses_and_a_hat_are_worn_together() -> None:
    both = assemble(Character(glasses=True, hat=True))
    lib = both.sprites
    assert lib.defaults["accessories"] == GLASSES_AND_HAT
    shown = lib.resolve("accessories", GLASSES_AND_HAT)
    assert shown["glasses"] == "glasses" and shown["hat"] == "hat_cap"
    assert shown["hair_top"] == "hair_top_hat"  # the hair flattened under the cap
    assert assemble(Character(hat=True)).sprites.defaults["accessories"] == "hat"
    assert assemble(Character(glasses=True)).sprites.defaults["accessories"] == "glasses"
    assert assemble(Character()).sprites.defaults["accessories"] == "none"
    # Digi's own library is untouched
    assert GLASSES_AND_HAT not in assemble(Character(hat=True)).sprites.categories["accessories"]


def test_the_hat_fields() -> None:
    assert "hat" not in Character().to_json()  # left out at the default: digests keep
    assert Character(hat=True, hat_colour=RED).to_json()["hat_colour"] == RED
    with pytest.raises(CharacterError, match="hat: true or false"):
        Character(hat="yes")  # type: ignore[arg-type]
    with pytest.raises(CharacterError, match="hat_colour"):
        Character(hat=True, hat_colour="red")


def test_grace_hopper_wears_her_cap_and_the_astronaut_none() -> None:
    grace = character_from(measure(PHOTOS["grace_hopper"]()))
    assert grace.hat and grace.hat_colour is not None and grace.glasses
    assert not character_from(measure(PHOTOS["astronaut"]())).hat
