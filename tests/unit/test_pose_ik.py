"""IK inside the pose's update plan: constraints see animated targets, write local rotations,
and the bones below them follow in the same frame."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.assets import load_bundle
from engine.pose import Pose

RIG = load_bundle("testrig").rig


def _chain_joints(pose: Pose, bones: tuple[str, str]) -> list[tuple[float, float]]:
    return [pose.bone_position(bones[0]), pose.bone_position(bones[1]), pose.bone_tip(bones[1])]


@settings(max_examples=150, deadline=None)
@given(st.floats(0.3, 0.97), st.floats(-180, 180))  # folds beyond the elbow's limit excluded
def test_limb_ik_on_the_arm_reaches_reachable_targets(reach: float, direction: float) -> None:
    pose = Pose(RIG)
    pose.set_ik_mix("arm_l_ik", 1.0)
    l1, l2 = RIG.bone("upperarm_l").length, RIG.bone("forearm_l").length
    sx, sy = pose.bone_position("upperarm_l")
    lo = abs(l1 - l2)
    d = lo + 1e-3 + reach * (l1 + l2 - lo - 2e-3)
    tx, ty = sx + d * math.cos(math.radians(direction)), sy + d * math.sin(math.radians(direction))
    pose.set_bone_world_position("ik_hand_l", tx, ty)
    pose.update_world()
    j0, j1, tip = _chain_joints(pose, ("upperarm_l", "forearm_l"))
    assert math.dist(tip, (tx, ty)) < 1e-4
    assert math.dist(j0, j1) == pytest.approx(l1, abs=1e-9)  # lengths never change
    assert math.dist(j1, tip) == pytest.approx(l2, abs=1e-9)
    # the hand is a child of the forearm: it follows in the same frame
    w = pose.world[RIG.bone_index["forearm_l"]]
    hand = RIG.bone("hand_l")
    expected = (w[0] * hand.x + w[1] * hand.y + w[4], w[2] * hand.x + w[3] * hand.y + w[5])
    assert math.dist(pose.bone_position("hand_l"), expected) < 1e-9


def test_bend_direction_comes_from_the_rig_and_flips() -> None:
    c = RIG.ik[RIG.ik_index["leg_l_ik"]]
    sides = []
    for bend in (c.bend, -c.bend):
        data_rig = RIG if bend == c.bend else _with_bend(c.name, bend)
        pose = Pose(data_rig)
        hx, hy = pose.bone_position("thigh_l")
        l = data_rig.bone("thigh_l").length + data_rig.bone("shin_l").length
        pose.set_bone_world_position("ik_foot_l", hx + 0.1 * l, hy - 0.7 * l)
        pose.update_world()
        (ax, ay), (bx, by), (cx, cy) = _chain_joints(pose, ("thigh_l", "shin_l"))
        sides.append(np.sign((cx - ax) * (by - ay) - (cy - ay) * (bx - ax)))
    assert sides[0] == -sides[1] != 0


def _with_bend(name: str, bend: float):
    import dataclasses

    ik = tuple(dataclasses.replace(k, bend=bend) if k.name == name else k for k in RIG.ik)
    return dataclasses.replace(RIG, ik=ik)


def test_mix_blends_fk_and_ik() -> None:
    poses = {}
    for mix in (0.0, 0.5, 1.0):
        pose = Pose(RIG)
        pose.set_ik_mix("arm_r_ik", mix)
        x, y = pose.bone_position("upperarm_r")
        pose.set_bone_world_position("ik_hand_r", x + 30, y + 10)
        pose.update_world()
        poses[mix] = pose.local[RIG.bone_index["upperarm_r"], 2]
    assert poses[0.0] == pytest.approx(RIG.bone("upperarm_r").rotation)
    mid = poses[0.0] + ((poses[1.0] - poses[0.0] + 180) % 360 - 180) / 2
    assert poses[0.5] == pytest.approx(mid, abs=1e-9)


def test_unreachable_target_points_the_chain_at_it() -> None:
    pose = Pose(RIG)
    pose.set_ik_mix("arm_l_ik", 1.0)
    x, y = pose.bone_position("upperarm_l")
    pose.set_bone_world_position("ik_hand_l", x - 500, y + 500)
    pose.update_world()
    assert pose.bone_angle("upperarm_l") == pytest.approx(135.0, abs=1e-6)
    assert pose.bone_angle("forearm_l") == pytest.approx(135.0, abs=1e-6)
