"""Property tests of the money (hypothesis).

1. For any price, the split sums to the price, the creator gets floor(80 %), the tax
   reserve floor(5 %), and the platform the rest (15 % plus under 2 cents of rounding).
2. For any interleaving of card purchases, refunds, credit packs and their refunds, credit
   spends, payout requests and their completion or failure, and replayed webhook events, on
   a real store: every balance equals both the sum of its ledger rows and an independent
   model of what it should be; no account but the platform ever goes negative; the DIGI
   credits in circulation equal the USD kept in the credit reserve; the USD side of the
   ledger equals the cash Stripe holds for us; entitlements and sales counts agree.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from tests.market.conftest import event
from tests.market.test_purchases import begin_card, charge, intent, make_listing, make_user
from webapi.errors import Conflict
from webapi.market import ledger, payouts, purchases
from webapi.store import Store


@given(st.integers(min_value=0, max_value=10**7))
@settings(max_examples=300, deadline=None)
def test_split_sums_to_the_price(price: int) -> None:
    s = ledger.split(price)
    assert s.creator + s.tax_reserve + s.platform == price
    assert s.creator == price * 80 // 100
    assert s.tax_reserve == price * 5 // 100
    assert price * 15 // 100 <= s.platform <= price * 15 // 100 + 2
    assert min(s.creator, s.tax_reserve, s.platform) >= 0


PRICES = st.one_of(st.integers(0, 100_000), st.integers(0, 3_000))
# mostly within one pack, so refunds of packs partly spent happen often
CREDIT_PRICES = st.one_of(st.integers(1, 600), st.integers(0, 3_000))
PICK = st.integers(min_value=0, max_value=10_000)


class Money(RuleBasedStateMachine):
    """Two creators, two buyers, listings at drawn prices in USD and DIGI; `model` holds
    what every account should be, worked out here independently of the code under test."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="money-"))
        self.store = Store(self.dir / "m.db").open()
        self.model: dict[tuple[str, str], int] = defaultdict(int)
        self.owned: set[tuple[str, str]] = set()
        self.sales: Counter[str] = Counter()
        self.cash = 0  # USD Stripe holds for us: card payments less refunds
        self.card_sales: list[dict] = []  # fulfilled card purchases of assets
        self.packs: list[dict] = []
        self.pending_payouts: list[dict] = []
        self.events: list[dict] = []  # every event sent, for replays
        self.keys = 0
        self.creators: list[str] = []
        self.buyers: list[str] = []
        self.usd: list[tuple[str, str, int]] = []  # (listing, creator, price)
        self.digi: list[tuple[str, str, int]] = []
        self.ready = False

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def w(self, fn: Any) -> Any:
        return self.store.write_now(fn)

    def send(self, ev: dict) -> str:
        self.events.append(ev)
        return self.w(lambda db: purchases.fulfil(db, ev))

    def book_sale(self, creator: str, price: int) -> None:
        s = ledger.split(price)
        self.model[(ledger.creator_account(creator), "usd")] += s.creator
        self.model[("tax_reserve", "usd")] += s.tax_reserve
        self.model[("platform", "usd")] += s.platform

    # --- setup ---------------------------------------------------------------------------

    @initialize(
        usd=st.lists(PRICES, min_size=1, max_size=4),
        digi=st.lists(CREDIT_PRICES, min_size=1, max_size=4),
    )
    def setup(self, usd: list[int], digi: list[int]) -> None:
        def make(db: Any) -> None:
            self.creators = [make_user(db, creator=True) for _ in range(2)]
            self.buyers = [make_user(db) for _ in range(2)]
            for i, p in enumerate(usd):
                c = self.creators[i % 2]
                self.usd.append((make_listing(db, c, p), c, p))
            for i, p in enumerate(digi):
                c = self.creators[i % 2]
                self.digi.append((make_listing(db, c, p, "digi"), c, p))

        self.w(make)
        self.ready = True

    # --- purchases -----------------------------------------------------------------------

    @precondition(lambda self: self.ready)
    @rule(b=PICK, i=PICK)
    def buy_by_card(self, b: int, i: int) -> None:
        buyer = self.buyers[b % 2]
        lid, creator, price = self.usd[i % len(self.usd)]
        if (buyer, lid) in self.owned:
            try:
                self.w(lambda db: purchases.start(db, listing_id=lid, buyer_id=buyer))
            except Conflict:
                return
            raise AssertionError("bought an asset twice")
        if price == 0:
            out = self.w(lambda db: purchases.start(db, listing_id=lid, buyer_id=buyer))
            assert out["status"] == "owned"
        else:
            p = self.w(lambda db: begin_card(db, listing_id=lid, buyer_id=buyer))
            assert self.send(event("payment_intent.succeeded", intent(p))) == "fulfilled"
            p["creator"] = creator
            self.card_sales.append(p)
            self.cash += price
            self.book_sale(creator, price)
        self.owned.add((buyer, lid))
        self.sales[lid] += 1

    @precondition(lambda self: self.ready)
    @rule(b=PICK, pack=st.sampled_from(sorted(purchases.CREDIT_PACKS)))
    def buy_credit_pack(self, b: int, pack: str) -> None:
        buyer = self.buyers[b % 2]
        p = self.w(lambda db: begin_card(db, buyer_id=buyer, pack=pack))
        assert self.send(event("payment_intent.succeeded", intent(p))) == "fulfilled"
        n = purchases.CREDIT_PACKS[pack][0]
        p["buyer"] = buyer
        self.packs.append(p)
        self.cash += p["amount_cents"]
        self.model[(ledger.credits_account(buyer), "digi")] += n
        self.model[("credit_reserve", "usd")] += n

    @precondition(lambda self: self.ready)
    @rule(b=PICK, i=PICK)
    def spend_credits(self, b: int, i: int) -> None:
        buyer = self.buyers[b % 2]
        lid, creator, price = self.digi[i % len(self.digi)]
        have = self.model[(ledger.credits_account(buyer), "digi")]
        refused = (buyer, lid) in self.owned or have < price
        try:
            self.w(
                lambda db: purchases.start(db, listing_id=lid, buyer_id=buyer, pay_with="credits")
            )
        except Conflict:
            assert refused
            return
        assert not refused
        self.owned.add((buyer, lid))
        self.sales[lid] += 1
        if price:
            self.model[(ledger.credits_account(buyer), "digi")] -= price
            self.model[("credit_reserve", "usd")] -= price
            self.book_sale(creator, price)

    # --- refunds -------------------------------------------------------------------------

    @precondition(lambda self: self.card_sales)
    @rule(i=PICK)
    def refund_sale(self, i: int) -> None:
        p = self.card_sales[i % len(self.card_sales)]
        out = self.send(event("charge.refunded", charge(p)))
        if p.get("refunded"):
            assert out == "duplicate"
            return
        assert out == "refunded"
        p["refunded"] = True
        s = ledger.split(p["amount_cents"])
        acct = (ledger.creator_account(p["creator"]), "usd")
        take = min(s.creator, self.model[acct])
        self.model[acct] -= take
        self.model[("tax_reserve", "usd")] -= s.tax_reserve
        self.model[("platform", "usd")] -= s.platform + (s.creator - take)
        self.cash -= p["amount_cents"]
        lid = self.usd_listing(p)
        self.owned.discard((self.buyer_of(p), lid))
        self.sales[lid] -= 1

    def usd_listing(self, p: dict) -> str:
        return self.store.read_now(lambda db: db["purchases"].get(p["purchase_id"])["listing_id"])

    def buyer_of(self, p: dict) -> str:
        return self.store.read_now(lambda db: db["purchases"].get(p["purchase_id"])["buyer_id"])

    @precondition(lambda self: self.packs)
    @rule(i=PICK)
    def refund_pack(self, i: int) -> None:
        p = self.packs[i % len(self.packs)]
        out = self.send(event("charge.refunded", charge(p)))
        if p.get("refunded"):
            assert out == "duplicate"
            return
        assert out == "refunded"
        p["refunded"] = True
        acct = (ledger.credits_account(p["buyer"]), "digi")
        back = min(p["credits"], self.model[acct])
        self.model[acct] -= back
        self.model[("credit_reserve", "usd")] -= back
        self.model[("platform", "usd")] -= p["amount_cents"] - back
        self.cash -= p["amount_cents"]

    @precondition(lambda self: self.events)
    @rule(i=PICK)
    def replay_event(self, i: int) -> None:
        ev = self.events[i % len(self.events)]
        assert self.w(lambda db: purchases.fulfil(db, ev)) == "duplicate"

    # --- payouts -------------------------------------------------------------------------

    @precondition(lambda self: self.ready)
    @rule(c=PICK, percent=st.integers(min_value=1, max_value=130), again=st.booleans())
    def request_payout(self, c: int, percent: int, again: bool) -> None:
        """`percent` of what the model says is available (at least the minimum): over 100
        must be refused."""
        creator = self.creators[c % 2]
        if again and self.pending_payouts:  # the same request once more: the same payout
            old = self.pending_payouts[-1]
            got = self.w(
                lambda db: payouts.request(
                    db, creator_id=old["creator_id"], amount_cents=old["amount_cents"],
                    request_key=old["request_key"],
                )
            )  # fmt: skip
            assert got["id"] == old["id"]
            return
        self.keys += 1
        key = f"payout-key-{self.keys}"
        acct = (ledger.creator_account(creator), "usd")
        cents = max(payouts.MIN_PAYOUT_CENTS, self.model[acct] * percent // 100)
        try:
            p = self.w(
                lambda db: payouts.request(
                    db, creator_id=creator, amount_cents=cents, request_key=key
                )
            )
        except Conflict as e:
            assert cents > self.model[acct]
            assert "more than your available balance" in str(e)
            return
        assert cents <= self.model[acct]
        self.model[acct] -= cents
        self.model[(ledger.payouts_account(creator), "usd")] += cents
        self.pending_payouts.append(p)

    @precondition(lambda self: self.pending_payouts)
    @rule(i=PICK, ok=st.booleans())
    def settle_payout(self, i: int, ok: bool) -> None:
        p = self.pending_payouts.pop(i % len(self.pending_payouts))
        if ok:
            assert (
                self.w(lambda db: payouts.complete(db, p["id"], "tr_" + p["id"]))["status"]
                == "paid"
            )
            return
        assert self.w(lambda db: payouts.fail(db, p["id"], "declined"))["status"] == "failed"
        self.model[(ledger.creator_account(p["creator_id"]), "usd")] += p["amount_cents"]
        self.model[(ledger.payouts_account(p["creator_id"]), "usd")] -= p["amount_cents"]

    # --- what must always hold -----------------------------------------------------------

    @invariant()
    def balances_are_ledger_sums_and_match_the_model(self) -> None:
        rows = self.store.read_now(
            lambda db: db.execute("SELECT account, currency, amount FROM ledger").fetchall()
        )
        sums: dict[tuple[str, str], int] = defaultdict(int)
        for account, currency, value in rows:
            assert isinstance(value, int) and value != 0
            sums[(account, currency)] += value
        expected = {k: v for k, v in self.model.items() if v}
        assert {k: v for k, v in sums.items() if v} == expected

        def balances(db: Any) -> dict:
            return {k: ledger.balance(db, *k) for k in set(sums) | set(self.model)}

        assert {k: v for k, v in self.store.read_now(balances).items() if v} == expected
        for (account, _), v in sums.items():
            assert v >= 0 or account == "platform", (account, v)
        credits = sum(v for (a, cur), v in sums.items() if a.startswith("credits:"))
        assert credits == sums[("credit_reserve", "usd")]
        assert sum(v for (_, cur), v in sums.items() if cur == "usd") == self.cash

    @invariant()
    def derived_views_agree(self) -> None:
        if not self.ready:
            return

        def read(db: Any) -> tuple:
            return (
                {b: purchases.credits(db, b) for b in self.buyers},
                {c: payouts.available(db, c) for c in self.creators},
                {c: payouts.totals(db, c) for c in self.creators},
                {(b, lid) for b in self.buyers for lid in purchases.owned(db, b)},
                {r["id"]: r["sales"] for r in db["listings"].rows},
            )

        credits, available, totals, owned, sales = self.store.read_now(read)
        for b, n in credits.items():
            assert n == self.model[(ledger.credits_account(b), "digi")] >= 0
        for c, n in available.items():
            assert n == self.model[(ledger.creator_account(c), "usd")] >= 0
            t = totals[c]
            assert (
                t["paid_out_cents"] + t["pending_payout_cents"]
                == self.model[(ledger.payouts_account(c), "usd")]
            )
        assert owned == self.owned
        assert sales == {lid: self.sales[lid] for lid in sales}


Money.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
# ~5-10 s on the shared CI machine: 60 interleavings of up to 30 steps on a real store
test_money_interleavings = pytest.mark.slow(Money.TestCase)
