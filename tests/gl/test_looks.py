"""Render styles (engine/render/looks.py): the GPU's style pass against its numpy reference,
the eye highlights on the irises alone, and what each style does to Digi that a person
would see (an outline, a shaded side, the flat colours kept)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from engine.assets import load_bundle
from engine.render import AvatarRenderer
from engine.render.looks import (
    LOOK_NAMES,
    RENDER_STYLES,
    RenderStyle,
    UnknownLookError,
    numpy_style,
    render_style,
)
from engine.session import AvatarSession

SIZE = 256


@cache
def _digi():
    bundle = load_bundle("digi")
    session = AvatarSession(bundle, seed=3)
    for _ in range(30):
        session.advance(1 / 60)
    return bundle, session.pose


@pytest.fixture(scope="module")
def digi(gl):
    bundle, pose = _digi()
    renderer = AvatarRenderer(gl, bundle.rig, bundle.pictures(), (SIZE, SIZE))
    yield renderer, pose
    renderer.release()


def _gl_rows(img: np.ndarray) -> np.ndarray:
    return img[::-1].astype(np.float64) / 255.0  # render() is top row first


@pytest.mark.parametrize("name", sorted(RENDER_STYLES))
def test_the_style_pass_matches_its_numpy_reference(digi, name: str) -> None:
    renderer, pose = digi
    style = RENDER_STYLES[name]
    # no eye highlights here: the reference is the style pass alone, over the plain drawing
    plain = renderer.render(pose, "bust")
    styled = renderer.render(pose, "bust", style=_no_eyes(style))
    # the pass's input is the plain drawing (the same pixels) and the shape map beside it
    assert np.array_equal(renderer.read_unstyled(), plain[::-1])
    shapes = renderer.read_shapes()
    assert len(np.unique(shapes)) > 5  # a face, hair locks, clothes...
    want = numpy_style(_gl_rows(plain), shapes, style)
    got = _gl_rows(styled)
    err = np.abs(got - want).max(-1)
    # 8-bit texture filtering and float rounding: within a few levels nearly everywhere
    assert np.mean(err > 3 / 255) < 0.003, (name, float(np.mean(err > 3 / 255)))
    assert np.quantile(err, 0.999) < 12 / 255, (name, float(np.quantile(err, 0.999)))
    assert not np.array_equal(styled, plain), f"{name} changed nothing"


def _no_eyes(style: RenderStyle) -> RenderStyle:
    from dataclasses import replace

    return replace(style, eye_highlight="art")


def test_the_reference_is_not_the_identity() -> None:
    """The numpy reference itself draws what a style says: an outline outside a square of
    colour, bands on its side away from the light, its centre's colour kept, no band for a
    feature drawn on it."""
    src = np.zeros((256, 256, 4))
    src[64:192, 64:192] = (0.8, 0.5, 0.3, 1.0)
    shapes = np.zeros((256, 256))
    shapes[64:192, 64:192] = 1 / 255
    style = RENDER_STYLES["cel-shade"]
    out = numpy_style(src, shapes, style)
    assert out[128, 128, :3] == pytest.approx(
        np.clip(_graded(np.array([0.8, 0.5, 0.3]), style), 0, 1), abs=1e-6
    )
    r, _ = style.line_steps(256)
    assert out[128, 64 - r, 3] > 0.99 and out[128, 64 - r, :3].max() < 0.05  # black ink
    assert out[128, 64 - r - 1, 3] == 0.0
    # the light comes from the upper left (GL: y up): the right and the bottom edges shade
    assert out[128, 190, :3].sum() < out[128, 66, :3].sum() - 0.1
    assert out[66, 128, :3].sum() < out[190, 128, :3].sum() - 0.1
    # a feature drawn on it (the same shape, another colour) casts no band; a second shape
    # beside it does
    # (the pixel at row 112, column 98 looks down and right, into the square at 100..110)
    src[100:110, 100:110] = (0.1, 0.1, 0.1, 1.0)
    assert np.allclose(numpy_style(src, shapes, style)[110:115, 94:99], out[110:115, 94:99])
    shapes[100:110, 100:110] = 2 / 255
    assert numpy_style(src, shapes, style)[112, 98, :3].sum() < out[112, 98, :3].sum() - 0.1


def _graded(rgb: np.ndarray, style: RenderStyle) -> np.ndarray:
    from engine.render.looks import LUMA, WARM

    luma = rgb @ LUMA
    return (luma + (rgb - luma) * style.saturation) * (1 + style.temperature * WARM)


@pytest.mark.parametrize("name", sorted(RENDER_STYLES))
def test_eye_highlights_fall_on_the_irises_alone(digi, name: str) -> None:
    renderer, pose = digi
    style = RENDER_STYLES[name]
    without = renderer.render(pose, "face", style=_no_eyes(style))
    with_eyes = renderer.render(pose, "face", style=style)
    changed = np.abs(with_eyes.astype(int) - without.astype(int)).max(-1) > 2
    assert changed.sum() > 40, f"{name}: the eye highlight drew nothing"
    # every changed pixel lies where an iris is drawn (found by hiding the irises)
    bundle, _ = _digi()
    hidden = pose.slot_color.copy()
    for slot in ("iris_l", "iris_r"):
        hidden[bundle.rig.slot_index[slot], 3] = 0.0
    no_iris = renderer.render(_with_colors(pose, hidden), "face", style=_no_eyes(style))
    iris = np.abs(no_iris.astype(int) - without.astype(int)).max(-1) > 0
    # (the style pass shades a pixel by its neighbours' colours: an iris's may reach out
    # as far as the shading does)
    from scipy import ndimage

    reach = round(max(style.shade_steps(SIZE)) + style.thin(SIZE)) + 1
    near_iris = ndimage.binary_dilation(iris, iterations=reach)
    assert changed[~near_iris].sum() == 0, f"{name}: highlight pixels away from the irises"
    assert changed[iris].sum() > 0.8 * changed.sum()


def _with_colors(pose, colors: np.ndarray):
    from dataclasses import replace

    try:
        return replace(pose, slot_color=colors)
    except TypeError:  # a pose that is not a dataclass: a copy with the colours set
        import copy

        p = copy.copy(pose)
        p.slot_color = colors
        return p


def test_styles_keep_the_flat_colours_and_add_an_outline(digi) -> None:
    renderer, pose = digi
    plain = renderer.render(pose, "full")
    for name, style in RENDER_STYLES.items():
        styled = renderer.render(pose, "full", style=style)
        # an outline: pixels transparent before are ink now, all around the figure
        grown = (styled[..., 3] > 200) & (plain[..., 3] < 50)
        assert grown.sum() > 150, f"{name}: no outline ({grown.sum()} pixels)"
        # the figure's colours stay near the art's (most pixels within a small grading)
        both = (plain[..., 3] == 255) & (styled[..., 3] == 255)
        diff = np.abs(styled[both][:, :3].astype(int) - plain[both][:, :3].astype(int)).max(-1)
        assert np.median(diff) < 25, f"{name}: median change {np.median(diff)}"


def test_style_names() -> None:
    assert render_style("none") is None and render_style(None) is None
    assert LOOK_NAMES == ("none", "kingdom-hearts", "dark-cloud", "ghibli", "cel-shade")
    with pytest.raises(UnknownLookError, match=r'unknown style "sepia".*ghibli'):
        render_style("sepia")
