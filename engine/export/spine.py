"""Spine 4.2 export: `<name>.json` (skeleton, skin, IK, baked animations), `<name>.atlas`
(libGDX/Spine text atlas) and its PNG pages.

Our bone model *is* Spine's (engine/kernels/transform.py), so bones, slots and attachments map
one to one. Animations are not: the state machine, parameter bindings, IK and springs have
no (or no exact) Spine counterpart, so every take is **baked** from its frames' applied local
transforms (IK and springs already in them) and written as Spine 4 timelines relative to the
setup pose, with key reduction: a key is dropped where the Spine runtime's own Bezier curve
(the 10-segment polyline it evaluates, Animation.ts `setBezier`) reproduces the frames in
between within `TOLERANCE`. IK constraints are written (a user can pose with them) but every
animation keys their mix to 0: the bones are already solved. docs/EXPORT.md ("Spine") says
what is carried and what is not.

Format reference: Spine's JSON format page and spine-runtimes 4.2's `SkeletonJson.ts`,
`Animation.ts` and `TextureAtlas.ts` (read, not copied).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.export.bake import BakedFrame, Take, animation_names, still
from engine.export.job import ExportError, Job, Output
from engine.export.pictures import part_picture, picture_key
from engine.export.subject import Subject
from engine.kernels.layout import INHERIT_NAMES, WA, WB, WC, WD, WX, WY
from engine.kernels.skinning import skin_reference
from engine.pose.pose import Pose
from engine.rig.data import IkSolver, MeshAttachment, RegionAttachment, RigData

SPINE_VERSION = "4.2.40"  # `skeleton.spine`: the editor version the data is for (4.2 runtimes)
PAGE_MAX = 2048  # an atlas page's larger side (what every GPU and Spine runtime loads)
PAD = 2  # transparent pixels around each picture in a page, so linear filtering never bleeds

# Key reduction: the most a reduced timeline may differ from the baked frames, per value
# unit. Rotation and shear are degrees: 2e-5 deg moves a point 500 units away by 1.7e-4, so
# a chain of bones stays within 1e-3 of our world transforms. Scale is a factor (a child
# 500 units out moves 5e-4 per 1e-6). Colours are 0..1 channels: within one 8-bit step.
TOLERANCE = {"rotate": 2e-5, "translate": 1e-4, "scale": 1e-6, "shear": 2e-5, "rgba": 1 / 255}
DIGITS = 6  # decimals written for values and curve handles (their error counts in the check)
TIME_DIGITS = 8  # decimals written for times (frame times are not round numbers)
BEZIER_SEGMENTS = 10  # Spine evaluates a Bezier as this many straight pieces (BEZIER_SIZE 18)

BLEND_NAMES = ("normal", "additive", "multiply", "screen")  # engine.rig.data.BlendMode order


def export_spine(job: Job) -> list[Output]:
    """Spine 4.2 JSON + atlas + pages for the job's animations (default: every animation)."""
    subject = job.subject
    name = subject.name
    job.report(0.0, "packing the parts' pictures")
    atlas = pack_atlas(subject, name)
    job.report(0.1, "writing the skeleton")
    rest = setup_slots(subject)
    doc = skeleton_json(subject, rest, atlas.region_of, atlas.mesh_order, job.fps)
    names = job.take_names(default=animation_names(subject.bundle))
    anims: dict[str, dict] = {}
    for i, anim in enumerate(names):
        job.report(0.1 + 0.8 * i / len(names), f"baking {anim} ({i + 1}/{len(names)})")
        take = job.take(anim)
        anims[take.name] = animation_json(subject.rig, rest, take, atlas.mesh_order)
    doc["animations"] = anims
    job.report(0.95, "writing the files")
    outputs = [Output(f"{name}.json", dump(doc)), Output(f"{name}.atlas", atlas.text.encode())]
    outputs += [Output(p, data) for p, data in atlas.pages]
    job.report(1.0, "Spine files written")
    return outputs


def dump(doc: dict) -> bytes:
    """The JSON with its `skeleton.hash` (a digest of the rest, as Spine writes one)."""
    body = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    digest = base64.b64encode(hashlib.sha1(body.encode()).digest()).decode()[:11]
    doc["skeleton"] = {"hash": digest, **doc["skeleton"]}
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


# --- atlas ------------------------------------------------------------------------------------


@dataclass
class PackedAtlas:
    text: str  # the .atlas file
    pages: list[tuple[str, bytes]]  # (file name, PNG)
    regions: dict[tuple, str]  # picture_key -> region name
    slot_keys: dict[tuple[str, str], tuple]  # (slot name, atlas path) -> picture_key
    mesh_order: dict[tuple[int, str], np.ndarray]  # (slot, mesh name) -> exported vertex order

    def region_of(self, slot: str, path: str) -> str:
        return self.regions[self.slot_keys[(slot, path)]]


def pack_atlas(subject: Subject, name: str) -> PackedAtlas:
    """Every attachment's picture (colour filters baked, equal ones once) packed into pages."""
    rig = subject.rig
    pictures: dict[tuple, np.ndarray] = {}
    regions: dict[tuple, str] = {}
    slot_keys: dict[tuple[str, str], tuple] = {}
    used: Counter[str] = Counter()
    for slot in rig.slots:
        for att in rig.attachments[slot.index].values():
            key = picture_key(subject, slot.name, att.path)
            slot_keys[(slot.name, att.path)] = key
            if key not in pictures:
                pictures[key] = part_picture(subject, slot.name, att.path)
                # One path under several colour filters: later ones get a suffix.
                used[att.path] += 1
                n = used[att.path]
                regions[key] = att.path if n == 1 else f"{att.path}~{n}"
    keys = sorted(pictures, key=lambda k: (-pictures[k].shape[0], regions[k]))
    places, sizes = _shelf_pack([pictures[k].shape[1::-1] for k in keys], regions, keys)
    page_names = [f"{name}.png" if i == 0 else f"{name}_{i + 1}.png" for i in range(len(sizes))]
    canvases = [np.zeros((h, w, 4), np.uint8) for w, h in sizes]
    lines: list[str] = []
    for p, (w, h) in enumerate(sizes):
        if p:
            lines.append("")
        lines += [page_names[p], f"size: {w},{h}", "format: RGBA8888",
                  "filter: Linear,Linear", "pma: false"]  # fmt: skip
        for k, (page, x, y) in zip(keys, places, strict=True):
            if page != p:
                continue
            px = pictures[k]
            ph, pw = px.shape[:2]
            canvases[p][y : y + ph, x : x + pw] = px
            lines += [regions[k], f"bounds: {x},{y},{pw},{ph}"]
    pages = []
    for fname, canvas in zip(page_names, canvases, strict=True):
        buf = io.BytesIO()
        Image.fromarray(canvas, "RGBA").save(buf, "PNG", optimize=False)
        pages.append((fname, buf.getvalue()))
    order = {
        (slot.index, att.name): hull_order(att.triangles, att.count)
        for slot in rig.slots
        for att in rig.attachments[slot.index].values()
        if isinstance(att, MeshAttachment)
    }
    return PackedAtlas("\n".join(lines) + "\n", pages, regions, slot_keys, order)


def _shelf_pack(
    sizes: Sequence[tuple[int, int]], regions: dict[tuple, str], keys: Sequence[tuple]
) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
    """Shelves (tallest first) in the narrowest power-of-two width that fits one page, else
    several PAGE_MAX pages. Returns each picture's (page, x, y) and each page's (w, h)."""
    for (w, h), k in zip(sizes, keys, strict=True):
        if w + 2 * PAD > PAGE_MAX or h + 2 * PAD > PAGE_MAX:
            raise ExportError(
                f'the picture "{regions[k]}" ({w}x{h}) is larger than a Spine atlas page '
                f"({PAGE_MAX}x{PAGE_MAX})"
            )
    area = sum((w + 2 * PAD) * (h + 2 * PAD) for w, h in sizes)
    width = 64
    while width < PAGE_MAX and width * width < area:
        width *= 2
    while True:
        places, heights = _shelves(sizes, width)
        if len(heights) == 1 or width >= PAGE_MAX:
            return places, [(width, h) for h in heights]
        width *= 2


def _shelves(sizes: Sequence[tuple[int, int]], width: int) -> tuple[list, list[int]]:
    places: list[tuple[int, int, int]] = []
    heights: list[int] = []
    page, x, y, shelf = 0, 0, 0, 0
    for w, h in sizes:
        cw, ch = w + 2 * PAD, h + 2 * PAD
        if x + cw > width:  # next shelf
            x, y, shelf = 0, y + shelf, 0
        if y + ch > PAGE_MAX:  # next page
            heights.append(y)
            page, x, y, shelf = page + 1, 0, 0, 0
        places.append((page, x + PAD, y + PAD))
        x += cw
        shelf = max(shelf, ch)
    heights.append(y + shelf)
    return places, heights


def hull_order(triangles: np.ndarray, count: int) -> np.ndarray:
    """A vertex order with the mesh's outline first, in order around it (what Spine's `hull`
    counts; the editor draws and edits the outline from it), the inner vertices after.
    A mesh whose outline is not one loop keeps its order (then `hull` is 0)."""
    edges = Counter(
        (min(a, b), max(a, b))
        for t in triangles
        for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))
    )
    nxt: dict[int, int] = {}
    for t in triangles:  # outline edges keep the triangles' winding
        for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])):
            if edges[(min(a, b), max(a, b))] == 1:
                if a in nxt:
                    return np.arange(count)
                nxt[int(a)] = int(b)
    if not nxt:
        return np.arange(count)
    start = min(nxt)
    loop = [start]
    while nxt[loop[-1]] != start:
        loop.append(nxt[loop[-1]])
        if len(loop) > len(nxt):
            return np.arange(count)
    if len(loop) != len(nxt):
        return np.arange(count)
    inner = [v for v in range(count) if v not in nxt]
    return np.array(loop + inner, dtype=np.int64)


def hull_length(triangles: np.ndarray) -> int:
    """Spine's `hull`: how many leading vertices make the outline (0 when they do not)."""
    edges = Counter(
        (min(a, b), max(a, b))
        for t in triangles
        for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))
    )
    outline = {v for e, n in edges.items() if n == 1 for v in e}
    k = len(outline)
    return k if outline == set(range(k)) else 0


# --- skeleton ---------------------------------------------------------------------------------


def _num(v: float, digits: int = DIGITS) -> float | int:
    r = round(float(v), digits)
    return int(r) if r == int(r) and abs(r) < 1e15 else r


def _hex(rgba: Sequence[float]) -> str:
    return "".join(f"{round(min(max(float(c), 0.0), 1.0) * 255):02x}" for c in rgba)


def setup_slots(subject: Subject) -> BakedFrame:
    """The avatar at rest (idle's first frame, sprite choices and parameter defaults applied):
    its slots' attachments and colours are the skeleton's setup slots."""
    return still(subject).frames[0]


def skeleton_json(
    subject: Subject,
    rest: BakedFrame,
    region_of: Callable[[str, str], str],
    mesh_order: dict[tuple[int, str], np.ndarray],
    fps: float,
) -> dict:
    rig = subject.rig
    x0, y0, x1, y1 = _setup_bounds(rig, rest.attachments)
    doc: dict = {
        "skeleton": {"spine": SPINE_VERSION, "x": _num(x0, 2), "y": _num(y0, 2),
                     "width": _num(x1 - x0, 2), "height": _num(y1 - y0, 2),
                     "fps": _num(fps, 3), "images": "./"},
        "bones": [_bone(rig, b) for b in range(len(rig.bones))],
        "slots": [],
    }  # fmt: skip
    for s in rig.slots:
        slot: dict = {"name": s.name, "bone": rig.bones[s.bone].name}
        color = _hex(rest.colors[s.index])
        if color != "ffffffff":
            slot["color"] = color
        if rest.attachments[s.index] is not None:
            slot["attachment"] = rest.attachments[s.index]
        if s.blend != 0:
            slot["blend"] = BLEND_NAMES[int(s.blend)]
        doc["slots"].append(slot)
    limbs = [k for k in rig.ik if k.solver == IkSolver.LIMB]
    if limbs:
        doc["ik"] = [
            {"name": k.name, "order": i, "bones": [rig.bones[b].name for b in k.bones],
             "target": rig.bones[k.target].name, "mix": _num(k.mix),
             "bendPositive": bool(k.bend > 0)}
            for i, k in enumerate(limbs)
        ]  # fmt: skip
    attachments: dict[str, dict] = {}
    for s in rig.slots:
        per: dict[str, dict] = {}
        for att in rig.attachments[s.index].values():
            region = region_of(s.name, att.path)
            if isinstance(att, RegionAttachment):
                per[att.name] = _region(att, region)
            else:
                per[att.name] = _mesh(rig, att, region, mesh_order[(s.index, att.name)], subject)
        if per:
            attachments[s.name] = per
    doc["skins"] = [{"name": "default", "attachments": attachments}]
    return doc


def _bone(rig: RigData, b: int) -> dict:
    d = rig.bones[b]
    out: dict = {"name": d.name}
    if d.parent >= 0:
        out["parent"] = rig.bones[d.parent].name
    defaults = {"length": 0.0, "x": 0.0, "y": 0.0, "rotation": 0.0, "scaleX": 1.0,
                "scaleY": 1.0, "shearX": 0.0, "shearY": 0.0}  # fmt: skip
    values = {"length": d.length, "x": d.x, "y": d.y, "rotation": d.rotation,
              "scaleX": d.scale_x, "scaleY": d.scale_y, "shearX": d.shear_x,
              "shearY": d.shear_y}  # fmt: skip
    for k, v in values.items():
        if _num(v) != defaults[k]:
            out[k] = _num(v)
    if d.inherit != 0:
        out["inherit"] = INHERIT_NAMES[d.inherit]
    return out


def _region(att: RegionAttachment, region: str) -> dict:
    out: dict = {}
    if region != att.name:
        out["path"] = region
    for k, v, default in (("x", att.x, 0.0), ("y", att.y, 0.0), ("rotation", att.rotation, 0.0),
                          ("scaleX", att.scale_x, 1.0), ("scaleY", att.scale_y, 1.0)):  # fmt: skip
        if _num(v) != default:
            out[k] = _num(v)
    out["width"] = _num(att.width)
    out["height"] = _num(att.height)
    return out


def _mesh(
    rig: RigData, att: MeshAttachment, region: str, order: np.ndarray, subject: Subject
) -> dict:
    """A weighted mesh: per vertex [bone count, then bone index, bind x, bind y, weight per
    influence] (the bind positions are our skin buffer's bone-local ones)."""
    rows = slice(att.offset, att.offset + att.count)
    bones, weights, local = rig.skin_bones[rows], rig.skin_weights[rows], rig.skin_local[rows]
    inverse = np.argsort(order)
    verts: list[float | int] = []
    for v in order:
        used = [i for i in range(bones.shape[1]) if weights[v, i] > 0]
        verts.append(len(used))
        for i in used:
            verts += [int(bones[v, i]), _num(local[v, i, 0]), _num(local[v, i, 1]),
                      _num(weights[v, i])]  # fmt: skip
    tris = inverse[att.triangles].reshape(-1)
    _, _, w, h = subject.atlas.regions[att.path]
    out: dict = {"type": "mesh"}
    if region != att.name:
        out["path"] = region
    out |= {
        "uvs": [_num(u) for u in att.uvs[order].reshape(-1)],
        "triangles": [int(t) for t in tris],
        "vertices": verts,
        "hull": hull_length(inverse[att.triangles]),
        "width": w,
        "height": h,
    }
    return out


def _setup_bounds(rig: RigData, shown: Sequence[str | None]) -> tuple[float, float, float, float]:
    """The setup pose's box around the setup slots' attachments (`skeleton` x/y/w/h)."""
    world = Pose(rig).world
    pts = []
    for s in rig.slots:
        name = shown[s.index]
        att = rig.attachments[s.index].get(name) if name else None
        if isinstance(att, RegionAttachment):
            w = world[s.bone]
            c = att.corners
            pts.append(np.stack([w[WA] * c[:, 0] + w[WB] * c[:, 1] + w[WX],
                                 w[WC] * c[:, 0] + w[WD] * c[:, 1] + w[WY]], axis=1))  # fmt: skip
        elif isinstance(att, MeshAttachment):
            r = slice(att.offset, att.offset + att.count)
            pts.append(
                skin_reference(world, rig.skin_bones[r], rig.skin_weights[r], rig.skin_local[r])
            )
    if not pts:
        return 0.0, 0.0, 0.0, 0.0
    p = np.concatenate(pts)
    return float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())


# --- animations -------------------------------------------------------------------------------


def animation_json(
    rig: RigData,
    rest: BakedFrame,
    take: Take,
    mesh_order: dict[tuple[int, str], np.ndarray],
    reduce: bool = True,
) -> dict:
    """One take as Spine timelines. A loop gets a closing key at its duration equal to its
    first frame, so it plays round without a seam."""
    frames = take.frames
    n = len(frames)
    times = np.arange(n + (1 if take.loop and n > 1 else 0)) * take.frame_time
    local = np.array([f.local for f in frames])  # (frames, bones, 7)
    out: dict = {}
    bones = _bone_timelines(rig, local, times, reduce)
    if bones:
        out["bones"] = bones
    slots = _slot_timelines(rig, rest, frames, times, reduce)
    if slots:
        out["slots"] = slots
    limbs = [k for k in rig.ik if k.solver == IkSolver.LIMB]
    if limbs:  # the frames are already solved: Spine must not solve again
        out["ik"] = {k.name: [{"mix": 0, "bendPositive": bool(k.bend > 0)}] for k in limbs}
    deform = _deform_timelines(rig, frames, times, mesh_order)
    if deform:
        out["attachments"] = {"default": deform}
    return out


def _closed(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Values with the loop's closing key (the first frame again) when times has one more."""
    if len(times) > len(values):
        return np.concatenate([values, values[:1]])
    return values


def _bone_timelines(rig: RigData, local: np.ndarray, times: np.ndarray, reduce: bool) -> dict:
    """Per bone, the rotate / translate / scale / shear timelines that leave the setup."""
    out: dict = {}
    setup = rig.setup_local
    for b, bone in enumerate(rig.bones):
        lines: dict = {}
        rot = _closed(local[:, b, 2] - setup[b, 2], times)
        rot = np.unwrap(rot, period=360.0)  # interpolate the short way round, over the seam too
        _add(lines, "rotate", times, rot[:, None], ("value",), 0.0, reduce)
        xy = _closed(local[:, b, 0:2] - setup[b, 0:2], times)
        _add(lines, "translate", times, xy, ("x", "y"), 0.0, reduce)
        scale = _closed(local[:, b, 3:5], times)
        if np.any(np.abs(scale - setup[b, 3:5]) > 1e-12):
            if np.any(np.abs(setup[b, 3:5]) < 1e-9):
                raise ExportError(
                    f'bone "{bone.name}" has a setup scale of 0 and is scaled by an animation: '
                    "Spine's scale timelines multiply the setup scale"
                )
            _add(lines, "scale", times, scale / setup[b, 3:5], ("x", "y"), 1.0, reduce)
        shear = _closed(local[:, b, 5:7] - setup[b, 5:7], times)
        _add(lines, "shear", times, shear, ("x", "y"), 0.0, reduce)
        if lines:
            out[bone.name] = lines
    return out


def _add(
    lines: dict,
    kind: str,
    times: np.ndarray,
    values: np.ndarray,
    fields: tuple[str, ...],
    rest: float,
    reduce: bool,
) -> None:
    """A timeline of `values` (keys, channels) unless it stays at `rest` throughout."""
    if np.all(np.abs(values - rest) <= 1e-12):
        return
    q = np.round(values, DIGITS)
    keys = reduce_keys(times, values, q, TOLERANCE[kind]) if reduce else _every_key(times)
    timeline = []
    for (i, curve), nxt in zip(keys, [*keys[1:], None], strict=True):
        key: dict = {}
        if i:
            key["time"] = _num(times[i], TIME_DIGITS)
        for c, f in enumerate(fields):
            if q[i, c] != rest:
                key[f] = _num(q[i, c])
        if nxt is not None and curve is not None:
            key["curve"] = curve
        timeline.append(key)
    lines[kind] = timeline


def _every_key(times: np.ndarray) -> list[tuple[int, list | None]]:
    return [(i, None) for i in range(len(times))]


# --- key reduction ----------------------------------------------------------------------------


def reduce_keys(
    times: np.ndarray, values: np.ndarray, keyed: np.ndarray, tol: float
) -> list[tuple[int, list | None]]:
    """The fewest keys (greedy, longest reach first) such that Spine's playback between
    consecutive keys stays within `tol` of every frame's value. `values` are the frames'
    values (keys, channels), `keyed` what a key at that frame holds (rounded or quantized).
    Returns (frame index, curve) per key: curve None is linear (the next key's segment),
    else Spine's 4.x `[cx1, cy1, cx2, cy2]` per channel."""
    n = len(times)
    if n == 1 or np.all(np.abs(values - keyed[0]) <= tol):
        return [(0, None)]
    keys: list[tuple[int, list | None]] = []
    i = 0
    while i < n - 1:
        good, curve = i + 1, None  # two neighbouring keys: a straight line, nothing between
        bad = None
        step = 2
        while bad is None and good < n - 1:
            j = min(i + step, n - 1)
            fit = _fit(times, values, keyed, i, j, tol)
            if fit is False:
                bad = j
            else:
                good, curve = j, fit
            step *= 2
        while bad is not None and bad - good > 1:
            j = (good + bad) // 2
            fit = _fit(times, values, keyed, i, j, tol)
            if fit is False:
                bad = j
            else:
                good, curve = j, fit
        keys.append((i, curve))
        i = good
    keys.append((n - 1, None))
    return keys


def _handle_weights(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The weights of a Bezier's two inner control values in Spine's playback at curve
    parameter s (the curve's points at s = 0, 0.1, ..., 1 joined by straight lines; with the
    handles' times at thirds, time is linear in s). The end values' weights are not needed:
    handles at the straight line's thirds play back as that line exactly."""
    k = np.minimum(np.floor(s * BEZIER_SEGMENTS), BEZIER_SEGMENTS - 1)
    f = s * BEZIER_SEGMENTS - k
    a, b = k / BEZIER_SEGMENTS, (k + 1) / BEZIER_SEGMENTS
    w1 = (1 - f) * 3 * (1 - a) ** 2 * a + f * 3 * (1 - b) ** 2 * b
    w2 = (1 - f) * 3 * (1 - a) * a**2 + f * 3 * (1 - b) * b**2
    return w1, w2


def _fit(
    times: np.ndarray, values: np.ndarray, keyed: np.ndarray, i: int, j: int, tol: float
) -> list | bool | None:
    """Keys at frames i and j: None if a straight line holds the frames between within tol,
    a curve array if a Bezier does, False if neither."""
    t0, t1 = times[i], times[j]
    v0, v1 = keyed[i], keyed[j]
    s = (times[i + 1 : j] - t0) / (t1 - t0)
    resid = values[i + 1 : j] - (v0 + s[:, None] * (v1 - v0))
    if np.all(np.abs(resid) <= tol):
        return None
    # The handles as offsets (e1, e2) from the straight line's thirds: Spine's playback is
    # the line plus w1 * e1 + w2 * e2, so least squares finds them exactly (2x2 normal
    # equations; with one frame between, the smallest offsets that pass through it).
    w1, w2 = _handle_weights(s)
    a11, a12, a22 = w1 @ w1, w1 @ w2, w2 @ w2
    b1, b2 = w1 @ resid, w2 @ resid
    det = a11 * a22 - a12 * a12
    if len(s) > 1 and det > 1e-12 * a11 * a22:
        e1, e2 = (a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det
    else:
        e1, e2 = w1[0] * resid[0] / (a11 + a22), w2[0] * resid[0] / (a11 + a22)
    cy1 = np.round(v0 + (v1 - v0) / 3 + e1, DIGITS)
    cy2 = np.round(v0 + 2 * (v1 - v0) / 3 + e2, DIGITS)
    # check what will be written: the rounded handles (the handles' times are written to
    # 1e-8 s, a change far below tol at any speed a bone moves)
    e1, e2 = cy1 - (v0 + (v1 - v0) / 3), cy2 - (v0 + 2 * (v1 - v0) / 3)
    if np.any(np.abs(resid - w1[:, None] * e1 - w2[:, None] * e2) > tol):
        return False
    cx1 = _num(t0 + (t1 - t0) / 3, TIME_DIGITS)
    cx2 = _num(t0 + 2 * (t1 - t0) / 3, TIME_DIGITS)
    curve: list = []
    for c in range(values.shape[1]):
        curve += [cx1, _num(cy1[c]), cx2, _num(cy2[c])]
    return curve


# --- slots, deforms ---------------------------------------------------------------------------


def _slot_timelines(
    rig: RigData, rest: BakedFrame, frames: Sequence[BakedFrame], times: np.ndarray, reduce: bool
) -> dict:
    """Attachment keys where a slot's picture changes; colour keys (reduced like bones')
    where its colour leaves the setup's. Both only for slots that differ from the setup."""
    out: dict = {}
    colors = np.array([f.colors for f in frames])
    for s in rig.slots:
        lines: dict = {}
        names = [f.attachments[s.index] for f in frames]
        if any(n != rest.attachments[s.index] for n in names):
            keys = [{"name": names[0]}]
            for i in range(1, len(names)):
                if names[i] != names[i - 1]:
                    keys.append({"time": _num(times[i], TIME_DIGITS), "name": names[i]})
            lines["attachment"] = keys
        c = _closed(colors[:, s.index], times)
        if np.any(np.abs(c - rest.colors[s.index]) > 0.5 / 255):
            q = np.round(np.clip(c, 0.0, 1.0) * 255) / 255  # what a hex key holds
            keys = reduce_keys(times, c, q, TOLERANCE["rgba"]) if reduce else _every_key(times)
            timeline = []
            for (i, curve), nxt in zip(keys, [*keys[1:], None], strict=True):
                key: dict = {}
                if i:
                    key["time"] = _num(times[i], TIME_DIGITS)
                key["color"] = _hex(q[i])
                if nxt is not None and curve is not None:
                    key["curve"] = curve
                timeline.append(key)
            lines["rgba"] = timeline
        if lines:
            out[s.name] = lines
    return out


def _deform_timelines(
    rig: RigData,
    frames: Sequence[BakedFrame],
    times: np.ndarray,
    mesh_order: dict[tuple[int, str], np.ndarray],
) -> dict:
    """Parameter-driven mesh deforms as Spine deform keys, one per frame (linear between).
    Ours is an offset in the slot bone's frame added after weighting; Spine's are offsets of
    each influence's bind position, so each becomes M_i^-1 A d (weights sum to 1)."""
    out: dict = {}
    for s in rig.slots:
        for att in rig.attachments[s.index].values():
            if not isinstance(att, MeshAttachment):
                continue
            if not any(att.offset in f.deformed for f in frames):
                continue
            order = mesh_order[(s.index, att.name)]
            keys = [_deform_key(rig, att, order, f) for f in frames]
            if len(times) > len(frames):
                keys.append(dict(keys[0]))
            for k, t in zip(keys, times, strict=True):
                if t:
                    k["time"] = _num(t, TIME_DIGITS)
            out.setdefault(s.name, {})[att.name] = {"deform": keys}
    return out


def _deform_key(rig: RigData, att: MeshAttachment, order: np.ndarray, f: BakedFrame) -> dict:
    rows = slice(att.offset, att.offset + att.count)
    if att.offset not in f.deformed:
        return {}
    d = f.deform[rows]
    anchor = f.world[rig.skin_anchor[att.offset]]
    world_d = np.stack([anchor[WA] * d[:, 0] + anchor[WB] * d[:, 1],
                        anchor[WC] * d[:, 0] + anchor[WD] * d[:, 1]], axis=1)  # fmt: skip
    bones, weights = rig.skin_bones[rows], rig.skin_weights[rows]
    vals: list[float] = []
    for v in order:
        for i in range(bones.shape[1]):
            if weights[v, i] <= 0:
                continue
            m = f.world[bones[v, i]]
            det = m[WA] * m[WD] - m[WB] * m[WC]
            det = det if abs(det) > 1e-12 else 1e-12
            dx, dy = world_d[v]
            vals += [(m[WD] * dx - m[WB] * dy) / det, (-m[WC] * dx + m[WA] * dy) / det]
    arr = np.round(np.array(vals), DIGITS)
    nz = np.nonzero(arr)[0]
    if not len(nz):
        return {}
    start, end = int(nz[0]), int(nz[-1]) + 1
    key: dict = {"vertices": [_num(v) for v in arr[start:end]]}
    if start:
        key["offset"] = start
    return key


def json_size(rig: RigData, rest: BakedFrame, take: Take, reduce: bool) -> int:
    """Bytes of one take's animation JSON, with or without key reduction (for the docs)."""
    order = {
        (s.index, a.name): np.arange(a.count)
        for s in rig.slots
        for a in rig.attachments[s.index].values()
        if isinstance(a, MeshAttachment)
    }
    doc = animation_json(rig, rest, take, order, reduce=reduce)
    return len(json.dumps(doc, separators=(",", ":")))
