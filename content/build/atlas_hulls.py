"""Adds each picture's opaque hull (engine/hulls.py) to an atlas's atlas.json, so the renderer
draws polygons that hug the art instead of whole rectangles. Run after the atlas is packed
(digi_art.py and testrig_atlas.py call `add_hulls` themselves); deterministic, and it
rewrites only atlas.json.

    python content/build/atlas_hulls.py [digi testrig ...]   (default: every atlas)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine.atlas import HULLS_VERSION  # noqa: E402
from engine.hulls import opaque_hull  # noqa: E402

ATLASES = ROOT / "content" / "atlases"


def add_hulls(directory: Path) -> None:
    """Rewrite `directory`/atlas.json with a "hulls" field computed from atlas.png: one
    line per region and per hull, vertices to 2 decimals (opaque_hull leaves that slack)."""
    meta = json.loads((directory / "atlas.json").read_text(encoding="utf-8"))
    image = np.asarray(Image.open(directory / "atlas.png").convert("RGBA"))
    regions = meta["regions"]
    hulls = {}
    for path, (x, y, w, h) in regions.items():
        poly = opaque_hull(image[y : y + h, x : x + w, 3])
        hulls[path] = [[round(float(px), 2), round(float(py), 2)] for px, py in poly]

    def block(entries: dict[str, object]) -> str:
        return ",\n".join(f"  {json.dumps(k)}:{json.dumps(v)}" for k, v in entries.items())

    text = (
        "{\n"
        + f' "schema":{meta["schema"]},\n'
        + ' "regions":{\n'
        + block(regions)
        + "\n },\n"
        + f' "hulls":{{"version":{HULLS_VERSION},"regions":{{\n'
        + block(hulls)
        + "\n }}\n}\n"
    )
    json.loads(text)
    (directory / "atlas.json").write_text(text, encoding="utf-8")


def main(ids: list[str]) -> None:
    for atlas_id in ids or sorted(p.name for p in ATLASES.iterdir() if p.is_dir()):
        add_hulls(ATLASES / atlas_id)
        print(f"hulls written to {ATLASES / atlas_id / 'atlas.json'}")


if __name__ == "__main__":
    main(sys.argv[1:])
