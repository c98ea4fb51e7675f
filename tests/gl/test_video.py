"""yuv420p for the encoder: the numpy reference (engine/kernels/yuv.py) against independent
formulas, and the converter (engine/render/video.py) on both its paths, the GPU shader and
the CPU kernel (engine/kernels/i420.py), against the reference on real Digi renders in both
layouts, with orientation, the packed layout's meaning and odd sizes."""

from __future__ import annotations

from collections.abc import Iterator

import moderngl
import numpy as np
import pytest

from engine.assets import ATLASES, ROOT, AvatarBundle
from engine.kernels.yuv import to_yuv420
from engine.pose import Pose
from engine.render import AvatarRenderer, load_atlas
from engine.render.context import is_software
from engine.render.shaders import program
from engine.render.video import VideoConverter
from engine.session import Inputs
from tests.conftest import posed

WALK = Inputs(controls={"speed": 1.0}, transitions=["walk"])
# the converter's two paths: the GPU shader, and the CPU kernel software rasterisers use
PATHS = pytest.mark.parametrize("on_cpu", [False, True], ids=["gpu", "cpu"])


def _close(got: np.ndarray, want: np.ndarray, on_cpu: bool, name: str = "") -> None:
    """The CPU kernel is the reference's arithmetic: equal. The shader's float32 may land
    a rounding tie on the other side: within a level, rarely."""
    if on_cpu:
        np.testing.assert_array_equal(got, want, err_msg=name)
    else:
        assert _max_diff(got, want) <= 1, name
        assert (got != want).mean() < 0.01, name  # rounding ties only


def _solid(rgba: tuple[int, int, int, int], w: int = 4, h: int = 4) -> np.ndarray:
    return np.tile(np.array(rgba, np.uint8), (h, w, 1))


def _bt601_integer(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The classic 8-bit fixed-point BT.601 studio-swing formulas (an independent check)."""
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128
    v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128
    return y, u, v


# --- the reference ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rgb", "yuv"),
    [
        ((255, 255, 255), (235, 128, 128)),
        ((0, 0, 0), (16, 128, 128)),
        ((255, 0, 0), (81, 90, 240)),
        ((0, 255, 0), (145, 54, 34)),
        ((0, 0, 255), (41, 240, 110)),
        ((128, 128, 128), (126, 128, 128)),
    ],
)
def test_reference_pure_colours(rgb: tuple[int, int, int], yuv: tuple[int, int, int]) -> None:
    y, u, v = to_yuv420(_solid((*rgb, 255)))
    assert y.shape == (4, 4) and u.shape == (2, 2) and v.shape == (2, 2)
    assert all(p.dtype == np.uint8 and p.flags.c_contiguous for p in (y, u, v))
    for plane, want in zip((y, u, v), yuv, strict=True):
        assert np.abs(plane.astype(int) - want).max() <= 1, (rgb, plane[0, 0], want)
    # greys are exactly neutral
    if len(set(rgb)) == 1:
        assert (u == 128).all() and (v == 128).all()


def test_reference_against_the_integer_formulas_on_random_colours() -> None:
    rng = np.random.default_rng(7)
    colours = rng.integers(0, 256, (64, 3))
    # each colour fills a 2x2 block, so chroma is that colour's too
    blocks = np.repeat(np.repeat(colours.reshape(8, 8, 3), 2, axis=0), 2, axis=1)
    rgba = np.concatenate([blocks, np.full((16, 16, 1), 255)], axis=2).astype(np.uint8)
    y, u, v = to_yuv420(rgba)
    ey, eu, ev = _bt601_integer(blocks)
    assert np.abs(y.astype(int) - ey).max() <= 1
    assert np.abs(u.astype(int) - eu[::2, ::2]).max() <= 1
    assert np.abs(v.astype(int) - ev[::2, ::2]).max() <= 1


def test_reference_chroma_is_the_block_mean() -> None:
    px = np.zeros((2, 2, 4), np.uint8)
    px[..., 3] = 255
    px[0, 0, 0] = px[1, 1, 0] = 255  # two red, two black pixels: a half-red block
    _, u, v = to_yuv420(px)
    _, eu, ev = _bt601_integer(np.array([[[127.5, 0, 0]]]))
    assert abs(int(u[0, 0]) - eu[0, 0]) <= 1 and abs(int(v[0, 0]) - ev[0, 0]) <= 1


def test_reference_layouts() -> None:
    clear = _solid((0, 0, 0, 0))
    y, u, v = to_yuv420(clear, "opaque", (255, 0, 0))  # transparent -> the background
    assert (y == 81).all() and (u == 90).all() and (v == 240).all()
    half = _solid((100, 50, 0, 128))  # premultiplied: rgb + bg * (1 - a)
    over = np.array([[[100 + 40 * 127 / 255, 50 + 44 * 127 / 255, 56 * 127 / 255]]])
    ey, _, _ = _bt601_integer(np.round(over))
    assert abs(int(to_yuv420(half)[0][0, 0]) - ey[0, 0]) <= 1
    y, u, v = to_yuv420(half, "packed")
    assert y.shape == (4, 8) and u.shape == (2, 4)
    ey, eu, ev = _bt601_integer(np.array([[[100, 50, 0]]]))  # left: over black
    assert abs(int(u[0, 0]) - eu[0, 0]) <= 1
    assert abs(int(y[0, 0]) - ey[0, 0]) <= 1 and abs(int(v[0, 0]) - ev[0, 0]) <= 1
    assert (y[:, 4:] == round(16 + 219 * 128 / 255)).all()  # right: alpha as grey
    assert (u[:, 2:] == 128).all() and (v[:, 2:] == 128).all()
    # ... but for its ends: outside the studio range, where codec noise cannot move them
    ends = np.zeros((2, 4, 4), np.uint8)
    ends[:, :2] = (200, 10, 10, 255)
    ends[:, 2] = (1, 1, 1, 1)
    ends[:, 3] = (254, 254, 254, 254)
    y, u, v = to_yuv420(ends, "packed")
    assert y[0, 4:].tolist() == [255, 255, round(16 + 219 / 255), round(16 + 219 * 254 / 255)]
    assert (u[:, 2:] == 128).all() and (v[:, 2:] == 128).all()
    assert y[0, 1] < 235  # the colour half keeps the studio range
    y, _, _ = to_yuv420(_solid((0, 0, 0, 0)), "packed")
    assert (y[:, 4:] == 0).all() and (y[:, :4] == 16).all()
    y, _, _ = to_yuv420(_solid((0, 0, 0, 0)), "packed", backdrop=np.zeros((4, 4, 3), np.uint8))
    assert (y[:, 4:] == 255).all()  # a backdrop covers the whole frame


def test_reference_rejects_odd_sizes_and_bad_input() -> None:
    for shape in [(3, 4, 4), (4, 5, 4), (0, 4, 4)]:
        with pytest.raises(ValueError, match="even"):
            to_yuv420(np.zeros(shape, np.uint8))
    with pytest.raises(ValueError, match="layout"):
        to_yuv420(_solid((0, 0, 0, 0)), "sideways")
    with pytest.raises(ValueError, match="RGBA"):
        to_yuv420(np.zeros((4, 4, 3), np.uint8))


# --- the converter ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digi512(gl: moderngl.Context, digi: AvatarBundle) -> Iterator[AvatarRenderer]:
    r = AvatarRenderer(gl, digi.rig, load_atlas(ATLASES / "digi"), size=(512, 512))
    yield r
    r.release()


def _convert(
    renderer: AvatarRenderer,
    pose: Pose,
    layout: str,
    background=(40, 44, 56),
    on_cpu: bool = False,
):
    conv = VideoConverter(renderer, layout, background, on_cpu=on_cpu)
    try:
        rgba = renderer.render(pose)
        return rgba, [p.copy() for p in conv.convert()]
    finally:
        conv.release()


def _max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def test_shaders_compile(gl: moderngl.Context) -> None:
    assert program(gl, "fullscreen.vert", "yuv.frag")


@pytest.mark.parametrize(
    ("layout", "background"),
    [("opaque", (40, 44, 56)), ("opaque", (230, 180, 20)), ("packed", (40, 44, 56))],
)
@pytest.mark.parametrize("seconds", [0.6, 1.0])
@PATHS
def test_planes_match_the_reference(
    digi: AvatarBundle,
    digi512: AvatarRenderer,
    layout: str,
    background,
    seconds: float,
    on_cpu: bool,
) -> None:
    pose = posed(digi, WALK, seconds, seed=5).pose
    rgba, got = _convert(digi512, pose, layout, background, on_cpu)
    want = to_yuv420(rgba, layout, background)
    width = 1024 if layout == "packed" else 512
    shapes = [(512, width), (256, width // 2), (256, width // 2)]
    assert [p.shape for p in got] == shapes
    assert all(p.dtype == np.uint8 for p in got)
    for name, g, w in zip("YUV", got, want, strict=True):
        _close(g, w, on_cpu, name)
    assert (rgba[..., 3] > 0).mean() > 0.05  # there is an avatar in the picture


@pytest.mark.parametrize("layout", ["opaque", "packed"])
@pytest.mark.parametrize("premultiplied", [True, False])
@pytest.mark.parametrize("width", [96, 98])  # 98: the last 4x2 blocks lie half outside
@PATHS
def test_planes_match_the_reference_on_random_pixels(
    gl: moderngl.Context,
    testrig: AvatarBundle,
    layout: str,
    premultiplied: bool,
    width: int,
    on_cpu: bool,
) -> None:
    # every colour and alpha, rounding ties included; not premultiplied: the clamp is hit
    r = AvatarRenderer(
        gl, testrig.rig, load_atlas(ROOT / "content" / "atlases" / "testrig"), size=(width, 62)
    )
    conv = VideoConverter(r, layout, (230, 180, 20), on_cpu=on_cpu)
    try:
        rng = np.random.default_rng(11)
        rgba = rng.integers(0, 256, (62, width, 4), dtype=np.uint8)
        if premultiplied:
            rgba[..., :3] = (rgba[..., :3].astype(int) * rgba[..., 3:] // 255).astype(np.uint8)
        r.output_texture.write(np.ascontiguousarray(rgba[::-1]).tobytes())  # GL row order
        got = conv.convert()
        for name, g, w in zip("YUV", got, to_yuv420(rgba, layout, (230, 180, 20)), strict=True):
            _close(g, w, on_cpu, name)
    finally:
        conv.release()
        r.release()


@PATHS
def test_the_background_shows_where_the_avatar_is_not(
    digi: AvatarBundle, digi512: AvatarRenderer, on_cpu: bool
) -> None:
    pose = posed(digi, WALK, 1.0, seed=5).pose
    rgba, (y, u, v) = _convert(digi512, pose, "opaque", (255, 0, 0), on_cpu)
    assert (rgba[0, 0] == 0).all()
    assert (y[0, 0], u[0, 0], v[0, 0]) == (81, 90, 240)  # pure red


@PATHS
def test_packed_layout_is_colour_over_black_and_alpha_as_grey(
    digi: AvatarBundle, digi512: AvatarRenderer, on_cpu: bool
) -> None:
    pose = posed(digi, WALK, 1.0, seed=5).pose
    rgba, (y, u, v) = _convert(digi512, pose, "packed", on_cpu=on_cpu)
    alpha = rgba[..., 3]
    left, right = y[:, :512], y[:, 512:]
    for corner in [(0, 0), (0, -1), (-1, 0), (-1, -1)]:
        assert alpha[corner] == 0 and right[corner] == 0 and left[corner] == 16
    # the ends on the codes past black and white, where the codec's noise cannot move them
    assert (right[alpha == 0] == 0).all() and (left[alpha == 0] == 16).all()
    opaque = alpha == 255
    assert opaque.mean() > 0.05 and (right[opaque] == 255).all()
    # the alpha between them back from the right half's luma, within a level
    soft = (alpha > 0) & (alpha < 255)
    assert soft.sum() > 500
    assert np.abs((right[soft].astype(float) - 16) * 255 / 219 - alpha[soft]).max() <= 1.0
    assert (u[:, 256:] == 128).all() and (v[:, 256:] == 128).all()  # grey: no chroma


@PATHS
def test_planes_are_top_row_first(
    digi: AvatarBundle, digi512: AvatarRenderer, on_cpu: bool
) -> None:
    pose = posed(digi, WALK, 1.0, seed=5).pose
    rgba, (y, _, _) = _convert(digi512, pose, "packed", on_cpu=on_cpu)
    rows = np.flatnonzero((rgba[..., 3] > 0).any(axis=1))
    top, bottom = rows[0], rows[-1]
    assert top < 128 and bottom > 384  # head near the top of render(), feet near the bottom
    drawn = np.flatnonzero((y[:, 512:] > 0).any(axis=1))
    assert drawn[0] == top and drawn[-1] == bottom
    # Digi's hair: the topmost drawn pixels are in the top rows of the Y plane
    assert (y[top, 512:] > 0).any() and not (y[:top, 512:] > 0).any()


@PATHS
def test_msaa_output_resolves_into_the_converted_texture(
    gl: moderngl.Context, digi: AvatarBundle, on_cpu: bool
) -> None:
    if gl.max_samples < 4:
        pytest.skip("no multisampling")
    r = AvatarRenderer(gl, digi.rig, load_atlas(ATLASES / "digi"), size=(128, 96), samples=4)
    try:
        rgba, got = _convert(r, posed(digi, WALK, 1.0, seed=5).pose, "opaque", on_cpu=on_cpu)
        for g, w in zip(got, to_yuv420(rgba), strict=True):
            _close(g, w, on_cpu)
    finally:
        r.release()


@PATHS
def test_follows_resize_and_odd_chroma_rows(
    gl: moderngl.Context, testrig: AvatarBundle, on_cpu: bool
) -> None:
    r = AvatarRenderer(gl, testrig.rig, load_atlas(ROOT / "content" / "atlases" / "testrig"))
    conv = VideoConverter(r, "packed", on_cpu=on_cpu)
    try:
        for size in [(128, 128), (130, 70)]:  # 70 / 2 is odd: U and V meet mid-row
            r.resize(size)
            rgba = r.render(Pose(testrig.rig))
            assert conv.size == (2 * size[0], size[1])
            i420 = conv.convert_i420()
            assert i420.shape == (size[1] * 3 // 2, 2 * size[0])
            for g, w in zip(conv.convert(), to_yuv420(rgba, "packed"), strict=True):
                _close(g, w, on_cpu)
    finally:
        conv.release()
        r.release()


def test_software_rasterisers_convert_on_the_cpu(gl: moderngl.Context, digi512) -> None:
    conv = VideoConverter(digi512)
    try:
        assert conv.on_cpu == is_software(gl)
    finally:
        conv.release()


def test_the_cpu_path_starts_each_frame_blank_and_converts_only_what_was_drawn(
    gl: moderngl.Context, digi: AvatarBundle
) -> None:
    # a frame's conversion covers only the rows' spans that hold pixels: what the last
    # frame drew elsewhere must be gone, under every framing, in both layouts
    r = AvatarRenderer(gl, digi.rig, load_atlas(ATLASES / "digi"), size=(160, 120))
    convs = {layout: VideoConverter(r, layout, on_cpu=True) for layout in ("opaque", "packed")}
    try:
        s = posed(digi, Inputs(controls={"speed": 3.0}, transitions=["walk", "wave"]), 0.2, 5)
        for k in range(18):
            s.step(1 / 30)
            r.draw(s.pose, ("full", "bust", "face")[(k // 3) % 3])
            raw = np.frombuffer(r.output_texture.read(alignment=1), np.uint8)
            rgba = raw.reshape(120, 160, 4)[::-1]
            for layout, conv in convs.items():
                for g, w in zip(conv.convert(), to_yuv420(rgba, layout), strict=True):
                    np.testing.assert_array_equal(g, w, err_msg=f"frame {k}, {layout}")
    finally:
        for conv in convs.values():
            conv.release()
        r.release()


@PATHS
def test_convert_leaves_the_renderer_alone(
    digi: AvatarBundle, digi512: AvatarRenderer, on_cpu: bool
) -> None:
    pose = posed(digi, WALK, 1.0, seed=5).pose
    before = digi512.render(pose).copy()
    conv = VideoConverter(digi512, on_cpu=on_cpu)
    conv.convert()
    conv.release()
    np.testing.assert_array_equal(digi512.render(pose), before)
    # and the output texture is render()'s picture in GL row order
    tex = digi512.output_texture
    raw = np.frombuffer(tex.read(alignment=1), np.uint8).reshape(512, 512, 4)
    np.testing.assert_array_equal(raw[::-1], before)


def test_odd_sizes_and_unknown_layouts_are_refused(
    gl: moderngl.Context, testrig: AvatarBundle
) -> None:
    r = AvatarRenderer(
        gl, testrig.rig, load_atlas(ROOT / "content" / "atlases" / "testrig"), size=(101, 64)
    )
    try:
        with pytest.raises(ValueError, match="even"):
            VideoConverter(r)
        r.resize((64, 64))
        with pytest.raises(ValueError, match="layout"):
            VideoConverter(r, "sideways")
        with pytest.raises(ValueError, match="background"):
            VideoConverter(r, background=(0, 0, 300))
        conv = VideoConverter(r)
        r.resize((64, 63))
        with pytest.raises(ValueError, match="even"):
            conv.convert()
        conv.release()
    finally:
        r.release()
