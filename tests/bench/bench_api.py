"""Benchmark: the REST API on a real `digigami serve` (tests/security/server.py): 50
concurrent keep-alive clients (aiohttp) on `GET /api/avatars` for a user with 200 saved
avatars, then on `GET /api/animations`, each for N seconds, with an API token (Bearer).

    .venv/bin/python -m tests.bench.bench_api [--seconds 10] [--clients 50] [--avatars 200]
                                              [--profile server.prof] [PATH ...]

Prints requests/s, latency p50/p95/p99, errors, the server's and this process's CPU, and
the machine. Goal (issue 13): >= 1,500 requests/s and p95 < 50 ms for the avatar list on
the 2-core dev VM. The clients run on the same cores as the server, so their CPU is
reported too. `--profile FILE` runs the server under cProfile (its event-loop thread) and
prints where its time went. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

import tests.security.server as server_module
from tests.bench.machine import machine as cpu_machine
from tests.security.server import Server
from tests.store import http

# the list's default page (50, newest first), the whole list in one page (200 at most), the
# clips (the built-in ones and the caller's own)
DEFAULT_PATHS = ("/api/avatars", "/api/avatars?limit=200", "/api/animations")


def machine() -> str:
    return f"{cpu_machine()}, aiohttp {aiohttp.__version__}"


def cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system) of a process: this one when `pid` is None."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def set_up(base: str, avatars: int) -> str:
    """A signed-up user with `avatars` saved avatars (made through the API); their token."""
    async with aiohttp.ClientSession(cookie_jar=http.jar()) as s:
        status, body = await http.signup(s, base, "bench_user")
        if status not in (200, 201):
            raise SystemExit(f"sign-up failed: {status} {body}")
        async with s.post(
            f"{base}/api/tokens", json={"name": "bench"}, headers=http.page_headers(base)
        ) as r:
            answer = await r.json(content_type=None)
            if r.status not in (200, 201):
                raise SystemExit(f"POST /api/tokens failed: {r.status} {answer}")
        token = answer.get("token") if isinstance(answer, dict) else None
        if not isinstance(token, str):
            raise SystemExit(f"POST /api/tokens answered no token: {answer}")
        bearer = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        sem = asyncio.Semaphore(8)

        async def one(n: int) -> None:
            async with sem:
                status, body = await http.create_avatar(s, base, n, headers=bearer)
                if status not in (200, 201):
                    raise SystemExit(f"POST /api/avatars failed: {status} {body}")

        await asyncio.gather(*(one(n) for n in range(avatars)))
    return token


async def hammer(
    url: str, token: str, clients: int, seconds: float, server_pid: int
) -> dict[str, Any]:
    """`clients` keep-alive connections, each sending the next request as soon as the last
    one is answered, for `seconds`."""
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    sizes: set[int] = set()
    stop = time.monotonic() + seconds

    async def client() -> None:
        connector = aiohttp.TCPConnector(limit=1)  # one keep-alive connection per client
        async with aiohttp.ClientSession(connector=connector, headers=headers) as s:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                try:
                    async with s.get(url) as r:
                        body = await r.read()
                        status = r.status
                except (aiohttp.ClientError, TimeoutError) as e:
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                    continue
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    errors[str(status)] = errors.get(str(status), 0) + 1
                else:
                    sizes.add(len(body))

    server0, client0, t0 = cpu_s(server_pid), cpu_s(), time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.monotonic() - t0
    ms = np.asarray(latencies) * 1000
    return {
        "requests": ms.size,
        "rps": ms.size / wall,
        "p50": float(np.percentile(ms, 50)) if ms.size else float("nan"),
        "p95": float(np.percentile(ms, 95)) if ms.size else float("nan"),
        "p99": float(np.percentile(ms, 99)) if ms.size else float("nan"),
        "errors": errors,
        "bytes": sorted(sizes),
        "server_cpu": (cpu_s(server_pid) - server0) / wall,
        "client_cpu": (cpu_s() - client0) / wall,
    }


def report(name: str, r: dict[str, Any]) -> None:
    print(
        f"| {name} | {r['rps']:,.0f} | {r['p50']:.1f} ms | {r['p95']:.1f} ms | "
        f"{r['p99']:.1f} ms | {sum(r['errors'].values())} {r['errors'] or ''} | "
        f"{r['server_cpu']:.0%} | {r['client_cpu']:.0%} | {','.join(map(str, r['bytes']))} |",
        flush=True,
    )


async def bench(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-api-"))
    if args.profile:
        # the server under cProfile; SIGTERM ends it cleanly, and cProfile writes the file
        profile = Path(args.profile).resolve()
        server_module.digigami = lambda: [
            sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "webapi.cli",
        ]  # fmt: skip
    server = Server(folder, "--db", str(folder / "bench.db")).start()
    try:
        print(f"machine: {machine()}")
        print(f"server: {server.url} (log {server.log}, database {folder / 'bench.db'})")
        t0 = time.monotonic()
        token = await set_up(server.url, args.avatars)
        print(f"set-up: 1 user, {args.avatars} avatars in {time.monotonic() - t0:.1f} s")
        print(f"{args.clients} clients, {args.seconds:g} s each, after {args.warmup:g} s warm-up")
        print("\n| endpoint | requests/s | p50 | p95 | p99 | errors | server CPU | "
              "client CPU | body bytes |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|")
        for path in args.paths or DEFAULT_PATHS:
            url = server.url + path
            await hammer(url, token, args.clients, args.warmup, server.pid)
            report(f"GET {path}", await hammer(url, token, args.clients, args.seconds, server.pid))
        print(
            f"\ngoal (GET /api/avatars, {args.avatars} avatars, {args.clients} clients): "
            ">= 1,500 requests/s and p95 < 50 ms"
        )
    finally:
        server.stop()
    if args.profile:
        print(f"\nserver profile ({args.profile}; event-loop thread), by own time:")
        pstats.Stats(str(profile)).sort_stats("tottime").print_stats(25)
        pstats.Stats(str(profile)).sort_stats("cumulative").print_stats(40)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per endpoint")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each")
    ap.add_argument("--clients", type=int, default=50, help="concurrent keep-alive clients")
    ap.add_argument("--avatars", type=int, default=200, help="the user's saved avatars")
    ap.add_argument("--profile", default=None, help="run the server under cProfile into this")
    ap.add_argument(
        "paths", nargs="*", help=f"the GET paths to load (default: {' '.join(DEFAULT_PATHS)})"
    )
    asyncio.run(bench(ap.parse_args()))


if __name__ == "__main__":
    main()
