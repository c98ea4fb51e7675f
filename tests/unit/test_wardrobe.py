"""Outfits from pictures (engine/wardrobe.py): a new label swaps in, the rendered picture
shows the new colours where the outfit is, and the shared bundle is never changed."""

from __future__ import annotations

from collections.abc import Iterator

import moderngl
import numpy as np
import pytest

from engine.assets import AvatarBundle
from engine.render import AvatarRenderer, create_context
from engine.session import Inputs
from engine.wardrobe import DressedBundle, Outfit, WardrobeError, with_items, with_outfit
from tests.conftest import posed

NEON = (255, 0, 220)  # nothing in Digi's own art is this colour
LIME = (60, 255, 0)
SLEEVES = {"shirt": "shirt_casual", "sleeve_l": "sleeve_casual", "sleeve_r": "sleeve_casual"}


def _picture(bundle: AvatarBundle, slot: str, attachment: str) -> np.ndarray:
    atlas = bundle.pictures()
    att = bundle.rig.attachments[bundle.rig.slot_index[slot]][attachment]
    x, y, w, h = atlas.regions[att.path]
    return atlas.image[y : y + h, x : x + w].copy()


def _dyed(rgba: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    out = rgba.copy()
    out[..., :3] = colour
    return out


def _parts(bundle: AvatarBundle, colour=NEON) -> dict[str, tuple[str, np.ndarray]]:
    return {s: (a, _dyed(_picture(bundle, s, a), colour)) for s, a in SLEEVES.items()}


@pytest.fixture(scope="module")
def gl() -> Iterator[moderngl.Context]:
    ctx = create_context()
    yield ctx
    ctx.release()


def _render(gl: moderngl.Context, bundle: AvatarBundle, swaps: dict[str, str]) -> np.ndarray:
    renderer = AvatarRenderer(gl, bundle.rig, bundle.pictures(), size=(192, 192))
    try:
        return renderer.render(posed(bundle, Inputs(swaps=swaps), 0.5, seed=3).pose).copy()
    finally:
        renderer.release()


def _near(px: np.ndarray, colour: tuple[int, int, int], tol: int = 40) -> int:
    """Opaque pixels within `tol` of `colour` (the picture is premultiplied: opaque only)."""
    opaque = px[..., 3] == 255
    close = (np.abs(px[..., :3].astype(int) - colour) <= tol).all(axis=2)
    return int((opaque & close).sum())


def test_new_label_swaps_in_and_shows_its_colours(gl: moderngl.Context, digi: AvatarBundle) -> None:
    dressed = with_outfit(digi, "outfit", "neon", _parts(digi))
    assert isinstance(dressed, DressedBundle)
    assert "neon" in dressed.sprites.categories["outfit"]
    # the default's other slots stay: trousers and shoes are the default (casual) ones
    shown = dressed.sprites.resolve("outfit", "neon")
    assert shown["pants_l"] == "pants_casual" and shown["shoe_r"] == "shoe_casual"
    assert shown["shirt"] == "shirt_casual@outfit/neon"
    plain = _render(gl, dressed, {"outfit": "casual"})
    neon = _render(gl, dressed, {"outfit": "neon"})
    assert _near(plain, NEON) == 0
    assert _near(neon, NEON) > 500, "the neon shirt and sleeves show"
    # only the outfit changed: its pixels differ, the head (top fifth) does not
    assert np.array_equal(plain[:38], neon[:38])
    # the bare bundle draws as before: Digi's own picture of the casual outfit (the larger
    # atlas's mip levels differ a little, so alike, not equal)
    base = _render(gl, digi, {"outfit": "casual"})
    assert np.abs(base.astype(int) - plain).mean() < 1.0
    assert _near(base, NEON) == 0


def test_base_bundle_unchanged_and_keys_differ(digi: AvatarBundle) -> None:
    atlas_before = digi.pictures().image.copy()
    labels_before = {c: dict(v) for c, v in digi.sprites.categories.items()}
    attachments_before = [dict(a) for a in digi.rig.attachments]
    one = with_outfit(digi, "outfit", "neon", _parts(digi))
    other = with_outfit(digi, "outfit", "neon", _parts(digi, LIME))
    both = with_items(
        digi,
        [
            Outfit("outfit", "neon", _parts(digi)),
            Outfit("accessories", "lime_glasses",
                   {"glasses": ("glasses", _dyed(_picture(digi, "glasses", "glasses"), LIME))}),
        ],
    )  # fmt: skip
    assert np.array_equal(digi.pictures().image, atlas_before)
    assert {c: dict(v) for c, v in digi.sprites.categories.items()} == labels_before
    assert [dict(a) for a in digi.rig.attachments] == attachments_before
    assert "neon" not in digi.sprites.categories["outfit"]
    # renderers are shared per key: every dressing has its own
    keys = {digi.key, one.key, other.key, both.key}
    assert len(keys) == 4
    assert "lime_glasses" in both.sprites.categories["accessories"]
    # dressing a dressed bundle keeps the earlier items
    again = with_outfit(
        one, "accessories", "x", {"glasses": ("glasses", _picture(digi, "glasses", "glasses"))}
    )
    assert "neon" in again.sprites.categories["outfit"] and again.key.startswith(one.key)


@pytest.mark.parametrize(
    ("category", "slot", "attachment", "picture", "message"),
    [
        ("hats", "shirt", "shirt_casual", None, 'unknown sprite category "hats"'),
        ("outfit", "cape", "shirt_casual", None, 'no slot "cape"'),
        ("outfit", "shirt", "shirt_gold", None, 'no attachment "shirt_gold"'),
        ("outfit", "shirt", "shirt_casual", np.zeros((8, 8, 4), np.uint8), "fully transparent"),
        ("outfit", "shirt", "shirt_casual", np.zeros((8, 8, 3), np.uint8), "(h, w, 4) uint8"),
    ],
)
def test_refusals_name_the_problem(digi, category, slot, attachment, picture, message) -> None:
    px = picture if picture is not None else np.full((8, 8, 4), 255, np.uint8)
    with pytest.raises(WardrobeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        with_outfit(digi, category, "new", {slot: (attachment, px)})
