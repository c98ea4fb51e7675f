"""The face-part library (engine/likeness/face_parts.py, content/face/): every face shape
and facial-hair style loads and is worn on Digi's rig; the art keeps to Digi's colours so
it recolours; the pictures are what their SVGs draw; the facial hair takes the character's
facial-hair colour (a dark one shaded darker still); a square jaw is wider than a heart's;
Digi's own face ("oval", no facial hair) changes nothing; bad library files fail with the
file and JSON path."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from engine.assets import RIGS, bundle_for
from engine.likeness.art import picture_size, rasterize_svg, svg_viewbox
from engine.likeness.assemble import assemble, facial_hair_palette, hair_atlas, palette_of
from engine.likeness.character import Character, CharacterError, character_from
from engine.likeness.face_parts import (
    FACE_SHAPES,
    FACIAL_HAIR,
    HEAD_ART,
    LIBRARY,
    FaceParts,
    FacePartsError,
    head_path,
    head_picture,
    load_face_parts,
    picture_of,
    wear_face_parts,
)
from engine.likeness.hair import load_hairstyle, style_atlas, wear_hairstyle
from engine.likeness.palette import OUTLINE, RAMPS, delta_e, oklch_of
from engine.likeness.recolor import paint_colors, recolor_atlas
from engine.rig.loader import parse_rig
from engine.session import AvatarSession, Inputs

DARK = "#2b1f18"  # a near-black brown beard
JAW_Y = 186.0  # svg y of the jaw, between the mouth and the chin


@cache
def parts() -> FaceParts:
    return load_face_parts()


def rig_json() -> dict:
    return json.loads((RIGS / "digi" / "rig.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------
# the library


def test_every_shape_and_style_is_in_the_library() -> None:
    p = parts()
    assert set(p.outlines) == set(FACE_SHAPES)
    assert set(p.facial_hair) == set(FACIAL_HAIR)
    worn = {"stubble": {"facial_hair"}, "moustache": {"moustache"}}
    worn["beard"] = {"facial_hair", "moustache"}
    for style, per_shape in p.facial_hair.items():
        assert set(per_shape) == set(FACE_SHAPES), style
        for per_slot in per_shape.values():
            assert set(per_slot) == worn[style], (style, set(per_slot))
            for att in per_slot.values():
                assert att["type"] == "mesh" and att["path"] in p.atlas.regions
                bones = {b for w in att["weights"] for b, _ in w}
                assert bones <= {"head", "mouth"}, bones  # it follows the head and the mouth
    # the beard and the stubble follow each jaw: one picture per shape
    for style in ("beard", "stubble"):
        paths = {p.facial_hair[style][s]["facial_hair"]["path"] for s in FACE_SHAPES}
        assert len(paths) == 4, style


def test_the_oval_outline_is_digis_own() -> None:
    text = HEAD_ART.read_text(encoding="utf-8")
    assert " ".join(parts().outlines["oval"].split()) in " ".join(text.split())


def test_the_pictures_are_what_their_svgs_draw_in_digis_colours() -> None:
    p = parts()
    for path, src in p.sources.items():
        x, y, w, h = p.atlas.regions[path]
        assert (w, h) == picture_size(svg_viewbox(src.svg), src.scale)
        drawn = rasterize_svg(src.svg, (w, h))
        assert np.array_equal(drawn, p.atlas.image[y : y + h, x : x + w]), path
        colours = paint_colors(src.svg, path)
        if path.startswith("face/brows/"):
            assert colours == set(RAMPS["brows"].tones), (path, colours)
            continue
        if path.startswith("face/eyes/"):  # test_eye_shapes.py checks them
            continue
        hair = set(RAMPS["hair"].tones)
        # only hair tones and the shared outline: the facial-hair colour recolours all of it
        assert colours <= hair | {OUTLINE}, (path, colours - hair - {OUTLINE})
        assert colours & hair, path


# ---------------------------------------------------------------------------------------
# bad files


def _broken(tmp_path: Path, edit) -> Path:
    lib = tmp_path / "face"
    shutil.copytree(LIBRARY, lib)
    doc = json.loads((lib / "parts.json").read_text(encoding="utf-8"))
    edit(doc, lib)
    (lib / "parts.json").write_text(json.dumps(doc), encoding="utf-8")
    return lib


def _beard(doc: dict) -> dict:
    return doc["facial_hair"]["beard"]["square"]["facial_hair"]


BROKEN = {
    "schema": (lambda d, _: d.update(schema=2), "schema"),
    "rig": (lambda d, _: d.update(rig="testrig"), 'rig: face parts for rig "testrig"'),
    "unknown shape": (
        lambda d, _: d["face_shapes"].update(long={"outline": "M 0,0 L 1,1 Z"}),
        'face_shapes.long: unknown face shape "long"',
    ),
    "missing shape": (
        lambda d, _: d["face_shapes"].pop("heart"),
        "face_shapes: no outline for the face shapes ['heart']",
    ),
    "open outline": (
        lambda d, _: d["face_shapes"]["round"].update(outline="M 2,70 C 40,70 67,97 67,134"),
        "face_shapes.round.outline: not a closed SVG path",
    ),
    "unknown style": (
        lambda d, _: d["facial_hair"].update(goatee=d["facial_hair"]["beard"]),
        'facial_hair.goatee: unknown facial-hair style "goatee"',
    ),
    "missing style": (
        lambda d, _: d["facial_hair"].pop("moustache"),
        "facial_hair: no facial-hair styles ['moustache']",
    ),
    "style lacks a shape": (
        lambda d, _: d["facial_hair"]["stubble"].pop("oval"),
        "facial_hair.stubble: facial hair \"stubble\" has no attachment for ['oval']",
    ),
    "unknown slot": (
        lambda d, _: d["facial_hair"]["moustache"]["oval"].update(chin=_beard(d)),
        'facial_hair.moustache.oval.chin: unknown slot "chin"',
    ),
    "no slot": (
        lambda d, _: d["facial_hair"]["moustache"].update(oval={}),
        "facial_hair.moustache.oval: no attachment on any slot",
    ),
    "unknown bone": (
        lambda d, _: _beard(d)["weights"][0].__setitem__(0, ["jaw", 1.0]),
        'facial_hair.beard.square.facial_hair.weights[0][0][0]: unknown bone "jaw"',
    ),
    "picture not in the library": (
        lambda d, _: _beard(d).update(path="face/goatee/square"),
        'facial_hair.beard.square.facial_hair.path: picture "face/goatee/square" is not',
    ),
    "uv count": (
        lambda d, _: _beard(d)["uvs"].pop(),
        "facial_hair.beard.square.facial_hair.uvs: expected",
    ),
    "svg missing": (
        lambda d, lib: (lib / "pictures" / "moustache.svg").unlink(),
        "pictures.face/moustache.svg: file not found",
    ),
    "unknown brows": (
        lambda d, _: d["brows"].update(bushy=d["brows"]["thick"]),
        'brows.bushy: unknown brow thickness "bushy"',
    ),
    "brow picture": (
        lambda d, _: d["brows"]["thin"].update(brow_l="face/brows/none"),
        'brows.thin.brow_l: picture "face/brows/none" is not one',
    ),
    "missing brows": (lambda d, _: d["brows"].pop("thin"), "brows: no brows ['thin']"),
    "picture without a region": (
        lambda d, _: d["pictures"].update(
            {"face/x": {"svg": "pictures/moustache.svg", "scale": 3}}
        ),
        'picture "face/x" has no region',
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_bad_library_files_are_refused_naming_what_is_wrong(tmp_path: Path, case: str) -> None:
    edit, message = BROKEN[case]
    lib = _broken(tmp_path, edit)
    with pytest.raises(FacePartsError) as err:
        load_face_parts(lib)
    text = str(err.value)
    assert message in text, text
    assert "parts.json" in text or "atlas" in text, text


def test_a_missing_library_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(FacePartsError, match=r"content/build/face_parts\.py"):
        load_face_parts(tmp_path)


# ---------------------------------------------------------------------------------------
# wearing


def test_digis_own_face_wears_nothing() -> None:
    data = rig_json()
    assert wear_face_parts(data, parts(), "none", "oval") == data


@pytest.mark.parametrize("style", FACIAL_HAIR)
@pytest.mark.parametrize("shape", FACE_SHAPES)
def test_each_combination_is_a_rig_that_animates(style: str, shape: str) -> None:
    data = wear_face_parts(rig_json(), parts(), style, shape)
    names = [s["name"] for s in data["slots"]]
    worn = parts().facial_hair[style][shape]
    for slot, att in worn.items():
        assert data["attachments"][slot][slot]["path"] == att["path"]
    if "facial_hair" in worn:  # over the head, under the nose and mouth (drawn over it)
        assert names[names.index("head") + 1] == "facial_hair"
        assert names.index("facial_hair") < names.index("nose") < names.index("mouth_base")
    if "moustache" in worn:  # over the mouth: an open mouth does not hide it
        assert names[names.index("mouth_expr") + 1] == "moustache"
    assert set(names) - {s["name"] for s in rig_json()["slots"]} == set(worn)
    head = data["attachments"]["head"]["head"]["path"]
    assert head == ("digi/head" if shape == "oval" else head_path(shape))
    rig = parse_rig(data, f"digi with {style}, {shape}")
    for slot in worn:
        assert rig.slots[rig.slot_index[slot]].bone == rig.bone_index["head"]


def test_wearing_refuses_unknown_parts() -> None:
    with pytest.raises(ValueError, match='unknown face shape "long"'):
        wear_face_parts(rig_json(), parts(), "none", "long")
    with pytest.raises(ValueError, match='unknown facial hair "goatee"'):
        wear_face_parts(rig_json(), parts(), "goatee", "oval")


# ---------------------------------------------------------------------------------------
# the character


def test_the_character_carries_a_facial_hair_colour() -> None:
    c = Character(facial_hair="beard", facial_hair_colour=DARK)
    assert Character.from_json(c.to_json()) == c
    with pytest.raises(CharacterError, match="facial_hair_colour"):
        Character(facial_hair_colour="brown")
    with pytest.raises(CharacterError, match="face_shape: one of oval, round, square, heart"):
        Character(face_shape="long")


def test_the_digest_changes_with_the_face_parts_only() -> None:
    plain = Character()
    # a character saved before facial_hair_colour existed keeps its digest (its avatar's name)
    assert "facial_hair_colour" not in plain.to_json()
    digests = {plain.digest}
    for change in (
        {"facial_hair": "beard"},
        {"face_shape": "square"},
        {"facial_hair": "beard", "facial_hair_colour": DARK},
        {"brow_thickness": "thick"},
        {"glasses": True, "glasses_colour": DARK},
    ):
        digests.add(plain.with_overrides(change).digest)
    assert len(digests) == 6
    assert Character.from_json(plain.with_overrides(change).to_json()).glasses_colour == DARK


def test_character_from_takes_the_measured_facial_hair_colour() -> None:
    from engine.likeness.measure import measure
    from tests.likeness.test_measure import _paint_facial_hair, astronaut

    m = measure(_paint_facial_hair(astronaut(), True))
    c = character_from(m)
    assert c.facial_hair == "beard" and c.facial_hair_colour == m.facial_hair_colour.value.hex


# ---------------------------------------------------------------------------------------
# assembling


def _old_assembly(character: Character):
    """The character assembled as before the face parts (hairstyle and colours only)."""
    pal = palette_of(character)
    style = load_hairstyle(character.hairstyle)
    atlas = style_atlas(recolor_atlas(pal), hair_atlas(style, pal))
    data, _ = wear_hairstyle(rig_json(), atlas, style)
    return data, atlas


@pytest.mark.parametrize("hairstyle", ["digi", "crop"])
def test_digis_own_face_assembles_as_before(hairstyle: str) -> None:
    c = Character(hairstyle=hairstyle, skin="#c68e6a", hair="#2a2220")
    data, atlas = _old_assembly(c)
    bundle = assemble(c)
    assert np.array_equal(bundle.atlas.image, atlas.image)
    assert bundle.atlas.regions == atlas.regions
    old, new = parse_rig(data, "old"), bundle.rig
    assert new.slots == old.slots
    for a, b in zip(new.attachments, old.attachments, strict=True):
        assert {k: v.path for k, v in a.items()} == {k: v.path for k, v in b.items()}
    assert np.array_equal(new.skin_local, old.skin_local)
    assert np.array_equal(new.skin_weights, old.skin_weights)


def _region(bundle, path: str) -> np.ndarray:
    x, y, w, h = bundle.atlas.regions[path]
    return bundle.atlas.image[y : y + h, x : x + w]


@pytest.mark.parametrize("style", FACIAL_HAIR)
def test_the_facial_hair_has_the_characters_facial_hair_colour(style: str) -> None:
    c = Character(hair="#e0c068", facial_hair=style, facial_hair_colour=DARK)
    bundle = assemble(c)
    worn = parts().facial_hair[style]["oval"]
    path = worn.get("facial_hair", worn.get("moustache"))["path"]
    pic = _region(bundle, path)
    own = picture_of(parts(), path)
    assert np.array_equal(pic[..., 3], own[..., 3])  # recoloured, same geometry
    solid = pic[pic[..., 3] == 255, :3]
    if style != "stubble":  # stubble is a see-through tint: nothing solid but flecks
        near = [delta_e(tuple(int(v) for v in px), DARK) < 10 for px in solid[::7]]
        assert np.mean(near) > 0.2, np.mean(near)
    # and nothing of Digi's orange, nor the blond head hair, is left
    for tone in ("#c4612f", "#e0c068"):
        far = [delta_e(tuple(int(v) for v in px), tone) > 10 for px in solid[::7]]
        assert all(far), tone


def test_the_facial_hair_colour_falls_back_to_the_hair_colour() -> None:
    c = Character(hair="#e0c068", facial_hair="beard")
    assert facial_hair_palette(c)["#c4612f"] == "#e0c068"
    assert facial_hair_palette(Character(facial_hair="beard")).changed == {}


def test_a_dark_beard_is_shaded_darker_still() -> None:
    pal = facial_hair_palette(Character(facial_hair="beard", facial_hair_colour=DARK))
    base, shade, deep = (oklch_of(pal[t])[0] for t in ("#c4612f", "#8b3a22", "#6b2818"))
    assert deep < shade < base < 0.35, (base, shade, deep)


def _jaw_width(image: np.ndarray, viewbox) -> int:
    """The opaque width of a head picture along the jaw (svg y JAW_Y)."""
    _, y, _, h = viewbox
    row = round((JAW_Y - y) / h * image.shape[0])
    cols = np.nonzero(image[row, :, 3] > 128)[0]
    return int(cols.max() - cols.min())


def test_a_square_jaw_is_wider_than_a_heart_one() -> None:
    svg = HEAD_ART.read_text(encoding="utf-8")
    vb = svg_viewbox(svg)
    width = {s: _jaw_width(head_picture(svg, parts().outlines[s])[1], vb) for s in FACE_SHAPES}
    assert width["square"] > width["oval"] > width["heart"], width
    assert width["round"] > width["heart"], width
    assert width["square"] - width["heart"] > 0.15 * width["oval"], width


@pytest.mark.parametrize("shape", FACE_SHAPES[1:])
def test_a_face_shape_redraws_the_worn_head(shape: str) -> None:
    """On a hairstyle with its own forehead shadow, the shaped head keeps that shadow."""
    c = Character(hairstyle="crop", skin="#c68e6a", face_shape=shape)
    bundle = assemble(c)
    head = _region(bundle, head_path(shape))
    style_head = _region(assemble(replace(c, face_shape="oval")), "hair/crop/head")
    assert head.shape == style_head.shape
    # the forehead, with the fringe's shadow, is the same picture (svg x -20..30, y 96..130
    # at the head's 3 texels a unit); the jaw differs
    patch = (slice((96 - 56) * 3, (130 - 56) * 3), slice((-20 + 84) * 3, (30 + 84) * 3))
    assert np.array_equal(head[patch], style_head[patch])
    assert not np.array_equal(head[..., 3], style_head[..., 3])
    # in the character's skin colour
    assert any(delta_e(tuple(int(v) for v in px), "#c68e6a") < 3 for px in head[400, ::5, :3])


def test_the_facial_hair_follows_the_head_and_mouth_through_the_clips() -> None:
    c = Character(facial_hair="beard", face_shape="square")
    bundle = assemble(c)
    s = AvatarSession(bundle, seed=1)
    s.step(0.0, Inputs(parameters={"ParamAngleX": 30, "ParamMouthOpenY": 1.0}))
    for _ in range(10):
        s.step(1 / 60)
    assert np.isfinite(s.pose.world).all()
    fresh = bundle_for(bundle.rig, "digi", atlas=bundle.atlas, face="again")
    assert {"facial_hair", "moustache"} <= set(fresh.rig.slot_index)


# ---------------------------------------------------------------------------------------
# brows and glasses


def _brow_height(image: np.ndarray) -> float:
    """The brow's median opaque height over its columns, in texels."""
    rows = (image[..., 3] > 128).sum(axis=0)
    return float(np.median(rows[rows > 0]))


@pytest.mark.parametrize("side", ["r", "l"])
def test_brows_come_thin_medium_and_thick(side: str) -> None:
    from engine.assets import load_base_atlas

    digi = load_base_atlas("digi")
    x, y, w, h = digi.regions[f"digi/brow_{side}"]
    height = {"medium": _brow_height(digi.image[y : y + h, x : x + w])}
    for thickness in ("thin", "thick"):
        pic = picture_of(parts(), parts().brows[thickness][f"brow_{side}"])
        assert pic.shape == (h, w, 4)  # Digi's brow region holds it unchanged
        height[thickness] = _brow_height(pic)
    assert height["thin"] < 0.75 * height["medium"], height
    assert height["thick"] > 1.4 * height["medium"], height


def test_wearing_brows_points_the_brow_slots_at_them() -> None:
    data = wear_face_parts(rig_json(), parts(), "none", "oval", "thick")
    assert data["attachments"]["brow_r"]["brow"]["path"] == "face/brows/thick_r"
    assert data["attachments"]["brow_l"]["brow"]["path"] == "face/brows/thick_l"
    assert wear_face_parts(rig_json(), parts(), "none", "oval", "medium") == rig_json()
    with pytest.raises(ValueError, match='unknown brow thickness "bushy"'):
        wear_face_parts(rig_json(), parts(), "none", "oval", "bushy")


def test_assembled_brows_have_the_brow_colour() -> None:
    bundle = assemble(Character(brows="#202020", brow_thickness="thin"))
    pic = _region(bundle, "face/brows/thin_r")
    solid = pic[pic[..., 3] == 255, :3]
    assert len(solid) and all(delta_e(tuple(int(v) for v in px), "#202020") < 2 for px in solid)


@cache
def _astronaut_measurement():
    from engine.likeness.measure import measure
    from tests.likeness.test_measure import astronaut

    return measure(astronaut())


@pytest.mark.parametrize(
    ("value", "confidence", "expected"),
    [(0.05, 0.9, "thin"), (0.15, 0.9, "medium"), (0.35, 0.9, "thick"), (0.35, 0.2, "medium")],
)
def test_the_measured_brow_thickness_picks_the_brows(value, confidence, expected) -> None:
    from engine.likeness.measure_types import Feature

    m = replace(_astronaut_measurement(), brow_thickness=Feature(value, confidence))
    assert character_from(m).brow_thickness == expected


def test_the_glasses_frame_takes_the_glasses_colour() -> None:
    frame = "#1f7a3c"
    plain = assemble(Character(glasses=True))
    coloured = assemble(Character(glasses=True, glasses_colour=frame))
    old, new = _region(plain, "digi/glasses"), _region(coloured, "digi/glasses")
    assert np.array_equal(old[..., 3], new[..., 3])
    was = np.array([int("5b2430"[i : i + 2], 16) for i in (0, 2, 4)])
    on_frame = (new[..., 3] == 255) & (np.abs(old[..., :3].astype(int) - was).max(axis=2) < 3)
    assert on_frame.sum() > 100
    assert all(delta_e(tuple(int(v) for v in px), frame) < 2 for px in new[on_frame, :3])
    # nothing else changes
    assert np.array_equal(_region(plain, "digi/head"), _region(coloured, "digi/head"))
    # and without glasses the colour is not carried
    assert "glasses_colour" not in Character().to_json()


def test_a_frame_the_colour_of_the_skin_is_darkened_to_show() -> None:
    from engine.likeness.assemble import FRAME_CONTRAST, frame_colour

    skin = "#d4855e"
    assert frame_colour("#1b1b1b", skin) == "#1b1b1b"  # a frame that shows is kept
    tan = frame_colour("#d47b47", skin)  # Grace Hopper's amber frame on her skin
    assert delta_e(tan, skin) >= FRAME_CONTRAST, tan
    before, after = oklch_of("#d47b47"), oklch_of(tan)
    assert after[0] < before[0] and abs(after[2] - before[2]) < 15, (before, after)
    pal = palette_of(Character(skin=skin, glasses=True, glasses_colour="#d47b47"))
    assert pal["#5b2430"] == tan
