"""Cheaper frames, same pictures: hidden slots are not drawn at all, and the opaque hulls
(engine/hulls.py) and the occlusion pre-pass change no pixel beyond rounding."""

from __future__ import annotations

import moderngl
import numpy as np
import pytest

import engine.render.renderer as renderer_module
from engine.assets import ATLASES, AvatarBundle
from engine.atlas import Atlas
from engine.effects import builtin_effect
from engine.memo import Memo
from engine.render import AvatarRenderer, load_atlas
from engine.render.looks import RENDER_STYLES
from engine.render.overlay import OverlayPass
from engine.render.renderer import _PIECES, DEPTH_FRAMES, GpuMesh
from engine.session import Inputs
from tests.conftest import posed
from tests.worn import worn


@pytest.fixture(scope="module")
def digi_512(gl: moderngl.Context, digi: AvatarBundle) -> AvatarRenderer:
    return AvatarRenderer(gl, digi.rig, load_atlas(ATLASES / "digi"), size=(512, 512))


def _same_picture(a: np.ndarray, b: np.ndarray) -> None:
    """Equal up to rounding: different triangles interpolate texture coordinates a hair
    apart, so a few edge pixels may differ by a level or two, never more."""
    diff = np.abs(a.astype(int) - b).max(axis=2)
    assert diff.max() <= 2, f"{(diff > 2).sum()} pixels differ by up to {diff.max()}"
    assert (diff > 0).mean() < 0.002


def test_a_hidden_slot_is_not_drawn_and_shows_again(
    digi: AvatarBundle, digi_512: AvatarRenderer
) -> None:
    s = posed(digi, Inputs(), 0.5, seed=5)
    pose = s.pose
    mouth = digi.rig.slot_index["mouth_base"]
    assert pose.slot_attachment[mouth] is not None and pose.slot_color[mouth][3] > 0
    shown = digi_512.render(pose, "face").copy()
    drawn = digi_512.triangles_drawn
    pose.slot_color[mouth][3] = 0.0  # hidden by its colour, as mouth shapes are
    hidden = digi_512.render(pose, "face").copy()
    assert digi_512.triangles_drawn < drawn  # not merely discarded: not sent at all
    saved = pose.slot_attachment[mouth]
    pose.slot_attachment[mouth] = None
    np.testing.assert_array_equal(hidden, digi_512.render(pose, "face"))
    pose.slot_attachment[mouth] = saved
    assert (np.abs(hidden.astype(int) - shown).max(axis=2) > 24).sum() > 20
    pose.slot_color[mouth][3] = 1.0  # brought back: drawn again, as before
    np.testing.assert_array_equal(digi_512.render(pose, "face"), shown)
    assert digi_512.triangles_drawn == drawn


CASES = [
    ("walk", Inputs(controls={"speed": 1.0}, transitions=["walk", "wave"])),
    ("turned", Inputs(parameters={"ParamAngleX": 25.0, "ParamMouthOpenY": 0.8})),  # deforms
    ("dance", Inputs(transitions=["dance"], swaps={"accessories": "hat"})),
]


@pytest.mark.parametrize(("name", "inputs"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("framing", ["full", "bust", "face"])
def test_hulls_and_occlusion_change_no_pixel(
    digi: AvatarBundle, digi_512: AvatarRenderer, name: str, inputs: Inputs, framing: str
) -> None:
    s = posed(digi, inputs, 0.7, seed=5)
    try:
        digi_512.hulls = False
        whole = digi_512.render(s.pose, framing).copy()
        whole_triangles = digi_512.triangles_drawn
        digi_512.hulls = True
        cut = digi_512.render(s.pose, framing)
    finally:
        digi_512.hulls = True
    _same_picture(cut, whole)
    assert digi_512.triangles_drawn != whole_triangles  # the hulls were in play


def test_meshes_are_drawn_cut_down_to_their_hulls(
    digi: AvatarBundle, digi_512: AvatarRenderer
) -> None:
    """The round head and the back hair are grid meshes over square pictures: drawn at
    full size, their triangles are cut to the hull, not only culled, so the empty corners
    cost no fill (the picture is the same: test_hulls_and_occlusion_change_no_pixel)."""
    geo = digi_512.geometry

    def area(m: GpuMesh) -> float:
        idx = geo.indices[m.first_index : m.first_index + m.index_count].reshape(-1, 3)
        t = geo.uvs[idx].astype(np.float64)
        e1, e2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
        return 0.5 * float(np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).sum())

    for slot, most in (("head", 0.7), ("hair_back", 0.8)):
        key = (digi.rig.slot_index[slot], slot)
        assert area(geo.mesh_hulls[key].levels[0]) < most * area(geo.meshes[key])


def test_a_faded_part_occludes_nothing(digi: AvatarBundle, digi_512: AvatarRenderer) -> None:
    s = posed(digi, Inputs(), 0.5, seed=5)
    head = digi.rig.slot_index["head"]
    s.pose.slot_color[head][3] = 0.6  # see-through: what is behind must still show
    try:
        digi_512.hulls = False
        whole = digi_512.render(s.pose, "bust").copy()
        digi_512.hulls = True
        cut = digi_512.render(s.pose, "bust")
    finally:
        digi_512.hulls = True
    _same_picture(cut, whole)


def test_an_atlas_without_stored_hulls_draws_the_same(
    gl: moderngl.Context, digi: AvatarBundle, digi_512: AvatarRenderer
) -> None:
    stored = load_atlas(ATLASES / "digi")
    bare = AvatarRenderer(gl, digi.rig, Atlas(stored.image, stored.regions), size=(512, 512))
    try:
        s = posed(digi, Inputs(transitions=["wave"]), 0.5, seed=5)
        _same_picture(bare.render(s.pose, "bust"), digi_512.render(s.pose, "bust"))
    finally:
        bare.release()


def test_filters_still_apply_and_a_neutral_one_changes_nothing(
    digi: AvatarBundle, digi_512: AvatarRenderer
) -> None:
    s = posed(digi, Inputs(), 0.5, seed=5)
    plain = digi_512.render(s.pose).copy()
    neutral = digi_512.render(s.pose, part_filters={"head": (0.0, 1.0, 1.0, 1.0)})
    np.testing.assert_array_equal(neutral, plain)
    shifted = digi_512.render(s.pose, avatar_filter=(120.0, 1.0, 1.0, 1.0))
    assert (np.abs(shifted[..., :3].astype(int) - plain[..., :3]).max(axis=2) > 30).sum() > 500
    np.testing.assert_array_equal(shifted[..., 3], plain[..., 3])


@pytest.mark.parametrize("layout", ["opaque", "packed"])
def test_converting_only_the_avatars_blocks_gives_the_whole_frame(
    gl: moderngl.Context, digi: AvatarBundle, layout: str
) -> None:
    # the GPU path's incremental conversion (the CPU path's: tests/gl/test_video.py)
    from engine.render.video import VideoConverter

    r = AvatarRenderer(gl, digi.rig, load_atlas(ATLASES / "digi"), size=(128, 128))
    conv = VideoConverter(r, layout, on_cpu=False)
    try:
        s = posed(digi, Inputs(controls={"speed": 3.0}, transitions=["walk", "wave"]), 0.2, 5)
        partial = 0
        for k in range(36):  # running, and the framing jumping: old blocks must be redone
            s.step(1 / 30)
            r.draw(s.pose, ("full", "bust", "face")[(k // 6) % 3])
            got = conv.convert_i420().copy()
            x0, y0, x1, y1 = r.drawn_bounds
            partial += (x1 - x0) * (y1 - y0) < 0.8 * 128 * 128
            fresh = VideoConverter(r, layout, on_cpu=False)  # converts every block
            np.testing.assert_array_equal(got, fresh.convert_i420(), err_msg=f"frame {k}")
            fresh.release()
        assert partial >= 6  # the full-figure frames left most blocks alone
        saved = list(s.pose.slot_attachment)
        s.pose.slot_attachment[:] = [None] * len(saved)  # nothing drawn at all
        r.draw(s.pose)
        assert r.drawn_bounds[2] <= r.drawn_bounds[0]
        fresh = VideoConverter(r, layout, on_cpu=False)
        np.testing.assert_array_equal(conv.convert_i420(), fresh.convert_i420())
        fresh.release()
    finally:
        conv.release()
        r.release()


def test_without_mip_read_back_the_stored_hulls_grown_by_bounds_draw_the_same(
    gl: moderngl.Context, digi: AvatarBundle, digi_512: AvatarRenderer, monkeypatch
) -> None:
    class Unreadable:  # a driver that cannot read a mip level back
        def read(self, **_: object) -> bytes:
            raise moderngl.Error("no read-back")

    support = renderer_module._mip_support
    monkeypatch.setattr(
        renderer_module, "_mip_support", lambda texture, atlas: support(Unreadable(), atlas)
    )
    bounded = AvatarRenderer(gl, digi.rig, load_atlas(ATLASES / "digi"), size=(512, 512))
    try:
        assert bounded.geometry.hulls and bounded.geometry.mesh_hulls
        for framing in ("full", "face"):
            s = posed(digi, Inputs(transitions=["wave"]), 0.6, seed=5)
            _same_picture(bounded.render(s.pose, framing), digi_512.render(s.pose, framing))
            assert bounded.triangles_drawn != digi_512.triangles_drawn  # other hulls
    finally:
        bounded.release()


def _as_drawn(r: AvatarRenderer) -> np.ndarray:
    w, h = r.size
    return np.frombuffer(r.output_texture.read(), np.uint8).reshape(h, w, 4).copy()


def test_draws_without_a_whole_clear_start_from_a_clear_picture(
    gl: moderngl.Context, digi: AvatarBundle
) -> None:
    """The depth buffer is cleared only every DEPTH_FRAMES draws and, on a CPU rasteriser,
    the output only where the last draw left pixels: a run of draws with the framing
    jumping, an effect's overlay moving over two frames and gone on the third, a styled
    draw, a coloured background, the depth buffer's last draw before its clear and the
    clear itself gives the very pictures of draws that each clear it all."""
    atlas = load_atlas(ATLASES / "digi")
    r = AvatarRenderer(gl, digi.rig, atlas, size=(256, 256))
    ref = AvatarRenderer(gl, digi.rig, atlas, size=(256, 256))
    overlay = OverlayPass(gl, builtin_effect("sparkles"))
    try:
        assert r._software == ("llvmpipe" in gl.info["GL_RENDERER"])
        s = posed(digi, Inputs(controls={"speed": 3.0}, transitions=["walk", "wave"]), 0.2, 5)
        style = next(iter(RENDER_STYLES.values()))
        kept = 0
        for k in range(14):
            s.step(1 / 30)
            framing = ("face", "full", "bust")[k % 3]
            if k == 10:  # the last draw before the depth buffer is cleared: nearest -1
                r._depth_age[r._out] = DEPTH_FRAMES - 1
            kwargs: dict = {"style": style} if k == 5 else {}
            if k == 7:
                kwargs = {"background": (0.2, 0.4, 0.6, 1.0)}
            kept += r._depth_age.get(r._out, 0) > 0
            r.draw(s.pose, framing, **kwargs)
            ref._depth_age.clear()  # the reference clears everything every time
            ref._out_dirty = None
            ref.draw(s.pose, framing, **kwargs)
            if k in (2, 3):  # sparkles outside the avatar, elsewhere each frame
                overlay.draw(r, 0.4 * k)
                overlay.draw(ref, 0.4 * k)
            np.testing.assert_array_equal(_as_drawn(r), _as_drawn(ref), err_msg=f"draw {k}")
        assert r._depth_age[r._out] < 4  # cleared after its last draw, counting again
        assert kept >= 10
    finally:
        overlay.release()
        r.release()
        ref.release()


def _geometry(gl: moderngl.Context, bundle: AvatarBundle) -> tuple[bytes, bytes, int]:
    r = AvatarRenderer(gl, bundle.rig, bundle.pictures(), size=(64, 64))
    try:
        g = r.geometry
        return g.interleaved(), g.indices.tobytes(), g.core_index_bytes
    finally:
        r.release()


def test_geometry_from_the_memo_is_the_geometry_made_afresh(
    gl: moderngl.Context, digi: AvatarBundle, testrig: AvatarBundle, monkeypatch
) -> None:
    """A rig's pieces (hulls, cores, cuts) are memoised by content across renderers
    (engine/memo.py): looks that share most pictures, made one after another, get the
    geometry each gets with nothing memoised, so no key leaves out an input its piece
    depends on (two pieces with one key would get the same result)."""
    looks = [digi, worn(), testrig]  # Digi wearing a generated face: most pictures shared
    with monkeypatch.context() as m:
        m.setattr(renderer_module, "_PIECES", Memo(0))  # remembers nothing
        afresh = [_geometry(gl, look) for look in looks]
    _PIECES.clear()
    warm = [_geometry(gl, look) for look in looks]
    assert _PIECES.hits > 0
    assert len({a[0] for a in afresh}) == len(looks)  # the looks' geometry differs
    for look_afresh, look_warm in zip(afresh, warm, strict=True):
        assert look_afresh == look_warm


def test_geometry_from_the_disk_is_the_geometry_made_afresh(
    gl: moderngl.Context, digi: AvatarBundle, tmp_path, monkeypatch
) -> None:
    """The pieces kept on disk (engine/memo_store.py) make, in a process that has none in
    memory, the geometry it would make itself."""
    from engine.memo_store import DiskStore

    look = worn()
    with monkeypatch.context() as m:
        m.setattr(renderer_module, "_PIECES", Memo(0))
        afresh = [_geometry(gl, b) for b in (digi, look)]
    path, salt = tmp_path / "pieces.sqlite3", b"this code"
    with monkeypatch.context() as m:
        m.setattr(renderer_module, "_PIECES", Memo(4096, store=DiskStore(path, salt)))
        _geometry(gl, digi)  # the first process: made, and written
        assert renderer_module._PIECES.store.saves > 500
    with monkeypatch.context() as m:
        pieces = Memo(4096, store=DiskStore(path, salt))  # the next: read back
        m.setattr(renderer_module, "_PIECES", pieces)
        from_disk = [_geometry(gl, digi)]
        assert pieces.store.loads > 500 and pieces.misses == 0  # nothing made again
        from_disk.append(_geometry(gl, look))  # a new look: its own pieces made, and the
        assert pieces.misses > 0  # rest (most of Digi's) read back
    assert from_disk == afresh
