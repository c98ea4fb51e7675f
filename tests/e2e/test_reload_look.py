"""The look survives a reload (issue 15), in real Chromium: outfit, accessory, framing and
scene chosen on the puppet page are there again after the page reloads (same session id,
same OBS URL), in the page's own controls and in the picture it receives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.e2e.test_puppet_stream import open_puppet

pytestmark = pytest.mark.slow

SHOTS = Path("/tmp/issue15/h2")
BACKDROP = "#2060c0"  # a blue no part of Digi is


def _status(page, check: str, timeout: float = 15_000) -> None:
    page.wait_for_function(f"() => {{ const s = window.digigami.lastStatus; return s && ({check}); }}",
                           timeout=timeout)  # fmt: skip


def _blue_share(page, name: str) -> float:
    """How much of the received avatar picture is the chosen blue backdrop."""
    path = SHOTS / name
    page.locator("#avatar").screenshot(path=str(path))
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    blue = np.abs(rgb - (0x20, 0x60, 0xC0)).max(axis=2) <= 24
    return float(blue.mean())


def test_a_reload_keeps_outfit_framing_and_scene(context, server: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = open_puppet(context, server)
    session = page.evaluate("window.digigami.session")
    page.wait_for_function("() => window.digigami.hello", timeout=15_000)
    page.select_option("#outfit", "armor")
    page.select_option("#accessory", "hat")
    page.select_option("#framing", "bust")
    page.evaluate(
        f"window.digigami.send({{type: 'scene', background: 'colour', colour: '{BACKDROP}'}})"
    )
    _status(page, "s.customizations.sprites.outfit === 'armor' && s.framing === 'bust'"
            f" && s.scene.background === 'colour' && s.scene.colour === '{BACKDROP}'")  # fmt: skip
    page.wait_for_timeout(1500)  # the framing's glide and a fresh keyframe
    before = _blue_share(page, "reload-before.png")
    assert before > 0.2, f"the chosen backdrop fills only {before:.0%} of the picture"

    page.reload()
    page.wait_for_function(
        "() => window.digigami?.state === 'connected' && window.digigami.hello", timeout=40_000
    )
    assert page.locator("#tabs-dialog").count() == 0  # a reload never asks
    again = page.evaluate("window.digigami.session")
    assert (again["session"], again["obs_url"]) == (session["session"], session["obs_url"])
    hello = page.evaluate("window.digigami.hello")
    # the very first message already has it: no flash of the default look on air
    assert hello["current"]["outfit"] == "armor" and hello["current"]["accessories"] == "hat"
    assert hello["scene"]["background"] == "colour" and hello["scene"]["colour"] == BACKDROP
    _status(page, "s.framing === 'bust'")
    # the page's controls show it
    assert page.locator("#outfit").input_value() == "armor"
    assert page.locator("#accessory").input_value() == "hat"
    page.wait_for_function("() => document.getElementById('framing').value === 'bust'")
    page.wait_for_function(
        "() => window.digigami.stats().then((s) => s.framesDecoded > 30)", polling=200,
        timeout=20_000,
    )  # fmt: skip
    page.wait_for_timeout(1000)
    after = _blue_share(page, "reload-after.png")
    assert after > 0.2, f"after the reload the backdrop fills only {after:.0%} of the picture"
    page.screenshot(path=str(SHOTS / "reload-page.png"))
    page.close()
