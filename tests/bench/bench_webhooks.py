"""Benchmark: Stripe webhook fulfilment through the real route, `POST
/api/marketplace/webhook`, on an in-process server (`create_app` on a loopback port, a
fresh SQLite file): N pending card purchases (each with its PaymentIntent attached), then N
signed `payment_intent.succeeded` events sent by C concurrent clients (verify the signature,
fulfil in one transaction: purchase, entitlement, ledger), then the same N events again
(Stripe's retries: each must answer "duplicate" and change nothing).

    .venv/bin/python -m tests.bench.bench_webhooks [--purchases 2000] [--clients 16]

Prints events/s and latency p50/p95/p99 of both passes, the outcomes, and checks the end
state (every purchase paid exactly once, the ledger's creator total = N x 80% of the price).
Nothing talks to Stripe: the events are signed here with the server's webhook secret, as
Stripe signs them (tests/market/conftest.py `signed_event`). Asserts nothing but the end
state.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web

from tests.bench.machine import machine
from tests.market.conftest import event, signed_event
from webapi.accounts import users
from webapi.app import STORE, create_app
from webapi.market import ledger, listings, purchases
from webapi.market.payments import Payments

PRICE = 499  # cents: creator 399, tax 24, platform 76



async def set_up(app: web.Application, n: int) -> tuple[str, list[dict[str, Any]]]:
    """A creator with one published $4.99 outfit and a buyer with `n` pending card purchases
    of it, each with a PaymentIntent id; (creator id, the intents as Stripe would send them)."""
    store = app[STORE]
    tag = secrets.token_hex(3)
    creator = await users.sign_up(
        store,
        {
            "email": f"maker{tag}@example.com",
            "username": f"maker{tag}",
            "password": "bench pass 123",
        },
    )
    buyer = await users.sign_up(
        store,
        {
            "email": f"buyer{tag}@example.com",
            "username": f"buyer{tag}",
            "password": "bench pass 123",
        },
    )
    listing_id = listings.new_listing_id()

    def make_listing(db: Any) -> None:
        listings.ensure_creator(db, creator.id, "Bench Maker")
        listings.create_draft(
            db, listing_id=listing_id, creator_id=creator.id, type="outfit",
            name="Bench outfit", description="for the webhook benchmark", tags=["bench"],
            price_cents=PRICE, currency="usd", compatibility=["digi"], manifest={},
            content={"rig": "digi", "category": "outfit", "label": "casual", "builtin": True},
            size_bytes=0,
        )  # fmt: skip
        listings.set_status(db, listing_id, creator.id, "published")

    await store.write(make_listing)

    def pending(db: Any, count: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(count):
            p = purchases.start(db, listing_id=listing_id, buyer_id=buyer.id)
            intent = "pi_" + secrets.token_hex(12)
            purchases.attach_intent(db, p["purchase_id"], intent)
            out.append(
                {"id": intent, "object": "payment_intent", "amount": PRICE, "currency": "usd",
                 "status": "succeeded", "metadata": {"purchase_id": p["purchase_id"]}}
            )  # fmt: skip
        return out

    intents: list[dict[str, Any]] = []
    while len(intents) < n:
        batch = min(500, n - len(intents))
        intents += await store.write(lambda db, b=batch: pending(db, b))
    return creator.id, intents


async def send_all(
    url: str, bodies: list[tuple[bytes, str]], clients: int
) -> tuple[float, list[float], collections.Counter[str]]:
    """POST every (body, signature) with `clients` concurrent keep-alive clients; (seconds,
    latencies, outcomes)."""
    queue = list(reversed(bodies))
    latencies: list[float] = []
    outcomes: collections.Counter[str] = collections.Counter()

    async def client(session: aiohttp.ClientSession) -> None:
        while queue:
            body, signature = queue.pop()
            headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
            t = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as r:
                answer = await r.json(content_type=None)
            latencies.append(time.perf_counter() - t)
            key = answer.get("outcome") if r.status == 200 and isinstance(answer, dict) else None
            outcomes[key or f"HTTP {r.status}: {answer}"] += 1

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        return time.perf_counter() - t0, latencies, outcomes


def report(name: str, seconds: float, latencies: list[float], outcomes: Any) -> None:
    ms = np.array(latencies) * 1000
    print(
        f"{name:<22} {len(latencies) / seconds:8.0f} events/s   p50 {np.percentile(ms, 50):6.1f} ms"
        f"   p95 {np.percentile(ms, 95):6.1f} ms   p99 {np.percentile(ms, 99):6.1f} ms"
        f"   outcomes {dict(outcomes)}"
    )


async def main(n: int, clients: int) -> int:
    secret = "whsec_" + secrets.token_hex(16)
    payments = Payments(
        secret_key="sk_test_bench", publishable_key="pk_test_bench", webhook_secret=secret
    )
    with tempfile.TemporaryDirectory(prefix="bench_webhooks_") as tmp:
        root = Path(tmp)
        app = create_app(avatar_root=root / "avatars", db=root / "bench.db", payments=payments)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}/api/marketplace/webhook"
        try:
            t = time.perf_counter()
            creator_id, intents = await set_up(app, n)
            print(f"set-up: {n} pending purchases in {time.perf_counter() - t:.1f} s")
            events = [event("payment_intent.succeeded", obj) for obj in intents]
            bodies = [signed_event(e, secret) for e in events]
            seconds, lat, outcomes = await send_all(url, bodies, clients)
            report("fulfil (new events)", seconds, lat, outcomes)
            seconds, lat, replays = await send_all(url, bodies, clients)
            report("replay (duplicates)", seconds, lat, replays)

            def check(db: Any) -> tuple[int, int, int]:
                paid = db.execute(
                    "SELECT COUNT(*) FROM purchases WHERE status = 'paid' AND method = 'card'"
                ).fetchone()[0]
                granted = db.execute("SELECT COUNT(*) FROM entitlements").fetchone()[0]
                return paid, granted, ledger.balance(db, ledger.creator_account(creator_id))

            paid, granted, earned = await app[STORE].read(check)
            want = n * ledger.split(PRICE).creator
            ok = outcomes == {"fulfilled": n} and replays == {"duplicate": n}
            ok = ok and paid == n and earned == want
            print(
                f"end state: {paid}/{n} paid, {granted} entitlement rows, creator earned "
                f"{earned} cents (want {want}): {'OK' if ok else 'WRONG'}"
            )
        finally:
            await runner.cleanup()
    print(f"machine: {machine()}; {clients} concurrent clients")
    return 0 if ok else 1


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--purchases", type=int, default=2000)
    p.add_argument("--clients", type=int, default=16)
    a = p.parse_args()
    sys.exit(asyncio.run(main(a.purchases, a.clients)))
