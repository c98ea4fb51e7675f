"""HTTP for animation clips: `/api/animations` (a rig's built-in clips plus the caller's own
custom ones) and `/api/animations/{id}`. Parsing and answering only; what a clip may be,
who sees it and the limits are webapi/library/animations.py's."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from webapi.errors import Invalid
from webapi.handlers.identity import identify, require_user
from webapi.handlers.request import json_body, store_of
from webapi.handlers.spec import OPTIONAL, SIGNED_IN, errors, json_answer
from webapi.library import animations

MAX_BODY = 256 * 1024  # the app's body cap; the clip itself is held to LIMITS.max_bytes
MAX_DEPTH = 12  # body > definition > bones > bone > channel > key > value: 7
PAGE_DEFAULT, PAGE_MAX = 50, 200


async def _body(request: web.Request) -> Any:
    return await json_body(request, max_bytes=MAX_BODY, max_depth=MAX_DEPTH)


def _int_arg(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"{name}: expected a whole number, got {raw[:20]!r}", field=name) from None
    if not lo <= value <= hi:
        raise Invalid(f"{name}: must be within {lo}..{hi}, got {value}", field=name)
    return value


async def list_animations(request: web.Request) -> web.Response:
    identity = await identify(request)
    page = await animations.list_clips(
        store_of(request),
        rig=animations.check_rig(request.query.get("rig", animations.DEFAULT_RIG)),
        user_id=identity.user_id,
        limit=_int_arg(request, "limit", PAGE_DEFAULT, 1, PAGE_MAX),
        offset=_int_arg(request, "offset", 0, 0, 10**9),
    )
    return web.json_response(page)


async def get_animation(request: web.Request) -> web.Response:
    identity = await identify(request)
    detail = await animations.get_clip(
        store_of(request), request.match_info["id"], identity.user_id
    )
    return web.json_response(detail)


async def create_animation(request: web.Request) -> web.Response:
    identity = await require_user(request)
    clip = await animations.create_clip(store_of(request), identity.user_id, await _body(request))
    return web.json_response(
        clip.detail(), status=201, headers={"Location": f"/api/animations/{clip.id}"}
    )


async def delete_animation(request: web.Request) -> web.Response:
    identity = await require_user(request)
    await animations.delete_clip(store_of(request), request.match_info["id"], identity.user_id)
    return web.json_response({"deleted": request.match_info["id"]})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/animations", list_animations)
    r.add_post("/api/animations", create_animation)
    r.add_get("/api/animations/{id}", get_animation)
    r.add_delete("/api/animations/{id}", delete_animation)


# ---- /api/openapi.json ----------------------------------------------------------------------

_SUMMARY_PROPS: dict[str, Any] = {
    "id": {
        "type": "string",
        "description": 'a built-in clip is "<rig>:<clip>" (digi:wave); a custom one a random '
        "32-hex-digit id",
    },
    "rig": {"type": "string", "examples": ["digi"]},
    "name": {"type": "string"},
    "builtin": {"type": "boolean"},
    "length": {"type": "number", "description": "seconds"},
    "looping": {"type": "boolean"},
    "states": {
        "type": "array",
        "items": {"type": "string"},
        "description": "the rig's state-machine states that play it (none for custom clips)",
    },
    "size_bytes": {"type": "integer", "description": "custom clips: the stored definition"},
    "created_at": {"type": "string", "format": "date-time"},
    "updated_at": {"type": "string", "format": "date-time"},
}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "AnimationSummary": {
        "type": "object",
        "required": ["id", "rig", "name", "builtin", "length", "looping", "states"],
        "properties": _SUMMARY_PROPS,
    },
    "ClipDefinition": {
        "type": "object",
        "description": "An animation clip in the engine's format (schema 1: content/README.md, "
        '"Animation clip"). Bone, slot and attachment names must exist in the rig.',
        "required": ["schema", "length"],
        "properties": {
            "schema": {"const": 1},
            "name": {"type": "string"},
            "length": {"type": "number", "exclusiveMinimum": 0},
            "looping": {"type": "boolean"},
            "bones": {"type": "object", "additionalProperties": {"type": "object"}},
            "slots": {"type": "object", "additionalProperties": {"type": "object"}},
            "events": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Animation": {
        "allOf": [
            {"$ref": "#/components/schemas/AnimationSummary"},
            {
                "type": "object",
                "required": ["definition"],
                "properties": {"definition": {"$ref": "#/components/schemas/ClipDefinition"}},
            },
        ]
    },
    "AnimationPage": {
        "type": "object",
        "required": ["animations", "total", "limit", "offset", "next_offset"],
        "properties": {
            "animations": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/AnimationSummary"},
            },
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "next_offset": {"type": ["integer", "null"]},
        },
    },
    "NewAnimation": {
        "type": "object",
        "required": ["definition"],
        "additionalProperties": False,
        "properties": {
            "rig": {"type": "string", "default": "digi"},
            "name": {
                "type": "string",
                "maxLength": animations.LIMITS.max_name,
                "description": "defaults to the definition's own name",
            },
            "definition": {"$ref": "#/components/schemas/ClipDefinition"},
        },
    },
}
_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": 'a built-in clip as "<rig>:<clip>" (digi:wave), or a custom clip\'s id',
}


OPENAPI_PATHS: dict[str, Any] = {
    "/api/animations": {
        "get": {
            "tags": ["animations"],
            "summary": "A rig's built-in clips, then the caller's own custom clips (paginated)",
            "security": OPTIONAL,
            "parameters": [
                {"name": "rig", "in": "query", "schema": {"type": "string", "default": "digi"}},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": PAGE_MAX,
                        "default": PAGE_DEFAULT,
                    },
                },
                {
                    "name": "offset",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "default": 0},
                },
            ],
            "responses": {
                "200": json_answer("AnimationPage", "one page of clip summaries"),
                **errors(400, 401),
            },
        },
        "post": {
            "tags": ["animations"],
            "summary": "Save a custom clip for a rig, validated by the engine's clip loader",
            "description": "An invalid clip is a 400 whose error names the JSON path at fault "
            "(`definition.bones.hips.rotation[1].time: must be <= 1.0, got 2.0`). Limits: "
            f"{animations.LIMITS.max_bytes} bytes of compact JSON, "
            f"{animations.LIMITS.max_keys} keys, {animations.LIMITS.max_timelines} timelines, "
            f"{animations.LIMITS.max_length:g} s (413 beyond); "
            f"{animations.LIMITS.max_per_user} clips per account (409 beyond).",
            "security": SIGNED_IN,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/NewAnimation"}}
                },
            },
            "responses": {
                "201": {
                    **json_answer("Animation", "saved"),
                    "headers": {
                        "Location": {
                            "schema": {"type": "string"},
                            "description": "/api/animations/{id}",
                        }
                    },
                },
                **errors(400, 401, 403, 409, 413, 415),
            },
        },
    },
    "/api/animations/{id}": {
        "parameters": [_ID],
        "get": {
            "tags": ["animations"],
            "summary": "A clip and its definition in the engine's clip format",
            "description": "Built-in clips are public; a custom clip only to its owner (another "
            "user's is a 404, exactly like a missing one).",
            "security": OPTIONAL,
            "responses": {
                "200": json_answer("Animation", "the clip"),
                **errors(401, 404),
            },
        },
        "delete": {
            "tags": ["animations"],
            "summary": "Delete one of the caller's custom clips",
            "security": SIGNED_IN,
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
