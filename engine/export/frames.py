"""Baked frames drawn by our own GL renderer: the pictures raster formats hold, and the
reference every outside runtime's playback is compared with.

`Camera` is the one mapping from the engine's world (y-up) to an output's pixels (y-down);
every exporter that places art in a picture or a canvas uses it, so a runtime's frame and
ours line up pixel for pixel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.export.bake import BakedFrame, Take
from engine.export.subject import Subject
from engine.render.context import create_context
from engine.render.framing import Rect
from engine.render.looks import render_style
from engine.render.renderer import AvatarRenderer

PAD = 0.04  # of the larger side, around the take's bounds


@dataclass(frozen=True)
class Camera:
    """World rect (x0, y0, x1, y1), y-up, shown in a width x height picture without
    stretching (the rect has the picture's aspect)."""

    rect: Rect
    width: int
    height: int

    @property
    def scale(self) -> float:
        """Pixels per world unit."""
        return self.width / (self.rect[2] - self.rect[0])

    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        """(n, 2) world points -> (n, 2) pixel coordinates (x right, y down, origin at the
        picture's top-left corner)."""
        x0, _, _, y1 = self.rect
        s = self.scale
        p = np.asarray(points, np.float64)
        return np.stack([(p[:, 0] - x0) * s, (y1 - p[:, 1]) * s], axis=1)


def fit(bounds: Rect, width: int, height: int, pad: float = PAD) -> Camera:
    """The camera showing `bounds` whole and centred in a width x height picture."""
    x0, y0, x1, y1 = bounds
    w, h = max(x1 - x0, 1e-6), max(y1 - y0, 1e-6)
    span = max(w, h) * pad
    w, h = w + 2 * span, h + 2 * span
    aspect = width / height
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return Camera((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), width, height)


def camera_for(takes: list[Take] | Take, width: int, height: int | None = None) -> Camera:
    """One camera for all `takes` (their frames share a framing: no jumps between them)."""
    takes = [takes] if isinstance(takes, Take) else takes
    b = np.array([t.bounds for t in takes])
    bounds = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
    return fit(tuple(map(float, bounds)), width, height or width)  # type: ignore[arg-type]


def _square(camera: Camera) -> Rect:
    """The renderer's framings are squares it fits into the output's shorter side and
    widens along the longer one (engine/render/framing.py, view_matrix): the camera's rect
    as the square that shows exactly that rect."""
    x0, y0, x1, y1 = camera.rect
    side = min(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


class FrameRenderer:
    """Renders a subject's baked frames (colour filters and render style applied) through
    `AvatarRenderer`, on a GL context of its own (engine.render.context makes it)."""

    def __init__(self, subject: Subject, width: int, height: int | None = None) -> None:
        self.subject = subject
        self.size = (int(width), int(height or width))
        self.ctx = create_context()
        self.renderer = AvatarRenderer(self.ctx, subject.rig, subject.atlas, size=self.size)
        self.style = render_style(subject.style)

    def render(self, frame: BakedFrame, camera: Camera) -> np.ndarray:
        """(height, width, 4) premultiplied RGBA uint8, top row first."""
        s = self.subject
        # each renderer's own context made current: another one made or closed on this
        # thread since (a second size, a closed job) would otherwise receive these GL calls
        with self.ctx:
            if (camera.width, camera.height) != self.size:
                self.size = (camera.width, camera.height)
                self.renderer.resize(self.size)
            px = self.renderer.render(
                frame.pose(s.rig),
                _square(camera),
                s.avatar_filter,
                s.part_filters,
                style=self.style,
            )
        return px.copy()

    def close(self) -> None:
        with self.ctx:  # its objects are deleted in its own context, not the current one
            self.renderer.release()
        self.ctx.release()

    def __enter__(self) -> FrameRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
