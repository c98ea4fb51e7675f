"""An animation listing may be a new dance, not only an emote (docs/MARKETPLACE.md): with
content `"state": {"as": "dance"}` its clip is one more variant of the rig's looping `dance`
state, named by the listing id. Checked on upload (a dance loops and moves the body), added
only to its owners' bundles, offered in a puppet's hello `dances`, played by
`{"type": "dance", "variant"}`, and played as a dance by its try-on preview."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from engine.assets import AvatarBundle
from engine.puppet import Puppet
from streaming.manager import BadOffer, SessionManager, with_dances
from streaming.market_items import MarketItem, dress
from tests.market import zips
from tests.streaming.peers import Client
from tests.streaming.test_market_items import run_with_manager
from webapi.errors import Invalid
from webapi.market.assets import validate
from webapi.market.packages import LIMITS, read_package

DANCE = "m" + "d4" * 10


def groove(looping: bool = True, name: str = "groove") -> dict[str, Any]:
    """A small dance: hips and both arms swinging, one second a bar."""
    sway = [{"time": 0.0, "value": -12.0}, {"time": 0.5, "value": 12.0},
            {"time": 1.0, "value": -12.0}]  # fmt: skip
    arms = [{"time": 0.0, "value": 0.0}, {"time": 0.5, "value": 70.0}, {"time": 1.0, "value": 0.0}]
    return {"schema": 1, "name": name, "length": 1.0, "looping": looping,
            "bones": {"hips": {"rotation": sway}, "upperarm_l": {"rotation": arms},
                      "upperarm_r": {"rotation": arms}}}  # fmt: skip


def checked(data: bytes) -> dict[str, Any]:
    return validate(read_package(data, LIMITS))[1]


def refusal(data: bytes) -> str:
    with pytest.raises(Invalid) as e:
        checked(data)
    return e.value.message


def dance_item(**content: Any) -> MarketItem:
    c = {"rig": "digi", "clips": {"groove": groove()}, "loop": True, "state": {"as": "dance"}}
    return MarketItem(DANCE, "animation", {**c, **content}, None, name="Hip sway")


def test_a_dance_package_is_checked_as_a_dance() -> None:
    content = checked(zips.animation_zip("Hip sway", groove(), state="dance"))
    assert content["state"] == {"as": "dance"} and list(content["clips"]) == ["groove"]
    # an emote package is what it was (no state given: an emote)
    assert "state" not in checked(zips.animation_zip())
    assert checked(zips.animation_zip(state="emote"))["state"] == {"as": "emote"}
    # a dance that does not loop is refused by name, with what to set
    message = refusal(zips.animation_zip("Hip sway", groove(looping=False), state="dance"))
    assert "content.clips.groove" in message and '"looping": true' in message, message
    # the same clip is a fine emote (an emote plays once)
    assert checked(zips.animation_zip("Hip sway", groove(looping=False)))["clips"]["groove"]
    # a clip that moves no bone (slot colours only) is no dance
    blink = {"schema": 1, "name": "blink", "length": 1.0, "looping": True, "slots": {"arm_l": {
        "color": [{"time": 0.0, "value": [1, 1, 1, 1]}, {"time": 1.0, "value": [1, 0, 0, 1]}]}}}  # fmt: skip
    assert "keys no bones" in refusal(zips.animation_zip("Blink", blink, state="dance"))
    # where it goes is one of the two
    message = refusal(zips.animation_zip("Hip sway", groove(), state="waltz"))
    assert "content.state.as" in message and '"dance"' in message, message


def test_an_owned_dance_is_a_variant_of_dance(digi: AvatarBundle) -> None:
    bundle, found = dress(digi, [dance_item()])
    assert found.dances == {DANCE: groove()} and not found.clips
    assert found.animations == {DANCE: DANCE}  # what a try-on plays
    danced = with_dances(bundle, found.dances)
    own = [c.name for c, _ in digi.machine.states["dance"].variants]
    assert [c.name for c, _ in danced.machine.states["dance"].variants] == [*own, DANCE]
    assert danced.clips[DANCE].looping and DANCE not in danced.machine.states
    # the rig's own bundle (everyone who does not own it) is untouched
    assert DANCE not in [c.name for c, _ in digi.machine.states["dance"].variants]
    assert DANCE not in digi.clips
    # played as a variant of `dance`, on the body, over and over
    puppet = Puppet(danced, seed=1)
    assert DANCE in puppet.variants("dance")
    puppet.transition("dance", DANCE)
    for i in range(60):  # three bars at 20 ticks a second
        puppet.tick(i / 20, 1 / 20)
    assert puppet.playing.animations["body"] == DANCE and puppet.state("body") == "dance"
    # a rig without dances cannot take one
    without = dict(danced.machine.states)
    del without["dance"]
    bare = dataclasses.replace(digi, machine=dataclasses.replace(digi.machine, states=without))
    with pytest.raises(BadOffer, match="no dances"):
        with_dances(bare, found.dances)


@pytest.mark.slow
def test_a_dance_in_a_puppet_session_and_its_try_on(tmp_path: Path) -> None:
    item = dance_item()

    async def test(manager: SessionManager) -> None:
        client = Client()
        sdp = await client.offer()
        answer, _ = await manager.open_puppet(
            {"sdp": sdp, "type": "offer", "tracking": "none"}, None, owned=[item]
        )
        await client.accept(answer)
        await client.wait_for(lambda: client.of_type("hello"), 20, "hello")
        hello = client.of_type("hello")[0]
        assert DANCE in hello["dances"] and "dance_1" in hello["dances"], hello["dances"]
        market = hello["market"]
        assert market["dances"] == [{"id": DANCE, "variant": DANCE, "name": "Hip sway"}]
        assert DANCE not in {e["id"] for e in market["emotes"]}  # not an emote button
        client.send({"type": "dance", "variant": DANCE})
        await client.wait_for(
            lambda: any(m.get("animations", {}).get("body") == DANCE
                        for m in client.of_type("status")), 20, "the dance in the status",
        )  # fmt: skip
        await client.close()
        # the try-on preview dances it, again and again (the state loops)
        viewer = Client()
        sdp = await viewer.offer(channel=False)
        answer, session = await manager.open_preview(
            {"sdp": sdp, "type": "offer"}, {"size": 256, "fps": 15}, None, try_on=item
        )
        await viewer.accept(answer)
        await viewer.wait_for(lambda: viewer.received >= 30, 30, "two seconds of frames")
        playing = session.puppet.playing
        assert playing.animations["body"] == DANCE, playing
        assert session.puppet.state("body") == "dance"
        await viewer.close()

    run_with_manager(test, timeout=120)
