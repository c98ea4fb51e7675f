"""What every area's handlers read from a request the same way: the app's store and a
JSON body within limits (a refusal is the domain's Invalid or TooLarge, answered by the
app's one error middleware)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from streaming.jsonlimits import MAX_DEPTH, JSONLimitError, parse
from webapi.errors import Invalid, TooLarge
from webapi.store import Store


def store_of(request: web.Request) -> Store:
    from webapi.app import STORE  # webapi.app imports the handlers: look it up at call time

    return request.app[STORE]


async def json_body(request: web.Request, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """The body as JSON: refused unread when its declared length is over `max_bytes`, and
    by jsonlimits (size, depth, UTF-8) once read."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise TooLarge(f"the request body is too large (at most {max_bytes} bytes)")
    try:
        return parse(
            await request.read(), max_bytes=max_bytes, max_depth=max_depth, what="the request body"
        )
    except JSONLimitError as e:
        raise Invalid(str(e)) from None
