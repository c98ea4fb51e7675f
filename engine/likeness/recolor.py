"""Digi's art in a palette's colours: a copy of Digi's atlas with every picture that uses a
recoloured tone redrawn, at the same rects, with the same alpha.

`recolor_svg` swaps a palette's colours in any SVG text (Digi's parts, and art drawn with
the same classes, such as the hairstyles). `recolor_atlas` does the same for the committed
atlas, but without rasterizing per palette: cairo composites colours linearly, so a
picture's premultiplied texels are sum(coverage_k * colour_k) over its tones, with
coverages that depend only on the geometry. Each tone's coverage is rasterized once per
process (three tones per render, as pure red, green and blue with every other colour black)
and a recolour adds sum(coverage_k * (new_k - old_k)) to the committed texels: the edges
are what cairo would draw with the new colours (within a level or two of rounding), the
alpha is the atlas's own, and a picture with no recoloured tone is not touched at all.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np

from engine.assets import ROOT, load_base_atlas
from engine.atlas import Atlas
from engine.likeness.art import rasterize_svg
from engine.likeness.palette import RAMPS, Palette, rgb

ART_DIR = ROOT / "content" / "art" / "digi"
PREFIX = "digi/"

# a paint value in CSS (`fill:#c4612f`) or in an attribute (`fill="#c4612f"`)
_PAINT = re.compile(
    r"""((?:fill|stroke|stop-color|flood-color|color)\s*(?::|=\s*["']))\s*([^;"'}\s]+)"""
)
_HEX = re.compile(r"#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3}")
_NOT_A_COLOUR = ("none", "inherit", "transparent")

# the tones any palette of engine/likeness/palette.py may recolour
TONES: frozenset[str] = frozenset(t for r in RAMPS.values() for t in r.tones)


class RecolorError(ValueError):
    """A base atlas or SVG the recolouring cannot use."""


def _full_hex(value: str) -> str:
    v = value.lower()
    return "#" + "".join(c * 2 for c in v[1:]) if len(v) == 4 else v


def recolor_svg(text: str, palette: Palette) -> str:
    """`text` with every fill / stroke / stop colour the palette changes replaced (in CSS
    rules and attributes alike); everything else byte for byte the same."""
    changed = palette.changed
    if not changed:
        return text

    def swap(m: re.Match[str]) -> str:
        value = m.group(2)
        if _HEX.fullmatch(value) and _full_hex(value) in changed:
            return m.group(1) + changed[_full_hex(value)]
        return m.group(0)

    return _PAINT.sub(swap, text)


def paint_colors(text: str, where: str = "the SVG") -> set[str]:
    """The hex colours an SVG paints with (lower-case "#rrggbb"); a named or functional
    colour is an error, since the recolouring could not tell what it is."""
    out = set()
    for m in _PAINT.finditer(text):
        value = m.group(2)
        if _HEX.fullmatch(value):
            out.add(_full_hex(value))
        elif value not in _NOT_A_COLOUR and not value.startswith("url("):
            raise RecolorError(f'{where} paints with "{value}": only #rrggbb colours recolour')
    return out


# ---------------------------------------------------------------------------------------
# Digi's pictures and their tones' coverage


@dataclass(frozen=True)
class _Source:
    path: str  # the picture's region in the atlas
    where: str  # what to call its SVG in an error
    text: str
    colors: frozenset[str]


@cache
def _digi_sources() -> tuple[_Source, ...]:
    out = []
    for f in sorted(ART_DIR.glob("*.svg")):
        text = f.read_text(encoding="utf-8")
        where = f"content/art/digi/{f.name}"
        out.append(_Source(PREFIX + f.stem, where, text, frozenset(paint_colors(text, where))))
    return tuple(out)


def _sources_of(art: Mapping[str, str]) -> tuple[_Source, ...]:
    out = []
    for path, text in art.items():
        where = f'the SVG given for "{path}"'
        out.append(_Source(path, where, text, frozenset(paint_colors(text, where))))
    return tuple(out)


@dataclass(frozen=True)
class _Coverage:
    """Where a picture's tones reach: the texels any of them covers, and each tone's
    premultiplied coverage there (what it adds to a texel, per unit of colour)."""

    alpha: np.ndarray  # (h, w) uint8: the picture's alpha, to check a base atlas against
    tones: tuple[str, ...]
    index: np.ndarray  # (n,) int32, flat texel indices into the picture (h * w)
    weight: np.ndarray  # (n, len(tones)) uint8: premultiplied coverage, 255 = all of it
    # the texels' flat indices in an atlas, by (x, y, atlas width)
    placed: dict[tuple[int, int, int], np.ndarray]


_CODES = ("#ff0000", "#00ff00", "#0000ff")
_lock = threading.Lock()
# by (SVG text, size): the geometry is all that matters
_coverage: OrderedDict[tuple[str, tuple[int, int]], _Coverage] = OrderedDict()
_COVERAGES_KEPT = 400  # pictures (Digi's 50 take about 10 MB)


def _coverages(src: _Source, size: tuple[int, int], tones: set[str]) -> _Coverage:
    """The coverage of (at least) `tones` in the picture drawn at `size`, rasterized on
    first use: three tones a render, as pure red, green and blue, every other colour black."""
    key = (src.text, size)
    with _lock:
        known = _coverage.get(key)
        if known is not None:
            _coverage.move_to_end(key)
        if known is not None and tones <= set(known.tones):
            return known
        want = sorted((src.colors & TONES) | tones | set(known.tones if known else ()))
        planes, alpha = [], None
        for i in range(0, len(want), 3):
            codes = dict(zip(want[i : i + 3], _CODES, strict=False))

            def code(m: re.Match[str], codes: dict[str, str] = codes) -> str:
                value = m.group(2)
                if not _HEX.fullmatch(value):
                    return m.group(0)
                return m.group(1) + codes.get(_full_hex(value), "#000000")

            img = rasterize_svg(_PAINT.sub(code, src.text), size)
            alpha = img[..., 3].copy() if alpha is None else alpha
            a = img[..., 3].astype(np.float32).ravel()
            for channel in range(len(codes)):
                # straight colour * alpha: back to the premultiplied value cairo composited
                plane = np.rint(img[..., channel].astype(np.float32).ravel() * a / 255.0)
                planes.append(plane.astype(np.uint8))
        weight = np.stack(planes, axis=1) if planes else np.zeros((size[0] * size[1], 0), np.uint8)
        index = np.flatnonzero(weight.any(axis=1))
        if alpha is None:
            alpha = np.zeros(size[::-1], np.uint8)
        cover = _Coverage(alpha, tuple(want), index.astype(np.int32), weight[index], {})
        _coverage[key] = cover
        while len(_coverage) > _COVERAGES_KEPT:
            _coverage.popitem(last=False)
        return cover


def warm_up() -> None:
    """Rasterize the coverage of every tone a palette may change (about a second of CPU), so
    that the first `recolor_atlas` of a process is as fast as the rest."""
    atlas = _committed()
    for src in _digi_sources():
        if src.colors & TONES and src.path in atlas.regions:
            _coverages(src, tuple(atlas.regions[src.path][2:]), set())


@cache
def _committed() -> Atlas:
    return load_base_atlas("digi")


# ---------------------------------------------------------------------------------------
# the atlas

_RESULTS: OrderedDict[Palette, Atlas] = OrderedDict()
_verified: set[str] = set()  # committed pictures whose alpha matched their coverage renders
_KEEP = 4  # recent palettes' atlases kept (16 MB each): the same avatar loaded again


def recolor_atlas(
    palette: Palette, base: Atlas | None = None, art: Mapping[str, str] | None = None
) -> Atlas:
    """A copy of `base` (default: Digi's committed atlas) with its pictures in the palette's
    colours. `art` gives the SVG text each picture was rasterized from, by region path
    (default: Digi's, content/art/digi/<name>.svg as "digi/<name>", those of them `base`
    holds); a picture that paints with a tone the palette changes is redrawn in place.
    Alpha, rects and every other texel stay as they are, so the base's hulls still hold.
    The result's image is read-only (atlases are shared; Digi's recent ones are kept)."""
    if not isinstance(palette, Palette):
        raise TypeError(f"palette must be a Palette, not {type(palette).__name__}")
    if art is not None:
        if base is None:
            raise ValueError("recolouring other art needs the atlas it was packed into (base)")
        sources = _sources_of(art)
        for src in sources:
            if src.path not in base.regions:
                raise RecolorError(f'no region "{src.path}" in the base atlas for {src.where}')
        return _recolor(palette, base, sources)
    if base is not None:
        return _recolor(palette, base, _digi_sources())
    with _lock:
        if palette in _RESULTS:
            _RESULTS.move_to_end(palette)
            return _RESULTS[palette]
    result = _recolor(palette, _committed(), _digi_sources())
    with _lock:
        _RESULTS[palette] = result
        while len(_RESULTS) > _KEEP:
            _RESULTS.popitem(last=False)
    return result


def _recolor(palette: Palette, base: Atlas, sources: tuple[_Source, ...]) -> Atlas:
    changed = palette.changed
    image = np.array(base.image, copy=True)
    # one uint32 per texel: gathering and scattering whole texels is several times faster
    texels = image.reshape(-1).view(np.uint32)
    committed = base is _committed()
    for src in sources:
        tones = src.colors & changed.keys()
        if not tones or src.path not in base.regions:
            continue
        x, y, w, h = base.regions[src.path]
        cover = _coverages(src, (w, h), tones)
        if not (committed and src.path in _verified):
            if not np.array_equal(cover.alpha, base.image[y : y + h, x : x + w, 3]):
                raise RecolorError(
                    f'the base atlas\'s "{src.path}" is not {src.where} drawn at {w}x{h} (its '
                    "alpha differs): rebuild the atlas, or pass the art it was built from"
                )
            if committed:
                _verified.add(src.path)
        delta = np.zeros((len(cover.tones), 3), np.float32)
        for k, tone in enumerate(cover.tones):
            if tone in changed:
                delta[k] = np.subtract(rgb(changed[tone]), rgb(tone))
        if delta.any():
            _apply(texels, _placed(cover, x, y, w, image.shape[1]), cover.weight, delta)
    image.setflags(write=False)
    return Atlas(image, dict(base.regions), dict(base.hulls))


def _placed(cover: _Coverage, x: int, y: int, w: int, atlas_w: int) -> np.ndarray:
    key = (x, y, atlas_w)
    if key not in cover.placed:
        rows, cols = np.divmod(cover.index, w)
        cover.placed[key] = (rows + y) * atlas_w + (cols + x)
    return cover.placed[key]


def _apply(texels: np.ndarray, where: np.ndarray, weight: np.ndarray, delta: np.ndarray) -> None:
    """Adds coverage @ (new - old) to the texels' premultiplied colour, in place."""
    px = texels[where].view(np.uint8).reshape(-1, 4)
    a = px[:, 3:4].astype(np.float32)
    # the committed straight colour back to cairo's premultiplied values (the exact inverse
    # of its rounding), plus the tones' differences
    c = px[:, :3].astype(np.float32)
    c *= a / 255.0
    np.rint(c, out=c)
    c += weight.astype(np.float32) @ (delta / 255.0)
    np.rint(c, out=c)
    np.minimum(c, a, out=c)  # (np.clip with an array bound is several times slower)
    np.maximum(c, 0.0, out=c)
    # straight again, rounding as cairo does: (p * 255 + a // 2) // a (exact in float32 for
    # these magnitudes: no quotient comes within 1/255 of an integer it is not)
    c *= 255.0
    c += np.floor(a / 2.0)
    c /= a
    np.floor(c, out=c)
    out = np.empty((len(px), 4), np.uint8)
    out[:, :3] = c
    out[:, 3] = px[:, 3]
    texels[where] = out.view(np.uint32).ravel()
