"""The Creator Studio's Expression panel in real Chromium against a real server (issue 18):
an expression made in the studio (the mouth set by its sliders, hotkey Ctrl+M) is saved on
the avatar; on the puppet page, with the fake camera's face tracked, the hotkey changes the
mouth in the received stream while tracking keeps running.

The fake camera's face talks: the tracked avatar's mouth shows its crimson inside in every
frame (it never quite shuts, and its widest is not far from the slider's full open), so the
expression measured is the one that changes it most: the mouth held shut over the tracked
one, the inside gone from every frame while the status still says the face is tracked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.e2e.grab import grab_avatar
from tests.e2e.studio_util import idle, open_studio, set_slider, shot, signed_up, wait_status
from tests.e2e.test_lipsync import OPEN_PIXELS, frames, mouth_pixels
from tests.e2e.test_puppet_stream import open_puppet

pytestmark = pytest.mark.slow

# the mouth's opening and its vowel shapes (tracking drives all of them)
MOUTH = ("ParamMouthOpenY", "ParamA", "ParamI", "ParamU", "ParamE", "ParamO")
HOTKEY = "Ctrl+KeyM"  # no key of the puppet page's own: they take no Ctrl


@pytest.fixture(scope="module")
def server(studio_server: str) -> str:
    """The studio's shared server (conftest.py), once earlier modules' sessions are gone."""
    return idle(studio_server)


def test_a_saved_expression_hotkey_opens_the_mouth_on_the_puppet_page(
    context, server: str, tmp_path: Path
) -> None:
    page = context.new_page()
    signed_up(page, server, "studioexpr")
    page.close()
    studio = open_studio(context.new_page(), server, "expression")
    for param in MOUTH:  # each slider moved (so the expression keeps it), ending shut
        for value in ("1", "0"):
            set_slider(studio, param, value)
    studio.fill("#expr-name", "mouth shut")
    studio.focus("#expr-hotkey")
    studio.keyboard.press("Control+m")
    assert studio.input_value("#expr-hotkey") == HOTKEY
    studio.fill("#expr-fade", "0.1")
    studio.click("#expr-save")
    # the session has the expression too: its hotkey toggles it in the studio's own view
    studio.locator("#expr-list li[data-name='mouth shut'] button", has_text="Off").click()
    wait_status(studio, "(s.expressions ?? []).includes('mouth shut')")
    shot(studio, "studio-expression.png", tmp_path)
    studio.click("#save")
    studio.wait_for_function(
        "() => /^\\/studio\\/[0-9a-f]{32}$/.test(location.pathname)", timeout=15_000
    )
    avatar = studio.evaluate("window.digigamiStudio.avatar.id")
    saved = studio.evaluate(f"fetch('/api/avatars/{avatar}').then((r) => r.json())")[
        "customizations"
    ]
    assert saved["expressions"] == [
        {"name": "mouth shut", "values": dict.fromkeys(MOUTH, 0.0), "hotkey": HOTKEY, "fade": 0.1}
    ]
    studio.close()

    puppet = open_puppet(context, server, f"?avatar={avatar}")
    puppet.wait_for_function(
        "() => (window.digigami.hello?.expressions ?? []).some((x) => x.name === 'mouth shut')",
        timeout=15_000,
    )
    puppet.evaluate("window.digigami.send({type: 'framing', value: 'face'})")
    puppet.wait_for_function(
        "() => window.digigami.lastStatus?.framing === 'face' && window.digigami.lastStatus?.tracking === 'tracking'",
        timeout=60_000,
    )
    puppet.wait_for_timeout(1500)  # the framing's glide
    status = "(s) => ({tracking: s.tracking, presence: s.presence, on: (s.expressions ?? []).includes('mouth shut')})"
    plain = grab_avatar(puppet, 4.0, 100, status)
    puppet.locator("body").focus()
    puppet.keyboard.press("Control+m")
    puppet.wait_for_function(
        "() => (window.digigami.lastStatus?.expressions ?? []).includes('mouth shut')",
        timeout=10_000,
    )
    puppet.wait_for_timeout(500)  # the fade, and frames of it through the encoder
    on = grab_avatar(puppet, 4.0, 100, status)

    tracked_mouth = np.array([mouth_pixels(f) for f in frames(plain)])
    held = np.array([mouth_pixels(f) for f in frames(on)])
    assert (tracked_mouth > OPEN_PIXELS).mean() > 0.8, (
        f"the tracked mouth is not open: {tracked_mouth.tolist()}"
    )
    assert (held < OPEN_PIXELS // 2).mean() > 0.95, (
        f"the expression did not hold the mouth: {held.tolist()}"
    )
    assert all(g["on"] for g in on)
    tracked = [g["tracking"] == "tracking" and g["presence"] > 0.5 for g in on]
    assert np.mean(tracked) > 0.9, (
        f"tracking stopped under the expression: {[g['tracking'] for g in on]}"
    )
