"""The ledger's rules: the 80/5/15 split in integer cents, amounts that are ints (never
bool or float), balances as sums, and the backstop that refuses to leave an account other
than the platform below zero (rolling back the whole transaction)."""

from __future__ import annotations

from typing import Any

import pytest

from webapi.errors import Conflict
from webapi.market import ledger
from webapi.store import Store


@pytest.mark.parametrize(
    ("price", "creator", "tax", "platform"),
    [
        (0, 0, 0, 0),
        (1, 0, 0, 1),
        (19, 15, 0, 4),
        (99, 79, 4, 16),
        (100, 80, 5, 15),
        (1999, 1599, 99, 301),
        (100_000, 80_000, 5_000, 15_000),
    ],
)
def test_split(price: int, creator: int, tax: int, platform: int) -> None:
    assert ledger.split(price) == ledger.Split(creator, tax, platform)


@pytest.mark.parametrize("bad", [True, 1.0, 10.5, "100", None])
def test_split_refuses_non_int(bad: Any) -> None:
    with pytest.raises(TypeError):
        ledger.split(bad)


def test_split_refuses_negative() -> None:
    with pytest.raises(ValueError):
        ledger.split(-1)


def test_accounts() -> None:
    assert ledger.creator_account("u1") == "creator:u1"
    assert ledger.credits_account("u1") == "credits:u1"
    assert ledger.payouts_account("u1") == "payouts:u1"


def test_balance_is_the_sum_per_currency(store: Store) -> None:
    store.write_now(
        lambda db: ledger.post(
            db,
            [
                ledger.entry("credits:a", 500, "digi", "credit_pack"),
                ledger.entry("credit_reserve", 500, "usd", "credit_pack"),
                ledger.entry("credits:a", -120, "digi", "credit_spend"),
                ledger.entry("credits:a", 0, "digi", "credit_spend"),  # skipped
            ],
        )
    )
    assert store.read_now(lambda db: ledger.balance(db, "credits:a", "digi")) == 380
    assert store.read_now(lambda db: ledger.balance(db, "credits:a", "usd")) == 0
    assert store.read_now(lambda db: ledger.balance(db, "nobody")) == 0
    assert store.read_now(lambda db: db["ledger"].count) == 3


@pytest.mark.parametrize(
    "bad",
    [
        {"amount": 1.5},
        {"amount": True},
        {"currency": "eur"},
        {"kind": "gift"},
        {"account": ""},
    ],
)
def test_post_refuses_malformed_entries(store: Store, bad: dict) -> None:
    e = {**ledger.entry("platform", 10, "usd", "sale"), **bad}
    with pytest.raises((TypeError, ValueError)):
        store.write_now(lambda db: ledger.post(db, [e]))
    assert store.read_now(lambda db: db["ledger"].count) == 0


def test_post_never_leaves_a_balance_negative(store: Store) -> None:
    """The backstop: the whole transaction is rolled back, earlier rows included."""
    store.write_now(lambda db: ledger.post(db, [ledger.entry("creator:c", 100, "usd", "sale")]))

    def overdraw(db: Any) -> None:
        ledger.post(db, [ledger.entry("platform", 7, "usd", "sale")])
        ledger.post(db, [ledger.entry("creator:c", -101, "usd", "payout")])

    with pytest.raises(Conflict, match="the creator balance at -1"):
        store.write_now(overdraw)
    assert store.read_now(lambda db: ledger.balance(db, "creator:c")) == 100
    assert store.read_now(lambda db: ledger.balance(db, "platform")) == 0
    # the platform (the house) may go below zero: a refund of money already paid out
    store.write_now(lambda db: ledger.post(db, [ledger.entry("platform", -5, "usd", "refund")]))
    assert store.read_now(lambda db: ledger.balance(db, "platform")) == -5
