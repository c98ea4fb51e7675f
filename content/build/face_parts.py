#!/usr/bin/env python3
"""Builds the face-part library: face shapes, facial hair, brows and eye shapes for Digi's rig.

    .venv/bin/python content/build/face_parts.py

Reads content/art/face/ (Digi's `world` frame and colours, see content/art/face/README.md)
and writes, deterministically:

- content/face/parts.json        the face shapes' outlines; per facial-hair style and face
                                 shape, the mesh worn on the slot `facial_hair`; per brow
                                 thickness, the pictures of the brow slots; per eye
                                 shape, its version of each of Digi's eye pictures
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
region attachments as is. An eye shape (`eyes/shapes.json`; Digi's own are round) is one
map per eye put on all twelve of Digi's eye pictures (white, iris, open/half/closed lids,
happy eye, both eyes), so the blink and the expressions keep fitting; the viewBoxes grow by
EYE_GROW about the same centre and the iris is clipped inside the white for every gaze.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import digi_art  # noqa: E402
import hair  # noqa: E402  (its grid meshes; importing it builds nothing)
import rigkit as C  # noqa: E402
from rigkit import normalise_weights, smoothstep  # noqa: E402

from engine.likeness.art import svg_viewbox  # noqa: E402
from engine.likeness.face_parts import (  # noqa: E402
    BROWS,
    EYE_PICTURES,
    EYES,
    FACE_SHAPES,
    FACIAL_HAIR,
    OWN_SHAPE,
    eye_path,
)

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
DIGI_ART = ROOT / "content" / "art" / "digi"
WHITE_D = re.compile(r'<path\s+id="w"\s+d="([^"]*)"')
IRIS_E = re.compile(r'<ellipse\s+id="i"\s+cx="([-\d.]+)"\s+cy="([-\d.]+)"')
STYLE_END = "</style>"
# units an eye picture's viewBox grows on every side over Digi's (same centre, so the rig's
# region attachments only grow): a longer or tilted eye needs the room
EYE_GROW = 4.0


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


def _numbers(d: str) -> np.ndarray:
    return np.array([float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)]).reshape(-1, 2)


def _matrix(m: np.ndarray) -> str:
    """An SVG matrix() of a 2x3 affine map [[a, c, e], [b, d, f]]."""
    a, c, e = m[0]
    b, d, f = m[1]
    return "matrix(" + ",".join(f"{v:.6g}" for v in (a, b, c, d, e, f)) + ")"


def _apply(m: np.ndarray, p: np.ndarray) -> np.ndarray:
    return m[:, :2] @ p + m[:, 2]


def eye_map(shape: dict, side: str, white_d: str) -> np.ndarray:
    """The 2x3 map (svg units) one eye shape puts on every picture of one of Digi's eyes:
    scale about the white's centre (or, pivot "top", about the top of the white, so the upper
    lid stays and the lower lid line rises), then lift the outer corner: its y falls by `lift`
    per unit towards the outside (+x for the far, left eye; -x for the near, right one)."""
    pts = _numbers(white_d)
    px = (pts[:, 0].min() + pts[:, 0].max()) / 2
    top, bottom = pts[:, 1].min(), pts[:, 1].max()
    py = top if shape["pivot"] == "top" else (top + bottom) / 2
    sx, sy = shape["scale"]
    out = 1.0 if side == "l" else -1.0
    lift = -out * shape["lift"] * sx
    a = np.array([[sx, 0.0], [lift, sy]])
    t = np.array([px, py]) - a @ np.array([px, py])
    return np.hstack([a, t[:, None]])


def _wrap(text: str, head: str, tail: str) -> str:
    """`text` (one of Digi's SVGs) with everything after its style wrapped in head...tail,
    and its viewBox grown by EYE_GROW on every side."""
    x, y, w, h = svg_viewbox(text)
    g = EYE_GROW
    box = f'viewBox="{x - g:g} {y - g:g} {w + 2 * g:g} {h + 2 * g:g}"'
    text = re.sub(r'viewBox="[^"]*"', box, text, count=1)
    i = text.index(STYLE_END) + len(STYLE_END)
    j = text.rindex("</svg>")
    return text[:i] + "\n  " + head + text[i:j] + tail + "\n" + text[j:]


def gaze_box(side: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """How far the iris moves (svg units: x, and y down) over the rig's gaze parameters:
    the bone eye_<side>'s x and y bindings (engine y is up, svg y down)."""
    rig = json.loads((ROOT / "rigs" / "digi" / "rig.json").read_text(encoding="utf-8"))
    ranges = {"x": [0.0], "y": [0.0]}
    for param in rig["parameters"]:
        for b in param["bindings"]:
            if b.get("bone") == f"eye_{side}" and b.get("property") in ranges:
                ranges[b["property"]] += [k[1] for k in b["keys"]]
    xs, ys = ranges["x"], [-v for v in ranges["y"]]
    return (min(xs), max(xs)), (min(ys), max(ys))


def eye_pictures(name: str, shape: dict) -> dict[str, str]:
    """Every picture of one eye shape: Digi's eye pictures under the shape's map; the iris
    only scaled (an iris stays upright) about where the map puts its centre, and clipped to
    the white eroded by the gaze's reach, so it stays inside the white wherever it looks."""
    out = {}
    for side in ("r", "l"):
        white = (DIGI_ART / f"eye_white_{side}.svg").read_text(encoding="utf-8")
        wd = WHITE_D.search(white).group(1)
        m = eye_map(shape, side, wd)
        for pic in EYE_PICTURES:
            if not pic.endswith(f"_{side}"):
                continue
            text = (DIGI_ART / f"{pic}.svg").read_text(encoding="utf-8")
            if not pic.startswith("iris_"):
                out[pic] = _wrap(text, f'<g transform="{_matrix(m)}">', "</g>")
                continue
            e = IRIS_E.search(text)
            c = np.array([float(e.group(1)), float(e.group(2))])
            k = shape["iris"]
            to = _apply(m, c)
            im = np.array([[k, 0.0, to[0] - k * c[0]], [0.0, k, to[1] - k * c[1]]])
            (x0, x1), (y0, y1) = gaze_box(side)
            corners = [(x, y) for x in (x0, x1) for y in (y0, y1)]
            clips = "".join(
                f'<clipPath id="gaze{n}"><path d="{wd}" transform="translate({-x:g},{-y:g}) '
                f'{_matrix(m)}"/></clipPath>'
                for n, (x, y) in enumerate(corners)
            )
            head = f"<defs>{clips}</defs>" + "".join(
                f'<g clip-path="url(#gaze{n})">' for n in range(len(corners))
            )
            head += f'<g transform="{_matrix(im)}">'
            out[pic] = _wrap(text, head, "</g>" * (len(corners) + 1))
    return out


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
    spec = json.loads((ART / "eyes" / "shapes.json").read_text(encoding="utf-8"))["shapes"]
    assert sorted(spec) == sorted(EYES), f"eyes/shapes.json: shapes {sorted(spec)}, not {EYES}"
    eyes: dict[str, dict[str, str]] = {}
    for name in EYES:
        eyes[name] = {}
        for pic, text in eye_pictures(name, spec[name]).items():
            x, y, w, h = svg_viewbox((DIGI_ART / f"{pic}.svg").read_text(encoding="utf-8"))
            # the same centre: the rig's region attachments keep their place, only grow
            g = EYE_GROW
            assert svg_viewbox(text) == (x - g, y - g, w + 2 * g, h + 2 * g), pic
            path = eye_path(name, pic)
            pics[path] = Pic(path, text, digi_art.FACE_SCALE)
            digi_art.check_margin(pics[path], pics[path].image)
            eyes[name][f"digi/{pic}"] = path
    width, height = hair.write_package(OUT, {p.name: p for p in pics.values()})
    doc = {
        "schema": SCHEMA,
        "rig": "digi",
        "face_shapes": {s: {"outline": outlines[s]} for s in FACE_SHAPES},
        "facial_hair": meshes,
        "brows": brows,
        "eye_shapes": eyes,
        "pictures": {
            p.path: {"svg": f"pictures/{p.name}.svg", "scale": p.scale} for p in pics.values()
        },
    }
    text = C.dumps(doc)
    json.loads(text)
    (OUT / "parts.json").write_text(text, encoding="utf-8")
    print(f"face parts: {len(outlines)} face shapes, {len(pics)} pictures, atlas {width}x{height}")


if __name__ == "__main__":
    main()
