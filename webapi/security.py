"""HTTP hardening of the live server (docs/SECURITY.md): security headers on every answer,
the Origin check, the Content-Type check on JSON endpoints, CORS for WHEP, the slow-body
guard, the header-read deadline and quiet logging of malformed HTTP.

`install(app, allow_origins=...)` puts it on an application; `create_app` does that. The
header deadline is a server setting, not an application's: `run_server` passes
`HEADER_TIMEOUT_S` to aiohttp as its keep-alive timeout (see `HEADER_TIMEOUT_S`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger(__name__)

# aiohttp has no header-read timeout of its own, but it arms its keep-alive timer when a
# connection opens and re-arms it after every answer, and on expiry closes the connection
# if no complete request has arrived by then. With a short keep-alive timeout that timer is
# a header deadline: a request line and headers trickled in a byte at a time (slowloris) are
# cut off this long after the connection opened (or after its previous answer). A request
# being handled (a WebSocket, a slow generation) is never touched by it; an idle keep-alive
# connection is closed after the same time, which browsers handle by reconnecting.
HEADER_TIMEOUT_S = 15.0
# A body must keep coming: after a grace period it must have arrived at this mean rate at
# least (mod_reqtimeout's model), or the connection is closed. 8 KiB/s is 64 kbit/s, below
# any real uplink; a 256 KiB offer then has ~40 s, a 10 MB photo upload ~20 min.
BODY_GRACE_S = 10.0
MIN_BODY_RATE = 8 * 1024  # bytes per second
BODY_CHECK_S = 1.0

# What a POST to each endpoint may carry: anything else is a 415 before the handler runs,
# so a cross-site "simple" request (text/plain, a form) never reaches one. Endpoints that
# take no body are not listed.
BODY_TYPES: dict[str, frozenset[str]] = {
    "/api/sessions": frozenset({"application/json"}),
    "/api/previews": frozenset({"application/json"}),
    "/api/generate": frozenset({"application/json", "multipart/form-data"}),
    "/whep/{session}": frozenset({"application/sdp"}),
    # a scene background's picture, as sent (webapi/handlers/backgrounds.py)
    "/api/backgrounds": frozenset({"image/png", "image/jpeg", "image/webp"}),
    # a marketplace package, the zip as sent (webapi/handlers/market_sell.py)
    "/api/marketplace/assets": frozenset({"application/zip"}),
    # Stripe's events. Stripe sends no Origin, so the Origin check never stops it, and the
    # handler asks for no identity: its Stripe-Signature is its only credential
    "/api/marketplace/webhook": frozenset({"application/json"}),
}
# Every other /api/ route that is sent a body (POST, PUT, PATCH) takes JSON: new endpoints
# are covered without being listed here.
JSON_BODY = frozenset({"application/json"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# WHEP is authenticated by its token, never by anything a browser adds by itself, and is
# meant to be used by players on other origins: any Origin, with CORS answers. (Matched on
# the route's pattern, not the raw path.)
CROSS_ORIGIN_PREFIX = "/whep/"
WHEP_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Location, Accept-Post, Link, ETag",
}
WHEP_PREFLIGHT = {
    "Access-Control-Allow-Methods": "POST, DELETE, PATCH, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Max-Age": "86400",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Sources a page may use besides our own, by route pattern and directive ("script-src":
# "https://js.stripe.com"): the marketplace's pages load Stripe.js and its frames from
# Stripe (webapi/handlers/market.py sets them from the app's Payments). Nothing else.
PAGE_SOURCES = web.AppKey("page_sources", dict)

# Content-Security-Policy of the pages (docs/SECURITY.md says why each source is there).
# No inline script anywhere, no inline style: every page's code and style are files of ours.
SCRIPT_SRC = "'self'"
# The puppet page runs MediaPipe FaceMesh (/vendor/face_mesh/): it compiles its wasm
# ('wasm-unsafe-eval') and its embind glue builds functions with `new Function`
# ('unsafe-eval'); without either the page falls back to tracking on the server.
PAGE_SCRIPT_SRC = {"/": "'self' 'wasm-unsafe-eval' 'unsafe-eval'"}
# Pages other sites may put in a frame: only the OBS source, and only for the operator's
# own extra origins (`--allow-origin`). OBS itself loads it as a top-level page in its own
# browser (no frame), and the page has nothing to click, so framing it cannot trick anyone
# into an action; every other page has controls and is never framed (clickjacking).
FRAMEABLE = frozenset({"/obs/{session}"})
# Anything that is not a page (JSON, scripts, pictures) gets the strictest policy: should a
# browser ever render one as a document, nothing in it runs.
RESOURCE_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # tokens travel in URLs (OBS, WHEP): never hand a URL to another site as a Referer
    "Referrer-Policy": "no-referrer",
}
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


@dataclass(frozen=True)
class Policy:
    """One application's settings: origins besides its own that may use it."""

    allow_origins: frozenset[str] = frozenset()


POLICY = web.AppKey("security_policy", Policy)
# The response a request already prepared (headers sent): nothing else may be written then.
PREPARED = web.RequestKey("prepared_response", web.StreamResponse)


def normalize_origin(value: str) -> str:
    """`scheme://host[:port]` as browsers write an Origin header (lower case, no path, no
    default port); ValueError for anything that is not an http(s) origin."""
    text = value.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f'"{value}" is not an origin like https://studio.example.com:8443')
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f'"{value}" is not an origin: give scheme, host and port only')
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f'"{value}" has a bad port') from None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def install(app: web.Application, *, allow_origins: Iterable[str] = ()) -> None:
    """Headers on every answer from `app`, and the settings `guard` reads. `guard` itself
    must be in the application's middlewares (outermost)."""
    app[POLICY] = Policy(frozenset(normalize_origin(o) for o in allow_origins))
    app.on_response_prepare.append(_on_prepare)


def same_origin(request: web.BaseRequest, origin: str) -> bool:
    """An Origin is ours when its host and port are the Host this request was sent to.
    The scheme is not compared: behind a TLS-terminating proxy we are spoken to in http
    while the page was loaded over https. X-Forwarded-Host is not trusted (anyone can send
    it); behind a proxy that rewrites Host, list the public origin with --allow-origin."""
    host = request.headers.get("Host", "").strip().lower()
    parts = urlsplit(origin.lower())
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc == host


def host_allowed(request: web.BaseRequest) -> bool:
    """DNS rebinding guard. A site can point its own name at 127.0.0.1: its pages, open in
    the streamer's browser, are then same-origin to a server on loopback (their Origin and
    Host agree) and may drive it. A connection that arrived on a loopback address can only
    come from this machine, where the only legitimate names for us are loopback ones:
    `localhost` (and `*.localhost`), a loopback IP, or an --allow-origin host. On other
    interfaces any Host is served (a LAN name, a proxy's)."""
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    try:
        local = ipaddress.ip_address(sock[0]) if sock else None
    except (ValueError, TypeError, IndexError):
        local = None
    if local is None or not local.is_loopback:
        return True
    host = request.headers.get("Host")
    if not host:
        return True  # HTTP/1.0 without Host: nothing a browser sends
    name = (urlsplit(f"//{host.strip()}").hostname or "").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        if ipaddress.ip_address(name).is_loopback:
            return True
    except ValueError:
        pass
    return any(urlsplit(o).hostname == name for o in request.app[POLICY].allow_origins)


def _route(request: web.Request) -> str | None:
    """The route's pattern ("/whep/{session}"), or None for an unknown path."""
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else None


def _refuse(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """The checks every request passes before its handler: its Origin (a browser on
    another site may not upgrade to a WebSocket or change state here), its body's type;
    then its body is watched while the handler runs (`_watch_body`)."""
    if not host_allowed(request):
        host = request.headers.get("Host", "")[:100]
        log.warning("%s %s for host %r on loopback refused", request.method, request.path, host)
        return _refuse(
            421,
            f'this server answers to localhost and 127.0.0.1 here, not to "{host}" (a name '
            "pointed at this machine by another site; the operator can allow a name with "
            "--allow-origin)",
        )
    route = _route(request)
    origin = request.headers.get("Origin")
    upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
    if (
        origin is not None
        and (upgrade or request.method not in SAFE_METHODS)
        and not (route or "").startswith(CROSS_ORIGIN_PREFIX)
        and not same_origin(request, origin)
        and origin.lower() not in request.app[POLICY].allow_origins
    ):
        log.warning(
            "%s %s from foreign origin %r refused", request.method, request.path, origin[:100]
        )
        return _refuse(
            403,
            f'requests from origin "{origin[:100]}" are not allowed here (the server operator '
            "can allow it with --allow-origin)",
        )
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if request.body_exists and encoding not in ("", "identity"):
        # browsers never compress what they send; decompressing costs us, not the sender
        return _refuse(415, f'request bodies are not compressed here ("{encoding[:40]}")')
    allowed = _body_types(route, request)
    if allowed is not None and request.content_type not in allowed:
        got = request.headers.get("Content-Type", "")
        want = " or ".join(f'"Content-Type: {t}"' for t in sorted(allowed))
        return _refuse(415, f'send this request as {want}, not "{got[:80] or "none"}"')
    watch = _watch_body(request)
    try:
        return await handler(request)
    finally:
        if watch is not None:
            watch.cancel()


def _body_types(route: str | None, request: web.Request) -> frozenset[str] | None:
    """The content types this request's body may have; None when it is not checked (no
    body is expected)."""
    if request.method not in BODY_METHODS:
        return None
    if route in BODY_TYPES:
        return BODY_TYPES[route]
    if route is not None and route.startswith("/api/") and request.body_exists:
        return JSON_BODY
    return None


class _BodyWatch:
    """Closes the connection of a request whose body comes slower than MIN_BODY_RATE after
    BODY_GRACE_S: the handler's pending read then fails, and the slot is free again."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.loop = asyncio.get_running_loop()
        self.started = self.loop.time()
        self.handle: asyncio.TimerHandle | None = self.loop.call_later(BODY_GRACE_S, self.check)

    def check(self) -> None:
        payload = self.request.content
        if payload.is_eof():
            self.handle = None
            return
        elapsed = self.loop.time() - self.started
        if payload.total_bytes < (elapsed - BODY_GRACE_S) * MIN_BODY_RATE:
            self.handle = None
            log.warning(
                "%s %s from %s: dropped a slow body (%d bytes in %.0f s)",
                self.request.method, self.request.path, self.request.remote,
                payload.total_bytes, elapsed,
            )  # fmt: skip
            transport = self.request.transport
            if transport is not None:
                transport.close()
            return
        self.handle = self.loop.call_later(BODY_CHECK_S, self.check)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


def _watch_body(request: web.Request) -> _BodyWatch | None:
    if not request.body_exists or request.content.is_eof():
        return None
    return _BodyWatch(request)


def page_csp(
    route: str | None,
    host: str,
    allow_origins: Iterable[str],
    extra: dict[str, str] | None = None,
) -> str:
    """The Content-Security-Policy of the page at `route`, served as `host`; `extra`: more
    sources for script-src, frame-src and connect-src (PAGE_SOURCES)."""
    extra = extra or {}

    def more(directive: str) -> str:
        return f" {extra[directive]}" if extra.get(directive) else ""

    # 'self' covers ws: and wss: to our own host in CSP 3; older engines (Safari < 15.4)
    # need them named, which only a well-formed Host may do (no header injection).
    sockets = f" ws://{host} wss://{host}" if _HOST.match(host) else ""
    framers = ["'self'", *sorted(allow_origins)] if route in FRAMEABLE else ["'none'"]
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {PAGE_SCRIPT_SRC.get(route or '', SCRIPT_SRC)}{more('script-src')}",
            *([f"frame-src 'self'{more('frame-src')}"] if more("frame-src") else []),
            "style-src 'self'",
            # data: for the favicon placeholder and the create page's photo and result
            "img-src 'self' data:",
            "media-src 'self'",
            f"connect-src 'self'{sockets}{more('connect-src')}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {' '.join(framers)}",
        ]
    )


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    request[PREPARED] = response
    headers = response.headers
    for name, value in COMMON_HEADERS.items():
        headers.setdefault(name, value)
    route = _route(request)
    if response.status == 304:
        # a revalidated page: browsers apply a 304's headers to the cached page, and a 304
        # has no Content-Type to pick a policy by; the cached page keeps its own
        return
    if response.content_type == "text/html":
        policy = request.app[POLICY]
        extra = request.app.get(PAGE_SOURCES, {}).get(route)
        csp = page_csp(route, request.headers.get("Host", ""), policy.allow_origins, extra)
        headers.setdefault("Content-Security-Policy", csp)
        # for browsers without frame-ancestors; those with it ignore this header
        headers.setdefault("X-Frame-Options", "SAMEORIGIN" if route in FRAMEABLE else "DENY")
    else:
        headers.setdefault("Content-Security-Policy", RESOURCE_CSP)
    if (route or "").startswith(CROSS_ORIGIN_PREFIX):
        headers.update(WHEP_CORS)
        if request.method == "OPTIONS":
            headers.update(WHEP_PREFLIGHT)


class _QuietBadRequests(logging.Filter):
    """aiohttp logs a request it cannot parse (a bad header line, a line too long, a body
    that cannot be decoded) at ERROR with a traceback: that is the client's fault, so one
    WARNING line without one."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, web.RequestPayloadError):  # a body that cannot be decoded
            exc = exc.__cause__ if isinstance(exc.__cause__, HttpProcessingError) else None
        if isinstance(exc, HttpProcessingError) and (exc.code or 400) < 500:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            what = " ".join(str(exc.message).split())[:200]  # one line, however long the junk
            record.msg = f"{record.getMessage()}: bad HTTP ({exc.code}): {what}"
            record.args = None
            record.exc_info = record.exc_text = None
        return True


def quiet_bad_requests() -> None:
    """Install the filter on aiohttp's server logger (once)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _QuietBadRequests) for f in logger.filters):
        logger.addFilter(_QuietBadRequests())
