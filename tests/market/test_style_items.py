"""Style packs bought on the marketplace in avatar generation (webapi/handlers/market_styles.py,
webapi/generate.py): a buyer who owns an uploaded pack, and its creator, see it among
the styles of `GET /api/marketplace/styles` (what /create offers) and may generate with it,
by its listing id or its style name; the engine then runs that pack's own parameters, read
from the listing's stored file. Anyone else naming it gets the usual "unknown style" error,
which names only the styles they may use. A built-in style's listing is the built-in style.

Generation is checked cheaply: a photo without a face is refused by the engine only after
it has looked the style up (`engine.style.generate` raises UnknownStyleError before any
work), so "no face" (422) means the style was accepted and "unknown style" (400) that it was
not. One test generates a real avatar with the pack (under a second on CPU)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.market import zips
from tests.market.test_api_catalog import Server, call, published, upload, user
from tests.webapi.images import astronaut_jpeg, data_url, grey_png
from webapi.app import STORE

pytest.importorskip("engine.style", reason="style packs need the style engine (torch)")

HUE = 17.5  # the pack's own hue shift: no built-in style has it


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("styles"))
    try:
        yield s
    finally:
        s.close()


def pack_zip(style: str, name: str) -> bytes:
    from engine.style.styles import ARCHITECTURE

    tensors = zips.style_tensors()
    tensors["hue_shift"] = np.float32(HUE)
    data = zips.safetensors(tensors, {"architecture": ARCHITECTURE, "style": style})
    return zips.style_pack_zip(name=name, style=style, data=data)


async def creator(http: Any) -> dict[str, str]:
    who = await user(http, "maker")
    status, body = await call(
        http, "POST", "/api/marketplace/creator", who, {"display_name": "Inks"}
    )
    assert status == 200, body
    return who


async def styles(http: Any, who: dict[str, str] | None) -> dict[str, dict[str, Any]]:
    status, body = await call(http, "GET", "/api/marketplace/styles", who)
    assert status == 200, body
    return {s["id"]: s for s in body["styles"]}


async def generate(
    http: Any, who: dict[str, str] | None, style: str, image: str
) -> tuple[int, Any]:
    body = {"image": image, "style": style, "options": {"outputSize": 256}}
    return await call(http, "POST", "/api/generate", who, body)


def test_an_owned_pack_is_offered_and_generates_and_nobody_elses_is(server: Server) -> None:
    from engine.style.styles import style_params

    async def test() -> None:
        http = server.http
        maker, buyer, other = (
            await creator(http),
            await user(http, "buyer"),
            await user(http, "other"),
        )
        listing = await published(http, maker, pack_zip("inkwash", "Ink wash"))
        lid = listing["id"]
        status, got = await call(
            http, "POST", "/api/marketplace/purchase", buyer, {"asset_id": lid}
        )
        assert status == 200 and got["status"] == "owned", got

        # the options: the built-ins for everyone, the pack for its buyer and its maker only
        mine = await styles(http, buyer)
        assert mine[lid]["style"] == "inkwash" and mine[lid]["name"] == "Ink wash"
        assert mine[lid]["builtin"] is False and mine[lid]["mine"] is False
        assert {"kingdom-hearts", "dark-cloud", "ghibli", "cel-shade"} <= set(mine)
        assert mine["ghibli"]["builtin"] and mine["ghibli"]["listing_id"]  # its listing
        assert (await styles(http, maker))[lid]["mine"] is True
        assert lid not in await styles(http, other) and lid not in await styles(http, None)

        grey = data_url(grey_png())
        # the buyer: accepted by id and by style name (the engine then looks for a face)
        for name in (lid, "inkwash"):
            status, body = await generate(http, buyer, name, grey)
            assert status == 422 and "face" in body["error"].lower(), (name, body)
        # ... and the engine now runs the pack's own parameters, read from the stored file
        assert float(style_params(lid)["hue_shift"]) == pytest.approx(HUE)
        assert (server.root / lid / "files").is_dir()
        # its maker too
        status, body = await generate(http, maker, lid, grey)
        assert status == 422, body
        # someone else, a guest: the usual unknown style, naming only what they may use
        for who in (other, None):
            for name in (lid, "inkwash"):
                status, body = await generate(http, who, name, grey)
                assert status == 400 and f'unknown style "{name}"' in body["error"], body
                assert (
                    "kingdom-hearts" in body["error"]
                    and "inkwash" not in body["error"].split(":")[-1]
                )
        # a built-in style's listing is that built-in style, for anyone
        builtin = (await styles(http, None))["cel-shade"]["listing_id"]
        status, body = await generate(http, other, builtin, grey)
        assert status == 422, body

    server.run(test())


def test_a_refund_or_a_draft_of_someone_else_takes_the_pack_away(server: Server) -> None:
    async def test() -> None:
        http = server.http
        maker, buyer = await creator(http), await user(http, "buyer")
        draft = await upload(http, maker, pack_zip("sketchy", "Sketchy"))
        grey = data_url(grey_png())
        # the maker may try a draft; nobody else can buy or name it
        assert (await generate(http, maker, draft["id"], grey))[0] == 422
        assert draft["id"] not in await styles(http, buyer)
        status, body = await generate(http, buyer, draft["id"], grey)
        assert status == 400 and "unknown style" in body["error"], body
        # an entitlement revoked (a refund) is no entitlement
        await call(http, "POST", f"/api/marketplace/assets/{draft['id']}/publish", maker)
        status, got = await call(
            http, "POST", "/api/marketplace/purchase", buyer, {"asset_id": draft["id"]}
        )
        assert status == 200 and got["status"] == "owned", got
        assert (await generate(http, buyer, "sketchy", grey))[0] == 422
        # (what purchases.fulfil does on charge.refunded, tested with the webhook elsewhere)
        server.app[STORE].write_now(
            lambda db: db.execute(
                "UPDATE entitlements SET revoked_at = '2026-01-01T00:00:00Z' WHERE listing_id = ?",
                [draft["id"]],
            )
        )
        assert draft["id"] not in await styles(http, buyer)
        assert (await generate(http, buyer, "sketchy", grey))[0] == 400

    server.run(test())


def test_a_real_avatar_in_a_bought_style(server: Server) -> None:
    async def test() -> None:
        http = server.http
        maker, buyer = await creator(http), await user(http, "buyer")
        lid = (await published(http, maker, pack_zip("warmwash", "Warm wash")))["id"]
        assert (await call(http, "POST", "/api/marketplace/purchase", buyer, {"asset_id": lid}))[
            0
        ] == 200
        status, body = await generate(http, buyer, lid, data_url(astronaut_jpeg(), "image/jpeg"))
        assert status == 200 and body["success"], body
        assert body["metadata"]["style"] == lid
        assert body["metadata"]["model"] == "digigami-pack-pipeline-1"

    server.run(test(), timeout=300)
