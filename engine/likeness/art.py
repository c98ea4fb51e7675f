"""SVG art to pixels, exactly as the content build rasterizes Digi's pictures.

The content build (content/build/digi_art.py) and the run-time recolouring
(engine/likeness/recolor.py) share this one rasterizer, so a recoloured picture has the same
geometry, texel for texel, as the committed atlas.

The viewBox fills the whole bitmap (a part's uvs map 0..1 onto its viewBox). The result is
straight-alpha RGBA uint8, byte-identical to cairo's own PNG export: cairo renders
premultiplied ARGB and its PNG writer un-premultiplies with rounding; this does the same in
numpy instead of a PNG round trip (a third of the time).
"""

from __future__ import annotations

import re

import cairosvg.parser
import cairosvg.surface
import numpy as np

_VIEWBOX = re.compile(r'viewBox="([^"]+)"')


class ArtError(ValueError):
    """An SVG the rasterizer cannot use (no viewBox, bad size, unparsable)."""


def svg_viewbox(text: str) -> tuple[float, float, float, float]:
    """The root viewBox (x, y, width, height) in art units."""
    m = _VIEWBOX.search(text)
    if m is None:
        raise ArtError('the SVG has no viewBox="x y width height" on its root')
    try:
        x, y, w, h = (float(v) for v in m.group(1).replace(",", " ").split())
    except ValueError:
        raise ArtError(f'the SVG\'s viewBox "{m.group(1)}" is not four numbers') from None
    if w <= 0 or h <= 0:
        raise ArtError(f'the SVG\'s viewBox "{m.group(1)}" has no area')
    return x, y, w, h


def picture_size(viewbox: tuple[float, float, float, float], scale: float) -> tuple[int, int]:
    """(width, height) in texels of a picture drawn at `scale` texels per art unit."""
    return max(1, round(viewbox[2] * scale)), max(1, round(viewbox[3] * scale))


def rasterize_svg(text: str, size: tuple[int, int]) -> np.ndarray:
    """The SVG drawn into a (height, width, 4) straight-alpha uint8 image of `size`
    (width, height), its viewBox stretched over the whole image; fully transparent texels
    are (0, 0, 0, 0)."""
    w, h = size
    if not (isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0):
        raise ArtError(f"the picture size must be two positive integers, got {size!r}")
    if "<svg " not in text:
        raise ArtError("the text is not an SVG document (no <svg element)")
    text = text.replace("<svg ", f'<svg width="{w}" height="{h}" preserveAspectRatio="none" ', 1)
    try:
        tree = cairosvg.parser.Tree(bytestring=text.encode("utf-8"))
    except Exception as e:  # cairosvg raises the XML parser's own errors
        raise ArtError(f"the SVG does not parse: {e}") from None
    surface = cairosvg.surface.PNGSurface(tree, None, 96, output_width=w, output_height=h)
    surface.cairo.flush()
    stride = surface.cairo.get_stride()
    buf = np.frombuffer(surface.cairo.get_data(), np.uint8).reshape(h, stride)[:, : w * 4]
    # ARGB32 in native (little-endian) order: B, G, R, A bytes, premultiplied
    bgra = buf.reshape(h, w, 4)
    return unpremultiply(bgra[..., 2::-1], bgra[..., 3])


def unpremultiply(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Premultiplied 8-bit colour to straight RGBA, rounding as cairo's PNG writer does:
    c = (p * 255 + a / 2) / a in integers, and alpha 0 gives (0, 0, 0, 0)."""
    a = alpha.astype(np.uint32)[..., None]
    safe = np.maximum(a, 1)
    c = (rgb.astype(np.uint32) * 255 + safe // 2) // safe
    c[np.broadcast_to(a == 0, c.shape)] = 0
    return np.concatenate([c, a], axis=-1).astype(np.uint8)
