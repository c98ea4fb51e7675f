"""The OBS Browser Source page in real Chromium: WHEP from the real server, the packed
colour|alpha frame put back together on a transparent page. A screenshot without the page
background (what OBS composites) must be transparent around Digi, opaque on her, and soft at
her outline. Every way the page can draw is checked: WebGL (the normal path; Chromium's
software GL here), Canvas2D (no WebGL) and the chroma-key green last resort."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from tests.e2e.test_puppet_stream import open_puppet

pytestmark = pytest.mark.slow

SIZE = 512


def obs_page(context, server: str, mode: str | None = None):
    """A puppet session, and its OBS page (512x512, like the Browser Source) drawing."""
    puppet = open_puppet(context, server)
    url = puppet.evaluate("window.digigami.session.obs_url")
    assert url.startswith(f"{server}/obs/"), url
    page = context.new_page()
    page.set_viewport_size({"width": SIZE, "height": SIZE})
    page.goto(url + (f"&mode={mode}" if mode else ""))
    try:
        page.wait_for_function(
            "() => window.digigamiObs && window.digigamiObs.framesDrawn > 30", timeout=30_000
        )
    except Exception:
        obs = page.evaluate("window.digigamiObs && {...window.digigamiObs, pc: undefined}")
        pytest.fail(f"the OBS page drew no frames: {obs}")
    page.wait_for_timeout(500)  # past the first frames' encoder warm-up
    return page


def screenshot_rgba(page, path: Path, opaque: bool = False) -> np.ndarray:
    """What the page shows without its background, as (h, w, 4) straight RGBA. (Chromium
    writes an RGB PNG when every pixel is opaque: only then is that allowed.)"""
    png = page.screenshot(omit_background=True)
    path.write_bytes(png)
    image = Image.open(io.BytesIO(png))
    if not opaque:
        assert image.mode == "RGBA", f"the screenshot has no alpha channel ({image.mode})"
    return np.asarray(image.convert("RGBA"))


@pytest.mark.parametrize("mode", ["webgl", "canvas2d"])
def test_obs_page_is_transparent_around_digi_with_soft_edges(
    context, server: str, mode: str, tmp_path: Path
) -> None:
    page = obs_page(context, server, None if mode == "webgl" else mode)
    obs = page.evaluate(
        "({mode: digigamiObs.mode, state: digigamiObs.state, error: digigamiObs.error})"
    )
    assert obs["mode"] == mode, f"the page draws with {obs['mode']}, not {mode}"
    assert obs["state"] == "connected", obs
    shot = screenshot_rgba(page, tmp_path / f"obs_{mode}.png")
    assert shot.shape[:2] == (SIZE, SIZE)
    alpha = shot[..., 3].astype(int)

    corners = [alpha[:8, :8], alpha[:8, -8:], alpha[-8:, :8], alpha[-8:, -8:]]
    assert all((c == 0).all() for c in corners), (
        f"the corners are not transparent: {[c.max() for c in corners]}"
    )
    opaque = alpha == 255
    transparent = alpha == 0
    assert opaque.mean() > 0.05, f"only {opaque.mean():.1%} of the picture is opaque: no avatar?"
    assert transparent.mean() > 0.4, f"only {transparent.mean():.1%} is transparent: a background?"
    # Digi herself, in her colours: the middle of the picture is opaque, her hair orange
    mid = opaque[SIZE // 4 : 3 * SIZE // 4, SIZE // 4 : 3 * SIZE // 4]
    assert mid.any(), "nothing opaque in the middle of the picture"
    rgb = shot[..., :3].astype(int)
    hair = opaque & (rgb[..., 0] > 170) & (rgb[..., 0] - rgb[..., 2] > 90)
    assert hair.sum() > 500, "no orange hair among the opaque pixels: halves mixed up?"

    # Soft edges: partly transparent pixels, and they sit on the outline (next to both
    # opaque and transparent pixels), not spread over the picture like a haze.
    partial = (alpha > 0) & (alpha < 255)
    assert partial.sum() > 200, f"only {partial.sum()} partly transparent pixels: a hard cut-out"
    near_opaque = ndimage.binary_dilation(opaque, iterations=4)
    near_clear = ndimage.binary_dilation(transparent, iterations=4)
    on_outline = (partial & near_opaque & near_clear).sum() / partial.sum()
    assert on_outline > 0.8, f"only {on_outline:.0%} of the soft pixels lie on the outline"


def test_obs_page_chroma_fallback_keys_on_green(context, server: str, tmp_path: Path) -> None:
    page = obs_page(context, server, "chroma")
    assert page.evaluate("digigamiObs.mode") == "chroma"
    shot = screenshot_rgba(page, tmp_path / "obs_chroma.png", opaque=True)
    rgb = shot[..., :3].astype(int)
    for corner in (rgb[:8, :8], rgb[-8:, -8:]):
        assert (np.abs(corner - (0, 255, 0)).max(axis=2) <= 8).all(), corner[0, 0]
    assert (shot[..., 3] == 255).all(), "the chroma page must be opaque green, not transparent"
    green = np.abs(rgb - (0, 255, 0)).max(axis=2) <= 8
    assert 0.4 < green.mean() < 0.97, f"{green.mean():.0%} of the picture is key green"


def test_obs_page_with_a_wrong_token_says_so_and_keeps_trying(context, server: str) -> None:
    puppet = open_puppet(context, server)
    session = puppet.evaluate("window.digigami.session.session")
    page = context.new_page()
    page.goto(f"{server}/obs/{session}?token=not-the-token")
    page.wait_for_function("() => window.digigamiObs?.state === 'retrying'", timeout=10_000)
    note = page.locator("#note").inner_text()
    assert "token" in note and "reconnecting" in note, note
