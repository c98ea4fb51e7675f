"""RGBA -> yuv420p: the specification of the video converter (engine/render/video.py does the
same on the GPU, and a test holds the two within a level).

Why: the WebRTC encoder (libvpx VP8) eats yuv420p. Converting the rendered RGBA on the CPU
costs more than rendering it, so the GPU converts and reads back only the three planes; this
module says, in plain numpy, exactly what those planes contain.

Conventions (written once; the GLSL in shaders/yuv.frag follows them):

- Input: the renderer's output, (h, w, 4) uint8 premultiplied RGBA, top row first; w and h
  even (4:2:0 chroma covers 2x2 blocks).
- Layouts of the frame (W x H, see docs/STREAMING.md "Video"):
  - "opaque": W = w. The avatar composited over the opaque `background` (0..255 RGB):
    ``c = rgb + background * (1 - a / 255)``, clamped to 0..255.
  - "packed": W = 2w. Left half the premultiplied colour as is (the avatar over black),
    right half the alpha as grey (R = G = B = a); the OBS page rebuilds RGBA as
    (left.rgb, right.r). The alpha's two ends take the codes outside the studio range:
    Y = 0 where a = 0 and Y = 255 where a = 255 (grey would give 16 and 235). A decoder
    clamps both to 0 and 255 as it converts, so the codec's noise cannot make a transparent
    pixel show or an opaque one let what is behind through (measured with our encoder's
    settings in the frames after a keyframe: a flat opaque half decoded as low as 244, a
    transparent one as high as 15; with these codes, 255 and 0 exactly). The alpha in
    between keeps its grey.
  - A scene's backdrop (engine/render/scene.py: a colour or a picture, (h, w, 3) uint8 at
    the render's size, top row first) replaces the background in both layouts: the avatar
    over it, ``c = rgb + backdrop * (1 - a / 255)``; in "packed" the alpha half is then
    255 everywhere (the backdrop covers the whole frame).
- Colour: BT.601 (Kr = 0.299, Kb = 0.114), limited range ("studio swing", what WebRTC
  decoders assume): with R, G, B in 0..255 and ``Y' = Kr R + Kg G + Kb B``,
  ``Y = 16 + 219/255 Y'``, ``U = 128 + 224/255 (B - Y') / 1.772``,
  ``V = 128 + 224/255 (R - Y') / 1.402``. White is (235, 128, 128), black (16, 128, 128),
  pure red (81, 90, 240); any grey has U = V = 128 exactly.
- Chroma: one U and one V per 2x2 block, centred on the block (box filter, JPEG/MPEG-1
  siting): the mean of the block's four composited RGB values, converted. (The conversion
  is affine, so this equals averaging the converted values; only the rounding point could
  differ, and there is one rounding, at the end.)
- Rounding: computed in float, then ``floor(x + 0.5)`` clipped to 0..255, as uint8.
- Output planes, each top row first and C-contiguous: Y (H, W), U (H/2, W/2), V (H/2, W/2).
  Laid end to end they are an I420 buffer (what av.VideoFrame's "yuv420p" holds).
"""

from __future__ import annotations

import numpy as np

KR, KB = 0.299, 0.114
KG = 1.0 - KR - KB
ALPHA_CLEAR_Y = 0  # the packed alpha half's Y where a = 0 ("footroom": below black's 16)
ALPHA_SOLID_Y = 255  # ... where a = 255 ("headroom": above white's 235)
DEFAULT_BACKGROUND: tuple[int, int, int] = (40, 44, 56)
LAYOUTS = ("opaque", "packed")


def frame_size(w: int, h: int, layout: str) -> tuple[int, int]:
    """(W, H) of the video frame for a w x h render in `layout`; raises ValueError when the
    layout is unknown or a side is odd (4:2:0 needs 2x2 blocks)."""
    if layout not in LAYOUTS:
        raise ValueError(f'unknown video layout "{layout}" (expected one of {", ".join(LAYOUTS)})')
    if w <= 0 or h <= 0 or w % 2 or h % 2:
        raise ValueError(f"yuv420p needs a positive, even width and height; got {w}x{h}")
    return (2 * w if layout == "packed" else w), h


def composite(
    rgba_premultiplied: np.ndarray,
    layout: str = "opaque",
    background: tuple[int, int, int] = DEFAULT_BACKGROUND,
    backdrop: np.ndarray | None = None,
) -> np.ndarray:
    """The frame's RGB as float64 (H, W, 3) in 0..255, before conversion (see the layouts);
    `backdrop`: a scene's (h, w, 3) uint8 picture behind the avatar, or None."""
    px = np.asarray(rgba_premultiplied)
    if px.ndim != 3 or px.shape[2] != 4 or px.dtype != np.uint8:
        raise ValueError(f"expected (h, w, 4) uint8 RGBA, got {px.shape} {px.dtype}")
    h, w = px.shape[:2]
    frame_size(w, h, layout)
    rgb = px[..., :3].astype(np.float64)
    a = px[..., 3:4].astype(np.float64)
    if backdrop is not None:
        back = np.asarray(backdrop)
        if back.shape != (h, w, 3) or back.dtype != np.uint8:
            raise ValueError(f"the backdrop must be ({h}, {w}, 3) uint8, got {back.shape}")
        over = np.clip(rgb + back.astype(np.float64) * (1.0 - a / 255.0), 0.0, 255.0)
        if layout == "packed":
            return np.concatenate([over, np.full_like(over, 255.0)], axis=1)
        return over
    if layout == "packed":
        return np.concatenate([rgb, np.repeat(a, 3, axis=2)], axis=1)
    bg = np.asarray(background, np.float64).reshape(1, 1, 3)
    return np.clip(rgb + bg * (1.0 - a / 255.0), 0.0, 255.0)


def rgb_to_yuv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 limited-range Y, U, V (float, unrounded) of RGB in 0..255, shape (..., 3)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = KR * r + KG * g + KB * b
    y = 16.0 + (219.0 / 255.0) * luma
    u = 128.0 + (224.0 / 255.0) * (b - luma) / (2.0 * (1.0 - KB))
    v = 128.0 + (224.0 / 255.0) * (r - luma) / (2.0 * (1.0 - KR))
    return y, u, v


def _quantize(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8))


def to_yuv420(
    rgba_premultiplied: np.ndarray,
    layout: str = "opaque",
    background: tuple[int, int, int] = DEFAULT_BACKGROUND,
    backdrop: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The yuv420p planes Y (H, W), U (H/2, W/2), V (H/2, W/2), uint8, top row first, of a
    premultiplied (h, w, 4) uint8 render, top row first (conventions at the top)."""
    rgb = composite(rgba_premultiplied, layout, background, backdrop)
    big_h, big_w = rgb.shape[:2]
    y, _, _ = rgb_to_yuv(rgb)
    block = rgb.reshape(big_h // 2, 2, big_w // 2, 2, 3).mean(axis=(1, 3))
    _, u, v = rgb_to_yuv(block)
    y8 = _quantize(y)
    if layout == "packed":
        alpha_y = y8[:, big_w // 2 :]
        if backdrop is not None:
            alpha_y[:] = ALPHA_SOLID_Y
        else:
            a = np.asarray(rgba_premultiplied)[..., 3]
            alpha_y[a == 0] = ALPHA_CLEAR_Y
            alpha_y[a == 255] = ALPHA_SOLID_Y
    return y8, _quantize(u), _quantize(v)
