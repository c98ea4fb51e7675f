#!/usr/bin/env python3
"""Builds the hairstyle part library: Digi's hair slots dressed in other hairstyles.

    .venv/bin/python content/build/hair.py [style ...]     (default: every style)

Reads the SVGs in content/art/hair/<style>/ (Digi's `world` frame and hair colours, see
content/art/hair/README.md) and writes, per style, deterministically:

- content/hair/<style>/style.json       classes, attachments on Digi's bones, hidden slots
                                        (format: content/README.md, "Hairstyles");
- content/hair/<style>/atlas.{png,json} the pictures in Digi's default hair colours, with
                                        opaque hulls (engine/atlas.py's format);
- content/hair/<style>/pictures/*.svg   each picture's final SVG (recoloured and
                                        re-rasterized at run time: engine/likeness/hair.py).

A picture's file name says where it goes:

- `back`: the mass behind the head (slot hair_back, drawn behind the body), skinned to the
  head and, below the nape, to the hair_back chain;
- `side_l` / `side_r`: the far / near side locks (slots hair_side_l behind the face,
  hair_side_r in front of it), along the hair_side_* chains;
- `top`: the hair over the skull (slot hair_top): its front on the parallax bone
  hair_top (like the fringe), its back on the head; the build derives `top_hat`, the part
  a cap leaves showing (Digi's sprite library swaps it in with a hat);
- `front_1` .. `front_5`: fringe locks along the hair_front_* chains;
- `forehead`: the shadow the hair casts on the forehead; the build draws Digi's head with
  it instead of the shadow of Digi's own fringe (slot head).

A hair slot without a picture is hidden. Hair longer than a chain is skinned to the chain's
last link, so it swings. The style `digi` is Digi's own hair, copied from
rigs/digi/rig.json and content/art/digi/ so the default character can be rebuilt from the
library.
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

import digi  # noqa: E402  (Digi's skeleton and hair chains; importing it builds nothing)
import digi_art  # noqa: E402
import rigkit as C  # noqa: E402
from atlas_hulls import add_hulls  # noqa: E402
from rigkit import Mesh, normalise_weights, partition, smoothstep  # noqa: E402

from engine.likeness.art import picture_size, rasterize_svg, svg_viewbox  # noqa: E402

ART = ROOT / "content" / "art" / "hair"
DIGI_ART = ROOT / "content" / "art" / "digi"
OUT = ROOT / "content" / "hair"
RIG = ROOT / "rigs" / "digi" / "rig.json"
SCHEMA = 1


# classes: length short|ear|chin|shoulder|long, fringe none|side|full,
# texture straight|wavy|curly, volume low|medium|high, parting none|left|right|centre
# (the character's own side: right is the near side, screen left), bald none|shaved|bald
def _classes(length, fringe, texture, volume, parting="none", bald="none"):
    return dict(
        length=length, fringe=fringe, texture=texture, volume=volume, parting=parting, bald=bald
    )


STYLES: dict[str, dict[str, str]] = {
    "digi": _classes("chin", "full", "straight", "high"),
    "bald": _classes("short", "none", "straight", "low", bald="bald"),
    "buzz": _classes("short", "none", "straight", "low", bald="shaved"),
    "crop": _classes("short", "full", "straight", "low"),
    "slick": _classes("short", "none", "straight", "low"),
    "side_part": _classes("short", "side", "straight", "medium", "right"),
    "curly_short": _classes("short", "none", "curly", "medium"),
    "afro": _classes("ear", "none", "curly", "high"),
    "shaggy": _classes("ear", "full", "straight", "medium"),
    "bob": _classes("chin", "full", "straight", "medium"),
    "wavy_bob": _classes("chin", "side", "wavy", "medium", "left"),
    "shoulder": _classes("shoulder", "none", "straight", "medium", "centre"),
    "shoulder_wavy": _classes("shoulder", "side", "wavy", "medium", "right"),
    "long": _classes("long", "full", "straight", "medium"),
    "long_wavy": _classes("long", "none", "wavy", "high", "centre"),
    "long_curly": _classes("long", "side", "curly", "high", "left"),
}
# how much of the hair chains' turn the sides and the back follow, by length: longer hair is
# heavier and swings through smaller angles (the fringe locks always follow in full)
SWAY = {"short": 1.0, "ear": 0.85, "chin": 0.7, "shoulder": 0.6, "long": 0.5}
# styles drawn close to the skull: their top and back follow the head alone (no parallax,
# no swing), so the cap never slides off the head's outline
CLOSE_CROPPED = {"bald", "buzz"}

HAIR_SLOTS = (
    "hair_back",
    "hair_side_l",
    "hair_side_r",
    "hair_top",
    *(f"hair_front_{k}" for k in range(1, 6)),
)
SK = digi.SK
LONG_CALM = 0.4  # how much of the length past a chain's end stays with the link before last
# mesh grid spacing (art units) per picture: fine along the locks that bend, coarse over
# the masses whose weights change slowly
CELL = {"top": 20.0, "top_hat": 20.0, "back": 18.0, "side_l": 12.0, "side_r": 12.0}
LOCK_CELL = 10.0


class Pic(digi_art.Picture):
    """A hairstyle picture: its atlas path is hair/<style>/<name>."""

    def __init__(self, style: str, name: str, text: str, scale: float) -> None:
        super().__init__(name, "world", svg_viewbox(text), scale)
        self.style = style
        self.text = text
        self.image = rasterize_svg(text, picture_size(self.vb, scale))

    @property
    def path(self) -> str:
        return f"hair/{self.style}/{self.name}"


# --------------------------------------------------------------------------------------
# skinning


def _chain_world(pts_art) -> list[np.ndarray]:
    return [np.array(digi.w(p)) for p in pts_art]


def chain_position(q: np.ndarray, pw: list[np.ndarray]) -> float:
    """Arc length along a chain (0 at its root) of the point of the chain nearest to q; the
    first and last segments extend beyond the ends."""
    best, best_s, cum = math.inf, 0.0, 0.0
    n = len(pw) - 1
    for i in range(n):
        a, b = pw[i], pw[i + 1]
        d = b - a
        L = float(np.hypot(*d))
        t = float(np.dot(q - a, d)) / (L * L)
        lo = -math.inf if i == 0 else 0.0
        hi = math.inf if i == n - 1 else 1.0
        t = min(max(t, lo), hi)
        dist = float(np.hypot(*(a + d * t - q)))
        if dist < best:
            best, best_s = dist, cum + t * L
        cum += L
    return best_s


def chain_weights(q: np.ndarray, chain: str, parent: str, pts_art, root_hw: float = 5.0):
    """Parent above the root, then the links; beyond the chain's end, the last link, shared
    more and more with the link before it: hair longer than the chain swings from the last
    joint, but the springs' angles (set for Digi's short locks) do not fling its far end."""
    pw = _chain_world(pts_art)
    lens = [float(np.hypot(*(pw[k + 1] - pw[k]))) for k in range(len(pw) - 1)]
    joints = [root_hw * 0.5] + [sum(lens[: k + 1]) for k in range(len(lens) - 1)]
    hws = [root_hw] + [9.0] * (len(lens) - 1)
    bones = [parent] + [f"{chain}_{k + 1}" for k in range(len(lens))]
    s = chain_position(q, pw)
    ws = partition(s, joints, hws, bones)
    beyond = s - sum(lens)
    if beyond <= 0 or len(bones) < 3:
        return ws
    calm = LONG_CALM * smoothstep(beyond / 80.0)
    return normalise_weights([(b, x * (1 - calm)) for b, x in ws] + [(bones[-2], calm)])


def front_weights(k: int):
    return lambda q: chain_weights(q, f"hair_front_{k}", "hair_top", digi.FRONT_LOCKS[k])


def swayed(ws, parent: str, sway: float):
    """Weights along a chain, of which only `sway` follows the chain and the rest its
    parent: heavy hair turns through smaller angles than Digi's locks, which the clips and
    springs are tuned for."""
    return normalise_weights([(b, x * sway) for b, x in ws] + [(parent, 1.0 - sway)])


def side_weights(side: str, sway: float = 1.0):
    chain = f"hair_side_{side}"
    return lambda q: swayed(
        chain_weights(q, chain, "head", digi.SIDE_LOCKS[side], 8.0), "head", sway
    )


def back_weights(sway: float = 1.0):
    """The mass round the skull stays on the head; what hangs behind the nape (towards -x)
    and below the jaw swings on the hair_back chain."""

    def wf(q: np.ndarray):
        ws = chain_weights(q, "hair_back", "head", digi.BACK_CHAIN, 12.0)
        k = max(smoothstep((-q[0] - 20.0) / 40.0), smoothstep((330.0 - q[1]) / 40.0))
        k *= smoothstep((360.0 - q[1]) / 30.0) * sway  # the crown never swings
        return normalise_weights([(b, x * k) for b, x in ws] + [("head", 1.0 - k)])

    return wf


def top_weights(q: np.ndarray):
    """The back of the cap on the head (it must cover the skull's outline); the front, with
    the fringe roots, on hair_top, which the head-turn parameters move for parallax."""
    k = smoothstep((q[0] + 75.0) / 35.0)
    return normalise_weights([("hair_top", k), ("head", 1.0 - k)])


def grid_mesh(p: Pic, weight_fn) -> Mesh:
    """A grid over the picture, less the cells that show nothing."""
    x, y, w, h = p.vb
    cell = CELL.get(p.name, LOCK_CELL)
    nx = max(2, math.ceil(w / cell) + 1)
    ny = max(2, math.ceil(h / cell) + 1)
    xs = [x + w * i / (nx - 1) for i in range(nx)]
    ys = [y + h * j / (ny - 1) for j in range(ny)]
    alpha = p.image[..., 3]
    H, W = alpha.shape

    def shows(i: int, j: int) -> bool:
        c0 = max(math.floor((xs[i] - x) / w * W) - 2, 0)
        c1 = min(math.ceil((xs[i + 1] - x) / w * W) + 2, W)
        r0 = max(math.floor((ys[j] - y) / h * H) - 2, 0)
        r1 = min(math.ceil((ys[j + 1] - y) / h * H) + 2, H)
        return bool(alpha[r0:r1, c0:c1].any())

    cells = [(i, j) for j in range(ny - 1) for i in range(nx - 1) if shows(i, j)]
    index: dict[tuple[int, int], int] = {}
    m = Mesh(p.path)

    def vert(i: int, j: int) -> int:
        if (i, j) not in index:
            index[(i, j)] = len(m.vertices)
            q = np.array(digi.w((xs[i], ys[j])))
            m.vertices.append(q)
            m.uvs.append(p.uv(xs[i], ys[j]))
            m.weights.append(weight_fn(q))
        return index[(i, j)]

    for i, j in cells:
        a, b, c, d = vert(i, j), vert(i + 1, j), vert(i + 1, j + 1), vert(i, j + 1)
        m.triangles += [(a, b, c), (a, c, d)]
    leak = digi_art.coverage_leak(p, [[m.uvs[v] for v in t] for t in m.triangles])
    assert leak < 1e-3, f"{p.path}: {leak:.2%} of the art lies outside its mesh"
    return m


# --------------------------------------------------------------------------------------
# derived pictures

# the part of the top hair a cap leaves showing: below the cap's band (content/art/digi/
# hat_cap.svg, on the hat bone, which moves with hair_top), and the back of the head
HAT_CLIP = (
    "M -400,-400 L -400,600 L 400,600 L 400,90 L 74,90 C 30,82 -30,84 -66,96 "
    "C -70,80 -72,70 -78,60 L -400,60 Z"
)


def with_hat(text: str) -> str:
    """The top picture clipped to what a cap leaves showing."""
    head, sep, body = text.partition("</defs>")
    if not sep:
        raise ValueError("a top picture needs a <defs> block (see content/art/hair/README.md)")
    body = body.rsplit("</svg>", 1)[0]
    clip = f'  <clipPath id="under-hat"><path d="{HAT_CLIP}"/></clipPath>\n'
    head = head.rstrip() + "\n" + clip
    return f'{head}</defs>\n  <g clip-path="url(#under-hat)">{body}  </g>\n</svg>\n'


FRINGE_SHADOW = re.compile(
    r'(<!-- shadow cast by the fringe -->\s*)<path class="shade" d="[^"]*"/>'
)


def head_with(forehead: str) -> str:
    """Digi's head with the style's forehead shadow instead of the one her fringe casts."""
    shadows = "".join(re.findall(r'<path class="shade" d="[^"]*"/>', forehead))
    text, n = FRINGE_SHADOW.subn(
        lambda m: m.group(1) + shadows, (DIGI_ART / "head.svg").read_text()
    )
    assert n == 1, "content/art/digi/head.svg lost its fringe shadow marker"
    return text


# --------------------------------------------------------------------------------------


def sources(style: str) -> dict[str, tuple[str, float]]:
    """Picture name -> (svg text, texels per art unit)."""
    s = digi_art.SCALE
    if style == "digi":
        out = {n: (DIGI_ART / f"{n}.svg").read_text() for n in HAIR_SLOTS}
        out["hair_top_hat"] = (DIGI_ART / "hair_top_hat.svg").read_text()
        return {n: (t, s) for n, t in out.items()}
    d = ART / style
    files = {f.stem: f.read_text(encoding="utf-8") for f in sorted(d.glob("*.svg"))}
    allowed = {"back", "side_l", "side_r", "top", "forehead", *(f"front_{k}" for k in range(1, 6))}
    unknown = set(files) - allowed
    assert not unknown, f"{d}: unknown pictures {sorted(unknown)}"
    out = {n: (t, s) for n, t in files.items() if n != "forehead"}
    if "top" in files:
        out["top_hat"] = (with_hat(files["top"]), s)
    if "forehead" in files:
        out["head"] = (head_with(files["forehead"]), digi_art.HEAD_SCALE)
    return out


def on_head(q: np.ndarray):
    return [("head", 1.0)]


def attachments(style: str, pics: dict[str, Pic], rig: dict) -> dict[str, dict]:
    """Slot -> attachment name -> attachment (rig schema 1), named as Digi's are so that
    the sprite library and clips resolve unchanged."""
    A: dict[str, dict] = {}
    if style == "digi":
        for slot in HAIR_SLOTS:
            A[slot] = {}
            for name, att in rig["attachments"][slot].items():
                A[slot][name] = dict(att, path=pics[att["path"].split("/", 1)[1]].path)
        return A
    sway = SWAY[STYLES[style]["length"]]
    role = {
        "back": ("hair_back", "hair_back", back_weights(sway)),
        "side_l": ("hair_side_l", "hair_side_l", side_weights("l", sway)),
        "side_r": ("hair_side_r", "hair_side_r", side_weights("r", sway)),
        "top": ("hair_top", "hair_top", top_weights),
        "top_hat": ("hair_top", "hair_top_hat", top_weights),
    }
    role |= {
        f"front_{k}": (f"hair_front_{k}", f"hair_front_{k}", front_weights(k)) for k in range(1, 6)
    }
    if style in CLOSE_CROPPED:
        for name in ("back", "top", "top_hat"):
            role[name] = (*role[name][:2], on_head)
    for name, p in pics.items():
        if name == "head":
            att = dict(rig["attachments"]["head"]["head"], path=p.path)
            A.setdefault("head", {})["head"] = att
            continue
        slot, an, wf = role[name]
        A.setdefault(slot, {})[an] = grid_mesh(p, wf).to_json()
    return A


def write_package(out: Path, pics: dict) -> tuple[int, int]:
    """A part package's pictures, replacing what `out` held: `atlas.{png,json}` (packed,
    with hulls) and `pictures/<name>.svg` (each picture's final SVG) for name -> picture.
    Returns the atlas's (width, height)."""
    if out.exists():
        shutil.rmtree(out)
    (out / "pictures").mkdir(parents=True)
    atlas, regions = digi_art.pack(list(pics.values()))
    Image.fromarray(atlas, "RGBA").save(out / "atlas.png", optimize=True)
    (out / "atlas.json").write_text(json.dumps({"schema": 1, "regions": regions}), encoding="utf-8")
    add_hulls(out)
    for name, p in pics.items():
        (out / "pictures" / f"{name}.svg").write_text(p.text, encoding="utf-8")
    return atlas.shape[1], atlas.shape[0]


def build(style: str, rig: dict) -> dict:
    srcs = sources(style)
    pics = {n: Pic(style, n, t, s) for n, (t, s) in srcs.items()}
    for p in pics.values():
        digi_art.check_margin(p, p.image)
    atts = attachments(style, pics, rig)
    hides = [s for s in HAIR_SLOTS if s not in atts]
    out = OUT / style
    size = write_package(out, pics)
    doc = {
        "schema": SCHEMA,
        "name": style,
        "rig": "digi",
        "classes": STYLES[style],
        "pictures": {
            p.path: {"svg": f"pictures/{n}.svg", "scale": p.scale} for n, p in pics.items()
        },
        "attachments": {s: atts[s] for s in sorted(atts)},
        "hides": hides,
    }
    text = C.dumps(doc)
    json.loads(text)
    (out / "style.json").write_text(text, encoding="utf-8")
    ntris = sum(
        len(a["triangles"]) if a["type"] == "mesh" else 2
        for per in atts.values()
        for a in per.values()
    )
    return {"pictures": len(pics), "triangles": ntris, "atlas": size, "hides": hides}


def main(names: list[str]) -> None:
    rig = json.loads(RIG.read_text(encoding="utf-8"))
    for n in names or STYLES:
        if n not in STYLES:
            raise SystemExit(f'unknown style "{n}" (known: {", ".join(STYLES)})')
        st = build(n, rig)
        print(
            f"{n}: {st['pictures']} pictures, {st['triangles']} triangles, atlas "
            f"{st['atlas'][0]}x{st['atlas'][1]}, hides {', '.join(st['hides']) or 'nothing'}"
        )
    stale = {d.name for d in OUT.iterdir() if d.is_dir()} - set(STYLES) if OUT.exists() else set()
    for d in sorted(stale):
        shutil.rmtree(OUT / d)


if __name__ == "__main__":
    main(sys.argv[1:])
