"""The puppet page's first-run guide: shown to a new visitor, each step ticked off as it
happens (the camera allowed and the avatar live, calibrate, the OBS URL copied), gone for
good once done, back with ?guide."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def steps_done(page) -> list[str]:
    return page.eval_on_selector_all("#guide li.done", "(els) => els.map((e) => e.dataset.step)")


def test_the_guide_walks_a_new_streamer_through_and_then_stays_away(context, server: str) -> None:
    page = context.new_page()
    page.goto(server)
    guide = page.locator("#guide")
    guide.wait_for(state="visible")
    assert steps_done(page) == []
    page.wait_for_function("() => window.digigami?.hello != null", timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('#guide li.done').length >= 1")
    assert steps_done(page) == ["camera"]
    page.locator("#calibrate").click()
    assert steps_done(page) == ["camera", "calibrate"]
    page.locator("#obs-copy").click()
    assert steps_done(page) == ["camera", "calibrate", "obs"]
    assert "You're set" in guide.inner_text()
    page.reload()
    page.wait_for_function("() => window.digigami?.hello != null", timeout=60_000)
    assert guide.is_hidden(), "the guide came back after it was done"
    page.goto(f"{server}/?guide")
    guide.wait_for(state="visible")
    page.locator("#guide-close").click()
    assert guide.is_hidden()
    page.close()
