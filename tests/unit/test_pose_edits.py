"""Pose edits (engine/pose/edits.py): checked data, and applied in `AvatarSession.advance`."""

from __future__ import annotations

import math

import pytest

from engine.assets import load_bundle
from engine.kernels.layout import ROT, SX, X, Y
from engine.pose.edits import (
    HEAD_AIM_LIMIT,
    BoneOffset,
    PoseEditError,
    PoseEdits,
    handles,
    merged,
    offsets_edits,
    parse_edits,
)
from engine.session import AvatarSession

TICK = 1 / 60


@pytest.fixture(scope="module")
def bundle():
    return load_bundle("digi")


@pytest.fixture(scope="module")
def rig(bundle):
    return bundle.rig


def _settled(bundle, edits: PoseEdits | None, ticks: int = 3) -> AvatarSession:
    s = AvatarSession(bundle)
    s.edits = edits
    for _ in range(ticks):
        s.advance(TICK)
    return s


def test_handles_are_derived_from_the_rig(rig) -> None:
    assert handles(rig) == {
        "hand_l": "arm_l_ik",
        "hand_r": "arm_r_ik",
        "foot_l": "leg_l_ik",
        "foot_r": "leg_r_ik",
        "head": "aim:head",
    }


def test_json_round_trip(rig) -> None:
    data = {
        "bones": {"forearm_l": 20.5},
        "targets": {"hand_r": [-60.0, 300.0], "head": [100.0, 320.0]},
        "offsets": {"hat": {"x": 4.0, "y": -2.0, "rotation": 10.0, "scale": 1.5}},
    }
    e = parse_edits(data, rig)
    assert e.to_json() == data
    assert parse_edits(e.to_json(), rig) == e
    assert parse_edits({}, rig).is_empty()
    assert not e.is_empty()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"bones": {"tail": 3}}, ["pose.bones.tail", 'unknown bone "tail"', "known: root, hips"]),
        ({"bones": {"root": 3}}, ["pose.bones.root", "cannot be rotated"]),
        ({"bones": {"ik_hand_r": 3}}, ["pose.bones.ik_hand_r", "cannot be rotated"]),
        ({"bones": {"head": 361}}, ["pose.bones.head", "out of range -360..360"]),
        ({"bones": {"head": float("nan")}}, ["pose.bones.head", "finite"]),
        ({"bones": {"head": "9"}}, ["pose.bones.head", "expected a number"]),
        ({"bones": {"head": True}}, ["pose.bones.head", "expected a number"]),
        ({"targets": {"tail": [0, 0]}}, ["pose.targets.tail", 'unknown handle "tail"', "hand_r"]),
        ({"targets": {"hand_r": [0, 5001]}}, ["pose.targets.hand_r[1]", "out of range"]),
        ({"targets": {"hand_r": [float("inf"), 0]}}, ["pose.targets.hand_r[0]", "finite"]),
        ({"targets": {"hand_r": [0]}}, ["pose.targets.hand_r", "[x, y]"]),
        ({"offsets": {"hat": {"scale": 0.2}}}, ["pose.offsets.hat.scale", "0.25..4"]),
        ({"offsets": {"hat": {"x": 201}}}, ["pose.offsets.hat.x", "-200..200"]),
        ({"offsets": {"hat": {"rotation": -181}}}, ["pose.offsets.hat.rotation", "-180..180"]),
        ({"offsets": {"hat": {"z": 1}}}, ["pose.offsets.hat.z", "unknown key"]),
        ({"offsets": {"nope": {}}}, ["pose.offsets.nope", 'unknown bone "nope"']),
        ({"bonez": {}}, ["pose.bonez", "unknown key"]),
        ([], ["pose", "expected an object"]),
    ],
)
def test_bad_edits_are_refused_naming_the_path(rig, data, words) -> None:
    with pytest.raises(PoseEditError) as e:
        parse_edits(data, rig)
    for w in words:
        assert w in str(e.value)


def test_counts_are_limited(rig) -> None:
    movable = [b.name for b in rig.bones if b.parent >= 0 and not b.name.startswith("ik_")]
    assert len(movable) <= 64  # the limit is tested with repeats of real names below
    too_many = {f"b{i}": 0 for i in range(65)}
    with pytest.raises(PoseEditError, match=r"pose.bones: 65 entries, at most 64"):
        parse_edits({"bones": too_many}, rig)
    offsets = {b.name: {} for b in rig.bones[:17]}
    with pytest.raises(PoseEditError, match=r"pose.offsets: 17 entries, at most 16"):
        parse_edits({"offsets": offsets}, rig)


def test_a_dragged_hand_lands_on_its_target(bundle) -> None:
    plain = _settled(bundle, None)
    goal = (-60.0, 240.0)  # within the right arm's reach, out to the side
    before = plain.pose.bone_position("hand_r")
    assert math.dist(before, goal) > 40
    s = _settled(bundle, parse_edits({"targets": {"hand_r": list(goal)}}, bundle.rig))
    assert math.dist(s.pose.bone_position("hand_r"), goal) < 1.0
    # the arm's own mix is a session setting, untouched: only this frame ran at mix 1
    assert s.pose.ik_mix[bundle.rig.ik_index["arm_r_ik"]] == 0.0
    s.edits = None
    for _ in range(2):
        s.advance(TICK)
    assert math.dist(s.pose.bone_position("hand_r"), before) < 1.0


def test_head_aim_turns_the_head_at_most_its_limit(bundle) -> None:
    plain = _settled(bundle, None)
    hx, hy = plain.pose.bone_position("head")
    base = plain.pose.bone_angle("head")
    far_right = _settled(bundle, parse_edits({"targets": {"head": [hx + 500, hy]}}, bundle.rig))
    assert far_right.pose.bone_angle("head") == pytest.approx(base - HEAD_AIM_LIMIT, abs=0.5)
    a = math.radians(base + 10)
    near = [hx + 100 * math.cos(a), hy + 100 * math.sin(a)]
    small = _settled(bundle, parse_edits({"targets": {"head": near}}, bundle.rig))
    assert small.pose.bone_angle("head") == pytest.approx(base + 10, abs=0.5)


def test_bone_rotations_set_offsets_from_setup_and_override_animation(bundle) -> None:
    rig = bundle.rig
    b = rig.bone_index["forearm_l"]
    s = _settled(bundle, parse_edits({"bones": {"forearm_l": 30}}, rig))
    assert s.pose.local[b, ROT] == pytest.approx(rig.setup_local[b, ROT] + 30)
    assert s.pose_offsets()["forearm_l"] == pytest.approx(30, abs=1e-3)
    # idle moves the forearm a little; the edit replaced that, it did not add to it
    assert _settled(bundle, None).pose_offsets().get("forearm_l", 0.0) != pytest.approx(30, abs=0.5)


def test_offsets_add_and_scale(bundle) -> None:
    rig = bundle.rig
    plain = _settled(bundle, None)
    edits = offsets_edits({"hat": BoneOffset(x=5, y=-3, rotation=12, scale=2)})
    s = _settled(bundle, edits)
    h = rig.bone_index["hat"]
    assert s.pose.local[h, X] == pytest.approx(plain.pose.local[h, X] + 5)
    assert s.pose.local[h, Y] == pytest.approx(plain.pose.local[h, Y] - 3)
    assert s.pose.local[h, ROT] == pytest.approx(plain.pose.local[h, ROT] + 12)
    assert s.pose.local[h, SX] == pytest.approx(plain.pose.local[h, SX] * 2)


def test_merged_keeps_none_for_nothing() -> None:
    look = offsets_edits({"hat": BoneOffset(scale=2)})
    pose = PoseEdits(bones={"head": 5.0}, offsets={"hat": BoneOffset(x=1)})
    assert merged(None, None) is None
    assert merged(PoseEdits(), offsets_edits({})) is None
    assert merged(look, None) is look
    both = merged(look, pose)
    assert both.bones == {"head": 5.0}
    assert both.offsets["hat"] == BoneOffset(x=1)  # the later one wins
