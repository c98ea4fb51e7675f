"""The puppet page's controls in Chromium (docs/CONTROL.md "Controls"): the combinations the
streamer of issue 15 hit, clicked and typed as a streamer does, checked in the session's
own status messages and on the page (the HUD over the avatar, the controls card's "Now"
rows). Screenshots go to $DIGIGAMI_SHOTS (default: pytest's tmp dir) to be looked at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import wait_until_idle
from tests.e2e.test_puppet_stream import open_puppet

pytestmark = pytest.mark.slow

WAIT_MS = 15_000  # a status comes every 0.5 s; a loaded 2-core machine is slow


def shots(tmp_path: Path) -> Path:
    out = Path(os.environ.get("DIGIGAMI_SHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    return out


def wait_status(page, condition: str) -> dict:
    """Wait until the newest status satisfies `condition` (JS, on `s`); return it."""
    page.wait_for_function(
        f"() => {{ const s = window.digigami.lastStatus; return !!s && !!s.layers && ({condition}); }}",
        timeout=WAIT_MS,
    )
    return page.evaluate("window.digigami.lastStatus")


def now_row(page, region: str) -> str:
    return page.locator(f'#now-playing .now-row[data-region="{region}"]').inner_text()


def ready(context, server: str):
    wait_until_idle(server)
    page = open_puppet(context, server)
    page.wait_for_function("() => window.digigami.hello !== null", timeout=10_000)
    wait_status(page, "s.layers.body === 'idle'")
    # every error toast the page shows from now on (a refused control message is one)
    page.evaluate(
        """() => {
          window.errorToasts = [];
          new MutationObserver((records) => {
            for (const r of records) for (const n of r.addedNodes) {
              if (n.classList?.contains("error")) window.errorToasts.push(n.textContent);
            }
          }).observe(document.getElementById("toasts"), { childList: true });
        }"""
    )
    return page


def no_errors(page) -> None:
    assert page.evaluate("window.errorToasts") == [], page.evaluate("window.errorToasts")
    assert not page.locator(".banner.error").count(), page.locator("#banners").inner_text()


def test_dance_then_idle_stops_the_dance(context, server: str, tmp_path: Path) -> None:
    page = ready(context, server)
    page.locator('#actions [data-state="dance"]').click()
    s = wait_status(page, "s.layers.body === 'dance'")
    assert s["layers"]["emote"] is None, s["layers"]
    assert s["animations"]["body"].startswith("dance_"), s["animations"]
    page.wait_for_function(
        "() => document.getElementById('hud-state').textContent.includes('Dance')",
        timeout=WAIT_MS,
    )
    assert "Dance" in now_row(page, "body")
    assert page.locator('#actions [data-state="dance"]').get_attribute("class").count("active")
    page.screenshot(path=str(shots(tmp_path) / "controls-dance.png"))

    page.locator('#actions [data-state="idle"]').click()
    s = wait_status(page, "s.layers.body === 'idle'")
    assert "dance" not in s["layers"].values(), s["layers"]
    assert not any((a or "").startswith("dance_") for a in s["animations"].values()), s
    assert s["state"] == "idle" and s["queued"] == [], s
    page.wait_for_function(
        "() => { const t = document.getElementById('hud-state').textContent;"
        " return t.includes('Idle') && !t.includes('Dance'); }",
        timeout=WAIT_MS,
    )
    assert page.locator(".hud .hud-layer").count() == 0  # no emote or tool over the body
    assert "Idle" in now_row(page, "body") and "Dance" not in now_row(page, "body")
    page.screenshot(path=str(shots(tmp_path) / "controls-idle-after-dance.png"))
    # and it stays stopped: the dance does not come back on its own
    page.wait_for_timeout(1500)
    s = page.evaluate("window.digigami.lastStatus")
    assert s["layers"]["body"] == "idle", s["layers"]
    no_errors(page)


def test_wave_over_a_dance_then_sit_by_key(context, server: str, tmp_path: Path) -> None:
    page = ready(context, server)
    page.locator("body").press("3")  # the third dance, by its key
    s = wait_status(page, "s.layers.body === 'dance'")
    assert s["animations"]["body"] == page.evaluate("window.digigami.hello.dances[2]")
    page.locator('#emotes [data-state="wave"]').click()
    s = wait_status(page, "s.layers.emote === 'wave'")
    assert s["layers"]["body"] == "dance", s["layers"]  # the dance goes on under the wave
    page.wait_for_function(
        "() => [...document.querySelectorAll('.hud .hud-layer')]"
        ".some((p) => p.dataset.region === 'emote' && p.textContent.includes('Wave'))",
        timeout=WAIT_MS,
    )
    assert "Wave" in now_row(page, "emote")
    page.screenshot(path=str(shots(tmp_path) / "controls-wave-over-dance.png"))

    page.locator("body").press("s")  # Sit: ends the wave and the dance at once
    s = wait_status(page, "s.layers.body === 'sit'")
    assert s["layers"]["emote"] is None and s["state"] == "sit", s["layers"]
    # Emotes -> Stop has nothing left to end, and Digi stays seated
    page.locator('#emotes [data-stop="emote"]').click()
    page.wait_for_timeout(1200)
    s = page.evaluate("window.digigami.lastStatus")
    assert s["layers"] == {"body": "sit", "tool": None, "emote": None}, s["layers"]
    page.wait_for_function(
        "() => document.getElementById('hud-state').textContent.includes('Sit')", timeout=WAIT_MS
    )
    assert page.locator(".hud .hud-layer").count() == 0
    no_errors(page)


def test_a_cancelled_slash_puts_the_tool_away(context, server: str) -> None:
    page = ready(context, server)
    # Slash, then at once the cancel key: the slash plays, then no "Hold" follows it.
    # Both in one browser task: two Playwright calls can be more than the slash's 0.5 s
    # apart on a loaded machine, and a cancel after the slash ended has nothing to cancel.
    page.evaluate(
        """() => {
          document.querySelector('#tools [data-state="toolslash"]').click();
          document.body.dispatchEvent(
            new KeyboardEvent("keydown", { key: "Backspace", bubbles: true }));
        }"""
    )
    page.wait_for_timeout(1500)  # the slash is 0.5 s long
    s = wait_status(page, "s.layers.tool === null")
    assert s["queued"] == [], s["queued"]
    # without a cancel the slash goes back to holding the tool
    page.locator('#tools [data-state="toolslash"]').click()
    s = wait_status(page, "s.layers.tool === 'toolnone'")
    assert "Hold" in now_row(page, "tool")
    page.locator('#tools [data-stop="tool"]').click()
    wait_status(page, "s.layers.tool === null")
    no_errors(page)


def test_the_speed_slider_walks_and_a_body_state_stops_it(context, server: str) -> None:
    page = ready(context, server)
    page.locator('#actions [data-state="dance"]').click()
    wait_status(page, "s.layers.body === 'dance'")
    page.locator("#speed").fill("1.2")
    wait_status(page, "s.layers.body === 'walk'")  # walking ends the dance
    page.locator('#actions [data-state="sit"]').click()
    wait_status(page, "s.layers.body === 'sit'")
    assert page.locator("#speed").input_value() == "0"  # sitting is standing still
    page.locator("body").press("ArrowUp")
    s = wait_status(page, "['walk', 'run'].includes(s.layers.body)")
    assert s["layers"]["emote"] is None
    no_errors(page)
