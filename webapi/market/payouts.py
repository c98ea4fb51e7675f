"""Creators' payouts: a request reserves money from the creator's available balance (ledger
`creator:<id>` -> `payouts:<id>`, kind payout) in the same transaction that checks it, so two
requests, however concurrent, can never together take more than there is (the store runs
writes one at a time). The HTTP handler then makes the Stripe Transfer (idempotency key =
the payout id, so a retry never pays twice) and calls `complete`, or `fail`, which moves
the reservation back (kind payout_reversal). One payout per (creator, request_key): asking
again with the same key answers the same payout, whatever became of it.

Balances: available = `creator:<id>` = earned − paid out − pending; paid out and pending
are the `payouts` rows by status (and together equal the `payouts:<id>` account).
"""

from __future__ import annotations

import re
from typing import Any

from webapi.errors import Conflict, Forbidden, Invalid, NotFound
from webapi.market import ledger
from webapi.store import new_id, now_iso

MIN_PAYOUT_CENTS = 100
_KEY = re.compile(r"^[A-Za-z0-9_-]{8,100}$")


def available(db: Any, creator_id: str) -> int:
    """Earned minus paid out minus pending payouts, in cents (never negative)."""
    return ledger.balance(db, ledger.creator_account(creator_id), "usd")


def totals(db: Any, creator_id: str) -> dict[str, int]:
    """{"paid_out_cents", "pending_payout_cents"} of a creator, all time."""
    rows = db.execute(
        "SELECT status, COALESCE(SUM(amount_cents), 0) FROM payouts WHERE creator_id = ? "
        "GROUP BY status",
        [creator_id],
    ).fetchall()
    by = {status: int(total) for status, total in rows}
    return {"paid_out_cents": by.get("paid", 0), "pending_payout_cents": by.get("pending", 0)}


def _public(db: Any, row: dict[str, Any]) -> dict[str, Any]:
    dest = db.execute(
        "SELECT connect_account_id FROM creators WHERE user_id = ?", [row["creator_id"]]
    ).fetchone()
    return {
        "id": row["id"],
        "creator_id": row["creator_id"],
        "request_key": row["request_key"],
        "amount_cents": row["amount_cents"],
        "currency": row["currency"],
        "status": row["status"],
        "transfer_id": row["transfer_id"],
        "error": row["error"],
        "created_at": row["created_at"],
        "completed_at": row["completed_at"],
        "destination": dest[0] if dest else None,  # the Connect account to transfer to
    }


def _row(db: Any, payout_id: str) -> dict[str, Any]:
    row = next(db.query("SELECT * FROM payouts WHERE id = ?", [payout_id]), None)
    if row is None:
        raise NotFound("no such payout")
    return row


def request(db: Any, *, creator_id: str, amount_cents: int, request_key: str) -> dict:
    """Reserve `amount_cents` for a payout to the creator's Connect account -> the payout
    (status "pending": the caller makes the Transfer then `complete`s or `fail`s it). The
    same request_key again -> the same payout (never a second). Invalid: amount not an int
    or under MIN_PAYOUT_CENTS, a malformed key; Forbidden: not a creator; Conflict: no
    Connect account yet, more than the available balance, the key used for another
    amount."""
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise Invalid("amount_cents: must be a whole number of cents", field="amount_cents")
    if amount_cents < MIN_PAYOUT_CENTS:
        raise Invalid(
            f"amount_cents: the smallest payout is {MIN_PAYOUT_CENTS} cents", field="amount_cents"
        )
    if not isinstance(request_key, str) or not _KEY.match(request_key):
        raise Invalid(
            "request_key: 8 to 100 letters, digits, '-' or '_' (a fresh one per payout)",
            field="request_key",
        )
    creator = db.execute(
        "SELECT connect_account_id FROM creators WHERE user_id = ?", [creator_id]
    ).fetchone()
    if creator is None:
        raise Forbidden("only creators have payouts: become a creator first")
    same = next(
        db.query(
            "SELECT * FROM payouts WHERE creator_id = ? AND request_key = ?",
            [creator_id, request_key],
        ),
        None,
    )
    if same is not None:
        if same["amount_cents"] != amount_cents:
            raise Conflict(
                f"request_key: already used for a payout of {same['amount_cents']} cents; "
                "use a new key for a new payout",
                field="request_key",
            )
        return _public(db, same)
    if not creator[0]:
        raise Conflict("connect a Stripe account to receive payouts first")
    have = available(db, creator_id)
    if amount_cents > have:
        raise Conflict(
            f"amount_cents: {amount_cents} is more than your available balance ({have} cents)",
            field="amount_cents",
        )
    row = {
        "id": new_id(),
        "creator_id": creator_id,
        "request_key": request_key,
        "amount_cents": amount_cents,
        "currency": "usd",
        "status": "pending",
        "transfer_id": None,
        "error": None,
        "created_at": now_iso(),
        "completed_at": None,
    }
    db["payouts"].insert(row)
    ledger.post(
        db,
        [
            ledger.entry(
                ledger.creator_account(creator_id), -amount_cents, "usd", "payout",
                payout_id=row["id"],
            ),
            ledger.entry(
                ledger.payouts_account(creator_id), amount_cents, "usd", "payout",
                payout_id=row["id"],
            ),
        ],
    )  # fmt: skip
    return _public(db, row)


def complete(db: Any, payout_id: str, transfer_id: str) -> dict:
    """The Transfer went through: the payout is paid (the reservation stays spent). Again
    with the same transfer id: the same answer; Conflict for a failed payout or another
    transfer id."""
    if not isinstance(transfer_id, str) or not transfer_id:
        raise ValueError(f"not a transfer id: {transfer_id!r}")
    row = _row(db, payout_id)
    if row["status"] == "paid" and row["transfer_id"] == transfer_id:
        return _public(db, row)
    if row["status"] != "pending":
        raise Conflict(f"this payout is {row['status']} already")
    db["payouts"].update(
        payout_id, {"status": "paid", "transfer_id": transfer_id, "completed_at": now_iso()}
    )
    return _public(db, _row(db, payout_id))


def fail(db: Any, payout_id: str, error: str) -> dict:
    """The Transfer was refused: the payout failed and its amount is available again.
    Again: the same answer; Conflict for a paid payout."""
    row = _row(db, payout_id)
    if row["status"] == "failed":
        return _public(db, row)
    if row["status"] != "pending":
        raise Conflict(f"this payout is {row['status']} already")
    db["payouts"].update(
        payout_id, {"status": "failed", "error": str(error)[:500], "completed_at": now_iso()}
    )
    creator_id, cents = row["creator_id"], row["amount_cents"]
    ledger.post(
        db,
        [
            ledger.entry(
                ledger.payouts_account(creator_id), -cents, "usd", "payout_reversal",
                payout_id=payout_id,
            ),
            ledger.entry(
                ledger.creator_account(creator_id), cents, "usd", "payout_reversal",
                payout_id=payout_id,
            ),
        ],
    )  # fmt: skip
    return _public(db, _row(db, payout_id))
