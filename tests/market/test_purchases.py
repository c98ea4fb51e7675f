"""Purchases on a real store: free grants, DIGI spends (also concurrent), card purchases
fulfilled only by (verified) webhook events with our amount, currency and intent, duplicate
and replayed events, refunds and credit packs. The helpers at the top are shared by the
other money tests (users and listings are inserted as rows: these tests are about money,
not about sign-up or uploads)."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest

from tests.market.conftest import event
from webapi.errors import Conflict, Invalid, NotFound
from webapi.market import ledger, purchases
from webapi.store import Store, new_id, now_iso

_n = itertools.count()


def make_user(db: Any, name: str | None = None, *, creator: bool = False) -> str:
    """A users row (and a creators row with a Connect account when `creator`); its id."""
    uid = new_id()
    name = name or f"u{next(_n)}"
    db["users"].insert(
        {
            "id": uid, "email": f"{name}@example.com", "email_key": f"{name}@example.com",
            "username": name, "username_key": name, "password_hash": "!",
            "created_at": now_iso(),
        }
    )  # fmt: skip
    if creator:
        db["creators"].insert(
            {"user_id": uid, "display_name": name, "connect_account_id": f"acct_{uid[:16]}",
             "created_at": now_iso()}
        )  # fmt: skip
    return uid


def make_listing(
    db: Any, creator_id: str, price: int, currency: str = "usd", status: str = "published"
) -> str:
    """A listings row as CATALOG writes it (only the columns money cares about filled)."""
    lid = "m" + new_id()[:20]
    db["listings"].insert(
        {
            "id": lid, "creator_id": creator_id, "type": "outfit", "name": f"Item {lid[-4:]}",
            "price_cents": price, "currency": currency, "status": status,
            "created_at": now_iso(), "updated_at": now_iso(),
            "published_at": now_iso() if status == "published" else None,
        }
    )  # fmt: skip
    return lid


def intent(p: dict, *, amount: int | None = None, currency: str = "usd", **meta: Any) -> dict:
    """The PaymentIntent object Stripe sends for the pending purchase `p`."""
    return {
        "id": p["intent"], "object": "payment_intent", "status": "succeeded",
        "amount": p["amount_cents"] if amount is None else amount, "currency": currency,
        "metadata": {"purchase_id": p["purchase_id"], **meta},
    }  # fmt: skip


def charge(p: dict, *, refunded: int | None = None) -> dict:
    """The Charge of `p` after a refund (full unless `refunded` says how much)."""
    amount = p["amount_cents"]
    back = amount if refunded is None else refunded
    return {
        "id": "ch_" + p["intent"][3:], "object": "charge", "payment_intent": p["intent"],
        "amount": amount, "amount_refunded": back, "refunded": back == amount,
        "currency": "usd", "metadata": {"purchase_id": p["purchase_id"]},
    }  # fmt: skip


def begin_card(db: Any, **kw: Any) -> dict:
    """`start` (or `start_credit_pack` with pack=) + attach a fresh intent id, as the handler
    does; the answer with "intent" added."""
    p = purchases.start_credit_pack(db, **kw) if "pack" in kw else purchases.start(db, **kw)
    p["intent"] = "pi_" + new_id()[:24]
    purchases.attach_intent(db, p["purchase_id"], p["intent"])
    return p


def buy_by_card(store: Store, **kw: Any) -> dict:
    """A whole card purchase: start, attach, the succeeded webhook fulfils it."""
    p = store.write_now(lambda db: begin_card(db, **kw))
    out = store.write_now(
        lambda db: purchases.fulfil(db, event("payment_intent.succeeded", intent(p)))
    )
    assert out == "fulfilled"
    return p


def ledger_rows(store: Store) -> list[tuple]:
    return store.read_now(
        lambda db: db.execute(
            "SELECT account, amount, currency, kind FROM ledger ORDER BY id"
        ).fetchall()
    )


@pytest.fixture
def world(store: Store) -> dict[str, str]:
    """A creator with a $10.00 listing, a 300-credit listing, a free one and a draft; a buyer."""

    def setup(db: Any) -> dict[str, str]:
        c = make_user(db, creator=True)
        return {
            "creator": c,
            "buyer": make_user(db),
            "usd": make_listing(db, c, 1000),
            "digi": make_listing(db, c, 300, "digi"),
            "free": make_listing(db, c, 0),
            "draft": make_listing(db, c, 500, status="draft"),
        }

    return store.write_now(setup)


def test_free_asset_is_granted_without_payment(store: Store, world: dict) -> None:
    w = world
    out = store.write_now(lambda db: purchases.start(db, listing_id=w["free"], buyer_id=w["buyer"]))
    assert out["status"] == "owned"
    assert store.read_now(lambda db: purchases.owned(db, w["buyer"])) == [w["free"]]
    assert ledger_rows(store) == []  # nothing was paid, nothing is booked
    with pytest.raises(Conflict, match="already own"):
        store.write_now(lambda db: purchases.start(db, listing_id=w["free"], buyer_id=w["buyer"]))


def test_refusals_name_the_problem(store: Store, world: dict) -> None:
    w = world

    def start(lid: str, who: str = w["buyer"], pay_with: str = "card") -> Any:
        return store.write_now(
            lambda db: purchases.start(db, listing_id=lid, buyer_id=who, pay_with=pay_with)
        )

    with pytest.raises(NotFound):
        start(w["draft"])
    with pytest.raises(NotFound):  # one's own draft is not for sale either
        start(w["draft"], w["creator"])
    with pytest.raises(NotFound):
        start("m" + "0" * 20)
    with pytest.raises(Conflict, match="you made this"):
        start(w["usd"], w["creator"])
    with pytest.raises(Invalid, match="pay by card"):
        start(w["usd"], pay_with="credits")
    with pytest.raises(Invalid, match="pay with credits"):
        start(w["digi"])
    with pytest.raises(Invalid, match="pay_with"):
        start(w["usd"], pay_with="cash")
    with pytest.raises(Conflict, match="not enough DIGI credits: this asset costs 300, you have 0"):
        start(w["digi"], pay_with="credits")
    with pytest.raises(Invalid, match="pack"):
        store.write_now(lambda db: purchases.start_credit_pack(db, buyer_id=w["buyer"], pack="7"))
    assert ledger_rows(store) == []
    assert store.read_now(lambda db: db["purchases"].count) == 0


def test_card_purchase_is_fulfilled_by_the_webhook_once(store: Store, world: dict) -> None:
    w = world
    p = store.write_now(lambda db: begin_card(db, listing_id=w["usd"], buyer_id=w["buyer"]))
    assert (p["status"], p["amount_cents"], p["currency"]) == ("pending", 1000, "usd")
    assert not store.read_now(lambda db: purchases.owns(db, w["buyer"], w["usd"]))

    ev = event("payment_intent.succeeded", intent(p))
    assert store.write_now(lambda db: purchases.fulfil(db, ev)) == "fulfilled"
    assert store.write_now(lambda db: purchases.fulfil(db, ev)) == "duplicate"  # replayed
    again = event("payment_intent.succeeded", intent(p))  # same payment, another event id
    assert store.write_now(lambda db: purchases.fulfil(db, again)) == "duplicate"

    assert store.read_now(lambda db: purchases.owns(db, w["buyer"], w["usd"]))
    assert sorted(ledger_rows(store)) == sorted(
        [
            (ledger.creator_account(w["creator"]), 800, "usd", "sale"),
            ("tax_reserve", 50, "usd", "sale"),
            ("platform", 150, "usd", "sale"),
        ]
    )
    st = store.read_now(lambda db: purchases.status(db, p["purchase_id"], w["buyer"]))
    assert (st["status"], st["owned"]) == ("paid", True)
    with pytest.raises(NotFound):
        store.read_now(lambda db: purchases.status(db, p["purchase_id"], w["creator"]))
    assert store.read_now(lambda db: db["listings"].get(w["usd"])["sales"]) == 1
    seen = store.read_now(lambda db: [r["outcome"] for r in db["stripe_events"].rows])
    assert sorted(seen) == ["duplicate", "fulfilled"]


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 1},  # a cheaper payment
        {"currency": "eur"},
        {"purchase_id": "someone-elses"},  # metadata that disagrees with the intent's purchase
    ],
)
def test_mismatched_payment_grants_nothing(store: Store, world: dict, change: dict) -> None:
    w = world
    p = store.write_now(lambda db: begin_card(db, listing_id=w["usd"], buyer_id=w["buyer"]))
    obj = intent(
        p,
        amount=change.get("amount"),
        currency=change.get("currency", "usd"),
        **({"purchase_id": change["purchase_id"]} if "purchase_id" in change else {}),
    )
    out = store.write_now(lambda db: purchases.fulfil(db, event("payment_intent.succeeded", obj)))
    assert out == "mismatch"
    assert not store.read_now(lambda db: purchases.owns(db, w["buyer"], w["usd"]))
    assert ledger_rows(store) == []


def test_event_for_unknown_purchase_or_type(store: Store, world: dict) -> None:
    fake = {"id": "pi_nobody", "amount": 1000, "currency": "usd",
            "metadata": {"purchase_id": "x"}}  # fmt: skip
    assert (
        store.write_now(lambda db: purchases.fulfil(db, event("payment_intent.succeeded", fake)))
        == "unknown"
    )
    assert (
        store.write_now(lambda db: purchases.fulfil(db, event("customer.created", {"id": "cus_1"})))
        == "ignored"
    )
    assert store.write_now(lambda db: purchases.fulfil(db, {"type": "x"})) == "ignored"
    assert ledger_rows(store) == []
    assert store.read_now(lambda db: db["entitlements"].count) == 0


def test_failed_then_succeeded_payment(store: Store, world: dict) -> None:
    w = world
    p = store.write_now(lambda db: begin_card(db, listing_id=w["usd"], buyer_id=w["buyer"]))
    failed = event("payment_intent.payment_failed", intent(p))
    assert store.write_now(lambda db: purchases.fulfil(db, failed)) == "failed"
    ok = event("payment_intent.succeeded", intent(p))  # the buyer retried with another card
    assert store.write_now(lambda db: purchases.fulfil(db, ok)) == "fulfilled"
    assert store.read_now(lambda db: purchases.owns(db, w["buyer"], w["usd"]))


def test_refund_revokes_and_reverses(store: Store, world: dict) -> None:
    w = world
    p = buy_by_card(store, listing_id=w["usd"], buyer_id=w["buyer"])
    partial = event("charge.refunded", charge(p, refunded=100))
    assert store.write_now(lambda db: purchases.fulfil(db, partial)) == "ignored"
    assert store.read_now(lambda db: purchases.owns(db, w["buyer"], w["usd"]))

    ev = event("charge.refunded", charge(p))
    assert store.write_now(lambda db: purchases.fulfil(db, ev)) == "refunded"
    again = event("charge.refunded", charge(p))
    assert store.write_now(lambda db: purchases.fulfil(db, again)) == "duplicate"
    assert not store.read_now(lambda db: purchases.owns(db, w["buyer"], w["usd"]))
    rows = ledger_rows(store)
    refunds = sorted(r for r in rows if r[3] == "refund")
    assert refunds == sorted(
        [
            (ledger.creator_account(w["creator"]), -800, "usd", "refund"),
            ("tax_reserve", -50, "usd", "refund"),
            ("platform", -150, "usd", "refund"),
        ]
    )
    for account in (ledger.creator_account(w["creator"]), "tax_reserve", "platform"):
        assert store.read_now(lambda db, a=account: ledger.balance(db, a)) == 0
    assert store.read_now(lambda db: db["listings"].get(w["usd"])["sales"]) == 0
    # bought again after the refund: owned again
    buy_by_card(store, listing_id=w["usd"], buyer_id=w["buyer"])
    assert store.read_now(lambda db: purchases.owns(db, w["buyer"], w["usd"]))


def test_refund_before_success_never_grants(store: Store, world: dict) -> None:
    w = world
    p = store.write_now(lambda db: begin_card(db, listing_id=w["usd"], buyer_id=w["buyer"]))
    assert (
        store.write_now(lambda db: purchases.fulfil(db, event("charge.refunded", charge(p))))
        == "refunded"
    )
    assert (
        store.write_now(
            lambda db: purchases.fulfil(db, event("payment_intent.succeeded", intent(p)))
        )
        == "ignored"
    )
    assert not store.read_now(lambda db: purchases.owns(db, w["buyer"], w["usd"]))
    assert ledger_rows(store) == []


def test_credit_pack_then_spend(store: Store, world: dict) -> None:
    w = world
    pack = buy_by_card(store, buyer_id=w["buyer"], pack="500")
    assert store.read_now(lambda db: purchases.credits(db, w["buyer"])) == 500
    assert store.read_now(lambda db: ledger.balance(db, "credit_reserve")) == 500
    out = store.write_now(
        lambda db: purchases.start(
            db, listing_id=w["digi"], buyer_id=w["buyer"], pay_with="credits"
        )
    )
    assert (out["status"], out["credits"]) == ("owned", 200)

    def balances(db: Any) -> dict:
        return {
            a: ledger.balance(db, a)
            for a in (ledger.creator_account(w["creator"]), "tax_reserve", "platform",
                      "credit_reserve")
        }  # fmt: skip

    # 300 credits = 300 cents moved from the reserve: 240 / 15 / 45
    assert list(store.read_now(balances).values()) == [240, 15, 45, 200]
    # refunding the pack takes back the 200 unspent credits; the 300 spent come from the house
    ev = event("charge.refunded", charge(pack))
    assert store.write_now(lambda db: purchases.fulfil(db, ev)) == "refunded"
    assert store.read_now(lambda db: purchases.credits(db, w["buyer"])) == 0
    assert list(store.read_now(balances).values()) == [240, 15, 45 - 300, 0]
    usd_total = sum(r[1] for r in ledger_rows(store) if r[2] == "usd")
    assert usd_total == 0  # the cash Stripe holds for us: paid 500, refunded 500


def test_concurrent_credit_spends_never_overdraw(store: Store) -> None:
    """Three 400-credit items, 1000 credits, all bought at once: exactly two succeed."""

    def setup(db: Any) -> dict:
        c = make_user(db, creator=True)
        return {"buyer": make_user(db), "items": [make_listing(db, c, 400, "digi") for _ in "abc"]}

    w = store.write_now(setup)
    buy_by_card(store, buyer_id=w["buyer"], pack="500")
    buy_by_card(store, buyer_id=w["buyer"], pack="500")

    async def spend_all() -> list:
        return await asyncio.gather(
            *(
                store.write(
                    lambda db, lid=lid: purchases.start(
                        db, listing_id=lid, buyer_id=w["buyer"], pay_with="credits"
                    )
                )
                for lid in w["items"]
            ),
            return_exceptions=True,
        )

    results = asyncio.run(spend_all())
    ok = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert (len(ok), len(refused)) == (2, 1), results
    assert store.read_now(lambda db: purchases.credits(db, w["buyer"])) == 200
    assert store.read_now(lambda db: len(purchases.owned(db, w["buyer"]))) == 2


def test_attach_intent_rules(store: Store, world: dict) -> None:
    w = world
    p = store.write_now(lambda db: begin_card(db, listing_id=w["usd"], buyer_id=w["buyer"]))
    store.write_now(lambda db: purchases.attach_intent(db, p["purchase_id"], p["intent"]))
    with pytest.raises(Conflict):
        store.write_now(lambda db: purchases.attach_intent(db, p["purchase_id"], "pi_other"))
    with pytest.raises(NotFound):
        store.write_now(lambda db: purchases.attach_intent(db, "nope", "pi_x"))


def test_status_shape_is_json(store: Store, world: dict) -> None:
    w = world
    p = store.write_now(lambda db: begin_card(db, buyer_id=w["buyer"], pack="1000"))
    st = store.read_now(lambda db: purchases.status(db, p["purchase_id"], w["buyer"]))
    assert (st["status"], st["kind"], st["credits"], st["balance"]) == (
        "pending",
        "credits",
        1000,
        0,
    )
    json.dumps(st)
