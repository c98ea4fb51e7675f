"""The glTF export (engine/export/gltf.py): Khronos' validator, glTF's own maths in numpy, and
three.js playing the file in Chromium, each against our engine.

- validator: 0 errors and 0 warnings (infos and hints are printed).
- structure: joints are the bones (names and parents), one animation per take with the
  take's duration, the camera is our Camera's rect.
- glTF maths in numpy (the spec's node hierarchy, linear blend skinning and morph targets,
  evaluated at every key of walk, laugh and land): every shown attachment's vertices land
  within MAX_VERTEX_PX of our baked draw list at 512 px (catches a wrong bind matrix, joint
  order, TRS decomposition or key, all many pixels off), the morph weights show exactly
  the attachments and alphas the engine shows, and a hidden part collapses to a point.
- three.js (GLTFLoader + AnimationMixer, WebGL in Chromium): frames of walk and laugh (an
  expression switch, a fade and a hand swap) against our GL render of the same frame, by IoU
  and colour difference (tests/export/compare.py; thresholds below).
"""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import binary_erosion

from engine.assets import load_bundle
from engine.export.bake import Take, _bounds, bake, still
from engine.export.frames import FrameRenderer, camera_for
from engine.export.gltf import MAX_DEFORM_STATES, METRES_PER_UNIT, build_glb, export_gltf
from engine.export.job import Job
from engine.export.subject import WHOLE, Subject, digi
from tests.export import compare
from tests.export.conftest import ROOT, need_node_package
from tests.worn import worn

TAKES = ("walk", "laugh", "land")  # land: the most shear of Digi's animations
SIZE = 256  # runtime comparison size (common rules: 128-256 px)
# (take, frame index): walk's contact, passing and mid poses; laugh before, during the
# eyes' fade (alpha 0.17), with the happy eyes, laugh mouth and open hand, and at its end
SHOTS = (("walk", 0), ("walk", 8), ("walk", 15), ("walk", 23),
         ("laugh", 0), ("laugh", 5), ("laugh", 20), ("laugh", 44))  # fmt: skip
# three.js vs our GL render at 256 px (measured: IoU 0.993-0.995, colour diff 4.2-4.6, tint
# shift 1.5-4.6).
# IoU: a missing, misplaced or mis-posed part, or a wrong frame, costs far more than 0.98
# (an arm swung by one frame of walk moves ~3% of the mask); what is left is anti-aliasing
# along the outline.
# Colour diff: the art's thin ink lines are minified ~4x at this size, and SwiftShader's
# mipmaps of our straight-alpha texture filter them a little differently from our renderer's
# premultiplied atlas: ~4.5 of noise, concentrated on the lines. Wrong draw order (a sleeve
# under an arm), a wrong picture or a colour-space slip (whole-picture shifts) lie
# well above 6. A lost tint adds only ~0.6 here and is caught by the tint shift below; dark
# fringes (the texture without its colour bleed: +0.5-0.8) are not caught at this size.
# Tint shift: the mean signed difference over the tinted slots' pixels (the far-side limbs,
# 0.86/0.93 in sRGB): noise averages out (<= 4.6); without the tint it is 24-34.
MIN_IOU = 0.98
MAX_COLOR_DIFF = 6.0
MAX_TINT_SHIFT = 10.0
# at 512 px, glTF's maths vs our skinning: what is left is the dropped shear (no TRS holds
# it; the neck's noScale under a squashed chest), measured 0.96 px in land, 0.49 in swim, 0 in
# walk and laugh
MAX_VERTEX_PX = 1.5
# a hidden part, collapsed by its morph target, as a viewer without COLOR_0 morphs draws it:
# measured <= 3e-5 px at 512 over all of Digi's animations (collapsing onto the part's centre
# instead left 2.5 px slivers of a hand weighted to two bones)
MAX_COLLAPSED_PX = 0.05


@pytest.fixture(scope="module")
def export():
    subject = digi()
    job = Job(subject, TAKES, size=512)
    t0 = time.perf_counter()
    out = export_gltf(job)
    seconds = time.perf_counter() - t0
    (output,) = out
    assert output.name == "digi.glb"
    takes = {n: job.take(n) for n in TAKES}
    return subject, takes, output.data, seconds


def read_glb(data: bytes) -> tuple[dict, bytes]:
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert (magic, version, length) == (0x46546C67, 2, len(data))
    jlen, jtype = struct.unpack_from("<II", data, 12)
    assert jtype == 0x4E4F534A
    doc = json.loads(data[20 : 20 + jlen])
    blen, btype = struct.unpack_from("<II", data, 20 + jlen)
    assert btype == 0x004E4942
    return doc, data[28 + jlen : 28 + jlen + blen]


_TYPES = {5126: np.float32, 5125: np.uint32, 5123: np.uint16, 5121: np.uint8}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def accessor(doc: dict, binary: bytes, index: int) -> np.ndarray:
    a = doc["accessors"][index]
    width = _WIDTH[a["type"]]
    if "bufferView" not in a:
        return np.zeros((a["count"], width))
    v = doc["bufferViews"][a["bufferView"]]
    out = np.frombuffer(
        binary, _TYPES[a["componentType"]], a["count"] * width,
        v.get("byteOffset", 0) + a.get("byteOffset", 0),
    )  # fmt: skip
    return out.reshape(a["count"], width).astype(np.float64)


def test_khronos_validator_finds_no_errors(export, tmp_path: Path) -> None:
    need_node_package("gltf-validator")
    _, _, data, _ = export
    path = tmp_path / "digi.glb"
    path.write_bytes(data)
    script = Path(__file__).with_name("gltf_validate.mjs")
    run = subprocess.run(
        ["node", str(script), str(path)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    print(f"validator: {report['errors']} errors, {report['warnings']} warnings, "
          f"{report['infos']} infos, {report['hints']} hints")  # fmt: skip
    print("\n".join(report["messages"]))
    assert report["errors"] == 0
    assert report["warnings"] == 0


def test_structure_joints_animations_camera(export) -> None:
    subject, takes, data, seconds = export
    doc, _ = read_glb(data)
    rig = subject.rig
    print(f"export of {', '.join(TAKES)}: {seconds:.2f} s, {len(data) / 1e6:.2f} MB")
    (skin,) = doc["skins"]
    joints = [doc["nodes"][j] for j in skin["joints"]]
    assert [n["name"] for n in joints] == [b.name for b in rig.bones]
    parent_of = {c: i for i, n in enumerate(doc["nodes"]) for c in n.get("children", [])}
    assert [parent_of.get(j, -1) for j in skin["joints"]] == [b.parent for b in rig.bones]
    anims = {a["name"]: a for a in doc["animations"]}
    assert list(anims) == list(TAKES)
    for name, take in takes.items():
        ends = [doc["accessors"][s["input"]]["max"][0] for s in anims[name]["samplers"]]
        assert max(ends) == pytest.approx(take.duration, abs=1e-5)
    cam = doc["cameras"][0]["orthographic"]
    node = next(n for n in doc["nodes"] if "camera" in n)
    x0, y0, x1, y1 = (v * METRES_PER_UNIT for v in camera_for(list(takes.values()), 512).rect)
    assert node["translation"][:2] == pytest.approx([(x0 + x1) / 2, (y0 + y1) / 2])
    assert (cam["xmag"], cam["ymag"]) == pytest.approx(((x1 - x0) / 2, (y1 - y0) / 2))


def _trs_matrix(t, r, s) -> np.ndarray:
    x, y, z, w = r
    rot = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip
    m = np.eye(4)
    m[:3, :3] = rot * np.asarray(s)
    m[:3, 3] = t
    return m


def _evaluate(doc: dict, binary: bytes, anim: dict | None, key: int):
    """glTF's node hierarchy and morph weights at key `key` of an animation (None: the
    nodes' own pose and the mesh's default weights)."""
    nodes = doc["nodes"]
    trs = [
        [
            n.get("translation", [0, 0, 0]),
            n.get("rotation", [0, 0, 0, 1]),
            n.get("scale", [1, 1, 1]),
        ]
        for n in nodes
    ]
    weights = np.array(doc["meshes"][0].get("weights", []), np.float64)
    for ch in anim["channels"] if anim else []:
        out = accessor(doc, binary, anim["samplers"][ch["sampler"]]["output"])
        node, path = ch["target"]["node"], ch["target"]["path"]
        if path == "weights":
            weights = out.reshape(-1, len(weights))[key]
        else:
            trs[node][("translation", "rotation", "scale").index(path)] = out[key]
    parent = {c: i for i, n in enumerate(nodes) for c in n.get("children", [])}
    glob: dict[int, np.ndarray] = {}

    def world(i: int) -> np.ndarray:
        if i not in glob:
            m = _trs_matrix(*trs[i])
            glob[i] = world(parent[i]) @ m if i in parent else m
        return glob[i]

    return world, weights


def test_gltf_maths_reproduces_our_frames(export) -> None:
    """Skin every primitive the way the glTF spec says, at every key of each take, and
    compare with the engine's baked draw list (vertices, visibility, alpha)."""
    subject, takes, data, _ = export
    doc, _ = read_glb(data)
    names = doc["meshes"][0]["extras"]["targetNames"]
    px_per_metre = camera_for(list(takes.values()), 512).scale / METRES_PER_UNIT
    worst = gltf_maths_error(subject, data, takes, px_per_metre)
    print(f"glTF maths vs our frames: worst vertex {worst:.3f} px at 512; targets {names}")
    assert worst <= MAX_VERTEX_PX


def gltf_maths_error(
    subject: Subject, data: bytes, takes: dict, px_per_metre: float, rest=None
) -> float:
    """The worst vertex distance (pixels) between glTF's maths and our frames over every key
    of each animation (and `rest`, a frame, against the nodes' own pose and default
    weights); asserts visibility and alpha on the way."""
    doc, binary = read_glb(data)
    rig = subject.rig
    (skin,) = doc["skins"]
    ibm = accessor(doc, binary, skin["inverseBindMatrices"]).reshape(-1, 4, 4).transpose(0, 2, 1)
    worst = 0.0
    runs = [(a, takes[a["name"]].frames) for a in doc.get("animations", [])]
    if rest is not None:
        runs.append((None, [rest]))
    for a, frames in runs:
        for f in frames:
            world, weights = _evaluate(doc, binary, a, f.index)
            joint_m = np.stack([world(j) @ ibm[k] for k, j in enumerate(skin["joints"])])
            drawn = {(rig.slots[d.slot].name, d.attachment): d for d in f.draw}
            for prim in doc["meshes"][0]["primitives"]:
                at = prim["attributes"]
                pos = accessor(doc, binary, at["POSITION"])
                alpha = np.ones(len(pos))
                for t, target in enumerate(prim.get("targets", [])):
                    pos = pos + weights[t] * accessor(doc, binary, target["POSITION"])
                    alpha = alpha + weights[t] * accessor(doc, binary, target["COLOR_0"])[:, 3]
                jn = accessor(doc, binary, at["JOINTS_0"]).astype(int)
                wt = accessor(doc, binary, at["WEIGHTS_0"])
                p4 = np.concatenate([pos, np.ones((len(pos), 1))], 1)
                skinned = np.einsum("vk,vkij,vj->vi", wt, joint_m[jn], p4)[:, :2]
                for slot, att, start, count in prim["extras"]["parts"]:
                    mine = slice(start, start + count)
                    d = drawn.get((slot, att))
                    shown = d is not None and d.color[3] > 0
                    where = f"{a['name'] if a else 'rest'} frame {f.index}: {slot}/{att}"
                    if not shown:
                        assert alpha[mine].max() <= 1e-6, f"{where} should be hidden"
                        size = np.ptp(skinned[mine], axis=0).max() * px_per_metre
                        assert size <= MAX_COLLAPSED_PX, f"{where} collapses to {size:.3f} px"
                        continue
                    assert alpha[mine] == pytest.approx(d.color[3], abs=1e-6), where
                    err = np.abs(skinned[mine] - d.vertices * METRES_PER_UNIT).max()
                    worst = max(worst, err * px_per_metre)
    return worst


PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script type="importmap">{"imports": {"three": "/node_modules/three/build/three.module.js",
"three/addons/": "/node_modules/three/examples/jsm/"}}</script></head>
<body style="margin:0"><canvas id="c" width="SIZE" height="SIZE"></canvas>
<script type="module">
import * as THREE from "three";
import { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";
const canvas = document.getElementById("c");
const renderer = new THREE.WebGLRenderer({ canvas, alpha: true, antialias: true,
  preserveDrawingBuffer: true, premultipliedAlpha: true });
renderer.setPixelRatio(1);
renderer.setSize(SIZE, SIZE, false);
renderer.setClearColor(0x000000, 0);
renderer.outputColorSpace = THREE.SRGBColorSpace;  // sRGB art in, the same sRGB out
const gltf = await new GLTFLoader().loadAsync("digi.glb");
const scene = new THREE.Scene();
scene.add(gltf.scene);
const [x0, y0, x1, y1] = RECT;
const camera = new THREE.OrthographicCamera(x0, x1, y1, y0, 0.01, 100);
camera.position.set(0, 0, 10);
const mixer = new THREE.AnimationMixer(gltf.scene);
window.show = (name, t) => {  // name null: the nodes' own (rest) pose and weights
  mixer.stopAllAction();
  if (name) {
    mixer.clipAction(THREE.AnimationClip.findByName(gltf.animations, name)).play();
    mixer.setTime(t);
  }
  renderer.render(scene, camera);
  return canvas.toDataURL("image/png");
};
window.ready = true;
</script></body></html>"""


def _tint_shift(renderer, frame, camera, theirs, ours, slots) -> float:
    """The largest per-channel mean signed difference (0..255) over the pixels where the
    tinted slots show (found by rendering the frame again without them). Filtering noise
    along the ink lines averages out in a signed mean; a lost or mis-encoded tint does not."""
    colors = frame.colors.copy()
    colors[slots, 3] = 0.0
    without = compare.straight(renderer.render(replace(frame, colors=colors), camera))
    mask = np.abs(without.astype(int) - ours.astype(int)).max(-1) > 8
    mask &= (theirs[..., 3] > 230) & (ours[..., 3] > 230)
    mask = binary_erosion(mask, iterations=1)
    d = theirs[..., :3].astype(float) - ours[..., :3].astype(float)
    return float(np.abs(d[mask].mean(axis=0)).max()) if mask.any() else 0.0


def _open_player(page, runtime_server, data: bytes, camera) -> None:
    """The three.js page with `data` loaded, its camera our `camera`'s rect."""
    need_node_package("three")
    rect = [v * METRES_PER_UNIT for v in camera.rect]
    runtime_server.put("digi.glb", data)
    html = PAGE.replace("SIZE", str(camera.width)).replace("RECT", json.dumps(rect))
    page.goto(runtime_server.put("index.html", html))
    page.wait_for_function("window.ready === true", timeout=30000)


def _three_frame(page, take, index: int) -> np.ndarray:
    """three.js's picture of frame `index` of `take` (straight RGBA). The time is the key's
    own time as float32 stores it, a hair later: STEP weights and LINEAR joints both read
    exactly that key."""
    t = float(np.float32(index * take.frame_time)) + 1e-6
    url = page.evaluate("([n, t]) => window.show(n, t)", [take.name, t])
    return compare.load(base64.b64decode(url.split(",", 1)[1]))


def test_three_js_plays_it_like_our_renderer(export, page, runtime_server, shot) -> None:
    subject, takes, data, _ = export
    camera = camera_for(list(takes.values()), SIZE)
    _open_player(page, runtime_server, data, camera)
    theirs_all, ours_all = [], []
    tinted = [s.index for s in subject.rig.slots if s.color[:3] != (1.0, 1.0, 1.0)]
    with FrameRenderer(subject, SIZE) as renderer:
        for name, index in SHOTS:
            take = takes[name]
            theirs = _three_frame(page, take, index)
            ours = compare.straight(renderer.render(take.frames[index], camera))
            iou, diff = compare.iou(theirs, ours), compare.color_diff(theirs, ours)
            tint = _tint_shift(renderer, take.frames[index], camera, theirs, ours, tinted)
            print(f"{name} frame {index}: IoU {iou:.4f}, colour diff {diff:.2f}, "
                  f"tinted parts' shift {tint:.2f}")  # fmt: skip
            theirs_all.append(theirs)
            ours_all.append(ours)
            assert iou >= MIN_IOU, f"{name} frame {index}: IoU {iou:.4f}"
            assert diff <= MAX_COLOR_DIFF, f"{name} frame {index}: colour diff {diff:.2f}"
            assert abs(tint) <= MAX_TINT_SHIFT, f"{name} frame {index}: tint shift {tint:.2f}"
    # top row three.js, bottom row ours
    top, bottom = compare.side_by_side(*theirs_all), compare.side_by_side(*ours_all)
    both = Image.new("RGB", (top.width, top.height * 2))
    both.paste(top, (0, 0))
    both.paste(bottom, (0, top.height))
    shot("gltf_threejs_vs_ours.png", both)
    both.save(Path(runtime_server.files) / "side_by_side.png")


def test_three_js_shows_colour_filters_baked(page, runtime_server) -> None:
    """A recoloured avatar (hue turned 120 degrees): the filter is baked into the texture, so
    three.js shows our colours. Unbaked, the colour diff would be ~60 (orange hair vs
    green); the thresholds are the main test's."""
    subject = Subject(load_bundle("digi"), colors={WHOLE: (120.0, 1.2, 1.0, 1.0)})
    (out,) = export_gltf(Job(subject, ["walk"], size=SIZE))
    take = bake(subject, "walk", 30)
    camera = camera_for(take, SIZE)
    _open_player(page, runtime_server, out.data, camera)
    theirs = _three_frame(page, take, 8)
    with FrameRenderer(subject, SIZE) as renderer:
        ours = compare.straight(renderer.render(take.frames[8], camera))
    iou, diff = compare.iou(theirs, ours), compare.color_diff(theirs, ours)
    print(f"recoloured walk frame 8: IoU {iou:.4f}, colour diff {diff:.2f}")
    assert iou >= MIN_IOU
    assert diff <= MAX_COLOR_DIFF


# --- parameter mesh deforms (a generated face) ----------------------------------------------

# The worn face's expression: the mouth opened and the left eye closed, both mesh deforms of
# the face (and the mouth's) mesh, in the frame of the head bone.
EXPRESSION = {"ParamMouthOpenY": 1.0, "ParamEyeLOpen": 0.0}
# glTF's maths vs our skinned face at 512 px with its deforms as morph targets: the face's
# meshes follow the head bone alone, so the mapping into bind space is exact and what is left
# is float32 and the 0.01-unit state quantum (~0.01 px). A target mapped through the wrong
# frame (the frame's own head instead of the bind pose's, or no rotation) lands the mouth
# several pixels off; a missing target, its full deform (~20 px).
MAX_DEFORM_PX = 0.1


def _sweep(subject: Subject, count: int) -> Take:
    """A made-up take of `count` stills sweeping the head turn and the mouth together:
    continuous deforms, more distinct states than one target each."""
    frames = []
    for i in range(count):
        u = i / (count - 1)
        params = {"ParamAngleX": -30.0 + 60.0 * u, "ParamMouthOpenY": u, "ParamBrowLY": u - 0.5}
        (f,) = still(subject, parameters=params).frames
        frames.append(replace(f, index=i, time=i / 30))
    out = tuple(frames)
    return Take("sweep", "idle", None, False, 30.0, 1 / 30, out, _bounds(out))


def test_deforms_become_morph_targets_that_match_our_frames() -> None:
    """The worn face with an expression (the rest pose: one target per deform state, default
    weights 1) and a sweep of head turns and mouth openings (44 states: the basis path),
    skinned by glTF's maths against our draw lists, vertex by vertex."""
    subject = Subject(worn(), "astro")
    rest = still(subject, parameters=EXPRESSION).frames[0]
    assert rest.deformed, "the expression should deform the face"
    sweep = _sweep(subject, 44)
    camera = camera_for([sweep], 512)
    data = build_glb(subject, [sweep], rest, camera.rect, 512, 512)
    doc, _ = read_glb(data)
    names = doc["meshes"][0]["extras"]["targetNames"]
    face = [n for n in names if n.startswith("deform") and n.endswith(" face/face")]
    # the face shows 45 states (44 sweep + the expression): more than MAX_DEFORM_STATES,
    # so a basis; head turn, mouth and brow keys span at most 3 keys each side + the eye
    assert 0 < len(face) <= MAX_DEFORM_STATES, names
    px_per_metre = camera.scale / METRES_PER_UNIT
    worst = gltf_maths_error(subject, data, {"sweep": sweep}, px_per_metre, rest=rest)
    print(f"deforms: {len(face)} face targets for 45 states; worst vertex {worst:.4f} px at 512")
    assert worst <= MAX_DEFORM_PX
    # the expression alone: one target per deformed mesh, weight 1 at rest
    data = build_glb(subject, [], rest, camera.rect, 512, 512)
    doc, _ = read_glb(data)
    mesh = doc["meshes"][0]
    named = dict(zip(mesh["extras"]["targetNames"], mesh["weights"], strict=True))
    deforms = {n: w for n, w in named.items() if n.startswith("deform")}
    assert deforms == {"deform 0 face_mouth/face_mouth": 1.0, "deform 0 face/face": 1.0}
    worst = gltf_maths_error(subject, data, {}, px_per_metre, rest=rest)
    print(f"expression at rest: worst vertex {worst:.4f} px at 512")
    assert worst <= MAX_DEFORM_PX
