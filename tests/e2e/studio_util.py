"""What the studio's browser tests (tests/e2e/test_studio_*.py) share: their server, opening
/studio/<avatar> on a panel and waiting for its stream, hello and status, grabbing the
received stream's pixels and comparing them, waiting for a status, the panels' sliders, and
screenshots.

The studio session holds the avatar still (paused), so the same look gives the same frame:
frames are compared once the stream settles (the encoder refines a still picture)."""

from __future__ import annotations

import base64
import io
import os
import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import health, sign_up

NOISE = 1.5  # mean abs difference (0..255) of two encodings of the same still frame
# percent of pixels `changed` between two frames of a still avatar: the codec's noise stays
# under the level it counts (a waving arm changes a few percent)
STILL = 0.2
# frames that must be decoded between two grabs for them to count as the settled stream (300 ms
# apart: 9 at the studio's 30 fps)
MOVING_FRAMES = 4
VIEWPORT = {"width": 1280, "height": 720}

_FRAME_JS = """() => {
  const v = document.getElementById("avatar");
  const c = document.createElement("canvas");
  c.width = v.videoWidth;
  c.height = v.videoHeight;
  c.getContext("2d").drawImage(v, 0, 0);
  return c.toDataURL("image/png");
}"""


def idle(server: str, timeout: float = 20.0) -> str:
    """`server` once it holds no studio or puppet session and no preview (an earlier module's
    pages are gone: the server drops a closed page's session within a few seconds), so that
    a module neither shares the render worker with them nor meets the session limit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        taken = health(server).get("reserved", {})
        if taken.get("sessions", 0) == 0 and taken.get("previews", 0) == 0:
            break
        time.sleep(0.25)
    return server


def signed_up(page: Any, server: str, who: str) -> str:
    """Sign up on `page` (conftest.sign_up) under a name of its own, `who` and a random tail
    (the studio's modules share one server and its database). Returns the name."""
    username = f"{who}_{secrets.token_hex(4)}"
    sign_up(page, server, username)
    return username


def open_studio(page: Any, server: str, panel: str = "avatar", avatar: str = "digi") -> Any:
    """`page` (1280x720) on /studio/<avatar>#<panel>, connected, with its hello, its first
    status and a second and a half of decoded frames. Returns `page`."""
    page.set_viewport_size(VIEWPORT)
    page.goto("about:blank")  # only a hash apart would not load the page again
    page.goto(f"{server}/studio/{avatar}#{panel}", wait_until="domcontentloaded")
    ready(page)
    return page


def ready(page: Any, timeout: int = 60_000) -> None:
    """Until the studio page (just opened or reloaded) is connected, with its hello, its first
    status and a second and a half of decoded frames."""
    page.wait_for_function(
        "() => ['connected', 'error', 'failed'].includes(window.digigamiStudio?.state)"
        " && (window.digigamiStudio.state !== 'connected'"
        " || (window.digigamiStudio.hello && window.digigamiStudio.status?.studio))",
        timeout=timeout,
    )
    state = page.evaluate("window.digigamiStudio.state")
    assert state == "connected", (
        f"the studio did not connect: {state}: {page.locator('#studio-log').inner_text()}"
    )
    wait_frames(page)


def wait_frames(page: Any, timeout: float = 30.0) -> None:
    """Until a second and a half of frames came (the encoder's first pictures of a still
    are coarser) and the video element has its size. Polled from here: the page's stats()
    is a promise, which wait_for_function would take for a true value."""
    deadline = time.monotonic() + timeout
    while True:
        got = page.evaluate(
            "window.digigamiStudio.stats().then((s) => [s.framesDecoded,"
            " document.getElementById('avatar').videoWidth])"
        )
        if got[0] > 45 and got[1] > 0:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the studio's video did not come: {got[0]} frames, width {got[1]}")
        page.wait_for_timeout(200)


def wait_status(page: Any, condition: str, timeout: int = 15_000) -> dict:
    """Until the newest status (`s` in `condition`, JS; its studio block is `s.studio`)
    satisfies `condition`. Returns that status."""
    page.wait_for_function(
        "() => { const s = window.digigamiStudio?.status;"
        f" return Boolean(s?.studio) && ({condition}); }}",
        timeout=timeout,
    )
    return page.evaluate("window.digigamiStudio.status")


def frame(page: Any) -> np.ndarray:
    """The received stream's newest frame as the page shows it: HxWx3 RGB, int16 (so that
    frames subtract without wrapping)."""
    # a page between two sessions (a new sprite library reconnects) shows no frame for a
    # moment: wait for the new stream's first one
    page.wait_for_function("() => document.getElementById('avatar')?.videoWidth > 0")
    url = page.evaluate(_FRAME_JS)
    png = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two frames, 0..255."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def settled(
    page: Any, unlike: np.ndarray | None = None, wait_ms: int = 0, tries: int = 25
) -> np.ndarray:
    """A frame once the stream has settled: two grabs 300 ms apart within a fraction of
    the noise, and no more pixels changed between them than a still frame's (a still avatar,
    the encoder done refining). `wait_ms`: first give the stream that long to show the last
    change. With `unlike`, first until the picture differs from that frame (the status can
    say a change before its frame comes): on the whole (`NOISE`), or in a part of it (a moved
    arm is too small a part of the frame to move the mean)."""
    if wait_ms:
        page.wait_for_timeout(wait_ms)
    last = frame(page)
    # up to ~20 s: on a loaded machine the decoder can stall for seconds
    for _ in range(80 if unlike is not None else 0):
        if (
            last.shape != unlike.shape
            or diff(last, unlike) > NOISE
            or changed(last, unlike) > STILL
        ):
            break
        page.wait_for_timeout(250)
        last = frame(page)
    decoded = _decoded(page)
    for _ in range(tries):
        page.wait_for_timeout(300)
        now, was, decoded = frame(page), decoded, _decoded(page)
        # two grabs alike only count while frames flow between them: a decoder stalled by a
        # loaded machine shows the same coarse picture twice, before the encoder refined it
        flowing = decoded - was >= MOVING_FRAMES
        if (
            flowing
            and now.shape == last.shape
            and diff(now, last) < 0.3
            and changed(now, last) < STILL
        ):
            return now
        last = now
    return last


def _decoded(page: Any) -> int:
    """Frames the page's video decoder has decoded so far."""
    return int(page.evaluate("window.digigamiStudio.stats().then((s) => s.framesDecoded)"))


def changed(a: np.ndarray, b: np.ndarray, over: int = 48) -> float:
    """Percent of pixels that differ by more than `over` levels in some channel: a moved limb
    counts, the codec's noise (a few levels, spread over the frame) does not."""
    d = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2)
    return float((d > over).mean() * 100)


def motion(page: Any, seconds: float = 1.2, every_ms: int = 200) -> float:
    """How much the stream moves over `seconds`: the largest `changed` of a frame from the
    first (two frames half a loop apart can show one pose; a series cannot miss the motion)."""
    page.wait_for_timeout(200)
    first = frame(page)
    most = 0.0
    for _ in range(max(1, round(seconds * 1000 / every_ms))):
        page.wait_for_timeout(every_ms)
        most = max(most, changed(first, frame(page)))
    return most


def hue_deg(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A frame's hue in degrees, and its saturation and value (0..255)."""
    hsv = np.asarray(Image.fromarray(rgb.astype(np.uint8)).convert("HSV")).astype(float)
    return hsv[..., 0] * 360 / 255, hsv[..., 1], hsv[..., 2]


def grow(mask: np.ndarray, px: int) -> np.ndarray:
    """`mask` grown by `px` pixels every way."""
    out = mask.copy()
    for dy in range(-px, px + 1):
        for dx in range(-px, px + 1):
            out |= np.roll(np.roll(mask, dy, 0), dx, 1)
    return out


def set_slider(page: Any, name: str, value: float | str, part: str | None = None) -> None:
    """A panel's slider `name` (its data-name: "color.hue", "ParamMouthOpenY"), as a person
    sets it: type the value in its number field, Enter. `part`: the Avatar panel's colour
    part to pick first ("hair")."""
    if part is not None:
        page.select_option("#color-part", part)
    box = page.locator(f'.slider-row input[type=number][data-name="{name}"]')
    box.fill(str(value))
    box.press("Enter")
    page.evaluate("document.activeElement.blur()")  # the keys go to the page, not the field


def shot(page: Any, name: str, tmp_path: Path) -> None:
    """A screenshot: to $DIGIGAMI_SHOTS (docs/screens when making the docs' pictures), else
    the test's own folder."""
    out = Path(os.environ.get("DIGIGAMI_SHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / name))
