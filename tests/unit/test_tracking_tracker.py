"""Retargeting and the tracking layer: bindings from tracking.json, calibration, tracking
loss and return without pops, and the tracked face over the state machine."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from engine.assets import RIGS, AvatarBundle
from engine.session import AvatarSession, Inputs
from engine.tracking import FaceSignals, FaceTracker, load_tracking
from engine.tracking.retarget import Retargeter, TrackingFormatError
from engine.tracking.signals import INDEX, SIGNALS

CAMERA = 1 / 30
TICK = 1 / 60


def _run(tracker: FaceTracker, face, seconds: float, start: float = 0.0) -> list[dict]:
    """Ticks at 60 Hz; `face(t)` gives the camera frame's signals (or None) at 30 fps."""
    out = []
    n_ticks = round(seconds / TICK)
    next_frame = start
    for i in range(n_ticks):
        t = start + i * TICK
        if t + 1e-9 >= next_frame:
            tracker.observe(face(t), t)
            next_frame += CAMERA
        out.append(tracker.parameters(t, TICK))
    return out


def _tracker(bundle: AvatarBundle) -> FaceTracker:
    assert bundle.tracking is not None, "Digi ships tracking bindings"
    return FaceTracker(bundle.tracking, bundle.rig)


# --- the format -----------------------------------------------------------------------------


def _write(tmp_path: Path, doc: dict) -> Path:
    p = tmp_path / "tracking.json"
    p.write_text(json.dumps(doc))
    return p


@pytest.fixture
def digi_doc() -> dict:
    return json.loads((RIGS / "digi" / "tracking.json").read_text())


@pytest.mark.parametrize(
    ("edit", "where", "problem"),
    [
        (lambda d: d["bindings"][0].update(signal="nose"), "bindings[0].signal", "unknown value"),
        (
            lambda d: d["bindings"][1].update(parameter="ParamTail"),
            "bindings[1].parameter",
            "unknown parameter",
        ),
        (lambda d: d["bindings"][2].update(input=[5, 5]), "bindings[2].input", "empty"),
        (lambda d: d["bindings"][3].update(curve="wobbly"), "bindings[3].curve", "unknown value"),
        (lambda d: d["bindings"][0].update(damping=-1), "bindings[0].damping", ">= 0"),
        (lambda d: d.update(rig="testrig"), "rig", 'not "digi"'),
        (lambda d: d.update(schema=9), "schema", "unsupported"),
        (lambda d: d.pop("bindings"), "bindings", "missing"),
    ],
)
def test_bad_tracking_files_name_the_path(
    tmp_path: Path, digi: AvatarBundle, digi_doc: dict, edit, where: str, problem: str
) -> None:
    doc = copy.deepcopy(digi_doc)
    edit(doc)
    with pytest.raises(TrackingFormatError) as e:
        load_tracking(_write(tmp_path, doc), digi.rig)
    assert where in str(e.value) and problem in str(e.value) and "tracking.json" in str(e.value)


def test_binding_ranges_invert_curves_and_sums(tmp_path: Path, digi: AvatarBundle) -> None:
    doc = {
        "schema": 1, "rig": "digi",
        "bindings": [
            {"signal": "yaw", "parameter": "ParamAngleX", "input": [-30, 30], "output": [-30, 30], "invert": True},
            {"signal": "mouth_open", "parameter": "ParamMouthOpenY", "input": [0, 1], "output": [0, 1], "curve": "ease-in"},
            {"signal": "yaw", "parameter": "ParamBodyAngleX", "input": [-30, 30], "output": [-3, 3]},
            {"signal": "roll", "parameter": "ParamBodyAngleX", "input": [-30, 30], "output": [-6, 6]},
        ],
    }  # fmt: skip
    r = Retargeter(load_tracking(_write(tmp_path, doc), digi.rig), digi.rig)
    x = FaceSignals(yaw=15, roll=-10, mouth_open=0.5).as_array()
    out = dict(zip(r.parameters, r.step(x, TICK), strict=True))
    assert out["ParamAngleX"] == pytest.approx(-15)  # inverted
    assert out["ParamMouthOpenY"] == pytest.approx(0.25)  # ease-in: u^2
    assert out["ParamBodyAngleX"] == pytest.approx(1.5 - 2.0)  # two bindings add
    far = FaceSignals(yaw=90).as_array()
    assert dict(zip(r.parameters, r.step(far, TICK), strict=True))["ParamAngleX"] == -30  # clamped


def test_damping_does_not_depend_on_the_tick_rate(tmp_path: Path, digi: AvatarBundle) -> None:
    doc = {"schema": 1, "rig": "digi", "bindings": [
        {"signal": "yaw", "parameter": "ParamAngleX", "input": [-30, 30], "output": [-30, 30], "damping": 0.2}]}  # fmt: skip
    data = load_tracking(_write(tmp_path, doc), digi.rig)
    target = FaceSignals(yaw=20).as_array()
    ends = []
    for rate in (30, 60, 120):
        r = Retargeter(data, digi.rig)
        r.step(FaceSignals().as_array(), 1 / rate)
        for _ in range(round(0.3 * rate)):
            v = r.step(target, 1 / rate)
        ends.append(float(v[0]))
    assert ends[0] == pytest.approx(20 * (1 - np.exp(-1.5)), rel=1e-6)
    assert np.ptp(ends) < 1e-6


# --- the tracker -------------------------------------------------------------------------------


def test_the_binding_mirrors_the_user(digi: AvatarBundle) -> None:
    """Digi moves like the user's reflection: the user's left eye closes Digi's right eye,
    a counter-clockwise roll in the camera tilts Digi clockwise."""
    tr = _tracker(digi)
    p = _run(tr, lambda t: FaceSignals(roll=20, yaw=15, eye_open_l=0.0, eye_open_r=1.0), 1.5)[-1]
    assert p["ParamAngleZ"] == pytest.approx(-20, abs=0.5)
    assert p["ParamAngleX"] == pytest.approx(-15, abs=0.5)
    assert p["ParamBodyAngleX"] < -1  # the body leans with the head by a fraction
    assert abs(p["ParamBodyAngleX"]) < abs(p["ParamAngleX"])


def _max_step(ticks: list[dict], name: str) -> float:
    v = np.array([p[name] for p in ticks])
    return float(np.abs(np.diff(v)).max())


def test_tracking_loss_eases_to_rest_and_back_without_pops(digi: AvatarBundle) -> None:
    tr = _tracker(digi)
    pose = FaceSignals(roll=25, yaw=-20, pitch=10, mouth_open=0.8, eye_open_l=0.6, eye_open_r=0.6)
    present = lambda t: pose if t < 2.0 or t >= 4.0 else None  # noqa: E731
    ticks = _run(tr, present, 6.0)
    at = lambda s: ticks[round(s / TICK)]  # noqa: E731
    assert at(1.9)["ParamAngleZ"] == pytest.approx(-25, abs=0.5)
    assert at(2.4)["ParamAngleZ"] == pytest.approx(-25, abs=0.5)  # 0.5 s of grace
    assert at(3.5)["ParamAngleZ"] == 0.0 and at(3.5)["ParamFaceTracked"] == 0.0  # at rest
    assert at(3.5)["ParamMouthOpenY"] == 0.0 and at(3.5)["ParamEyeLOpen"] == 1.0
    assert at(5.9)["ParamAngleZ"] == pytest.approx(-25, abs=0.5)  # back
    # no pops either way: the largest change per tick is a small part of the full swing
    # (a hard cut would move 25 degrees in one tick)
    for name, swing in (("ParamAngleZ", 25), ("ParamAngleX", 20), ("ParamMouthOpenY", 1.0)):
        assert _max_step(ticks[100:], name) < swing * 0.08, name
    assert _max_step(ticks, "ParamFaceTracked") < 0.08


def test_a_black_gap_shorter_than_the_timeout_keeps_the_pose(digi: AvatarBundle) -> None:
    tr = _tracker(digi)
    face = lambda t: None if 1.0 <= t < 1.3 else FaceSignals(roll=15)  # noqa: E731
    ticks = _run(tr, face, 2.0)
    assert min(p["ParamFaceTracked"] for p in ticks[60:]) == 1.0
    assert all(p["ParamAngleZ"] == pytest.approx(-15, abs=0.5) for p in ticks[50:])


def test_narrow_eyes_still_open_and_close_fully(digi: AvatarBundle) -> None:
    """A user whose eyes only ever read 0.5 open: after a few seconds of blinking the
    adaptive range opens Digi's eyes fully and still closes them."""
    tr = _tracker(digi)

    def face(t: float) -> FaceSignals:
        blink = (t % 2.0) < 0.1
        return FaceSignals(eye_open_l=0.0 if blink else 0.5, eye_open_r=0.0 if blink else 0.5)

    ticks = _run(tr, face, 8.0)
    late = ticks[round(5.5 / TICK) :]
    assert max(p["ParamEyeLOpen"] for p in late) > 0.95
    assert min(p["ParamEyeLOpen"] for p in late) < 0.05
    early = ticks[round(0.8 / TICK)]
    assert early["ParamEyeLOpen"] < 0.8  # before adapting, half-open eyes read half open


def test_neutral_calibration_takes_the_users_rest_pose(digi: AvatarBundle) -> None:
    tr = _tracker(digi)
    rest = FaceSignals(roll=8, pitch=-12, yaw=5, brow_l=0.3, brow_r=0.3)
    _run(tr, lambda t: rest, 1.0)
    tr.calibrate(1.0)
    after = _run(tr, lambda t: rest, 1.5, start=1.0)[-1]
    assert abs(after["ParamAngleZ"]) < 0.5 and abs(after["ParamAngleY"]) < 0.5
    assert abs(after["ParamBrowLY"]) < 0.05
    tilted = FaceSignals(roll=18, pitch=-12, yaw=5, brow_l=0.3, brow_r=0.3)
    moved = _run(tr, lambda t: tilted, 1.0, start=2.5)[-1]
    assert moved["ParamAngleZ"] == pytest.approx(-10, abs=0.5)  # relative to the neutral


def test_a_blink_reaches_the_parameters_within_two_ticks(digi: AvatarBundle) -> None:
    tr = _tracker(digi)
    closed_at = 1.0

    def face(t: float) -> FaceSignals:
        shut = closed_at <= t < closed_at + CAMERA
        return FaceSignals(eye_open_l=0.0 if shut else 1.0, eye_open_r=0.0 if shut else 1.0)

    ticks = _run(tr, face, 1.5)
    i = round(closed_at / TICK)
    assert min(p["ParamEyeLOpen"] for p in ticks[i : i + 3]) < 0.1
    assert ticks[i + 8]["ParamEyeLOpen"] > 0.9


def test_every_signal_reaches_the_filters() -> None:
    assert len(SIGNALS) == len(INDEX) == len(FaceSignals().as_array())


def test_tracking_layers_over_the_state_machine(digi: AvatarBundle) -> None:
    """While walking, the tracked roll tilts the head on top of the walk; the walk goes on."""
    tr = _tracker(digi)
    walk = AvatarSession(digi, seed=2)
    tracked = AvatarSession(digi, seed=2)
    walking = Inputs(controls={"speed": 1.0}, transitions=["walk"])
    walk.step(TICK, walking)
    tracked.step(TICK, Inputs(controls={"speed": 1.0}, transitions=["walk"]))
    head = digi.rig.bone_index["head"]
    hips = digi.rig.bone_index["hips"]
    t = 0.0
    for i in range(90):
        t = i * TICK
        if i % 2 == 0:
            tr.observe(FaceSignals(roll=20), t)
        walk.step(TICK)
        tracked.step(TICK, Inputs(parameters=tr.parameters(t, TICK)))
    assert tracked.controller.state() == "walk"
    # the hips walk exactly alike; the head turns by the tracked tilt on top
    assert np.allclose(walk.pose.world[hips], tracked.pose.world[hips])
    turn = lambda s: np.degrees(np.arctan2(s.pose.world[head, 2], s.pose.world[head, 0]))  # noqa: E731
    assert turn(tracked) - turn(walk) < -5
