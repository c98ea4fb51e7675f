"""The studio's Animation preview and Batch export panels in real Chromium against the real
server: a built-in and a custom animation play in the viewport (the stream's frames change)
with the chosen speed and loop; two formats of one animation export as one zip, with the
progress shown and a download link that works."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.studio_util import (
    STILL,
    VIEWPORT,
    idle,
    motion,
    open_studio,
    shot,
    signed_up,
    wait_status,
)

pytestmark = pytest.mark.slow

CLIP = {
    "schema": 1,
    "name": "big wave",
    "length": 1.0,
    "looping": True,
    "bones": {
        "upperarm_r": {
            "rotation": [
                {"time": 0, "value": 0},
                {"time": 0.5, "value": 90},
                {"time": 1, "value": 0},
            ]
        }
    },
}


# percent of the frame's pixels that changed (studio_util.motion): none for a still avatar
# (studio_util.STILL: codec noise stays under the level it counts), a few for a waving arm
MOVING = 0.5


@pytest.fixture(scope="module")
def server(studio_server: str) -> str:
    """The studio's shared server (conftest.py), once earlier modules' sessions are gone."""
    return idle(studio_server)


@pytest.fixture(scope="module")
def signed_in(browser, server: str) -> Iterator[object]:
    """A signed-in browser context with one custom animation (its id in `.clip_id`)."""
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    signed_up(page, server, "previewer")
    answer = page.request.post(
        f"{server}/api/animations",
        headers={"Origin": server, "Content-Type": "application/json"},
        data={"name": CLIP["name"], "rig": "digi", "definition": CLIP},
    )
    assert answer.status == 201, answer.text()
    ctx.clip_id = answer.json()["id"]
    page.close()
    yield ctx
    ctx.close()


def test_preview_plays_builtin_and_custom_with_speed_and_loop(
    signed_in, server: str, tmp_path: Path
) -> None:
    page = signed_in.new_page()
    open_studio(page, server, "animations")
    builtin = page.evaluate("digigamiStudio.hello.animations.builtin")
    assert "wave" in builtin, builtin
    still = motion(page)
    assert still < STILL, f"the studio holds the avatar still until something plays ({still})"

    page.locator("#an-speed").fill("2")
    page.locator("#an-loop").check()
    page.locator('.an-play[data-group="builtin"][data-id="wave"]').click()
    status = wait_status(page, "!s.studio.paused && s.studio.speed === 2")
    assert status["studio"]["speed"] == 2
    moved = motion(page)
    assert moved > MOVING, f"the built-in wave does not move the stream ({moved:.2f} %)"

    page.locator(f'.an-play[data-id="{signed_in.clip_id}"]').click()
    moved = motion(page)
    assert moved > MOVING, f"the custom animation does not move the stream ({moved:.2f} %)"
    assert "Playing big wave (looping)" in page.locator(".an-now").inner_text()
    shot(page, "studio-preview.png", tmp_path)

    page.get_by_role("button", name="Pause").click()
    wait_status(page, "s.studio.paused")
    moved = motion(page)
    assert moved < STILL, f"pause does not hold the avatar still ({moved:.2f} %)"
    log = page.locator("#studio-log").inner_text()
    assert "refused" not in log and "unknown" not in log, log
    page.close()


def test_batch_export_two_formats_of_one_animation(signed_in, server: str, tmp_path: Path) -> None:
    page = signed_in.new_page()
    open_studio(page, server, "export")
    page.locator('.bx-formats input[value="gif"]').wait_for(timeout=15_000)
    page.locator('.bx-formats input[value="png"]').uncheck()
    page.locator('.bx-formats input[value="gif"]').check()
    page.locator('.bx-formats input[value="spritesheet"]').check()
    page.locator('.bx-animations input[value="wave"]').check()
    page.locator(".bx-size").fill("128")
    page.get_by_role("button", name="Start export").click()
    page.locator(".bx-progress:not([hidden])").wait_for(timeout=15_000)
    link = page.locator(".bx-download:not([hidden])")
    link.wait_for(timeout=240_000)
    assert page.locator(".bx-progress").get_attribute("data-state") == "done"
    assert page.locator(".bx-progress progress").get_attribute("value") == "100"
    shot(page, "studio-export.png", tmp_path)
    answer = page.request.get(f"{server}{link.get_attribute('href')}")
    assert answer.status == 200
    body = answer.body()
    assert body[:2] == b"PK", body[:40]
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert any(n.endswith(".gif") for n in names), names
    assert any(n.endswith(".png") for n in names), names
    page.close()
