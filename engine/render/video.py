"""The renderer's picture as yuv420p planes, converted on the GPU (or, on a software
rasteriser, on the CPU).

Why: the WebRTC encoder (libvpx VP8) wants yuv420p. Reading back RGBA (4 bytes a pixel) and
converting on the CPU (composite + swscale) costs more than the render itself; here one
fullscreen draw samples the renderer's output texture, one fragment per 4x2 block (each
source texel fetched once: what llvmpipe's cost is counted in), and writes Y, U and V into
small RGBA8/RG8 targets whose rows are the planes' rows, so a frame reads back only its
planes, 1.5 bytes a pixel (the packed layout's alpha half has no chroma to read: it is 128
by the specification).

On a software rasteriser (llvmpipe) that draw costs more CPU than reading the avatar's box
back and converting it in numba (engine/kernels/i420.py, exactly the specification), so there
the converter does that instead: each frame starts from the planes of a transparent picture
and converts only the rows' spans that hold a pixel.

The specification is engine/kernels/yuv.py (BT.601 limited range, 2x2 box chroma, the
"opaque" and "packed" layouts); the GLSL is shaders/fullscreen.vert + shaders/yuv.frag, and
tests/gl/test_video.py holds the two within a level. The engine hands out numpy planes and
never imports av; the streaming side builds the av.VideoFrame.
"""

from __future__ import annotations

import moderngl
import numpy as np

from engine.kernels.i420 import alpha_rect, convert_rect
from engine.kernels.yuv import DEFAULT_BACKGROUND, frame_size
from engine.render.context import is_software, wait_idle
from engine.render.renderer import AvatarRenderer
from engine.render.shaders import program

_SOURCE_UNIT = 2  # the renderer binds units 0 (bones) and 1 (atlas) on every draw
_BACKDROP_UNIT = 3


class VideoConverter:
    """Converts `renderer`'s most recent `draw()` (into its own output, no `target`) to
    yuv420p in `layout` ("opaque" over `background`, or "packed": colour | alpha). Follows
    `renderer.resize()`; the renderer's size must stay even. Use it on the thread that owns
    the GL context; every call returns new arrays, safe to hand to the encoder's thread.
    `on_cpu`: convert on the CPU (None: where the context rasterises on the CPU anyway)."""

    def __init__(
        self,
        renderer: AvatarRenderer,
        layout: str = "opaque",
        background: tuple[int, int, int] = DEFAULT_BACKGROUND,
        on_cpu: bool | None = None,
    ) -> None:
        frame_size(*renderer.size, layout)  # refuse an odd size or unknown layout up front
        self.background = tuple(int(c) for c in background)
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):
            raise ValueError(f"background must be three 0..255 values, got {background}")
        self.renderer = renderer
        self.layout = layout
        self.ctx = renderer.ctx
        self.on_cpu = is_software(self.ctx) if on_cpu is None else on_cpu
        # the CPU path's I420 of a wholly transparent picture (this layout, size and
        # backdrop), which each frame starts from; None: to be made
        self._blank: np.ndarray | None = None
        self._blank_size = (0, 0)
        self._back = np.zeros((1, 3, 0), np.uint8)  # what is behind, planar; with _blank
        self._scratch = np.empty((2, 3, 0), np.float64)
        # shader variant (PACKED, OVER, IMAGE defines) -> program and vertex array
        self._variants: dict[tuple[str, ...], tuple[moderngl.Program, moderngl.VertexArray]]
        self._variants = {}
        # a scene's backdrop: None, an RGB colour, or a picture (its texture)
        self.backdrop: tuple[int, int, int] | np.ndarray | None = None
        self._backdrop_tex: moderngl.Texture | None = None
        self._target: moderngl.Framebuffer | None = None
        self._src_size: tuple[int, int] = (0, 0)
        self._use(self._defines())
        # the blocks (x0, y0, x1, y1) of the target the last conversion wrote from the
        # avatar's pixels; everywhere else the target holds converted transparent pixels
        self._written: tuple[int, int, int, int] | None = None

    def _defines(self) -> tuple[str, ...]:
        packed = ("PACKED",) if self.layout == "packed" else ()
        if isinstance(self.backdrop, np.ndarray):
            return (*packed, "IMAGE")
        if self.backdrop is not None and packed:
            return (*packed, "OVER")
        return packed

    def _use(self, defines: tuple[str, ...]) -> None:
        if defines not in self._variants:
            prog = program(self.ctx, "fullscreen.vert", "yuv.frag", defines=defines)
            prog["u_src"] = _SOURCE_UNIT
            if "u_backdrop" in prog:
                prog["u_backdrop"] = _BACKDROP_UNIT
            self._variants[defines] = (prog, self.ctx.vertex_array(prog, []))
        self._prog, self._vao = self._variants[defines]
        colour = self.backdrop if isinstance(self.backdrop, tuple) else self.background
        if "u_background" in self._prog:  # the plain packed variant has none
            self._prog["u_background"] = tuple(float(c) for c in colour)
        if "u_src_size" in self._prog and self._src_size != (0, 0):
            self._prog["u_src_size"] = self._src_size

    def set_backdrop(self, backdrop: tuple[int, int, int] | np.ndarray | None) -> None:
        """What shows behind the avatar from the next conversion on: None (the layout's
        own: transparent when packed, `background` when opaque), an RGB colour (0..255),
        or a picture, (h, w, 3) uint8 at the renderer's size, top row first (a scene's
        image, fitted: engine/render/scene.py). Either covers the whole frame, so the
        packed layout's alpha is then 255 everywhere."""
        if isinstance(backdrop, np.ndarray):
            w, h = self.renderer.size
            if backdrop.shape != (h, w, 3) or backdrop.dtype != np.uint8:
                raise ValueError(f"a backdrop picture must be ({h}, {w}, 3) uint8")
        elif backdrop is not None:
            backdrop = tuple(int(c) for c in backdrop)  # type: ignore[assignment]
            if len(backdrop) != 3 or not all(0 <= c <= 255 for c in backdrop):
                raise ValueError(f"a backdrop colour is three 0..255 values, got {backdrop}")
        if self._backdrop_tex is not None:
            self._backdrop_tex.release()
            self._backdrop_tex = None
        self.backdrop = backdrop
        if isinstance(backdrop, np.ndarray):
            w, h = self.renderer.size
            # GL row order (bottom first), as the source: the shader fetches both alike
            data = np.ascontiguousarray(backdrop[::-1]).tobytes()
            self._backdrop_tex = self.ctx.texture((w, h), 3, data, alignment=1)
            self._backdrop_tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._use(self._defines())
        self._blank = None
        self._written = None  # everything outside the avatar changed: convert it all once

    @property
    def size(self) -> tuple[int, int]:
        """(W, H) of the video frame: the renderer's size, twice as wide when packed."""
        return frame_size(*self.renderer.size, self.layout)

    def _ensure_target(self) -> moderngl.Framebuffer:
        if self._target is not None and self._src_size == self.renderer.size:
            return self._target
        frame_size(*self.renderer.size, self.layout)  # raises for an odd size
        self._release_target()
        w, h = self._src_size = self.renderer.size
        # per 4x2 block: Y of the top row's 4 pixels, of the bottom row's, U and V of its
        # two 2x2 blocks (+ the alpha half's Y when packed); a width that is not a multiple
        # of 4 gets a last column of blocks half outside, whose extra bytes are not read
        components = (4, 4, 2, 2, 4, 4) if self.layout == "packed" else (4, 4, 2, 2)
        self._target = self.ctx.framebuffer(
            color_attachments=[self.ctx.texture((-(-w // 4), h // 2), n) for n in components]
        )
        self._prog["u_src_size"] = self._src_size
        self._written = None  # a new target: convert it all once
        if isinstance(self.backdrop, np.ndarray) and self.backdrop.shape[1::-1] != (w, h):
            self.set_backdrop(None)  # a picture for another size: the owner sets a new one
        return self._target

    def _blocks(self) -> tuple[int, int, int, int]:
        """The target blocks (x0, y0, x1, y1, ends exclusive) to convert this time: those
        the picture's drawing can have touched (`renderer.drawn_bounds`), and those the
        last conversion wrote from the avatar (now perhaps background again). The rest
        already holds converted transparent pixels, the same every frame; so most of a
        full-figure frame is not shaded at all."""
        w, h = self._src_size
        everything = (0, 0, -(-w // 4), h // 2)
        bounds = self.renderer.drawn_bounds
        if self._written is None or bounds is None:
            return everything
        now = self._own_blocks(bounds)
        last = self._written
        if now[2] <= now[0]:
            return last
        if last[2] <= last[0]:
            return now
        return (
            min(now[0], last[0]),
            min(now[1], last[1]),
            max(now[2], last[2]),
            max(now[3], last[3]),
        )

    def _own_blocks(self, bounds: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """Source pixels (x0, y0, x1, y1; GL rows, bottom first) -> the target blocks that
        hold them."""
        h = self._src_size[1]
        x0, y0, x1, y1 = bounds
        if x1 <= x0 or y1 <= y0:
            return (0, 0, 0, 0)
        # target column c holds image columns 4c .. 4c + 3, target row r image rows 2r and
        # 2r + 1, image row i being GL row h - 1 - i
        return (x0 // 4, (h - y1) // 2, (x1 + 3) // 4, (h - y0 + 1) // 2)

    def _read(self, attachment: int, components: int, width: int) -> np.ndarray:
        """Target `attachment`'s rows, each `width` bytes of a plane's row."""
        assert self._target is not None
        w, h = self._src_size
        data = self._target.read(components=components, attachment=attachment, alignment=1)
        return np.frombuffer(data, np.uint8).reshape(h // 2, -(-w // 4) * components)[:, :width]

    def convert_i420(self) -> np.ndarray:
        """The frame as one new contiguous I420 buffer, shape (3H/2, W) uint8: Y's H rows
        of W bytes, then U (H/2 x W/2) and V (H/2 x W/2) end to end. This is the array
        `av.VideoFrame.from_ndarray(..., format="yuv420p")` takes."""
        if self.on_cpu:
            return self._convert_on_cpu()
        target = self._ensure_target()
        frame_w, frame_h = self.size
        w = self._src_size[0]
        wait_idle(self.ctx)  # the picture drawn, the GIL free meanwhile
        blocks = self._blocks()
        bx0, by0, bx1, by1 = blocks
        if bx1 > bx0 and by1 > by0:
            self.renderer.output_texture.use(_SOURCE_UNIT)
            if self._backdrop_tex is not None:
                self._backdrop_tex.use(_BACKDROP_UNIT)
            target.scissor = (bx0, by0, bx1 - bx0, by1 - by0)
            target.use()
            self.ctx.disable(moderngl.BLEND)
            self._vao.render(moderngl.TRIANGLES, vertices=3)
            wait_idle(self.ctx)  # the planes converted: the reads below only copy
        # only the avatar's own blocks count as written from it next time
        bounds = self.renderer.drawn_bounds
        self._written = blocks if bounds is None else self._own_blocks(bounds)
        out = np.empty(frame_w * frame_h * 3 // 2, np.uint8)
        y, u, v = _planes(out, frame_w, frame_h)
        y[0::2, :w] = self._read(0, 4, w)
        y[1::2, :w] = self._read(1, 4, w)
        u[:, : w // 2] = self._read(2, 2, w // 2)
        v[:, : w // 2] = self._read(3, 2, w // 2)
        if self.layout == "packed":
            y[0::2, w:] = self._read(4, 4, w)
            y[1::2, w:] = self._read(5, 4, w)
            u[:, w // 2 :] = 128
            v[:, w // 2 :] = 128
        return out.reshape(frame_h * 3 // 2, frame_w)

    def _convert_on_cpu(self) -> np.ndarray:
        w, h = self.renderer.size
        frame_w, frame_h = frame_size(w, h, self.layout)  # raises for an odd size
        if self._blank is None or self._blank_size != (w, h):
            if isinstance(self.backdrop, np.ndarray) and self.backdrop.shape[1::-1] != (w, h):
                self.set_backdrop(None)  # a picture for another size: the owner sets a new one
            self._blank = self._cpu_planes(np.zeros((h, w), np.uint32), (0, 0), True)
            self._blank_size = (w, h)
        wait_idle(self.ctx)  # the picture drawn, the GIL free meanwhile
        bounds = self.renderer.drawn_bounds
        x0, y0, x1, y1 = (0, 0, w, h) if bounds is None else bounds
        # whole 2x2 blocks: grown to even edges (w and h are even)
        x0, y0 = max(0, x0 - x0 % 2), max(0, y0 - y0 % 2)
        x1, y1 = min(w, x1 + x1 % 2), min(h, y1 + y1 % 2)
        if x1 <= x0 or y1 <= y0:
            return self._blank.copy().reshape(frame_h * 3 // 2, frame_w)
        pixels = self.renderer.read_output((x0, y0, x1 - x0, y1 - y0))
        out = self._cpu_planes(pixels, (x0, y0), False)
        return out.reshape(frame_h * 3 // 2, frame_w)

    def _cpu_planes(
        self, pixels: np.ndarray, origin: tuple[int, int], transparent: bool
    ) -> np.ndarray:
        """A new flat I420 buffer: the blank frame (or, when `transparent`, nothing) with
        `pixels` (GL rows, uint32 RGBA, at `origin`) converted into it."""
        w, h = self.renderer.size
        frame_w, frame_h = frame_size(w, h, self.layout)
        packed = self.layout == "packed"
        if transparent:  # a new blank frame: what is behind, made once for all frames
            out = np.empty(frame_w * frame_h * 3 // 2, np.uint8)
            # planar (engine/kernels/i420.py): a picture's rows, or one row of a colour
            if isinstance(self.backdrop, np.ndarray):
                self._back = np.ascontiguousarray(self.backdrop.transpose(0, 2, 1))
            else:
                colour = self.backdrop if self.backdrop is not None else self.background
                if packed and self.backdrop is None:
                    colour = (0, 0, 0)  # the colour half: the avatar over black
                self._back = np.empty((1, 3, w), np.uint8)
                self._back[0] = np.array(colour, np.uint8)[:, None]
        else:
            assert self._blank is not None
            out = self._blank.copy()
        y, u, v = _planes(out, frame_w, frame_h)
        if self._scratch.shape[2] < pixels.shape[1]:
            self._scratch = np.empty((2, 3, pixels.shape[1]), np.float64)
        x0, y0 = origin
        convert_rect(pixels, x0, y0, h, self._back, y, u, v, self._scratch, transparent)
        if packed:
            if transparent:
                u[:, w // 2 :] = 128
                v[:, w // 2 :] = 128
            if self.backdrop is not None:  # it covers the frame: opaque everywhere
                if transparent:
                    y[:, w:] = 255
            else:
                alpha_rect(pixels, x0 + w, y0, h, y, transparent)
        return out

    def convert(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The planes Y (H, W), U (H/2, W/2), V (H/2, W/2), uint8, top row first, each
        C-contiguous (line size = width): views of one new `convert_i420()` buffer."""
        return _planes(self.convert_i420().reshape(-1), *self.size)

    def _release_target(self) -> None:
        if self._target is not None:
            for attachment in self._target.color_attachments:
                attachment.release()
            self._target.release()
            self._target = None

    def release(self) -> None:
        self._release_target()
        if self._backdrop_tex is not None:
            self._backdrop_tex.release()
            self._backdrop_tex = None
        for prog, vao in self._variants.values():
            vao.release()
            prog.release()
        self._variants.clear()


def _planes(flat: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, U, V views of a flat I420 buffer of a w x h frame."""
    n_y, n_c = w * h, (w // 2) * (h // 2)
    return (
        flat[:n_y].reshape(h, w),
        flat[n_y : n_y + n_c].reshape(h // 2, w // 2),
        flat[n_y + n_c :].reshape(h // 2, w // 2),
    )
