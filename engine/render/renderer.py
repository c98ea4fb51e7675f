"""Draws a pose with GPU skinning into an RGBA picture with a transparent background.

Every attachment of the rig (meshes, and regions as 4-vertex meshes on their slot's bone)
sits in one static vertex buffer built once; a frame uploads only the bone transforms (a
2-row float texture) and per-slot colours, then draws the visible attachments in slot order
in as few draw calls as blend modes allow (one, usually): each vertex knows its slot, and
triangles within a draw are blended in order. Per-draw overhead dominates on llvmpipe, so
this matters more than fill. Output is premultiplied RGBA read back as a numpy array.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import moderngl
import numpy as np

from engine.kernels.layout import WA, WB, WC, WD, WX, WY
from engine.pose.pose import Pose
from engine.render.atlas import Atlas
from engine.render.framing import FRAMINGS, Rect, framing_rect, view_matrix
from engine.render.shaders import program
from engine.rig.data import BlendMode, MeshAttachment, RigData

ColorFilter = tuple[float, float, float, float]  # hue degrees, saturation, brightness, contrast
NO_FILTER: ColorFilter = (0.0, 1.0, 1.0, 1.0)

_BLEND = {  # premultiplied-alpha blend functions per slot blend mode
    BlendMode.NORMAL: (moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA),
    BlendMode.ADDITIVE: (moderngl.ONE, moderngl.ONE),
    BlendMode.MULTIPLY: (moderngl.DST_COLOR, moderngl.ONE_MINUS_SRC_ALPHA),
    BlendMode.SCREEN: (moderngl.ONE, moderngl.ONE_MINUS_SRC_COLOR),
}
_VERTEX_FORMAT = "4i 4f 4f 4f 2f 1i 1i"
_ATTRS = ("in_bones", "in_weights", "in_p01", "in_p23", "in_uv", "in_slot", "in_anchor")
MAX_SLOTS = 128  # must match shaders/avatar.vert


@dataclass(frozen=True, slots=True)
class GpuMesh:
    """Where one attachment's vertices and triangle indices live in the static buffers."""

    first_vertex: int
    vertex_count: int
    first_index: int
    index_count: int


class RigGeometry:
    """The static, per-rig vertex data: built once and shared by every renderer of the rig."""

    def __init__(self, rig: RigData, atlas: Atlas) -> None:
        if len(rig.slots) > MAX_SLOTS:
            raise ValueError(f"rig has {len(rig.slots)} slots; the renderer supports {MAX_SLOTS}")
        bones, weights, local, uvs, indices, slots, anchors = [], [], [], [], [], [], []
        self.meshes: dict[tuple[int, str], GpuMesh] = {}
        # attachments whose picture is fully transparent (a worn face's stand-ins for the
        # parts it replaces): never drawn, their pixels would cost fill for nothing
        self.blank: set[tuple[int, str]] = set()
        self.by_skin_offset: dict[int, GpuMesh] = {}  # rig skin-buffer offset -> GPU range
        nv = ni = 0
        for slot in rig.slots:
            for name, att in rig.attachments[slot.index].items():
                if isinstance(att, MeshAttachment):
                    sl = slice(att.offset, att.offset + att.count)
                    b, w, p = rig.skin_bones[sl], rig.skin_weights[sl], rig.skin_local[sl]
                    uv, tri = att.uvs, att.triangles
                else:
                    n = 4
                    b = np.zeros((n, 4), np.int64)
                    b[:, 0] = slot.bone
                    w = np.zeros((n, 4))
                    w[:, 0] = 1.0
                    p = np.zeros((n, 4, 2))
                    p[:, 0] = att.corners
                    uv, tri = att.uvs, np.array([[0, 1, 2], [0, 2, 3]])
                if att.path not in atlas.regions:
                    raise KeyError(
                        f'slot "{slot.name}" attachment "{name}": no atlas region "{att.path}"'
                    )
                u0, v0, u1, v1 = atlas.uv_rect(att.path)
                x, y, rw, rh = atlas.regions[att.path]
                if not atlas.image[y : y + rh, x : x + rw, 3].any():
                    self.blank.add((slot.index, name))
                bones.append(b)
                weights.append(w)
                local.append(p.reshape(-1, 8))
                uvs.append(np.stack([u0 + uv[:, 0] * (u1 - u0), v0 + uv[:, 1] * (v1 - v0)], axis=1))
                indices.append(np.asarray(tri, np.int64).ravel() + nv)
                slots.append(np.full(len(b), slot.index))
                anchors.append(np.full(len(b), slot.bone))
                self.meshes[(slot.index, name)] = GpuMesh(nv, len(b), ni, tri.size)
                if isinstance(att, MeshAttachment):
                    self.by_skin_offset[att.offset] = self.meshes[(slot.index, name)]
                nv += len(b)
                ni += tri.size
        self.bones = np.concatenate(bones).astype(np.int32)
        self.weights = np.concatenate(weights).astype(np.float32)
        self.local = np.concatenate(local).astype(np.float32)  # (V, 8): p0 p1 p2 p3
        self.uvs = np.concatenate(uvs).astype(np.float32)
        self.indices = np.concatenate(indices).astype(np.int32)
        self.slots = np.concatenate(slots).astype(np.int32)
        self.anchors = np.concatenate(anchors).astype(np.int32)

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
    ) -> None:
        self.ctx = ctx
        self.rig = rig
        self.geometry = RigGeometry(rig, atlas)
        self._prog = program(ctx, "avatar.vert", "avatar.frag")
        self._vbo = ctx.buffer(self.geometry.interleaved())
        self._ibo = ctx.buffer(reserve=max(4, self.geometry.indices.nbytes))
        self._deform = np.zeros((len(self.geometry.bones), 2), np.float32)
        self._deform_vbo = ctx.buffer(self._deform.tobytes())
        self._deforming = False
        self._vao = ctx.vertex_array(
            self._prog,
            [(self._vbo, _VERTEX_FORMAT, *_ATTRS), (self._deform_vbo, "2f", "in_deform")],
            index_buffer=self._ibo,
        )
        self._batches: list[tuple[BlendMode, int, int]] = []  # (blend, first index, count)
        self._visible: tuple[str | None, ...] | None = None
        self._tints = np.zeros((MAX_SLOTS, 4), np.float32)
        self._filters = np.tile(np.array(NO_FILTER, np.float32), (MAX_SLOTS, 1))
        self._bones = ctx.texture((len(rig.bones), 2), 4, dtype="f4")
        self._bones.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._bone_rows = np.zeros((2, len(rig.bones), 4), np.float32)
        self._atlas = ctx.texture(atlas.image.shape[1::-1], 4, atlas.premultiplied().tobytes())
        self._atlas.build_mipmaps()
        self._atlas.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        self._prog["u_bones"] = 0
        self._prog["u_atlas"] = 1
        self._capture: moderngl.VertexArray | None = None
        self._framings: dict[str, Rect] = {}
        self.resize(size, samples)

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
        self._out = self.ctx.framebuffer(color_attachments=[self._out_tex])
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

    def framing(self, preset: str) -> Rect:
        if preset not in self._framings:
            self._framings[preset] = framing_rect(self.rig, preset)
        return self._framings[preset]

    def _update_batches(self, pose: Pose) -> None:
        """Index list of the visible attachments in slot order, rebuilt only after a swap."""
        visible = tuple(pose.slot_attachment)
        if visible == self._visible:
            return
        geo, parts, batches = self.geometry, [], []
        at = 0
        for slot in self.rig.slots:
            name = visible[slot.index]
            if name is None or (slot.index, name) in geo.blank:
                continue
            m = geo.meshes[(slot.index, name)]
            parts.append(geo.indices[m.first_index : m.first_index + m.index_count])
            if batches and batches[-1][0] == slot.blend:
                batches[-1][2] += m.index_count
            else:
                batches.append([slot.blend, at, m.index_count])
            at += m.index_count
        if parts:
            self._ibo.write(np.concatenate(parts).tobytes())
        self._batches = [(b, f, c) for b, f, c in batches]
        self._visible = visible

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
    ) -> np.ndarray:
        """The pose as (height, width, 4) premultiplied RGBA uint8, top row first."""
        self.draw(pose, framing, avatar_filter, part_filters)
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
    ) -> None:
        """Draw the pose into `target` (default: the renderer's own output), cleared to
        `background` first; premultiplied blending composites over an opaque one."""
        if isinstance(framing, str) and framing not in FRAMINGS:
            raise ValueError(f'unknown framing "{framing}" (expected one of {", ".join(FRAMINGS)})')
        rect = self.framing(framing) if isinstance(framing, str) else framing
        ctx = self.ctx
        self._upload_bones(pose.world)
        self._upload_deforms(pose)
        self._atlas.use(1)
        prog = self._prog
        fb = target if target is not None else self._msaa
        w, h = fb.size if target is not None else self.size
        prog["u_view"].write(view_matrix(rect, w, h).T.tobytes())
        _write(prog, "u_avatar_filter", np.array(avatar_filter, np.float32).tobytes())
        fb.use()
        fb.clear(*background)
        ctx.enable(moderngl.BLEND)
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        self._update_batches(pose)
        n = len(self.rig.slots)
        self._tints[:n] = pose.slot_color
        _write(prog, "u_tint", self._tints.tobytes())
        self._filters[:] = NO_FILTER
        for name, f in (part_filters or {}).items():
            self._filters[self.rig.slot_index[name]] = f
        _write(prog, "u_part_filter", self._filters.tobytes())
        for blend, first, count in self._batches:
            ctx.blend_func = _BLEND[blend]
            self._vao.render(moderngl.TRIANGLES, vertices=count, first=first)
        if target is None and self._msaa is not self._out:
            ctx.copy_framebuffer(self._out, self._msaa)

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

    def _release_targets(self) -> None:
        for fb in {self._msaa, self._out}:
            for attachment in fb.color_attachments:
                attachment.release()
            fb.release()

    def release(self) -> None:
        for obj in (self._vao, self._vbo, self._ibo, self._deform_vbo, self._bones, self._atlas):
            obj.release()
        self._release_targets()
        if self._capture is not None:
            self._capture.release()


def _write(prog: moderngl.Program, name: str, data: bytes) -> None:
    # The GLSL compiler drops uniforms a shader variant does not use.
    if name in prog:
        prog[name].write(data)
