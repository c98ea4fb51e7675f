"""Avatar listings: buying one (free, with DIGI credits, or by card once the webhook fulfils
it) makes it a saved avatar in the buyer's library, once per buyer and listing, kept after a
refund; and trying one on shows it live, over real WebRTC peers: the preview wears the
listing's customizations (its armor, hat and the armor's hue) as its saved copy is worn,
not plain Digi."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest

from tests.market.conftest import event
from tests.market.test_purchases import begin_card, charge, intent, make_user
from tests.market.zips import avatar_zip
from webapi.library import avatars
from webapi.library.avatars import Who
from webapi.market import assets, listings, packages, purchases
from webapi.store import Store

ARMORED = {"sprites": {"outfit": "armor", "accessories": "hat"}, "colors": {"outfit": {"hue": 90}}}


def avatar_listing(
    store: Store,
    creator: str,
    *,
    price: int = 0,
    currency: str = "usd",
    name: str = "Armored Digi",
    custom: dict | None = None,
) -> str:
    """An avatar package checked as an upload is (assets.validate), listed and published."""
    pkg = packages.read_package(
        avatar_zip(
            name=name, customizations=custom or ARMORED, price_cents=price, currency=currency
        )
    )
    manifest, content = assets.validate(pkg)
    lid = listings.new_listing_id()

    def write(db: Any) -> None:
        listings.ensure_creator(db, creator, "Avatar maker")
        listings.create_draft(
            db,
            listing_id=lid,
            creator_id=creator,
            type=manifest["type"],
            name=manifest["name"],
            description=manifest["description"],
            tags=manifest["tags"],
            price_cents=manifest["price_cents"],
            currency=manifest["currency"],
            compatibility=manifest["compatibility"],
            manifest=manifest,
            content=content,
            size_bytes=len(pkg.data),
        )
        listings.set_status(db, lid, creator, "published")

    store.write_now(write)
    return lid


def saved(store: Store, user: str) -> list[dict[str, Any]]:
    """The user's saved avatars as the library's API lists them."""
    return asyncio.run(avatars.list_avatars(store, Who(user_id=user)))["avatars"]


@pytest.fixture
def people(store: Store) -> dict[str, str]:
    return store.write_now(
        lambda db: {"creator": make_user(db), "buyer": make_user(db), "other": make_user(db)}
    )


def test_a_free_avatar_becomes_the_buyers_saved_avatar(store: Store, people: dict) -> None:
    lid = avatar_listing(store, people["creator"], name="  Armored   Digi ")
    assert saved(store, people["buyer"]) == []
    got = store.write_now(lambda db: purchases.start(db, listing_id=lid, buyer_id=people["buyer"]))
    assert got["status"] == "owned"
    [mine] = saved(store, people["buyer"])
    assert mine["id"] == purchases.saved_avatar_id(people["buyer"], lid)
    assert (mine["name"], mine["rig"], mine["source"], mine["is_public"], mine["mine"]) == (
        "Armored Digi",
        "digi",
        "rig",
        False,
        True,
    )
    assert mine["customizations"] == {
        "sprites": {"outfit": "armor", "accessories": "hat"},
        "colors": {"outfit": {"hue": 90.0}},
    }
    # nobody else got one, and the buyer's is private: another user is told it is missing
    assert saved(store, people["other"]) == [] and saved(store, people["creator"]) == []
    with pytest.raises(Exception, match="no avatar"):
        asyncio.run(avatars.get(store, mine["id"], Who(user_id=people["other"])))
    # what a session opened with it wears: the listing's sprites and the outfit's hue
    look = asyncio.run(avatars.avatar_for_session(store, mine["id"], Who(user_id=people["buyer"])))
    assert dict(look.sprites) == {"outfit": "armor", "accessories": "hat"}
    assert look.colors == {"outfit": (90.0, 1.0, 1.0, 1.0)} and "outfit" in look.groups


def test_paying_with_credits_saves_it_too(store: Store, people: dict) -> None:
    lid = avatar_listing(store, people["creator"], price=300, currency="digi")
    pack = store.write_now(lambda db: begin_card(db, buyer_id=people["buyer"], pack="500"))
    ok = event("payment_intent.succeeded", intent(pack))
    assert store.write_now(lambda db: purchases.fulfil(db, ok)) == "fulfilled"
    assert saved(store, people["buyer"]) == []  # a credit pack is no avatar
    got = store.write_now(
        lambda db: purchases.start(db, listing_id=lid, buyer_id=people["buyer"], pay_with="credits")
    )
    assert (got["status"], got["credits"]) == ("owned", 200)
    assert [a["name"] for a in saved(store, people["buyer"])] == ["Armored Digi"]


def test_by_card_only_the_webhook_saves_it_once_and_a_refund_keeps_it(
    store: Store, people: dict
) -> None:
    buyer = people["buyer"]
    lid = avatar_listing(store, people["creator"], price=700)
    p = store.write_now(lambda db: begin_card(db, listing_id=lid, buyer_id=buyer))
    assert p["status"] == "pending" and saved(store, buyer) == []  # not paid: nothing yet
    paid = event("payment_intent.succeeded", intent(p))
    assert store.write_now(lambda db: purchases.fulfil(db, paid)) == "fulfilled"
    assert store.write_now(lambda db: purchases.fulfil(db, paid)) == "duplicate"
    [copy] = saved(store, buyer)
    # the buyer makes it their own; then the payment is refunded: the entitlement goes,
    # the saved copy (their edits with it) stays (webapi/market/purchases.py docstring)
    asyncio.run(avatars.patch(store, copy["id"], Who(user_id=buyer), {"name": "Mine now"}))
    back = event("charge.refunded", charge(p))
    assert store.write_now(lambda db: purchases.fulfil(db, back)) == "refunded"
    assert not store.read_now(lambda db: purchases.owns(db, buyer, lid))
    assert [a["name"] for a in saved(store, buyer)] == ["Mine now"]
    # bought again: owned again, still the one copy, as the buyer left it
    again = store.write_now(lambda db: begin_card(db, listing_id=lid, buyer_id=buyer))
    ok = event("payment_intent.succeeded", intent(again))
    assert store.write_now(lambda db: purchases.fulfil(db, ok)) == "fulfilled"
    assert store.read_now(lambda db: purchases.owns(db, buyer, lid))
    assert [(a["id"], a["name"]) for a in saved(store, buyer)] == [(copy["id"], "Mine now")]


def test_a_failed_or_mismatched_payment_saves_nothing(store: Store, people: dict) -> None:
    lid = avatar_listing(store, people["creator"], price=700)
    p = store.write_now(lambda db: begin_card(db, listing_id=lid, buyer_id=people["buyer"]))
    cheap = event("payment_intent.succeeded", intent(p, amount=1))
    assert store.write_now(lambda db: purchases.fulfil(db, cheap)) == "mismatch"
    failed = event("payment_intent.payment_failed", {**intent(p), "status": "failed"})
    assert store.write_now(lambda db: purchases.fulfil(db, failed)) == "failed"
    assert saved(store, people["buyer"]) == []
    assert store.read_now(lambda db: db["avatars"].count) == 0


def test_over_http_the_bought_avatar_is_in_the_library(tmp_path) -> None:
    """The whole path a person takes: a creator uploads an avatar package and publishes it,
    a buyer gets it (free) and finds it in GET /api/avatars, theirs and private."""
    from tests.market.test_api_catalog import Server, call, published, user

    server = Server(tmp_path)
    try:

        async def test() -> None:
            http = server.http
            maker, buyer = await user(http, "maker"), await user(http, "buyer")
            listing = await published(http, maker, avatar_zip(name="Knight Digi"))
            status, got = await call(
                http, "POST", "/api/marketplace/purchase", buyer, {"asset_id": listing["id"]}
            )
            assert status == 200 and got["status"] == "owned", got
            status, lib = await call(http, "GET", "/api/avatars", buyer)
            assert status == 200, lib
            [mine] = lib["avatars"]
            assert (mine["name"], mine["source"], mine["is_public"]) == (
                "Knight Digi",
                "rig",
                False,
            )
            assert mine["customizations"]["sprites"] == {"outfit": "armor", "accessories": "hat"}
            status, theirs = await call(http, "GET", "/api/avatars", maker)
            assert status == 200 and theirs["avatars"] == [], theirs

        server.run(test())
    finally:
        server.close()


def test_other_types_and_broken_content_save_no_avatar(store: Store, people: dict) -> None:
    from tests.market.test_purchases import make_listing

    def setup(db: Any) -> tuple[str, str]:
        outfit = make_listing(db, people["creator"], 0)  # an outfit: no avatar to save
        odd = make_listing(db, people["creator"], 0)
        db.execute(
            "UPDATE listings SET type = 'avatar', content = ? WHERE id = ?",
            [json.dumps({"rig": "another", "customizations": {}}), odd],
        )
        return outfit, odd

    outfit, odd = store.write_now(setup)
    for lid in (outfit, odd):
        got = store.write_now(
            lambda db, lid=lid: purchases.start(db, listing_id=lid, buyer_id=people["buyer"])
        )
        assert got["status"] == "owned"  # the entitlement stands either way
    assert store.read_now(lambda db: db["avatars"].count) == 0


# ---- try-on, live ----------------------------------------------------------------------------


@pytest.mark.slow
def test_trying_on_an_avatar_listing_wears_it(store: Store, people: dict, tmp_path) -> None:
    """Over real peers: plain Digi, Digi in plain armor (the preview's own choices), the
    try-on of an armored avatar whose outfit hue is turned 90 degrees, and a preview of the
    saved avatar that buying it made. The try-on is not plain Digi, not the plain armor
    (its outfit's colours are turned), and looks as the bought copy does."""
    from streaming.manager import BadOffer, SessionManager
    from streaming.market_items import MarketItem
    from tests.streaming.peers import Client

    lid = avatar_listing(store, people["creator"])
    row = store.read_now(lambda db: listings.row_for_use(db, lid, people["buyer"]))
    item = MarketItem(lid, "avatar", row["content"], tmp_path / lid, name=row["name"])
    store.write_now(lambda db: purchases.start(db, listing_id=lid, buyer_id=people["buyer"]))
    copy = purchases.saved_avatar_id(people["buyer"], lid)

    async def main() -> None:
        manager = SessionManager("digi", max_previews=5)
        await manager.start()
        opened: list[tuple[Client, Any]] = []

        async def preview(try_on: MarketItem | None = None, resolve: Any = None, **options):
            client = Client()
            sdp = await client.offer(channel=False)
            opts = {"size": 256, "fps": 15, **options}
            answer, session = await manager.open_preview(
                {"sdp": sdp, "type": "offer"}, opts, resolve, try_on=try_on
            )
            await client.accept(answer)
            await client.wait_for(lambda: client.received >= 8, 30, "preview frames")
            opened.append((client, session))
            return client.frames[-1].to_ndarray(format="rgb24").astype(int), session

        async def bought() -> Any:
            return await avatars.avatar_for_session(store, copy, Who(user_id=people["buyer"]))

        try:
            plain, _ = await preview()
            armor, _ = await preview(outfit="armor", accessory="hat")
            tried, session = await preview(item)
            mine, _ = await preview(resolve=bought, avatar=copy)  # as the page asks
            # the session wears the listing: its sprites, and the hue on the outfit's slots
            assert session.puppet.wearing["outfit"] == "armor"
            assert session.puppet.wearing["accessories"] == "hat"
            slots = set(session.look.groups["outfit"])
            assert slots and {s for s, f in session.filters[1].items() if f[0] == 90.0} == slots
            counts = _armor_pixels(plain, armor, tried, mine)
            assert counts["plain"] < 0.2 * counts["armor"], counts  # armor is not plain Digi
            assert counts["tried"] < 0.5 * counts["armor"], counts  # ...and its hue is turned
            assert counts["turned_armor"] < 0.2 * counts["armor"], counts
            assert counts["turned_tried"] > 0.5 * counts["armor"], counts
            assert abs(counts["turned_tried"] - counts["turned_mine"]) < 0.25 * counts["armor"]
            # an avatar listing made for another rig is refused by name, nothing left running
            other = MarketItem("m" + "9" * 20, "avatar", {"rig": "robot", "customizations": {}})
            client = Client()
            sdp = await client.offer(channel=False)
            with pytest.raises(BadOffer, match=r'rig .robot., not "digi"'):
                await manager.open_preview(
                    {"sdp": sdp, "type": "offer"}, {"size": 256}, None, try_on=other
                )
            await client.close()
            assert manager.health()["previews"] == 4
        finally:
            for client, _ in opened:
                await client.close()
            await manager.shutdown()
            manager.worker.stop()

    asyncio.run(asyncio.wait_for(main(), 150))


def _armor_pixels(
    plain: np.ndarray, armor: np.ndarray, tried: np.ndarray, mine: np.ndarray
) -> dict[str, int]:
    """Colours (quantized to 16 levels a channel) that the plain-armor frame shows a lot of
    and plain Digi hardly: the armor's. Counted in each frame, and (`turned_*`) the same
    colours turned 90 degrees of hue as the renderer's filter turns them."""

    def keys(px: np.ndarray) -> np.ndarray:
        q = (px // 16).reshape(-1, 3)
        return q[:, 0] * 256 + q[:, 1] * 16 + q[:, 2]

    def hist(px: np.ndarray) -> np.ndarray:
        return np.bincount(keys(px), minlength=4096)

    hp, ha = hist(plain), hist(armor)
    own = np.flatnonzero((ha >= 20) & (hp * 4 < ha))
    assert own.size, "the armor shows no colour of its own"
    centres = np.stack([own // 256, own // 16 % 16, own % 16], axis=1) * 16 + 8
    turned = np.unique(keys(_hue(centres.astype(float), 90.0).reshape(-1, 1, 3)))
    turned = np.setdiff1d(turned, own)
    out = {}
    for name, px in (("plain", plain), ("armor", armor), ("tried", tried), ("mine", mine)):
        h = hist(px)
        out[name] = int(h[own].sum())
        out[f"turned_{name}"] = int(h[turned].sum())
    return out


def _hue(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """RGB (0..255) rotated by `degrees` of hue (HSV), for picking the turned colours."""
    import colorsys

    out = []
    for r, g, b in rgb.reshape(-1, 3) / 255.0:
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        out.append(colorsys.hsv_to_rgb((h + degrees / 360.0) % 1.0, s, v))
    return np.clip(np.array(out) * 255.0, 0, 255).astype(int)
