"""The Creator Studio's Avatar panel in real Chromium against a real server (issue 18), read
from the received stream's pixels: the hue slider on the hair moves the hair's hue and
nothing else; Ctrl+Z gives the previous frame back and Ctrl+Shift+Z the edited one; a save
and a reload bring the avatar back exactly; bad input is refused before it is sent, and a
bad message forced through gets the server's error shown and changes nothing.

The studio session holds the avatar still (paused), so the same look gives the same frame:
frames are compared after the stream settles (the encoder refines a still picture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.e2e.studio_util import (
    NOISE,
    diff,
    grow,
    hue_deg,
    idle,
    open_studio,
    ready,
    set_slider,
    settled,
    shot,
    signed_up,
    wait_status,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(studio_server: str) -> str:
    """The studio's shared server (conftest.py), once earlier modules' sessions are gone."""
    return idle(studio_server)


def test_hair_hue_changes_only_the_hair_and_undo_redo_give_the_frames_back(
    context, server: str, tmp_path: Path
) -> None:
    page = open_studio(context.new_page(), server, "avatar")
    before = settled(page)
    h, s, v = hue_deg(before)
    hair = (h > 10) & (h < 40) & (s > 130) & (v > 90)  # Digi's orange hair
    # his shirt, away from the hair (the codec's half-resolution colour bleeds ~2 px)
    teal = (h > 160) & (h < 200) & (s > 100) & ~grow(hair, 4)
    assert hair.mean() > 0.03 and teal.mean() > 0.005, "Digi's hair or shirt is not in the frame"

    set_slider(page, "color.hue", 120, part="hair")
    wait_status(page, "s.customizations?.colors?.hair?.hue === 120")
    after = settled(page, unlike=before)
    h2, _, _ = hue_deg(after)
    moved = np.abs(((h2 - h + 180) % 360) - 180)[hair]
    assert np.median(moved) > 60, f"the hair's hue moved only {np.median(moved):.0f} degrees"
    changed = np.abs(after - before).max(axis=2) > 48
    outside = changed & ~grow(hair, 3)
    assert outside.sum() < 0.02 * changed.sum(), (
        f"{outside.sum()} pixels changed outside the hair ({changed.sum()} in all)"
    )
    assert diff(after[teal], before[teal]) < NOISE, "the shirt changed with the hair's hue"

    page.keyboard.press("Control+z")
    wait_status(page, "!s.customizations?.colors?.hair")
    undone = settled(page, unlike=after)
    assert diff(undone, before) < NOISE, f"undo left the frame {diff(undone, before):.2f} off"

    page.keyboard.press("Control+Shift+z")
    wait_status(page, "s.customizations?.colors?.hair?.hue === 120")
    redone = settled(page, unlike=undone)
    assert diff(redone, after) < NOISE, f"redo left the frame {diff(redone, after):.2f} off"
    shot(page, "studio-avatar.png", tmp_path)


def test_a_sprite_library_is_worn_from_a_new_session_and_undone(context, server: str) -> None:
    """A variant library (`winter`: a scarf by default, winter hats) needs its own pictures,
    so the page opens a new session wearing the working copy; undo comes back to base."""
    page = open_studio(context.new_page(), server, "avatar")
    base = settled(page)
    first = page.evaluate("window.digigamiStudio.session.session")
    page.select_option("#library", "winter")
    wait_status(page, "s.customizations?.library === 'winter'", timeout=60_000)
    assert page.evaluate("window.digigamiStudio.session.session") != first
    assert page.evaluate("window.digigamiStudio.hello.library") == "winter"
    winter = settled(page, unlike=base)
    scarf = int((np.abs(winter - base).max(axis=2) > 48).sum())  # winter's default scarf
    assert scarf > 400, f"the winter library's scarf is not in the stream ({scarf} pixels)"
    page.keyboard.press("Control+z")
    wait_status(page, "(s.customizations?.library ?? 'base') === 'base'", timeout=60_000)
    undone = settled(page, unlike=winter)
    assert diff(undone, base) < NOISE, f"undo left the frame {diff(undone, base):.2f} off"


def test_save_and_reload_restore_the_avatar_exactly(context, server: str) -> None:
    page = context.new_page()
    signed_up(page, server, "studioavatar")
    page.close()
    page = open_studio(context.new_page(), server, "avatar")
    plain = settled(page)
    set_slider(page, "color.saturation", 0.4, part="outfit")
    page.locator('.thumb-btn[data-category="accessories"][data-label="hat"]').click()
    wait_status(
        page, "s.customizations?.sprites?.accessories === 'hat' && s.customizations?.colors?.outfit"
    )
    edited = settled(page, unlike=plain)
    working = page.evaluate("window.digigamiStudio.customizations()")

    # unsaved, a reload keeps the edits and their history (this tab's sessionStorage), and
    # the new session is sent the working copy
    page.reload()
    ready(page)
    assert page.evaluate("window.digigamiStudio.customizations()") == working
    assert page.evaluate("window.digigamiStudio.history.entries.length") == 2
    kept = settled(page)
    assert diff(kept, edited) < NOISE, f"the reloaded working copy is {diff(kept, edited):.2f} off"

    page.locator("#save").click()
    page.wait_for_function(
        "() => /^\\/studio\\/[0-9a-f]{32}$/.test(location.pathname)", timeout=15_000
    )
    saved_id = page.evaluate("window.digigamiStudio.avatar.id")

    page.reload()
    ready(page)
    assert page.evaluate("window.digigamiStudio.avatar.id") == saved_id
    stored = page.evaluate(f"fetch('/api/avatars/{saved_id}').then((r) => r.json())")[
        "customizations"
    ]
    assert stored["sprites"]["accessories"] == "hat"
    assert stored["colors"]["outfit"]["saturation"] == pytest.approx(0.4)
    assert {k: stored.get(k) for k in ("colors",)} == {k: working.get(k) for k in ("colors",)}
    assert page.evaluate("window.digigamiStudio.customizations()") == stored
    again = settled(page)
    assert diff(again, edited) < NOISE, f"the reloaded avatar is {diff(again, edited):.2f} off"


def test_bad_input_is_refused_and_a_forced_bad_message_changes_nothing(
    context, server: str
) -> None:
    page = open_studio(context.new_page(), server, "avatar")
    before = settled(page)
    sent = page.evaluate("window.digigamiStudio.sent")
    page.select_option("#color-part", "hair")
    box = page.locator('.slider-row input[type=number][data-name="color.hue"]')
    for bad in ("999", "-1e9"):
        box.fill(bad)
        box.press("Enter")
        assert "color.hue must be within -180..180" in page.locator("#studio-log").inner_text()
    assert page.evaluate("window.digigamiStudio.sent") == sent, "a refused value was sent"
    assert page.evaluate("window.digigamiStudio.history.canUndo") is False

    # past the page's own checks: the server names the field, the page shows it
    page.evaluate("window.digigamiStudio.send({type: 'pose', edits: {bones: {nosuchbone: 10}}})")
    page.wait_for_function(
        "() => document.getElementById('studio-log').textContent.includes('nosuchbone')",
        timeout=10_000,
    )
    assert page.locator(".toast.error").count() >= 1
    page.evaluate("window.digigamiStudio.send({type: 'color', part: 'hair', hue: 1e9})")
    page.wait_for_function(
        "() => document.getElementById('studio-log').textContent.includes('hue')", timeout=10_000
    )
    after = settled(page)
    assert diff(after, before) < NOISE, "a refused message changed the picture"
    assert not page.evaluate("window.digigamiStudio.status.customizations?.colors?.hair")
