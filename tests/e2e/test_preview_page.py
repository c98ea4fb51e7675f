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
