"""Lottie (bodymovin 5.x JSON) export: one `<take>.json` per animation, played by lottie-web,
rlottie and the other Lottie players.

What is written, and why this shape:
- One composition per take, `job.size` square, y-down pixels through the take's camera
  (`frames.camera_for`), `fr` = 1 / frame_time so the take's frames are whole Lottie frames,
  `op` = the frame count. A loop gets one extra key at `op` equal to its first frame, so a
  player interpolating between frames runs smoothly over the seam.
- The parts' pictures as image assets embedded as PNG data URIs (`e: 1`): one file plays
  anywhere. Colour filters and a slot's constant colour tint are baked into the picture (image
  layers cannot tint without effects, which rlottie ignores); deduplicated.
- A null layer per bone, parented along the bone hierarchy under one "camera" null that maps
  world units to pixels. Each bone's transform relative to its parent
  (inverse(parent world) x world, mirrored into y-down) is keyed per frame as
  position / rotation / scale (Spine bones here carry no shear, so no skew is needed).
- An image layer per (slot, attachment) seen in the take, in draw order (Lottie draws its
  first layer on top, so the list is reversed), parented to the slot's bone. Attachment
  switches (blinks, mouth shapes) and slot alpha are opacity keys (hold keys where the
  attachment appears or disappears).
- Weighted meshes: an image layer cannot deform, so each mesh is cut into pieces, one per
  dominant bone (each triangle goes to the bone with most weight over its corners); each
  piece is the mesh's picture clipped by a mask (the piece's outline, widened a little so
  neighbouring pieces overlap instead of cracking) and placed by the least-squares affine
  that maps its picture points onto its skinned vertices, keyed per frame relative to its
  bone. A piece bends rigidly: skinning's smooth blend across a joint becomes a fold. That
  affine may need skew (`sk`, `sa` 0): lottie-web draws it, rlottie ignores skew.

Lottie's layer transform (lottie-web TransformProperty.applyToMatrix), for a point p in the
layer: p' = T(position) . R(rotation, clockwise on screen) . Skew(sk) . S(scale/100) .
T(-anchor) p, with Skew(sk) (sa = 0) = [[1, -tan sk], [0, 1]]. `_decompose` inverts exactly
that.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.export.bake import Take
from engine.export.frames import Camera, camera_for
from engine.export.job import ExportError, Job, Output
from engine.export.pictures import part_picture, picture_key
from engine.rig.data import BlendMode, MeshAttachment, RigData

VERSION = "5.7.4"
MAX_LAYERS = 4000  # players slow to a crawl well before this; a rig this big is an error
WIDEN = 4.0  # picture pixels a mesh piece's mask is widened by (covers joint cracks)
TOL = 0.01  # a transform key is left out when a straight ramp passes this close (px, deg, %)
EPS = 1e-4  # a property varying less than this over the take is written once, unkeyed
# Lottie's blend modes ("bm") for ours; additive is Lottie's "add" (16).
BLEND = {BlendMode.NORMAL: 0, BlendMode.MULTIPLY: 1, BlendMode.SCREEN: 2, BlendMode.ADDITIVE: 16}
FLIP = np.diag([1.0, -1.0, 1.0])  # y-up <-> y-down

Matrix = np.ndarray  # (3, 3) affine, column vectors


# --- affine helpers ---------------------------------------------------------------------------


def _world(row: np.ndarray) -> Matrix:
    """A world row (a, b, c, d, x, y) as a 3x3 matrix."""
    a, b, c, d, x, y = (float(v) for v in row)
    return np.array([[a, b, x], [c, d, y], [0.0, 0.0, 1.0]])


def _inverse(m: Matrix) -> Matrix:
    det = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    if abs(det) < 1e-12:  # a bone scaled to nothing: keep its children finite
        m = m.copy()
        m[0, 0] += 1e-6
        m[1, 1] += 1e-6
    return np.linalg.inv(m)


def _fit(src: np.ndarray, dst: np.ndarray) -> Matrix:
    """The least-squares affine mapping points `src` (n, 2) onto `dst` (n, 2); exact for a
    region's corners."""
    a = np.hstack([src, np.ones((len(src), 1))])
    sol, *_ = np.linalg.lstsq(a, dst, rcond=None)
    m = np.eye(3)
    m[:2, :] = sol.T
    return m


def _decompose(m: Matrix) -> tuple[float, float, float, float, float, float]:
    """(x, y, rotation deg, skew deg, scale x %, scale y %) with
    m = T(x, y) . R(rotation) . Skew(skew) . S(sx, sy): a QR split (scale x is the length of
    the first column, a reflection goes into scale y)."""
    c0 = m[:2, 0]
    sx = float(math.hypot(*c0))
    r = math.atan2(c0[1], c0[0])
    cos, sin = math.cos(r), math.sin(r)
    u01 = cos * m[0, 1] + sin * m[1, 1]  # R^T m: [[sx, t*sy], [0, sy]]
    sy = -sin * m[0, 1] + cos * m[1, 1]
    t = u01 / sy if abs(sy) > 1e-12 else 0.0
    return (
        float(m[0, 2]),
        float(m[1, 2]),
        math.degrees(r),
        -math.degrees(math.atan(t)),
        sx * 100.0,
        sy * 100.0,
    )


# --- keyed properties -------------------------------------------------------------------------


def _num(v: float) -> float:
    return round(float(v), 3)


def _reduce(values: np.ndarray, tol: float) -> list[int]:
    """The frames to key: a frame is left out when the linear ramp between its kept
    neighbours passes within `tol` of every frame it spans (the first and last stay)."""
    kept = [0]
    for i in range(1, len(values) - 1):
        a, b = kept[-1], i + 1
        t = (np.arange(a, b + 1) - a)[:, None] / (b - a)
        ramp = values[a] + (values[b] - values[a]) * t
        if np.abs(ramp - values[a : b + 1]).max() > tol:
            kept.append(i)
    kept.append(len(values) - 1)
    return kept


def _prop(
    values: np.ndarray,
    end: np.ndarray | None = None,
    hold: Sequence[bool] | None = None,
    tol: float = 0.0,
) -> dict:
    """A Lottie property from one value (row) per frame: unkeyed when it does not vary,
    else a linear key per frame (`hold[i]`: jump at frame i+1 instead) and a closing key at
    frame n holding `end` (a loop's first frame, so the seam interpolates like any other
    frame step; else the last frame). With `tol` (and no holds), keys a straight ramp
    reproduces are left out."""
    values = np.asarray(values, np.float64).reshape(len(values), -1)
    last = values[-1] if end is None else np.asarray(end, np.float64).reshape(-1)
    scalar = values.shape[1] == 1

    def val(row: np.ndarray) -> list[float]:
        return [_num(v) for v in row]

    if np.ptp(np.vstack([values, last]), axis=0).max() < EPS:
        return {"a": 0, "k": val(values[0])[0] if scalar else val(values[0])}
    ease_out, ease_in = {"x": [0], "y": [0]}, {"x": [1], "y": [1]}
    rows = np.vstack([values, last])
    frames = _reduce(rows, tol) if tol > 0 and hold is None else range(len(rows))
    keys = []
    for i in frames:
        if i == len(values):
            break
        key: dict = {"t": i, "s": val(values[i])}
        if hold is not None and hold[i]:
            key["h"] = 1
        else:
            key["o"], key["i"] = ease_out, ease_in
        keys.append(key)
    keys.append({"t": len(values), "s": val(last)})
    return {"a": 1, "k": keys}


def _transform(mats: list[Matrix], loop: bool, opacity: dict | None = None) -> dict:
    """Keyed `ks` for one relative matrix per frame. Rotation is unwrapped so a key never
    spins the long way round; a loop's closing key (its first frame again) continues it."""
    n = len(mats)
    parts = np.array([_decompose(m) for m in [*mats, mats[0] if loop else mats[-1]]])
    parts[:, 2] = np.degrees(np.unwrap(np.radians(parts[:, 2])))

    def prop(cols: slice) -> dict:
        return _prop(parts[:n, cols], parts[n, cols], tol=TOL)

    ks: dict = {
        "a": {"a": 0, "k": [0, 0, 0]},
        "p": prop(slice(0, 2)),
        "r": prop(slice(2, 3)),
        "s": prop(slice(4, 6)),
        "o": opacity or {"a": 0, "k": 100},
    }
    if np.abs(parts[:, 3]).max() > 1e-3:
        ks["sk"] = prop(slice(3, 4))
        ks["sa"] = {"a": 0, "k": 0}
    return ks


# --- what each image layer shows ------------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    """One image layer: a slot attachment, or one bone's piece of a weighted mesh."""

    slot: int
    attachment: str
    bone: int  # the bone layer it is parented to
    triangles: np.ndarray | None  # the mesh triangles it shows (None: all of it)


def _pieces(rig: RigData, slot: int, name: str) -> list[_Piece]:
    att = rig.attachments[slot][name]
    if not isinstance(att, MeshAttachment):
        return [_Piece(slot, name, rig.slots[slot].bone, None)]
    bones = rig.skin_bones[att.offset : att.offset + att.count]
    weights = rig.skin_weights[att.offset : att.offset + att.count]
    tris = np.asarray(att.triangles)
    # each triangle's weight per bone, summed over its corners
    owner = []
    for tri in tris:
        score: dict[int, float] = {}
        for v in tri:
            for b, w in zip(bones[v], weights[v], strict=True):
                score[int(b)] = score.get(int(b), 0.0) + float(w)
        owner.append(max(score, key=lambda b: score[b]))
    owner_arr = np.array(owner)
    found = sorted(set(owner), key=owner.index)
    if len(found) == 1:
        return [_Piece(slot, name, found[0], None)]
    return [_Piece(slot, name, b, tris[owner_arr == b]) for b in found]


def _outline(tris: np.ndarray) -> list[list[int]]:
    """The boundary loops of a triangle set (edges used by one triangle, chained)."""
    count: dict[tuple[int, int], int] = {}
    directed: dict[int, list[int]] = {}
    for a, b, c in tris.tolist():
        for u, v in ((a, b), (b, c), (c, a)):
            key = (min(u, v), max(u, v))
            count[key] = count.get(key, 0) + 1
    for a, b, c in tris.tolist():
        for u, v in ((a, b), (b, c), (c, a)):
            if count[(min(u, v), max(u, v))] == 1:
                directed.setdefault(u, []).append(v)
    loops = []
    while directed:
        start = next(iter(directed))
        loop, u = [start], start
        while True:
            v = directed[u].pop()
            if not directed[u]:
                del directed[u]
            if v == start or v not in directed:
                break
            loop.append(v)
            u = v
        if len(loop) >= 3:
            loops.append(loop)
    return loops


def _widen(points: np.ndarray, by: float) -> np.ndarray:
    """A closed polygon moved outward by `by` along its corners' mean normals."""
    area = 0.5 * np.sum(
        points[:, 0] * np.roll(points[:, 1], -1) - np.roll(points[:, 0], -1) * points[:, 1]
    )
    out = []
    n = len(points)
    for i in range(n):
        prev, nxt = points[i - 1], points[(i + 1) % n]
        d = nxt - prev
        norm = np.array([d[1], -d[0]]) * (1 if area > 0 else -1)
        length = float(np.hypot(*norm))
        out.append(points[i] + (norm / length * by if length > 1e-9 else 0))
    return np.array(out)


def _masks(piece: _Piece, uvs: np.ndarray, size: tuple[int, int]) -> list[dict]:
    if piece.triangles is None:
        return []
    pix = uvs * np.array(size, np.float64)
    masks = []
    for i, loop in enumerate(_outline(piece.triangles)):
        pts = _widen(pix[loop], WIDEN)
        zero = [[0, 0]] * len(pts)
        masks.append({
            "inv": False, "mode": "a", "nm": f"piece {i}",
            "pt": {"a": 0, "k": {"c": True, "v": [[_num(x), _num(y)] for x, y in pts],
                                 "i": zero, "o": zero}},
            "o": {"a": 0, "k": 100}, "x": {"a": 0, "k": 0},
        })  # fmt: skip
    return masks


# --- one take ---------------------------------------------------------------------------------


def _png_uri(px: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(px, "RGBA").save(buf, "PNG", optimize=False, compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


class _Builder:
    """Builds one take's composition."""

    def __init__(self, job: Job, take: Take, camera: Camera) -> None:
        self.job, self.take, self.camera = job, take, camera
        self.subject = job.subject
        self.rig = job.subject.rig
        self.n = len(take.frames)
        self.assets: list[dict] = []
        self._asset_ids: dict[tuple, str] = {}
        # layer `ind`s: the camera null, then one per bone
        self.camera_ind = 1
        self.bone_ind = {b: 2 + b for b in range(len(self.rig.bones))}
        self.next_ind = 2 + len(self.rig.bones)
        # each bone's layer space -> y-down world, per frame (G = F . W . F)
        self.bone_mats = [
            [FLIP @ _world(f.world[b]) @ FLIP for f in take.frames]
            for b in range(len(self.rig.bones))
        ]

    def camera_layer(self) -> dict:
        """y-down world units -> pixels: a uniform scale and a shift (the camera's rect)."""
        x0, _, _, y1 = self.camera.rect
        s = self.camera.scale
        m = np.array([[s, 0, -x0 * s], [0, s, y1 * s], [0, 0, 1.0]])
        return self._layer(3, "camera", self.camera_ind, None, _transform([m] * self.n, False))

    def bone_layers(self) -> list[dict]:
        out = []
        for bone in self.rig.bones:
            mats = self.bone_mats[bone.index]
            if bone.parent >= 0:
                pm = self.bone_mats[bone.parent]
                mats = [_inverse(p) @ m for p, m in zip(pm, mats, strict=True)]
            parent = self.bone_ind[bone.parent] if bone.parent >= 0 else self.camera_ind
            ks = _transform(mats, self.take.loop)
            out.append(self._layer(3, bone.name, self.bone_ind[bone.index], parent, ks))
        return out

    def _layer(self, ty: int, name: str, ind: int, parent: int | None, ks: dict) -> dict:
        layer = {"ddd": 0, "ind": ind, "ty": ty, "nm": name, "sr": 1, "ks": ks, "ao": 0,
                 "ip": 0, "op": self.n, "st": 0, "bm": 0}  # fmt: skip
        if parent is not None:
            layer["parent"] = parent
        return layer

    def _asset(
        self, slot: int, path: str, tint: tuple[float, float, float]
    ) -> tuple[str, tuple[int, int]]:
        name = self.rig.slots[slot].name
        key = (picture_key(self.subject, name, path), tint)
        px = part_picture(self.subject, name, path)
        h, w = px.shape[:2]
        if key not in self._asset_ids:
            if tint != (1.0, 1.0, 1.0):  # the slot's colour multiplies the picture
                px = px.copy()
                rgb = px[..., :3].astype(np.float64) * np.array(tint)
                px[..., :3] = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
            aid = f"image_{len(self.assets)}"
            self.assets.append({"id": aid, "w": w, "h": h, "u": "", "p": _png_uri(px), "e": 1})
            self._asset_ids[key] = aid
        return self._asset_ids[key], (w, h)

    def image_layers(self) -> list[dict]:
        """Every (slot, attachment) drawn in the take, top of the draw order first."""
        items: dict[tuple[int, str], list] = {}  # (slot, attachment) -> its DrawItem per frame
        for i, f in enumerate(self.take.frames):
            for d in f.draw:
                items.setdefault((d.slot, d.attachment), [None] * self.n)[i] = d
        # a rig's draw order is its slot order (the bake keeps it; no draw-order keys)
        order = sorted(items, key=lambda k: k[0])
        out: list[dict] = []
        for key in reversed(order):
            for piece in reversed(_pieces(self.rig, *key)):
                out.append(self._image_layer(piece, items[key]))
        if len(out) + len(self.rig.bones) > MAX_LAYERS:
            raise ExportError(f"the avatar needs more than {MAX_LAYERS} Lottie layers")
        return out

    def _image_layer(self, piece: _Piece, draws: list) -> dict:
        rig, n = self.rig, self.n
        slot = piece.slot
        att = rig.attachments[slot][piece.attachment]
        shown = [d is not None for d in draws]
        colors = np.array([d.color for d in draws if d is not None], np.float64)
        tint = tuple(round(float(v), 3) for v in colors[:, :3].mean(axis=0))
        aid, size = self._asset(slot, att.path, tint)  # type: ignore[arg-type]
        first = next(d for d in draws if d is not None)
        uvs = np.asarray(first.uvs, np.float64)
        verts_idx = (
            np.unique(piece.triangles) if piece.triangles is not None else np.arange(len(uvs))
        )
        src = uvs[verts_idx] * np.array(size, np.float64)
        mats: list[Matrix | None] = []
        for i, d in enumerate(draws):
            if d is None:
                mats.append(None)
                continue
            to_world = FLIP @ _fit(src, np.asarray(d.vertices, np.float64)[verts_idx])
            mats.append(_inverse(self.bone_mats[piece.bone][i]) @ to_world)
        mats = _fill(mats)
        alpha = np.array([d.color[3] * 100 if d is not None else 0.0 for d in draws])
        hold = [shown[i] != shown[(i + 1) % n] for i in range(n)]
        end = alpha[0] if self.take.loop else alpha[-1]
        ks = _transform(mats, self.take.loop, _prop(alpha[:, None], end, hold))
        nm = rig.slots[slot].name + "/" + piece.attachment
        if piece.triangles is not None:
            nm += "@" + rig.bones[piece.bone].name
        layer = self._layer(2, nm, self.next_ind, self.bone_ind[piece.bone], ks)
        self.next_ind += 1
        layer["refId"] = aid
        layer["bm"] = BLEND.get(rig.slots[slot].blend, 0)
        masks = _masks(piece, uvs, size)
        if masks:
            layer["hasMask"] = True
            layer["masksProperties"] = masks
        return layer

    def build(self) -> dict:
        images = self.image_layers()
        nulls = [self.camera_layer(), *self.bone_layers()]
        return {
            "v": VERSION, "nm": f"{self.subject.name} {self.take.name}", "ddd": 0,
            "fr": _num(1.0 / self.take.frame_time), "ip": 0, "op": self.n,
            "w": self.camera.width, "h": self.camera.height,
            "assets": self.assets, "layers": images + nulls, "markers": [],
        }  # fmt: skip


def _fill(mats: list[Matrix | None]) -> list[Matrix]:
    """Frames where a layer is hidden keep its nearest shown frame's placement (no keys move
    a hidden picture, so it reappears where it should)."""
    shown = [i for i, m in enumerate(mats) if m is not None]
    return [
        m if m is not None else mats[min(shown, key=lambda j: abs(j - i))]
        for i, m in enumerate(mats)
    ]  # type: ignore[misc]


def composition(job: Job, take: Take, camera: Camera | None = None) -> dict:
    """One take as a Lottie composition (a JSON-ready dict)."""
    if not take.frames or not any(f.draw for f in take.frames):
        raise ExportError(f'animation "{take.name}" draws nothing')
    camera = camera or camera_for(take, job.size)
    return _Builder(job, take, camera).build()


def export_lottie(job: Job) -> list[Output]:
    """One `<take>.json` per animation asked for (default: idle)."""
    names = job.take_names()
    out = []
    for i, name in enumerate(names):
        job.report(i / len(names), f"baking {name}")
        take = job.take(name)
        job.report((i + 0.5) / len(names), f"writing {name} as Lottie")
        doc = composition(job, take)
        out.append(Output(f"{take.name}.json", json.dumps(doc, separators=(",", ":")).encode()))
    job.report(1.0, "Lottie done")
    return out
