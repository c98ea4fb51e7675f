"""`digigami serve`: the aiohttp server on its event loop, closed cleanly on Ctrl-C or
SIGTERM (every session, peer connection and worker thread ends)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from streaming.manager import SessionManager
from webapi import heap, security
from webapi.app import MANAGER, MAX_VIEWERS, Sessions, create_app
from webapi.limits import GenerationLimits
from webapi.logs import DEFAULT as DEFAULT_LOG_LEVEL
from webapi.logs import configure_logging
from webapi.market.payments import Payments
from webapi.store import Store

# what a request still in flight at a stop is given before it is cancelled (aiohttp's
# default is a minute: too long for Ctrl-C, or for a test's teardown)
SHUTDOWN_TIMEOUT_S = 5.0
TRIMMER = web.AppKey("trimmer", heap.Trimmer)


def run_server(
    host: str,
    port: int,
    rig: str,
    max_sessions: int,
    max_previews: int,
    *,
    max_viewers: int = MAX_VIEWERS,
    media_host: str | None = None,
    allow_origins: Iterable[str] = (),
    header_timeout: float | None = None,
    generation: GenerationLimits | None = None,
    db: Path | str | None = None,
    log_level: str = DEFAULT_LOG_LEVEL,
    vts_port: int | None = None,
    payments: Payments | None = None,
    **app_options: Any,
) -> None:
    """Serve until stopped. `media_host`: where media sockets bind (None: every interface);
    `header_timeout`: seconds a connection has to send a request's headers
    (security.HEADER_TIMEOUT_S when None); `db`: the SQLite file (store.default_path()
    when None); `log_level`: the console's (webapi/logs.py). A database this version
    cannot use raises SchemaError before anything else starts. `vts_port`: VTube Studio's
    plugin API on this port too (webapi/vts.py). `payments`: Stripe for the marketplace
    (webapi/market/payments.py; None: the keys in the environment). `app_options`: the
    rest of create_app's (ICE servers, a cluster front's sessions and generation)."""
    # Created and migrated here, before the rig and the GL thread load: a bad or newer
    # file is one error line at once (the app's own start-up then finds it current).
    store = Store(db).open()
    store.close()
    security.quiet_bad_requests()
    app = create_app(
        rig=rig,
        max_sessions=max_sessions,
        max_previews=max_previews,
        max_viewers=max_viewers,
        media_host=media_host,
        allow_origins=allow_origins,
        generation=generation,
        db=db,
        vts_port=vts_port,
        vts_host=host,
        payments=payments,
        **app_options,
    )
    # after the app's own start-up (the rig, the GL thread, a warm landmarker): what is
    # loaded by then stays for the process's life
    app.on_startup.append(_settle_heap)
    # and from then on, the C heap's free pages handed back while nothing streams
    app[TRIMMER] = trimmer_for(app[MANAGER])
    app.on_startup.append(_start_trimming)
    app.on_cleanup.append(_stop_trimming)
    # after the app is made: a bad option (create_app's checks) is still one plain line
    configure_logging(log_level)
    print(
        f"digigami: serving {rig} at http://{host}:{port}/ (database {store.path}, "
        f"schema version {store.schema_version}; Ctrl-C stops)",
        flush=True,
    )
    web.run_app(
        app,
        host=host,
        port=port,
        print=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        # aiohttp's keep-alive timer is its only guard against slow request headers
        # (webapi/security.py)
        keepalive_timeout=header_timeout or security.HEADER_TIMEOUT_S,
    )


def trimmer_for(manager: Sessions) -> heap.Trimmer:
    """The trimmer of a server whose sessions `manager` holds (webapi/heap.py): it trims
    while no peer is connected; a cluster's front, which streams nothing itself, always."""
    if isinstance(manager, SessionManager):
        return heap.Trimmer(idle=manager.quiet)
    return heap.Trimmer()


async def _settle_heap(app: web.Application) -> None:
    heap.settle()


async def _start_trimming(app: web.Application) -> None:
    app[TRIMMER].start()


async def _stop_trimming(app: web.Application) -> None:
    app[TRIMMER].stop()
