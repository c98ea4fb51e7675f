"""A generated avatar's character over HTTP, in-process (webapi/handlers/character.py): the
generation measures the photo and stores the character; its owner edits it and nobody else
can; the engine draws a still of it; a live session wears it, or the photo face on request.
Real parts: the style pipeline, MediaPipe on the astronaut, the GL render worker."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from engine.likeness.palette import delta_e, rgb
from streaming.manager import BadOffer
from tests.webapi.images import astronaut_jpeg, data_url
from tests.webapi.test_generate import generate_msg
from webapi.app import MANAGER, create_app


def serve(test: Callable[[TestClient, TestClient], Awaitable[None]], root: Path) -> None:
    """Two clients of one server: `owner` (who generates) and `other` (another guest)."""

    async def main() -> None:
        server = TestServer(create_app(avatar_root=root, db=root / "t.db"))
        async with TestClient(server) as owner:
            other = TestClient(server)
            try:
                await test(owner, other)
            finally:
                await other.close()

    asyncio.run(asyncio.wait_for(main(), 300))


async def _generated(http: TestClient) -> dict:
    msg = generate_msg(data_url(astronaut_jpeg(), "image/jpeg"))
    resp = await http.post("/api/generate", json=msg)
    assert resp.status == 200, await resp.text()
    return await resp.json()


def _still(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def test_the_character_is_measured_edited_by_its_owner_only_and_drawn(tmp_path: Path) -> None:
    async def test(owner: TestClient, other: TestClient) -> None:
        result = await _generated(owner)
        avatar = result["avatarId"]
        character = result["character"]
        assert character is not None and result["features"]["features"]["skin"]["confidence"] > 0
        # the astronaut: short hair, no glasses, no facial hair
        assert not character["glasses"] and character["facial_hair"] == "none"

        got = await (await owner.get(f"/avatars/{avatar}/character")).json()
        assert got["character"] == character and character["hairstyle"] in got["hairstyles"]

        # the owner changes the hair; another guest is told there is no such avatar
        change = {"hairstyle": "long_wavy", "hair": "#2a6f3a", "eye_shape": "almond"}
        resp = await other.put(f"/avatars/{avatar}/character", json=change)
        assert resp.status == 404, await resp.text()
        resp = await owner.put(f"/avatars/{avatar}/character", json={"hairstyle": "mohawk"})
        assert resp.status == 400 and "hairstyle" in (await resp.json())["error"]
        resp = await owner.put(f"/avatars/{avatar}/character", json={"wings": True})
        assert resp.status == 400 and "wings" in (await resp.json())["error"]
        # hostile bodies: too large, too deep, not an object, a wrong type; nothing changes
        resp = await owner.put(
            f"/avatars/{avatar}/character",
            data=b'{"hair": "' + b"a" * 10_000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert resp.status == 413, await resp.text()
        resp = await owner.put(
            f"/avatars/{avatar}/character",
            data=b"[" * 200 + b"]" * 200,
            headers={"Content-Type": "application/json"},
        )
        assert resp.status == 400, await resp.text()
        bad = ([1, 2], "long", {}, {"glasses": "yes"}, {"skin": "#ZZZZZZ"}, {"eye_shape": "cat"})
        for body in bad:
            resp = await owner.put(f"/avatars/{avatar}/character", json=body)
            assert resp.status == 400, (body, await resp.text())
            assert (await resp.json())["error"]
        unchanged = await (await owner.get(f"/avatars/{avatar}/character")).json()
        assert unchanged["character"] == character

        resp = await owner.put(f"/avatars/{avatar}/character", json=change)
        assert resp.status == 200, await resp.text()
        edited = (await resp.json())["character"]
        assert edited["hairstyle"] == "long_wavy" and edited["skin"] == character["skin"]
        assert edited["eye_shape"] == "almond"
        again = await (await other.get(f"/avatars/{avatar}/character")).json()
        assert again["character"] == edited  # kept on disk

        # the still: the engine's render of the edited character, its hair green
        resp = await owner.get(f"/avatars/{avatar}/character.png?framing=face")
        assert resp.status == 200 and resp.content_type == "image/png"
        still = _still(await resp.read())
        opaque = still[still[..., 3] == 255][:, :3]
        near = [delta_e(tuple(int(v) for v in px), rgb("#2a6f3a")) < 10 for px in opaque[::97]]
        assert np.mean(near) > 0.05, "no hair of the chosen colour in the still"
        resp = await owner.get(f"/avatars/{avatar}/character.png?framing=knees")
        assert resp.status == 400 and "framing" in (await resp.json())["error"]
        # a render style is one of the known ones, named in the refusal; a long one too
        for bad in ("sepia", "x" * 5000):
            resp = await owner.get(f"/avatars/{avatar}/character.png?style={bad}")
            error = (await resp.json())["error"]
            assert resp.status == 400 and "unknown style" in error and "ghibli" in error
            assert len(error) < 6000
        styled = await owner.get(f"/avatars/{avatar}/character.png?framing=face&style=cel-shade")
        assert styled.status == 200 and _still(await styled.read()).tobytes() != still.tobytes()
        resp = await owner.get("/avatars/0123456789abcdef/character")
        assert resp.status == 404

        # a live session wears the character (Digi's rig in the character's pictures), or
        # the photo face when asked; a bad "wears" is refused by name
        manager = owner.server.app[MANAGER]
        worn = await manager._avatar(avatar, "base", "character")
        photo = await manager._avatar(avatar, "base", "photo")
        assert worn.key != photo.key
        assert any(p.startswith("hair/long_wavy/") for p in worn.pictures().regions)
        assert any(p.startswith("face/") for p in photo.pictures().regions)
        with pytest.raises(BadOffer, match="wears"):
            await manager._look({"avatar": avatar, "wears": "hologram"}, None)
        # an offer may start it in a render style, named from the known ones
        look = await manager._look({"avatar": avatar, "style": "cel-shade"}, None)
        assert (look.style, look.wears) == ("cel-shade", "character")
        with pytest.raises(BadOffer, match="kingdom-hearts"):
            await manager._look({"avatar": avatar, "style": "sepia"}, None)
        # the same still asked again is answered from memory, byte for byte
        again_png = await (await owner.get(f"/avatars/{avatar}/character.png?framing=face")).read()
        assert _still(again_png).tobytes() == still.tobytes()

    serve(test, tmp_path)
