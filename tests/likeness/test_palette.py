"""Perceptual colour (engine/likeness/palette.py): the conversions against an independent
implementation (scikit-image) and published CIEDE2000 pairs, and the material ramps over
many measured colours: the base maps exactly, shadows are darker and lights lighter, hues
turn the way Digi's do, a dark skin's shading is not grey, and Digi's own colours give back
Digi's own ramps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from skimage.color import deltaE_ciede2000, rgb2lab

from engine.likeness.palette import (
    LIGHT_POLE,
    OUTLINE,
    RAMPS,
    SHADOW_POLE,
    Palette,
    delta_e,
    delta_e2000,
    gamut_map,
    hex_of,
    in_gamut,
    oklab_to_oklch,
    oklab_to_srgb,
    oklch_of,
    oklch_to_oklab,
    palette,
    ramp,
    rgb,
    srgb_to_lab,
    srgb_to_oklab,
)

# ---------------------------------------------------------------------------------------
# conversions


def test_lab_and_ciede2000_agree_with_scikit_image() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.random((500, 3)), rng.random((500, 3))
    ours_a, ours_b = srgb_to_lab(a), srgb_to_lab(b)
    np.testing.assert_allclose(ours_a, rgb2lab(a[None])[0], atol=0.02)
    ref = deltaE_ciede2000(rgb2lab(a[None])[0], rgb2lab(b[None])[0])
    np.testing.assert_allclose(delta_e2000(ours_a, ours_b), ref, atol=0.01)


# Sharma, Wu & Dalal (2005), table 1: pairs 1, 7, 17, 25 and their CIEDE2000
SHARMA = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
]


@pytest.mark.parametrize(("lab1", "lab2", "expected"), SHARMA)
def test_ciede2000_matches_published_pairs(lab1, lab2, expected) -> None:
    assert float(delta_e2000(np.array(lab1), np.array(lab2))) == pytest.approx(expected, abs=1e-4)


@given(st.tuples(*[st.integers(0, 255)] * 3))
def test_oklab_round_trips_and_orders_lightness(c: tuple[int, int, int]) -> None:
    srgb = np.array(c, float) / 255
    back = oklab_to_srgb(oklch_to_oklab(oklab_to_oklch(srgb_to_oklab(srgb))))
    np.testing.assert_allclose(back, srgb, atol=1e-6)
    grey = np.array([c[1]] * 3, float) / 255  # the green channel's grey
    assert abs(srgb_to_oklab(grey)[1]) < 1e-6 and abs(srgb_to_oklab(grey)[2]) < 1e-6


@given(
    st.floats(0.0, 1.0), st.floats(0.0, 0.4), st.floats(0.0, 360.0, exclude_max=True)
)  # fmt: skip
def test_gamut_map_lowers_chroma_only_and_as_little_as_needed(L, C, h) -> None:
    lch = np.array([L, C, h])
    out = gamut_map(lch)
    assert in_gamut(oklch_to_oklab(out), eps=1e-5)
    assert out[0] == L and out[2] == h and out[1] <= C
    if in_gamut(oklch_to_oklab(lch)):
        assert out[1] == C
    else:  # a little more chroma would leave the gamut: nothing was given away
        assert not in_gamut(oklch_to_oklab(np.array([L, out[1] + 2e-3, h])), eps=0)


def test_colour_values_are_checked() -> None:
    assert rgb("#C4612F") == (196, 97, 47) and hex_of((196, 97, 47)) == "#c4612f"
    for bad in ("c4612f", "#c4612", "#gg0000", (256, 0, 0), (1, 2), (1.5, 2, 3), (True, 0, 0), 7):
        with pytest.raises(ValueError, match="colour"):
            rgb(bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# ramps


@pytest.mark.parametrize("material", list(RAMPS))
def test_digis_own_bases_give_back_digis_ramps(material: str) -> None:
    r = RAMPS[material]
    got = ramp(material, r.base)
    assert set(got) == set(r.tones)
    for old, new in got.items():
        assert delta_e(old, new) < 2.0, (old, new)


def _turn(tone: str, base: str) -> float:
    return (oklch_of(tone)[2] - oklch_of(base)[2] + 180) % 360 - 180


def _lch_colour(L: float, C: float, h: float) -> tuple[int, int, int] | None:
    srgb = oklab_to_srgb(oklch_to_oklab(np.array([L, C, h])))
    if (srgb < 0).any() or (srgb > 1).any():
        return None
    r, g, b = np.rint(srgb * 255).astype(int)
    return int(r), int(g), int(b)


@st.composite
def skins(draw: st.DrawFn) -> tuple[int, int, int]:
    """Skins from very dark to very light, reddish to olive (real skins' chroma grows with
    their lightness)."""
    L = draw(st.floats(0.25, 0.96))
    c = _lch_colour(L, draw(st.floats(0.02, min(0.13, 0.04 + 0.1 * L))), draw(st.floats(35, 85)))
    assume(c is not None)
    return c  # type: ignore[return-value]


# hair: black, grey, blond, brown, red and dyed blue/green/pink/purple
hairs = st.one_of(
    st.builds(_lch_colour, st.floats(0.12, 0.3), st.floats(0.0, 0.02), st.floats(0, 359)),
    st.builds(_lch_colour, st.floats(0.3, 0.95), st.floats(0.0, 0.015), st.floats(0, 359)),
    st.builds(_lch_colour, st.floats(0.7, 0.92), st.floats(0.04, 0.12), st.floats(70, 100)),
    st.builds(_lch_colour, st.floats(0.25, 0.6), st.floats(0.03, 0.1), st.floats(40, 70)),
    st.builds(_lch_colour, st.floats(0.4, 0.65), st.floats(0.1, 0.18), st.floats(25, 50)),
    st.builds(_lch_colour, st.floats(0.3, 0.8), st.floats(0.05, 0.2), st.floats(0, 359)),
).filter(lambda c: c is not None)


def _check_ramp(material: str, base: tuple[int, int, int]) -> dict[str, str]:
    r = RAMPS[material]
    got = ramp(material, base)
    assert got[r.base] == hex_of(base)  # the measured colour itself
    b_new, b_old = oklch_of(base), oklch_of(r.base)
    for old, new in got.items():
        if old == r.base:
            continue
        o, n = oklch_of(old), oklch_of(new)
        if o[0] < b_old[0]:
            assert n[0] < b_new[0] or b_new[0] < 0.02, (old, new, "a shadow must be darker")
        elif b_new[0] < 0.985:
            assert n[0] > b_new[0], (old, new, "a light must be lighter")
        # the hue turns as far as Digi's tone turns from its base, towards red for shadows
        # and yellow for lights, as Digi's do (where there is a hue: near black, 8-bit levels
        # leave none to speak of)
        if n[1] > 0.03 and b_new[1] > 0.03 and n[0] > 0.2:
            turn, want = _turn(new, hex_of(base)), _turn(old, r.base)
            pole = SHADOW_POLE if o[0] < b_old[0] else LIGHT_POLE
            gap = (pole - b_new[2] + 180) % 360 - 180
            assert abs(turn) <= abs(want) + 8, (old, new, turn, want)
            assert abs(turn) < 8 or np.sign(turn) == np.sign(gap), (old, new, turn, gap)
    return got


@settings(max_examples=150, deadline=None)
@given(skins())
def test_skin_ramps_keep_digis_relationships(skin: tuple[int, int, int]) -> None:
    got = _check_ramp("skin", skin)
    base = oklch_of(skin)
    for shade in ("#f3b7a0", "#e59a84"):  # the face's and body's shading
        s = oklch_of(got[shade])
        # visible, but a light skin's shading stays light
        assert delta_e(got[shade], skin) > 4.0, (skin, shade, got[shade])
        assert s[0] > base[0] - 0.2
        # not grey: at least the base's saturation (chroma per lightness), which Digi's
        # shading raises
        assert s[1] / s[0] >= 0.9 * base[1] / base[0], (skin, shade, got[shade])
        assert s[1] >= min(0.025, 0.6 * base[1]), (skin, shade, got[shade])


@settings(max_examples=150, deadline=None)
@given(hairs)
def test_hair_ramps_keep_visible_bands_and_highlights(hair: tuple[int, int, int]) -> None:
    got = _check_ramp("hair", hair)
    base = oklch_of(hair)
    if base[0] > 0.25:  # black hair's shadows are black; lighter hair shows shade bands
        assert delta_e(got["#8b3a22"], hair) > 6.0, (hair, got)
    if base[0] < 0.85:  # and every hair but white keeps a visible highlight and sheen
        assert delta_e(got["#ec9656"], hair) > 4.0, (hair, got)
        assert oklch_of(got["#fbd39c"])[0] > oklch_of(got["#ec9656"])[0]


@pytest.mark.parametrize(
    ("skin", "floor"),
    [((141, 85, 36), 0.06), ((92, 58, 40), 0.04), ((60, 38, 28), 0.03), ((45, 30, 25), 0.018)],
)
def test_dark_skin_gets_dark_saturated_shading(skin, floor) -> None:
    got = ramp("skin", skin)
    base = oklch_of(skin)
    for shade in ("#f3b7a0", "#e59a84", "#eaa28d"):
        s = oklch_of(got[shade])
        assert base[0] - 0.2 < s[0] < base[0] - 0.04, (shade, got[shade])
        # chroma above a floor, and more saturated than the base, as Digi's shading is
        assert s[1] >= floor, (shade, got[shade], s)
        assert s[1] / s[0] > base[1] / base[0], (shade, got[shade], s)


def test_black_hair_has_visible_highlights_and_blond_visible_shade() -> None:
    black = ramp("hair", (25, 20, 20))
    assert oklch_of(black["#ec9656"])[0] - oklch_of((25, 20, 20))[0] > 0.15
    assert oklch_of(black["#fbd39c"])[0] - oklch_of((25, 20, 20))[0] > 0.3
    blond = ramp("hair", (230, 200, 130))
    assert delta_e(blond["#8b3a22"], (230, 200, 130)) > 10
    assert delta_e(blond["#6b2818"], (230, 200, 130)) > 15


def test_a_measured_highlight_rebases_the_lights() -> None:
    got = ramp("hair", (90, 60, 40), highlight=(200, 150, 90))
    assert got["#ec9656"] == "#c8965a"
    assert oklch_of(got["#fbd39c"])[0] > oklch_of("#c8965a")[0]
    assert got["#8b3a22"] == ramp("hair", (90, 60, 40))["#8b3a22"]  # shadows from the base
    # a "highlight" darker than the base is a mis-measurement: the lights come from the base
    assert ramp("hair", (90, 60, 40), highlight=(40, 30, 20)) == ramp("hair", (90, 60, 40))
    with pytest.raises(ValueError, match="iris ramp takes no highlight"):
        ramp("iris", (90, 60, 40), highlight=(200, 150, 90))


def test_palette_gathers_the_materials_and_leaves_the_outline() -> None:
    p = palette(skin=(92, 58, 40), hair=(25, 20, 20), iris=(60, 40, 30), brows=(30, 20, 20))
    assert set(p) == {t for r in RAMPS.values() for t in r.tones}
    assert OUTLINE not in p
    assert p["#ffe4d0"] == "#5c3a28" and p["#6a2b1b"] == "#1e1414"
    assert p == palette(skin=(92, 58, 40), hair=(25, 20, 20), iris=(60, 40, 30), brows=(30, 20, 20))
    assert hash(p) == hash(Palette(dict(p)))
    only_hair = palette(hair="#191414")
    assert set(only_hair) == set(RAMPS["hair"].tones)
    assert Palette().changed == {} and palette(skin="#ffe4d0").changed == {}
    with pytest.raises(TypeError):
        p["#ffe4d0"] = "#000000"  # type: ignore[index]


def test_bad_input_names_what_is_wrong() -> None:
    with pytest.raises(ValueError, match='unknown material "teeth"'):
        ramp("teeth", (1, 2, 3))
    with pytest.raises(ValueError, match="hair_highlight needs a hair colour"):
        palette(hair_highlight=(200, 150, 90))
    with pytest.raises(ValueError, match="outline"):
        Palette({OUTLINE: "#000000"})
    with pytest.raises(ValueError, match="colour"):
        palette(skin=(300, 0, 0))


@settings(max_examples=60, deadline=None)
@given(skins(), hairs)
def test_palette_is_all_in_gamut_hex(skin, hair) -> None:
    assume(skin != hair)
    p = palette(skin=skin, hair=hair)
    for new in p.values():
        assert rgb(new)  # parses as #rrggbb: every tone was gamut-mapped, not left outside
