"""Marketplace items in live sessions (streaming/market_items.py), over real WebRTC peers in
this process: a try-on preview's frames show the outfit's colours, a background shows
behind, an effect changes the frames; a puppet's owned items are in its hello, its owned
effect is applied by the `effect` message and an unowned one refused by name."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.assets import ATLASES
from streaming.manager import BadOffer, SessionManager
from streaming.market_items import MarketItem, dress
from tests.streaming.peers import Client

NEON = (255, 0, 220)  # nothing in Digi's own art is this colour
SLEEVES = {"shirt": "shirt_casual", "sleeve_l": "sleeve_casual", "sleeve_r": "sleeve_casual"}
OUTFIT = "m" + "a" * 20
BACKGROUND = "m" + "b" * 20
EFFECT = "m" + "c" * 20
SNOW = "m" + "d" * 20


def _digi_picture(attachment: str) -> np.ndarray:
    image = np.asarray(Image.open(ATLASES / "digi" / "atlas.png").convert("RGBA"))
    x, y, w, h = json.loads((ATLASES / "digi" / "atlas.json").read_text())["regions"][
        f"digi/{attachment}"
    ]
    return image[y : y + h, x : x + w].copy()


def _save(folder: Path, name: str, px: np.ndarray) -> str:
    (folder / "files").mkdir(parents=True, exist_ok=True)
    Image.fromarray(px).save(folder / "files" / name)
    return f"files/{name}"


@pytest.fixture(scope="module")
def items(tmp_path_factory) -> dict[str, MarketItem]:
    root = tmp_path_factory.mktemp("market")
    parts = {}
    for slot, att in SLEEVES.items():
        px = _digi_picture(att)
        px[..., :3] = NEON
        parts[slot] = {"attachment": att, "picture": _save(root / OUTFIT, f"{slot}.png", px)}
    outfit = {"rig": "digi", "category": "outfit", "label": "neon", "parts": parts}
    green = np.zeros((90, 160, 3), np.uint8)
    green[:] = (0, 200, 40)
    bg = {"picture": _save(root / BACKGROUND, "bg.png", green)}
    frame = np.zeros((32, 32, 4), np.uint8)
    frame[..., :] = (255, 255, 0, 255)  # solid yellow, half opacity below: a visible veil
    effect = {"schema": 1, "filter": {"hue": 120},
              "overlay": {"frames": [_save(root / EFFECT, "f0.png", frame)], "fps": 4,
                          "blend": "normal", "opacity": 0.5, "placement": "full"}}  # fmt: skip
    return {
        "outfit": MarketItem(OUTFIT, "outfit", outfit, root / OUTFIT, name="Neon casual"),
        "background": MarketItem(BACKGROUND, "background", bg, root / BACKGROUND),
        "effect": MarketItem(EFFECT, "effect", effect, root / EFFECT, name="Yellow veil"),
        "snow": MarketItem(SNOW, "effect", {"effect": "snowfall", "builtin": True}, None),
        "hat": MarketItem(
            "m" + "e" * 20,
            "accessory",
            {"rig": "digi", "category": "accessories", "label": "hat", "builtin": True},
        ),
    }


def run_with_manager(
    test: Callable[[SessionManager], Awaitable[None]], timeout: float = 90
) -> None:
    """`test(manager)` on a started SessionManager for Digi, shut down after."""
    async def main() -> None:
        manager = SessionManager("digi", max_previews=4)
        await manager.start()
        try:
            await test(manager)
        finally:
            await manager.shutdown()
            manager.worker.stop()

    asyncio.run(asyncio.wait_for(main(), timeout))


async def _preview(manager: SessionManager, item: MarketItem | None, **options) -> Client:
    client = Client()
    sdp = await client.offer(channel=False)
    opts = {"size": 256, "fps": 15, **options}
    answer, _ = await manager.open_preview({"sdp": sdp, "type": "offer"}, opts, None, try_on=item)
    await client.accept(answer)
    await client.wait_for(lambda: client.received >= 8, 30, "preview frames")
    return client


def _rgb(client: Client) -> np.ndarray:
    return client.frames[-1].to_ndarray(format="rgb24").astype(int)


def _near(px: np.ndarray, colour, tol: int = 60) -> int:
    return int((np.abs(px - np.array(colour)).max(axis=2) <= tol).sum())


@pytest.mark.slow
def test_try_on_previews_show_the_item(items) -> None:
    async def test(manager: SessionManager) -> None:
        plain = await _preview(manager, None)
        neon = await _preview(manager, items["outfit"])
        backed = await _preview(manager, items["background"])
        veiled = await _preview(manager, items["effect"])
        p, n, b, v = _rgb(plain), _rgb(neon), _rgb(backed), _rgb(veiled)
        # the outfit: its colour where the shirt is, nowhere in the plain preview
        assert _near(p, NEON) < 20 and _near(n, NEON) > 300, (_near(p, NEON), _near(n, NEON))
        # the background behind: its green in the corners, the avatar still in front
        corners = np.concatenate([b[:12, :12], b[:12, -12:], b[-12:, :12]]).reshape(-1, 3)
        assert np.abs(corners.mean(axis=0) - (0, 200, 40)).max() < 25, corners.mean(axis=0)
        assert _near(b, (0, 200, 40)) < 0.97 * b.shape[0] * b.shape[1]
        # the effect: a half yellow veil over everything (the plain backdrop is dark blue-grey)
        assert p[:12, :12].mean(axis=(0, 1))[0] < 80
        veil = v[:12, :12].mean(axis=(0, 1))
        assert veil[0] > 120 and veil[1] > 120 and veil[2] < 60, veil
        for c in (plain, neon, backed, veiled):
            await c.close()
        # a try-on the engine cannot use is refused by name, nothing left running
        broken = MarketItem("m" + "f" * 20, "outfit",
                            {**items["outfit"].content, "parts": {"cape": {"attachment": "x",
                             "picture": "files/shirt.png"}}}, items["outfit"].files)  # fmt: skip
        client = Client()
        sdp = await client.offer(channel=False)
        with pytest.raises(BadOffer, match='no slot "cape"'):
            await manager.open_preview({"sdp": sdp, "type": "offer"}, {"size": 256}, None,
                                       try_on=broken)  # fmt: skip
        await client.close()

    run_with_manager(test, timeout=120)


@pytest.mark.slow
def test_owned_items_in_a_puppet_session(items) -> None:
    async def test(manager: SessionManager) -> None:
        owned = [items["outfit"], items["effect"], items["snow"], items["background"], items["hat"]]
        client = Client()
        sdp = await client.offer()
        answer, session = await manager.open_puppet(
            {"sdp": sdp, "type": "offer", "tracking": "none"}, None, owned=owned
        )
        await client.accept(answer)
        await client.wait_for(lambda: client.of_type("hello"), 20, "hello")
        hello = client.of_type("hello")[0]
        assert "neon" in hello["labels"]["outfit"]
        market = hello["market"]
        assert {e["id"] for e in market["effects"]} == {EFFECT, SNOW}
        assert {(x["id"], x["label"]) for x in market["labels"]} == {
            (OUTFIT, "neon"),
            (items["hat"].id, "hat"),
        }
        assert [x["id"] for x in market["backgrounds"]] == [BACKGROUND]
        await client.wait_for(lambda: client.received >= 10, 30, "frames")
        before = _rgb(client)
        client.send({"type": "swap", "category": "outfit", "label": "neon"})
        client.send({"type": "effect", "id": EFFECT})
        client.send({"type": "scene", "background": "image", "image": BACKGROUND})
        await client.wait_for(
            lambda: any(m.get("effect") == EFFECT for m in client.of_type("status")), 10,
            "the effect in the status",
        )  # fmt: skip
        start = client.received
        await client.wait_for(lambda: client.received > start + 20, 30, "frames after")
        after = _rgb(client)
        # the owned background, veiled yellow by the effect: green + yellow / 2
        corner = after[:12, :12].mean(axis=(0, 1))
        assert corner[1] > 180 and corner[0] > 100 and corner[2] < 60, corner
        assert not np.array_equal(before, after)
        # unowned or unknown effects are refused by name; null takes the effect off
        client.send({"type": "effect", "id": "m" + "9" * 20})
        await client.wait_for(
            lambda: any("no effect" in m.get("message", "") for m in client.of_type("error")),
            10, "the refusal",
        )  # fmt: skip
        client.send({"type": "effect", "id": None})
        await client.wait_for(
            lambda: client.of_type("status") and client.of_type("status")[-1]["effect"] is None,
            10, "the effect off",
        )  # fmt: skip
        assert session.effect is None
        await client.close()

    run_with_manager(test, timeout=120)


def test_dress_keeps_labels_apart_and_leaves_out_broken_items(items, digi) -> None:
    # an item named like one of the avatar's own labels gets a label of its own
    clash = MarketItem("m" + "1" * 20, "outfit", {**items["outfit"].content, "label": "casual"},
                       items["outfit"].files)  # fmt: skip
    bundle, found = dress(digi, [clash])
    category, label = found.labels[clash.id]
    assert (category, label) == ("outfit", "casual-111111")
    assert bundle.sprites.resolve("outfit", "casual")["shirt"] == "shirt_casual"
    # a broken one: refused when tried on, left out of a puppet's owned items
    broken = MarketItem("m" + "2" * 20, "background", {"picture": "files/none.png"}, Path("/nope"))
    with pytest.raises(ValueError, match="no file"):
        dress(digi, [broken])
    _, found = dress(digi, [broken, items["snow"]], strict=False)
    assert list(found.effects) == [SNOW] and not found.backgrounds
    # a file name may not leave the item's folder
    escape = MarketItem("m" + "3" * 20, "background", {"picture": "../" + OUTFIT + "/files/shirt.png"},
                        items["background"].files)  # fmt: skip
    with pytest.raises(ValueError, match="leaves its folder"):
        dress(digi, [escape])
