"""The hairstyle part library (engine/likeness/hair.py, content/hair/): every style loads
and covers its slots; together the styles cover every hair class; the art keeps to Digi's
hair (and skin) colours so it recolours; the pictures are what the SVGs draw; a worn style
is a rig the engine loads and animates through all of Digi's clips, and the hair chains'
springs swing its locks; bad style files fail with their JSON path."""

from __future__ import annotations

import json
import re
import shutil
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from engine.assets import RIGS, ROOT, AvatarBundle, bundle_for, load_base_atlas
from engine.atlas import Atlas
from engine.likeness.art import picture_size, rasterize_svg
from engine.likeness.hair import (
    CLASSES,
    EMPTY,
    HAIR_SLOTS,
    HAIRSTYLES,
    LIBRARY,
    Hairstyle,
    HairstyleError,
    load_hairstyle,
    wear_hairstyle,
)
from engine.likeness.palette import OUTLINE, RAMPS
from engine.rig.data import MeshAttachment
from engine.rig.loader import parse_rig
from engine.session import AvatarSession, Inputs

STYLES = sorted(HAIRSTYLES)
DT = 1 / 60


@cache
def rig_json() -> str:
    return (RIGS / "digi" / "rig.json").read_text(encoding="utf-8")


@cache
def base_atlas() -> Atlas:
    return load_base_atlas("digi")


def worn(name: str, springs: bool = True) -> AvatarBundle:
    data = json.loads(rig_json())
    if not springs:
        data["springs"] = []
    data, atlas = wear_hairstyle(data, base_atlas(), load_hairstyle(name))
    rig = parse_rig(data, f"digi wearing {name}")
    return bundle_for(rig, "digi", atlas=atlas, face=f"hair-{name}")


# ---------------------------------------------------------------------------------------
# the library


def test_the_library_covers_every_hair_class() -> None:
    assert len(HAIRSTYLES) >= 12
    assert "digi" in HAIRSTYLES  # Digi's own hair, so the default character can be rebuilt
    for name in ("length", "fringe", "texture", "bald"):
        shown = {getattr(c, name) for c in HAIRSTYLES.values()}
        assert shown == set(CLASSES[name]), (name, set(CLASSES[name]) - shown)
    assert len({c.parting for c in HAIRSTYLES.values()}) >= 3
    assert len({c.volume for c in HAIRSTYLES.values()}) == 3


@pytest.mark.parametrize("name", STYLES)
def test_every_style_loads_and_dresses_or_hides_every_hair_slot(name: str) -> None:
    style = load_hairstyle(name)
    assert style.classes == HAIRSTYLES[name]
    assert set(style.hides).isdisjoint(style.attachments)
    assert set(HAIR_SLOTS) <= set(style.attachments) | set(style.hides)
    for per_slot in style.attachments.values():
        for att in per_slot.values():
            assert att["path"] in style.atlas.regions
    if style.classes.bald == "bald":
        assert "hair_top" in style.attachments  # the bare scalp over the crown
        assert all(f"hair_front_{k}" in style.hides for k in range(1, 6))
    else:
        # front and back layers, on the hair chains' springs
        weighted = {
            b for per in style.attachments.values() for a in per.values()
            for infl in a.get("weights", []) for b, _ in infl
        }  # fmt: skip
        if style.classes.bald == "none":
            assert any(b.startswith(("hair_front_", "hair_side_")) for b in weighted)
            assert any(b.startswith("hair_back_") for b in weighted)


@pytest.mark.parametrize("name", [n for n in STYLES if n != "digi"])
def test_the_art_keeps_to_digis_hair_and_skin_colours(name: str) -> None:
    """Every colour the SVGs name is one of Digi's hair or skin tones or the outline, so
    recolouring (engine/likeness/recolor.py) reaches all of it."""
    allowed = set(RAMPS["hair"].tones) | set(RAMPS["skin"].tones) | {OUTLINE}
    style = load_hairstyle(name)
    for path, src in style.sources.items():
        colours = {c.lower() for c in re.findall(r"#[0-9a-fA-F]{6}\b", src.svg)}
        assert colours <= allowed, (path, colours - allowed)
        # hair is drawn in hair tones; skin only on the head and a bald scalp
        skin = path.endswith("/head") or style.classes.bald == "bald"
        want = RAMPS["skin" if skin else "hair"].tones
        assert set(want) & colours, path


@pytest.mark.parametrize("name", ["bob", "long_curly", "digi", "bald"])
def test_the_atlas_holds_what_the_svg_sources_draw(name: str) -> None:
    style = load_hairstyle(name)
    for path, src in style.sources.items():
        x, y, w, h = style.atlas.regions[path]
        assert picture_size(src.viewbox, src.scale) == (w, h)
        drawn = rasterize_svg(src.svg, (w, h)).astype(int)
        held = style.atlas.image[y : y + h, x : x + w].astype(int)
        assert np.abs(drawn - held).max() <= 1, path


def test_the_digi_style_is_digis_own_hair() -> None:
    style = load_hairstyle("digi")
    rig = json.loads(rig_json())
    for slot in HAIR_SLOTS:
        mine = {
            n: {k: v for k, v in a.items() if k != "path"}
            for n, a in style.attachments[slot].items()
        }
        hers = {
            n: {k: v for k, v in a.items() if k != "path"}
            for n, a in rig["attachments"][slot].items()
        }
        assert mine == hers, slot
    for path, src in style.sources.items():
        original = ROOT / "content" / "art" / "digi" / f"{path.split('/')[-1]}.svg"
        assert src.svg == original.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------
# wearing a style


def test_wearing_replaces_the_hair_and_leaves_the_rest() -> None:
    data = json.loads(rig_json())
    before = json.dumps(data, sort_keys=True)
    style = load_hairstyle("bald")
    out, atlas = wear_hairstyle(data, base_atlas(), style)
    assert json.dumps(data, sort_keys=True) == before  # the caller's JSON is not changed
    for slot in style.hides:
        assert all(a["path"] == EMPTY for a in out["attachments"][slot].values())
        shown = next(s for s in out["slots"] if s["name"] == slot)
        assert shown.get("attachment") is None
    # the sprite library still finds the top's hat variant
    assert set(out["attachments"]["hair_top"]) == {"hair_top", "hair_top_hat"}
    for slot in ("torso", "arm_r", "iris_l", "mouth_base"):
        assert out["attachments"][slot] == data["attachments"][slot]
    # Digi's pictures stay where they were; the style's are appended below
    h0, w0 = base_atlas().image.shape[:2]
    assert np.array_equal(atlas.image[:h0, :w0], base_atlas().image)
    for path, rect in base_atlas().regions.items():
        assert atlas.regions[path] == rect
    for path in style.atlas.regions:
        x, y, w, h = atlas.regions[path]
        assert y >= h0
        ox, oy = style.atlas.regions[path][:2]
        assert np.array_equal(
            atlas.image[y : y + h, x : x + w], style.atlas.image[oy : oy + h, ox : ox + w]
        )


def test_recoloured_pictures_replace_the_styles_own() -> None:
    style = load_hairstyle("bob")
    path = "hair/bob/top"
    x, y, w, h = style.atlas.regions[path]
    blue = style.atlas.image[y : y + h, x : x + w].copy()
    blue[..., :3] = blue[..., 2::-1]  # red and blue swapped
    _, atlas = wear_hairstyle(json.loads(rig_json()), base_atlas(), style, {path: blue})
    ax, ay, _, _ = atlas.regions[path]
    assert np.array_equal(atlas.image[ay : ay + h, ax : ax + w], blue)
    with pytest.raises(ValueError, match=r"must be \(\d+, \d+, 4\) uint8"):
        wear_hairstyle(json.loads(rig_json()), base_atlas(), style, {path: blue[:-1]})
    with pytest.raises(ValueError, match='no picture "hair/bob/nope"'):
        wear_hairstyle(json.loads(rig_json()), base_atlas(), style, {"hair/bob/nope": blue})


def _hair_vertices(session: AvatarSession) -> np.ndarray:
    """The hair slots' skinned vertices, in the head bone's frame."""
    rig = session.bundle.rig
    slots = {rig.slot_index[s] for s in HAIR_SLOTS}
    v = np.concatenate([i.vertices for i in session.draw_list() if i.slot in slots])
    w = session.pose.world[rig.bone_index["head"]]
    from engine.kernels.layout import WA, WB, WC, WD, WX, WY

    m = np.array([[w[WA], w[WB]], [w[WC], w[WD]]])
    return (v - np.array([w[WX], w[WY]])) @ np.linalg.inv(m).T


MOTION = [
    ("idle", Inputs(), 0.6),
    ("walk", Inputs(controls={"speed": 1.0}, transitions=["walk"]), 0.8),
    ("turn", Inputs(parameters={"ParamAngleX": 30, "ParamAngleZ": -20}), 0.4),
    ("back", Inputs(parameters={"ParamAngleX": -30, "ParamAngleZ": 20}), 0.4),
    ("jump", Inputs(controls={"speed": 0.0}, transitions=["jump"]), 0.8),
]


@pytest.mark.parametrize("name", STYLES)
def test_a_worn_style_animates_and_its_springs_swing_the_hair(name: str) -> None:
    bundle = worn(name)
    assert len(bundle.clips) == 27
    stiff = AvatarSession(worn(name, springs=False), seed=1)
    live = AvatarSession(bundle, seed=1)
    bones = bundle.rig.bones
    hair_springs = [
        i for i, b in enumerate(live.springs.bones) if bones[b].name.startswith("hair_")
    ]
    swing = 0.0
    offsets = 0.0
    for _, inputs, seconds in MOTION:
        for k in range(round(seconds / DT)):
            step_in = inputs if k == 0 else None
            live.advance(DT, step_in)
            stiff.advance(DT, step_in)
            if k % 4:
                continue  # skinning every fourth tick is plenty to catch the swing
            a, b = _hair_vertices(live), _hair_vertices(stiff)
            assert np.isfinite(a).all()
            swing = max(swing, float(np.abs(a - b).max()))
            offsets = max(offsets, float(np.abs(live.springs.offsets[hair_springs]).max()))
    assert offsets > 2.0  # the hair's springs move
    if HAIRSTYLES[name].bald == "none":
        assert swing > 3.0, swing  # ... and the style's hair moves with them
    else:
        assert swing < 1e-6, swing  # a bare or shaved head has no locks to swing


def test_the_worn_rig_keeps_the_sprite_library_working() -> None:
    bundle = worn("long")
    s = AvatarSession(bundle)
    s.step(0.0, Inputs(swaps={"accessories": "hat"}))
    slot = bundle.rig.slot_index["hair_top"]
    assert s.pose.slot_attachment[slot] == "hair_top_hat"
    item = next(i for i in s.draw_list() if i.slot == slot)
    att = bundle.rig.attachments[slot]["hair_top_hat"]
    assert isinstance(att, MeshAttachment) and att.path == "hair/long/top_hat"
    assert np.isfinite(item.vertices).all()


# ---------------------------------------------------------------------------------------
# bad files


@pytest.fixture
def library(tmp_path: Path) -> Path:
    shutil.copytree(LIBRARY / "bob", tmp_path / "bob")
    return tmp_path


def _edit(library: Path, change) -> None:
    f = library / "bob" / "style.json"
    doc = json.loads(f.read_text())
    change(doc)
    f.write_text(json.dumps(doc))


BAD = [
    (lambda d: d.update(schema=2), r"style\.json: schema: unsupported version 2"),
    (lambda d: d.update(rig="testrig"), r'style\.json: rig: a hairstyle for rig "testrig"'),
    (lambda d: d.update(name="bobby"), r"style\.json: name: names the style \"bobby\""),
    (
        lambda d: d["classes"].update(length="waist"),
        r'style\.json: classes\.length: unknown value "waist" \(expected one of short, ear',
    ),
    (lambda d: d["classes"].pop("texture"), r"style\.json: classes\.texture: missing required"),
    (
        lambda d: d["attachments"].update(torso={}),
        r'style\.json: attachments\.torso: slot "torso" is not one a hairstyle dresses',
    ),
    (
        lambda d: d["attachments"]["hair_back"]["hair_back"]["weights"][3].__setitem__(
            0, ["tail", 1]
        ),
        r'attachments\.hair_back\.hair_back\.weights\[3\]\[0\]\[0\]: unknown bone "tail"',
    ),
    (
        lambda d: d["attachments"]["hair_top"]["hair_top"]["triangles"][0].__setitem__(1, 10**6),
        r"attachments\.hair_top\.hair_top\.triangles\[0\]\[1\]: vertex index 1000000 out of range",
    ),
    (
        lambda d: d["attachments"]["hair_front_3"]["hair_front_3"].update(path="hair/bob/nope"),
        r'attachments\.hair_front_3\.hair_front_3\.path: picture "hair/bob/nope" is not one',
    ),
    (
        lambda d: d["hides"].append("hair_back"),
        r'style\.json: hides\[0\]: slot "hair_back" is both dressed and hidden',
    ),
    (
        lambda d: d["pictures"]["hair/bob/top"].update(svg="pictures/gone.svg"),
        r'pictures\."?hair/bob/top"?\.svg: file not found',
    ),
]


@pytest.mark.parametrize(("change", "message"), BAD)
def test_a_bad_style_file_names_its_json_path(library: Path, change, message: str) -> None:
    _edit(library, change)
    with pytest.raises(HairstyleError, match=message):
        load_hairstyle("bob", library)


def test_missing_styles_and_broken_json_are_clear(library: Path) -> None:
    with pytest.raises(HairstyleError, match=r'no hairstyle "mohawk" \(known: bob\)'):
        load_hairstyle("mohawk", library)
    (library / "bob" / "style.json").write_text("{not json")
    with pytest.raises(HairstyleError, match=r"style\.json: not valid JSON"):
        load_hairstyle("bob", library)


def test_a_style_whose_atlas_lost_a_picture_is_refused(library: Path) -> None:
    meta = json.loads((library / "bob" / "atlas.json").read_text())
    del meta["regions"]["hair/bob/side_l"]
    del meta["hulls"]["regions"]["hair/bob/side_l"]
    (library / "bob" / "atlas.json").write_text(json.dumps(meta))
    with pytest.raises(HairstyleError, match=r'picture "hair/bob/side_l" has no region in'):
        load_hairstyle("bob", library)


def test_hairstyle_is_a_value() -> None:
    style = load_hairstyle("crop")
    assert isinstance(style, Hairstyle)
    with pytest.raises(AttributeError):
        style.name = "other"  # type: ignore[misc]
