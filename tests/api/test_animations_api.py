"""/api/animations against the app in-process: a rig's built-in clips, a signed-in user's
custom clips (validated by the engine's own clip loader, every error naming its JSON path,
size limits), ownership (another user's clip is a 404 like a missing one), and a saved clip
played back by the engine."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.anim import AnimationPlayer, parse_clip
from engine.assets import ANIMATIONS, load_bundle
from engine.kernels.layout import ROT
from engine.pose import Pose
from webapi.app import STORE, create_app
from webapi.library import animations as library

DIGI_CLIPS = sorted(
    p.stem for p in (ANIMATIONS / "digi").glob("*.json") if p.stem != "statemachine"
)


def serve(test: Callable[[TestClient], Awaitable[None]], tmp: Path, timeout: float = 120) -> None:
    async def main() -> None:
        app = create_app(db=tmp / "t.db", avatar_root=tmp / "avatars")
        async with TestClient(TestServer(app)) as http:
            await test(http)

    asyncio.run(asyncio.wait_for(main(), timeout))


async def account(http: TestClient, name: str) -> dict[str, str]:
    """Sign up `name` as a script would, make an API token, forget the cookie: the headers
    that act as that user."""
    r = await http.post(
        "/api/auth/signup",
        json={"email": f"{name}@example.com", "username": name, "password": "correct horse 42"},
    )
    assert r.status == 201, await r.text()
    r = await http.post(
        "/api/tokens", json={"name": "script"}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert r.status == 201, await r.text()
    token = (await r.json())["token"]
    http.session.cookie_jar.clear()
    return {"Authorization": f"Bearer {token}"}


def flap(**over: Any) -> dict[str, Any]:
    """A small valid clip for digi: the right upper arm swings up 40 degrees and back."""
    clip: dict[str, Any] = {
        "schema": 1,
        "length": 1.0,
        "looping": True,
        "bones": {
            "upperarm_r": {
                "rotation": [
                    {"time": 0.0, "value": 0},
                    {"time": 0.5, "value": 40},
                    {"time": 1.0, "value": 0},
                ]
            },
            "hips": {"position": [{"time": 0.0, "value": [0, 0]}, {"time": 0.5, "value": [0, 3]}]},
        },
        "slots": {"hand_r": {"attachment": [{"time": 0.0, "name": "hand_fist"}]}},
        "events": [{"time": 0.5, "name": "flap"}],
    }
    clip.update(over)
    return clip


async def error_of(r: Any, status: int) -> str:
    body = await r.json()
    assert r.status == status, body
    assert set(body) == {"error"}, body
    return body["error"]


# ---- built-in clips ---------------------------------------------------------------------------


def test_a_guest_lists_the_rigs_built_in_clips_page_by_page(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        r = await http.get("/api/animations")
        assert r.status == 200
        page = await r.json()
        assert page["total"] == len(DIGI_CLIPS)
        assert [a["id"] for a in page["animations"]] == [f"digi:{n}" for n in DIGI_CLIPS]
        wave = next(a for a in page["animations"] if a["name"] == "wave")
        assert wave == {
            "id": "digi:wave", "rig": "digi", "name": "wave", "builtin": True, "length": 2.0,
            "looping": False, "states": ["wave"],
        }  # fmt: skip
        walk = next(a for a in page["animations"] if a["name"] == "walk")
        assert walk["states"] == ["run", "walk"]  # the run state blends walk and run
        assert next(a for a in page["animations"] if a["name"] == "dance_3")["states"] == ["dance"]

        seen: list[str] = []
        offset: int | None = 0
        while offset is not None:
            r = await http.get(f"/api/animations?rig=digi&limit=10&offset={offset}")
            page = await r.json()
            assert len(page["animations"]) <= 10
            seen += [a["id"] for a in page["animations"]]
            offset = page["next_offset"]
        assert seen == [f"digi:{n}" for n in DIGI_CLIPS]

        r = await http.get("/api/animations?rig=testrig&limit=200")
        assert {a["rig"] for a in (await r.json())["animations"]} == {"testrig"}

        for query, words in [
            ("rig=nope", 'rig: unknown rig "nope" (known: digi, testrig)'),
            ("rig=../../etc", "unknown rig"),
            ("limit=0", "limit: must be within 1..200, got 0"),
            ("limit=201", "limit: must be within 1..200"),
            ("limit=ten", "limit: expected a whole number"),
            ("offset=-1", "offset: must be within"),
        ]:
            assert words in await error_of(await http.get(f"/api/animations?{query}"), 400)

    serve(test, tmp_path)


def test_a_built_in_clip_is_answered_in_the_engines_format(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        r = await http.get("/api/animations/digi:wave")
        assert r.status == 200
        body = await r.json()
        on_disk = json.loads((ANIMATIONS / "digi" / "wave.json").read_text())
        assert body["definition"] == on_disk
        assert body["id"] == "digi:wave" and body["builtin"] is True
        # the engine's loader takes the answer as it came
        clip = parse_clip(body["definition"], load_bundle("digi").rig, "answer")
        assert clip.length == body["length"] == 2.0

        for missing in ("digi:nope", "nope:wave", "digi:", ":wave", "0" * 32, "wave"):
            assert "no animation" in await error_of(
                await http.get(f"/api/animations/{missing}"), 404
            )

    serve(test, tmp_path)


# ---- custom clips -----------------------------------------------------------------------------


def test_guests_cannot_create_or_delete_clips(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        words = await error_of(
            await http.post("/api/animations", json={"name": "x", "definition": flap()}), 401
        )
        assert "sign in first" in words
        await error_of(await http.delete("/api/animations/" + "a" * 32), 401)
        bad = {"Authorization": "Bearer not-a-token"}
        await error_of(
            await http.post(
                "/api/animations", json={"name": "x", "definition": flap()}, headers=bad
            ),
            401,
        )
        await error_of(await http.get("/api/animations", headers=bad), 401)
        r = await http.post("/api/animations", data=b"{}", headers={"Content-Type": "text/plain"})
        assert r.status == 415

    serve(test, tmp_path)


def test_a_user_creates_reads_lists_and_deletes_a_clip(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        ann = await account(http, "ann")
        r = await http.post(
            "/api/animations",
            json={"rig": "digi", "name": " Flap ", "definition": flap()},
            headers=ann,
        )
        assert r.status == 201, await r.text()
        made = await r.json()
        cid = made["id"]
        assert len(cid) == 32 and int(cid, 16) >= 0  # random 128-bit hex
        assert r.headers["Location"] == f"/api/animations/{cid}"
        assert made["name"] == "Flap" and made["rig"] == "digi" and made["builtin"] is False
        assert made["length"] == 1.0 and made["looping"] is True
        assert made["definition"] == {**flap(), "name": "Flap"}
        assert made["size_bytes"] == len(json.dumps(made["definition"], separators=(",", ":")))

        r = await http.get(f"/api/animations/{cid}", headers=ann)
        assert r.status == 200
        assert await r.json() == made

        r = await http.get("/api/animations?limit=200", headers=ann)
        page = await r.json()
        assert page["total"] == len(DIGI_CLIPS) + 1
        assert page["animations"][-1] == {k: v for k, v in made.items() if k != "definition"}
        # the last page holds it alone
        r = await http.get(f"/api/animations?offset={len(DIGI_CLIPS)}", headers=ann)
        assert [a["id"] for a in (await r.json())["animations"]] == [cid]
        # not listed for another rig, nor for a guest
        r = await http.get("/api/animations?rig=testrig&limit=200", headers=ann)
        assert cid not in [a["id"] for a in (await r.json())["animations"]]
        r = await http.get("/api/animations?limit=200")
        assert cid not in [a["id"] for a in (await r.json())["animations"]]

        # the definition's own name is the default name
        r = await http.post("/api/animations", json={"definition": flap(name="swing")}, headers=ann)
        assert (await r.json())["name"] == "swing"

        r = await http.delete(f"/api/animations/{cid}", headers=ann)
        assert r.status == 200 and await r.json() == {"deleted": cid}
        await error_of(await http.get(f"/api/animations/{cid}", headers=ann), 404)
        await error_of(await http.delete(f"/api/animations/{cid}", headers=ann), 404)
        words = await error_of(await http.delete("/api/animations/digi:wave", headers=ann), 403)
        assert "built-in" in words

    serve(test, tmp_path)


def test_a_browser_signed_in_by_cookie_must_prove_same_origin(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        r = await http.post(
            "/api/auth/signup",
            json={"email": "cy@example.com", "username": "cyd", "password": "correct horse 42"},
        )
        assert r.status == 201
        origin = str(http.make_url("/")).rstrip("/")
        body = {"name": "flap", "definition": flap()}
        r = await http.post("/api/animations", json=body, headers={"Origin": origin})
        assert r.status == 201, await r.text()
        cid = (await r.json())["id"]
        r = await http.get(f"/api/animations/{cid}")  # a read needs no proof
        assert r.status == 200
        await error_of(await http.post("/api/animations", json=body), 403)  # no Origin
        await error_of(await http.delete(f"/api/animations/{cid}"), 403)
        r = await http.post("/api/animations", json=body, headers={"Origin": "https://evil.test"})
        assert r.status == 403

    serve(test, tmp_path)


def _at(clip: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    clip = copy.deepcopy(clip)
    node: Any = clip
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return clip


ROTATION = ["bones", "upperarm_r", "rotation"]
BAD_CLIPS: list[tuple[Any, str]] = [
    (_at(flap(), [*ROTATION, 1, "time"], 2.0),
     "definition.bones.upperarm_r.rotation[1].time: must be <= 1.0, got 2.0"),
    (_at(flap(), [*ROTATION, 2, "time"], 0.25),
     "definition.bones.upperarm_r.rotation[2].time: key times must increase"),
    (_at(flap(), [*ROTATION, 0, "value"], "up"),
     'definition.bones.upperarm_r.rotation[0].value: expected a number, got the string "up"'),
    (_at(flap(), [*ROTATION, 1, "interp"], "wobbly"),
     'definition.bones.upperarm_r.rotation[1].interp: unknown value "wobbly"'),
    (_at(flap(), [*ROTATION, 1, "interp"], "bezier"),
     "definition.bones.upperarm_r.rotation[1].curve: missing required field"),
    (_at(_at(flap(), [*ROTATION, 1, "interp"], "bezier"), [*ROTATION, 1, "curve"], [0.1, 0]),
     "definition.bones.upperarm_r.rotation[1].curve: expected 4 numbers"),
    (_at(flap(), ["bones", "hips", "position", 1, "value"], [1]),
     "definition.bones.hips.position[1].value: expected 2 numbers, got 1"),
    (_at(flap(), ["bones", "tail"], {"rotation": [{"time": 0, "value": 1}]}),
     'definition.bones.tail: unknown bone "tail"'),
    (_at(flap(), ["bones", "hips", "wiggle"], [{"time": 0, "value": 1}]),
     'definition.bones.hips.wiggle: unknown channel "wiggle"'),
    (_at(flap(), ["bones", "hips", "rotation"], []),
     "definition.bones.hips.rotation: expected at least 1 entries, got 0"),
    (_at(flap(), ["slots", "cape"], {"attachment": [{"time": 0, "name": "x"}]}),
     'definition.slots.cape: unknown slot "cape"'),
    (_at(flap(), ["slots", "hand_r", "attachment", 0, "name"], "hook"),
     'definition.slots.hand_r.attachment[0].name: unknown attachment "hook" for slot "hand_r"'),
    (_at(flap(), ["slots", "hand_r", "color"], [{"time": 0, "value": [1, 1, 2, 1]}]),
     "definition.slots.hand_r.color[0].value[2]: colour channel must be within 0..1"),
    (_at(flap(), ["events", 0, "time"], -1),
     "definition.events[0].time: must be >= 0.0, got -1.0"),
    (_at(flap(), ["schema"], 2), "definition.schema: unsupported version 2"),
    (_at(flap(), ["length"], 0), "definition.length: must be > 0, got 0"),
    ({k: v for k, v in flap().items() if k != "length"},
     "definition.length: missing required field"),
    (_at(flap(), ["looping"], "yes"), "definition.looping: expected true or false"),
    ([1, 2], "definition: expected an object"),
    (_at(flap(), ["name"], "other"), 'definition.name: "other" does not match the name "flap"'),
]  # fmt: skip


def test_every_clip_error_names_its_json_path(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        ann = await account(http, "ann")
        for definition, words in BAD_CLIPS:
            r = await http.post(
                "/api/animations", json={"name": "flap", "definition": definition}, headers=ann
            )
            assert words in await error_of(r, 400), words
        for body, words in [
            ({"name": "flap"}, "definition: missing required field"),
            ({"definition": flap()}, "name: missing required field"),
            ({"name": "", "definition": flap()}, "name: expected a non-empty string"),
            ({"name": "x" * 65, "definition": flap()}, "name: at most 64 characters"),
            ({"name": "a\nb", "definition": flap()}, "name: must not contain control"),
            ({"name": "f", "rig": "gorilla", "definition": flap()}, 'unknown rig "gorilla"'),
            ({"name": "f", "definition": flap(), "owner": "bob"}, 'unknown field "owner"'),
            # a bone that exists in digi but not in the rig named
            ({"name": "f", "rig": "testrig", "definition": _at(flap(), ["bones"], {
                "brow_l": {"rotation": [{"time": 0, "value": 1}]}})},
             'definition.bones.brow_l: unknown bone "brow_l"'),
        ]:  # fmt: skip
            r = await http.post("/api/animations", json=body, headers=ann)
            assert words in await error_of(r, 400), words
        r = await http.post("/api/animations", json=[1], headers=ann)
        assert "JSON object" in await error_of(r, 400)
        r = await http.post(
            "/api/animations", data=b'{"name": "f", "definition": {"length": NaN}}',
            headers={**ann, "Content-Type": "application/json"},
        )  # fmt: skip
        assert "finite" in await error_of(r, 400)
        # nothing of that was stored
        r = await http.get("/api/animations?offset=0&limit=200", headers=ann)
        assert (await r.json())["total"] == len(DIGI_CLIPS)

    serve(test, tmp_path)


def test_size_limits_are_answered_413_in_words(tmp_path: Path, monkeypatch) -> None:
    lim = library.ClipLimits(max_per_user=3)
    monkeypatch.setattr(library, "LIMITS", lim)
    many_keys = [{"time": i / 1000, "value": 0} for i in range(lim.max_keys + 1)]
    bones = list(load_bundle("digi").rig.bone_index)
    channels = {
        b: {c: [{"time": 0, "value": 1 if c == "rotation" else [1, 1]}] for c in
            ("rotation", "position", "scale", "shear")}
        for b in bones
    }  # fmt: skip
    assert sum(len(c) for c in channels.values()) > lim.max_timelines
    huge = [{"time": 0.5, "name": "e", "string": "x" * 1000}] * 80

    async def test(http: TestClient) -> None:
        ann = await account(http, "ann")
        for definition, words in [
            (flap(length=2.5, bones={"hips": {"rotation": many_keys}}, slots={}, events=[]),
             f"definition: too many keys: {lim.max_keys + 1} keys and events (at most 2000)"),
            (flap(bones=channels),
             f"definition: too many timelines: {len(bones) * 4 + 1} bone channels and slot "
             "timelines (at most 200)"),
            (flap(length=61), "definition.length: the clip is too long: 61 s (at most 60 s)"),
            (flap(events=huge), "definition: the clip is too large: "),
        ]:  # fmt: skip
            r = await http.post(
                "/api/animations", json={"name": "big", "definition": definition}, headers=ann
            )
            assert words in await error_of(r, 413), words
        # the whole body past the app's cap is refused unread
        r = await http.post(
            "/api/animations",
            json={"name": "big", "definition": flap(events=huge * 4)},
            headers=ann,
        )
        assert r.status == 413
        # at most max_per_user clips per account
        for i in range(lim.max_per_user):
            r = await http.post(
                "/api/animations", json={"name": f"c{i}", "definition": flap()}, headers=ann
            )
            assert r.status == 201
        r = await http.post(
            "/api/animations", json={"name": "one more", "definition": flap()}, headers=ann
        )
        assert "you have 3 custom clips" in await error_of(r, 409)
        # pages that straddle the built-in and the custom clips miss and repeat nothing
        whole = [a["id"] for a in (await (await http.get(
            "/api/animations?limit=200", headers=ann)).json())["animations"]]  # fmt: skip
        assert len(whole) == len(DIGI_CLIPS) + lim.max_per_user
        paged: list[str] = []
        offset: int | None = 0
        while offset is not None:
            r = await http.get(f"/api/animations?limit=4&offset={offset}", headers=ann)
            page = await r.json()
            paged += [a["id"] for a in page["animations"]]
            offset = page["next_offset"]
        assert paged == whole

    serve(test, tmp_path)


def test_another_users_clip_is_a_404_exactly_like_a_missing_one(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        ann, bob = await account(http, "ann"), await account(http, "bob")
        r = await http.post(
            "/api/animations", json={"name": "mine", "definition": flap()}, headers=ann
        )
        cid = (await r.json())["id"]
        missing = "f" * 32
        for method in ("get", "delete"):
            theirs = await getattr(http, method)(f"/api/animations/{cid}", headers=bob)
            nothing = await getattr(http, method)(f"/api/animations/{missing}", headers=bob)
            assert theirs.status == nothing.status == 404
            assert (await theirs.json())["error"].replace(cid, "?") == (await nothing.json())[
                "error"
            ].replace(missing, "?")
        guest = await http.get(f"/api/animations/{cid}")
        assert guest.status == 404
        r = await http.get("/api/animations?limit=200", headers=bob)
        assert cid not in [a["id"] for a in (await r.json())["animations"]]
        r = await http.get(f"/api/animations/{cid}", headers=ann)  # bob's DELETE did nothing
        assert r.status == 200

        store = http.app[STORE]
        ann_id = (await (await http.get("/api/me", headers=ann)).json())["user"]["id"]
        bob_id = (await (await http.get("/api/me", headers=bob)).json())["user"]["id"]
        assert (await library.custom_clip(store, cid, ann_id)).name == "mine"
        assert await library.custom_clip(store, cid, bob_id) is None
        assert await library.custom_clip(store, cid, None) is None
        assert await library.custom_clip(store, "digi:wave", ann_id) is None

    serve(test, tmp_path)


def test_a_saved_clip_loads_back_into_the_engine_and_moves_the_bone(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        ann = await account(http, "ann")
        r = await http.post(
            "/api/animations", json={"name": "flap", "definition": flap()}, headers=ann
        )
        cid = (await r.json())["id"]
        definition = (await (await http.get(f"/api/animations/{cid}", headers=ann)).json())[
            "definition"
        ]
        rig = load_bundle("digi").rig
        user = (await (await http.get("/api/me", headers=ann)).json())["user"]["id"]
        stored = await library.custom_clip(http.app[STORE], cid, user)
        assert stored is not None and stored.definition == definition
        for clip in (parse_clip(definition, rig, "answer"), stored.clip(rig)):
            arm = rig.bone_index["upperarm_r"]
            pose = Pose(rig)
            player = AnimationPlayer(rig)
            player.play(clip)
            player.update(0.5)
            pose.reset()
            player.apply(pose)
            assert pose.local[arm, ROT] == pytest.approx(rig.setup_local[arm, ROT] + 40)
            assert pose.slot_attachment[rig.slot_index["hand_r"]] == "hand_fist"
            player.update(0.5)  # a loop later: back to the setup pose
            pose.reset()
            player.apply(pose)
            assert pose.local[arm, ROT] == pytest.approx(rig.setup_local[arm, ROT])

    serve(test, tmp_path)


def test_the_curl_script_in_docs_api_md_works(tmp_path: Path) -> None:
    """docs/API.md's script, step by step, with its own clip JSON and its error example."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "API.md").read_text()
    heredoc = json.loads(doc.split("<<'EOF'\n", 1)[1].split("\nEOF", 1)[0])
    oops_raw = doc.split('-d \'{"name": "oops"', 1)[1].split("'", 1)[0]
    oops = json.loads('{"name": "oops"' + oops_raw)
    oops_answer = doc.split("# 400 ", 1)[1].split("\n", 1)[0]

    async def test(http: TestClient) -> None:
        base = str(http.make_url("/")).rstrip("/")
        r = await http.post(
            "/api/auth/signup",
            json={"email": "ann@example.com", "username": "ann", "password": "a long passphrase"},
        )
        assert r.status == 201, await r.text()
        r = await http.post("/api/tokens", json={"name": "my script"}, headers={"Origin": base})
        assert r.status == 201, await r.text()
        auth = {"Authorization": f"Bearer {(await r.json())['token']}"}
        http.session.cookie_jar.clear()  # rm jar.txt
        r = await http.get("/api/avatars?limit=20", headers=auth)
        assert r.status == 200 and (await r.json())["avatars"] == []
        r = await http.post("/api/animations", json=heredoc, headers=auth)
        assert r.status == 201, await r.text()
        cid = (await r.json())["id"]
        r = await http.get("/api/animations?rig=digi&limit=50", headers=auth)
        assert (await r.json())["animations"][-1]["id"] == cid
        r = await http.post("/api/animations", json=oops, headers=auth)
        assert r.status == 400 and await r.json() == json.loads(oops_answer)

    serve(test, tmp_path)
