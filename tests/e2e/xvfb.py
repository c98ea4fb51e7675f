"""A virtual X display (Debian's Xvfb) for the desktop-window tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def virtual_display(first: int) -> Iterator[str]:
    """Start Xvfb on the first free display number from `first` and yield its name (":N").
    In CI a missing Xvfb or xdotool fails (.ci/setup installs them); elsewhere it skips."""
    if not (shutil.which("Xvfb") and shutil.which("xdotool")):
        if os.environ.get("CI"):
            pytest.fail("Xvfb and xdotool are missing: .ci/setup installs them")
        pytest.skip("needs Xvfb and xdotool (run .ci/setup)")
    for n in range(first, first + 30):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            break
    xvfb = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "800x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    for _ in range(50):
        if Path(f"/tmp/.X11-unix/X{n}").exists():
            break
        time.sleep(0.1)
    try:
        yield f":{n}"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)
