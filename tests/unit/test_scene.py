"""A scene's maths (engine/render/scene.py): the placed rect against numpy matrix
composition, the checks of scene messages, and cover-fitting a background picture."""

from __future__ import annotations

import numpy as np
import pytest

from engine.render.framing import view_matrix
from engine.render.scene import SIZES, Scene, SceneError, cover

RECTS = [(-1.0, 0.0, 3.0, 5.0), (0.2, -0.4, 0.9, 0.3)]
SCENES = [
    Scene(),
    Scene(x=0.4, y=-0.25),
    Scene(scale=0.5),
    Scene(mirror=True),
    Scene(x=-0.7, y=0.6, scale=2.2, mirror=True),
]


def _reference(scene: Scene, rect, w: int, h: int) -> np.ndarray:
    """The framing's view, then: mirror and scale about the frame's centre, then move."""
    flip = -1.0 if scene.mirror else 1.0
    place = np.array(
        [[flip * scene.scale, 0, scene.x], [0, scene.scale, scene.y], [0, 0, 1]], np.float64
    )
    return place @ view_matrix(rect, w, h).astype(np.float64)


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("rect", RECTS)
@pytest.mark.parametrize("size", list(SIZES.values()))
def test_placed_rect_composes_like_the_matrices(scene: Scene, rect, size) -> None:
    w, h = size
    got = view_matrix(scene.place(rect, w, h), w, h)
    assert np.allclose(got, _reference(scene, rect, w, h), atol=1e-5)


def test_placement_moves_points_where_the_fields_say() -> None:
    rect = (-1.0, 0.0, 3.0, 5.0)
    centre = np.array([1.0, 2.5, 1.0])
    right_edge = np.array([3.0, 2.5, 1.0])
    for w, h in SIZES.values():
        m = view_matrix(Scene(x=0.5, y=-0.5).place(rect, w, h), w, h)
        assert np.allclose(m @ centre, [0.5, -0.5, 1.0], atol=1e-6)
        plain = view_matrix(rect, w, h) @ right_edge
        mirrored = view_matrix(Scene(mirror=True).place(rect, w, h), w, h) @ right_edge
        assert np.isclose(mirrored[0], -plain[0]) and np.isclose(mirrored[1], plain[1])
        big = view_matrix(Scene(scale=2.0).place(rect, w, h), w, h) @ right_edge
        assert np.isclose(big[0], 2 * plain[0])


def test_scene_messages_report_every_bad_field_and_change_nothing() -> None:
    scene = Scene(x=0.1)
    with pytest.raises(SceneError) as e:
        scene.updated({"x": 5, "scale": "big", "mirror": 1, "size": "4k", "colour": "red"})
    text = str(e.value)
    for field in ('"x"', '"scale"', '"mirror"', '"size"', '"colour"'):
        assert field in text, text
    assert scene.x == 0.1
    with pytest.raises(SceneError, match="needs an"):
        scene.updated({"background": "image"})
    with pytest.raises(SceneError, match="unknown scene field"):
        scene.updated({"zoom": 2})
    with pytest.raises(SceneError, match="number"):
        scene.updated({"y": float("nan")})
    done = scene.updated({"type": "scene", "background": "colour", "colour": "#FF8000"})
    assert done.rgb == (255, 128, 0) and done.x == 0.1
    assert Scene.from_json(done.to_json()) == done


def test_cover_fills_the_frame_without_stretching() -> None:
    # a 400 x 100 picture: left half red, right half blue, a green stripe in the middle
    px = np.zeros((100, 400, 3), np.uint8)
    px[:, :200, 0] = 255
    px[:, 200:, 2] = 255
    px[:, 195:205] = (0, 255, 0)
    out = cover(px, 64, 64)  # taller than wide: cropped to the middle, scaled to 64 high
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert (out[:, 32, 1] > 200).all()  # the stripe is in the centre, not stretched away
    assert out[:, 0, 0].min() > 200 and out[:, 63, 2].min() > 200
    stripe = (out[32, :, 1] > 128).sum()
    assert 4 <= stripe <= 8  # 10 px at a 0.64 scale: the aspect is kept
    wide = cover(px, 1280, 720)
    assert wide.shape == (720, 1280, 3)
    assert cover(np.dstack([px, np.full((100, 400), 7, np.uint8)]), 8, 8).shape == (8, 8, 3)
    with pytest.raises(ValueError):
        cover(np.zeros((4, 4), np.uint8), 8, 8)


def test_the_bundled_backgrounds_are_what_the_build_script_makes(tmp_path) -> None:
    """content/build/backgrounds.py is deterministic, and the committed pictures are its
    output's list: every one there, at the size that covers every output preset."""
    import json

    from PIL import Image

    from engine.assets import ROOT
    from tests.content import build_script

    script = build_script("backgrounds")
    script.build(tmp_path / "a", n=96)
    script.build(tmp_path / "b", n=96)
    for key in script.BACKGROUNDS:
        a = (tmp_path / "a" / f"{key}.png").read_bytes()
        assert a == (tmp_path / "b" / f"{key}.png").read_bytes(), key
        px = np.asarray(Image.open(tmp_path / "a" / f"{key}.png"))
        assert px.std() > 10, key  # a picture, not a flat fill
    committed = ROOT / "content" / "backgrounds"
    index = json.loads((committed / "index.json").read_text())
    assert list(index) == list(script.BACKGROUNDS)
    biggest = max(max(wh) for wh in SIZES.values())
    for key in index:
        with Image.open(committed / f"{key}.png") as img:
            assert img.size == (biggest, biggest) and img.mode == "RGB", key


def test_the_yuv_specification_composites_a_backdrop_in_both_layouts() -> None:
    """engine/kernels/yuv.py: the avatar over a scene's backdrop, c = rgb + back (1 - a),
    in the opaque layout and the packed one (whose alpha half is then opaque grey)."""
    from engine.kernels.yuv import composite, to_yuv420

    px = np.zeros((4, 4, 4), np.uint8)
    px[:2, :2] = (200, 100, 0, 255)  # opaque avatar pixels
    px[2:, 2:] = (50, 25, 0, 128)  # half covered (premultiplied)
    back = np.zeros((4, 4, 3), np.uint8)
    back[..., 2] = 200  # a blue picture
    back[0, 3] = (10, 20, 30)
    for layout in ("opaque", "packed"):
        rgb = composite(px, layout, backdrop=back)
        assert np.allclose(rgb[0, 0], (200, 100, 0))  # the avatar covers it
        assert np.allclose(rgb[0, 3], (10, 20, 30))  # the picture shows through, exactly
        assert np.allclose(rgb[3, 3], (50, 25, 200 * 127 / 255))  # over it, half
        if layout == "packed":
            assert rgb.shape == (4, 8, 3) and (rgb[:, 4:] == 255).all()
    y, _, _ = to_yuv420(px, "packed", backdrop=back)
    assert (y[:, 4:] == 255).all()  # solid: headroom, past white's 235 (engine/kernels/yuv.py)
    with pytest.raises(ValueError, match="backdrop"):
        composite(px, backdrop=np.zeros((2, 2, 3), np.uint8))
