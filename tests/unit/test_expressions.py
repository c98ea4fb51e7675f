"""Expressions (engine/params/expressions.py): checked data, fades, held sliders, and the
puppet's tick merging them over tracked parameters and under the injection overlay."""

from __future__ import annotations

import pytest

from engine.assets import load_bundle
from engine.params.expressions import (
    Expression,
    ExpressionError,
    ExpressionLayer,
    parse_expressions,
)
from engine.puppet import Puppet

MOUTH = "ParamMouthOpenY"
SMILE = "ParamMouthForm"


@pytest.fixture(scope="module")
def bundle():
    return load_bundle("digi")


@pytest.fixture(scope="module")
def rig(bundle):
    return bundle.rig


def _layer(rig, fade: float = 1.0) -> ExpressionLayer:
    return ExpressionLayer(
        rig,
        [
            Expression("open", {MOUTH: 1.0}, "Digit1", fade),
            Expression("grin", {SMILE: 1.0, MOUTH: 0.5}, "Ctrl+Shift+KeyG", 0.0),
        ],
    )


def test_parse_round_trip_and_hotkeys(rig) -> None:
    data = [
        {"name": "Happy", "values": {SMILE: 1}, "hotkey": "Shift+Ctrl+KeyE", "fade": 0.5},
        {"name": "Shout", "values": {MOUTH: 1.0}, "hotkey": "F12"},
        {"name": "Plain", "values": {}},
    ]
    out = parse_expressions(data, rig)
    assert out[0].hotkey == "Ctrl+Shift+KeyE"  # modifiers in one order
    assert out[1].fade == 0.25 and out[2].hotkey is None
    assert parse_expressions([e.to_json() for e in out], rig) == out


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({}, ["expressions", "expected a list"]),
        ([{"name": "", "values": {}}], ["expressions[0].name", "1..40"]),
        ([{"name": "a\nb", "values": {}}], ["expressions[0].name", "control"]),
        ([{"name": "x" * 41, "values": {}}], ["expressions[0].name"]),
        (
            [{"name": "a", "values": {"ParamTail": 1}}],
            ["expressions[0].values.ParamTail", "unknown"],
        ),
        (
            [{"name": "a", "values": {MOUTH: 1.5}}],
            ["expressions[0].values.ParamMouthOpenY", "0..1"],
        ),
        ([{"name": "a", "values": {MOUTH: float("nan")}}], ["ParamMouthOpenY", "finite"]),
        ([{"name": "a", "values": {}, "fade": 6}], ["expressions[0].fade", "0..5"]),
        (
            [{"name": "a", "values": {}, "hotkey": "Digit0"}],
            ["expressions[0].hotkey", "not a hotkey"],
        ),
        (
            [{"name": "a", "values": {}, "hotkey": "Meta+KeyA"}],
            ["expressions[0].hotkey", "modifier"],
        ),
        ([{"name": "a", "values": {}, "hotkey": "Ctrl+Ctrl+KeyA"}], ["expressions[0].hotkey"]),
        ([{"name": "a", "values": {}, "extra": 1}], ["expressions[0].extra", "unknown key"]),
        (
            [{"name": "a", "values": {}}, {"name": "a", "values": {}}],
            ["expressions[1].name", "twice"],
        ),
        (
            [
                {"name": "a", "values": {}, "hotkey": "F1"},
                {"name": "b", "values": {}, "hotkey": "F1"},
            ],
            ["expressions[1].hotkey", "twice"],
        ),
        ([{"name": f"e{i}", "values": {}} for i in range(33)], ["expressions", "at most 32"]),
    ],
)
def test_bad_expressions_are_refused_naming_the_path(rig, data, words) -> None:
    with pytest.raises(ExpressionError) as e:
        parse_expressions(data, rig)
    for w in words:
        assert w in str(e.value)


def test_fade_in_and_out_is_linear_on_the_callers_clock(rig) -> None:
    layer = _layer(rig, fade=1.0)
    assert not layer.busy
    assert layer.toggle("open") is True
    assert layer.active == ["open"]
    assert layer.merge(10.0, {MOUTH: 0.2})[MOUTH] == pytest.approx(0.2)  # the ramp starts
    assert layer.merge(10.5, {MOUTH: 0.2})[MOUTH] == pytest.approx(0.6)  # halfway
    assert layer.merge(11.5, {MOUTH: 0.2})[MOUTH] == pytest.approx(1.0)
    assert layer.toggle("open") is False
    assert layer.merge(20.0, {})[MOUTH] == pytest.approx(1.0)
    assert layer.merge(20.25, {})[MOUTH] == pytest.approx(0.75)  # over the default 0
    # faded out: written back to its base (the default when the tick has none) once,
    # then the layer is idle
    assert layer.merge(21.5, {})[MOUTH] == 0.0
    assert not layer.busy and layer.merge(22.0, {}) == {}


def test_toggling_mid_fade_ramps_back_from_where_it_was(rig) -> None:
    layer = _layer(rig, fade=1.0)
    layer.set_active("open", True)
    layer.merge(0.0, {})
    assert layer.merge(0.4, {})[MOUTH] == pytest.approx(0.4)
    layer.set_active("open", False)
    layer.merge(1.0, {})  # the ramp down starts at 0.4
    assert layer.merge(1.1, {})[MOUTH] == pytest.approx(0.3)


def test_held_values_win_and_release(rig) -> None:
    layer = _layer(rig)
    layer.toggle("grin")  # fade 0: on at once
    out = layer.merge(0.0, {MOUTH: 0.0})
    assert out[SMILE] == 1.0 and out[MOUTH] == 0.5
    layer.hold({MOUTH: 0.9})
    assert layer.merge(0.1, {MOUTH: 0.0})[MOUTH] == 0.9
    with pytest.raises(ExpressionError, match=r"values\.ParamMouthOpenY"):
        layer.hold({MOUTH: 2.0})
    layer.toggle("grin")
    layer.hold({})
    out = layer.merge(0.2, {})
    assert out[MOUTH] == 0.0 and out[SMILE] == 0.0  # back to the defaults once
    assert not layer.busy


def test_unknown_names_and_replace(rig) -> None:
    layer = _layer(rig)
    with pytest.raises(ExpressionError, match='unknown expression "nope" \\(known: open, grin\\)'):
        layer.toggle("nope")
    layer.toggle("open")
    layer.toggle("grin")
    layer.replace([Expression("open", {MOUTH: 0.3}, None, 0.0)])
    assert layer.active == ["open"]
    out = layer.merge(0.0, {})
    assert out[SMILE] == 0.0  # grin is gone: its parameter goes back to the default


def test_puppet_blends_over_tracked_values_under_the_overlay(bundle) -> None:
    p = Puppet(bundle)
    p.expressions.replace([Expression("open", {MOUTH: 1.0}, "Digit1", 0.0)])
    p.tick(0.0, 1 / 60)
    assert p.session.params.get(MOUTH) == 0.0
    p.expressions.toggle("open")
    p.set_parameters({"ParamAngleX": 12.0})  # a tracked-like value keeps flowing
    p.tick(1 / 60, 1 / 60)
    assert p.session.params.get(MOUTH) == 1.0
    assert p.session.params.get("ParamAngleX") == 12.0
    p.overlay = lambda now, params: {**params, MOUTH: 0.25}  # injection: the last word
    p.tick(2 / 60, 1 / 60)
    assert p.session.params.get(MOUTH) == 0.25
    p.overlay = None
    p.expressions.toggle("open")
    p.tick(3 / 60, 1 / 60)
    assert p.session.params.get(MOUTH) == 0.0
