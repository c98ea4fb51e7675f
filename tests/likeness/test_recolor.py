"""Digi recoloured (engine/likeness/recolor.py): the SVG text swap, the recoloured atlas
(colour changes, alpha and hulls do not; pictures without a recoloured tone are untouched;
the texels match rasterizing the recoloured SVG), and Digi rendered by the GL renderer in a
dark skin and black hair: the cheek and the hair come out in the measured colours, and the
shading stays darker than the skin and not grey for skins from light to very dark."""

from __future__ import annotations

import re
from collections.abc import Iterator

import moderngl
import numpy as np
import pytest

from engine.assets import AvatarBundle, load_base_atlas
from engine.atlas import Atlas
from engine.hulls import covers
from engine.likeness.art import ArtError, picture_size, rasterize_svg, svg_viewbox
from engine.likeness.palette import OUTLINE, Palette, delta_e2000, palette, srgb_to_lab
from engine.likeness.recolor import (
    ART_DIR,
    RecolorError,
    paint_colors,
    recolor_atlas,
    recolor_svg,
)
from engine.render import AvatarRenderer, create_context
from engine.session import AvatarSession, Inputs

DARK = palette(skin=(92, 58, 40), hair=(25, 20, 20), iris=(60, 40, 30), brows=(25, 20, 20))


@pytest.fixture(scope="module")
def base() -> Atlas:
    return load_base_atlas("digi")


# ---------------------------------------------------------------------------------------
# the SVG text

_TOKEN = re.compile(r"#[0-9a-fA-F]{6}\b")


def test_recolor_svg_swaps_the_palettes_colours_and_nothing_else() -> None:
    text = (ART_DIR / "head.svg").read_text(encoding="utf-8")
    out = recolor_svg(text, DARK)
    assert out != text
    # the same text between the colours; each colour the palette's (or kept)
    assert _TOKEN.split(out) == _TOKEN.split(text)
    for old, new in zip(_TOKEN.findall(text), _TOKEN.findall(out), strict=True):
        assert new == DARK.get(old.lower(), old)
    assert "stroke:#2b1d2a" in out and 'xlink:href="#face"' in out  # outline, references
    assert ".skin{fill:#5c3a28}" in out


def test_recolor_svg_handles_attributes_inline_styles_and_case() -> None:
    text = (
        '<svg viewBox="0 0 4 4"><path fill="#C4612F" d="M0 0"/>'
        '<path style="fill:#c4612f;stroke:#2B1D2A" d="M0 0"/><use xlink:href="#c4612f"/></svg>'
    )
    hair = DARK["#c4612f"]
    assert recolor_svg(text, DARK) == (
        f'<svg viewBox="0 0 4 4"><path fill="{hair}" d="M0 0"/>'
        f'<path style="fill:{hair};stroke:#2B1D2A" d="M0 0"/><use xlink:href="#c4612f"/></svg>'
    )
    assert recolor_svg(text, Palette()) == text
    with pytest.raises(RecolorError, match='paints with "red"'):
        paint_colors('<svg><path fill="red"/></svg>')


# ---------------------------------------------------------------------------------------
# the atlas


def _premultiplied(img: np.ndarray) -> np.ndarray:
    return img[..., :3].astype(np.int32) * img[..., 3:4] // 255


def test_recolouring_changes_colour_only_and_matches_the_recoloured_art(base: Atlas) -> None:
    got = recolor_atlas(DARK)
    assert got.regions == base.regions
    assert got.image.shape == base.image.shape and not got.image.flags.writeable
    np.testing.assert_array_equal(got.image[..., 3], base.image[..., 3])
    redrawn = []
    for svg in sorted(ART_DIR.glob("*.svg")):
        path = f"digi/{svg.stem}"
        x, y, w, h = base.regions[path]
        before, after = base.image[y : y + h, x : x + w], got.image[y : y + h, x : x + w]
        assert covers(got.hull(path), after[..., 3]), path
        text = svg.read_text(encoding="utf-8")
        original = rasterize_svg(text, (w, h))
        np.testing.assert_array_equal(original, before, err_msg=f"{path}: the atlas is stale")
        recoloured = rasterize_svg(recolor_svg(text, DARK), (w, h))
        if np.array_equal(recoloured, original):
            # uses none of the recoloured tones (hats and scarves name hair classes they never
            # draw with): byte for byte the committed picture
            np.testing.assert_array_equal(after, before, err_msg=path)
            continue
        redrawn.append(svg.stem)
        # what cairo draws with the new colours, to a level or two of rounding
        diff = np.abs(_premultiplied(after) - _premultiplied(recoloured))
        assert diff.max() <= 3, (path, diff.max())
        assert (diff <= 1).mean() > 0.99, path
    assert {"head", "hair_back", "hair_top", "iris_l", "brow_r", "lid_half_l", "nose"} <= set(
        redrawn
    )
    assert "shirt_casual" not in redrawn and "hat_cap" not in redrawn
    assert len(redrawn) >= 35


def test_digis_own_colours_give_back_the_committed_atlas(base: Atlas) -> None:
    assert np.array_equal(recolor_atlas(Palette()).image, base.image)
    own = palette(skin="#ffe4d0", hair="#c4612f", iris="#2aa4d8", brows="#6a2b1b")
    assert np.array_equal(recolor_atlas(own).image, base.image)
    assert recolor_atlas(DARK) is recolor_atlas(DARK)  # kept for the next load


def test_a_base_atlas_that_is_not_digis_art_is_refused(base: Atlas) -> None:
    image = np.array(base.image, copy=True)
    x, y, w, h = base.regions["digi/head"]
    image[y + h // 2, x + w // 2, 3] = 17
    with pytest.raises(RecolorError, match=r'"digi/head" is not content/art/digi/head\.svg'):
        recolor_atlas(DARK, Atlas(image, dict(base.regions)))
    # an atlas lacking some of Digi's pictures: the others are recoloured, nothing else
    regions = {k: v for k, v in base.regions.items() if k != "digi/head"}
    partial = recolor_atlas(DARK, Atlas(base.image, regions))
    x, y, w, h = base.regions["digi/head"]
    np.testing.assert_array_equal(
        partial.image[y : y + h, x : x + w], base.image[y : y + h, x : x + w]
    )
    with pytest.raises(TypeError, match="Palette"):
        recolor_atlas({"#ffe4d0": "#000000"})  # type: ignore[arg-type]


def test_other_art_packed_in_its_own_atlas_is_recoloured_the_same_way() -> None:
    """Art drawn with Digi's hair classes (the hairstyles) in an atlas of its own."""
    lock = (ART_DIR / "hair_front_2.svg").read_text(encoding="utf-8")
    blob = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 20 10">'
        '<ellipse cx="10" cy="5" rx="8" ry="3.5" fill="#C4612F" stroke="#2b1d2a"/>'
        '<circle cx="7" cy="4" r="1.5" style="fill:#fbd39c"/></svg>'
    )
    sizes = {"hair/lock": (110, 185), "hair/blob": (80, 40)}
    image = np.zeros((190, 200, 4), np.uint8)
    regions = {"hair/lock": (0, 0, 110, 185), "hair/blob": (115, 3, 80, 40)}
    for path, text in (("hair/lock", lock), ("hair/blob", blob)):
        x, y, w, h = regions[path]
        image[y : y + h, x : x + w] = rasterize_svg(text, sizes[path])
    art = {"hair/lock": lock, "hair/blob": blob}
    got = recolor_atlas(DARK, Atlas(image, regions), art=art)
    np.testing.assert_array_equal(got.image[..., 3], image[..., 3])
    for path, text in art.items():
        x, y, w, h = regions[path]
        want = rasterize_svg(recolor_svg(text, DARK), sizes[path])
        after = got.image[y : y + h, x : x + w]
        assert not np.array_equal(after, image[y : y + h, x : x + w]), path
        assert np.abs(_premultiplied(after) - _premultiplied(want)).max() <= 3, path
    with pytest.raises(ValueError, match="needs the atlas"):
        recolor_atlas(DARK, art=art)
    with pytest.raises(RecolorError, match='no region "hair/fringe"'):
        recolor_atlas(DARK, Atlas(image, regions), art={"hair/fringe": blob})


def test_the_rasterizer_names_bad_input() -> None:
    head = (ART_DIR / "head.svg").read_text(encoding="utf-8")
    assert svg_viewbox(head) == (-84.0, 56.0, 168.0, 166.0)
    assert picture_size(svg_viewbox(head), 3.0) == (504, 498)
    with pytest.raises(ArtError, match="no viewBox"):
        svg_viewbox("<svg></svg>")
    with pytest.raises(ArtError, match="no area"):
        svg_viewbox('<svg viewBox="0 0 0 5"></svg>')
    with pytest.raises(ArtError, match="two positive integers"):
        rasterize_svg(head, (0, 10))
    with pytest.raises(ArtError, match="does not parse"):
        rasterize_svg('<svg viewBox="0 0 1 1"><path</svg>', (4, 4))


def test_the_outline_is_never_recoloured() -> None:
    assert OUTLINE not in DARK
    with pytest.raises(ValueError, match="outline"):
        Palette({OUTLINE: "#ffffff"})


# ---------------------------------------------------------------------------------------
# rendered

SIZE = 256
# tones painted in marker colours show where each one lands on screen at the test pose
MARKERS = {"#ffe4d0": (0, 255, 0), "#f3b7a0": (0, 0, 255), "#c4612f": (255, 0, 255)}


@pytest.fixture(scope="module")
def gl() -> Iterator[moderngl.Context]:
    ctx = create_context()
    yield ctx
    ctx.release()


def _render(gl: moderngl.Context, digi: AvatarBundle, atlas: Atlas) -> np.ndarray:
    """Digi's first frame, framing "face", as straight RGB where fully opaque."""
    r = AvatarRenderer(gl, digi.rig, atlas, size=(SIZE, SIZE))
    try:
        s = AvatarSession(digi, seed=5)
        s.step(0.0, Inputs())
        return r.render(s.pose, "face").copy()
    finally:
        r.release()


@pytest.fixture(scope="module")
def regions(gl: moderngl.Context, digi: AvatarBundle) -> dict[str, np.ndarray]:
    """Where the lit skin, the skin's shade and the hair's base tone show, as pixel masks
    (interior pixels: one pixel in from each region's edge)."""
    from scipy import ndimage

    marked = Palette({k: "#{:02x}{:02x}{:02x}".format(*v) for k, v in MARKERS.items()})
    img = _render(gl, digi, recolor_atlas(marked))
    out = {}
    for name, tone in (("skin", "#ffe4d0"), ("shade", "#f3b7a0"), ("hair", "#c4612f")):
        hit = (img[..., 3] == 255) & (np.abs(img[..., :3].astype(int) - MARKERS[tone]).max(-1) < 8)
        out[name] = ndimage.binary_erosion(hit)
    # the cheek: the lit skin below the eyes on the near (screen-left) side, the neck left out
    rows, cols = np.nonzero(out["skin"])
    cheek = out["skin"].copy()
    cheek[: int(np.percentile(rows, 55))] = False
    cheek[:, int(np.median(cols)) :] = False
    labels, n = ndimage.label(cheek)
    out["cheek"] = labels == 1 + np.argmax(ndimage.sum(cheek, labels, range(1, n + 1)))
    for name, mask in out.items():
        assert mask.sum() > 40, f"{name}: only {mask.sum()} pixels at the test pose"
    return out


def _colour(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The region's median colour in CIELAB."""
    return srgb_to_lab(np.median(img[mask][:, :3], axis=0) / 255.0)


def _chroma(lab: np.ndarray) -> float:
    return float(np.hypot(lab[1], lab[2]))


def test_rendered_dark_skin_and_black_hair_are_the_measured_colours(
    gl: moderngl.Context, digi: AvatarBundle, regions: dict[str, np.ndarray]
) -> None:
    img = _render(gl, digi, recolor_atlas(DARK))
    cheek, hair = _colour(img, regions["cheek"]), _colour(img, regions["hair"])
    assert float(delta_e2000(cheek, srgb_to_lab(np.array([92, 58, 40]) / 255))) < 10
    assert float(delta_e2000(hair, srgb_to_lab(np.array([25, 20, 20]) / 255))) < 10
    # and Digi's own colours are gone from the face
    digi_skin = srgb_to_lab(np.array([255, 228, 208]) / 255)
    assert float(delta_e2000(cheek, digi_skin)) > 40


SKINS = [(255, 224, 206), (234, 190, 165), (198, 140, 100), (141, 85, 36), (92, 58, 40),
         (60, 38, 28)]  # fmt: skip


@pytest.mark.parametrize("skin", SKINS, ids=lambda c: "#{:02x}{:02x}{:02x}".format(*c))
def test_rendered_shading_is_darker_than_the_skin_and_not_grey(
    gl: moderngl.Context, digi: AvatarBundle, regions: dict[str, np.ndarray], skin
) -> None:
    img = _render(gl, digi, recolor_atlas(palette(skin=skin)))
    cheek, shade = _colour(img, regions["cheek"]), _colour(img, regions["shade"])
    assert float(delta_e2000(cheek, srgb_to_lab(np.array(skin) / 255))) < 10
    assert shade[0] < cheek[0] - 3, (cheek, shade)  # darker, visibly (L*)
    assert shade[0] > cheek[0] - 25, (cheek, shade)  # but a shade, not a hole
    # not grey: chroma near the skin's (a very dark shade holds less: at least as much per
    # unit of lightness, then), hue in the skin's family
    assert _chroma(shade) >= min(0.9 * _chroma(cheek), 10.0), (cheek, shade)
    assert _chroma(shade) / shade[0] >= _chroma(cheek) / cheek[0], (cheek, shade)
    hue = np.degrees(np.arctan2(shade[2], shade[1]) - np.arctan2(cheek[2], cheek[1]))
    assert abs((hue + 180) % 360 - 180) < 35, (cheek, shade)
