"""A VTube Studio plugin drives Digi: the npm `vtubestudio` client (VTubeStudioJS, a
third-party implementation of VTube Studio's API) run by node (tests/e2e/vts_client.mjs)
asks for a token, the streamer clicks Allow on the puppet page, and the plugin
authenticates, lists the hotkeys, triggers Wave and injects ParamMouthOpenY. The stream
shows both: the session's status says wave, and the received video's mouth opens while
the plugin holds it open and shuts when it holds it shut (frames grabbed from the page's
<video>, with the head held still by the plugin)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from tests.e2e.grab import grab_avatar
from tests.e2e.test_puppet_stream import decode_png, open_puppet

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CLIENT = Path(__file__).with_name("vts_client.mjs")
SHOTS = Path("/tmp/issue15/h5")
LAG_MS = 2000  # frames this soon after a phase starts may still show the one before

# with each grab of the avatar video (tests/e2e/grab.py): the wall clock (Date.now; the node
# plugin prints the same clock) and what the status says plays
PLAYING_JS = "(s) => ({ at: Date.now(), state: s.state, layers: s.layers || null })"


def _node() -> str:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "vtubestudio").is_dir():
        if os.environ.get("CI"):
            pytest.fail("node and the npm devDependencies (npm ci in .ci/setup) are needed")
        pytest.skip("needs node and `npm ci` (the vtubestudio and ws packages)")
    return node


def test_a_vtube_studio_plugin_waves_and_opens_the_mouth(context, server: str) -> None:
    node = _node()
    page = open_puppet(context, server)
    # the face framing (the mouth large in the frame), asked again until the status says it
    page.wait_for_function(
        """() => {
          const d = window.digigami;
          if (d.lastStatus?.framing === "face") return true;
          d.send({ type: "framing", value: "face" });
          return false;
        }""",
        polling=1000,
        timeout=30_000,
    )

    url = server.replace("http://", "ws://") + "/api/vts"
    proc = subprocess.Popen(
        [node, str(CLIENT), url], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    lines: list[dict] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                lines.append(json.loads(line))
            except ValueError:
                lines.append({"event": "output", "text": line.rstrip()})

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        prompt = page.locator("#vts-prompt")
        prompt.wait_for(state="visible", timeout=30_000)
        assert prompt.locator("#vts-ask").inner_text() == (
            "Digigami Test Deck by Digigami tests wants to control your avatar"
        )
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "vts-prompt.png"))
        page.locator("#vts-allow").click()
        grabs = grab_avatar(page, 18, 150, PLAYING_JS)
        proc.wait(timeout=60)
        reader.join(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    events = {e["event"]: e for e in lines}
    assert "done" in events, f"the plugin did not finish: {lines}"
    assert events["model"]["loaded"] is True
    assert {"Wave", "Dance", "Smile", "Outfit: armor"} <= set(events["hotkeys"]["names"])
    page.wait_for_function(
        "() => window.digigami.lastStatus?.vts?.plugins?.some((p) => p.name === 'Digigami Test Deck')",
        timeout=10_000,
    )  # fmt: skip
    page.screenshot(path=str(SHOTS / "vts-plugins-card.png"), full_page=True)
    # Revoke on the Plugins card: gone from the list (its token is void: tests/streaming)
    page.locator(".vts-plugin button", has_text="Revoke").click()
    page.wait_for_function(
        "() => window.digigami.lastStatus?.vts?.plugins?.length === 0", timeout=10_000
    )
    assert page.locator("#vts-empty").is_visible()

    # the wave reached the avatar: the status said so after the trigger
    waved = [
        g for g in grabs
        if g["at"] >= events["triggered"]["at"]
        and (g["state"] == "wave" or "wave" in (g["layers"] or {}).values())
    ]  # fmt: skip
    assert waved, f"no status said wave: {[(g['state'], g['layers']) for g in grabs][:40]}"

    # the mouth: frames well inside each phase (the first two seconds are for the video to
    # catch up: render, encode, send, decode on a loaded machine)
    done_at = events["done"]["at"]
    phases = [e for e in lines if e["event"] == "phase"]
    open_at = next(e["at"] for e in phases if e["name"] == "open")
    shut_at = next(e["at"] for e in phases if e["name"] == "shut")
    opened = [decode_png(g["png"]) for g in grabs if open_at + LAG_MS <= g["at"] <= shut_at]
    shut = [decode_png(g["png"]) for g in grabs if shut_at + LAG_MS <= g["at"] <= done_at]
    assert len(opened) >= 3 and len(shut) >= 3, (len(opened), len(shut))
    Image.fromarray(opened[-1]).save(SHOTS / "vts-mouth-open.png")
    Image.fromarray(shut[-1]).save(SHOTS / "vts-mouth-shut.png")
    # the mouth's inside (its dark red) where the open mouth is: open frames show much more
    # of it than shut ones (medians: a straggling frame does not decide)
    centres = [mouth(f)[1] for f in opened]
    cy, cx = float(np.median([c[0] for c in centres])), float(np.median([c[1] for c in centres]))
    h, w, _ = opened[0].shape
    assert h * 0.45 < cy < h * 0.9 and w * 0.3 < cx < w * 0.7, (cy, cx)  # low, centred: a mouth
    open_area = [red_near(f, cy, cx) for f in opened]
    shut_area = [red_near(f, cy, cx) for f in shut]
    assert np.median(open_area) > 1.5 * np.median(shut_area) + 30, (open_area, shut_area)


def red_near(rgb: np.ndarray, cy: float, cx: float, r: int = 60) -> int:
    """Mouth-red pixels within `r` of (cy, cx)."""
    y0, x0 = max(0, int(cy) - r), max(0, int(cx) - r)
    return int(_red(rgb[y0 : int(cy) + r, x0 : int(cx) + r]).sum())


def _red(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return (r > 100) & (r < 190) & (g < 65) & (b >= 35) & (b < 85) & (r - g > 70)


def mouth(rgb: np.ndarray) -> tuple[int, tuple[float, float]]:
    """The inside of Digi's mouth (its dark red): the largest such patch's area in pixels,
    and its centre (row, column)."""
    red = _red(rgb)
    labels, n = ndimage.label(red)
    if n == 0:
        return 0, (0.0, 0.0)
    sizes = ndimage.sum(red, labels, range(1, n + 1))
    k = int(np.argmax(sizes)) + 1
    cy, cx = ndimage.center_of_mass(labels == k)
    return int(sizes[k - 1]), (float(cy), float(cx))
