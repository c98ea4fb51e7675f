"""The receive-only preview page in real Chromium against the real server: it plays the
animation and look named in its query string, and shows the server's 400 message when a
name is wrong."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_preview_plays_the_named_animation(context, server: str) -> None:
    page = context.new_page()
    page.goto(f"{server}/preview?animation=dance_3&outfit=armor")
    page.wait_for_function(
        "() => window.digigamiPreview && ['connected', 'error', 'failed'].includes(window.digigamiPreview.state)",
        timeout=30_000,
    )
    assert page.evaluate("digigamiPreview.state") == "connected", page.locator(
        "#banners"
    ).inner_text()
    page.wait_for_function(
        "() => digigamiPreview.stats().then((s) => s.framesDecoded > 0)",
        polling=200,
        timeout=15_000,
    )
    first = page.evaluate("digigamiPreview.stats()")
    page.wait_for_timeout(2000)
    then = page.evaluate("digigamiPreview.stats()")
    assert then["framesDecoded"] - first["framesDecoded"] > 20, (first, then)
    assert then["width"] > 0 and then["height"] > 0, then
    assert not page.locator(".banner.error").count()
    chips = page.locator("#chips").inner_text()
    assert "dance_3" in chips and "armor" in chips, chips


def test_preview_shows_the_servers_error_for_an_unknown_animation(context, server: str) -> None:
    page = context.new_page()
    page.goto(f"{server}/preview?animation=moonwalk_9")
    banner = page.locator(".banner.error")
    banner.wait_for(timeout=15_000)
    text = banner.inner_text()
    assert "moonwalk_9" in text, f"the page does not show the server's message: {text!r}"
    assert page.evaluate("digigamiPreview.state") == "error"
    assert page.evaluate("digigamiPreview.error") in text


def test_every_bad_value_is_listed_not_only_the_first(context, server: str) -> None:
    page = context.new_page()
    page.goto(f"{server}/preview?animation=moonwalk_9&outfit=tuxedo&body=giant&size=333")
    page.wait_for_function("() => window.digigamiPreview?.state === 'error'", timeout=30_000)
    problems = page.locator("#problems li").all_inner_texts()
    assert len(problems) >= 1
    text = " | ".join(problems) or page.locator(".banner.error").inner_text()
    # size is checked first (nothing costly is made for a bad request), alone
    assert '"size" must be even' in text, text
    page.goto(f"{server}/preview?animation=moonwalk_9&outfit=tuxedo&body=giant")
    page.wait_for_function("() => window.digigamiPreview?.state === 'error'", timeout=30_000)
    problems = page.locator("#problems li").all_inner_texts()
    assert len(problems) == 3, problems
    for word in ("moonwalk_9", "tuxedo", "giant"):
        assert any(word in p for p in problems), (word, problems)


def test_the_form_offers_the_avatars_own_choices(context, server: str) -> None:
    page = context.new_page()
    page.goto(f"{server}/preview?animation=wave")
    form = page.locator("#form")
    page.wait_for_function("() => !document.querySelector('#form select[name=outfit]').disabled")
    options = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#form select')].map(
            (s) => [s.name, [...s.options].map((o) => o.value)]))"""
    )
    assert "dance_3" in options["animation"] and "wave" in options["animation"], options
    assert "armor" in options["outfit"] and "slim" in options["body"], options
    assert page.locator("select[name=animation]").input_value() == "wave"
    # no free text anywhere: a choice is one of the avatar's
    assert form.locator("input[type=text]").count() == 0
    form.locator("select[name=animation]").select_option("dance_2")
    form.locator("select[name=outfit]").select_option("armor")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/preview?*animation=dance_2*")
    assert "outfit=armor" in page.url
    page.wait_for_function("() => window.digigamiPreview?.state === 'connected'", timeout=30_000)
