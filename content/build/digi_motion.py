"""Digi's animation set and state machine (used by content/build/digi.py).

The motion follows the test rig's clips (content/build/testrig.py): same clip list, timing and
beats, re-tuned for Digi's proportions and three-quarter view. Raised arms go up and OUT
(the near right arm swings clockwise, the far left arm counter-clockwise) so they frame the
big head instead of covering the face. Faces change through the expression slots
(`eye_expr_*`, `mouth_expr`), which sit above the parameter-driven eyes and mouth.
"""

from __future__ import annotations

import math

import numpy as np
import rigkit as C
from rigkit import (
    EASE_IN,
    EASE_IN_OUT,
    EASE_OUT,
    HOLD,
    POS,
    ROT,
    SCL,
    Clip,
    cos,
    gait,
    shift_cycle,
    sin,
    smoothstep,
    toollunge,
    toolnone,
)

SK = C.SK
FRONT = [f"hair_front_{k}" for k in range(1, 6)]
CHAINS = [(c, 0.7 + 0.08 * k) for k, c in enumerate(FRONT)] + [
    ("hair_side_r", 1.0),
    ("hair_side_l", 1.0),
    ("hair_back", 0.9),
]
MOUTH_SLOTS = ("mouth_base", "mouth_open")


# ---- shared touches -------------------------------------------------------------------


def follow(
    c: Clip, lag: float = 0.07, gain: float = 0.6, n: int | None = None, extra=None, sway=1.0
):
    """Hair and the scarf lag behind the motion (the rig's springs add their own overshoot on
    top at run time): each link turns by how far its anchor turned in the last `lag` seconds,
    plus the sideways speed of the head or chest."""
    n = n or max(8, min(24, round(c.length / 0.1)))

    def tl(t):
        return t if c.looping else min(max(t, 0.0), c.length)

    def lean(t, upto):
        return sum(c.value(b, ROT, tl(t)) for b in upto)

    def hx(t, lever):
        hp = c.value("hips", POS, tl(t))
        return float(hp[0]) - lever * lean(t, ("hips", "spine", "chest"))

    head = ("hips", "spine", "chest", "neck", "head")
    for chain, k in [*CHAINS, ("scarf", 1.3)]:
        links = 3 if chain == "scarf" else 2
        anchor = ("hips", "spine", "chest") if chain == "scarf" else head
        lever = 1.0 if chain == "scarf" else 2.2
        for link in range(1, links + 1):
            bone = f"{chain}_{link}"

            def f(p, link=link, k=k, bone=bone, anchor=anchor, lever=lever):
                t = p * c.length
                h0 = lean(t, anchor)
                h1 = lean(t - lag * link, anchor)
                v0 = (hx(t, lever) - hx(t - 0.05, lever)) / 0.05
                rot = gain * k * (h1 - h0) * (0.85 if link > 1 else 1.0)
                rot -= sway * 0.03 * k * v0 * (1.0 + 0.25 * (link - 1))
                if extra:
                    rot += extra(bone, p)
                return max(-45.0, min(45.0, rot))

            c.func(bone, ROT, f, n)
    return c


def blink(c: Clip, times, dur: float = 0.13):
    keys = [(0.0, None)]
    for t in times:
        keys += [(t, "eye_closed"), (t + dur, None)]
    for s in ("l", "r"):
        c.attach(f"eye_expr_{s}", keys)
    return c


def _clean(keys, length):
    """Slot keys sorted by time, one per time (the later wins), none past the clip's end."""
    out = {}
    for t, v in keys:
        if t <= length + 1e-9:
            out[round(t, 4)] = v
    return sorted(out.items())


def face(c: Clip, t0: float, t1: float, mouth: str | None = None, eyes: str | None = None):
    """An expression from t0 to t1: the expression slots show it, the parameter-driven mouth
    hides under it."""
    L = c.length
    if mouth:
        c.attach("mouth_expr", _clean([(0.0, None), (t0, mouth), (t1, None)], L))
        for s in MOUTH_SLOTS:
            c.color(
                s, _clean([(0.0, [1, 1, 1, 1]), (t0, [1, 1, 1, 0]), (t1, [1, 1, 1, 1])], L), "step"
            )
    if eyes:
        for s in ("l", "r"):
            c.attach(f"eye_expr_{s}", _clean([(0.0, None), (t0, eyes), (t1, None)], L))
            # the open lid's crease and lashes reach past the expression's eye: hidden
            c.color(
                f"eyelid_{s}",
                _clean([(0.0, [1, 1, 1, 1]), (t0, [1, 1, 1, 0]), (t1, [1, 1, 1, 1])], L),
                "step",
            )
    return c


def brows(c: Clip, keys):
    """Both brows: keys (time, world dy, tilt)."""
    for s, sg in (("l", 1), ("r", -1)):
        pk = [(t, SK.to_parent_frame(f"brow_{s}", 0, dy)) for t, dy, _ in keys]
        c.keys(f"brow_{s}", POS, pk)
        c.keys(f"brow_{s}", ROT, [(t, sg * tilt) for t, _, tilt in keys])
    return c


def glance(c: Clip, keys):
    """Eyes and face look sideways / up: keys (time, gaze x -1..1, gaze y -1..1)."""
    c.keys("eye_r", POS, [(t, [3.0 * x, 1.6 * y]) for t, x, y in keys])
    c.keys("eye_l", POS, [(t, [2.4 * x, 1.6 * y]) for t, x, y in keys])
    c.keys("face", POS, [(t, SK.to_parent_frame("face", 2.5 * x, 1.5 * y)) for t, x, y in keys])
    return c


def breathe(c: Clip, cycles=1, amount=0.025, n=None):
    return c.breathe(cycles, amount, n=n)


# ---- idles ----------------------------------------------------------------------------


def idle_1():
    """Calm: breathing, a slow sway, hands drifting, a blink."""
    c = Clip("idle_1", 3.0, True)
    breathe(c, 1, 0.03)
    c.func("spine", ROT, lambda p: 0.9 * sin(p, 1, -0.6), 8)
    c.func("chest", ROT, lambda p: 0.6 * sin(p, 1, -1.2), 8)
    c.func("head", ROT, lambda p: 1.8 * sin(p, 1, -1.5), 8)
    c.func("hips", POS, lambda p: [0, -1.2 * (1 - cos(p)) / 2], 8)
    for s, ph in (("l", 0.0), ("r", 0.9)):
        c.func(f"upperarm_{s}", ROT, lambda p, ph=ph: 1.8 * sin(p, 1, ph), 8)
        c.func(f"forearm_{s}", ROT, lambda p, ph=ph: 3 + 3.0 * sin(p, 1, ph - 0.7), 8)
        c.func(f"hand_{s}", ROT, lambda p, ph=ph: 4.0 * sin(p, 1, ph - 1.4), 8)
    blink(c, [1.9])
    follow(c)
    return c


def idle_2():
    """Looking around: weight shift from foot to foot, a glance each way, two breaths."""
    c = Clip("idle_2", 4.0, True)
    breathe(c, 2, 0.025, n=12)
    c.func("hips", POS, lambda p: [3.0 * sin(p), -1.5 - 1.5 * cos(p, 2)], 12)
    c.func("hips", ROT, lambda p: -1.5 * sin(p), 8)
    c.func("chest", ROT, lambda p: 2.0 * sin(p, 1, -0.4), 8)
    c.keys("head", ROT, [(0, 0), (0.6, 0), (1.2, 6), (2.0, 5), (2.6, -5), (3.3, -4), (4.0, 0)])
    c.keys("neck", ROT, [(0, 0), (1.3, 3), (2.7, -2), (4.0, 0)])
    glance(
        c,
        [
            (0, 0, 0),
            (0.7, 0, 0),
            (1.0, -1, 0.4),
            (2.1, -0.9, 0.3),
            (2.45, 1, -0.2),
            (3.4, 0.9, -0.2),
            (3.75, 0, 0),
            (4.0, 0, 0),
        ],
    )
    brows(c, [(0, 0, 0), (0.9, 1.5, 2), (2.2, 1.2, 2), (2.6, 0, 0), (4.0, 0, 0)])
    for s, ph in (("l", math.pi), ("r", 0.0)):
        c.func(f"upperarm_{s}", ROT, lambda p, ph=ph: 2.5 * sin(p, 1, ph + 0.5), 8)
        c.func(f"forearm_{s}", ROT, lambda p, ph=ph: 5 + 3.0 * sin(p, 1, ph - 0.3), 8)
    blink(c, [0.95, 2.5])
    follow(c)
    return c


def idle_3():
    """Impatient: a little bounce, a head tilt, fingers tapping against the thigh, a foot tap."""
    c = Clip("idle_3", 3.6, True)
    breathe(c, 1, 0.03)
    c.func("hips", POS, lambda p: [0, -1.0 - 1.0 * cos(p, 4)], 16)
    c.keys(
        "head",
        ROT,
        [
            (0, 0),
            (0.5, 0),
            (0.9, 7, "bezier", EASE_IN_OUT),
            (2.2, 7),
            (2.7, -1, "bezier", EASE_IN_OUT),
            (3.1, 0),
            (3.6, 0),
        ],
        "linear",
    )
    c.func("spine", ROT, lambda p: 1.2 * sin(p, 1, 0.3), 8)
    taps = [(0, 0)]
    for t0 in (0.4, 0.8, 1.2, 1.6, 2.4, 2.8):
        taps += [(t0, 22, "step"), (t0 + 0.12, 0, "step")]
    taps.append((3.6, 0, "step"))
    c.keys("fingers_r", ROT, taps)
    c.func("hand_r", ROT, lambda p: 4 * sin(p, 2), 8)
    c.func("upperarm_r", ROT, lambda p: -3 + 2 * cos(p), 8)
    c.func("upperarm_l", ROT, lambda p: 3 * sin(p, 1, 1.0), 8)
    c.func("forearm_l", ROT, lambda p: -3 + 3 * sin(p, 1, 0.4), 8)
    # the near foot taps with the fingers (toe up, heel down)
    ft = [(0, 0)]
    for t0 in (0.4, 0.8, 1.2, 1.6):
        ft += [(t0, 0), (t0 + 0.08, 14), (t0 + 0.18, 0)]
    ft.append((3.6, 0))
    c.keys("foot_r", ROT, ft, "linear")
    brows(c, [(0, 0, 0), (0.9, -1.5, -3), (2.2, -1.5, -3), (2.7, 0, 0), (3.6, 0, 0)])
    c.attach("mouth_expr", [(0, None)])
    blink(c, [1.4, 3.0])
    follow(c)
    return c


# ---- locomotion -----------------------------------------------------------------------


def walk():
    c = Clip("walk", 1.0, True)
    gait(
        c,
        stride=20,
        lift=15,
        hip_drop=3,
        bob=3.5,
        arm_swing=20,
        fore_base=12,
        fore_swing=9,
        lean=3,
        flight=False,
    )
    follow(c, gain=0.5, extra=lambda b, p: (-12 + 3 * sin(p, 2)) if b.startswith("scarf") else 0.0)
    return c


def run():
    c = Clip("run", 0.6, True)
    gait(
        c,
        stride=34,
        lift=32,
        hip_drop=10,
        bob=5,
        arm_swing=32,
        fore_base=80,
        fore_swing=25,
        lean=11,
        flight=True,
        arm_bias=6,
    )
    for s in ("l", "r"):
        c.attach(f"hand_{s}", [(0, "hand_fist")])
    brows(c, [(0, -1.5, -3), (0.6, -1.5, -3)])
    follow(
        c,
        gain=0.7,
        lag=0.05,
        extra=lambda b, p: (
            -12
            if b.startswith("hair_back")
            else (-32 if b.startswith("scarf") else (-6 if "side" in b else -5))
        ),
    )
    return c


def climb():
    """Climbing a ladder: hands reach up alternately, one to each side of the head."""
    c = Clip("climb", 1.2, True)
    for s, ph, sg in (("r", 0.0, -1), ("l", math.pi, 1)):
        base = 100 if sg > 0 else 112
        c.func(
            f"upperarm_{s}",
            ROT,
            lambda p, ph=ph, sg=sg, base=base: sg * (base - 14 + 14 * cos(p, 1, ph)),
            12,
        )
        c.func(f"forearm_{s}", ROT, lambda p, ph=ph, sg=sg: sg * (30 - 14 * cos(p, 1, ph)), 12)
        c.func(f"hand_{s}", ROT, lambda p, ph=ph: -8 + 8 * cos(p, 1, ph), 8)
        c.attach(f"hand_{s}", [(0, "hand_fist")])
        c.func(
            f"ik_foot_{s}",
            POS,
            lambda p, ph=ph: [12 + 4 * sin(p, 1, ph), 18 - 18 * cos(p, 1, ph)],
            12,
        )
        c.func(f"foot_{s}", ROT, lambda p, ph=ph: 10 - 10 * cos(p, 1, ph), 8)
    c.func("hips", POS, lambda p: [6, -8 + 3 * cos(p, 2)], 8)
    c.func("spine", ROT, lambda p: -6 + 1.5 * sin(p, 1), 8)
    c.func("chest", ROT, lambda p: 2.5 * sin(p, 1), 8)
    c.func("head", ROT, lambda p: 10 + 2 * sin(p, 2), 8)
    glance(c, [(0, 0.2, 1), (1.2, 0.2, 1)])
    follow(c)
    return c


def swim():
    """Front crawl: the body lies forward, arms stroke alternately, flutter kick."""
    c = Clip("swim", 1.6, True)
    tilt = -70.0
    c.func("hips", ROT, lambda p: tilt + 3 * sin(p, 2), 8)
    c.func("hips", POS, lambda p: [-20, -60 + 3 * sin(p, 2, 1.0)], 8)
    c.func("spine", ROT, lambda p: -4 * sin(p, 1), 8)
    c.func("chest", ROT, lambda p: 4 * sin(p, 1, -0.5), 8)
    c.func("neck", ROT, lambda p: 14 + 3 * sin(p, 2), 8)
    c.func("head", ROT, lambda p: 26 + 6 * sin(p, 1, 0.5), 8)
    hip0 = np.array([-20.0, C.SK.origin("hips")[1] - 60])
    axis = C.dirv(90 + tilt)
    across = np.array([-axis[1], axis[0]])
    r = math.radians(tilt)
    for s, ph in (("l", 0.0), ("r", math.pi)):
        t0 = C.SK.origin(f"thigh_{s}") - C.SK.origin("hips")
        thigh_w = hip0 + np.array(
            [t0[0] * math.cos(r) - t0[1] * math.sin(r), t0[0] * math.sin(r) + t0[1] * math.cos(r)]
        )
        ankle0 = C.SK.tip(f"shin_{s}")

        def foot(p, ph=ph, thigh_w=thigh_w, ankle0=ankle0):
            q = thigh_w - axis * 142 + across * (12 * sin(p, 4, ph))
            return list(q - ankle0)

        c.func(f"ik_foot_{s}", POS, foot, 16)
        c.func(f"foot_{s}", ROT, lambda p, ph=ph: -40 + 15 * sin(p, 4, ph - 0.8), 16)
    for s, ph in (("r", 0.0), ("l", math.pi)):
        c.func(f"upperarm_{s}", ROT, lambda p, ph=ph: 115 + 70 * sin(p, 1, ph), 16)
        c.func(f"forearm_{s}", ROT, lambda p, ph=ph: 25 + 25 * sin(p, 1, ph - 1.2), 16)
        c.func(f"hand_{s}", ROT, lambda p, ph=ph: 15 * sin(p, 1, ph - 1.6), 8)
        c.attach(f"hand_{s}", [(0, "hand_open")])
    c.attach(
        "mouth_expr",
        [(0, None), (0.35, "mouth_laugh"), (0.55, None), (1.15, "mouth_laugh"), (1.35, None)],
    )
    follow(
        c,
        extra=lambda b, p: (
            -12 if "back" in b else (-15 if "side" in b else (20 if "scarf" in b else -8))
        ),
    )
    return c


# ---- air and ground -------------------------------------------------------------------


def jump():
    """Anticipation crouch, launch with the arms thrown up and out, tuck."""
    c = Clip("jump", 0.4, False)
    c.keys(
        "hips",
        POS,
        [
            (0, [0, 0]),
            (0.15, [2, -24], "bezier", EASE_IN_OUT),
            (0.26, [0, 9], "bezier", EASE_OUT),
            (0.4, [0, 4]),
        ],
    )
    c.keys("hips", ROT, [(0, 0), (0.15, -4), (0.26, 2), (0.4, 0)])
    c.keys("spine", ROT, [(0, 0), (0.15, -12), (0.26, 4), (0.4, 1)])
    c.keys("chest", ROT, [(0, 0), (0.15, -5), (0.26, 3), (0.4, 0)])
    c.keys("head", ROT, [(0, 0), (0.15, 8), (0.26, -3), (0.4, 2)])
    for s, sg, d in (("r", -1, 0), ("l", 1, 6)):
        c.keys(
            f"upperarm_{s}",
            ROT,
            [
                (0, 0),
                (0.15, -35 + d),
                (0.27, sg * (122 - d), "bezier", EASE_OUT),
                (0.4, sg * (112 - d)),
            ],
            "catmullrom",
        )
        c.keys(f"forearm_{s}", ROT, [(0, 0), (0.15, 22), (0.27, sg * 28), (0.4, sg * 40)])
        c.keys(
            f"ik_foot_{s}",
            POS,
            [(0, [0, 0]), (0.2, [0, 0]), (0.3, [-2, 9]), (0.4, [-4 - d / 2, 22 - d])],
        )
        c.keys(f"foot_{s}", ROT, [(0, 0), (0.15, 4), (0.27, -35), (0.4, -25)])
        c.attach(f"hand_{s}", [(0, "hand"), (0.2, "hand_open")])
    brows(c, [(0, 0, 0), (0.15, -2, -4), (0.27, 2.5, 3), (0.4, 2, 2)])
    face(c, 0.22, 0.4, mouth="mouth_laugh")
    follow(c, extra=lambda b, p: (8 * smoothstep((p - 0.6) / 0.4)) * (-1 if "back" in b else 1))
    return c


def fall():
    c = Clip("fall", 0.8, True)
    for s, sg, ph in (("r", -1, 0.0), ("l", 1, 2.0)):
        c.func(f"upperarm_{s}", ROT, lambda p, sg=sg, ph=ph: sg * (112 + 10 * sin(p, 2, ph)), 8)
        c.func(f"forearm_{s}", ROT, lambda p, sg=sg, ph=ph: sg * (38 + 12 * sin(p, 2, ph - 0.8)), 8)
        c.func(f"hand_{s}", ROT, lambda p, ph=ph: 14 * sin(p, 2, ph - 1.6), 8)
        c.attach(f"hand_{s}", [(0, "hand_open")])
        c.func(
            f"ik_foot_{s}",
            POS,
            lambda p, ph=ph: [-4 + 3 * sin(p, 1, ph), 20 + 6 * sin(p, 2, ph)],
            8,
        )
        c.func(f"foot_{s}", ROT, lambda p, ph=ph: -25 + 6 * sin(p, 1, ph), 8)
    c.func("hips", POS, lambda p: [0, 4 + 1.5 * sin(p, 2)], 8)
    c.func("spine", ROT, lambda p: 3 + 2 * sin(p, 1), 8)
    c.func("head", ROT, lambda p: 5 + 2 * sin(p, 1, 1.0), 8)
    brows(c, [(0, 3, 4), (0.8, 3, 4)])
    face(c, 0.0, 0.8, mouth="mouth_laugh")
    c.attach("mouth_expr", [(0, "mouth_laugh")])

    def up(bone, p):
        s = 1.0 + 0.12 * sin(p, 2, sum(map(ord, bone)) % 7)
        if "back" in bone:
            return -30 * s
        if "scarf" in bone:
            return 40 * s
        if "front" in bone:
            return 14 * s
        return (-22 if "_r_" in bone else 22) * s

    follow(c, extra=lambda b, p: up(b, p) * (0.6 if b.endswith("_2") else 1.0), sway=0.0)
    return c


def land():
    """Squash on impact, a small rebound, settle."""
    c = Clip("land", 0.3, False)
    c.keys(
        "hips",
        POS,
        [
            (0, [0, 2]),
            (0.07, [0, -26], "bezier", EASE_OUT),
            (0.18, [0, 2], "bezier", EASE_IN_OUT),
            (0.3, [0, 0]),
        ],
    )
    c.keys(
        "hips",
        SCL,
        [(0, [1, 1]), (0.07, [0.94, 1.06], "linear"), (0.18, [1.02, 0.99]), (0.3, [1, 1])],
    )
    c.keys("spine", ROT, [(0, 0), (0.07, -12), (0.18, 3), (0.3, 0)])
    c.keys("chest", ROT, [(0, 0), (0.07, -4), (0.18, 1), (0.3, 0)])
    c.keys("head", ROT, [(0, 4), (0.07, 9), (0.18, -3), (0.3, 0)])
    for s, sg in (("l", 1), ("r", -1)):
        c.keys(
            f"upperarm_{s}",
            ROT,
            [(0, sg * 115), (0.07, sg * (40 if s == "r" else 55)), (0.18, sg * -5), (0.3, 0)],
        )
        c.keys(f"forearm_{s}", ROT, [(0, 20 * sg), (0.07, 35), (0.18, 5), (0.3, 0)])
        c.keys(f"foot_{s}", ROT, [(0, -15), (0.05, 0), (0.3, 0)])
        c.keys(f"ik_foot_{s}", POS, [(0, [0, 3]), (0.04, [0, 0], "linear"), (0.3, [0, 0])])
    brows(c, [(0, 2, 2), (0.07, -1.5, -3), (0.3, 0, 0)])
    blink(c, [0.05], 0.1)
    c.event(0.04, "footstep", "both")
    follow(c, lag=0.05, gain=0.8)
    return c


def sit():
    """Sitting on a seat ~95 px high: hips down and back, feet forward, hands on the lap."""
    c = Clip("sit", 3.0, True)
    breathe(c, 1, 0.028)
    c.func("hips", POS, lambda p: [-12, -76], 4)
    c.func("hips", ROT, lambda p: 3, 4)
    c.func("spine", ROT, lambda p: 2 + 0.8 * sin(p), 8)
    c.func("head", ROT, lambda p: -3 + 2.0 * sin(p, 1, -0.8), 8)
    for s, dx in (("l", 62), ("r", 64)):
        c.func(f"ik_foot_{s}", POS, lambda p, dx=dx: [dx, 0], 4)
        c.func(f"foot_{s}", ROT, lambda p: 18, 4)
        c.func(f"upperarm_{s}", ROT, lambda p: 24 + 1.5 * sin(p, 1, 0.3), 8)
        c.func(f"forearm_{s}", ROT, lambda p: 40 + 2 * sin(p, 1, -0.4), 8)
        c.func(f"hand_{s}", ROT, lambda p: -20, 4)
    blink(c, [2.2])
    follow(c)
    return c


# ---- emotes ---------------------------------------------------------------------------


def wave():
    """The near arm goes up and out beside the head and waves from the elbow."""
    c = Clip("wave", 2.0, False)
    ua = [(0, 0), (0.12, 8), (0.38, -112, "bezier", EASE_OUT)]
    fa = [(0, 0), (0.12, 6), (0.38, -55)]
    hd = [(0, 0), (0.38, 0)]
    t, k = 0.38, 0
    while t + 0.15 <= 1.6:
        t += 0.15
        k += 1
        fa.append((t, -78 if k % 2 else -38))
        hd.append((t, -16 if k % 2 else 12))
        ua.append((t, -114 if k % 2 else -108))
    ua += [(1.88, 6, "bezier", EASE_IN_OUT), (2.0, 0)]
    fa += [(1.88, 4), (2.0, 0)]
    hd += [(1.88, 6), (2.0, 0)]
    c.keys("upperarm_r", ROT, ua)
    c.keys("forearm_r", ROT, fa)
    c.keys("hand_r", ROT, hd)
    c.keys("shoulder_r", POS, [(0, [0, 0]), (0.38, [3, 0]), (1.6, [3, 0]), (2.0, [0, 0])])
    c.keys("chest", ROT, [(0, 0), (0.4, 3), (1.6, 3), (2.0, 0)])
    c.keys("head", ROT, [(0, 0), (0.45, 6, "bezier", EASE_IN_OUT), (1.1, 3), (1.6, 6), (2.0, 0)])
    c.keys("upperarm_l", ROT, [(0, 0), (0.4, 5), (1.6, 5), (2.0, 0)])
    c.attach("hand_r", [(0, "hand"), (0.25, "hand_open"), (1.82, "hand")])
    brows(c, [(0, 0, 0), (0.35, 2.5, 3), (1.7, 2.5, 3), (2.0, 0, 0)])
    face(c, 0.3, 1.75, mouth="mouth_laugh")
    c.attach("eye_expr_l", [(0, None), (0.9, "eye_closed"), (1.02, None)])
    c.attach("eye_expr_r", [(0, None), (0.9, "eye_closed"), (1.02, None)])
    follow(c)
    return c


def point():
    c = Clip("point", 1.2, False)
    c.keys(
        "upperarm_r",
        ROT,
        [
            (0, 0),
            (0.08, -8),
            (0.3, 86, "bezier", EASE_OUT),
            (0.9, 82),
            (1.2, 0, "bezier", EASE_IN_OUT),
        ],
        "catmullrom",
    )
    c.keys("forearm_r", ROT, [(0, 0), (0.08, 16), (0.3, 0), (0.9, 2), (1.2, 0)])
    c.keys("hand_r", ROT, [(0, 0), (0.3, -8), (0.9, -6), (1.2, 0)])
    c.keys("shoulder_r", POS, [(0, [0, 0]), (0.3, [2, -3]), (0.9, [2, -3]), (1.2, [0, 0])])
    c.keys("chest", ROT, [(0, 0), (0.3, -4), (0.9, -4), (1.2, 0)])
    c.keys("head", ROT, [(0, 0), (0.35, -5), (0.9, -4), (1.2, 0)])
    glance(c, [(0, 0, 0), (0.25, 1, 0), (0.95, 1, 0), (1.2, 0, 0)])
    brows(c, [(0, 0, 0), (0.3, 2, 2), (0.9, 2, 2), (1.2, 0, 0)])
    c.attach("hand_r", [(0, "hand"), (0.2, "hand_point"), (1.02, "hand")])
    face(c, 0.3, 1.0, mouth="mouth_smile")
    follow(c)
    return c


def cheer():
    """Both arms shoot up in a V with a hop, fists pumping; big smile, happy eyes."""
    c = Clip("cheer", 1.5, False)
    c.keys(
        "hips",
        POS,
        [
            (0, [0, 0]),
            (0.12, [0, -12]),
            (0.3, [0, 9], "bezier", EASE_OUT),
            (0.45, [0, -6]),
            (0.6, [0, 0]),
            (1.5, [0, 0]),
        ],
    )
    for s, sg, d in (("r", -1, 0.0), ("l", 1, 0.04)):
        up = 122 if s == "r" else 134
        ks = [(0, 0), (0.12, 20), (0.32 + d, sg * up, "bezier", EASE_OUT)]
        for tt in (0.55, 0.8, 1.05):
            ks += [(tt + d, sg * (up - 18)), (tt + 0.12 + d, sg * (up + 2))]
        ks += [(1.5, 0, "bezier", EASE_IN_OUT)]
        c.keys(f"upperarm_{s}", ROT, ks)
        c.keys(f"forearm_{s}", ROT, [(0, 0), (0.12, 25), (0.32, sg * 40), (1.3, sg * 44), (1.5, 0)])
        c.attach(f"hand_{s}", [(0, "hand"), (0.2, "hand_fist"), (1.4, "hand")])
        c.keys(
            f"ik_foot_{s}",
            POS,
            [(0, [0, 0]), (0.24, [0, 0]), (0.34, [0, 12]), (0.44, [0, 0]), (1.5, [0, 0])],
            "linear",
        )
        c.keys(f"foot_{s}", ROT, [(0, 0), (0.24, 0), (0.34, -20), (0.44, 0), (1.5, 0)])
    c.keys("spine", ROT, [(0, 0), (0.12, -6), (0.32, 6), (0.6, 3), (1.5, 0)])
    c.keys("head", ROT, [(0, 0), (0.12, -4), (0.35, 10), (1.2, 8), (1.5, 0)])
    brows(c, [(0, 0, 0), (0.3, 3, 4), (1.3, 3, 4), (1.5, 0, 0)])
    face(c, 0.25, 1.4, mouth="mouth_laugh", eyes="eye_happy")
    c.event(0.44, "footstep", "both")
    follow(c)
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
    c.keys(
        "head",
        ROT,
        [(0, 0), (0.15, 12)]
        + [(t, 14 if q % 2 == 0 else 8) for q, t in enumerate(bob_t)]
        + [(1.5, 0)],
        "catmullrom",
    )
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
    # the near hand to the belly, the far hand up by the shoulder
    c.keys("upperarm_r", ROT, [(0, 0), (0.25, 18), (1.2, 18), (1.5, 0)])
    c.keys("forearm_r", ROT, [(0, 0), (0.25, 82), (1.2, 82), (1.5, 0)])
    c.keys("hand_r", ROT, [(0, 0), (0.25, 10), (1.2, 10), (1.5, 0)])
    c.keys("upperarm_l", ROT, [(0, 0), (0.3, 22), (1.2, 18), (1.5, 0)])
    c.keys("forearm_l", ROT, [(0, 0), (0.3, 70), (1.2, 66), (1.5, 0)])
    c.attach("hand_r", [(0, "hand"), (0.2, "hand_open"), (1.3, "hand")])
    brows(c, [(0, 0, 0), (0.15, 2.5, 3), (1.3, 2.5, 3), (1.5, 0, 0)])
    face(c, 0.12, 1.38, mouth="mouth_laugh", eyes="eye_happy")
    follow(c, lag=0.06, gain=0.8)
    return c


# ---- dances ---------------------------------------------------------------------------


def dance_1():
    """Bounce & raise the roof, 120 bpm: a bounce on every beat, open hands pushing up beside
    the head on the off-beats."""
    c = Clip("dance_1", 2.0, True)
    c.func("hips", POS, lambda p: [0, -4 - 4 * cos(p, 4)], 16)
    c.func("head", ROT, lambda p: -4 * cos(p, 4, 0.5), 16)
    c.func("spine", ROT, lambda p: 3 * sin(p, 2), 8)
    for s, sg in (("r", -1), ("l", 1)):
        c.func(f"upperarm_{s}", ROT, lambda p, sg=sg: sg * (98 - 14 * cos(p, 4)), 16)
        c.func(f"forearm_{s}", ROT, lambda p, sg=sg: sg * (58 + 14 * cos(p, 4)), 16)
        c.func(f"hand_{s}", ROT, lambda p, sg=sg: sg * (-30 + 10 * cos(p, 4, -0.6)), 16)
        c.attach(f"hand_{s}", [(0, "hand_open")])
    face(c, 0.0, 2.0, mouth="mouth_laugh")
    c.attach("mouth_expr", [(0, "mouth_laugh")])
    for t in (0.25, 0.75, 1.25, 1.75):
        c.event(t, "clap")
    follow(c)
    return c


def dance_2():
    """Slow sway, arms wide, hips and chest in counter-motion, eyes closed, smiling."""
    c = Clip("dance_2", 3.0, True)
    c.func("hips", POS, lambda p: [8 * sin(p), -4 - 2 * cos(p, 2)], 12)
    c.func("hips", ROT, lambda p: -4 * sin(p), 8)
    c.func("chest", ROT, lambda p: 7 * sin(p, 1, 0.3), 8)
    c.func("head", ROT, lambda p: -6 * sin(p, 1, 0.9), 8)
    c.func("upperarm_r", ROT, lambda p: -62 - 25 * sin(p, 1, 0.6), 12)
    c.func("upperarm_l", ROT, lambda p: 62 - 25 * sin(p, 1, 0.6), 12)
    c.func("forearm_r", ROT, lambda p: -20 + 18 * sin(p, 1, -0.2), 12)
    c.func("forearm_l", ROT, lambda p: 20 + 18 * sin(p, 1, -0.2), 12)
    c.func("hand_r", ROT, lambda p: 20 * sin(p, 1, -1.0), 8)
    c.func("hand_l", ROT, lambda p: -20 * sin(p, 1, -1.0), 8)
    for s in ("l", "r"):
        c.attach(f"hand_{s}", [(0, "hand_open")])
        c.attach(f"eye_expr_{s}", [(0, "eye_happy")])
        c.color(f"eyelid_{s}", [(0, [1, 1, 1, 0])], "step")  # (see face())
    c.attach("mouth_expr", [(0, "mouth_smile")])
    for s in MOUTH_SLOTS:
        c.color(s, [(0, [1, 1, 1, 0])], "step")
    breathe(c, 1, 0.02)
    follow(c, gain=0.8)
    return c


def dance_3():
    """Robot: hard pose hits every quarter second (step keys)."""
    c = Clip("dance_3", 2.0, True)
    poses = [
        # upperarm_r, forearm_r, upperarm_l, forearm_l, head, chest, hips_y
        (-90, -90, 0, 0, 0, 0, 0),
        (-90, 0, 0, 90, -10, 4, -4),
        (0, 90, 90, 90, 0, 0, 0),
        (-120, -60, 90, 0, 10, -4, -4),
        (-90, -90, 0, 0, 0, 0, 0),
        (0, 0, 90, 90, 10, 4, -4),
        (-70, 16, 125, 40, -10, 0, 0),
        (-45, -90, 45, 90, 0, -4, -6),
    ]
    names = ["upperarm_r", "forearm_r", "upperarm_l", "forearm_l", "head", "chest"]
    n = len(poses)
    for q, bone in enumerate(names):
        ks = [(k * c.length / n, poses[k][q], "step") for k in range(n)] + [
            (c.length, poses[0][q], "step")
        ]
        c.keys(bone, ROT, ks, "step")
    ks = [(k * c.length / n, [0, poses[k][6]], "step") for k in range(n)] + [
        (c.length, [0, poses[0][6]], "step")
    ]
    c.keys("hips", POS, ks)
    eyes = [(k * c.length / n, [-1, 1, 0, 1, -1, 0, 1, 0][k], 0) for k in range(n)]
    glance(c, [(t, x, y) for t, x, y in eyes] + [(c.length, -1, 0)])
    for s in ("l", "r"):
        c.attach(f"hand_{s}", [(0, "hand_open")])
    c.attach("mouth_expr", [(0, None)])
    follow(c, gain=0.5)
    return c


def dance_4():
    """Disco: the near hand points up and out, then down across; hips swing to the beat."""
    c = Clip("dance_4", 2.0, True)
    up, down = -128, 30
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
            (0, -2),
            (0.25, 10),
            (0.5, 4),
            (0.75, 10),
            (1.0, -2),
            (1.25, 10),
            (1.5, 4),
            (1.75, 10),
            (2.0, -2),
        ],
    )
    c.attach("hand_r", [(0, "hand_point")])
    # far hand on the hip
    c.func("upperarm_l", ROT, lambda p: 30 + 3 * sin(p, 2), 8)
    c.func("forearm_l", ROT, lambda p: -100, 4)
    c.attach("hand_l", [(0, "hand_fist")])
    c.func("hips", POS, lambda p: [6 * cos(p, 2), -5 - 3 * cos(p, 4)], 16)
    c.func("hips", ROT, lambda p: 5 * cos(p, 2), 8)
    c.func("chest", ROT, lambda p: -4 * cos(p, 2, 0.3), 8)
    c.func("head", ROT, lambda p: 8 * cos(p, 2, 0.4), 8)
    glance(c, [(0, -0.6, 1), (0.5, 0.6, -0.6), (1.0, -0.6, 1), (1.5, 0.6, -0.6), (2.0, -0.6, 1)])
    face(c, 0.0, 2.0, mouth="mouth_smile")
    c.attach("mouth_expr", [(0, "mouth_smile")])
    follow(c)
    return c


def dance_5():
    """Running man: a knee lift while the other foot slides back, fast arm pumps."""
    c = Clip("dance_5", 1.5, True)
    L = c.length
    for s, off in (("l", 0.0), ("r", 0.5)):
        cyc = [
            (0.0, [15, 0], "linear"),
            (0.25, [-15, 0], "linear"),
            (0.5, [-17, 0], "linear"),
            (0.62, [0, 33], "catmullrom"),
            (0.78, [15, 40], "catmullrom"),
            (1.0, [15, 0], "catmullrom"),
        ]
        dx = 12.0 if s == "l" else 0.0
        c.keys(
            f"ik_foot_{s}",
            POS,
            [(p * L, [v[0] + dx, v[1]], k) for p, v, k in shift_cycle(cyc, off, POS)],
        )
        c.func(
            f"foot_{s}",
            ROT,
            lambda p, off=off: -10 * max(0.0, sin(p, 1, -2 * math.pi * off - 3.0)),
            12,
        )
    c.func("hips", POS, lambda p: [0, -9 - 4 * cos(p, 2)], 12)
    c.func("spine", ROT, lambda p: -5 + 2 * cos(p, 2), 8)
    for s, ph in (("r", 0.0), ("l", math.pi)):
        c.func(f"upperarm_{s}", ROT, lambda p, ph=ph: 25 + 30 * cos(p, 1, ph), 12)
        c.func(f"forearm_{s}", ROT, lambda p, ph=ph: 80 + 12 * cos(p, 1, ph - 0.5), 12)
        c.attach(f"hand_{s}", [(0, "hand_fist")])
    c.func("head", ROT, lambda p: 3 * cos(p, 2, 0.5), 8)
    brows(c, [(0, -1.5, -3), (1.5, -1.5, -3)])
    c.event(0.0, "footstep", "left")
    c.event(0.5 * L, "footstep", "right")
    follow(c, gain=0.8)
    return c


def dance_6():
    """Arm wave: arms out to the sides, a wave travels hand -> shoulder -> chest -> shoulder
    -> hand."""
    c = Clip("dance_6", 2.4, True)
    ph = 0.9
    c.func("hand_l", ROT, lambda p: 25 * sin(p, 2, 0), 16)
    c.func("fingers_l", ROT, lambda p: 25 * sin(p, 2, 0.5), 16)
    c.func("forearm_l", ROT, lambda p: 20 + 25 * sin(p, 2, -ph), 16)
    c.func("upperarm_l", ROT, lambda p: 64 + 12 * sin(p, 2, -2 * ph), 16)
    c.func("shoulder_l", POS, lambda p: [3 * sin(p, 2, -3 * ph), 0], 16)
    c.func("chest", ROT, lambda p: 4 * sin(p, 2, -4 * ph), 16)
    c.func("shoulder_r", POS, lambda p: [3 * sin(p, 2, -5 * ph), 0], 16)
    c.func("upperarm_r", ROT, lambda p: -58 - 12 * sin(p, 2, -6 * ph), 16)
    c.func("forearm_r", ROT, lambda p: -20 - 25 * sin(p, 2, -7 * ph), 16)
    c.func("hand_r", ROT, lambda p: -25 * sin(p, 2, -8 * ph), 16)
    c.func("fingers_r", ROT, lambda p: -25 * sin(p, 2, -8.5 * ph), 16)
    c.func("hips", POS, lambda p: [3 * sin(p, 1), -4 - 2 * cos(p, 4)], 16)
    c.func("head", ROT, lambda p: 5 * sin(p, 2, -4.5 * ph), 16)
    glance(c, [(0, 1, 0), (0.6, -1, 0), (1.2, 1, 0), (1.8, -1, 0), (2.4, 1, 0)])
    for s in ("l", "r"):
        c.attach(f"hand_{s}", [(0, "hand_open")])
    c.attach("mouth_expr", [(0, "mouth_smile")])
    for s in MOUTH_SLOTS:
        c.color(s, [(0, [1, 1, 1, 0])], "step")
    follow(c)
    return c


def dance_7():
    """Twist: low stance, knees in and out, hips against chest, elbows swinging."""
    c = Clip("dance_7", 1.6, True)
    c.func("hips", POS, lambda p: [4 * sin(p, 2), -15 - 4 * cos(p, 4)], 16)
    c.func("hips", ROT, lambda p: 9 * sin(p, 2), 16)
    c.func("chest", ROT, lambda p: -14 * sin(p, 2), 16)
    c.func("spine", ROT, lambda p: -3, 4)
    c.func("head", ROT, lambda p: 5 * sin(p, 2), 16)
    for s, sg in (("l", 1), ("r", -1)):
        c.func(f"ik_foot_{s}", POS, lambda p, sg=sg: [sg * 2 + 5 * sin(p, 2), 0], 16)
        c.func(f"foot_{s}", ROT, lambda p, sg=sg: 8 * sin(p, 2, 0.5 * sg), 16)
        c.func(f"upperarm_{s}", ROT, lambda p, sg=sg: 30 + 35 * sg * sin(p, 2), 16)
        c.func(f"forearm_{s}", ROT, lambda p, sg=sg: 80 + 10 * sg * sin(p, 2, -0.6), 16)
        c.attach(f"hand_{s}", [(0, "hand_fist")])
    face(c, 0.0, 1.6, mouth="mouth_laugh")
    c.attach("mouth_expr", [(0, "mouth_laugh")])
    follow(c, gain=0.8)
    return c


def dance_8():
    """Jumping jacks: hop out with the arms up in a V, hop in with the arms down (two a loop)."""
    c = Clip("dance_8", 2.0, True)
    hy = [(0, [0, 0])]
    for base in (0.0, 1.0):
        hy += [
            (base + 0.08, [0, -8]),
            (base + 0.22, [0, 9], "bezier", EASE_OUT),
            (base + 0.38, [0, -7], "bezier", EASE_IN),
            (base + 0.58, [0, 9], "bezier", EASE_OUT),
            (base + 0.74, [0, -7], "bezier", EASE_IN),
            (base + 1.0, [0, 0]),
        ]
    c.keys("hips", POS, hy)
    for s, sg in (("l", 1), ("r", -1)):
        ks = [(0, [-sg * 3, 0])]
        for base in (0.0, 1.0):
            inn = -sg * 3
            ks += [
                (base + 0.14, [inn, 0], "linear"),
                (base + 0.24, [sg * 8, 10]),
                (base + 0.38, [sg * 21, 0]),
                (base + 0.5, [sg * 21, 0], "linear"),
                (base + 0.6, [sg * 10, 10]),
                (base + 0.74, [inn, 0]),
                (base + 1.0, [inn, 0], "linear"),
            ]
        c.keys(f"ik_foot_{s}", POS, ks)
        ua = [(0, 0)]
        for base in (0.0, 1.0):
            ua += [
                (base + 0.1, sg * -8),
                (base + 0.32, sg * 122),
                (base + 0.52, sg * 118),
                (base + 0.74, 0),
                (base + 1.0, 0),
            ]
        c.keys(f"upperarm_{s}", ROT, ua)
        fa = [(0, 0)]
        for base in (0.0, 1.0):
            fa += [
                (base + 0.2, sg * 25),
                (base + 0.38, sg * 38),
                (base + 0.6, sg * 30),
                (base + 0.8, 4),
                (base + 1.0, 0),
            ]
        c.keys(f"forearm_{s}", ROT, fa)
        c.attach(f"hand_{s}", [(0, "hand_open")])
    for t in (0.38, 0.74, 1.38, 1.74):
        c.event(t, "footstep", "both")
    face(c, 0.0, 2.0, mouth="mouth_laugh")
    c.attach("mouth_expr", [(0, "mouth_laugh")])
    follow(c, gain=0.7)
    return c


def dance_9():
    """Head-bang at 160 bpm: sharp nods (linear keys), fist pumps, hair whipping."""
    c = Clip("dance_9", 1.5, True)
    beat = 0.375
    nods = [(0, 4, "linear")]
    for q in range(4):
        nods += [(q * beat + 0.12, -18, "linear"), (q * beat + beat, 4, "linear")]
    c.keys("head", ROT, nods)
    c.keys("neck", ROT, [(t, v * 0.35, k) for t, v, k in nods])
    c.func("chest", ROT, lambda p: -4 - 3 * cos(p, 4, -1.3), 16)
    c.func("hips", POS, lambda p: [0, -6 - 3 * cos(p, 4, -1.0)], 16)
    c.func("upperarm_r", ROT, lambda p: -112 - 12 * cos(p, 4, -1.0), 16)
    c.func("forearm_r", ROT, lambda p: -45 + 20 * cos(p, 4, -1.0), 16)
    c.func("upperarm_l", ROT, lambda p: 20 + 10 * cos(p, 2), 8)
    c.func("forearm_l", ROT, lambda p: 60 + 10 * cos(p, 2, -0.5), 8)
    for s in ("l", "r"):
        c.attach(f"hand_{s}", [(0, "hand_fist")])
        c.attach(f"eye_expr_{s}", [(0, "eye_closed")])
    brows(c, [(0, -2, -4), (1.5, -2, -4)])
    face(c, 0.0, 1.5, mouth="mouth_laugh")
    c.attach("mouth_expr", [(0, "mouth_laugh")])
    follow(c, gain=1.0, lag=0.06)
    return c


# ---- tools (near arm; the tool layer masks everything else) --------------------------


def toolslash():
    c = Clip("toolslash", 0.5, False)
    u, f, h = HOLD["upperarm_r"], HOLD["forearm_r"], HOLD["hand_r"]
    c.keys(
        "upperarm_r",
        ROT,
        [
            (0, u),
            (0.14, -105, "bezier", EASE_IN_OUT),
            (0.22, 30, "bezier", EASE_IN),
            (0.32, 18),
            (0.5, u, "bezier", EASE_IN_OUT),
        ],
        "catmullrom",
    )
    c.keys("forearm_r", ROT, [(0, f), (0.14, -30), (0.22, 20), (0.32, 25), (0.5, f)])
    c.keys("hand_r", ROT, [(0, h), (0.14, 40), (0.22, -40), (0.32, -55), (0.5, h)])
    c.keys("chest", ROT, [(0, 0), (0.14, 5), (0.22, -6), (0.32, -5), (0.5, 0)])
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


def build_statemachine() -> dict:
    """Wired exactly like the test rig's (content/animations/testrig/statemachine.json): the
    same layers, regions, states, inputs and mixes, for rig "digi"."""
    return {
        "default_mix": 0.2,
        "initial": {"body": "idle"},
        "inputs": {"grounded": 1.0, "speed": 0.0},
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
                "mask": {
                    "fingers_r": 1,
                    "forearm_r": 1,
                    "hand_r": 1,
                    "shoulder_r": 1,
                    "upperarm_r": 1,
                },
                "name": "tool",
                "priority": "action",
                "region": "tool",
            },
            {"name": "emote", "priority": "action", "region": "emote"},
        ],
        "mixes": [
            {"duration": 0.1, "from": "walk", "to": "jump"},
            {"duration": 0.1, "from": "run", "to": "jump"},
            {"duration": 0.1, "from": "jump", "to": "fall"},
            {"duration": 0.05, "from": "fall", "to": "land"},
            {"duration": 0.05, "from": "toolnone", "to": "toolslash"},
            {"duration": 0.05, "from": "toolnone", "to": "toollunge"},
        ],
        "rig": "digi",
        "schema": 1,
        "states": {
            "cheer": {"animation": "cheer", "duration": 1.5, "layer": "emote", "returns": True},
            "climb": {"animation": "climb", "layer": "movement"},
            "dance": {  # a body state: Idle, Sit or walking end it, an emote plays over it
                "layer": "movement",
                "loop": True,
                "variants": [
                    {"animation": "dance_1"},
                    {"animation": "dance_2"},
                    {"animation": "dance_3"},
                    {"animation": "dance_4"},
                    {"animation": "dance_5"},
                    {"animation": "dance_6"},
                    {"animation": "dance_7"},
                    {"animation": "dance_8"},
                    {"animation": "dance_9"},
                ],
            },
            "fall": {
                "animation": "fall",
                "layer": "movement",
                "loop": True,
                "when": [{"above": 0.5, "go": "land", "input": "grounded"}],
            },
            "idle": {
                "layer": "idle",
                "reroll": True,
                "variants": [
                    {"animation": "idle_1", "weight": 0.5},
                    {"animation": "idle_2", "weight": 0.3},
                    {"animation": "idle_3", "weight": 0.2},
                ],
            },
            "jump": {"animation": "jump", "layer": "movement", "next": "fall"},
            "land": {  # back to walking when still moving, else to idle
                "animation": "land",
                "layer": "movement",
                "next": "idle",
                "when": [{"above": 0.05, "go": "walk", "input": "speed"}],
            },
            "laugh": {"animation": "laugh", "layer": "emote", "returns": True},
            "point": {"animation": "point", "layer": "emote", "returns": True},
            "run": {
                "blend": {
                    "input": "speed",
                    "points": [{"animation": "walk", "at": 1.0}, {"animation": "run", "at": 3.0}],
                },
                "layer": "movement",
                "when": [
                    {"below": 0.05, "go": "idle", "input": "speed"},
                    {"below": 1.8, "go": "walk", "input": "speed"},
                ],
            },
            "sit": {"animation": "sit", "layer": "movement"},
            "swim": {"animation": "swim", "layer": "movement", "loop": True},
            "toollunge": {"animation": "toollunge", "layer": "tool", "next": "toolnone"},
            "toolnone": {"animation": "toolnone", "layer": "tool", "loop": True},
            "toolslash": {"animation": "toolslash", "layer": "tool", "next": "toolnone"},
            "walk": {
                "blend": {
                    "input": "speed",
                    "points": [{"animation": "walk", "at": 1.0}, {"animation": "run", "at": 3.0}],
                },
                "layer": "movement",
                "when": [
                    {"below": 0.05, "go": "idle", "input": "speed"},
                    {"above": 2.0, "go": "run", "input": "speed"},
                ],
            },
            "wave": {"animation": "wave", "duration": 2.0, "layer": "emote", "returns": True},
        },
    }
