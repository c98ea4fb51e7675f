"""Issue 13, wearing a saved avatar: a preview or a live session opened with
`avatar=<saved id>` wears its customizations (its sprite library, sprites and colours: seen
in the session's hello and status messages and in the rendered frames), a live session's
changes can be saved back to it, a saved custom animation plays in a preview and as a live
emote, and someone else's private avatar is a 404 that leaves no slot taken. Real peers
in-process (aiortc), the real render thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from aiohttp.test_utils import TestClient

from tests.api.test_avatars_api import call, created, origin, serve, sign_up
from tests.streaming.peers import Client
from webapi.app import MANAGER
from webapi.library import customizations as custom

WINTER = {
    "library": "winter",
    "sprites": {"outfit": "armor", "accessories": "hat"},
    "colors": {"avatar": {"hue": 150, "saturation": 2}, "outfit": {"brightness": 0.5}},
}
NOD = {  # a custom clip in the engine's format: the head nods
    "schema": 1,
    "name": "Nod",
    "length": 1.0,
    "bones": {"head": {"rotation": [{"time": 0, "value": 0}, {"time": 1.0, "value": 15}]}},
}


async def open_puppet(
    http: TestClient, who: dict[str, str] | None, **extra: Any
) -> tuple[Client, int, dict[str, Any]]:
    client = Client()  # receives the avatar, has the control channel; tracks in the "browser"
    sdp = await client.offer()
    body = {"sdp": sdp, "type": "offer", "tracking": "browser", **extra}
    r = await http.post("/api/sessions", json=body, headers={**origin(http), **(who or {})})
    answer = await r.json()
    if r.status == 200:
        await client.accept(answer["sdp"])
    return client, r.status, answer


async def open_preview(
    http: TestClient, who: dict[str, str] | None, **options: Any
) -> tuple[Client, int, dict[str, Any]]:
    client = Client()
    sdp = await client.offer(channel=False)
    body = {"sdp": sdp, "type": "offer", "size": 128, "fps": 15, **options}
    r = await http.post("/api/previews", json=body, headers={**origin(http), **(who or {})})
    answer = await r.json()
    if r.status == 200:
        await client.accept(answer["sdp"])
    return client, r.status, answer


def _expected(sprites: dict[str, str]) -> dict[str, str]:
    return {"body": "default", **sprites}  # the winter library's default body


def test_a_live_session_wears_a_saved_avatar_and_saves_changes_back(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        alice = await sign_up(http, "alice")
        saved = await created(http, alice, name="Winter", customizations=WINTER)
        client, status, answer = await open_puppet(http, alice, avatar=saved["id"])
        assert status == 200, answer
        try:
            await client.wait_for(lambda: client.of_type("hello"), 20, "the hello message")
            hello = client.of_type("hello")[0]
            assert hello["avatar"] == saved["id"] and hello["library"] == "winter"
            assert "outfit" in hello["color_parts"] and hello["color_parts"][0] == "avatar"
            worn = hello["customizations"]
            assert worn["library"] == "winter"
            assert worn["sprites"] == _expected(WINTER["sprites"])
            assert worn["colors"] == {
                "avatar": {"hue": 150.0, "saturation": 2.0, "brightness": 1.0, "contrast": 1.0},
                "outfit": {"hue": 0.0, "saturation": 1.0, "brightness": 0.5, "contrast": 1.0},
            }
            session = next(iter(http.app[MANAGER].sessions.values()))
            avatar_filter, parts = session.filters  # what the render thread draws with
            assert avatar_filter == (150.0, 2.0, 1.0, 1.0)
            assert parts and set(parts.values()) == {(0.0, 1.0, 0.5, 1.0)}
            assert "shirt" in parts and "torso" not in parts  # the outfit's slots only

            # change it live (swap, colour), see it in the status, save it back
            client.send({"type": "swap", "category": "outfit", "label": "formal"})
            client.send({"type": "color", "part": "body", "hue": -30})
            client.send({"type": "color", "part": "outfit", "brightness": 1})
            client.send({"type": "style", "value": "cel-shade"})

            def changed() -> bool:
                done = [m for m in client.of_type("status") if m["customizations"]["sprites"]
                        .get("outfit") == "formal" and "body" in m["customizations"]["colors"]
                        and m["customizations"].get("style") == "cel-shade"]  # fmt: skip
                return bool(done)

            await client.wait_for(changed, 20, "a status with the changes")
            now = [m for m in client.of_type("status") if "body" in m["customizations"]["colors"]][
                -1
            ]
            assert now["avatar"] == saved["id"]
            assert "outfit" not in now["customizations"]["colors"]  # back to neutral
            status, back = await call(
                http,
                "PATCH",
                f"/api/avatars/{saved['id']}",
                alice,
                {"customizations": now["customizations"]},
            )
            assert status == 200, back
            assert back["customizations"]["sprites"]["outfit"] == "formal"
            assert back["customizations"]["style"] == "cel-shade"
            # and what a session wearing it starts in
            opts = await custom.options("digi")
            assert custom.look(back["customizations"], opts).style == "cel-shade"
            assert back["customizations"]["colors"] == {
                "avatar": {"hue": 150.0, "saturation": 2.0, "brightness": 1.0, "contrast": 1.0},
                "body": {"hue": -30.0, "saturation": 1.0, "brightness": 1.0, "contrast": 1.0},
            }
            # a bad colour message is answered, the session goes on
            client.send({"type": "color", "part": "tail", "hue": 1})
            client.send({"type": "color", "part": "avatar", "hue": 999})
            await client.wait_for(
                lambda: len(client.of_type("error")) >= 2, 10, "two error answers"
            )
            errors = [m["message"] for m in client.of_type("error")]
            assert 'unknown colour part "tail"' in errors[0]
            assert '"hue" must be a number from -180 to 180' in errors[1]
        finally:
            await client.close()

    serve(tmp_path, test, streaming=True)


def test_a_preview_wears_a_saved_avatar_and_its_colours_show(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        alice, bob = await sign_up(http, "alice"), await sign_up(http, "bob")
        saved = await created(http, alice, name="Winter", customizations=WINTER)
        manager = http.app[MANAGER]
        plain, status, answer = await open_preview(http, None, animation="idle")
        assert status == 200, answer
        worn, status, answer = await open_preview(http, alice, animation="idle", avatar=saved["id"])
        assert status == 200, answer
        try:
            await worn.wait_for(
                lambda: worn.received > 20 and plain.received > 20, 30, "preview frames"
            )
            session = manager.sessions[answer["preview"]]
            assert session.look.saved == saved["id"]
            assert session.hello()["customizations"]["sprites"] == _expected(WINTER["sprites"])
            assert session.bundle.sprites.name == "winter"
            # the render: Digi turned by 150 degrees of hue and saturated looks another colour
            a = plain.frames[-1].to_ndarray(format="rgb24").astype(float)
            b = worn.frames[-1].to_ndarray(format="rgb24").astype(float)
            assert np.abs(a - b).mean() > 8, np.abs(a - b).mean()

            # someone else's private avatar: 404 as a missing one, and no slot kept
            for who in (bob, None):
                other, status, refused = await open_preview(
                    http, who, animation="wave", avatar=saved["id"]
                )
                await other.close()
                assert status == 404 and refused == {"error": f'no avatar "{saved["id"]}"'}
            other, status, refused = await open_puppet(http, bob, avatar=saved["id"])
            await other.close()
            assert status == 404 and refused == {"error": f'no avatar "{saved["id"]}"'}
            reserved = manager.health()["reserved"]
            assert reserved["sessions"] == 0 and reserved["previews"] == 2, reserved
            # made public, bob may wear it
            await call(http, "PATCH", f"/api/avatars/{saved['id']}", alice, {"is_public": True})
            other, status, answer = await open_preview(
                http, bob, animation="wave", avatar=saved["id"]
            )
            await other.close()
            assert status == 200, answer
        finally:
            await plain.close()
            await worn.close()

    serve(tmp_path, test, streaming=True)


def test_a_custom_animation_plays_in_a_preview_and_as_a_live_emote(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        alice, bob = await sign_up(http, "alice"), await sign_up(http, "bob")
        status, clip = await call(
            http,
            "POST",
            "/api/animations",
            alice,
            {"rig": "digi", "name": "Nod", "definition": NOD},
        )
        assert status == 201, clip
        manager = http.app[MANAGER]
        preview, status, answer = await open_preview(http, alice, animation=clip["id"])
        assert status == 200, answer
        puppet, status, live = await open_puppet(http, alice, animations=[clip["id"]])
        assert status == 200, live
        try:
            session = manager.sessions[answer["preview"]]
            await preview.wait_for(
                lambda: session.puppet.state("emote") == clip["id"], 20, "the custom clip"
            )
            await puppet.wait_for(lambda: puppet.of_type("hello"), 20, "the hello message")
            hello = puppet.of_type("hello")[0]
            assert {"id": clip["id"], "name": "Nod"} in hello["custom"]
            assert clip["id"] in hello["states"]
            puppet.send({"type": "transition", "state": clip["id"]})
            await puppet.wait_for(
                lambda: any(m["state"] == clip["id"] for m in puppet.of_type("status")),
                20,
                "the emote playing",
            )
            # it is alice's: bob cannot play it, as if it did not exist
            other, status, refused = await open_preview(http, bob, animation=clip["id"])
            await other.close()
            assert status == 404 and refused == {"error": f'no animation "{clip["id"]}"'}
            other, status, refused = await open_puppet(http, None, animations=["x"])
            await other.close()
            assert status == 400 and "animations[0]" in refused["error"]
        finally:
            await preview.close()
            await puppet.close()

    serve(tmp_path, test, streaming=True)
