"""HTTP for the marketplace's creators: becoming one, uploading a package (a zip, checked
by webapi/market/packages.py and assets.py), editing, publishing and deleting listings,
connecting a Stripe account, the dashboard and payouts."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from webapi.errors import Conflict, DomainError, Invalid
from webapi.handlers.identity import require_user
from webapi.handlers.market_base import (
    INFLIGHT_PAYOUTS,
    MAX_JSON,
    PREVIEWS,
    blocking,
    creator_row,
    fields,
    payments_of,
    read_raw,
    require_creator,
    root_of,
)
from webapi.handlers.market_catalog import with_preview_state
from webapi.handlers.request import json_body, store_of
from webapi.market import analytics, assets, listings, packages, payouts
from webapi.market.packages import LIMITS

log = logging.getLogger(__name__)
EDITABLE = {"name", "description", "tags", "price_cents", "currency", "compatibility"}


class PayoutFailed(DomainError):
    """Stripe did not take the transfer: nothing was paid out, the amount is available
    again."""

    status = 503


async def become_creator(request: web.Request) -> web.Response:
    who = await require_user(request)
    body = fields(await json_body(request, max_bytes=MAX_JSON), {"display_name"})
    name = body.get("display_name", who.username)
    if not isinstance(name, str):
        raise Invalid('"display_name" must be a string', field="display_name")
    creator = await store_of(request).write(
        lambda db: listings.ensure_creator(db, who.user_id, name)
    )
    return web.json_response(creator)


async def upload(request: web.Request) -> web.Response:
    """A package (the zip as the body) becomes a draft listing. Nothing is half-stored: the
    files are written (atomically) before the listing row, and removed again when the row
    cannot be written; the client going away in between changes nothing of that."""
    who = await require_user(request)
    data = await read_raw(request, LIMITS.max_upload, "the package")
    pkg = await blocking(packages.read_package, data)
    manifest, content = await blocking(assets.validate, pkg)
    root, store = root_of(request), store_of(request)
    listing_id = listings.new_listing_id()

    async def keep() -> dict[str, Any]:
        size = await blocking(assets.store_listing_files, root, listing_id, pkg, content)
        try:
            return await store.write(
                lambda db: _create(db, who.user_id, who.username or "", listing_id, manifest,
                                   content, size)
            )  # fmt: skip
        except BaseException:
            await blocking(assets.remove_listing_files, root, listing_id)
            raise

    listing = await asyncio.shield(asyncio.ensure_future(keep()))
    request.app[PREVIEWS].schedule(listing_id, listing["type"], content)
    return web.json_response(
        with_preview_state(request, listing),
        status=201,
        headers={"Location": f"/api/marketplace/assets/{listing_id}"},
    )


def _create(
    db: Any, user_id: str, username: str, listing_id: str, manifest: dict[str, Any],
    content: dict[str, Any], size: int,
) -> dict[str, Any]:  # fmt: skip
    if creator_row(db, user_id) is None:  # uploading makes one a creator
        listings.ensure_creator(db, user_id, username)
    return listings.create_draft(
        db,
        listing_id=listing_id,
        creator_id=user_id,
        type=manifest["type"],
        name=manifest["name"],
        description=manifest.get("description", ""),
        tags=list(manifest.get("tags", [])),
        price_cents=manifest["price_cents"],
        currency=manifest["currency"],
        compatibility=list(manifest.get("compatibility", [])),
        manifest=manifest,
        content=content,
        size_bytes=size,
    )


async def edit(request: web.Request) -> web.Response:
    who = await require_user(request)
    body = fields(await json_body(request, max_bytes=MAX_JSON), EDITABLE)
    lid = request.match_info["id"]
    listing = await store_of(request).write(lambda db: listings.update(db, lid, who.user_id, body))
    return web.json_response(with_preview_state(request, listing))


def _status_route(status: str):
    async def handler(request: web.Request) -> web.Response:
        who = await require_user(request)
        lid = request.match_info["id"]
        listing = await store_of(request).write(
            lambda db: listings.set_status(db, lid, who.user_id, status)
        )
        return web.json_response(with_preview_state(request, listing))

    return handler


publish = _status_route("published")
unpublish = _status_route("unpublished")


async def delete(request: web.Request) -> web.Response:
    who = await require_user(request)
    lid = request.match_info["id"]
    await store_of(request).write(lambda db: listings.delete_draft(db, lid, who.user_id))
    await blocking(assets.remove_listing_files, root_of(request), lid)
    return web.json_response({"deleted": lid})


async def connect(request: web.Request) -> web.Response:
    """The creator's Stripe Connect account, made on the first call (payouts go there), and
    whether it can receive transfers yet: until its owner finishes Stripe's onboarding it
    cannot, and the answer carries a fresh onboarding link (links are single-use and expire
    within minutes, so one is made per call, never stored)."""
    from webapi.accounts.users import get_user

    who = await require_user(request)
    store, payments = store_of(request), payments_of(request)
    creator = await store.read(lambda db: require_creator(db, who.user_id))
    account = creator["connect_account_id"]
    if not account:
        user = await get_user(store, who.user_id)
        email = user.email if user is not None else ""
        made = await blocking(lambda: payments.connect_account(email=email, creator_id=who.user_id))
        account = await store.write(lambda db: _keep_account(db, who.user_id, made))
    ready = await blocking(lambda: payments.account_ready(account))
    url = None
    if not ready:
        back = f"{_origin(request)}/market/dashboard"
        url = await blocking(
            lambda: payments.onboarding_link(
                account, f"{back}?payouts=ready", f"{back}?payouts=refresh"
            )
        )
    return web.json_response({"connect_account_id": account, "ready": ready, "onboarding_url": url})


def _origin(request: web.Request) -> str:
    """Where Stripe sends the creator back to: the page's own origin (the security
    middleware has refused a POST from any origin not ours), else this server's URL."""
    return request.headers.get("Origin") or str(request.url.origin())


def _keep_account(db: Any, user_id: str, account: str) -> str:
    """Store the account unless a concurrent call stored one first (that one wins)."""
    db.execute(
        "UPDATE creators SET connect_account_id = ? "
        "WHERE user_id = ? AND connect_account_id IS NULL",
        [account, user_id],
    )
    found = creator_row(db, user_id)
    return found["connect_account_id"] if found else account


async def dashboard(request: web.Request) -> web.Response:
    who = await require_user(request)
    since, until = request.query.get("since") or None, request.query.get("until") or None

    def read(db: Any) -> dict[str, Any]:
        require_creator(db, who.user_id)
        return analytics.dashboard(db, who.user_id, since, until)

    return web.json_response(await store_of(request).read(read))


async def request_payout(request: web.Request) -> web.Response:
    """Reserve the amount (refused above the available balance), then send the Transfer
    (idempotency key = the payout's id). The same request_key answers the same payout and
    never sends a second transfer."""
    who = await require_user(request)
    body = fields(await json_body(request, max_bytes=MAX_JSON), {"amount_cents", "request_key"})
    store = store_of(request)
    await _require_ready(request, who.user_id, body.get("request_key"))
    payout = await store.write(
        lambda db: payouts.request(db, creator_id=who.user_id,
                                   amount_cents=body.get("amount_cents"),
                                   request_key=body.get("request_key"))
    )  # fmt: skip
    inflight = request.app[INFLIGHT_PAYOUTS]
    if payout["status"] != "pending" or payout["id"] in inflight:
        return web.json_response(payout)  # done already, or being sent by its twin
    inflight.add(payout["id"])  # until the transfer is settled, even if this client leaves
    sending = asyncio.ensure_future(_send(request, payout, payout["destination"]))
    sending.add_done_callback(lambda _: inflight.discard(payout["id"]))
    return web.json_response(await asyncio.shield(sending))


async def _require_ready(request: web.Request, user_id: str, request_key: Any) -> None:
    """Refuse (409, before any ledger entry) a new payout to a Connect account that cannot
    receive transfers yet: Stripe would refuse the transfer anyway, after we had reserved the
    amount. A request_key already used answers its payout as before (no check); no account
    or not a creator is left to `payouts.request`, which names those."""

    def read(db: Any) -> str | None:
        creator = creator_row(db, user_id)
        if creator is None or not creator["connect_account_id"]:
            return None
        seen = db.execute(
            "SELECT 1 FROM payouts WHERE creator_id = ? AND request_key = ?",
            [user_id, request_key if isinstance(request_key, str) else ""],
        ).fetchone()
        return None if seen else creator["connect_account_id"]

    account = await store_of(request).read(read)
    if account and not await blocking(lambda: payments_of(request).account_ready(account)):
        raise Conflict(
            'finish setting up payouts with Stripe first: open "Set up payouts with Stripe" '
            "on your dashboard (POST /api/marketplace/creator/connect answers the link)"
        )


async def _send(request: web.Request, payout: dict[str, Any], account: str) -> dict[str, Any]:
    store, pid = store_of(request), payout["id"]
    try:
        transfer = await blocking(
            lambda: payments_of(request).transfer(
                amount=payout["amount_cents"], currency=payout.get("currency", "usd"),
                destination=account, payout_id=pid,
            )
        )  # fmt: skip
    except DomainError as e:  # PaymentsNotConfigured and the like: the payout is undone
        error = str(e)
        await store.write(lambda db: payouts.fail(db, pid, error))
        raise
    except Exception as e:
        log.warning("payout %s: the transfer failed: %s", pid, e)
        error = str(e)[:500]
        await store.write(lambda db: payouts.fail(db, pid, error))
        raise PayoutFailed(
            "Stripe did not accept the transfer, so nothing was paid out and the amount is "
            "available again; try again later"
        ) from None
    return await store.write(lambda db: payouts.complete(db, pid, transfer))
