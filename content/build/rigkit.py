"""The rig-building kit shared by the content builds (digi.py, testrig.py): deterministic
JSON, the skeleton, meshes and weights, and the keyframe clip builder. A build creates its
`Skeleton` and hands it over with `set_skeleton` before building clips."""

from __future__ import annotations

import json
import math

import numpy as np

DIGITS = 4


def rnd(v, digits=DIGITS):
    """Rounds numbers (recursively in lists/tuples) and normalises -0.0 and integral floats."""
    if isinstance(v, (list, tuple, np.ndarray)):
        return [rnd(x, digits) for x in v]
    if isinstance(v, (bool, str)) or v is None:
        return v
    r = round(float(v), digits)
    if r == 0:
        return 0
    if r == int(r) and abs(r) < 1e9:
        return int(r)
    return r


def smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def wrap180(a: float) -> float:
    a = math.fmod(a + 180.0, 360.0)
    if a < 0:
        a += 360.0
    return a - 180.0


def dirv(angle_deg: float) -> np.ndarray:
    r = math.radians(angle_deg)
    return np.array([math.cos(r), math.sin(r)])


def dumps(obj, width: int = 110) -> str:
    """JSON with sorted keys: containers that fit in `width` characters stay on one line,
    larger ones put one element a line (one keyframe / vertex / triangle a line)."""

    def compact(o) -> str:
        return json.dumps(o, sort_keys=True, separators=(",", ":"))

    def fmt(o, ind: int) -> str:
        c = compact(o)
        if len(c) + ind <= width or not isinstance(o, (dict, list)) or not o:
            return c
        pad = " " * (ind + 1)
        if isinstance(o, dict):
            items = [f"{pad}{json.dumps(k)}:{fmt(o[k], ind + 1)}" for k in sorted(o)]
            return "{\n" + ",\n".join(items) + "\n" + " " * ind + "}"
        items = [pad + fmt(x, ind + 1) for x in o]
        return "[\n" + ",\n".join(items) + "\n" + " " * ind + "]"

    return fmt(obj, 0) + "\n"


# --------------------------------------------------------------------------------------
# skeleton: bones given by their setup WORLD start, world angle and length; the local
# transforms are derived (all scales 1, no shear), rounded, and the world transforms are
# recomputed from the rounded locals so that everything below matches the file exactly.


# (name, parent, start (x, y) or None = parent's tip, world angle, length, inherit)
class Skeleton:
    def __init__(self, specs):
        self.bones: list[dict] = []
        self.index: dict[str, int] = {}
        self.world: dict[str, tuple[np.ndarray, float]] = {}  # name -> (origin, angle)
        self.length: dict[str, float] = {}
        self.parent: dict[str, str | None] = {}
        for name, parent, start, angle, length, inherit in specs:
            if parent is None:
                local = {"x": 0.0, "y": 0.0, "rotation": float(angle)}
            else:
                po, pa = self.world[parent]
                if start is None:
                    w = po + dirv(pa) * self.length[parent]
                elif isinstance(start, str):
                    w = self.tip(start.split(":", 1)[1])
                else:
                    w = np.array(start, dtype=float)
                d = w - po
                r = math.radians(-pa)
                lx = d[0] * math.cos(r) - d[1] * math.sin(r)
                ly = d[0] * math.sin(r) + d[1] * math.cos(r)
                local = {"x": lx, "y": ly, "rotation": wrap180(angle - pa)}
            local = {k: float(rnd(v)) for k, v in local.items()}
            b = {"name": name}
            if parent is not None:
                b["parent"] = parent
            for k in ("x", "y", "rotation"):
                if local[k] != 0:
                    b[k] = rnd(local[k])
            if length:
                b["length"] = rnd(length)
            if inherit != "normal":
                b["inherit"] = inherit
            self.index[name] = len(self.bones)
            self.bones.append(b)
            self.parent[name] = parent
            self.length[name] = float(length)
            # world from the rounded local (all scales 1, no shear -> rigid transforms)
            if parent is None:
                self.world[name] = (np.array([local["x"], local["y"]]), local["rotation"])
            else:
                po, pa = self.world[parent]
                r = math.radians(pa)
                wx = po[0] + local["x"] * math.cos(r) - local["y"] * math.sin(r)
                wy = po[1] + local["x"] * math.sin(r) + local["y"] * math.cos(r)
                self.world[name] = (np.array([wx, wy]), pa + local["rotation"])

    def origin(self, name: str) -> np.ndarray:
        return self.world[name][0].copy()

    def angle(self, name: str) -> float:
        return self.world[name][1]

    def tip(self, name: str) -> np.ndarray:
        o, a = self.world[name]
        return o + dirv(a) * self.length[name]

    def to_parent_frame(self, bone: str, dx: float, dy: float) -> list[float]:
        """A world-space offset expressed in the bone's parent frame at the setup pose (what a
        position key / x,y binding of `bone` must hold to move it by (dx, dy) in the world)."""
        p = self.parent[bone]
        pa = self.world[p][1] if p else 0.0
        r = math.radians(-pa)
        return [dx * math.cos(r) - dy * math.sin(r), dx * math.sin(r) + dy * math.cos(r)]


class Mesh:
    def __init__(self, path: str):
        self.path = path
        self.vertices: list[np.ndarray] = []
        self.uvs: list[tuple[float, float]] = []
        self.triangles: list[tuple[int, int, int]] = []
        self.weights: list[list[tuple[str, float]]] | None = []

    def to_json(self) -> dict:
        verts = [rnd(v) for v in self.vertices]
        # counter-clockwise triangles everywhere
        tris = []
        for i, j, k in self.triangles:
            a, b, c = (np.array(verts[q], dtype=float) for q in (i, j, k))
            cross = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
            tris.append([i, j, k] if cross >= 0 else [i, k, j])
        out = {
            "type": "mesh",
            "path": self.path,
            "vertices": verts,
            "uvs": [rnd(uv) for uv in self.uvs],
            "triangles": tris,
        }
        if self.weights is not None:
            out["weights"] = [[[b, rnd(w)] for b, w in infl] for infl in self.weights]
        return out


def normalise_weights(ws: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Drops tiny weights, keeps at most 4, rounds, and makes the rounded sum exactly 1."""
    acc: dict[str, float] = {}
    for b, w in ws:
        acc[b] = acc.get(b, 0.0) + w
    items = sorted(((b, w) for b, w in acc.items() if w > 2e-3), key=lambda bw: -bw[1])[:4]
    total = sum(w for _, w in items)
    items = [(b, round(w / total, DIGITS)) for b, w in items]
    rest = round(sum(w for _, w in items[1:]), DIGITS)
    items[0] = (items[0][0], round(1.0 - rest, DIGITS))
    items = [(b, w) for b, w in items if w > 0]
    return items


def partition(s: float, joints: list[float], halfwidths: list[float], bones: list[str]):
    """Smooth partition of unity along a chain: bone k owns [joint k-1, joint k]; every
    joint blends over +- its half width with a smoothstep."""
    t = [smoothstep((s - (j - h)) / (2 * h)) for j, h in zip(joints, halfwidths, strict=True)]
    ws = []
    for k, b in enumerate(bones):
        lo = t[k - 1] if k > 0 else 1.0
        hi = t[k] if k < len(t) else 0.0
        ws.append((b, lo - hi))
    return normalise_weights(ws)


SK: Skeleton | None = None  # set by the build (set_skeleton) before any Clip is built


def set_skeleton(sk: Skeleton) -> None:
    global SK
    SK = sk


# --------------------------------------------------------------------------------------
# animation clips
ROT, POS, SCL, SHR = "rotation", "position", "scale", "shear"
DIMS = {ROT: 1, POS: 2, SCL: 2, SHR: 2}
NEUTRAL = {ROT: 0.0, POS: [0.0, 0.0], SCL: [1.0, 1.0], SHR: [0.0, 0.0]}


def bezier_curve(t0, v0, t1, v1, ease=(0.42, 0.0, 0.58, 1.0)):
    """Spine-style absolute control points for one segment from normalised (x1,y1,x2,y2)."""
    x1, y1, x2, y2 = ease
    v0s = v0 if isinstance(v0, (list, tuple)) else [v0]
    v1s = v1 if isinstance(v1, (list, tuple)) else [v1]
    out = []
    for a, b in zip(v0s, v1s, strict=True):
        out += [t0 + x1 * (t1 - t0), a + y1 * (b - a), t0 + x2 * (t1 - t0), a + y2 * (b - a)]
    return out


EASE_IN_OUT = (0.42, 0.0, 0.58, 1.0)
EASE_OUT = (0.1, 0.7, 0.3, 1.0)  # snappy start, soft landing
EASE_IN = (0.6, 0.0, 0.9, 0.4)  # slow start, fast arrival
OVERSHOOT = (0.3, 0.0, 0.5, 1.3)


def sample_keys(keys: list[dict], t: float):
    """The value of a channel at time t, per content/README.md."""
    n = len(keys)
    first = next((q for q, k in enumerate(keys) if t <= k["time"]), n)
    i = max(first - 1, 0)
    j = min(i + 1, n - 1)
    ki, kj = keys[i], keys[j]
    a = 0.0 if i == j else min(max((t - ki["time"]) / (kj["time"] - ki["time"]), 0.0), 1.0)
    vi = np.atleast_1d(np.array(ki["value"], dtype=float))
    vj = np.atleast_1d(np.array(kj["value"], dtype=float))
    interp = kj.get("interp", "linear")
    if interp == "linear":
        out = vi + (vj - vi) * a
    elif interp == "step":
        out = vj if (i != j and t >= kj["time"]) else vi
    elif interp == "catmullrom":
        p0 = np.atleast_1d(np.array(keys[max(i - 1, 0)]["value"], dtype=float))
        p3 = np.atleast_1d(np.array(keys[min(j + 1, n - 1)]["value"], dtype=float))
        p1, p2 = vi, vj
        out = 0.5 * (
            2 * p1
            + (p2 - p0) * a
            + (2 * p0 - 5 * p1 + 4 * p2 - p3) * a * a
            + (3 * p1 - p0 - 3 * p2 + p3) * a**3
        )
    elif interp == "bezier":
        c = kj["curve"]
        out = np.empty_like(vi)
        for d in range(len(vi)):
            cx1, cy1, cx2, cy2 = c[4 * d : 4 * d + 4]
            x0, x3 = ki["time"], kj["time"]
            lo, hi = 0.0, 1.0
            for _ in range(50):  # x(u) is monotone for control times inside the segment
                u = (lo + hi) / 2
                x = (
                    (1 - u) ** 3 * x0
                    + 3 * (1 - u) ** 2 * u * cx1
                    + 3 * (1 - u) * u * u * cx2
                    + u**3 * x3
                )
                if x < t:
                    lo = u
                else:
                    hi = u
            u = (lo + hi) / 2
            out[d] = (
                (1 - u) ** 3 * vi[d]
                + 3 * (1 - u) ** 2 * u * cy1
                + 3 * (1 - u) * u * u * cy2
                + u**3 * vj[d]
            )
    else:
        raise ValueError(interp)
    return float(out[0]) if out.shape == (1,) else out


class Clip:
    def __init__(self, name: str, length: float, looping: bool):
        self.name = name
        self.length = float(length)
        self.looping = looping
        self.bones: dict[str, dict[str, list[dict]]] = {}
        self.slots: dict[str, dict[str, list[dict]]] = {}
        self.events: list[dict] = []

    # -- keys
    def keys(self, bone: str, channel: str, keys, interp: str = "catmullrom"):
        """keys: (time, value) or (time, value, interp) or (time, value, 'bezier', ease);
        times are absolute seconds. Bezier control points are computed from the previous key."""
        assert bone in SK.index, bone
        out = []
        for k in keys:
            t, v = k[0], k[1]
            kind = k[2] if len(k) > 2 else interp
            key = {"time": rnd(t), "value": rnd(v), "interp": kind}
            if kind == "bezier":
                ease = k[3] if len(k) > 3 else EASE_IN_OUT
                prev = out[-1]
                key["curve"] = rnd(
                    bezier_curve(prev["time"], prev["value"], key["time"], key["value"], ease)
                )
            out.append(key)
        self.bones.setdefault(bone, {})[channel] = out
        return self

    def func(self, bone: str, channel: str, f, n: int, interp: str = "catmullrom"):
        """Samples f(p), p in [0, 1] = time / length, at n+1 evenly spaced keys; for looping
        clips the last key copies the first."""
        ks = []
        for q in range(n + 1):
            p = q / n
            v = f(0.0) if (self.looping and q == n) else f(p)
            ks.append((p * self.length, v))
        return self.keys(bone, channel, ks, interp)

    def attach(self, slot: str, keys):
        self.slots.setdefault(slot, {})["attachment"] = [
            {"time": rnd(t), "name": name} for t, name in keys
        ]
        return self

    def color(self, slot: str, keys, interp="linear"):
        self.slots.setdefault(slot, {})["color"] = [
            {"time": rnd(t), "value": rnd(v), "interp": interp} for t, v in keys
        ]
        return self

    def event(self, t: float, name: str, string: str | None = None):
        e = {"time": rnd(t), "name": name}
        if string is not None:
            e["string"] = string
        self.events.append(e)
        return self

    # -- sampling (for derived channels and checks)
    def value(self, bone: str, channel: str, t: float):
        ch = self.bones.get(bone, {}).get(channel)
        if not ch:
            return np.array(NEUTRAL[channel], dtype=float) if channel != ROT else 0.0
        t = t % self.length if self.looping else min(max(t, 0.0), self.length)
        return sample_keys(ch, t)

    def head_world_rotation(self, t: float) -> float:
        return sum(self.value(b, ROT, t) for b in ("hips", "spine", "chest", "neck", "head"))

    def breathe(
        self, cycles: int = 1, amount: float = 0.025, phase: float = 0.0, n: int | None = None
    ):
        """Chest scale (breathing) and a little shoulder rise; whole cycles so loops close."""
        n = n or 8 * cycles

        def b(p):
            return (1 - math.cos(2 * math.pi * (cycles * p) + phase)) / 2

        self.func("chest", SCL, lambda p: [1.0 + 0.3 * amount * b(p), 1.0 + amount * b(p)], n)
        self.func("shoulder_l", POS, lambda p: [1.2 * b(p), 0], n)
        self.func("shoulder_r", POS, lambda p: [1.2 * b(p), 0], n)
        return self

    def to_json(self) -> dict:
        out = {"schema": 1, "name": self.name, "length": rnd(self.length), "looping": self.looping}
        if self.bones:
            out["bones"] = {b: dict(chs) for b, chs in self.bones.items()}
        if self.slots:
            out["slots"] = self.slots
        if self.events:
            out["events"] = sorted(self.events, key=lambda e: (e["time"], e["name"]))
        return out

    def check(self):
        L = self.length
        for bone, chs in self.bones.items():
            assert bone in SK.index, (self.name, bone)
            for ch, keys in chs.items():
                assert ch in DIMS, (self.name, bone, ch)
                assert keys and keys[0]["time"] == 0, (self.name, bone, ch)
                prev = -1
                for k in keys:
                    assert prev < k["time"] <= L + 1e-9, (self.name, bone, ch, k)
                    if DIMS[ch] == 1:
                        assert isinstance(k["value"], (int, float)), (self.name, bone, ch)
                    else:
                        assert len(k["value"]) == 2, (self.name, bone, ch)
                    if k["interp"] == "bezier":
                        c = k["curve"]
                        assert len(c) == 4 * DIMS[ch]
                        for d in range(DIMS[ch]):
                            assert (
                                prev <= c[4 * d] <= k["time"] and prev <= c[4 * d + 2] <= k["time"]
                            )
                    prev = k["time"]
                if self.looping:
                    assert keys[-1]["time"] == rnd(L) and keys[-1]["value"] == keys[0]["value"], (
                        self.name,
                        bone,
                        ch,
                    )
        for chs in self.slots.values():
            for keys in chs.values():
                assert keys[0]["time"] == 0
                times = [k["time"] for k in keys]
                assert times == sorted(set(times)) and times[-1] <= L
        for e in self.events:
            assert 0 <= e["time"] <= L


def sin(p, cycles=1.0, phase=0.0):
    return math.sin(2 * math.pi * cycles * p + phase)


def cos(p, cycles=1.0, phase=0.0):
    return math.cos(2 * math.pi * cycles * p + phase)


TWO_PI = 2 * math.pi


# --------------------------------------------------------------------------------------
# motion both avatars share: cycle re-cutting, and the sword hold and lunge


def shift_cycle(cyc, off: float, channel: str):
    """Keys (phase, value, interp) of one closed cycle, shifted later by `off` of a cycle and
    re-cut at phase 0 (the cut point is sampled from the original curve)."""
    if off == 0:
        return list(cyc)
    tmp = Clip("tmp", 1.0, True).keys("root", channel, cyc)
    src0 = (-off) % 1.0
    v0 = tmp.value("root", channel, src0)
    v0 = v0 if channel == ROT else list(v0)
    pts = [(0.0, v0, "linear")]
    for q, (p, v, k) in enumerate(cyc[:-1]):
        kind = cyc[-1][2] if q == 0 else k  # key 0's arriving segment is the cycle's last
        sp = (p + off) % 1.0
        if sp > 1e-9:
            pts.append((sp, v, kind))
    pts.sort(key=lambda x: x[0])
    nxt = next(k for p, v, k in cyc if p > src0 + 1e-9)
    pts.append((1.0, v0, nxt))
    return pts


# the right arm holding a tool forward (degrees, added to the setup pose)
HOLD = {"upperarm_r": 40.0, "forearm_r": 55.0, "hand_r": -10.0}


def toolnone():
    c = Clip("toolnone", 2.0, True)
    c.func("upperarm_r", ROT, lambda p: HOLD["upperarm_r"] + 1.5 * sin(p), 8)
    c.func("forearm_r", ROT, lambda p: HOLD["forearm_r"] + 2.0 * sin(p, 1, -0.6), 8)
    c.func("hand_r", ROT, lambda p: HOLD["hand_r"] + 2.0 * sin(p, 1, -1.2), 8)
    c.func("shoulder_r", POS, lambda p: [0.8 * (1 - cos(p)) / 2, 0], 8)
    c.attach("hand_r", [(0, "hand_fist")])
    c.attach("tool", [(0, "sword")])
    return c


def toollunge():
    c = Clip("toollunge", 0.6, False)
    u, f, h = HOLD["upperarm_r"], HOLD["forearm_r"], HOLD["hand_r"]
    c.keys(
        "upperarm_r",
        ROT,
        [
            (0, u),
            (0.16, 15),
            (0.3, 84, "bezier", EASE_OUT),
            (0.42, 82),
            (0.6, u, "bezier", EASE_IN_OUT),
        ],
        "catmullrom",
    )
    c.keys(
        "forearm_r",
        ROT,
        [(0, f), (0.16, 100), (0.3, 2, "bezier", EASE_OUT), (0.42, 4), (0.6, f)],
        "catmullrom",
    )
    c.keys("hand_r", ROT, [(0, h), (0.16, -30), (0.3, -75), (0.42, -72), (0.6, h)])
    c.keys(
        "shoulder_r",
        POS,
        [(0, [0, 0]), (0.16, [0, 4]), (0.3, [0, -5]), (0.42, [0, -4]), (0.6, [0, 0])],
    )
    c.attach("hand_r", [(0, "hand_fist")])
    c.attach("tool", [(0, "sword")])
    c.event(0.3, "hit")
    return c


def gait(
    c: Clip,
    stride: float,
    lift: float,
    hip_drop: float,
    bob: float,
    arm_swing: float,
    fore_base: float,
    fore_swing: float,
    lean: float,
    flight: bool,
    arm_bias: float = 0.0,
):
    """A cycle on the spot: each foot slides back along the ground during its stance, then
    lifts and swings forward. Left contact at 0, right contact at half the cycle."""
    L = c.length
    stance = 0.5 if not flight else 0.38  # fraction of the cycle a foot is planted
    for side, off in (("l", 0.0), ("r", 0.5)):
        cyc = [
            (0.0, [stride, 0], "linear"),
            (stance, [-stride, 0], "linear"),  # planted: slides back at constant speed
            (stance + (1 - stance) * 0.25, [-stride * 0.75, lift * 0.85], "catmullrom"),
            (stance + (1 - stance) * 0.55, [stride * 0.1, lift], "catmullrom"),
            (stance + (1 - stance) * 0.82, [stride * 0.95, lift * 0.4], "catmullrom"),
            (1.0, [stride, 0], "catmullrom"),
        ]
        pts = shift_cycle(cyc, off, POS)
        c.keys(f"ik_foot_{side}", POS, [(p * L, v, k) for p, v, k in pts])
        # toes: heel strike lifts the toe, push-off points it
        toe = [
            (0, 14, "catmullrom"),
            (0.15, 0, "catmullrom"),
            (stance - 0.05, -6, "catmullrom"),
            (stance + 0.08, -30, "catmullrom"),
            (0.7, -10, "catmullrom"),
            (0.92, 12, "catmullrom"),
            (1.0, 14, "catmullrom"),
        ]
        c.keys(f"foot_{side}", ROT, [(p * L, v, k) for p, v, k in shift_cycle(toe, off, ROT)])
    # hips: lowest just after each contact, highest at passing (twice a cycle)
    c.func("hips", POS, lambda p: [0, -hip_drop - bob * (0.5 + 0.5 * cos(p, 2, -0.6))], 16)
    c.func("hips", ROT, lambda p: 2.0 * sin(p, 1), 8)
    c.func("spine", ROT, lambda p: -lean + 1.2 * sin(p, 2, -1.0), 8)
    c.func("chest", ROT, lambda p: -2.0 * sin(p, 1), 8)
    c.func("head", ROT, lambda p: lean * 0.6 + 1.0 * sin(p, 2, -2.0), 8)
    # arms swing against the legs: right arm forward when the left foot is forward
    for side, ph in (("r", 0.0), ("l", math.pi)):
        c.func(f"upperarm_{side}", ROT, lambda p, ph=ph: arm_bias + arm_swing * cos(p, 1, ph), 12)
        c.func(
            f"forearm_{side}",
            ROT,
            lambda p, ph=ph: fore_base + fore_swing * cos(p, 1, ph - 0.5),
            12,
        )
        c.func(f"hand_{side}", ROT, lambda p, ph=ph: 6 * cos(p, 1, ph - 1.0), 8)
    c.event(0.0, "footstep", "left")
    c.event(0.5 * L, "footstep", "right")
