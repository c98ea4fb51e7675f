"""Flat-shaded wireframe pictures of a frame's draw list, on the CPU with Pillow.

Until the GL renderer lands this is how a person looks at poses; afterwards it stays useful
as a debug view (mesh topology and skinning, not art)."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from engine.session import DrawItem


def frame_bounds(
    frames: Sequence[Sequence[DrawItem]], pad: float = 0.05
) -> tuple[float, float, float, float]:
    pts = np.concatenate([d.vertices for f in frames for d in f])
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    span = max(x1 - x0, y1 - y0) * (1 + 2 * pad)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - span / 2, cy - span / 2, cx + span / 2, cy + span / 2


def draw_frame(
    items: Sequence[DrawItem],
    size: int = 256,
    bounds: tuple[float, float, float, float] | None = None,
    bones: np.ndarray | None = None,
    label: str = "",
) -> Image.Image:
    """Slots filled in draw order (a colour per slot), triangle edges darker; optional bone
    segments (k, 2, 2) drawn on top. y-up engine space is flipped to image space."""
    x0, y0, x1, y1 = bounds or frame_bounds([items])
    s = size / max(x1 - x0, y1 - y0)

    def px(p: np.ndarray) -> list[tuple[float, float]]:
        return [((x - x0) * s, size - (y - y0) * s) for x, y in p]

    img = Image.new("RGBA", (size, size), (245, 245, 240, 255))
    d = ImageDraw.Draw(img)
    for it in items:
        h = (it.slot * 0.137) % 1.0
        r, g, b = colorsys.hls_to_rgb(h, 0.62, 0.55)
        fill = tuple(int(255 * c) for c in (r * it.color[0], g * it.color[1], b * it.color[2]))
        edge = tuple(int(v * 0.55) for v in fill)
        for tri in it.triangles:
            poly = px(it.vertices[tri])
            d.polygon(poly, fill=(*fill, 255), outline=(*edge, 255))
    if bones is not None:
        for a, b in bones:
            d.line(px(np.array([a, b])), fill=(30, 30, 30, 255), width=2)
    if label:
        d.text((4, 4), label, fill=(0, 0, 0, 255))
    return img


def contact_sheet(images: Sequence[Image.Image], cols: int = 6) -> Image.Image:
    w, h = images[0].size
    rows = (len(images) + cols - 1) // cols
    sheet = Image.new("RGBA", (cols * w, rows * h), (255, 255, 255, 255))
    for i, im in enumerate(images):
        sheet.paste(im, ((i % cols) * w, (i // cols) * h))
    return sheet
