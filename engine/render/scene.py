"""A scene: what surrounds the avatar in a stream's picture, as plain checked data.

The background behind it, where it stands in the frame and how large, whether it is
mirrored, and the output's size. A live session holds one (`LiveSession.scene`), replaced
whole by a `scene` control message and read whole by the render thread; the session's
saved look carries it across reloads (`to_json` / `from_json`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image

from engine.render.framing import Rect, view_matrix

# output size presets: name -> (width, height)
SIZES: dict[str, tuple[int, int]] = {
    "square": (512, 512),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "1080p-portrait": (1080, 1920),
}
# the output rate a software renderer (Mesa's llvmpipe) keeps at each size, for a puppet
# page and OBS both watching: CPU milliseconds a tick (one draw, two conversions, two VP8
# encodes; tests/bench/bench_scene.py on a 2-core host) were about 12 at 512 x 512, 27 at
# 720p and 53 at 1080p, so 60 fps at 720p or 1080p would need 1.6 to 3.2 cores
SOFTWARE_FPS: dict[str, int] = {"square": 60, "720p": 30, "1080p": 30, "1080p-portrait": 30}
BACKGROUNDS = ("transparent", "colour", "image")
POSITION_RANGE = (-1.0, 1.0)  # the avatar's centre, as a fraction of the frame's half size
SCALE_RANGE = (0.25, 3.0)  # times the framing's own size
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_IMAGE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class SceneError(ValueError):
    """A scene value that cannot be used; the message names the field and why."""


@dataclass(frozen=True)
class Scene:
    """`background`: "transparent" (OBS composites it), "colour" (`colour`, "#rrggbb") or
    "image" (`image`: a background's id, webapi resolves it to pixels); `x`, `y`: the
    avatar's offset from the centre (y up) in fractions of the frame's half width and
    height; `scale`: its size over the framing's; `mirror`: flipped left to right;
    `size`: an output size preset (SIZES)."""

    background: str = "transparent"
    colour: str = "#282c38"
    image: str | None = None
    x: float = 0.0
    y: float = 0.0
    scale: float = 1.0
    mirror: bool = False
    size: str = "square"

    @property
    def dimensions(self) -> tuple[int, int]:
        return SIZES[self.size]

    @property
    def rgb(self) -> tuple[int, int, int]:
        """`colour` as three 0..255 values."""
        return tuple(int(self.colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]

    def place(self, rect: Rect, width: int, height: int) -> Rect:
        """The engine-space rect whose `view_matrix` draws `rect` (a framing) as this
        scene places it in a `width` x `height` output: scaled by `scale` about its centre,
        that centre moved to (`x`, `y`) in fractions of the frame's half sizes, and flipped
        left to right when `mirror` (a rect whose x0 > x1: view_matrix then maps x with a
        negative scale). Composing in the rect, not after the view, keeps one place (the
        renderer's view_matrix) that turns rects into clip space; culling is off, so a
        flipped picture draws the same triangles."""
        x0, y0, x1, y1 = rect
        view = view_matrix(rect, width, height)
        sx, sy = float(view[0, 0]), float(view[1, 1])  # engine units -> clip, as fitted
        flip = -1.0 if self.mirror else 1.0
        half_w = flip * (x1 - x0) / (2 * self.scale)
        half_h = (y1 - y0) / (2 * self.scale)
        # clip = flip * scale * s * (p - c) + offset  =  s' * (p - c')
        cx = (x0 + x1) / 2 - self.x / (flip * self.scale * sx)
        cy = (y0 + y1) / 2 - self.y / (self.scale * sy)
        return (cx - half_w, cy - half_h, cx + half_w, cy + half_h)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "background": self.background,
            "x": self.x,
            "y": self.y,
            "scale": self.scale,
            "mirror": self.mirror,
            "size": self.size,
        }
        if self.background == "colour":
            out["colour"] = self.colour
        if self.background == "image":
            out["image"] = self.image
        return out

    def updated(self, values: Any) -> Scene:
        """This scene with the fields in `values` (a JSON object) changed; every bad value
        is reported at once (SceneError), and nothing changes then."""
        if not isinstance(values, dict):
            raise SceneError("a scene is a JSON object of fields to change")
        changes: dict[str, Any] = {}
        problems: list[str] = []
        for key, value in values.items():
            if key == "type":  # the control message's own field
                continue
            try:
                changes[key] = _check(key, value)
            except SceneError as e:
                problems.append(str(e))
        new = replace(self, **changes) if not problems else self
        if not problems and new.background == "image" and not new.image:
            problems.append('"background": "image" needs an "image" id')
        if problems:
            raise SceneError("; ".join(problems))
        return new

    @classmethod
    def from_json(cls, values: Any) -> Scene:
        return cls().updated(values)


def _check(key: str, value: Any) -> Any:
    if key == "background":
        if value not in BACKGROUNDS:
            raise SceneError(f'"background" must be one of {", ".join(BACKGROUNDS)}')
        return value
    if key == "colour":
        if not isinstance(value, str) or not _COLOUR.fullmatch(value):
            raise SceneError('"colour" must be "#rrggbb"')
        return value.lower()
    if key == "image":
        if value is None:
            return None
        if not isinstance(value, str) or not _IMAGE_ID.fullmatch(value):
            raise SceneError('"image" must be a background id (a-z, 0-9, _ and -, at most 64)')
        return value
    if key in ("x", "y"):
        return _number(key, value, *POSITION_RANGE)
    if key == "scale":
        return _number(key, value, *SCALE_RANGE)
    if key == "mirror":
        if not isinstance(value, bool):
            raise SceneError('"mirror" must be true or false')
        return value
    if key == "size":
        if value not in SIZES:
            raise SceneError(f'"size" must be one of {", ".join(SIZES)}')
        return value
    raise SceneError(f'unknown scene field "{key}"')


def _number(key: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SceneError(f'"{key}" must be a number from {lo:g} to {hi:g}')
    if not lo <= value <= hi:
        raise SceneError(f'"{key}" must be from {lo:g} to {hi:g}, got {value:g}')
    return float(value)


def cover(picture: np.ndarray, width: int, height: int) -> np.ndarray:
    """`picture` ((h, w, 3) or (h, w, 4) uint8, top row first) scaled to cover a `width` x
    `height` frame without stretching and cropped to it, centred: (height, width, 3) uint8.
    An alpha channel is dropped (a background is opaque; uploads are flattened already)."""
    px = np.asarray(picture)
    if px.ndim != 3 or px.shape[2] not in (3, 4) or px.dtype != np.uint8:
        raise ValueError(f"a background picture is (h, w, 3) uint8, got {px.shape} {px.dtype}")
    h, w = px.shape[:2]
    k = max(width / w, height / h)
    sw, sh = max(width, round(w * k)), max(height, round(h * k))
    image = Image.fromarray(np.ascontiguousarray(px[..., :3]))
    if (sw, sh) != (w, h):
        image = image.resize((sw, sh), Image.Resampling.LANCZOS)
    x0, y0 = (sw - width) // 2, (sh - height) // 2
    return np.asarray(image.crop((x0, y0, x0 + width, y0 + height)), np.uint8).copy()
