"""IK inside the pose's update plan: constraints see animated targets, write local rotations,
and the bones below them follow in the same frame."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.assets import load_bundle
from engine.pose import Pose
from engine.rig import RigData, parse_rig
from tests.conftest import arm_rig_data

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


def _elbow_side(
    rig: RigData, bend: float, chain: tuple[str, str], target: str, at: tuple[float, float]
) -> float:
    c = next(k for k in rig.ik if rig.bones[k.bones[0]].name == chain[0])
    rig = dataclasses.replace(
        rig, ik=tuple(dataclasses.replace(k, bend=bend) if k is c else k for k in rig.ik)
    )
    pose = Pose(rig)
    pose.set_ik_mix(c.name, 1.0)
    hx, hy = pose.bone_position(chain[0])
    pose.set_bone_world_position(target, hx + at[0], hy + at[1])
    pose.update_world()
    (ax, ay), (bx, by), (cx, cy) = _chain_joints(pose, chain)
    # > 0: the second bone turns counter-clockwise from the first
    return float(np.sign((bx - ax) * (cy - by) - (by - ay) * (cx - bx)))


def test_bend_direction_is_respected_and_flips() -> None:
    arm = parse_rig(arm_rig_data())
    assert _elbow_side(arm, 1.0, ("upper", "lower"), "target", (10.0, 25.0)) == 1.0
    assert _elbow_side(arm, -1.0, ("upper", "lower"), "target", (10.0, 25.0)) == -1.0


def test_joint_limits_keep_the_knee_bending_the_natural_way() -> None:
    c = RIG.ik[RIG.ik_index["leg_l_ik"]]
    reach = (0.1 * (c.lengths.sum()), -0.7 * c.lengths.sum())
    natural = _elbow_side(RIG, c.bend, ("thigh_l", "shin_l"), "ik_foot_l", reach)
    flipped = _elbow_side(RIG, -c.bend, ("thigh_l", "shin_l"), "ik_foot_l", reach)
    assert natural == c.bend
    assert flipped in (natural, 0.0)  # the shin's limit refuses the backwards bend
    pose = Pose(RIG)
    hx, hy = pose.bone_position("thigh_l")
    pose.set_bone_world_position("ik_foot_l", hx + reach[0], hy + reach[1])
    pose.update_world()
    lo, hi = c.limits[1]
    rel = pose.local[RIG.bone_index["shin_l"], 2] - RIG.bone("shin_l").rotation
    assert lo - 1e-6 <= rel <= hi + 1e-6


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
