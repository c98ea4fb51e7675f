"""Benchmark: marketplace search over 10,000 published listings (issue 17: p95 under 30 ms
at 50 concurrent clients on this machine).

    .venv/bin/python -m tests.bench.bench_market_search [--listings 10000] [--clients 50]
                                                         [--seconds 5] [--think-ms 0]

Builds a temporary database with N listings of varied words (deterministic), then, for
each of two paths, runs `--clients` concurrent clients for `--seconds` over a mix of
searches (no text, one word, a prefix, two words, relevance order, a filter, price order,
the second page of a cursor walk):
- domain: `Store.read(lambda db: search.search(db, query))` (the reader threads, no HTTP);
- HTTP: `GET /api/marketplace/assets?...` on an in-process aiohttp server
  (`webapi.app.create_app(db=...)`) with 50 keep-alive connections, when the route exists.
Prints requests/s, latency p50/p95/p99 per path and per query kind, errors and the machine.
`--think-ms`: each client pauses about that long between searches (0: saturation, where
latency is only queueing). The clients share the cores with the server. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import numpy as np

from tests.bench.machine import machine
from webapi.market import listings, search
from webapi.store import Store, new_id, now_iso

WORDS = [
    "neon",
    "casual",
    "formal",
    "armor",
    "street",
    "retro",
    "cyber",
    "pastel",
    "gothic",
    "summer",
    "winter",
    "autumn",
    "spring",
    "jacket",
    "hoodie",
    "shirt",
    "dress",
    "skirt",
    "coat",
    "boots",
    "sneakers",
    "scarf",
    "glasses",
    "hat",
    "cap",
    "crown",
    "wings",
    "tail",
    "horns",
    "halo",
    "mask",
    "cape",
    "gloves",
    "belt",
    "robe",
    "kimono",
    "uniform",
    "suit",
    "vest",
    "tie",
    "bow",
    "ribbon",
    "dance",
    "wave",
    "cheer",
    "laugh",
    "spin",
    "jump",
    "bounce",
    "robot",
    "disco",
    "sway",
    "twist",
    "stomp",
    "clap",
    "salute",
    "bow",
    "sunset",
    "beach",
    "forest",
    "city",
    "night",
    "sky",
    "stars",
    "moon",
    "ocean",
    "desert",
    "castle",
    "room",
    "studio",
    "stage",
    "sparkle",
    "glow",
    "fire",
    "ice",
    "snow",
    "rain",
    "smoke",
    "bubbles",
    "hearts",
    "confetti",
    "glitter",
    "aura",
    "lightning",
    "red",
    "blue",
    "green",
    "purple",
    "pink",
    "gold",
    "silver",
    "black",
    "white",
    "orange",
    "teal",
    "cyan",
    "magenta",
    "rainbow",
    "cute",
    "cool",
    "epic",
    "soft",
    "bold",
    "dark",
    "bright",
    "glossy",
    "matte",
    "vintage",
    "modern",
    "fantasy",
    "scifi",
    "anime",
    "toon",
    "cel",
    "watercolor",
    "sketch",
    "ink",
    "pixel",
    "chibi",
    "kawaii",
    "idol",
    "knight",
    "mage",
    "ninja",
    "pirate",
    "witch",
]
TYPES = listings.TYPES


def build(path: Path, n: int, seed: int = 17) -> list[str]:
    """A store at `path` with `n` published listings by 20 creators; the words used."""
    rng = random.Random(seed)
    store = Store(path).open()
    try:

        def creators(db: Any) -> list[str]:
            out = []
            for i in range(20):
                uid = new_id()
                db.execute(
                    "INSERT INTO users (id, email, email_key, username, username_key, "
                    "password_hash, created_at) VALUES (?, ?, ?, ?, ?, 'x', ?)",
                    [uid, f"c{i}@example.com", f"c{i}@example.com", f"c{i}", f"c{i}", now_iso()],
                )
                listings.ensure_creator(db, uid, f"Creator {i}")
                out.append(uid)
            return out

        people = store.write_now(creators)
        t0 = time.time()
        rows = []
        for _ in range(n):
            # published over the last ~100 days, some in the same millisecond (ties)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 - rng.randrange(8_640_000)))
            stamp += f".{rng.randrange(1000):03d}Z"
            price = rng.choice((0, 0, 99, 199, 250, 500, 999, 1500, 2500, 5000))
            rows.append(
                (
                    listings.new_listing_id(), rng.choice(people), rng.choice(TYPES),
                    " ".join(rng.choices(WORDS, k=rng.randint(2, 4))).capitalize(),
                    " ".join(rng.choices(WORDS, k=rng.randint(8, 30))),
                    " ".join(sorted(set(rng.choices(WORDS, k=rng.randint(1, 6))))),
                    price, rng.choice(("usd", "usd", "usd", "digi")),
                    '["digi"]' if rng.random() < 0.8 else "[]",
                    rng.randrange(200), rng.choice((0.0, 3.0, 3.5, 4.0, 4.5, 5.0)),
                    stamp, stamp, stamp,
                )
            )  # fmt: skip

        def insert(db: Any) -> None:
            db.conn.executemany(
                "INSERT INTO listings (id, creator_id, type, name, description, tags, "
                "price_cents, currency, compatibility, status, sales, rating_avg, "
                "rating_count, created_at, updated_at, published_at) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, 'published', ?, ?, 1, ?, ?, ?)",
                rows,
            )

        store.write_now(insert)
        store.write_now(lambda db: db.execute("ANALYZE"))
    finally:
        store.close()
    return list(WORDS)


def queries(rng: random.Random, cursors: dict[str, str]) -> tuple[str, dict[str, str]]:
    """One search of the mix: (kind, URL parameters)."""
    kind = rng.choice(
        ("all", "word", "prefix", "two words", "relevance", "type filter", "price order", "page 2")
    )
    w = rng.choice(WORDS)
    params: dict[str, str] = {
        "all": {},
        "word": {"text": w},
        "prefix": {"text": w[: max(2, len(w) // 2)]},
        "two words": {"text": f"{w} {rng.choice(WORDS)}"},
        "relevance": {"text": w, "sort": "relevance"},
        "type filter": {"type": rng.choice(TYPES), "free": "false", "rig": "digi"},
        "price order": {"sort": "price", "min_price": "100"},
        "page 2": {"sort": "popular", "cursor": cursors["popular"]},
    }[kind]
    return kind, params


def summary(name: str, lat: dict[str, list[float]], errors: int, seconds: float) -> None:
    every = [x for v in lat.values() for x in v]
    if not every:
        print(f"{name}: no answers ({errors} errors)")
        return
    ms = np.array(every) * 1000
    print(
        f"{name}: {len(ms) / seconds:.0f} searches/s, p50 {np.percentile(ms, 50):.1f} ms, "
        f"p95 {np.percentile(ms, 95):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms, "
        f"{errors} errors",
        flush=True,
    )
    for kind, values in sorted(lat.items()):
        k = np.array(values) * 1000
        print(f"    {kind:12s} n={len(k):6d} p50 {np.percentile(k, 50):6.1f} ms  "
              f"p95 {np.percentile(k, 95):6.1f} ms")  # fmt: skip


async def domain(path: Path, clients: int, seconds: float, think: float = 0.0) -> None:
    store = Store(path)
    await store.start()
    try:
        first = await store.read(lambda db: search.search(db, search.Query(sort="popular")))
        cursors = {"popular": first["next_cursor"]}
        lat: dict[str, list[float]] = {}
        errors = 0
        end = time.perf_counter() + seconds

        async def client(n: int) -> None:
            nonlocal errors
            rng = random.Random(n)
            await asyncio.sleep(think * rng.random())  # arrivals spread, not one burst
            while time.perf_counter() < end:
                kind, params = queries(rng, cursors)
                q = search.parse_query(params)
                t = time.perf_counter()
                try:
                    await store.read(lambda db, q=q: search.search(db, q))
                except Exception:  # a benchmark counts failures, it does not stop on one
                    errors += 1
                    continue
                lat.setdefault(kind, []).append(time.perf_counter() - t)
                await asyncio.sleep(think * rng.uniform(0.5, 1.5))

        await asyncio.gather(*(client(n) for n in range(clients)))
        summary(f"domain (Store.read(search)), {clients} clients", lat, errors, seconds)
    finally:
        await store.aclose()


async def http(path: Path, clients: int, seconds: float, think: float = 0.0) -> None:
    from aiohttp import web

    from webapi.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(db=path, avatar_root=Path(tmp) / "avatars")
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}/api/marketplace/assets"
        try:
            conn = aiohttp.TCPConnector(limit=clients)
            async with aiohttp.ClientSession(connector=conn) as s:
                async with s.get(f"{base}?sort=popular") as r:
                    if r.status == 404:
                        print("HTTP: GET /api/marketplace/assets is not served (yet): skipped")
                        return
                    first = await r.json()
                cursors = {"popular": first["next_cursor"]}
                lat: dict[str, list[float]] = {}
                errors = 0
                end = time.perf_counter() + seconds

                async def client(n: int) -> None:
                    nonlocal errors
                    rng = random.Random(1000 + n)
                    await asyncio.sleep(think * rng.random())  # spread, not one burst
                    while time.perf_counter() < end:
                        kind, params = queries(rng, cursors)
                        t = time.perf_counter()
                        try:
                            async with s.get(f"{base}?{urlencode(params)}") as r:
                                await r.read()
                                ok = r.status == 200
                        except aiohttp.ClientError:
                            ok = False
                        if not ok:
                            errors += 1
                            continue
                        lat.setdefault(kind, []).append(time.perf_counter() - t)
                        await asyncio.sleep(think * rng.uniform(0.5, 1.5))

                await asyncio.gather(*(client(n) for n in range(clients)))
                summary(
                    f"HTTP GET /api/marketplace/assets, {clients} clients", lat, errors, seconds
                )
        finally:
            await runner.cleanup()



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listings", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=5.0)
    # 0: each client searches again as soon as answered (saturation: latency is queueing);
    # people typing in a search box pause between searches (~0.5 s with the page's debounce)
    ap.add_argument("--think-ms", type=float, default=0.0)
    args = ap.parse_args()
    print(f"machine: {machine()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "market.db"
        t = time.perf_counter()
        build(path, args.listings)
        print(f"built {args.listings} listings in {time.perf_counter() - t:.1f} s", flush=True)
        asyncio.run(domain(path, args.clients, args.seconds, args.think_ms / 1000))
        asyncio.run(http(path, args.clients, args.seconds, args.think_ms / 1000))


if __name__ == "__main__":
    main()
