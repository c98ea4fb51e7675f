#!/usr/bin/env python3
"""Builds the face-part library: face shapes and facial hair for Digi's rig.

    .venv/bin/python content/build/face_parts.py

Reads content/art/face/ (Digi's `world` frame and colours, see content/art/face/README.md)
and writes, deterministically:

- content/face/parts.json        the face shapes' outlines; per facial-hair style and face
                                 shape, the mesh worn on the slot `facial_hair`; per brow
                                 thickness, the pictures of the brow slots
                                 (format: content/README.md, "Face parts");
- content/face/atlas.{png,json}  the facial-hair pictures in Digi's default hair colours and
                                 the brows in Digi's, with opaque hulls (engine/atlas.py's
                                 format);
- content/face/pictures/*.svg    each picture's final SVG (recoloured and re-rasterized at
                                 run time: engine/likeness/face_parts.py).

A face shape is the `<path id="face">` of `shape/<shape>.svg`: the run time puts it into
the head picture the character wears. A facial-hair SVG clipped to the face carries the oval
(Digi's) outline as its own `<path id="face">`; the build draws it once per face shape with
that shape's outline instead, so a beard follows each jaw. Facial hair is skinned to the
head, and round the mouth to the mouth bone (which the head-turn parameters slide and
narrow with the mouth). A brow thickness (`brows/<thin|thick>_<r|l>.svg`, Digi's brow is
the medium one) is drawn in Digi's brow's viewBox, so it replaces the picture of Digi's brow
region attachments as is.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import digi_art  # noqa: E402
import hair  # noqa: E402  (its grid meshes; importing it builds nothing)
import rigkit as C  # noqa: E402
from atlas_hulls import add_hulls  # noqa: E402
from rigkit import normalise_weights, smoothstep  # noqa: E402

from engine.likeness.art import svg_viewbox  # noqa: E402
from engine.likeness.face_parts import BROWS, FACE_SHAPES, FACIAL_HAIR, OWN_SHAPE  # noqa: E402

ART = ROOT / "content" / "art" / "face"
OUT = ROOT / "content" / "face"
SCHEMA = 1
SCALE = digi_art.HEAD_SCALE  # as the head they lie on
# the mouth bone's origin at the setup pose (svg): the centre of Digi's mouth pictures
MOUTH = (12.0, 190.0)
# within MOUTH_IN units of it the hair moves with the mouth alone, beyond MOUTH_OUT with
# the head alone (the jaw must stay on the head's outline)
MOUTH_IN, MOUTH_OUT = 9.0, 24.0
# what each style wears: (picture, slot); a beard is drawn with a moustache over the mouth
WORN = {
    "stubble": [("stubble", "facial_hair")],
    "moustache": [("moustache", "moustache")],
    "beard": [("beard", "facial_hair"), ("moustache", "moustache")],
}
FACE_D = re.compile(r'(<path\s+id="face"\s+d=")([^"]*)(")')


class Pic(hair.Pic):
    """A face-part picture: its atlas path is face/<style>/<shape> (or face/<style>),
    face/brows/<thickness>_<side>."""

    def __init__(self, path: str, text: str, scale: float = SCALE) -> None:
        self._path = path
        super().__init__("face", path.split("/", 1)[1].replace("/", "_"), text, scale)

    @property
    def path(self) -> str:
        return self._path


def outline(shape: str) -> str:
    text = (ART / "shape" / f"{shape}.svg").read_text(encoding="utf-8")
    m = FACE_D.search(text)
    assert m, f'content/art/face/shape/{shape}.svg has no <path id="face" d=...>'
    return " ".join(m.group(2).split())


def with_outline(text: str, d: str) -> str:
    out, n = FACE_D.subn(lambda m: m.group(1) + d + m.group(3), text, count=1)
    assert n == 1
    return out


def mouth_weights(q: np.ndarray):
    """Round the mouth on the mouth bone, fading to the head towards the jaw."""
    dist = math.hypot(q[0] - MOUTH[0], (500.0 - q[1]) - MOUTH[1])
    k = smoothstep((MOUTH_OUT - dist) / (MOUTH_OUT - MOUTH_IN))
    return normalise_weights([("mouth", k), ("head", 1.0 - k)])


def on_mouth(q: np.ndarray):
    return [("mouth", 1.0)]


def main() -> None:
    outlines = {s: outline(s) for s in FACE_SHAPES}
    digi_face = FACE_D.search((ROOT / "content" / "art" / "digi" / "head.svg").read_text())
    assert outlines[OWN_SHAPE] == " ".join(digi_face.group(2).split()), (
        f"content/art/face/shape/{OWN_SHAPE}.svg must be Digi's own face outline"
    )
    pics: dict[str, Pic] = {}
    meshes: dict[str, dict[str, dict[str, dict]]] = {}
    by_path: dict[str, dict] = {}  # a picture's mesh (the moustache's serves many)
    for style in FACIAL_HAIR:
        meshes[style] = {shape: {} for shape in FACE_SHAPES}
        for part, slot in WORN[style]:
            text = (ART / "facial_hair" / f"{part}.svg").read_text(encoding="utf-8")
            clipped = FACE_D.search(text) is not None
            weights = mouth_weights if clipped else on_mouth
            for shape in FACE_SHAPES:
                path = f"face/{part}/{shape}" if clipped else f"face/{part}"
                if path not in pics:
                    src = with_outline(text, outlines[shape]) if clipped else text
                    pics[path] = Pic(path, src)
                    digi_art.check_margin(pics[path], pics[path].image)
                    by_path[path] = hair.grid_mesh(pics[path], weights).to_json()
                meshes[style][shape][slot] = by_path[path]
    brows: dict[str, dict[str, str]] = {}
    for thickness in BROWS:
        brows[thickness] = {}
        for side in ("r", "l"):
            text = (ART / "brows" / f"{thickness}_{side}.svg").read_text(encoding="utf-8")
            own = (ROOT / "content" / "art" / "digi" / f"brow_{side}.svg").read_text()
            # Digi's brow's region attachment (its size is the viewBox's) holds the variant
            assert svg_viewbox(text) == svg_viewbox(own), f"{thickness}_{side}: not Digi's viewBox"
            path = f"face/brows/{thickness}_{side}"
            pics[path] = Pic(path, text, digi_art.FACE_SCALE)
            digi_art.check_margin(pics[path], pics[path].image)
            brows[thickness][f"brow_{side}"] = path
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "pictures").mkdir(parents=True)
    atlas, regions = digi_art.pack(list(pics.values()))
    Image.fromarray(atlas, "RGBA").save(OUT / "atlas.png", optimize=True)
    (OUT / "atlas.json").write_text(json.dumps({"schema": 1, "regions": regions}), encoding="utf-8")
    add_hulls(OUT)
    for p in pics.values():
        (OUT / "pictures" / f"{p.name}.svg").write_text(p.text, encoding="utf-8")
    doc = {
        "schema": SCHEMA,
        "rig": "digi",
        "face_shapes": {s: {"outline": outlines[s]} for s in FACE_SHAPES},
        "facial_hair": meshes,
        "brows": brows,
        "pictures": {
            p.path: {"svg": f"pictures/{p.name}.svg", "scale": p.scale} for p in pics.values()
        },
    }
    text = C.dumps(doc)
    json.loads(text)
    (OUT / "parts.json").write_text(text, encoding="utf-8")
    print(
        f"face parts: {len(outlines)} face shapes, {len(pics)} pictures, atlas "
        f"{atlas.shape[1]}x{atlas.shape[0]}"
    )


if __name__ == "__main__":
    main()
