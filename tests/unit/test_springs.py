"""Secondary motion: springs lag, overshoot, settle, stay within their limits, and step at a
fixed 60 Hz whatever the tick rate."""

from __future__ import annotations

import numpy as np
import pytest

from engine.kernels.layout import Y
from engine.pose import Pose
from engine.pose.springs import SpringSystem
from engine.rig import RigFormatError, parse_rig
from tests.conftest import arm_rig_data

DT = 1 / 60


def rig_with_spring(**spring: float):
    data = arm_rig_data()
    data["springs"] = [{"bone": "lower", "stiffness": 150, "damping": 6, "limit": 35, **spring}]
    return parse_rig(data, "arm.json")


def simulate(rig, xs: list[float], dt: float = DT) -> np.ndarray:
    """Move the body vertically along xs (across the forearm, which points +x), one tick
    each; the spring's offsets over time."""
    pose, springs = Pose(rig), SpringSystem(rig)
    out = []
    for x in xs:
        pose.reset()
        pose.local[rig.bone_index["body"], Y] = x
        pose.update_world()
        springs.step(pose, dt)
        out.append(springs.offsets[0])
    return np.array(out)


def test_at_rest_a_spring_does_nothing() -> None:
    assert np.all(simulate(rig_with_spring(), [0.0] * 120) == 0.0)


def test_it_lags_the_motion_then_settles() -> None:
    rig = rig_with_spring()
    # the body accelerates upwards for 0.25 s, then stops dead
    xs = [0.5 * 400 * (k * DT) ** 2 for k in range(15)]
    xs += [xs[-1]] * 240
    theta = simulate(rig, xs)
    # the forearm's tip lags below the motion: it turns clockwise (negative), then returns
    assert theta[:15].min() < -1.0
    assert np.abs(theta[-30:]).max() < 0.2
    # it overshoots after the stop: the sign flips at least once (follow-through)
    signs = np.sign(theta[np.abs(theta) > 0.05])
    assert (np.diff(signs) != 0).any()


def test_violent_motion_stays_within_the_limit_and_calms_down() -> None:
    rig = rig_with_spring(limit=35, gravity=300)
    rng = np.random.default_rng(1)
    xs = list(rng.uniform(-5000, 5000, 120)) + [0.0] * 600
    theta = simulate(rig, xs)
    assert np.isfinite(theta).all()
    assert np.abs(theta).max() <= 35.0 + 1e-9
    assert np.abs(np.diff(theta[-60:])).max() < 0.05  # settled (a gravity sag may remain)


def test_fixed_60hz_whatever_the_tick_rate() -> None:
    rig = rig_with_spring()
    xs60 = [30.0 * np.sin(k * DT * 7) for k in range(120)]
    # At 120 Hz a step happens every other tick (ticks 1, 3, 5, ...); give those ticks the
    # positions the 60 Hz run steps on, and the ticks between anything at all.
    xs120 = [xs60[0]] + [v for x in xs60[1:] for v in (x, -999.0)]
    a = simulate(rig, xs60)
    b = simulate(rig, xs120, dt=DT / 2)
    np.testing.assert_allclose(b[1::2], a[1:], atol=1e-9)  # step ticks: identical
    np.testing.assert_allclose(b[2::2], a[1:], atol=1e-9)  # in between: held


def test_bad_springs_are_clear_errors() -> None:
    data = arm_rig_data()
    data["springs"] = [{"bone": "root"}]
    with pytest.raises(
        RigFormatError, match=r"springs\[0\]\.bone: the root bone cannot be a spring"
    ):
        parse_rig(data, "arm.json")
    data["springs"] = [{"bone": "lower", "limit": 400}]
    with pytest.raises(RigFormatError, match=r"springs\[0\]\.limit: must be <= 180"):
        parse_rig(data, "arm.json")
