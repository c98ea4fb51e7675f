"""Builds the test rig's texture atlas: flat cel-shaded colours per part with dark outlines,
enough to see skinning, draw order and swaps in renders. (Digi gets real vector art.)

    python content/build/testrig_atlas.py   ->  content/atlases/testrig/atlas.{png,json}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "content" / "atlases" / "testrig"
CELL = (64, 128)  # width, height of every part's picture

SKIN = (250, 218, 196)
HAIR = (96, 62, 140)
CLOTH = (52, 96, 170)
PANTS = (60, 60, 78)
SHOE = (140, 70, 40)
STEEL = (190, 198, 210)
COLORS = {
    "arm": CLOTH, "hand": SKIN, "neck": SKIN, "head": SKIN, "face": SKIN, "hair": HAIR,
    "torso": CLOTH, "leg": PANTS, "foot": SHOE, "sword": STEEL,
}  # fmt: skip


def _color(path: str) -> tuple[int, int, int]:
    part = path.split("/")[-1]
    for key, c in COLORS.items():
        if part.startswith(key):
            return c
    raise KeyError(f"no colour for {path}")


def _part(path: str) -> Image.Image:
    w, h = CELL
    base = np.array(_color(path), float)
    img = np.zeros((h, w, 4), np.uint8)
    shade = np.where(np.arange(w) < w * 0.62, 1.0, 0.8)  # a cel-shadow band on one side
    img[..., :3] = np.clip(base[None, None, :] * shade[None, :, None], 0, 255)
    img[..., 3] = 255
    line = (base * 0.35).astype(np.uint8)
    img[:3, :, :3] = img[-3:, :, :3] = line
    img[:, :3, :3] = img[:, -3:, :3] = line
    im = Image.fromarray(img, "RGBA")
    d = ImageDraw.Draw(im)
    part = path.split("/")[-1]
    if part.startswith("face"):  # eyes and mouth, so expressions read in renders
        for cx in (18, 44):
            if part == "face_closed":
                d.line([(cx - 8, 50), (cx + 8, 50)], fill=(40, 30, 50, 255), width=3)
            else:
                d.ellipse(
                    [cx - 7, 38, cx + 7, 62],
                    fill=(255, 255, 255, 255),
                    outline=(40, 30, 50, 255),
                    width=2,
                )
                d.ellipse([cx - 4, 46, cx + 4, 60], fill=(60, 120, 200, 255))
        if part == "face_smile":
            d.arc([20, 70, 44, 96], 20, 160, fill=(150, 40, 60, 255), width=3)
        else:
            d.line([(26, 86), (38, 86)], fill=(150, 40, 60, 255), width=3)
    return im


def build(paths: list[str]) -> None:
    cols = 8
    w, h = CELL
    rows = (len(paths) + cols - 1) // cols
    sheet = Image.new("RGBA", (cols * w, rows * h), (0, 0, 0, 0))
    regions = {}
    for i, path in enumerate(sorted(paths)):
        x, y = (i % cols) * w, (i // cols) * h
        sheet.paste(_part(path), (x, y))
        regions[path] = [x, y, w, h]
    OUT.mkdir(parents=True, exist_ok=True)
    sheet.save(OUT / "atlas.png", optimize=True)
    (OUT / "atlas.json").write_text(json.dumps({"schema": 1, "regions": regions}, indent=1) + "\n")
    sys.path.insert(0, str(Path(__file__).parent))
    from atlas_hulls import add_hulls  # a sibling build script

    add_hulls(OUT)  # each picture's opaque hull (engine/hulls.py)


def rig_paths() -> list[str]:
    rig = json.loads((ROOT / "rigs" / "testrig" / "rig.json").read_text())
    return sorted(
        {a.get("path", name) for slot in rig["attachments"].values() for name, a in slot.items()}
    )


if __name__ == "__main__":
    build(rig_paths())
    print(f"wrote {OUT / 'atlas.png'}")
