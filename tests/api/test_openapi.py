"""GET /api/openapi.json: every registered API route is documented, every documented route
is registered, the document is valid OpenAPI 3.1, and every error it promises is the one
JSON shape, `{"error": "..."}`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from webapi import openapi
from webapi.app import create_app

# Everything a client calls: the REST API, WHEP, and generation's socket and stored files.
# Pages (/, /create, /account, ...) and static files are not API.
API_PREFIXES = ("/api/", "/whep/", "/avatars/", "/ws")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# answers that are not JSON errors, on purpose (WHEP's trickle ICE is plain 405 text)
NOT_JSON_ERRORS = {("/whep/{session}/{resource}", "patch", "405")}


def _app(tmp: Path) -> web.Application:
    return create_app(db=tmp / "t.db", avatar_root=tmp / "avatars")  # not started: no threads


def registered(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, path) of every route; HEAD is aiohttp's automatic twin of each GET."""
    out = set()
    for route in app.router.routes():
        info = route.resource.canonical if route.resource is not None else ""
        if route.method != "HEAD" and info.startswith(API_PREFIXES):
            out.add((route.method, info))
    return out


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in METHODS
    }


def test_every_api_route_is_documented_and_every_documented_route_exists(tmp_path: Path) -> None:
    app = _app(tmp_path)
    routes, doc = registered(app), documented(openapi.document())
    assert ("POST", "/api/animations") in routes and ("GET", "/api/health") in routes
    assert not routes - doc, f"registered but not in /api/openapi.json: {sorted(routes - doc)}"
    every = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource}
    assert not doc - every, f"documented but not registered: {sorted(doc - every)}"


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = openapi.document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises with the JSON path of the first problem
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["cookie"]["in"] == "cookie" and schemes["cookie"]["name"] == "digigami_session"


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        assert node["$ref"].startswith("#/"), node["$ref"]
        target: Any = doc
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def test_every_documented_error_is_a_json_error_object() -> None:
    doc = openapi.document()
    wrong = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            assert op.get("responses"), f"{method.upper()} {path} documents no response"
            for status, response in op["responses"].items():
                if not status.startswith(("4", "5")) or (path, method, status) in NOT_JSON_ERRORS:
                    continue
                content = _resolve(doc, response).get("content", {})
                schema = _resolve(doc, content.get("application/json", {}).get("schema", {}))
                if "error" not in schema.get("required", []):
                    wrong.append(f"{method.upper()} {path} {status}")
    assert not wrong, f'errors not documented as {{"error": ...}}: {wrong}'


def test_signed_in_operations_say_how_to_sign_in() -> None:
    doc = openapi.document()
    post = doc["paths"]["/api/animations"]["post"]
    assert {k for s in post["security"] for k in s} == {"cookie", "bearer"}
    assert {} not in post["security"]  # no anonymous alternative
    assert {} in doc["paths"]["/api/animations"]["get"]["security"]  # guests may list


def test_the_server_serves_the_document(tmp_path: Path) -> None:
    async def main() -> None:
        async with TestClient(TestServer(_app(tmp_path))) as http:
            r = await http.get("/api/openapi.json")
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("application/json")
            assert await r.json() == openapi.document()

    asyncio.run(asyncio.wait_for(main(), 120))
