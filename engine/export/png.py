"""Pictures out of the renderer: premultiplied RGBA -> straight-alpha PNGs and sheets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def straight(px: np.ndarray) -> np.ndarray:
    """Premultiplied RGBA uint8 -> straight alpha (what PNG stores)."""
    a = px[..., 3:4].astype(np.uint32)
    rgb = np.where(a > 0, (px[..., :3].astype(np.uint32) * 255 + a // 2) // np.maximum(a, 1), 0)
    return np.concatenate([np.minimum(rgb, 255), a], axis=2).astype(np.uint8)


def save_png(px: np.ndarray, path: str | Path) -> None:
    Image.fromarray(straight(px), "RGBA").save(path)


def on_background(px: np.ndarray, color: tuple[int, int, int] = (150, 150, 158)) -> Image.Image:
    """Composite premultiplied RGBA over a flat colour (for sheets people look at)."""
    a = px[..., 3:4].astype(np.float32) / 255
    rgb = px[..., :3].astype(np.float32) + np.array(color, np.float32) * (1 - a)
    return Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8), "RGB")


def sheet(
    rows: Sequence[tuple[str, Sequence[np.ndarray]]],
    cell: int = 160,
    background: tuple[int, int, int] = (150, 150, 158),
) -> Image.Image:
    """A labelled contact sheet: one row per (label, frames)."""
    cols = max(len(f) for _, f in rows)
    label_w = 110
    img = Image.new("RGB", (label_w + cols * cell, len(rows) * cell), (236, 236, 240))
    d = ImageDraw.Draw(img)
    for r, (label, frames) in enumerate(rows):
        d.text((6, r * cell + cell // 2 - 6), label, fill=(20, 20, 30))
        for c, px in enumerate(frames):
            tile = on_background(px, background).resize((cell, cell), Image.LANCZOS)
            img.paste(tile, (label_w + c * cell, r * cell))
    return img
