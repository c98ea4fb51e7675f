"""Perceptual colour and Digi's material ramps.

Conversions between sRGB, linear light, OKLab/OKLCh (Björn Ottosson's space, where lightness
and chroma steps look even, so ramps are derived there) and CIELAB (D65, where colour
differences are measured: `delta_e` is CIEDE2000).

A material (skin, hair, iris, brows) is the set of hex colours Digi's SVG art uses for it,
one of them its base. `ramp` re-bases every tone on a measured colour: each tone keeps its
lightness step from the base (scaled to the room left towards black or white), its chroma
ratio (capped so pale originals do not blow up saturated bases) and its hue turn (towards
red for shadows, towards yellow for lights, as Digi's are). Every tone is mapped into the
sRGB gamut by lowering its chroma at constant lightness and hue. `palette` gathers the
ramps of all materials into one `Palette`: original hex -> new hex.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

Color = tuple[int, int, int] | str  # sRGB 0..255, or "#rrggbb"

# ---------------------------------------------------------------------------------------
# conversions (numpy, last axis = 3 channels; sRGB and linear in 0..1)


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    c = np.asarray(rgb, np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(lin: np.ndarray) -> np.ndarray:
    c = np.asarray(lin, np.float64)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.abs(c) ** (1 / 2.4) * np.sign(c) - 0.055)


_LMS = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ]
)
_LAB = np.array(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ]
)
_LMS_INV = np.linalg.inv(_LMS)
_LAB_INV = np.linalg.inv(_LAB)


def linear_to_oklab(lin: np.ndarray) -> np.ndarray:
    lms = np.asarray(lin, np.float64) @ _LMS.T
    return np.cbrt(lms) @ _LAB.T


def oklab_to_linear(lab: np.ndarray) -> np.ndarray:
    lms = (np.asarray(lab, np.float64) @ _LAB_INV.T) ** 3
    return lms @ _LMS_INV.T


def oklab_to_oklch(lab: np.ndarray) -> np.ndarray:
    """(L, C, h) with h in degrees, 0..360."""
    lab = np.asarray(lab, np.float64)
    c = np.hypot(lab[..., 1], lab[..., 2])
    h = np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360.0
    return np.stack([lab[..., 0], c, h], axis=-1)


def oklch_to_oklab(lch: np.ndarray) -> np.ndarray:
    lch = np.asarray(lch, np.float64)
    h = np.radians(lch[..., 2])
    return np.stack([lch[..., 0], lch[..., 1] * np.cos(h), lch[..., 1] * np.sin(h)], axis=-1)


def srgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    return linear_to_oklab(srgb_to_linear(rgb))


def oklab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """Unclipped: channels outside 0..1 mean the colour is out of the sRGB gamut."""
    return linear_to_srgb(oklab_to_linear(lab))


# sRGB (D65) -> XYZ, and the D65 white for CIELAB
_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_WHITE = np.array([0.95047, 1.0, 1.08883])


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65, 2°): L* 0..100."""
    xyz = srgb_to_linear(rgb) @ _XYZ.T / _WHITE
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )


def delta_e2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 between CIELAB colours (Sharma, Wu, Dalal 2005; kL = kC = kH = 1)."""
    lab1, lab2 = np.asarray(lab1, np.float64), np.asarray(lab2, np.float64)
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dLp = L2 - L1
    dCp = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    dHp = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2)
    Lbp = (L1 + L2) / 2
    Cbp = (c1p + c2p) / 2
    hsum = h1p + h2p
    hbp = np.where(
        np.abs(h1p - h2p) <= 180, hsum / 2, np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2)
    )
    hbp = np.where(c1p * c2p == 0, hsum, hbp)
    t = (
        1
        - 0.17 * np.cos(np.radians(hbp - 30))
        + 0.24 * np.cos(np.radians(2 * hbp))
        + 0.32 * np.cos(np.radians(3 * hbp + 6))
        - 0.20 * np.cos(np.radians(4 * hbp - 63))
    )
    d_theta = 30 * np.exp(-(((hbp - 275) / 25) ** 2))
    rc = 2 * np.sqrt(Cbp**7 / (Cbp**7 + 25.0**7))
    sl = 1 + 0.015 * (Lbp - 50) ** 2 / np.sqrt(20 + (Lbp - 50) ** 2)
    sc = 1 + 0.045 * Cbp
    sh = 1 + 0.015 * Cbp * t
    rt = -np.sin(np.radians(2 * d_theta)) * rc
    return np.sqrt(
        (dLp / sl) ** 2 + (dCp / sc) ** 2 + (dHp / sh) ** 2 + rt * (dCp / sc) * (dHp / sh)
    )


def delta_e(c1: Color, c2: Color) -> float:
    """CIEDE2000 between two sRGB colours (tuples of 0..255 or hex strings)."""
    lab = srgb_to_lab(np.array([rgb(c1), rgb(c2)], np.float64) / 255.0)
    return float(delta_e2000(lab[0], lab[1]))


# ---------------------------------------------------------------------------------------
# colour values

_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def rgb(color: Color) -> tuple[int, int, int]:
    """A colour as an sRGB 0..255 triple; a clear error for anything else."""
    if isinstance(color, str):
        if not _HEX.fullmatch(color):
            raise ValueError(f'colour "{color}" is not a "#rrggbb" hex colour')
        return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)
    try:
        values = tuple(color)
    except TypeError:
        raise ValueError(f"colour {color!r} is not an (r, g, b) triple") from None
    if len(values) != 3 or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and 0 <= v <= 255
        for v in values
    ):
        raise ValueError(f"colour {color!r} is not an (r, g, b) triple of integers 0..255")
    return int(values[0]), int(values[1]), int(values[2])


def hex_of(color: Color) -> str:
    r, g, b = rgb(color)
    return f"#{r:02x}{g:02x}{b:02x}"


def oklch_of(color: Color) -> np.ndarray:
    return oklab_to_oklch(srgb_to_oklab(np.array(rgb(color), np.float64) / 255.0))


# ---------------------------------------------------------------------------------------
# gamut


def in_gamut(lab: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    lin = oklab_to_linear(lab)
    return ((lin >= -eps) & (lin <= 1 + eps)).all(axis=-1)


def gamut_map(lch: np.ndarray, steps: int = 20) -> np.ndarray:
    """OKLCh colours brought into the sRGB gamut by lowering chroma at constant lightness and
    hue (bisection, to 0.4 / 2**steps); colours already inside are unchanged. L is clamped
    to 0..1 first."""
    lch = np.array(lch, np.float64, copy=True)
    lch[..., 0] = np.clip(lch[..., 0], 0.0, 1.0)
    lch[..., 1] = np.maximum(lch[..., 1], 0.0)
    out = ~in_gamut(oklch_to_oklab(lch))
    if not out.any():
        return lch
    bad = lch[out]
    # OKLab -> LMS' is linear: L * col0 + C * (cos h * col1 + sin h * col2)
    h = np.radians(bad[:, 2])
    grey = bad[:, :1] * _LAB_INV[:, 0]
    tint = np.cos(h)[:, None] * _LAB_INV[:, 1] + np.sin(h)[:, None] * _LAB_INV[:, 2]
    lo, hi = np.zeros(len(bad)), bad[:, 1].copy()
    for _ in range(steps):
        mid = (lo + hi) / 2
        lin = ((grey + mid[:, None] * tint) ** 3) @ _LMS_INV.T
        ok = ((lin >= -1e-9) & (lin <= 1 + 1e-9)).all(axis=1)
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    bad[:, 1] = lo
    lch[out] = bad
    return lch


def oklch_to_hex(lch: np.ndarray) -> list[str]:
    """Gamut-mapped OKLCh -> "#rrggbb" (rounding can only nudge a channel by < 1 level)."""
    srgb = np.clip(oklab_to_srgb(oklch_to_oklab(gamut_map(lch))), 0.0, 1.0)
    values = np.rint(np.atleast_2d(srgb) * 255).astype(int)
    return [hex_of((int(r), int(g), int(b))) for r, g, b in values]


# ---------------------------------------------------------------------------------------
# ramps

# Digi's shadows turn red-wards and its lights yellow-wards (skin, hair; the blue iris too,
# going the short way round); re-based tones turn by the same angle towards these OKLCh
# hues and stop there, so a blue or green base turns the way Digi's own art would.
SHADOW_POLE = 15.0
LIGHT_POLE = 100.0
# OKLab lightness of black and white: the room a tone's step is measured against
FLOOR, CEILING = 0.0, 1.0
# lights' steps on a dark base grow part of the way with the room above it (see _rebase)
LIGHT_SPREAD = 0.5
MIN_L = 0.05  # below it, chroma / lightness is not a meaningful saturation


@dataclass(frozen=True)
class Ramp:
    """One material's tones in Digi's art (lower-case "#rrggbb"), its base first; the tones
    lighter than the base re-base on `highlight`'s tone when a measured highlight is given."""

    material: str
    tones: tuple[str, ...]
    highlight: str | None = None

    @property
    def base(self) -> str:
        return self.tones[0]

    def rebase(self, base: Color, highlight: Color | None = None) -> dict[str, str]:
        """Every original tone -> its tone on the measured `base` (and `highlight`): the base
        maps to `base` exactly, and so does the highlight tone to `highlight` when that is
        lighter than the base (else the lights are derived from the base)."""
        new_base = hex_of(base)
        src = np.array([oklch_of(t) for t in self.tones])
        out = _rebase(src[1:], src[0], oklch_of(new_base))
        result = {self.base: new_base} | dict(zip(self.tones[1:], out, strict=True))
        if highlight is None:
            return result
        if self.highlight is None:
            raise ValueError(f"the {self.material} ramp takes no highlight colour")
        anchor = oklch_of(highlight)
        if anchor[0] < oklch_of(new_base)[0] + MIN_HIGHLIGHT_STEP:
            # not lighter than the base (a shadowed or mis-measured streak): derive the lights
            # from the base instead, which keeps them lighter
            return result
        h = self.tones.index(self.highlight)
        lights = [i for i in range(1, len(self.tones)) if src[i, 0] > src[0, 0] and i != h]
        result[self.highlight] = hex_of(highlight)
        if lights:
            out = _rebase(src[lights], src[h], anchor)
            result.update({self.tones[i]: t for i, t in zip(lights, out, strict=True)})
        return result


# a measured highlight must be this much lighter (OKLab L) than the base to be used
MIN_HIGHLIGHT_STEP = 0.03


def _turn(hue: np.ndarray, pole: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """`hue` turned by `angle` degrees towards `pole` the short way round, not past it."""
    gap = (pole - hue + 180.0) % 360.0 - 180.0
    return (hue + np.sign(gap) * np.minimum(np.abs(angle), np.abs(gap))) % 360.0


def _rebase(tones: np.ndarray, old: np.ndarray, new: np.ndarray) -> list[str]:
    """Tones (OKLCh rows) related to `old` -> the same relation to `new`, as hex.

    Lightness: a tone uses a fraction u of the room between its base and black (shadows) or
    white (lights); on the new base it takes room_new * (1 - (1 - u) ** p) with
    p = room_old / room_new. For small steps that is the original step (the same visible
    band), and it approaches, but never reaches, black or white: a dark skin's shadows stay
    distinct from its base, a blond's lights from white. Lights use
    p = (room_old / room_new) ** LIGHT_SPREAD, between that and the plain fraction of the
    room, so black hair gets the bright streaks anime draws on it rather than dim grey ones.
    Chroma: as saturation (chroma / lightness, since the same chroma looks far stronger on a
    dark tone), the original's ratio to the base, but an increase is capped at the
    original's absolute increase (Digi's pale skin doubles its saturation in shadow; a tan
    or dark skin doing so would turn orange or red).
    Hue: the original's turn from the base, towards SHADOW_POLE or LIGHT_POLE.
    """
    dL = tones[:, 0] - old[0]
    darker = dL < 0
    room_old = np.where(darker, old[0] - FLOOR, CEILING - old[0])
    room_new = np.where(darker, new[0] - FLOOR, CEILING - new[0])
    u = np.clip(np.abs(dL) / np.maximum(room_old, 1e-9), 0.0, 1.0)
    p = (room_old / np.maximum(room_new, 1e-9)) ** np.where(darker, 1.0, LIGHT_SPREAD)
    step = np.where(room_new > 1e-6, room_new * (1.0 - (1.0 - u) ** p), 0.0)
    L = new[0] + np.where(darker, -step, step)

    # chroma relative to lightness: the same chroma looks far more saturated on a dark tone
    sat_old = tones[:, 1] / np.maximum(tones[:, 0], MIN_L)
    sat_base_old = old[1] / max(old[0], MIN_L)
    sat_base_new = new[1] / max(new[0], MIN_L)
    ratio = sat_old / max(sat_base_old, 1e-9)
    sat = np.where(
        ratio <= 1.0,
        sat_base_new * ratio,
        np.minimum(sat_base_new * ratio, sat_base_new + sat_old - sat_base_old),
    )
    C = sat * np.maximum(L, MIN_L)

    turn = (tones[:, 2] - old[2] + 180.0) % 360.0 - 180.0
    pole = np.where(darker, SHADOW_POLE, LIGHT_POLE)
    h = _turn(np.full(len(tones), new[2]), pole, turn)
    return oklch_to_hex(np.stack([L, C, h], axis=-1))


# face and body fill (lit), shade, deep shade, nose wedge, lid crease, detail lines (body,
# hands, head), nose tick, blush and its hatching
_SKIN = ("#ffe4d0", "#f3b7a0", "#e59a84", "#eaa28d", "#c27462", "#c06a58", "#b8604f",
         "#b0604f", "#b65a4a", "#ff8f8f", "#f06a6a")  # fmt: skip
# base, shade, deep shade, highlight, sheen, inner strand lines
_HAIR = ("#c4612f", "#8b3a22", "#6b2818", "#ec9656", "#fbd39c", "#5a2114")
# iris, its dark top, light bottom, pupil, rim
_IRIS = ("#2aa4d8", "#16609c", "#86e0f3", "#15203b", "#12304f")

RAMPS: dict[str, Ramp] = {
    r.material: r
    for r in (
        Ramp("skin", _SKIN),
        Ramp("hair", _HAIR, highlight="#ec9656"),
        Ramp("iris", _IRIS),
        Ramp("brows", ("#6a2b1b",)),
    )
}

OUTLINE = "#2b1d2a"  # shared by every part, never recoloured


def ramp(material: str, base: Color, highlight: Color | None = None) -> dict[str, str]:
    """Digi's tones of `material` (skin, hair, iris, brows) re-based on a measured `base`
    colour: original hex -> new hex. `highlight` (hair only) re-bases the light tones."""
    if material not in RAMPS:
        raise ValueError(f'unknown material "{material}" (expected one of {", ".join(RAMPS)})')
    return RAMPS[material].rebase(base, highlight)


class Palette(Mapping[str, str]):
    """Original hex -> new hex, lower-case "#rrggbb" (frozen, hashable: atlases are cached by
    it). Tones it does not name keep their colour (the outline among them)."""

    __slots__ = ("_hash", "_map")

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        items = {}
        for old, new in (mapping or {}).items():
            items[hex_of(old)] = hex_of(new)
        if OUTLINE in items and items[OUTLINE] != OUTLINE:
            raise ValueError(f"the outline {OUTLINE} is shared by every part: not recoloured")
        self._map = dict(sorted(items.items()))
        self._hash = hash(tuple(self._map.items()))

    def __getitem__(self, key: str) -> str:
        return self._map[key.lower() if isinstance(key, str) else key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Palette) and self._map == other._map

    def __repr__(self) -> str:
        return f"Palette({self._map!r})"

    @property
    def changed(self) -> dict[str, str]:
        """Only the tones whose colour changes."""
        return {k: v for k, v in self._map.items() if k != v}


def palette(
    skin: Color | None = None,
    hair: Color | None = None,
    hair_highlight: Color | None = None,
    iris: Color | None = None,
    brows: Color | None = None,
) -> Palette:
    """All materials' ramps on measured colours; a material given None keeps Digi's tones."""
    if hair_highlight is not None and hair is None:
        raise ValueError("hair_highlight needs a hair colour too")
    out: dict[str, str] = {}
    for material, base in (("skin", skin), ("hair", hair), ("iris", iris), ("brows", brows)):
        if base is not None:
            hl = hair_highlight if material == "hair" else None
            out |= ramp(material, base, hl)
    return Palette(out)
