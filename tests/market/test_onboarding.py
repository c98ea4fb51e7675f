"""Stripe Connect onboarding before payouts, against the fake Stripe (localstripe plus our
Connect extension, tests/market/conftest.py `fake_stripe`): a creator's new Express account
cannot receive transfers, so a payout to it is refused (409) with nothing written; the
creator follows the onboarding link (the fake's page, "Finish"), is sent back to the
dashboard, and then the payout goes through. `onboard` and `finish` are also used by the
other payout tests."""

from __future__ import annotations

import asyncio
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.market.conftest import signed_event
from tests.market.test_api_catalog import Server, call
from webapi.market.payments import PaymentFailed

CONNECT = "/api/marketplace/creator/connect"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 303 itself is what the tests look at


def finish(onboarding_url: str) -> str:
    """What the creator's browser does on the onboarding page: load it, press "Finish" (the
    form posts to the page's own URL). The Location it is sent to."""
    with urllib.request.urlopen(onboarding_url, timeout=10) as r:
        page = r.read().decode()
    assert 'id="finish"' in page and "Finish" in page, page
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(urllib.request.Request(onboarding_url, data=b"", method="POST"), timeout=10)
    except urllib.error.HTTPError as e:
        assert e.code == 303, e
        return e.headers["Location"]
    raise AssertionError("pressing Finish did not redirect")


async def onboard(http: TestClient, who: dict[str, str]) -> dict[str, Any]:
    """The creator connects and finishes Stripe's onboarding; the ready connect answer."""
    status, acct = await call(http, "POST", CONNECT, who)
    assert status == 200, acct
    if not acct["ready"]:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, finish, acct["onboarding_url"])
        status, acct = await call(http, "POST", CONNECT, who)
    assert status == 200 and acct["ready"] is True and acct["onboarding_url"] is None, acct
    return acct


def finish_account(payments: Any, account: str) -> None:
    """Onboard a Connect account straight through `Payments` (tests without a server)."""
    finish(payments.onboarding_link(account, "http://x.test/back", "http://x.test/again"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_stripe: Any) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("onboarding"), payments=fake_stripe.payments())
    try:
        yield s
    finally:
        s.close()


def test_a_payout_waits_until_stripe_onboarding_is_finished(
    server: Server, fake_stripe: Any
) -> None:
    from tests.market.test_api_attacks import deliver, pending, succeeded  # imports `onboard`

    async def test() -> None:
        http = server.http
        seller, _, started = await pending(http, price=1000)
        body, header = signed_event(succeeded(started), fake_stripe.webhook_secret)
        assert (await deliver(http, body, header))[1]["outcome"] == "fulfilled"
        status, acct = await call(http, "POST", CONNECT, seller)
        assert status == 200 and acct["ready"] is False, acct
        account = acct["connect_account_id"]
        assert account.startswith("acct_")
        link = acct["onboarding_url"]
        assert link.startswith(f"{fake_stripe.api_base}/connect/onboard/"), link
        assert fake_stripe.get(f"/v1/accounts/{account}")["capabilities"] == {
            "transfers": "inactive"
        }
        # not onboarded: refused before anything is reserved
        ledger = server.db("SELECT * FROM ledger ORDER BY id")
        body = {"amount_cents": 500, "request_key": "onboard-" + secrets.token_hex(6)}
        status, answer = await call(http, "POST", "/api/marketplace/payouts", seller, body)
        assert status == 409, answer
        assert "finish setting up payouts with Stripe first" in answer["error"]
        assert server.db("SELECT * FROM ledger ORDER BY id") == ledger
        assert server.db("SELECT COUNT(*) FROM payouts") == [(0,)]
        # asking again while not ready: the same account, a fresh single-use link
        status, again = await call(http, "POST", CONNECT, seller)
        assert again["connect_account_id"] == account and again["ready"] is False
        assert again["onboarding_url"] != link
        # the creator finishes Stripe's onboarding and is sent back to the dashboard
        loop = asyncio.get_running_loop()
        back = await loop.run_in_executor(None, finish, link)
        assert back == f"{server.url('/market/dashboard').rstrip('/')}?payouts=ready", back
        used = await loop.run_in_executor(None, finish_used, link)
        assert used.endswith("/market/dashboard?payouts=refresh"), used
        status, acct = await call(http, "POST", CONNECT, seller)
        assert status == 200 and acct == {
            "connect_account_id": account,
            "ready": True,
            "onboarding_url": None,
        }
        # now the same request (it wrote nothing before) is paid
        status, payout = await call(http, "POST", "/api/marketplace/payouts", seller, body)
        assert status == 200 and payout["status"] == "paid", payout
        transfer = fake_stripe.get(f"/v1/transfers/{payout['transfer_id']}")
        assert (transfer["amount"], transfer["destination"]) == (500, account)
        status, board = await call(http, "GET", "/api/marketplace/dashboard", seller)
        assert (board["balance_cents"], board["paid_out_cents"]) == (300, 500)

    server.run(test())


def finish_used(onboarding_url: str) -> str:
    """Opening a link that was used already: Stripe (and the fake) send to refresh_url."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(onboarding_url, timeout=10)
    except urllib.error.HTTPError as e:
        assert e.code == 303, e
        return e.headers["Location"]
    raise AssertionError("a used onboarding link did not redirect")


def test_payments_onboarding_and_transfers_to_an_unfinished_account(fake_stripe: Any) -> None:
    payments = fake_stripe.payments()
    account = payments.connect_account(email="o@example.com", creator_id=secrets.token_hex(8))
    assert payments.account_ready(account) is False
    # Stripe itself refuses a transfer to an account without the transfers capability
    with pytest.raises(PaymentFailed, match="capabilities"):
        payments.transfer(
            amount=100, currency="usd", destination=account, payout_id=secrets.token_hex(8)
        )
    with pytest.raises(PaymentFailed, match="No such account"):
        payments.onboarding_link("acct_nope", "http://x.test/b", "http://x.test/r")
    finish_account(payments, account)
    assert payments.account_ready(account) is True
    stored = fake_stripe.get(f"/v1/accounts/{account}")
    assert (stored["payouts_enabled"], stored["details_submitted"]) == (True, True)
    tr = payments.transfer(
        amount=100, currency="usd", destination=account, payout_id=secrets.token_hex(8)
    )
    assert tr.startswith("tr_")
