"""HTTP for buying: a purchase (free and DIGI-credit ones are done at once; a card one gets
a Stripe PaymentIntent whose amount and currency come from our database), credit packs, a
purchase's status, and Stripe's webhook, the only thing that fulfils a card payment."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from webapi.errors import Invalid
from webapi.handlers.identity import require_user
from webapi.handlers.market_base import (
    MAX_JSON,
    MAX_WEBHOOK,
    blocking,
    fields,
    payments_of,
    read_raw,
)
from webapi.handlers.request import json_body, store_of
from webapi.market import purchases

log = logging.getLogger(__name__)
PAY_WITH = ("card", "credits")
# said when a client sends a price: the server never takes one
_OURS = ": the price and currency always come from the listing"


async def purchase(request: web.Request) -> web.Response:
    who = await require_user(request)
    body = fields(await json_body(request, max_bytes=MAX_JSON), {"asset_id", "pay_with"}, _OURS)
    asset_id, pay_with = body.get("asset_id"), body.get("pay_with", "card")
    if not isinstance(asset_id, str) or not asset_id:
        raise Invalid('"asset_id" must be a listing\'s id', field="asset_id")
    if pay_with not in PAY_WITH:
        raise Invalid('"pay_with" must be "card" or "credits"', field="pay_with")
    started = await store_of(request).write(
        lambda db: purchases.start(db, listing_id=asset_id, buyer_id=who.user_id,
                                   pay_with=pay_with)
    )  # fmt: skip
    if started["status"] != "pending":
        return web.json_response(started)
    return web.json_response(await _with_intent(request, started))


async def buy_credits(request: web.Request) -> web.Response:
    who = await require_user(request)
    body = fields(await json_body(request, max_bytes=MAX_JSON), {"pack"}, _OURS)
    pack = body.get("pack")
    if not isinstance(pack, str):
        packs = ", ".join(f'"{p}"' for p in purchases.CREDIT_PACKS)
        raise Invalid(f'"pack" must be one of {packs}', field="pack")
    started = await store_of(request).write(
        lambda db: purchases.start_credit_pack(db, buyer_id=who.user_id, pack=pack)
    )
    return web.json_response(await _with_intent(request, started))


async def _with_intent(request: web.Request, started: dict[str, Any]) -> dict[str, Any]:
    """A Stripe PaymentIntent for a pending purchase (our amount and currency), attached to
    it; the answer adds what Stripe.js needs. When none can be made (PaymentsNotConfigured
    without keys: a 503 saying so) the purchase is marked failed (a later attempt starts a
    new one) and the error answered."""
    payments, store, pid = payments_of(request), store_of(request), started["purchase_id"]
    try:
        intent = await blocking(
            lambda: payments.create_intent(
                amount=started["amount_cents"], currency=started["currency"], purchase_id=pid
            )
        )
    except BaseException:
        await asyncio.shield(store.write(lambda db: _failed(db, pid)))
        raise
    await store.write(lambda db: purchases.attach_intent(db, pid, intent["id"]))
    return {
        **started,
        "payment_intent_id": intent["id"],
        "client_secret": intent["client_secret"],
        "publishable_key": payments.publishable_key,
        "stripe_js": payments.js_url,
    }


def _failed(db: Any, purchase_id: str) -> None:
    db.execute(
        "UPDATE purchases SET status = 'failed' WHERE id = ? AND status = 'pending'",
        [purchase_id],
    )


async def purchase_status(request: web.Request) -> web.Response:
    who = await require_user(request)
    pid = request.match_info["id"]
    return web.json_response(
        await store_of(request).read(lambda db: purchases.status(db, pid, who.user_id))
    )


async def webhook(request: web.Request) -> web.Response:
    """Stripe's events: verified (signature and timestamp) before anything is read from
    them, then fulfilled in one transaction, at most once per event id. Every verified
    event answers 200 with its outcome (a duplicate or an unknown purchase too: Stripe
    must stop retrying); a bad signature is a 400 and changes nothing."""
    raw = await read_raw(request, MAX_WEBHOOK, "a webhook event")
    event = payments_of(request).verify(raw, request.headers.get("Stripe-Signature"))
    outcome = await asyncio.shield(store_of(request).write(lambda db: purchases.fulfil(db, event)))
    log.info("stripe event %s (%s): %s", event.get("id"), event.get("type"), outcome)
    return web.json_response({"outcome": outcome})
