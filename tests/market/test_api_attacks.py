"""Attacks on the marketplace over HTTP, each ending with nothing lost and nothing granted:
forged, stale, tampered, replayed and duplicated webhooks, events for unknown purchases or
other amounts, a client-sent price, buying one's own draft, downloads without a purchase or
with a bad link, payouts above the balance (also two at once), XSS in listings, the pages'
CSP, and every JSON body's size limit."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from aiohttp.test_utils import TestClient

from tests.api.test_avatars_api import origin
from tests.market.conftest import event, signed_event
from tests.market.test_api_catalog import (
    MISSING,
    Server,
    call,
    outfit_zip,
    published,
    search,
    upload,
    user,
    word,
)
from tests.market.test_onboarding import onboard
from webapi.handlers.market_base import SIGNING_KEY, sign_download

WEBHOOK = "/api/marketplace/webhook"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_stripe: Any) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("attacks"), payments=fake_stripe.payments())
    fake_stripe.register_webhook(s.url(WEBHOOK))
    try:
        yield s
    finally:
        s.close()


def state(server: Server) -> tuple[Any, ...]:
    """Everything money or ownership is made of."""
    return (
        server.db("SELECT * FROM stripe_events ORDER BY id"),
        server.db("SELECT * FROM ledger ORDER BY id"),
        server.db("SELECT * FROM entitlements ORDER BY user_id, listing_id"),
        server.db("SELECT id, status FROM purchases ORDER BY id"),
        server.db("SELECT id, sales FROM listings WHERE sales > 0 ORDER BY id"),
        server.db("SELECT * FROM payouts ORDER BY id"),
    )


async def pending(
    http: TestClient, price: int = 700
) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    """(seller, buyer, started purchase): a published paid outfit the buyer began to buy."""
    seller, buyer = await user(http, "seller"), await user(http, "buyer")
    item = await published(http, seller, outfit_zip(price_cents=price))
    status, started = await call(
        http, "POST", "/api/marketplace/purchase", buyer, {"asset_id": item["id"]}
    )
    assert status == 200 and started["status"] == "pending", started
    return seller, buyer, started


def succeeded(started: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A payment_intent.succeeded event for a started purchase (as Stripe would send)."""
    intent = {
        "id": started["payment_intent_id"],
        "object": "payment_intent",
        "amount": started["amount_cents"],
        "currency": started["currency"],
        "status": "succeeded",
        "metadata": {"purchase_id": started["purchase_id"]},
        **changes,
    }
    return event("payment_intent.succeeded", intent)


async def deliver(
    http: TestClient, body: bytes, signature: str | None
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}  # Stripe sends no Origin, no cookie
    if signature is not None:
        headers["Stripe-Signature"] = signature
    async with http.post(WEBHOOK, data=body, headers=headers) as r:
        return r.status, await r.json()


def test_forged_stale_and_tampered_webhooks_are_refused_and_change_nothing(
    server: Server, fake_stripe: Any
) -> None:
    async def test() -> None:
        _, buyer, started = await pending(server.http)
        good = succeeded(started)
        before = state(server)
        secret = fake_stripe.webhook_secret
        body, forged = signed_event(good, "whsec_" + "0" * 32)
        assert (await deliver(server.http, body, forged))[0] == 400
        assert (await deliver(server.http, body, None))[0] == 400
        body, stale = signed_event(good, secret, timestamp=int(time.time()) - 3600)
        status, answer = await deliver(server.http, body, stale)
        assert status == 400 and "signature" in answer["error"]
        body, header = signed_event(good, secret)
        tampered = body.replace(b'"amount": 700', b'"amount": 1')
        assert tampered != body
        assert (await deliver(server.http, tampered, header))[0] == 400
        assert state(server) == before
        status, p = await call(
            server.http, "GET", f"/api/marketplace/purchases/{started['purchase_id']}", buyer
        )
        assert p["status"] == "pending" and p["owned"] is False

    server.run(test())


def test_replayed_duplicated_unknown_and_mismatched_events_grant_once_or_never(
    server: Server, fake_stripe: Any
) -> None:
    async def test() -> None:
        http, secret = server.http, fake_stripe.webhook_secret
        _, buyer, started = await pending(http)
        assert (await call(http, "GET", "/api/marketplace/owned", buyer))[1]["items"] == []
        body, header = signed_event(succeeded(started), secret)
        assert await deliver(http, body, header) == (200, {"outcome": "fulfilled"})
        after = state(server)
        # the same delivery again (a replay within the tolerance), and the same payment
        # reported by a second event id: neither grants or books anything again
        assert await deliver(http, body, header) == (200, {"outcome": "duplicate"})
        body2, header2 = signed_event(succeeded(started), secret)
        status, answer = await deliver(http, body2, header2)
        assert status == 200 and answer["outcome"] == "duplicate"
        now = state(server)
        assert now[1:] == after[1:]  # ledger, entitlements, purchases, sales: unchanged
        owned = (await call(http, "GET", "/api/marketplace/owned", buyer))[1]["items"]
        assert len(owned) == 1
        pid = started["purchase_id"]
        assert len(server.db("SELECT * FROM ledger WHERE purchase_id = ?", [pid])) == 3
        # an event for a purchase we never made, and one for another amount or currency
        stranger = succeeded(
            {**started, "payment_intent_id": "pi_" + "x" * 24, "purchase_id": "nope"}
        )
        body, header = signed_event(stranger, secret)
        assert await deliver(http, body, header) == (200, {"outcome": "unknown"})
        _, other_buyer, other = await pending(http)
        before = state(server)
        for changes in ({"amount": 1}, {"currency": "eur"}):
            body, header = signed_event(succeeded(other, **changes), secret)
            assert await deliver(http, body, header) == (200, {"outcome": "mismatch"})
        now = state(server)
        assert now[1:] == before[1:]  # only the events were recorded
        status, p = await call(
            http, "GET", f"/api/marketplace/purchases/{other['purchase_id']}", other_buyer
        )
        assert p["status"] == "pending" and p["owned"] is False

    server.run(test())


def test_the_client_never_sets_the_price_and_cannot_buy_its_own_or_hidden_work(
    server: Server,
) -> None:
    async def test() -> None:
        http = server.http
        seller, buyer = await user(http, "seller"), await user(http, "buyer")
        item = await published(http, seller, outfit_zip(price_cents=900))
        before = state(server)
        for field, value in (("price", 1), ("amount", 1), ("amount_cents", 1), ("currency", "jpy")):
            body = {"asset_id": item["id"], field: value}
            status, answer = await call(http, "POST", "/api/marketplace/purchase", buyer, body)
            assert status == 400 and f'"{field}"' in answer["error"], answer
        status, answer = await call(
            http, "POST", "/api/marketplace/credits", buyer, {"pack": "500", "credits": 99999}
        )
        assert status == 400 and '"credits"' in answer["error"]
        draft = await upload(http, seller, outfit_zip(price_cents=0))
        status, answer = await call(
            http, "POST", "/api/marketplace/purchase", seller, {"asset_id": draft["id"]}
        )
        assert status == 404  # one's own draft is not for sale, even to oneself
        status, answer = await call(
            http, "POST", "/api/marketplace/purchase", buyer, {"asset_id": draft["id"]}
        )
        assert status == 404
        status, answer = await call(
            http, "POST", "/api/marketplace/purchase", seller, {"asset_id": item["id"]}
        )
        assert status == 409 and "you made this" in answer["error"]
        status, answer = await call(
            http, "POST", "/api/marketplace/purchase", buyer, {"asset_id": MISSING}
        )
        assert status == 404
        assert state(server) == before

    server.run(test())


def test_downloads_need_a_purchase_and_an_unexpired_untouched_link(server: Server) -> None:
    async def test() -> None:
        http = server.http
        seller, buyer, other = [await user(http, n) for n in ("seller", "buyer", "other")]
        item = await published(http, seller, outfit_zip(price_cents=0))
        path = f"/api/marketplace/assets/{item['id']}"
        status, answer = await call(http, "POST", f"{path}/download", other)
        assert status == 403 and "buy it first" in answer["error"]
        assert (await call(http, "POST", f"{path}/download"))[0] == 401
        await call(http, "POST", "/api/marketplace/purchase", buyer, {"asset_id": item["id"]})
        status, link = await call(http, "POST", f"{path}/download", buyer)
        assert status == 200
        url = urlsplit(link["url"])
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        other_id = (await call(http, "GET", "/api/me", other))[1]["user"]["id"]
        key = server.app[SIGNING_KEY]
        expired = urlsplit(
            sign_download(key, item["id"], query["user"], now=time.time() - 600)["url"]
        )
        bad = [
            f"{url.path}?{urlencode({**query, 'sig': '0' * 64})}",  # forged
            f"{url.path}?{urlencode({**query, 'user': other_id})}",  # for someone else
            f"{url.path}?{urlencode({**query, 'expires': int(query['expires']) + 3600})}",
            f"{url.path}?{expired.query}",  # signed, but 5 minutes are over
            url.path,  # no signature at all
            f"/api/marketplace/downloads/{MISSING}?{url.query}",  # another listing
        ]
        before = server.db("SELECT COUNT(*) FROM downloads")
        for target in bad:
            async with http.get(target) as r:
                assert r.status == 403, (target, r.status)
        assert server.db("SELECT COUNT(*) FROM downloads") == before
        async with http.get(link["url"]) as r:
            assert r.status == 200 and r.content_type == "application/zip"
        assert server.db("SELECT COUNT(*) FROM downloads") == [(before[0][0] + 1,)]

    server.run(test())


def test_payouts_never_exceed_the_balance_even_at_once(server: Server, fake_stripe: Any) -> None:
    async def test() -> None:
        http = server.http
        seller, _, started = await pending(http, price=1000)
        body, header = signed_event(succeeded(started), fake_stripe.webhook_secret)
        assert (await deliver(http, body, header))[1]["outcome"] == "fulfilled"
        await onboard(http, seller)
        status, answer = await call(
            http,
            "POST",
            "/api/marketplace/payouts",
            seller,
            {"amount_cents": 801, "request_key": "too-much-0001"},
        )
        assert status == 409 and "800" in answer["error"], answer

        def payout(amount: int, key: str) -> Any:
            body = {"amount_cents": amount, "request_key": key}
            return call(http, "POST", "/api/marketplace/payouts", seller, body)

        # two requests at once, each within the balance, together above it: one is paid
        results = await asyncio.gather(payout(500, "at-once-0001"), payout(500, "at-once-0002"))
        assert sorted(status for status, _ in results) == [200, 409], results
        # the same request twice at once: one payout, one transfer
        twins = await asyncio.gather(payout(200, "twin-000001"), payout(200, "twin-000001"))
        assert [s for s, _ in twins] == [200, 200]
        assert twins[0][1]["id"] == twins[1][1]["id"]
        creator = (await call(http, "GET", "/api/me", seller))[1]["user"]["id"]
        rows = server.db(
            "SELECT amount_cents, status FROM payouts WHERE creator_id = ? ORDER BY amount_cents",
            [creator],
        )
        assert rows == [(200, "paid"), (500, "paid")]
        status, board = await call(http, "GET", "/api/marketplace/dashboard", seller)
        assert (board["balance_cents"], board["paid_out_cents"]) == (100, 700)

    server.run(test())


XSS = {
    "name": '<script>alert("name")</script>',
    "description": '<img src=x onerror="alert(1)"> & </textarea><svg onload=alert(2)>',
}


def test_markup_in_listings_is_stored_verbatim_and_only_served_as_json(server: Server) -> None:
    async def test() -> None:
        http = server.http
        seller = await user(http, "seller")
        status, answer = await call(
            http,
            "POST",
            "/api/marketplace/assets",
            seller,
            data=outfit_zip(tags=["<b>x</b>"]),
            ctype="application/zip",
        )
        assert status == 400 and "tags" in answer["error"]  # a tag is a plain word
        tag = word()
        item = await published(http, seller, outfit_zip(tags=[tag], **XSS))
        async with http.get("/api/marketplace/assets", params={"q": tag}) as r:
            assert r.content_type == "application/json"
            assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            found = (await r.json())["items"]
        assert [(i["name"], i["description"]) for i in found] == [(XSS["name"], XSS["description"])]
        status, answer = await call(http, "GET", f"/api/marketplace/assets/{item['id']}")
        assert (answer["name"], answer["description"]) == (XSS["name"], XSS["description"])

    server.run(test())


def test_market_pages_allow_stripe_js_and_nothing_else_from_elsewhere(
    server: Server, fake_stripe: Any
) -> None:
    async def test() -> None:
        stripe = (
            f"{urlsplit(fake_stripe.api_base).scheme}://{urlsplit(fake_stripe.api_base).netloc}"
        )
        some = (await search(server.http, limit=1))["items"][0]["id"]
        for page in ("/market", "/market/dashboard", f"/market/{some}"):
            async with server.http.get(page) as r:
                assert r.status == 200 and r.content_type == "text/html", page
                csp = dict(
                    part.strip().split(" ", 1)
                    for part in r.headers["Content-Security-Policy"].split(";")
                )
                assert r.headers["X-Frame-Options"] == "DENY"
            for directive in ("script-src", "frame-src", "connect-src"):
                sources = csp[directive].split()
                assert stripe in sources, (page, directive, csp[directive])
                others = {s for s in sources if s.startswith("http")} - {stripe}
                assert not others, (page, directive, others)
            assert "'unsafe-inline'" not in csp["script-src"]
            assert csp["frame-ancestors"] == "'none'"
        async with server.http.get("/") as r:  # other pages do not get Stripe
            assert stripe not in r.headers["Content-Security-Policy"]

    server.run(test())


def test_every_json_body_and_the_webhook_have_a_size_limit(server: Server) -> None:
    async def test() -> None:
        http = server.http
        who = await user(http, "big")
        before = state(server)
        big = json.dumps({"asset_id": "x" * (17 * 1024)}).encode()
        lid = f"/api/marketplace/assets/{MISSING}"
        for method, path in (
            ("POST", "/api/marketplace/purchase"),
            ("POST", "/api/marketplace/credits"),
            ("POST", "/api/marketplace/creator"),
            ("POST", "/api/marketplace/payouts"),
            ("POST", f"{lid}/rating"),
            ("PATCH", lid),
        ):
            headers = {**origin(http), **who, "Content-Type": "application/json"}
            async with http.request(method, path, data=big, headers=headers) as r:
                assert r.status == 413, (method, path, r.status)
                assert "too large" in (await r.json())["error"]
        huge = json.dumps({"id": "evt_x", "pad": "x" * (65 * 1024)}).encode()
        status, answer = await deliver(http, huge, "t=1,v1=00")
        assert status == 413 and "KB" in answer["error"]
        assert state(server) == before

    server.run(test())
