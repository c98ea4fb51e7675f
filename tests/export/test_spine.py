"""The Spine 4.2 export read back by an independent model of Spine's runtime.

The model here is written from Spine's documentation and the 4.2 reader's behaviour, not
from our kernels: `SCHEMA` (the fields the 4.2 JSON reader defines per object, from
spine-runtimes 4.2 `spine-ts/spine-core/src/SkeletonJson.ts` and the "JSON export format"
page), timeline sampling (linear, stepped, and Bezier as the runtime plays it: the curve's
points at parameter 0, 0.1, ..., 1 joined by straight lines, `Animation.ts` setBezier /
getBezierValue), and `Bone.updateWorldTransform` for every inherit mode. Applied to the
exported files, it must reproduce our baked frames:

- bone world transforms at every baked frame time within 1e-3 (world units; the exporter's
  key reduction promises this: a dropped key, a wrong sign, a missing setup offset or a
  wrong inherit mode is off by far more);
- slot attachments exactly and colours within 1.5/255 (hex keys hold 8 bits);
- every mesh's weighted vertices skinned with those transforms, and every region's corners,
  within 1e-3 of the frame's CPU draw list (catches a wrong bind layout, weight order,
  vertex order or region placement);
- each atlas region's pixels equal to the part's picture (colour filters baked).
"""

from __future__ import annotations

import io
import json
import math
import time

import numpy as np
import pytest
from PIL import Image

from engine.export.bake import Take
from engine.export.job import Job
from engine.export.pictures import part_picture
from engine.export.spine import export_spine, json_size, pack_atlas, setup_slots, skeleton_json
from engine.export.subject import Subject, digi

ANIMATIONS = ["walk", "wave", "jump"]  # a loop with leg IK, a one-shot, colour keys
WORLD_TOL = 1e-3
COLOR_TOL = 1.5 / 255

# --- the 4.2 reference: field -> JSON type, per object (SkeletonJson.ts 4.2, readSkeletonData,
# readAttachment, readAnimation). "num" is a JSON number, "list"/"obj"/"str"/"bool".
SCHEMA = {
    "root": {"skeleton": "obj", "bones": "list", "slots": "list", "ik": "list",
             "transform": "list", "path": "list", "physics": "list", "skins": "list",
             "events": "obj", "animations": "obj"},
    "skeleton": {"hash": "str", "spine": "str", "x": "num", "y": "num", "width": "num",
                 "height": "num", "referenceScale": "num", "fps": "num", "images": "str",
                 "audio": "str"},
    "bone": {"name": "str", "parent": "str", "length": "num", "x": "num", "y": "num",
             "rotation": "num", "scaleX": "num", "scaleY": "num", "shearX": "num",
             "shearY": "num", "inherit": "str", "skin": "bool", "color": "str"},
    "slot": {"name": "str", "bone": "str", "color": "str", "dark": "str",
             "attachment": "str", "blend": "str", "visible": "bool"},
    "ik": {"name": "str", "order": "num", "skin": "bool", "bones": "list", "target": "str",
           "mix": "num", "softness": "num", "bendPositive": "bool", "compress": "bool",
           "stretch": "bool", "uniform": "bool"},
    "skin": {"name": "str", "bones": "list", "ik": "list", "transform": "list",
             "path": "list", "physics": "list", "attachments": "obj"},
    "region": {"type": "str", "name": "str", "path": "str", "sequence": "obj", "x": "num",
               "y": "num", "scaleX": "num", "scaleY": "num", "rotation": "num",
               "width": "num", "height": "num", "color": "str"},
    "mesh": {"type": "str", "name": "str", "path": "str", "sequence": "obj", "color": "str",
             "width": "num", "height": "num", "parent": "str", "skin": "str",
             "timelines": "bool", "uvs": "list", "vertices": "list", "triangles": "list",
             "edges": "list", "hull": "num"},
    "animation": {"slots": "obj", "bones": "obj", "ik": "obj", "transform": "obj",
                  "path": "obj", "physics": "obj", "attachments": "obj",
                  "drawOrder": "list", "events": "list"},
    "curve1": {"time": "num", "value": "num", "curve": "list|str"},
    "curve2": {"time": "num", "x": "num", "y": "num", "curve": "list|str"},
    "attachmentKey": {"time": "num", "name": "str|null"},
    "rgbaKey": {"time": "num", "color": "str", "curve": "list|str"},
    "ikKey": {"time": "num", "mix": "num", "softness": "num", "bendPositive": "bool",
              "compress": "bool", "stretch": "bool", "curve": "list|str"},
    "deformKey": {"time": "num", "offset": "num", "vertices": "list", "curve": "list|str"},
}  # fmt: skip
REQUIRED = {"bone": {"name"}, "slot": {"name", "bone"}, "ik": {"name", "bones", "target"},
            "region": {"width", "height"}, "mesh": {"uvs", "vertices", "triangles"},
            "skin": {"name"}}  # fmt: skip
BONE_TIMELINES = {"rotate": "curve1", "translate": "curve2", "scale": "curve2",
                  "shear": "curve2"}  # fmt: skip
INHERITS = ("normal", "onlyTranslation", "noRotationOrReflection", "noScale",
            "noScaleOrReflection")  # fmt: skip


def _type_ok(value: object, spec: str) -> bool:
    kinds = {"num": (int, float), "str": str, "list": list, "obj": dict, "bool": bool}
    for k in spec.split("|"):
        if k == "null" and value is None:
            return True
        if k in kinds and isinstance(value, kinds[k]):
            if k == "num" and isinstance(value, bool):
                continue
            return True
    return False


def _check(obj: dict, kind: str, where: str) -> None:
    assert isinstance(obj, dict), where
    for key, value in obj.items():
        assert key in SCHEMA[kind], f"{where}: {key!r} is not a 4.2 {kind} field"
        assert _type_ok(value, SCHEMA[kind][key]), (
            f"{where}.{key}: {value!r} is not {SCHEMA[kind][key]}"
        )
    missing = REQUIRED.get(kind, set()) - set(obj)
    assert not missing, f"{where}: missing {missing}"


@pytest.fixture(scope="module")
def exported():
    subject = digi()
    job = Job(subject, ANIMATIONS, size=512, fps=30)
    outs = {o.name: o.data for o in export_spine(job)}
    doc = json.loads(outs["digi.json"])
    takes = {n: job.take(n) for n in ANIMATIONS}
    yield subject, doc, outs, takes
    job.close()


# --- an independent Spine runtime model ------------------------------------------------------


def _bezier_play(t: float, t0: float, v0: float, c: list, t1: float, v1: float) -> float:
    """The runtime's Bezier: 11 points of the cubic at s = k/10, straight lines between."""
    cx1, cy1, cx2, cy2 = c
    xs, ys = [], []
    for k in range(11):
        s = k / 10
        m = 1 - s
        xs.append(m**3 * t0 + 3 * m * m * s * cx1 + 3 * m * s * s * cx2 + s**3 * t1)
        ys.append(m**3 * v0 + 3 * m * m * s * cy1 + 3 * m * s * s * cy2 + s**3 * v1)
    return float(np.interp(t, xs, ys))


def sample(keys: list[dict], t: float, fields: tuple[str, ...], default: float) -> list[float]:
    """A curve timeline's values at time t (Spine: before the first key the setup holds;
    after the last key its value; between keys the first key's curve)."""
    times = [k.get("time", 0.0) for k in keys]
    vals = [[k.get(f, default) for f in fields] for k in keys]
    if t < times[0]:
        return [default] * len(fields)
    i = max(i for i, kt in enumerate(times) if kt <= t)
    if i == len(keys) - 1:
        return vals[i]
    curve = keys[i].get("curve")
    t0, t1 = times[i], times[i + 1]
    if curve == "stepped":
        return vals[i]
    if curve is None:
        f = (t - t0) / (t1 - t0)
        return [a + (b - a) * f for a, b in zip(vals[i], vals[i + 1], strict=True)]
    return [
        _bezier_play(t, t0, vals[i][c], curve[4 * c : 4 * c + 4], t1, vals[i + 1][c])
        for c in range(len(fields))
    ]


def _axes(rx: float, ry: float, sx: float, sy: float) -> tuple[float, float, float, float]:
    rx, ry = math.radians(rx), math.radians(ry)
    return math.cos(rx) * sx, math.cos(ry) * sy, math.sin(rx) * sx, math.sin(ry) * sy


def world_transform(parent: tuple | None, local: tuple, inherit: str) -> tuple:
    """Spine's Bone.updateWorldTransform (skeleton at scale 1, not flipped)."""
    x, y, rot, sx, sy, shx, shy = local
    if parent is None:
        return (*_axes(rot + shx, rot + 90 + shy, sx, sy), x, y)
    pa, pb, pc, pd, px, py = parent
    wx, wy = pa * x + pb * y + px, pc * x + pd * y + py
    if inherit == "normal":
        la, lb, lc, ld = _axes(rot + shx, rot + 90 + shy, sx, sy)
        return (pa * la + pb * lc, pa * lb + pb * ld, pc * la + pd * lc, pc * lb + pd * ld, wx, wy)
    if inherit == "onlyTranslation":
        return (*_axes(rot + shx, rot + 90 + shy, sx, sy), wx, wy)
    if inherit == "noRotationOrReflection":
        s = pa * pa + pc * pc
        if s > 0.0001:
            s = abs(pa * pd - pb * pc) / s
            pb, pd = pc * s, pa * s
            prx = math.degrees(math.atan2(pc, pa))
        else:
            pa = pc = 0.0
            prx = 90 - math.degrees(math.atan2(pd, pb))
        la, lb, lc, ld = _axes(rot + shx - prx, rot + shy - prx + 90, sx, sy)
        return (pa * la - pb * lc, pa * lb - pb * ld, pc * la + pd * lc, pc * lb + pd * ld, wx, wy)
    # noScale, noScaleOrReflection
    r = math.radians(rot)
    za, zc = pa * math.cos(r) + pb * math.sin(r), pc * math.cos(r) + pd * math.sin(r)
    s = math.hypot(za, zc)
    s = 1 / s if s > 0.00001 else s
    za, zc = za * s, zc * s
    s = math.hypot(za, zc)
    if inherit == "noScale" and pa * pd - pb * pc < 0:
        s = -s
    r = math.pi / 2 + math.atan2(zc, za)
    zb, zd = math.cos(r) * s, math.sin(r) * s
    la, lb, lc, ld = _axes(shx, 90 + shy, sx, sy)
    return (za * la + zb * lc, za * lb + zb * ld, zc * la + zd * lc, zc * lb + zd * ld, wx, wy)


def pose_at(doc: dict, anim: str, t: float) -> np.ndarray:
    """Every bone's world transform with `anim` applied at time t (IK off: the exporter keys
    every constraint's mix to 0, checked in test_ik_is_off)."""
    tl = doc["animations"][anim].get("bones", {})
    world: dict[str, tuple] = {}
    out = []
    for b in doc["bones"]:
        g = {k: b.get(k, 1.0 if k.startswith("scale") else 0.0)
             for k in ("x", "y", "rotation", "scaleX", "scaleY", "shearX", "shearY")}  # fmt: skip
        lines = tl.get(b["name"], {})
        if "rotate" in lines:
            g["rotation"] += sample(lines["rotate"], t, ("value",), 0.0)[0]
        if "translate" in lines:
            dx, dy = sample(lines["translate"], t, ("x", "y"), 0.0)
            g["x"] += dx
            g["y"] += dy
        if "scale" in lines:
            fx, fy = sample(lines["scale"], t, ("x", "y"), 1.0)
            g["scaleX"] *= fx
            g["scaleY"] *= fy
        if "shear" in lines:
            dx, dy = sample(lines["shear"], t, ("x", "y"), 0.0)
            g["shearX"] += dx
            g["shearY"] += dy
        local = (g["x"], g["y"], g["rotation"], g["scaleX"], g["scaleY"], g["shearX"], g["shearY"])
        parent = world[b["parent"]] if "parent" in b else None
        world[b["name"]] = world_transform(parent, local, b.get("inherit", "normal"))
        out.append(world[b["name"]])
    return np.array(out)


def frame_times(take: Take) -> list[tuple[int, float]]:
    return [(f.index, f.index * take.frame_time) for f in take.frames]


# --- tests ------------------------------------------------------------------------------------


def test_schema(exported) -> None:
    _, doc, _, _ = exported
    _check(doc, "root", "$")
    _check(doc["skeleton"], "skeleton", "$.skeleton")
    assert doc["skeleton"]["spine"].startswith("4.2.")
    for i, b in enumerate(doc["bones"]):
        _check(b, "bone", f"$.bones[{i}]")
        assert b.get("inherit", "normal") in INHERITS
    for i, s in enumerate(doc["slots"]):
        _check(s, "slot", f"$.slots[{i}]")
        assert s.get("blend", "normal") in ("normal", "additive", "multiply", "screen")
    for i, k in enumerate(doc.get("ik", [])):
        _check(k, "ik", f"$.ik[{i}]")
    assert doc["skins"][0]["name"] == "default"
    for skin in doc["skins"]:
        _check(skin, "skin", f"$.skins[{skin['name']}]")
        for slot, atts in skin["attachments"].items():
            for name, a in atts.items():
                kind = a.get("type", "region")
                assert kind in ("region", "mesh")
                _check(a, kind, f"$.skins.{slot}.{name}")
                if kind == "mesh":  # weighted: longer than uvs, [count, (bone, x, y, w)*count]*
                    v, i, n = a["vertices"], 0, 0
                    while i < len(v):
                        i += 1 + 4 * v[i]
                        n += 1
                    assert i == len(v) and 2 * n == len(a["uvs"])
    for name, anim in doc["animations"].items():
        _check(anim, "animation", f"$.animations.{name}")
        for bone, lines in anim.get("bones", {}).items():
            for kind, keys in lines.items():
                for k in keys:
                    _check(k, BONE_TIMELINES[kind], f"$.animations.{name}.bones.{bone}.{kind}")
        for slot, lines in anim.get("slots", {}).items():
            for kind, keys in lines.items():
                spec = {"attachment": "attachmentKey", "rgba": "rgbaKey"}[kind]
                for k in keys:
                    _check(k, spec, f"$.animations.{name}.slots.{slot}.{kind}")
        for ik, keys in anim.get("ik", {}).items():
            for k in keys:
                _check(k, "ikKey", f"$.animations.{name}.ik.{ik}")


def test_ik_is_off(exported) -> None:
    """Every exported constraint is keyed to mix 0 in every animation (the frames are solved)."""
    _, doc, _, _ = exported
    assert doc["ik"], "Digi's limb IK should be exported"
    for anim in doc["animations"].values():
        for k in doc["ik"]:
            assert [key.get("mix", 1) for key in anim["ik"][k["name"]]] == [0]


@pytest.mark.parametrize("anim", ANIMATIONS)
def test_bone_world_transforms(exported, anim: str) -> None:
    _, doc, _, takes = exported
    take = takes[anim]
    worst = 0.0
    for i, t in frame_times(take):
        ours = take.frames[i].world
        theirs = pose_at(doc, anim, t)
        worst = max(worst, float(np.abs(theirs - ours).max()))
    if take.loop:  # the closing key: the animation's end is its first frame again
        end = len(take.frames) * take.frame_time
        worst = max(worst, float(np.abs(pose_at(doc, anim, end) - take.frames[0].world).max()))
    print(f"{anim}: worst world difference {worst:.2e}")
    assert worst < WORLD_TOL


@pytest.mark.parametrize("anim", ANIMATIONS)
def test_slots(exported, anim: str) -> None:
    subject, doc, _, takes = exported
    take = takes[anim]
    slots = doc["animations"][anim].get("slots", {})
    for i, t in frame_times(take):
        f = take.frames[i]
        for s in doc["slots"]:
            idx = subject.rig.slot_index[s["name"]]
            name = s.get("attachment")
            keys = slots.get(s["name"], {}).get("attachment")
            if keys:
                name = [k.get("name") for k in keys if k.get("time", 0.0) <= t + 1e-6][-1]
            assert name == f.attachments[idx], (anim, t, s["name"])
            if "rgba" in slots.get(s["name"], {}):
                keys = [dict(k, **dict(zip("rgba", _rgba(k["color"]), strict=True)))
                        for k in slots[s["name"]]["rgba"]]  # fmt: skip
                rgba = sample(keys, t, tuple("rgba"), 1.0)
            else:
                rgba = _rgba(s.get("color", "ffffffff"))
            diff = np.abs(np.array(rgba) - f.colors[idx]).max()
            assert diff <= COLOR_TOL, (anim, t, s["name"], rgba, f.colors[idx])


def _rgba(hex8: str) -> list[float]:
    return [int(hex8[i : i + 2], 16) / 255 for i in range(0, 8, 2)]


def _parse_atlas(text: str) -> dict[str, tuple[str, int, int, int, int]]:
    """Spine 4 text atlas: page blocks (name, then `key: values` lines), regions (name, then
    `bounds: x,y,w,h`), blank lines between pages."""
    regions: dict[str, tuple[str, int, int, int, int]] = {}
    page = None
    current = None
    for line in text.splitlines():
        if not line.strip():
            page = None
            continue
        if ":" in line:
            key, vals = (p.strip() for p in line.split(":", 1))
            if key == "bounds" and current is not None:
                x, y, w, h = (int(v) for v in vals.split(","))
                regions[current] = (page, x, y, w, h)
            continue
        if page is None:
            page = line.strip()
        else:
            current = line.strip()
    return regions


def test_atlas(exported) -> None:
    subject, doc, outs, _ = exported
    regions = _parse_atlas(outs["digi.atlas"].decode())
    pages = {n: np.asarray(Image.open(io.BytesIO(d)).convert("RGBA")) for n, d in outs.items()
             if n.endswith(".png")}  # fmt: skip
    rig = subject.rig
    checked = 0
    for slot, atts in doc["skins"][0]["attachments"].items():
        s = rig.slot_index[slot]
        for name, a in atts.items():
            page, x, y, w, h = regions[a.get("path", name)]
            px = pages[page][y : y + h, x : x + w]
            assert np.array_equal(px, part_picture(subject, slot, rig.attachments[s][name].path))
            checked += 1
    assert checked == sum(len(d) for d in rig.attachments)


def _spine_vertices(a: dict, world: np.ndarray, bone_world: dict | None, slot_world) -> np.ndarray:
    if a.get("type", "region") == "mesh":
        v, i, out = a["vertices"], 0, []
        while i < len(v):
            n, i, x, y = v[i], i + 1, 0.0, 0.0
            for _ in range(n):
                b, bx, by, w = v[i : i + 4]
                i += 4
                m = world[b]
                x += (m[0] * bx + m[1] * by + m[4]) * w
                y += (m[2] * bx + m[3] * by + m[5]) * w
            out.append((x, y))
        return np.array(out)
    # Spine's RegionAttachment: corners at +-width/2, +-height/2 scaled, rotated, offset
    r = math.radians(a.get("rotation", 0.0))
    sx, sy = a.get("scaleX", 1.0), a.get("scaleY", 1.0)
    hw, hh = a["width"] / 2 * sx, a["height"] / 2 * sy
    pts = []
    for cx, cy in ((-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)):
        lx = a.get("x", 0.0) + math.cos(r) * cx - math.sin(r) * cy
        ly = a.get("y", 0.0) + math.sin(r) * cx + math.cos(r) * cy
        m = slot_world
        pts.append((m[0] * lx + m[1] * ly + m[4], m[2] * lx + m[3] * ly + m[5]))
    return np.array(pts)


@pytest.mark.parametrize("anim", ["walk", "wave"])
def test_attachment_vertices(exported, anim: str) -> None:
    """Skinned exported meshes and placed regions equal the frame's CPU draw list (matched
    vertex to vertex by uv: the exporter may reorder a mesh's vertices, outline first)."""
    subject, doc, _, takes = exported
    take = takes[anim]
    skin = doc["skins"][0]["attachments"]
    bone_index = {b["name"]: i for i, b in enumerate(doc["bones"])}
    slot_bone = {s["name"]: bone_index[s["bone"]] for s in doc["slots"]}
    worst, meshes = 0.0, 0
    for i, t in frame_times(take)[:: max(1, len(take.frames) // 6)]:
        world = pose_at(doc, anim, t)
        for d in take.frames[i].draw:
            slot = subject.rig.slots[d.slot].name
            a = skin[slot][d.attachment]
            verts = _spine_vertices(a, world, None, world[slot_bone[slot]])
            if a.get("type") == "mesh":
                uvs = np.array(a["uvs"]).reshape(-1, 2)
                meshes += 1
            else:
                uvs = np.array([(0, 1), (1, 1), (1, 0), (0, 0)], float)
            if len(d.vertices) != len(verts):  # a region drawn as its hull: compare the box
                assert a.get("type", "region") == "region"
                continue
            match = np.argmin(((uvs[:, None] - d.uvs[None]) ** 2).sum(-1), axis=0)
            worst = max(worst, float(np.abs(verts[match] - d.vertices).max()))
    print(f"{anim}: {meshes} meshes compared, worst vertex difference {worst:.2e}")
    assert meshes > 0 and worst < WORLD_TOL


def test_timing_and_reduction(exported, capsys) -> None:
    """Figures for the docs (asserts only that reduction makes the JSON smaller)."""
    subject, _, _, takes = exported
    job = Job(subject, ["walk"], size=512, fps=30)
    t0 = time.perf_counter()
    export_spine(job)
    spent = time.perf_counter() - t0
    rest = setup_slots(subject)
    sizes = {n: (json_size(subject.rig, rest, t, True), json_size(subject.rig, rest, t, False))
             for n, t in takes.items()}  # fmt: skip
    with capsys.disabled():
        print(f"\nspine: walk at 512 exported in {spent:.2f} s; animation JSON bytes "
              f"(reduced, every frame): {sizes}")  # fmt: skip
    for reduced, full in sizes.values():
        assert reduced < full
    job.close()


# --- the exported files drawn on the CPU, next to our GL render ---------------------------


def _draw_triangle(canvas: np.ndarray, p: np.ndarray, uv: np.ndarray, page: np.ndarray,
                   tint: np.ndarray) -> None:  # fmt: skip
    """One textured triangle composited over `canvas` (straight RGBA float), texels picked
    at the nearest page pixel, the slot colour multiplied in (Spine's normal blend)."""
    h, w = canvas.shape[:2]
    x0, y0 = np.floor(p.min(axis=0)).astype(int)
    x1, y1 = np.ceil(p.max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)
    if x1 < x0 or y1 < y0:
        return
    ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1] + 0.5
    (ax, ay), (bx, by), (cx, cy) = p
    det = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy)
    if abs(det) < 1e-12:
        return
    l0 = ((by - cy) * (xs - cx) + (cx - bx) * (ys - cy)) / det
    l1 = ((cy - ay) * (xs - cx) + (ax - cx) * (ys - cy)) / det
    l2 = 1 - l0 - l1
    inside = (l0 >= 0) & (l1 >= 0) & (l2 >= 0)
    if not inside.any():
        return
    u = l0 * uv[0, 0] + l1 * uv[1, 0] + l2 * uv[2, 0]
    v = l0 * uv[0, 1] + l1 * uv[1, 1] + l2 * uv[2, 1]
    tex = page[
        np.clip(v.astype(int), 0, page.shape[0] - 1), np.clip(u.astype(int), 0, page.shape[1] - 1)
    ]
    src = tex.astype(float) / 255 * tint
    a = src[..., 3:4] * inside[..., None]
    dst = canvas[y0 : y1 + 1, x0 : x1 + 1]
    out_a = a + dst[..., 3:4] * (1 - a)
    rgb = (src[..., :3] * a + dst[..., :3] * dst[..., 3:4] * (1 - a)) / np.maximum(out_a, 1e-9)
    dst[...] = np.concatenate([rgb, out_a], axis=-1)


def draw_spine(doc: dict, outs: dict, anim: str, t: float, camera) -> np.ndarray:
    """The exported skeleton at time t drawn from the files alone (setup slots, attachment and
    colour keys, skinned meshes, atlas pages): straight RGBA uint8."""
    regions = _parse_atlas(outs["digi.atlas"].decode())
    pages = {n: np.asarray(Image.open(io.BytesIO(d)).convert("RGBA")) for n, d in outs.items()
             if n.endswith(".png")}  # fmt: skip
    world = pose_at(doc, anim, t)
    bone_index = {b["name"]: i for i, b in enumerate(doc["bones"])}
    slots = doc["animations"][anim].get("slots", {})
    skin = doc["skins"][0]["attachments"]
    canvas = np.zeros((camera.height, camera.width, 4))
    for s in doc["slots"]:
        name = s.get("attachment")
        keys = slots.get(s["name"], {}).get("attachment")
        if keys:
            name = [k.get("name") for k in keys if k.get("time", 0.0) <= t + 1e-6][-1]
        if name is None:
            continue
        if "rgba" in slots.get(s["name"], {}):
            keys = [dict(k, **dict(zip("rgba", _rgba(k["color"]), strict=True)))
                    for k in slots[s["name"]]["rgba"]]  # fmt: skip
            tint = np.array(sample(keys, t, tuple("rgba"), 1.0))
        else:
            tint = np.array(_rgba(s.get("color", "ffffffff")))
        if tint[3] <= 0:
            continue
        a = skin[s["name"]][name]
        page, rx, ry, rw, rh = regions[a.get("path", name)]
        verts = camera.to_pixels(_spine_vertices(a, world, None, world[bone_index[s["bone"]]]))
        if a.get("type") == "mesh":
            uvs = np.array(a["uvs"]).reshape(-1, 2)
            tris = np.array(a["triangles"]).reshape(-1, 3)
        else:
            uvs = np.array([(0, 1), (1, 1), (1, 0), (0, 0)], float)
            tris = np.array([(0, 1, 2), (0, 2, 3)])
        texel = uvs * (rw, rh) + (rx, ry)
        for tri in tris:
            _draw_triangle(canvas, verts[tri], texel[tri], pages[page], tint)
    return np.round(canvas * 255).astype(np.uint8)


SUPERSAMPLE = 4  # GL minifies the 2048 px pages with mipmaps: average 4x4 nearest samples


def _downsample(px: np.ndarray, k: int) -> np.ndarray:
    """Box-filter a straight RGBA picture by k (in premultiplied space)."""
    f = px.astype(float) / 255
    f[..., :3] *= f[..., 3:4]
    h, w = f.shape[0] // k, f.shape[1] // k
    f = f.reshape(h, k, w, k, 4).mean(axis=(1, 3))
    f[..., :3] /= np.maximum(f[..., 3:4], 1e-9)
    return np.round(np.clip(f, 0, 1) * 255).astype(np.uint8)


@pytest.mark.parametrize("anim", ["walk", "wave"])
def test_picture_matches_our_render(exported, anim: str, shot) -> None:
    """The files drawn on the CPU against our GL render of the same frames, at 256 px.
    IoU >= 0.97: a missing, misplaced or wrongly shown part costs more than that (anti-aliasing
    and nearest-texel sampling along the outline cost about a percent). Colour difference
    <= 8/255 inside both masks (measured about 5: GL's linear, mipmapped sampling): a wrong region, uv flip, missed colour filter or draw order
    costs tens."""
    from engine.export.frames import Camera, camera_for
    from tests.export.compare import color_diff, iou, side_by_side, straight

    subject, doc, outs, takes = exported
    take = takes[anim]
    camera = camera_for(take, 256)
    big = Camera(camera.rect, 256 * SUPERSAMPLE, 256 * SUPERSAMPLE)
    job = Job(subject, [anim], size=256)
    try:
        renderer = job.renderer(256)
        for i in (0, len(take.frames) // 2):
            t = i * take.frame_time
            ours = straight(renderer.render(take.frames[i], camera))
            theirs = _downsample(draw_spine(doc, outs, anim, t, big), SUPERSAMPLE)
            score, diff = iou(theirs, ours), color_diff(theirs, ours)
            print(f"{anim} frame {i}: IoU {score:.4f}, colour difference {diff:.2f}")
            shot(f"spine-{anim}-{i}.png", side_by_side(theirs, ours))
            assert score >= 0.97 and diff <= 8.0
    finally:
        job.close()


def test_sprites_and_colour_filters() -> None:
    """The subject's sprite choices are the setup attachments; a picture shown under two
    colour filters gets two regions, each with its filter baked in."""
    base = digi(sprites={"outfit": "armor", "body": "slim"})
    subject = Subject(base.bundle, "digi", base.sprites, colors={"left": (120.0, 1.0, 1.0, 1.0)},
                      groups={"left": ("arm_l",)})  # fmt: skip
    atlas = pack_atlas(subject, "digi")
    doc = skeleton_json(subject, setup_slots(subject), atlas.region_of, atlas.mesh_order, 30)
    slots = {s["name"]: s.get("attachment") for s in doc["slots"]}
    lib = subject.bundle.sprites
    for category, label in subject.sprites.items():
        for slot, att in lib.resolve(category, label).items():
            assert slots[slot] == att, (category, label, slot)
    left = doc["skins"][0]["attachments"]["arm_l"]["arm_slim"]
    right = doc["skins"][0]["attachments"]["arm_r"]["arm_slim"]
    assert left.get("path") != right.get("path")
    regions = _parse_atlas(atlas.text)
    pages = {n: np.asarray(Image.open(io.BytesIO(d)).convert("RGBA")) for n, d in atlas.pages}
    for slot, a in (("arm_l", left), ("arm_r", right)):
        page, x, y, w, h = regions[a["path"]]
        px = pages[page][y : y + h, x : x + w]
        path = subject.rig.attachments[subject.rig.slot_index[slot]]["arm_slim"].path
        assert np.array_equal(px, part_picture(subject, slot, path))
    assert not np.array_equal(
        part_picture(subject, "arm_l", path), part_picture(subject, "arm_r", path)
    )


def test_deform_keys() -> None:
    """A parameter deform (an offset in the slot bone's frame, added after weighting) written
    as Spine's per-influence offsets skins to the same vertices. Digi's parameters deform no
    mesh, so the frame's deform is made up here: a smooth offset on a weighted mesh."""
    import dataclasses

    from engine.export.bake import bake
    from engine.export.spine import _deform_key, hull_order
    from engine.kernels.skinning import skin_reference
    from engine.rig.data import MeshAttachment

    subject = digi()
    rig = subject.rig
    frame = bake(subject, "walk", 10).frames[3]
    slot = next(
        s
        for s in rig.slots
        if isinstance(rig.attachments[s.index].get("torso_default"), MeshAttachment)
    )
    mesh = rig.attachments[slot.index]["torso_default"]
    rows = slice(mesh.offset, mesh.offset + mesh.count)
    assert (rig.skin_weights[rows] > 0).sum(axis=1).max() > 1  # several influences
    deform = frame.deform.copy()
    deform[rows] = np.stack([np.sin(np.arange(mesh.count)), np.cos(np.arange(mesh.count))], 1) * 7
    frame = dataclasses.replace(frame, deform=deform, deformed=frozenset({mesh.offset}))
    order = hull_order(mesh.triangles, mesh.count)
    key = _deform_key(rig, mesh, order, frame)
    offsets = np.zeros(2 * int((rig.skin_weights[rows] > 0).sum()))
    start = key.get("offset", 0)
    offsets[start : start + len(key["vertices"])] = key["vertices"]
    # Spine: each influence's bind position plus its own offset, then weighted
    spine, k = [], 0
    for v in order:
        x = y = 0.0
        for i in range(4):
            w = rig.skin_weights[mesh.offset + v, i]
            if w <= 0:
                continue
            m = frame.world[rig.skin_bones[mesh.offset + v, i]]
            bx, by = rig.skin_local[mesh.offset + v, i] + offsets[2 * k : 2 * k + 2]
            k += 1
            x += (m[0] * bx + m[1] * by + m[4]) * w
            y += (m[2] * bx + m[3] * by + m[5]) * w
        spine.append((x, y))
    ours = skin_reference(frame.world, rig.skin_bones[rows], rig.skin_weights[rows],
                          rig.skin_local[rows], deform[rows], rig.skin_anchor[rows])  # fmt: skip
    assert np.abs(np.array(spine) - ours[order]).max() < 1e-4  # values written to 6 decimals
