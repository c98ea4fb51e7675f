"""An effect's animated overlay drawn over the renderer's output on the GPU.

Why here: the overlay belongs in the same premultiplied picture the video converter
reads (engine/render/video.py), so both layouts (opaque over a scene, packed with its
alpha for OBS) show it, with no read-back. One pass: the frame's texture stretched over
the placement's rectangle with the effect's blend function. The numpy reference is
engine/effects.py `composite`; tests/gl/test_effects_gl.py holds the two together.
"""

from __future__ import annotations

import moderngl
import numpy as np

from engine.effects import EffectData, placement_rect
from engine.kernels.alpha import premultiply
from engine.render.renderer import AvatarRenderer
from engine.render.shaders import program

_FRAME_UNIT = 4  # clear of the renderer's (0, 1) and the video converter's (2, 3) units
_BLEND_FUNCS = {
    "normal": (moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA),
    "add": (moderngl.ONE, moderngl.ONE),
    # per channel: src + dst * (1 - src); GL reads ONE_MINUS_SRC_COLOR as 1 - src.a for alpha
    "screen": (moderngl.ONE, moderngl.ONE_MINUS_SRC_COLOR),
}


class OverlayPass:
    """One effect's frames on the GPU (uploaded once, premultiplied), drawn with `draw`.
    Use and release it on the thread that owns the GL context."""

    def __init__(self, ctx: moderngl.Context, effect: EffectData) -> None:
        if effect.overlay is None:
            raise ValueError(f'effect "{effect.name}" has no overlay')
        self.ctx = ctx
        self.effect = effect
        self.overlay = effect.overlay
        self._textures: list[moderngl.Texture] = []
        for frame in self.overlay.frames:
            h, w = frame.shape[:2]
            # GL row order (bottom first), like the renderer's output it is drawn over
            data = np.ascontiguousarray(premultiply(frame)[::-1]).tobytes()
            tex = ctx.texture((w, h), 4, data, alignment=1)
            tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
            tex.repeat_x = tex.repeat_y = False
            self._textures.append(tex)
        self._prog = program(ctx, "fullscreen.vert", "overlay.frag")
        self._prog["u_frame"] = _FRAME_UNIT
        self._vao = ctx.vertex_array(self._prog, [])
        self._fbs: dict[int, tuple[moderngl.Texture, moderngl.Framebuffer]] = {}

    def draw(self, renderer: AvatarRenderer, t: float) -> None:
        """The overlay's frame at session time `t` over `renderer`'s last draw into its own
        output; its `drawn_bounds` grow to cover the overlay (the converter reads those)."""
        w, h = renderer.size
        bounds = renderer.drawn_bounds  # GL rows: (x0, y0, x1, y1), bottom first
        avatar = None
        if bounds is not None:  # as a top-first rect, as placement_rect takes it
            avatar = (bounds[0], h - bounds[3], bounds[2], h - bounds[1])
        rect = placement_rect(self.overlay, w, h, avatar)
        if rect is None:
            return
        x0, top, x1, bottom = rect
        y0 = h - bottom  # GL rows
        fb = self._framebuffer(renderer.output_texture)
        fb.viewport = (x0, y0, x1 - x0, bottom - top)
        fb.use()
        self._prog["u_origin"] = (float(x0), float(y0))
        self._prog["u_extent"] = (float(x1 - x0), float(bottom - top))
        self._prog["u_opacity"] = float(self.overlay.opacity)
        self._textures[self.overlay.frame_at(t)].use(_FRAME_UNIT)
        self.ctx.enable(moderngl.BLEND)
        self.ctx.blend_func = _BLEND_FUNCS[self.overlay.blend]
        self._vao.render(moderngl.TRIANGLES, vertices=3)
        self.ctx.blend_func = moderngl.DEFAULT_BLENDING
        self.ctx.disable(moderngl.BLEND)
        if bounds is None or bounds[2] <= bounds[0] or bounds[3] <= bounds[1]:
            renderer.drawn_bounds = (x0, y0, x1, y0 + bottom - top)
        else:
            renderer.drawn_bounds = (
                min(bounds[0], x0),
                min(bounds[1], y0),
                max(bounds[2], x1),
                max(bounds[3], y0 + bottom - top),
            )

    def _framebuffer(self, texture: moderngl.Texture) -> moderngl.Framebuffer:
        """A framebuffer onto the renderer's output texture (a new one after a resize)."""
        held = self._fbs.get(texture.glo)
        if held is None or held[0] is not texture:
            if held is not None:
                held[1].release()
            fb = self.ctx.framebuffer(color_attachments=[texture])
            held = self._fbs[texture.glo] = (texture, fb)
        return held[1]

    def release(self) -> None:
        for tex in self._textures:
            tex.release()
        self._textures.clear()
        for _, fb in self._fbs.values():
            fb.release()
        self._fbs.clear()
        self._vao.release()
        self._prog.release()
