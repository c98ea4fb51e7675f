"""One navigation bar on every page a visitor uses, the current page marked, each link
going where it says (issue 15: /create and /preview had no navigation)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

PAGES = {
    "/": "Puppet",
    "/create": "Create",
    "/preview": "Preview",
    "/library": "My avatars",
    "/market": "Market",
    "/studio/digi": "Studio",
}


@pytest.mark.parametrize("path", [*PAGES, "/account"])
def test_every_page_has_the_same_navigation(context, server: str, path: str) -> None:
    page = context.new_page()
    page.goto(f"{server}{path}")
    nav = page.locator("#site-nav a")
    nav.first.wait_for()
    links = {a.get_attribute("href"): a.inner_text() for a in nav.all()}
    assert links == PAGES, links
    current = page.locator("#site-nav a[aria-current=page]")
    if path in PAGES:
        assert current.inner_text() == PAGES[path]
    else:
        assert current.count() == 0
    page.close()


def test_the_links_lead_to_their_pages(context, server: str) -> None:
    page = context.new_page()
    page.goto(f"{server}/preview?animation=idle")
    page.locator("#site-nav a", has_text="Create").click()
    page.wait_for_url(f"{server}/create")
    assert "create" in page.title().lower()
    page.locator("#site-nav a", has_text="My avatars").click()
    page.wait_for_url(f"{server}/library")
    page.close()
