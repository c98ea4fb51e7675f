"""SVG export: the job's still pose as vector art, the parts drawn from their own SVG sources.

Digi's pictures are rasterized from hand-drawn SVGs (content/art/<rig>/<part>.svg; the
content build stretches each source's viewBox over its atlas picture, so a part's uv (0..1,
top-left origin) is the point `viewBox.xy + uv * viewBox.wh` of its source). An SVG export
therefore needs no pixels for such a part: each source is inlined once in `<defs>` (every id
prefixed, its class styles turned into `style` attributes so sources cannot collide) and
every draw item places it with an affine transform, source units -> world (the attachment's
geometry) -> output pixels (the `Camera`):

- a region attachment, or a mesh whose triangles all share one affine map (a rigid part),
  is one `<use>` with one transform: exact;
- a skinned mesh bends its picture: each triangle's map (uv -> skinned vertex) is affine and
  exact, so triangles are grouped by map (a triangle joins a group whose map puts its
  corners within GROUP_TOL pixels of where they are) and each group is the source drawn
  through a clip of its triangles, grown by GROW pixels so no seam shows between groups.

A part whose picture has no SVG source (a generated face's pictures, recoloured art) is
embedded once as a PNG (`part_picture`, filters baked in) and placed the same way.

Colours: a slot's tint and the subject's colour filters (engine/export/pictures.py's
`color_filter`, the shader's maths) are applied to each fill / stroke colour of the source
itself, which is exact for flat colours (Digi's art has no gradients or images); SVG's
`feColorMatrix` hueRotate / saturate are luminance-based, not the HSV maths we use, and
cairosvg ignores filters, so none are used. A slot's alpha is the item's group `opacity`;
non-normal blend modes become `mix-blend-mode` (additive as `plus-lighter`; renderers without
compositing support, cairosvg among them, draw those parts normally). A render style
(outline, bands) is a pass over rendered pixels and is not carried (docs/EXPORT.md).
"""

from __future__ import annotations

import base64
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageColor

from engine.assets import ROOT, load_base_atlas
from engine.export.bake import Take
from engine.export.frames import Camera, camera_for
from engine.export.job import ExportError, Job, Output
from engine.export.pictures import color_filter, part_picture, picture_key
from engine.export.subject import NEUTRAL, Subject
from engine.rig.data import BlendMode
from engine.session import DrawItem

ART = ROOT / "content" / "art"
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
HREF = f"{{{XLINK_NS}}}href"

# A mesh triangle joins a group when the group's affine map puts its three corners within
# this many output pixels of their skinned positions: below what anti-aliasing shows, and
# it lets a rigid or nearly rigid stretch of a mesh be one clip group instead of many.
MIN_AREA = 2e-3  # px² (twice a triangle's area): smaller draws nothing anyone sees
GROUP_TOL = 0.25
# Clip triangles are grown by this many output pixels (every edge moved out) so that two
# groups meeting along an edge overlap instead of leaving an anti-aliased seam.
GROW = 0.5
_MAX_GROW = 4.0  # a sliver's homothety factor is capped (its corners would shoot far out)

_BLEND_CSS = {
    BlendMode.ADDITIVE: "plus-lighter",
    BlendMode.MULTIPLY: "multiply",
    BlendMode.SCREEN: "screen",
}
_PAINT_PROPS = ("fill", "stroke", "stop-color", "flood-color", "color")
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_URL = re.compile(r"url\(\s*#([^)\s]+)\s*\)")

Tint = tuple[float, float, float]
ColorMap = Callable[[tuple[float, float, float]], tuple[float, float, float]]

ET.register_namespace("xlink", XLINK_NS)


def export_svg(job: Job) -> list[Output]:
    """The job's still pose as `<subject.name>.svg`, `job.size` pixels square."""
    job.report(0.0, "posing the still")
    take = job.still()
    camera = camera_for(take, job.size)
    job.report(0.2, "placing the parts' art")
    text = svg_document(job.subject, take, camera, lambda f: job.report(0.2 + 0.8 * f, "parts"))
    job.report(1.0, "done")
    return [Output(f"{job.subject.name}.svg", text.encode("utf-8"))]


def svg_document(
    subject: Subject, take: Take, camera: Camera, progress: Callable[[float], None] | None = None
) -> str:
    """The first frame of `take` as an SVG document in `camera`'s pixel frame."""
    doc = _Document(subject, camera)
    items = take.frames[0].draw
    for i, item in enumerate(items):
        doc.add(item)
        if progress:
            progress((i + 1) / max(1, len(items)))
    return doc.text()


# --- sources --------------------------------------------------------------------------------


def vector_source(subject: Subject, path: str) -> str | None:
    """The SVG text the picture at atlas `path` was rasterized from, or None when it has
    none: no `content/art/<path>.svg`, or the subject's picture is not the committed one
    (a worn face or recoloured art replaced it, so the source no longer shows it)."""
    text = _read_source(path)
    if text is None:
        return None
    if subject.bundle.atlas is not None and not _same_picture(subject, path):
        return None
    return text


@cache
def _read_source(path: str) -> str | None:
    file = ART / f"{path}.svg"
    if ".." in Path(path).parts or not file.is_file():
        return None
    return file.read_text(encoding="utf-8")


def _same_picture(subject: Subject, path: str) -> bool:
    atlas = subject.atlas
    try:
        base = load_base_atlas(subject.rig.name)
    except Exception:  # a rig without a committed atlas: nothing to be the same as
        return False
    if path not in base.regions or path not in atlas.regions:
        return False
    x, y, w, h = atlas.regions[path]
    bx, by, bw, bh = base.regions[path]
    if (w, h) != (bw, bh):
        return False
    return bool(
        np.array_equal(atlas.image[y : y + h, x : x + w], base.image[by : by + h, bx : bx + w])
    )


def _color_map(subject: Subject, slot: str, tint: Tint) -> ColorMap:
    """The shader's order: the texel times the slot's tint, then the part's filter, then the
    avatar's (shaders/avatar.frag)."""
    part, whole = subject.slot_filters(slot)

    def apply(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
        c = np.array(rgb, np.float64) * np.array(tint)
        c = color_filter(color_filter(c, part), whole)
        return float(c[0]), float(c[1]), float(c[2])

    return apply


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(min(1.0, max(0.0, v)) * 255):02x}" for v in rgb)


def _recolor_value(value: str, cmap: ColorMap) -> str:
    v = value.strip()
    if v.lower() in ("none", "inherit", "transparent", "currentcolor") or v.startswith("url("):
        return value
    try:
        r, g, b = ImageColor.getrgb(v)[:3]
    except ValueError:
        return value
    return _hex(cmap((r / 255, g / 255, b / 255)))


def _styles(root: ET.Element, file: str) -> dict[str, str]:
    """Class name -> its declarations, from the source's `<style>` blocks (Digi's art uses
    plain `.class` rules only; anything else would silently lose its styling)."""
    rules: dict[str, str] = {}
    for style in root.iter(f"{{{SVG_NS}}}style"):
        css = re.sub(r"/\*.*?\*/", "", style.text or "", flags=re.S)
        for selectors, body in _RULE.findall(css):
            for sel in selectors.split(","):
                sel = sel.strip()
                if not re.fullmatch(r"\.[\w-]+", sel):
                    raise ExportError(
                        f'{file}: the SVG export reads plain ".class" rules only, not "{sel}"'
                    )
                rules[sel[1:]] = rules.get(sel[1:], "") + body.strip().rstrip(";") + ";"
    return rules


def _restyle(decls: str, cmap: ColorMap, prefix: str) -> str:
    out = []
    for decl in decls.split(";"):
        if ":" not in decl:
            continue
        name, value = (s.strip() for s in decl.split(":", 1))
        if name in _PAINT_PROPS:
            value = _recolor_value(value, cmap)
        out.append(f"{name}:{_URL.sub(lambda m: f'url(#{prefix}{m.group(1)})', value)}")
    return ";".join(out)


def _source_group(text: str, file: str, gid: str, cmap: ColorMap) -> tuple[ET.Element, ET.Element]:
    """The source as (a `<g id=gid>` of its content, clipped to its viewBox; that clip),
    every id prefixed with `gid-`, classes turned into `style`, colours mapped by `cmap`."""
    root = ET.fromstring(text)
    vx, vy, vw, vh = (float(v) for v in root.get("viewBox", "").replace(",", " ").split())
    rules = _styles(root, file)
    prefix = f"{gid}-"
    for el in root.iter():
        if el.get("id"):
            el.set("id", prefix + el.get("id", ""))
        for attr in (HREF, "href"):
            ref = el.get(attr)
            if ref and ref.startswith("#"):
                el.set(attr, "#" + prefix + ref[1:])
        classes = (el.attrib.pop("class", "") or "").split()
        style = "".join(rules.get(c, "") for c in classes) + (el.get("style") or "")
        if style:
            el.set("style", _restyle(style, cmap, prefix))
        for key, value in list(el.attrib.items()):
            if key in _PAINT_PROPS:
                el.set(key, _recolor_value(value, cmap))
            elif "url(" in value and key != "style":
                el.set(key, _URL.sub(lambda m: f"url(#{prefix}{m.group(1)})", value))
    clip = ET.Element("clipPath", id=f"{gid}-vb")
    ET.SubElement(clip, "rect", x=_n(vx), y=_n(vy), width=_n(vw), height=_n(vh))
    group = ET.Element("g", id=gid)
    group.set("clip-path", f"url(#{gid}-vb)")
    for child in root:
        if child.tag in (f"{{{SVG_NS}}}style", f"{{{SVG_NS}}}metadata", f"{{{SVG_NS}}}title"):
            continue
        group.append(child)
    group.set("data-source", file)
    _strip_ns(group)
    return group, clip


def _strip_ns(el: ET.Element) -> None:
    """Sources are SVG-namespaced; the output writes plain SVG tags (the default namespace)."""
    for e in el.iter():
        if isinstance(e.tag, str) and e.tag.startswith(f"{{{SVG_NS}}}"):
            e.tag = e.tag[len(SVG_NS) + 2 :]


def _n(v: float, digits: int = 3) -> str:
    s = f"{v:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


# --- the document ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Placed:
    """A defined picture: its id and its frame (x, y, width, height) in its own units."""

    id: str
    box: tuple[float, float, float, float]


class _Document:
    def __init__(self, subject: Subject, camera: Camera) -> None:
        self.subject = subject
        self.camera = camera
        w, h = camera.width, camera.height
        self.root = ET.Element(
            "svg", width=str(w), height=str(h), viewBox=f"0 0 {w} {h}", version="1.1"
        )
        # tags are written unqualified (sources' are stripped too), so the namespace is
        # declared by hand: without it a browser will not take the file as an image
        self.root.set("xmlns", SVG_NS)
        self.defs = ET.SubElement(self.root, "defs")
        self.body = ET.SubElement(self.root, "g", id="avatar")
        self._pictures: dict[tuple, _Placed] = {}
        self._clips = 0

    def text(self) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(self.root, encoding="unicode")
            + "\n"
        )

    def add(self, item: DrawItem) -> None:
        if item.color[3] <= 0.0 or len(item.triangles) == 0:
            return  # the renderer discards a transparent slot
        rig = self.subject.rig
        slot = rig.slots[item.slot]
        att = rig.attachments[item.slot][item.attachment]
        placed = self._picture(slot.name, att.path, tuple(map(float, item.color[:3])))  # type: ignore[arg-type]
        px = self.camera.to_pixels(item.vertices)
        bx, by, bw, bh = placed.box
        src = np.asarray(item.uvs, np.float64) * (bw, bh) + (bx, by)
        groups = _group_triangles(src, px, np.asarray(item.triangles).reshape(-1, 3))
        if not groups:
            return
        parent = self.body
        wrap: dict[str, str] = {"data-slot": slot.name}
        style = []
        if item.color[3] < 1.0:
            wrap["opacity"] = _n(float(item.color[3]), 4)
        if item.blend in _BLEND_CSS:
            style.append(f"mix-blend-mode:{_BLEND_CSS[item.blend]}")
        if style:
            wrap["style"] = ";".join(style)
        parent = ET.SubElement(self.body, "g", wrap)
        whole = len(groups) == 1 and _covers_box(src)
        for matrix, tris in groups:
            target = parent
            if not whole:
                target = ET.SubElement(parent, "g")
                target.set("clip-path", f"url(#{self._clip(px, tris, grow=len(groups) > 1)})")
            use = ET.SubElement(target, "use")
            use.set(HREF, f"#{placed.id}")
            use.set("transform", "matrix(" + " ".join(_n(v, 5) for v in matrix.T.ravel()) + ")")

    def _clip(self, px: np.ndarray, tris: np.ndarray, grow: bool) -> str:
        self._clips += 1
        cid = f"k{self._clips}"
        clip = ET.SubElement(self.defs, "clipPath", id=cid)
        d = []
        for t in tris:
            p = _grown(px[t]) if grow else px[t]
            if np.cross(p[1] - p[0], p[2] - p[0]) < 0:
                # one winding for all: grown triangles overlap, and under the nonzero rule
                # two overlapping triangles of opposite windings would cancel (a hole)
                p = p[::-1]
            d.append("M" + "L".join(f"{_n(x, 2)} {_n(y, 2)}" for x, y in p) + "Z")
        ET.SubElement(clip, "path", d="".join(d))
        return cid

    def _picture(self, slot: str, path: str, tint: Tint) -> _Placed:
        """The picture at `path` as slot `slot` shows it, defined once per look."""
        s = self.subject
        tint = tuple(round(c, 4) for c in tint)  # type: ignore[assignment]
        key = (*picture_key(s, slot, path), tint)
        if key in self._pictures:
            return self._pictures[key]
        pid = f"p{len(self._pictures) + 1}"
        text = vector_source(s, path)
        if text is not None:
            cmap = _color_map(s, slot, tint)
            group, clip = _source_group(text, f"{path}.svg", pid, cmap)
            self.defs.append(clip)
            self.defs.append(group)
            vb = ET.fromstring(text).get("viewBox", "").replace(",", " ").split()
            box = tuple(float(v) for v in vb)
        else:
            pic = _raster_picture(s, slot, path, tint)
            h, w = pic.shape[:2]
            image = ET.SubElement(self.defs, "image", id=pid, width=str(w), height=str(h))
            image.set("preserveAspectRatio", "none")
            image.set("data-source", path)
            image.set(HREF, "data:image/png;base64," + base64.b64encode(_png(pic)).decode("ascii"))
            box = (0.0, 0.0, float(w), float(h))
        placed = _Placed(pid, box)  # type: ignore[arg-type]
        self._pictures[key] = placed
        return placed


def _raster_picture(subject: Subject, slot: str, path: str, tint: Tint) -> np.ndarray:
    """`part_picture` with the slot's tint applied before the filters (the shader's order)."""
    if tint == (1.0, 1.0, 1.0):
        return part_picture(subject, slot, path)
    x, y, w, h = subject.atlas.regions[path]
    px = subject.atlas.image[y : y + h, x : x + w]
    rgb = px[..., :3].astype(np.float64) / 255 * np.array(tint)
    part, whole = subject.slot_filters(slot)
    if (part, whole) != (NEUTRAL, NEUTRAL):
        rgb = color_filter(color_filter(rgb, part), whole)
    return np.concatenate([np.round(rgb * 255).astype(np.uint8), px[..., 3:4]], axis=2)


def _png(px: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(px, "RGBA").save(buf, "PNG", optimize=True)
    return buf.getvalue()


# --- geometry -------------------------------------------------------------------------------


def _affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """The (2, 3) map taking the triangle `src` (3, 2) onto `dst`; None when `src` or `dst`
    has no visible area (a collapsed triangle: a closed eyelid's, a shut mouth's). Such a
    map is nearly singular, and cairo refuses a whole document over one it cannot invert."""
    s = np.hstack([src, np.ones((3, 1))])
    if abs(np.linalg.det(s)) < 1e-12:
        return None
    d = dst[1:] - dst[0]
    if abs(d[0, 0] * d[1, 1] - d[0, 1] * d[1, 0]) < MIN_AREA:
        return None
    m = np.linalg.solve(s, dst).T
    if abs(np.linalg.det(m[:, :2])) < 1e-6:
        return None
    return m


def _group_triangles(
    src: np.ndarray, px: np.ndarray, tris: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Triangles grouped by affine map: [(map (2, 3), triangles (k, 3))]."""
    groups: list[tuple[np.ndarray, list[np.ndarray]]] = []
    for t in tris:
        m = _affine(src[t], px[t])
        if m is None:
            continue
        s = np.hstack([src[t], np.ones((3, 1))])
        # only the latest group: a mesh may overlap itself on screen (a folded strand), and
        # its triangles must stay in the renderer's order
        if groups and np.abs(s @ groups[-1][0].T - px[t]).max() <= GROUP_TOL:
            groups[-1][1].append(t)
        else:
            groups.append((m, [t]))
    return [(m, np.array(ts)) for m, ts in groups]


def _covers_box(src: np.ndarray) -> bool:
    """Whether the item's vertices are its picture's four corners (a region attachment:
    drawn whole, no clip needed)."""
    if len(src) != 4:
        return False
    lo, hi = src.min(axis=0), src.max(axis=0)
    on_corner = np.isclose(src, lo) | np.isclose(src, hi)
    return bool(on_corner.all())


def _grown(p: np.ndarray) -> np.ndarray:
    """Triangle `p` (3, 2) with every edge moved GROW pixels outwards: a homothety about its
    incentre by (r + GROW) / r, r the inradius."""
    a = np.linalg.norm(p[1] - p[2])
    b = np.linalg.norm(p[2] - p[0])
    c = np.linalg.norm(p[0] - p[1])
    perimeter = a + b + c
    area = abs(np.cross(p[1] - p[0], p[2] - p[0])) / 2
    if perimeter <= 0 or area <= 0:
        return p
    centre = (a * p[0] + b * p[1] + c * p[2]) / perimeter
    r = 2 * area / perimeter
    return centre + (p - centre) * min(_MAX_GROW, (r + GROW) / r)
