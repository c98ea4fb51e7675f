"""Issue 18, the Creator Studio's HTTP side: its page, the offer that opens a private studio
session (someone else's private avatar: 404, a guest's rules), the timeline's draft (checked
as POST /api/animations checks a clip; a token), sprite thumbnails, and the customizations'
new keys (accessories, expressions, poses; the hair colour part). Hostile input everywhere:
NaN, out of range, unknown names, 10,000 keys, oversize bodies. One real app with its render
thread for the streaming tests; the customizations run on a stand-in manager."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from PIL import Image

from tests.api.test_avatars_api import call, created, origin, serve, sign_up
from tests.api.test_guest_claim import be_guest
from tests.streaming.peers import Client
from webapi.app import MANAGER
from webapi.library import customizations as custom

WAVE = {  # a valid draft: the right forearm swings
    "schema": 1,
    "name": "Wave",
    "length": 1.0,
    "looping": True,
    "bones": {"forearm_r": {"rotation": [{"time": 0, "value": 0}, {"time": 1.0, "value": 40}]}},
}
LOOK = {
    "colors": {"hair": {"hue": 90}},
    "accessories": {"hat": {"x": 4, "rotation": 10, "scale": 1.2}},
    "expressions": [{"name": "smile", "values": {"ParamMouthForm": 1}, "hotkey": "Digit1"}],
    "poses": [{"name": "reach", "edits": {"targets": {"hand_r": [60, 250]}}}],
}


async def _open(
    http: TestClient, who: dict[str, str] | None, **extra: Any
) -> tuple[Client, int, dict[str, Any]]:
    client = Client()
    sdp = await client.offer()
    body = {"sdp": sdp, "type": "offer", "size": 256, **extra}
    r = await http.post("/api/studio", json=body, headers={**origin(http), **(who or {})})
    answer = await r.json()
    if r.status == 200:
        await client.accept(answer["sdp"])
    else:
        await client.close()
    return client, r.status, answer


async def _end(http: TestClient, client: Client, answer: dict[str, Any]) -> None:
    """Close the page's peer and wait for its session to end (its slot free again). Once
    the control channel is open (the hello came), its closing ends the session at once."""
    await client.wait_for(lambda: client.of_type("hello"), 30, "the hello message")
    await client.close()
    sessions = http.server.app[MANAGER].sessions
    for _ in range(300):
        if answer["session"] not in sessions:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"studio session {answer['session']} outlived its page")


async def _put(http: TestClient, sid: str, body: Any, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else json.dumps(body).encode()
    headers = {**origin(http), "Content-Type": "application/json"}
    async with http.put(f"/api/studio/{sid}/draft", data=data, headers=headers) as r:
        text = await r.text()
        return r.status, (json.loads(text) if text else None)


async def _thumb(http: TestClient, query: str) -> tuple[int, bytes]:
    async with http.get(f"/api/studio/thumbnail?{query}") as r:
        return r.status, await r.read()


def test_studio_sessions_drafts_and_thumbnails(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        async with http.get("/studio/digi") as r:
            assert r.status == 200 and "html" in r.headers["Content-Type"]
        for bare in ("/studio", "/studio/"):  # typed without an avatar: Digi's studio
            async with http.get(bare, allow_redirects=False) as r:
                assert r.status == 302 and r.headers["Location"] == "/studio/digi", bare
        async with http.get("/studio/..%2Fetc") as r:
            assert r.status == 404
        alice, bob = await sign_up(http, "alice"), await sign_up(http, "bob")
        mine = await created(http, alice, name="Mine", customizations=LOOK)
        shown = await created(http, alice, name="Shown", is_public=True)

        # someone else's private avatar, a bad id shape: refused, no slot left taken
        for who, avatar, status in [
            (bob, mine["id"], 404),
            (None, mine["id"], 404),
            (alice, "../../etc", 400),
            (alice, 7, 400),
        ]:
            _, got, answer = await _open(http, who, avatar=avatar)
            assert got == status, answer
        _, got, answer = await _open(http, alice, fps=1000)
        assert got == 400 and "fps" in answer["error"], answer
        # the page's working copy is checked like a saved one, before a slot is taken
        bad = {"library": "summer", "colors": {"hair": {"hue": 400}}}
        _, got, answer = await _open(http, alice, avatar=mine["id"], customizations=bad)
        assert got == 400 and "customizations.library" in answer["error"], answer
        _, got, answer = await _open(http, alice, customizations={"poses": [{"name": ""}]})
        assert got == 400 and "customizations.poses[0].name" in answer["error"], answer
        # ... and worn instead of the saved customizations: unsaved edits, another library
        working = {"library": "winter", "colors": {"hair": {"hue": -30}}}
        client, got, answer = await _open(http, alice, avatar=mine["id"], customizations=working)
        assert got == 200, answer
        await client.wait_for(lambda: client.of_type("hello"), 30, "the hello message")
        worn = client.of_type("hello")[0]
        assert worn["library"] == "winter", worn["library"]
        assert worn["customizations"]["colors"] == {
            "hair": {"hue": -30.0, "saturation": 1.0, "brightness": 1.0, "contrast": 1.0}
        }
        assert worn["sprite_defaults"]["accessories"] == "scarf"  # winter's own default
        assert worn["expressions"] == []  # the working copy has none: the saved ones are not worn
        await _end(http, client, answer)

        # a guest may open Digi; a public avatar of someone else opens too (save as)
        for who, avatar in [(None, "digi"), (bob, shown["id"])]:
            client, got, answer = await _open(http, who, avatar=avatar)
            assert got == 200, answer
            await _end(http, client, answer)

        status, clip = await call(http, "POST", "/api/animations", alice, {"definition": WAVE})
        assert status == 201, clip
        client, got, opened = await _open(http, alice, avatar=mine["id"])
        assert got == 200, opened
        sid, token = opened["session"], opened["token"]
        try:
            await client.wait_for(lambda: client.of_type("hello"), 30, "the hello message")
            hello = client.of_type("hello")[0]
            assert "hair" in hello["color_parts"] and "skin" in hello["color_parts"]
            # what the saved avatar holds reaches the session: its expressions, and the
            # caller's custom animations are playable there
            assert [x["name"] for x in hello["expressions"]] == ["smile"]
            assert {"id": clip["id"], "name": "Wave"} in hello["animations"]["custom"]
            # the hair colour part works on the session, like every colour part

            def hair() -> Any:
                st = client.of_type("status")
                return st and st[-1]["customizations"]["colors"].get("hair", {}).get("hue")

            client.send({"type": "color", "part": "hair", "hue": 40})
            await client.wait_for(lambda: hair() == 40, 30, "the hair's hue in the status")
            # the draft: a valid clip plays; every bad one is refused with its reason
            assert await _put(http, sid, {"token": token, "definition": WAVE}) == (204, None)

            def draft() -> Any:
                st = client.of_type("status")
                return st[-1]["studio"]["draft"] if st else "none yet"

            await client.wait_for(lambda: draft() == {"length": 1.0, "looping": True}, 30, "draft")
            bad_bone = {**WAVE, "bones": {"tail": WAVE["bones"]["forearm_r"]}}
            late = {**WAVE, "bones": {"forearm_r": {"rotation": [{"time": 2, "value": 0}]}}}
            many = {**WAVE, "bones": {"forearm_r": {"rotation": [{}] * 10_000}}}
            cases = [
                ({"token": "wrong", "definition": WAVE}, 404, "no studio session"),
                ({"token": "x" * 10_000, "definition": WAVE}, 404, "no studio session"),
                ({"definition": WAVE}, 404, "no studio session"),
                ({"token": token, "definition": bad_bone}, 400, "tail"),
                ({"token": token, "definition": late}, 400, "definition.bones.forearm_r"),
                ({"token": token, "definition": many}, 413, "10000 keys"),
                ({"token": token, "definition": "wave"}, 400, "definition"),
                ({"token": token, "definition": {**WAVE, "length": -1}}, 400, "length"),
            ]
            for body, status, error in cases:
                got, answer = await _put(http, sid, body)
                assert got == status and error in answer["error"], (body, answer)
            nan = f'{{"token": "{token}", "definition": {{"schema": 1, "length": NaN}}}}'
            got, answer = await _put(http, sid, None, raw=nan.encode())
            assert got == 400, answer
            big = json.dumps({"token": token, "definition": {**WAVE, "pad": "x" * 100_000}})
            got, answer = await _put(http, sid, None, raw=big.encode())
            assert got == 413, answer
            got, _ = await _put(http, "nosuchsession", {"token": token, "definition": WAVE})
            assert got == 404
            for query, status in [(f"?token={token}", 204), ("?token=wrong", 404), ("", 404)]:
                async with http.delete(
                    f"/api/studio/{sid}/draft{query}", headers=origin(http)
                ) as r:
                    assert r.status == status, await r.text()
            await client.wait_for(lambda: draft() is None, 30, "the draft cleared")
        finally:
            await _end(http, client, opened)

        # a guest opens their own avatar; without their cookie it is nobody's to open
        be_guest(http)
        theirs = await created(http, {}, name="Guest's")
        client, got, answer = await _open(http, None, avatar=theirs["id"])
        assert got == 200, answer
        await _end(http, client, answer)
        http.session.cookie_jar.clear()
        _, got, answer = await _open(http, None, avatar=theirs["id"])
        assert got == 404, answer

        # thumbnails: a 96 px PNG per label, cached; each query value checked
        status, armor = await _thumb(http, "category=outfit&label=armor")
        assert status == 200, armor[:200]
        assert Image.open(io.BytesIO(armor)).size == (96, 96)
        status, casual = await _thumb(http, "rig=digi&library=base&category=outfit&label=casual")
        assert status == 200 and casual != armor
        assert (await _thumb(http, "category=outfit&label=armor")) == (200, armor)
        for query, field in [
            ("category=outfit&label=pyjamas", "label"),
            ("category=shoes&label=armor", "category"),
            ("library=summer&category=outfit&label=armor", "library"),
            ("rig=robot&category=outfit&label=armor", "rig"),
            ("category=outfit", "label"),
            ("category=..%2F..&label=armor", "category"),
            ("category=outfit&label=" + "a" * 300, "label"),
        ]:
            status, body = await _thumb(http, query)
            assert status == 400 and field in json.loads(body)["error"], (query, body)

    serve(tmp_path, test, streaming=True, timeout=240)


BAD_LOOKS = [
    ({"accessories": {"hand_r": {"x": 1}}}, 400, "customizations.accessories.hand_r is not an"),
    ({"accessories": {"hat": {"x": 500}}}, 400, "customizations.accessories.hat.x must be"),
    ({"accessories": {"hat": {"scale": 0}}}, 400, "customizations.accessories.hat.scale"),
    ({"accessories": {"hat": {"tilt": 1}}}, 400, "customizations.accessories.hat.tilt is not"),
    ({"accessories": {f"b{i}": {} for i in range(17)}}, 413, "17 bones"),
    ({"expressions": [{"name": "a", "values": {"Nope": 1}}]}, 400, "Nope"),
    ({"expressions": [{"name": "a", "values": {"ParamMouthForm": 5}}]}, 400, "ParamMouthForm"),
    ({"expressions": [{"name": "a", "values": {}, "hotkey": "Meta+Q"}]}, 400, "hotkey"),
    ({"expressions": "smile"}, 400, "customizations.expressions"),
    ({"poses": [{"name": "a", "edits": {"bones": {"nope": 3}}}]}, 400, "poses[0].edits.bones"),
    ({"poses": [{"name": "a", "edits": {"bones": {"head": 999}}}]}, 400, "poses[0].edits"),
    ({"poses": [{"name": "a", "edits": {"targets": {"tail": [0, 0]}}}]}, 400, "tail"),
    ({"poses": [{"name": "a"}, {"name": "a"}]}, 400, "customizations.poses[1].name"),
    ({"poses": [{"name": ""}]}, 400, "customizations.poses[0].name"),
    ({"poses": [{"name": f"p{i}"} for i in range(33)]}, 413, "33 poses"),
    ({"colors": {"hair": {"hue": 400}}}, 400, "customizations.colors.hair.hue"),
]


def test_customizations_hold_accessories_expressions_and_poses(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        alice = await sign_up(http, "alice")
        mine = await created(http, alice, name="Mine")
        path = f"/api/avatars/{mine['id']}"
        status, view = await call(http, "PATCH", path, alice, {"customizations": LOOK})
        assert status == 200, view
        saved = view["customizations"]
        assert saved["colors"] == {"hair": {"hue": 90.0}}
        assert saved["accessories"] == {"hat": {"x": 4.0, "rotation": 10.0, "scale": 1.2}}
        assert saved["expressions"][0]["hotkey"] == "Digit1"
        assert saved["poses"][0]["edits"]["targets"] == {"hand_r": [60.0, 250.0]}
        for look, status, error in BAD_LOOKS:
            got, answer = await call(http, "PATCH", path, alice, {"customizations": look})
            assert got == status and error in answer["error"], (look, answer)
        # NaN is not JSON: refused before any check
        raw = '{"customizations": {"accessories": {"hat": {"x": NaN}}}}'
        headers = {**origin(http), **alice, "Content-Type": "application/json"}
        async with http.patch(path, data=raw, headers=headers) as r:
            assert r.status == 400, await r.text()
        status, view = await call(http, "GET", path, alice)
        assert view["customizations"] == saved  # nothing bad was stored

    serve(tmp_path, test)


def test_the_look_carries_offsets_and_expressions() -> None:
    opts = custom.rig_options("digi")
    assert set(opts.accessory_bones) == {"glasses", "hat", "scarf_1", "scarf_2", "scarf_3"}
    assert {"hair", "eyes", "skin"} <= set(opts.groups)
    assert "hair_front_1" in opts.groups["hair"] and "iris_l" in opts.groups["eyes"]
    look = custom.look(custom.validate(LOOK, opts), opts)
    assert look.offsets["hat"].rotation == 10.0 and look.offsets["hat"].scale == 1.2
    assert [e.name for e in look.expressions] == ["smile"]
    assert look.expressions[0].values["ParamMouthForm"] == 1.0
