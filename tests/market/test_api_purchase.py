"""Buying over HTTP against a real fake Stripe (localstripe, tests/market/conftest.py
`fake_stripe`): a free item, a card purchase whose PaymentIntent carries OUR amount and is
fulfilled by the webhook localstripe itself sends, the creator's 80 % on the dashboard and a
payout through Connect, DIGI credit packs spent on a listing, ratings and downloads."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.market.test_api_catalog import Server, call, outfit_zip, published, search, user
from tests.market.test_onboarding import onboard


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_stripe: Any) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("purchase"), payments=fake_stripe.payments())
    fake_stripe.register_webhook(s.url("/api/marketplace/webhook"))
    try:
        yield s
    finally:
        s.close()


async def paid(http: TestClient, who: dict[str, str], purchase_id: str) -> dict[str, Any]:
    """The purchase once the webhook has settled it (localstripe sends it on its own)."""
    for _ in range(200):
        status, p = await call(http, "GET", f"/api/marketplace/purchases/{purchase_id}", who)
        assert status == 200, p
        if p["status"] != "pending":
            return p
        await asyncio.sleep(0.05)
    raise AssertionError(f"purchase {purchase_id} was never settled by a webhook")


async def pay(fake_stripe: Any, client_secret: str) -> None:
    """The buyer types the test card into Stripe.js and presses Pay."""
    await asyncio.get_running_loop().run_in_executor(None, fake_stripe.pay, client_secret)


def test_a_free_item_is_granted_at_once_rated_and_downloaded(server: Server) -> None:
    async def test() -> None:
        http = server.http
        buyer, other = await user(http, "buyer"), await user(http, "other")
        free = (await search(http, free="true", type="outfit"))["items"][0]
        assert free["builtin"] and free["price_cents"] == 0
        status, got = await call(
            http, "POST", "/api/marketplace/purchase", buyer, {"asset_id": free["id"]}
        )
        assert status == 200 and got["status"] == "owned", got
        status, again = await call(
            http, "POST", "/api/marketplace/purchase", buyer, {"asset_id": free["id"]}
        )
        assert status == 409 and "own" in again["error"], again
        status, owned = await call(http, "GET", "/api/marketplace/owned", buyer)
        assert [i["id"] for i in owned["items"]] == [free["id"]] and owned["credits"] == 0
        # ratings: buyers only, one each (again replaces)
        path = f"/api/marketplace/assets/{free['id']}"
        status, rated = await call(http, "POST", f"{path}/rating", buyer, {"stars": 4})
        assert status == 200 and rated == {"average": 4.0, "count": 1, "mine": 4}
        status, rated = await call(http, "POST", f"{path}/rating", buyer, {"stars": 5})
        assert rated == {"average": 5.0, "count": 1, "mine": 5}
        assert (await call(http, "POST", f"{path}/rating", other, {"stars": 1}))[0] == 403
        assert (await call(http, "POST", f"{path}/rating", buyer, {"stars": 6}))[0] == 400
        status, seen = await call(http, "GET", path, buyer)
        assert seen["owned"] is True and seen["my_rating"] == 5
        # a download: a signed link, then the package; counted
        status, link = await call(http, "POST", f"{path}/download", buyer)
        assert status == 200 and link["url"].startswith("/api/marketplace/downloads/")
        async with http.get(link["url"]) as r:  # no credentials: the link is enough
            assert r.status == 200 and r.content_type == "application/zip"
            with zipfile.ZipFile(io.BytesIO(await r.read())) as z:
                manifest = json.loads(z.read("manifest.json"))
        assert manifest["content"]["builtin"] is True
        status, seen = await call(http, "GET", path)
        assert seen["downloads"] == 1

    server.run(test())


def test_a_card_purchase_is_fulfilled_by_the_webhook_and_pays_the_creator(
    server: Server, fake_stripe: Any
) -> None:
    async def test() -> None:
        http = server.http
        seller, buyer = await user(http, "seller"), await user(http, "buyer")
        item = await published(http, seller, outfit_zip(name="Paid jacket", price_cents=1999))
        status, started = await call(
            http, "POST", "/api/marketplace/purchase", buyer, {"asset_id": item["id"]}
        )
        assert status == 200 and started["status"] == "pending", started
        assert started["publishable_key"] == fake_stripe.publishable_key
        assert started["stripe_js"] == fake_stripe.js_url
        intent = fake_stripe.get(f"/v1/payment_intents/{started['payment_intent_id']}")
        assert (intent["amount"], intent["currency"]) == (1999, "usd")  # ours, from the listing
        assert intent["metadata"]["purchase_id"] == started["purchase_id"]
        path = f"/api/marketplace/assets/{item['id']}"
        assert (await call(http, "GET", path, buyer))[1]["owned"] is False  # not before paying
        # Buy again before paying (another tab, a reload): the same purchase and payment,
        # never a second charge
        _, again = await call(
            http, "POST", "/api/marketplace/purchase", buyer, {"asset_id": item["id"]}
        )
        assert again["purchase_id"] == started["purchase_id"]
        assert again["client_secret"] == started["client_secret"]
        await pay(fake_stripe, started["client_secret"])
        done = await paid(http, buyer, started["purchase_id"])
        assert done["status"] == "paid" and done["owned"] is True
        status, owned = await call(http, "GET", "/api/marketplace/owned", buyer)
        assert item["id"] in [i["id"] for i in owned["items"]]
        # the split: 80 % (floor) to the creator, 5 % (floor) tax reserve, the rest platform
        status, board = await call(http, "GET", "/api/marketplace/dashboard", seller)
        assert status == 200
        assert (board["sales"], board["revenue_cents"], board["earned_cents"]) == (1, 1999, 1599)
        assert board["balance_cents"] == 1599
        lid = item["id"]
        rows = dict(
            server.db(
                "SELECT account, SUM(amount) FROM ledger WHERE listing_id = ? GROUP BY account",
                [lid],
            )
        )
        assert rows == {
            f"creator:{done_seller(server, lid)}": 1599,
            "tax_reserve": 99,
            "platform": 301,
        }
        # the creator is paid out through Connect: once per request key, never above balance
        acct = await onboard(http, seller)  # Stripe's onboarding, finished on the fake
        assert acct["connect_account_id"].startswith("acct_")
        body = {"amount_cents": 1000, "request_key": "payout-test-0001"}
        status, payout = await call(http, "POST", "/api/marketplace/payouts", seller, body)
        assert status == 200 and payout["status"] == "paid", payout
        assert payout["transfer_id"].startswith("tr_")
        status, again = await call(http, "POST", "/api/marketplace/payouts", seller, body)
        assert status == 200 and (again["id"], again["transfer_id"]) == (
            payout["id"],
            payout["transfer_id"],
        )
        transfer = fake_stripe.get(f"/v1/transfers/{payout['transfer_id']}")
        assert (transfer["amount"], transfer["destination"]) == (
            1000,
            acct["connect_account_id"],
        )
        status, body = await call(
            http,
            "POST",
            "/api/marketplace/payouts",
            seller,
            {"amount_cents": 600, "request_key": "payout-test-0002"},
        )
        assert status == 409 and "599" in body["error"], body
        status, board = await call(http, "GET", "/api/marketplace/dashboard", seller)
        assert (board["balance_cents"], board["paid_out_cents"]) == (599, 1000)

    server.run(test())


def done_seller(server: Server, listing_id: str) -> str:
    return server.db("SELECT creator_id FROM listings WHERE id = ?", [listing_id])[0][0]


def test_credit_packs_are_bought_by_card_and_spent_atomically(
    server: Server, fake_stripe: Any
) -> None:
    async def test() -> None:
        http = server.http
        seller, buyer = await user(http, "seller"), await user(http, "buyer")
        status, started = await call(
            http, "POST", "/api/marketplace/credits", buyer, {"pack": "500"}
        )
        assert status == 200 and started["status"] == "pending" and started["credits"] == 500
        intent = fake_stripe.get(f"/v1/payment_intents/{started['payment_intent_id']}")
        assert (intent["amount"], intent["currency"]) == (500, "usd")
        await pay(fake_stripe, started["client_secret"])
        assert (await paid(http, buyer, started["purchase_id"]))["status"] == "paid"
        assert (await call(http, "GET", "/api/marketplace/owned", buyer))[1]["credits"] == 500
        first = await published(
            http, seller, outfit_zip(name="Credit A", price_cents=300, currency="digi")
        )
        second = await published(
            http, seller, outfit_zip(name="Credit B", price_cents=300, currency="digi")
        )
        body = {"asset_id": first["id"], "pay_with": "credits"}
        status, got = await call(http, "POST", "/api/marketplace/purchase", buyer, body)
        assert status == 200 and got["status"] == "owned" and got["credits"] == 200, got
        body = {"asset_id": second["id"], "pay_with": "credits"}
        status, refused = await call(http, "POST", "/api/marketplace/purchase", buyer, body)
        assert status == 409 and "credits" in refused["error"]
        status, owned = await call(http, "GET", "/api/marketplace/owned", buyer)
        assert owned["credits"] == 200 and [i["id"] for i in owned["items"]] == [first["id"]]
        status, body = await call(
            http, "POST", "/api/marketplace/purchase", buyer, {"asset_id": second["id"]}
        )
        assert status == 400  # a credits listing is not bought by card

    server.run(test())
