"""`GET /api/openapi.json`: the OpenAPI 3.1 document (webapi/openapi.py), assembled once."""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web

from webapi import openapi


@functools.cache
def _body() -> bytes:
    return json.dumps(openapi.document(), separators=(",", ":")).encode("utf-8")


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(
        body=_body(), content_type="application/json", headers={"Cache-Control": "no-cache"}
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi_json)


OPENAPI_PATHS: dict[str, Any] = {}  # /api/openapi.json is described with the core routes
