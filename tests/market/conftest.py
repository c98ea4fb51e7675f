"""Fixtures of the marketplace tests: a migrated store on a temporary file, a real fake
Stripe (localstripe in a subprocess plus our Connect/transfer extension, see
`webapi.market.stripe_test`) and `signed_event`, which signs a webhook body exactly as Stripe
does so tests can send events that verify (or, with a wrong secret or an old timestamp, do
not)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from webapi.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated `Store` on a fresh file in tmp_path (writer thread running); closed after.
    Use `store.write_now(fn)` / `store.read_now(fn)` in plain tests, `await store.write(fn)`
    inside an event loop."""
    s = Store(tmp_path / "market.db").open()
    try:
        yield s
    finally:
        s.close()


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send for `payload`: `t=<unix>,v1=<hex>`,
    v1 = HMAC-SHA256(secret, f"{t}.{payload}")."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def signed_event(
    payload: dict[str, Any], secret: str, timestamp: int | None = None
) -> tuple[bytes, str]:
    """(body, Stripe-Signature header) for a webhook event dict, signed with `secret` at
    `timestamp` (default: now). The body is the JSON bytes; send both unchanged."""
    body = json.dumps(payload).encode()
    return body, sign(body, secret, timestamp)


def event(type: str, obj: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """A Stripe event envelope around `obj` (a PaymentIntent, a Charge...) as Stripe sends
    it: {"id": "evt_...", "object": "event", "type", "data": {"object": obj}, ...}."""
    import secrets

    return {
        "id": event_id or "evt_" + secrets.token_hex(12),
        "object": "event",
        "api_version": "2020-08-27",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": type,
        "data": {"object": obj},
    }


@pytest.fixture(scope="session")
def fake_stripe() -> Iterator[Any]:
    """One localstripe (+ Connect/transfers) for the whole run on a free loopback port.
    Attributes: api_base, secret_key, publishable_key, webhook_secret, js_url; methods
    payments() -> Payments pointed at it, register_webhook(url), flush(). Its state is
    shared by every test of the run: use fresh ids (purchase ids, emails) per test."""
    from webapi.market.stripe_test import start_fake_stripe

    fake = start_fake_stripe(None)
    try:
        yield fake
    finally:
        fake.stop()
