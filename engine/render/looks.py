"""Render styles: the four seed styles (engine/style's portrait styles) as a look any avatar
can wear live, drawn by the renderer's shaders rather than by torch.

A style is a few numbers the style pass (shaders/style.frag) reads after the avatar is drawn:
an ink outline (width, colour, how much of the part's own colour it takes), cel shading
(bands on the side of each shape away from the light: how many, how soft, how deep and in
what tint), palette grading (saturation, temperature), and an eye-highlight style drawn on
the irises by the avatar pass itself (shaders/eyes.glsl). A "shape" is a part with the
features drawn on it (a face with its eyes, mouth and brows; engine/render/renderer.py
`_slot_shapes`): the avatar pass writes each pixel's shape to a second target, so bands
follow a face's outline and a hair lock's, never an eye's. The pass keeps each part's flat
base colour where no band or line falls, so a character's skin and hair keep the person's
colours (tests/gl/test_likeness.py holds every style to dE 10).

`numpy_style` is the pass written again in numpy: the reference the GPU's output is tested
against (tests/gl/test_looks.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# how a style draws the irises' highlights (shaders/avatar.frag EYE_*)
EYE_HIGHLIGHTS = ("art", "sparkle", "soft", "gloss")
NONE = "none"  # the style name that draws the avatar as its art is


class UnknownLookError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class RenderStyle:
    """One render style. Lengths are pixels of a 512-pixel-tall output (scaled with it)."""

    name: str
    line_width: float  # outline half-width; 0: no added lines
    line_colour: tuple[float, float, float]  # sRGB 0..1
    line_tone: float  # 0: lines in line_colour; 1: in the part's own colour, darkened
    bands: int  # shading bands on each shape's side away from the light; 0: none
    band_softness: float  # 0: hard steps; 1: a smooth ramp
    shade_reach: float  # how far in from a shape's edge the shading reaches
    shade_depth: float  # how much the deepest band darkens (0..1)
    shade_tint: tuple[float, float, float]  # the shadows' colour cast (multiplies)
    light_angle: float  # degrees; 0: from the right, 90: from above (screen)
    saturation: float  # 1: unchanged
    temperature: float  # -1 (cool) .. 1 (warm); 0: unchanged
    eye_highlight: str  # one of EYE_HIGHLIGHTS

    def __post_init__(self) -> None:
        if self.eye_highlight not in EYE_HIGHLIGHTS:
            raise UnknownLookError(f"eye_highlight: one of {', '.join(EYE_HIGHLIGHTS)}")
        if self.bands < 0 or self.bands > 4:
            raise UnknownLookError("bands: 0 to 4")

    def shade_steps(self, height: int) -> tuple[float, ...]:
        """The shading's SHADE_TAPS sample distances in pixels, nearest first (all 0: no
        shading)."""
        reach = self.shade_reach * height / 512 if self.bands else 0.0
        return tuple(reach * k / SHADE_TAPS for k in range(1, SHADE_TAPS + 1))

    def thin(self, height: int) -> float:
        """How much further than each shading sample the second one looks: a part thinner
        than this (a drawn line, a lash) casts no band, which would echo its shape; half the
        reach, since lines are drawn thicker where the avatar is drawn bigger."""
        return max(THIN, 0.5 * self.shade_reach * height / 512)

    def line_steps(self, height: int) -> tuple[int, int]:
        """The outline's (straight, diagonal) sample distances in whole pixels (so they
        hit texel centres); (0, 0): no outline. Computed here, not in GLSL, whose round()
        of a half is the driver's."""
        if self.line_width <= 0:
            return (0, 0)
        r = max(1, round(self.line_width * height / 512))
        return (r, max(1, round(r * 0.7071)))

    def light_vector(self) -> tuple[float, float]:
        """A unit vector towards the light, in pixels (GL: y up)."""
        a = math.radians(self.light_angle)
        return math.cos(a), math.sin(a)


# Tuned by eye on Digi and the test photos' characters (docs/styles/likeness_sheet.png),
# after the portrait styles of engine/style/styles.py: the same character, four looks.
RENDER_STYLES: dict[str, RenderStyle] = {
    # bright and saturated, bold clean dark-violet lines, sparkling eyes
    "kingdom-hearts": RenderStyle(
        "kingdom-hearts", line_width=2.0, line_colour=(0.10, 0.07, 0.16), line_tone=0.3,
        bands=1, band_softness=0.15, shade_reach=14.0, shade_depth=0.22,
        shade_tint=(0.86, 0.82, 0.94), light_angle=135.0, saturation=1.15, temperature=0.1,
        eye_highlight="sparkle",
    ),
    # darker, cooler, desaturated, heavy lines and deep hard shading
    "dark-cloud": RenderStyle(
        "dark-cloud", line_width=3.0, line_colour=(0.04, 0.05, 0.09), line_tone=0.1,
        bands=2, band_softness=0.05, shade_reach=18.0, shade_depth=0.38,
        shade_tint=(0.74, 0.74, 0.92), light_angle=120.0, saturation=0.9, temperature=-0.15,
        eye_highlight="gloss",
    ),
    # soft: thin warm-brown lines in the parts' own colours, gentle graded shading, warm
    "ghibli": RenderStyle(
        "ghibli", line_width=1.0, line_colour=(0.30, 0.18, 0.12), line_tone=0.7,
        bands=3, band_softness=0.9, shade_reach=16.0, shade_depth=0.2,
        shade_tint=(0.92, 0.84, 0.86), light_angle=100.0, saturation=1.05, temperature=0.25,
        eye_highlight="soft",
    ),
    # flat cel: hard two-tone shading, strong black outlines
    "cel-shade": RenderStyle(
        "cel-shade", line_width=2.5, line_colour=(0.0, 0.0, 0.0), line_tone=0.0,
        bands=1, band_softness=0.0, shade_reach=16.0, shade_depth=0.3,
        shade_tint=(0.86, 0.78, 0.88), light_angle=135.0, saturation=1.1, temperature=0.0,
        eye_highlight="gloss",
    ),
}  # fmt: skip
LOOK_NAMES: tuple[str, ...] = (NONE, *RENDER_STYLES)


def render_style(name: str | None) -> RenderStyle | None:
    """The style called `name`; None for "none" (or None): the art as drawn."""
    if name is None or name == NONE:
        return None
    try:
        return RENDER_STYLES[name]
    except KeyError:
        raise UnknownLookError(
            f'unknown style "{name}" (expected one of {", ".join(LOOK_NAMES)})'
        ) from None


# --- the reference ---------------------------------------------------------------------------

SHADE_TAPS = 4  # shaders/style.frag SHADE_TAPS
SAME_COLOUR = 0.15  # a step (max channel) past which another shape's pixel is another mass
THIN = 3.0  # pixels: a shape thinner than this casts no shading band (at least)
MIN_EDGE = 0.08  # a band step's least half-width: anti-aliases even "hard" bands
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
WARM = np.array([0.08, 0.0, -0.08], np.float32)  # temperature 1's channel gains


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def band_level(amount: np.ndarray, bands: int, softness: float) -> np.ndarray:
    """Shading amount 0..1 quantized into `bands` steps, each step's edge `softness` wide."""
    level = np.zeros_like(amount)
    if bands <= 0:
        return level
    half = max(0.5 * softness / bands, MIN_EDGE)
    for i in range(1, bands + 1):
        t = (i - 0.5) / bands
        level = level + _smoothstep(t - half, t + half, amount)
    return level / bands


def _straight(c: np.ndarray) -> np.ndarray:
    a = c[..., 3:4]
    return np.where(a > 0, c[..., :3] / np.maximum(a, 1e-12), 0.0)


def _bilinear(src: np.ndarray, ox: float, oy: float) -> np.ndarray:
    """`src` sampled at every pixel centre moved by (ox, oy) pixels, bilinear, clamped to
    the edge (GL's LINEAR with CLAMP_TO_EDGE)."""
    h, w = src.shape[:2]
    x = np.arange(w) + ox
    y = np.arange(h) + oy
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (x - x0)[None, :, None], (y - y0)[:, None, None]

    def take(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return src[np.clip(yy, 0, h - 1)][:, np.clip(xx, 0, w - 1)]

    top = take(y0, x0) * (1 - fx) + take(y0, x0 + 1) * fx
    bottom = take(y0 + 1, x0) * (1 - fx) + take(y0 + 1, x0 + 1) * fx
    return top * (1 - fy) + bottom * fy


def _nearest(shapes: np.ndarray, ox: float, oy: float) -> np.ndarray:
    """`shapes` fetched at the texel under every pixel centre moved by (ox, oy) pixels."""
    h, w = shapes.shape
    xs = np.clip(np.floor(np.arange(w) + 0.5 + ox).astype(int), 0, w - 1)
    ys = np.clip(np.floor(np.arange(h) + 0.5 + oy).astype(int), 0, h - 1)
    return shapes[ys][:, xs]


def _otherness(
    own_shape: np.ndarray, own: np.ndarray, n: np.ndarray, shape: np.ndarray
) -> np.ndarray:
    away = 1.0 - np.clip(n[..., 3], 0.0, 1.0)
    colour = np.abs(_straight(n) - own).max(-1) > SAME_COLOUR
    other = (shape != own_shape) & (shape > 0) & colour
    return np.maximum(away, other * n[..., 3])


def numpy_style(src: np.ndarray, shapes: np.ndarray, style: RenderStyle) -> np.ndarray:
    """The style pass on a premultiplied RGBA float picture (H, W, 4), 0..1, and its shape
    map (H, W) as the avatar pass wrote it, both in GL row order (bottom row first): what
    shaders/style.frag computes for every pixel."""
    h, w = src.shape[:2]
    rgb = own = _straight(src)
    alpha = src[..., 3]
    # shading: on the side of each shape away from the light
    steps = style.shade_steps(h)
    amount = np.zeros((h, w), np.float64)
    if style.bands and steps[0]:
        lx, ly = style.light_vector()
        thin = style.thin(h)
        for k, d in enumerate(steps, start=1):
            o = np.minimum(
                _otherness(
                    shapes, own, _bilinear(src, -lx * d, -ly * d), _nearest(shapes, -lx * d, -ly * d)
                ),
                _otherness(
                    shapes,
                    own,
                    _bilinear(src, -lx * (d + thin), -ly * (d + thin)),
                    _nearest(shapes, -lx * (d + thin), -ly * (d + thin)),
                ),
            )
            amount = np.maximum(amount, o * (1.0 - (k - 1) / SHADE_TAPS))
        amount = np.where(alpha > 0.5, amount, 0.0)
    level = band_level(amount, style.bands, style.band_softness)[..., None]
    shadow = np.array(style.shade_tint) * (1.0 - style.shade_depth)
    rgb = rgb * (1.0 + (shadow - 1.0) * level)
    # palette: saturation about the pixel's luma, then temperature
    luma = (rgb @ LUMA)[..., None]
    rgb = luma + (rgb - luma) * style.saturation
    rgb = np.clip(rgb * (1.0 + style.temperature * WARM), 0.0, 1.0)
    out_rgb = rgb * alpha[..., None]
    out_a = alpha.copy()
    # the outline: outside the figure, where a neighbour r pixels away is more opaque
    r, d = style.line_steps(h)
    if r:
        around = np.zeros((h, w))
        near = np.zeros((h, w, 3))
        for dx, dy in ((r, 0), (-r, 0), (0, r), (0, -r), (d, d), (-d, d), (d, -d), (-d, -d)):
            n = _bilinear(src, dx, dy)
            better = n[..., 3] > around
            near = np.where(better[..., None], _straight(n), near)
            around = np.maximum(around, n[..., 3])
        outer = around[..., None]
        ink = (
            np.array(style.line_colour)
            + (near * 0.35 - np.array(style.line_colour)) * style.line_tone
        )
        out_rgb = out_rgb + ink * outer * (1.0 - alpha[..., None])
        out_a = out_a + outer[..., 0] * (1.0 - alpha)
    return np.concatenate([out_rgb, out_a[..., None]], axis=-1)
