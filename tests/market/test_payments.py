"""`webapi.market.payments` against a real localstripe (the `fake_stripe` fixture): intents
carry our amount, currency and purchase; webhooks verify only when Stripe signed them
recently; transfers are never made twice for one payout; no keys, no Stripe calls."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import urllib.request
from typing import Any

import pytest
from aiohttp import web

from tests.market.conftest import event, sign, signed_event
from tests.market.test_onboarding import finish_account
from webapi.market.payments import BadWebhook, PaymentFailed, Payments, PaymentsNotConfigured
from webapi.market.stripe_test import FakeStripe, FakeStripeError


def pid() -> str:
    return secrets.token_hex(8)


def test_intent_has_our_amount_currency_and_purchase(fake_stripe: FakeStripe) -> None:
    payments = fake_stripe.payments()
    purchase = pid()
    intent = payments.create_intent(amount=1234, currency="USD", purchase_id=purchase)
    assert intent["id"].startswith("pi_")
    assert intent["client_secret"].startswith(intent["id"] + "_secret_")
    stored = fake_stripe.get(f"/v1/payment_intents/{intent['id']}")
    assert (stored["amount"], stored["currency"]) == (1234, "usd")
    assert stored["metadata"] == {"purchase_id": purchase}
    assert stored["status"] == "requires_payment_method"
    # a retried request for the same purchase gets the same intent, never a second one
    again = payments.create_intent(amount=1234, currency="usd", purchase_id=purchase)
    assert again == intent
    other = payments.create_intent(amount=1234, currency="usd", purchase_id=pid())
    assert other["id"] != intent["id"]


def test_intent_refuses_a_non_integer_amount(fake_stripe: FakeStripe) -> None:
    payments = fake_stripe.payments()
    for bad in (0, -5, 9.99, True):
        with pytest.raises(ValueError):
            payments.create_intent(amount=bad, currency="usd", purchase_id=pid())  # type: ignore[arg-type]


async def _receive_one_webhook(fake: FakeStripe, card: str) -> tuple[bytes, str, str]:
    """Pay a fresh intent with `card` and return the first webhook localstripe sends to a
    real HTTP server of ours: (body, Stripe-Signature, the intent's purchase id)."""
    got: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await got.put((await request.read(), request.headers.get("Stripe-Signature", "")))
        return web.json_response({"outcome": "received"})

    app = web.Application()
    app.router.add_post("/api/marketplace/webhook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        await asyncio.to_thread(
            fake.register_webhook, f"http://127.0.0.1:{port}/api/marketplace/webhook"
        )
        payments = fake.payments()
        purchase = pid()
        intent = await asyncio.to_thread(
            lambda: payments.create_intent(amount=750, currency="usd", purchase_id=purchase)
        )
        try:
            await asyncio.to_thread(fake.pay, intent["client_secret"], card)
        except FakeStripeError as e:
            assert e.status == 402  # a declined card; its webhook still comes
        while True:  # skip events of other tests' intents, if any are still in flight
            body, signature = await asyncio.wait_for(got.get(), 15)
            if json.loads(body)["data"]["object"]["metadata"].get("purchase_id") == purchase:
                return body, signature, purchase
    finally:
        await runner.cleanup()


def test_a_real_webhook_from_localstripe_verifies(fake_stripe: FakeStripe) -> None:
    body, signature, purchase = asyncio.run(_receive_one_webhook(fake_stripe, "4242424242424242"))
    payments = fake_stripe.payments()
    ev = payments.verify(body, signature)
    assert ev["type"] == "payment_intent.succeeded"
    assert ev["id"].startswith("evt_")
    obj = ev["data"]["object"]
    assert (obj["amount"], obj["currency"], obj["metadata"]) == (
        750,
        "usd",
        {"purchase_id": purchase},
    )
    assert obj["status"] == "succeeded"
    # the very same bytes with one amount changed no longer verify
    tampered = body.replace(b'"amount": 750', b'"amount": 1')
    assert tampered != body
    with pytest.raises(BadWebhook):
        payments.verify(tampered, signature)
    # nor with another server's secret
    other = Payments(
        secret_key="sk_test_x",
        publishable_key="pk_test_x",
        webhook_secret="whsec_other",
        api_base=fake_stripe.api_base,
    )
    with pytest.raises(BadWebhook):
        other.verify(body, signature)


def test_a_declined_card_sends_payment_failed(fake_stripe: FakeStripe) -> None:
    body, signature, _ = asyncio.run(_receive_one_webhook(fake_stripe, "4000000000000341"))
    ev = fake_stripe.payments().verify(body, signature)
    assert ev["type"] == "payment_intent.payment_failed"
    assert ev["data"]["object"]["status"] == "requires_payment_method"


def _intent_event() -> dict[str, Any]:
    return event(
        "payment_intent.succeeded",
        {
            "id": "pi_x",
            "object": "payment_intent",
            "amount": 500,
            "currency": "usd",
            "metadata": {"purchase_id": pid()},
            "status": "succeeded",
        },
    )


def test_signed_event_verifies_with_the_right_secret(fake_stripe: FakeStripe) -> None:
    """The helper the attack tests rely on signs as Stripe does (else they prove nothing)."""
    payments = fake_stripe.payments()
    ev = _intent_event()
    body, header = signed_event(ev, fake_stripe.webhook_secret)
    assert payments.verify(body, header)["id"] == ev["id"]
    body, header = signed_event(ev, fake_stripe.webhook_secret, int(time.time()) - 200)
    assert payments.verify(body, header)["id"] == ev["id"]


@pytest.mark.parametrize(
    "case",
    ["forged", "old", "garbage", "not-an-event", "no-header", "bad-header", "empty"],
)
def test_bad_webhooks_are_refused(fake_stripe: FakeStripe, case: str) -> None:
    payments = fake_stripe.payments()
    secret = fake_stripe.webhook_secret
    ev = _intent_event()
    body, header = signed_event(ev, secret)
    if case == "forged":
        body, header = signed_event(ev, "whsec_" + secrets.token_hex(16))
    elif case == "old":  # a replay of a once-valid event, past the 300 s tolerance
        body, header = signed_event(ev, secret, int(time.time()) - 301)
    elif case == "garbage":
        body = b"\x00\xff{not json"
        header = sign(body, secret)
    elif case == "not-an-event":
        body, header = signed_event({"hello": "world"}, secret)
    elif case == "no-header":
        header = None  # type: ignore[assignment]
    elif case == "bad-header":
        header = "v1=abc,t=notanumber"
    elif case == "empty":
        body = b""
        header = sign(body, secret)
    with pytest.raises(BadWebhook) as e:
        payments.verify(body, header)
    assert e.value.status == 400


def test_connect_account(fake_stripe: FakeStripe) -> None:
    payments = fake_stripe.payments()
    creator = pid()
    acct = payments.connect_account(email=f"{creator}@example.com", creator_id=creator)
    assert acct.startswith("acct_")
    stored = fake_stripe.get(f"/v1/accounts/{acct}")
    assert stored["email"] == f"{creator}@example.com"
    assert stored["metadata"] == {"creator_id": creator}
    assert stored["capabilities"] == {"transfers": "inactive"}  # until onboarding is done
    # asking again for the same creator (a retry) answers the same account
    assert payments.connect_account(email=f"{creator}@example.com", creator_id=creator) == acct


def test_transfer_is_made_once_per_payout(fake_stripe: FakeStripe) -> None:
    payments = fake_stripe.payments()
    acct = payments.connect_account(email="t@example.com", creator_id=pid())
    finish_account(payments, acct)  # Stripe's onboarding, finished on the fake
    payout = pid()
    first = payments.transfer(amount=2400, currency="usd", destination=acct, payout_id=payout)
    second = payments.transfer(amount=2400, currency="usd", destination=acct, payout_id=payout)
    assert first.startswith("tr_")
    assert second == first
    stored = fake_stripe.get(f"/v1/transfers/{first}")
    assert (stored["amount"], stored["currency"], stored["destination"]) == (2400, "usd", acct)
    assert stored["metadata"] == {"payout_id": payout}
    # the same payout id with another amount is Stripe's idempotency error, not a 2nd transfer
    with pytest.raises(PaymentFailed, match="same parameters"):
        payments.transfer(amount=9999, currency="usd", destination=acct, payout_id=payout)
    other = payments.transfer(amount=100, currency="usd", destination=acct, payout_id=pid())
    assert other != first


def test_transfer_to_an_unknown_account_fails(fake_stripe: FakeStripe) -> None:
    payments = fake_stripe.payments()
    with pytest.raises(PaymentFailed, match="No such destination"):
        payments.transfer(amount=100, currency="usd", destination="acct_nope", payout_id=pid())


def test_without_keys_nothing_reaches_stripe(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    payments = Payments.from_env()
    assert payments.configured is False
    calls = [
        lambda: payments.create_intent(amount=500, currency="usd", purchase_id="p"),
        lambda: payments.connect_account(email="a@example.com", creator_id="c"),
        lambda: payments.transfer(amount=100, currency="usd", destination="acct_x", payout_id="x"),
        lambda: payments.verify(b"{}", "t=1,v1=00"),
    ]
    for call in calls:
        with pytest.raises(PaymentsNotConfigured) as e:
            call()
        assert e.value.status == 503
        assert "STRIPE_SECRET_KEY" in e.value.message
        assert "--stripe-test" in e.value.message
    # one key missing is still not configured (a payment could not be fulfilled)
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_a")
    monkeypatch.setenv("STRIPE_PUBLISHABLE_KEY", "pk_test_a")
    assert Payments.from_env().configured is False
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_a")
    configured = Payments.from_env()
    assert configured.configured is True
    assert configured.api_base is None
    assert configured.js_url == "https://js.stripe.com/v3/"


def test_unreachable_stripe_is_a_clear_error() -> None:
    payments = Payments(
        secret_key="sk_test_a",
        publishable_key="pk_test_a",
        webhook_secret="whsec_a",
        api_base="http://127.0.0.1:9",  # discard port: nothing listens
    )
    with pytest.raises(PaymentFailed, match="could not be reached"):
        payments.create_intent(amount=500, currency="usd", purchase_id=pid())


def test_the_fake_serves_the_shimmed_stripe_js(fake_stripe: FakeStripe) -> None:
    with urllib.request.urlopen(fake_stripe.js_url, timeout=5) as r:
        js = r.read().decode()
    assert "LOCALSTRIPE_BASE_API" in js  # localstripe's stand-in
    assert "stripe.confirmPayment" in js  # our Payment Element shim
