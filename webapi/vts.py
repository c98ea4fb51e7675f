"""VTube Studio's plugin API over WebSocket: `/api/vts` on our port, and with
`digigami serve --vts-port 8001` also on the port VTube Studio's plugins expect (any path).

The protocol is streaming/vts; here: the socket, its limits (connections in all and per
address, the largest message), and the second listening port. The API port accepts
plugins from any web origin, as VTube Studio does (browser-based plugins and overlays
connect from their own sites): every plugin still needs the streamer's Allow on the puppet
page before it can do anything. `/api/vts` on our own port follows the server's origin
rule (docs/SECURITY.md): its own pages, `--allow-origin` sites and non-browser clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from streaming.vts.plugins import MAX_MESSAGE_BYTES, Connection, PluginHub
from webapi.vts_tokens import StoredPlugins

log = logging.getLogger(__name__)

HUB = web.AppKey("vts_hub", PluginHub)
MAX_CONNECTIONS = 32  # plugin sockets at once, all addresses together
MAX_PER_ADDRESS = 8  # ... from one address
# A message past our own limit (MAX_MESSAGE_BYTES) is answered with the protocol's error;
# one past this is not even read: the socket is closed (1009, "message too big").
MAX_FRAME = 1024 * 1024
RUNNER = web.AppKey("vts_runner", web.AppRunner)


def setup(
    app: web.Application,
    manager: Any,
    store: Any,
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    clock: Callable[[], float] = time.monotonic,
) -> PluginHub:
    """`/api/vts` on `app`, and the API's own port when `port` is given. `manager`: the
    SessionManager (its live sessions); `store`: the SQLite store (approved plugins);
    `clock`: the sessions' clock (injected values expire on it)."""
    hub = PluginHub(lambda: manager.sessions_for_plugins(), StoredPlugins(store), clock=clock)
    app[HUB] = hub
    app.router.add_get("/api/vts", socket)

    async def start(app: web.Application) -> None:
        await hub.start()
        if port is not None:
            side = web.Application(client_max_size=MAX_FRAME)
            side[HUB] = hub
            side.router.add_get("/{tail:.*}", socket)
            app[RUNNER] = await _listen(side, host, port)
            log.info("VTube Studio API listening on ws://%s:%d", host, port)

    async def stop(app: web.Application) -> None:
        if RUNNER in app:
            await app[RUNNER].cleanup()
        await hub.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return hub


def setup_unavailable(
    app: web.Application, reason: str, *, port: int | None = None, host: str = "127.0.0.1"
) -> None:
    """`/api/vts` (and the API's own port when `port` is given) answering 501 with
    `reason`: a server with no live sessions of its own (a cluster front) has nothing for
    a plugin to steer, and a plugin is told so rather than left to guess from a 404."""

    async def unavailable(request: web.Request) -> web.Response:
        return web.json_response({"error": reason}, status=501)

    app.router.add_get("/api/vts", unavailable)
    if port is None:
        return

    async def start(app: web.Application) -> None:
        side = web.Application(client_max_size=MAX_FRAME)
        side.router.add_route("*", "/{tail:.*}", unavailable)
        app[RUNNER] = await _listen(side, host, port)
        log.info("VTube Studio API port %s:%d answers 501 (cluster mode)", host, port)

    async def stop(app: web.Application) -> None:
        if RUNNER in app:
            await app[RUNNER].cleanup()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)


async def socket(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    address = request.remote or "?"
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, heartbeat=30.0, compress=False)
    if not ws.can_prepare(request).ok:
        return web.json_response(
            {
                "error": "this is VTube Studio's plugin API: connect with a WebSocket "
                "(docs/CONTROL.md, VTube Studio API)"
            },
            status=400,
        )
    if len(hub.connections) >= MAX_CONNECTIONS:
        return web.json_response(
            {"error": f"too many plugin connections (at most {MAX_CONNECTIONS})"}, status=503
        )
    if sum(c.address == address for c in hub.connections) >= MAX_PER_ADDRESS:
        return web.json_response(
            {"error": f"too many plugin connections from {address} (at most {MAX_PER_ADDRESS})"},
            status=429,
        )
    await ws.prepare(request)
    lock = asyncio.Lock()

    async def send(msg: dict[str, Any]) -> None:
        async with lock:
            if not ws.closed:
                await ws.send_str(json.dumps(msg))

    conn = Connection(hub, send, address)
    try:
        async for m in ws:
            if m.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                await conn.handle(m.data)
            elif m.type == WSMsgType.ERROR:
                break
    finally:
        conn.close()
        with contextlib.suppress(Exception):
            await ws.close()
    return ws


__all__ = ["HUB", "MAX_MESSAGE_BYTES", "setup", "setup_unavailable", "socket"]


async def _listen(side: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve `side` on its own port (the plugin API's `--vts-port`)."""
    runner = web.AppRunner(side, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
