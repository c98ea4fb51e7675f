"""glTF 2.0 binary (.glb): the avatar as textured meshes skinned to its bones, one animation
per take, for 3D tools and web viewers (three.js, Babylon.js, Blender, model-viewer).

What is written, and how our 2D rig maps onto glTF:
- units: 1 world unit = 1/300 m (METRES_PER_UNIT), so Digi stands about 1.75 m tall; y-up
  as glTF; the art lies in the z = 0 plane facing +z, each slot `Z_STEP` in front of the one
  before (draw order for viewers that sort by depth).
- joints: one node per bone, parent -> child; a joint's rest TRS is the job's still pose.
  The skin binds at the rig's setup pose (`setup_world_transforms`, IK off): a weighted mesh's
  per-bone local positions were made from that pose, so glTF's linear blend skinning
  (joint world x inverse bind x bind position) equals ours exactly.
- geometry: every attachment shown in some exported frame, as triangles in one mesh with one
  material: a region binds fully to its slot's bone, a mesh keeps its weights (<= 4). The
  parts' pictures (colour filters baked) are packed into one texture, each padded and with
  its colour bled into the transparent texels around it, so linear filtering of straight
  alpha leaves no dark fringe.
- draw order: primitives in slot order. three.js sorts transparent objects by depth, then
  by creation order; the skinned primitives all sit at z ~ 0, so it keeps ours. Runs of
  slots that never change are merged into one primitive (fewer draw calls; triangles in a
  draw call blend in order).
- colour: the slot's tint as COLOR_0 (linear, so tint x sRGB texture ~ our multiply in sRGB
  values); material unlit (KHR_materials_unlit), alpha BLEND, double-sided.
- visibility (attachment switches: blinks, mouth shapes, hands, a tool; slot alpha): glTF
  has no visibility channel, so each attachment that is not always shown gets a morph target
  "hide" that collapses its vertices onto one point (POSITION; the point its bones agree on
  best, `_pivot`) and takes its alpha away (COLOR_0 alpha -1), and one whose alpha fades gets
  a target "fade" (COLOR_0 alpha -1, weight 1 - alpha). The mesh's morph weights are keyed
  STEP at every frame. A viewer without COLOR_0 morphs still hides by collapsing (Digi's
  collapsed parts measure under 1e-4 px) and shows fades as on/off.
- parameter mesh deforms (a generated face's expressions and head turns): morph targets
  "deform k" on the deformed mesh (POSITION only). Each distinct deform state of a mesh over
  the exported frames (rest and takes, shown frames only, states equal within
  DEFORM_QUANTUM) is one target, weight 1 on the frames showing it (STEP; the rest frame's
  state is the mesh's default weights). A mesh with more than MAX_DEFORM_STATES states (a
  parameter swept continuously) gets an orthonormal basis of its states instead (their SVD;
  the states are blends of a few binding keys, so the basis is small and exact), weights the
  state's coordinates. Our offset d lies in the anchor (slot) bone's frame and is added
  after skinning; the target is A_bind d in bind space, exact where the vertices follow the
  anchor rigidly (a generated face's meshes: weighted to the head alone).
- animations: per take, every joint's T, R (about z), S keyed LINEAR at the take's frames,
  plus a closing key at `duration` (the first frame for a loop, the last held for a one-shot).
  A joint's local matrix is inverse(parent world, as glTF rebuilds it) x world of the baked
  frame (`local_trs`). A 2D affine with shear has no exact TRS: the shear is dropped (Digi's
  animations have at most ~0.6 degrees, from the neck's noScale under a squashed chest);
  vertices land at most ~1 px off at 512 px (land; tests/export/test_gltf.py measures it).
  Channels that never leave the rest value are left out.
- camera: an orthographic camera framing every take (`camera_for`) at the job's size.

Not carried: render styles (outline, bands), additive/multiply/screen blend modes (drawn as
normal), animated slot RGB (the first shown colour is kept). Deforms between frames are held
(STEP), not blended as our parameters would blend them."""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy.ndimage import distance_transform_edt

from engine.export.bake import BakedFrame, Take, animation_names
from engine.export.frames import camera_for
from engine.export.job import ExportError, Job, Output
from engine.export.pictures import part_picture, picture_key
from engine.export.subject import Subject
from engine.rig.data import MeshAttachment, RegionAttachment, RigData
from engine.rig.loader import setup_world_transforms

METRES_PER_UNIT = 1.0 / 300.0  # Digi (~530 units) stands ~1.75 m
Z_STEP = 1e-4  # metres between consecutive slots (draw order for depth-sorting viewers)
PAD = 2  # texels of bled colour around each packed picture (mipmaps and filtering)
TEXTURE_WIDTH = 2048
TEXTURE_MAX = 8192  # WebGL's common limit; beyond it the pictures do not fit one texture
CAMERA_DISTANCE = 10.0  # metres in front of the art
# How far a channel may stray from the rest value and still be left out, per path: 1e-5 m
# (0.003 units), a quaternion component of 1e-5 (~0.001 degrees), 1e-4 of scale (0.01 units
# along a 100-unit bone): all far below a pixel, and they keep out the crumbs that the
# dropped-shear compensation leaves on joints that do not really move.
EPS = {"translation": 1e-5, "rotation": 1e-5, "scale": 1e-4}
# Parameter mesh deforms: two states closer than DEFORM_QUANTUM units in every vertex are one
# (0.01 units is ~0.01 px at 512: invisible, and it keeps float noise from making new
# targets); a mesh with more than MAX_DEFORM_STATES states gets a basis of them instead, of
# the directions whose singular value is at least BASIS_TOL of the largest.
DEFORM_QUANTUM = 0.01
MAX_DEFORM_STATES = 32
BASIS_TOL = 1e-6

# glTF enums
FLOAT, UBYTE, USHORT, UINT = 5126, 5121, 5123, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
LINEAR_FILTER, LINEAR_MIPMAP_LINEAR, CLAMP = 9729, 9987, 33071
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def export_gltf(job: Job) -> list[Output]:
    """`<name>.glb`: the avatar, skinned, with one animation per take (default: every
    animation of the avatar)."""
    subject = job.subject
    names = job.take_names(default=animation_names(subject.bundle))
    takes: list[Take] = []
    for i, name in enumerate(names):
        job.report(0.6 * i / len(names), f"baking {name} ({i + 1}/{len(names)})")
        takes.append(job.take(name))
    job.report(0.6, "packing the pictures")
    rest = job.still().frames[0]
    camera = camera_for(takes, job.size)
    data = build_glb(subject, takes, rest, camera.rect, camera.width, camera.height, job)
    job.report(1.0, "glTF written")
    return [Output(f"{subject.name}.glb", data)]


# --- binary buffer and accessors ---------------------------------------------------------


class _Doc:
    """The glTF JSON being built and its one binary buffer."""

    def __init__(self) -> None:
        self.json: dict = {
            "asset": {"version": "2.0", "generator": "Digigami glTF export"},
            "buffers": [],
            "bufferViews": [],
            "accessors": [],
        }
        self.bin = bytearray()
        self._zeros: dict[tuple[int, str], int] = {}

    def view(self, data: bytes, target: int | None = None) -> int:
        while len(self.bin) % 4:  # every accessor's offset a multiple of its component size
            self.bin.append(0)
        v: dict = {"buffer": 0, "byteOffset": len(self.bin), "byteLength": len(data)}
        if target is not None:
            v["target"] = target
        self.bin += data
        self.json["bufferViews"].append(v)
        return len(self.json["bufferViews"]) - 1

    def accessor(
        self, array: np.ndarray, kind: str, target: int | None = None, bounds: bool = False
    ) -> int:
        """An accessor over a new buffer view holding `array` (any shape, `kind` elements in
        row order; float32 unless it is uint8/16/32)."""
        a = np.ascontiguousarray(array)
        ctype = {np.dtype(np.uint8): UBYTE, np.dtype(np.uint16): USHORT, np.dtype(np.uint32): UINT}
        if a.dtype not in ctype:
            a = a.astype(np.float32)
        count = a.size // _WIDTH[kind]
        acc: dict = {
            "bufferView": self.view(a.tobytes(), target),
            "componentType": ctype.get(a.dtype, FLOAT),
            "count": int(count),
            "type": kind,
        }
        if bounds:
            flat = a.reshape(count, _WIDTH[kind])
            acc["min"] = [_num(v) for v in flat.min(axis=0)]
            acc["max"] = [_num(v) for v in flat.max(axis=0)]
        self.json["accessors"].append(acc)
        return len(self.json["accessors"]) - 1

    def zeros(self, count: int, kind: str) -> int:
        """A float accessor of zeros without a buffer view (glTF: it reads as all zero),
        shared by every morph target that leaves a primitive alone."""
        key = (count, kind)
        if key not in self._zeros:
            acc = {"componentType": FLOAT, "count": count, "type": kind}
            if kind == "VEC3":  # POSITION targets need bounds
                acc["min"] = [0.0, 0.0, 0.0]
                acc["max"] = [0.0, 0.0, 0.0]
            self.json["accessors"].append(acc)
            self._zeros[key] = len(self.json["accessors"]) - 1
        return self._zeros[key]

    def glb(self) -> bytes:
        while len(self.bin) % 4:
            self.bin.append(0)
        self.json["buffers"] = [{"byteLength": len(self.bin)}]
        text = json.dumps(self.json, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 4)
        body = struct.pack("<II", len(text), 0x4E4F534A) + text
        body += struct.pack("<II", len(self.bin), 0x004E4942) + bytes(self.bin)
        return struct.pack("<III", 0x46546C67, 2, 12 + len(body)) + body


def _num(v: float) -> float | int:
    return int(v) if isinstance(v, np.integer) else float(v)


# --- what is shown ----------------------------------------------------------------------


@dataclass
class _Deform:
    """A mesh's parameter deforms as morph targets: `shapes[k]` is target k's offsets in the
    anchor bone's frame (units, what `BakedFrame.deform` holds). Either one target per
    distinct state (`states`: quantized state -> target; weights 0/1), or, for a mesh with
    more states than MAX_DEFORM_STATES, an orthonormal basis of them (`states` None;
    weights: the state's coordinates in it)."""

    rows: slice  # the mesh's rows in the skin buffers (and in `BakedFrame.deform`)
    shapes: np.ndarray  # (targets, vertices, 2)
    states: dict[bytes, int] | None
    residual: float = 0.0  # the largest state's distance from the basis (units)

    def weights(self, d: np.ndarray) -> np.ndarray:
        """The target weights showing deform offsets `d` (vertices, 2)."""
        w = np.zeros(len(self.shapes))
        if self.states is None:
            flat = self.shapes.reshape(len(self.shapes), -1)
            return flat @ d.reshape(-1) / np.einsum("ij,ij->i", flat, flat)
        k = self.states.get(_quantized(d))
        if k is not None:
            w[k] = 1.0
        return w


def _quantized(d: np.ndarray) -> bytes:
    """A deform state's identity: its offsets rounded to DEFORM_QUANTUM."""
    return np.round(np.asarray(d) / DEFORM_QUANTUM).astype(np.int64).tobytes()


@dataclass
class _Part:
    """One attachment that some exported frame shows."""

    slot: int
    name: str
    attachment: MeshAttachment | RegionAttachment
    tint: tuple[float, float, float]  # straight RGB 0..1 of the first frame showing it
    hides: bool = False  # some frame does not show it
    fades: bool = False  # some frame shows it with 0 < alpha < 1
    targets: list[int] = field(default_factory=list)  # [hide, fade] target indices
    deform: _Deform | None = None  # its parameter deforms, when a shown frame has one
    deform_targets: list[int] = field(default_factory=list)  # one per `deform.shapes`


def _parts(subject: Subject, frames: list[BakedFrame]) -> list[_Part]:
    """Every attachment shown in some frame, in draw order (slot, then name)."""
    rig = subject.rig
    found: dict[tuple[int, str], _Part] = {}
    for f in frames:
        for si, name in enumerate(f.attachments):
            if name is None or f.colors[si, 3] <= 0:
                continue
            key = (si, name)
            if key not in found:
                att = rig.attachments[si][name]
                found[key] = _Part(si, name, att, tuple(map(float, f.colors[si, :3])))
            if f.colors[si, 3] < 1.0:
                found[key].fades = True
    for part in found.values():
        part.hides = any(_alpha(f, part) <= 0 for f in frames)
        part.deform = _deforms(part, frames)
    return [
        found[k]
        for k in sorted(found, key=lambda k: (k[0], list(rig.attachments[k[0]]).index(k[1])))
    ]


def _deforms(part: _Part, frames: list[BakedFrame]) -> _Deform | None:
    """The part's distinct deform states over the frames that show it (None: never deformed
    while shown): one target each, or a basis of them when there are too many."""
    att = part.attachment
    if not isinstance(att, MeshAttachment):
        return None
    rows = slice(att.offset, att.offset + att.count)
    states: dict[bytes, np.ndarray] = {}
    for f in frames:
        if att.offset not in f.deformed or _alpha(f, part) <= 0:
            continue
        d = f.deform[rows]
        key = _quantized(d)
        if key not in states and np.abs(d).max() >= DEFORM_QUANTUM / 2:  # zero: no target
            states[key] = d.copy()
    if not states:
        return None
    shapes = np.stack(list(states.values()))
    if len(shapes) <= MAX_DEFORM_STATES:
        return _Deform(rows, shapes, {k: i for i, k in enumerate(states)})
    # Continuous deforms (a parameter swept through many values): the states span a small
    # space (each is a piecewise-linear blend of the bindings' keys), so an orthonormal
    # basis of it, scaled to the largest state, carries every state with few targets.
    flat = shapes.reshape(len(shapes), -1)
    _, sv, vt = np.linalg.svd(flat, full_matrices=False)
    keep = min(int((sv > sv[0] * BASIS_TOL).sum()), MAX_DEFORM_STATES)
    basis = vt[:keep] * sv[0] / np.sqrt(len(shapes))
    residual = flat - (flat @ vt[:keep].T) @ vt[:keep]
    worst = float(np.sqrt((residual.reshape(len(shapes), -1, 2) ** 2).sum(-1)).max())
    return _Deform(rows, basis.reshape(keep, -1, 2), None, worst)


def _alpha(frame: BakedFrame, part: _Part) -> float:
    """The part's alpha in a frame: 0 when its slot shows something else."""
    if frame.attachments[part.slot] != part.name:
        return 0.0
    return float(frame.colors[part.slot, 3])


def _morph_weights(parts: list[_Part], frame: BakedFrame, count: int) -> np.ndarray:
    """The mesh's morph weights showing `frame`: hide = 1 for a part not shown, fade =
    1 - alpha for one shown partly, and a shown part's deform weights (none while hidden,
    so a hidden part collapses onto its pivot undisturbed)."""
    w = np.zeros(count)
    for p in parts:
        a = _alpha(frame, p)
        if p.hides and a <= 0:
            w[p.targets[0]] = 1.0
        elif p.fades and a > 0:
            w[p.targets[-1]] = 1.0 - min(a, 1.0)
        if p.deform is not None and a > 0 and p.attachment.offset in frame.deformed:
            w[p.deform_targets] = p.deform.weights(frame.deform[p.deform.rows])
    return w


# --- pictures ----------------------------------------------------------------------------


def _bled(px: np.ndarray) -> np.ndarray:
    """A straight-RGBA picture padded by PAD transparent texels whose colour (and that of every
    transparent texel inside) is its nearest visible texel's: filtering then blends edges
    towards the part's own colour, never towards black."""
    out = np.pad(px, ((PAD, PAD), (PAD, PAD), (0, 0)))
    empty = out[..., 3] == 0
    if empty.all() or not empty.any():
        return out
    idx = distance_transform_edt(empty, return_distances=False, return_indices=True)
    out[..., :3] = out[idx[0], idx[1], :3]
    return out


def _pack(subject: Subject, parts: list[_Part]) -> tuple[np.ndarray, dict[tuple, tuple]]:
    """One texture holding every part's picture once (shelf packing, tallest first).
    Returns (texture straight RGBA, key -> (x, y, w, h) of the picture inside it)."""
    pictures: dict[tuple, np.ndarray] = {}
    for p in parts:
        slot = subject.rig.slots[p.slot].name
        key = picture_key(subject, slot, p.attachment.path)
        if key not in pictures:
            pictures[key] = _bled(part_picture(subject, slot, p.attachment.path))
    order = sorted(pictures, key=lambda k: -pictures[k].shape[0])
    width = 1 << (max(TEXTURE_WIDTH, *(pictures[k].shape[1] for k in order)) - 1).bit_length()
    place: dict[tuple, tuple] = {}
    x = y = shelf = 0
    for k in order:
        h, w = pictures[k].shape[:2]
        if x + w > width:
            x, y, shelf = 0, y + shelf, 0
        place[k] = (x, y, w, h)
        x, shelf = x + w, max(shelf, h)
    height = 1 << max(y + shelf - 1, 1).bit_length()  # powers of two: mipmaps everywhere
    if max(width, height) > TEXTURE_MAX:
        raise ExportError(
            f"the avatar's pictures need a {width}x{height} texture; glTF viewers take at "
            f"most {TEXTURE_MAX}x{TEXTURE_MAX}"
        )
    tex = np.zeros((height, width, 4), np.uint8)
    inner: dict[tuple, tuple] = {}
    for k, (x, y, w, h) in place.items():
        tex[y : y + h, x : x + w] = pictures[k]
        inner[k] = (x + PAD, y + PAD, w - 2 * PAD, h - 2 * PAD)
    return tex, inner


def _png(px: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(px, "RGBA").save(buf, "PNG", compress_level=6)
    return buf.getvalue()


# --- geometry ----------------------------------------------------------------------------


@dataclass
class _Geometry:
    """One attachment's triangles at the bind pose (metres) with its skin."""

    positions: np.ndarray  # (n, 3)
    uvs: np.ndarray  # (n, 2) into the packed texture
    joints: np.ndarray  # (n, 4) uint8/uint16
    weights: np.ndarray  # (n, 4)
    colors: np.ndarray  # (n, 4) linear RGBA
    triangles: np.ndarray  # (m, 3)


_QUAD = np.array([[0, 1, 2], [0, 2, 3]], np.int64)


def _linear(c: float) -> float:
    """sRGB -> linear (COLOR_0 is linear in glTF)."""
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _geometry(
    subject: Subject, part: _Part, bind: np.ndarray, rect: tuple, tex_size: tuple[int, int]
) -> _Geometry:
    rig = subject.rig
    att = part.attachment
    if isinstance(att, RegionAttachment):
        w = bind[rig.slots[part.slot].bone]
        c = att.corners
        xy = np.stack(
            [w[0] * c[:, 0] + w[1] * c[:, 1] + w[4], w[2] * c[:, 0] + w[3] * c[:, 1] + w[5]], 1
        )
        joints = np.zeros((4, 4), np.int64)
        joints[:, 0] = rig.slots[part.slot].bone
        weights = np.zeros((4, 4))
        weights[:, 0] = 1.0
        tris = _QUAD
    else:
        sl = slice(att.offset, att.offset + att.count)
        xy = np.asarray(att.setup_vertices, np.float64)
        joints = np.where(rig.skin_weights[sl] > 0, rig.skin_bones[sl], 0)
        weights = rig.skin_weights[sl] / rig.skin_weights[sl].sum(axis=1, keepdims=True)
        tris = np.asarray(att.triangles, np.int64)
    n = xy.shape[0]
    z = np.full((n, 1), part.slot * Z_STEP)
    x0, y0, pw, ph = rect
    uv = np.asarray(att.uvs, np.float64)
    uvs = np.stack([(x0 + uv[:, 0] * pw) / tex_size[0], (y0 + uv[:, 1] * ph) / tex_size[1]], 1)
    color = np.array([*(_linear(c) for c in part.tint), 1.0])
    return _Geometry(
        positions=np.concatenate([xy * METRES_PER_UNIT, z], 1),
        uvs=uvs,
        joints=joints,
        weights=weights,
        colors=np.tile(color, (n, 1)),
        triangles=tris,
    )


def _merge(geoms: list[_Geometry]) -> _Geometry:
    base = np.cumsum([0] + [g.positions.shape[0] for g in geoms[:-1]])
    return _Geometry(
        positions=np.concatenate([g.positions for g in geoms]),
        uvs=np.concatenate([g.uvs for g in geoms]),
        joints=np.concatenate([g.joints for g in geoms]),
        weights=np.concatenate([g.weights for g in geoms]),
        colors=np.concatenate([g.colors for g in geoms]),
        triangles=np.concatenate([g.triangles + b for g, b in zip(geoms, base, strict=True)]),
    )


def _primitive(doc: _Doc, g: _Geometry, material: int, joint_type: type) -> dict:
    n = g.positions.shape[0]
    index_type = np.uint16 if n < 65536 else np.uint32
    return {
        "attributes": {
            "POSITION": doc.accessor(g.positions, "VEC3", ARRAY_BUFFER, bounds=True),
            "TEXCOORD_0": doc.accessor(g.uvs, "VEC2", ARRAY_BUFFER),
            "COLOR_0": doc.accessor(g.colors, "VEC4", ARRAY_BUFFER),
            "JOINTS_0": doc.accessor(g.joints.astype(joint_type), "VEC4", ARRAY_BUFFER),
            "WEIGHTS_0": doc.accessor(g.weights, "VEC4", ARRAY_BUFFER),
        },
        "indices": doc.accessor(
            g.triangles.reshape(-1).astype(index_type), "SCALAR", ELEMENT_ARRAY_BUFFER
        ),
        "material": material,
        "mode": 4,
    }


def _targets(
    doc: _Doc, g: _Geometry, mine: dict[int, str | np.ndarray], count: int, pivot: np.ndarray
) -> list[dict]:
    """Morph targets of a primitive: `mine` maps this primitive's own targets to their kind
    ("hide" or "fade") or, for a deform, to its bind-space displacement (n, 2 metres); every
    other target leaves it alone (shared zero accessors). A hide collapses the part onto
    `pivot` (metres, bind pose): its slot bone's origin, which the bone's own turns leave in
    place, so the collapsed part stays nearly a point even where its vertices weigh that bone
    and its parent differently."""
    n = g.positions.shape[0]
    out = []
    for t in range(count):
        kind = mine.get(t)
        if kind is None:
            out.append({"POSITION": doc.zeros(n, "VEC3"), "COLOR_0": doc.zeros(n, "VEC4")})
            continue
        if not isinstance(kind, str):  # a deform moves the vertices, colour untouched
            pos = np.zeros((n, 3))
            pos[:, :2] = kind
            out.append(
                {
                    "POSITION": doc.accessor(pos, "VEC3", ARRAY_BUFFER, bounds=True),
                    "COLOR_0": doc.zeros(n, "VEC4"),
                }
            )
            continue
        pos = np.zeros((n, 3))
        if kind == "hide":  # collapse onto the pivot (in the part's own z plane)
            pos[:, :2] = pivot - g.positions[:, :2]
        col = np.zeros((n, 4))
        col[:, 3] = -1.0
        out.append(
            {
                "POSITION": doc.accessor(pos, "VEC3", ARRAY_BUFFER, bounds=True),
                "COLOR_0": doc.accessor(col, "VEC4", ARRAY_BUFFER),
            }
        )
    return out


# --- joints and animation ----------------------------------------------------------------


def _matrices(world: np.ndarray) -> np.ndarray:
    """(bones, 6) engine world rows -> (bones, 3, 3) affine matrices, translation in metres."""
    m = np.zeros((world.shape[0], 3, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = (
        world[:, 0],
        world[:, 1],
        world[:, 2],
        world[:, 3],
    )
    m[:, 0, 2], m[:, 1, 2] = world[:, 4] * METRES_PER_UNIT, world[:, 5] * METRES_PER_UNIT
    m[:, 2, 2] = 1.0
    return m


def local_trs(parent: np.ndarray, world: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each joint's T (..., n, 3), R (quaternion xyzw, ..., n, 4) and S (..., n, 3) from world
    rows (..., n, 6) of one frame or a stack of frames.

    local = inverse(parent's world as glTF composes it) x world, split as translate . rotate(z)
    . scale. The shear (no TRS holds it) is dropped: the x axis keeps its direction and length,
    the y axis its signed area (determinant). Taking the parent's world as glTF rebuilds it
    (shear dropped) rather than the engine's keeps every joint's origin exact and stops one
    joint's dropped shear from bending its children: each joint errs by its own shear only."""
    m = _matrices(world.reshape(-1, 6)).reshape(*world.shape[:-1], 3, 3)
    n = world.shape[-2]
    t = np.zeros((*world.shape[:-1], 3))
    r = np.zeros((*world.shape[:-1], 4))
    s = np.ones((*world.shape[:-1], 3))
    rebuilt = np.zeros_like(m)  # each joint's world as glTF composes it
    for j in range(n):  # parents come before their children
        p = parent[j]
        local = (
            np.linalg.inv(rebuilt[..., p, :, :]) @ m[..., j, :, :] if p >= 0 else m[..., j, :, :]
        )
        a, b, c, d = local[..., 0, 0], local[..., 0, 1], local[..., 1, 0], local[..., 1, 1]
        theta = np.arctan2(c, a)
        sx = np.hypot(a, c)
        sy = (a * d - b * c) / np.maximum(sx, 1e-12)
        t[..., j, 0], t[..., j, 1] = local[..., 0, 2], local[..., 1, 2]
        r[..., j, 2], r[..., j, 3] = np.sin(theta / 2), np.cos(theta / 2)
        s[..., j, 0], s[..., j, 1] = sx, sy
        trs = np.zeros_like(local)
        cos, sin = np.cos(theta), np.sin(theta)
        trs[..., 0, 0], trs[..., 0, 1] = cos * sx, -sin * sy
        trs[..., 1, 0], trs[..., 1, 1] = sin * sx, cos * sy
        trs[..., :2, 2] = local[..., :2, 2]
        trs[..., 2, 2] = 1.0
        rebuilt[..., j, :, :] = rebuilt[..., p, :, :] @ trs if p >= 0 else trs
    return t, r, s


def _continuous(r: np.ndarray) -> np.ndarray:
    """Quaternion keys (frames, joints, 4) flipped into one hemisphere key to key, so a
    viewer's slerp takes the short way."""
    r = r.copy()
    for i in range(1, r.shape[0]):
        flip = (r[i] * r[i - 1]).sum(-1) < 0
        r[i, flip] *= -1
    return r


def _animation(
    doc: _Doc, take: Take, parent: np.ndarray, rest: tuple, parts: list[_Part], n_targets: int,
    mesh_node: int,
) -> dict:  # fmt: skip
    frames = list(take.frames)
    closing = frames[0] if take.loop else frames[-1]
    keyed = [*frames, closing]
    times = np.arange(len(keyed)) * take.frame_time
    t, r, s = local_trs(parent, np.stack([f.world for f in keyed]))
    series = {"translation": t, "rotation": _continuous(r), "scale": s}
    time_acc = doc.accessor(times, "SCALAR", bounds=True)
    samplers: list[dict] = []
    channels: list[dict] = []

    def add(node: int, path: str, values: np.ndarray, interpolation: str = "LINEAR") -> None:
        kind = {"translation": "VEC3", "rotation": "VEC4", "scale": "VEC3"}.get(path, "SCALAR")
        samplers.append(
            {
                "input": time_acc,
                "output": doc.accessor(values, kind),
                "interpolation": interpolation,
            }
        )
        channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})

    for path, k in (("translation", 0), ("rotation", 1), ("scale", 2)):
        values = series[path]  # (keys, joints, w)
        for j in range(values.shape[1]):
            v = values[:, j]
            if np.abs(v - rest[k][j]).max() <= EPS[path]:
                continue  # never leaves the rest value: the node's own TRS holds it
            add(j, path, v)
    if n_targets:
        w = np.stack([_morph_weights(parts, f, n_targets) for f in keyed])
        add(mesh_node, "weights", w.reshape(-1), "STEP")
    return {"name": take.name, "samplers": samplers, "channels": channels}


# --- the document ------------------------------------------------------------------------


def _pivot(g: _Geometry, bind: np.ndarray, worlds: np.ndarray) -> np.ndarray:
    """Where a hidden part collapses (metres, bind pose): of its bones' origins and its
    centre, the point that stays tightest over every exported frame. A vertex weighted to
    several bones carries the point by their blend, so the collapsed part is a point only
    where those bones agree on it (a child's origin under a parent that does not stretch);
    Digi's parts collapse to at most ~1e-5 px this way."""
    bones = np.unique(g.joints[g.weights > 0])
    xy = g.positions[:, :2] / METRES_PER_UNIT
    candidates = [bind[b, 4:6] for b in bones] + [(xy.min(0) + xy.max(0)) / 2]
    inv = np.linalg.inv(_matrices(bind))  # metres; worlds are converted the same way
    m = _matrices(worlds.reshape(-1, 6)).reshape(*worlds.shape[:2], 3, 3)[:, bones]
    carry = m @ inv[bones]  # (frames, bones, 3, 3): bind -> frame, per bone
    column = {int(b): k for k, b in enumerate(bones)}
    idx = np.vectorize(column.get)(np.where(g.weights > 0, g.joints, bones[0]))

    def spread(c: np.ndarray) -> float:
        at = carry[..., :2, :2] @ (c * METRES_PER_UNIT) + carry[..., :2, 2]  # (frames, bones, 2)
        v = (at[:, idx] * g.weights[None, :, :, None]).sum(2)  # (frames, vertices, 2)
        return float(np.ptp(v, axis=1).max())

    best = min(candidates, key=spread)
    return best * METRES_PER_UNIT


def _deform_shapes(rig: RigData, part: _Part, bind: np.ndarray) -> list[np.ndarray]:
    """The part's deform targets as bind-space displacements (n, 2 metres). Our offset d is
    added after skinning as A(frame) d, A the anchor bone's world linear part; a glTF target
    is added before skinning, so it becomes sum_i w_i J_i(frame) Delta. With Delta = A(bind) d
    the two agree exactly where the vertex follows its anchor rigidly (J_i = A(frame)
    A(bind)^-1 for all its bones); elsewhere the error is that of the bones' differing turns
    applied to d (measured by tests/export/test_gltf.py)."""
    assert part.deform is not None
    anchor = bind[rig.skin_anchor[part.deform.rows]]  # (n, 6)
    out = []
    for d in part.deform.shapes:
        x = anchor[:, 0] * d[:, 0] + anchor[:, 1] * d[:, 1]
        y = anchor[:, 2] * d[:, 0] + anchor[:, 3] * d[:, 1]
        out.append(np.stack([x, y], 1) * METRES_PER_UNIT)
    return out


def _groups(parts: list[_Part]) -> list[list[_Part]]:
    """Primitives: a part with morph targets alone, runs of parts without them merged."""
    out: list[list[_Part]] = []
    for p in parts:
        alone = p.targets or p.deform_targets
        if not alone and out and not (out[-1][0].targets or out[-1][0].deform_targets):
            out[-1].append(p)
        else:
            out.append([p])
    return out


def build_glb(
    subject: Subject,
    takes: list[Take],
    rest: BakedFrame,
    rect: tuple[float, float, float, float],
    width: int,
    height: int,
    job: Job | None = None,
) -> bytes:
    """The .glb bytes: `takes` as animations, `rest` as the nodes' own pose, and an
    orthographic camera showing world `rect` at width x height."""
    rig = subject.rig
    report = job.report if job else (lambda f, t: None)
    all_frames = [rest, *(f for t in takes for f in t.frames)]
    worlds = np.stack([f.world for f in all_frames])
    parts = _parts(subject, all_frames)
    n_targets = 0
    for p in parts:
        if p.hides:
            p.targets.append(n_targets)
            n_targets += 1
        if p.fades:
            p.targets.append(n_targets)
            n_targets += 1
        if p.deform is not None:
            k = len(p.deform.shapes)
            p.deform_targets = list(range(n_targets, n_targets + k))
            n_targets += k

    doc = _Doc()
    texture, places = _pack(subject, parts)
    tex_size = (texture.shape[1], texture.shape[0])
    report(0.7, "writing the meshes")
    image_view = doc.view(_png(texture))
    doc.json["images"] = [{"bufferView": image_view, "mimeType": "image/png"}]
    doc.json["samplers"] = [
        {
            "magFilter": LINEAR_FILTER,
            "minFilter": LINEAR_MIPMAP_LINEAR,
            "wrapS": CLAMP,
            "wrapT": CLAMP,
        }
    ]
    doc.json["textures"] = [{"sampler": 0, "source": 0}]
    doc.json["materials"] = [
        {
            "name": "art",
            "pbrMetallicRoughness": {
                "baseColorTexture": {"index": 0},
                "metallicFactor": 0.0,
                "roughnessFactor": 1.0,
            },
            "alphaMode": "BLEND",
            "doubleSided": True,
            "extensions": {"KHR_materials_unlit": {}},
        }
    ]
    doc.json["extensionsUsed"] = ["KHR_materials_unlit"]

    bind = setup_world_transforms(rig)
    joint_type = np.uint8 if len(rig.bones) < 256 else np.uint16
    primitives = []
    for group in _groups(parts):
        geoms = []
        for p in group:
            key = picture_key(subject, rig.slots[p.slot].name, p.attachment.path)
            geoms.append(_geometry(subject, p, bind, places[key], tex_size))
        g = _merge(geoms)
        prim = _primitive(doc, g, 0, joint_type)
        # which attachment each vertex range is: for tools, and for the tests' checks
        starts = np.cumsum([0] + [x.positions.shape[0] for x in geoms[:-1]])
        prim["extras"] = {
            "parts": [
                [rig.slots[p.slot].name, p.name, int(a), int(x.positions.shape[0])]
                for p, x, a in zip(group, geoms, starts, strict=True)
            ]
        }
        if n_targets:
            mine: dict[int, str | np.ndarray] = {}
            p = group[0]
            if p.targets:
                kinds = (["hide"] if p.hides else []) + (["fade"] if p.fades else [])
                mine.update(zip(p.targets, kinds, strict=True))
            if p.deform_targets:
                shapes = _deform_shapes(rig, p, bind)
                mine.update(zip(p.deform_targets, shapes, strict=True))
            pivot = _pivot(g, bind, worlds)
            prim["targets"] = _targets(doc, g, mine, n_targets, pivot)
        primitives.append(prim)
    target_names = [
        f"{kind} {rig.slots[p.slot].name}/{p.name}"
        for p in parts
        for kind in (["hide"] if p.hides else [])
        + (["fade"] if p.fades else [])
        + [f"deform {k}" for k in range(len(p.deform_targets))]
    ]
    mesh: dict = {"name": subject.name, "primitives": primitives}
    if n_targets:
        mesh["weights"] = [float(v) for v in _morph_weights(parts, rest, n_targets)]
        mesh["extras"] = {"targetNames": target_names}  # three.js and Blender name them
    doc.json["meshes"] = [mesh]

    # joints: node j is bone j; then the mesh node and the camera node
    parent = rig.parent
    rt, rr, rs = local_trs(parent, rest.world)
    nodes: list[dict] = []
    for b in rig.bones:
        node: dict = {"name": b.name}
        j = b.index
        if np.abs(rt[j]).max() > 0:
            node["translation"] = [float(v) for v in rt[j]]
        if abs(rr[j, 2]) > 0:
            node["rotation"] = [float(v) for v in rr[j]]
        if np.abs(rs[j] - 1).max() > 0:
            node["scale"] = [float(v) for v in rs[j]]
        kids = [c.index for c in rig.bones if c.parent == j]
        if kids:
            node["children"] = kids
        nodes.append(node)
    mesh_node = len(nodes)
    nodes.append({"name": f"{subject.name}_art", "mesh": 0, "skin": 0})
    inv = np.linalg.inv(_matrices(bind))
    ibm = np.zeros((len(rig.bones), 4, 4))
    ibm[:, :2, :2] = inv[:, :2, :2]
    ibm[:, :2, 3] = inv[:, :2, 2]
    ibm[:, 2, 2] = ibm[:, 3, 3] = 1.0
    # column-major: each matrix written transposed
    doc.json["skins"] = [
        {
            "name": f"{subject.name}_skeleton",
            "joints": list(range(len(rig.bones))),
            "skeleton": 0,
            "inverseBindMatrices": doc.accessor(
                np.transpose(ibm, (0, 2, 1)).reshape(-1, 16), "MAT4"
            ),
        }
    ]
    x0, y0, x1, y1 = (v * METRES_PER_UNIT for v in rect)
    camera_node = len(nodes)
    nodes.append(
        {
            "name": "camera",
            "camera": 0,
            "translation": [(x0 + x1) / 2, (y0 + y1) / 2, CAMERA_DISTANCE],
        }
    )
    doc.json["cameras"] = [
        {
            "name": f"{width}x{height}",
            "type": "orthographic",
            "orthographic": {
                "xmag": (x1 - x0) / 2,
                "ymag": (y1 - y0) / 2,
                "znear": 0.01,
                "zfar": 2 * CAMERA_DISTANCE,
            },
        }
    ]
    roots = [b.index for b in rig.bones if b.parent < 0]
    doc.json["nodes"] = nodes
    doc.json["scenes"] = [{"name": subject.name, "nodes": [*roots, mesh_node, camera_node]}]
    doc.json["scene"] = 0

    rest_trs = (rt, rr, rs)
    anims = []
    for i, take in enumerate(takes):
        report(0.75 + 0.25 * i / max(len(takes), 1), f"writing animation {take.name}")
        anims.append(_animation(doc, take, parent, rest_trs, parts, n_targets, mesh_node))
    if anims:
        doc.json["animations"] = anims
    return doc.glb()


__all__ = ["METRES_PER_UNIT", "build_glb", "export_gltf", "local_trs"]
