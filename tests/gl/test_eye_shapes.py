"""Eye shapes drawn by the GL renderer: every shape shows its iris with the eyes open, less
of it half closed, none blinking or with the happy eye (front and turned), so the blink and
the expressions work for every shape; the opening a blink covers is, in height over width,
round > almond > narrow, and an upturned eye's outer end sits higher; round eyes (Digi's
own) draw exactly as the character did before the eye shapes."""

from __future__ import annotations

from collections.abc import Iterator

import moderngl
import numpy as np
import pytest

from engine.likeness.assemble import assemble
from engine.likeness.character import Character
from engine.likeness.face_parts import EYE_SHAPES
from engine.likeness.palette import delta_e2000, srgb_to_lab
from engine.render import AvatarRenderer
from engine.session import AvatarSession, Inputs
from tests.gl.test_face_parts import hairstyle_only

SIZE = 320
IRIS = "#2f9e44"  # a green nothing else on the face has: its pixels are the iris's
MAX_DE = 12.0
OPEN = {"ParamEyeLOpen": 1.0, "ParamEyeROpen": 1.0}
HALF = {"ParamEyeLOpen": 0.5, "ParamEyeROpen": 0.5}
SHUT = {"ParamEyeLOpen": 0.0, "ParamEyeROpen": 0.0}
TURNED = {"ParamAngleX": 30.0, "ParamAngleY": -10.0}


def character(**kw) -> Character:
    return Character(hairstyle="crop", hair="#3a2a20", iris=IRIS, **kw)


class Shots:
    def __init__(self, gl: moderngl.Context) -> None:
        self.gl = gl
        self.bundles: dict[Character, object] = {}

    def draw(self, c, params: dict[str, float], happy: bool = False) -> np.ndarray:
        """The character (or a bundle) drawn in the face framing after half a second;
        `happy` shows the expressions' happy eye (laugh, cheer) on both eyes."""
        bundle = c if not isinstance(c, Character) else self.bundles.setdefault(c, assemble(c))
        r = AvatarRenderer(self.gl, bundle.rig, bundle.pictures(), (SIZE, SIZE))
        try:
            s = AvatarSession(bundle, seed=3)
            for _ in range(31):
                s.step(1 / 60, Inputs(parameters=params))
            if happy:
                for i, slot in enumerate(bundle.rig.slots):
                    if slot.name.startswith("eye_expr_"):
                        s.pose.slot_attachment[i] = "eye_happy"
            return r.render(s.pose, r.framing("face")).copy()
        finally:
            r.release()


@pytest.fixture(scope="module")
def shots(gl: moderngl.Context) -> Iterator[Shots]:
    yield Shots(gl)


def iris_pixels(img: np.ndarray) -> int:
    target = srgb_to_lab(np.array([int(IRIS[i : i + 2], 16) for i in (1, 3, 5)]) / 255.0)
    lab = srgb_to_lab(img[..., :3].astype(float) / 255.0)
    return int(((img[..., 3] > 200) & (delta_e2000(lab, target) <= MAX_DE)).sum())


@pytest.mark.parametrize("shape", EYE_SHAPES)
@pytest.mark.parametrize("turned", [False, True])
def test_every_shape_opens_blinks_and_smiles(shots: Shots, shape: str, turned: bool) -> None:
    pose = TURNED if turned else {}
    c = character(eye_shape=shape)
    shown = {
        "open": iris_pixels(shots.draw(c, {**pose, **OPEN})),
        "half": iris_pixels(shots.draw(c, {**pose, **HALF})),
        "shut": iris_pixels(shots.draw(c, {**pose, **SHUT})),
        "happy": iris_pixels(shots.draw(c, {**pose, **OPEN}, happy=True)),
    }
    assert shown["open"] > 150, shown
    assert 0.1 * shown["open"] < shown["half"] < 0.85 * shown["open"], shown
    assert shown["shut"] == 0 and shown["happy"] == 0, shown


def widest_gap(empty: np.ndarray) -> int:
    """The middle of the longest run of True."""
    best, start, run = (0, 0), 0, 0
    for i, e in enumerate(empty):
        run = run + 1 if e else 0
        if run == 1:
            start = i
        if run > best[0]:
            best = (run, start)
    assert best[0] > 0, "no gap between the eyes"
    return best[1] + best[0] // 2


def openings(shots: Shots, shape: str) -> list[dict[str, float]]:
    """Each eye's opening as drawn: the pixels a blink changes, split at the gap between the
    eyes; their height over width, and how much higher the outer end is (pixels, the mean
    row of the outermost fifth against the innermost's)."""
    c = character(eye_shape=shape)
    diff = (
        np.abs(shots.draw(c, OPEN).astype(int) - shots.draw(c, SHUT).astype(int)).max(axis=2) > 40
    )
    rows, cols = np.nonzero(diff)
    gap = widest_gap(np.bincount(cols, minlength=SIZE)[cols.min() : cols.max() + 1] == 0)
    gap += cols.min()
    out = []
    for near_side, sel in ((True, cols < gap), (False, cols > gap)):
        r, k = rows[sel], cols[sel]
        x0, x1 = k.min(), k.max()
        fifth = (x1 - x0) / 5
        left, right = r[k <= x0 + fifth].mean(), r[k >= x1 - fifth].mean()
        # the near (screen-left) eye's outer end is on the left, the far eye's on the right
        outer, inner = (left, right) if near_side else (right, left)
        out.append({"ratio": (r.max() - r.min()) / (x1 - x0), "lift": inner - outer})
    return out


def test_the_shapes_open_differently(shots: Shots) -> None:
    seen = {shape: openings(shots, shape) for shape in EYE_SHAPES}
    for eye in (0, 1):
        ratio = {s: v[eye]["ratio"] for s, v in seen.items()}
        lift = {s: v[eye]["lift"] for s, v in seen.items()}
        assert ratio["round"] > ratio["almond"] + 0.05 > ratio["narrow"] + 0.1, (eye, ratio)
        assert lift["upturned"] > lift["round"] + 4, (eye, lift)


def test_round_eyes_draw_as_before(shots: Shots) -> None:
    """Digi's own eyes: exactly the picture the character drew before the eye shapes (its
    colours and hairstyle, assembled by hand), open, blinking and turned."""
    c = character(eye_shape="round", skin="#b07850")
    before = hairstyle_only(c)
    for params in (OPEN, SHUT, {**TURNED, **HALF}):
        assert np.array_equal(shots.draw(c, params), shots.draw(before, params)), params
