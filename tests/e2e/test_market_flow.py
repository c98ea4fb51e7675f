"""Issue 17, the marketplace's whole path in real Chromium against `digigami serve
--stripe-test` (the real server, its payments pointed at the local fake Stripe: localstripe
in a subprocess, its stand-in Stripe.js in the page, its signed webhook to our server).

A creator signs up, becomes a creator and uploads an outfit (tests/market/zips.py: Digi's
casual shirt dyed a magenta nothing in Digi's own art has), publishes it; a buyer finds it
by searching, tries it on live (the stream's frames show the magenta), buys it with the test
card, the webhook fulfils it, and the outfit is among the puppet page's outfit choices; the
creator's dashboard shows the sale and 80% of the price. Each step is checked against what
the API says (the page's own cookie, through Playwright's request context)."""

from __future__ import annotations

import base64
import io
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.e2e import conftest as e2e
from tests.e2e.grab import grab_avatar
from tests.market.zips import NEON, outfit_zip

pytestmark = pytest.mark.slow

PRICE = 500  # cents: $5.00, of which the creator earns 400
OUTFIT = "Neon casual"
# markup in what a creator writes stays text on every page (and no script runs)
MARKUP = '<img src=x onerror="window.pwned=1"><b>bold</b>'
LABEL = "neon"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This module's own `digigami serve --stripe-test` with a fresh database (the market is
    seeded on it) and its own avatar and market folders; it stops its fake Stripe on the way
    out."""
    run = tmp_path_factory.mktemp("market-server")
    env: dict[str, str | None] = {
        "DIGIGAMI_AVATAR_DIR": str(run / "avatars"),
        "DIGIGAMI_DB": str(run / "digigami.db"),
        # test mode, whatever this machine's environment says
        **dict.fromkeys(("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")),
    }
    with e2e.serving(run, "--stripe-test", env=env, what="digigami serve --stripe-test") as url:
        yield url


def neon_share(png_data_url: str) -> float:
    """The share of a frame's pixels in the outfit's magenta (hue kept through the video
    codec: red and blue high, green far below both)."""
    raw = base64.b64decode(png_data_url.split(",", 1)[1])
    rgb = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB")).astype(np.int32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    magenta = (r > 90) & (b > 80) & (g * 3 < np.minimum(r, b))
    return float(magenta.mean())


def shoot(page, tmp_path: Path, name: str) -> None:
    """A screenshot into the test's folder, and into $DIGIGAMI_MARKET_SCREENS when set
    (`DIGIGAMI_MARKET_SCREENS=docs/screens`: the docs' pictures of the market pages)."""
    page.screenshot(path=str(tmp_path / name))
    if os.environ.get("DIGIGAMI_MARKET_SCREENS"):
        page.screenshot(path=str(Path(os.environ["DIGIGAMI_MARKET_SCREENS"]) / name))


def test_sell_find_try_buy_wear_and_get_paid(browser, context, server: str, tmp_path: Path) -> None:
    tag = secrets.token_hex(3)
    outfit_name = f"{OUTFIT} {tag} <b>x</b>"
    description = f"A shirt in a colour Digi never wore. {MARKUP}"
    package = tmp_path / "neon-casual.zip"
    package.write_bytes(
        outfit_zip(
            name=outfit_name,
            price_cents=PRICE,
            currency="usd",
            label=LABEL,
            description=description,
        )
    )

    buyer_ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    buyer_ctx.on("page", lambda p: p.on("pageerror", lambda e: e2e._console.append(f"[buyer] {e}")))
    buyer_ctx.on(
        "page",
        lambda p: p.on("console", lambda m: e2e._console.append(f"[buyer] {m.type}: {m.text}")),
    )
    try:
        # ---- the creator: sign up, become a creator, upload, publish -------------------------
        creator = context.new_page()  # the conftest's context: its console is in the report
        creator.set_viewport_size({"width": 1280, "height": 720})
        e2e.sign_up(creator, server, f"maker_{tag}")
        creator.goto(f"{server}/market/dashboard")
        creator.wait_for_selector("#become:not([hidden])", timeout=15_000)
        creator.locator("#display-name").fill(f"Neon Studio {tag}")
        creator.get_by_role("button", name="Become a creator").click()
        creator.wait_for_selector("#creator:not([hidden])", timeout=15_000)
        creator.set_input_files("#file", str(package))
        creator.get_by_role("button", name="Upload").click()
        creator.wait_for_function(
            "() => document.getElementById('upload-ok').textContent.includes('draft')"
            " || !document.getElementById('upload-error').hidden",
            timeout=30_000,
        )
        assert creator.locator("#upload-error").is_hidden(), creator.locator(
            "#upload-error"
        ).inner_text()
        listing_id = creator.evaluate("() => window.digigamiDashboard.uploaded.id")
        row = creator.locator(f"#listing-rows tr[data-id='{listing_id}']")
        row.wait_for(timeout=15_000)
        assert row.locator(".status").inner_text() == "draft"
        row.get_by_role("button", name="Publish").click()
        creator.wait_for_selector(
            f"#listing-rows tr[data-id='{listing_id}'] .status[data-status=published]",
            timeout=15_000,
        )
        got = creator.request.get(f"{server}/api/marketplace/assets/{listing_id}")
        assert got.ok and got.json()["status"] == "published", got.text()

        # ---- the buyer: sign up, search, open the listing --------------------------------------
        buyer = buyer_ctx.new_page()
        e2e.sign_up(buyer, server, f"buyer_{tag}")
        buyer.goto(f"{server}/market")
        buyer.locator(".market-card").first.wait_for(timeout=15_000)  # the seeded market
        # the newest listing's card on the first page, as a person would point at it
        buyer.locator(f".market-card[data-id='{listing_id}']").wait_for(timeout=15_000)
        buyer.evaluate(
            "(id) => { window.pointedAt = document.querySelector(`.market-card[data-id='${id}']`); }",
            listing_id,
        )
        buyer.locator("#q").fill(f"neon {tag}")
        # the search's own answer, not the first page's: the new listing is the newest, so it
        # is on the first page too, and a click there races the debounced search's redraw
        buyer.wait_for_function(
            """(text) => {
              const m = window.digigamiMarket;
              return new URLSearchParams(m.lastQuery ?? "").get("text") === text
                && !m.state.loading && document.body.dataset.loaded === String(m.state.seq);
            }""",
            arg=f"neon {tag}",
            timeout=15_000,
        )
        shown = buyer.eval_on_selector_all(".market-card", "cards => cards.map(c => c.dataset.id)")
        assert shown == [listing_id], f"the search for this outfit found {shown}"
        # the search answered with that card unchanged: the page kept the very node (a card
        # redrawn under a pressed pointer loses the click)
        kept = buyer.evaluate(
            """(id) => window.pointedAt.isConnected
              && window.pointedAt === document.querySelector(`.market-card[data-id='${id}']`)""",
            listing_id,
        )
        assert kept, "the search's answer redrew the card the buyer pointed at"
        # and comes to show the listing's own thumbnail: when the first page asked for it, it
        # was not rendered yet (a 404 that queued its render), and the card tries it again
        buyer.wait_for_function(
            """(id) => {
              const img = document.querySelector(`.market-card[data-id='${id}'] img.thumb`);
              const src = img.getAttribute("src");
              return src.split("?")[0].endsWith(`/${id}/thumbnail.png`)
                && img.complete && img.naturalWidth > 0;
            }""",
            arg=listing_id,
            timeout=60_000,
        )
        card = buyer.locator(f".market-card[data-id='{listing_id}']")
        assert card.locator(".name").inner_text() == outfit_name
        assert card.locator(".name b").count() == 0  # the name's markup is text
        assert card.locator(".price").inner_text() == "$5.00"
        card.locator("a").click()
        buyer.wait_for_url(f"**/market/{listing_id}")
        buyer.wait_for_function(
            "(name) => document.getElementById('name').textContent === name", arg=outfit_name
        )
        assert buyer.locator("#desc").inner_text() == description
        assert buyer.locator("#name b, #desc b, #desc img").count() == 0
        assert buyer.evaluate("() => window.pwned") is None, "the description's markup ran"

        # ---- try it on live: the stream shows the magenta outfit -------------------------------
        buyer.wait_for_function(
            "() => ['connected', 'error', 'failed'].includes(window.digigamiMarketItem.tryOn.state)",
            timeout=60_000,
        )
        state = buyer.evaluate("() => window.digigamiMarketItem.tryOn.state")
        assert state == "connected", f"{state}: {buyer.locator('#overlay').inner_text()}"
        buyer.wait_for_function(
            "() => { const v = document.getElementById('avatar');"
            " return v.videoWidth > 0 && v.currentTime > 0.5; }",
            timeout=30_000,
        )
        grabs = grab_avatar(buyer, seconds=1.0, every_ms=250)
        best = max(neon_share(g["png"]) for g in grabs)
        assert best > 0.01, f"the try-on stream shows no {NEON} outfit (best frame: {best:.4f})"

        # ---- buy it with the test card; the webhook fulfils it ---------------------------------
        buyer.get_by_role("button", name="Buy for $5.00").click()
        buyer.wait_for_selector("#pay:not([hidden]) #pay-element input", timeout=15_000)
        for field, value in [("number", "4242424242424242"), ("exp_month", "12"),
                             ("exp_year", "34"), ("cvc", "123"), ("postal_code", "10001")]:  # fmt: skip
            buyer.locator(f"#pay-element input[placeholder={field}]").fill(value)
        buyer.locator("#pay-btn").click()
        buyer.wait_for_function(
            "() => !document.getElementById('owned').hidden"
            " || !document.getElementById('buy-error').hidden",
            timeout=30_000,
        )
        assert buyer.locator("#buy-error").is_hidden(), buyer.locator("#buy-error").inner_text()
        assert buyer.locator("#use-link").is_visible()
        shoot(buyer, tmp_path, "market-item.png")
        owned = buyer.request.get(f"{server}/api/marketplace/owned")
        assert owned.ok and listing_id in [i["id"] for i in owned.json()["items"]], owned.text()

        # ---- the outfit is among the puppet page's outfits -------------------------------------
        buyer.locator("#use-link").click()
        buyer.wait_for_function(
            "() => window.digigami && window.digigami.hello !== null", timeout=60_000
        )
        outfits = buyer.evaluate(
            "() => [...document.getElementById('outfit').options].map((o) => o.value)"
        )
        assert LABEL in outfits, f"the puppet page's outfits are {outfits}"
        buyer.select_option("#outfit", LABEL)

        # ---- the creator's dashboard: one sale, 80% of $5.00 -----------------------------------
        creator.reload()
        creator.wait_for_selector("#creator:not([hidden])", timeout=15_000)
        assert creator.locator("#fig-sales").inner_text() == "1"
        assert creator.locator("#fig-earned").inner_text() == "$4.00"
        assert creator.locator("#fig-balance").inner_text() == "$4.00"
        shoot(creator, tmp_path, "market-dashboard.png")
        dash = creator.request.get(f"{server}/api/marketplace/dashboard")
        assert dash.ok and dash.json()["earned_cents"] == PRICE * 80 // 100, dash.text()

        # the market as a visitor sees it (its thumbnails rendered since the first visit)
        buyer.goto(f"{server}/market")
        buyer.locator(f".market-card[data-id='{listing_id}']").wait_for(timeout=15_000)
        shoot(buyer, tmp_path, "market.png")
        for page in (creator, buyer):
            assert page.evaluate("() => window.pwned") is None, "a listing's markup ran"
    finally:
        buyer_ctx.close()
