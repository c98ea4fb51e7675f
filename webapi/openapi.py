"""The OpenAPI 3.1 document served at `GET /api/openapi.json`: every HTTP route under /api/,
/whep/ and the generation routes, one document.

Each API area (webapi/handlers/<area>.py) describes its own routes in `OPENAPI_PATHS` (and
the schemas they refer to in `OPENAPI_SCHEMAS`); the routes that predate the areas
(webapi/app.py: health, sessions, previews, WHEP; webapi/generate.py: generation and the
generated avatars' files) are described here. tests/api/test_openapi.py checks that every
registered route is documented, that every documented one exists, and that the document
validates.

What areas may refer to: `#/components/schemas/Error`, the error responses
`#/components/responses/<BadRequest|Unauthorized|Forbidden|NotFound|Conflict|TooLarge|
UnsupportedMediaType|TooManyRequests|NotImplemented|ServiceUnavailable>` (all
`{"error": "..."}`), and the security schemes `cookie` (the browser session) and `bearer`
(an API token).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from webapi.handlers import animations, auth, avatars, backgrounds, exports, market, studio

# each area's OPENAPI_PATHS (and OPENAPI_SCHEMAS)
AREAS = (auth, avatars, animations, backgrounds, exports, market, studio)
VERSION = "1.0.0"

_ERRORS = {
    "BadRequest": "a field is missing, of the wrong type or out of range (the error names it)",
    "Unauthorized": "not signed in, or the API token is wrong or revoked",
    "Forbidden": "not allowed: a foreign origin, a cookie-signed change without same-origin "
    "proof, a wrong session token",
    "NotFound": "no such object, or one the caller may not see (the two look the same)",
    "Conflict": "clashes with what is stored (a taken username, a full library)",
    "TooLarge": "the request or one of its parts is over its size limit",
    "UnsupportedMediaType": 'request bodies under /api/ are "application/json"',
    "TooManyRequests": "rate limited: retry after the Retry-After header's seconds",
    "NotImplemented": "documented but not built yet (the error says what is coming)",
    "ServiceUnavailable": "busy: every slot of this kind is taken; try again shortly",
}


def _err(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_SDP = {"type": "string", "description": "an SDP offer or answer"}
_TOKEN_QUERY = {
    "name": "token",
    "in": "query",
    "schema": {"type": "string"},
    "description": "the session's token from POST /api/sessions (or send it as "
    '"Authorization: Bearer <token>")',
}
_SESSION = {"name": "session", "in": "path", "required": True, "schema": {"type": "string"}}
_RESOURCE = {"name": "resource", "in": "path", "required": True, "schema": {"type": "string"}}
_AVATAR_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}

_HEALTH_COUNTS = (
    "sessions", "streaming", "threads", "previews", "peers", "encoders", "limit",
    "preview_limit", "viewers", "viewer_limit",
)  # fmt: skip

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "description": "what is wrong, in words"}},
    },
    "Health": {
        "type": "object",
        "properties": {k: {"type": "integer"} for k in _HEALTH_COUNTS}
        | {"reserved": {"type": "object", "additionalProperties": {"type": "integer"}}},
    },
    "SessionOffer": {
        "type": "object",
        "required": ["sdp", "type"],
        "properties": {
            "sdp": _SDP,
            "type": {"const": "offer"},
            "session": {"type": "string", "description": "resume this id (with its token)"},
            "token": {"type": "string"},
            "move": {
                "type": "boolean",
                "default": False,
                "description": "take over the session from the tab it is live in (after a "
                '409 with "live_elsewhere"; docs/STREAMING.md, "One session, many tabs")',
            },
            "tracking": {"enum": ["browser", "server"], "default": "server"},
            "avatar": {"type": "string", "description": "wear this saved or generated avatar"},
            "animations": {
                "type": "array",
                "items": {"type": "string"},
                "maxItems": avatars.MAX_EMOTES,
                "description": "custom clips' ids to have at hand as emotes (the caller's own)",
            },
        },
    },
    "SessionAnswer": {
        "type": "object",
        "required": ["sdp", "type", "session", "token", "obs_url", "whep_url"],
        "properties": {
            "sdp": _SDP,
            "type": {"const": "answer"},
            "session": {"type": "string"},
            "token": {"type": "string"},
            "obs_url": {"type": "string"},
            "whep_url": {"type": "string"},
        },
    },
    "PreviewOffer": {
        "type": "object",
        "required": ["sdp", "type"],
        "properties": {
            "sdp": _SDP,
            "type": {"const": "offer"},
            "animation": {
                "type": "string",
                "description": "a state (wave, dance), a clip (dance_3) or a custom clip's id",
            },
            "outfit": {"type": "string"},
            "accessory": {"type": "string"},
            "body": {"type": "string"},
            "size": {"type": "integer"},
            "fps": {"type": "integer"},
            "avatar": {"type": "string"},
        },
    },
    "PreviewAnswer": {
        "type": "object",
        "required": ["sdp", "type", "preview"],
        "properties": {"sdp": _SDP, "type": {"const": "answer"}, "preview": {"type": "string"}},
    },
    "PreviewOptions": {
        "type": "object",
        "required": ["animations", "outfit", "accessory", "body", "sizes", "fps", "defaults"],
        "properties": {
            "animations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "state": {"type": "string"},
                        "variants": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
            **{
                field: {
                    "type": "object",
                    "properties": {
                        "labels": {"type": "array", "items": {"type": "string"}},
                        "default": {"type": ["string", "null"]},
                    },
                }
                for field in ("outfit", "accessory", "body")
            },
            "sizes": {"type": "array", "items": {"type": "integer"}},
            "fps": {"type": "array", "items": {"type": "integer"}},
            "defaults": {"type": "object"},
        },
    },
    "GenerateRequest": {
        "type": "object",
        "required": ["image", "style"],
        "properties": {
            "image": {"type": "string", "description": "data:image/<type>;base64,..."},
            "style": {"enum": ["kingdom-hearts", "dark-cloud", "ghibli", "cel-shade"]},
            "sessionId": {"type": "string"},
            "options": {
                "type": "object",
                "properties": {
                    "preserveExpression": {"type": "boolean"},
                    "enhanceDetails": {"type": "boolean"},
                    "outputSize": {"type": "integer", "minimum": 64, "maximum": 2048},
                },
            },
        },
    },
    "GenerateForm": {
        "type": "object",
        "required": ["image", "style"],
        "properties": {
            "image": {"type": "string", "contentMediaType": "application/octet-stream"},
            "style": {"type": "string"},
            "sessionId": {"type": "string"},
            "options": {"type": "string", "description": "JSON text"},
            "preserveExpression": {"type": "string"},
            "enhanceDetails": {"type": "string"},
            "outputSize": {"type": "string"},
        },
    },
    "GenerateResult": {
        "type": "object",
        "description": "docs/GENERATION.md, the `result` message",
        "required": ["success"],
        "properties": {
            "type": {"const": "result"},
            "sessionId": {"type": "string"},
            "success": {"type": "boolean"},
            "avatarId": {"type": "string"},
            "avatarData": {"type": "string"},
            "avatarUrl": {"type": "string"},
            "outputs": {"type": "object", "additionalProperties": {"type": "string"}},
            "metadata": {"type": "object"},
            "features": {"type": ["object", "null"], "description": "measured features"},
            "character": {"type": ["object", "null"], "description": "the assembled character"},
        },
    },
    "Character": {
        "type": "object",
        "description": "a generated avatar's character (docs/GENERATION.md, Characters)",
        "properties": {
            "schema": {"const": 1},
            "hairstyle": {"type": "string"},
            "skin": {"type": ["string", "null"], "pattern": "^#[0-9a-f]{6}$"},
            "hair": {"type": ["string", "null"], "pattern": "^#[0-9a-f]{6}$"},
            "hair_highlight": {"type": ["string", "null"], "pattern": "^#[0-9a-f]{6}$"},
            "iris": {"type": ["string", "null"], "pattern": "^#[0-9a-f]{6}$"},
            "brows": {"type": ["string", "null"], "pattern": "^#[0-9a-f]{6}$"},
            "glasses": {"type": "boolean"},
            "facial_hair": {"enum": ["none", "stubble", "moustache", "beard"]},
            "face_shape": {"enum": ["oval", "round", "square", "heart"]},
            "facial_hair_colour": {
                "type": ["string", "null"],
                "pattern": "^#[0-9a-f]{6}$",
                "description": "absent: the hair colour",
            },
            "brow_thickness": {"enum": ["thin", "medium", "thick"]},
            "hat": {"type": "boolean", "description": "absent: false; Digi's cap"},
            "hat_colour": {
                "type": ["string", "null"],
                "pattern": "^#[0-9a-f]{6}$",
                "description": "the cap's; absent: Digi's teal",
            },
            "eye_shape": {
                "enum": ["round", "almond", "narrow", "upturned"],
                "description": "absent: round (Digi's own eyes)",
            },
            "glasses_colour": {
                "type": ["string", "null"],
                "pattern": "^#[0-9a-f]{6}$",
                "description": "the frame's; absent: Digi's",
            },
        },
    },
    "CharacterAnswer": {
        "type": "object",
        "properties": {
            "character": _ref("Character"),
            "features": {"type": ["object", "null"]},
            "hairstyles": {"type": "object", "description": "style name -> its classes"},
            "wears": {"type": "array", "items": {"type": "string"}},
            "styles": {
                "type": "array",
                "items": {"type": "string"},
                "description": "render styles a still or a session may be drawn in",
            },
        },
    },
    "GeneratedAvatarRecord": {
        "type": "object",
        "description": "a generated avatar's metadata.json (docs/GENERATION.md, Storage)",
        "properties": {
            "id": {"type": "string"},
            "createdAt": {"type": "string"},
            "outputs": {"type": "object"},
            "metadata": {"type": "object"},
            "style": {"type": "string"},
        },
    },
}

SECURITY_SCHEMES: dict[str, Any] = {
    "cookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "digigami_session",
        "description": "the browser session from POST /api/auth/login; a state-changing "
        "request signed in this way must come from our own pages (Origin or Sec-Fetch-Site)",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": 'an API token from POST /api/tokens: "Authorization: Bearer <token>"',
    },
}

_LIVE_ELSEWHERE = {
    "type": "object",
    "required": ["error", "live_elsewhere"],
    "properties": {"error": {"type": "string"}, "live_elsewhere": {"const": True}},
}

# The routes of webapi/app.py and webapi/generate.py (docs/STREAMING.md, docs/GENERATION.md).
CORE_PATHS: dict[str, Any] = {
    "/api/vts": {
        "get": {
            "tags": ["streaming"],
            "summary": "VTube Studio's plugin API as a WebSocket (docs/CONTROL.md, \"VTube "
            "Studio API\"): Stream Deck plugins, chat bots and scripts drive the avatar",
            "responses": {
                "101": {"description": "switching protocols to a WebSocket"},
                "403": _err("Forbidden"),
                "400": _err("BadRequest"),
                "429": _err("TooManyRequests"),
                "503": _err("ServiceUnavailable"),
            },
        }
    },
    "/api/health": {
        "get": {
            "tags": ["streaming"],
            "summary": "Live sessions, previews, viewers and their limits",
            "responses": {"200": _json(_ref("Health"), "counts")},
        }
    },
    "/api/sessions": {
        "post": {
            "tags": ["streaming"],
            "summary": "Start (or resume) a puppet session: an SDP offer in, an answer out",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("SessionOffer")}},
            },
            "responses": {
                "200": _json(_ref("SessionAnswer"), "the answer and the session's links"),
                "400": _err("BadRequest"),
                "403": _err("Forbidden"),
                "404": _err("NotFound"),
                "409": {
                    "description": 'the session is live in another tab ("live_elsewhere": '
                    'true): ask the user, then send the offer again with "move": true',
                    "content": {"application/json": {"schema": _LIVE_ELSEWHERE}},
                },
                "413": _err("TooLarge"),
                "415": _err("UnsupportedMediaType"),
                "503": _err("ServiceUnavailable"),
            },
        }
    },
    "/api/sessions/{session}": {
        "parameters": [_SESSION],
        "delete": {
            "tags": ["streaming"],
            "summary": "End a puppet session now",
            "parameters": [
                _TOKEN_QUERY,
                {
                    "name": "linger",
                    "in": "query",
                    "required": False,
                    "schema": {"enum": ["1"]},
                    "description": "the page is leaving (maybe a reload): while OBS or WHEP "
                    "viewers watch, only the page's peer closes and the session waits 10 s "
                    "for the page to resume it",
                },
            ],
            "responses": {
                "200": _json(
                    {"type": "object", "properties": {"closed": {"type": "string"}}}, "ended"
                ),
                "403": _err("Forbidden"),
                "404": _err("NotFound"),
            },
        },
    },
    "/api/previews": {
        "post": {
            "tags": ["streaming"],
            "summary": "Start (or join) a receive-only preview of an animation",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("PreviewOffer")}},
            },
            "responses": {
                "200": _json(_ref("PreviewAnswer"), "the answer"),
                "400": _err("BadRequest"),
                "404": _err("NotFound"),
                "413": _err("TooLarge"),
                "415": _err("UnsupportedMediaType"),
                "503": _err("ServiceUnavailable"),
            },
        }
    },
    "/api/previews/options": {
        "get": {
            "tags": ["streaming"],
            "summary": "What a preview can show: the avatar's animations and sprite labels",
            "responses": {"200": _json(_ref("PreviewOptions"), "the choices")},
        }
    },
    "/whep/{session}": {
        "parameters": [_SESSION],
        "post": {
            "tags": ["streaming"],
            "summary": "WHEP: watch a puppet session (OBS, players)",
            "parameters": [
                _TOKEN_QUERY,
                {
                    "name": "layout",
                    "in": "query",
                    "schema": {"enum": ["opaque", "packed"], "default": "opaque"},
                },
            ],
            "requestBody": {
                "required": True,
                "content": {"application/sdp": {"schema": _SDP}},
            },
            "responses": {
                "201": {
                    "description": "the SDP answer",
                    "headers": {
                        "Location": {
                            "schema": {"type": "string"},
                            "description": "/whep/{session}/{resource}: this viewer",
                        }
                    },
                    "content": {"application/sdp": {"schema": _SDP}},
                },
                "400": _err("BadRequest"),
                "403": _err("Forbidden"),
                "404": _err("NotFound"),
                "413": _err("TooLarge"),
                "415": _err("UnsupportedMediaType"),
                "503": _err("ServiceUnavailable"),
            },
        },
        "options": {
            "tags": ["streaming"],
            "summary": "WHEP preflight (CORS)",
            "responses": {"204": {"description": "Allow: POST, OPTIONS"}},
        },
    },
    "/whep/{session}/{resource}": {
        "parameters": [_SESSION, _RESOURCE],
        "delete": {
            "tags": ["streaming"],
            "summary": "WHEP: stop watching (the session's token is needed)",
            "parameters": [_TOKEN_QUERY],
            "responses": {
                "200": {"description": "ended"},
                "403": _err("Forbidden"),
                "404": _err("NotFound"),
            },
        },
        "patch": {
            "tags": ["streaming"],
            "summary": "WHEP trickle ICE: not supported (answers carry every candidate)",
            "responses": {"405": {"description": "Allow: DELETE"}},
        },
        "options": {
            "tags": ["streaming"],
            "summary": "WHEP preflight (CORS)",
            "responses": {"204": {"description": "Allow: DELETE, PATCH, OPTIONS"}},
        },
    },
    "/api/generate": {
        "post": {
            "tags": ["generation"],
            "summary": "Generate an avatar from a photo (answered when done; /ws has progress)",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": _ref("GenerateRequest")},
                    "multipart/form-data": {"schema": _ref("GenerateForm")},
                },
            },
            "responses": {
                "200": _json(_ref("GenerateResult"), "the generated avatar"),
                "400": _err("BadRequest"),
                "413": _err("TooLarge"),
                "422": _json(_ref("Error"), "no face found in the photo"),
                "429": _err("TooManyRequests"),
                "503": _err("ServiceUnavailable"),
            },
        }
    },
    "/ws": {
        "get": {
            "tags": ["generation"],
            "summary": "The generation WebSocket (docs/GENERATION.md: its JSON messages)",
            "responses": {"101": {"description": "switching protocols to a WebSocket"}},
        }
    },
    "/avatars/{id}": {
        "parameters": [_AVATAR_ID],
        "get": {
            "tags": ["generation"],
            "summary": "A generated avatar's record",
            "responses": {
                "200": _json(_ref("GeneratedAvatarRecord"), "the record"),
                "404": _err("NotFound"),
            },
        },
    },
    "/avatars/{id}/character": {
        "parameters": [_AVATAR_ID],
        "get": {
            "tags": ["generation"],
            "summary": "A generated avatar's measured features and character",
            "responses": {
                "200": _json(_ref("CharacterAnswer"), "the character"),
                "400": _err("BadRequest"),
                "404": _err("NotFound"),
            },
        },
        "put": {
            "tags": ["generation"],
            "summary": "Change fields of the character (its owner only; others get 404)",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": _json(_ref("CharacterAnswer"), "the edited character"),
                "400": _err("BadRequest"),
                "404": _err("NotFound"),
                "413": _err("TooLarge"),
            },
        },
    },
    "/avatars/{id}/character.png": {
        "parameters": [
            _AVATAR_ID,
            {
                "name": "framing",
                "in": "query",
                "required": False,
                "schema": {"enum": ["full", "bust", "face"]},
            },
            {
                "name": "style",
                "in": "query",
                "required": False,
                "schema": {"enum": ["none", "kingdom-hearts", "dark-cloud", "ghibli", "cel-shade"]},
            },
        ],
        "get": {
            "tags": ["generation"],
            "summary": "A still of the character, drawn by the engine",
            "responses": {
                "200": {
                    "description": "the picture",
                    "content": {"image/png": {"schema": {"type": "string"}}},
                },
                "400": _err("BadRequest"),
                "404": _err("NotFound"),
            },
        },
    },
    "/avatars/{id}/{name}.png": {
        "parameters": [
            _AVATAR_ID,
            {
                "name": "name",
                "in": "path",
                "required": True,
                "schema": {"enum": ["full", "transparent", "thumbnail", "profile", "hd"]},
            },
        ],
        "get": {
            "tags": ["generation"],
            "summary": "One output picture of a generated avatar (immutable)",
            "responses": {
                "200": {
                    "description": "the picture",
                    "content": {"image/png": {"schema": {"type": "string"}}},
                },
                "404": _err("NotFound"),
            },
        },
    },
    "/api/openapi.json": {
        "get": {
            "tags": ["meta"],
            "summary": "This document",
            "responses": {
                "200": _json({"type": "object"}, "the OpenAPI 3.1 document of this server")
            },
        }
    },
}


@functools.cache
def _document() -> dict[str, Any]:
    paths: dict[str, Any] = copy.deepcopy(CORE_PATHS)
    schemas: dict[str, Any] = copy.deepcopy(SCHEMAS)
    for area in AREAS:
        for path, item in getattr(area, "OPENAPI_PATHS", {}).items():
            if path in paths:  # two areas describing one path is a mistake: say whose
                raise ValueError(f"{area.__name__}: {path} is already documented")
            paths[path] = copy.deepcopy(item)
        for name, schema in getattr(area, "OPENAPI_SCHEMAS", {}).items():
            if name in schemas:
                raise ValueError(f"{area.__name__}: schema {name} is already defined")
            schemas[name] = copy.deepcopy(schema)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Digigami",
            "version": VERSION,
            "description": "Live avatars: accounts, a saved avatar library, animation clips, "
            'puppet sessions and avatar generation. Errors are JSON `{"error": "..."}` '
            "with the status. Scripts authenticate with an API token (`Authorization: "
            "Bearer ...`, from POST /api/tokens); browsers with the session cookie. "
            "Another user's private object answers 404, exactly like a missing one. "
            "Guide and curl examples: docs/API.md.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "responses": {
                name: _json(_ref("Error"), description) for name, description in _ERRORS.items()
            },
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def document() -> dict[str, Any]:
    """The whole document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_document())
