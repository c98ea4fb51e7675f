"""Draws a pose with GPU skinning into an RGBA picture with a transparent background.

Every attachment of the rig (meshes, and regions as 4-vertex meshes on their slot's bone)
sits in one static vertex buffer built once; a frame uploads only the bone transforms (a
2-row float texture) and per-slot colours, then draws the visible attachments in slot order
in as few draw calls as blend modes allow (one, usually): each vertex knows its slot, and
triangles within a draw are blended in order. Per-draw overhead dominates on llvmpipe, so
this matters more than fill. Output is premultiplied RGBA read back as a numpy array.

Fill is the rest of a CPU frame's cost, so a frame shades as few fragments as it can and
leaves the picture as it was (tests/gl/test_frame_cost.py):
- slots hidden by their colour's alpha are not drawn at all;
- each picture is drawn as its opaque hull (engine/hulls.py) grown for the mip level it is
  sampled at, read off the texture's own mip levels: a polygon for a region, the mesh cut
  down to it for a mesh (each cut corner shared by the triangles that meet there, so no
  T-junction opens a crack; where a cut would leave a sliver, the mesh is only culled);
- an occlusion pre-pass writes each opaque part's fully opaque core (a rectangle, clipped
  mesh triangles for meshes) into a depth buffer, and the colour pass shades only what no
  later part hides: llvmpipe tests depth before running the fragment shader;
- the colour filters are a shader variant compiled in only while some filter is on.

A render style (engine/render/looks.py) draws the avatar into a texture of its own and then
runs the style pass (shaders/style.frag) from it into the output, over the pixels the frame
can touch; the irises' highlights are drawn by the avatar pass's eye variant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import moderngl
import numpy as np

from engine.atlas import Atlas
from engine.hulls import (
    MipSupport,
    clip_triangles,
    core_rectangle,
    fan,
    grow,
    mip_reach,
    opaque_core,
    slender,
    support_polygon,
)
from engine.kernels.extent import frame_bounds, hull_levels
from engine.kernels.layout import WA, WB, WC, WD, WX, WY
from engine.kernels.skinning import skin_ranges
from engine.memo import Memo, content_key
from engine.memo_store import DiskStore, default_dir, source_salt
from engine.pose.pose import Pose
from engine.render.context import is_software
from engine.render.framing import FRAMINGS, Rect, framing_rect, view_matrix
from engine.render.looks import EYE_HIGHLIGHTS, RenderStyle
from engine.render.shaders import program
from engine.rig.data import BlendMode, MeshAttachment, RegionAttachment, RigData, SlotData
from engine.rig.loader import setup_world_transforms

ColorFilter = tuple[float, float, float, float]  # hue degrees, saturation, brightness, contrast
NO_FILTER: ColorFilter = (0.0, 1.0, 1.0, 1.0)
T = TypeVar("T")

_BLEND = {  # premultiplied-alpha blend functions per slot blend mode
    BlendMode.NORMAL: (moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA),
    BlendMode.ADDITIVE: (moderngl.ONE, moderngl.ONE),
    BlendMode.MULTIPLY: (moderngl.DST_COLOR, moderngl.ONE_MINUS_SRC_ALPHA),
    BlendMode.SCREEN: (moderngl.ONE, moderngl.ONE_MINUS_SRC_COLOR),
}
_VERTEX_FORMAT = "4i 4f 4f 4f 2f 1i 1i"
_ATTRS = ("in_bones", "in_weights", "in_p01", "in_p23", "in_uv", "in_slot", "in_anchor")
MAX_SLOTS = 128  # must match shaders/avatar.vert
# The depth buffer is cleared only once every DEPTH_FRAMES draws (AvatarRenderer._clear):
# each draw's slots lie DEPTH_STEP apart in window depth (16 steps of a 24-bit buffer, and
# exact in the shader's float32), every draw nearer than all the draws before it.
DEPTH_STEP = 2.0**-20
DEPTH_FRAMES = round(1 / DEPTH_STEP) // (MAX_SLOTS + 1) - 1
# a slot drawn within a picture this many times its area is a feature of it (_slot_shapes)
FEATURE_AREA = 2.0
# The coarsest mip level hulls and cores are made for: a picture drawn smaller than 1/16
# of its size is drawn whole, with no core (grown that far, a hull saves little).
MAX_HULL_LEVEL = 4
HULL_HOLD = 120  # frames a region's coarsest hull level is held (see _hull_levels)
# directions of a grown hull's sides: an octagon, 6 triangles (llvmpipe pays per triangle
# too: fewer, fatter ones)
HULL_DIRECTIONS = 8
# Drawn polygons keep away from slivers (engine/hulls.py `slender`): where one would be
# needed, the whole triangle or rectangle is drawn instead, which shows the same picture.
MAX_SLENDER = 8.0
# A mesh cut down to its hull (RigGeometry._cut) may keep thinner pieces than a region's
# polygon: its cut corners lie at exact barycentric weights of the mesh's own triangles.
# Measured over 540 frames of all framings on llvmpipe (141M pixels): at this bound 3
# pixels moved by 3-4 levels against the whole meshes, none by more (8: none by more than
# 2, but most meshes were left uncut; no bound: 12 pixels, up to 7 levels).
CUT_SLENDER = 64.0
MAX_GROW = 4  # times a mesh's hull is grown to take in corners that would leave slivers


@dataclass(frozen=True, slots=True)
class GpuMesh:
    """Where one attachment's vertices and triangle indices live in the static buffers."""

    first_vertex: int
    vertex_count: int
    first_index: int
    index_count: int


@dataclass(frozen=True, slots=True)
class RegionHulls:
    """A region attachment's opaque hull grown for mip levels 0..MAX_HULL_LEVEL, and its
    opaque core at each."""

    bone: int
    texel: np.ndarray  # (2, 2): bone-local steps of one texel along x (column 0) and y
    levels: tuple[GpuMesh, ...]
    cores: tuple[GpuMesh | None, ...]  # per level, the opaque core (engine/hulls.py)


@dataclass(frozen=True, slots=True)
class MeshHulls:
    """A mesh attachment per mip level 0..MAX_HULL_LEVEL: `levels`, its triangles less
    those wholly outside its picture's hull grown for that level; `cores`, its triangles
    clipped to the picture's opaque core (new corners after the mesh's own range)."""

    offset: int  # in the rig's skin buffers
    count: int
    texel_inverse: np.ndarray  # (m, 2, 2): per triangle, its edges' texel steps inverted
    triangles: np.ndarray  # (m, 3)
    levels: tuple[GpuMesh, ...]
    cores: tuple[GpuMesh | None, ...]  # per level, the opaque core (engine/hulls.py)


class RigGeometry:
    """The static, per-rig vertex data: built once and shared by every renderer of the rig.

    Besides each attachment's own vertices (`meshes`), every picture with an affine map
    gets, per mip level 0..MAX_HULL_LEVEL, its opaque hull grown for that level (what to
    draw instead of the whole picture) and its fully opaque core (what hides the parts
    behind it: the occlusion pre-pass); see engine/hulls.py and AvatarRenderer.draw."""

    def __init__(self, rig: RigData, atlas: Atlas, support: MipSupport | None = None) -> None:
        """`support`: the atlas texture's mip levels as the GPU samples them, for hulls and
        cores exactly as large as they must be; without it they are grown by `mip_reach`,
        an upper bound."""
        if len(rig.slots) > MAX_SLOTS:
            raise ValueError(f"rig has {len(rig.slots)} slots; the renderer supports {MAX_SLOTS}")
        self.meshes: dict[tuple[int, str], GpuMesh] = {}
        # attachments whose picture is fully transparent (a worn face's stand-ins for the
        # parts it replaces): never drawn, their pixels would cost fill for nothing
        self.blank: set[tuple[int, str]] = set()
        self.by_skin_offset: dict[int, GpuMesh] = {}  # rig skin-buffer offset -> GPU range
        # region attachments drawn as their opaque hull (engine/hulls.py) where the scale
        # allows; `meshes` keeps their 4 corners for the rest
        self.hulls: dict[tuple[int, str], RegionHulls] = {}
        # mesh attachments less their triangles wholly outside that hull, and their cores
        # (clipped triangles: new corners interpolate skinning and deforms exactly)
        self.mesh_hulls: dict[tuple[int, str], MeshHulls] = {}
        # rig skin-buffer offset -> the new corners' (first vertex, sources, weights)
        self.derived: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = {}
        self._support = support
        self._rows: dict[str, list[np.ndarray]] = {k: [] for k in "bwpuisa"}
        self._at = [0, 0]  # vertices, indices so far
        self._grown: dict[str, list[np.ndarray]] = {}  # path -> hull grown per level
        # path -> per level, the picture's fully opaque core (a rectangle, texels) or None
        self._cores: dict[str, list[np.ndarray | None]] = {}
        for slot in rig.slots:
            for name, att in rig.attachments[slot.index].items():
                if att.path not in atlas.regions:
                    raise KeyError(
                        f'slot "{slot.name}" attachment "{name}": no atlas region "{att.path}"'
                    )
                self._attachment(rig, atlas, slot, name, att)
        self.core_index_bytes = 4 * sum(
            c.index_count
            for h in (*self.hulls.values(), *self.mesh_hulls.values())
            for c in h.cores
            if c
        )
        rows = self._rows
        self.bones = np.concatenate(rows["b"]).astype(np.int32)
        self.weights = np.concatenate(rows["w"]).astype(np.float32)
        self.local = np.concatenate(rows["p"]).astype(np.float32)  # (V, 8): p0 p1 p2 p3
        self.uvs = np.concatenate(rows["u"]).astype(np.float32)
        self.indices = np.concatenate(rows["i"]).astype(np.int32)
        self.slots = np.concatenate(rows["s"]).astype(np.int32)
        self.anchors = np.concatenate(rows["a"]).astype(np.int32)
        del self._rows, self._grown, self._cores, self._support
        _PIECES.flush()  # what this rig added, kept on disk for the next process

    def _add(
        self, slot: SlotData, b: np.ndarray, w: np.ndarray, p: np.ndarray, uv: np.ndarray
    ) -> int:
        """Append vertices (skinning rows, atlas uvs) of `slot`; their first index."""
        rows = self._rows
        rows["b"].append(b)
        rows["w"].append(w)
        rows["p"].append(p.reshape(-1, 8))
        rows["u"].append(uv)
        rows["s"].append(np.full(len(b), slot.index))
        rows["a"].append(np.full(len(b), slot.bone))
        self._at[0] += len(b)
        return self._at[0] - len(b)

    def _add_triangles(self, first_vertex: int, count: int, tri: np.ndarray) -> GpuMesh:
        tri = np.asarray(tri, np.int64).ravel()
        self._rows["i"].append(tri)
        self._at[1] += tri.size
        return GpuMesh(first_vertex, count, self._at[1] - tri.size, tri.size)

    def _attachment(
        self,
        rig: RigData,
        atlas: Atlas,
        slot: SlotData,
        name: str,
        att: MeshAttachment | RegionAttachment,
    ) -> None:
        if isinstance(att, MeshAttachment):
            sl = slice(att.offset, att.offset + att.count)
            b, w, p = rig.skin_bones[sl], rig.skin_weights[sl], rig.skin_local[sl]
            uv, tri = att.uvs, att.triangles
        else:
            b, w, p = _rigid(slot.bone, att.corners)
            uv, tri = att.uvs, fan(4)
        x, y, rw, rh = atlas.regions[att.path]
        uv_rect = atlas.uv_rect(att.path)
        key = (slot.index, name)
        first = self._add(slot, b, w, p, _to_atlas(uv, uv_rect))
        self.meshes[key] = self._add_triangles(first, len(b), np.asarray(tri) + first)
        if isinstance(att, MeshAttachment):
            self.by_skin_offset[att.offset] = self.meshes[key]
        if not atlas.image[y : y + rh, x : x + rw, 3].any():
            self.blank.add(key)
            return
        if att.path not in self._grown:  # left and right often share a picture
            self._grown[att.path], self._cores[att.path] = self._picture_pieces(atlas, att.path)
        polys, cores = self._grown[att.path], self._cores[att.path]
        if isinstance(att, MeshAttachment):
            texel = np.asarray(uv, np.float64) * (rw, rh)  # corners in the picture's texels
            mesh = (att, b, w, p, texel, uv_rect, first)
            levels = [
                self.meshes[key]
                if _fills_box(poly, rw, rh)
                else self._cut(slot, mesh, poly, (rw, rh))
                for poly in polys
            ]
            mesh_cores = [None if rect is None else self._clip(slot, mesh, rect) for rect in cores]
            self.mesh_hulls[key] = MeshHulls(
                att.offset,
                att.count,
                _texel_inverses(texel, att.triangles),
                att.triangles,
                tuple(levels),
                tuple(m if m is None or m.index_count else None for m in mesh_cores),
            )
            return
        fit = _affine_fit(att.uvs, att.corners)
        if fit is None:
            return
        to_uv = np.diag([1.0 / rw, 1.0 / rh])
        region = (fit, to_uv, uv_rect)
        ranges = [
            self.meshes[key]
            if _fills_box(poly, rw, rh) or (slender(poly[fan(len(poly))]) > MAX_SLENDER).any()
            else self._polygon(slot, region, poly)
            for poly in polys
        ]
        region_cores = [None if c is None else self._polygon(slot, region, c) for c in cores]
        # texel steps in the bone's frame: how small the picture is drawn
        self.hulls[key] = RegionHulls(
            slot.bone, (to_uv @ fit[:2]).T, tuple(ranges), tuple(region_cores)
        )

    def _picture_pieces(
        self, atlas: Atlas, path: str
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        """The picture's hull grown for each mip level and its opaque core per level (a
        rectangle, texels), from the texture's own mip levels where they could be read."""
        x, y, rw, rh = atlas.regions[path]
        if self._support is not None:
            masks = self._support.masks((x, y, rw, rh), MAX_HULL_LEVEL + 1)

            def from_support() -> tuple[list[np.ndarray], list[np.ndarray | None]]:
                return (
                    [support_polygon(seen, HULL_DIRECTIONS) for seen, _ in masks],
                    [_rect_polygon(core_rectangle(solid)) for _, solid in masks],
                )

            key = content_key("support", HULL_DIRECTIONS, *(m for pair in masks for m in pair))
            return _PIECES.get(key, lambda: _frozen(from_support()))
        hull = atlas.hull(path)
        alpha = atlas.image[y : y + rh, x : x + rw, 3]

        def from_bounds() -> tuple[list[np.ndarray], list[np.ndarray | None]]:
            reaches = [mip_reach(lv) for lv in range(MAX_HULL_LEVEL + 1)]
            return (
                [grow(hull, r, (rw, rh), simplify=False, directions=HULL_DIRECTIONS)
                 for r in reaches],
                [_rect_polygon(opaque_core(alpha, r)) for r in reaches],
            )  # fmt: skip

        key = content_key("bounds", HULL_DIRECTIONS, MAX_HULL_LEVEL, hull, alpha)
        return _PIECES.get(key, lambda: _frozen(from_bounds()))

    def _polygon(
        self, slot: SlotData, region: tuple[np.ndarray, np.ndarray, tuple], poly: np.ndarray
    ) -> GpuMesh:
        """A convex polygon (picture texels) of a region attachment, as a triangle fan."""
        fit, to_uv, uv_rect = region
        puv = poly @ to_uv
        pb, pw, pp = _rigid(slot.bone, np.column_stack([puv, np.ones(len(puv))]) @ fit)
        pfirst = self._add(slot, pb, pw, pp, _to_atlas(puv, uv_rect))
        return self._add_triangles(pfirst, len(pb), fan(len(puv)) + pfirst)

    def _cull(self, mesh: tuple, poly: np.ndarray) -> GpuMesh:
        """A mesh attachment's triangles less those wholly outside `poly` (picture texels):
        what is drawn where cutting them (`_cut`) would leave slivers, which tilt the
        texture coordinates they interpolate."""
        att, _, _, _, texel, _, first = mesh
        side = _sides(texel, poly)  # (n, k): >= 0 inside edge k
        out = (side[np.asarray(att.triangles)] < 0).all(axis=1).any(axis=1)
        tri = np.asarray(att.triangles)[~out] + first
        return self._add_triangles(first, att.count, tri)

    def _cut(self, slot: SlotData, mesh: tuple, poly: np.ndarray, size: tuple[int, int]) -> GpuMesh:
        """A mesh attachment's triangles cut down to its picture's hull `poly` (picture
        texels) for the colour pass: only what lies inside is shaded, and the picture does
        not change, as the cut pieces fit together exactly (engine/hulls.py
        `clip_triangles`) and interpolate skinning and texture coordinates as their whole
        triangles did. Where a cut would leave a sliver (a hull edge passing close by a
        corner of the mesh), the hull is grown to take that corner in; a mesh that still
        has one, or a corner of more than 4 bones, is culled instead (`_cull`)."""
        att, b, w, p, texel, _, _ = mesh
        key = content_key("cut", poly, texel, att.triangles, b, w, p, size)
        cull, poly = _PIECES.get(key, lambda: _frozen(self._cut_plan(mesh, poly, size)))
        return self._cull(mesh, poly) if cull else self._clip(slot, mesh, poly)

    def _cut_plan(
        self, mesh: tuple, poly: np.ndarray, size: tuple[int, int]
    ) -> tuple[bool, np.ndarray]:
        """For `_cut`: whether to cull instead, and the hull grown past its slivers."""
        _, b, w, p, texel, _, _ = mesh
        for _ in range(MAX_GROW):
            src, bary, ctri = self._clipped_by(mesh, poly)
            corners = np.concatenate([texel, (bary[:, :, None] * texel[src]).sum(axis=1)])
            thin = slender(corners[ctri]) > CUT_SLENDER
            if not thin.any():
                break
            # the mesh's own corners at those slivers (theirs, and those their cut corners
            # lie between) that the hull leaves out
            ids = ctri[thin].ravel()
            n = len(texel)
            near = np.unique(np.concatenate([ids[ids < n], src[ids[ids >= n] - n].ravel()]))
            outside = near[(_sides(texel[near], poly) < 0).any(axis=1)]
            if not len(outside):
                return True, poly
            poly = grow(
                np.concatenate([poly, texel[outside]]), 0.0, size, simplify=False,
                directions=HULL_DIRECTIONS,
            )  # fmt: skip
        else:
            return True, poly
        return not _combine_influences(b, w, p, src, bary)[3].all(), poly

    def _clipped_by(self, mesh: tuple, poly: np.ndarray) -> tuple[np.ndarray, ...]:
        att, _, _, _, texel, _, _ = mesh
        key = content_key("clip", poly, texel, att.triangles)
        return _PIECES.get(key, lambda: _frozen(clip_triangles(texel, att.triangles, poly)))

    def _clip(self, slot: SlotData, mesh: tuple, poly: np.ndarray) -> GpuMesh:
        """A mesh attachment's triangles cut down to `poly` (picture texels), for the
        depth-only pre-pass: their new corners interpolate skinning (and, per frame,
        deforms) exactly."""
        att, b, w, p, _, uv_rect, first = mesh
        src, bary, ctri = self._clipped_by(mesh, poly)
        key = content_key("influences", b, w, p, src, bary)
        cb, cw, cp, ok = _PIECES.get(key, lambda: _frozen(_combine_influences(b, w, p, src, bary)))
        if not ok.all():  # > 4 bones: no exact corner, so that piece occludes nothing
            bad = len(b) + np.flatnonzero(~ok)
            ctri = ctri[~np.isin(ctri, bad).any(axis=1)]
        cuv = (bary[:, :, None] * np.asarray(att.uvs)[src]).sum(axis=1)
        nfirst = self._add(slot, cb, cw, cp, _to_atlas(cuv, uv_rect))
        # old corners by their place in the mesh, new ones after them
        gtri = np.where(ctri < len(b), ctri + first, ctri - len(b) + nfirst)
        self.derived.setdefault(att.offset, []).append((nfirst, src, bary))
        return self._add_triangles(nfirst, len(cb), gtri)

    def interleaved(self) -> bytes:
        rows = np.empty(
            len(self.bones),
            dtype=[
                ("b", "<i4", 4),
                ("w", "<f4", 4),
                ("p", "<f4", 8),
                ("uv", "<f4", 2),
                ("s", "<i4"),
                ("a", "<i4"),
            ],
        )
        rows["b"], rows["w"], rows["p"] = self.bones, self.weights, self.local
        rows["uv"], rows["s"], rows["a"] = self.uvs, self.slots, self.anchors
        return rows.tobytes()


class AvatarRenderer:
    def __init__(
        self,
        ctx: moderngl.Context,
        rig: RigData,
        atlas: Atlas,
        size: tuple[int, int] = (512, 512),
        samples: int = 0,
        hulls: bool = True,
        geometry: RigGeometry | None = None,
    ) -> None:
        """`hulls=False` draws every picture's whole rectangle or mesh, as before hulls (to
        compare against: the picture must not change). `geometry`: this rig's and atlas's
        static geometry made before (`prepare_geometry`, on any thread with a context),
        which is most of a new renderer's cost; made here without it."""
        self.ctx = ctx
        self.rig = rig
        self.hulls = hulls
        self._occlude = True  # the occlusion pre-pass (a switch for measuring it)
        # a depth buffer's draws since it was last cleared (see _clear)
        self._depth_age: dict[moderngl.Framebuffer, int] = {}
        # On a CPU rasteriser a clear costs as much as a memset of the whole target, so the
        # output is cleared only within `drawn_bounds` while everything outside them is
        # known to be transparent (every writer of the output keeps its pixels inside them:
        # engine/render/overlay.py grows them); a GPU clears a whole target for nothing.
        self._software = is_software(ctx)
        self._clear_outside = False
        self._atlas = _atlas_texture(ctx, atlas)
        self.geometry = geometry or RigGeometry(rig, atlas, _mip_support(self._atlas, atlas))
        self._vbo = ctx.buffer(self.geometry.interleaved())
        self._ibo = ctx.buffer(reserve=max(4, self.geometry.indices.nbytes))
        self._deform = np.zeros((len(self.geometry.bones), 2), np.float32)
        self._deform_vbo = ctx.buffer(self._deform.tobytes())
        self._deforming = False
        # shader variant (filters, styled) -> its program and vertex array: with the colour
        # filters compiled in, and drawn for a render style's pass; each made on first use
        self._variants: dict[tuple[bool, bool], tuple[moderngl.Program, moderngl.VertexArray]]
        self._variants = {}
        self._variant(False)
        # the irises a style's eye highlights go on: slot indices and their pictures' rects
        self._eyes = _iris_slots(rig, atlas)
        # each slot's shape for the style pass, as the shape target stores it (id / 255)
        self._shapes = _slot_shapes(rig) / 255.0
        # the occlusion pre-pass: opaque cores write depth only (shaders/core.frag)
        self._core_ibo = ctx.buffer(reserve=max(4, self.geometry.core_index_bytes))
        self._core_prog = program(ctx, "avatar.vert", "core.frag")
        self._core_prog["u_bones"] = 0
        self._core_vao = ctx.vertex_array(
            self._core_prog,
            [(self._vbo, _VERTEX_FORMAT, *_ATTRS), (self._deform_vbo, "2f", "in_deform")],
            index_buffer=self._core_ibo,
            skip_errors=True,  # the depth-only program has no use for the uvs
        )
        self._core_count = 0  # indices in the pre-pass
        self._batches: list[tuple[BlendMode, int, int]] = []  # (blend, first index, count)
        self._drawn: tuple[object, ...] | None = None  # what the batches were built for
        hulls = self.geometry.hulls
        self._hull_bones = np.array([h.bone for h in hulls.values()], np.int64)
        self._hull_texel = np.array([h.texel for h in hulls.values()]).reshape(-1, 2, 2)
        # meshes: per frame, skin them on the CPU (numba, microseconds) and find how small
        # their most shrunken triangle is drawn
        mh = self.geometry.mesh_hulls
        self._hull_keys = [*hulls, *mh]  # rows of _hull_levels
        self._hull_row = {key: i for i, key in enumerate(self._hull_keys)}
        self._mesh_starts = np.array([m.offset for m in mh.values()], np.int64)
        self._mesh_ends = self._mesh_starts + np.array([m.count for m in mh.values()], np.int64)
        tris = [m.triangles + m.offset for m in mh.values()]
        self._mesh_tris = np.concatenate(tris).astype(np.int64) if tris else np.zeros((0, 3), int)
        inv = [m.texel_inverse for m in mh.values()]
        self._mesh_tex_inv = np.concatenate(inv) if inv else np.zeros((0, 2, 2))
        # triangles with no area in their picture show nothing and do not count
        self._mesh_tri_live = np.abs(self._mesh_tex_inv).sum(axis=(1, 2)) > 0
        counts = [len(m.triangles) for m in mh.values()]
        self._mesh_tri_first = np.cumsum([0, *counts[:-1]]).astype(np.int64)
        self._skinned = np.zeros((len(rig.skin_bones), 2))
        self._hull_visible: tuple[tuple[str | None, ...], np.ndarray] | None = None
        self._held: tuple[tuple[bytes, int, int], np.ndarray] | None = None  # (view, levels)
        self._held_for = 0
        # what a frame can cover: every drawable region's corners, every mesh's vertices
        regions = [
            (slot.index, name, slot.bone, att.corners)
            for slot in rig.slots
            for name, att in rig.attachments[slot.index].items()
            if not isinstance(att, MeshAttachment) and (slot.index, name) not in self.geometry.blank
        ]
        self._bound_keys = [(slot, name) for slot, name, _, _ in regions]
        self._bound_bones = np.array([bone for _, _, bone, _ in regions], np.int64)
        self._bound_corners = np.array([c for _, _, _, c in regions], np.float64).reshape(-1, 4, 2)
        self._bound_visible: tuple[tuple[str | None, ...], np.ndarray, np.ndarray] | None = None
        # the pixels (x0, y0, x1, y1; GL order, ends exclusive) that the last draw() into
        # the renderer's own output can have touched; None before the first
        self.drawn_bounds: tuple[int, int, int, int] | None = None
        self._tints = np.zeros((MAX_SLOTS, 4), np.float32)
        self._filters = np.tile(np.array(NO_FILTER, np.float32), (MAX_SLOTS, 1))
        self._bones = ctx.texture((len(rig.bones), 2), 4, dtype="f4")
        self._bones.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._bone_rows = np.zeros((2, len(rig.bones), 4), np.float32)
        self._capture: moderngl.VertexArray | None = None
        self._framings: dict[str, Rect] = {}
        # the style pass: its program (made on first use) and the texture the avatar is
        # drawn into before it (made per size)
        self._style_prog: moderngl.Program | None = None
        self._style_vao: moderngl.VertexArray | None = None
        self._raw: moderngl.Framebuffer | None = None
        self.resize(size, samples)

    def _variant(
        self, filters: bool, styled: bool = False
    ) -> tuple[moderngl.Program, moderngl.VertexArray]:
        if (filters, styled) not in self._variants:
            defines = ("COLOR_FILTERS",) * filters + ("STYLED",) * styled
            prog = program(self.ctx, "avatar.vert", "avatar.frag", defines=defines)
            prog["u_bones"] = 0
            prog["u_atlas"] = 1
            vao = self.ctx.vertex_array(
                prog,
                [(self._vbo, _VERTEX_FORMAT, *_ATTRS), (self._deform_vbo, "2f", "in_deform")],
                index_buffer=self._ibo,
            )
            if styled:
                prog["u_shape"] = tuple(self._shapes)
            self._variants[filters, styled] = (prog, vao)
        return self._variants[filters, styled]

    def resize(self, size: tuple[int, int], samples: int = 0) -> None:
        w, h = size
        if w <= 0 or h <= 0:
            raise ValueError(f"output size must be positive, got {w}x{h}")
        samples = min(samples, self.ctx.max_samples)
        if hasattr(self, "_out"):
            self._release_targets()
        self.size = (w, h)
        self.samples = samples
        # A texture, not a renderbuffer, so the GPU can read the picture again (the video
        # converter, engine/render/video.py); MSAA resolves into it.
        self._out_tex = self.ctx.texture((w, h), 4)
        self._out_tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        # a depth buffer for the occlusion pre-pass (see draw); not with MSAA, where a
        # sample can lie in a part's opaque core while its pixel's centre does not
        self._depth = self.ctx.depth_renderbuffer((w, h)) if samples <= 1 else None
        self._out = self.ctx.framebuffer(
            color_attachments=[self._out_tex], depth_attachment=self._depth
        )
        self._clear_outside = False  # a new texture's content is undefined
        self._transparent = np.zeros(w * h * 4, np.uint8) if self._software else None
        # Multisampling is optional: art with soft, transparent edges is anti-aliased by
        # texture filtering alone (Spine's way), which llvmpipe does much faster.
        self._msaa = (
            self.ctx.framebuffer(self.ctx.renderbuffer((w, h), 4, samples=samples))
            if samples > 1
            else self._out
        )

    @property
    def output_texture(self) -> moderngl.Texture:
        """The last `draw()` into the renderer's own output (no `target`): premultiplied
        RGBA8, `size`, in GL row order (bottom row first; `render()` flips it). Replaced by
        `resize()`, so fetch it each time rather than keeping it."""
        return self._out_tex

    def read_output(self, rect: tuple[int, int, int, int]) -> np.ndarray:
        """The rectangle (x, y, width, height; GL pixels, bottom row first) of the last
        `draw()` into the renderer's own output: (height, width) uint32, each pixel's
        premultiplied RGBA bytes read as one little-endian number (R the lowest byte)."""
        x, y, w, h = rect
        data = self._out.read(viewport=(x, y, w, h), components=4, alignment=1)
        return np.frombuffer(data, "<u4").reshape(h, w)

    @property
    def triangles_drawn(self) -> int:
        """Triangles the last `draw()` sent down (after hidden slots and hulls)."""
        return sum(count for _, _, count in self._batches) // 3

    def framing(self, preset: str) -> Rect:
        if preset not in self._framings:
            self._framings[preset] = framing_rect(self.rig, preset)
        return self._framings[preset]

    def _hull_levels(self, pose: Pose, view: np.ndarray, w: int, h: int) -> np.ndarray:
        """Per hull row (`_hull_keys`: regions, then meshes), the coarsest mip level its
        picture is sampled at this frame, as an index into its `levels`; one past the last
        for "too small: draw it whole"; -1 for attachments not shown (they do not count).
        Skins the shown meshes into `_skinned` on the way (engine/kernels/extent.py)."""
        levels = np.full(len(self._hull_keys), -1, np.int8)
        if not self._hull_keys or not self.hulls:
            return levels
        visible = tuple(pose.slot_attachment)
        if self._hull_visible is None or self._hull_visible[0] != visible:
            shown = np.array([visible[slot] == name for slot, name in self._hull_keys], bool)
            self._hull_visible = (visible, shown)
        rig = self.rig
        deformed = _deformed(self._mesh_starts, pose)
        hull_levels(
            pose.world, float(view[0, 0] * w / 2), float(view[1, 1] * h / 2),
            self._hull_bones, self._hull_texel, rig.skin_bones, rig.skin_weights,
            rig.skin_local, rig.skin_anchor, pose.deform, self._mesh_starts, self._mesh_ends,
            deformed, self._mesh_tris, self._mesh_tex_inv, self._mesh_tri_live,
            self._mesh_tri_first, self._hull_visible[1], MAX_HULL_LEVEL, self._skinned, levels,
        )  # fmt: skip
        # A coarser level (a bigger polygon) is always safe, a finer one only while the
        # picture stays that large; a joint bending moves a mesh's level every few frames,
        # and each change rebuilds the index list, so hold the coarsest level seen and let
        # it fall back only every HULL_HOLD frames (or when the view changes).
        self._held_for += 1
        held = self._held
        if held is None or held[0] != (view.tobytes(), w, h) or self._held_for >= HULL_HOLD:
            self._held = ((view.tobytes(), w, h), levels)
            self._held_for = 0
            return levels
        levels = np.where(levels >= 0, np.maximum(levels, held[1]), levels)
        self._held = (held[0], levels)
        return levels

    def _frame_bounds(
        self, pose: Pose, view: np.ndarray, w: int, h: int
    ) -> tuple[int, int, int, int]:
        """The pixels (x0, y0, x1, y1), GL order, ends exclusive, that the frame's geometry
        can touch: the video converter shades only those (engine/render/video.py)."""
        visible = tuple(pose.slot_attachment)
        if self._bound_visible is None or self._bound_visible[0] != visible:
            regions = np.array(
                [visible[slot] == name for slot, name in self._bound_keys], bool
            ).reshape(-1)
            mesh_rows = [
                np.arange(m.offset, m.offset + m.count)
                for (slot, name), m in self.geometry.mesh_hulls.items()
                if visible[slot] == name
            ]
            rows = np.concatenate(mesh_rows) if mesh_rows else np.zeros(0, np.int64)
            self._bound_visible = (visible, regions, rows)
        _, regions, rows = self._bound_visible
        if not self.hulls and len(rows):  # _hull_levels skinned them otherwise
            shown = np.array([visible[s] == n for s, n in self.geometry.mesh_hulls], bool)
            starts = self._mesh_starts[shown]
            rig = self.rig
            skin_ranges(
                pose.world, rig.skin_bones, rig.skin_weights, rig.skin_local, starts,
                self._mesh_ends[shown], self._skinned, pose.deform, rig.skin_anchor,
                _deformed(starts, pose),
            )  # fmt: skip
        return frame_bounds(
            self._skinned, rows, pose.world, self._bound_bones, self._bound_corners, regions,
            view.astype(np.float64), w, h,
        )  # fmt: skip

    def _update_batches(self, pose: Pose, levels: np.ndarray) -> None:
        """Index list of the drawn attachments in slot order, rebuilt only when what is
        drawn changes: a swap, a slot hidden or shown by its colour's alpha, or a region
        drawn small or large enough to need another of its hulls."""
        visible = tuple(pose.slot_attachment)
        hidden = pose.slot_color[:, 3] <= 0.0
        opaque = pose.slot_color[:, 3] >= 1.0
        drawn = (visible, hidden.tobytes(), opaque.tobytes(), levels.tobytes())
        if drawn == self._drawn:
            return
        geo, parts, batches, cores = self.geometry, [], [], []
        at = 0
        for slot in self.rig.slots:
            name = visible[slot.index]
            # a hidden slot draws nothing at all: every fragment would be discarded
            if name is None or (slot.index, name) in geo.blank or hidden[slot.index]:
                continue
            key = (slot.index, name)
            m = geo.meshes[key]
            row = self._hull_row.get(key)
            if row is not None and 0 <= levels[row] <= MAX_HULL_LEVEL:
                hull = geo.hulls.get(key) or geo.mesh_hulls[key]
                m = hull.levels[levels[row]]
                # A fully opaque core hides what is behind it only under normal blending
                # and an opaque slot colour (alpha exactly 1 wherever it covers).
                core = hull.cores[levels[row]]
                if core is not None and opaque[slot.index] and slot.blend == BlendMode.NORMAL:
                    cores.append(
                        geo.indices[core.first_index : core.first_index + core.index_count]
                    )
            parts.append(geo.indices[m.first_index : m.first_index + m.index_count])
            if batches and batches[-1][0] == slot.blend:
                batches[-1][2] += m.index_count
            else:
                batches.append([slot.blend, at, m.index_count])
            at += m.index_count
        if parts:
            self._ibo.write(np.concatenate(parts).tobytes())
        self._core_count = sum(len(c) for c in cores)
        if cores:
            self._core_ibo.write(np.concatenate(cores).tobytes())
        self._batches = [(b, f, c) for b, f, c in batches]
        self._drawn = drawn

    def _upload_deforms(self, pose: Pose) -> None:
        """Parameter deforms into the dynamic buffer; written only while any are active."""
        if not pose.deformed and not self._deforming:
            return
        self._deform[:] = 0.0
        for off in pose.deformed:
            m = self.geometry.by_skin_offset[off]
            self._deform[m.first_vertex : m.first_vertex + m.vertex_count] = pose.deform[
                off : off + m.vertex_count
            ]
            # a clipped mesh's new corners move as the blend of the corners they lie between
            for first, src, bary in self.geometry.derived.get(off, ()):
                moved = (bary[:, :, None] * pose.deform[off + src]).sum(axis=1)
                self._deform[first : first + len(src)] = moved
        self._deform_vbo.write(self._deform.tobytes())
        self._deforming = bool(pose.deformed)

    def _upload_bones(self, world: np.ndarray) -> None:
        r = self._bone_rows
        r[0, :, 0], r[0, :, 1], r[0, :, 2] = world[:, WA], world[:, WB], world[:, WX]
        r[1, :, 0], r[1, :, 1], r[1, :, 2] = world[:, WC], world[:, WD], world[:, WY]
        self._bones.write(r.tobytes())
        self._bones.use(0)

    def render(
        self,
        pose: Pose,
        framing: str | Rect = "full",
        avatar_filter: ColorFilter = NO_FILTER,
        part_filters: Mapping[str, ColorFilter] | None = None,
        style: RenderStyle | None = None,
    ) -> np.ndarray:
        """The pose as (height, width, 4) premultiplied RGBA uint8, top row first."""
        self.draw(pose, framing, avatar_filter, part_filters, style=style)
        w, h = self.size
        pixels = np.frombuffer(self._out.read(components=4, alignment=1), np.uint8).reshape(h, w, 4)
        return pixels[::-1]

    def draw(
        self,
        pose: Pose,
        framing: str | Rect = "full",
        avatar_filter: ColorFilter = NO_FILTER,
        part_filters: Mapping[str, ColorFilter] | None = None,
        target: moderngl.Framebuffer | None = None,
        background: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
        style: RenderStyle | None = None,
    ) -> None:
        """Draw the pose into `target` (default: the renderer's own output), cleared to
        `background` first; premultiplied blending composites over an opaque one. With a
        `style`, drawn in that render style (engine/render/looks.py)."""
        if isinstance(framing, str) and framing not in FRAMINGS:
            raise ValueError(f'unknown framing "{framing}" (expected one of {", ".join(FRAMINGS)})')
        if style is None:
            self._draw(pose, framing, avatar_filter, part_filters, target, background)
            return
        # the avatar as drawn, at the output's size, then the style pass from it
        size = target.size if target is not None else self.size
        raw = self._raw_target(size)
        own = self.drawn_bounds  # which only a draw into the renderer's own output changes
        eyes = EYE_HIGHLIGHTS.index(style.eye_highlight) if self._eyes else 0
        self._draw(
            pose, framing, avatar_filter, part_filters, raw, (0.0, 0.0, 0.0, 0.0), True, eyes
        )
        self._style_pass(raw, target if target is not None else self._out, style, background)
        if target is None:  # cleared to the background, drawn within drawn_bounds
            self._clear_outside = not any(background)
        else:
            self.drawn_bounds = own

    def _draw(
        self,
        pose: Pose,
        framing: str | Rect,
        avatar_filter: ColorFilter,
        part_filters: Mapping[str, ColorFilter] | None,
        target: moderngl.Framebuffer | None,
        background: tuple[float, float, float, float],
        styled: bool = False,
        eyes: int = 0,
    ) -> None:
        """`styled`: drawn for a style pass (into the raw target, with its shape map);
        `eyes`: the style's eye highlight, as its index in EYE_HIGHLIGHTS (0: the art's)."""
        rect = self.framing(framing) if isinstance(framing, str) else framing
        ctx = self.ctx
        self._upload_bones(pose.world)
        self._upload_deforms(pose)
        self._atlas.use(1)
        filters = tuple(map(float, avatar_filter)) != NO_FILTER or any(
            tuple(map(float, f)) != NO_FILTER for f in (part_filters or {}).values()
        )
        prog, vao = self._variant(filters, styled)
        if styled:
            slots = [slot for slot, _ in self._eyes] + [-1] * (2 - len(self._eyes))
            rects = [rect for _, rect in self._eyes] + [(0.0, 0.0, 1.0, 1.0)] * (
                2 - len(self._eyes)
            )
            prog["u_eye_slot"] = slots
            prog["u_eye_rect"] = rects
            prog["u_eye_style"] = eyes
        fb = target if target is not None else self._msaa
        w, h = fb.size if target is not None else self.size
        view = view_matrix(rect, w, h)
        prog["u_view"].write(view.T.tobytes())
        _write(prog, "u_avatar_filter", np.array(avatar_filter, np.float32).tobytes())
        fb.use()
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        self._update_batches(pose, self._hull_levels(pose, view, w, h))
        # Occlusion pre-pass: the opaque cores of the parts write their slot's depth, and
        # the colour pass then shades only fragments no later part hides (llvmpipe tests
        # depth before running the shader). Exact: over an alpha-1 fragment, premultiplied
        # blending keeps nothing of what was below.
        occlude = (
            (target is None and fb is self._out and self._depth is not None)
            or (target is not None and target is self._raw and target.depth_attachment is not None)
        ) and self._occlude
        self._clear(fb, background, occlude, (prog, self._core_prog))
        if occlude and self._core_count:
            ctx.enable(moderngl.DEPTH_TEST)
            ctx.depth_func = "<"
            ctx.disable(moderngl.BLEND)
            fb.color_mask = _mask(fb, False)
            self._core_prog["u_view"].write(view.T.tobytes())
            self._core_vao.render(moderngl.TRIANGLES, vertices=self._core_count)
            fb.color_mask = _mask(fb, True)
            fb.depth_mask = False
            ctx.depth_func = "<="
        ctx.enable(moderngl.BLEND)
        n = len(self.rig.slots)
        self._tints[:n] = pose.slot_color
        _write(prog, "u_tint", self._tints.tobytes())
        self._filters[:] = NO_FILTER
        for name, f in (part_filters or {}).items():
            self._filters[self.rig.slot_index[name]] = f
        _write(prog, "u_part_filter", self._filters.tobytes())
        for blend, first, count in self._batches:
            ctx.blend_func = _BLEND[blend]
            if styled:
                prog["u_write_shape"] = blend == BlendMode.NORMAL
            vao.render(moderngl.TRIANGLES, vertices=count, first=first)
        if occlude and self._core_count:
            ctx.disable(moderngl.DEPTH_TEST)
            fb.depth_mask = True
        if target is None and self._msaa is not self._out:
            ctx.copy_framebuffer(self._out, self._msaa)
        if target is None or target is self._raw:
            self.drawn_bounds = self._frame_bounds(pose, view, w, h)
        if target is None:  # not so after a clear to a colour or a multisampled draw
            self._clear_outside = self._msaa is self._out and not any(background)

    def _clear(
        self,
        fb: moderngl.Framebuffer,
        background: tuple[float, float, float, float],
        occlude: bool,
        programs: tuple[moderngl.Program, ...],
    ) -> None:
        """Clear `fb` to `background` for a draw, and give `programs` this draw's depths.
        The occlusion pre-pass's depth buffer is cleared only every DEPTH_FRAMES draws:
        each draw's depths lie nearer than every earlier draw's, so what older draws left
        there hides nothing, exactly as after a clear (on llvmpipe a clear of a 512x512
        depth buffer costs about as much CPU as a memset of it, 0.1-0.15 ms a frame)."""
        age = self._depth_age.get(fb) if occlude else None
        if age is None or age >= DEPTH_FRAMES:
            fb.clear(*background, depth=1.0)
            age = 0
        elif (
            self._software
            and fb is self._out
            and self._clear_outside
            and self.drawn_bounds is not None
            and not any(background)
        ):
            x0, y0, x1, y1 = self.drawn_bounds
            if x1 > x0 and y1 > y0:
                area = (x0, y0, x1 - x0, y1 - y0)
                zeros = self._transparent[: area[2] * area[3] * 4]
                self._out_tex.write(zeros, viewport=area, alignment=1)
        else:
            fb.depth_mask = False
            fb.clear(*background)
            fb.depth_mask = True
        if occlude:
            self._depth_age[fb] = age + 1
        for prog in programs:
            prog["u_depth_base"] = 1.0 - 2.0 * age * (MAX_SLOTS + 1) * DEPTH_STEP
            prog["u_depth_step"] = 2.0 * DEPTH_STEP

    def _raw_target(self, size: tuple[int, int]) -> moderngl.Framebuffer:
        """The texture a styled frame's avatar is drawn into first (with the occlusion
        pre-pass's depth buffer), made again when the size changes."""
        if self._raw is not None and self._raw.size == size:
            return self._raw
        self._release_raw()
        tex = self.ctx.texture(size, 4)
        tex.repeat_x = tex.repeat_y = False  # clamped to the edge, as the reference samples
        shapes = self.ctx.texture(size, 1)  # each pixel's shape (_slot_shapes), 0: none
        shapes.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._raw = self.ctx.framebuffer(
            color_attachments=[tex, shapes], depth_attachment=self.ctx.depth_renderbuffer(size)
        )
        return self._raw

    def read_shapes(self) -> np.ndarray:
        """The shape map of the last styled draw: (height, width) floats as stored (shape
        id / 255), in GL row order (bottom row first); for checking the style pass."""
        if self._raw is None:
            raise RuntimeError("nothing has been drawn in a style yet")
        w, h = self._raw.size
        data = self._raw.read(components=1, attachment=1, alignment=1)
        return np.frombuffer(data, np.uint8).reshape(h, w).astype(np.float64) / 255.0

    def read_unstyled(self) -> np.ndarray:
        """The avatar as the last styled draw drew it before its style pass: (h, w, 4)
        premultiplied RGBA uint8, GL row order."""
        if self._raw is None:
            raise RuntimeError("nothing has been drawn in a style yet")
        w, h = self._raw.size
        data = self._raw.read(components=4, attachment=0, alignment=1)
        return np.frombuffer(data, np.uint8).reshape(h, w, 4)

    def _style_pass(
        self,
        raw: moderngl.Framebuffer,
        fb: moderngl.Framebuffer,
        style: RenderStyle,
        background: tuple[float, float, float, float],
    ) -> None:
        ctx = self.ctx
        if self._style_prog is None:
            self._style_prog = program(ctx, "fullscreen.vert", "style.frag")
            self._style_prog["u_src"] = 2
            self._style_prog["u_shapes"] = 3
            self._style_vao = ctx.vertex_array(self._style_prog, [])
        prog, vao = self._style_prog, self._style_vao
        assert vao is not None
        w, h = raw.size
        line, diagonal = style.line_steps(h)
        prog["u_line"] = line
        prog["u_diagonal"] = diagonal
        prog["u_ink"] = style.line_colour
        prog["u_line_tone"] = style.line_tone
        prog["u_reach"] = style.shade_steps(h)
        prog["u_light"] = style.light_vector()
        prog["u_thin"] = style.thin(h)
        prog["u_bands"] = style.bands
        prog["u_softness"] = style.band_softness
        prog["u_shadow"] = tuple(t * (1.0 - style.shade_depth) for t in style.shade_tint)
        prog["u_saturation"] = style.saturation
        prog["u_temperature"] = style.temperature
        raw.color_attachments[0].use(2)
        raw.color_attachments[1].use(3)
        fb.use()
        fb.clear(*background)
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        # only where the frame can have drawn, grown by the outline
        bounds = self.drawn_bounds or (0, 0, w, h)
        x0, y0, x1, y1 = bounds
        x0, y0 = max(0, x0 - line - 1), max(0, y0 - line - 1)
        x1, y1 = min(w, x1 + line + 1), min(h, y1 + line + 1)
        if x1 <= x0 or y1 <= y0:
            self.drawn_bounds = (0, 0, 0, 0)
            return
        if fb is self._out:
            self.drawn_bounds = (x0, y0, x1, y1)
        ctx.enable(moderngl.BLEND)
        ctx.blend_func = _BLEND[BlendMode.NORMAL]
        fb.scissor = (x0, y0, x1 - x0, y1 - y0)
        vao.render(moderngl.TRIANGLES, vertices=3)
        fb.scissor = None

    def skin_on_gpu(self, pose: Pose) -> np.ndarray:
        """Every vertex of the static buffer skinned by the GPU (transform feedback), (V, 2);
        the check that the shader agrees with the CPU kernel."""
        if self._capture is None:
            prog = program(self.ctx, "skin_capture.vert", varyings=("out_pos",))
            prog["u_bones"] = 0
            self._capture = self.ctx.vertex_array(
                prog,
                [
                    (self._vbo, "4i 4f 4f 4f 8x 4x 1i", *_ATTRS[:4], "in_anchor"),
                    (self._deform_vbo, "2f", "in_deform"),
                ],
            )
        self._upload_bones(pose.world)
        self._upload_deforms(pose)
        self._out.use()  # a surfaceless context's default framebuffer is incomplete
        n = len(self.geometry.bones)
        out = self.ctx.buffer(reserve=n * 8)
        self._capture.transform(out, moderngl.POINTS, vertices=n)
        pos = np.frombuffer(out.read(), np.float32).reshape(n, 2).astype(np.float64)
        out.release()
        return pos

    def _release_raw(self) -> None:
        if self._raw is not None:
            for attachment in self._raw.color_attachments:
                attachment.release()
            if self._raw.depth_attachment is not None:
                self._raw.depth_attachment.release()
            self._depth_age.pop(self._raw, None)
            self._raw.release()
            self._raw = None

    def _release_targets(self) -> None:
        for fb in {self._msaa, self._out}:
            for attachment in fb.color_attachments:
                attachment.release()
            if fb.depth_attachment is not None:
                fb.depth_attachment.release()
            self._depth_age.pop(fb, None)
            fb.release()

    def release(self) -> None:
        for prog, vao in self._variants.values():
            vao.release()
            prog.release()
        self._core_vao.release()
        self._core_prog.release()
        for obj in (
            self._vbo,
            self._ibo,
            self._core_ibo,
            self._deform_vbo,
            self._bones,
            self._atlas,
        ):
            obj.release()
        self._release_targets()
        self._release_raw()
        if self._capture is not None:
            self._capture.release()
        if self._style_prog is not None and self._style_vao is not None:
            self._style_vao.release()
            self._style_prog.release()


def _iris_slots(rig: RigData, atlas: Atlas) -> list[tuple[int, tuple[float, ...]]]:
    """The first two slots named iris*, each with its setup picture's atlas rectangle: where
    a render style draws eye highlights (a rig without irises gets none)."""
    eyes = []
    for slot in rig.slots:
        att = rig.attachments[slot.index].get(slot.attachment or "")
        if slot.name.startswith("iris") and att is not None and att.path in atlas.regions:
            eyes.append((slot.index, atlas.uv_rect(att.path)))
    return eyes[:2]


def _mask(fb: moderngl.Framebuffer, on: bool) -> tuple | list[tuple]:
    """A colour mask for every attachment of `fb` (moderngl wants a list with several)."""
    one = (on, on, on, on)
    n = len(fb.color_attachments)
    return one if n == 1 else [one] * n


def _slot_shapes(rig: RigData) -> np.ndarray:
    """Each slot's shape id, MAX_SLOTS of them (0: a slot with nothing to draw). A feature,
    a slot whose setup picture lies within a shape's drawn before it and at least
    FEATURE_AREA times its area (an eye, a mouth, a beard on the face; a fringe lock on the
    hair), shares the id of the nearest such shape in draw order; any other slot is a shape
    of its own (its index + 1). Where bands fall in a render style follows shapes."""
    world = setup_world_transforms(rig)
    boxes: list[tuple[float, float, float, float] | None] = []
    for slot in rig.slots:
        att = rig.attachments[slot.index].get(slot.attachment or "")
        if isinstance(att, MeshAttachment):
            pts = att.setup_vertices
        elif isinstance(att, RegionAttachment):
            b, c = world[slot.bone], att.corners
            x = b[WA] * c[:, 0] + b[WB] * c[:, 1] + b[WX]
            y = b[WC] * c[:, 0] + b[WD] * c[:, 1] + b[WY]
            pts = np.stack([x, y], axis=1)
        else:
            boxes.append(None)
            continue
        boxes.append((pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()))

    def area_of(b: tuple[float, float, float, float]) -> float:
        return (b[2] - b[0]) * (b[3] - b[1])

    ids = np.zeros(MAX_SLOTS, np.float64)
    own: set[int] = set()  # the slots that are shapes, not features
    for i, box in enumerate(boxes[:MAX_SLOTS]):
        if box is None:
            continue
        hosts = [
            j
            for j in own
            if (other := boxes[j]) is not None
            and other[0] <= box[0] and other[1] <= box[1]
            and other[2] >= box[2] and other[3] >= box[3]
            and area_of(other) >= FEATURE_AREA * area_of(box)
        ]  # fmt: skip
        if hosts:
            ids[i] = ids[max(hosts)]  # the nearest in draw order: what it is drawn on
        else:
            ids[i] = min(i + 1, 255)
            own.add(i)
    return ids


def _rigid(bone: int, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skinning rows (bones, weights, local points) of points fixed to one bone."""
    n = len(points)
    b = np.zeros((n, 4), np.int64)
    b[:, 0] = bone
    w = np.zeros((n, 4))
    w[:, 0] = 1.0
    p = np.zeros((n, 4, 2))
    p[:, 0] = points
    return b, w, p


def _deformed(starts: np.ndarray, pose: Pose) -> np.ndarray:
    """Which of the meshes at skin-buffer offsets `starts` the pose deforms."""
    d = pose.deformed
    return np.fromiter((off in d for off in starts.tolist()), bool, len(starts))


def _rect_polygon(rect: tuple[int, int, int, int] | None) -> np.ndarray | None:
    """(x0, y0, x1, y1) as a counter-clockwise polygon (4, 2), or None."""
    if rect is None:
        return None
    x0, y0, x1, y1 = (float(v) for v in rect)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def _fills_box(poly: np.ndarray, w: float, h: float) -> bool:
    """Whether a convex polygon clipped to the 0..w, 0..h box is that whole box."""
    if len(poly) < 4:
        return False
    area = 0.5 * abs(
        float(np.sum(poly[:, 0] * np.roll(poly[:, 1], -1) - np.roll(poly[:, 0], -1) * poly[:, 1]))
    )
    return area >= w * h * (1 - 1e-9)


def _sides(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """(n, k): which side of each edge of the convex counter-clockwise `poly` each point
    lies, >= 0 inside (scaled distance)."""
    e = np.roll(poly, -1, axis=0) - poly
    d = points[:, None, :] - poly[None, :, :]
    return e[None, :, 0] * d[..., 1] - e[None, :, 1] * d[..., 0]


def _to_atlas(part_uv: np.ndarray, rect: tuple[float, float, float, float]) -> np.ndarray:
    """A part's own uvs (0..1 over its picture) -> atlas texture coordinates."""
    u0, v0, u1, v1 = rect
    return np.stack([u0 + part_uv[:, 0] * (u1 - u0), v0 + part_uv[:, 1] * (v1 - v0)], axis=1)


def prepare_geometry(ctx: moderngl.Context, rig: RigData, atlas: Atlas) -> RigGeometry:
    """The static geometry an `AvatarRenderer` of `rig` and `atlas` draws, made with
    `ctx` (current on this thread; the geometry itself is plain arrays, for any context):
    the slow part of a new renderer, for a thread other than the one that will draw."""
    texture = _atlas_texture(ctx, atlas)
    try:
        return RigGeometry(rig, atlas, _mip_support(texture, atlas))
    finally:
        texture.release()


def _atlas_texture(ctx: moderngl.Context, atlas: Atlas) -> moderngl.Texture:
    texture = ctx.texture(atlas.image.shape[1::-1], 4, atlas.premultiplied().tobytes())
    texture.build_mipmaps()
    texture.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
    return texture


def _mip_support(texture: moderngl.Texture, atlas: Atlas) -> MipSupport | None:
    """The atlas's alpha at the mip levels hulls are made for, read back as the driver
    built them; None where the driver cannot read a mip level back (hulls are then grown
    by bounds)."""
    levels = [atlas.image[..., 3]]
    H, W = levels[0].shape
    try:
        for lv in range(1, MAX_HULL_LEVEL + 1):
            w, h = max(1, W >> lv), max(1, H >> lv)
            rgba = np.frombuffer(texture.read(level=lv, alignment=1), np.uint8)
            levels.append(rgba.reshape(h, w, 4)[..., 3])
    except moderngl.Error:
        return None
    return MipSupport(levels)


def _pieces_store() -> DiskStore | None:
    """Where the pieces are kept between processes (engine/memo_store.py): keyed also by
    the code that makes them, this module and engine/hulls.py."""
    where = default_dir()
    if where is None:
        return None
    code = Path(__file__), Path(__file__).parents[1] / "hulls.py"
    return DiskStore(where / "pieces", source_salt(*code))


# a rig's costly static pieces by content (engine/memo.py): a picture's hulls and cores, a
# mesh's cuts; a few thousand cover every picture of the bundled avatars and their looks.
# Also kept on disk: making Digi's took 1.3 s of every server start and render worker.
_PIECES = Memo(4096, store=_pieces_store())


def _frozen(value: T) -> T:
    """`value` (an array, or tuples and lists of them) with its arrays made read-only:
    memoised pieces are shared by every renderer, so none may change them."""
    if isinstance(value, np.ndarray):
        value.setflags(write=False)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _frozen(item)
    return value


def _combine_influences(
    b: np.ndarray, w: np.ndarray, p: np.ndarray, src: np.ndarray, bary: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Skinning rows for points inside triangles: at barycentric `bary` of corners `src`,
    the skinned position is bary @ (corners' skinned positions); per bone that is one
    influence of weight W = sum(bary * w) at local point sum(bary * w * p) / W, exactly,
    as long as the three corners use 4 bones or fewer (`ok`)."""
    q = len(src)
    bones = b[src].reshape(q, 12)
    wts = (bary[:, :, None] * w[src]).reshape(q, 12)
    pts = wts[:, :, None] * p[src].reshape(q, 12, 2)
    live = wts != 0.0
    same = (bones[:, :, None] == bones[:, None, :]) & live[:, None, :]  # (q, 12, 12)
    wsum = (same * wts[:, None, :]).sum(axis=2)
    psum = np.einsum("qab,qbk->qak", same.astype(np.float64), pts)
    # one influence per bone: its first live entry carries the bone's sums
    earlier = np.tril(np.ones((12, 12), bool), -1)
    first = live & ~(same & earlier[None]).any(axis=2)
    ok = first.sum(axis=1) <= 4
    order = np.argsort(~first, axis=1, kind="stable")[:, :4]  # first entries, in order
    keep = np.take_along_axis(first, order, axis=1) & ok[:, None]
    ob = np.where(keep, np.take_along_axis(bones, order, axis=1), 0).astype(np.int64)
    ow = np.where(keep, np.take_along_axis(wsum, order, axis=1), 0.0)
    chosen = np.take_along_axis(psum, order[:, :, None], axis=1)
    op = np.where(keep[:, :, None], chosen / np.where(ow == 0.0, 1.0, ow)[:, :, None], 0.0)
    return ob, ow, op, ok


def _texel_inverses(texel: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Per triangle the inverse of its edge matrix in texels [t1 - t0, t2 - t0] (columns);
    zero for a triangle with no area in the picture (it shows nothing)."""
    t = texel[np.asarray(triangles, np.int64)]
    e = np.stack([t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]], axis=2)  # (m, 2, 2), columns
    det = e[:, 0, 0] * e[:, 1, 1] - e[:, 0, 1] * e[:, 1, 0]
    inv = np.zeros_like(e)
    good = np.abs(det) > 1e-9
    d = det[good]
    inv[good, 0, 0] = e[good, 1, 1] / d
    inv[good, 1, 1] = e[good, 0, 0] / d
    inv[good, 0, 1] = -e[good, 0, 1] / d
    inv[good, 1, 0] = -e[good, 1, 0] / d
    return inv


def _affine_fit(uvs: np.ndarray, corners: np.ndarray) -> np.ndarray | None:
    """m (3, 2) with corners = [u, v, 1] @ m, or None: a quad that is not a parallelogram
    is drawn as two triangles with two different maps, which no other polygon reproduces.
    Spine's regions are all parallelograms."""
    uv1 = np.column_stack([uvs, np.ones(len(uvs))])
    m, *_ = np.linalg.lstsq(uv1, corners, rcond=None)
    size = max(float(np.ptp(corners, axis=0).max()), 1.0)
    if np.abs(uv1 @ m - corners).max() > 1e-6 * size:
        return None
    return m


def _write(prog: moderngl.Program, name: str, data: bytes) -> None:
    # The GLSL compiler drops uniforms a shader variant does not use.
    if name in prog:
        prog[name].write(data)
