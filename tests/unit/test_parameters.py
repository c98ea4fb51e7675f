"""Named parameters and their bone bindings; colour timelines; data shared across sessions."""

from __future__ import annotations

import numpy as np
import pytest

from engine.anim import AnimationPlayer, parse_clip
from engine.assets import AvatarBundle
from engine.kernels.layout import ROT, SY
from engine.params import ParameterSet, UnknownParameterError
from engine.pose import Pose
from engine.rig import parse_rig
from engine.session import AvatarSession, Inputs
from tests.conftest import arm_rig_data


def test_binding_is_piecewise_linear_and_clamped_to_the_range() -> None:
    rig = parse_rig(arm_rig_data())
    params = ParameterSet(rig)
    upper = rig.bone_index["upper"]
    for value, offset in ((-10, -20), (0, 0), (5, 10), (10, 20), (99, 20), (-99, -20)):
        params.set("ParamArm", value)
        pose = Pose(rig)
        params.apply(pose)
        assert pose.local[upper, ROT] == pytest.approx(rig.bone("upper").rotation + offset)
    assert params.get("ParamArm") == -10  # clamped to min


def test_scale_bindings_multiply() -> None:
    data = arm_rig_data()
    data["parameters"].append(
        {"id": "ParamBreath", "min": 0, "max": 1, "default": 0,
         "bindings": [{"bone": "body", "property": "scaleY", "keys": [[0, 1.0], [1, 1.1]]}]}
    )  # fmt: skip
    data["bones"][1]["scaleY"] = 2.0
    rig = parse_rig(data)
    params = ParameterSet(rig)
    params.set("ParamBreath", 0.5)
    pose = Pose(rig)
    params.apply(pose)
    assert pose.local[rig.bone_index["body"], SY] == pytest.approx(2.0 * 1.05)


def test_unknown_parameter_is_a_clear_error() -> None:
    params = ParameterSet(parse_rig(arm_rig_data()))
    with pytest.raises(
        UnknownParameterError, match='unknown parameter "ParamEyeLOpen" for rig "arm"'
    ):
        params.set("ParamEyeLOpen", 1.0)


def test_parameters_layer_over_animation_in_a_session(testrig: AvatarBundle) -> None:
    a, b = AvatarSession(testrig, seed=2), AvatarSession(testrig, seed=2)
    for _ in range(30):
        a.step(1 / 60)
        b.step(1 / 60, Inputs(parameters={"ParamAngleZ": 10.0}))
    head = testrig.rig.bone_index["head"]
    diff = b.pose.local[head, ROT] - a.pose.local[head, ROT]
    assert diff > 1.0  # the head tilts by the binding, on top of the same idle motion
    neck = testrig.rig.bone_index["neck"]
    assert np.allclose(a.pose.local[:, 0:2][neck], b.pose.local[:, 0:2][neck])


def test_colour_timeline_interpolates_and_fades_with_alpha() -> None:
    rig = parse_rig(arm_rig_data())
    clip = parse_clip(
        {"schema": 1, "name": "flash", "length": 1.0,
         "slots": {"hand": {"color": [{"time": 0, "value": [1, 1, 1, 1]},
                                      {"time": 1, "value": [1, 0, 0, 0.5]}]}}},
        rig,
    )  # fmt: skip
    player = AnimationPlayer(rig)
    player.play(clip)
    player.update(0.5)
    pose = Pose(rig)
    player.apply(pose)
    np.testing.assert_allclose(pose.slot_color[rig.slot_index["hand"]], [1, 0.5, 0.5, 0.75])
    pose.reset()
    np.testing.assert_allclose(pose.slot_color[rig.slot_index["hand"]], [1, 1, 1, 1])


def test_sessions_share_frozen_rig_data(testrig: AvatarBundle) -> None:
    a, b = AvatarSession(testrig, seed=1), AvatarSession(testrig, seed=2)
    assert a.bundle.rig is b.bundle.rig
    rig = testrig.rig
    for arr in (rig.setup_local, rig.skin_local, rig.skin_weights, testrig.clips["walk"].times):
        assert not arr.flags.writeable
    a.step(1 / 60, Inputs(transitions=["wave"]))
    b.step(1 / 60)
    assert not np.array_equal(a.pose.local, b.pose.local)  # each owns its pose


def test_the_test_rig_is_the_size_of_a_real_avatar(testrig: AvatarBundle) -> None:
    rig = testrig.rig
    assert len(rig.bones) >= 30
    assert rig.vertex_count >= 2000
    assert int((rig.skin_weights > 0).sum(axis=1).max()) >= 2  # really skinned, not rigid
    chains = {rig.bones[c.bones[0]].name for c in rig.ik}
    assert {"upperarm_l", "upperarm_r", "thigh_l", "thigh_r"} <= chains


def test_slot_bindings_drive_alpha_and_attachment() -> None:
    data = arm_rig_data()
    data["parameters"].append(
        {"id": "ParamHand", "min": 0, "max": 1, "default": 0,
         "bindings": [{"slot": "hand", "property": "attachment", "keys": [[0, "open"], [0.5, "fist"], [0.9, None]]},
                      {"slot": "skin", "property": "alpha", "keys": [[0, 1.0], [1, 0.0]]}]}
    )  # fmt: skip
    rig = parse_rig(data)
    params = ParameterSet(rig)
    hand, skin = rig.slot_index["hand"], rig.slot_index["skin"]
    for value, attachment, alpha in (
        (0.0, "open", 1.0),
        (0.49, "open", 0.51),
        (0.5, "fist", 0.5),
        (0.95, None, 0.05),
    ):
        params.set("ParamHand", value)
        pose = Pose(rig)
        params.apply(pose)
        assert pose.slot_attachment[hand] == attachment
        assert pose.slot_color[skin, 3] == pytest.approx(alpha)
    data["parameters"][-1]["bindings"][0]["keys"][1][1] = "glove"
    with pytest.raises(
        Exception,
        match=r'parameters\[1\]\.bindings\[0\]\.keys\[1\]\[1\]: unknown attachment "glove"',
    ):
        parse_rig(data, "arm.json")
