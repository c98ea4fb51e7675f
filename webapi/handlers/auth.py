"""HTTP for accounts: sign-up, sign-in, sign-out, `/api/me`, API tokens and the `/account`
page. Parsing and answering only; the rules are webapi/accounts' (who may sign in, what a
sign-up may hold, the limits), identity.py says who a request is from.

Passwords arrive only in JSON bodies and go nowhere but the hasher: no answer, error
message or log line holds one (aiohttp's access log has the request line, never a body).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from webapi import guests
from webapi.accounts import api_tokens, sessions, users
from webapi.accounts.claim import claim_guest
from webapi.accounts.ratelimit import AccountLimits, SignInLimiter
from webapi.accounts.validation import (
    EMAIL_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    USERNAME_MAX,
    USERNAME_MIN,
)
from webapi.errors import Invalid, Unauthorized
from webapi.handlers.identity import (
    SESSION_COOKIE,
    Identity,
    clear_session_cookie,
    guest_id_of,
    identify,
    refresh_cookie,
    require_user,
    set_session_cookie,
)
from webapi.handlers.request import json_body, store_of

MAX_BODY = 16 * 1024  # an account's fields are a few hundred bytes
STATIC = Path(__file__).resolve().parents[1] / "static"
LIMITER = web.AppKey("signin_limiter", SignInLimiter)


def setup(app: web.Application, *, limits: AccountLimits | None = None) -> None:
    """Accounts' routes, the sign-in limiter and the sliding session cookie's renewal."""
    app[LIMITER] = SignInLimiter(limits)
    app.on_response_prepare.append(refresh_cookie)
    r = app.router
    r.add_get("/account", account_page)
    r.add_post("/api/auth/signup", signup)
    r.add_post("/api/auth/login", login)
    r.add_post("/api/auth/logout", logout)
    r.add_get("/api/me", me)
    r.add_get("/api/whoami", whoami)
    r.add_post("/api/tokens", create_token)
    r.add_get("/api/tokens", list_tokens)
    r.add_delete("/api/tokens/{id}", revoke_token)


def _avatar_files(request: web.Request) -> Any:
    """The generated avatars' file store (webapi/generate.py holds it), or None."""
    from webapi.generate import GENERATOR

    generator = request.app.get(GENERATOR)
    return generator.store if generator is not None else None


async def _body(request: web.Request) -> dict[str, Any]:
    body = await json_body(request, max_bytes=MAX_BODY)
    if not isinstance(body, dict):
        raise Invalid("the request body must be a JSON object")
    return body


async def _signed_in(
    request: web.Request, user: users.User, status: int, *, replaces: str | None
) -> web.Response:
    """Open a session for `user`, claim the guest's avatars, answer with the cookie."""
    store = store_of(request)
    if replaces:  # signing in over another session ends that one
        await sessions.close_session(store, replaces)
    token = await sessions.open_session(store, user.id)
    claimed = await claim_guest(store, _avatar_files(request), guest_id_of(request), user.id)
    response = web.json_response({"user": user.public(), "claimed_avatars": claimed}, status=status)
    set_session_cookie(response, request, token)
    return response


async def account_page(request: web.Request) -> web.FileResponse:
    # no-store, not no-cache: a revalidated page's 304 would carry the policy for
    # non-pages (webapi/security.py decides by content type, and a 304 has none), and
    # browsers apply a 304's headers to the stored page: every script of it then blocked
    return web.FileResponse(STATIC / "account.html", headers={"Cache-Control": "no-store"})


async def signup(request: web.Request) -> web.Response:
    body = await _body(request)
    user = await users.sign_up(
        store_of(request), body, request.app[LIMITER], guests.address_of(request)
    )
    return await _signed_in(request, user, 201, replaces=request.cookies.get(SESSION_COOKIE))


async def login(request: web.Request) -> web.Response:
    body = await _body(request)
    user = await users.sign_in(
        store_of(request), request.app[LIMITER], body, guests.address_of(request)
    )
    return await _signed_in(request, user, 200, replaces=request.cookies.get(SESSION_COOKIE))


async def logout(request: web.Request) -> web.Response:
    await identify(request)  # a forged (cross-site) sign-out is refused like any other
    token = request.cookies.get(SESSION_COOKIE)
    ended = bool(token) and await sessions.close_session(store_of(request), token)
    response = web.json_response({"signed_out": ended})
    if token:
        clear_session_cookie(response, request)
    return response


async def _who(request: web.Request, identity: Identity) -> dict[str, Any]:
    """/api/me's and /api/whoami's answer: the signed-in user (None for a visitor, or an
    account deleted since its session was looked up), how they signed in, and whether the
    request also carries a guest cookie."""
    user = None
    if identity.user_id is not None:
        user = await users.get_user(store_of(request), identity.user_id)
    return {
        "user": user.public() if user is not None else None,
        "via": identity.via if user is not None else None,
        "guest": identity.guest_id is not None,
    }


async def me(request: web.Request) -> web.Response:
    who = await _who(request, await require_user(request))
    if who["user"] is None:  # deleted between the lookup and now
        raise Unauthorized("this account no longer exists")
    return web.json_response(who)


async def whoami(request: web.Request) -> web.Response:
    """Who this browser is, for our pages: /api/me's answer, or `"user": null` with a 200
    when nobody is signed in. Every page asks on load; /api/me's 401 would stand in an
    anonymous visitor's console as a failed request on every page. A bad API token is
    still refused: it is a mistake to say, not an anonymous visitor."""
    who = await _who(request, await identify(request))
    return web.json_response(who, headers={"Cache-Control": "no-store"})


async def create_token(request: web.Request) -> web.Response:
    identity = await require_user(request)
    body = await _body(request)
    info, token = await api_tokens.issue(store_of(request), identity.user_id, body.get("name"))
    return web.json_response(
        {**info, "token": token},
        status=201,
        headers={"Location": f"/api/tokens/{info['id']}", "Cache-Control": "no-store"},
    )


async def list_tokens(request: web.Request) -> web.Response:
    identity = await require_user(request)
    return web.json_response(
        {"tokens": await api_tokens.list_tokens(store_of(request), identity.user_id)}
    )


async def revoke_token(request: web.Request) -> web.Response:
    identity = await require_user(request)
    token_id = request.match_info["id"]
    await api_tokens.revoke(store_of(request), identity.user_id, token_id)
    return web.json_response({"revoked": token_id})


# ---- /api/openapi.json ----------------------------------------------------------------------

_SIGNED_IN: list[dict[str, list[str]]] = [{"cookie": []}, {"bearer": []}]
_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "what is wrong, in words"}},
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}


def _ok(
    description: str, schema: dict[str, Any], headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        out["headers"] = headers
    return out


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _body_of(ref: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(ref)}}}


_SET_COOKIE = {
    "Set-Cookie": {
        "schema": {"type": "string"},
        "description": f"{SESSION_COOKIE}=<token>; HttpOnly; SameSite=Lax; Path=/; "
        f"Max-Age={sessions.LIFETIME_S} (Secure over https)",
    }
}
_SIGNED_IN_ANSWER = {
    "type": "object",
    "required": ["user", "claimed_avatars"],
    "properties": {
        "user": _ref("User"),
        "claimed_avatars": {
            "type": "integer",
            "description": "how many of this browser's guest avatars became the account's",
        },
    },
}
_BAD = _error("a field is missing or bad: the message names each one")
_401 = _error("not signed in (no valid session cookie or API token)")
_403 = _error("a cookie-signed request that does not come from this site's pages (CSRF)")
_415 = _error("the body is not application/json")
_429 = {
    **_error("too many attempts: wait the Retry-After seconds"),
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "User": {
        "type": "object",
        "required": ["id", "email", "username", "created_at"],
        "properties": {
            "id": {"type": "string"},
            "email": {"type": "string"},
            "username": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "SignUp": {
        "type": "object",
        "required": ["email", "username", "password"],
        "properties": {
            "email": {"type": "string", "maxLength": EMAIL_MAX, "examples": ["ada@example.com"]},
            "username": {
                "type": "string",
                "pattern": f"^[A-Za-z0-9_-]{{{USERNAME_MIN},{USERNAME_MAX}}}$",
                "description": "unique without regard to case",
            },
            "password": {
                "type": "string",
                "minLength": PASSWORD_MIN,
                "maxLength": PASSWORD_MAX,
                "format": "password",
            },
        },
    },
    "SignIn": {
        "type": "object",
        "required": ["login", "password"],
        "properties": {
            "login": {
                "type": "string",
                "description": 'email or username ("email" or "username" are accepted too)',
            },
            "password": {"type": "string", "maxLength": PASSWORD_MAX, "format": "password"},
        },
    },
    "ApiToken": {
        "type": "object",
        "required": ["id", "name", "created_at", "last_used_at"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "last_used_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": f"recorded at most every {api_tokens.LAST_USED_EVERY_S:g} s",
            },
        },
    },
    "NewApiToken": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": api_tokens.NAME_MAX}
        },
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/auth/signup": {
        "post": {
            "tags": ["accounts"],
            "summary": "Create an account and sign in (sets the session cookie)",
            "description": "Also claims the avatars this browser made as a guest. Errors name "
            "every bad field (400) or taken one (409, case-insensitive).",
            "requestBody": _body_of("SignUp"),
            "responses": {
                "201": _ok("signed up and signed in", _SIGNED_IN_ANSWER, _SET_COOKIE),
                "400": _BAD,
                "409": _error("the email or username is taken"),
                "415": _415,
                "429": _429,
            },
        }
    },
    "/api/auth/login": {
        "post": {
            "tags": ["accounts"],
            "summary": "Sign in with email or username and password (sets the session cookie)",
            "description": "An unknown account and a wrong password get the same 401 in the "
            "same time. Failed sign-ins are limited per account and per address (429).",
            "requestBody": _body_of("SignIn"),
            "responses": {
                "200": _ok("signed in", _SIGNED_IN_ANSWER, _SET_COOKIE),
                "400": _BAD,
                "401": _error("wrong email/username or password"),
                "415": _415,
                "429": _429,
            },
        }
    },
    "/api/auth/logout": {
        "post": {
            "tags": ["accounts"],
            "summary": "Sign out: the session ends and its cookie is cleared",
            "responses": {
                "200": _ok(
                    "signed out",
                    {
                        "type": "object",
                        "required": ["signed_out"],
                        "properties": {
                            "signed_out": {
                                "type": "boolean",
                                "description": "false when there was no live session",
                            }
                        },
                    },
                ),
                "403": _403,
            },
        }
    },
    "/api/me": {
        "get": {
            "tags": ["accounts"],
            "summary": "The signed-in user",
            "security": _SIGNED_IN,
            "responses": {
                "200": _ok(
                    "the user",
                    {
                        "type": "object",
                        "required": ["user", "via", "guest"],
                        "properties": {
                            "user": _ref("User"),
                            "via": {"enum": ["cookie", "bearer"]},
                            "guest": {
                                "type": "boolean",
                                "description": "whether the request also carries a guest cookie",
                            },
                        },
                    },
                ),
                "401": _401,
            },
        }
    },
    "/api/whoami": {
        "get": {
            "tags": ["accounts"],
            "summary": "Who this browser is: the signed-in user, or null (never 401)",
            "description": "What the pages ask on load. /api/me answers the same for a "
            "signed-in caller and 401 for anyone else; this answers 200 with `user` null, so "
            "an anonymous visit logs no failed request. A bad API token is still 401.",
            "security": [{}, *_SIGNED_IN],
            "responses": {
                "200": _ok(
                    "the user, or null",
                    {
                        "type": "object",
                        "required": ["user", "via", "guest"],
                        "properties": {
                            "user": {"oneOf": [_ref("User"), {"type": "null"}]},
                            "via": {"enum": ["cookie", "bearer", None]},
                            "guest": {
                                "type": "boolean",
                                "description": "whether the request carries a guest cookie "
                                "(a guest's avatars live with it)",
                            },
                        },
                    },
                ),
                "401": _error("the API token in the Authorization header is not valid"),
            },
        }
    },
    "/api/tokens": {
        "get": {
            "tags": ["accounts"],
            "summary": "The caller's live API tokens (never the tokens themselves)",
            "security": _SIGNED_IN,
            "responses": {
                "200": _ok(
                    "the tokens, newest first",
                    {
                        "type": "object",
                        "required": ["tokens"],
                        "properties": {"tokens": {"type": "array", "items": _ref("ApiToken")}},
                    },
                ),
                "401": _401,
            },
        },
        "post": {
            "tags": ["accounts"],
            "summary": "Issue an API token (shown once: only its hash is stored)",
            "description": 'Use it as "Authorization: Bearer <token>". At most '
            f"{api_tokens.MAX_ACTIVE} live tokens per account (409 beyond).",
            "security": _SIGNED_IN,
            "requestBody": _body_of("NewApiToken"),
            "responses": {
                "201": _ok(
                    "the new token",
                    {
                        "allOf": [
                            _ref("ApiToken"),
                            {
                                "type": "object",
                                "required": ["token"],
                                "properties": {"token": {"type": "string"}},
                            },
                        ]
                    },
                    {"Location": {"schema": {"type": "string"}, "description": "/api/tokens/{id}"}},
                ),
                "400": _BAD,
                "401": _401,
                "403": _403,
                "409": _error("too many live tokens"),
                "415": _415,
            },
        },
    },
    "/api/tokens/{id}": {
        "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "delete": {
            "tags": ["accounts"],
            "summary": "Revoke one of the caller's API tokens",
            "security": _SIGNED_IN,
            "responses": {
                "200": _ok(
                    "revoked",
                    {
                        "type": "object",
                        "required": ["revoked"],
                        "properties": {"revoked": {"type": "string"}},
                    },
                ),
                "401": _401,
                "403": _403,
                "404": _error("no such live token of the caller's (another user's answers alike)"),
            },
        },
    },
}
