"""Digi wearing each hairstyle of the part library, drawn by the GL renderer and measured on
the picture: hair shows where the style's classes say (a long style reaches far below the
shoulders, a short one stays above the ears, a full fringe covers the forehead, a side
fringe covers one side of it, a bald head shows no hair), the scalp has no holes, and the
hair stays on the head through a walk, head turns and tilts. Wearing `digi` draws Digi.

Hair pixels are those the style changes (against Digi drawn with no hair, in the same pose
and frame) whose colour lies on Digi's hair ramp (base, shade, deep shade, highlight, and
the far side's tint of them) or is the hair's sheen."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from functools import cache

import moderngl
import numpy as np
import pytest

from engine.assets import RIGS, AvatarBundle, bundle_for, load_base_atlas
from engine.kernels.layout import WA, WB, WC, WD, WX, WY
from engine.likeness.hair import HAIR_SLOTS, HAIRSTYLES, load_hairstyle, wear_hairstyle
from engine.render import AvatarRenderer
from engine.rig.loader import parse_rig
from engine.session import AvatarSession, Inputs

SIZE = 256
DT = 1 / 60
STYLES = sorted(HAIRSTYLES)
# Digi's hair tones, light to dark: sheen, highlight, base, shade, deep shade, strand lines
RAMP = np.array(
    [(251, 211, 156), (236, 150, 86), (196, 97, 47), (139, 58, 34), (107, 40, 24), (90, 33, 20)],
    float,
)
FAR_TINT = np.array([0.86, 0.86, 0.93])  # Digi's far-side slot colour
SKIN = np.array([(255, 228, 208), (243, 183, 160), (229, 154, 132)], float)
# where things are on Digi at the setup pose, in her art's coordinates (svg: x, y down)
SKULL = (4.0, 135.0, 65.0)  # centre and radius of the head's round
EAR = (-70.0, -57.0, 140.0, 165.0)  # x0, x1, y0, y1
SHOULDERS_Y = 236.0
# Hair's lowest point by length class (svg y): the ear's lobe is at 170, the chin at 205,
# the shoulders at 236
LOWEST = {
    "short": (120, 175),
    "ear": (150, 205),
    "chin": (195, 255),
    "shoulder": (235, 300),
    "long": (SHOULDERS_Y + 50, 420),
}


def rig_json() -> dict:
    return json.loads((RIGS / "digi" / "rig.json").read_text(encoding="utf-8"))


@cache
def bundle(name: str) -> AvatarBundle:
    data, atlas = wear_hairstyle(rig_json(), load_base_atlas("digi"), load_hairstyle(name))
    return bundle_for(parse_rig(data, f"digi wearing {name}"), "digi", atlas=atlas, face=name)


@cache
def bare() -> AvatarBundle:
    """Digi with every hair slot empty: what the hair is measured against."""
    data = rig_json()
    for slot in HAIR_SLOTS:
        data["attachments"][slot] = {
            n: {"type": "region", "path": "digi/blush", "width": 0.01, "height": 0.01}
            for n in data["attachments"][slot]
        }
    return bundle_for(parse_rig(data, "digi without hair"), "digi", face="no hair")


class Stage:
    """Renderers for the styles (made as needed, released with the module) and the bare
    head, posed alike."""

    def __init__(self, gl: moderngl.Context) -> None:
        self.gl = gl
        self.renderers: dict[str, AvatarRenderer] = {}
        self.at_rest: dict[tuple[str, str], tuple] = {}

    def renderer(self, name: str) -> AvatarRenderer:
        if name not in self.renderers:
            b = bare() if name == "" else bundle(name)
            self.renderers[name] = AvatarRenderer(self.gl, b.rig, b.pictures(), (SIZE, SIZE))
        return self.renderers[name]

    def shot(self, name: str, framing: str, steps: list[tuple[Inputs | None, float]]):
        """The style and the bare head after the same inputs: (hair mask, bare skin or
        background mask, frame rectangle, the style's session)."""
        if not steps and (name, framing) in self.at_rest:
            return self.at_rest[(name, framing)]
        sessions = []
        for b in (bundle(name), bare()):
            s = AvatarSession(b, seed=2)
            s.step(0.0)
            for inputs, seconds in steps:
                for k in range(max(1, round(seconds / DT))):
                    s.step(DT, inputs if k == 0 else None)
            sessions.append(s)
        r = self.renderer(name)
        rect = r.framing(framing)
        img = r.render(sessions[0].pose, rect).astype(int)
        ref = self.renderer("").render(sessions[1].pose, rect).astype(int)
        changed = np.abs(img - ref).max(axis=2) > 24
        out = (hair_colour(img) & changed, bare_skin(img), rect, sessions[0])
        if not steps:
            self.at_rest[(name, framing)] = out
        return out

    def release(self) -> None:
        for r in self.renderers.values():
            r.release()


@pytest.fixture(scope="module")
def stage(gl: moderngl.Context) -> Iterator[Stage]:
    st = Stage(gl)
    yield st
    st.release()


def _ramp_distance(rgb: np.ndarray, ramp: np.ndarray) -> np.ndarray:
    best = np.full(rgb.shape[:-1], np.inf)
    for a, b in itertools.pairwise(ramp[1:]):  # the sheen apart: it nears the skin
        d = b - a
        t = np.clip(((rgb - a) @ d) / (d @ d), 0.0, 1.0)
        best = np.minimum(best, np.linalg.norm(rgb - (a + t[..., None] * d), axis=-1))
    return best


def hair_colour(img: np.ndarray) -> np.ndarray:
    rgb = img[..., :3].astype(float)
    d = np.minimum(_ramp_distance(rgb, RAMP), _ramp_distance(rgb, RAMP * FAR_TINT))
    sheen = np.linalg.norm(rgb - RAMP[0], axis=-1) < 14
    return (img[..., 3] > 200) & ((d < 30) | sheen)


def bare_skin(img: np.ndarray) -> np.ndarray:
    """Skin showing, or nothing drawn at all: a hole, where hair should be."""
    rgb = img[..., :3].astype(float)
    skin = np.linalg.norm(rgb[..., None, :] - SKIN, axis=-1).min(axis=-1) < 28
    return (img[..., 3] < 128) | skin


def to_pixels(rect, pts_svg: np.ndarray, head: np.ndarray | None = None) -> np.ndarray:
    """Art points (svg) at the setup pose -> pixel indices (col, row); with `head` (the
    posed head bone's world transform, and its setup one) they follow the head."""
    w = np.stack([pts_svg[:, 0], 500.0 - pts_svg[:, 1]], axis=1)
    if head is not None:
        posed, setup = head
        w = _apply(posed, _apply_inverse(setup, w))
    x0, y0, x1, y1 = rect
    px = (w[:, 0] - x0) / (x1 - x0) * SIZE
    py = (y1 - w[:, 1]) / (y1 - y0) * SIZE
    return np.clip(np.stack([px, py], axis=1).astype(int), 0, SIZE - 1)


def _apply(m: np.ndarray, p: np.ndarray) -> np.ndarray:
    lin = np.array([[m[WA], m[WB]], [m[WC], m[WD]]])
    return p @ lin.T + np.array([m[WX], m[WY]])


def _apply_inverse(m: np.ndarray, p: np.ndarray) -> np.ndarray:
    lin = np.array([[m[WA], m[WB]], [m[WC], m[WD]]])
    return (p - np.array([m[WX], m[WY]])) @ np.linalg.inv(lin).T


def region(x0: float, x1: float, y0: float, y1: float, n: int = 16) -> np.ndarray:
    xs, ys = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, max(3, n // 3)))
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def scalp() -> np.ndarray:
    """The crown: inside the head's round, above the highest hairline (y 88)."""
    cx, cy, r = SKULL
    p = region(cx - r, cx + r, cx * 0 + 70, 88, n=40)
    return p[np.hypot(p[:, 0] - cx, p[:, 1] - cy) < r - 5]


def covered(mask: np.ndarray, px: np.ndarray) -> float:
    return float(mask[px[:, 1], px[:, 0]].mean())


def lowest_and_highest(mask: np.ndarray, rect) -> tuple[float, float]:
    """The lowest and highest hair pixel as svg y (above the knees: the legs never hold
    hair, and shoes come in hair-like reds)."""
    _, y0, _, y1 = rect
    rows = np.nonzero(mask.any(axis=1))[0]
    svg_y = 500.0 - (y1 - (rows + 0.5) / SIZE * (y1 - y0))
    svg_y = svg_y[svg_y < 400]
    return float(svg_y.max()), float(svg_y.min())


@pytest.mark.parametrize("name", STYLES)
def test_the_render_shows_the_styles_classes(stage: Stage, name: str) -> None:
    c = HAIRSTYLES[name]
    face, holes, rect, _ = stage.shot(name, "face", [])
    full, _, full_rect, _ = stage.shot(name, "full", [])
    if c.bald == "bald":
        assert face.sum() < 10, face.sum()  # no hair anywhere on the head
        assert full.sum() < 10, full.sum()
        return
    crown = to_pixels(rect, scalp())
    assert covered(face, crown) > 0.9  # hair over the crown (and lines between its locks)
    assert covered(holes, crown) < 0.01  # no holes showing skin or the background
    low, high = lowest_and_highest(full, full_rect)
    if c.bald == "shaved":
        assert high > SKULL[1] - SKULL[2] - 8, high  # hugs the skull
        assert low < 205, low  # no locks
    else:
        lo, hi = LOWEST[c.length]
        assert lo <= low <= hi, (c.length, low)
        assert high < SKULL[1] - SKULL[2] - 12, high  # hair has volume over the skull
    ear = covered(face, to_pixels(rect, region(*EAR)))
    if c.length == "short":
        assert ear < 0.3, ear  # the ear shows
    else:
        assert ear > 0.5, ear  # longer hair falls over it
    # the forehead between the hairline and the brows, and just above the eyes, in two
    # halves: the near one (screen left) and the far one
    upper = [covered(face, to_pixels(rect, region(a, b, 100, 110))) for a, b in NEAR_FAR]
    lower = [covered(face, to_pixels(rect, region(a, b, 113, 124))) for a, b in NEAR_FAR]
    if c.fringe == "none":
        assert max(upper + lower) < 0.1, (upper, lower)
    elif c.fringe == "full":
        assert min(upper) > 0.7, upper
        assert abs(lower[0] - lower[1]) < 0.3, lower
    else:  # side: swept over one side of the forehead
        assert max(upper) > 0.7, upper
        assert abs(lower[0] - lower[1]) > 0.4, lower


NEAR_FAR = ((-30.0, 0.0), (12.0, 44.0))

POSES = {
    "walk": [(Inputs(controls={"speed": 1.0}, transitions=["walk"]), 0.55)],
    "turn_right": [(Inputs(parameters={"ParamAngleX": 30}), 0.5)],
    "turn_left": [(Inputs(parameters={"ParamAngleX": -30}), 0.5)],
    "tilt": [(Inputs(parameters={"ParamAngleZ": 30, "ParamAngleY": -30}), 0.5)],
    "jump": [(Inputs(transitions=["jump"]), 0.35)],
}


@pytest.mark.parametrize("name", STYLES)
def test_the_hair_stays_on_the_head_as_it_moves(stage: Stage, name: str) -> None:
    """The crown stays covered (or, bald, bare) wherever the head goes, and the hair's
    top follows the head."""
    c = HAIRSTYLES[name]
    _, _, _, s0 = stage.shot(name, "full", [])
    rig = s0.bundle.rig
    head = rig.bone_index["head"]
    setup = s0.pose.world[head].copy()
    crown = region(-20, 30, 60, 66, n=12)  # just above the skull: hair, unless bald
    for pose, steps in POSES.items():
        mask, holes, rect, s = stage.shot(name, "bust", steps)
        h = (s.pose.world[head].copy(), setup)
        crown_px = to_pixels(rect, scalp(), h)
        if c.bald == "bald":
            assert mask.sum() < 10, (pose, mask.sum())
            continue
        assert covered(mask, crown_px) > 0.9, (pose, covered(mask, crown_px))
        assert covered(holes, crown_px) < 0.01, (pose, covered(holes, crown_px))
        if c.bald == "none":
            assert covered(mask, to_pixels(rect, crown, h)) > 0.9, pose


def test_wearing_digi_draws_digi(stage: Stage, digi: AvatarBundle, gl: moderngl.Context) -> None:
    own = AvatarRenderer(gl, digi.rig, digi.pictures(), (SIZE, SIZE))
    try:
        for framing in ("face", "full"):
            a = AvatarSession(digi, seed=4)
            b = AvatarSession(bundle("digi"), seed=4)
            for s in (a, b):
                s.step(0.0, Inputs(controls={"speed": 1.0}, transitions=["walk"]))
                for _ in range(20):
                    s.step(DT)
            mine = stage.renderer("digi").render(b.pose, framing).astype(int)
            hers = own.render(a.pose, framing).astype(int)
            # the same pictures, packed elsewhere: only edge texels filter a little apart
            diff = np.abs(mine - hers).max(axis=2)
            assert (diff > 24).mean() < 0.01, (framing, (diff > 24).mean())
            assert np.abs(mine - hers).mean() < 1.0, framing
    finally:
        own.release()


def test_styles_look_different(stage: Stage) -> None:
    """Each style's hair covers a different part of the picture (no two styles alike)."""
    masks = {}
    for name in STYLES:
        m, _, _, _ = stage.shot(name, "full", [])
        masks[name] = m
    names = list(masks)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            union = (masks[a] | masks[b]).sum()
            if union == 0:
                continue
            iou = (masks[a] & masks[b]).sum() / union
            assert iou < 0.9, (a, b, iou)
