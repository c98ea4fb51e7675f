"""Bad rig, animation and state-machine files raise one clear error naming the JSON path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.anim import (
    AnimationFormatError,
    StateMachineFormatError,
    parse_clip,
    parse_state_machine,
)
from engine.rig import RigFormatError, load_rig, parse_rig
from tests.conftest import arm_rig_data


def rig_error(mutate) -> str:
    data = arm_rig_data()
    mutate(data)
    with pytest.raises(RigFormatError) as e:
        parse_rig(data, "rigs/arm/rig.json")
    return str(e.value)


def test_valid_rig_loads(arm_rig) -> None:
    assert [b.name for b in arm_rig.bones][:3] == ["root", "body", "upper"]
    assert arm_rig.vertex_count == 6


def test_unknown_parent_bone() -> None:
    def m(d: dict[str, Any]) -> None:
        d["bones"][3]["parent"] = "hips2"

    assert rig_error(m) == 'rigs/arm/rig.json: bones[3].parent: unknown bone "hips2"'


def test_parent_cycle() -> None:
    def m(d: dict[str, Any]) -> None:
        d["bones"][2]["parent"] = "lower"  # upper -> lower -> upper

    msg = rig_error(m)
    assert msg.startswith("rigs/arm/rig.json: bones[2].parent: parent cycle through")
    assert '"upper"' in msg and '"lower"' in msg


def test_weights_must_sum_to_one() -> None:
    def m(d: dict[str, Any]) -> None:
        d["attachments"]["skin"]["arm"]["weights"][2] = [["upper", 0.5], ["lower", 0.4]]

    assert (
        rig_error(m)
        == "rigs/arm/rig.json: attachments.skin.arm.weights[2]: weights sum to 0.9, not 1"
    )


def test_nan_is_rejected() -> None:
    def m(d: dict[str, Any]) -> None:
        d["bones"][1]["rotation"] = float("nan")

    assert rig_error(m) == "rigs/arm/rig.json: bones[1].rotation: expected a finite number, got nan"


def test_missing_field() -> None:
    def m(d: dict[str, Any]) -> None:
        del d["slots"][0]["bone"]

    assert rig_error(m) == "rigs/arm/rig.json: slots[0].bone: missing required field"


def test_wrong_schema_version() -> None:
    def m(d: dict[str, Any]) -> None:
        d["schema"] = 2

    assert rig_error(m) == "rigs/arm/rig.json: schema: unsupported version 2 (this build reads 1)"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["ik"][0].update(bones=["upper"]), "ik[0].bones: a limb chain has exactly 2 bones, got 1"),
        (lambda d: d["ik"][0].update(target="hand"), 'ik[0].target: target "hand" must not be in or under its own chain'),
        (lambda d: d["attachments"]["skin"]["arm"]["triangles"].append([0, 1, 9]), "attachments.skin.arm.triangles[4][2]: vertex index 9 out of range (mesh has 6 vertices)"),
        (lambda d: d["slots"][1].update(attachment="glove"), 'slots[1].attachment: unknown attachment "glove" for slot "hand"'),
        (lambda d: d["parameters"][0]["bindings"][0].update(keys=[[1, 0], [0, 1]]), "parameters[0].bindings[0].keys: key parameter values must be strictly increasing"),
        (lambda d: d["bones"][1].update(inherit="sometimes"), 'bones[1].inherit: unknown value "sometimes"'),
        (lambda d: d["slots"][1].update(name="skin"), 'slots[1].name: duplicate slot name "skin"'),
        (lambda d: d["parameters"].append(dict(d["parameters"][0])), 'parameters[1].id: duplicate parameter id "ParamArm"'),
    ],
)  # fmt: skip
def test_more_rig_errors_name_their_path(mutate, expected: str) -> None:
    assert rig_error(mutate).startswith("rigs/arm/rig.json: " + expected)


def test_load_rig_reports_bad_json(tmp_path: Path) -> None:
    p = tmp_path / "rig.json"
    p.write_text("{not json")
    with pytest.raises(RigFormatError, match=r"rig\.json: not valid JSON"):
        load_rig(p)


CLIP: dict[str, Any] = {
    "schema": 1,
    "name": "wave",
    "length": 1.0,
    "bones": {"upper": {"rotation": [{"time": 0, "value": 0}, {"time": 1, "value": 90}]}},
}


def clip_error(mutate) -> str:
    data = json.loads(json.dumps(CLIP))
    mutate(data)
    with pytest.raises(AnimationFormatError) as e:
        parse_clip(data, parse_rig(arm_rig_data()), "wave.json")
    return str(e.value)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["bones"].update(hips2={}), 'wave.json: bones.hips2: unknown bone "hips2"'),
        (lambda d: d["bones"]["upper"]["rotation"][1].update(value=float("inf")), "wave.json: bones.upper.rotation[1].value: expected a finite number, got inf"),
        (lambda d: d["bones"]["upper"]["rotation"][1].update(time=2.0), "wave.json: bones.upper.rotation[1].time: must be <= 1.0, got 2.0"),
        (lambda d: d["bones"]["upper"]["rotation"][1].update(time=0.0), "wave.json: bones.upper.rotation[1].time: key times must increase"),
        (lambda d: d["bones"]["upper"]["rotation"][1].update(interp="cubic"), 'wave.json: bones.upper.rotation[1].interp: unknown value "cubic"'),
        (lambda d: d["bones"]["upper"]["rotation"][1].update(interp="bezier"), "wave.json: bones.upper.rotation[1].curve: missing required field"),
        (lambda d: d["bones"]["upper"].update(position=[{"time": 0, "value": [1]}]), "wave.json: bones.upper.position[0].value: expected 2 numbers, got 1"),
        (lambda d: d.pop("length"), "wave.json: length: missing required field"),
        (lambda d: d.update(schema="1"), 'wave.json: schema: expected an integer schema version, got the string "1"'),
        (lambda d: d.update(slots={"hand": {"attachment": [{"time": 0, "name": "glove"}]}}), 'wave.json: slots.hand.attachment[0].name: unknown attachment "glove" for slot "hand"'),
    ],
)  # fmt: skip
def test_bad_clips_name_their_path(mutate, expected: str) -> None:
    assert clip_error(mutate).startswith(expected)


def test_bad_state_machine_names_its_path() -> None:
    rig = parse_rig(arm_rig_data())
    clips = {"wave": parse_clip(CLIP, rig)}
    machine = {
        "schema": 1,
        "layers": [{"name": "body", "priority": "idle"}],
        "states": {"wave": {"layer": "body", "animation": "wave", "next": "nap"}},
    }
    with pytest.raises(StateMachineFormatError) as e:
        parse_state_machine(machine, clips, set(rig.bone_index), "sm.json")
    assert str(e.value) == 'sm.json: states.wave.next: unknown state "nap"'
    machine["states"]["wave"] = {"layer": "body", "animation": "wavy"}
    with pytest.raises(
        StateMachineFormatError, match=r'states.wave.animation: unknown animation "wavy"'
    ):
        parse_state_machine(machine, clips, set(rig.bone_index), "sm.json")
    machine["layers"][0]["priority"] = "urgent"
    with pytest.raises(
        StateMachineFormatError, match=r'layers\[0\].priority: unknown value "urgent"'
    ):
        parse_state_machine(machine, clips, set(rig.bone_index), "sm.json")
