"""Scenes drawn (engine/render/scene.py through the renderer and the video converter):
where the avatar stands, how large, mirrored, at each output size, over a colour or a
picture, in both video layouts; pixels checked, and PNGs written for a look."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import moderngl
import numpy as np
import pytest
from PIL import Image

from engine.assets import ATLASES, AvatarBundle
from engine.kernels.yuv import to_yuv420
from engine.render import AvatarRenderer, load_atlas
from engine.render.scene import SIZES, Scene, cover
from engine.render.video import VideoConverter
from engine.session import Inputs
from tests.conftest import posed

LOOK = Path(os.environ.get("DIGIGAMI_LOOK_DIR", "/tmp/digigami-scene"))


@pytest.fixture(scope="module")
def views(gl: moderngl.Context, digi: AvatarBundle) -> Iterator[dict]:
    made: dict[tuple[int, int], AvatarRenderer] = {}

    def get(size: tuple[int, int]) -> AvatarRenderer:
        if size not in made:
            made[size] = AvatarRenderer(gl, digi.rig, load_atlas(ATLASES / "digi"), size=size)
        return made[size]

    yield get  # type: ignore[misc]
    for r in made.values():
        r.release()


@pytest.fixture(scope="module")
def pose(digi: AvatarBundle):
    return posed(digi, Inputs(), 0.5, seed=3).pose


def _draw(renderer: AvatarRenderer, pose, scene: Scene) -> np.ndarray:
    w, h = renderer.size
    return renderer.render(pose, scene.place(renderer.framing("full"), w, h))


def _box(rgba: np.ndarray) -> tuple[float, float, float, float]:
    """The avatar's alpha box (x0, y0, x1, y1) in pixels, top row first."""
    ys, xs = np.nonzero(rgba[..., 3] > 32)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def _centre(rgba: np.ndarray) -> tuple[float, float]:
    x0, y0, x1, y1 = _box(rgba)
    return (x0 + x1) / 2, (y0 + y1) / 2


def test_position_moves_the_avatar_by_fractions_of_the_frame(views, pose) -> None:
    for w, h in [(512, 512), (1280, 720)]:
        r = views((w, h))
        # half size, so that the move leaves the whole avatar in the frame
        cx, cy = _centre(_draw(r, pose, Scene(scale=0.5)))
        mx, my = _centre(_draw(r, pose, Scene(scale=0.5, x=0.5, y=0.25)))
        # x right by a quarter width (half of the half width); y up by an eighth height
        assert abs((mx - cx) - w / 4) <= 3, (w, h, mx - cx)
        assert abs((cy - my) - h / 8) <= 3, (w, h, cy - my)


def test_scale_and_mirror(views, pose) -> None:
    r = views((512, 512))
    plain = _draw(r, pose, Scene())
    x0, y0, x1, y1 = _box(plain)
    sx0, sy0, sx1, sy1 = _box(_draw(r, pose, Scene(scale=0.5)))
    assert abs((sy1 - sy0) - (y1 - y0) / 2) <= 3
    assert abs((sx1 - sx0) - (x1 - x0) / 2) <= 3
    mirrored = _draw(r, pose, Scene(mirror=True))
    a, b = plain[..., 3] > 128, mirrored[:, ::-1, 3] > 128
    assert (a & b).sum() / (a | b).sum() > 0.97  # the same picture, flipped
    # ...and not the same picture unflipped (Digi is not symmetric: her hair, her pose)
    assert (
        np.abs(plain.astype(int) - mirrored).mean()
        > 3 * np.abs(plain.astype(int) - mirrored[:, ::-1]).mean()
    )


def test_every_size_fits_the_whole_framing(views, pose) -> None:
    for name, (w, h) in SIZES.items():
        rgba = _draw(views((w, h)), pose, Scene())
        assert rgba.shape == (h, w, 4)
        x0, y0, x1, y1 = _box(rgba)
        assert x0 > 0 and y0 > 0 and x1 < w and y1 < h, name  # nothing cut off
        assert max((x1 - x0) / w, (y1 - y0) / h) > 0.45, name  # and large in the frame
        cx, _ = _centre(rgba)
        assert abs(cx - w / 2) < 0.08 * w, name


def _gradient(w: int, h: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack(
        [xx * 255 // max(1, w - 1), yy * 255 // max(1, h - 1), (xx + yy) % 256], axis=2
    ).astype(np.uint8)


@pytest.mark.parametrize("layout", ["opaque", "packed"])
@pytest.mark.parametrize("size", [(512, 512), (1280, 720)])
@pytest.mark.parametrize("on_cpu", [False, True], ids=["gpu", "cpu"])
def test_backdrops_match_the_reference(views, pose, layout: str, size, on_cpu: bool) -> None:
    r = views(size)
    w, h = size
    conv = VideoConverter(r, layout, on_cpu=on_cpu)
    try:
        for backdrop in [(255, 128, 0), _gradient(w, h), None]:
            rgba = _draw(r, pose, Scene(x=0.3))
            got = [p.copy() for p in conv.convert()]  # before the change: no stale pixels
            conv.set_backdrop(backdrop)
            got = [p.copy() for p in conv.convert()]
            full = None
            if backdrop is not None:
                full = (
                    backdrop
                    if isinstance(backdrop, np.ndarray)
                    else np.tile(np.array(backdrop, np.uint8), (h, w, 1))
                )
            want = to_yuv420(rgba, layout, backdrop=full)
            for g, e in zip(got, want, strict=True):
                assert g.shape == e.shape
                assert np.abs(g.astype(int) - e).max() <= (0 if on_cpu else 1), (
                    layout,
                    size,
                    type(backdrop),
                )
            if layout == "packed":
                alpha_y = got[0][:, w:]
                if backdrop is None:
                    assert alpha_y.min() == 0  # transparent around the avatar
                else:
                    assert (alpha_y == 255).all()  # the backdrop covers the whole frame
    finally:
        conv.release()


def test_a_backdrop_of_the_wrong_size_is_refused(views) -> None:
    conv = VideoConverter(views((512, 512)), "opaque")
    try:
        with pytest.raises(ValueError, match="backdrop"):
            conv.set_backdrop(np.zeros((10, 10, 3), np.uint8))
        with pytest.raises(ValueError, match="colour"):
            conv.set_backdrop((300, 0, 0))
    finally:
        conv.release()


def test_look(views, pose) -> None:
    """Pictures to look at: a scene per size over a bundled-style gradient and colours."""
    LOOK.mkdir(parents=True, exist_ok=True)
    cases = {
        "square-left-mirror": ((512, 512), Scene(x=-0.4, mirror=True), (255, 200, 220)),
        "720p-right-small": ((1280, 720), Scene(x=0.55, y=-0.2, scale=0.7), None),
        "portrait-big": ((1080, 1920), Scene(y=-0.3, scale=1.6), (30, 60, 90)),
    }
    for name, (size, scene, colour) in cases.items():
        r = views(size)
        rgba = _draw(r, pose, scene).astype(np.float64)
        w, h = size
        back = (
            np.tile(np.array(colour, np.float64), (h, w, 1))
            if colour is not None
            else cover(_gradient(300, 200), w, h).astype(np.float64)
        )
        out = rgba[..., :3] + back * (1 - rgba[..., 3:] / 255)
        Image.fromarray(np.clip(out, 0, 255).astype(np.uint8)).save(LOOK / f"{name}.png")
    assert len(list(LOOK.glob("*.png"))) >= 3
