"""Stripe, and nothing else: the only module of the repository that imports `stripe`.

What the marketplace asks of Stripe is five things: a PaymentIntent for a pending purchase
(the page confirms it with Stripe.js), the verification of a webhook's signature, a
connected (Connect) account per creator, its onboarding (an Account Link; transfers reach it
once its `transfers` capability is active) and a Transfer per payout. Every call that changes
something carries an idempotency key derived from OUR id (the purchase, the creator, the
payout), so a retry after a timeout or a crash can never charge or pay twice. Calls are
BLOCKING HTTP (with timeouts): handlers run them in an executor, never inside a store
transaction.

Keys come from the environment in production (`from_env`); in the test mode
(`digigami serve --stripe-test`) and the tests they come from the fake Stripe
(`webapi.market.stripe_test`), whose URL is `api_base`. Without keys `configured` is False
and every Stripe call raises `PaymentsNotConfigured` (503): free items and credits still
work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import stripe

from webapi.errors import DomainError

TOLERANCE_S = 300  # a webhook signed longer ago than this is refused (replays)
TIMEOUT_S = 20.0  # one Stripe HTTP call; Stripe's own default (80 s) would hold a worker
RETRIES = 2  # network retries of one call (safe: every POST has an idempotency key)


class PaymentsNotConfigured(DomainError):
    """No Stripe keys on this server: paid purchases and payouts cannot run."""

    status = 503

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "payments are not configured on this server (set STRIPE_SECRET_KEY, "
            "STRIPE_PUBLISHABLE_KEY and STRIPE_WEBHOOK_SECRET, or run "
            "`digigami serve --stripe-test`)"
        )


class BadWebhook(DomainError):
    """A webhook whose signature, timestamp or body does not verify: never processed."""

    status = 400


class PaymentFailed(DomainError):
    """Stripe refused or could not be reached; the message names what, never the keys."""

    status = 502


@dataclass
class Payments:
    """Stripe as the marketplace uses it. `api_base`: another API server than Stripe's
    (the fake's URL in the test mode); `js_url`: where pages load Stripe.js from."""

    secret_key: str | None
    publishable_key: str | None
    webhook_secret: str | None
    api_base: str | None = None
    js_url: str = "https://js.stripe.com/v3/"
    _client: Any = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_env(cls) -> Payments:
        """STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY, STRIPE_WEBHOOK_SECRET (empty = unset)."""

        def env(name: str) -> str | None:
            return os.environ.get(name, "").strip() or None

        return cls(
            secret_key=env("STRIPE_SECRET_KEY"),
            publishable_key=env("STRIPE_PUBLISHABLE_KEY"),
            webhook_secret=env("STRIPE_WEBHOOK_SECRET"),
        )

    @property
    def configured(self) -> bool:
        """All three keys are set: a paid purchase can be made AND fulfilled."""
        return bool(self.secret_key and self.publishable_key and self.webhook_secret)

    @property
    def test_mode(self) -> bool:
        """Running against a fake Stripe (or Stripe's own test keys)."""
        return self.api_base is not None or (self.secret_key or "").startswith("sk_test_")

    # --- calls ------------------------------------------------------------------------------

    def create_intent(self, *, amount: int, currency: str, purchase_id: str) -> dict[str, str]:
        """A PaymentIntent for `amount` minor units of `currency` (both from OUR database),
        tagged with the purchase; {"id", "client_secret"}. The same purchase id answers the
        same intent (idempotency key), so a retried request never makes a second one."""
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
            raise ValueError(f"amount must be a positive int of minor units, not {amount!r}")
        intent = self._call(
            lambda c: c.v1.payment_intents.create(
                params={
                    "amount": amount,
                    "currency": currency.lower(),
                    "metadata": {"purchase_id": purchase_id},
                },
                options={"idempotency_key": f"purchase-{purchase_id}"},
            )
        )
        return {"id": intent["id"], "client_secret": intent["client_secret"]}

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event in a webhook body whose `Stripe-Signature` verifies with our secret and
        was signed at most TOLERANCE_S ago; BadWebhook for anything else (no header, a
        forged or stale signature, a body that is not a JSON event)."""
        if not self.webhook_secret:
            raise PaymentsNotConfigured()
        if not signature:
            raise BadWebhook("the Stripe-Signature header is missing")
        try:
            event = stripe.Webhook.construct_event(
                payload, signature, self.webhook_secret, tolerance=TOLERANCE_S
            )
        except stripe.SignatureVerificationError as e:
            raise BadWebhook(f"the webhook's signature does not verify: {_first_line(e)}") from None
        except (ValueError, UnicodeDecodeError):
            raise BadWebhook("the webhook's body is not a JSON Stripe event") from None
        data = event.to_dict()
        if (
            not isinstance(data.get("id"), str)
            or not isinstance(data.get("type"), str)
            or not isinstance((data.get("data") or {}).get("object"), dict)
        ):
            raise BadWebhook("the webhook's body is not a Stripe event (id, type, data.object)")
        return data

    def connect_account(self, *, email: str, creator_id: str) -> str:
        """A new Express connected account for a creator (acct_...). Idempotent per creator
        for a day (Stripe's key lifetime); the caller stores the id."""
        account = self._call(
            lambda c: c.v1.accounts.create(
                params={
                    "type": "express",
                    "email": email,
                    "capabilities": {"transfers": {"requested": True}},
                    "metadata": {"creator_id": creator_id},
                },
                options={"idempotency_key": f"connect-{creator_id}"},
            )
        )
        return str(account["id"])

    def onboarding_link(self, account_id: str, return_url: str, refresh_url: str) -> str:
        """Where the creator finishes Stripe's onboarding of their account (identity, bank):
        an Account Link (type account_onboarding). Stripe's page sends them to `return_url`
        when they leave it and to `refresh_url` when the link was used or expired (links are
        single-use and short-lived, so ask for a fresh one each time; no idempotency key)."""
        link = self._call(
            lambda c: c.v1.account_links.create(
                params={
                    "account": account_id,
                    "type": "account_onboarding",
                    "return_url": return_url,
                    "refresh_url": refresh_url,
                }
            )
        )
        return str(link["url"])

    def account_ready(self, account_id: str) -> bool:
        """The account can receive our transfers: its `transfers` capability is "active"
        (Stripe's condition for a transfer's destination; `payouts_enabled` is about the
        account's own payouts to its bank, `details_submitted` says nothing of review)."""
        account = self._call(lambda c: c.v1.accounts.retrieve(account_id)).to_dict()
        return (account.get("capabilities") or {}).get("transfers") == "active"

    def transfer(self, *, amount: int, currency: str, destination: str, payout_id: str) -> str:
        """Move `amount` from the platform to a creator's connected account (tr_...). The
        payout id is the idempotency key: asking twice for one payout answers the one
        transfer, never a second."""
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
            raise ValueError(f"amount must be a positive int of minor units, not {amount!r}")
        tr = self._call(
            lambda c: c.v1.transfers.create(
                params={
                    "amount": amount,
                    "currency": currency.lower(),
                    "destination": destination,
                    "transfer_group": f"payout-{payout_id}",
                    "metadata": {"payout_id": payout_id},
                },
                options={"idempotency_key": f"payout-{payout_id}"},
            )
        )
        return str(tr["id"])

    # --- plumbing ---------------------------------------------------------------------------

    def client(self) -> Any:
        """The StripeClient (made once): our key, our API base, a timeout, few retries."""
        if not self.secret_key:
            raise PaymentsNotConfigured()
        if self._client is None:
            self._client = stripe.StripeClient(
                self.secret_key,
                base_addresses={"api": self.api_base} if self.api_base else None,
                max_network_retries=RETRIES,
                http_client=stripe.RequestsClient(timeout=TIMEOUT_S),
            )
        return self._client

    def _call(self, fn: Any) -> Any:
        if not self.configured:
            raise PaymentsNotConfigured()
        try:
            return fn(self.client())
        except stripe.CardError as e:
            raise PaymentFailed(f"the card was refused: {_first_line(e)}") from None
        except stripe.AuthenticationError:
            raise PaymentFailed("Stripe refused this server's key") from None
        except stripe.APIConnectionError:
            raise PaymentFailed("Stripe could not be reached; try again") from None
        except stripe.StripeError as e:
            raise PaymentFailed(f"Stripe refused the request: {_first_line(e)}") from None


def _first_line(e: Exception) -> str:
    text = getattr(e, "user_message", None) or str(e) or type(e).__name__
    return text.splitlines()[0][:200]
