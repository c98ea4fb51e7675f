"""What the puppet page's controls mean (docs/CONTROL.md "Controls"), on Digi's own state
machine through the live puppet loop: body states end a dance or an emote, an emote plays
over the body and the body shows again when it ends, tool moves keep to the arm, and what a
region will do by itself is reported and can be cancelled. The combinations the streamer
of issue 15 hit: Dance then Idle, Dance then Sit, Dance then Wave, Emotes -> Stop."""

from __future__ import annotations

import re

import pytest

from engine.anim.statemachine import StateMachineFormatError, parse_state_machine
from engine.assets import AvatarBundle
from engine.puppet import Puppet, PuppetError

TICK = 1 / 60


def run(puppet: Puppet, seconds: float) -> None:
    for _ in range(max(1, round(seconds / TICK))):
        puppet.tick(0.0, TICK)


def layers(puppet: Puppet) -> dict[str, str | None]:
    return puppet.playing.layers


@pytest.fixture
def puppet(digi: AvatarBundle) -> Puppet:
    p = Puppet(digi, seed=4)
    run(p, 0.1)
    return p


def test_idle_stops_a_dance(puppet: Puppet) -> None:
    puppet.transition("dance")
    run(puppet, 1.0)
    assert layers(puppet)["body"] == "dance"
    assert puppet.playing.animations["body"].startswith("dance_")
    puppet.transition("idle")
    run(puppet, 0.5)
    assert layers(puppet) == {"body": "idle", "tool": None, "emote": None}
    assert puppet.active_state == "idle"
    assert not any("dance" in (a or "") for a in puppet.playing.animations.values())


def test_sit_stops_a_dance_at_once_not_after_it(puppet: Puppet) -> None:
    puppet.transition("dance")
    run(puppet, 0.5)
    puppet.transition("sit")
    run(puppet, 0.3)
    assert layers(puppet)["body"] == "sit" and puppet.active_state == "sit"
    assert puppet.playing.queued == ()  # nothing waiting to come back
    run(puppet, 5.0)
    assert layers(puppet)["body"] == "sit"


def test_a_body_state_ends_a_running_emote(puppet: Puppet) -> None:
    puppet.transition("wave")
    run(puppet, 0.5)
    assert layers(puppet)["emote"] == "wave"
    puppet.transition("sit")
    run(puppet, 0.1)
    assert layers(puppet)["emote"] is None and puppet.active_state == "sit"


def test_an_emote_over_a_dance_plays_on_top_and_the_same_dance_shows_again(
    puppet: Puppet,
) -> None:
    puppet.transition("dance", "dance_4")
    run(puppet, 1.0)
    puppet.transition("wave")
    run(puppet, 0.5)
    assert layers(puppet) == {"body": "dance", "tool": None, "emote": "wave"}
    assert puppet.active_state == "wave"
    assert puppet.playing.animations["body"] == "dance_4"  # it kept dancing underneath
    run(puppet, 2.0)  # a wave lasts 2 s
    assert layers(puppet)["emote"] is None
    assert puppet.active_state == "dance" and puppet.playing.animations["body"] == "dance_4"


def test_emote_stop_ends_only_the_emote(puppet: Puppet) -> None:
    puppet.transition("dance")
    run(puppet, 0.3)
    puppet.transition("laugh")
    run(puppet, 0.3)
    puppet.stop("emote")
    run(puppet, 0.3)
    assert layers(puppet) == {"body": "dance", "tool": None, "emote": None}
    puppet.stop("body")  # the body's own stop: back to idle
    run(puppet, 0.3)
    assert layers(puppet)["body"] == "idle"


def test_no_phantom_body_state_after_emote_stop(puppet: Puppet) -> None:
    # the report: Dance, Idle, Sit, then Emotes -> Stop, and Digi jumped into a queued Sit
    for state in ("dance", "idle", "sit"):
        puppet.transition(state)
        run(puppet, 0.3)
    assert layers(puppet)["body"] == "sit"  # Sit took effect when pressed
    puppet.stop("emote")
    run(puppet, 0.5)
    assert layers(puppet)["body"] == "sit" and puppet.active_state == "sit"


def test_tool_moves_keep_to_the_arm_and_leave_the_dance(puppet: Puppet) -> None:
    puppet.transition("dance")
    run(puppet, 0.3)
    puppet.transition("toolslash")
    run(puppet, 0.1)
    assert layers(puppet) == {"body": "dance", "tool": "toolslash", "emote": None}
    assert {"region": "tool", "after": "toolslash", "state": "toolnone"} in puppet.playing.queued


def test_a_queued_move_is_reported_and_cancel_drops_it(puppet: Puppet) -> None:
    puppet.transition("toolslash")
    run(puppet, 0.1)
    assert puppet.playing.queued == ({"region": "tool", "after": "toolslash", "state": "toolnone"},)
    puppet.cancel("tool")
    run(puppet, 0.1)
    assert puppet.playing.queued == ()
    assert layers(puppet)["tool"] == "toolslash"  # the slash itself plays on
    run(puppet, 2.0)
    assert layers(puppet)["tool"] is None  # then the tool is put away, not held


def test_cancel_without_a_region_drops_every_queue(puppet: Puppet) -> None:
    puppet.transition("toolslash")
    puppet.transition("jump")
    run(puppet, 0.05)
    assert {q["region"] for q in puppet.playing.queued} == {"tool", "body"}
    puppet.cancel()
    run(puppet, 0.05)
    assert puppet.playing.queued == ()


def test_a_new_command_clears_an_old_cancel(puppet: Puppet) -> None:
    puppet.transition("toolslash")
    run(puppet, 0.05)
    puppet.cancel("tool")
    run(puppet, 0.05)
    puppet.transition("toollunge")
    run(puppet, 0.05)
    assert puppet.playing.queued == ({"region": "tool", "after": "toollunge", "state": "toolnone"},)


def test_walking_with_speed_ends_a_dance_and_stopping_returns_to_idle(puppet: Puppet) -> None:
    puppet.transition("dance")
    run(puppet, 0.3)
    puppet.set_controls({"speed": 1.0})
    puppet.transition("walk")
    run(puppet, 0.3)
    assert layers(puppet)["body"] == "walk"
    puppet.set_controls({"speed": 2.5})
    run(puppet, 0.1)
    assert layers(puppet)["body"] == "run"
    puppet.set_controls({"speed": 0.0})
    run(puppet, 0.1)
    assert layers(puppet)["body"] == "idle"


def test_an_emote_while_walking_leaves_the_walk(puppet: Puppet) -> None:
    puppet.set_controls({"speed": 1.0})
    puppet.transition("walk")
    run(puppet, 0.3)
    puppet.transition("point")
    run(puppet, 0.3)
    assert layers(puppet) == {"body": "walk", "tool": None, "emote": "point"}


def test_a_jump_while_walking_lands_walking(puppet: Puppet) -> None:
    puppet.set_controls({"speed": 1.0})
    puppet.transition("walk")
    run(puppet, 0.3)
    puppet.transition("jump")
    run(puppet, 0.05)
    assert layers(puppet)["body"] == "jump"
    assert {"region": "body", "after": "jump", "state": "fall"} in puppet.playing.queued
    seen = set()
    for _ in range(180):
        run(puppet, TICK)
        seen.add(layers(puppet)["body"])
    assert "land" in seen and layers(puppet)["body"] == "walk"


def test_an_automatic_move_does_not_end_an_emote(puppet: Puppet) -> None:
    # jump -> fall -> land -> idle happen by themselves: a wave started mid-air plays on
    puppet.transition("jump")
    run(puppet, 0.1)
    puppet.transition("wave")
    run(puppet, 1.2)
    assert layers(puppet)["body"] == "idle" and layers(puppet)["emote"] == "wave"


def test_cancel_names_an_unknown_region(puppet: Puppet) -> None:
    with pytest.raises(PuppetError, match='unknown region "tail"'):
        puppet.cancel("tail")


def test_the_snapshot_is_plain_data(puppet: Puppet) -> None:
    puppet.transition("toolslash")
    run(puppet, 0.05)
    d = puppet.playing.as_dict()
    assert d["layers"] == {"body": "idle", "tool": "toolslash", "emote": None}
    assert d["animations"]["tool"] == "toolslash" and d["animations"]["body"].startswith("idle_")
    assert d["queued"] == [{"region": "tool", "after": "toolslash", "state": "toolnone"}]


@pytest.mark.parametrize(
    ("stops", "message"),
    [(["tail"], 'unknown region "tail" (known: body, emote)'), (["body"], "cannot stop its own")],
)
def test_a_layer_stopping_a_bad_region_is_refused(
    testrig: AvatarBundle, stops: list[str], message: str
) -> None:
    data = {
        "schema": 1,
        "layers": [
            {"name": "idle", "priority": "idle", "region": "body", "stops": stops},
            {"name": "emote", "priority": "action", "region": "emote"},
        ],
        "states": {"idle": {"layer": "idle", "animation": "idle_1"}},
    }
    with pytest.raises(StateMachineFormatError, match=re.escape(message)) as e:
        parse_state_machine(data, testrig.clips, set(testrig.rig.bone_index))
    assert "layers[0].stops[0]" in str(e.value)


def test_the_control_channel_reports_layers_and_cancels(digi: AvatarBundle) -> None:
    from streaming.live import CommandError, LiveSession

    s = LiveSession(digi, kind="preview", fps=60)
    t = 0.0

    def ticks(seconds: float) -> None:
        nonlocal t
        for _ in range(round(seconds * 60)):
            t += 1 / 60
            s.tick(t)

    ticks(0.1)
    s.command({"type": "dance", "variant": "dance_2"})
    s.command({"type": "transition", "state": "toolslash"})
    ticks(0.2)
    status = s.status()
    assert status["layers"] == {"body": "dance", "tool": "toolslash", "emote": None}
    assert status["animations"]["body"] == "dance_2"
    assert status["queued"] == [{"region": "tool", "after": "toolslash", "state": "toolnone"}]
    s.command({"type": "cancel", "region": "tool"})
    s.command({"type": "transition", "state": "idle"})
    ticks(0.2)
    status = s.status()
    assert status["queued"] == [] and status["layers"]["body"] == "idle"
    assert status["state"] == "toolslash"  # the top layer, as before
    for bad, says in (
        ({"type": "cancel", "region": 5}, '"region" must be a non-empty string'),
        ({"type": "cancel", "region": "tail"}, 'unknown region "tail"'),
    ):
        with pytest.raises(CommandError, match=re.escape(says)):
            s.command(bad)
    s.command({"type": "cancel"})  # every region; nothing queued is fine
    s.close()


def test_a_flood_of_requests_keeps_only_the_newest(digi: AvatarBundle) -> None:
    from engine.puppet import MAX_PENDING

    p = Puppet(digi)
    for n in range(1000):
        p.transition(("sit", "idle", "wave", "swim")[n % 4])
        p.cancel()
    assert len(p._pending.transitions) == MAX_PENDING and len(p._cancel) == MAX_PENDING
    run(p, TICK)
    assert p.playing.layers["body"] == "swim"  # the newest request won (n = 999: swim)
    assert p._pending.transitions == [] and p._cancel == []
