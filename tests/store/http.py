"""HTTP helpers for the store tests and the API benchmark: sign-ups and avatar creates
against a real `digigami serve`, as a browser page (cookie + Origin) or a script (Bearer)
sends them."""

from __future__ import annotations

from typing import Any

import aiohttp

PASSWORD = "correct horse battery staple"


def jar() -> aiohttp.CookieJar:
    # unsafe: the server is at 127.0.0.1, whose cookies aiohttp's default jar drops
    return aiohttp.CookieJar(unsafe=True)


def page_headers(base: str) -> dict[str, str]:
    """What a state-changing fetch from our own page carries (CSRF proof, JSON body)."""
    return {"Origin": base, "Content-Type": "application/json"}


def signup_body(name: str) -> dict[str, str]:
    return {"email": f"{name}@example.com", "username": name, "password": PASSWORD}


def avatar_body(n: int) -> dict[str, Any]:
    """An avatar from Digi with a customization (no generation needed)."""
    return {
        "name": f"Digi #{n}",
        "rig": "digi",
        "customizations": {"library": "winter", "colors": {"avatar": {"hue": 20}}},
    }


def id_of(answer: Any) -> str | None:
    """The created object's id, whether the answer is the object or wraps it."""
    if isinstance(answer, dict):
        if isinstance(answer.get("id"), str):
            return answer["id"]
        for value in answer.values():
            if isinstance(value, dict) and isinstance(value.get("id"), str):
                return value["id"]
    return None


async def signup(http: aiohttp.ClientSession, base: str, name: str) -> tuple[int, Any]:
    async with http.post(
        f"{base}/api/auth/signup", json=signup_body(name), headers=page_headers(base)
    ) as r:
        return r.status, await _body(r)


async def create_avatar(
    http: aiohttp.ClientSession, base: str, n: int, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with http.post(
        f"{base}/api/avatars", json=avatar_body(n), headers=headers or page_headers(base)
    ) as r:
        return r.status, await _body(r)


async def _body(r: aiohttp.ClientResponse) -> Any:
    try:
        return await r.json(content_type=None)
    except ValueError:
        return await r.text()
