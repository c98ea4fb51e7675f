"""Sprite libraries: resolve, swap at run time, variant libraries, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.assets import SPRITES, AvatarBundle, load_bundle
from engine.session import AvatarSession, Inputs
from engine.sprites import SpriteLibraryError, UnknownSpriteError, load_sprite_library

DT = 1 / 60


def test_resolve_names_every_slot_of_the_category(testrig: AvatarBundle) -> None:
    lib = testrig.sprites
    assert lib is not None
    assert lib.resolve("hands", "fist") == {"hand_l": "hand_fist", "hand_r": "hand_fist"}
    assert lib.resolve("tool", "none") == {"tool": None}  # hides what other labels show
    assert lib.resolve("tool", "sword") == {"tool": "sword"}
    with pytest.raises(UnknownSpriteError, match='unknown label "mitten" in category "hands"'):
        lib.resolve("hands", "mitten")
    with pytest.raises(UnknownSpriteError, match='unknown sprite category "shoes"'):
        lib.resolve("shoes", "boots")


def test_defaults_apply_and_swaps_show_on_the_next_frame(testrig: AvatarBundle) -> None:
    s = AvatarSession(testrig, seed=1)
    slot = testrig.rig.slot_index
    s.step(DT)
    assert s.pose.slot_attachment[slot["tool"]] is None
    assert s.pose.slot_attachment[slot["face"]] == "face"
    s.step(DT, Inputs(swaps={"tool": "sword", "hands": "open"}))
    assert s.pose.slot_attachment[slot["tool"]] == "sword"
    assert s.pose.slot_attachment[slot["hand_l"]] == "hand_open"
    assert s.sprites is not None and s.sprites.chosen["tool"] == "sword"
    s.step(DT, Inputs(swaps={"tool": "none"}))
    assert s.pose.slot_attachment[slot["tool"]] is None


def test_animations_still_key_over_a_swap(testrig: AvatarBundle) -> None:
    s = AvatarSession(testrig, seed=1)
    s.step(DT, Inputs(swaps={"hands": "fist"}, transitions=["wave"]))
    for _ in range(40):
        s.step(DT)
    hand_r = testrig.rig.slot_index["hand_r"]
    assert s.pose.slot_attachment[hand_r] == "hand_open"  # the wave keys an open hand
    assert s.pose.slot_attachment[testrig.rig.slot_index["hand_l"]] == "hand_fist"


def test_a_variant_library_overrides_label_by_label() -> None:
    bundle = load_bundle("testrig", sprites="festival")
    lib = bundle.sprites
    assert lib is not None and lib.name == "festival"
    assert lib.resolve("expression", "smile") == {"face": "face_closed"}  # overridden
    assert lib.resolve("expression", "sleepy") == {"face": "face_closed"}  # inherited
    assert lib.resolve("hands", "point")["hand_l"] == "hand_point"  # added
    assert lib.defaults["expression"] == "smile" and lib.defaults["tool"] == "none"


def test_bad_libraries_name_the_path(tmp_path: Path, testrig: AvatarBundle) -> None:
    base = json.loads((SPRITES / "testrig" / "base.json").read_text())
    cases = [
        (lambda d: d["categories"]["hands"]["fist"].update(hand_l="glove"), 'categories.hands.fist.hand_l: unknown attachment "glove" for slot "hand_l"'),
        (lambda d: d["categories"]["hands"]["fist"].update(paw="hand"), 'categories.hands.fist.paw: unknown slot "paw"'),
        (lambda d: d["defaults"].update(hands="mitten"), 'defaults.hands: unknown label "mitten" in category "hands"'),
        (lambda d: d.update(rig="digi"), 'rig: library is for rig "digi", not "testrig"'),
        (lambda d: d.update(extends="x"), 'extends: "extends" makes a cycle through "x"'),
    ]  # fmt: skip
    for mutate, expected in cases:
        data = json.loads(json.dumps(base))
        mutate(data)
        path = tmp_path / "x.json"
        path.write_text(json.dumps(data))
        with pytest.raises(SpriteLibraryError) as e:
            load_sprite_library(path, testrig.rig)
        assert str(e.value) == f"{path}: {expected}"
