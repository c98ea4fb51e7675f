"""RGBA -> yuv420p on the CPU (numba): the video converter's path where the "GPU" is the CPU.

Why: on a software rasteriser (Mesa's llvmpipe) the GPU conversion (engine/render/video.py)
is a draw like any other: a scene set up, the rasteriser's threads woken, a fragment shader
run over the avatar's box and four targets read back; 0.4 ms of CPU a full-figure frame on
a machine of this kind. Reading the box's RGBA back (a copy) and converting it here costs
about half that, so the converter does that on software rasterisers; on a real GPU the
shader stays (it reads back 1.5 bytes a pixel instead of 4, and costs the CPU nothing).

The arithmetic is engine/kernels/yuv.py's, operation for operation in float64 (BT.601
limited range, the 2x2 block mean for chroma, one rounding at the end), so these planes
equal the reference's exactly; tests/gl/test_video.py checks that.

Pixels come as the renderer stores them: premultiplied RGBA8, GL rows (bottom row first),
a rectangle (x0, y0) + (cols, rows) of the picture, with x0, y0, cols and rows even so that
every 2x2 chroma block lies wholly inside or wholly outside it. The planes are top row
first. Transparent pixels (all four bytes 0) are skipped: the caller starts each frame from
the planes of a wholly transparent picture (`transparent=True` makes those), which is what
a transparent pixel converts to.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.kernels.yuv import ALPHA_CLEAR_Y, ALPHA_SOLID_Y, KB, KG, KR

_Y_SCALE = 219.0 / 255.0
_C_SCALE = 224.0 / 255.0
_U_DIV = 2.0 * (1.0 - KB)
_V_DIV = 2.0 * (1.0 - KR)


@njit(cache=True, nogil=True, inline="always")
def _round8(x: float) -> np.uint8:
    return np.uint8(min(max(math.floor(x + 0.5), 0.0), 255.0))


@njit(cache=True, nogil=True)
def _span(pixels: np.ndarray, j: int, transparent: bool) -> tuple[int, int]:
    """Columns [lo, hi) of GL rows j and j + 1 that hold a pixel other than 0, both even
    (a whole 2x2 block); (0, 0) for none. Everything when `transparent`."""
    cols = pixels.shape[1]
    if transparent:
        return 0, cols
    lo = 0
    while lo < cols and pixels[j, lo] == 0 and pixels[j + 1, lo] == 0:
        lo += 1
    if lo == cols:
        return 0, 0
    hi = cols
    while pixels[j, hi - 1] == 0 and pixels[j + 1, hi - 1] == 0:
        hi -= 1
    return lo - lo % 2, hi + hi % 2


@njit(cache=True, nogil=True)
def convert_rect(
    pixels: np.ndarray,
    x0: int,
    y0: int,
    height: int,
    back: np.ndarray,
    y_plane: np.ndarray,
    u_plane: np.ndarray,
    v_plane: np.ndarray,
    scratch: np.ndarray,
    transparent: bool,
) -> None:
    """The colour of `pixels` ((rows, cols) uint32: each a pixel's four RGBA bytes as the
    machine reads them), the box at (x0, y0), composited over `back` and written to the
    planes.

    - The planes are whole and C-contiguous (in the packed layout the colour is their
      left half).
    - `back`: what is behind, planar (rows, 3, W) uint8, each row's R, G and B apart so
      that a row's loads are contiguous: one row behind every row (a colour), or `height`
      rows (a picture, top row first).
    - `height`: the picture's height; GL row g is plane row height - 1 - g.
    - `scratch`: (2, 3, cols) float64.
    - `transparent`: convert every pixel, zeros included (what makes a transparent
      picture's planes)."""
    rows = pixels.shape[0]
    one_row = back.shape[0] == 1
    # each loop below runs over contiguous 1-D views from index 0, which LLVM vectorises
    for j in range(0, rows, 2):
        lo, hi = _span(pixels, j, transparent)
        if hi <= lo:
            continue
        n = hi - lo
        top = height - 1 - (y0 + j)  # plane row of GL row y0 + j; GL row y0 + j + 1 is above
        for k in range(2):
            row = top - k
            src = pixels[j + k, lo:hi]
            behind = back[0 if one_row else row]
            back_r = behind[0, x0 + lo : x0 + hi]
            back_g = behind[1, x0 + lo : x0 + hi]
            back_b = behind[2, x0 + lo : x0 + hi]
            out = y_plane[row, x0 + lo : x0 + hi]
            sum_r, sum_g, sum_b = scratch[k, 0], scratch[k, 1], scratch[k, 2]
            for i in range(n):
                p = src[i]
                # the bytes R, G, B, A in memory; a little-endian read puts R lowest
                t = 1.0 - np.float64((p >> 24) & 255) / 255.0
                r = min(np.float64(p & 255) + np.float64(back_r[i]) * t, 255.0)
                g = min(np.float64((p >> 8) & 255) + np.float64(back_g[i]) * t, 255.0)
                b = min(np.float64((p >> 16) & 255) + np.float64(back_b[i]) * t, 255.0)
                out[i] = _round8(16.0 + _Y_SCALE * (KR * r + KG * g + KB * b))
                sum_r[i] = r
                sum_g[i] = g
                sum_b[i] = b
        crow = (top - 1) // 2
        out_u = u_plane[crow, (x0 + lo) // 2 : (x0 + hi) // 2]
        out_v = v_plane[crow, (x0 + lo) // 2 : (x0 + hi) // 2]
        for c in range(n // 2):
            i = 2 * c
            r = (
                scratch[0, 0, i] + scratch[0, 0, i + 1] + scratch[1, 0, i] + scratch[1, 0, i + 1]
            ) / 4.0
            g = (
                scratch[0, 1, i] + scratch[0, 1, i + 1] + scratch[1, 1, i] + scratch[1, 1, i + 1]
            ) / 4.0
            b = (
                scratch[0, 2, i] + scratch[0, 2, i + 1] + scratch[1, 2, i] + scratch[1, 2, i + 1]
            ) / 4.0
            luma = KR * r + KG * g + KB * b
            out_u[c] = _round8(128.0 + _C_SCALE * (b - luma) / _U_DIV)
            out_v[c] = _round8(128.0 + _C_SCALE * (r - luma) / _V_DIV)


@njit(cache=True, nogil=True)
def alpha_rect(
    pixels: np.ndarray, x0: int, y0: int, height: int, y_plane: np.ndarray, transparent: bool
) -> None:
    """The packed layout's alpha half: each pixel's alpha as grey luma, 0 and 255 on the
    codes past black and white (engine/kernels/yuv.py). `x0`: the Y plane's column of the
    box's first pixel (in the alpha half: the picture's width plus the box's x). Its
    chroma is 128 throughout and never changes, so it is not written here."""
    rows = pixels.shape[0]
    for j in range(0, rows, 2):
        lo, hi = _span(pixels, j, transparent)
        if hi <= lo:
            continue
        for k in range(2):
            src = pixels[j + k]
            out = y_plane[height - 1 - (y0 + j + k)]
            for i in range(lo, hi):
                alpha = (src[i] >> 24) & 255
                if alpha == 0:
                    out[x0 + i] = ALPHA_CLEAR_Y
                elif alpha == 255:
                    out[x0 + i] = ALPHA_SOLID_Y
                else:
                    a = np.float64(alpha)
                    out[x0 + i] = _round8(16.0 + _Y_SCALE * (KR * a + KG * a + KB * a))
