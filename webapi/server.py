"""`digigami serve`: the aiohttp server on its event loop, closed cleanly on Ctrl-C or
SIGTERM (every session, peer connection and worker thread ends)."""

from __future__ import annotations

import logging

from aiohttp import web

from webapi.app import create_app


def run_server(host: str, port: int, rig: str, max_sessions: int, max_previews: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    app = create_app(rig=rig, max_sessions=max_sessions, max_previews=max_previews)
    print(f"digigami: serving {rig} at http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    web.run_app(app, host=host, port=port, print=None, shutdown_timeout=5.0)
