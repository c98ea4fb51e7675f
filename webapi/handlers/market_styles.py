"""Style packs from the marketplace in avatar generation (webapi/generate.py): the styles a
caller may generate with besides the built-ins, and `GET /api/marketplace/styles`, the list
the /create page shows.

A caller may use an uploaded style pack when they own it (an entitlement not revoked) or
made it (any status: a creator tries their own pack before publishing). A generation
request names it by its listing id or by the pack's style name; the engine knows it by the
listing id (two creators may pick the same style name). A built-in style's listing names a
built-in style, usable by everyone. Anyone else's pack is simply not among a caller's
styles, so naming it is the usual "unknown style" error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web

from webapi.generate import GENERATOR, StylePack
from webapi.handlers.identity import identify
from webapi.handlers.market_base import MARKET_ROOT
from webapi.handlers.request import store_of
from webapi.market.seed import STYLES as BUILTIN_STYLES
from webapi.store import Store


def _packs(db: Any, user_id: str | None) -> list[dict[str, Any]]:
    """Style-pack listings `user_id` may generate with: built-in ones (published), and the
    uploaded ones they own or made; newest first."""
    rows = db.execute(
        "SELECT id, name, description, content, builtin, creator_id FROM listings WHERE type = 'style_pack' "
        "AND ((builtin = 1 AND status = 'published') OR creator_id = ? OR id IN (SELECT "
        "listing_id FROM entitlements WHERE user_id = ? AND revoked_at IS NULL)) "
        "ORDER BY builtin DESC, created_at DESC, id",
        [user_id or "", user_id or ""],
    ).fetchall()
    out = []
    for lid, name, description, content, builtin, creator in rows:
        try:
            c = json.loads(content or "{}")
        except ValueError:
            continue
        if isinstance(c, dict) and isinstance(c.get("style"), str):
            out.append({"id": lid, "name": name, "description": description or "",
                        "content": c, "builtin": bool(builtin),
                        "mine": user_id is not None and creator == user_id})  # fmt: skip
    return out


def style_source(store: Store, root: Path):
    """What generation asks for a caller's extra styles (`Generator.style_packs`)."""

    async def packs(user_id: str | None) -> list[StylePack]:
        found = []
        for p in await store.read(lambda db: _packs(db, user_id)):
            c = p["content"]
            if p["builtin"] or c.get("builtin"):
                found.append(StylePack(p["id"], c["style"], p["name"], None))
            elif isinstance(c.get("file"), str):
                file = root / p["id"] / c["file"]
                found.append(StylePack(p["id"], c["style"], p["name"], file))
        return found

    return packs


def install(app: web.Application) -> None:
    """Let generation (when this app has it, with a database) use the market's style packs."""
    gen = app.get(GENERATOR)
    if gen is not None and gen.db is not None:
        gen.style_packs = style_source(gen.db, app[MARKET_ROOT])


async def list_styles(request: web.Request) -> web.Response:
    """GET /api/marketplace/styles: the styles the caller may generate with: the built-in
    ones, then the style packs they own or made (`id` is what a generation request names)."""
    user_id = (await identify(request)).user_id
    rows = await store_of(request).read(lambda db: _packs(db, user_id))
    builtin_listing = {r["content"]["style"]: r["id"] for r in rows if r["builtin"]}
    styles: list[dict[str, Any]] = [
        {"id": style, "style": style, "name": title.removesuffix(" style"), "description": desc,
         "builtin": True, "listing_id": builtin_listing.get(style), "mine": False}
        for style, (title, desc) in BUILTIN_STYLES.items()
    ]  # fmt: skip
    styles += [
        {"id": r["id"], "style": r["content"]["style"], "name": r["name"],
         "description": r["description"],
         "builtin": False, "listing_id": r["id"], "mine": r["mine"]}
        for r in rows if not r["builtin"] and not r["content"].get("builtin")
    ]  # fmt: skip
    return web.json_response({"styles": styles})
