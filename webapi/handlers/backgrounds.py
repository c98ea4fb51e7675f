"""HTTP for scene backgrounds: `/api/backgrounds` (the bundled ones plus the caller's own
uploads; POST uploads one) and `/api/backgrounds/{id}` (the picture; DELETE removes an
upload). Who the caller is decides what they see: a signed-in account's uploads, or a
guest's (the guest cookie, minted by an upload when missing). Checks and storage are
webapi/library/backgrounds.py's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from webapi import guests
from webapi.errors import TooLarge
from webapi.handlers.identity import identify
from webapi.handlers.spec import OPTIONAL, errors, json_answer
from webapi.library.backgrounds import FORMATS, LIMITS, Backgrounds

BACKGROUNDS = web.AppKey("backgrounds", Backgrounds)
BODY_TYPES = frozenset(FORMATS.values())  # webapi/security.py lets only these through


def library(request: web.Request) -> Backgrounds:
    return request.app[BACKGROUNDS]


async def owner_of(request: web.Request) -> str | None:
    """The account or guest whose uploads the request sees (None: a visitor without any)."""
    return (await identify(request)).owner


async def list_backgrounds(request: web.Request) -> web.Response:
    owner = await owner_of(request)
    found = await asyncio.get_running_loop().run_in_executor(None, library(request).list, owner)
    return web.json_response(
        {"backgrounds": found, "limits": {"max_bytes": LIMITS.max_bytes,
         "max_pixels": LIMITS.max_pixels, "per_owner": LIMITS.per_owner,
         "types": sorted(BODY_TYPES)}},
        headers={"Cache-Control": "no-cache"},
    )  # fmt: skip


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, refused as soon as it passes `limit` (the app's own body cap is for
    JSON; a picture is read here, in chunks, without trusting Content-Length)."""
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"the picture is over {limit // (1024 * 1024)} MB")
    chunks, size = [], 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the picture is over {limit // (1024 * 1024)} MB")
        chunks.append(chunk)
    return b"".join(chunks)


async def upload_background(request: web.Request) -> web.Response:
    who = await identify(request)
    client = None
    owner = who.owner
    if owner is None:  # a first-time guest: their uploads need an identity to belong to
        client = guests.identify(request)
        owner = client.owner
    name = request.query.get("name")
    data = await _read_body(request, library(request).limits.max_bytes)
    saved = await asyncio.get_running_loop().run_in_executor(
        None, library(request).save, owner, data, name
    )
    response = web.json_response(saved, status=201)
    if client is not None:
        guests.remember(response, request, client)
    return response


async def get_background(request: web.Request) -> web.StreamResponse:
    bid = request.match_info["id"]
    path, media = library(request).file(await owner_of(request), bid)
    private = not path.is_relative_to(library(request).bundled)
    return web.FileResponse(
        path,
        headers={
            "Content-Type": media,
            "Cache-Control": "private, max-age=3600" if private else "public, max-age=86400",
        },
    )


async def delete_background(request: web.Request) -> web.Response:
    bid = request.match_info["id"]
    owner = await owner_of(request)
    await asyncio.get_running_loop().run_in_executor(None, library(request).delete, owner, bid)
    return web.json_response({"deleted": bid})


def scene_owner(request: web.Request, owner: str | None) -> tuple[str, guests.Client | None]:
    """Whose backgrounds a new live session may use: `owner` (the account or guest), or
    for a visitor without a guest cookie a guest made here (returned too: the answer must
    set its cookie), so pictures they upload from the page belong to the session's owner.
    The session gets them from the manager (`scene_backgrounds`)."""
    if owner is not None:
        return owner, None
    minted = guests.identify(request)
    return minted.owner, minted


def scene_backgrounds(
    library: Backgrounds,
) -> Callable[[str | None], tuple[Callable[[str], Any], dict[str, str]]]:
    """What a SessionManager gives a new puppet session (`scene_backgrounds`): the loader
    of the pictures `owner` may show and their names (streaming/live.py
    `LiveSession.backgrounds`). Blocking: it lists the owner's uploads."""

    def scene(owner: str | None) -> tuple[Callable[[str], Any], dict[str, str]]:
        names = {b["id"]: b["name"] for b in library.list(owner)}
        return library.resolver(owner), names

    return scene


def setup(app: web.Application, root: Path) -> None:
    app[BACKGROUNDS] = Backgrounds(root)
    r = app.router
    r.add_get("/api/backgrounds", list_backgrounds)
    r.add_post("/api/backgrounds", upload_background)
    r.add_get("/api/backgrounds/{id}", get_background)
    r.add_delete("/api/backgrounds/{id}", delete_background)


# ---- /api/openapi.json ----------------------------------------------------------------------

OPENAPI_SCHEMAS: dict[str, Any] = {
    "Background": {
        "type": "object",
        "required": ["id", "name", "kind", "url"],
        "properties": {
            "id": {
                "type": "string",
                "description": "what a scene's \"image\" names: a bundled background's name "
                '("night-sky"), or an upload\'s "u" and 20 hex digits',
            },
            "name": {"type": "string"},
            "kind": {"enum": ["bundled", "upload"]},
            "url": {"type": "string", "description": "the picture (GET)"},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
        },
    },
    "BackgroundList": {
        "type": "object",
        "required": ["backgrounds", "limits"],
        "properties": {
            "backgrounds": {"type": "array", "items": {"$ref": "#/components/schemas/Background"}},
            "limits": {"type": "object"},
        },
    },
}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_PICTURE = {
    "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in sorted(BODY_TYPES)}
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/backgrounds": {
        "get": {
            "tags": ["backgrounds"],
            "summary": "The bundled scene backgrounds, then the caller's own uploads",
            "security": OPTIONAL,
            "responses": {"200": json_answer("BackgroundList", "the backgrounds")},
        },
        "post": {
            "tags": ["backgrounds"],
            "summary": "Upload a background picture (PNG, JPEG or WebP; at most 10 MB and "
            "40 megapixels); it is re-encoded, and private to the caller (an account, or "
            "the guest the cookie names: a guest without one is given one)",
            "security": OPTIONAL,
            "parameters": [
                {"name": "name", "in": "query", "schema": {"type": "string", "maxLength": 60}}
            ],
            "requestBody": {"required": True, **_PICTURE},
            "responses": {
                "201": json_answer("Background", "the stored background"),
                **errors(400, 409, 413, 415),
            },
        },
    },
    "/api/backgrounds/{id}": {
        "get": {
            "tags": ["backgrounds"],
            "summary": "A background's picture (another owner's upload: 404)",
            "security": OPTIONAL,
            "parameters": [_ID],
            "responses": {
                "200": {"description": "the picture", **_PICTURE},
                **errors(404),
            },
        },
        "delete": {
            "tags": ["backgrounds"],
            "summary": "Delete one of the caller's uploads",
            "security": OPTIONAL,
            "parameters": [_ID],
            "responses": {
                "200": {
                    "description": "deleted",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                **errors(403, 404),
            },
        },
    },
}
