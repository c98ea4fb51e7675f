"""Texture atlases: one RGBA image holding every part's picture, and where each part lies.

Format (committed under `content/atlases/<id>/`): `atlas.png` (straight alpha) and
`atlas.json` = {"schema": 1, "regions": {"<path>": [x, y, width, height]}} in pixels,
origin top-left. A part's own uvs are 0..1 with (0, 0) at its picture's top-left.

Optional `"hulls": {"version": 1, "regions": {"<path>": [[x, y], ...]}}`: per picture, a
convex polygon in its own texel frame (0..width, 0..height, y down) holding every texel
with alpha > 0 (engine/hulls.py, `opaque_hull`; [] for a fully transparent picture), which
the renderer draws instead of the rectangle. Pictures without one get it computed on load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from engine.hulls import covers, opaque_hull
from engine.kernels.alpha import premultiply
from engine.rig.errors import FormatError
from engine.rig.reader import Node, check_schema, read_json


class AtlasFormatError(FormatError):
    pass


@dataclass(frozen=True, slots=True, eq=False)
class Atlas:
    image: np.ndarray  # (H, W, 4) uint8, straight alpha, top row first
    regions: dict[str, tuple[int, int, int, int]]
    # opaque hulls by path, (k, 2) in the picture's texel frame; filled in by hull()
    hulls: dict[str, np.ndarray] = field(default_factory=dict)

    def uv_rect(self, path: str) -> tuple[float, float, float, float]:
        """(u0, v0, u1, v1) of a part in texture coordinates (v down, like the image)."""
        x, y, w, h = self.regions[path]
        H, W = self.image.shape[:2]
        return x / W, y / H, (x + w) / W, (y + h) / H

    def hull(self, path: str) -> np.ndarray:
        """The convex polygon (k, 2) around the picture's texels with alpha > 0, in its texel
        frame: the stored one, else computed once (atlases made at run time have none)."""
        if path not in self.hulls:
            x, y, w, h = self.regions[path]
            self.hulls[path] = opaque_hull(self.image[y : y + h, x : x + w, 3])
        return self.hulls[path]

    def premultiplied(self) -> np.ndarray:
        return premultiply(self.image)


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
    hulls = _read_hulls(root.get("hulls"), regions, image) if root.has("hulls") else {}
    return Atlas(image, regions, hulls)


HULLS_VERSION = 1


def _read_hulls(
    node: Node, regions: dict[str, tuple[int, int, int, int]], image: np.ndarray
) -> dict[str, np.ndarray]:
    version = node.get("version")
    if version.int_() != HULLS_VERSION:
        raise version.fail(f"unsupported hulls version {version.value} (this build reads 1)")
    hulls = {}
    for path, poly in node.get("regions").items():
        if path not in regions:
            raise poly.fail(f'no region "{path}" in "regions"')
        _, _, w, h = regions[path]
        points = poly.list()
        if 0 < len(points) < 3:
            raise poly.fail(f"a hull needs 3 or more points, got {len(points)}")
        xy = np.array([p.vec(2) for p in points], np.float64).reshape(-1, 2)
        for p, (px, py) in zip(points, xy, strict=True):
            if not (0 <= px <= w and 0 <= py <= h):
                raise p.fail(f"point {[px, py]} is outside the {w}x{h} picture")
        if len(xy) and not _convex_ccw(xy):
            raise poly.fail("the hull must be a convex polygon, counter-clockwise")
        x, y = regions[path][:2]
        if not covers(xy, image[y : y + h, x : x + w, 3]):
            raise poly.fail("the hull leaves out texels with alpha > 0 (stale? rebuild it)")
        hulls[path] = xy
    return hulls


def _convex_ccw(poly: np.ndarray) -> bool:
    e = np.roll(poly, -1, axis=0) - poly
    turn = e[:, 0] * np.roll(e, -1, axis=0)[:, 1] - e[:, 1] * np.roll(e, -1, axis=0)[:, 0]
    return bool((turn >= -1e-9).all() and turn.sum() > 0)
