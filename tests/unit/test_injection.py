"""Injected parameter values (engine/params/injection.py): set with weight over the tick's
own value, add on top without accumulating, the one-second hold and the hand-back to
whatever drove the parameter before, one setter per parameter, held expressions."""

from __future__ import annotations

import pytest

from engine.assets import load_bundle
from engine.params.injection import InjectionError, ParameterInjection


@pytest.fixture(scope="module")
def rig():
    return load_bundle("digi").rig


def test_set_holds_one_second_then_lets_go(rig) -> None:
    inj = ParameterInjection(rig)
    inj.inject("a", {"ParamMouthOpenY": inj.check("ParamMouthOpenY", 0.8)}, now=10.0)
    assert inj.merge(10.5, {"ParamMouthOpenY": 0.1})["ParamMouthOpenY"] == pytest.approx(0.8)
    # tracking has it again after the hold; without tracking, the default
    assert inj.merge(11.01, {"ParamMouthOpenY": 0.1})["ParamMouthOpenY"] == pytest.approx(0.1)
    inj.inject("a", {"ParamMouthOpenY": (0.8, 1.0)}, now=20.0)
    inj.merge(20.1, {})
    assert inj.merge(21.2, {})["ParamMouthOpenY"] == pytest.approx(0.0)
    assert "ParamMouthOpenY" not in inj.merge(21.3, {})  # handed back once, then left alone


def test_weight_mixes_and_add_never_accumulates(rig) -> None:
    inj = ParameterInjection(rig)
    inj.inject("a", {"ParamAngleX": (20.0, 0.25)}, now=0.0)
    assert inj.merge(0.1, {"ParamAngleX": 4.0})["ParamAngleX"] == pytest.approx(4.0 + 0.25 * 16.0)
    inj.inject("b", {"ParamMouthOpenY": (0.3, 1.0)}, now=0.0, mode="add")
    inj.inject("c", {"ParamMouthOpenY": (0.2, 1.0)}, now=0.0, mode="add")
    for t in (0.1, 0.2, 0.3):
        assert inj.merge(t, {})["ParamMouthOpenY"] == pytest.approx(0.5)
    # clamped to the parameter's range
    inj.inject("b", {"ParamMouthOpenY": (5.0, 1.0)}, now=0.5, mode="add")
    assert inj.merge(0.6, {})["ParamMouthOpenY"] == pytest.approx(1.0)


def test_one_setter_per_parameter_and_release(rig) -> None:
    inj = ParameterInjection(rig)
    inj.inject("a", {"ParamEyeLOpen": (0.0, 1.0)}, now=0.0)
    with pytest.raises(InjectionError) as taken:
        inj.inject("b", {"ParamEyeLOpen": (1.0, 1.0)}, now=0.5)
    assert taken.value.field == "owner"
    inj.inject("b", {"ParamEyeLOpen": (1.0, 1.0)}, now=1.5)  # a's hold is over
    inj.release("b")
    assert inj.merge(1.6, {"ParamEyeLOpen": 0.7})["ParamEyeLOpen"] == pytest.approx(0.7)
    with pytest.raises(InjectionError):
        inj.inject("a", {"ParamEyeLOpen": (0.0, 1.0)}, now=2.0, mode="multiply")


def test_checks_and_held_expressions(rig) -> None:
    inj = ParameterInjection(rig)
    for pid, value, weight, field in [
        ("ParamNope", 1, 1, "parameter"),
        ("ParamAngleX", float("nan"), 1, "value"),
        ("ParamAngleX", True, 1, "value"),
        ("ParamAngleX", 2e6, 1, "value"),
        ("ParamAngleX", 1, 1.5, "weight"),
    ]:
        with pytest.raises(InjectionError) as bad:
            inj.check(pid, value, weight)
        assert bad.value.field == field
    inj.hold("smile.exp3.json", {"ParamMouthForm": 1.0})
    assert inj.merge(100.0, {"ParamMouthForm": -0.5})["ParamMouthForm"] == pytest.approx(1.0)
    assert inj.held == ["smile.exp3.json"]
    inj.unhold("smile.exp3.json")
    assert inj.merge(101.0, {"ParamMouthForm": -0.5})["ParamMouthForm"] == pytest.approx(-0.5)
