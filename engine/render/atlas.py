"""Texture atlases: one RGBA image holding every part's picture, and where each part lies.

Format (committed under `content/atlases/<id>/`): `atlas.png` (straight alpha) and
`atlas.json` = {"schema": 1, "regions": {"<path>": [x, y, width, height]}} in pixels,
origin top-left. A part's own uvs are 0..1 with (0, 0) at its picture's top-left.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine.rig.errors import FormatError
from engine.rig.reader import Node, check_schema, read_json


class AtlasFormatError(FormatError):
    pass


@dataclass(frozen=True, slots=True, eq=False)
class Atlas:
    image: np.ndarray  # (H, W, 4) uint8, straight alpha, top row first
    regions: dict[str, tuple[int, int, int, int]]

    def uv_rect(self, path: str) -> tuple[float, float, float, float]:
        """(u0, v0, u1, v1) of a part in texture coordinates (v down, like the image)."""
        x, y, w, h = self.regions[path]
        H, W = self.image.shape[:2]
        return x / W, y / H, (x + w) / W, (y + h) / H

    def premultiplied(self) -> np.ndarray:
        a = self.image[..., 3:4].astype(np.uint16)
        rgb = (self.image[..., :3].astype(np.uint16) * a + 127) // 255
        return np.concatenate([rgb, a], axis=2).astype(np.uint8)


def load_atlas(directory: str | Path) -> Atlas:
    d = Path(directory)
    meta = read_json(d / "atlas.json", AtlasFormatError)
    root = Node(meta, "", str(d / "atlas.json"), AtlasFormatError)
    check_schema(root, 1)
    try:
        image = np.asarray(Image.open(d / "atlas.png").convert("RGBA"))
    except FileNotFoundError:
        raise AtlasFormatError(str(d / "atlas.png"), "", "file not found") from None
    H, W = image.shape[:2]
    regions = {}
    for path, rect in root.get("regions").items():
        x, y, w, h = (int(v) for v in rect.vec(4))
        if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > W or y + h > H:
            raise rect.fail(f"rectangle {[x, y, w, h]} is outside the {W}x{H} image")
        regions[path] = (x, y, w, h)
    return Atlas(image, regions)
