"""Keyframe sampling: Minecraft's LINEAR and CATMULLROM semantics, STEP, Spine's BEZIER,
holds, loop wrap, relative values, and events firing once."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.anim import AnimationPlayer, parse_clip
from engine.kernels.curves import BEZIER, CATMULLROM, LINEAR, STEP, sample
from engine.pose import Pose
from engine.rig import parse_rig
from tests.conftest import arm_rig_data


def catmull(a: float, p0: float, p1: float, p2: float, p3: float) -> float:
    # Minecraft's Mth.catmullrom, written out independently of the kernel
    return 0.5 * (
        2 * p1
        + (p2 - p0) * a
        + (2 * p0 - 5 * p1 + 4 * p2 - p3) * a**2
        + (3 * p1 - p0 - 3 * p2 + p3) * a**3
    )


def channel(times, vals, kind):
    k = len(times)
    values = np.zeros((k, 4))
    values[:, 0] = vals
    return np.asarray(times, float), values, np.full(k, kind, np.int64), np.zeros((k, 4, 4))


def at(ch, t: float) -> float:
    out = np.zeros(4)
    times, values, interp, curves = ch
    sample(times, values, interp, curves, 0, len(times), 1, t, out)
    return out[0]


keys = st.lists(st.floats(-100, 100), min_size=2, max_size=7)


@settings(max_examples=150, deadline=None)
@given(keys, st.floats(0, 1))
def test_linear_equals_formula_at_and_between_keys(vals: list[float], a: float) -> None:
    times = [0.5 * i for i in range(len(vals))]
    ch = channel(times, vals, LINEAR)
    for i, v in enumerate(vals):
        assert at(ch, times[i]) == pytest.approx(v, abs=1e-9)
    for i in range(len(vals) - 1):
        t = times[i] + a * 0.5
        assert at(ch, t) == pytest.approx(vals[i] + (vals[i + 1] - vals[i]) * a, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(keys, st.floats(0, 1))
def test_catmullrom_equals_formula_with_clamped_neighbours(vals: list[float], a: float) -> None:
    times = [0.25 * i for i in range(len(vals))]
    ch = channel(times, vals, CATMULLROM)
    n = len(vals)
    for i in range(n - 1):
        p0, p1, p2, p3 = vals[max(0, i - 1)], vals[i], vals[i + 1], vals[min(n - 1, i + 2)]
        assert at(ch, times[i] + a * 0.25) == pytest.approx(catmull(a, p0, p1, p2, p3), abs=1e-7)
        assert at(ch, times[i]) == pytest.approx(vals[i], abs=1e-9)


def test_destination_key_governs_the_segment() -> None:
    times = np.array([0.0, 1.0, 2.0])
    values = np.zeros((3, 4))
    values[:, 0] = [0.0, 10.0, 0.0]
    interp = np.array([CATMULLROM, LINEAR, STEP])  # segment 0-1 is linear, 1-2 is step
    ch = (times, values, interp, np.zeros((3, 4, 4)))
    assert at(ch, 0.5) == pytest.approx(5.0)
    assert at(ch, 1.5) == pytest.approx(10.0)
    assert at(ch, 1.999) == pytest.approx(10.0)
    assert at(ch, 2.0) == pytest.approx(0.0)


@pytest.mark.parametrize("kind", [LINEAR, CATMULLROM, STEP])
def test_holds_first_and_last_key(kind: int) -> None:
    ch = channel([0.5, 1.0, 1.5], [3.0, 7.0, -2.0], kind)
    assert at(ch, 0.0) == pytest.approx(3.0)
    assert at(ch, 0.49) == pytest.approx(3.0)
    assert at(ch, 1.6) == pytest.approx(-2.0)
    assert at(ch, 99.0) == pytest.approx(-2.0)


@settings(max_examples=100, deadline=None)
@given(
    st.floats(0.05, 0.95), st.floats(-50, 50), st.floats(0.05, 0.95), st.floats(-50, 50),
    st.floats(-20, 20), st.floats(-20, 20), st.floats(0.001, 0.999),
)  # fmt: skip
def test_bezier_matches_a_dense_reference(cx1, cy1, cx2, cy2, v0, v1, u) -> None:
    t0, t1 = 1.0, 2.0
    times = np.array([t0, t1])
    values = np.zeros((2, 4))
    values[:, 0] = [v0, v1]
    curves = np.zeros((2, 4, 4))
    curves[1, 0] = [t0 + cx1, cy1, t0 + cx2, cy2]
    ch = (times, values, np.array([LINEAR, BEZIER]), curves)
    # Reference: the curve sampled densely in its own parameter, then read at time t.
    s = np.linspace(0, 1, 200001)
    bx = (
        (1 - s) ** 3 * t0
        + 3 * (1 - s) ** 2 * s * (t0 + cx1)
        + 3 * (1 - s) * s**2 * (t0 + cx2)
        + s**3 * t1
    )
    by = (1 - s) ** 3 * v0 + 3 * (1 - s) ** 2 * s * cy1 + 3 * (1 - s) * s**2 * cy2 + s**3 * v1
    t = t0 + u * (t1 - t0)
    assert np.all(np.diff(bx) >= 0)
    assert at(ch, t) == pytest.approx(np.interp(t, bx, by), abs=2e-3)
    assert at(ch, t0) == pytest.approx(v0) and at(ch, t1) == pytest.approx(v1)


# --- clips on a pose ------------------------------------------------------------------------


def _clip(rig, **over):
    data = {
        "schema": 1,
        "name": "swing",
        "length": 2.0,
        "looping": True,
        "bones": {
            "upper": {
                "rotation": [
                    {"time": 0, "value": 0},
                    {"time": 1, "value": 30},
                    {"time": 1.5, "value": 10},
                ],
                "position": [{"time": 0, "value": [0, 0]}, {"time": 2, "value": [4, -2]}],
                "scale": [{"time": 0, "value": [1, 1]}, {"time": 2, "value": [2, 0.5]}],
            }
        },
        "slots": {
            "hand": {"attachment": [{"time": 0, "name": "open"}, {"time": 1, "name": "fist"}]}
        },
        "events": [{"time": 0.0, "name": "start"}, {"time": 0.5, "name": "step", "string": "left"}],
    }
    data.update(over)
    return parse_clip(data, rig, "swing.json")


def test_values_are_relative_to_setup_and_loop_wraps() -> None:
    rig = parse_rig(arm_rig_data())
    clip = _clip(rig)
    pose = Pose(rig)
    setup = rig.bone("upper")
    player = AnimationPlayer(rig)
    player.play(clip)
    for t, rot in ((0.5, 15.0), (1.25, 20.0), (1.75, 10.0)):
        player = AnimationPlayer(rig)
        player.play(clip)
        player.update(t + 2.0)  # one whole loop later: wrapped
        pose.reset()
        player.apply(pose)
        assert pose.local[1 + 1, 2] == pytest.approx(setup.rotation + rot)
    player = AnimationPlayer(rig)
    player.play(clip)
    player.update(1.0)
    pose.reset()
    player.apply(pose)
    assert pose.local[2, 0] == pytest.approx(setup.x + 2.0)  # position adds
    assert pose.local[2, 3] == pytest.approx(setup.scale_x * 1.5)  # scale multiplies
    assert pose.slot_attachment[rig.slot_index["hand"]] == "fist"


def test_events_fire_once_including_across_the_loop_wrap() -> None:
    rig = parse_rig(arm_rig_data())
    player = AnimationPlayer(rig)
    player.play(_clip(rig))
    names = []
    for _ in range(int(5.0 * 60)):  # 2.5 loops of a 2 s clip at 60 Hz
        names += [f.event.name for f in player.update(1 / 60)]
    assert names == ["start", "step", "start", "step", "start", "step"]


def test_events_with_a_step_larger_than_the_clip() -> None:
    rig = parse_rig(arm_rig_data())
    player = AnimationPlayer(rig)
    player.play(_clip(rig))
    names = [f.event.name for f in player.update(4.25)]  # two whole loops and a bit
    assert names == ["start", "step", "start", "step", "start"]


def test_one_shot_completes_once_and_holds_its_last_frame() -> None:
    rig = parse_rig(arm_rig_data())
    clip = _clip(rig, looping=False)
    calls = []
    player = AnimationPlayer(rig)
    player.play(clip, speed=2.0, on_complete=lambda: calls.append(1))
    for _ in range(120):
        player.update(1 / 60)
    assert calls == [1]
    assert player.completed and player.elapsed == pytest.approx(2.0)
    pose = Pose(rig)
    player.apply(pose)
    assert pose.local[2, 2] == pytest.approx(rig.bone("upper").rotation + 10.0)
