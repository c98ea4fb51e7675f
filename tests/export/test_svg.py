"""The SVG export (engine/export/svg.py) against our own GL render of the same still, at 256 px.

Rendered two ways: cairosvg (the library the content build rasterizes Digi's art with) and
Debian's Chromium (the file as an `<img>`, drawn into a transparent canvas). Thresholds:
- IoU >= 0.98 (alpha masks, compare.iou): measured 0.991 (Chromium) to 0.995. A missing or
  misplaced part, or meshes bent wrongly, cost more than 2 % of Digi's silhouette at this
  size (a picture flipped inside its own outline shows in the colour diff instead); the
  vector outline against the GL's mipmapped texture outline costs about 0.6 %.
- colour diff <= 6.5 (compare.color_diff, 0..255): measured 5.0-5.8 (cairosvg and Chromium,
  plain, filtered, waving, one raster part). The vector art is sharper than the texture the
  GL samples (its dark outlines are crisper), which is the whole of that. Measured failures:
  the head's picture upside down 8.7, meshes placed by one affine (not per triangle, waving) 11.0
  (and IoU 0.960), colour filters not carried 28.6, draw order reversed 46.
A slot's tint covers too little of Digi (the far side's 0.86/0.93 shade) to show in the whole
picture's numbers: test_slot_tint_and_alpha measures it where it shows.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable

import cairosvg
import numpy as np
import pytest

from engine.atlas import Atlas
from engine.export import svg as svg_export
from engine.export.bake import Take
from engine.export.frames import FrameRenderer, camera_for
from engine.export.job import ExportError, Job, Still
from engine.export.pictures import part_picture
from engine.export.subject import Subject, digi
from tests.export import compare

SIZE = 256
MIN_IOU = 0.98
MAX_COLOR_DIFF = 6.5
XLINK = "{http://www.w3.org/1999/xlink}href"
HAIR = (
    "hair_back",
    "hair_side_l",
    "hair_side_r",
    "hair_top",
    *(f"hair_front_{i}" for i in range(1, 6)),
)


class Exported:
    """One subject and pose exported, with our GL render of the same still."""

    def __init__(self, subject: Subject, pose: Still | None = None) -> None:
        self.subject = subject
        self.reports: list[tuple[float, str]] = []
        job = Job(subject, size=SIZE, pose=pose, progress=lambda f, t: self.reports.append((f, t)))
        try:
            (out,) = svg_export.export_svg(job)
            self.name, self.data = out.name, out.data
            self.take = job.still()
            self.camera = camera_for(self.take, SIZE)
            self.ours = compare.straight(
                job.renderer(SIZE).render(self.take.frames[0], self.camera)
            )
        finally:
            job.close()
        self.cairo = compare.load(cairosvg.svg2png(bytestring=self.data))
        self.tree = ET.fromstring(self.data)

    def images(self) -> list[ET.Element]:
        return [e for e in self.tree.iter() if e.tag.endswith("}image")]

    def visible_paths(self, slots: Callable[[str], bool] = lambda name: True) -> set[str]:
        """`<picture path>.svg` of each part the still shows (of the slots `slots` takes)."""
        rig = self.subject.rig
        return {
            f"{rig.attachments[d.slot][d.attachment].path}.svg"
            for d in self.take.frames[0].draw
            if d.color[3] > 0 and slots(rig.slots[d.slot].name)
        }

    def sources(self) -> set[str]:
        return {e.get("data-source") for e in self.tree.iter() if e.get("data-source")}


@pytest.fixture(scope="module")
def idle() -> Exported:
    return Exported(digi())


def _tag(e: ET.Element) -> str:
    return e.tag.rsplit("}", 1)[-1]


# --- against our render -----------------------------------------------------------------------


def test_cairosvg_matches_our_render(idle: Exported) -> None:
    assert idle.name == "digi.svg"
    iou, diff = compare.iou(idle.cairo, idle.ours), compare.color_diff(idle.cairo, idle.ours)
    assert iou >= MIN_IOU, f"IoU {iou:.4f}"
    assert diff <= MAX_COLOR_DIFF, f"colour diff {diff:.2f}"
    # the progress goes forward and ends complete
    fractions = [f for f, _ in idle.reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def _chromium(page, runtime_server, data: bytes) -> np.ndarray:
    """The file as an <img>, drawn into a transparent SIZE x SIZE canvas."""
    runtime_server.put("avatar.svg", data)
    url = runtime_server.put(
        "index.html",
        f"""<!doctype html><canvas id="c" width="{SIZE}" height="{SIZE}"></canvas><script>
        window.done = (async () => {{
          const img = new Image(); img.src = "avatar.svg"; await img.decode();
          const c = document.getElementById("c");
          c.getContext("2d").drawImage(img, 0, 0, {SIZE}, {SIZE});
          return c.toDataURL("image/png");
        }})();</script>""",
    )
    page.goto(url)
    png = page.evaluate("() => window.done")
    return compare.load(base64.b64decode(png.split(",", 1)[1]))


def test_chromium_matches_our_render(idle: Exported, page, runtime_server, shot) -> None:
    chrome = _chromium(page, runtime_server, idle.data)
    iou, diff = compare.iou(chrome, idle.ours), compare.color_diff(chrome, idle.ours)
    shot("svg.png", compare.side_by_side(chrome, idle.cairo, idle.ours))
    assert iou >= MIN_IOU, f"IoU {iou:.4f}"
    assert diff <= MAX_COLOR_DIFF, f"colour diff {diff:.2f}"


# --- what the file holds ----------------------------------------------------------------------


def test_vector_well_formed_and_ids_unique(idle: Exported) -> None:
    root = idle.tree
    assert root.get("viewBox") == f"0 0 {SIZE} {SIZE}"
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    assert not dupes, f"ids used more than once: {dupes}"
    known = set(ids)
    for e in root.iter():
        ref = e.get(XLINK) or e.get("href")
        if ref and ref.startswith("#"):
            assert ref[1:] in known, f"<{_tag(e)}> refers to a missing #{ref[1:]}"
        for value in e.attrib.values():
            for target in re.findall(r"url\(#([^)]+)\)", value):
                assert target in known, f"<{_tag(e)}> refers to a missing #{target}"
    # vector: no pictures, and every visible part's source drawn from its own paths
    assert not idle.images(), "Digi's parts all have SVG sources: no <image> expected"
    parts = {p.removesuffix(".svg") for p in idle.visible_paths()}
    assert idle.sources() == idle.visible_paths()
    drawn = {g.get("data-source"): g for g in root.iter() if g.get("data-source")}
    for p in parts:
        source = ET.parse(svg_export.ART / f"{p}.svg").getroot()
        paths = [e.get("d") for e in source.iter() if e.get("d")]
        inlined = {e.get("d") for e in drawn[f"{p}.svg"].iter() if e.get("d")}
        assert paths and set(paths) <= inlined, f"{p}.svg: its paths are not all in the file"


def test_raster_only_where_the_art_is_raster() -> None:
    """A picture without an SVG source (here: Digi's head repainted in the atlas, as a worn
    face would) is embedded as exactly that picture; the rest stays vector."""
    base = digi()
    atlas = base.atlas
    image = atlas.image.copy()
    x, y, w, h = atlas.regions["digi/head"]
    image[y : y + h, x : x + w, :3] = 255 - image[y : y + h, x : x + w, :3]  # inverted colours
    # (alpha unchanged, so the base atlas's outlines still hold: none recomputed)
    bundle = dataclasses.replace(
        base.bundle, atlas=Atlas(image, dict(atlas.regions), dict(atlas.hulls)), face="t"
    )
    subject = Subject(bundle, "repainted")
    out = Exported(subject)
    (img,) = out.images()
    assert img.get("data-source") == "digi/head"
    png = base64.b64decode(img.get(XLINK).split(",", 1)[1])
    assert np.array_equal(compare.load(png), part_picture(subject, "head", "digi/head"))
    assert "digi/head.svg" not in out.sources() and "digi/nose.svg" in out.sources()
    iou, diff = compare.iou(out.cairo, out.ours), compare.color_diff(out.cairo, out.ours)
    assert iou >= MIN_IOU, f"IoU {iou:.4f}"
    assert diff <= MAX_COLOR_DIFF, f"colour diff {diff:.2f}"


def test_color_filters(idle: Exported) -> None:
    """The avatar's filter and a group's (hair) are baked into the sources' colours with the
    shader's HSV maths: the SVG matches our filtered render as closely as the plain one
    matches the plain render, and the unfiltered file would not (measured: 5.6 vs 40)."""
    subject = dataclasses.replace(
        digi(), colors={"avatar": (25.0, 1.25, 0.95, 1.1), "hair": (-70.0, 0.7, 1.1, 1.0)},
        groups={"hair": HAIR},
    )  # fmt: skip
    out = Exported(subject)
    diff = compare.color_diff(out.cairo, out.ours)
    unfiltered = compare.color_diff(idle.cairo, out.ours)
    assert diff <= MAX_COLOR_DIFF, f"colour diff {diff:.2f}"
    assert unfiltered > 3 * MAX_COLOR_DIFF, f"the filters change little ({unfiltered:.2f})"


def test_slot_tint_and_alpha(idle: Exported) -> None:
    """A slot's colour tints its art (the shirt made red) and its alpha fades it (the head at
    half): measured on the 2,240 pixels where they change our render, the SVG is 3.4 off;
    the same file without the tint measured 23, without the opacity 27, the unchanged
    still 47. Threshold 13 (twice the whole picture's), and well under the unchanged one."""
    rig = idle.subject.rig
    frame = idle.take.frames[0]
    colors = frame.colors.copy()
    shirt, head = rig.slot_index["shirt"], rig.slot_index["head"]
    colors[shirt] = (1.0, 0.35, 0.3, 1.0)
    colors[head, 3] = 0.5
    draw = tuple(
        dataclasses.replace(d, color=tuple(map(float, colors[d.slot]))) for d in frame.draw
    )
    changed = dataclasses.replace(frame, colors=colors, draw=draw)
    take = dataclasses.replace(idle.take, frames=(changed,))
    text = svg_export.svg_document(idle.subject, take, idle.camera)
    ours = _gl(idle.subject, take, idle)
    svg = compare.load(cairosvg.svg2png(bytestring=text.encode()))
    where = np.abs(ours.astype(int) - idle.ours.astype(int)).max(axis=-1) > 24
    assert where.sum() > 500, "the tint and alpha should change our render"
    diff = np.abs(svg.astype(int) - ours.astype(int))[where].mean()
    unchanged = np.abs(idle.cairo.astype(int) - ours.astype(int))[where].mean()
    assert diff <= 2 * MAX_COLOR_DIFF, f"{diff:.2f} where the tint and alpha show"
    assert unchanged > 4 * diff, f"the untinted file differs by {unchanged:.2f} only"


def _gl(subject: Subject, take: Take, like: Exported) -> np.ndarray:
    with FrameRenderer(subject, SIZE) as r:
        return compare.straight(r.render(take.frames[0], like.camera))


def test_another_pose_moves_what_it_should(idle: Exported) -> None:
    """Waving, half a second in, mouth open: matches our render of that pose, shows the open
    mouth's art (hidden at idle), and is not the idle pose."""
    out = Exported(digi(), Still("wave", 0.5, {"ParamMouthOpenY": 1.0}))
    iou, diff = compare.iou(out.cairo, out.ours), compare.color_diff(out.cairo, out.ours)
    assert iou >= MIN_IOU, f"IoU {iou:.4f}"
    assert diff <= MAX_COLOR_DIFF, f"colour diff {diff:.2f}"
    # the mouth the pose shows (the wave's own expression, over the parameter) is drawn,
    # the idle one is not; vector test: sources == visible parts, so this is the art shown
    mouths = out.visible_paths(lambda slot: slot.startswith("mouth"))
    assert mouths and mouths <= out.sources() - idle.sources()
    assert idle.visible_paths(lambda slot: slot.startswith("mouth")).isdisjoint(out.sources())
    # the idle still drawn by our renderer in the wave's frame: the arm is elsewhere
    with Job(digi(), size=SIZE).renderer(SIZE) as r:
        idle_here = compare.straight(r.render(idle.take.frames[0], out.camera))
    assert compare.iou(out.cairo, idle_here) < 0.95


def test_a_source_with_other_css_is_refused() -> None:
    text = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><style>path{fill:red}</style></svg>'
    with pytest.raises(ExportError, match=r"odd\.svg.*path"):
        svg_export._source_group(text, "odd.svg", "p1", lambda c: c)
