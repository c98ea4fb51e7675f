"""Scenes in real Chromium: the puppet page's Scene card (webapi/static/scene.js) sets a
background colour, a position and a bundled picture, and the OBS page (obs.js) shows them:
opaque over the chosen colour or picture, the avatar where the scene puts it; a 720p scene
gives the OBS page a 16:9 picture. Screenshots are written for a look (DIGIGAMI_LOOK_DIR)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.test_obs_page import screenshot_rgba
from tests.e2e.test_puppet_stream import open_puppet

pytestmark = pytest.mark.slow

LOOK = Path(os.environ.get("DIGIGAMI_LOOK_DIR", "/tmp/digigami-scene-e2e"))


def _look(tmp_path: Path) -> Path:
    LOOK.mkdir(parents=True, exist_ok=True)
    return LOOK if LOOK.is_dir() else tmp_path


def _set(page, element: str, value) -> None:
    """Move one of the Scene card's controls as a user does (value, then its event)."""
    page.evaluate(
        """([id, value]) => {
            const el = document.getElementById(id);
            if (el.type === "checkbox") el.checked = value; else el.value = String(value);
            el.dispatchEvent(new Event(el.type === "checkbox" || el.tagName === "SELECT" ? "change" : "input"));
        }""",
        [element, value],
    )


def _scene_is(page, js_condition: str, what: str) -> None:
    try:
        page.wait_for_function(
            f"() => {{ const s = window.digigami.lastStatus?.scene; return !!s && ({js_condition}); }}",
            timeout=15_000,
        )
    except Exception:
        got = page.evaluate("window.digigami.lastStatus?.scene")
        pytest.fail(f"the status never showed {what}: {got}")


def _obs(context, url: str, width: int, height: int):
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": height})
    page.goto(url)
    page.wait_for_function(
        "() => window.digigamiObs && window.digigamiObs.framesDrawn > 20", timeout=30_000
    )
    return page


def _opaque_everywhere(shot: np.ndarray) -> str | None:
    """None when every pixel of the screenshot is opaque, else where and how far it is not
    (the columns and rows that fall short, and the lowest alpha)."""
    short = shot[..., 3] < 255
    if not short.any():
        return None
    ys, xs = np.nonzero(short)
    return (
        f"{short.sum()} pixels not opaque (alpha down to {shot[..., 3].min()}), in columns "
        f"{sorted(set(xs.tolist()))[:12]} and rows {sorted(set(ys.tolist()))[:12]}"
    )


def _wait_drawn(page, n: int = 40) -> None:
    start = page.evaluate("window.digigamiObs.framesDrawn")
    page.wait_for_function(f"() => window.digigamiObs.framesDrawn > {start + n}", timeout=30_000)


def test_obs_page_shows_the_scenes_colour_position_and_picture(
    context, server: str, tmp_path: Path
) -> None:
    look = _look(tmp_path)
    puppet = open_puppet(context, server)
    puppet.wait_for_function("() => !document.getElementById('scene-x').disabled", timeout=15_000)
    # a blue backdrop, the avatar smaller and to the right: through the card's controls
    _set(puppet, "scene-colour", "#3080ff")
    _set(puppet, "scene-x", 0.5)
    _set(puppet, "scene-scale", 0.6)
    _scene_is(puppet, "s.background === 'colour' && s.x === 0.5 && s.scale === 0.6", "the scene")
    # the card shows the server's scene once the user's hands are off the controls
    puppet.wait_for_function(
        "() => document.querySelector(\"[data-bg='colour']\").getAttribute('aria-pressed') === 'true'",
        timeout=10_000,
    )
    obs = _obs(context, puppet.evaluate("window.digigami.session.obs_url"), 512, 512)
    _wait_drawn(obs)
    shot = screenshot_rgba(obs, look / "obs_colour_right.png", opaque=True)
    assert shot.shape[:2] == (512, 512)
    assert (shot[..., 3] == 255).all(), "a coloured scene is opaque everywhere"
    rgb = shot[..., :3].astype(int)
    corners = np.concatenate([rgb[:12, :12], rgb[-12:, :12], rgb[:12, -12:]]).reshape(-1, 3)
    assert np.abs(corners.mean(axis=0) - (48, 128, 255)).max() < 16, corners.mean(axis=0)
    avatar = np.abs(rgb - (48, 128, 255)).sum(axis=2) > 60
    _, xs = np.nonzero(avatar)
    assert avatar.mean() > 0.03, f"only {avatar.mean():.1%} differs from the colour: no avatar?"
    assert xs.mean() > 300 and xs.min() > 200, (xs.mean(), xs.min())  # right of the middle

    # a bundled picture, chosen from its thumbnail; the avatar back in the middle
    puppet.locator("[data-bg='night-sky']").click()
    puppet.locator("#scene-reset").click()
    _scene_is(puppet, "s.image === 'night-sky' && s.x === 0", "the night sky, centred")
    _wait_drawn(obs)
    shot = screenshot_rgba(obs, look / "obs_night_sky.png", opaque=True)
    top = shot[:60, :, :3].reshape(-1, 3).mean(axis=0)
    assert top[2] > top[0] + 10 and top.sum() < 200, top  # the night's deep blue, not Digi
    assert (shot[..., 3] == 255).all()
    puppet.screenshot(path=str(look / "puppet_scene_card.png"), full_page=True)
    puppet.locator("#scene-card").screenshot(path=str(look / "scene_card.png"))
    # and back to transparent: OBS composites again
    puppet.locator("[data-bg='transparent']").click()
    _scene_is(puppet, "s.background === 'transparent'", "transparent")
    _wait_drawn(obs)
    shot = screenshot_rgba(obs, look / "obs_transparent.png")
    assert shot[:8, :8, 3].max() == 0 and (shot[..., 3] == 255).mean() > 0.03


def test_a_720p_scene_gives_obs_a_16_by_9_picture(context, server: str, tmp_path: Path) -> None:
    look = _look(tmp_path)
    puppet = open_puppet(context, server)
    puppet.wait_for_function(
        "() => !document.getElementById('scene-size').disabled", timeout=15_000
    )
    _set(puppet, "scene-size", "720p")
    puppet.locator("[data-bg='sunset']").click()
    _scene_is(puppet, "s.size === '720p' && s.image === 'sunset'", "a 720p sunset")
    obs = _obs(context, puppet.evaluate("window.digigami.session.obs_url"), 640, 360)
    obs.wait_for_function(
        "() => Math.abs(window.digigamiObs.aspect - 16 / 9) < 0.01", timeout=30_000
    )
    _wait_drawn(obs)
    shot = screenshot_rgba(obs, look / "obs_720p_sunset.png", opaque=True)
    # every pixel: the columns beside the packed frame's seam too (the codec blurs across it)
    assert shot.shape[:2] == (360, 640)
    assert _opaque_everywhere(shot) is None, _opaque_everywhere(shot)
    assert obs.evaluate("document.querySelector('canvas.view').width") >= 639
    obs.close()
    # the page without WebGL joins the halves in JavaScript: as opaque, seam and all
    url = puppet.evaluate("window.digigami.session.obs_url") + "&mode=canvas2d"
    obs = _obs(context, url, 640, 360)
    obs.wait_for_function("() => Math.abs(window.digigamiObs.aspect - 16 / 9) < 0.01")
    _wait_drawn(obs, 10)
    assert obs.evaluate("window.digigamiObs.mode") == "canvas2d"
    shot = screenshot_rgba(obs, look / "obs_720p_sunset_canvas2d.png", opaque=True)
    assert shot.shape[:2] == (360, 640)
    assert _opaque_everywhere(shot) is None, _opaque_everywhere(shot)
    obs.close()
    info = puppet.locator("#obs-info").inner_text()
    assert info.startswith("1280×720") and "Sunset" in info, info
    # the page's own preview follows: 16:9, the sunset behind Digi
    puppet.wait_for_function(
        """() => {
            const v = document.getElementById("avatar");
            if (v.videoWidth !== 1280) return false;
            const n = v.getVideoPlaybackQuality().totalVideoFrames;
            window.__seen ??= n;
            return n > window.__seen + 10;
        }""",
        polling=250,
        timeout=60_000,
    )
    puppet.evaluate("window.scrollTo(0, 0)")
    stage = puppet.locator("#stage")
    box = stage.bounding_box()
    assert box is not None and abs(box["width"] / box["height"] - 16 / 9) < 0.05, box
    png = stage.screenshot(path=str(look / "puppet_720p_stage.png"))
    from io import BytesIO

    from PIL import Image

    px = np.asarray(Image.open(BytesIO(png)).convert("RGB")).astype(int)
    mean = px.reshape(-1, 3).mean(axis=0)
    assert mean[0] > 110 and mean.sum() > 330, mean  # the sunset's warm light, not the dark stage
    puppet.screenshot(path=str(look / "puppet_720p.png"))


def test_an_uploaded_picture_becomes_the_background(context, server: str, tmp_path: Path) -> None:
    from PIL import Image

    picture = tmp_path / "green wall.png"
    Image.new("RGB", (800, 450), (30, 190, 90)).save(picture)
    puppet = open_puppet(context, server)
    puppet.wait_for_function(
        "() => !document.getElementById('scene-upload').disabled", timeout=15_000
    )
    puppet.set_input_files("#scene-file", str(picture))
    _scene_is(puppet, "s.background === 'image' && s.image.startsWith('u')", "the upload in use")
    button = puppet.locator(".scene-bg[title='green wall']")
    assert button.get_attribute("aria-pressed") == "true"
    obs = _obs(context, puppet.evaluate("window.digigami.session.obs_url"), 512, 512)
    _wait_drawn(obs)
    shot = screenshot_rgba(obs, _look(tmp_path) / "obs_upload.png", opaque=True)
    corner = shot[:20, :20, :3].reshape(-1, 3).mean(axis=0)
    assert np.abs(corner - (30, 190, 90)).max() < 16, corner
    # a bad file is refused in words, and the scene stays
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture at all")
    puppet.set_input_files("#scene-file", str(bad))
    puppet.wait_for_function(
        "() => document.getElementById('scene-note').textContent.includes('not a picture')",
        timeout=15_000,
    )
    assert puppet.evaluate("window.digigami.lastStatus.scene.image").startswith("u")
