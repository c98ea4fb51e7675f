"""HTTP for saved avatars: `/api/avatars` and `/api/avatars/{id}`, and the
"My avatars" page at `/library`. Parsing and answering only: ownership, fields and the
customizations format are webapi/library's (avatars.py, customizations.py)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from aiohttp import web

from streaming.live import COLOR_RANGES, Look
from streaming.manager import Resolver
from webapi.errors import Invalid, NotFound
from webapi.handlers.identity import identify
from webapi.handlers.pagecache import PageCache
from webapi.handlers.request import json_body, store_of
from webapi.handlers.spec import body_of, errors, json_answer
from webapi.library import avatars, customizations
from webapi.library.animations import custom_clip
from webapi.library.customizations import MAX_BYTES as MAX_CUSTOMIZATIONS
from webapi.library.files import AvatarStore

MAX_EMOTES = 8  # custom animations one live session can play
_CLIP_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_BODY = 48 * 1024  # a name, two flags and customizations (at most 32 KB normalized)
# body > customizations > poses > [i] > edits > targets > hand_r > [x]: 8
MAX_DEPTH = 10
STATIC = Path(__file__).resolve().parents[1] / "static"
FILES = web.AppKey("avatar_files", AvatarStore)  # generated avatars' files (create_app's)


async def _body(request: web.Request) -> Any:
    return await json_body(request, max_bytes=MAX_BODY, max_depth=MAX_DEPTH)


async def create_avatar(request: web.Request) -> web.Response:
    who = await identify(request)
    body = await _body(request)
    view = await avatars.create(store_of(request), request.app[FILES], who, body)
    return web.json_response(view, status=201, headers={"Location": f"/api/avatars/{view['id']}"})


PAGES = web.AppKey("avatar_pages", PageCache)


async def list_avatars(request: web.Request) -> web.Response:
    who = await identify(request)
    store = store_of(request)
    limit, before = request.query.get("limit", avatars.DEFAULT_LIMIT), request.query.get("before")
    key = (who.user_id, who.guest_id, limit, before)
    # read the counter before the rows: a write that lands meanwhile makes this page stale
    commits = store.commits
    body = request.app[PAGES].get(key, commits)
    if body is None:
        page = await avatars.list_avatars(store, who, limit=limit, before=before)
        body = json.dumps(page, separators=(",", ":")).encode()
        request.app[PAGES].put(key, commits, body)
    return web.Response(body=body, content_type="application/json")


async def get_avatar(request: web.Request) -> web.Response:
    who = await identify(request)
    return web.json_response(await avatars.get(store_of(request), request.match_info["id"], who))


async def patch_avatar(request: web.Request) -> web.Response:
    who = await identify(request)
    body = await _body(request)
    view = await avatars.patch(store_of(request), request.match_info["id"], who, body)
    return web.json_response(view)


async def delete_avatar(request: web.Request) -> web.Response:
    who = await identify(request)
    aid = request.match_info["id"]
    await avatars.delete(store_of(request), request.app[FILES], aid, who)
    return web.json_response({"deleted": aid})


def resolver(request: web.Request, body: Any, *, preview: bool = False) -> Resolver:
    """What a puppet session or preview wears, for `SessionManager` (which awaits it once
    the request's slot is reserved: issue 12's order). `"avatar"`: a saved avatar's id (the
    caller's, or public: its face and customizations; NotFound otherwise) or, as before, a
    generated avatar's id. Custom animations: a preview's `"animation"`, a puppet's
    `"animations"` (a list; each then plays as an emote: `transition` to its id). Their
    shapes are checked now, before any slot is taken."""
    body = body if isinstance(body, dict) else {}
    wanted = body.get("animations", [])
    if not isinstance(wanted, list) or len(wanted) > MAX_EMOTES:
        raise Invalid(f'"animations" must be a list of at most {MAX_EMOTES} custom animation ids')
    for i, clip_id in enumerate(wanted):
        if not isinstance(clip_id, str) or not _CLIP_ID.match(clip_id):
            raise Invalid(f"animations[{i}] must be a custom animation's id (32 hex digits)")
    clip_ids = list(dict.fromkeys(wanted))
    if preview and isinstance(body.get("animation"), str) and _CLIP_ID.match(body["animation"]):
        clip_ids.append(body["animation"])
    avatar = body.get("avatar")
    store = store_of(request)

    async def resolve() -> Look | None:
        # who asks matters only for what they own (and costs a store read for a cookie)
        mine = avatars.is_saved_id(avatar) or clip_ids
        who = await identify(request) if mine else None
        if who is not None and avatars.is_saved_id(avatar):
            look = await avatars.avatar_for_session(store, avatar, who)
        else:  # a generated avatar's id (checked by the manager), or the bare rig
            opts = await customizations.options(avatars.DEFAULT_RIG)
            face = avatar if isinstance(avatar, str) else None
            look = Look(face=face, groups=dict(opts.groups))
        if not clip_ids:
            return look
        clips, names = {}, {}
        for clip_id in clip_ids:
            clip = await custom_clip(store, clip_id, who.user_id if who else None)
            if clip is None or clip.rig != avatars.DEFAULT_RIG:
                raise NotFound(f'no animation "{clip_id}"')
            clips[clip_id], names[clip_id] = clip.definition, clip.name
        return dataclasses.replace(look, clips=clips, names=names)

    return resolve


async def library_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "library.html", headers={"Cache-Control": "no-cache"})


def setup(app: web.Application) -> None:
    app[PAGES] = PageCache()
    r = app.router
    r.add_post("/api/avatars", create_avatar)
    r.add_get("/api/avatars", list_avatars)
    r.add_get("/api/avatars/{id}", get_avatar)
    r.add_route("PATCH", "/api/avatars/{id}", patch_avatar)
    r.add_delete("/api/avatars/{id}", delete_avatar)
    r.add_get("/library", library_page)


# ---- /api/openapi.json ----------------------------------------------------------------------

_COLOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        k: {"type": "number", "minimum": lo, "maximum": hi} for k, (lo, hi) in COLOR_RANGES.items()
    },
}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "Customizations": {
        "type": "object",
        "additionalProperties": False,
        "description": 'What the engine applies (docs/API.md, "Customizations"); checked '
        "against the rig: an error names the path (customizations.colors.body.hue). At most "
        f"{MAX_CUSTOMIZATIONS} bytes as JSON.",
        "properties": {
            "library": {
                "type": "string",
                "description": "the rig's sprite library: base, or a variant (winter)",
                "examples": ["winter"],
            },
            "sprites": {
                "type": "object",
                "description": "sprite category -> label (outfit, accessories, body for digi)",
                "additionalProperties": {"type": "string"},
            },
            "colors": {
                "type": "object",
                "description": '"avatar" (the whole avatar), a sprite category (its slots) or '
                "a part of rigs/<rig>/parts.json (hair, eyes, skin) -> colour filter",
                "additionalProperties": _COLOR,
            },
            "accessories": {
                "type": "object",
                "description": "accessory bone (glasses, hat, scarf_1..3 for digi) -> offset",
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "x": {"type": "number", "minimum": -200, "maximum": 200},
                        "y": {"type": "number", "minimum": -200, "maximum": 200},
                        "rotation": {"type": "number", "minimum": -180, "maximum": 180},
                        "scale": {"type": "number", "minimum": 0.25, "maximum": 4},
                    },
                },
            },
            "expressions": {
                "type": "array",
                "maxItems": 32,
                "description": "named parameter sets the puppet page toggles by hotkey",
                "items": {
                    "type": "object",
                    "required": ["name", "values"],
                    "properties": {
                        "name": {"type": "string", "maxLength": 40},
                        "values": {"type": "object", "additionalProperties": {"type": "number"}},
                        "hotkey": {"type": "string", "examples": ["Digit1", "Ctrl+Shift+KeyE"]},
                        "fade": {"type": "number", "minimum": 0, "maximum": 5},
                    },
                },
            },
            "poses": {
                "type": "array",
                "maxItems": 32,
                "description": "named pose edits (bones, targets, offsets) of the pose editor",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "maxLength": 40},
                        "edits": {"type": "object"},
                    },
                },
            },
        },
    },
    "SavedAvatar": {
        "type": "object",
        "required": [
            "id",
            "name",
            "rig",
            "source",
            "generation_id",
            "customizations",
            "is_public",
            "mine",
            "created_at",
            "updated_at",
            "thumbnail_url",
            "puppet_url",
            "preview_url",
        ],
        "properties": {
            "id": {"type": "string", "description": "32 hex digits"},
            "name": {"type": "string", "maxLength": avatars.MAX_NAME},
            "rig": {"type": "string", "examples": ["digi"]},
            "source": {"enum": ["rig", "generated"]},
            "generation_id": {
                "type": ["string", "null"],
                "description": "the generated face it wears (/avatars/{generation_id})",
            },
            "customizations": {"$ref": "#/components/schemas/Customizations"},
            "is_public": {"type": "boolean"},
            "mine": {"type": "boolean", "description": "whether the caller owns it"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "thumbnail_url": {"type": ["string", "null"]},
            "puppet_url": {"type": "string"},
            "preview_url": {"type": "string"},
        },
    },
    "SavedAvatarPage": {
        "type": "object",
        "required": ["avatars", "next"],
        "properties": {
            "avatars": {"type": "array", "items": {"$ref": "#/components/schemas/SavedAvatar"}},
            "next": {
                "type": ["string", "null"],
                "description": 'pass it as "before" for the next page; null on the last',
            },
        },
    },
    "NewSavedAvatar": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "maxLength": avatars.MAX_NAME},
            "rig": {"type": "string", "default": "digi"},
            "generation_id": {
                "type": "string",
                "description": 'a generation result\'s "avatarId" that the caller made',
            },
            "customizations": {"$ref": "#/components/schemas/Customizations"},
            "is_public": {"type": "boolean", "default": False},
        },
    },
    "SavedAvatarChange": {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "name": {"type": "string", "maxLength": avatars.MAX_NAME},
            "is_public": {"type": "boolean"},
            "customizations": {"$ref": "#/components/schemas/Customizations"},
        },
    },
}
_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "a saved avatar's id",
}
_CALLER: list[dict[str, list[str]]] = [{}, {"cookie": []}, {"bearer": []}]


_NOT_YOURS = "someone else's private avatar is answered exactly as a missing id (404)"
OPENAPI_PATHS: dict[str, Any] = {
    "/api/avatars": {
        "get": {
            "tags": ["avatars"],
            "summary": "The caller's saved avatars, newest first (paginated)",
            "security": _CALLER,
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": avatars.MAX_LIMIT,
                        "default": avatars.DEFAULT_LIMIT,
                    },
                },
                {
                    "name": "before",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": 'the "next" value of the previous page',
                },
            ],
            "responses": {
                "200": json_answer("SavedAvatarPage", "one page"),
                **errors(400, 401),
            },
        },
        "post": {
            "tags": ["avatars"],
            "summary": "Save an avatar: Digi with customizations, or a generated face",
            "security": _CALLER,
            "requestBody": body_of("NewSavedAvatar"),
            "responses": {
                "201": {
                    **json_answer("SavedAvatar", "saved"),
                    "headers": {
                        "Location": {
                            "schema": {"type": "string"},
                            "description": "/api/avatars/{id}",
                        }
                    },
                },
                **errors(400, 401, 403, 404, 413, 415),
            },
        },
    },
    "/api/avatars/{id}": {
        "parameters": [_ID],
        "get": {
            "tags": ["avatars"],
            "summary": "One saved avatar: the caller's own, or a public one",
            "description": _NOT_YOURS,
            "security": _CALLER,
            "responses": {
                "200": json_answer("SavedAvatar", "the avatar"),
                **errors(401, 404),
            },
        },
        "patch": {
            "tags": ["avatars"],
            "summary": "Rename it, make it public or private, or replace its customizations",
            "description": _NOT_YOURS + "; someone else's public one is a 403",
            "security": _CALLER,
            "requestBody": body_of("SavedAvatarChange"),
            "responses": {
                "200": json_answer("SavedAvatar", "changed"),
                **errors(400, 401, 403, 404, 413, 415),
            },
        },
        "delete": {
            "tags": ["avatars"],
            "summary": "Delete it (and its generated files, unless another saved avatar uses them)",
            "description": _NOT_YOURS + "; someone else's public one is a 403",
            "security": _CALLER,
            "responses": {
                "200": {
                    "description": "deleted",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["deleted"],
                                "properties": {"deleted": {"type": "string"}},
                            }
                        }
                    },
                },
                **errors(401, 403, 404),
            },
        },
    },
}
