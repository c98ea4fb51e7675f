"""The desktop preview as a person uses it: a real pyglet window on a virtual X display,
real key presses (xdotool), and screenshots of what the window shows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.e2e.xvfb import virtual_display

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    yield from virtual_display(91)


def run_preview(display: str, shot: Path, keys: list[str]) -> np.ndarray:
    env = {**os.environ, "DISPLAY": display}
    proc = subprocess.Popen(
        [sys.executable, "-m", "webapi.cli", "preview", "--size", "400", "--screenshot", str(shot), "--after", "3.5"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    window = ""
    for _ in range(100):
        r = subprocess.run(
            ["xdotool", "search", "--onlyvisible", "--name", "Digigami preview"],
            env=env,
            capture_output=True,
            text=True,
        )
        window = r.stdout.split()[0] if r.stdout.split() else ""
        if window:
            break
        time.sleep(0.1)
    assert window, "the preview window never appeared"
    time.sleep(0.5)
    for k in keys:
        subprocess.run(["xdotool", "key", "--window", window, k], env=env, check=True)
        time.sleep(0.15)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()
    return np.asarray(Image.open(shot).convert("RGB")).astype(int)


def test_window_shows_the_avatar_and_keys_drive_it(display: str, tmp_path: Path) -> None:
    plain = run_preview(display, tmp_path / "plain.png", [])
    background = plain[200, 5]  # left edge, mid-height: background
    avatar = np.abs(plain - background).max(axis=2) > 40
    assert avatar.mean() > 0.03, "no avatar in the window"
    # F twice: full -> bust -> face framing; the head fills far more of the window
    face = run_preview(display, tmp_path / "face.png", ["f", "f"])
    face_cover = (np.abs(face - background).max(axis=2) > 40).mean()
    assert face_cover > 2 * avatar.mean()
