"""Who is asking: the identity that generation's limits and storage quotas count against.

A visitor without an account is a guest: a random 128-bit id the server puts in an HttpOnly,
SameSite=Lax cookie (`digigami_guest`) on the first page, socket or REST answer. A request
without a valid cookie gets a fresh id, so a client that drops cookies is a new guest each
time (for a socket: the connection itself). Since anyone can drop or invent cookies, every
limit per guest has a twin per remote address (the peer's IP; IPv6 by its /64, the block one
household gets), which cookies cannot escape. The address is the TCP peer's: behind a
reverse proxy every client shares it (forwarded headers are not trusted), so raise the
per-address limit there. Accounts (a later issue) become another kind of owner
(`account:<id>`) beside `guest:<id>`.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass

from aiohttp import web

COOKIE = "digigami_guest"
COOKIE_MAX_AGE = 365 * 24 * 3600
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Client:
    guest: str  # the guest id (the cookie's value)
    address: str  # the remote address limits are counted by
    new: bool  # the id was made for this request: the answer must set the cookie

    @property
    def key(self) -> str:
        """What per-client limits count by."""
        return f"guest:{self.guest}"

    @property
    def owner(self) -> str:
        """What stored avatars are recorded under (and quotas counted by)."""
        return f"guest:{self.guest}"


def identify(request: web.Request) -> Client:
    """The guest a request comes from, a new one when it carries no valid cookie."""
    token = request.cookies.get(COOKIE, "")
    new = not _TOKEN.match(token)
    if new:
        token = secrets.token_hex(16)
    return Client(token, address_of(request), new)


def remember(response: web.StreamResponse, request: web.Request, client: Client) -> None:
    """Set the guest cookie on `response` (before it is sent) when the id is new."""
    if client.new:
        response.set_cookie(
            COOKIE, client.guest, max_age=COOKIE_MAX_AGE, path="/", httponly=True,
            samesite="Lax", secure=request.secure,
        )  # fmt: skip


def address_of(request: web.Request) -> str:
    """The remote address limits count by: the IP, or an IPv6 address's /64."""
    remote = request.remote or "unknown"
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
