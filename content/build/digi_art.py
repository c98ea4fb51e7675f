"""Digi's pictures: reads the hand-authored SVGs in content/art/digi/, rasterizes them with
cairosvg and packs them into content/atlases/digi/atlas.{png,json} (used by digi.py).

Every SVG names its coordinate frame in `data-frame` (see content/art/digi/README.md) and its
viewBox in art units; a picture is rasterized at SCALE texels per unit (more for the small
face parts, which the 'face' framing magnifies) by engine/likeness/art.py.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

# the run-time recolouring (engine/likeness/recolor.py) rasterizes with the same function
from engine.likeness.art import picture_size, rasterize_svg  # noqa: E402

ART_DIR = REPO / "content" / "art" / "digi"
ATLAS_DIR = REPO / "content" / "atlases" / "digi"
MAX_SIZE = 2048
PAD = 2

# texels per art unit
SCALE = 2.5
FACE_SCALE = 4.0
HEAD_SCALE = 3.0
FACE_PARTS = ("eye_", "iris_", "lid_", "brow_", "mouth_", "nose", "blush", "glasses")


@dataclass
class Picture:
    name: str
    frame: str  # world | limb | local
    vb: tuple[float, float, float, float]  # x, y, width, height (svg units, y down)
    scale: float
    image: np.ndarray | None = None  # (h, w, 4) uint8 straight alpha

    @property
    def path(self) -> str:
        return f"digi/{self.name}"

    def uv(self, X: float, Y: float) -> tuple[float, float]:
        """Picture coordinates (svg units) -> the part's own uv (0..1, top-left origin)."""
        x, y, w, h = self.vb
        return (X - x) / w, (Y - y) / h

    def world_xy(self, X: float, Y: float) -> tuple[float, float]:
        """For `world` pictures: svg (X, Y) -> engine (x, y)."""
        assert self.frame == "world", self.name
        return X, 500.0 - Y

    def world_to_pic(self, x: float, y: float) -> tuple[float, float]:
        return x, 500.0 - y


def scale_for(name: str) -> float:
    if name.startswith(FACE_PARTS):
        return FACE_SCALE
    if name == "head":
        return HEAD_SCALE
    return SCALE


def load_pictures() -> dict[str, Picture]:
    pics = {}
    for f in sorted(ART_DIR.glob("*.svg")):
        text = f.read_text(encoding="utf-8")
        vb = tuple(float(v) for v in re.search(r'viewBox="([^"]+)"', text).group(1).split())
        frame = re.search(r'data-frame="([^"]+)"', text).group(1)
        pics[f.stem] = Picture(f.stem, frame, vb, scale_for(f.stem))  # type: ignore[arg-type]
    return pics


def rasterize(pic: Picture) -> np.ndarray:
    """The picture at its scale; the viewBox fills the whole bitmap (uvs map 0..1 onto it)."""
    text = (ART_DIR / f"{pic.name}.svg").read_text(encoding="utf-8")
    return rasterize_svg(text, picture_size(pic.vb, pic.scale))


def check_margin(pic: Picture, img: np.ndarray, texels: int = 3) -> None:
    """The picture's border band must be transparent (mesh edges fall on transparent texels)."""
    a = img[..., 3]
    band = np.concatenate(
        [a[:texels].ravel(), a[-texels:].ravel(), a[:, :texels].ravel(), a[:, -texels:].ravel()]
    )
    assert band.max() == 0, f"{pic.name}: art touches the picture's border (max alpha {band.max()})"


def pack(pics: list[Picture]) -> tuple[np.ndarray, dict[str, list[int]]]:
    """Shelf packing, tallest first, PAD texels between pictures (deterministic)."""
    order = sorted(pics, key=lambda p: (-p.image.shape[0], -p.image.shape[1], p.name))
    x = y = shelf_h = 0
    width = MAX_SIZE
    rects = {}
    for p in order:
        h, w = p.image.shape[:2]
        if x + w > width:
            x = 0
            y += shelf_h + PAD
            shelf_h = 0
        rects[p.name] = [x, y, w, h]
        x += w + PAD
        shelf_h = max(shelf_h, h)
    height = y + shelf_h
    assert height <= MAX_SIZE, f"atlas needs {height} rows (max {MAX_SIZE})"
    # trim the unused right-hand columns
    used_w = max(r[0] + r[2] for r in rects.values())
    atlas = np.zeros((height, used_w, 4), np.uint8)
    for p in order:
        x, y, w, h = rects[p.name]
        atlas[y : y + h, x : x + w] = p.image
    return atlas, {p.path: rects[p.name] for p in sorted(pics, key=lambda p: p.name)}


def build_atlas(pics: dict[str, Picture], used: set[str]) -> dict[str, list[int]]:
    chosen = [pics[n] for n in sorted(used)]
    for p in chosen:
        if p.image is None:
            p.image = rasterize(p)
        check_margin(p, p.image)
    atlas, regions = pack(chosen)
    ATLAS_DIR.mkdir(parents=True, exist_ok=True)
    Image.fromarray(atlas, "RGBA").save(ATLAS_DIR / "atlas.png", optimize=True)
    meta = {"schema": 1, "regions": regions}
    (ATLAS_DIR / "atlas.json").write_text(
        "{\n"
        + ' "schema":1,\n "regions":{\n'
        + ",\n".join(f"  {json.dumps(k)}:{json.dumps(v)}" for k, v in regions.items())
        + "\n }\n}\n",
        encoding="utf-8",
    )
    json.loads((ATLAS_DIR / "atlas.json").read_text())
    _add_hulls(ATLAS_DIR)
    return meta["regions"]


def _add_hulls(directory: Path) -> None:
    """Each picture's opaque hull into atlas.json (content/build/atlas_hulls.py)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from atlas_hulls import add_hulls  # a sibling build script

    add_hulls(directory)


def coverage_leak(pic: Picture, tris_uv: list[list[tuple[float, float]]]) -> float:
    """Alpha mass of the picture that no triangle covers (0 = the mesh shows all the art)."""
    from PIL import ImageDraw

    h, w = pic.image.shape[:2]
    mask = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(mask)
    for tri in tris_uv:
        d.polygon([(u * w, v * h) for u, v in tri], fill=255)
    m = np.asarray(mask) > 0
    a = pic.image[..., 3].astype(float) / 255.0
    return float(a[~m].sum() / max(a.sum(), 1e-9))
