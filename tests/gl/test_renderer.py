"""The GL renderer on headless EGL: GPU skinning against the CPU kernel, transparency,
premultiplied alpha, swaps, the colour filter against a numpy reference, framing, goldens."""

from __future__ import annotations

import colorsys

import moderngl
import numpy as np
import pytest

from engine.assets import AvatarBundle
from engine.kernels.skinning import skin_reference
from engine.pose import Pose
from engine.render import AvatarRenderer
from engine.render.shaders import ShaderError, program
from engine.session import AvatarSession, Inputs
from tests.conftest import posed
from tests.gl.golden import assert_matches_golden

DT = 1 / 60


def test_shaders_compile_and_errors_name_the_file(gl: moderngl.Context) -> None:
    assert program(gl, "avatar.vert", "avatar.frag")
    assert program(gl, "skin_capture.vert", varyings=("out_pos",))
    with pytest.raises(ShaderError, match=r"shaders/nope\.vert"):
        program(gl, "nope.vert", "avatar.frag")


@pytest.mark.parametrize(
    ("inputs", "seconds"),
    [
        (Inputs(), 0.5),
        (Inputs(controls={"speed": 1.0}, transitions=["walk"]), 0.7),
        (Inputs(transitions=["wave"]), 1.0),
        (Inputs(transitions=["dance"], parameters={"ParamAngleX": 20, "ParamBodyAngleZ": -5}), 1.3),
    ],
)
def test_gpu_skinning_matches_the_cpu_kernel(
    renderer: AvatarRenderer, testrig: AvatarBundle, inputs, seconds
) -> None:
    s = posed(testrig, inputs, seconds, seed=3)
    s.pose.set_ik_mix("arm_l_ik", 1.0)  # an IK-solved arm too
    x, y = s.pose.bone_position("upperarm_l")
    s.pose.set_bone_world_position("ik_hand_l", x + 25, y - 40)
    s.pose.update_world()
    gpu = renderer.skin_on_gpu(s.pose)
    g = renderer.geometry
    cpu = skin_reference(
        s.pose.world,
        g.bones.astype(np.int64),
        g.weights.astype(np.float64),
        g.local.reshape(-1, 4, 2).astype(np.float64),
    )
    assert np.abs(gpu - cpu).max() < 0.5
    # and the packed buffer is the engine's mesh data: CPU kernel output for the meshes agrees
    frame_meshes = {(it.slot, it.attachment): it.vertices for it in s.draw_list()}
    for (slot, name), verts in frame_meshes.items():
        m = g.meshes[(slot, name)]
        assert np.abs(gpu[m.first_vertex : m.first_vertex + m.vertex_count] - verts).max() < 0.5


def test_background_is_transparent_and_output_premultiplied(
    renderer: AvatarRenderer, testrig: AvatarBundle
) -> None:
    px = renderer.render(Pose(testrig.rig))
    assert px.shape == (256, 256, 4) and px.dtype == np.uint8
    assert (px[0, 0] == 0).all() and (px[-1, -1] == 0).all()
    assert (px[..., 3] > 0).mean() > 0.05  # the avatar is there
    assert (px[..., :3] <= px[..., 3:4]).all()  # premultiplied: no colour brighter than alpha


def test_any_output_size(gl: moderngl.Context, testrig: AvatarBundle) -> None:
    from engine.assets import ROOT
    from engine.render import load_atlas

    r = AvatarRenderer(
        gl, testrig.rig, load_atlas(ROOT / "content" / "atlases" / "testrig"), size=(300, 120)
    )
    px = r.render(Pose(testrig.rig))
    assert px.shape == (120, 300, 4) and (px[..., 3] > 0).any()
    with pytest.raises(ValueError, match="positive"):
        r.resize((0, 10))
    r.release()


def test_swap_changes_the_frame_and_swapping_back_is_pixel_identical(
    renderer: AvatarRenderer, testrig: AvatarBundle
) -> None:
    pose = Pose(testrig.rig)
    pose.update_world()
    slot = testrig.rig.slot_index["face"]
    before = renderer.render(pose, "face").copy()
    original = pose.slot_attachment[slot]
    pose.slot_attachment[slot] = "face_closed"
    swapped = renderer.render(pose, "face").copy()
    pose.slot_attachment[slot] = original
    back = renderer.render(pose, "face")
    assert (np.abs(swapped.astype(int) - before).max(axis=2) > 30).sum() > 20
    np.testing.assert_array_equal(back, before)


def _filter_reference(
    rgb: np.ndarray, hue: float, sat: float, bright: float, contrast: float
) -> np.ndarray:
    """The seed's colour filter, in numpy/colorsys: the spec for shaders/color_filter.glsl."""
    h, s, v = colorsys.rgb_to_hsv(*rgb)
    r, g, b = colorsys.hsv_to_rgb((h + hue / 360.0) % 1.0, min(1.0, s * sat), v)
    c = np.array([r, g, b]) * bright
    return np.clip((c - 0.5) * contrast + 0.5, 0, 1)


@pytest.mark.parametrize("f", [(180.0, 1.0, 1.0, 1.0), (40.0, 0.5, 1.2, 1.3), (0.0, 0.0, 0.8, 1.0)])
def test_colour_filter_matches_the_numpy_reference(
    renderer: AvatarRenderer, testrig: AvatarBundle, f
) -> None:
    pose = Pose(testrig.rig)
    plain = renderer.render(pose).astype(float) / 255
    filtered = renderer.render(pose, avatar_filter=f).astype(float) / 255
    # Inside flat, opaque areas only: at edges a pixel blends two parts, and the filter of a
    # blend is not the blend of the filters.
    flat = plain[..., 3] > 0.999
    for dy in (-2, 0, 2):
        for dx in (-2, 0, 2):
            flat &= np.all(np.roll(plain, (dy, dx), axis=(0, 1)) == plain, axis=2)
    inside = np.argwhere(flat)
    assert len(inside) > 100
    rng = np.random.default_rng(0)
    for y, x in inside[rng.choice(len(inside), 40, replace=False)]:
        expected = _filter_reference(plain[y, x, :3], *f)
        assert np.abs(filtered[y, x, :3] - expected).max() < 3 / 255
    assert np.allclose(filtered[..., 3], plain[..., 3])


def test_part_filter_touches_only_its_slot(renderer: AvatarRenderer, testrig: AvatarBundle) -> None:
    pose = Pose(testrig.rig)
    plain = renderer.render(pose).astype(int)
    hair = renderer.render(pose, part_filters={"hair_back": (120.0, 1.0, 1.0, 1.0)}).astype(int)
    changed = np.abs(hair - plain).max(axis=2) > 10
    assert changed.any()
    hidden = Pose(testrig.rig)
    hidden.slot_attachment[testrig.rig.slot_index["hair_back"]] = None
    without = renderer.render(hidden).astype(int)
    # every changed pixel is one the back hair contributes to
    assert (np.abs(without - plain).max(axis=2) > 0)[changed].all()


def test_face_framing_is_closer_than_full(renderer: AvatarRenderer, testrig: AvatarBundle) -> None:
    pose = Pose(testrig.rig)
    cover = {f: (renderer.render(pose, f)[..., 3] > 0).mean() for f in ("full", "bust", "face")}
    assert cover["full"] < cover["bust"] < cover["face"]


@pytest.mark.parametrize(
    ("name", "inputs", "seconds"),
    [
        ("testrig_idle", Inputs(), 1.0),
        ("testrig_walk", Inputs(controls={"speed": 1.0}, transitions=["walk"]), 0.75),
        ("testrig_wave", Inputs(transitions=["wave"]), 1.0),
    ],
)
def test_golden_images(
    renderer: AvatarRenderer, testrig: AvatarBundle, name: str, inputs: Inputs, seconds: float
) -> None:
    s = posed(testrig, inputs, seconds, seed=11)
    assert_matches_golden(name, renderer.render(s.pose))


def test_a_session_swap_renders_next_frame_and_back_is_identical(
    renderer: AvatarRenderer, testrig: AvatarBundle
) -> None:
    s = AvatarSession(testrig, seed=4)
    s.step(DT)
    before = renderer.render(s.pose, "full").copy()
    s.step(0.0, Inputs(swaps={"tool": "sword", "hands": "fist"}))
    swapped = renderer.render(s.pose, "full").copy()
    s.step(0.0, Inputs(swaps={"tool": "none", "hands": "default"}))
    back = renderer.render(s.pose, "full")
    assert (np.abs(swapped.astype(int) - before).max(axis=2) > 30).sum() > 50
    np.testing.assert_array_equal(back, before)


def test_parameter_deform_moves_vertices_on_cpu_and_gpu_alike(gl: moderngl.Context) -> None:
    from engine.params import ParameterSet
    from engine.render import Atlas
    from engine.rig import parse_rig
    from tests.conftest import arm_rig_data

    data = arm_rig_data()
    # ParamArm also bends the arm mesh's far end upwards by 6 px (in the upper arm's frame)
    offsets = [[0, 0], [0, 0], [0, 0], [0, 0], [0, 6], [0, 6]]
    data["parameters"][0]["bindings"].append(
        {"slot": "skin", "attachment": "arm", "property": "deform",
         "keys": [[0, [[0, 0]] * 6], [10, offsets]]}
    )  # fmt: skip
    rig = parse_rig(data)
    atlas = Atlas(
        np.full((8, 8, 4), 255, np.uint8),
        {"arm": (0, 0, 8, 8), "open": (0, 0, 8, 8), "fist": (0, 0, 8, 8)},
    )
    r = AvatarRenderer(gl, rig, atlas, size=(64, 64))
    params = ParameterSet(rig)
    rest_pose = Pose(rig)
    rest = r.skin_on_gpu(rest_pose)
    rest_px = r.render(rest_pose).copy()

    pose = Pose(rig)
    pose.local[rig.bone_index["upper"], 2] += 30  # any pose: offsets follow the slot bone
    pose.update_world()
    params.set("ParamArm", 5.0)  # half-way: 3 px, and the binding also turns the arm
    params.apply(pose)
    pose.update_world()
    gpu = r.skin_on_gpu(pose)
    m = r.geometry.meshes[(rig.slot_index["skin"], "arm")]
    g = r.geometry
    expected = skin_reference(
        pose.world, g.bones.astype(np.int64), g.weights.astype(np.float64),
        g.local.reshape(-1, 4, 2).astype(np.float64),
    )  # fmt: skip
    w = pose.world[rig.bone_index["upper"]]
    half = np.array(offsets, float)[:, 1] * 0.5
    expected[m.first_vertex : m.first_vertex + 6, 0] += w[1] * half
    expected[m.first_vertex : m.first_vertex + 6, 1] += w[3] * half
    assert np.abs(gpu - expected).max() < 0.5
    assert np.abs(gpu - rest).max() > 2.0

    # back at rest nothing lingers: identical vertices and pixels
    pose.reset()
    params.set("ParamArm", 0.0)
    params.apply(pose)
    pose.update_world()
    assert not pose.deformed
    np.testing.assert_allclose(r.skin_on_gpu(pose), rest, atol=1e-4)
    np.testing.assert_array_equal(r.render(pose), rest_px)
    r.release()
