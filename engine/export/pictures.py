"""The parts' pictures for formats that carry the art itself (spritesheet pages excepted:
those are rendered frames): each part cropped from the atlas, the subject's colour filters
baked in on the CPU (the same maths as shaders/color_filter.glsl), straight alpha."""

from __future__ import annotations

import numpy as np

from engine.export.subject import NEUTRAL, ColorFilter, Subject


def color_filter(rgb: np.ndarray, f: ColorFilter) -> np.ndarray:
    """shaders/color_filter.glsl on an (..., 3) float array of straight colour in 0..1."""
    if tuple(map(float, f)) == NEUTRAL:
        return rgb
    hue, sat, bright, contrast = map(float, f)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(axis=-1)
    d = v - rgb.min(axis=-1)
    e = 1e-10
    s = d / (v + e)
    h = np.where(
        v == r,
        (g - b) / (6 * d + e),
        np.where(v == g, 1 / 3 + (b - r) / (6 * d + e), 2 / 3 + (r - g) / (6 * d + e)),
    )
    h = np.mod(h + hue / 360.0, 1.0)
    s = np.clip(s * sat, 0.0, 1.0)
    p = np.abs(np.mod(h[..., None] + np.array([1.0, 2 / 3, 1 / 3]), 1.0) * 6 - 3)
    out = v[..., None] * (1 + (np.clip(p - 1, 0, 1) - 1) * s[..., None]) * bright
    return np.clip((out - 0.5) * contrast + 0.5, 0.0, 1.0)


def part_picture(subject: Subject, slot: str, path: str) -> np.ndarray:
    """The picture at atlas `path` as slot `slot` shows it: (h, w, 4) uint8 straight RGBA,
    top row first, with the slot's colour filters baked in."""
    part, whole = subject.slot_filters(slot)
    return _picture(subject, path, part, whole).copy()


def picture_key(subject: Subject, slot: str, path: str) -> tuple[str, ColorFilter, ColorFilter]:
    """Slots whose pictures are equal share a key (dedupe pages and image assets by it)."""
    return (path, *subject.slot_filters(slot))


def _picture(subject: Subject, path: str, part: ColorFilter, whole: ColorFilter) -> np.ndarray:
    cache = subject.__dict__.setdefault("_pictures", {})
    key = (path, part, whole)
    if key not in cache:
        atlas = subject.atlas
        x, y, w, h = atlas.regions[path]
        px = atlas.image[y : y + h, x : x + w]
        if part == NEUTRAL and whole == NEUTRAL:
            out = px.copy()
        else:
            rgb = px[..., :3].astype(np.float64) / 255
            rgb = color_filter(color_filter(rgb, part), whole)
            out = np.concatenate([np.round(rgb * 255).astype(np.uint8), px[..., 3:4]], axis=2)
        out.setflags(write=False)
        cache[key] = out
    return cache[key]
