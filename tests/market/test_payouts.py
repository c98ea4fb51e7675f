"""Payouts on a real store: reserve on request, complete or fail (which gives the money
back), one payout per request key, refusals above the available balance (also when two
requests race), and a refund after a payout (the creator is never left negative)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.market.conftest import event
from tests.market.test_purchases import buy_by_card, charge, make_listing, make_user
from webapi.errors import Conflict, Forbidden, Invalid, NotFound
from webapi.market import analytics, ledger, payouts, purchases
from webapi.store import Store


@pytest.fixture
def earned(store: Store) -> dict[str, Any]:
    """A creator who sold a $10.00 item (800 cents available)."""

    def setup(db: Any) -> dict[str, Any]:
        c = make_user(db, creator=True)
        return {"creator": c, "buyer": make_user(db), "item": make_listing(db, c, 1000)}

    w = store.write_now(setup)
    w["purchase"] = buy_by_card(store, listing_id=w["item"], buyer_id=w["buyer"])
    assert store.read_now(lambda db: payouts.available(db, w["creator"])) == 800
    return w


def req(store: Store, creator: str, cents: Any, key: str = "key-00000001") -> dict:
    return store.write_now(
        lambda db: payouts.request(db, creator_id=creator, amount_cents=cents, request_key=key)
    )


def test_request_complete(store: Store, earned: dict) -> None:
    c = earned["creator"]
    p = req(store, c, 500)
    assert (p["status"], p["amount_cents"], p["destination"]) == ("pending", 500, f"acct_{c[:16]}")
    assert store.read_now(lambda db: payouts.available(db, c)) == 300
    assert store.read_now(lambda db: payouts.totals(db, c)) == {
        "paid_out_cents": 0, "pending_payout_cents": 500}  # fmt: skip
    done = store.write_now(lambda db: payouts.complete(db, p["id"], "tr_1"))
    assert (done["status"], done["transfer_id"]) == ("paid", "tr_1")
    assert store.write_now(lambda db: payouts.complete(db, p["id"], "tr_1"))["status"] == "paid"
    with pytest.raises(Conflict):
        store.write_now(lambda db: payouts.complete(db, p["id"], "tr_2"))
    with pytest.raises(Conflict):
        store.write_now(lambda db: payouts.fail(db, p["id"], "late"))
    assert store.read_now(lambda db: payouts.available(db, c)) == 300
    assert store.read_now(lambda db: ledger.balance(db, ledger.payouts_account(c))) == 500
    assert store.read_now(lambda db: payouts.totals(db, c))["paid_out_cents"] == 500
    # the same key again: the same payout, nothing more reserved
    assert req(store, c, 500)["id"] == p["id"]
    assert store.read_now(lambda db: payouts.available(db, c)) == 300
    with pytest.raises(Conflict, match="already used"):
        req(store, c, 200)


def test_fail_gives_the_money_back(store: Store, earned: dict) -> None:
    c = earned["creator"]
    p = req(store, c, 800)
    assert store.read_now(lambda db: payouts.available(db, c)) == 0
    failed = store.write_now(lambda db: payouts.fail(db, p["id"], "account closed"))
    assert (failed["status"], failed["error"]) == ("failed", "account closed")
    assert store.write_now(lambda db: payouts.fail(db, p["id"], "again"))["status"] == "failed"
    assert store.read_now(lambda db: payouts.available(db, c)) == 800
    assert store.read_now(lambda db: ledger.balance(db, ledger.payouts_account(c))) == 0
    with pytest.raises(Conflict):
        store.write_now(lambda db: payouts.complete(db, p["id"], "tr_9"))
    with pytest.raises(NotFound):
        store.write_now(lambda db: payouts.fail(db, "nope", "x"))


def test_refusals(store: Store, earned: dict) -> None:
    c = earned["creator"]
    with pytest.raises(Conflict, match=r"801 is more than your available balance \(800 cents\)"):
        req(store, c, 801)
    with pytest.raises(Invalid, match="smallest payout"):
        req(store, c, 99)
    for bad in (True, 100.0, "100"):
        with pytest.raises(Invalid, match="amount_cents"):
            req(store, c, bad)
    with pytest.raises(Invalid, match="request_key"):
        req(store, c, 100, key="short")
    with pytest.raises(Forbidden, match="become a creator"):
        req(store, earned["buyer"], 100)
    store.write_now(lambda db: db["creators"].update(c, {"connect_account_id": None}))
    with pytest.raises(Conflict, match="connect a Stripe account"):
        req(store, c, 100)
    assert store.read_now(lambda db: db["payouts"].count) == 0
    assert store.read_now(lambda db: payouts.available(db, c)) == 800


def test_concurrent_requests_never_exceed_the_balance(store: Store, earned: dict) -> None:
    c = earned["creator"]

    async def race() -> list:
        return await asyncio.gather(
            *(
                store.write(
                    lambda db, k=k: payouts.request(
                        db, creator_id=c, amount_cents=500, request_key=f"race-key-{k}"
                    )
                )
                for k in range(4)
            ),
            # the same key twice at once: one payout
            store.write(
                lambda db: payouts.request(db, creator_id=c, amount_cents=100,
                                           request_key="same-key-1")
            ),
            store.write(
                lambda db: payouts.request(db, creator_id=c, amount_cents=100,
                                           request_key="same-key-1")
            ),
            return_exceptions=True,
        )  # fmt: skip

    results = asyncio.run(race())
    ok = [r for r in results[:4] if isinstance(r, dict)]
    assert len(ok) == 1 and all(isinstance(r, Conflict) for r in results[:4] if r not in ok)
    assert results[4]["id"] == results[5]["id"]
    assert store.read_now(lambda db: db["payouts"].count) == 2
    assert store.read_now(lambda db: payouts.available(db, c)) == 200


def test_refund_after_payout_takes_the_rest_from_the_platform(store: Store, earned: dict) -> None:
    c, p = earned["creator"], earned["purchase"]
    paid = req(store, c, 700)
    store.write_now(lambda db: payouts.complete(db, paid["id"], "tr_x"))
    out = store.write_now(lambda db: purchases.fulfil(db, event("charge.refunded", charge(p))))
    assert out == "refunded"

    def balances(db: Any) -> list[int]:
        return [
            ledger.balance(db, a)
            for a in (ledger.creator_account(c), "tax_reserve", "platform",
                      ledger.payouts_account(c))
        ]  # fmt: skip

    # the creator gave back the 100 they still had; the platform paid the other 700
    assert store.read_now(balances) == [0, 0, 150 - 150 - 700, 700]
    assert not store.read_now(lambda db: purchases.owns(db, earned["buyer"], earned["item"]))


def test_dashboard_from_the_ledger(store: Store, earned: dict) -> None:
    """A creator's numbers: one $10 sale (earned 800), one refunded $3 sale, a download, a
    pending payout; the other creator's sale is not theirs."""
    c, buyer = earned["creator"], earned["buyer"]

    def more(db: Any) -> dict[str, str]:
        other = make_user(db, creator=True)
        return {
            "cheap": make_listing(db, c, 300),
            "theirs": make_listing(db, other, 5000),
            "other": other,
        }

    w = store.write_now(more)
    p = buy_by_card(store, listing_id=w["cheap"], buyer_id=buyer)
    store.write_now(lambda db: purchases.fulfil(db, event("charge.refunded", charge(p))))
    buy_by_card(store, listing_id=w["theirs"], buyer_id=buyer)
    store.write_now(
        lambda db: db["downloads"].insert(
            {
                "listing_id": earned["item"],
                "user_id": buyer,
                "created_at": "2026-01-01T00:00:00.000Z",
            }
        )
    )
    req(store, c, 300)

    d = store.read_now(lambda db: analytics.dashboard(db, c, None, None))
    assert (d["sales"], d["revenue_cents"], d["earned_cents"]) == (1, 1000, 800)
    assert (d["balance_cents"], d["pending_payout_cents"], d["paid_out_cents"]) == (500, 300, 0)
    assert d["downloads"] == 1
    assert [(a["id"], a["sales"], a["earned_cents"]) for a in d["top_assets"]] == [
        (earned["item"], 1, 800)
    ]
    assert sorted(x["id"] for x in d["listings"]) == sorted([earned["item"], w["cheap"]])
    assert [(x["sales"], x["earned_cents"]) for x in d["by_day"]] == [(1, 800)]
    json.dumps(d)

    # a range before any of it: no sales, no money; the download of 2026-01-01 counts
    old = store.read_now(lambda db: analytics.dashboard(db, c, "2025-12-01", "2026-01-01"))
    assert (old["sales"], old["earned_cents"], old["downloads"], old["by_day"]) == (0, 0, 1, [])
    assert old["balance_cents"] == 500  # balances are all-time
    with pytest.raises(Invalid, match="since"):
        store.read_now(lambda db: analytics.dashboard(db, c, "yesterday", None))
    with pytest.raises(Invalid, match="since: must not be after until"):
        store.read_now(lambda db: analytics.dashboard(db, c, "2026-02-01", "2026-01-01"))
    assert (
        store.read_now(lambda db: analytics.dashboard(db, w["other"], None, None))["earned_cents"]
        == 4000
    )
