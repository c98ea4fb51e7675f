"""The account's path in real Chromium: sign up on /account, generate an avatar on /create
(the astronaut photo), find it in "My avatars" (/library), rename it there, and "Puppet" it:
the puppet page opens wearing that saved avatar and its stream connects. What the pages show
is checked against what the API says (the page's own cookie, through Playwright's request
context), so a page that only looks right fails."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.conftest import sign_up
from tests.photos import astronaut

pytestmark = pytest.mark.slow

GENERATE_S = 120  # a generation on the 2-CPU machine, the render worker busy besides

# The labels (text) of the buttons and button-links under a selector that are not drawn
# within their own box.
LABELS_OUTSIDE_JS = """(sel) => [...document.querySelectorAll(`${sel} .btn`)]
  .filter((el) => !el.hidden && el.offsetParent !== null && el.textContent.trim())
  .filter((el) => {
    const box = el.getBoundingClientRect();
    const range = document.createRange();
    range.selectNodeContents(el);
    const text = range.getBoundingClientRect();
    return text.left < box.left - 1 || text.right > box.right + 1
      || text.top < box.top - 1 || text.bottom > box.bottom + 1;
  })
  .map((el) => el.textContent.trim())"""


def test_sign_up_generate_find_rename_and_puppet(context, server: str, tmp_path: Path) -> None:
    username = f"e2e_{secrets.token_hex(4)}"
    page = context.new_page()

    # sign up
    sign_up(page, server, username)
    assert page.locator("#me-name").inner_text() == username
    me = page.request.get(f"{server}/api/me")
    assert me.ok and me.json()["user"]["username"] == username, me.text()

    # generate: the result is saved to the account's library at once
    photo = tmp_path / "astronaut.png"
    Image.fromarray(astronaut()).save(photo)
    page.goto(f"{server}/create")
    page.wait_for_function(
        "() => document.getElementById('conn').dataset.tone === 'ok'", timeout=15_000
    )
    page.wait_for_function(
        "() => (document.getElementById('account-nav') || document.body).textContent"
        f".includes('{username}')",
        timeout=15_000,
    )  # the create page shows who is signed in
    page.set_input_files("#file", str(photo))
    page.get_by_role("button", name="Generate avatar").click()
    page.wait_for_selector("#result:not([hidden])", timeout=GENERATE_S * 1000)
    page.wait_for_selector("#saved-note:not([hidden])", timeout=15_000)
    page.screenshot(path=str(tmp_path / "create.png"), full_page=True)
    saved_href = page.get_attribute("#saved-link", "href") or ""
    found = re.fullmatch(r"/library#([0-9a-f]{32})", saved_href)
    assert found, f"the saved note links to {saved_href!r}, not to the saved avatar"
    avatar_id = found.group(1)
    listed = page.request.get(f"{server}/api/avatars")
    assert listed.ok, listed.text()
    mine = {a["id"]: a for a in listed.json()["avatars"]}
    assert avatar_id in mine and mine[avatar_id]["source"] == "generated", mine

    # find it in My avatars
    page.locator("#saved-link").click()
    page.wait_for_url(f"**/library#{avatar_id}")
    card = page.locator(f"#avatar-{avatar_id}")
    card.wait_for(timeout=15_000)
    assert page.locator("#avatars > li").count() == 1
    assert "generated from a photo" in card.locator(".meta").inner_text()
    page.wait_for_function(
        "(id) => { const img = document.querySelector(`#avatar-${id} .thumb`);"
        " return img && img.complete && img.naturalWidth > 0; }",
        arg=avatar_id,
        timeout=15_000,
    )  # its thumbnail loaded (not a broken picture)
    assert "/static/library.digi.png" not in (card.locator(".thumb").get_attribute("src") or "")

    # every button of the card shows its label inside itself (a page-layout class once
    # pushed "Puppet" out of its button)
    outside = page.evaluate(LABELS_OUTSIDE_JS, f"#avatar-{avatar_id}")
    assert outside == [], f"buttons whose label is drawn outside them: {outside}"

    # rename it
    new_name = "Astronaut <b>me</b>"  # markup in a name stays text
    card.locator("input.name").fill(new_name)
    card.get_by_role("button", name="Rename").click()
    page.wait_for_function(
        "() => document.querySelector('#toasts .toast') !== null", timeout=15_000
    )
    notice = page.locator("#toasts .toast").last.inner_text()
    assert notice == "renamed", notice
    got = page.request.get(f"{server}/api/avatars/{avatar_id}")
    assert got.ok and got.json()["name"] == new_name, got.text()
    page.reload()
    card = page.locator(f"#avatar-{avatar_id}")
    card.wait_for(timeout=15_000)
    assert card.locator("input.name").input_value() == new_name
    assert card.locator("b").count() == 0  # the name was not parsed as HTML
    page.screenshot(path=str(tmp_path / "library.png"), full_page=True)

    # Puppet it: the puppet page opens wearing it, and connects
    card.get_by_role("link", name="Puppet").click()
    page.wait_for_url(f"**/?avatar={avatar_id}")
    page.wait_for_function(
        "() => window.digigami && ['connected', 'busy', 'error', 'failed']"
        ".includes(window.digigami.state)",
        timeout=60_000,
    )
    state = page.evaluate("() => window.digigami.state")
    assert state == "connected", f"{state}: {page.locator('#banners').inner_text()}"
    assert page.locator("#wearing").is_visible()
    page.wait_for_function("() => window.digigami.hello !== null", timeout=15_000)
    worn = page.evaluate("() => window.digigami.hello.avatar")
    assert worn == avatar_id, f"the session wears {worn!r}, not the saved avatar {avatar_id}"
    page.wait_for_function(
        "() => { const v = document.getElementById('avatar');"
        " return v && v.videoWidth > 0 && v.currentTime > 0; }",
        timeout=30_000,
    )  # frames arrive
    page.screenshot(path=str(tmp_path / "puppet.png"))


def test_a_visitors_pages_ask_nothing_that_fails(context, server: str) -> None:
    """Every page asks who is signed in on load; a visitor's answer is "nobody", not a
    failed request in the console (GET /api/whoami, not /api/me's 401)."""
    page = context.new_page()
    failed: list[str] = []
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
    for path in ("/library", "/market", "/account"):
        page.goto(f"{server}{path}")
        page.wait_for_load_state("networkidle")
    page.goto(f"{server}/library")
    page.wait_for_function(
        "() => document.getElementById('account-nav').textContent.includes('Sign in')",
        timeout=15_000,
    )
    page.wait_for_selector("#guest-note:not([hidden])", timeout=15_000)
    assert not failed, failed
