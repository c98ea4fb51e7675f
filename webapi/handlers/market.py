"""HTTP for the marketplace, `/api/marketplace/...` (docs/API.md "Marketplace",
docs/MARKETPLACE.md): `setup` registers the routes of its three parts (market_catalog:
browsing, ratings, downloads; market_sell: creators; market_pay: purchases and Stripe's
webhook), seeds Digi's own items on start, and gives webapi/app.py what live sessions wear
from the market (`try_on_item`, `owned_items`). The domain is webapi/market/."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from streaming.market_items import MarketItem
from webapi import security
from webapi.errors import Invalid
from webapi.handlers import market_catalog as catalog
from webapi.handlers import market_pay as pay
from webapi.handlers import market_sell as sell
from webapi.handlers import market_styles as styles
from webapi.handlers.identity import identify
from webapi.handlers.market_base import (
    INFLIGHT_PAYOUTS,
    MARKET_ROOT,
    PAYMENTS,
    PREFIX,
    PREVIEWS,
    SIGNING_KEY,
    Previews,
    blocking,
    load_signing_key,
    raw_listing,
)
from webapi.handlers.market_spec import OPENAPI_PATHS, OPENAPI_SCHEMAS
from webapi.handlers.pagecache import PageCache
from webapi.handlers.request import store_of
from webapi.market import listings, purchases, seed
from webapi.market.payments import Payments

__all__ = [
    "MARKET_ROOT", "OPENAPI_PATHS", "OPENAPI_SCHEMAS", "PAYMENTS", "PREVIEWS", "owned_items",
    "preview_kwargs", "puppet_kwargs", "setup", "try_on_item",
]  # fmt: skip

log = logging.getLogger(__name__)
# the marketplace's pages (webapi/app.py serves them): their CSP lets Stripe.js in
PAGES = ("/market", "/market/dashboard", "/market/{id}")


def setup(
    app: web.Application, root: Path, payments: Payments, *, render_previews: bool = True
) -> None:
    """The market's routes on `app`; its files under `root` (out/market: each listing's
    files and previews, and the key that signs download links), Stripe through `payments`
    (not configured: paid purchases answer 503, everything else works)."""
    app[MARKET_ROOT] = root
    app[PAYMENTS] = payments
    app[SIGNING_KEY] = load_signing_key(root)
    app[PREVIEWS] = Previews(root, enabled=render_previews)
    app[INFLIGHT_PAYOUTS] = set()
    app[catalog.SEARCHES] = PageCache(512)  # the front page and popular searches, encoded
    pages = {route: stripe_sources(payments) for route in PAGES}
    app[security.PAGE_SOURCES] = {**app.get(security.PAGE_SOURCES, {}), **pages}
    app.on_startup.append(_seed)
    app.on_cleanup.append(_stop_previews)
    r, p = app.router, PREFIX
    r.add_get(f"{p}/assets", catalog.search_listings)
    r.add_post(f"{p}/assets", sell.upload)
    r.add_get(f"{p}/assets/{{id}}", catalog.get_listing)
    r.add_patch(f"{p}/assets/{{id}}", sell.edit)
    r.add_delete(f"{p}/assets/{{id}}", sell.delete)
    r.add_post(f"{p}/assets/{{id}}/publish", sell.publish)
    r.add_post(f"{p}/assets/{{id}}/unpublish", sell.unpublish)
    for name in catalog.FILES:
        r.add_get(f"{p}/assets/{{id}}/{name}", _file(name))
    r.add_post(f"{p}/assets/{{id}}/rating", catalog.rate)
    r.add_post(f"{p}/assets/{{id}}/download", catalog.download_link)
    r.add_get(f"{p}/downloads/{{id}}", catalog.download)
    r.add_post(f"{p}/purchase", pay.purchase)
    r.add_post(f"{p}/credits", pay.buy_credits)
    r.add_get(f"{p}/purchases/{{id}}", pay.purchase_status)
    r.add_post(f"{p}/webhook", pay.webhook)
    r.add_get(f"{p}/owned", catalog.owned)
    r.add_post(f"{p}/creator", sell.become_creator)
    r.add_post(f"{p}/creator/connect", sell.connect)
    r.add_get(f"{p}/dashboard", sell.dashboard)
    r.add_post(f"{p}/payouts", sell.request_payout)
    r.add_get(f"{p}/styles", styles.list_styles)  # what /create offers: built-in + owned packs
    styles.install(app)  # generation accepts the style packs a caller owns or made


def stripe_sources(payments: Payments) -> dict[str, str]:
    """What the market's pages load from Stripe, for their Content-Security-Policy: Stripe.js
    (script, and the frames of its Payment Element) from its origin, and the API it calls.
    Against the fake Stripe (test mode) all of it is the fake's one origin; against Stripe,
    js.stripe.com, api.stripe.com and hooks.stripe.com (3-D Secure frames), as Stripe's CSP
    guide lists."""
    js = _origin(payments.js_url)
    if payments.api_base:
        api = _origin(payments.api_base)
        frames = js
    else:
        api, frames = "https://api.stripe.com", f"{js} https://hooks.stripe.com"
    connect = js if api == js else f"{js} {api}"
    return {"script-src": js, "frame-src": frames, "connect-src": connect}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _file(name: str):
    async def handler(request: web.Request) -> web.StreamResponse:
        return await catalog.listing_file(request, name)

    return handler


async def _seed(app: web.Application) -> None:
    """Digi's own items, listed free by the Digigami creator (idempotent: cheap when a
    database has them already). Runs after the store's start (registered after it)."""
    from webapi.app import STORE  # webapi.app imports this module

    items = await blocking(seed.builtin_items)
    added = await app[STORE].write(lambda db: seed.seed(db, items))
    if added:
        log.info("marketplace: listed %d built-in items", added)


async def _stop_previews(app: web.Application) -> None:
    await blocking(app[PREVIEWS].close)


# ---- what live sessions wear from the market (webapi/app.py) --------------------------------


def _item(app: web.Application, row: dict[str, Any]) -> MarketItem:
    content = row.get("content") or {}
    if isinstance(content, str):
        content = json.loads(content)
    files = None if row.get("builtin") else app[MARKET_ROOT] / row["id"]
    return MarketItem(
        id=row["id"], type=row["type"], content=content, files=files, name=row.get("name") or ""
    )


async def try_on_item(request: web.Request, body: dict[str, Any]) -> MarketItem | None:
    """The listing a preview's `"try"` names, as a MarketItem (None without one): published,
    or the caller's own draft; anything else is the same NotFound as a missing listing."""
    lid = body.get("try")
    if lid is None:
        return None
    if not isinstance(lid, str) or not lid:
        raise Invalid('"try" must be a marketplace listing\'s id', field="try")
    viewer = (await identify(request)).user_id
    row = await store_of(request).read(lambda db: listings.row_for_use(db, lid, viewer))
    return _item(request.app, row)


async def owned_items(request: web.Request, user_id: str | None) -> list[MarketItem]:
    """The listings `user_id` owns, as MarketItems (none for a guest)."""
    if user_id is None:
        return []

    def read(db: Any) -> list[dict[str, Any]]:
        rows = (raw_listing(db, lid) for lid in purchases.owned(db, user_id))
        return [r for r in rows if r is not None]

    return [_item(request.app, row) for row in await store_of(request).read(read)]


def preview_kwargs(item: MarketItem | None) -> dict[str, Any]:
    """`SessionManager.open_preview`'s keyword for a try-on; none without one (so a
    preview without an item calls it exactly as before)."""
    return {"try_on": item} if item is not None else {}


def puppet_kwargs(owned: list[MarketItem]) -> dict[str, Any]:
    """`SessionManager.open_puppet`'s keyword for the caller's owned items; none without."""
    return {"owned": owned} if owned else {}
