"""Visual effects as data: a colour-filter preset and/or an animated overlay
(docs/MARKETPLACE.md, "Effects").

Format (a marketplace effect's `content`, JSON):

    {"schema": 1,
     "filter": {"hue": -180..180 degrees, "saturation": 0..3, "brightness": -1..1,
                "contrast": 0..3},                       # each optional; 0, 1, 0, 1 = none
     "overlay": {"frames": ["files/f0.png", ...],         # 1..48 pictures, <= 1024 a side
                 "fps": 1..30, "blend": "normal" | "add" | "screen", "opacity": 0..1,
                 "placement": "full" | "avatar"}}        # at least one of the two

The filter goes through the renderer's own colour filter (the `color` message's: hue,
saturation, brightness and contrast over the whole avatar); `brightness` here is an offset
(-1..1) and becomes the renderer's factor 1 + brightness. The overlay is composited over the
avatar's frame (premultiplied RGBA) at the session's time, frame floor(t * fps) % n,
stretched over the whole frame ("full") or the avatar's drawn box grown by a margin
("avatar"). `composite` is the numpy reference of the GPU pass (engine/render/overlay.py).

Built-in effects (`BUILTIN`) need no files: their frames are drawn here, deterministically,
the first time they are asked for (`builtin_effect`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from engine.kernels.alpha import premultiply
from engine.rig.errors import FormatError
from engine.rig.reader import Node, check_schema

SCHEMA_VERSION = 1
BLENDS = ("normal", "add", "screen")
PLACEMENTS = ("full", "avatar")
MAX_FRAMES = 48
MAX_SIDE = 1024
FILTER_RANGES: dict[str, tuple[float, float]] = {
    "hue": (-180.0, 180.0),
    "saturation": (0.0, 3.0),
    "brightness": (-1.0, 1.0),
    "contrast": (0.0, 3.0),
}
NEUTRAL = (0.0, 1.0, 1.0, 1.0)  # the renderer's filter that changes nothing
AVATAR_MARGIN = 0.12  # "avatar" placement: the drawn box grown by this share of its size
Filter = tuple[float, float, float, float]  # the renderer's (hue, saturation, brightness, contrast)
Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, top row first, ends exclusive


class EffectFormatError(FormatError):
    """An effect definition is invalid; the message names the JSON path."""


@dataclass(frozen=True, eq=False)
class Overlay:
    """`frames`: (h, w, 4) uint8 straight-alpha RGBA, read-only, all one size."""

    frames: tuple[np.ndarray, ...]
    fps: float
    blend: str
    opacity: float
    placement: str

    def frame_at(self, t: float) -> int:
        """The frame shown at session time `t` (seconds): floor(t * fps) % n."""
        return math.floor(t * self.fps) % len(self.frames)


@dataclass(frozen=True, eq=False)
class EffectData:
    """A parsed effect: `name` identifies it (a listing id or a built-in's name; GPU
    resources are kept per name), `filter` in the renderer's terms, `overlay` if any."""

    name: str
    filter: Filter | None
    overlay: Overlay | None


def parse_effect(
    obj: Any, pictures: Callable[[str], np.ndarray], name: str = "effect", source: str = "effect"
) -> EffectData:
    """Check an effect definition and load its frames (`pictures(path)` returns an RGBA or
    RGB uint8 picture, raising OSError/LookupError/ValueError when it cannot). Raises
    EffectFormatError naming the JSON path of the first problem."""
    root = Node(obj, "", source, EffectFormatError)
    check_schema(root, SCHEMA_VERSION)
    for key, _ in root.items():
        if key not in ("schema", "filter", "overlay"):
            raise root.fail(f'unknown field "{key}"', key)
    if not root.has("filter") and not root.has("overlay"):
        raise root.fail('an effect needs a "filter", an "overlay" or both')
    flt = _filter(root.get("filter")) if root.has("filter") else None
    overlay = _overlay(root.get("overlay"), pictures) if root.has("overlay") else None
    return EffectData(name, flt, overlay)


def _filter(node: Node) -> Filter:
    values = {"hue": 0.0, "saturation": 1.0, "brightness": 0.0, "contrast": 1.0}
    for key, v in node.items():
        if key not in FILTER_RANGES:
            raise v.fail(f"unknown filter value (expected {', '.join(FILTER_RANGES)})")
        values[key] = v.num(*FILTER_RANGES[key])
    return (values["hue"], values["saturation"], 1.0 + values["brightness"], values["contrast"])


def _overlay(node: Node, pictures: Callable[[str], np.ndarray]) -> Overlay:
    for key, v in node.items():
        if key not in ("frames", "fps", "blend", "opacity", "placement"):
            raise v.fail("unknown overlay field")
    frames_node = node.get("frames")
    items = frames_node.list(min_len=1)
    if len(items) > MAX_FRAMES:
        raise frames_node.fail(f"at most {MAX_FRAMES} frames, got {len(items)}")
    frames: list[np.ndarray] = []
    for item in items:
        path = item.str_()
        try:
            px = np.asarray(pictures(path))
        except (OSError, LookupError, ValueError) as e:
            raise item.fail(f'picture "{path}" cannot be read: {e}') from None
        frames.append(_frame(px, item, frames[0].shape if frames else None))
    return Overlay(
        frames=tuple(frames),
        fps=node.get("fps", 12).num(1, 30),
        blend=node.get("blend", "normal").choice(BLENDS),
        opacity=node.get("opacity", 1.0).num(0, 1),
        placement=node.get("placement", "full").choice(PLACEMENTS),
    )


def _frame(px: np.ndarray, node: Node, shape: tuple[int, ...] | None) -> np.ndarray:
    if px.dtype != np.uint8 or px.ndim != 3 or px.shape[2] not in (3, 4):
        raise node.fail(f"a frame is an RGB or RGBA picture, got {px.shape} {px.dtype}")
    h, w = px.shape[:2]
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise node.fail(f"a frame is at most {MAX_SIDE}x{MAX_SIDE}, got {w}x{h}")
    if px.shape[2] == 3:
        px = np.concatenate([px, np.full((h, w, 1), 255, np.uint8)], axis=2)
    if shape is not None and px.shape != shape:
        raise node.fail(f"every frame must be {shape[1]}x{shape[0]} like the first, got {w}x{h}")
    px = np.ascontiguousarray(px)
    px.setflags(write=False)
    return px


# --- applying -----------------------------------------------------------------------------


def combined_filter(avatar: Filter, effect: Filter | None) -> Filter:
    """The session's own whole-avatar colour followed by the effect's, as one filter of the
    renderer's: hue shifts add, the factors multiply (exact for hue, saturation and
    brightness; contrast after brightness is close)."""
    if effect is None:
        return avatar
    hue = (avatar[0] + effect[0] + 180.0) % 360.0 - 180.0
    return (hue, avatar[1] * effect[1], avatar[2] * effect[2], avatar[3] * effect[3])


def placement_rect(overlay: Overlay, width: int, height: int, avatar: Rect | None) -> Rect | None:
    """Where the overlay goes in a `width` x `height` frame (top row first): everything
    ("full"), or the avatar's box (`avatar`, None when nothing was drawn) grown by
    AVATAR_MARGIN and clipped to the frame; None when there is nowhere to put it."""
    if overlay.placement == "full":
        return (0, 0, width, height)
    if avatar is None:
        return None
    x0, y0, x1, y1 = avatar
    if x1 <= x0 or y1 <= y0:
        return None
    mx, my = round((x1 - x0) * AVATAR_MARGIN), round((y1 - y0) * AVATAR_MARGIN)
    r = (max(0, x0 - mx), max(0, y0 - my), min(width, x1 + mx), min(height, y1 + my))
    return r if r[2] > r[0] and r[3] > r[1] else None


def sample(frame: np.ndarray, rw: int, rh: int) -> np.ndarray:
    """`frame` (h, w, C) resampled to (rh, rw, C) float 0..1 as a GPU's bilinear filter with
    clamp-to-edge does for a quad of that size (texel centres at (i + 0.5) / n)."""
    h, w = frame.shape[:2]
    f = frame.astype(np.float64) / 255.0
    u = (np.arange(rw) + 0.5) / rw * w - 0.5
    v = (np.arange(rh) + 0.5) / rh * h - 0.5
    x0 = np.floor(u).astype(int)
    y0 = np.floor(v).astype(int)
    fx, fy = (u - x0)[None, :, None], (v - y0)[:, None, None]
    xa, xb = np.clip(x0, 0, w - 1), np.clip(x0 + 1, 0, w - 1)
    ya, yb = np.clip(y0, 0, h - 1), np.clip(y0 + 1, 0, h - 1)
    top = f[ya][:, xa] * (1 - fx) + f[ya][:, xb] * fx
    bottom = f[yb][:, xa] * (1 - fx) + f[yb][:, xb] * fx
    return top * (1 - fy) + bottom * fy


def blend(dst: np.ndarray, src: np.ndarray, mode: str, opacity: float) -> np.ndarray:
    """Premultiplied `src` (0..1, times `opacity`) over premultiplied `dst` (0..1), as the
    GPU's blend functions do: normal (ONE, ONE_MINUS_SRC_ALPHA), add (ONE, ONE), screen
    (ONE, ONE_MINUS_SRC_COLOR; alpha by ONE_MINUS_SRC_ALPHA)."""
    s = src * opacity
    if mode == "normal":
        out = s + dst * (1.0 - s[..., 3:4])
    elif mode == "add":
        out = s + dst
    elif mode == "screen":
        out = s + dst * (1.0 - s)
    else:
        raise ValueError(f'unknown blend "{mode}"')
    return np.clip(out, 0.0, 1.0)


def composite(
    picture: np.ndarray, effect: EffectData, t: float, avatar: Rect | None = None
) -> np.ndarray:
    """The numpy reference: `effect`'s overlay at time `t` over `picture` ((h, w, 4)
    premultiplied RGBA uint8, top row first; `avatar`: its drawn box, for the "avatar"
    placement). Returns a new array; the filter is the renderer's, not applied here."""
    overlay = effect.overlay
    out = np.array(picture, np.uint8, copy=True)
    if overlay is None:
        return out
    h, w = out.shape[:2]
    rect = placement_rect(overlay, w, h, avatar)
    if rect is None:
        return out
    x0, y0, x1, y1 = rect
    src = sample(premultiply(overlay.frames[overlay.frame_at(t)]), x1 - x0, y1 - y0)
    dst = out[y0:y1, x0:x1].astype(np.float64) / 255.0
    out[y0:y1, x0:x1] = np.round(blend(dst, src, overlay.blend, overlay.opacity) * 255.0)
    return out


# --- built-in effects ---------------------------------------------------------------------

BUILTIN_PREFIX = "builtin:"
BUILTIN: dict[str, dict[str, Any]] = {
    "sparkles": {
        "schema": 1,
        "overlay": {
            "frames": [f"builtin:sparkles/{i}" for i in range(12)],
            "fps": 12, "blend": "add", "opacity": 0.9, "placement": "avatar",
        },
    },
    "sepia": {
        "schema": 1,
        "filter": {"hue": 0.0, "saturation": 0.3, "brightness": 0.06, "contrast": 0.9},
    },
    "neon-glow": {
        "schema": 1,
        "filter": {"saturation": 1.8, "brightness": 0.08, "contrast": 1.25},
        "overlay": {
            "frames": [f"builtin:neon-glow/{i}" for i in range(8)],
            "fps": 8, "blend": "screen", "opacity": 0.7, "placement": "avatar",
        },
    },
    "snowfall": {
        "schema": 1,
        "filter": {"hue": -8.0, "saturation": 0.85, "brightness": 0.04},
        "overlay": {
            "frames": [f"builtin:snowfall/{i}" for i in range(24)],
            "fps": 12, "blend": "normal", "opacity": 0.95, "placement": "full",
        },
    },
}  # fmt: skip
BUILTIN_NAMES = {"sparkles": "Sparkles", "sepia": "Sepia", "neon-glow": "Neon glow",
                 "snowfall": "Snowfall"}  # fmt: skip


@lru_cache(maxsize=len(BUILTIN))
def builtin_effect(name: str) -> EffectData:
    """A built-in effect, its frames drawn on first use (KeyError for an unknown name)."""
    return parse_effect(BUILTIN[name], builtin_picture, name=name, source=f"builtin effect {name}")


def builtin_picture(path: str) -> np.ndarray:
    """A built-in effect's frame by its path, "builtin:<effect>/<index>"."""
    if not path.startswith(BUILTIN_PREFIX):
        raise LookupError(f'not a built-in picture: "{path}"')
    effect, _, index = path[len(BUILTIN_PREFIX) :].partition("/")
    frames = _builtin_frames(effect)
    if not index.isdigit() or int(index) >= len(frames):
        raise LookupError(f'no built-in picture "{path}"')
    return frames[int(index)]


@lru_cache(maxsize=8)
def _builtin_frames(effect: str) -> tuple[np.ndarray, ...]:
    draw = {"sparkles": _sparkles, "neon-glow": _neon_glow, "snowfall": _snowfall}.get(effect)
    if draw is None:
        raise LookupError(f'no built-in effect with pictures named "{effect}"')
    return tuple(draw())


def _patch(
    size: int, cx: float, cy: float, reach: int
) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    """The window of a size x size frame within `reach` of (cx, cy), and each of its
    pixel centres' offsets from (cx, cy): stamps touch only their neighbourhood."""
    x0, x1 = max(0, int(cx) - reach), min(size, int(cx) + reach + 1)
    y0, y1 = max(0, int(cy) - reach), min(size, int(cy) + reach + 1)
    y, x = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    return slice(y0, y1), slice(x0, x1), x + 0.5 - cx, y + 0.5 - cy


def _to_rgba(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = np.clip(alpha, 0.0, 1.0)
    rgb = np.clip(colour, 0.0, 1.0)
    return np.round(np.concatenate([rgb, a[..., None]], axis=2) * 255).astype(np.uint8)


def _sparkles(n: int = 12, size: int = 256, count: int = 34) -> list[np.ndarray]:
    """Four-pointed stars twinkling at their own phases (one full twinkle per loop, so the
    loop is seamless), warm white to pale gold."""
    rng = np.random.default_rng(17)
    px, py = rng.uniform(0.04, 0.96, count) * size, rng.uniform(0.04, 0.96, count) * size
    radius = rng.uniform(9, 20, count)
    phase = rng.uniform(0, 1, count)
    tint = np.stack(
        [np.ones(count), rng.uniform(0.85, 1.0, count), rng.uniform(0.55, 0.95, count)], 1
    )
    frames = []
    for i in range(n):
        alpha = np.zeros((size, size), np.float32)
        colour = np.zeros((size, size, 3), np.float32)
        for k in range(count):
            lit = max(0.0, math.sin(2 * math.pi * (i / n + phase[k])))
            if lit < 0.05:
                continue
            r = radius[k] * (0.5 + 0.5 * lit)
            ys, xs, dx, dy = _patch(size, px[k], py[k], int(r * 3) + 2)
            dx, dy = np.abs(dx), np.abs(dy)
            # a star: two thin crossed rays plus a soft core
            rays = np.exp(-(dx * dy) / (0.9 * r)) * np.exp(-np.maximum(dx, dy) / r * 2.2)
            core = np.exp(-(dx**2 + dy**2) / (2 * (r / 5) ** 2))
            a = lit * np.clip(rays + core, 0, 1)
            colour[ys, xs] += a[..., None] * tint[k]
            alpha[ys, xs] = np.maximum(alpha[ys, xs], a)
        frames.append(_to_rgba(colour / np.maximum(alpha, 1e-6)[..., None], alpha))
    return frames


def _neon_glow(n: int = 8, size: int = 128) -> list[np.ndarray]:
    """A pulsing ring of magenta and cyan light round the avatar's box (the middle stays
    clear so the face is not washed out)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    cx = cy = size / 2
    d = np.hypot((x - cx) / (size / 2), (y - cy) / (size / 2))
    angle = np.arctan2(y - cy, x - cx)
    frames = []
    for i in range(n):
        pulse = 0.75 + 0.25 * math.cos(2 * math.pi * i / n)
        ring = np.exp(-((d - 0.82) ** 2) / (2 * 0.12**2)) * pulse
        mix = 0.5 + 0.5 * np.sin(angle * 2 + 2 * math.pi * i / n)
        colour = np.stack([0.2 + 0.8 * mix, 0.3 + 0.6 * (1 - mix), np.ones_like(mix)], axis=2)
        frames.append(_to_rgba(colour, ring * 0.85))
    return frames


def _snowfall(n: int = 24, size: int = 512, count: int = 90) -> list[np.ndarray]:
    """Soft flakes falling and drifting; each falls a whole number of frame heights per
    loop, so the last frame leads into the first."""
    rng = np.random.default_rng(7)
    fx, fy = rng.uniform(0, size, count), rng.uniform(0, size, count)
    laps = rng.integers(1, 3, count)  # frame heights fallen per loop
    radius = rng.uniform(1.2, 3.6, count)
    sway = rng.uniform(2, 9, count)
    colour = np.ones((size, size, 3), np.float32) * np.array([0.93, 0.96, 1.0], np.float32)
    frames = []
    for i in range(n):
        s = i / n
        alpha = np.zeros((size, size), np.float32)
        for k in range(count):
            cy = (fy[k] + s * laps[k] * size) % size
            cx = (fx[k] + sway[k] * math.sin(2 * math.pi * (s + k / count))) % size
            ys, xs, dx, dy = _patch(size, cx, cy, int(radius[k] * 4) + 1)
            a = np.exp(-(dx**2 + dy**2) / (2 * radius[k] ** 2)) * 0.95
            alpha[ys, xs] = np.maximum(alpha[ys, xs], a)
        frames.append(_to_rgba(colour, alpha))
    return frames
