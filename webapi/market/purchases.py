"""Purchases: free grants, DIGI credit spends, card purchases fulfilled by Stripe's webhook,
credit packs, and refunds. Every function is synchronous on a `sqlite_utils.Database` and
meant to run inside one `Store.write` (one transaction: the purchase row, the entitlement
and the ledger entries are written together or not at all). Nothing here talks to Stripe.

The amount and currency of a purchase always come from the listing (or the pack) in our
database when the purchase starts, never from the client; the webhook must then report
exactly that amount and currency, for the PaymentIntent we attached to that purchase, or
nothing is granted ("mismatch").

Ledger entries (accounts: see `ledger`):
- card sale of price p (usd): creator +80 %, tax_reserve +5 %, platform +rest (kind sale).
- credit pack of n credits for n cents: credits:<buyer> +n digi, credit_reserve +n usd.
- DIGI sale of p credits: credits:<buyer> -p digi and credit_reserve -p usd (credit_spend),
  then the same split as a card sale, in usd (kind sale): the USD behind the credits moves
  from the reserve to the creator, the tax reserve and the platform.
- refund of a card sale: the sale's rows negated (kind refund), except that the creator
  gives back at most what they still have available (money already reserved for or paid
  out to them stays theirs); the rest is taken from the platform, which Stripe charges.
- refund of a credit pack: the buyer's credits are taken back as far as they are unspent
  (never below zero), with the same amount from credit_reserve; the part already spent
  was paid to creators and comes out of the platform.
Partial refunds (a Charge refunded only in part) are not acted on ("ignored"): the
platform never issues them; one made by hand in Stripe's dashboard is settled by hand.

An avatar listing, once granted, is also a saved avatar in the buyer's library (`_save_avatar`,
in the grant's transaction). A refund revokes the entitlement but keeps that saved copy: the
buyer may have edited it since, and it is only customizations of the free bundled rig (no
files of the creator's), so deleting it would destroy the buyer's own work for nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from webapi.errors import Conflict, Invalid, NotFound
from webapi.market import ledger
from webapi.market.ledger import CREDIT_RESERVE, PLATFORM, TAX_RESERVE
from webapi.store import new_id, now_iso

# pack id -> (credits, price in US cents). 1 credit = 1 cent, so a pack's price backs its
# credits exactly (the credit_reserve invariant in `ledger` relies on it).
CREDIT_PACKS: dict[str, tuple[int, int]] = {
    "500": (500, 500),
    "1000": (1000, 1000),
    "2500": (2500, 2500),
}
assert all(credits == cents for credits, cents in CREDIT_PACKS.values())

PAY_WITH = ("card", "credits")
REUSE_PENDING_S = 23 * 3600  # under Stripe's 24 h life of an idempotency key
OUTCOMES = ("fulfilled", "duplicate", "refunded", "unknown", "ignored", "mismatch", "failed")


def _listing(db: Any, listing_id: Any) -> dict[str, Any] | None:
    if not isinstance(listing_id, str) or not listing_id:
        return None
    return next(db.query("SELECT * FROM listings WHERE id = ?", [listing_id]), None)


def _purchase(db: Any, purchase_id: Any) -> dict[str, Any] | None:
    if not isinstance(purchase_id, str) or not purchase_id:
        return None
    return next(db.query("SELECT * FROM purchases WHERE id = ?", [purchase_id]), None)


def owns(db: Any, user_id: str | None, listing_id: str) -> bool:
    """Whether `user_id` holds an entitlement to the listing (bought or granted, not
    refunded). A creator does not "own" their own listings this way."""
    if not user_id:
        return False
    row = db.execute(
        "SELECT 1 FROM entitlements WHERE user_id = ? AND listing_id = ? AND revoked_at IS NULL",
        [user_id, listing_id],
    ).fetchone()
    return row is not None


def owned(db: Any, user_id: str) -> list[str]:
    """The listing ids `user_id` holds, most recently granted first."""
    rows = db.execute(
        "SELECT listing_id FROM entitlements WHERE user_id = ? AND revoked_at IS NULL "
        "ORDER BY granted_at DESC, listing_id",
        [user_id],
    ).fetchall()
    return [r[0] for r in rows]


def credits(db: Any, user_id: str) -> int:
    """`user_id`'s DIGI credits (the sum of their credits account)."""
    return ledger.balance(db, ledger.credits_account(user_id), "digi")


def _new_purchase(db: Any, **fields: Any) -> dict[str, Any]:
    row = {
        "id": new_id(),
        "listing_id": None,
        "credits": None,
        "payment_intent_id": None,
        "created_at": now_iso(),
        "paid_at": None,
        "refunded_at": None,
        **fields,
    }
    db["purchases"].insert(row)
    return row


def _grant(db: Any, user_id: str, listing_id: str, purchase_id: str) -> None:
    """The entitlement (a new one, or one refunded before and bought again) and the
    listing's sales count (popularity: free grants count too)."""
    db.execute(
        "INSERT INTO entitlements (user_id, listing_id, purchase_id, granted_at, revoked_at) "
        "VALUES (?, ?, ?, ?, NULL) ON CONFLICT (user_id, listing_id) DO UPDATE SET "
        "purchase_id = excluded.purchase_id, granted_at = excluded.granted_at, "
        "revoked_at = NULL",
        [user_id, listing_id, purchase_id, now_iso()],
    )
    db.execute("UPDATE listings SET sales = sales + 1 WHERE id = ?", [listing_id])
    _save_avatar(db, user_id, listing_id)


AVATAR_RIGS = ("digi",)  # webapi/library/avatars.py RIGS (not imported: it loads the engine)
AVATAR_NAME_MAX = 80  # avatars.MAX_NAME; a listing's name is at most as long


def saved_avatar_id(user_id: str, listing_id: str) -> str:
    """The id of the saved avatar that buying avatar listing `listing_id` gives `user_id`:
    derived from both, so a grant made twice (bought again after a refund) finds the copy it
    made before instead of adding another. Knowing it reveals nothing: another user's
    private avatar answers exactly as a missing id (webapi/library/avatars.py)."""
    return hashlib.sha256(f"market-avatar:{user_id}:{listing_id}".encode()).hexdigest()[:32]


def _save_avatar(db: Any, user_id: str, listing_id: str) -> None:
    """An avatar listing becomes the buyer's own saved avatar (the `avatars` table: the
    listing's name, its rig, source "rig", its customizations, private), once per buyer and
    listing: a copy already there (perhaps renamed or edited since) is kept as it is. The
    customizations were validated against the rig when the package was uploaded
    (webapi/market/validators.py `check_avatar`, normalized); they are not checked again
    here, on the writer thread, and a session checks them again when it wears them
    (webapi/library/avatars.py `_look_of`). Other types: nothing."""
    row = db.execute(
        "SELECT type, name, content FROM listings WHERE id = ?", [listing_id]
    ).fetchone()
    if row is None or row[0] != "avatar":
        return
    try:
        content = json.loads(row[2] or "{}")
    except ValueError:
        content = None
    rig = content.get("rig") if isinstance(content, dict) else None
    values = content.get("customizations") if isinstance(content, dict) else None
    if rig not in AVATAR_RIGS or not isinstance(values, dict):
        return  # not what check_avatar stores: grant the entitlement, save nothing half-made
    now = now_iso()
    db.execute(
        "INSERT OR IGNORE INTO avatars (id, owner_id, guest_id, name, rig, source, "
        "generation_id, customizations, is_public, created_at, updated_at) "
        "VALUES (?, ?, NULL, ?, ?, 'rig', NULL, ?, 0, ?, ?)",
        [
            saved_avatar_id(user_id, listing_id), user_id,
            " ".join(str(row[1] or "").split())[:AVATAR_NAME_MAX] or "My Digi", rig,
            json.dumps(values, separators=(",", ":")), now, now,
        ],
    )  # fmt: skip


def _sale_entries(purchase: dict[str, Any], creator_id: str, price: int) -> list[dict]:
    s = ledger.split(price)
    ids = {"purchase_id": purchase["id"], "listing_id": purchase["listing_id"]}
    return [
        ledger.entry(ledger.creator_account(creator_id), s.creator, "usd", "sale", **ids),
        ledger.entry(TAX_RESERVE, s.tax_reserve, "usd", "sale", **ids),
        ledger.entry(PLATFORM, s.platform, "usd", "sale", **ids),
    ]


def start(db: Any, *, listing_id: str, buyer_id: str, pay_with: str = "card") -> dict:
    """Begin buying a listing at the price and in the currency stored for it.

    Free: granted now -> {"status": "owned", "purchase_id"}. DIGI: the credits are spent in
    this transaction (never below zero) -> {"status": "owned", "purchase_id", "credits"}.
    USD by card: a pending purchase -> {"status": "pending", "purchase_id", "amount_cents",
    "currency"}; the caller creates the PaymentIntent and `attach_intent`s it; the webhook
    fulfils. NotFound: no such listing, or not published (one's own draft too); Conflict:
    one's own listing, already owned, not enough credits; Invalid: `pay_with` that does not
    fit the listing's currency."""
    if pay_with not in PAY_WITH:
        raise Invalid(f"pay_with: must be one of {', '.join(PAY_WITH)}", field="pay_with")
    listing = _listing(db, listing_id)
    if listing is None or listing["status"] != "published":
        raise NotFound("no such asset in the marketplace", field="asset_id")
    if listing["creator_id"] == buyer_id:
        raise Conflict("you made this asset: it is yours already, no need to buy it")
    if owns(db, buyer_id, listing_id):
        raise Conflict("you already own this asset")
    price, currency = ledger.amount(listing["price_cents"], "price"), listing["currency"]
    if price == 0:
        p = _new_purchase(
            db, buyer_id=buyer_id, kind="asset", listing_id=listing_id, amount_cents=0,
            currency=currency, method="free", status="paid", paid_at=now_iso(),
        )  # fmt: skip
        _grant(db, buyer_id, listing_id, p["id"])
        return {"status": "owned", "purchase_id": p["id"]}
    if currency == "digi":
        if pay_with != "credits":
            raise Invalid(
                "pay_with: this asset is priced in DIGI credits: pay with credits",
                field="pay_with",
            )
        have = credits(db, buyer_id)
        if have < price:
            raise Conflict(
                f"not enough DIGI credits: this asset costs {price}, you have {have} "
                "(buy a credit pack)"
            )
        p = _new_purchase(
            db, buyer_id=buyer_id, kind="asset", listing_id=listing_id, amount_cents=price,
            currency="digi", method="credits", status="paid", paid_at=now_iso(),
        )  # fmt: skip
        ids = {"purchase_id": p["id"], "listing_id": listing_id}
        spend = [
            ledger.entry(ledger.credits_account(buyer_id), -price, "digi", "credit_spend", **ids),
            ledger.entry(CREDIT_RESERVE, -price, "usd", "credit_spend", **ids),
        ]
        ledger.post(db, spend + _sale_entries(p, listing["creator_id"], price))
        _grant(db, buyer_id, listing_id, p["id"])
        return {"status": "owned", "purchase_id": p["id"], "credits": credits(db, buyer_id)}
    if currency != "usd":  # a row CATALOG would never write; refuse rather than guess
        raise Conflict(f"this asset's currency ({currency}) cannot be paid for")
    if pay_with != "card":
        raise Invalid("pay_with: this asset is priced in US dollars: pay by card", field="pay_with")
    p = _open_card_purchase(db, buyer_id, listing_id, price) or _new_purchase(
        db, buyer_id=buyer_id, kind="asset", listing_id=listing_id, amount_cents=price,
        currency="usd", method="card", status="pending",
    )  # fmt: skip
    return {"status": "pending", "purchase_id": p["id"], "amount_cents": price, "currency": "usd"}


def _open_card_purchase(
    db: Any, buyer_id: str, listing_id: str, price: int
) -> dict[str, Any] | None:
    """The buyer's pending card purchase of this listing at this price, started within
    REUSE_PENDING_S: a second Buy (another tab, a reload) continues it instead of opening a
    second payment that could charge them twice. The handler's PaymentIntent is made with
    the purchase id as its idempotency key, so Stripe answers the same intent again (its
    keys last 24 hours: older pending purchases are left to lapse)."""
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - REUSE_PENDING_S))
    row = db.execute(
        "SELECT id FROM purchases WHERE buyer_id = ? AND listing_id = ? AND kind = 'asset' "
        "AND method = 'card' AND status = 'pending' AND amount_cents = ? AND currency = 'usd' "
        "AND created_at >= ? ORDER BY created_at DESC LIMIT 1",
        [buyer_id, listing_id, price, since],
    ).fetchone()
    return None if row is None else _purchase(db, row[0])


def start_credit_pack(db: Any, *, buyer_id: str, pack: str) -> dict:
    """A pending card purchase of a DIGI credit pack -> {"status": "pending", "purchase_id",
    "amount_cents", "currency": "usd", "credits"}. Invalid for an unknown pack."""
    if not isinstance(pack, str) or pack not in CREDIT_PACKS:
        raise Invalid(f"pack: must be one of {', '.join(CREDIT_PACKS)}", field="pack")
    n, cents = CREDIT_PACKS[pack]
    p = _new_purchase(
        db, buyer_id=buyer_id, kind="credits", credits=n, amount_cents=cents, currency="usd",
        method="card", status="pending",
    )  # fmt: skip
    return {
        "status": "pending",
        "purchase_id": p["id"],
        "amount_cents": cents,
        "currency": "usd",
        "credits": n,
    }


def attach_intent(db: Any, purchase_id: str, intent_id: str) -> None:
    """Record the PaymentIntent created for a pending card purchase (the webhook finds the
    purchase by it). Attaching the same intent again is a no-op; a different one to a
    purchase that has one is a Conflict (its payment would otherwise be lost)."""
    if not isinstance(intent_id, str) or not intent_id.startswith("pi_"):
        raise ValueError(f"not a PaymentIntent id: {intent_id!r}")
    p = _purchase(db, purchase_id)
    if p is None:
        raise NotFound("no such purchase")
    if p["payment_intent_id"] == intent_id:
        return
    if p["payment_intent_id"] is not None or p["method"] != "card" or p["status"] != "pending":
        raise Conflict("this purchase already has a payment")
    db["purchases"].update(purchase_id, {"payment_intent_id": intent_id})


# --- the webhook --------------------------------------------------------------------------


def _get(obj: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(k)
    return obj


def fulfil(db: Any, event: dict) -> str:
    """Act on a VERIFIED Stripe event, at most once per event id; returns the outcome:
    "fulfilled" (paid: granted, credited, ledger written), "refunded", "failed",
    "duplicate" (this event, or this payment, was seen before), "unknown" (no purchase has
    that PaymentIntent), "mismatch" (amount, currency or metadata disagree with ours:
    nothing granted), "ignored" (other types, partial refunds, malformed). Never raises for
    an event's content: Stripe must get a 200 so it stops retrying."""
    event_id, etype = _get(event, "id"), _get(event, "type")
    if not isinstance(event_id, str) or not event_id or not isinstance(etype, str):
        return "ignored"
    if db.execute("SELECT 1 FROM stripe_events WHERE id = ?", [event_id]).fetchone():
        return "duplicate"
    obj = _get(event, "data", "object")
    if not isinstance(obj, dict):
        outcome = "ignored"
    elif etype == "payment_intent.succeeded":
        outcome = _succeeded(db, obj)
    elif etype == "payment_intent.payment_failed":
        outcome = _payment_failed(db, obj)
    elif etype == "charge.refunded":
        outcome = _refunded(db, obj)
    else:
        outcome = "ignored"
    db["stripe_events"].insert(
        {"id": event_id, "type": etype[:100], "received_at": now_iso(), "outcome": outcome}
    )
    return outcome


def _by_intent(db: Any, intent_id: Any) -> dict[str, Any] | None:
    if not isinstance(intent_id, str) or not intent_id:
        return None
    return next(db.query("SELECT * FROM purchases WHERE payment_intent_id = ?", [intent_id]), None)


def _agrees(p: dict[str, Any], obj: dict[str, Any], *, need_metadata: bool) -> bool:
    """The Stripe object is for this purchase: same purchase id in its metadata (required on
    a PaymentIntent, which we create with it; checked on a Charge when present), and the
    same amount and currency."""
    meta = _get(obj, "metadata", "purchase_id")
    if (meta is not None or need_metadata) and meta != p["id"]:
        return False
    value = obj.get("amount")
    if isinstance(value, bool) or not isinstance(value, int) or value != p["amount_cents"]:
        return False
    currency = obj.get("currency")
    return isinstance(currency, str) and currency.lower() == p["currency"]


def _succeeded(db: Any, intent: dict[str, Any]) -> str:
    p = _by_intent(db, intent.get("id"))
    if p is None:
        return "unknown"
    if not _agrees(p, intent, need_metadata=True):
        return "mismatch"
    if p["status"] == "paid":
        return "duplicate"
    if p["status"] not in ("pending", "failed"):  # refunded before it was fulfilled
        return "ignored"
    now = now_iso()
    db["purchases"].update(p["id"], {"status": "paid", "paid_at": now})
    if p["kind"] == "credits":
        n = ledger.amount(p["credits"], "credits")
        ledger.post(
            db,
            [
                ledger.entry(
                    ledger.credits_account(p["buyer_id"]), n, "digi", "credit_pack",
                    purchase_id=p["id"],
                ),
                ledger.entry(
                    CREDIT_RESERVE, p["amount_cents"], "usd", "credit_pack", purchase_id=p["id"]
                ),
            ],
        )  # fmt: skip
        return "fulfilled"
    listing = _listing(db, p["listing_id"])
    if listing is None:  # listings with purchases are never deleted; be safe all the same
        return "unknown"
    ledger.post(db, _sale_entries(p, listing["creator_id"], p["amount_cents"]))
    _grant(db, p["buyer_id"], p["listing_id"], p["id"])
    return "fulfilled"


def _payment_failed(db: Any, intent: dict[str, Any]) -> str:
    p = _by_intent(db, intent.get("id"))
    if p is None:
        return "unknown"
    if not _agrees(p, intent, need_metadata=True):
        return "mismatch"
    if p["status"] != "pending":  # a later success or a refund stands
        return "ignored"
    db["purchases"].update(p["id"], {"status": "failed"})
    return "failed"


def _refunded(db: Any, charge: dict[str, Any]) -> str:
    p = _by_intent(db, charge.get("payment_intent"))
    if p is None:
        return "unknown"
    if not _agrees(p, charge, need_metadata=False):
        return "mismatch"
    if charge.get("refunded") is not True or charge.get("amount_refunded") != p["amount_cents"]:
        return "ignored"  # a partial refund: see the module docstring
    if p["status"] == "refunded":
        return "duplicate"
    now = now_iso()
    if p["status"] != "paid":  # refunded before the success event came: never grant it
        db["purchases"].update(p["id"], {"status": "refunded", "refunded_at": now})
        return "refunded"
    if p["kind"] == "credits":
        _reverse_credit_pack(db, p)
    else:
        _reverse_sale(db, p)
    db["purchases"].update(p["id"], {"status": "refunded", "refunded_at": now})
    return "refunded"


def _reverse_sale(db: Any, p: dict[str, Any]) -> None:
    rows = db.execute(
        "SELECT account, amount, currency, listing_id FROM ledger "
        "WHERE purchase_id = ? AND kind = 'sale'",
        [p["id"]],
    ).fetchall()
    entries, shortfall = [], 0
    ids = {"purchase_id": p["id"], "listing_id": p["listing_id"]}
    for account, value, currency, _ in rows:
        take = value
        if account.startswith("creator:"):
            take = min(value, max(0, ledger.balance(db, account, currency)))
            shortfall += value - take
        entries.append(ledger.entry(account, -take, currency, "refund", **ids))
    if shortfall:
        entries.append(ledger.entry(PLATFORM, -shortfall, "usd", "refund", **ids))
    ledger.post(db, entries)
    # the entitlement goes unless the buyer paid for the listing again in another purchase
    other = db.execute(
        "SELECT id FROM purchases WHERE buyer_id = ? AND listing_id = ? AND status = 'paid' "
        "AND id != ? ORDER BY paid_at DESC LIMIT 1",
        [p["buyer_id"], p["listing_id"], p["id"]],
    ).fetchone()
    if other is not None:
        db.execute(
            "UPDATE entitlements SET purchase_id = ? WHERE user_id = ? AND listing_id = ?",
            [other[0], p["buyer_id"], p["listing_id"]],
        )
    else:
        db.execute(
            "UPDATE entitlements SET revoked_at = ? WHERE user_id = ? AND listing_id = ? "
            "AND revoked_at IS NULL",
            [now_iso(), p["buyer_id"], p["listing_id"]],
        )
    db.execute("UPDATE listings SET sales = MAX(sales - 1, 0) WHERE id = ?", [p["listing_id"]])


def _reverse_credit_pack(db: Any, p: dict[str, Any]) -> None:
    account = ledger.credits_account(p["buyer_id"])
    back = min(ledger.amount(p["credits"], "credits"), max(0, ledger.balance(db, account, "digi")))
    spent = p["amount_cents"] - back
    ledger.post(
        db,
        [
            ledger.entry(account, -back, "digi", "refund", purchase_id=p["id"]),
            ledger.entry(CREDIT_RESERVE, -back, "usd", "refund", purchase_id=p["id"]),
            ledger.entry(PLATFORM, -spent, "usd", "refund", purchase_id=p["id"]),
        ],
    )


def status(db: Any, purchase_id: str, buyer_id: str) -> dict:
    """A purchase as its buyer sees it; NotFound for anyone else's (or none)."""
    p = _purchase(db, purchase_id)
    if p is None or p["buyer_id"] != buyer_id:
        raise NotFound("no such purchase")
    answer = {
        k: p[k]
        for k in (
            "id", "status", "kind", "listing_id", "credits", "amount_cents", "currency",
            "method", "created_at", "paid_at", "refunded_at",
        )
    }  # fmt: skip
    answer["owned"] = p["kind"] == "asset" and owns(db, buyer_id, p["listing_id"])
    if p["kind"] == "credits":
        answer["balance"] = credits(db, buyer_id)
    return answer
