"""The aiohttp application: pages, signaling, WHEP, previews (`create_app`, Datasette-style:
one factory, tested in-process).

Routes and messages are documented in docs/STREAMING.md. Handlers only parse, validate and
hand over to the sessions (`Sessions`: the `SessionManager` on a single box, a cluster
front's `ClusterSessions` with `digigami serve --ray`, docs/SCALE.md); every error is JSON `{"error": ...}` with a status that
says whose fault it is, and one bad request never disturbs the other sessions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from aiortc import RTCIceServer

from engine.likeness import recolor
from streaming.admission import CONNECT_WITHIN
from streaming.choices import preview_choices
from streaming.jsonlimits import JSONLimitError
from streaming.jsonlimits import parse as parse_json
from streaming.manager import BadOffer, Busy, LiveElsewhere, NotFound, SessionManager
from webapi import generate, guests, security, vts
from webapi.accounts import api_tokens
from webapi.errors import DomainError, RateLimited
from webapi.handlers import (
    animations,
    auth,
    backgrounds,
    character,
    exports,
    market,
    openapi,
    studio,
)
from webapi.handlers import avatars as saved_avatars
from webapi.handlers.identity import identify
from webapi.library.files import AvatarStore
from webapi.limits import GenerationLimits
from webapi.market.payments import Payments
from webapi.store import Store
from webapi.store.sessions import SessionLooks

STATIC = Path(__file__).resolve().parent / "static"
# The browser's face tracker (package.json; `npm ci` in .ci/setup): served from here, since
# no page loads anything from a CDN. Only this package's own directory is reachable.
FACE_MESH = Path(__file__).resolve().parents[1] / "node_modules" / "@mediapipe" / "face_mesh"
VENDOR_TYPES = {
    ".js": "text/javascript",
    ".wasm": "application/wasm",  # what WebAssembly.instantiateStreaming insists on
    ".data": "application/octet-stream",
    ".binarypb": "application/octet-stream",
}
MAX_BODY = 256 * 1024  # an SDP offer is a few KB
MAX_VIEWERS = 8  # WHEP/OBS viewers of one session


class Sessions(Protocol):
    """What the handlers ask of `app[MANAGER]`: a SessionManager (single box) or a cluster
    front's ClusterSessions (webapi/cluster/front.py), which forwards to the render node
    holding each session. The answers' sessions are only read for `.id` and `.token`."""

    bundle: Any  # the bundled rig (the preview page's options)
    worker: Any  # stills: `.snapshot(bundle, size, framing, style=...)`
    memory: Any  # session looks (a SessionManager's; None in cluster mode)

    async def start(self) -> None: ...
    async def shutdown(self) -> None: ...
    def health(self) -> dict[str, Any]: ...
    def forget(self, face: str) -> None: ...
    async def open_puppet(
        self,
        offer: Any,
        resolve: Any = None,
        owned: Any = (),
        *,
        owner: str | None = None,
        scene_owner: str | None = None,
    ) -> Any: ...
    async def open_preview(
        self, offer: Any, options: dict[str, Any], resolve: Any = None, try_on: Any = None
    ) -> Any: ...
    async def open_studio(
        self, offer: Any, resolve: Any = None, owned: Any = (), *, owner: str | None = None
    ) -> Any: ...
    async def open_viewer(
        self,
        session_id: str,
        token: str | None,
        offer: Any,
        layout: str,
        *,
        user_id: str | None = None,
    ) -> tuple[str, str]: ...
    async def close_viewer(
        self, session_id: str, resource_id: str, token: str | None, *, user_id: str | None = None
    ) -> None: ...
    async def close_session(
        self,
        session_id: str,
        token: str | None,
        *,
        user_id: str | None = None,
        linger: bool = False,
    ) -> None: ...
    async def studio_rig(self, session_id: str, token: Any) -> Any: ...
    async def studio_draft(self, session_id: str, token: Any, clip: Any) -> None: ...  # fmt: skip


MANAGER = web.AppKey("manager", Sessions)
STORE = web.AppKey("store", Store)  # the SQLite store (webapi/store): accounts, avatars, clips
CLUSTER_VTS = (
    "VTube Studio plugins connect to a single-box server; in cluster mode (digigami serve "
    "--ray) live sessions run on the render workers and the plugin API is not available"
)

log = logging.getLogger(__name__)


def create_app(
    *,
    rig: str = "digi",
    max_sessions: int = 3,
    max_previews: int = 8,
    manager: SessionManager | None = None,
    avatar_root: Path | str | None = None,
    media_host: str | None = None,
    max_viewers: int = MAX_VIEWERS,
    allow_origins: Iterable[str] = (),
    generation: GenerationLimits | None = None,
    db: Path | str | None = None,
    vts_port: int | None = None,
    vts_host: str = "127.0.0.1",
    payments: Payments | None = None,
    sessions: Sessions | None = None,
    ice_servers: Sequence[RTCIceServer] = (),
    remote_generation: Any = None,
    connect_within: float = CONNECT_WITHIN,
) -> web.Application:
    """`avatar_root`: where generated avatars are stored (default: `out/avatars`, see
    webapi/library/files.py). `media_host`: the address media (UDP) sockets bind to (None: every
    interface). `allow_origins`: origins besides the server's own whose pages may use it
    (docs/SECURITY.md). `generation`: avatar generation's queue, rate and storage limits
    (webapi/limits.py; the defaults when None). `db`: the SQLite file (default
    `$DIGIGAMI_DB` or `out/digigami.db`), created and migrated when the app starts.
    `vts_port`: also serve VTube Studio's plugin API on this port of `vts_host` (None: only
    at /api/vts). `payments`: Stripe for the marketplace (default: the STRIPE_* environment
    variables; without them paid purchases answer 503, docs/MARKETPLACE.md).
    `sessions`: a cluster front's sessions (webapi/cluster/front.py `ClusterSessions`):
    live sessions run on the cluster's render nodes, none in this process, and VTube
    Studio's plugin API is not served (501). `ice_servers`: STUN/TURN for every peer
    connection (single box; a cluster's nodes have their own). `remote_generation`: where
    avatar generation runs instead of this process's pool (webapi/cluster/generation.py,
    Ray Serve); the queue, limits and storage stay here. `connect_within`: seconds a new
    peer has to connect before its place is freed (streaming/manager.py)."""
    if sessions is not None and manager is not None:
        raise ValueError("create_app takes a manager (single box) or sessions (cluster), not both")
    app = web.Application(client_max_size=MAX_BODY, middlewares=[security.guard, _errors])
    security.install(app, allow_origins=allow_origins)
    store = AvatarStore(avatar_root)
    app[MANAGER] = (
        sessions
        or manager
        or SessionManager(
            rig,
            max_sessions=max_sessions,
            max_previews=max_previews,
            faces=store.face_art,
            characters=store.character,
            media_host=media_host,
            max_viewers=max_viewers,
            ice_servers=ice_servers,
            connect_within=connect_within,
        )
    )
    app[STORE] = Store(db)
    # session ids and looks outlive reloads and restarts (a cluster keeps them itself)
    if sessions is None and app[MANAGER].memory is None:
        app[MANAGER].memory = SessionLooks(app[STORE])
    app.on_startup.append(_start)
    app.on_shutdown.append(_shutdown)
    app.on_cleanup.append(_close_store)
    r = app.router
    r.add_get("/", _page("puppet.html"))
    r.add_get("/obs/{session}", _page("obs.html"))
    r.add_get("/preview", _page("preview.html"))
    r.add_get("/market", _page("market.html"))  # the marketplace's pages (docs/MARKETPLACE.md)
    r.add_get("/market/dashboard", _page("market-dashboard.html"))
    r.add_get("/market/{id:m[0-9a-f]{20}}", _page("market-item.html"))
    r.add_static("/static", STATIC, show_index=False)
    r.add_get("/vendor/face_mesh/{name}", face_mesh_file)
    r.add_get("/api/health", health)
    r.add_post("/api/sessions", open_session)
    r.add_delete("/api/sessions/{session}", close_session)
    r.add_post("/api/previews", open_preview)
    r.add_get("/api/previews/options", preview_options)
    r.add_post("/whep/{session}", whep_open)
    r.add_delete("/whep/{session}/{resource}", whep_close)
    r.add_route("PATCH", "/whep/{session}/{resource}", whep_patch)
    r.add_route("OPTIONS", "/whep/{session}", whep_options)
    r.add_route("OPTIONS", "/whep/{session}/{resource}", whep_options)
    character.setup(app)  # /avatars/{id}/character*: before generate's /avatars/{id}/{name}.png
    generate.setup(
        app, store, limits=generation, db=app[STORE]
    )  # /ws, /api/generate, /avatars/..., /create (docs/GENERATION.md)
    if remote_generation is not None:  # the style pipeline runs on Ray Serve
        app[generate.GENERATOR].use_remote(remote_generation)
    # API areas: each registers its own routes (docs/API.md, /api/openapi.json)
    app[saved_avatars.FILES] = store
    saved_avatars.setup(app)  # /api/avatars, /library
    auth.setup(app)
    animations.setup(app)
    backgrounds.setup(app, store.root.parent / "backgrounds")  # /api/backgrounds
    if isinstance(app[MANAGER], SessionManager) and app[MANAGER].scene_backgrounds is None:
        # a new puppet session's scene may show its opener's uploads
        app[MANAGER].scene_backgrounds = backgrounds.scene_backgrounds(app[backgrounds.BACKGROUNDS])
    exports.setup(app, store.root.parent / "exports")  # /api/avatars/{id}/export, /api/exports
    # /api/marketplace: after the store's start (its seeding runs on startup, in order)
    market.setup(app, store.root.parent / "market", payments or Payments.from_env())
    studio.setup(app)  # /studio/{avatar}, /api/studio (the Creator Studio)
    openapi.setup(app)
    # VTube Studio's plugin API: /api/vts, and its own port with --vts-port (webapi/vts.py);
    # its plugins steer live sessions in this process, which a cluster front has none of
    if sessions is None:
        vts.setup(app, app[MANAGER], app[STORE], port=vts_port, host=vts_host)
    else:
        vts.setup_unavailable(app, CLUSTER_VTS, port=vts_port, host=vts_host)
    return app


async def _start(app: web.Application) -> None:
    await app[STORE].start()  # a fresh machine gets its database here, migrated
    await app[MANAGER].start()
    # the recolouring's per-colour maps of Digi's art (about a second of CPU, once), made
    # in the background so the first character a visitor makes is not the one that waits
    asyncio.get_running_loop().run_in_executor(None, _warm_up_characters)


def _warm_up_characters() -> None:
    try:
        recolor.warm_up()
    except Exception:  # characters still work, only the first is slower
        log.exception("warming up the character recolouring failed")


async def _close_store(app: web.Application) -> None:
    await app[STORE].aclose()


async def _shutdown(app: web.Application) -> None:
    await app[MANAGER].shutdown()


def _page(name: str):
    async def handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

    return handler


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def _errors(request: web.Request, handler) -> web.StreamResponse:
    """Every failure as a JSON error. A client's mistake is one log line (WARNING, or INFO
    when it is routine), never a traceback; only our own bug gets one. Once a response has
    started (a WebSocket is open) nothing else may be written: that response is handed
    back for aiohttp to finish."""
    level = logging.WARNING
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        status, message = 413, f"the request body is too large (at most {MAX_BODY} bytes)"
    except BadOffer as e:
        status, message = 400, str(e)
    except DomainError as e:  # webapi/errors.py: the store's, accounts' and library's errors
        status, message = e.status, str(e)
        if e.status in (401, 404):
            level = logging.INFO
        if isinstance(e, RateLimited):
            log.log(level, "%s %s: %d %s", request.method, request.path, status, message)
            response = _error(status, message)
            response.headers["Retry-After"] = str(max(1, round(e.retry_after)))
            return response
    except PermissionError as e:
        status, message = 403, str(e)
    except NotFound as e:
        status, message, level = 404, str(e), logging.INFO
    except Busy as e:
        status, message, level = 503, str(e), logging.INFO
    except LiveElsewhere as e:  # the page asks its user: move the avatar here? (issue 15)
        log.info("%s %s: 409 %s", request.method, request.path, e)
        return web.json_response({"error": str(e), "live_elsewhere": True}, status=409)
    except web.RequestPayloadError as e:  # bad chunked encoding and the like
        status, message = 400, "the request body cannot be read: " + " ".join(str(e).split())
    except ConnectionResetError:  # the client went away, or was dropped as too slow
        status, message, level = 400, "the connection was lost", logging.INFO
    except web.HTTPException:
        if (started := request.get(security.PREPARED)) is not None:
            return started
        raise
    except Exception:  # our bug: say so plainly, keep serving the others
        log.exception("%s %s failed", request.method, request.path)
        status, message, level = 500, "internal error (logged on the server)", 0
    if level:
        log.log(level, "%s %s: %d %s", request.method, request.path, status, message)
    started = request.get(security.PREPARED)
    return started if started is not None else _error(status, message)


async def _json(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, within jsonlimits' depth and our size limit."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(MAX_BODY, request.content_length)
    try:
        body = parse_json(await request.read(), max_bytes=MAX_BODY, what="the request body")
    except JSONLimitError as e:
        raise BadOffer(str(e)) from None
    if not isinstance(body, dict):
        raise BadOffer("the request body must be a JSON object")
    return body


def _token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.query.get("token")


async def face_mesh_file(request: web.Request) -> web.StreamResponse:
    """One file of @mediapipe/face_mesh (its script, wasm and model), by bare name only."""
    name = request.match_info["name"]
    if not FACE_MESH.is_dir():
        return web.Response(
            status=503,
            text="the browser face tracker (@mediapipe/face_mesh) is not installed on this "
            "server: run `npm ci` in the checkout (bash .ci/setup does); the puppet page "
            "falls back to tracking on the server meanwhile\n",
        )
    path = FACE_MESH / name
    if (
        "/" in name
        or "\\" in name
        or name.startswith(".")
        or Path(name).suffix not in VENDOR_TYPES
        or not path.is_file()
    ):
        return web.Response(status=404, text=f'no file "{name}" in @mediapipe/face_mesh\n')
    return web.FileResponse(
        path,
        headers={
            "Content-Type": VENDOR_TYPES[path.suffix],
            # the version is pinned in package-lock.json; a day's cache spares the 10 MB
            "Cache-Control": "max-age=86400",
        },
    )


async def health(request: web.Request) -> web.Response:
    return web.json_response(request.app[MANAGER].health())


async def open_session(request: web.Request) -> web.Response:
    body = await _json(request)
    wear = saved_avatars.resolver(request, body)  # a saved avatar, custom emotes
    who = await identify(request)
    manager = request.app[MANAGER]
    owned = await market.owned_items(request, who.user_id)  # the marketplace items it holds
    # the scene's background pictures: the bundled ones and this account's or guest's own
    # (a visitor without a guest cookie is made a guest, before the session exists)
    scene, guest = backgrounds.scene_owner(request, who.owner)
    answer, session = await manager.open_puppet(
        body,
        wear,
        **market.puppet_kwargs(owned),
        owner=who.user_id,  # its API tokens may open this session's OBS/WHEP views
        scene_owner=scene,
    )
    q = f"?token={session.token}"
    response = web.json_response(
        {
            "sdp": answer,
            "type": "answer",
            "session": session.id,
            "token": session.token,
            "obs_url": f"/obs/{session.id}{q}",
            "whep_url": f"/whep/{session.id}{q}",
        }
    )
    if guest is not None:  # a new guest: the uploads the page makes must be theirs
        guests.remember(response, request, guest)
    return response


async def _account_of(request: web.Request) -> str | None:
    """The account whose API token the request carries (Bearer or `?token=`), if any: a
    signed-in streamer's OBS and WHEP links may use one of their API tokens instead of the
    session's own token (docs/API.md)."""
    token = _token(request)
    if not token or not token.startswith(api_tokens.API_TOKEN_PREFIX):
        return None
    holder = await api_tokens.authenticate(request.app[STORE], token)
    return holder.user_id if holder is not None else None


async def close_session(request: web.Request) -> web.Response:
    await request.app[MANAGER].close_session(
        request.match_info["session"],
        _token(request),
        user_id=await _account_of(request),
        linger=request.query.get("linger") == "1",  # the page is leaving: maybe a reload
    )
    return web.json_response({"closed": request.match_info["session"]})


async def preview_options(request: web.Request) -> web.Response:
    """What the preview page offers: the bundled avatar's animations and sprite labels."""
    return web.json_response(preview_choices(request.app[MANAGER].bundle))


async def open_preview(request: web.Request) -> web.Response:
    body = await _json(request)
    wear = saved_avatars.resolver(request, body, preview=True)
    manager = request.app[MANAGER]
    item = await market.try_on_item(request, body)  # "try": a marketplace listing, worn live
    answer, session = await manager.open_preview(body, body, wear, **market.preview_kwargs(item))
    return web.json_response({"sdp": answer, "type": "answer", "preview": session.id})


async def whep_open(request: web.Request) -> web.Response:
    ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype != "application/sdp":
        return _error(415, 'WHEP offers are sent as "Content-Type: application/sdp"')
    sid = request.match_info["session"]
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(MAX_BODY, request.content_length)
    raw = await request.read()
    try:
        offer = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadOffer(f"the SDP offer is not valid UTF-8 (byte {e.start})") from None
    answer, resource = await request.app[MANAGER].open_viewer(
        sid,
        _token(request),
        offer,
        request.query.get("layout", "opaque"),
        user_id=await _account_of(request),
    )
    return web.Response(
        status=201,
        text=answer,
        content_type="application/sdp",
        headers={"Location": f"/whep/{sid}/{resource}"},
    )


async def whep_close(request: web.Request) -> web.Response:
    """End one viewer: the session's token is needed, as for opening it."""
    sid, resource = request.match_info["session"], request.match_info["resource"]
    await request.app[MANAGER].close_viewer(
        sid, resource, _token(request), user_id=await _account_of(request)
    )
    return web.Response(status=200)


async def whep_patch(request: web.Request) -> web.Response:
    # Our answers carry every candidate (no trickle ICE), as the draft allows.
    return web.Response(
        status=405, headers={"Allow": "DELETE"}, text="trickle ICE is not supported"
    )


async def whep_options(request: web.Request) -> web.Response:
    # CORS preflight headers are added by webapi/security.py, for every WHEP answer
    if "resource" in request.match_info:
        return web.Response(status=204, headers={"Allow": "DELETE, PATCH, OPTIONS"})
    return web.Response(
        status=204, headers={"Allow": "POST, OPTIONS", "Accept-Post": "application/sdp"}
    )
