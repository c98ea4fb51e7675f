#!/usr/bin/env python3
"""Generates the test rig and its animation set.

    python content/build/testrig.py

Writes (deterministically; no arguments, stdlib + numpy only):

- ``rigs/testrig/rig.json``: a chibi humanoid (about 4 heads, ~400 px tall, y-up, feet on
  y=0, facing +x in a three-quarter view, so the character's RIGHT side is the near side)
  with 36 bones, ~2,500 skinned mesh vertices, limb IK on both arms and legs and
  Live2D-style parameters (rig schema 1, see ``rigs/README.md``);
- ``content/animations/testrig/<clip>.json``: one animation clip a file (clip schema 1);
- ``content/animations/testrig/statemachine.json``: the state machine (schema 1, see
  ``content/README.md``).

Sign conventions used below (all angles degrees, counter-clockwise):

- body bones (hips, spine, chest, neck, head) point up: +rotation leans BACK (towards -x),
  -rotation leans FORWARD (towards the facing direction);
- upper arms hang down: +rotation swings the arm forward and up; forearms bend positive;
- hanging hair: +rotation swings the tip forward (+x);
- ``ik_*`` targets are children of the root: their position offsets are in world space.

Do not edit the generated files by hand; change this script and run it again.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import rigkit
from rigkit import (
    EASE_IN,
    EASE_IN_OUT,
    EASE_OUT,
    HOLD,
    Mesh,
    Skeleton,
    cos,
    dirv,
    dumps,
    gait,
    partition,
    rnd,
    shift_cycle,
    sin,
    smoothstep,
    toollunge,
    toolnone,
)

REPO = Path(__file__).resolve().parents[2]
RIG_PATH = REPO / "rigs" / "testrig" / "rig.json"
ANIM_DIR = REPO / "content" / "animations" / "testrig"


# --------------------------------------------------------------------------------------
# small helpers


# --------------------------------------------------------------------------------------
# skeleton: bones given by their setup WORLD start, world angle and length; the local
# transforms are derived (all scales 1, no shear), rounded, and the world transforms are
# recomputed from the rounded locals so that everything below matches the file exactly.

# (name, parent, start (x, y) or None = parent's tip, world angle, length, inherit)
HIP_Y = 146.0
BONE_SPECS = [
    ("root", None, (0, 0), 0, 0, "normal"),
    ("hips", "root", (0, HIP_Y), 90, 34, "normal"),
    ("spine", "hips", None, 90, 36, "normal"),
    ("chest", "spine", None, 90, 52, "normal"),
    # noScale: breathing (chest scaleY) must not stretch the head
    ("neck", "chest", None, 90, 20, "noScale"),
    ("head", "neck", None, 90, 100, "normal"),
    ("hair_back_1", "head", (-44, 374), -106, 48, "normal"),
    ("hair_back_2", "hair_back_1", None, -96, 44, "normal"),
    ("hair_side_l_1", "head", (46, 354), -86, 34, "normal"),
    ("hair_side_l_2", "hair_side_l_1", None, -92, 28, "normal"),
    ("hair_side_r_1", "head", (-20, 356), -95, 34, "normal"),
    ("hair_side_r_2", "hair_side_r_1", None, -88, 28, "normal"),
    ("hair_front_1", "head", (22, 376), -74, 26, "normal"),
    ("hair_front_2", "hair_front_1", None, -96, 22, "normal"),
    # the far (left) arm, then the near (right) arm
    ("shoulder_l", "chest", (4, 258), 0, 12, "normal"),
    ("upperarm_l", "shoulder_l", None, -88, 48, "normal"),
    ("forearm_l", "upperarm_l", None, -80, 44, "normal"),
    ("hand_l", "forearm_l", None, -80, 14, "normal"),
    ("fingers_l", "hand_l", None, -80, 9, "normal"),
    ("shoulder_r", "chest", (-4, 258), 180, 14, "normal"),
    ("upperarm_r", "shoulder_r", None, -94, 48, "normal"),
    ("forearm_r", "upperarm_r", None, -86, 44, "normal"),
    ("hand_r", "forearm_r", None, -86, 14, "normal"),
    ("fingers_r", "hand_r", None, -86, 9, "normal"),
    # legs: thighs lean a little forward, shins a little back: the knee points forward
    ("thigh_l", "hips", (8, HIP_Y), -87, 68, "normal"),
    ("shin_l", "thigh_l", None, -93, 66, "normal"),
    ("foot_l", "shin_l", None, -32, 18, "normal"),
    ("toe_l", "foot_l", None, -2, 10, "normal"),
    ("thigh_r", "hips", (-8, HIP_Y), -87, 68, "normal"),
    ("shin_r", "thigh_r", None, -93, 66, "normal"),
    ("foot_r", "shin_r", None, -32, 18, "normal"),
    ("toe_r", "foot_r", None, -2, 10, "normal"),
    # IK targets (children of the root, placed at the setup wrists and ankles below)
    ("ik_hand_l", "root", "tip:forearm_l", 0, 8, "normal"),
    ("ik_hand_r", "root", "tip:forearm_r", 0, 8, "normal"),
    ("ik_foot_l", "root", "tip:shin_l", 0, 8, "normal"),
    ("ik_foot_r", "root", "tip:shin_r", 0, 8, "normal"),
]


SK = Skeleton(BONE_SPECS)
rigkit.set_skeleton(SK)


# --------------------------------------------------------------------------------------
# meshes


def strip_mesh(path, points, bones, halfwidths, widths, cols, rows, skew=None):
    """A grid mesh along a polyline. `points[k]..points[k+1]` is owned by `bones[k]`; interior
    points are the joints (blended over `halfwidths`); `widths` (one per point) are
    interpolated along the arc; `skew(s_frac)` optionally shifts the strip sideways."""
    pts = [np.array(p, dtype=float) for p in points]
    seg = [pts[k + 1] - pts[k] for k in range(len(pts) - 1)]
    seglen = [float(np.hypot(*d)) for d in seg]
    cum = [0.0]
    for L in seglen:
        cum.append(cum[-1] + L)
    total = cum[-1]
    joints = cum[1:-1]
    dirs = [d / L for d, L in zip(seg, seglen, strict=True)]
    m = Mesh(path)
    for r in range(rows):
        s = total * r / (rows - 1)
        k = min(max(np.searchsorted(cum, s, side="right") - 1, 0), len(seg) - 1)
        c = pts[k] + dirs[k] * (s - cum[k])
        # tangent blended across the joints like the weights (no folds at the joints)
        t = np.zeros(2)
        for b, w in partition(s, joints, halfwidths, list(range(len(seg)))):
            t += dirs[b] * w
        t /= np.hypot(*t)
        n = np.array([-t[1], t[0]])
        w = float(np.interp(s, cum, widths))
        off = skew(s / total) if skew else 0.0
        ws = partition(s, joints, halfwidths, bones)
        for cidx in range(cols):
            f = cidx / (cols - 1) - 0.5
            m.vertices.append(c + n * (f * w + off))
            m.uvs.append((cidx / (cols - 1), r / (rows - 1)))
            m.weights.append(ws)
    for r in range(rows - 1):
        for cidx in range(cols - 1):
            i = r * cols + cidx
            m.triangles.append((i, i + 1, i + cols + 1))
            m.triangles.append((i, i + cols + 1, i + cols))
    return m


def ellipse_mesh(path, center, rx, ry, rings, segments, bone, weighted=True, squash=None):
    """A polar grid: a centre vertex and `rings` rings of `segments` vertices."""
    cx, cy = center
    m = Mesh(path)
    m.vertices.append(np.array([cx, cy]))
    m.uvs.append((0.5, 0.5))
    for ring in range(1, rings + 1):
        rho = ring / rings
        for sgm in range(segments):
            a = 2 * math.pi * sgm / segments
            sx = squash(a) if squash else 1.0
            m.vertices.append(
                np.array([cx + rx * rho * math.cos(a) * sx, cy + ry * rho * math.sin(a)])
            )
            m.uvs.append((0.5 + 0.5 * rho * math.cos(a) * sx, 0.5 - 0.5 * rho * math.sin(a)))
    for sgm in range(segments):
        m.triangles.append((0, 1 + sgm, 1 + (sgm + 1) % segments))
    for ring in range(1, rings):
        base0 = 1 + (ring - 1) * segments
        base1 = 1 + ring * segments
        for sgm in range(segments):
            a0, a1 = base0 + sgm, base0 + (sgm + 1) % segments
            b0, b1 = base1 + sgm, base1 + (sgm + 1) % segments
            m.triangles.append((a0, b0, b1))
            m.triangles.append((a0, b1, a1))
    m.weights = [[(bone, 1.0)] for _ in m.vertices] if weighted else None
    return m


def grid_mesh(path, x0, y0, x1, y1, cols, rows):
    """An unweighted rectangular grid (bound rigidly to its slot's bone)."""
    m = Mesh(path)
    for r in range(rows):
        for c in range(cols):
            u, v = c / (cols - 1), r / (rows - 1)
            m.vertices.append(np.array([x0 + (x1 - x0) * u, y1 - (y1 - y0) * v]))
            m.uvs.append((u, v))
    for r in range(rows - 1):
        for c in range(cols - 1):
            i = r * cols + c
            m.triangles.append((i, i + 1, i + cols + 1))
            m.triangles.append((i, i + cols + 1, i + cols))
    m.weights = None
    return m


def along(bone: str, d: float) -> np.ndarray:
    """The point `d` px along a bone from its origin (negative: before its origin)."""
    return SK.origin(bone) + dirv(SK.angle(bone)) * d


def build_meshes() -> dict[str, dict[str, Mesh]]:
    meshes: dict[str, dict[str, Mesh]] = {}

    # torso: hips -> spine -> chest, a vertical strip with a waist
    torso = strip_mesh(
        "testrig/torso",
        [(0, 132), SK.tip("hips"), SK.tip("spine"), (0, 276)],
        ["hips", "spine", "chest"],
        [24, 24],  # overlapping blends: mid-spine vertices have 3 influences
        [52, 46, 50, 46],
        cols=15,
        rows=26,
        skew=lambda f: 3.0 * math.sin(math.pi * f),
    )
    # reshape the width along the height: pelvis, waist, ribcage, shoulders
    prof_y = [132, 150, 176, 200, 230, 252, 266, 276]
    prof_w = [50, 56, 46, 48, 56, 60, 56, 40]
    for idx, v in enumerate(torso.vertices):
        r, c = divmod(idx, 15)
        y = v[1]
        w = float(np.interp(y, prof_y, prof_w))
        f = c / 14 - 0.5
        torso.vertices[idx] = np.array([1.5 + f * w + 3.0 * math.sin(math.pi * (y - 132) / 144), y])
    meshes["torso"] = {"torso": torso}

    # neck: chest -> neck -> head
    meshes["neck"] = {
        "neck": strip_mesh(
            "testrig/neck",
            [(1, 258), SK.origin("neck"), SK.tip("neck"), (1, 300)],
            ["chest", "neck", "head"],
            [14, 14],
            [24, 20, 18, 20],
            cols=5,
            rows=8,
        )
    }

    # head: a big chibi head, rigid on the head bone (weighted 1.0)
    head_c = (6.0, 340.0)
    meshes["head"] = {
        "head": ellipse_mesh(
            "testrig/head",
            head_c,
            58,
            56,
            rings=12,
            segments=40,
            bone="head",
            squash=lambda a: 1.0 - 0.12 * max(0.0, -math.sin(a)) * (1 - math.cos(a)) / 2,  # jaw
        )
    }
    # face: an UNWEIGHTED mesh (exercises the rigid path) + two region alternatives
    face_c = np.array([34.0, 332.0])
    ho, ha = SK.origin("head"), SK.angle("head")
    r = math.radians(-ha)
    d = face_c - ho
    face_local = (d[0] * math.cos(r) - d[1] * math.sin(r), d[0] * math.sin(r) + d[1] * math.cos(r))

    def face_region(name):
        return {
            "type": "region",
            "path": f"testrig/{name}",
            "x": rnd(face_local[0]),
            "y": rnd(face_local[1]),
            "rotation": rnd(-ha),
            "width": 46,
            "height": 40,
        }

    meshes["face"] = {
        "face": grid_mesh("testrig/face", 11, 312, 57, 352, 6, 6),
        "face_smile": face_region("face_smile"),
        "face_closed": face_region("face_closed"),
    }

    # hair: strips along their two-bone chains, the root blended into the head
    def hair(chain, widths, cols, rows, path):
        b1, b2 = chain
        pts = [along(b1, -6), along(b1, 5), SK.tip(b1), SK.tip(b2) + dirv(SK.angle(b2)) * 2]
        return strip_mesh(path, pts, ["head", b1, b2], [5, 9], widths, cols, rows)

    meshes["hair_back"] = {
        "hair_back": hair(
            ("hair_back_1", "hair_back_2"), [50, 48, 40, 14], 9, 22, "testrig/hair_back"
        )
    }
    meshes["hair_side_l"] = {
        "hair_side_l": hair(
            ("hair_side_l_1", "hair_side_l_2"), [18, 16, 12, 3], 5, 18, "testrig/hair_side_l"
        )
    }
    meshes["hair_side_r"] = {
        "hair_side_r": hair(
            ("hair_side_r_1", "hair_side_r_2"), [18, 16, 12, 3], 5, 18, "testrig/hair_side_r"
        )
    }
    meshes["hair_front"] = {
        "hair_front": hair(
            ("hair_front_1", "hair_front_2"), [28, 24, 18, 3], 6, 16, "testrig/hair_front"
        )
    }

    for side in ("l", "r"):
        sh, ua, fa, hd, fg = (
            f"{b}_{side}" for b in ("shoulder", "upperarm", "forearm", "hand", "fingers")
        )
        th, sn, ft, to = (f"{b}_{side}" for b in ("thigh", "shin", "foot", "toe"))
        # arm: shoulder cap -> upper arm -> forearm, weighted across the elbow
        arm = strip_mesh(
            f"testrig/arm_{side}",
            [along(ua, -5), along(ua, 8), SK.tip(ua), SK.tip(fa) + dirv(SK.angle(fa)) * 3],
            [sh, ua, fa],
            [8, 12],
            [21, 19, 15, 12],
            cols=7,
            rows=30,
        )
        meshes[f"arm_{side}"] = {f"arm_{side}": arm}
        # hand: a small mesh over hand + fingers (default) and three region alternatives
        hand = strip_mesh(
            f"testrig/hand_{side}",
            [along(hd, -3), SK.tip(hd), SK.tip(fg) + dirv(SK.angle(fg)) * 2],
            [hd, fg],
            [4],
            [12, 15, 11],
            cols=4,
            rows=8,
        )
        regions = {
            "hand_open": (9, 0, 24, 20),
            "hand_fist": (7, 0, 18, 18),
            "hand_point": (10, 2, 28, 16),
        }
        meshes[f"hand_{side}"] = {"hand": hand}
        for name, (x, y, w, h) in regions.items():
            meshes[f"hand_{side}"][name] = {
                "type": "region",
                "path": f"testrig/{name}_{side}",
                "x": x,
                "y": y,
                "rotation": 0,
                "width": w,
                "height": h,
            }
        # leg: hip -> thigh -> shin, weighted across the knee
        leg = strip_mesh(
            f"testrig/leg_{side}",
            [along(th, -8), along(th, 10), SK.tip(th), SK.tip(sn) + dirv(SK.angle(sn)) * 4],
            ["hips", th, sn],
            [10, 14],
            [30, 28, 20, 15],
            cols=7,
            rows=34,
        )
        meshes[f"leg_{side}"] = {f"leg_{side}": leg}
        # foot: a shoe over foot + toe
        # foot: a shoe from the heel to the toe tip, sole on y = 0, weighted across the ball
        ankle, ball, toe_tip = SK.origin(ft), SK.tip(ft), SK.tip(to)
        foot = strip_mesh(
            f"testrig/foot_{side}",
            [(ankle[0] - 8, 7.0), (ball[0], 6.0), (toe_tip[0] + 3, 4.5)],
            [ft, to],
            [4],
            [14, 12, 9],
            cols=5,
            rows=9,
        )
        meshes[f"foot_{side}"] = {"foot": foot}
    # the tool (hidden at setup; the tool clips show it)
    meshes["tool"] = {
        "sword": {
            "type": "region",
            "path": "testrig/sword",
            "x": 7,
            "y": 30,
            "rotation": 90,
            "width": 72,
            "height": 10,
        }
    }
    return meshes


# back to front
SLOTS = [
    ("hair_back", "head", "hair_back"),
    ("hair_side_l", "head", "hair_side_l"),
    ("arm_l", "upperarm_l", "arm_l"),
    ("hand_l", "hand_l", "hand"),
    ("leg_l", "thigh_l", "leg_l"),
    ("foot_l", "foot_l", "foot"),
    ("neck", "neck", "neck"),
    ("torso", "chest", "torso"),
    ("leg_r", "thigh_r", "leg_r"),
    ("foot_r", "foot_r", "foot"),
    ("head", "head", "head"),
    ("face", "head", "face"),
    ("hair_side_r", "head", "hair_side_r"),
    ("hair_front", "head", "hair_front"),
    # the near arm is drawn last: raised (wave, cheer, climb, slash) it passes in front of
    # the big chibi head; at rest it overlaps nothing above the shoulder
    ("arm_r", "upperarm_r", "arm_r"),
    ("tool", "hand_r", None),
    ("hand_r", "hand_r", "hand"),
]


def build_ik() -> list[dict]:
    ik = []
    for side in ("l", "r"):
        ik.append(
            {
                "name": f"arm_{side}_ik",
                "solver": "limb",
                "bones": [f"upperarm_{side}", f"forearm_{side}"],
                "target": f"ik_hand_{side}",
                # arms are FK-animated; code raises the mix at run time (reach, hold)
                "mix": 0.0,
                # the forearm turns counter-clockwise from the upper arm: with the character
                # facing +x that puts the elbow behind and the hand in front
                "bend": "positive",
                # relative to the setup rotation (+8): from straight (-8) to fully bent
                "limits": {f"forearm_{side}": [-8, 140]},
            }
        )
    for side in ("l", "r"):
        ik.append(
            {
                "name": f"leg_{side}_ik",
                "solver": "limb",
                "bones": [f"thigh_{side}", f"shin_{side}"],
                "target": f"ik_foot_{side}",
                "mix": 1.0,
                # the shin turns clockwise from the thigh: the knee goes forward (+x)
                "bend": "negative",
                # relative to the setup rotation (-6): from straight (+6) to fully bent
                "limits": {f"shin_{side}": [-140, 6]},
            }
        )
    return ik


def build_parameters() -> list[dict]:
    def pos_keys(bone, lo_world, hi_world, axis):
        """x or y binding keys of `bone` moving by world offsets at -1 / +1 of the range."""
        a = SK.to_parent_frame(bone, *lo_world)
        b = SK.to_parent_frame(bone, *hi_world)
        return a[axis], b[axis]

    def binding(bone, prop, lo, hi, pmin, pmax, mid=None):
        keys = [
            [pmin, rnd(lo)],
            [0, rnd(mid if mid is not None else (0 if prop not in ("scaleX", "scaleY") else 1))],
            [pmax, rnd(hi)],
        ]
        if pmin == 0:
            keys = [[pmin, rnd(lo)], [pmax, rnd(hi)]]
        return {"bone": bone, "property": prop, "keys": keys}

    params = []
    # head yaw: the head slides towards the side it turns to, the bangs more (parallax),
    # the back hair the other way
    hy = SK.to_parent_frame("head", 4, 0)  # head's parent (neck) points up: world +x = local -y
    fy = SK.to_parent_frame("hair_front_1", 3, 0)
    by = SK.to_parent_frame("hair_back_1", -3, 0)
    params.append(
        {
            "id": "ParamAngleX",
            "min": -30,
            "max": 30,
            "default": 0,
            "bindings": [
                binding("head", "y", -hy[1], hy[1], -30, 30),
                binding("hair_front_1", "y", -fy[1], fy[1], -30, 30),
                binding("hair_back_1", "y", -by[1], by[1], -30, 30),
                binding("neck", "rotation", 2, -2, -30, 30),
            ],
        }
    )
    # head pitch: nod (rotation: looking down = forward = clockwise), bangs drop a little
    params.append(
        {
            "id": "ParamAngleY",
            "min": -30,
            "max": 30,
            "default": 0,
            "bindings": [
                binding("head", "rotation", -8, 8, -30, 30),
                binding("head", "x", -2, 2, -30, 30),
                binding("hair_front_1", "x", -2, 2, -30, 30),
            ],
        }
    )
    # head roll: tilt, shared by neck and head
    params.append(
        {
            "id": "ParamAngleZ",
            "min": -30,
            "max": 30,
            "default": 0,
            "bindings": [
                binding("head", "rotation", -12, 12, -30, 30),
                binding("neck", "rotation", -6, 6, -30, 30),
            ],
        }
    )
    cy = SK.to_parent_frame("chest", 3, 0)
    params.append(
        {
            "id": "ParamBodyAngleX",
            "min": -10,
            "max": 10,
            "default": 0,
            "bindings": [
                binding("chest", "y", -cy[1], cy[1], -10, 10),
                binding("spine", "rotation", 2, -2, -10, 10),
            ],
        }
    )
    params.append(
        {
            "id": "ParamBodyAngleZ",
            "min": -10,
            "max": 10,
            "default": 0,
            "bindings": [
                binding("spine", "rotation", -4, 4, -10, 10),
                binding("chest", "rotation", -4, 4, -10, 10),
            ],
        }
    )
    params.append(
        {
            "id": "ParamBreath",
            "min": 0,
            "max": 1,
            "default": 0,
            "bindings": [
                binding("chest", "scaleY", 1, 1.03, 0, 1),
                binding("shoulder_l", "x", 0, 1, 0, 1),
                binding("shoulder_r", "x", 0, 1, 0, 1),
            ],
        }
    )
    return params


def build_rig() -> tuple[dict, dict]:
    meshes = build_meshes()
    attachments = {}
    for slot, atts in meshes.items():
        attachments[slot] = {
            name: (a.to_json() if isinstance(a, Mesh) else a) for name, a in atts.items()
        }
    slots = []
    for name, bone, att in SLOTS:
        s = {"name": name, "bone": bone}
        if att is not None:
            s["attachment"] = att
        slots.append(s)
    rig = {
        "schema": 1,
        "name": "testrig",
        "bones": SK.bones,
        "slots": slots,
        "attachments": attachments,
        "ik": build_ik(),
        "parameters": build_parameters(),
    }
    return rig, meshes


def check_rig(rig: dict) -> dict:
    names = [b["name"] for b in rig["bones"]]
    assert len(names) == len(set(names))
    seen = set()
    for b in rig["bones"]:
        assert b.get("parent") is None or b["parent"] in seen, b
        assert b.get("length", 0) >= 0
        seen.add(b["name"])
    slot_names = [s["name"] for s in rig["slots"]]
    assert len(slot_names) == len(set(slot_names))
    for s in rig["slots"]:
        assert s["bone"] in seen
        if s.get("attachment"):
            assert s["attachment"] in rig["attachments"][s["name"]], s
    nverts = nskinned = ntris = 0
    for slot, atts in rig["attachments"].items():
        assert slot in slot_names, slot
        for aname, a in atts.items():
            if a["type"] != "mesh":
                continue
            n = len(a["vertices"])
            nverts += n
            ntris += len(a["triangles"])
            assert len(a["uvs"]) == n
            for u, v in a["uvs"]:
                assert 0 <= u <= 1 and 0 <= v <= 1
            for t in a["triangles"]:
                assert len(t) == 3 and len(set(t)) == 3 and all(0 <= i < n for i in t), (
                    slot,
                    aname,
                    t,
                )
            if "weights" in a:
                nskinned += n
                assert len(a["weights"]) == n
                for infl in a["weights"]:
                    assert 1 <= len(infl) <= 4
                    assert all(bn in seen and w > 0 for bn, w in infl)
                    assert abs(sum(w for _, w in infl) - 1.0) < 1e-9, infl
    for c in rig["ik"]:
        assert all(b in seen for b in c["bones"]) and c["target"] in seen
    for p in rig["parameters"]:
        for bd in p["bindings"]:
            assert bd["bone"] in seen
            vals = [k[0] for k in bd["keys"]]
            assert vals == sorted(vals)
    stats = {"bones": len(names), "vertices": nverts, "skinned": nskinned, "triangles": ntris}
    assert stats["bones"] >= 30 and nskinned >= 2000, stats
    return stats


# --------------------------------------------------------------------------------------
# animation clips

ROT, POS, SCL, SHR = "rotation", "position", "scale", "shear"


class Clip(rigkit.Clip):
    """The kit's clip builder plus the test rig's own hair follow-through."""

    def follow_hair(
        self, lag: float = 0.07, gain: float = 0.75, n: int | None = None, extra=None, sway=1.0
    ):
        """Hair chains lag behind the head: each link rotates by (-) how far the head turned in
        the last `lag` seconds (twice that for the tips), plus the head's sideways speed."""
        n = n or max(8, min(24, round(self.length / 0.1)))

        def tl(t):
            if self.looping:
                return t
            return min(max(t, 0.0), self.length)

        def hx(t):
            # the head's sideways motion: hips x + the lean of the body
            hp = self.value("hips", POS, tl(t))
            lean = sum(self.value(b, ROT, tl(t)) for b in ("hips", "spine", "chest"))
            return float(hp[0]) - 2.0 * lean  # ~115 px lever: 2 px per degree

        for chain, k in (
            ("hair_front", 0.7),
            ("hair_side_l", 1.0),
            ("hair_side_r", 1.0),
            ("hair_back", 1.2),
        ):
            for link in (1, 2):
                bone = f"{chain}_{link}"

                def f(p, link=link, k=k, bone=bone):
                    t = p * self.length
                    h0 = self.head_world_rotation(tl(t))
                    h1 = self.head_world_rotation(tl(t - lag * link))
                    v0 = (hx(t) - hx(t - 0.05)) / 0.05
                    rot = gain * k * (h1 - h0) * (0.8 if link == 2 else 1.0)
                    rot -= sway * 0.035 * k * v0 * (1.3 if link == 2 else 1.0)
                    if extra:
                        rot += extra(bone, p)
                    return max(-50.0, min(50.0, rot))

                self.func(bone, ROT, f, n)
        return self


# ---- idles ----------------------------------------------------------------------------


def idle_1():
    c = Clip("idle_1", 3.0, True)
    c.breathe(1, 0.025)
    c.func("spine", ROT, lambda p: 0.8 * sin(p, 1, -0.6), 8)
    c.func("head", ROT, lambda p: 1.5 * sin(p, 1, -1.2), 8)
    c.func("hips", POS, lambda p: [0, -1.0 * (1 - cos(p)) / 2], 8)
    for side, ph in (("l", 0.0), ("r", 0.9)):
        c.func(f"upperarm_{side}", ROT, lambda p, ph=ph: 1.5 * sin(p, 1, ph), 8)
        c.func(f"forearm_{side}", ROT, lambda p, ph=ph: 2.5 * sin(p, 1, ph - 0.7), 8)
        c.func(f"hand_{side}", ROT, lambda p, ph=ph: 3.0 * sin(p, 1, ph - 1.4), 8)
    c.attach("face", [(0, "face"), (1.9, "face_closed"), (2.02, "face")])
    c.follow_hair()
    return c


def idle_2():
    """Weight shift from foot to foot while looking around; two breaths."""
    c = Clip("idle_2", 4.0, True)
    c.breathe(2, 0.022, n=12)
    c.func("hips", POS, lambda p: [3.0 * sin(p), -1.5 - 1.5 * cos(p, 2)], 12)
    c.func("hips", ROT, lambda p: -1.5 * sin(p), 8)
    c.func("chest", ROT, lambda p: 2.0 * sin(p, 1, -0.4), 8)
    c.keys(
        "head",
        ROT,
        [(0, 0), (0.6, 0), (1.2, 7), (2.0, 6), (2.6, -5), (3.3, -4), (4.0, 0)],
    )
    c.keys("neck", ROT, [(0, 0), (1.3, 3), (2.7, -2), (4.0, 0)])
    for side, ph in (("l", math.pi), ("r", 0.0)):
        c.func(f"upperarm_{side}", ROT, lambda p, ph=ph: 2.5 * sin(p, 1, ph + 0.5), 8)
        c.func(f"forearm_{side}", ROT, lambda p, ph=ph: 4 + 3.0 * sin(p, 1, ph - 0.3), 8)
    c.attach("face", [(0, "face"), (2.6, "face_closed"), (2.72, "face")])
    c.follow_hair()
    return c


def idle_3():
    """Impatient: a little bounce, a head tilt and a finger tapping against the thigh."""
    c = Clip("idle_3", 3.6, True)
    c.breathe(1, 0.03)
    c.func("hips", POS, lambda p: [0, -1.0 - 1.0 * cos(p, 4)], 16)
    c.keys(
        "head",
        ROT,
        [
            (0, 0),
            (0.5, 0),
            (0.9, 6, "bezier", EASE_IN_OUT),
            (2.2, 6),
            (2.7, -1, "bezier", EASE_IN_OUT),
            (3.1, 0),
            (3.6, 0),
        ],
        "linear",
    )
    c.func("spine", ROT, lambda p: 1.2 * sin(p, 1, 0.3), 8)
    # finger tapping (step keys)
    taps = [(0, 0)]
    for t0 in (0.4, 0.8, 1.2, 1.6, 2.4, 2.8):
        taps += [(t0, 18, "step"), (t0 + 0.12, 0, "step")]
    taps.append((3.6, 0, "step"))
    c.keys("fingers_r", ROT, taps)
    c.func("hand_r", ROT, lambda p: 4 * sin(p, 2), 8)
    c.func("upperarm_r", ROT, lambda p: -2 + 2 * cos(p), 8)
    c.func("upperarm_l", ROT, lambda p: 3 * sin(p, 1, 1.0), 8)
    c.func("forearm_l", ROT, lambda p: 6 + 4 * sin(p, 1, 0.4), 8)
    c.attach(
        "face",
        [(0, "face"), (1.4, "face_closed"), (1.52, "face"), (3.0, "face_closed"), (3.1, "face")],
    )
    c.follow_hair()
    return c


# ---- locomotion -----------------------------------------------------------------------


def walk():
    c = Clip("walk", 1.0, True)
    gait(
        c,
        stride=18,
        lift=14,
        hip_drop=3,
        bob=3,
        arm_swing=18,
        fore_base=10,
        fore_swing=8,
        lean=3,
        flight=False,
    )
    c.follow_hair(gain=0.6)
    return c


def run():
    c = Clip("run", 0.6, True)
    gait(
        c,
        stride=30,
        lift=30,
        hip_drop=9,
        bob=4,
        arm_swing=38,
        fore_base=75,
        fore_swing=15,
        lean=10,
        flight=True,
    )
    for side in ("l", "r"):
        c.attach(f"hand_{side}", [(0, "hand_fist")])
    c.follow_hair(
        gain=0.8,
        lag=0.05,
        extra=lambda b, p: -12 if b.startswith("hair_back") else (-6 if "front" not in b else -4),
    )
    return c


def climb():
    """Climbing a ladder in front of the character: hands reach up alternately, feet step."""
    c = Clip("climb", 1.2, True)
    for side, ph in (("r", 0.0), ("l", math.pi)):
        c.func(f"upperarm_{side}", ROT, lambda p, ph=ph: 148 + 22 * cos(p, 1, ph), 12)
        c.func(f"forearm_{side}", ROT, lambda p, ph=ph: 38 - 28 * cos(p, 1, ph), 12)
        c.func(f"hand_{side}", ROT, lambda p, ph=ph: -10 + 10 * cos(p, 1, ph), 8)
        c.attach(f"hand_{side}", [(0, "hand_fist")])
        # the foot on the same side as the high hand is down (diagonal gait)
        c.func(
            f"ik_foot_{side}",
            POS,
            lambda p, ph=ph: [12 + 4 * sin(p, 1, ph), 16 - 16 * cos(p, 1, ph)],
            12,
        )
    c.func("hips", POS, lambda p: [6, -6 + 3 * cos(p, 2)], 8)
    c.func("spine", ROT, lambda p: -6 + 1.5 * sin(p, 1), 8)
    c.func("chest", ROT, lambda p: 2.5 * sin(p, 1), 8)
    c.func("head", ROT, lambda p: 8 + 2 * sin(p, 2), 8)
    c.follow_hair()
    return c


def swim():
    """Front crawl: the body lies forward, arms stroke alternately, flutter kick."""
    c = Clip("swim", 1.6, True)
    tilt = -68.0
    c.func("hips", ROT, lambda p: tilt + 3 * sin(p, 2), 8)
    c.func("hips", POS, lambda p: [-10, -34 + 3 * sin(p, 2, 1.0)], 8)
    c.func("spine", ROT, lambda p: -4 * sin(p, 1), 8)
    c.func("chest", ROT, lambda p: 4 * sin(p, 1, -0.5), 8)
    c.func("neck", ROT, lambda p: 20 + 3 * sin(p, 2), 8)
    c.func("head", ROT, lambda p: 28 + 6 * sin(p, 1, 0.5), 8)
    # legs trail behind the body axis with a flutter kick across it
    hip0 = np.array([-10.0, HIP_Y - 34])
    axis = dirv(90 + tilt)
    across = np.array([-axis[1], axis[0]])
    for side, ph in (("l", 0.0), ("r", math.pi)):
        thigh0 = SK.origin(f"thigh_{side}") - SK.origin("hips")
        r = math.radians(tilt)
        thigh_w = hip0 + np.array(
            [
                thigh0[0] * math.cos(r) - thigh0[1] * math.sin(r),
                thigh0[0] * math.sin(r) + thigh0[1] * math.cos(r),
            ]
        )
        ankle0 = SK.tip(f"shin_{side}")

        def foot(p, ph=ph, thigh_w=thigh_w, ankle0=ankle0):
            w = thigh_w - axis * 126 + across * (10 * sin(p, 4, ph))
            return list(w - ankle0)

        c.func(f"ik_foot_{side}", POS, foot, 16)
        c.func(f"foot_{side}", ROT, lambda p, ph=ph: -40 + 15 * sin(p, 4, ph - 0.8), 16)
    for side, ph in (("r", 0.0), ("l", math.pi)):
        c.func(f"upperarm_{side}", ROT, lambda p, ph=ph: 115 + 70 * sin(p, 1, ph), 16)
        c.func(f"forearm_{side}", ROT, lambda p, ph=ph: 25 + 25 * sin(p, 1, ph - 1.2), 16)
        c.func(f"hand_{side}", ROT, lambda p, ph=ph: 15 * sin(p, 1, ph - 1.6), 8)
        c.attach(f"hand_{side}", [(0, "hand_open")])
    c.follow_hair(extra=lambda b, p: -25 if "back" in b else (-15 if "side" in b else -8))
    return c


# ---- air and ground -------------------------------------------------------------------


def jump():
    """Anticipation crouch, launch, tuck (then fall takes over)."""
    c = Clip("jump", 0.4, False)
    c.keys(
        "hips",
        POS,
        [
            (0, [0, 0]),
            (0.15, [2, -22], "bezier", EASE_IN_OUT),
            (0.26, [0, 8], "bezier", EASE_OUT),
            (0.4, [0, 4]),
        ],
    )
    c.keys("hips", ROT, [(0, 0), (0.15, -4), (0.26, 2), (0.4, 0)])
    c.keys("spine", ROT, [(0, 0), (0.15, -12), (0.26, 4), (0.4, 1)])
    c.keys("chest", ROT, [(0, 0), (0.15, -5), (0.26, 3), (0.4, 0)])
    c.keys("head", ROT, [(0, 0), (0.15, 10), (0.26, -2), (0.4, 2)])
    for side, d in (("r", 0), ("l", 6)):
        c.keys(
            f"upperarm_{side}",
            ROT,
            [(0, 0), (0.15, -40 + d), (0.27, 160 - d, "bezier", EASE_OUT), (0.4, 140 - d)],
            "catmullrom",
        )
        c.keys(f"forearm_{side}", ROT, [(0, 0), (0.15, 22), (0.27, 8), (0.4, 18)])
        c.keys(
            f"ik_foot_{side}",
            POS,
            [(0, [0, 0]), (0.2, [0, 0]), (0.3, [-2, 8]), (0.4, [-4 - d / 2, 20 - d])],
        )
        c.keys(f"foot_{side}", ROT, [(0, 0), (0.15, 4), (0.27, -35), (0.4, -25)])
    c.follow_hair(extra=lambda b, p: (8 * smoothstep((p - 0.6) / 0.4)) * (-1 if "back" in b else 1))
    return c


def fall():
    c = Clip("fall", 0.8, True)
    for side, ph in (("r", 0.0), ("l", 2.0)):
        c.func(f"upperarm_{side}", ROT, lambda p, ph=ph: 140 + 9 * sin(p, 2, ph), 8)
        c.func(f"forearm_{side}", ROT, lambda p, ph=ph: 18 + 10 * sin(p, 2, ph - 0.8), 8)
        c.func(f"hand_{side}", ROT, lambda p, ph=ph: 12 * sin(p, 2, ph - 1.6), 8)
        c.attach(f"hand_{side}", [(0, "hand_open")])
        c.func(
            f"ik_foot_{side}",
            POS,
            lambda p, ph=ph: [-4 + 3 * sin(p, 1, ph), 18 + 5 * sin(p, 2, ph)],
            8,
        )
        c.func(f"foot_{side}", ROT, lambda p, ph=ph: -25 + 6 * sin(p, 1, ph), 8)
    c.func("hips", POS, lambda p: [0, 4 + 1.5 * sin(p, 2)], 8)
    c.func("spine", ROT, lambda p: 3 + 2 * sin(p, 1), 8)
    c.func("head", ROT, lambda p: 4 + 2 * sin(p, 1, 1.0), 8)

    # hair blown upwards by the air
    def up(bone, p):
        s = 1.0 + 0.12 * sin(p, 2, sum(map(ord, bone)) % 7)
        if "back" in bone:
            return -40 * s
        if "front" in bone:
            return 30 * s
        return (25 if "_l_" in bone else -25) * s

    c.follow_hair(extra=lambda b, p: up(b, p) * (0.6 if b.endswith("_2") else 1.0), sway=0.0)
    return c


def land():
    """Squash on impact, a small rebound, settle."""
    c = Clip("land", 0.3, False)
    c.keys(
        "hips",
        POS,
        [
            (0, [0, 2]),
            (0.07, [0, -24], "bezier", EASE_OUT),
            (0.18, [0, 2], "bezier", EASE_IN_OUT),
            (0.3, [0, 0]),
        ],
    )
    c.keys(
        "hips",
        SCL,
        [(0, [1, 1]), (0.07, [0.93, 1.07], "linear"), (0.18, [1.03, 0.98]), (0.3, [1, 1])],
    )
    c.keys("spine", ROT, [(0, 0), (0.07, -12), (0.18, 3), (0.3, 0)])
    c.keys("chest", ROT, [(0, 0), (0.07, -4), (0.18, 1), (0.3, 0)])
    c.keys("head", ROT, [(0, 4), (0.07, 10), (0.18, -3), (0.3, 0)])
    for side in ("l", "r"):
        c.keys(f"upperarm_{side}", ROT, [(0, 120), (0.07, 45), (0.18, -6), (0.3, 0)])
        c.keys(f"forearm_{side}", ROT, [(0, 20), (0.07, 35), (0.18, 5), (0.3, 0)])
        c.keys(f"foot_{side}", ROT, [(0, -15), (0.05, 0), (0.3, 0)])
        c.keys(f"ik_foot_{side}", POS, [(0, [0, 3]), (0.04, [0, 0], "linear"), (0.3, [0, 0])])
    c.event(0.04, "footstep", "both")
    c.follow_hair(lag=0.05, gain=0.9)
    return c


def sit():
    """Sitting on a seat ~80 px high: hips down and back, feet forward, hands on the lap."""
    c = Clip("sit", 3.0, True)
    c.breathe(1, 0.025)
    c.func("hips", POS, lambda p: [-10, -66], 4)
    c.func("hips", ROT, lambda p: 3, 4)
    c.func("spine", ROT, lambda p: 2 + 0.8 * sin(p), 8)
    c.func("head", ROT, lambda p: -3 + 2.0 * sin(p, 1, -0.8), 8)
    for side, dx in (("l", 56), ("r", 58)):
        c.func(f"ik_foot_{side}", POS, lambda p, dx=dx: [dx, 0], 4)
        c.func(f"foot_{side}", ROT, lambda p: 20, 4)
        c.func(f"upperarm_{side}", ROT, lambda p: 22 + 1.5 * sin(p, 1, 0.3), 8)
        c.func(f"forearm_{side}", ROT, lambda p: 38 + 2 * sin(p, 1, -0.4), 8)
        c.func(f"hand_{side}", ROT, lambda p: -20, 4)
    c.follow_hair()
    return c


# ---- emotes ---------------------------------------------------------------------------


def wave():
    c = Clip("wave", 2.0, False)
    ua = [(0, 0), (0.12, -8), (0.38, 145, "bezier", EASE_OUT)]
    fa = [(0, 0), (0.12, 6), (0.38, 40)]
    hd = [(0, 0), (0.38, 0)]
    t = 0.38
    k = 0
    while t + 0.15 <= 1.6:
        t += 0.15
        k += 1
        fa.append((t, 68 if k % 2 else 36))
        hd.append((t, -14 if k % 2 else 12))
        ua.append((t, 147 if k % 2 else 143))
    ua += [(1.88, -6, "bezier", EASE_IN_OUT), (2.0, 0)]
    fa += [(1.88, 4), (2.0, 0)]
    hd += [(1.88, 6), (2.0, 0)]
    c.keys("upperarm_r", ROT, ua)
    c.keys("forearm_r", ROT, fa)
    c.keys("hand_r", ROT, hd)
    c.keys("fingers_r", ROT, [(0, 0), (0.38, 10), (1.6, 10), (2.0, 0)])
    c.keys("shoulder_r", POS, [(0, [0, 0]), (0.38, [4, 0]), (1.6, [4, 0]), (2.0, [0, 0])])
    c.keys("chest", ROT, [(0, 0), (0.4, 3), (1.6, 3), (2.0, 0)])
    c.keys("head", ROT, [(0, 0), (0.45, 6, "bezier", EASE_IN_OUT), (1.1, 3), (1.6, 6), (2.0, 0)])
    c.keys("upperarm_l", ROT, [(0, 0), (0.4, -5), (1.6, -5), (2.0, 0)])
    c.attach("hand_r", [(0, "hand"), (0.25, "hand_open"), (1.82, "hand")])
    c.attach("face", [(0, "face"), (0.3, "face_smile"), (1.75, "face")])
    c.follow_hair()
    return c


def point():
    c = Clip("point", 1.2, False)
    c.keys(
        "upperarm_r",
        ROT,
        [
            (0, 0),
            (0.08, -6),
            (0.3, 84, "bezier", EASE_OUT),
            (0.9, 80),
            (1.2, 0, "bezier", EASE_IN_OUT),
        ],
        "catmullrom",
    )
    c.keys("forearm_r", ROT, [(0, 0), (0.08, 14), (0.3, 0), (0.9, 2), (1.2, 0)])
    c.keys("hand_r", ROT, [(0, 0), (0.3, -8), (0.9, -6), (1.2, 0)])
    c.keys("shoulder_r", POS, [(0, [0, 0]), (0.3, [2, -3]), (0.9, [2, -3]), (1.2, [0, 0])])
    c.keys("chest", ROT, [(0, 0), (0.3, -4), (0.9, -4), (1.2, 0)])
    c.keys("head", ROT, [(0, 0), (0.35, -5), (0.9, -4), (1.2, 0)])
    c.attach("hand_r", [(0, "hand"), (0.2, "hand_point"), (1.02, "hand")])
    c.follow_hair()
    return c


def cheer():
    c = Clip("cheer", 1.5, False)
    c.keys(
        "hips",
        POS,
        [
            (0, [0, 0]),
            (0.12, [0, -10]),
            (0.3, [0, 8], "bezier", EASE_OUT),
            (0.45, [0, -6]),
            (0.6, [0, 0]),
            (1.5, [0, 0]),
        ],
    )
    for side, d in (("r", 0.0), ("l", 0.04)):
        ks = [(0, 0), (0.12, -18), (0.32 + d, 160, "bezier", EASE_OUT)]
        for tt in (0.55, 0.8, 1.05):
            ks += [(tt + d, 140), (tt + 0.12 + d, 162)]
        ks += [(1.5, 0, "bezier", EASE_IN_OUT)]
        c.keys(f"upperarm_{side}", ROT, ks)
        c.keys(f"forearm_{side}", ROT, [(0, 0), (0.12, 20), (0.32, 8), (1.3, 10), (1.5, 0)])
        c.attach(f"hand_{side}", [(0, "hand"), (0.2, "hand_fist"), (1.4, "hand")])
        c.keys(
            f"ik_foot_{side}",
            POS,
            [(0, [0, 0]), (0.24, [0, 0]), (0.34, [0, 10]), (0.44, [0, 0]), (1.5, [0, 0])],
            "linear",
        )
        c.keys(f"foot_{side}", ROT, [(0, 0), (0.24, 0), (0.34, -20), (0.44, 0), (1.5, 0)])
    c.keys("spine", ROT, [(0, 0), (0.12, -6), (0.32, 6), (0.6, 3), (1.5, 0)])
    c.keys("head", ROT, [(0, 0), (0.12, -4), (0.35, 10), (1.2, 8), (1.5, 0)])
    c.attach("face", [(0, "face"), (0.25, "face_smile"), (1.4, "face")])
    c.event(0.44, "footstep", "both")
    c.follow_hair()
    return c


def laugh():
    c = Clip("laugh", 1.5, False)
    bob_t = [0.2 + 0.14 * q for q in range(8)]  # "ha-ha-ha"
    sh = (
        [(0, [0, 0])]
        + [(t, [4 if q % 2 == 0 else 1, 0], "linear") for q, t in enumerate(bob_t)]
        + [(1.5, [0, 0], "linear")]
    )
    c.keys("shoulder_r", POS, sh)
    c.keys("shoulder_l", POS, sh)
    hr = (
        [(0, 0), (0.15, 10)]
        + [(t, 12 if q % 2 == 0 else 7) for q, t in enumerate(bob_t)]
        + [(1.5, 0)]
    )
    c.keys("head", ROT, hr, "catmullrom")
    c.keys(
        "chest",
        ROT,
        [(0, 0), (0.1, 4)]
        + [(t, 6 if q % 2 == 0 else 3) for q, t in enumerate(bob_t)]
        + [(1.5, 0)],
        "catmullrom",
    )
    c.keys("spine", ROT, [(0, 0), (0.3, 3), (1.1, 3), (1.5, 0)])
    c.keys(
        "hips",
        POS,
        [(0, [0, 0])]
        + [(t, [0, -2.5 if q % 2 == 0 else -0.5]) for q, t in enumerate(bob_t)]
        + [(1.5, [0, 0])],
    )
    # left hand to the belly
    c.keys("upperarm_l", ROT, [(0, 0), (0.25, -15), (1.2, -15), (1.5, 0)])
    c.keys("forearm_l", ROT, [(0, 0), (0.25, 75), (1.2, 75), (1.5, 0)])
    c.keys("upperarm_r", ROT, [(0, 0), (0.3, 12), (1.2, 10), (1.5, 0)])
    c.attach("face", [(0, "face"), (0.12, "face_closed"), (1.38, "face")])
    c.follow_hair(lag=0.06, gain=0.9)
    return c


# ---- dances ---------------------------------------------------------------------------


def dance_1():
    """Bounce & clap, 120 bpm: bounce on every beat, clap overhead on the off beats."""
    c = Clip("dance_1", 2.0, True)
    c.func("hips", POS, lambda p: [0, -4 - 4 * cos(p, 4)], 16)
    c.func("head", ROT, lambda p: -4 * cos(p, 4, 0.5), 16)
    c.func("spine", ROT, lambda p: 3 * sin(p, 2), 8)
    for side, d in (("r", 0), ("l", 4)):
        c.func(f"upperarm_{side}", ROT, lambda p, d=d: 105 - 55 * cos(p, 4) + d, 16)
        c.func(f"forearm_{side}", ROT, lambda p: 35 + 25 * cos(p, 4), 16)
        c.attach(f"hand_{side}", [(0, "hand_open")])
    c.event(0.25, "clap")
    c.event(0.75, "clap")
    c.event(1.25, "clap")
    c.event(1.75, "clap")
    c.follow_hair()
    return c


def dance_2():
    """Slow sway, arms wide, hips and chest in counter-motion."""
    c = Clip("dance_2", 3.0, True)
    c.func("hips", POS, lambda p: [8 * sin(p), -4 - 2 * cos(p, 2)], 12)
    c.func("hips", ROT, lambda p: -4 * sin(p), 8)
    c.func("chest", ROT, lambda p: 7 * sin(p, 1, 0.3), 8)
    c.func("head", ROT, lambda p: -5 * sin(p, 1, 0.9), 8)
    c.func("upperarm_r", ROT, lambda p: 95 + 35 * sin(p, 1, 0.6), 12)
    c.func("upperarm_l", ROT, lambda p: 95 - 35 * sin(p, 1, 0.6), 12)
    c.func("forearm_r", ROT, lambda p: 20 + 15 * sin(p, 1, -0.2), 12)
    c.func("forearm_l", ROT, lambda p: 20 - 15 * sin(p, 1, -0.2), 12)
    c.func("hand_r", ROT, lambda p: 20 * sin(p, 1, -1.0), 8)
    c.func("hand_l", ROT, lambda p: -20 * sin(p, 1, -1.0), 8)
    for side in ("l", "r"):
        c.attach(f"hand_{side}", [(0, "hand_open")])
    c.breathe(1, 0.02)
    c.follow_hair(gain=0.9)
    return c


def dance_3():
    """Robot: hard pose hits every quarter second (step keys)."""
    c = Clip("dance_3", 2.0, True)
    poses = [
        # upperarm_r, forearm_r, upperarm_l, forearm_l, head, chest, hips_y
        (90, 90, 0, 0, 0, 0, 0),
        (90, 0, 0, 90, -10, 4, -4),
        (0, 90, 90, 90, 0, 0, 0),
        (170, 0, 90, 0, 10, -4, -4),
        (90, 90, 0, 0, 0, 0, 0),
        (0, 0, 90, 90, 10, 4, -4),
        (90, -5, 170, 0, -10, 0, 0),
        (45, 90, 45, 90, 0, -4, -6),
    ]
    names = ["upperarm_r", "forearm_r", "upperarm_l", "forearm_l", "head", "chest"]
    n = len(poses)
    for q, bone in enumerate(names):
        ks = [(k * c.length / n, poses[k][q], "step") for k in range(n)] + [
            (c.length, poses[0][q], "step")
        ]
        ks[0] = (0, poses[0][q], "step")
        c.keys(bone, ROT, ks, "step")
    ks = [(k * c.length / n, [0, poses[k][6]], "step") for k in range(n)] + [
        (c.length, [0, poses[0][6]], "step")
    ]
    c.keys("hips", POS, ks)
    for side in ("l", "r"):
        c.attach(f"hand_{side}", [(0, "hand_open")])
    c.follow_hair(gain=0.5)
    return c


def dance_4():
    """Disco: the right hand points up-forward, then down-across; hips swing to the beat."""
    c = Clip("dance_4", 2.0, True)
    up, down = 150, 25
    c.keys(
        "upperarm_r",
        ROT,
        [
            (0, up),
            (0.5, down, "bezier", EASE_OUT),
            (1.0, up, "bezier", EASE_OUT),
            (1.5, down, "bezier", EASE_OUT),
            (2.0, up, "bezier", EASE_OUT),
        ],
    )
    c.keys(
        "forearm_r",
        ROT,
        [
            (0, 2),
            (0.25, 20),
            (0.5, 4),
            (0.75, 20),
            (1.0, 2),
            (1.25, 20),
            (1.5, 4),
            (1.75, 20),
            (2.0, 2),
        ],
    )
    c.attach("hand_r", [(0, "hand_point")])
    # left hand on the hip
    c.func("upperarm_l", ROT, lambda p: -35 + 3 * sin(p, 2), 8)
    c.func("forearm_l", ROT, lambda p: 110, 4)
    c.attach("hand_l", [(0, "hand_fist")])
    c.func("hips", POS, lambda p: [6 * cos(p, 2), -5 - 3 * cos(p, 4)], 16)
    c.func("hips", ROT, lambda p: 5 * cos(p, 2), 8)
    c.func("chest", ROT, lambda p: -4 * cos(p, 2, 0.3), 8)
    c.func("head", ROT, lambda p: 8 * cos(p, 2, 0.4), 8)
    c.follow_hair()
    return c


def dance_5():
    """Running man: a knee lift while the other foot slides back, fast arm pumps."""
    c = Clip("dance_5", 1.5, True)
    L = c.length
    for side, off in (("l", 0.0), ("r", 0.5)):
        cyc = [
            (0.0, [14, 0], "linear"),
            (0.25, [-14, 0], "linear"),  # slides back on the ground
            (0.5, [-16, 0], "linear"),
            (0.62, [0, 30], "catmullrom"),  # knee lift
            (0.78, [14, 36], "catmullrom"),
            (1.0, [14, 0], "catmullrom"),  # stamp
        ]
        c.keys(f"ik_foot_{side}", POS, [(p * L, v, k) for p, v, k in shift_cycle(cyc, off, POS)])
        c.func(
            f"foot_{side}",
            ROT,
            lambda p, off=off: -10 * max(0.0, sin(p, 1, -2 * math.pi * off - 3.0)),
            12,
        )
    c.func("hips", POS, lambda p: [0, -8 - 4 * cos(p, 2)], 12)
    c.func("spine", ROT, lambda p: -5 + 2 * cos(p, 2), 8)
    for side, ph in (("r", 0.0), ("l", math.pi)):
        c.func(f"upperarm_{side}", ROT, lambda p, ph=ph: 30 + 35 * cos(p, 1, ph), 12)
        c.func(f"forearm_{side}", ROT, lambda p, ph=ph: 85 + 15 * cos(p, 1, ph - 0.5), 12)
        c.attach(f"hand_{side}", [(0, "hand_fist")])
    c.func("head", ROT, lambda p: 3 * cos(p, 2, 0.5), 8)
    c.event(0.0, "footstep", "left")
    c.event(0.5 * L, "footstep", "right")
    c.follow_hair(gain=0.9)
    return c


def dance_6():
    """Arm wave: a wave travels far hand -> far shoulder -> chest -> near shoulder -> near hand."""
    c = Clip("dance_6", 2.4, True)
    ph = 0.9  # phase step along the chain
    c.func("hand_l", ROT, lambda p: 25 * sin(p, 2, 0), 16)
    c.func("fingers_l", ROT, lambda p: 25 * sin(p, 2, 0.5), 16)
    c.func("forearm_l", ROT, lambda p: 30 + 25 * sin(p, 2, -ph), 16)
    c.func("upperarm_l", ROT, lambda p: 85 + 12 * sin(p, 2, -2 * ph), 16)
    c.func("shoulder_l", POS, lambda p: [3 * sin(p, 2, -3 * ph), 0], 16)
    c.func("chest", ROT, lambda p: 4 * sin(p, 2, -4 * ph), 16)
    c.func("shoulder_r", POS, lambda p: [3 * sin(p, 2, -5 * ph), 0], 16)
    c.func("upperarm_r", ROT, lambda p: 85 - 12 * sin(p, 2, -6 * ph), 16)
    c.func("forearm_r", ROT, lambda p: 30 + 25 * sin(p, 2, -7 * ph), 16)
    c.func("hand_r", ROT, lambda p: 25 * sin(p, 2, -8 * ph), 16)
    c.func("fingers_r", ROT, lambda p: 25 * sin(p, 2, -8.5 * ph), 16)
    c.func("hips", POS, lambda p: [3 * sin(p, 1), -4 - 2 * cos(p, 4)], 16)
    c.func("head", ROT, lambda p: 5 * sin(p, 2, -4.5 * ph), 16)
    for side in ("l", "r"):
        c.attach(f"hand_{side}", [(0, "hand_open")])
    c.follow_hair()
    return c


def dance_7():
    """Twist: low stance, knees in and out, hips against chest, arms swinging."""
    c = Clip("dance_7", 1.6, True)
    c.func("hips", POS, lambda p: [4 * sin(p, 2), -14 - 4 * cos(p, 4)], 16)
    c.func("hips", ROT, lambda p: 9 * sin(p, 2), 16)
    c.func("chest", ROT, lambda p: -14 * sin(p, 2), 16)
    c.func("spine", ROT, lambda p: -3, 4)
    c.func("head", ROT, lambda p: 5 * sin(p, 2), 16)
    for side, s in (("l", 1), ("r", -1)):
        c.func(f"ik_foot_{side}", POS, lambda p, s=s: [s * 6 + 5 * sin(p, 2), 0], 16)
        c.func(f"foot_{side}", ROT, lambda p, s=s: 8 * sin(p, 2, 0.5 * s), 16)
        c.func(f"upperarm_{side}", ROT, lambda p, s=s: 30 + 35 * s * sin(p, 2), 16)
        c.func(f"forearm_{side}", ROT, lambda p, s=s: 80 + 10 * s * sin(p, 2, -0.6), 16)
        c.attach(f"hand_{side}", [(0, "hand_fist")])
    c.follow_hair(gain=0.9)
    return c


def dance_8():
    """Jumping jacks: hop out with arms up, hop in with arms down (two per loop)."""
    c = Clip("dance_8", 2.0, True)
    hy = [(0, [0, 0])]
    for base in (0.0, 1.0):
        hy += [
            (base + 0.08, [0, -8]),
            (base + 0.22, [0, 8], "bezier", EASE_OUT),
            (base + 0.38, [0, -7], "bezier", EASE_IN),
            (base + 0.58, [0, 8], "bezier", EASE_OUT),
            (base + 0.74, [0, -7], "bezier", EASE_IN),
            (base + 1.0, [0, 0]),
        ]
    c.keys("hips", POS, hy)
    for side, s in (("l", 1), ("r", -1)):
        ks = [(0, [0, 0])]
        for base in (0.0, 1.0):
            ks += [
                (base + 0.14, [0, 0], "linear"),
                (base + 0.24, [s * 6, 10]),
                (base + 0.38, [s * 16, 0]),
                (base + 0.5, [s * 16, 0], "linear"),
                (base + 0.6, [s * 8, 10]),
                (base + 0.74, [0, 0]),
                (base + 1.0, [0, 0], "linear"),
            ]
        c.keys(f"ik_foot_{side}", POS, ks)
        ua = [(0, 0)]
        for base in (0.0, 1.0):
            ua += [
                (base + 0.1, -8),
                (base + 0.32, 168),
                (base + 0.52, 165),
                (base + 0.74, 0),
                (base + 1.0, 0),
            ]
        c.keys(f"upperarm_{side}", ROT, ua)
        fa = [(0, 0)]
        for base in (0.0, 1.0):
            fa += [
                (base + 0.2, 25),
                (base + 0.38, 8),
                (base + 0.6, 25),
                (base + 0.8, 4),
                (base + 1.0, 0),
            ]
        c.keys(f"forearm_{side}", ROT, fa)
        c.attach(f"hand_{side}", [(0, "hand_open")])
    c.event(0.38, "footstep", "both")
    c.event(0.74, "footstep", "both")
    c.event(1.38, "footstep", "both")
    c.event(1.74, "footstep", "both")
    c.follow_hair(gain=0.8)
    return c


def dance_9():
    """Head-bang at 160 bpm: sharp nods (linear keys), fist pumps, hair whipping behind."""
    c = Clip("dance_9", 1.5, True)
    beat = 0.375
    nods = [(0, 4, "linear")]
    for q in range(4):
        nods += [(q * beat + 0.12, -20, "linear"), (q * beat + beat, 4, "linear")]
    c.keys("head", ROT, nods)
    c.keys("neck", ROT, [(t, v * 0.35, k) for t, v, k in nods])
    c.func("chest", ROT, lambda p: -4 - 3 * cos(p, 4, -1.3), 16)
    c.func("hips", POS, lambda p: [0, -6 - 3 * cos(p, 4, -1.0)], 16)
    c.func("upperarm_r", ROT, lambda p: 125 + 20 * cos(p, 4, -1.0), 16)
    c.func("forearm_r", ROT, lambda p: 40 - 22 * cos(p, 4, -1.0), 16)
    c.func("upperarm_l", ROT, lambda p: 20 + 10 * cos(p, 2), 8)
    c.func("forearm_l", ROT, lambda p: 60 + 10 * cos(p, 2, -0.5), 8)
    for side in ("l", "r"):
        c.attach(f"hand_{side}", [(0, "hand_fist")])
    c.follow_hair(gain=1.1, lag=0.06)
    return c


# ---- tools (right arm; the tool layer masks everything else) --------------------------


def toolslash():
    c = Clip("toolslash", 0.5, False)
    u, f, h = HOLD["upperarm_r"], HOLD["forearm_r"], HOLD["hand_r"]
    c.keys(
        "upperarm_r",
        ROT,
        [
            (0, u),
            (0.14, 155, "bezier", EASE_IN_OUT),
            (0.22, 25, "bezier", EASE_IN),
            (0.32, 10),
            (0.5, u, "bezier", EASE_IN_OUT),
        ],
        "catmullrom",
    )
    c.keys("forearm_r", ROT, [(0, f), (0.14, 70), (0.22, 10), (0.32, 15), (0.5, f)])
    c.keys("hand_r", ROT, [(0, h), (0.14, 25), (0.22, -55), (0.32, -60), (0.5, h)])
    c.keys("shoulder_r", POS, [(0, [0, 0]), (0.14, [3, 1]), (0.24, [-2, -2]), (0.5, [0, 0])])
    c.attach("hand_r", [(0, "hand_fist")])
    c.attach("tool", [(0, "sword")])
    c.event(0.19, "hit")
    return c


CLIPS = [
    idle_1, idle_2, idle_3, walk, run, climb, swim, jump, fall, land, sit,
    wave, point, cheer, laugh,
    dance_1, dance_2, dance_3, dance_4, dance_5, dance_6, dance_7, dance_8, dance_9,
    toolnone, toolslash, toollunge,
]  # fmt: skip


# --------------------------------------------------------------------------------------
# state machine


def build_statemachine() -> dict:
    return {
        "schema": 1,
        "rig": "testrig",
        "default_mix": 0.2,
        "mixes": [
            {"from": "walk", "to": "jump", "duration": 0.1},
            {"from": "run", "to": "jump", "duration": 0.1},
            {"from": "jump", "to": "fall", "duration": 0.1},
            {"from": "fall", "to": "land", "duration": 0.05},
            {"from": "toolnone", "to": "toolslash", "duration": 0.05},
            {"from": "toolnone", "to": "toollunge", "duration": 0.05},
        ],
        "inputs": {"speed": 0.0, "grounded": 1.0},
        "layers": [
            # a body state commanded while an emote plays ends the emote (docs/CONTROL.md)
            {
                "name": "idle",
                "priority": "idle",
                "region": "body",
                "rest": "idle",
                "stops": ["emote"],
            },
            {"name": "movement", "priority": "movement", "region": "body", "stops": ["emote"]},
            {
                "name": "tool",
                "priority": "action",
                "region": "tool",
                "mask": {
                    "shoulder_r": 1,
                    "upperarm_r": 1,
                    "forearm_r": 1,
                    "hand_r": 1,
                    "fingers_r": 1,
                },
            },
            {"name": "emote", "priority": "action", "region": "emote"},
        ],
        "initial": {"body": "idle"},
        "states": {
            "idle": {
                "layer": "idle",
                "variants": [
                    {"animation": "idle_1", "weight": 0.5},
                    {"animation": "idle_2", "weight": 0.3},
                    {"animation": "idle_3", "weight": 0.2},
                ],
                "reroll": True,
            },
            "walk": {
                "layer": "movement",
                "blend": {
                    "input": "speed",
                    "points": [{"animation": "walk", "at": 1.0}, {"animation": "run", "at": 3.0}],
                },
                "when": [
                    {"input": "speed", "below": 0.05, "go": "idle"},
                    {"input": "speed", "above": 2.0, "go": "run"},
                ],
            },
            "run": {
                "layer": "movement",
                "blend": {
                    "input": "speed",
                    "points": [{"animation": "walk", "at": 1.0}, {"animation": "run", "at": 3.0}],
                },
                "when": [
                    {"input": "speed", "below": 0.05, "go": "idle"},
                    {"input": "speed", "below": 1.8, "go": "walk"},
                ],
            },
            "jump": {"layer": "movement", "animation": "jump", "next": "fall"},
            "fall": {
                "layer": "movement",
                "animation": "fall",
                "loop": True,
                "when": [{"input": "grounded", "above": 0.5, "go": "land"}],
            },
            "land": {  # back to walking when still moving, else to idle
                "layer": "movement",
                "animation": "land",
                "next": "idle",
                "when": [{"input": "speed", "above": 0.05, "go": "walk"}],
            },
            "sit": {"layer": "movement", "animation": "sit"},
            "climb": {"layer": "movement", "animation": "climb"},
            "swim": {"layer": "movement", "animation": "swim", "loop": True},
            "wave": {"layer": "emote", "animation": "wave", "duration": 2.0, "returns": True},
            "point": {"layer": "emote", "animation": "point", "returns": True},
            "cheer": {"layer": "emote", "animation": "cheer", "duration": 1.5, "returns": True},
            "laugh": {"layer": "emote", "animation": "laugh", "returns": True},
            "dance": {  # a body state: Idle, Sit or walking end it, an emote plays over it
                "layer": "movement",
                "variants": [{"animation": f"dance_{k}"} for k in range(1, 10)],
                "loop": True,
            },
            "toolnone": {"layer": "tool", "animation": "toolnone", "loop": True},
            "toolslash": {"layer": "tool", "animation": "toolslash", "next": "toolnone"},
            "toollunge": {"layer": "tool", "animation": "toollunge", "next": "toolnone"},
        },
    }


def check_statemachine(sm: dict, clips: set[str]):
    layers = {l["name"] for l in sm["layers"]}
    for name, st in sm["states"].items():
        assert st["layer"] in layers
        anims = []
        if "animation" in st:
            anims.append(st["animation"])
        anims += [v["animation"] for v in st.get("variants", [])]
        anims += [p["animation"] for p in st.get("blend", {}).get("points", [])]
        assert anims and all(a in clips for a in anims), (name, anims)
        for key in ("next",):
            if key in st:
                assert st[key] in sm["states"]
        for w in st.get("when", []):
            assert w["go"] in sm["states"] and w["input"] in sm["inputs"]
    for m in sm["mixes"]:
        assert m["from"] in clips and m["to"] in clips, m


# --------------------------------------------------------------------------------------


def write(path: Path, obj) -> int:
    text = dumps(obj)
    json.loads(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return len(text.encode("utf-8"))


def main() -> None:
    rig, _ = build_rig()
    stats = check_rig(rig)
    total = write(RIG_PATH, rig)
    ANIM_DIR.mkdir(parents=True, exist_ok=True)
    names = set()
    slot_atts = {s: set(a) for s, a in rig["attachments"].items()}
    for make in CLIPS:
        clip = make()
        clip.check()
        for slot, chs in clip.slots.items():
            for k in chs.get("attachment", []):
                assert k["name"] is None or k["name"] in slot_atts.get(slot, set()), (
                    clip.name,
                    slot,
                    k,
                )
        names.add(clip.name)
        total += write(ANIM_DIR / f"{clip.name}.json", clip.to_json())
    # remove clips this script no longer makes
    for f in ANIM_DIR.glob("*.json"):
        if f.stem not in names and f.name != "statemachine.json":
            f.unlink()
    sm = build_statemachine()
    check_statemachine(sm, names)
    total += write(ANIM_DIR / "statemachine.json", sm)
    print(
        f"testrig: {stats['bones']} bones, {stats['vertices']} mesh vertices "
        f"({stats['skinned']} skinned), {stats['triangles']} triangles, "
        f"{len(names)} clips, {total / 1024:.0f} KiB written"
    )


if __name__ == "__main__":
    main()
