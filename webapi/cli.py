"""`digigami` command line. Lives at the top of the dependency graph (webapi) so that later
commands (`serve`) can reach every layer; each command imports what it needs lazily (the
single-box `serve` never imports Ray: only `serve --ray` and `worker` do, docs/SCALE.md)."""

from __future__ import annotations

import argparse
import ipaddress
import re
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from streaming.admission import (
    CONNECT_WITHIN,
    MAX_CONNECT_WITHIN,
    MIN_CONNECT_WITHIN,
    check_connect_within,
)
from webapi.logs import LOG_LEVELS, log_level

DEFAULT_RIG = "digi"  # the bundled avatar every user meets first
MAX_ICE_URL = 512  # characters of one --ice-server URL
MAX_ICE_SECRET = 256  # characters of a TURN username or credential
MAX_SLOTS = 256  # live sessions one render worker may hold
# scheme, optional user:pass@, host (a name, an IPv4 address or a [bracketed] IPv6 one),
# optional port, optional ?transport=
_ICE_URL = re.compile(
    r"(?P<scheme>stun|turns?):(?:(?P<creds>[^@/?#\s]+)@)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
    r"(?::(?P<port>\d{1,5}))?(?:\?transport=(?P<transport>udp|tcp))?"
)


def main(argv: list[str] | None = None) -> int:
    """Run a command; bad input (an unknown rig, state or file) is one clear line, exit 2."""
    from engine.anim.controller import UnknownStateError
    from engine.rig.errors import FormatError
    from engine.sprites import UnknownSpriteError
    from engine.tracking.camera import CameraError
    from webapi.store import SchemaError

    try:
        return _main(argv)
    except (FormatError, UnknownStateError, UnknownSpriteError, CameraError, SchemaError) as e:
        print(f"digigami: error: {e}", file=sys.stderr)
        return 2


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="digigami", description="Digigami live avatar engine")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="play the test rig's state machine headless and report")
    demo.add_argument("--rig", default=DEFAULT_RIG, help="rig id under rigs/")
    demo.add_argument("--seed", type=int, default=0, help="random seed (idle variants, dances)")
    demo.add_argument("--seconds", type=float, default=32.0, help="simulated seconds to play")
    demo.add_argument("--png", type=Path, default=None, help="write a wireframe contact sheet here")
    render = sub.add_parser("render", help="render animations to PNG frames and a contact sheet")
    render.add_argument("--rig", default=DEFAULT_RIG, help="rig id under rigs/")
    render.add_argument(
        "--state", default=None, help="a state (default: every animation, one sheet)"
    )
    render.add_argument(
        "--variant", default=None, help="one of the state's animations (dance_3, ...)"
    )
    render.add_argument("--frames", type=int, default=8, help="frames over one play")
    render.add_argument("--size", type=int, default=512, help="output size in pixels (square)")
    render.add_argument("--framing", default="full", choices=("full", "bust", "face"))
    render.add_argument("--out", type=Path, default=Path("out/render"), help="output folder")
    preview = sub.add_parser(
        "preview", help="open a desktop window with the avatar (keys drive it)"
    )
    preview.add_argument("--rig", default=DEFAULT_RIG, help="rig id under rigs/")
    preview.add_argument("--size", type=int, default=640, help="window size in pixels")
    preview.add_argument("--seed", type=int, default=0)
    preview.add_argument("--screenshot", default=None, help="save the window to this PNG and quit")
    preview.add_argument("--after", type=float, default=2.0, help="seconds before the screenshot")
    puppet = sub.add_parser(
        "puppet", help="a desktop window with the avatar following your face (webcam or video)"
    )
    puppet.add_argument("--rig", default=DEFAULT_RIG, help="rig id under rigs/")
    puppet.add_argument(
        "--camera",
        type=camera_arg,
        default=0,
        metavar="INDEX_OR_FILE",
        help="webcam device index (default 0) or a video file to play in a loop",
    )
    puppet.add_argument("--size", type=int, default=640, help="window size in pixels")
    puppet.add_argument("--seed", type=int, default=0)
    puppet.add_argument("--screenshot", default=None, help="save the window to this PNG and quit")
    puppet.add_argument("--after", type=float, default=2.0, help="seconds before the screenshot")
    serve = sub.add_parser("serve", help="the live server: puppet page, OBS source, previews")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--rig", default=DEFAULT_RIG, help="rig id under rigs/")
    serve.add_argument(
        "--max-sessions", type=int, default=3, help="live puppet sessions at once (then: busy)"
    )
    serve.add_argument("--max-previews", type=int, default=8, help="preview streams at once")
    serve.add_argument(
        "--max-viewers", type=int, default=8, help="WHEP/OBS viewers of one session at once"
    )
    serve.add_argument(
        "--media-host",
        default=None,
        metavar="ADDRESS",
        help="address the media (UDP) sockets bind to (default: the --host address; every "
        "interface when --host is 0.0.0.0 or ::)",
    )
    serve.add_argument(
        "--allow-origin",
        dest="allow_origins",
        action="append",
        default=[],
        type=origin_arg,
        metavar="ORIGIN",
        help="another site whose pages may use this server (https://studio.example.com); "
        "repeatable (docs/SECURITY.md)",
    )
    serve.add_argument(
        "--connect-timeout",
        type=connect_timeout_arg,
        default=CONNECT_WITHIN,
        metavar="SECONDS",
        help="close a new WebRTC peer that has not connected and started streaming within "
        f"this and free its place (default {CONNECT_WITHIN:g}, "
        f"{MIN_CONNECT_WITHIN:g} to {MAX_CONNECT_WITHIN:g})",
    )
    serve.add_argument(
        "--header-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="close a connection whose request headers take longer than this (default 15)",
    )
    serve.add_argument(
        "--max-generations", type=int, default=2, help="avatar generations running at once"
    )
    serve.add_argument(
        "--generation-queue",
        type=int,
        default=64,
        metavar="JOBS",
        help="generations waiting for a slot, all visitors together (then: refused)",
    )
    serve.add_argument(
        "--guest-avatars",
        type=int,
        default=20,
        metavar="N",
        help="generated avatars one guest may keep stored",
    )
    serve.add_argument(
        "--guest-avatar-days",
        type=float,
        default=7.0,
        metavar="DAYS",
        help="unclaimed guest avatars are deleted after this many days",
    )
    serve.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=None,
        help="what the console shows: warning (the default: problems only), info (also "
        "sessions opening and closing), debug (also the WebRTC libraries' connection "
        "chatter); default $DIGIGAMI_LOG_LEVEL, else warning",
    )
    serve.add_argument(
        "--vts-port",
        type=int,
        default=None,
        metavar="PORT",
        help="also serve VTube Studio's plugin API on this port (8001 is the one Stream Deck "
        "plugins and chat bots expect); it is always at /api/vts on --port "
        "(docs/CONTROL.md)",
    )
    serve.add_argument(
        "--db",
        type=Path,
        default=None,
        metavar="PATH",
        help="the SQLite database (accounts, avatars, animations), created and migrated at "
        "start (default: $DIGIGAMI_DB, else out/digigami.db)",
    )
    serve.add_argument(
        "--stripe-test",
        action="store_true",
        help="TEST MODE: purchases are paid to a local fake Stripe started with the server "
        "(localstripe, from the test extra; no real money): pay with the card 4242 4242 4242 "
        "4242 (docs/MARKETPLACE.md). Without it, Stripe's keys come from STRIPE_SECRET_KEY, "
        "STRIPE_PUBLISHABLE_KEY and STRIPE_WEBHOOK_SECRET",
    )
    add_ice_options(serve)
    serve.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="cluster mode (docs/SCALE.md): this server is a front (pages, API, signaling) of "
        "the Ray cluster whose head is at ADDRESS (host:port); live sessions run on its "
        "`digigami worker` boxes, generation on Ray Serve. Without it: one box, no Ray",
    )
    serve.add_argument(
        "--data",
        type=Path,
        default=None,
        metavar="DIR",
        help="the data directory (avatars/, backgrounds/, market/ under it; default out/): "
        "with --ray, the one every front and worker mounts",
    )
    serve.add_argument(
        "--gen-replicas",
        default=None,
        metavar="MIN:MAX",
        help="with --ray: deploy avatar generation on Ray Serve with this many replicas "
        "(autoscaled; a GPU each where the cluster has GPUs); without it a front uses the "
        "deployment another front made, or deploys 1:1 if there is none",
    )
    worker = sub.add_parser(
        "worker", help="a render box of a Ray cluster: holds live sessions (docs/SCALE.md)"
    )
    worker.add_argument(
        "--ray", required=True, metavar="ADDRESS", help="the cluster head's host:port"
    )
    worker.add_argument(
        "--slots",
        type=slots_arg,
        required=True,
        metavar="N",
        help=f"live sessions this box holds at once (1 to {MAX_SLOTS}; docs/SCALE.md sizes it)",
    )
    worker.add_argument("--rig", default=DEFAULT_RIG, help="rig id under rigs/")
    worker.add_argument(
        "--data",
        type=Path,
        default=Path("out"),
        metavar="DIR",
        help="the data directory the fronts write (read here: generated avatars, "
        "backgrounds, market content; default out/)",
    )
    worker.add_argument(
        "--media-host",
        default=None,
        metavar="ADDRESS",
        help="the address media (UDP) sockets bind to, one browsers can reach (default: "
        "every interface)",
    )
    worker.add_argument(
        "--drain-timeout",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="on Ctrl-C or SIGTERM: take no new sessions and give the live ones this long "
        "to end before they are ended (default 0: at once; their pages reconnect to "
        "another worker)",
    )
    worker.add_argument("--log-level", choices=LOG_LEVELS, default=None, help="as for serve")
    add_ice_options(worker)
    from webapi.export_cli import add_parser as add_export

    add_export(sub)
    backup = sub.add_parser(
        "backup", help="a consistent copy of the database, safe while the server runs"
    )
    backup.add_argument("path", type=Path, help="the copy to write (replaced if present)")
    backup.add_argument(
        "--db",
        type=Path,
        default=None,
        metavar="SOURCE",
        help="the database to copy (default: $DIGIGAMI_DB, else out/digigami.db)",
    )
    args = parser.parse_args(argv)

    if args.command == "backup":
        return backup_command(args.db, args.path)
    if args.command == "export":
        from webapi.export_cli import command

        return command(args)

    if args.command == "worker":
        try:
            return worker_command(args)
        except ValueError as e:
            print(f"digigami: error: {e}", file=sys.stderr)
            return 2

    if args.command == "serve":
        from webapi.limits import GenerationLimits, StorageQuota
        from webapi.server import run_server
        from webapi.store import default_path

        fake_stripe = None  # --stripe-test's fake Stripe, stopped with the server
        try:
            ice = ice_servers_for(args.ice_servers, args.ice_username, args.ice_credential)
            if args.gen_replicas is not None and args.ray is None:
                raise ValueError("--gen-replicas is for a cluster front: give --ray ADDRESS too")
            if args.data is not None:
                args.data = check_data_dir(args.data)
            cluster = front_for(args, ice) if args.ray is not None else {}
            generation = GenerationLimits(
                max_running=args.max_generations,
                max_queued=args.generation_queue,
                guest_quota=StorageQuota(avatars=args.guest_avatars),
                guest_max_age_s=args.guest_avatar_days * 86400.0,
            )
            payments, fake_stripe = stripe_for(args.stripe_test, args.host, args.port)
            run_server(
                args.host,
                args.port,
                args.rig,
                args.max_sessions,
                args.max_previews,
                max_viewers=args.max_viewers,
                media_host=media_host_for(args.host, args.media_host),
                allow_origins=args.allow_origins,
                header_timeout=args.header_timeout,
                generation=generation,
                db=args.db or default_path(),
                log_level=log_level(args.log_level),
                vts_port=args.vts_port,
                payments=payments,
                ice_servers=ice,
                connect_within=args.connect_timeout,
                avatar_root=args.data / "avatars" if args.data is not None else None,
                **cluster,
            )
        except ValueError as e:
            print(f"digigami: error: {e}", file=sys.stderr)
            return 2
        finally:
            if fake_stripe is not None:
                fake_stripe.stop()
        return 0

    if args.command == "preview":
        from engine.apps.window import run_preview

        run_preview(args.rig, args.size, args.seed, args.screenshot, args.after)
        return 0
    if args.command == "puppet":
        from engine.tracking.camera import CameraSource

        # a missing camera or file is one line before any window (or display) is needed
        camera = CameraSource(args.camera, loop=True).open()
        from engine.apps.window import run_puppet

        try:
            run_puppet(args.rig, camera, args.size, args.seed, args.screenshot, args.after)
        finally:
            camera.stop()
        return 0
    if args.command == "render":
        from engine.export.animation import render_command

        render_command(
            args.rig, args.state, args.variant, args.out, args.frames, args.size, args.framing
        )
        return 0

    if args.command in (None, "demo"):
        from engine.apps.demo import run

        run(
            rig=getattr(args, "rig", DEFAULT_RIG),
            seed=getattr(args, "seed", 0),
            seconds=getattr(args, "seconds", 32.0),
            png=getattr(args, "png", None),
        )
        return 0
    parser.print_help()
    return 2


def add_ice_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ice-server",
        dest="ice_servers",
        action="append",
        default=[],
        type=ice_url_arg,
        metavar="URL",
        help="a STUN or TURN server every peer connection uses (deployments behind NAT): "
        "stun:HOST[:PORT], turn:HOST[:PORT][?transport=udp|tcp], turns:HOST[:PORT], a TURN "
        "one with its login as turn:USER:PASSWORD@HOST:PORT or --ice-username/"
        "--ice-credential; at most one STUN and one TURN server. Default: none",
    )
    parser.add_argument(
        "--ice-username", default=None, metavar="USER", help="the TURN server's username"
    )
    parser.add_argument(
        "--ice-credential", default=None, metavar="PASSWORD", help="the TURN server's password"
    )


def connect_timeout_arg(value: str) -> float:
    """`--connect-timeout`: seconds, within the bounds the server accepts."""
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    try:
        return check_connect_within(seconds)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def ice_url_arg(value: str) -> tuple[str, str, str | None, str | None]:
    """`--ice-server`: a stun:, turn: or turns: URL, as (scheme, the URL aiortc is given,
    username, password); the login embedded in a TURN URL is taken out of it."""
    if len(value) > MAX_ICE_URL:
        raise argparse.ArgumentTypeError(f"an ICE server URL is at most {MAX_ICE_URL} characters")
    shown = value if len(value) <= 80 else value[:80] + "..."
    scheme = value.split(":", 1)[0].lower() if ":" in value else ""
    if scheme not in ("stun", "turn", "turns"):
        raise argparse.ArgumentTypeError(
            f'"{shown}" is not a STUN or TURN server: expected stun:HOST[:PORT], '
            "turn:HOST[:PORT] or turns:HOST[:PORT] (no http:// or other schemes)"
        )
    match = _ICE_URL.fullmatch(value)
    if match is None:
        raise argparse.ArgumentTypeError(
            f'malformed ICE server URL "{shown}": expected {scheme}:HOST[:PORT]'
            + ("" if scheme == "stun" else "[?transport=udp|tcp], a login as USER:PASSWORD@")
        )
    port, transport = match["port"], match["transport"]
    if port is not None and not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f'"{shown}": the port must be 1 to 65535')
    user = password = None
    if match["creds"] is not None:
        if scheme == "stun":
            raise argparse.ArgumentTypeError(f'"{shown}": a STUN server takes no login')
        user, sep, password = match["creds"].partition(":")
        if not sep or not user or not password:
            raise argparse.ArgumentTypeError(
                f'"{shown}": a TURN login is USER:PASSWORD@ (both parts)'
            )
    if scheme == "stun" and transport is not None:
        raise argparse.ArgumentTypeError(f'"{shown}": a STUN server takes no ?transport=')
    if scheme == "turns" and transport == "udp":
        raise argparse.ArgumentTypeError(f'"{shown}": turns: (TURN over TLS) is TCP only')
    url = f"{scheme}:{match['host']}" + (f":{port}" if port else "")
    if transport is not None:
        url += f"?transport={transport}"
    return scheme, url, user, password


def ice_servers_for(
    urls: list[tuple[str, str, str | None, str | None]],
    username: str | None,
    credential: str | None,
) -> list[Any]:
    """The RTCIceServers of `--ice-server` URLs (parsed by `ice_url_arg`) with the TURN
    login of `--ice-username/--ice-credential` where a URL carries none. ValueError says
    what is missing or too much: aiortc uses one STUN and one TURN server, so a second of
    either would be silently ignored, and is refused here instead."""
    for name, secret in (("--ice-username", username), ("--ice-credential", credential)):
        if secret is not None and not 0 < len(secret) <= MAX_ICE_SECRET:
            raise ValueError(f"{name} must be 1 to {MAX_ICE_SECRET} characters")
    if (username is None) != (credential is None):
        raise ValueError("--ice-username and --ice-credential go together (give both)")
    schemes = [scheme.rstrip("s") for scheme, *_ in urls]
    for kind in ("stun", "turn"):
        if schemes.count(kind) > 1:
            raise ValueError(
                f"at most one {kind.upper()} server (--ice-server): WebRTC here uses only one"
            )
    if username is not None and "turn" not in schemes:
        raise ValueError("--ice-username/--ice-credential are a TURN server's login: give "
                         "--ice-server turn:HOST[:PORT] too")  # fmt: skip
    from aiortc import RTCIceServer

    servers = []
    for scheme, url, user, password in urls:
        if scheme == "stun":
            servers.append(RTCIceServer(url))
            continue
        user, password = (user, password) if user is not None else (username, credential)
        if user is None:
            raise ValueError(
                f'the TURN server "{url}" needs a login: turn:USER:PASSWORD@HOST:PORT or '
                "--ice-username and --ice-credential"
            )
        servers.append(RTCIceServer(url, username=user, credential=password))
    return servers


def slots_arg(value: str) -> int:
    """`--slots`: a whole number of live sessions, 1 to MAX_SLOTS."""
    if not value.strip().isdigit() or not 1 <= int(value) <= MAX_SLOTS:
        raise argparse.ArgumentTypeError(f"--slots must be a whole number from 1 to {MAX_SLOTS}")
    return int(value)


def check_data_dir(data: Path) -> Path:
    """`--data`: a directory (made if missing, as `out/` is)."""
    if data.exists() and not data.is_dir():
        raise ValueError(f"--data {data}: not a directory")
    data.mkdir(parents=True, exist_ok=True)
    return data


def front_for(args: argparse.Namespace, ice: list[Any]) -> dict[str, Any]:
    """`serve --ray`: join the cluster, find or deploy generation on Ray Serve, and the
    create_app options of a front (its sessions on the cluster's workers). Blocking, before
    the server's event loop runs."""
    from webapi.cluster import generation
    from webapi.cluster.front import ClusterSessions

    if ice:  # the front has no peers: its workers make them, with their own --ice-server
        print("digigami: note: --ice-server on a front is unused; give it to each worker",
              file=sys.stderr)  # fmt: skip
    if args.connect_timeout != CONNECT_WITHIN:  # likewise: the workers hold the peers
        print("digigami: note: --connect-timeout on a front is unused; the workers keep "
              f"the default ({CONNECT_WITHIN:g} s)", file=sys.stderr)  # fmt: skip
    replicas = generation.parse_replicas(args.gen_replicas) if args.gen_replicas else None
    joined(args.ray)
    if replicas is not None:
        remote = generation.deploy(*replicas)
    else:
        try:
            remote = generation.connect_generation()
        except generation.GenerationUnavailable:  # the first front: it deploys the default
            remote = generation.deploy(1, 1)
    return {"sessions": ClusterSessions(args.rig), "remote_generation": remote}


def joined(address: str) -> None:
    """Connect to the cluster at `address`; a failure (no head there, `ray start` refused)
    is a ValueError naming the address, so it is one error line."""
    from webapi.cluster import connect

    try:
        connect.join(address)
    except (RuntimeError, ConnectionError, TimeoutError) as e:
        raise ValueError(f"cannot join the Ray cluster at {address[:100]}: {e}") from None


def worker_command(args: argparse.Namespace) -> int:
    """`digigami worker`: make this machine a render box of the cluster (a Ray node with a
    RenderNode actor on it), hold sessions until Ctrl-C or SIGTERM, then drain and leave.
    Exit 1 when the box's actor is lost (its node was removed from the cluster)."""
    from webapi.logs import configure_logging

    ice = ice_servers_for(args.ice_servers, args.ice_username, args.ice_credential)
    if not 0 <= args.drain_timeout <= 24 * 3600:  # NaN too
        raise ValueError("--drain-timeout must be 0 to 86400 seconds")
    data = check_data_dir(args.data)
    configure_logging(log_level(args.log_level))
    from webapi.cluster import connect, node

    joined(args.ray)
    node_id = connect.this_node()
    handle = node.start_node(
        node_id,
        args.slots,
        data_root=data.resolve(),
        media_host=args.media_host,
        ice_servers=ice,
        rig=args.rig,
    )
    print(
        f"digigami: render worker on node {node_id[:16]} holds {args.slots} sessions "
        f"(cluster {args.ray}; Ctrl-C drains and leaves)",
        flush=True,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    lost = False
    while not stop.wait(5.0):
        why = node.why_lost(handle)  # a box whose actor died has nothing left to hold
        if why is not None:
            print(f"digigami: error: this render worker was lost: {why}", file=sys.stderr)
            lost = True
            break
    if not lost:
        print("digigami: draining: no new sessions; then leaving the cluster", flush=True)
        node.stop_node(handle, drain_timeout=args.drain_timeout)
    connect.leave()
    return 1 if lost else 0


def backup_command(source: Path | None, target: Path) -> int:
    """`digigami backup PATH [--db SOURCE]`: SQLite's online backup of the database (a
    running server keeps serving); one line saying what it wrote, or one error line."""
    from webapi.store import default_path
    from webapi.store.database import backup

    source = source or default_path()
    try:
        written = backup(source, target)
    except OSError as e:  # the target's folder cannot be written, the disk is full...
        message = f"cannot write {target}: {e.strerror}" if e.strerror else str(e)
        print(f"digigami: error: {message}", file=sys.stderr)
        return 2
    size = written.stat().st_size
    print(f"digigami: backed up {source} to {written} ({size:,} bytes)")
    return 0


def stripe_for(test_mode: bool, host: str, port: int) -> tuple[Any, Any]:
    """(Payments, the fake Stripe or None) for `serve`: the keys from the environment, or
    with `--stripe-test` a fake Stripe (webapi/market/stripe_test.py) started now, sending
    its signed webhooks to this server's /api/marketplace/webhook."""
    from webapi.market.payments import Payments

    if not test_mode:
        return Payments.from_env(), None
    from webapi.market.stripe_test import start_fake_stripe

    local = "127.0.0.1" if host in ("0.0.0.0", "::", "", "localhost") else host
    if ":" in local:
        local = f"[{local}]"
    try:
        fake = start_fake_stripe(f"http://{local}:{port}/api/marketplace/webhook", log=True)
    except RuntimeError as e:
        raise ValueError(str(e)) from None
    print(
        f"digigami: Stripe TEST MODE: payments go to a local fake Stripe at {fake.api_base} "
        "(no real money); pay with the card 4242 4242 4242 4242, any future expiry, any CVC",
        flush=True,
    )
    return fake.payments(), fake


def origin_arg(value: str) -> str:
    """`--allow-origin`: an http(s) origin, normalized as browsers send it."""
    from webapi.security import normalize_origin

    try:
        return normalize_origin(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def media_host_for(host: str, media_host: str | None) -> str | None:
    """Where media sockets bind: `--media-host` when given, else the HTTP address (a name
    resolved to its address: media sockets bind to addresses), except a wildcard one (None:
    every interface, as aiortc does by default)."""
    if media_host:
        return None if media_host in ("0.0.0.0", "::") else media_host
    if host in ("0.0.0.0", "::", ""):
        return None
    if host == "localhost":
        return "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            return socket.getaddrinfo(host, None)[0][4][0]
        except OSError:
            return host  # the server cannot listen there either; it will say so
    return host


def camera_arg(value: str) -> int | str:
    """`--camera`: digits are a webcam device index, anything else a video file path."""
    return int(value) if value.isdigit() else value


if __name__ == "__main__":
    sys.exit(main())
