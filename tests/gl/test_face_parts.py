"""Face shapes and facial hair drawn by the GL renderer: a beard shows the facial-hair
colour over the jaw (and stays there with the head turned), a moustache over the upper lip,
stubble tints the jaw, no facial hair shows none; a square face is wider at the jaw than a
heart one; Digi's own face ("oval", no facial hair) draws exactly as the character did
before the face parts."""

from __future__ import annotations

import json
from collections.abc import Iterator

import moderngl
import numpy as np
import pytest

from engine.assets import RIGS, bundle_for
from engine.likeness.assemble import assemble, hair_atlas, palette_of
from engine.likeness.character import Character
from engine.likeness.face_parts import FACE_SHAPES
from engine.likeness.hair import load_hairstyle, style_atlas, wear_hairstyle
from engine.likeness.palette import delta_e2000, srgb_to_lab
from engine.likeness.recolor import recolor_atlas
from engine.render import AvatarRenderer
from engine.rig.loader import parse_rig
from engine.session import AvatarSession, Inputs

SIZE = 256
BEARD = "#3d6b2a"  # a green no skin, hair or shirt has: its pixels are the facial hair's
HAIR = "#d9b86a"
MAX_DE = 10.0
# where things are on Digi at the setup pose, in her art's coordinates (svg: x, y down)
JAW = (2.0, 22.0, 197.0, 202.0)  # x0, x1, y0, y1: under the mouth, inside every chin
UPPER_LIP = (0.0, 24.0, 183.5, 187.5)
JAW_Y = 186.0  # where the jaw's width is measured
TURNED = {"ParamAngleX": 30.0, "ParamAngleZ": 20.0}


def character(**kw) -> Character:
    # a short style (the ears show, no locks fall past the jaw), blond, beside the beard
    return Character(hairstyle="crop", hair=HAIR, facial_hair_colour=BEARD, **kw)


class Shots:
    def __init__(self, gl: moderngl.Context) -> None:
        self.gl = gl

    def draw(self, bundle, parameters: dict[str, float] | None = None, bone: str = "head"):
        """The bundle drawn in the face framing after half a second (the springs settle),
        the frame's rect, and `bone`'s posed and setup world transforms (for to_pixels)."""
        r = AvatarRenderer(self.gl, bundle.rig, bundle.pictures(), (SIZE, SIZE))
        try:
            s = AvatarSession(bundle, seed=3)
            b = bundle.rig.bone_index[bone]
            s.step(0.0)
            setup = s.pose.world[b].copy()
            s.step(0.0, Inputs(parameters=parameters or {}))
            for _ in range(30):
                s.step(1 / 60)
            rect = r.framing("face")
            img = r.render(s.pose, rect).copy()
            return img, rect, (s.pose.world[b].copy(), setup)
        finally:
            r.release()


@pytest.fixture(scope="module")
def shots(gl: moderngl.Context) -> Iterator[Shots]:
    yield Shots(gl)


def to_pixels(rect, pts: np.ndarray, head=None) -> np.ndarray:
    """Art points (svg) at the setup pose -> pixel (col, row), following the head."""
    from engine.kernels.layout import WA, WB, WC, WD, WX, WY

    w = np.stack([pts[:, 0], 500.0 - pts[:, 1]], axis=1)
    if head is not None:
        posed, setup = head

        def lin(m):
            return np.array([[m[WA], m[WB]], [m[WC], m[WD]]]), np.array([m[WX], m[WY]])

        a, t = lin(setup)
        w = (w - t) @ np.linalg.inv(a).T
        a, t = lin(posed)
        w = w @ a.T + t
    x0, y0, x1, y1 = rect
    px = (w[:, 0] - x0) / (x1 - x0) * SIZE
    py = (y1 - w[:, 1]) / (y1 - y0) * SIZE
    return np.clip(np.stack([px, py], axis=1).astype(int), 0, SIZE - 1)


def region(x0: float, x1: float, y0: float, y1: float, n: int = 24) -> np.ndarray:
    xs, ys = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, max(3, n // 3)))
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def near(img: np.ndarray, colour: str) -> np.ndarray:
    """Opaque pixels within MAX_DE (CIEDE2000) of the colour."""
    target = srgb_to_lab(np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255.0)
    lab = srgb_to_lab(img[..., :3].astype(float) / 255.0)
    return (img[..., 3] > 200) & (delta_e2000(lab, target) <= MAX_DE)


def share(mask: np.ndarray, px: np.ndarray) -> float:
    return float(mask[px[:, 1], px[:, 0]].mean())


@pytest.mark.parametrize("shape", FACE_SHAPES)
def test_a_beard_shows_the_facial_hair_colour_on_the_jaw(shots: Shots, shape: str) -> None:
    img, rect, _ = shots.draw(assemble(character(facial_hair="beard", face_shape=shape)))
    bare, _, _ = shots.draw(assemble(character(face_shape=shape)))
    jaw = to_pixels(rect, region(*JAW))
    assert share(near(img, BEARD), jaw) > 0.3, share(near(img, BEARD), jaw)
    assert near(bare, BEARD).sum() == 0  # none without facial hair, anywhere


def test_the_beard_stays_on_the_turned_jaw(shots: Shots) -> None:
    bundle = assemble(character(facial_hair="beard", face_shape="square"))
    img, rect, head = shots.draw(bundle, TURNED)
    jaw = to_pixels(rect, region(*JAW), head)
    assert share(near(img, BEARD), jaw) > 0.3, share(near(img, BEARD), jaw)
    # and not left behind where the jaw was
    moved = to_pixels(rect, region(*JAW))
    assert not np.array_equal(moved, jaw)


def test_a_moustache_sits_over_the_upper_lip(shots: Shots) -> None:
    for params in ({}, TURNED):
        # it moves with the mouth, which slides over the face as the head turns
        bundle = assemble(character(facial_hair="moustache"))
        img, rect, mouth = shots.draw(bundle, params, bone="mouth")
        mask = near(img, BEARD)
        lip = to_pixels(rect, region(*UPPER_LIP), mouth)
        assert share(mask, lip) > 0.3, (params, share(mask, lip))
        assert share(mask, to_pixels(rect, region(*JAW), mouth)) < 0.05, params


def test_stubble_tints_the_jaw(shots: Shots) -> None:
    img, rect, _ = shots.draw(assemble(character(facial_hair="stubble")))
    bare, _, _ = shots.draw(assemble(character()))
    jaw = to_pixels(rect, region(*JAW))
    a = img[jaw[:, 1], jaw[:, 0], :3].astype(float)
    b = bare[jaw[:, 1], jaw[:, 0], :3].astype(float)
    # darker and greener than the bare skin, but see-through: not the beard's solid colour
    assert (a.sum(axis=1) < b.sum(axis=1) - 15).mean() > 0.8
    assert share(near(img, BEARD), jaw) < 0.05


def jaw_width(img: np.ndarray, rect) -> int:
    row = to_pixels(rect, np.array([[0.0, JAW_Y]]))[0, 1]
    cols = np.nonzero(img[row, :, 3] > 128)[0]
    return int(cols.max() - cols.min())


def test_a_square_face_is_wider_at_the_jaw_than_a_heart_face(shots: Shots) -> None:
    width = {}
    for shape in FACE_SHAPES:
        img, rect, _ = shots.draw(assemble(character(face_shape=shape)))
        width[shape] = jaw_width(img, rect)
    assert width["square"] > width["oval"] > width["heart"], width
    assert width["square"] - width["heart"] >= 8, width


def hairstyle_only(c: Character):
    """The character as it was assembled before the face parts, by hand: Digi's rig in its
    hairstyle and colours, nothing else."""
    pal = palette_of(c)
    style = load_hairstyle(c.hairstyle)
    atlas = style_atlas(recolor_atlas(pal), hair_atlas(style, pal))
    rig_json = json.loads((RIGS / "digi" / "rig.json").read_text(encoding="utf-8"))
    data, _ = wear_hairstyle(rig_json, atlas, style)
    return bundle_for(parse_rig(data, "before"), "digi", atlas=atlas, face="before")


def test_digis_own_face_draws_as_before(shots: Shots) -> None:
    """No facial hair and the oval face: exactly the picture the character drew before the
    face parts (hairstyle and colours only, assembled by hand here)."""
    for c in (Character(), character(skin="#b07850")):
        before = hairstyle_only(c)
        for params in ({}, TURNED):
            now, _, _ = shots.draw(assemble(c), params)
            then, _, _ = shots.draw(before, params)
            assert np.array_equal(now, then), (c, params)


BROW = "#7a2a4a"  # a plum nothing else on the face has


def test_thick_brows_draw_thicker_than_thin_ones(shots: Shots) -> None:
    drawn = {}
    for thickness in ("thin", "medium", "thick"):
        img, _, _ = shots.draw(assemble(character(brows=BROW, brow_thickness=thickness)))
        drawn[thickness] = int(near(img, BROW).sum())
    assert drawn["thin"] < 0.8 * drawn["medium"], drawn
    assert drawn["thick"] > 1.3 * drawn["medium"], drawn


def test_the_glasses_frame_draws_in_the_glasses_colour(shots: Shots) -> None:
    frame = "#9a30c0"  # a purple nothing else on the face has
    img, _, _ = shots.draw(assemble(character(glasses=True, glasses_colour=frame)))
    own, _, _ = shots.draw(assemble(character(glasses=True)))
    assert near(img, frame).sum() > 150, near(img, frame).sum()
    assert near(own, frame).sum() < 10
