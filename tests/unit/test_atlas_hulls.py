"""atlas.json's optional "hulls" field: the loader checks it and names the JSON path of a
bad entry; the committed atlases carry what content/build/atlas_hulls.py makes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.assets import ATLASES
from engine.atlas import Atlas, AtlasFormatError, load_atlas
from engine.hulls import covers, opaque_hull
from tests.content import build_script


def _atlas_dir(tmp_path: Path, hulls: object) -> Path:
    image = np.zeros((20, 40, 4), np.uint8)
    image[5:15, 5:15] = (200, 100, 50, 255)  # "a": a square in the left picture
    Image.fromarray(image, "RGBA").save(tmp_path / "atlas.png")
    meta = {"schema": 1, "regions": {"a": [0, 0, 20, 20], "b": [20, 0, 20, 20]}}
    if hulls is not None:
        meta["hulls"] = hulls
    (tmp_path / "atlas.json").write_text(json.dumps(meta))
    return tmp_path


GOOD = [[4.98, 4.98], [15.02, 4.98], [15.02, 15.02], [4.98, 15.02]]


def test_a_good_hull_loads_and_a_missing_one_is_computed(tmp_path: Path) -> None:
    atlas = load_atlas(_atlas_dir(tmp_path, {"version": 1, "regions": {"a": GOOD, "b": []}}))
    np.testing.assert_array_equal(atlas.hull("a"), GOOD)
    assert atlas.hull("b").shape == (0, 2)
    bare = Atlas(atlas.image, atlas.regions)  # as engine/face builds them at run time
    assert covers(bare.hull("a"), atlas.image[:20, :20, 3])
    assert bare.hull("b").shape == (0, 2)


@pytest.mark.parametrize(
    ("hulls", "path", "problem"),
    [
        ({"version": 2, "regions": {}}, "hulls.version", "unsupported hulls version"),
        ({"regions": {}}, "hulls.version", "missing"),
        ({"version": 1, "regions": {"c": GOOD}}, "hulls.regions.c", 'no region "c"'),
        ({"version": 1, "regions": {"a": GOOD[:2]}}, "hulls.regions.a", "3 or more points"),
        (
            {"version": 1, "regions": {"a": [*GOOD[:3], [4.98, 25.0]]}},
            "hulls.regions.a[3]",
            "outside the 20x20 picture",
        ),
        (
            {"version": 1, "regions": {"a": [[5, 5, 1], *GOOD[1:]]}},
            "hulls.regions.a[0]",
            "2 numbers",
        ),
        ({"version": 1, "regions": {"a": GOOD[::-1]}}, "hulls.regions.a", "convex"),
        (
            {"version": 1, "regions": {"a": [[6, 6], [15, 6], [15, 15], [6, 15]]}},
            "hulls.regions.a",
            "leaves out texels",
        ),
    ],
)
def test_bad_hulls_name_their_json_path(
    tmp_path: Path, hulls: object, path: str, problem: str
) -> None:
    with pytest.raises(AtlasFormatError) as e:
        load_atlas(_atlas_dir(tmp_path, hulls))
    assert e.value.path == path
    assert problem in e.value.problem


@pytest.mark.parametrize("atlas_id", ["digi", "testrig"])
def test_committed_hulls_are_what_the_build_step_makes(tmp_path: Path, atlas_id: str) -> None:
    committed = ATLASES / atlas_id
    atlas = load_atlas(committed)  # validates every hull against the picture
    assert set(atlas.hulls) == set(atlas.regions)
    for path, (x, y, w, h) in list(atlas.regions.items())[:5]:
        np.testing.assert_allclose(
            atlas.hulls[path], opaque_hull(atlas.image[y : y + h, x : x + w, 3]), atol=0.005
        )
    copy = tmp_path / atlas_id
    copy.mkdir()
    shutil.copy(committed / "atlas.png", copy / "atlas.png")
    meta = json.loads((committed / "atlas.json").read_text())
    meta.pop("hulls")
    (copy / "atlas.json").write_text(json.dumps(meta))
    build_script("atlas_hulls").add_hulls(copy)
    assert (copy / "atlas.json").read_text() == (committed / "atlas.json").read_text()
