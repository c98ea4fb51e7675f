"""Helpers for the accounts tests: an app on a temp database, sign-ups as a browser page
would send them, and the headers a page or a script adds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from webapi.app import create_app

PASSWORD = "correct horse 42"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def serve(
    test: Callable[[TestClient, web.Application], Awaitable[None]],
    tmp: Path,
    *,
    before: Callable[[web.Application], None] | None = None,
    timeout: float = 120,
) -> None:
    """Run `test(http, app)` against a fresh app (its own database and avatar folder);
    `before(app)` may adjust the app before it starts."""

    async def main() -> None:
        app = create_app(db=tmp / "t.db", avatar_root=tmp / "avatars")
        if before is not None:
            before(app)
        async with TestClient(TestServer(app)) as http:
            await test(http, app)

    asyncio.run(asyncio.wait_for(main(), timeout))


def origin(http: TestClient) -> str:
    return str(http.make_url("/")).rstrip("/")


def page(http: TestClient) -> dict[str, str]:
    """What a fetch from our own page sends along: its Origin."""
    return {"Origin": origin(http)}


def signup_body(name: str, password: str = PASSWORD, email: str | None = None) -> dict[str, Any]:
    return {"email": email or f"{name}@example.com", "username": name, "password": password}


async def signup(http: TestClient, name: str, password: str = PASSWORD) -> dict[str, Any]:
    """Sign `name` up (the client keeps the session cookie); the answer's user."""
    r = await http.post("/api/auth/signup", json=signup_body(name, password), headers=page(http))
    assert r.status == 201, await r.text()
    return (await r.json())["user"]


def session_cookie(http: TestClient) -> str | None:
    for cookie in http.session.cookie_jar:
        if cookie.key == "digigami_session":
            return cookie.value
    return None


async def error_of(r: Any, status: int) -> str:
    """The `error` of a JSON error answer, after checking its status and shape."""
    body = await r.json()
    assert r.status == status, body
    assert set(body) == {"error"}, body
    return body["error"]
