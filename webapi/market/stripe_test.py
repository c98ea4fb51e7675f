"""The test mode's fake Stripe: localstripe in a subprocess, plus what it lacks.

`digigami serve --stripe-test` and the marketplace tests (tests/market/conftest.py
`fake_stripe`) both use `start_fake_stripe`, which runs this module as
`python -m webapi.market.stripe_test --port 0` and talks to it over HTTP only. It lives in
the product (not in tests/) because the test mode is a product feature, and the product may
not depend on tests/.

localstripe (PyPI, GPL-3.0) is a stateful fake of the Stripe API. It is NOT a product
dependency: it is in the `test` extra (which both README install commands install), and it
is only ever imported by `_serve` below, i.e. inside that separate process, never into the
server. What this launcher adds to it, at its HTTP boundary, following Stripe's API
reference (https://docs.stripe.com/api):

- Connect: `POST /v1/accounts`, `GET /v1/accounts/{id}`; `POST /v1/transfers` (to an
  existing account), `GET /v1/transfers/{id}`. Transfers are not checked against a platform
  balance (localstripe keeps none). A new account's requested capabilities are "inactive"
  until its owner finishes onboarding, and a transfer to it is refused as Stripe refuses
  it (`insufficient_capabilities_for_transfer`).
- Onboarding: `POST /v1/account_links` (type account_onboarding) answers a single-use URL on
  this fake, `/connect/onboard/{token}`, whose page has a "Finish" button (a form POST to the
  same URL): it makes the account's capabilities active (charges_enabled, payouts_enabled,
  details_submitted) and redirects (303) to the link's return_url. A used or expired link
  redirects to its refresh_url, as Stripe's does.
- Idempotency for every `POST /v1/...` (localstripe ignores `Idempotency-Key`): the same
  key and parameters answer the first answer again (the same transfer, the same intent),
  other parameters a 400 `idempotency_error`, as Stripe does.
- Stripe.js: localstripe's stand-in (`/js.stripe.com/v3/`) can only 3-D-Secure-authenticate
  an intent the server already confirmed; it cannot put a typed card on a PaymentIntent.
  We serve it with a small shim appended that gives it the real Stripe.js's Payment Element
  flow: `stripe.elements({clientSecret}).create("payment")` (localstripe's card inputs) and
  `stripe.confirmPayment({elements, redirect: "if_required"})` and
  `stripe.confirmCardPayment(clientSecret, {payment_method: {card}})`. Both send the typed
  card to `POST /js.stripe.com/v3/_confirm/{pi}` (authorised by the publishable key and the
  intent's client secret, as Stripe.js is), which makes a PaymentMethod of it, puts it on
  the intent and confirms it with localstripe's own logic: 4242 4242 4242 4242 succeeds,
  4000 0000 0000 0341 is declined, 3-D Secure cards (4000 0025 0000 3155) open
  localstripe's authentication dialog. localstripe then sends `payment_intent.succeeded`
  (signed) to the registered webhooks about a second later.
- State lives in memory only: localstripe's habit of pickling its whole store to
  /tmp/localstripe.pickle on every write (shared by every instance on the machine, and
  quadratic) is switched off in the subprocess.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WEBHOOK_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
)
_ROOT = Path(__file__).resolve().parents[2]  # the checkout: `-m webapi...` runs from here


@dataclass
class FakeStripe:
    """A running fake Stripe (see the module docstring). `stop()` ends it."""

    api_base: str
    secret_key: str
    publishable_key: str
    webhook_secret: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def js_url(self) -> str:
        return f"{self.api_base}/js.stripe.com/v3/"

    def payments(self) -> Any:
        """A `Payments` pointed at this fake (imported here: payments.py imports stripe)."""
        from webapi.market.payments import Payments

        return Payments(
            secret_key=self.secret_key,
            publishable_key=self.publishable_key,
            webhook_secret=self.webhook_secret,
            api_base=self.api_base,
            js_url=self.js_url,
        )

    def register_webhook(self, url: str, *, id: str = "digigami") -> None:
        """Send this fake's events to `url`, signed with `webhook_secret`. Registering under
        the same `id` again replaces the URL (so events stop going to a server a finished
        test has stopped)."""
        self._post(
            f"/_config/webhooks/{id}",
            {"url": url, "secret": self.webhook_secret, "events": list(WEBHOOK_EVENTS)},
        )

    def flush(self) -> None:
        """Forget every object (intents, charges, accounts, transfers...). Webhooks stay."""
        self._request("DELETE", "/_config/data", None)

    def pay(self, client_secret: str, card: str = "4242424242424242") -> dict[str, Any]:
        """Pay an intent with a test card exactly as the shimmed Stripe.js does when the
        buyer types `card` and presses Pay; the intent as answered (raises `FakeStripeError`
        with Stripe's error, e.g. a decline)."""
        pi = client_secret.split("_secret_")[0]
        return self._post(
            f"/js.stripe.com/v3/_confirm/{pi}",
            {
                "key": self.publishable_key,
                "client_secret": client_secret,
                "card": {"number": card, "exp_month": "12", "exp_year": "2030", "cvc": "123"},
            },
        )

    def get(self, path: str) -> dict[str, Any]:
        """GET an API object with the secret key (tests look at what our code created)."""
        return self._request("GET", path, None, auth=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    # --- plumbing ---------------------------------------------------------------------------

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", path, body)

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None, *, auth: bool = False
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api_base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {self.secret_key}")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                text = r.read()
        except urllib.error.HTTPError as e:
            raise FakeStripeError(e.code, e.read().decode(errors="replace")) from None
        return json.loads(text) if text.strip() else {}


class FakeStripeError(RuntimeError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"fake Stripe answered {status}: {body}")
        self.status = status
        self.body = body


def start_fake_stripe(webhook_url: str | None, *, log: bool = False) -> FakeStripe:
    """Start the fake on a free loopback port, wait until it answers, register `webhook_url`
    (if given) for our events. Needs localstripe installed (the `test` extra)."""
    args = [sys.executable, "-m", "webapi.market.stripe_test", "--port", "0"]
    proc = subprocess.Popen(
        args,
        cwd=_ROOT,
        stdout=subprocess.PIPE,
        stderr=None if log else subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()  # "listening <url>" once bound
    if not line.startswith("listening "):
        proc.kill()
        proc.wait()
        raise RuntimeError(
            "the fake Stripe did not start (is localstripe installed? "
            "pip install -e '.[test]'): " + (line or f"exit status {proc.poll()}")
        )
    fake = FakeStripe(
        api_base=line.split(" ", 1)[1],
        secret_key="sk_test_" + secrets.token_hex(12),
        publishable_key="pk_test_" + secrets.token_hex(12),
        webhook_secret="whsec_" + secrets.token_hex(16),
        process=proc,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(fake.js_url, timeout=2) as r:
                r.read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                fake.stop()
                raise RuntimeError("the fake Stripe does not answer") from None
            time.sleep(0.05)
    if webhook_url:
        fake.register_webhook(webhook_url)
    return fake


# --- the subprocess: localstripe + our extension ------------------------------------------

_SHIM = r"""
// Digigami's shim (webapi/market/stripe_test.py): the real Stripe.js's Payment Element
// flow on top of localstripe's stand-in, for the test mode only.
(function () {
  const standIn = Stripe;
  const base = LOCALSTRIPE_BASE_API;
  async function confirmWithCard(apiKey, original, clientSecret, element) {
    const m = /^(pi_\w+)_secret_/.exec(clientSecret || "");
    if (!m) return {error: {message: "not a PaymentIntent client secret"}};
    const value = element && element.value;
    if (!value || !value.card || !value.card.number) {
      return {error: {type: "validation_error", message: "enter the card number"}};
    }
    const card = value.card;
    const response = await fetch(`${base}/js.stripe.com/v3/_confirm/${m[1]}`, {
      method: "POST",
      body: JSON.stringify({key: apiKey, client_secret: clientSecret, card: {
        number: card.number.replace(/\s/g, ""), exp_month: card.exp_month,
        exp_year: card.exp_year, cvc: card.cvc}}),
    });
    const body = await response.json().catch(() => ({}));
    if (response.status !== 200 || body.error) return {error: body.error || {}};
    if (body.status === "requires_action") return original(clientSecret);  // 3-D Secure
    return {paymentIntent: body};
  }
  Stripe = function (apiKey, options) {
    const stripe = standIn(apiKey, options);
    const elementsOf = stripe.elements;
    const original = stripe.confirmCardPayment;
    stripe.elements = function (opts) {
      const elements = elementsOf();
      elements._clientSecret = opts && opts.clientSecret;
      elements.submit = async () => ({});
      return elements;
    };
    stripe.confirmCardPayment = (clientSecret, data) =>
      confirmWithCard(apiKey, original, clientSecret,
                      data && data.payment_method && data.payment_method.card);
    stripe.confirmPayment = (opts) => {
      const elements = opts && opts.elements;
      const secret = (opts && opts.clientSecret) || (elements && elements._clientSecret);
      return confirmWithCard(apiKey, original, secret,
                             elements && elements.getElement("payment"));
    };
    return stripe;
  };
})();
"""


def _serve(port: int) -> None:
    """Run localstripe's aiohttp app with our routes on 127.0.0.1:`port` (0: any free one),
    printing `listening http://127.0.0.1:<port>` once bound."""
    import logging

    from aiohttp import web
    from localstripe import resources, server  # GPL: only ever imported in this process
    from localstripe.errors import UserError

    resources.Store.dump_to_disk = lambda self: None  # memory only (see module docstring)

    accounts: dict[str, dict[str, Any]] = {}
    transfers: dict[str, dict[str, Any]] = {}
    links: dict[str, dict[str, Any]] = {}  # token -> {account, return_url, refresh_url, ...}
    idem: dict[tuple[str, str, str], tuple[bytes, int, Any]] = {}

    def err(
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ) -> web.Response:
        e: dict[str, Any] = {"type": type, "message": message}
        if param:
            e["param"] = param
        if code:
            e["code"] = code
        return web.json_response({"error": e}, status=status)

    def meta(data: dict[str, Any]) -> dict[str, str]:
        m = data.get("metadata") or {}
        return {str(k): str(v) for k, v in m.items()} if isinstance(m, dict) else {}

    async def handled(request: web.Request, make: Any) -> web.Response:
        data = await server.get_post_data(request) or {}
        answer = make(data)
        return answer if isinstance(answer, web.Response) else web.json_response(answer)

    async def idempotent(request: web.Request, handler: Any) -> web.StreamResponse:
        """Stripe's idempotency for every POST (localstripe has none): a key seen before
        answers what it answered then, or 400 `idempotency_error` with other parameters."""
        key = request.headers.get("Idempotency-Key")
        if not key:
            return await handler(request)
        slot = (request.headers.get("Authorization", ""), request.path, key)
        fingerprint = await request.read()
        if slot in idem:
            was, status, body = idem[slot]
            if was != fingerprint:
                return err(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                    type="idempotency_error",
                )
            return web.Response(
                body=body,
                status=status,
                content_type="application/json",
                headers={"Idempotent-Replayed": "true"},
            )
        response = await handler(request)
        if isinstance(response, web.Response) and response.status < 500:
            idem[slot] = (fingerprint, response.status, response.body)
        return response

    def create_account(data: dict[str, Any]) -> dict[str, Any] | web.Response:
        kind = data.get("type", "express")
        if kind not in ("standard", "express", "custom"):
            return err(400, "Invalid type: must be one of standard, express, custom", param="type")
        caps = data.get("capabilities") or {}
        acct = {
            "id": "acct_" + secrets.token_hex(8),
            "object": "account",
            "type": kind,
            "email": data.get("email"),
            "country": data.get("country", "US"),
            "default_currency": "usd",
            "business_type": data.get("business_type"),
            # inactive until onboarding is finished (see `onboard`)
            "capabilities": {name: "inactive" for name in caps} if isinstance(caps, dict) else {},
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": False,
            "metadata": meta(data),
            "created": int(time.time()),
            "livemode": False,
        }
        accounts[acct["id"]] = acct
        return acct

    def create_transfer(data: dict[str, Any]) -> dict[str, Any] | web.Response:
        try:
            amount = int(data.get("amount"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return err(400, "Missing required param: amount.", param="amount")
        if amount < 1:
            return err(400, "Amount must be at least 1 cent", param="amount")
        currency = str(data.get("currency") or "").lower()
        if not currency:
            return err(400, "Missing required param: currency.", param="currency")
        dest = data.get("destination")
        if not dest:
            return err(400, "Missing required param: destination.", param="destination")
        if dest not in accounts:
            return err(
                400, f"No such destination: '{dest}'", param="destination", code="resource_missing"
            )
        if accounts[dest]["capabilities"].get("transfers") != "active":
            return err(
                400,
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                param="destination",
                code="insufficient_capabilities_for_transfer",
            )
        tr_id = "tr_" + secrets.token_hex(12)
        tr = {
            "id": tr_id,
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "balance_transaction": "txn_" + secrets.token_hex(12),
            "created": int(time.time()),
            "currency": currency,
            "description": data.get("description"),
            "destination": dest,
            "destination_payment": "py_" + secrets.token_hex(12),
            "livemode": False,
            "metadata": meta(data),
            "reversals": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/transfers/{tr_id}/reversals",
            },
            "reversed": False,
            "source_transaction": data.get("source_transaction"),
            "source_type": "card",
            "transfer_group": data.get("transfer_group"),
        }
        transfers[tr_id] = tr
        return tr

    def create_link(data: dict[str, Any], base: str) -> dict[str, Any] | web.Response:
        acct = data.get("account")
        if not acct:
            return err(400, "Missing required param: account.", param="account")
        if acct not in accounts:
            return err(400, f"No such account: '{acct}'", param="account", code="resource_missing")
        kind = data.get("type")
        if kind not in ("account_onboarding", "account_update"):
            return err(
                400, "Invalid type: must be one of account_onboarding, account_update",
                param="type",
            )  # fmt: skip
        for name in ("return_url", "refresh_url"):
            url = str(data.get(name) or "")
            if not url.startswith(("http://", "https://")):
                return err(400, f"Invalid URL: {name} must be an http(s) URL", param=name)
        token = secrets.token_hex(12)
        now = int(time.time())
        links[token] = {
            "account": acct,
            "return_url": data["return_url"],
            "refresh_url": data["refresh_url"],
            "expires_at": now + 300,
        }
        return {
            "object": "account_link",
            "created": now,
            "expires_at": now + 300,
            "url": f"{base}/connect/onboard/{token}",
        }

    async def post_account_links(request: web.Request) -> web.Response:
        base = f"{request.scheme}://{request.host}"
        return await handled(request, lambda data: create_link(data, base))

    async def onboard(request: web.Request, token: str) -> web.Response:
        """Stripe's hosted onboarding, reduced to one button. Single-use: a link that was
        used or has expired sends the browser to its refresh_url."""
        link = links.get(token)
        if link is None:
            return web.Response(status=404, text="This onboarding link does not exist.")
        if link.get("used") or link["expires_at"] < time.time():
            raise web.HTTPSeeOther(link["refresh_url"])
        if request.method == "POST":
            link["used"] = True
            acct = accounts[link["account"]]
            acct["capabilities"] = {name: "active" for name in acct["capabilities"]}
            acct.update(charges_enabled=True, payouts_enabled=True, details_submitted=True)
            raise web.HTTPSeeOther(link["return_url"])
        page = (
            "<!doctype html><meta charset=utf-8><title>Fake Stripe: payouts onboarding</title>"
            f"<h1>Set up payouts (test mode)</h1><p>Account {html.escape(link['account'])}: no "
            "identity or bank details are asked in the test mode.</p>"
            '<form method="post"><button type="submit" id="finish">Finish</button></form>'
        )
        return web.Response(text=page, content_type="text/html")

    async def post_accounts(request: web.Request) -> web.Response:
        return await handled(request, create_account)

    async def post_transfers(request: web.Request) -> web.Response:
        return await handled(request, create_transfer)

    def getter(objects: dict[str, dict[str, Any]], kind: str) -> Any:
        async def get(request: web.Request) -> web.Response:
            obj = objects.get(request.match_info["id"])
            if obj is None:
                return err(
                    404, f"No such {kind}: '{request.match_info['id']}'", code="resource_missing"
                )
            return web.json_response(obj)

        return get

    async def confirm_with_card(request: web.Request, pi_id: str) -> web.Response:
        """The shim's confirm: a typed card onto a PaymentIntent, then localstripe's own
        confirmation. Authorised like Stripe.js: publishable key + the intent's secret."""
        data = await server.get_post_data(request, remove_auth=False) or {}
        if not str(data.get("key", "")).startswith("pk_"):
            return err(401, "Invalid API Key provided", type="authentication_error")
        try:
            pi = resources.PaymentIntent._api_retrieve(pi_id)
        except UserError as e:
            return e.to_response()
        if data.get("client_secret") != pi.client_secret:
            return err(
                401,
                "The client_secret does not match this PaymentIntent",
                type="authentication_error",
            )
        if pi.status not in ("requires_payment_method", "requires_confirmation"):
            return err(
                400,
                f"This PaymentIntent's status is {pi.status}",
                code="payment_intent_unexpected_state",
            )
        card = data.get("card") or {}
        try:
            pm = resources.PaymentMethod(
                type="card",
                card={k: card.get(k) for k in ("number", "exp_month", "exp_year", "cvc")},
            )
        except UserError:
            return err(
                402, "Your card number is incorrect.", code="incorrect_number", type="card_error"
            )
        pi.payment_method = pm.id
        try:
            pi._confirm(on_failure_now=pi._report_failure)
        except UserError as e:
            return e.to_response()
        return server.json_response(pi._export())

    @web.middleware
    async def extension(request: web.Request, handler: Any) -> web.StreamResponse:
        """Before localstripe's own middlewares: the shimmed Stripe.js, its confirm route,
        and clearing our objects with localstripe's."""
        path = request.path
        if path == "/js.stripe.com/v3/" and request.method == "GET":
            text = (Path(server.__file__).parent / "localstripe-v3.js").read_text()
            return web.Response(text=text + _SHIM, content_type="application/javascript")
        if path.startswith("/js.stripe.com/v3/_confirm/") and request.method == "POST":
            return await confirm_with_card(request, path.rsplit("/", 1)[1])
        if path.startswith("/connect/onboard/") and request.method in ("GET", "POST"):
            return await onboard(request, path.rsplit("/", 1)[1])
        if path == "/_config/data" and request.method == "DELETE":
            accounts.clear()
            transfers.clear()
            links.clear()
            idem.clear()
        if request.method == "POST" and path.startswith("/v1/"):
            return await idempotent(request, handler)
        return await handler(request)

    parent = os.getppid()
    watch_key = web.AppKey("digigami_orphan_watch", asyncio.Task)

    async def orphan_watch(app: web.Application) -> None:
        """The fake dies with the server or test run that started it, even a killed one."""

        async def watch() -> None:
            while os.getppid() == parent:
                await asyncio.sleep(1)
            os._exit(0)

        app[watch_key] = asyncio.ensure_future(watch())

    app = server.app
    app.on_startup.append(orphan_watch)
    app.middlewares.insert(0, extension)
    app.router.add_post("/v1/accounts", post_accounts)
    app.router.add_get("/v1/accounts/{id}", getter(accounts, "account"))
    app.router.add_post("/v1/account_links", post_account_links)
    app.router.add_post("/v1/transfers", post_transfers)
    app.router.add_get("/v1/transfers/{id}", getter(transfers, "transfer"))

    logging.basicConfig(level=logging.INFO, format="fake-stripe: %(message)s")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    print(f"listening http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        web.run_app(app, sock=sock, access_log=None, print=None)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Digigami's fake Stripe (localstripe + Connect)")
    p.add_argument("--port", type=int, default=0, help="0 (default): any free port")
    _serve(p.parse_args(argv).port)


if __name__ == "__main__":
    main()
