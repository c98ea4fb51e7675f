#!/usr/bin/env python3
"""Builds the bundled scene backgrounds: procedural pictures to stand an avatar in front of.

    .venv/bin/python content/build/backgrounds.py

Writes, deterministically (a fixed seed per picture), content/backgrounds/<id>.png
(BUNDLED_SIZE square: the largest side of every output size preset, so a scene crops it
and never scales it up) and content/backgrounds/index.json (id -> its name, in the order
the puppet page lists them). Soft, low-contrast pictures on purpose: the avatar is the
subject; the ramps are dithered (an ordered pattern, which PNG compresses) so they do not
band.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "backgrounds"
BUNDLED_SIZE = 1920
Picture = np.ndarray  # (n, n, 3) float, 0..1
_BAYER = (np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]]) + 0.5) / 16


def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """x, y in 0..1 (y down) for every pixel."""
    y, x = np.mgrid[0:n, 0:n].astype(np.float64) / (n - 1)
    return x, y


def _mix(a, b, t: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64) / 255, np.asarray(b, np.float64) / 255
    return a + (b - a) * t[..., None]


def _smooth(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def studio(n: int, rng: np.random.Generator) -> Picture:
    """A photo studio's paper sweep: a lilac-grey wall lit in the middle, curving into a
    lighter floor, darker towards the corners."""
    x, y = _grid(n)
    wall = _mix((112, 104, 140), (196, 188, 214), _smooth(1 - np.hypot(x - 0.5, y - 0.42) / 0.75))
    floor = _mix((150, 142, 170), (214, 206, 226), _smooth(1 - np.abs(x - 0.5) / 0.8))
    sweep = _smooth((y - 0.68) / 0.2)[..., None]
    pic = wall * (1 - sweep) + floor * sweep
    vignette = 1 - 0.35 * _smooth(np.hypot(x - 0.5, y - 0.5) / 0.75 - 0.25)
    return pic * vignette[..., None]


def night_sky(n: int, rng: np.random.Generator) -> Picture:
    """A clear night: deep blue to violet towards the horizon, stars of a few sizes, a
    moon's soft glow, and a dark hill line."""
    x, y = _grid(n)
    pic = _mix((10, 14, 38), (70, 42, 104), _smooth(y / 0.95))
    pic += _mix((0, 0, 0), (60, 70, 110), np.exp(-(((x - 0.78) ** 2 + (y - 0.2) ** 2) / 0.02)))
    moon = np.hypot(x - 0.78, y - 0.2) < 0.045
    pic[moon] = np.array([244, 238, 214]) / 255
    count = n * n // 900
    sx, sy = rng.integers(0, n, count), rng.integers(0, int(n * 0.8), count)
    bright = rng.uniform(0.35, 1.0, count)
    for r, share in ((0, 0.85), (1, 0.13), (2, 0.02)):  # most stars a pixel, a few larger
        pick = rng.random(count) < share
        for dx in range(-r, r + 1):
            for dy in range(-r, r + 1):
                if dx * dx + dy * dy > r * r:
                    continue
                px, py = np.clip(sx[pick] + dx, 0, n - 1), np.clip(sy[pick] + dy, 0, n - 1)
                pic[py, px] = np.maximum(pic[py, px], bright[pick, None] * [0.95, 0.95, 1.0])
    hill = 0.86 + 0.04 * np.sin(x * 7.0 + 1.3) + 0.02 * np.sin(x * 17.0)
    pic[y > hill] = np.array([14, 12, 30]) / 255
    return pic


def pastel_room(n: int, rng: np.random.Generator) -> Picture:
    """A pastel bedroom wall: pink with soft cream stripes, a window with a blue sky on
    the left, a wooden floor at the bottom."""
    x, y = _grid(n)
    stripes = 0.5 + 0.5 * np.cos(x * np.pi * 18)
    pic = _mix((246, 206, 214), (252, 232, 222), _smooth(stripes * 1.4 - 0.2))
    pic *= (1 - 0.12 * _smooth(np.abs(x - 0.5) / 0.5))[..., None]  # lit in the middle
    frame = (np.abs(x - 0.2) < 0.14) & (np.abs(y - 0.36) < 0.2)
    glass = (np.abs(x - 0.2) < 0.125) & (np.abs(y - 0.36) < 0.185)
    pic[frame] = np.array([255, 250, 244]) / 255
    sky = _mix((150, 200, 240), (220, 236, 250), _smooth((y - 0.18) / 0.36))
    pic[glass] = sky[glass]
    bars = glass & ((np.abs(x - 0.2) < 0.006) | (np.abs(y - 0.36) < 0.006))
    pic[bars] = np.array([255, 250, 244]) / 255
    floor = y > 0.8
    boards = 0.5 + 0.5 * np.sin(y * 260) * 0.3 + 0.1 * np.sin(x * 40 + np.floor(y * 40))
    wood = _mix((196, 150, 118), (222, 180, 146), np.clip(boards, 0, 1))
    pic[floor] = wood[floor]
    skirting = (y > 0.78) & (y <= 0.8)
    pic[skirting] = np.array([255, 248, 240]) / 255
    return pic


def sunset(n: int, rng: np.random.Generator) -> Picture:
    """Evening: an orange-to-pink sky, a low sun, two layers of purple hills."""
    x, y = _grid(n)
    pic = _mix((255, 176, 112), (120, 92, 170), _smooth(1 - y / 0.8))
    glow = np.exp(-(((x - 0.3) ** 2) / 0.03 + ((y - 0.62) ** 2) / 0.01))
    pic += _mix((0, 0, 0), (255, 220, 160), glow)
    sun = np.hypot(x - 0.3, y - 0.62) < 0.06
    pic[sun] = np.array([255, 236, 190]) / 255
    far = 0.66 + 0.05 * np.sin(x * 5 + 0.4) + 0.015 * np.sin(x * 23)
    near = 0.78 + 0.06 * np.sin(x * 3.1 + 2.0) + 0.02 * np.sin(x * 13 + 1)
    pic[y > far] = np.array([150, 96, 150]) / 255
    pic[y > near] = np.array([86, 58, 110]) / 255
    return pic


BACKGROUNDS: dict[str, tuple[str, Callable[[int, np.random.Generator], Picture]]] = {
    "studio": ("Studio", studio),
    "night-sky": ("Night sky", night_sky),
    "pastel-room": ("Pastel room", pastel_room),
    "sunset": ("Sunset", sunset),
}


def build(out: Path = OUT, n: int = BUNDLED_SIZE) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for i, (key, (_, paint)) in enumerate(BACKGROUNDS.items()):
        rng = np.random.default_rng(1000 + i)
        pic = np.clip(paint(n, rng), 0.0, 1.0) * 255
        # ordered dither (a 4x4 Bayer matrix): no bands in the ramps, and it compresses
        pic += (_BAYER[np.arange(n)[:, None] % 4, np.arange(n)[None, :] % 4] - 0.5)[..., None]
        pixels = np.clip(np.round(pic), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(out / f"{key}.png", optimize=True)
    index = {key: name for key, (name, _) in BACKGROUNDS.items()}
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")


if __name__ == "__main__":
    build()
