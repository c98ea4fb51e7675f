"""Mic lip-sync and camera-less mode in real Chromium: the fake microphone plays a WAV
(`--use-file-for-fake-audio-capture`), speech made by espeak-ng at test time or silence;
the page analyses it (webapi/static/lipsync.js), sends the mouth over the `voice` channel,
and the mouth is measured in the avatar video the page receives.

The puppet page runs camera-less (`?tracking=none`): no video, no landmarks go up, so the
voice is what drives the mouth (with a camera in view, the camera would win). The mouth is
read off the received frames in the face framing: Digi's open mouth shows its dark
interior, a shut one a thin line, so the count of dark mouth pixels under the eyes says how
open it is. Speech must open and close it many times; silence must keep it shut while the
ambient face blinks and glances around (alive, not frozen).
"""

from __future__ import annotations

import base64
import io
import itertools
import os
import shutil
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import CHROMIUM, chromium_args, wait_until_idle
from tests.e2e.grab import grab_avatar
from tests.e2e.test_puppet_stream import iris_centres, open_puppet

pytestmark = pytest.mark.slow

SAMPLE_S = 8.0
GRAB_EVERY_MS = 80
OPEN_PIXELS = 30  # an open mouth shows 60-400 crimson pixels at 512x512, a shut one none
SHOTS = Path(os.environ.get("DIGIGAMI_SHOTS", "/tmp/digigami-lipsync"))
SENTENCE = (
    "Hello everyone! Wow, what a wonderful day. I am so happy you are all here, "
    "and today we play a long game. Ah, oh, look at that, amazing!"
)

# what the status says of the voice with each grab (tests/e2e/grab.py)
VOICE_JS = "(s) => ({ source: s.voice?.source ?? null, level: s.voice?.level ?? 0 })"


def speech_wav(path: Path) -> Path:
    """A sentence with open vowels, spoken by espeak-ng (Debian's; .ci/setup installs it)."""
    if shutil.which("espeak-ng") is None:
        if os.environ.get("CI"):
            pytest.fail("espeak-ng is missing: .ci/setup installs Debian's espeak-ng")
        pytest.skip("needs espeak-ng (run .ci/setup)")
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), SENTENCE], check=True, timeout=60)
    return path


def silent_wav(path: Path, seconds: float = 4.0, rate: int = 22050) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(seconds * rate))
    return path


@pytest.fixture(scope="module")
def playwright(request: pytest.FixtureRequest) -> Iterator[object]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/setup installs Debian's chromium")
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (run .ci/setup)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    yield pw
    pw.stop()


def launch(pw, wav: Path, camera: Path):
    """Chromium whose microphone plays `wav` (looping) and whose webcam plays `camera`."""
    args = [*chromium_args(camera), f"--use-file-for-fake-audio-capture={wav}"]
    return pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)


def mouth_pixels(rgb: np.ndarray) -> int:
    """Pixels of the open mouth's crimson inside, in the box under the eyes where Digi's
    mouth is (found from her irises, so a framing that moves the face moves the box; a
    fixed box under the face's middle while she blinks). The hair's orange-brown has less
    blue than green, the blush less red over green and sits higher; a shut mouth is a dark
    line: none."""
    h, w, _ = rgb.shape
    eyes = iris_centres(rgb)
    if eyes is not None:
        (lx, ly), (rx, ry) = eyes
        d = max(rx - lx, 20.0)
        cx, ey = (lx + rx) / 2, (ly + ry) / 2
        top, bottom = int(ey + 0.45 * d), int(ey + 1.3 * d)
        left, right = int(cx - 0.55 * d), int(cx + 0.55 * d)
    else:
        top, bottom, left, right = int(h * 0.55), int(h * 0.85), int(w * 0.35), int(w * 0.70)
    box = rgb[max(top, 0) : max(bottom, 0), max(left, 0) : max(right, 0)].astype(np.int32)
    r, g, b = box[..., 0], box[..., 1], box[..., 2]
    return int(((r > 110) & (r - g > 70) & (b - g > 8) & (g < 110)).sum())


def frames(grabs: list[dict]) -> list[np.ndarray]:
    out = []
    for g in grabs:
        data = base64.b64decode(g["png"].split(",", 1)[1])
        out.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    return out


def run_page(pw, server: str, wav: Path, camera: Path, name: str) -> tuple[list[np.ndarray], list]:
    """The puppet page camera-less with the mic on, in the face framing: the received
    frames over SAMPLE_S seconds, and the server's voice status (`source`, `level`) at each."""
    wait_until_idle(server)
    browser = launch(pw, wav, camera)
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = open_puppet(context, server, "?tracking=none&mic=on")
        page.wait_for_function("() => window.digigami.voice.frames > 10", timeout=20_000)
        page.evaluate("window.digigami.send({type: 'framing', value: 'face'})")
        page.wait_for_function(
            "() => window.digigami.lastStatus?.framing === 'face'", timeout=10_000
        )
        page.wait_for_timeout(1500)  # the framing's glide and a keyframe
        grabs = grab_avatar(page, SAMPLE_S, GRAB_EVERY_MS, VOICE_JS)
        status = page.evaluate("window.digigami.lastStatus")
        page.screenshot(path=str(SHOTS / f"{name}-page.png"), full_page=True)
        shots = frames(grabs)
        SHOTS.mkdir(parents=True, exist_ok=True)
        strip = np.concatenate([f for f in shots[:: max(1, len(shots) // 8)][:8]], axis=1)
        Image.fromarray(strip).save(SHOTS / f"{name}-frames.png")
        assert status["tracking"] == "none", status
        assert status["voice"]["refused"] == 0, status["voice"]
        return shots, [{"source": g["source"], "level": g["level"]} for g in grabs]
    finally:
        browser.close()


def test_speech_moves_the_mouth_in_the_stream(playwright, server: str, face_video, tmp_path) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    shots, sources = run_page(playwright, server, speech_wav(tmp_path / "speech.wav"), face_video.path, "speech")
    mouth = np.array([mouth_pixels(f) for f in shots])
    opened = mouth > OPEN_PIXELS
    # it talks: open often, and closes between words (not one frozen open mouth)
    assert opened.mean() > 0.2, mouth.tolist()
    assert (opened[1:] != opened[:-1]).sum() >= 6, mouth.tolist()
    assert "voice" in [v["source"] for v in sources]
    assert max(v["level"] for v in sources) > 0.3


def test_silence_keeps_the_mouth_shut_while_the_face_lives(
    playwright, server: str, face_video, tmp_path
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    shots, sources = run_page(playwright, server, silent_wav(tmp_path / "silence.wav"), face_video.path, "silence")
    mouth = np.array([mouth_pixels(f) for f in shots])
    assert mouth.max() < OPEN_PIXELS // 2, mouth.tolist()
    # the voice drives the mouth (no camera), and it hears nothing
    assert "voice" in [v["source"] for v in sources]
    assert max(v["level"] for v in sources) == 0.0
    # camera-less, the avatar is not frozen: blinks and glances change the face
    diffs = [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in itertools.pairwise(shots)]
    assert max(diffs) > 1.0


# Runs in a page: the analyser (lipsync.js) on synthetic vowels, a glottal pulse train
# through formant resonators (a classic source-filter voice), at two voice pitches; then
# a room's steady noise (the floor adapts: the mouth stays shut) and a vowel over it.
ANALYSER_JS = """
async ({ vowels }) => {
  const L = await import("/static/lipsync.js");
  const fs = 48000, N = 1024;
  function voice(formants, f0, seconds, amp) {
    const n = Math.round(seconds * fs);
    let x = new Float64Array(n);
    for (let i = 0; i < n; i += fs / f0) x[Math.floor(i)] = 1;
    for (const [f, bw] of formants) {
      const r = Math.exp(-Math.PI * bw / fs), c = 2 * r * Math.cos(2 * Math.PI * f / fs);
      const y = new Float64Array(n);
      for (let i = 0; i < n; i++) y[i] = x[i] + c * (y[i - 1] || 0) - r * r * (y[i - 2] || 0);
      x = y;
    }
    let rms = 0;
    for (const v of x) rms += v * v;
    rms = Math.sqrt(rms / n);
    return Float32Array.from(x, (v) => (v / rms) * amp);
  }
  function noise(seconds, amp) {
    return Float32Array.from({ length: Math.round(seconds * fs) }, () => (Math.random() * 2 - 1) * amp * 1.7);
  }
  function run(signal, state) {
    const out = [];
    for (let i = 0; i + N <= signal.length; i += N) out.push(L.analyse(signal.subarray(i, i + N), fs, state));
    return out;
  }
  const picked = {};
  for (const [name, f1, f2] of vowels) {
    for (const f0 of [110, 210]) {
      const frames = run(voice([[f1, 80], [f2, 100], [2900, 150]], f0, 0.5, 0.1), L.newState());
      const mean = [0, 0, 0, 0, 0];
      for (const r of frames.slice(2)) r.vowels.forEach((w, i) => (mean[i] += w));
      picked[`${name}@${f0}`] = L.VOWELS[mean.indexOf(Math.max(...mean))];
    }
  }
  const silent = run(new Float32Array(fs), L.newState()).map((r) => r.open);
  const room = L.newState();
  run(new Float32Array(fs), room); // a quiet room, then a fan starts: -40 dBFS of hum
  const hum = run(noise(5, 0.01), room).map((r) => r.open);
  const over = run(voice([[750, 80], [1200, 100], [2900, 150]], 120, 0.4, 0.1), room).map((r) => r.open);
  return { picked, silent, humLate: hum.slice(-40), over: over.slice(2) };
}
"""


def test_the_analyser_hears_vowels_and_ignores_a_steady_room(playwright, server: str, face_video, tmp_path) -> None:
    """The estimator itself, on signals whose answer is known: each vowel's formants
    (a speaker's, not the table's) picked at a low and a high voice; silence and a fan's
    steady hum keep the mouth shut once the floor has settled (a fan switched on opens it
    for the floor's window, 2.5 s, at most), a vowel over the hum opens it."""
    browser = launch(playwright, silent_wav(tmp_path / "silence.wav"), face_video.path)
    try:
        page = browser.new_page()
        page.goto(f"{server}/create")  # a page of ours: its policy lets our modules load
        speaker = [("a", 750, 1200), ("i", 290, 2250), ("u", 340, 1420), ("e", 480, 1850), ("o", 480, 860)]
        got = page.evaluate(ANALYSER_JS, {"vowels": speaker})
    finally:
        browser.close()
    assert got["picked"] == {f"{v}@{f0}": v for v, _, _ in speaker for f0 in (110, 210)}, got["picked"]
    assert max(got["silent"]) == 0.0
    assert max(got["humLate"]) == 0.0, got["humLate"]
    assert min(got["over"]) > 0.3, got["over"]


def test_a_denied_camera_offers_to_go_on_without_one(playwright, server: str, face_video, tmp_path) -> None:
    """The camera is refused (the mic is allowed): the page says why and offers "Go on
    without a camera"; one click and the avatar streams camera-less, talking (the mic
    starts by itself: the voice is all a camera-less avatar has)."""
    wait_until_idle(server)
    wav = speech_wav(tmp_path / "speech.wav")
    args = [a for a in chromium_args(face_video.path) if a != "--use-fake-ui-for-media-stream"]
    args.append(f"--use-file-for-fake-audio-capture={wav}")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.grant_permissions(["microphone"], origin=server)
        page = context.new_page()
        page.goto(f"{server}/?tracking=browser")  # no ?mic=on: camera-less turns it on
        button = page.get_by_role("button", name="Go on without a camera")
        button.wait_for(timeout=30_000)
        assert "camera" in page.locator("#banners").inner_text()
        button.click()
        page.wait_for_function(
            "() => window.digigami.state === 'connected' && window.digigami.lastStatus?.tracking === 'none'",
            timeout=30_000,
        )
        page.wait_for_function(
            "() => window.digigami.lastStatus?.voice?.level > 0.2", polling=100, timeout=20_000
        )
        page.wait_for_function(
            "() => window.digigami.stats().then((s) => s.framesDecoded > 0)", timeout=15_000
        )
        assert page.evaluate("new URLSearchParams(location.search).get('tracking')") == "none"
        page.screenshot(path=str(SHOTS / "denied-camera.png"))
    finally:
        browser.close()


def test_the_camera_wins_while_it_sees_the_face(playwright, server: str, face_video, tmp_path) -> None:
    """Camera and mic both on (the fake webcam plays a face, the fake mic speech): the
    camera drives the mouth while it sees the face, the voice is heard all the same."""
    wait_until_idle(server)
    browser = launch(playwright, speech_wav(tmp_path / "speech.wav"), face_video.path)
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = open_puppet(context, server, "?tracking=server&mic=on")
        page.wait_for_function(
            "() => window.digigami.lastStatus?.tracking === 'tracking'", timeout=30_000
        )
        page.wait_for_function(
            "() => window.digigami.lastStatus?.voice?.accepted > 20", timeout=20_000
        )
        sources = set()
        levels = []
        for _ in range(10):
            status = page.evaluate("window.digigami.lastStatus")
            if status["tracking"] == "tracking" and status["presence"] > 0.9:
                sources.add(status["voice"]["source"])
            levels.append(status["voice"]["level"])
            page.wait_for_timeout(300)
        assert sources == {"camera"}, sources
        assert max(levels) > 0.2  # the voice is heard; the camera still has the mouth
        assert page.locator("#mouth-source").inner_text() == "mouth: camera"
    finally:
        browser.close()
