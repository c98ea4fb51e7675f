"""Eye shapes (engine/likeness/face_parts.py, content/face/): every shape has every one of
Digi's eye pictures (both eyes, open, half, closed, happy), drawn in her eye colours so they
recolour; the iris stays inside the white wherever the gaze moves it; a closed or happy eye
covers the whole white; the shapes differ measurably (round > almond > narrow in height over
width, upturned tilted); round (Digi's own) wears nothing; bad library files are refused;
the character carries the shape and the measurement picks it from the eye landmarks."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from engine.assets import RIGS
from engine.likeness.art import picture_size, rasterize_svg, svg_viewbox
from engine.likeness.assemble import assemble
from engine.likeness.character import Character, CharacterError, character_from
from engine.likeness.face_parts import (
    DIGI_ART,
    EYE_PICTURES,
    EYE_SHAPES,
    EYE_SLOTS,
    EYES,
    LIBRARY,
    FaceParts,
    FacePartsError,
    eye_path,
    load_face_parts,
    wear_face_parts,
)
from engine.likeness.recolor import paint_colors
from engine.rig.loader import parse_rig

SCALE = 4.0  # texels per unit the pictures are compared at (Digi's face scale)


@cache
def parts() -> FaceParts:
    return load_face_parts()


def rig_json() -> dict:
    return json.loads((RIGS / "digi" / "rig.json").read_text(encoding="utf-8"))


def svg_of(shape: str, picture: str) -> str:
    if shape == "round":
        return (DIGI_ART / f"{picture}.svg").read_text(encoding="utf-8")
    return parts().sources[eye_path(shape, picture)].svg


def alpha_in(svg: str, box: tuple[float, float, float, float]) -> np.ndarray:
    """The SVG's alpha drawn over `box` (a viewBox in art units) at SCALE: pictures with
    different viewBoxes drawn over one box line up texel for texel."""
    text = re.sub(r'viewBox="[^"]*"', 'viewBox="{:g} {:g} {:g} {:g}"'.format(*box), svg, count=1)
    return rasterize_svg(text, picture_size(box, SCALE))[..., 3]


def frame(side: str) -> tuple[float, float, float, float]:
    """A box round every eye picture of one side, with room for the gaze."""
    return (-50.0, 122.0, 56.0, 60.0) if side == "r" else (8.0, 122.0, 52.0, 60.0)


def gaze(side: str) -> list[tuple[float, float]]:
    """The iris's reach (svg units, y down) at the corners of the rig's gaze parameters."""
    xs, ys = [0.0], [0.0]
    for param in rig_json()["parameters"]:
        for b in param["bindings"]:
            if b.get("bone") == f"eye_{side}" and b.get("property") in ("x", "y"):
                (xs if b["property"] == "x" else ys).extend(k[1] for k in b["keys"])
    return [(x, -y) for x in (min(xs), max(xs)) for y in (min(ys), max(ys))]


def shifted(a: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """`a` moved by (dx, dy) art units (whole texels, rounded away from zero: the worse case)."""
    sx, sy = (int(np.sign(v) * np.ceil(abs(v) * SCALE)) for v in (dx, dy))
    out = np.zeros_like(a)
    h, w = a.shape
    out[max(0, sy) : h + min(0, sy), max(0, sx) : w + min(0, sx)] = a[
        max(0, -sy) : h - max(0, sy), max(0, -sx) : w - max(0, sx)
    ]
    return out


def outside(iris: np.ndarray, white: np.ndarray, side: str) -> int:
    """Iris texels (alpha > 32) outside the white, the most over the gaze's corners."""
    return max(int(((shifted(iris, dx, dy) > 32) & (white == 0)).sum()) for dx, dy in gaze(side))


# ---------------------------------------------------------------------------------------
# the library


def test_every_shape_has_every_eye_picture() -> None:
    p = parts()
    assert set(p.eyes) == set(EYES) == set(EYE_SHAPES) - {"round"}
    for shape, pictures in p.eyes.items():
        assert set(pictures) == {f"digi/{pic}" for pic in EYE_PICTURES}, shape
        for digi, path in pictures.items():
            assert path == eye_path(shape, digi.split("/")[1]) and path in p.atlas.regions


def test_the_eye_pictures_are_what_their_svgs_draw_in_digis_eye_colours() -> None:
    p = parts()
    for shape in EYES:
        for pic in EYE_PICTURES:
            path = eye_path(shape, pic)
            src = p.sources[path]
            x, y, w, h = p.atlas.regions[path]
            assert (w, h) == picture_size(svg_viewbox(src.svg), src.scale) and src.scale == SCALE
            drawn = rasterize_svg(src.svg, (w, h))
            assert np.array_equal(drawn, p.atlas.image[y : y + h, x : x + w]), path
            # Digi's own colours (iris, skin, lashes): the character's palette recolours them
            own = paint_colors(svg_of("round", pic))
            assert paint_colors(src.svg, path) == own, path


@pytest.mark.parametrize("shape", EYE_SHAPES)
@pytest.mark.parametrize("side", ["r", "l"])
def test_the_iris_stays_inside_the_white_wherever_it_looks(shape: str, side: str) -> None:
    box = frame(side)
    white = alpha_in(svg_of(shape, f"eye_white_{side}"), box)
    iris = alpha_in(svg_of(shape, f"iris_{side}"), box)
    assert (iris > 32).sum() > 0.3 * (white > 0).sum()  # an iris, not a sliver
    if shape == "round":
        return  # Digi's own: her art, not the library's (the upper lash hides its top)
    assert outside(iris, white, side) == 0, shape


def test_the_iris_check_can_fail() -> None:
    """Digi's own (unclipped) iris in the narrow white pokes out of it."""
    box = frame("r")
    white = alpha_in(svg_of("narrow", "eye_white_r"), box)
    iris = alpha_in(svg_of("round", "iris_r"), box)
    assert outside(iris, white, "r") > 50


@pytest.mark.parametrize("shape", EYE_SHAPES)
@pytest.mark.parametrize("side", ["r", "l"])
@pytest.mark.parametrize("cover", ["lid_closed", "eye_happy"])
def test_a_closed_or_happy_eye_covers_the_whole_white(shape: str, side: str, cover: str) -> None:
    box = frame(side)
    white = alpha_in(svg_of(shape, f"eye_white_{side}"), box)
    over = alpha_in(svg_of(shape, f"{cover}_{side}"), box)
    assert int(((white > 0) & (over < 250)).sum()) == 0, (shape, side, cover)


def extent(shape: str, side: str) -> dict[str, float]:
    """The white's width, height and tilt (how much higher its outer end is than its inner
    end: the mean top-and-bottom of the outermost and innermost fifth), in art units."""
    a = alpha_in(svg_of(shape, f"eye_white_{side}"), frame(side)) > 128
    rows, cols = np.nonzero(a)
    x0, x1 = cols.min(), cols.max()
    fifth = (x1 - x0) / 5
    mid = {}
    for end, sel in (("lo", cols <= x0 + fifth), ("hi", cols >= x1 - fifth)):
        mid[end] = rows[sel].mean()
    outer, inner = (mid["hi"], mid["lo"]) if side == "l" else (mid["lo"], mid["hi"])
    return {
        "width": (x1 - x0) / SCALE,
        "height": (rows.max() - rows.min()) / SCALE,
        "tilt": (inner - outer) / SCALE,
    }


@pytest.mark.parametrize("side", ["r", "l"])
def test_the_shapes_differ_as_named(side: str) -> None:
    e = {shape: extent(shape, side) for shape in EYE_SHAPES}
    ratio = {s: v["height"] / v["width"] for s, v in e.items()}
    assert ratio["round"] > ratio["almond"] + 0.08 > ratio["narrow"] + 0.1, ratio
    assert e["almond"]["width"] > 1.08 * e["round"]["width"], e  # longer
    # narrow: the upper lid where it was, the lower lid line higher
    assert e["narrow"]["height"] < 0.8 * e["round"]["height"], e
    # upturned: the outer end lifted, by 3 units more than Digi's own
    assert e["upturned"]["tilt"] > e["round"]["tilt"] + 3.0, e
    assert abs(e["almond"]["tilt"] - e["round"]["tilt"]) < 2.5, e


# ---------------------------------------------------------------------------------------
# bad files


def _broken(tmp_path: Path, edit) -> Path:
    lib = tmp_path / "face"
    shutil.copytree(LIBRARY, lib)
    doc = json.loads((lib / "parts.json").read_text(encoding="utf-8"))
    edit(doc)
    (lib / "parts.json").write_text(json.dumps(doc), encoding="utf-8")
    return lib


BROKEN = {
    "unknown shape": (
        lambda d: d["eye_shapes"].update(cat=d["eye_shapes"]["almond"]),
        'eye_shapes.cat: unknown eye shape "cat"',
    ),
    "missing shape": (
        lambda d: d["eye_shapes"].pop("narrow"),
        "eye_shapes: no eye shapes ['narrow']",
    ),
    "missing picture": (
        lambda d: d["eye_shapes"]["upturned"].pop("digi/eye_happy_l"),
        "eye_shapes.upturned: no pictures for ['digi/eye_happy_l']",
    ),
    "not an eye picture": (
        lambda d: d["eye_shapes"]["almond"].update({"digi/nose": "face/eyes/almond/iris_l"}),
        '"digi/nose" is not one of Digi\'s eye pictures',
    ),
    "picture not in the library": (
        lambda d: d["eye_shapes"]["almond"].update({"digi/iris_l": "face/eyes/cat/iris_l"}),
        'eye_shapes.almond.digi/iris_l: picture "face/eyes/cat/iris_l" is not',
    ),
    "off centre": (
        lambda d: d["eye_shapes"]["almond"].update({"digi/iris_l": "face/eyes/almond/eye_white_l"}),
        "its viewBox is not centred on digi/iris_l's",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_bad_eye_shapes_are_refused_naming_what_is_wrong(tmp_path: Path, case: str) -> None:
    edit, message = BROKEN[case]
    with pytest.raises(FacePartsError) as err:
        load_face_parts(_broken(tmp_path, edit))
    text = str(err.value)
    assert message in text and "parts.json" in text, text


# ---------------------------------------------------------------------------------------
# wearing


def test_round_eyes_wear_nothing() -> None:
    data = rig_json()
    assert wear_face_parts(data, parts(), "none", "oval", eyes="round") == data


@pytest.mark.parametrize("shape", EYES)
def test_an_eye_shape_repoints_every_eye_attachment(shape: str) -> None:
    before = rig_json()
    data = wear_face_parts(before, parts(), "none", "oval", eyes=shape)
    assert [s["name"] for s in data["slots"]] == [s["name"] for s in before["slots"]]
    seen = set()
    for slot in EYE_SLOTS:
        for name, att in data["attachments"][slot].items():
            old = before["attachments"][slot][name]
            pic = old["path"].split("/")[1]
            assert att["path"] == eye_path(shape, pic), (slot, name)
            seen.add(pic)
            # same place, the picture's (grown) size: its viewBox is centred on Digi's
            _, _, w, h = svg_viewbox(parts().sources[att["path"]].svg)
            assert (att["x"], att["y"], att["width"], att["height"]) == (old["x"], old["y"], w, h)
            assert w >= old["width"] and h >= old["height"]
    assert seen == set(EYE_PICTURES)  # open, half, closed lids and the happy eye, both eyes
    rig = parse_rig(data, f"digi with {shape} eyes")
    assert rig.slot_index["eyelid_l"] >= 0


def test_wearing_refuses_an_unknown_eye_shape() -> None:
    with pytest.raises(ValueError, match='unknown eye shape "cat"'):
        wear_face_parts(rig_json(), parts(), "none", "oval", eyes="cat")


@pytest.mark.parametrize("shape", EYES)
def test_an_eye_shape_assembles_in_the_characters_colours(shape: str) -> None:
    c = Character(iris="#3d8a3a", skin="#c68e6a", eye_shape=shape, face_shape="round")
    bundle = assemble(c)
    for pic in EYE_PICTURES:
        assert eye_path(shape, pic) in bundle.atlas.regions
    x, y, w, h = bundle.atlas.regions[eye_path(shape, "iris_l")]
    iris = bundle.atlas.image[y : y + h, x : x + w]
    x, y, w, h = bundle.atlas.regions[eye_path(shape, "iris_r")]
    assert iris[..., 3].max() == 255
    # recoloured: Digi's blue (#2aa4d8) is gone, greens are there
    rgb = iris[iris[..., 3] == 255][:, :3].astype(int)
    assert not np.any(np.all(np.abs(rgb - [0x2A, 0xA4, 0xD8]) < 6, axis=1))
    assert np.mean(rgb[:, 1] > rgb[:, 2]) > 0.3


# ---------------------------------------------------------------------------------------
# the character


def test_the_character_carries_an_eye_shape() -> None:
    plain = Character()
    assert "eye_shape" not in plain.to_json()  # saved characters keep their digest
    c = plain.with_overrides({"eye_shape": "upturned"})
    assert c.to_json()["eye_shape"] == "upturned" and c.digest != plain.digest
    assert Character.from_json(c.to_json()) == c
    with pytest.raises(CharacterError, match="eye_shape: one of round, almond, narrow, upturned"):
        plain.with_overrides({"eye_shape": "cat"})


# ---------------------------------------------------------------------------------------
# measuring


@cache
def _scene():
    from engine.likeness.measure_geometry import scene_of
    from tests.photos import astronaut

    return scene_of(astronaut())


def _eyes_edited(scene, open_k: float = 1.0, lift: float = 0.0):
    """The scene with its frontal eye landmarks changed: each eye's lids pulled towards the
    line between its corners by open_k (< 1: narrower), and every point of the eye raised
    by `lift` times its distance outwards from the inner corner."""
    from engine import landmarks as lm

    f = scene.face3d.copy()
    for ring, outer, inner in (
        (lm.RIGHT_EYE_RING, lm.RIGHT_EYE_OUTER, lm.RIGHT_EYE_INNER),
        (lm.LEFT_EYE_RING, lm.LEFT_EYE_OUTER, lm.LEFT_EYE_INNER),
    ):
        a, b = f[inner, :2].copy(), f[outer, :2].copy()
        idx = list(ring)
        t = ((f[idx, :2] - a) @ (b - a)) / float((b - a) @ (b - a))
        line = a + t[:, None] * (b - a)
        f[idx, 1] = line[:, 1] + (f[idx, 1] - line[:, 1]) * open_k
        f[idx, 1] += lift * np.abs(f[idx, 0] - a[0])
    return replace(scene, face3d=f)


def test_the_eye_shape_follows_the_landmarks() -> None:
    from engine.likeness.measure_face import eye_figures, eye_shape

    scene = _scene()
    assert eye_shape(scene)[0] == "round"  # her eyes are open wide
    base = eye_figures(scene.face3d[:, :2])["open"]
    assert eye_figures(_eyes_edited(scene, 0.5).face3d[:, :2])["open"] < 0.6 * base
    assert eye_shape(_eyes_edited(scene, 0.75))[0] == "almond"
    assert eye_shape(_eyes_edited(scene, 0.5))[0] == "narrow"
    assert eye_shape(_eyes_edited(scene, 1.0, 0.2))[0] == "upturned"
    for edited in (_eyes_edited(scene, 0.5), _eyes_edited(scene, 1.0, 0.2)):
        assert 0.2 <= eye_shape(edited)[1] <= 0.7


def test_character_from_takes_a_sure_eye_shape_only() -> None:
    from engine.likeness.measure import measure_scene

    m = measure_scene(_eyes_edited(_scene(), 0.5))
    assert m.eye_shape.value == "narrow"
    assert character_from(m).eye_shape == ("narrow" if m.eye_shape.confidence >= 0.4 else "round")
    unsure = replace(m, eye_shape=replace(m.eye_shape, confidence=0.3))
    assert character_from(unsure).eye_shape == "round"
    sure = m.with_overrides({"eye_shape": "upturned"})
    assert character_from(sure).eye_shape == "upturned"
