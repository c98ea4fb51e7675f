"""How an outside runtime's playback is compared with our own GL render of the same frame.

Two numbers, both over straight-alpha RGBA pictures of the same size:
- `iou`: the alpha masks' intersection over union, each mask = alpha above half. It catches
  a part missing, misplaced, mis-rotated, mis-scaled or drawn in the wrong frame of the
  animation; anti-aliasing differences along the outline cost a few percent at most.
- `color_diff`: the mean absolute difference of straight RGB (0..255) over the pixels both
  masks cover well (alpha above 0.9, away from edges). It catches wrong pictures (a swapped
  outfit, a missing colour filter), wrong draw order (a sleeve under an arm), dark fringes
  from premultiplied alpha mistaken for straight, and wrong colour spaces.
Each test states its thresholds and why they are what they are."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy.ndimage import binary_erosion


def straight(px: np.ndarray) -> np.ndarray:
    """Premultiplied RGBA uint8 (our renderer's output) -> straight RGBA uint8."""
    from engine.export.png import straight as s

    return s(px)


def load(data: bytes | str) -> np.ndarray:
    """A PNG (bytes or a path) as straight RGBA uint8."""
    img = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
    return np.asarray(img.convert("RGBA")).copy()


def iou(a: np.ndarray, b: np.ndarray, level: float = 0.5) -> float:
    ma, mb = a[..., 3] > level * 255, b[..., 3] > level * 255
    union = (ma | mb).sum()
    return float((ma & mb).sum() / union) if union else 1.0


def color_diff(a: np.ndarray, b: np.ndarray, erode: int = 2) -> float:
    """Mean |RGB| difference over the well-covered inside of both masks (0..255)."""
    inside = (a[..., 3] > 230) & (b[..., 3] > 230)
    if erode:
        inside = binary_erosion(inside, iterations=erode)
    if not inside.any():
        return 255.0
    d = np.abs(a[..., :3].astype(np.int32) - b[..., :3].astype(np.int32))
    return float(d[inside].mean())


def side_by_side(
    *pictures: np.ndarray, background: tuple[int, int, int] = (150, 150, 158)
) -> Image.Image:
    """Pictures (straight RGBA) next to each other over a flat colour: for docs and for
    looking at a failure."""
    h = max(p.shape[0] for p in pictures)
    w = sum(p.shape[1] for p in pictures)
    out = Image.new("RGB", (w, h), background)
    x = 0
    for p in pictures:
        img = Image.fromarray(p, "RGBA")
        out.paste(img, (x, 0), img)
        x += p.shape[1]
    return out
