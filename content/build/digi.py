#!/usr/bin/env python3
"""Builds Digi, the default avatar: atlas, rig, animation set, state machine, sprite libraries.

    .venv/bin/python content/build/digi.py

Reads the hand-authored SVGs in content/art/digi/ and writes (deterministically):

- content/atlases/digi/atlas.{png,json}   the rasterized, packed pictures;
- rigs/digi/rig.json                     skeleton, slots, skinned meshes, IK, parameters,
                                         springs (rig schema 1, rigs/README.md);
- content/animations/digi/*.json         27 clips + statemachine.json (content/README.md);
- content/sprites/digi/{base,winter}.json  sprite libraries (body / outfit / accessories).

Digi is a chibi (about 3.5 heads) in a three-quarter view facing +x (screen right), like the
test rig, so the character's RIGHT side (`_r`) is the near side; feet on y = 0, y up. Bone
names, IK setup and the sign conventions of content/build/testrig.py carry over:

- body bones point up: +rotation leans BACK (towards -x), -rotation leans forward;
- hanging arms: +rotation swings the arm forward (+x) and up; forearms bend positive;
- hanging hair: +rotation swings the tip forward (+x);
- ik_* targets are children of the root: their position offsets are world offsets.

Do not edit the generated files by hand; change the art or this script and run it again.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import digi_art
import rigkit as C
from rigkit import Mesh, Skeleton, dirv, normalise_weights, partition, rnd, smoothstep

REPO = Path(__file__).resolve().parents[2]
RIG_PATH = REPO / "rigs" / "digi" / "rig.json"
ANIM_DIR = REPO / "content" / "animations" / "digi"
SPRITE_DIR = REPO / "content" / "sprites" / "digi"

BODIES = ("default", "muscular", "slim")
OUTFITS = ("casual", "formal", "armor")
FAR_TINT = [0.86, 0.86, 0.93, 1]  # far-side limbs a touch darker and cooler: depth

# --------------------------------------------------------------------------------------
# skeleton (world start, world angle, length); "tip:bone" starts at a bone's tip

HIP_Y = 180.0
# hair chains: (name, parent, points in art coordinates (svg X, Y) root -> mid -> tip)
FRONT_LOCKS = {
    1: [(-41.5, 86), (-50.5, 120), (-47, 148)],
    2: [(-14.5, 86), (-16.5, 121), (-3, 149)],
    3: [(11, 86), (8, 126), (13, 162)],
    4: [(37, 87), (35.5, 116), (43, 140)],
    5: [(60.5, 92), (61.5, 117), (71, 141)],
}
SIDE_LOCKS = {
    "r": [(-52, 106), (-60, 156), (-57, 208)],
    "l": [(55, 108), (69, 150), (75, 188)],
}
BACK_CHAIN = [(-30, 155), (-55, 200), (-76, 222)]
SCARF_CHAIN = [(-13, 222), (-14, 244), (-15, 266), (-15.5, 288)]


def w(p):
    """Art (svg) coordinates -> world."""
    return (float(p[0]), 500.0 - float(p[1]))


def chain_specs(prefix, parent, pts):
    specs = []
    pw = [np.array(w(p)) for p in pts]
    for k in range(len(pw) - 1):
        d = pw[k + 1] - pw[k]
        ang = math.degrees(math.atan2(d[1], d[0]))
        specs.append(
            (
                f"{prefix}_{k + 1}",
                parent if k == 0 else f"{prefix}_{k}",
                tuple(pw[k]) if k == 0 else None,
                ang,
                float(np.hypot(*d)),
                "normal",
            )
        )
    return specs


BONE_SPECS = [
    ("root", None, (0, 0), 0, 0, "normal"),
    ("hips", "root", (0, HIP_Y), 90, 22, "normal"),
    ("spine", "hips", None, 90, 30, "normal"),
    ("chest", "spine", None, 90, 42, "normal"),
    ("neck", "chest", None, 90, 20, "noScale"),
    ("head", "neck", None, 90, 130, "normal"),
    # face: world-aligned bones (angle 0) for parallax and expressions
    ("face", "head", (8, 345), 0, 10, "normal"),
    ("eyesock_r", "face", (-19, 345), 0, 6, "normal"),
    ("eye_r", "eyesock_r", (-19, 345), 0, 4, "normal"),
    ("eyesock_l", "face", (32.5, 345), 0, 6, "normal"),
    ("eye_l", "eyesock_l", (32.5, 345), 0, 4, "normal"),
    ("brow_r", "face", (-20, 373), 0, 6, "normal"),
    ("brow_l", "face", (32, 373), 0, 6, "normal"),
    ("nose", "face", (16, 324), 0, 4, "normal"),
    ("mouth", "face", (12, 310), 0, 6, "normal"),
    ("mouth_open", "mouth", (12, 315), 0, 4, "normal"),
    ("glasses", "face", (6, 348), 0, 6, "normal"),
    ("hair_top", "head", (0, 400), 0, 8, "normal"),
    ("hat", "head", (0, 432), 0, 8, "normal"),
]
for k, pts in FRONT_LOCKS.items():
    BONE_SPECS += chain_specs(f"hair_front_{k}", "hair_top", pts)
for side, pts in SIDE_LOCKS.items():
    BONE_SPECS += chain_specs(f"hair_side_{side}", "head", pts)
BONE_SPECS += chain_specs("hair_back", "head", BACK_CHAIN)
BONE_SPECS += [
    # the far (left) arm, then the near (right) arm
    ("shoulder_l", "chest", (4, 264), 0, 13, "normal"),
    ("upperarm_l", "shoulder_l", None, -87, 44, "normal"),
    ("forearm_l", "upperarm_l", None, -84, 40, "normal"),
    ("hand_l", "forearm_l", None, -84, 12, "normal"),
    ("fingers_l", "hand_l", None, -84, 10, "normal"),
    ("shoulder_r", "chest", (-8, 264), 180, 13, "normal"),
    ("upperarm_r", "shoulder_r", None, -98, 44, "normal"),
    ("forearm_r", "upperarm_r", None, -95, 40, "normal"),
    ("hand_r", "forearm_r", None, -95, 12, "normal"),
    ("fingers_r", "hand_r", None, -95, 10, "normal"),
]
BONE_SPECS += chain_specs("scarf", "chest", SCARF_CHAIN)
BONE_SPECS += [
    # legs: the far leg sits a little higher (it is further away); knees point forward
    ("thigh_l", "hips", (2, 182), -89, 78, "normal"),
    ("shin_l", "thigh_l", None, -91, 72, "normal"),
    ("foot_l", "shin_l", None, -35, 20, "normal"),
    ("toe_l", "foot_l", None, -5, 12, "normal"),
    ("thigh_r", "hips", (-5, 178), -91, 78, "normal"),
    ("shin_r", "thigh_r", None, -89, 72, "normal"),
    ("foot_r", "shin_r", None, -35, 20, "normal"),
    ("toe_r", "foot_r", None, -5, 12, "normal"),
    ("ik_hand_l", "root", "tip:forearm_l", 0, 8, "normal"),
    ("ik_hand_r", "root", "tip:forearm_r", 0, 8, "normal"),
    ("ik_foot_l", "root", "tip:shin_l", 0, 8, "normal"),
    ("ik_foot_r", "root", "tip:shin_r", 0, 8, "normal"),
]

SK = Skeleton(BONE_SPECS)
C.set_skeleton(SK)

FRONT_CHAINS = [f"hair_front_{k}" for k in FRONT_LOCKS]
SIDE_CHAINS = ["hair_side_r", "hair_side_l"]
HAIR_CHAINS = FRONT_CHAINS + SIDE_CHAINS + ["hair_back"]


def to_local(bone: str, p) -> np.ndarray:
    """A world point in a bone's local frame at the setup pose (scales are all 1)."""
    o, a = SK.world[bone]
    r = math.radians(-a)
    d = np.asarray(p, float) - o
    return np.array(
        [d[0] * math.cos(r) - d[1] * math.sin(r), d[0] * math.sin(r) + d[1] * math.cos(r)]
    )


# --------------------------------------------------------------------------------------
# meshes

PICS = digi_art.load_pictures()
USED: set[str] = set()


def pic(name: str) -> digi_art.Picture:
    USED.add(name)
    p = PICS[name]
    if p.image is None:
        p.image = digi_art.rasterize(p)
    return p


def extent(p: digi_art.Picture, s0: float, s1: float, margin: float = 2.5) -> tuple[float, float]:
    """The art's horizontal extent (svg units) over the band s0..s1 of a picture, widened by
    `margin` and clamped to the viewBox: tight strips keep the art's outline next to the mesh
    edges, where bending distorts it least."""
    x, y, ww, hh = p.vb
    H, W = p.image.shape[:2]
    r0 = max(math.floor((min(s0, s1) - y) / hh * H) - 1, 0)
    r1 = min(math.ceil((max(s0, s1) - y) / hh * H) + 1, H)
    cols = np.nonzero(p.image[r0:r1, :, 3].max(axis=0) > 0)[0]
    if cols.size == 0:
        return x + ww / 2 - 1, x + ww / 2 + 1
    lo = x + cols[0] / W * ww - margin
    hi = x + (cols[-1] + 1) / W * ww + margin
    return max(lo, x), min(hi, x + ww)


def grid_over(p: digi_art.Picture, xs, ys, to_world, weight_fn=None) -> Mesh:
    """A grid over the whole picture: xs / ys are picture coordinates (svg units)."""
    m = Mesh(p.path)
    for Y in ys:
        for X in xs:
            q = np.array(to_world(X, Y), float)
            m.vertices.append(q)
            m.uvs.append(p.uv(X, Y))
            if weight_fn is not None:
                m.weights.append(weight_fn(q, X, Y))
    nx = len(xs)
    for r in range(len(ys) - 1):
        for c in range(nx - 1):
            i = r * nx + c
            m.triangles.append((i, i + 1, i + nx + 1))
            m.triangles.append((i, i + nx + 1, i + nx))
    if weight_fn is None:
        m.weights = None
    return m


def lin(a, b, n):
    return [a + (b - a) * k / (n - 1) for k in range(n)]


def pic_xs(p, n):
    return lin(p.vb[0], p.vb[0] + p.vb[2], n)


def pic_ys(p, n):
    return lin(p.vb[1], p.vb[1] + p.vb[3], n)


def world_frame(X, Y):
    return (X, 500.0 - Y)


def y_weights(joints, hws, bones):
    return lambda q, X, Y: partition(q[1], joints, hws, bones)


def limb_map(b1: str, b2: str, hw: float):
    """Limb frame (a across, s along the chain) -> world at the setup pose, normals blended
    across the joint so the picture bends smoothly there."""
    o1, d1 = SK.origin(b1), dirv(SK.angle(b1))
    L1 = SK.length[b1]
    o2, d2 = SK.origin(b2), dirv(SK.angle(b2))

    def f(a, s):
        c = o1 + d1 * s if s <= L1 else o2 + d2 * (s - L1)
        t = smoothstep((s - (L1 - hw)) / (2 * hw))
        tv = d1 * (1 - t) + d2 * t
        tv /= np.hypot(*tv)
        n = np.array([-tv[1], tv[0]])  # CCW normal: +x for a limb hanging down
        return c + n * a

    return f


ARM_ROWS = [-14, -8, -2, 4, 14, 24, 31, 35, 39, 44, 49, 53, 57, 66, 76, 86, 94]
LEG_ROWS = [-16, -8, 0, 8, 20, 36, 52, 62, 67, 72, 78, 84, 89, 94, 106, 126, 146, 160]


def limb_mesh(p, side, kind, rows):
    # The blend across the middle joint is narrow on the side that folds (a crisp crease:
    # the back of the knee, the crook of the elbow) and wide on the other (a round knee cap /
    # elbow), so the folding side never overlaps itself.
    if kind == "arm":
        f = limb_map(f"upperarm_{side}", f"forearm_{side}", 10)
        bones = [f"shoulder_{side}", f"upperarm_{side}", f"forearm_{side}"]
        joints = [1.0, 44.0]
        hws = lambda a: [7.0, 6.0]  # noqa: E731  (elbows bend both ways: a crisp crease)
    else:
        f = limb_map(f"thigh_{side}", f"shin_{side}", 12)
        bones = ["hips", f"thigh_{side}", f"shin_{side}"]
        joints = [3.0, 78.0]
        hws = lambda a: [8.0, 4.0 if a < 0 else 16.0]  # noqa: E731  (knee folds at the back)
    _x0, y0, _ww, hh = p.vb
    ys = [s for s in rows if y0 < s < y0 + hh]
    ys = sorted(set([y0, *ys, y0 + hh]))
    m = Mesh(p.path)
    for k, s in enumerate(ys):
        lo, hi = extent(p, ys[max(k - 1, 0)], ys[min(k + 1, len(ys) - 1)])
        for a in (lo, hi):
            m.vertices.append(np.array(f(a, s), float))
            m.uvs.append(p.uv(a, s))
            m.weights.append(partition(s, joints, hws(a), bones))
    for r in range(len(ys) - 1):
        i = 2 * r
        m.triangles.append((i, i + 1, i + 3))
        m.triangles.append((i, i + 3, i + 2))
    return m


def chain_strip(
    p, chain: str, parent: str, pts_art, widths, rows, ext=(4, 4), joint_hw=(5, 9), cols=2
):
    """A strip along a hair/scarf chain over world-space art; weights blend parent -> links."""
    pw = [np.array(w(q)) for q in pts_art]
    d0 = pw[1] - pw[0]
    d0 /= np.hypot(*d0)
    dn = pw[-1] - pw[-2]
    dn /= np.hypot(*dn)
    pts = [pw[0] - d0 * ext[0], *pw, pw[-1] + dn * ext[1]]
    seg = [pts[k + 1] - pts[k] for k in range(len(pts) - 1)]
    seglen = [float(np.hypot(*s)) for s in seg]
    cum = [0.0]
    for L in seglen:
        cum.append(cum[-1] + L)
    nlinks = len(pw) - 1
    bones = [parent] + [f"{chain}_{k + 1}" for k in range(nlinks)]
    joints = [cum[1] + ext[0] * 0.5] + [cum[k + 1] for k in range(1, nlinks)]
    hws = [joint_hw[0]] + [joint_hw[1]] * (nlinks - 1)
    dirs = [s / L for s, L in zip(seg, seglen, strict=False)]
    total = cum[-1]
    m = Mesh(p.path)
    for r in range(rows):
        s = total * r / (rows - 1)
        k = min(max(int(np.searchsorted(cum, s, side="right")) - 1, 0), len(seg) - 1)
        c = pts[k] + dirs[k] * (s - cum[k])
        t = np.zeros(2)
        for kk in range(len(seg)):
            lo, hi = cum[kk], cum[kk + 1]
            wgt = max(0.0, min(hi, s + 6) - max(lo, s - 6))
            t += dirs[kk] * wgt
        t /= np.hypot(*t)
        n = np.array([-t[1], t[0]])
        wd = float(np.interp(s, cum, widths))
        ws = partition(s, joints, hws, bones)
        for ci in range(cols):
            f = ci / (cols - 1) - 0.5
            q = c + n * f * wd
            X, Y = p.world_to_pic(*q)
            # keep the strip inside the picture (clamped vertices stay on transparent texels)
            X = min(max(X, p.vb[0]), p.vb[0] + p.vb[2])
            Y = min(max(Y, p.vb[1]), p.vb[1] + p.vb[3])
            m.vertices.append(np.array(w((X, Y))))
            m.uvs.append(p.uv(X, Y))
            m.weights.append(ws)
    for r in range(rows - 1):
        for ci in range(cols - 1):
            i = r * cols + ci
            m.triangles.append((i, i + 1, i + cols + 1))
            m.triangles.append((i, i + cols + 1, i + cols))
    return m


def region(p, bone, center_world=None, scale=1.0, rotation=None, local_center=None):
    """A region showing a whole picture, upright in the world at the setup pose."""
    x, y, ww, hh = p.vb
    if local_center is None:
        cw = center_world if center_world is not None else w((x + ww / 2, y + hh / 2))
        lc = to_local(bone, cw)
    else:
        lc = np.asarray(local_center, float)
    rot = -SK.angle(bone) if rotation is None else rotation
    return {
        "type": "region",
        "path": p.path,
        "x": rnd(lc[0]),
        "y": rnd(lc[1]),
        "rotation": rnd(((rot + 180) % 360) - 180),
        "width": rnd(ww * scale),
        "height": rnd(hh * scale),
    }


HAND_SCALE = 1.35


def hand_region(p, side):
    """Local hand frame (wrist 0,0; fingers +Y; thumb +X) on the hand bone: picture (X, Y)
    -> bone (Y, X) (rotation 90)."""
    x, y, ww, hh = p.vb
    cx, cy = x + ww / 2, y + hh / 2
    return {
        "type": "region",
        "path": p.path,
        "x": rnd(cy * HAND_SCALE),
        "y": rnd(cx * HAND_SCALE),
        "rotation": 90,
        "width": rnd(ww * HAND_SCALE),
        "height": rnd(hh * HAND_SCALE),
    }


def hand_mesh(p, side):
    hb, fb = f"hand_{side}", f"fingers_{side}"
    o, d = SK.origin(hb), dirv(SK.angle(hb))
    n = np.array([-d[1], d[0]])
    L = SK.length[hb]

    def to_world(X, Y):
        return o + d * (Y * HAND_SCALE) + n * (X * HAND_SCALE)

    def wf(q, X, Y):
        return partition(Y * HAND_SCALE, [L], [4.0], [hb, fb])

    x0, y0, ww, hh = p.vb
    return grid_over(p, [x0, x0 + ww], [y0, 4, 10, 16, y0 + hh], to_world, wf)


def shoe_mesh(p, side):
    ft, to = f"foot_{side}", f"toe_{side}"
    ankle = SK.origin(ft)
    ball = to_local(ft, SK.tip(ft))  # noqa: F841

    def to_world(X, Y):
        return (ankle[0] + X, ankle[1] - Y)

    ball_x = SK.tip(ft)[0] - ankle[0]

    def wf(q, X, Y):
        return partition(X, [ball_x], [7.0], [ft, to])

    x0, y0, ww, hh = p.vb
    xs = sorted(set([x0, ball_x - 8, ball_x, ball_x + 8, x0 + ww]))
    return grid_over(p, xs, [y0, y0 + hh], to_world, wf)


def head_mesh(p):
    face_c = np.array([10.0, 335.0])

    def wf(q, X, Y):
        r = np.hypot(*(q - face_c)) / 62.0
        f = 0.55 * (1 - smoothstep(r))
        if f < 0.01:
            return [("head", 1.0)]
        return normalise_weights([("head", 1 - f), ("face", f)])

    return grid_over(p, pic_xs(p, 5), pic_ys(p, 5), world_frame, wf)


def back_hair_mesh(p):
    pw = [np.array(w(q)) for q in BACK_CHAIN]
    d1 = (pw[1] - pw[0]) / np.hypot(*(pw[1] - pw[0]))
    L1 = float(np.hypot(*(pw[1] - pw[0])))

    def wf(q, X, Y):
        s = float(np.dot(q - pw[0], d1))
        ws = partition(s, [6.0, L1], [10.0, 12.0], ["head", "hair_back_1", "hair_back_2"])
        # the nape behind the neck stays on the head; only the spikes at the back swing
        k = smoothstep((-q[0] - 30.0) / 30.0)
        return normalise_weights(
            [(b, x * (k if b != "head" else 1.0)) for b, x in ws] + [("head", 1.0 - k)]
        )

    return grid_over(p, pic_xs(p, 5), pic_ys(p, 5), world_frame, wf)


def crotch_mesh(p):
    """Skinned to both thighs across, to the hips at the top: spreads with the legs."""

    def wf(q, X, Y):
        across = partition(q[0], [-1.5], [7.0], ["thigh_r", "thigh_l"])
        k = smoothstep((172.0 - q[1]) / 30.0)  # 0 at the crotch (hips) .. 1 at the hem
        return normalise_weights([(b, x * k) for b, x in across] + [("hips", 1.0 - k)])

    return grid_over(p, pic_xs(p, 3), pic_ys(p, 4), world_frame, wf)


TORSO_W = y_weights([202.0, 232.0], [14.0, 14.0], ["hips", "spine", "chest"])
TORSO_ROWS = [340, 328, 316, 304, 292, 282, 272, 262, 250, 238, 226]


def torso_mesh(p, cols=3):
    ys = sorted(
        set(
            [p.vb[1], p.vb[1] + p.vb[3]]
            + [Y for Y in TORSO_ROWS if p.vb[1] < Y < p.vb[1] + p.vb[3]]
        )
    )
    return grid_over(p, pic_xs(p, cols), ys, world_frame, TORSO_W)


def build_attachments():
    A: dict[str, dict] = {}

    def put(slot, name, att):
        A.setdefault(slot, {})[name] = att

    # hair
    put("hair_back", "hair_back", back_hair_mesh(pic("hair_back")))
    put("hair_top", "hair_top", region(pic("hair_top"), "hair_top"))
    put("hair_top", "hair_top_hat", region(pic("hair_top_hat"), "hair_top"))
    lock_w = {
        1: [46, 42, 30, 14, 8],
        2: [48, 44, 32, 14, 8],
        3: [42, 38, 30, 14, 8],
        4: [42, 38, 28, 14, 8],
        5: [40, 36, 26, 14, 8],
    }
    for k, pts in FRONT_LOCKS.items():
        name = f"hair_front_{k}"
        put(
            name, name, chain_strip(pic(name), name, "hair_top", pts, lock_w[k], rows=6, ext=(5, 3))
        )
    side_w = {"r": [42, 38, 32, 16, 8], "l": [36, 32, 26, 14, 8]}
    for s, pts in SIDE_LOCKS.items():
        name = f"hair_side_{s}"
        put(name, name, chain_strip(pic(name), name, "head", pts, side_w[s], rows=7, ext=(6, 3)))
    # head and face
    put("head", "head", head_mesh(pic("head")))
    put("blush", "blush", region(pic("blush"), "face"))
    put("nose", "nose", region(pic("nose"), "nose"))
    for s in ("r", "l"):
        put(f"eye_white_{s}", "eye_white", region(pic(f"eye_white_{s}"), f"eyesock_{s}"))
        put(f"iris_{s}", "iris", region(pic(f"iris_{s}"), f"eye_{s}"))
        for lid in ("open", "half", "closed"):
            put(f"eyelid_{s}", f"lid_{lid}", region(pic(f"lid_{lid}_{s}"), f"eyesock_{s}"))
        put(f"eye_expr_{s}", "eye_closed", region(pic(f"lid_closed_{s}"), f"eyesock_{s}"))
        put(f"eye_expr_{s}", "eye_happy", region(pic(f"eye_happy_{s}"), f"eyesock_{s}"))
        put(f"brow_{s}", "brow", region(pic(f"brow_{s}"), f"brow_{s}"))
    for m in ("closed", "smile", "frown"):
        put("mouth_base", f"mouth_{m}", region(pic(f"mouth_{m}"), "mouth"))
    put("mouth_open", "mouth_open", region(pic("mouth_a"), "mouth_open"))
    put("mouth_open", "mouth_open_smile", region(pic("mouth_open_smile"), "mouth_open"))
    for v in "aiueo":
        put(f"mouth_{v}", f"mouth_{v}", region(pic(f"mouth_{v}"), "mouth"))
    put("mouth_expr", "mouth_laugh", region(pic("mouth_open_smile"), "mouth"))
    put("mouth_expr", "mouth_smile", region(pic("mouth_smile"), "mouth"))
    put("glasses", "glasses", region(pic("glasses"), "glasses"))
    put("hat", "hat_cap", region(pic("hat_cap"), "hat"))
    put("hat", "hat_winter", region(pic("hat_winter"), "hat"))
    # body variants
    neck_w = y_weights([276.0, 293.0], [5.0, 5.0], ["chest", "neck", "head"])
    for b in BODIES:
        p = pic(f"neck_{b}")
        put("neck", f"neck_{b}", grid_over(p, pic_xs(p, 2), pic_ys(p, 5), world_frame, neck_w))
        put("torso", f"torso_{b}", torso_mesh(pic(f"torso_{b}")))
        for s in ("l", "r"):
            put(f"arm_{s}", f"arm_{b}", limb_mesh(pic(f"arm_{b}"), s, "arm", ARM_ROWS))
            put(f"leg_{s}", f"leg_{b}", limb_mesh(pic(f"leg_{b}"), s, "leg", LEG_ROWS))
    # outfits
    for o in OUTFITS:
        put("shirt", f"shirt_{o}", torso_mesh(pic(f"shirt_{o}")))
        put("pelvis", f"pelvis_{o}", torso_mesh(pic(f"pelvis_{o}")))
        put("crotch", f"crotch_{o}", crotch_mesh(pic(f"crotch_{o}")))
        for s in ("l", "r"):
            put(f"sleeve_{s}", f"sleeve_{o}", limb_mesh(pic(f"sleeve_{o}"), s, "arm", ARM_ROWS))
            put(f"pants_{s}", f"pants_{o}", limb_mesh(pic(f"pants_{o}"), s, "leg", LEG_ROWS))
            put(f"shoe_{s}", f"shoe_{o}", shoe_mesh(pic(f"shoe_{o}"), s))
    # hands
    for s in ("l", "r"):
        put(f"hand_{s}", "hand", hand_mesh(pic("hand_relaxed"), s))
        for h in ("open", "fist", "point"):
            put(f"hand_{s}", f"hand_{h}", hand_region(pic(f"hand_{h}"), s))
    # accessories
    for suffix in ("", "_winter"):
        put("scarf", f"scarf_wrap{suffix}", region(pic(f"scarf_wrap{suffix}"), "neck"))
        put(
            "scarf_end",
            f"scarf_end{suffix}",
            chain_strip(
                pic(f"scarf_end{suffix}"),
                "scarf",
                "chest",
                SCARF_CHAIN,
                [28, 28, 28, 28, 28, 26],
                rows=8,
                ext=(4, 14),
            ),
        )
    # the tool, in the right fist: grip at 10 px along the hand, blade towards local +y
    sw = pic("sword")
    x, y, ww, hh = sw.vb
    cx, cy = x + ww / 2, y + hh / 2
    put(
        "tool",
        "sword",
        {
            "type": "region",
            "path": sw.path,
            "x": rnd(11 + cy),
            "y": rnd(1.0 + cx),
            "rotation": 90,
            "width": rnd(ww),
            "height": rnd(hh),
        },
    )
    return A


# back to front: (slot, bone, setup attachment, colour)
SLOTS = [
    ("hair_back", "head", "hair_back", None),
    ("crotch", "hips", "crotch_casual", None),
    ("arm_l", "upperarm_l", "arm_default", FAR_TINT),
    ("sleeve_l", "upperarm_l", "sleeve_casual", FAR_TINT),
    ("hand_l", "hand_l", "hand", FAR_TINT),
    ("leg_l", "thigh_l", "leg_default", FAR_TINT),
    ("pants_l", "thigh_l", "pants_casual", FAR_TINT),
    ("shoe_l", "foot_l", "shoe_casual", FAR_TINT),
    ("leg_r", "thigh_r", "leg_default", None),
    ("pants_r", "thigh_r", "pants_casual", None),
    ("shoe_r", "foot_r", "shoe_casual", None),
    ("neck", "neck", "neck_default", None),
    ("torso", "chest", "torso_default", None),
    ("pelvis", "hips", "pelvis_casual", None),
    ("shirt", "chest", "shirt_casual", None),
    ("scarf", "neck", None, None),
    ("scarf_end", "scarf_1", None, None),
    ("hair_side_l", "head", "hair_side_l", FAR_TINT),
    ("head", "head", "head", None),
    ("nose", "nose", "nose", None),
    ("mouth_base", "mouth", "mouth_closed", None),
    ("mouth_open", "mouth_open", "mouth_open", None),
    ("mouth_a", "mouth", "mouth_a", None),
    ("mouth_i", "mouth", "mouth_i", None),
    ("mouth_u", "mouth", "mouth_u", None),
    ("mouth_e", "mouth", "mouth_e", None),
    ("mouth_o", "mouth", "mouth_o", None),
    ("mouth_expr", "mouth", None, None),
    ("eye_white_r", "eyesock_r", "eye_white", None),
    ("iris_r", "eye_r", "iris", None),
    ("eyelid_r", "eyesock_r", "lid_open", None),
    ("eye_expr_r", "eyesock_r", None, None),
    ("eye_white_l", "eyesock_l", "eye_white", None),
    ("iris_l", "eye_l", "iris", None),
    ("eyelid_l", "eyesock_l", "lid_open", None),
    ("eye_expr_l", "eyesock_l", None, None),
    ("blush", "face", "blush", None),
    ("brow_r", "brow_r", "brow", None),
    ("brow_l", "brow_l", "brow", None),
    ("glasses", "glasses", None, None),
    ("hair_side_r", "head", "hair_side_r", None),
    ("hair_top", "hair_top", "hair_top", None),
    ("hair_front_1", "hair_top", "hair_front_1", None),
    ("hair_front_2", "hair_top", "hair_front_2", None),
    ("hair_front_5", "hair_top", "hair_front_5", None),
    ("hair_front_4", "hair_top", "hair_front_4", None),
    ("hair_front_3", "hair_top", "hair_front_3", None),
    ("hat", "hat", None, None),
    # the near arm last: raised, it passes in front of the big chibi head
    ("arm_r", "upperarm_r", "arm_default", None),
    ("sleeve_r", "upperarm_r", "sleeve_casual", None),
    ("tool", "hand_r", None, None),
    ("hand_r", "hand_r", "hand", None),
]


def build_ik():
    ik = []
    for s in ("l", "r"):
        ik.append(
            {
                "name": f"arm_{s}_ik",
                "solver": "limb",
                "bones": [f"upperarm_{s}", f"forearm_{s}"],
                "target": f"ik_hand_{s}",
                "mix": 0.0,
                "bend": "positive",
                # relative to the setup bend (+5 / +3): from straight to fully bent
                "limits": {f"forearm_{s}": [-5, 145]},
            }
        )
    for s in ("l", "r"):
        ik.append(
            {
                "name": f"leg_{s}_ik",
                "solver": "limb",
                "bones": [f"thigh_{s}", f"shin_{s}"],
                "target": f"ik_foot_{s}",
                "mix": 1.0,
                "bend": "negative",
                # the knee bends forward: from straight (+2) to fully bent
                "limits": {f"shin_{s}": [-145, 2]},
            }
        )
    return ik


# --------------------------------------------------------------------------------------
# parameters


def wpos(bone, dx, dy):
    """A world offset as a bone's x/y position offset (in its parent's frame at setup)."""
    return SK.to_parent_frame(bone, dx, dy)


def bind3(bone, prop, lo, hi, pmin=-30, pmax=30, mid=None):
    m = mid if mid is not None else (1 if prop in ("scaleX", "scaleY") else 0)
    return {"bone": bone, "property": prop, "keys": [[pmin, rnd(lo)], [0, rnd(m)], [pmax, rnd(hi)]]}


def bind_xy(bone, dx, dy, pmin=-30, pmax=30, neg=None):
    """Bindings moving `bone` by world (dx, dy) at pmax and by `neg` (default -(dx, dy)) at pmin."""
    hi = wpos(bone, dx, dy)
    lo = wpos(bone, *(neg if neg is not None else (-dx, -dy)))
    out = []
    for axis, prop in ((0, "x"), (1, "y")):
        if abs(hi[axis]) > 1e-6 or abs(lo[axis]) > 1e-6:
            out.append(bind3(bone, prop, lo[axis], hi[axis], pmin, pmax))
    return out


def slot_alpha(slot, keys):
    return {"slot": slot, "property": "alpha", "keys": [[a, b] for a, b in keys]}


def slot_att(slot, keys):
    return {"slot": slot, "property": "attachment", "keys": [[a, b] for a, b in keys]}


VOWELS = ("A", "I", "U", "E", "O")


def build_parameters():
    P = []

    def param(pid, lo, hi, default, bindings):
        P.append({"id": pid, "min": lo, "max": hi, "default": default, "bindings": bindings})

    # head yaw: +30 turns the face towards +x (more profile), -30 towards the viewer.
    # Parallax: face parts shift more than the head outline, the fringe more than the face,
    # the back hair the other way; the far eye narrows as it turns away.
    b = []
    b += bind_xy("head", 2.5, 0)
    b += bind_xy("face", 7, 0, neg=(-8, 0))
    b += bind_xy("nose", 3.5, 0, neg=(-4, 0))
    b += bind_xy("mouth", 1.5, 0, neg=(-2, 0))
    b += bind_xy("eyesock_l", 1.5, 0, neg=(-1, 0))
    b += bind_xy("eyesock_r", 0.5, 0, neg=(-1.5, 0))
    b += bind_xy("brow_l", 1.5, 0, neg=(-1, 0))
    b += bind_xy("hair_top", 10, 0, neg=(-11, 0))
    b += bind_xy("hat", 9, 0, neg=(-10, 0))
    b += bind_xy("hair_back_1", -6, 0, neg=(6, 0))
    b += bind_xy("hair_side_r_1", 4, 0, neg=(-5, 0))
    b += bind_xy("hair_side_l_1", 3, 0, neg=(-6, 0))
    b += bind_xy("glasses", 1.5, 0, neg=(-2, 0))
    b += [
        bind3("eyesock_l", "scaleX", 1.12, 0.74),
        bind3("eyesock_r", "scaleX", 0.9, 1.03),
        bind3("brow_l", "scaleX", 1.1, 0.75),
        bind3("mouth", "scaleX", 1.04, 0.84),
        bind3("glasses", "scaleX", 1.04, 0.9),
        bind3("neck", "rotation", 2, -2),
    ]
    param("ParamAngleX", -30, 30, 0, b)
    # head pitch: +30 looks up. Face parts move most, the fringe less, the back hair opposite.
    b = []
    b += bind_xy("face", 0, 6, neg=(0, -7))
    b += bind_xy("nose", 0, 1.5, neg=(0, -1.5))
    b += bind_xy("hair_top", 0, 3, neg=(0, -3))
    b += bind_xy("hat", 0, 3.5, neg=(0, -3.5))
    b += bind_xy("hair_back_1", 0, -4, neg=(0, 4))
    b += bind_xy("glasses", 0, 0.5, neg=(0, -0.5))
    b += [
        bind3("head", "rotation", -5, 5),
        bind3("eyesock_l", "scaleY", 0.94, 0.97),
        bind3("eyesock_r", "scaleY", 0.94, 0.97),
        bind3("mouth", "scaleY", 0.9, 1.0),
    ]
    param("ParamAngleY", -30, 30, 0, b)
    param(
        "ParamAngleZ",
        -30,
        30,
        0,
        [bind3("head", "rotation", -14, 14), bind3("neck", "rotation", -6, 6)],
    )
    for s, pid in (("l", "ParamEyeLOpen"), ("r", "ParamEyeROpen")):
        param(
            pid,
            0,
            1,
            1,
            [
                slot_att(f"eyelid_{s}", [(0, "lid_closed"), (0.3, "lid_half"), (0.7, "lid_open")]),
                bind3(f"eyesock_{s}", "scaleY", 0.96, 1.0, 0, 1, mid=0.98)
                | {"keys": [[0, 0.97], [1, 1]]},
            ],
        )
    param(
        "ParamEyeBallX", -1, 1, 0, bind_xy("eye_r", 3.0, 0, -1, 1) + bind_xy("eye_l", 2.4, 0, -1, 1)
    )
    param(
        "ParamEyeBallY",
        -1,
        1,
        0,
        bind_xy("eye_r", 0, 1.4, -1, 1, neg=(0, -2.2))
        + bind_xy("eye_l", 0, 1.4, -1, 1, neg=(0, -2.2)),
    )
    for s, pid in (("l", "ParamBrowLY"), ("r", "ParamBrowRY")):
        tilt = 7 if s == "l" else -7  # raised brows arch up towards the outside
        param(
            pid,
            -1,
            1,
            0,
            [
                *bind_xy(f"brow_{s}", 0, 3.5, -1, 1, neg=(0, -2.5)),
                bind3(f"brow_{s}", "rotation", -tilt, tilt * 0.5, -1, 1),
            ],
        )
    # mouth: a closed mouth whose shape follows MouthForm; an open mouth (opening downwards
    # from the upper lip) for MouthOpenY; one slot per vowel, each faded in by its parameter.
    # Alpha bindings multiply, so every open shape fades the closed mouth out.
    fade_out = [(0, 1), (0.35, 0)]
    fade_in = [(0, 0), (0.35, 1)]
    param(
        "ParamMouthOpenY",
        0,
        1,
        0,
        [
            slot_alpha("mouth_base", fade_out),
            slot_alpha("mouth_open", [(0, 0), (0.15, 1)]),
            {"bone": "mouth_open", "property": "scaleY", "keys": [[0, 0.35], [1, 1.05]]},
            {"bone": "mouth_open", "property": "scaleX", "keys": [[0, 0.8], [1, 1.0]]},
        ],
    )
    param(
        "ParamMouthForm",
        -1,
        1,
        0,
        [
            slot_att(
                "mouth_base", [(-1, "mouth_frown"), (-0.35, "mouth_closed"), (0.35, "mouth_smile")]
            ),
            slot_att("mouth_open", [(-1, "mouth_open"), (0.35, "mouth_open_smile")]),
        ],
    )
    for v in VOWELS:
        lv = v.lower()
        bl = [
            slot_alpha(f"mouth_{lv}", fade_in),
            slot_alpha("mouth_base", fade_out),
            slot_alpha("mouth_open", fade_out),
        ]
        param(f"Param{v}", 0, 1, 0, bl)
    # body
    b = [
        *bind_xy("chest", 3, 0, -10, 10),
        bind3("spine", "rotation", 2, -2, -10, 10),
        bind3("neck", "rotation", -1.5, 1.5, -10, 10),
    ]
    param("ParamBodyAngleX", -10, 10, 0, b)
    param(
        "ParamBodyAngleY",
        -10,
        10,
        0,
        [
            bind3("spine", "rotation", -4, 3, -10, 10),
            bind3("chest", "rotation", -2, 2, -10, 10),
            bind3("head", "rotation", 3, -2, -10, 10),
        ],
    )
    param(
        "ParamBodyAngleZ",
        -10,
        10,
        0,
        [bind3("spine", "rotation", -4, 4, -10, 10), bind3("chest", "rotation", -3, 3, -10, 10)],
    )
    param(
        "ParamBreath",
        0,
        1,
        0,
        [
            {"bone": "chest", "property": "scaleY", "keys": [[0, 1], [1, 1.025]]},
            {"bone": "chest", "property": "scaleX", "keys": [[0, 1], [1, 1.01]]},
            {"bone": "shoulder_l", "property": "x", "keys": [[0, 0], [1, 1.2]]},
            {"bone": "shoulder_r", "property": "x", "keys": [[0, 0], [1, 1.2]]},
        ],
    )
    # Face tracking's presence (engine/tracking/tracker.py): while the user's face is
    # tracked their own eyes own Digi's eyes, so the animations' blink and eye expressions
    # (drawn above in eye_expr_*) fade out; when tracking is lost they take over again.
    param(
        "ParamFaceTracked",
        0,
        1,
        0,
        [slot_alpha(f"eye_expr_{s}", [(0, 1), (1, 0)]) for s in ("l", "r")],
    )
    return P


def build_springs():
    sp = []
    for ch in FRONT_CHAINS:
        sp.append(
            {
                "bone": f"{ch}_1",
                "stiffness": 160,
                "damping": 10,
                "inertia": 0.8,
                "gravity": 0,
                "limit": 18,
            }
        )
        sp.append(
            {
                "bone": f"{ch}_2",
                "stiffness": 120,
                "damping": 8,
                "inertia": 1.0,
                "gravity": 0,
                "limit": 25,
            }
        )
    for ch in SIDE_CHAINS:
        sp.append(
            {
                "bone": f"{ch}_1",
                "stiffness": 110,
                "damping": 8,
                "inertia": 1.0,
                "gravity": 0,
                "limit": 25,
            }
        )
        sp.append(
            {
                "bone": f"{ch}_2",
                "stiffness": 90,
                "damping": 7,
                "inertia": 1.1,
                "gravity": 0,
                "limit": 30,
            }
        )
    sp.append(
        {
            "bone": "hair_back_1",
            "stiffness": 140,
            "damping": 10,
            "inertia": 0.8,
            "gravity": 0,
            "limit": 15,
        }
    )
    sp.append(
        {
            "bone": "hair_back_2",
            "stiffness": 110,
            "damping": 8,
            "inertia": 1.0,
            "gravity": 0,
            "limit": 22,
        }
    )
    for k, (st, dm) in enumerate(((70, 6), (55, 5), (45, 4.5)), start=1):
        sp.append(
            {
                "bone": f"scarf_{k}",
                "stiffness": st,
                "damping": dm,
                "inertia": 1.2,
                "gravity": 60,
                "limit": 45,
            }
        )
    return sp


def build_rig():
    A = build_attachments()
    attachments = {}
    for slot, atts in A.items():
        attachments[slot] = {
            n: (a.to_json() if isinstance(a, Mesh) else a) for n, a in sorted(atts.items())
        }
    slots = []
    for name, bone, att, color in SLOTS:
        s = {"name": name, "bone": bone}
        if att is not None:
            s["attachment"] = att
        if color is not None:
            s["color"] = color
        slots.append(s)
    rig = {
        "schema": 1,
        "name": "digi",
        "bones": SK.bones,
        "slots": slots,
        "attachments": attachments,
        "ik": build_ik(),
        "parameters": build_parameters(),
        "springs": build_springs(),
    }
    return rig, A


def check_rig(rig, A, regions):
    names = {b["name"] for b in rig["bones"]}
    slot_names = [s["name"] for s in rig["slots"]]
    assert len(slot_names) == len(set(slot_names))
    assert set(rig["attachments"]) <= set(slot_names), set(rig["attachments"]) - set(slot_names)
    ntris = nverts = 0
    per_slot = {}
    for slot, atts in rig["attachments"].items():
        for an, a in atts.items():
            assert a["path"] in regions, a["path"]
            if a["type"] == "mesh":
                n = len(a["vertices"])
                nverts += n
                ntris += len(a["triangles"])
                per_slot[slot] = per_slot.get(slot, 0) + len(a["triangles"])
                for u, v in a["uvs"]:
                    assert 0 <= u <= 1 and 0 <= v <= 1, (slot, an)
                for infl in a.get("weights", []):
                    assert all(b in names for b, _ in infl), (slot, an, infl)
                    assert abs(sum(x for _, x in infl) - 1) < 1e-9
            else:
                nverts += 4
                ntris += 2
                per_slot[slot] = per_slot.get(slot, 0) + 2
    # meshes that do not cover the whole picture must still show all of its art
    leaks = {}
    for slot, atts in A.items():
        for an, m in atts.items():
            if isinstance(m, Mesh):
                p = next(pp for pp in PICS.values() if pp.path == m.path)
                tris = [[m.uvs[i] for i in t] for t in m.triangles]
                leak = digi_art.coverage_leak(p, tris)
                leaks[f"{slot}/{an}"] = leak
                assert leak < 2e-3, f"{slot}/{an}: {leak:.2%} of the art lies outside the mesh"
    assert ntris <= 1500, ntris
    return {
        "bones": len(rig["bones"]),
        "slots": len(slot_names),
        "triangles": ntris,
        "vertices": nverts,
        "per_slot": per_slot,
        "worst_leak": max(leaks.values()),
    }


# --------------------------------------------------------------------------------------
# sprite libraries


def sprite_libraries():
    body = {}
    for b in BODIES:
        body[b] = {
            "torso": f"torso_{b}",
            "neck": f"neck_{b}",
            "arm_l": f"arm_{b}",
            "arm_r": f"arm_{b}",
            "leg_l": f"leg_{b}",
            "leg_r": f"leg_{b}",
        }
    outfit = {}
    for o in OUTFITS:
        outfit[o] = {"shirt": f"shirt_{o}", "pelvis": f"pelvis_{o}", "crotch": f"crotch_{o}"}
        for s in ("l", "r"):
            outfit[o] |= {
                f"sleeve_{s}": f"sleeve_{o}",
                f"pants_{s}": f"pants_{o}",
                f"shoe_{s}": f"shoe_{o}",
            }
    # the top hair belongs to the accessories: a hat swaps it for a flattened one
    acc = {
        "none": {"hair_top": "hair_top"},
        "glasses": {"glasses": "glasses", "hair_top": "hair_top"},
        "hat": {"hat": "hat_cap", "hair_top": "hair_top_hat"},
        "scarf": {"scarf": "scarf_wrap", "scarf_end": "scarf_end", "hair_top": "hair_top"},
    }
    base = {
        "schema": 1,
        "rig": "digi",
        "extends": None,
        "categories": {"body": body, "outfit": outfit, "accessories": acc},
        "defaults": {"body": "default", "outfit": "casual", "accessories": "none"},
    }
    winter = {
        "schema": 1,
        "rig": "digi",
        "extends": "base",
        "categories": {
            "accessories": {
                "scarf": {
                    "scarf": "scarf_wrap_winter",
                    "scarf_end": "scarf_end_winter",
                    "hair_top": "hair_top",
                },
                "hat": {"hat": "hat_winter", "hair_top": "hair_top_hat"},
            }
        },
        "defaults": {"body": "default", "outfit": "casual", "accessories": "scarf"},
    }
    return base, winter


def check_library(lib, rig, base=None):
    atts = rig["attachments"]
    for cat, labels in lib["categories"].items():
        for label, m in labels.items():
            for slot, an in m.items():
                assert slot in atts and an in atts[slot], (cat, label, slot, an)


# --------------------------------------------------------------------------------------


def write(path: Path, obj) -> int:
    import json

    text = C.dumps(obj)
    json.loads(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return len(text.encode("utf-8"))


def main() -> None:
    import digi_motion

    rig, A = build_rig()
    regions = digi_art.build_atlas(PICS, USED)
    stats = check_rig(rig, A, regions)
    total = write(RIG_PATH, rig)
    slot_atts = {s: set(a) for s, a in rig["attachments"].items()}
    names = set()
    ANIM_DIR.mkdir(parents=True, exist_ok=True)
    for make in digi_motion.CLIPS:
        clip = make()
        clip.check()
        for slot, chs in clip.slots.items():
            assert slot in slot_atts or slot in {s[0] for s in SLOTS}, (clip.name, slot)
            for k in chs.get("attachment", []):
                assert k["name"] is None or k["name"] in slot_atts.get(slot, set()), (
                    clip.name,
                    slot,
                    k,
                )
        names.add(clip.name)
        total += write(ANIM_DIR / f"{clip.name}.json", clip.to_json())
    for f in ANIM_DIR.glob("*.json"):
        if f.stem not in names and f.name != "statemachine.json":
            f.unlink()
    sm = digi_motion.build_statemachine()
    total += write(ANIM_DIR / "statemachine.json", sm)
    base, winter = sprite_libraries()
    check_library(base, rig)
    check_library(winter, rig)
    total += write(SPRITE_DIR / "base.json", base)
    total += write(SPRITE_DIR / "winter.json", winter)
    atlas_png = (digi_art.ATLAS_DIR / "atlas.png").stat().st_size
    print(
        f"digi: {stats['bones']} bones, {stats['slots']} slots, {stats['vertices']} vertices, "
        f"{stats['triangles']} triangles (all attachments), {len(names)} clips; "
        f"JSON {total / 1024:.0f} KiB, atlas.png {atlas_png / 1024:.0f} KiB "
        f"(worst mesh leak {stats['worst_leak']:.4%})"
    )


if __name__ == "__main__":
    main()
