"""Who is asking: a signed-in user (by a session cookie or an API token) and/or a guest.

`identify(request)` is what every handler that cares about ownership calls; `require_user`
is its "sign in first" form. A request proves who it is one of two ways:

- `Authorization: Bearer <API token>` (scripts, OBS/WHEP links). Nothing a browser adds by
  itself, so it needs no CSRF proof; a token that is wrong or revoked is a 401, never a
  silent guest.
- the `digigami_session` cookie (browsers). A browser attaches it to requests other sites
  make too, so a state-changing request (anything but GET/HEAD/OPTIONS) signed in this way
  must also prove it comes from our own pages: an Origin of ours (webapi/security.py has
  already refused a foreign one), or `Sec-Fetch-Site: same-origin` / `none`. One with
  neither header (an old browser, a plain form) is refused (Forbidden), not treated as a
  guest, so a forged request cannot quietly act as anyone.

The guest id is the `digigami_guest` cookie's (webapi/guests.py); None when the request has
none (this module never mints one: guests.identify/remember do, where a response sets it).
The answer is cached on the request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import web

from webapi import guests, security
from webapi.accounts import api_tokens, sessions
from webapi.accounts.claim import claim_guest
from webapi.errors import Forbidden, Unauthorized
from webapi.handlers.request import store_of

SESSION_COOKIE = "digigami_session"
_GUEST_ID = re.compile(r"^[0-9a-f]{32}$")  # the guest cookie's shape (webapi/guests.py)

__all__ = [
    "SESSION_COOKIE",
    "Identity",
    "claim_guest",
    "clear_session_cookie",
    "identify",
    "proves_same_origin",
    "require_user",
    "set_session_cookie",
]


@dataclass(frozen=True)
class Identity:
    user_id: str | None
    username: str | None
    guest_id: str | None
    via: str | None  # "cookie" | "bearer" | None

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None

    @property
    def owner(self) -> str | None:
        """What generated files are recorded under: `account:<id>` or `guest:<id>`."""
        if self.user_id is not None:
            return f"account:{self.user_id}"
        return f"guest:{self.guest_id}" if self.guest_id else None


IDENTITY = web.RequestKey("identity", Identity)
# set when a session's expiry moved on (the cookie's max-age is renewed) or it turned out
# to be dead (the cookie is dropped): see `refresh_cookie`, installed by handlers/auth.py
COOKIE_UPDATE = web.RequestKey("session_cookie_update", str)


def guest_id_of(request: web.Request) -> str | None:
    token = request.cookies.get(guests.COOKIE, "")
    return token if _GUEST_ID.match(token) else None


def proves_same_origin(request: web.Request) -> bool:
    """Whether the browser says this request comes from our own pages."""
    origin = request.headers.get("Origin")
    if origin is not None:
        if security.same_origin(request, origin):
            return True
        try:
            return security.normalize_origin(origin) in request.app[security.POLICY].allow_origins
        except ValueError:
            return False
    return request.headers.get("Sec-Fetch-Site", "").strip().lower() in ("same-origin", "none")


async def identify(request: web.Request) -> Identity:
    """Who sent `request` (see the module's docstring). Unauthorized for a bad API token;
    Forbidden for a cookie-signed state-changing request that cannot prove it comes from
    our pages."""
    known = request.get(IDENTITY)
    if known is not None:
        return known
    guest = guest_id_of(request)
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    token = request.cookies.get(SESSION_COOKIE)
    if scheme.lower() == "bearer":
        holder = await api_tokens.authenticate(store_of(request), credentials.strip())
        if holder is None:
            raise Unauthorized(
                "the API token in the Authorization header is not valid (mistyped or revoked)"
            )
        identity = Identity(holder.user_id, holder.username, guest, "bearer")
    elif token:
        if request.method not in security.SAFE_METHODS and not proves_same_origin(request):
            raise Forbidden(
                "this request would change something on behalf of the signed-in user but "
                "does not show that it comes from this site's own pages (it has neither an "
                "Origin nor a Sec-Fetch-Site header): use a current browser, or send an API "
                'token as "Authorization: Bearer ..." instead of the cookie'
            )
        found = await sessions.lookup(store_of(request), token)
        if found is None:
            request[COOKIE_UPDATE] = ""  # a dead session: drop the cookie
            identity = Identity(None, None, guest, None)
        else:
            if found.refreshed:
                request[COOKIE_UPDATE] = token
            identity = Identity(found.holder.user_id, found.holder.username, guest, "cookie")
    else:
        identity = Identity(None, None, guest, None)
    request[IDENTITY] = identity
    return identity


async def require_user(request: web.Request) -> Identity:
    """The signed-in user, or Unauthorized."""
    identity = await identify(request)
    if not identity.signed_in:
        raise Unauthorized(
            "sign in first (at /account), or send an API token as "
            '"Authorization: Bearer ..." (POST /api/tokens issues one)'
        )
    return identity


def set_session_cookie(response: web.StreamResponse, request: web.Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, max_age=sessions.LIFETIME_S, path="/", httponly=True,
        samesite="Lax", secure=request.secure,
    )  # fmt: skip


def clear_session_cookie(response: web.StreamResponse, request: web.Request) -> None:
    response.del_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="Lax", secure=request.secure
    )


async def refresh_cookie(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: renew a sliding session's cookie, or drop a dead one's, unless
    the handler set or cleared the cookie itself."""
    update = request.get(COOKIE_UPDATE)
    if update is None or SESSION_COOKIE in response.cookies:
        return
    if update:
        set_session_cookie(response, request, update)
    else:
        clear_session_cookie(response, request)
    # aiohttp has written `response.cookies` into the headers by the time this hook runs
    morsel = response.cookies[SESSION_COOKIE]
    response.headers.add("Set-Cookie", morsel.output(header="").strip())
