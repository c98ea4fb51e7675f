"""The one puppet loop (engine/puppet.py): requests validated at once and applied at the next
tick, tracked parameters layered under explicit ones, previews that keep playing, no CPU
skinning on the live path."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.assets import AvatarBundle
from engine.puppet import Puppet, PuppetError
from engine.tracking import FaceSignals, FaceTracker

TICK = 1 / 60


def run(puppet: Puppet, seconds: float, start: float = 0.0) -> float:
    t = start
    for _ in range(round(seconds / TICK)):
        t += TICK
        puppet.tick(t, TICK)
    return t


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (lambda p: p.transition("moonwalk"), 'unknown state "moonwalk"'),
        (lambda p: p.transition("dance", "dance_12"), 'unknown dance "dance_12" (known: dance_1'),
        (lambda p: p.stop("tail"), 'unknown region "tail"'),
        (lambda p: p.set_controls({"sped": 1.0}), 'unknown input "sped"'),
        (lambda p: p.set_controls({"speed": "fast"}), 'input "speed" must be a number'),
        (lambda p: p.set_controls({"speed": float("nan")}), 'input "speed" must be a number'),
        (lambda p: p.set_controls({"speed": True}), 'input "speed" must be a number'),
        (lambda p: p.set_parameters({"ParamTail": 1.0}), 'unknown parameter "ParamTail"'),
        (lambda p: p.set_parameters({"ParamAngleX": float("inf")}), "must be a number"),
        (lambda p: p.swap("hats", "top"), 'unknown category "hats"'),
        (lambda p: p.swap("outfit", "tuxedo"), 'unknown outfit "tuxedo" (known: '),
        (lambda p: p.calibrate(), "no face tracking to calibrate"),
        (lambda p: p.play("dance_99"), 'unknown animation "dance_99"'),
    ],
)
def test_bad_requests_name_what_is_wrong_and_change_nothing(
    digi: AvatarBundle, request_, message: str
) -> None:
    puppet = Puppet(digi)
    run(puppet, 0.1)
    before = puppet.pose.world.copy(), puppet.active_state, dict(puppet.wearing)
    with pytest.raises(PuppetError) as e:
        request_(puppet)
    assert message in str(e.value)
    twin = Puppet(digi)  # the same ticks with no request at all
    run(twin, 0.1)
    run(puppet, 0.1, 0.1)
    run(twin, 0.1, 0.1)
    assert puppet.active_state == before[1] and puppet.wearing == before[2]
    np.testing.assert_array_equal(puppet.pose.world, twin.pose.world)


def test_requests_take_effect_at_the_next_tick(digi: AvatarBundle) -> None:
    puppet = Puppet(digi)
    run(puppet, 0.1)
    puppet.transition("wave")
    puppet.swap("outfit", "armor")
    assert puppet.active_state == "idle" and puppet.wearing["outfit"] != "armor"
    puppet.tick(0.2, TICK)
    assert puppet.active_state == "wave" and puppet.wearing["outfit"] == "armor"


def test_a_named_dance_plays_that_dance(digi: AvatarBundle) -> None:
    puppet = Puppet(digi, seed=3)
    puppet.transition("dance", "dance_7")
    run(puppet, 0.5)
    playing = puppet.session.controller.anim.current(digi.machine.states["dance"].layer.track)
    assert puppet.state("body") == "dance" and playing.source.name == "dance_7"
    puppet.stop("body")
    run(puppet, 0.5, 0.5)
    assert puppet.state("body") == "idle"


def test_play_keeps_a_one_shot_going(digi: AvatarBundle) -> None:
    """A preview of "wave" (a 2 s one-shot that returns) waves on and on; without play()
    the avatar goes back to idle."""
    once, kept = Puppet(digi), Puppet(digi)
    once.transition("wave")
    kept.play("wave")
    states_once, states_kept = [], []
    t = 0.0
    for _ in range(round(5.0 / TICK)):
        t += TICK
        once.tick(t, TICK)
        kept.tick(t, TICK)
        states_once.append(once.active_state)
        states_kept.append(kept.active_state)
    assert states_once[-1] == "idle" and "wave" in states_once
    # re-entered at the tick after each wave ends (one tick of "idle" between, inside the
    # cross-fade): waving all along, and still waving after two full waves
    assert states_kept.count("idle") <= 3 and states_kept[-1] == "wave", states_kept


def test_tracking_is_a_layer_and_explicit_parameters_win(digi: AvatarBundle) -> None:
    tracker = FaceTracker(digi.tracking, digi.rig)
    puppet = Puppet(digi, tracker=tracker)
    t = 0.0
    for _ in range(60):  # one second of a face rolled 20 degrees, at 30 fps
        t += TICK
        if round(t / TICK) % 2 == 0:
            tracker.observe(FaceSignals(roll=20.0), t)
        puppet.tick(t, TICK)
    params = puppet.session.params
    tracked = params.get("ParamAngleZ")
    assert tracked < -10.0, f"a face rolled 20 degrees turned ParamAngleZ to {tracked}"
    assert puppet.last_face == pytest.approx(t - TICK, abs=2 * TICK)
    puppet.set_parameters({"ParamAngleZ": 12.0})
    puppet.tick(t + TICK, TICK)
    assert params.get("ParamAngleZ") == 12.0
    puppet.tick(t + 2 * TICK, TICK)  # one tick only: tracking takes over again
    assert params.get("ParamAngleZ") < -10.0


def test_the_live_tick_does_not_skin_on_the_cpu(digi: AvatarBundle) -> None:
    puppet = Puppet(digi)
    puppet.set_controls({"speed": 1.0})
    puppet.transition("walk")
    world0 = puppet.pose.world.copy()
    run(puppet, 0.5)
    assert not np.array_equal(world0, puppet.pose.world), "the skeleton did not move"
    assert not puppet.session.skinned.any(), "tick() skinned vertices on the CPU"
    frame = puppet.session.step(TICK)  # a caller that wants CPU vertices still gets them
    assert frame.draw and puppet.session.skinned.any()


def test_requests_from_another_thread_while_ticking(digi: AvatarBundle) -> None:
    puppet = Puppet(digi)
    errors: list[BaseException] = []
    stop = threading.Event()

    def hammer() -> None:
        try:
            n = 0
            while not stop.is_set():
                n += 1
                puppet.set_controls({"speed": (n % 30) / 10})
                puppet.transition(("walk", "idle", "wave")[n % 3])
                puppet.swap("accessories", ("none", "hat", "glasses")[n % 3])
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        run(puppet, 1.0)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert np.isfinite(puppet.pose.world).all()
