"""The ledger: every movement of money is a row, and every balance is the sum of its
account's rows (never a stored number that could drift from them).

Amounts are signed integers: US cents in currency "usd", whole credits in "digi"
(1 DIGI credit = 1 US cent). Accounts:

- `creator:<user id>` (usd): what a creator has earned and not yet had paid out or reserved
  for a payout: it is their available balance. Sales add 80 %, refunds and payouts take.
- `payouts:<user id>` (usd): reserved for or paid to the creator's Stripe Connect account
  (a payout request moves money here from `creator:`; a failed payout moves it back).
- `tax_reserve` (usd): 5 % of every sale, kept aside for sales tax.
- `platform` (usd): the platform's 15 %, and the house that absorbs refunds of money it no
  longer holds for anyone else (see `purchases`): the only account that may go negative,
  because that is then the truth (Stripe takes a refund from the platform's balance).
- `credits:<user id>` (digi): a user's DIGI credits.
- `credit_reserve` (usd): the USD paid for DIGI credits that are not yet spent. A credit
  pack adds the pack's price here and its credits to `credits:<buyer>`; spending p credits
  takes p from both and pays the sale's split from this reserve. So at all times
  `credit_reserve` (usd) equals the sum of every `credits:*` (digi), and the USD side of
  the ledger sums to the cash Stripe holds for us (paid card purchases not refunded).

Kinds: `sale`, `refund`, `credit_pack`, `credit_spend`, `payout`, `payout_reversal`.

`post` refuses (Conflict) any entries that would leave an account other than `platform`
below zero: the callers check first and explain; this is the backstop, and since every
caller runs inside one `Store.write` transaction, a refusal rolls back everything the
transaction did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webapi.errors import Conflict
from webapi.store import now_iso

PLATFORM = "platform"
TAX_RESERVE = "tax_reserve"
CREDIT_RESERVE = "credit_reserve"
CURRENCIES = ("usd", "digi")
KINDS = ("sale", "refund", "credit_pack", "credit_spend", "payout", "payout_reversal")
CREATOR_PERCENT = 80
TAX_PERCENT = 5

# accounts allowed below zero: only the house (see the module docstring)
_MAY_GO_NEGATIVE = frozenset({PLATFORM})


@dataclass(frozen=True)
class Split:
    """A sale's price divided between the creator, the tax reserve and the platform."""

    creator: int
    tax_reserve: int
    platform: int


def amount(value: Any, what: str = "amount") -> int:
    """`value` as an int amount; TypeError for bool, float or anything else (money is never a
    float, and True is not 1 cent)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int number of cents/credits, not {value!r}")
    return value


def split(price: int) -> Split:
    """creator = floor(price × 80 / 100), tax reserve = floor(price × 5 / 100), platform =
    the rest (so the three always sum to the price; rounding favours nobody but the
    platform, by under 2 cents)."""
    price = amount(price, "price")
    if price < 0:
        raise ValueError(f"price must not be negative, not {price}")
    creator = price * CREATOR_PERCENT // 100
    tax = price * TAX_PERCENT // 100
    return Split(creator=creator, tax_reserve=tax, platform=price - creator - tax)


def creator_account(user_id: str) -> str:
    return f"creator:{user_id}"


def credits_account(user_id: str) -> str:
    return f"credits:{user_id}"


def payouts_account(user_id: str) -> str:
    return f"payouts:{user_id}"


def balance(db: Any, account: str, currency: str = "usd") -> int:
    """The sum of `account`'s rows in `currency` (0 without any)."""
    row = db.execute(
        "SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE account = ? AND currency = ?",
        [account, currency],
    ).fetchone()
    return int(row[0])


def entry(
    account: str,
    value: int,
    currency: str,
    kind: str,
    *,
    purchase_id: str | None = None,
    payout_id: str | None = None,
    listing_id: str | None = None,
) -> dict[str, Any]:
    """One ledger row (not yet posted)."""
    return {
        "account": account,
        "amount": value,
        "currency": currency,
        "kind": kind,
        "purchase_id": purchase_id,
        "payout_id": payout_id,
        "listing_id": listing_id,
    }


def post(db: Any, entries: list[dict[str, Any]]) -> None:
    """Write `entries` (dicts as `entry` makes) with one timestamp. Zero amounts are skipped
    (a 1-cent sale gives the creator 0). ValueError/TypeError for a malformed entry (a bug
    of ours, not the client's); Conflict when an account other than `platform` would end
    below zero (the whole transaction is then rolled back by the store)."""
    now = now_iso()
    rows = []
    for e in entries:
        account, kind, currency = e.get("account"), e.get("kind"), e.get("currency")
        value = amount(e.get("amount"), f"ledger amount for {account}")
        if not isinstance(account, str) or not account:
            raise ValueError(f"ledger entry without an account: {e!r}")
        if currency not in CURRENCIES:
            raise ValueError(f"ledger currency must be one of {CURRENCIES}, not {currency!r}")
        if kind not in KINDS:
            raise ValueError(f"ledger kind must be one of {KINDS}, not {kind!r}")
        if value == 0:
            continue
        rows.append(
            {
                "account": account,
                "amount": value,
                "currency": currency,
                "kind": kind,
                "purchase_id": e.get("purchase_id"),
                "payout_id": e.get("payout_id"),
                "listing_id": e.get("listing_id"),
                "created_at": now,
            }
        )
    if not rows:
        return
    db["ledger"].insert_all(rows)
    for account, currency in {(r["account"], r["currency"]) for r in rows}:
        if account in _MAY_GO_NEGATIVE:
            continue
        left = balance(db, account, currency)
        if left < 0:
            kind = account.split(":")[0]  # never the account's user id: the client reads this
            raise Conflict(f"not enough funds: this would leave the {kind} balance at {left}")
