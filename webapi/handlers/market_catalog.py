"""HTTP for browsing the marketplace: search, one listing, its preview pictures, ratings,
what the caller owns, and downloads (a signed, short-lived URL, then the package). The
rules (who sees a draft, who may rate) are webapi/market/listings.py's and purchases.py's."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from aiohttp import web

from engine.assets import ROOT
from webapi.errors import Forbidden, Invalid, NotFound
from webapi.handlers.identity import identify, require_user
from webapi.handlers.market_base import (
    MAX_JSON,
    PREVIEWS,
    SIGNING_KEY,
    blocking,
    check_download,
    fields,
    not_found,
    raw_listing,
    root_of,
    sign_download,
)
from webapi.handlers.pagecache import PageCache
from webapi.handlers.request import json_body, store_of
from webapi.market import assets, listings, purchases, search
from webapi.store import now_iso

# the thumbnails of Digi's own items, shipped so a fresh market shows them at once
BUNDLED_THUMBS = ROOT / "content" / "market"
# the preview files a listing may have, by the name they are served as
FILES = {
    "thumbnail.png": ("thumb.png", "image/png"),
    "preview.png": ("preview.png", "image/png"),
    "preview.webm": ("preview.webm", "video/webm"),
}


def with_preview_state(request: web.Request, listing: dict[str, Any]) -> dict[str, Any]:
    """A listing's answer with `preview_ready`: its preview picture has been rendered."""
    return {**listing, "preview_ready": request.app[PREVIEWS].ready(listing["id"])}


SEARCHES = web.AppKey("market_searches", PageCache)


async def search_listings(request: web.Request) -> web.Response:
    query = search.parse_query(request.query)  # parsed: equal searches share one entry
    store = store_of(request)
    commits = store.commits  # read before the rows: a write meanwhile makes the page stale
    body = request.app[SEARCHES].get((query,), commits)
    if body is None:
        found = await store.read(lambda db: search.search(db, query))
        body = json.dumps(found, separators=(",", ":")).encode()
        request.app[SEARCHES].put((query,), commits, body)
    return web.Response(
        body=body, content_type="application/json", headers={"Cache-Control": "no-cache"}
    )


async def get_listing(request: web.Request) -> web.Response:
    lid = request.match_info["id"]
    viewer = (await identify(request)).user_id
    listing = await store_of(request).read(lambda db: listings.get(db, lid, viewer))
    return web.json_response(with_preview_state(request, listing))


async def listing_file(request: web.Request, name: str) -> web.StreamResponse:
    """A listing's thumbnail, preview picture or clip, for whoever may see the listing. One
    not rendered yet is queued for rendering (a 404 meanwhile: the page shows a stand-in)."""
    lid = request.match_info["id"]
    viewer = (await identify(request)).user_id
    store = store_of(request)
    await store.read(lambda db: listings.get(db, lid, viewer))  # NotFound when not theirs
    stored, media = FILES[name]
    path = root_of(request) / lid / stored
    if not path.is_file():
        row = await store.read(lambda db: raw_listing(db, lid))
        bundled = BUNDLED_THUMBS / f"{lid}.png"
        if name == "thumbnail.png" and row is not None and row["builtin"] and bundled.is_file():
            path = bundled  # Digi's own items (content/build/market_thumbs.py): no render
        else:
            if row is not None and name != "preview.webm":
                request.app[PREVIEWS].schedule(lid, row["type"], row["content"])
            raise NotFound(f"the {name} of this listing is not rendered (yet)")
    return web.FileResponse(
        path, headers={"Content-Type": media, "Cache-Control": "private, max-age=300"}
    )


async def rate(request: web.Request) -> web.Response:
    who = await require_user(request)
    body = fields(await json_body(request, max_bytes=MAX_JSON), {"stars"})
    stars = body.get("stars")
    if isinstance(stars, bool) or not isinstance(stars, int):
        raise Invalid('"stars" must be a whole number from 1 to 5', field="stars")
    lid = request.match_info["id"]
    rated = await store_of(request).write(lambda db: listings.rate(db, lid, who.user_id, stars))
    return web.json_response(rated)


async def owned(request: web.Request) -> web.Response:
    """The caller's owned listings (also ones unpublished since they bought them) and their
    DIGI credits."""
    who = await require_user(request)

    def read(db: Any) -> dict[str, Any]:
        items = []
        for lid in purchases.owned(db, who.user_id):
            row = raw_listing(db, lid, parse=False)
            if row is not None:
                items.append({**listings.public(row), "owned": True})
        return {"items": items, "credits": purchases.credits(db, who.user_id)}

    return web.json_response(await store_of(request).read(read))


async def download_link(request: web.Request) -> web.Response:
    """A signed URL to the package, for a buyer (an entitlement held) or its creator."""
    who = await require_user(request)
    lid = request.match_info["id"]
    await store_of(request).read(lambda db: _may_download(db, lid, who.user_id))
    return web.json_response(sign_download(request.app[SIGNING_KEY], lid, who.user_id))


def _may_download(db: Any, listing_id: str, user_id: str) -> dict[str, Any]:
    """The listing's row when `user_id` may download it; NotFound otherwise (a non-buyer
    learns nothing about a draft's existence)."""
    row = raw_listing(db, listing_id)
    if row is None:
        raise not_found(listing_id)
    if row["creator_id"] == user_id or purchases.owns(db, user_id, listing_id):
        return row
    if row["status"] != "published":
        raise not_found(listing_id)
    raise Forbidden(
        "only its buyers and its creator may download this listing: buy it first "
        "(POST /api/marketplace/purchase)"
    )


async def download(request: web.Request) -> web.Response:
    """The package of a signed URL (checked again: a refund since the link was made
    withdraws it); counts one download."""
    lid = request.match_info["id"]
    user = check_download(request.app[SIGNING_KEY], lid, request.query)
    store = store_of(request)
    row = await store.read(lambda db: _may_download(db, lid, user))
    data = await blocking(_package, root_of(request) / lid, row)
    await store.write(lambda db: _count_download(db, lid, user))
    return web.Response(
        body=data,
        content_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{lid}.zip"',
            "Cache-Control": "private, no-store",
        },
    )


def _count_download(db: Any, listing_id: str, user_id: str) -> None:
    db.execute(
        "INSERT INTO downloads (listing_id, user_id, created_at) VALUES (?, ?, ?)",
        [listing_id, user_id, now_iso()],
    )
    db.execute("UPDATE listings SET downloads = downloads + 1 WHERE id = ?", [listing_id])


def _package(folder: Path, row: dict[str, Any]) -> bytes:
    """The listing's package: the zip as uploaded (webapi/market/assets.py keeps it) or,
    for a built-in item, its manifest (with the content the engine reads) and any stored
    files, under the names the content refers to ("files/...")."""
    uploaded = folder / assets.PACKAGE
    if uploaded.is_file():
        return uploaded.read_bytes()
    files = folder / "files"
    manifest = {**(row.get("manifest") or {}), "content": row.get("content") or {}}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
        if files.is_dir():
            for path in sorted(files.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    z.write(path, "files/" + path.relative_to(files).as_posix())
    return buf.getvalue()
