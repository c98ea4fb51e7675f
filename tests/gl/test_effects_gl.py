"""An effect's overlay drawn on the GPU (engine/render/overlay.py) equals the numpy
reference (engine/effects.py composite) within a level or two, for every blend mode and
placement, over a real render of Digi; and the built-ins look like something."""

from __future__ import annotations

import moderngl
import numpy as np
import pytest

from engine.assets import ATLASES, AvatarBundle
from engine.effects import builtin_effect, composite
from engine.render import AvatarRenderer, load_atlas
from engine.render.overlay import OverlayPass
from engine.session import Inputs
from tests.conftest import posed


@pytest.fixture(scope="module")
def digi_renderer(gl: moderngl.Context, digi: AvatarBundle) -> AvatarRenderer:
    r = AvatarRenderer(gl, digi.rig, load_atlas(ATLASES / "digi"), size=(200, 160))
    yield r
    r.release()


def _read(renderer: AvatarRenderer) -> np.ndarray:
    w, h = renderer.size
    data = renderer.output_texture.read(alignment=1)
    return np.frombuffer(data, np.uint8).reshape(h, w, 4)[::-1].copy()


@pytest.mark.parametrize(
    ("name", "t"), [("sparkles", 0.3), ("neon-glow", 0.55), ("snowfall", 1.25)]
)
def test_gpu_overlay_matches_numpy(
    gl: moderngl.Context, digi: AvatarBundle, digi_renderer: AvatarRenderer, name: str, t: float
) -> None:
    effect = builtin_effect(name)
    pose = posed(digi, Inputs(), 0.5, seed=2).pose
    before = digi_renderer.render(pose).copy()
    bounds = digi_renderer.drawn_bounds
    assert bounds is not None
    h = digi_renderer.size[1]
    avatar = (bounds[0], h - bounds[3], bounds[2], h - bounds[1])
    expected = composite(before, effect, t, avatar)
    overlay = OverlayPass(gl, effect)
    try:
        overlay.draw(digi_renderer, t)
    finally:
        overlay.release()
    got = _read(digi_renderer)
    assert not np.array_equal(got, before), "the overlay shows"
    diff = np.abs(got.astype(int) - expected)
    assert diff.max() <= 3, f"{name}: GPU and numpy differ by up to {diff.max()}"
    assert diff.mean() < 0.2


@pytest.mark.parametrize("blend", ["normal", "add", "screen"])
def test_blend_modes_match(gl: moderngl.Context, digi: AvatarBundle, digi_renderer, blend) -> None:
    from dataclasses import replace

    base = builtin_effect("neon-glow")
    effect = replace(
        base, overlay=replace(base.overlay, blend=blend, opacity=0.6, placement="full")
    )
    before = digi_renderer.render(posed(digi, Inputs(), 0.2, seed=1).pose).copy()
    expected = composite(before, effect, 0.0)
    overlay = OverlayPass(gl, effect)
    try:
        overlay.draw(digi_renderer, 0.0)
    finally:
        overlay.release()
    assert digi_renderer.drawn_bounds == (0, 0, *digi_renderer.size), "the converter reads it all"
    diff = np.abs(_read(digi_renderer).astype(int) - expected)
    assert diff.max() <= 3 and diff.mean() < 0.2
