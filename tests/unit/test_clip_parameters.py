"""Parameter timelines in clips (a custom emote keys the mouth), and the solo clip the
studio's timeline shows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.anim.loader import AnimationFormatError, parse_clip
from engine.anim.statemachine import StateData
from engine.assets import load_bundle
from engine.kernels.layout import ROT
from engine.pose.edits import parse_edits
from engine.session import AvatarSession, Solo

TICK = 1 / 60
ANGLE = "ParamAngleX"  # bound to the head's bones: its effect shows in the pose


def _clip(**extra) -> dict:
    return {
        "schema": 1,
        "name": "nod",
        "length": 1.0,
        "bones": {"forearm_l": {"rotation": [{"time": 0, "value": 0}, {"time": 1, "value": 40}]}},
        "parameters": {
            ANGLE: [{"time": 0, "value": 30}, {"time": 1, "value": 30}],
            "ParamMouthOpenY": [
                {"time": 0, "value": 0},
                {"time": 0.5, "value": 1, "interp": "step"},
                {"time": 1, "value": 0, "interp": "bezier", "curve": [0.6, 1, 0.9, 0]},
            ],
        },
        **extra,
    }


@pytest.fixture(scope="module")
def bundle():
    return load_bundle("digi")


@pytest.fixture(scope="module")
def clip(bundle):
    return parse_clip(_clip(), bundle.rig)


def test_parameter_timelines_are_packed_and_sampled(clip) -> None:
    assert clip.param_ids == (ANGLE, "ParamMouthOpenY")
    assert clip.sample_parameters(0.25) == {ANGLE: 30.0, "ParamMouthOpenY": 0.0}
    assert clip.sample_parameters(0.5)["ParamMouthOpenY"] == 1.0
    values = np.zeros(21)
    clip.mix_parameters(0.5, values, 0.5)  # v = base + (clip - base) * alpha
    assert values[0] == 15.0


@pytest.mark.parametrize(
    ("params", "words"),
    [
        (
            {"ParamTail": [{"time": 0, "value": 0}]},
            ['unknown parameter "ParamTail"', "ParamAngleX"],
        ),
        ({ANGLE: [{"time": 0, "value": 31}]}, ["parameters.ParamAngleX[0].value", "<= 30"]),
        ({ANGLE: [{"time": 0, "value": float("nan")}]}, ["ParamAngleX[0].value", "finite"]),
        ({ANGLE: []}, ["parameters.ParamAngleX"]),
        ({ANGLE: [{"time": 2, "value": 0}]}, ["parameters.ParamAngleX[0].time"]),
    ],
)
def test_bad_parameter_timelines_are_refused(bundle, params, words) -> None:
    with pytest.raises(AnimationFormatError) as e:
        parse_clip({**_clip(), "parameters": params}, bundle.rig)
    for w in words:
        assert w in str(e.value)


def _with_emote(bundle, clip):
    machine = bundle.machine
    layer = next(la for la in machine.layers if la.name == "emote")
    st = StateData("nod", layer, ((clip, 1.0),), None, None, 1.0, None, None, True, False, 0.0, ())
    machine = dataclasses.replace(machine, states={**machine.states, "nod": st})
    return dataclasses.replace(bundle, machine=machine)


def test_a_playing_clip_mixes_its_parameters_over_the_ticks(bundle, clip) -> None:
    head = bundle.rig.bone_index["head"]
    played = AvatarSession(_with_emote(bundle, clip))
    played.params.set(ANGLE, -20.0)  # what tracking says: the clip wins at alpha 1
    played.advance(TICK)
    played.controller.transition("nod")
    played.advance(TICK)
    direct = AvatarSession(bundle)
    direct.params.set(ANGLE, 30.0)
    direct.advance(TICK)
    direct.advance(TICK)
    assert played.controller.state("emote") == "nod"
    assert played.pose.world[head] == pytest.approx(direct.pose.world[head], abs=1e-6)
    # the session's own value is the tracking's: the clip mixes per tick, it does not stick
    assert played.params.get(ANGLE) == -20.0
    for _ in range(90):  # the emote ends: the tracked value shows again
        played.advance(TICK)
    assert played.controller.state("emote") != "nod"
    tracked = AvatarSession(bundle)
    tracked.params.set(ANGLE, -20.0)
    for _ in range(92):  # the same idle, as long
        tracked.advance(TICK)
    assert played.pose.world[head, :4] == pytest.approx(tracked.pose.world[head, :4], abs=1e-6)


def test_solo_shows_setup_plus_the_clip_and_holds_the_controller(bundle, clip) -> None:
    rig = bundle.rig
    s = AvatarSession(bundle)
    s.advance(TICK)
    before = s.controller.anim.tracks[0].current.progress
    s.solo = Solo(clip, 0.5)
    assert s.advance(0.5) == []
    assert s.controller.anim.tracks[0].current.progress == before
    fl = rig.bone_index["forearm_l"]
    assert s.pose.local[fl, ROT] == pytest.approx(rig.setup_local[fl, ROT] + 20.0)
    spine = rig.bone_index["spine"]  # idle sways the spine; solo shows setup there
    assert s.pose.local[spine, ROT] == pytest.approx(rig.setup_local[spine, ROT])
    direct = AvatarSession(bundle)
    direct.params.set(ANGLE, 30.0)
    direct.params.set("ParamMouthOpenY", 1.0)
    direct.solo = Solo(clip, 0.5)
    direct.advance(0.0)
    springs = {sp.bone for sp in rig.springs}  # they swing by dt: compare the rest
    rest = [b.index for b in rig.bones if b.index not in springs and b.parent not in springs]
    assert s.pose.world[rest] == pytest.approx(direct.pose.world[rest])
    assert s.params.get(ANGLE) == 0.0
    # edits apply after the solo clip
    s.edits = parse_edits({"bones": {"forearm_l": -10}}, rig)
    s.advance(0.0)
    assert s.pose.local[fl, ROT] == pytest.approx(rig.setup_local[fl, ROT] - 10.0)


def test_the_library_counts_parameter_timelines() -> None:
    from webapi.library.animations import _count

    assert _count(_clip()) == (3, 7)
