"""A generated avatar's character (engine/likeness): what was measured, the parts and
colours chosen from it, the user's edits, and a still of it.

    GET /avatars/{id}/character      {"character", "features", "hairstyles", "wears"}
    PUT /avatars/{id}/character      the fields to change -> the edited character
    GET /avatars/{id}/character.png  a still of the character (?framing=full|bust|face,
                                     ?style=none or a render style)

Like the avatar's pictures, reading needs only its id (16 random hex digits); editing is
its owner's alone, and anyone else is told there is no such avatar (404). Docs: docs/API.md.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from aiohttp import web

from engine.export.png import straight
from engine.face import FaceArtError
from engine.likeness.assemble import assemble
from engine.likeness.character import Character, CharacterError
from engine.likeness.hair import HAIRSTYLES, HairstyleError
from engine.render.framing import FRAMINGS
from engine.render.looks import LOOK_NAMES, NONE, RenderStyle, UnknownLookError, render_style
from streaming.live import WEARS
from webapi.errors import Invalid, NotFound
from webapi.handlers.identity import identify
from webapi.handlers.request import json_body
from webapi.library.files import AvatarStore
from webapi.library.images import encode_png

MAX_EDIT_BYTES = 4096  # a character is a dozen short fields
STILL_SIZE = 512
MAX_STILLS = 32  # stills kept in memory (about 100 KB each)
_STILLS: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()


def _files(request: web.Request) -> AvatarStore:
    from webapi.generate import GENERATOR  # the generator owns the files; imported late

    return request.app[GENERATOR].store


def _avatar_id(request: web.Request) -> str:
    return request.match_info["id"]


async def _character(request: web.Request) -> tuple[dict[str, Any], Character]:
    files, avatar_id = _files(request), _avatar_id(request)
    loop = asyncio.get_running_loop()
    record = await loop.run_in_executor(None, files.get, avatar_id)
    if record is None:
        raise NotFound(f'no avatar "{avatar_id}"')
    try:
        character = await loop.run_in_executor(None, files.character, avatar_id)
    except LookupError:
        raise NotFound(f'no avatar "{avatar_id}"') from None
    except FaceArtError as e:
        raise Invalid(f'avatar "{avatar_id}": {e}') from None
    if character is None:
        raise NotFound(f'avatar "{avatar_id}" has no character (it was made before them)')
    return record, character


def _answer(record: dict[str, Any], character: Character) -> dict[str, Any]:
    return {
        "character": character.to_json(),
        "features": record.get("features"),
        "hairstyles": {
            name: {
                "length": c.length,
                "fringe": c.fringe,
                "texture": c.texture,
                "volume": c.volume,
                "parting": c.parting,
                "bald": c.bald,
            }
            for name, c in sorted(HAIRSTYLES.items())
        },
        "wears": list(WEARS),
        "styles": list(LOOK_NAMES),
    }


async def get_character(request: web.Request) -> web.Response:
    record, character = await _character(request)
    return web.json_response(_answer(record, character), headers={"Cache-Control": "no-cache"})


async def edit_character(request: web.Request) -> web.Response:
    record, character = await _character(request)
    who = await identify(request)
    if who.owner is None or record.get("owner") != who.owner:
        # someone else's avatar: not theirs to know about
        raise NotFound(f'no avatar "{_avatar_id(request)}"')
    changes = await json_body(request, max_bytes=MAX_EDIT_BYTES)
    if not isinstance(changes, dict) or not changes:
        raise Invalid("the body is a JSON object of the character's fields to change")
    try:
        edited = character.with_overrides(changes)
    except (CharacterError, TypeError) as e:
        raise Invalid(str(e)) from None
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, _files(request).set_character, _avatar_id(request), edited)
    from webapi.app import MANAGER  # the app imports the handlers: looked up at call time

    request.app[MANAGER].forget(_avatar_id(request))
    return web.json_response(_answer(record, edited))


async def character_still(request: web.Request) -> web.Response:
    _, character = await _character(request)
    framing = request.query.get("framing", "full")
    if framing not in FRAMINGS:
        raise Invalid(f'unknown framing "{framing}" (expected one of {", ".join(FRAMINGS)})')
    look = request.query.get("style", NONE)
    try:
        style = render_style(look)
    except UnknownLookError as e:
        raise Invalid(str(e)) from None
    # a still costs an assembly and a render on the one render thread: the same picture
    # asked again (a reload, a flood of requests) is answered from memory
    key = (_avatar_id(request), character.digest, framing, look)
    png = _STILLS.get(key)
    if png is None:
        png = await _draw(request, character, framing, style)
        _STILLS[key] = png
        while len(_STILLS) > MAX_STILLS:
            _STILLS.popitem(last=False)
    else:
        _STILLS.move_to_end(key)
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "no-cache"})


async def _draw(
    request: web.Request, character: Character, framing: str, style: RenderStyle | None
) -> bytes:
    loop = asyncio.get_running_loop()
    try:
        bundle = await loop.run_in_executor(None, assemble, character)
    except (CharacterError, HairstyleError) as e:
        raise Invalid(f'avatar "{_avatar_id(request)}" cannot be drawn: {e}') from None
    from webapi.app import MANAGER

    still = request.app[MANAGER].worker.snapshot(bundle, STILL_SIZE, framing, style=style)
    pixels = await asyncio.wrap_future(still)
    return await loop.run_in_executor(None, encode_png, straight(pixels))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/avatars/{id}/character", get_character)
    r.add_put("/avatars/{id}/character", edit_character)
    r.add_get("/avatars/{id}/character.png", character_still)
