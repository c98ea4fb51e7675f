"""HTTP for the Creator Studio (docs/API.md, "Studio"): its page, the offer that opens its
private live session, the timeline's draft clip, and sprite thumbnails.

    GET    /studio/{avatar}          the page (avatar: "digi" or a saved avatar's id)
    POST   /api/studio               {"sdp", "type": "offer", "avatar", "customizations"?,
                                      "fps"?, "size"?} (customizations: the page's working
                                      copy, worn instead of the saved ones)
                                     -> {"sdp", "type": "answer", "session", "token"}
    PUT    /api/studio/{id}/draft    {"token", "definition"}: the clip the timeline plays
    DELETE /api/studio/{id}/draft    {"token"} (or ?token=): back to no draft
    GET    /api/studio/thumbnail     ?rig&library&category&label: a 96 px PNG of the avatar
                                     wearing that sprite label

The session is steered over its `control` data channel (docs/STREAMING.md); only the
draft, a whole clip, comes over HTTP, checked exactly as `POST /api/animations` checks a
clip. Someone else's private avatar is a 404 here as everywhere; a wrong session token is
a 404 too (a session id alone tells nothing).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import re
from collections import OrderedDict
from typing import Any

from aiohttp import web

from engine.anim import AnimationFormatError, parse_clip
from engine.assets import AvatarBundle, load_bundle
from engine.export.png import straight
from streaming.live import Look
from webapi.errors import Invalid
from webapi.handlers import avatars as saved_avatars
from webapi.handlers import market
from webapi.handlers.identity import identify
from webapi.handlers.request import json_body, store_of
from webapi.handlers.spec import OPTIONAL, body_of, errors, json_answer
from webapi.library import animations, avatars, customizations
from webapi.library.images import encode_png

KIND = "studio"
MAX_OFFER_BODY = 96 * 1024  # an SDP offer (a few KB) and the working customizations (32 KB)
MAX_DRAFT_BODY = 96 * 1024  # a token and a clip (held to animations.LIMITS once read)
MAX_DRAFT_DEPTH = 12  # body > definition > bones > bone > channel > key > curve > value: 8
MAX_STUDIO_CLIPS = 32  # the caller's newest custom animations the studio lists
MAX_TOKEN = 64  # a session token is 22 characters
THUMB_SIZE = 96
MAX_THUMBS = 128  # thumbnails kept in memory (a few KB each)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")  # a library, category or label
_THUMBS: OrderedDict[tuple[str, str, str, str], bytes] = OrderedDict()
_DRAWING: dict[tuple[str, str, str, str], asyncio.Future[bytes]] = {}


def _manager(request: web.Request) -> Any:
    from webapi.app import MANAGER  # the app imports the handlers: looked up at call time

    return request.app[MANAGER]


async def studio_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(
        saved_avatars.STATIC / "studio.html", headers={"Cache-Control": "no-cache"}
    )


async def studio_home(request: web.Request) -> web.Response:
    """/studio or /studio/ on its own (typed, or a shortened link): the studio on Digi,
    where the top bar's Studio link goes; a saved avatar opens from "My avatars"."""
    raise web.HTTPFound("/studio/digi")


async def open_studio(request: web.Request) -> web.Response:
    body = await json_body(request, max_bytes=MAX_OFFER_BODY, max_depth=10)
    if not isinstance(body, dict):
        raise Invalid('the body must be an object {"sdp", "type": "offer", "avatar"}')
    avatar = body.get("avatar", avatars.DEFAULT_RIG)
    if avatar != avatars.DEFAULT_RIG and not avatars.is_saved_id(avatar):
        raise Invalid(
            f'"avatar" must be "{avatars.DEFAULT_RIG}" or a saved avatar\'s id (32 hex digits)',
            field="avatar",
        )
    # the page's working copy (unsaved edits, another sprite library): checked now, before
    # a slot is taken, and worn instead of the saved customizations
    working = body.get("customizations")
    opts = await customizations.options(avatars.DEFAULT_RIG)
    if working is not None:
        working = customizations.validate(working, opts)
    who = await identify(request)
    # what it wears: the saved avatar (its owner's, or a public one: NotFound otherwise,
    # awaited by the manager once the slot is reserved) or Digi as bundled
    wear = saved_avatars.resolver(request, {"avatar": avatar if avatar != "digi" else None})
    store = store_of(request)

    async def resolve() -> Look | None:
        look = await wear()
        if working is not None:
            base = look or Look()
            worn = customizations.look(working, opts, face=base.face, saved=base.saved)
            look = dataclasses.replace(worn, clips=base.clips, names=base.names, wears=base.wears)
        if who.user_id is None or look is None:
            return look
        return await _with_own_clips(store, look, who.user_id)

    owned = await market.owned_items(request, who.user_id)  # purchased animations
    # fps and size are the manager's to check (BadOffer, before a slot is taken)
    manager = _manager(request)
    answer, session = await manager.open_studio(body, resolve, owned=owned, owner=who.user_id)
    return web.json_response(
        {"sdp": answer, "type": "answer", "session": session.id, "token": session.token}
    )


async def _with_own_clips(store: Any, look: Look, user_id: str) -> Look:
    """`look` with the caller's custom animations (playable by name in the studio's
    Animation preview, listed in hello's `animations.custom`)."""
    rig = avatars.DEFAULT_RIG
    builtins = len(await animations.builtin_clips(rig))
    count = await animations.list_clips(store, rig=rig, user_id=user_id, limit=1)
    own = count["total"] - builtins
    page = await animations.list_clips(  # the newest ones: what was just made is there
        store,
        rig=rig,
        user_id=user_id,
        limit=MAX_STUDIO_CLIPS,
        offset=builtins + max(0, own - MAX_STUDIO_CLIPS),
    )
    clips, names = dict(look.clips), dict(look.names)
    for summary in page["animations"]:
        clip = await animations.custom_clip(store, summary["id"], user_id)
        if clip is not None and clip.rig == rig:
            clips[clip.id], names[clip.id] = clip.definition, clip.name
    return dataclasses.replace(look, clips=clips, names=names)


def _studio_token(token: Any) -> Any:
    """The token as handed to the manager, which answers NotFound for anything but the
    studio session's own (a missing session, another kind, a wrong token: all alike); an
    overlong one is no token at all (never sent on to a cluster's node)."""
    return None if isinstance(token, str) and len(token) > MAX_TOKEN else token


async def put_draft(request: web.Request) -> web.Response:
    body = await json_body(request, max_bytes=MAX_DRAFT_BODY, max_depth=MAX_DRAFT_DEPTH)
    if not isinstance(body, dict):
        raise Invalid('the body must be an object {"token", "definition"}')
    sid, token = request.match_info["session"], _studio_token(body.get("token"))
    manager = _manager(request)
    rig = await manager.studio_rig(sid, token)  # NotFound before any work is done
    definition = body.get("definition")
    name = definition.get("name") if isinstance(definition, dict) else None
    if not isinstance(name, str) or not 0 < len(name.strip()) <= animations.LIMITS.max_name:
        name = "draft"  # a draft needs no name yet; the saved clip gets one
    loop = asyncio.get_running_loop()

    def check() -> Any:
        stored, _ = animations.check_definition(definition, rig, name.strip())
        try:
            return parse_clip(stored, rig, "definition")
        except AnimationFormatError as e:  # check_definition ran the loader: a guard
            raise Invalid(str(e), field="definition") from None

    clip = await loop.run_in_executor(None, check)
    await manager.studio_draft(sid, token, clip)
    return web.Response(status=204)


async def delete_draft(request: web.Request) -> web.Response:
    token: Any = request.query.get("token")
    auth = request.headers.get("Authorization", "")
    if token is None and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    if token is None and request.can_read_body:
        body = await json_body(request, max_bytes=1024, max_depth=2)
        token = body.get("token") if isinstance(body, dict) else None
    await _manager(request).studio_draft(request.match_info["session"], _studio_token(token), None)
    return web.Response(status=204)


def _query_name(request: web.Request, key: str, default: str | None = None) -> str:
    value = request.query.get(key, default)
    if value is None:
        raise Invalid(f"{key}: required", field=key)
    if not _NAME.match(value):
        raise Invalid(
            f"{key}: expected a name of at most 40 lower-case letters, digits, - or _",
            field=key,
        )
    return value


@functools.lru_cache(maxsize=4)
def _bundle(rig: str, library: str) -> AvatarBundle:
    return load_bundle(rig, sprites=library)


def _wearing(bundle: AvatarBundle, category: str, label: str) -> AvatarBundle:
    """`bundle` whose sprite library wears `label` for `category` by default: what the
    render worker's stills draw (they wear the defaults)."""
    lib = bundle.sprites
    assert lib is not None  # checked against the rig's options before
    worn = dataclasses.replace(lib, defaults={**lib.defaults, category: label})
    return dataclasses.replace(bundle, sprites=worn)


async def thumbnail(request: web.Request) -> web.Response:
    rig = animations.check_rig(_query_name(request, "rig", avatars.DEFAULT_RIG))
    library = _query_name(request, "library", customizations.DEFAULT_LIBRARY)
    category = _query_name(request, "category")
    label = _query_name(request, "label")
    opts = await customizations.options(rig)
    if library not in opts.libraries:
        raise Invalid(f'library: unknown "{library}" (known: {", ".join(opts.libraries)})',
                      field="library")  # fmt: skip
    categories = opts.libraries[library]
    if category not in categories:
        raise Invalid(f'category: unknown "{category}" (known: {", ".join(categories)})',
                      field="category")  # fmt: skip
    if label not in categories[category]:
        known = ", ".join(categories[category])
        raise Invalid(f'label: "{label}" is not a label of {category} (known: {known})',
                      field="label")  # fmt: skip
    key = (rig, library, category, label)
    png = _THUMBS.get(key)
    if png is not None:
        _THUMBS.move_to_end(key)
    else:
        png = await _drawn(request, key)
    return web.Response(
        body=png, content_type="image/png", headers={"Cache-Control": "max-age=3600"}
    )


async def _drawn(request: web.Request, key: tuple[str, str, str, str]) -> bytes:
    """The thumbnail drawn once: requests for the same one meanwhile wait for that draw
    (a page asks for every label at once), then it is kept (at most MAX_THUMBS)."""
    pending = _DRAWING.get(key)
    if pending is not None:
        return await asyncio.shield(pending)
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bytes] = loop.create_future()
    _DRAWING[key] = future
    try:
        rig, library, category, label = key
        bundle = await loop.run_in_executor(None, _bundle, rig, library)
        worn = _wearing(bundle, category, label)
        framing = "bust" if category == customizations.ACCESSORIES else "full"
        pixels = await asyncio.wrap_future(
            _manager(request).worker.snapshot(worn, THUMB_SIZE, framing)
        )
        png = await loop.run_in_executor(None, encode_png, straight(pixels))
        _THUMBS[key] = png
        while len(_THUMBS) > MAX_THUMBS:
            _THUMBS.popitem(last=False)
        future.set_result(png)
        return png
    except asyncio.CancelledError:  # this request went away: its waiters ask again
        future.cancel()
        raise
    except Exception as e:
        future.set_exception(e)
        future.exception()  # retrieved: waiters get it, nobody else must
        raise
    finally:
        del _DRAWING[key]


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/studio", studio_home)
    r.add_get("/studio/", studio_home)
    r.add_get(r"/studio/{avatar:digi|[0-9a-f]{32}}", studio_page)
    r.add_post("/api/studio", open_studio)
    r.add_get("/api/studio/thumbnail", thumbnail)
    r.add_put("/api/studio/{session}/draft", put_draft)
    r.add_delete("/api/studio/{session}/draft", delete_draft)


# ---- /api/openapi.json ----------------------------------------------------------------------

OPENAPI_SCHEMAS: dict[str, Any] = {
    "StudioOffer": {
        "type": "object",
        "required": ["sdp", "type"],
        "properties": {
            "sdp": {"type": "string", "description": "a recvonly video offer with a data channel"},
            "type": {"const": "offer"},
            "avatar": {
                "type": "string",
                "default": "digi",
                "description": "\"digi\", or a saved avatar's id (the caller's or a public one)",
            },
            "customizations": {
                "type": "object",
                "description": "the page's working copy (unsaved edits, another sprite "
                "library), checked like a saved avatar's and worn instead of them",
            },
            "fps": {"type": "integer", "minimum": 30, "maximum": 60, "default": 30},
            "size": {"type": "integer", "minimum": 256, "maximum": 768, "default": 512},
        },
    },
    "StudioAnswer": {
        "type": "object",
        "required": ["sdp", "type", "session", "token"],
        "properties": {
            "sdp": {"type": "string"},
            "type": {"const": "answer"},
            "session": {"type": "string"},
            "token": {"type": "string", "description": "authorizes the draft PUT and DELETE"},
        },
    },
    "StudioDraft": {
        "type": "object",
        "required": ["token", "definition"],
        "properties": {
            "token": {"type": "string"},
            "definition": {"$ref": "#/components/schemas/ClipDefinition"},
        },
    },
}
_SESSION = {"name": "session", "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, description: str, default: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "pattern": _NAME.pattern}
    if default is not None:
        schema["default"] = default
    return {
        "name": name,
        "in": "query",
        "required": default is None,
        "schema": schema,
        "description": description,
    }


OPENAPI_PATHS: dict[str, Any] = {
    "/api/studio": {
        "post": {
            "tags": ["studio"],
            "summary": "Open the Creator Studio's private live session (WebRTC offer/answer)",
            "description": "Someone else's private avatar is a 404, exactly like a missing id. "
            "The session is steered over its `control` data channel (docs/STREAMING.md).",
            "security": OPTIONAL,
            "requestBody": body_of("StudioOffer"),
            "responses": {
                "200": json_answer("StudioAnswer", "the answer"),
                **errors(400, 401, 404, 413, 415, 503),
            },
        },
    },
    "/api/studio/{session}/draft": {
        "parameters": [_SESSION],
        "put": {
            "tags": ["studio"],
            "summary": "Replace the clip the studio's timeline plays (not saved)",
            "description": "Checked exactly as POST /api/animations checks a clip (an error "
            f"names the path; {animations.LIMITS.max_keys} keys and "
            f"{animations.LIMITS.max_timelines} timelines at most: 413 beyond). Body at most "
            f"{MAX_DRAFT_BODY} bytes. A wrong token or unknown session is a 404.",
            "requestBody": body_of("StudioDraft"),
            "responses": {"204": {"description": "the draft plays"}, **errors(400, 404, 413, 415)},
        },
        "delete": {
            "tags": ["studio"],
            "summary": "Clear the draft (the token as ?token=, a Bearer header or the body)",
            "responses": {"204": {"description": "cleared"}, **errors(400, 404)},
        },
    },
    "/api/studio/thumbnail": {
        "get": {
            "tags": ["studio"],
            "summary": f"A {THUMB_SIZE} px PNG of the rig wearing one sprite label",
            "parameters": [
                _query("rig", "a bundled rig", avatars.DEFAULT_RIG),
                _query("library", "its sprite library", customizations.DEFAULT_LIBRARY),
                _query("category", "a sprite category of that library"),
                _query("label", "a label of that category"),
            ],
            "responses": {
                "200": {"description": "the picture", "content": {"image/png": {}}},
                **errors(400, 503),
            },
        },
    },
}
