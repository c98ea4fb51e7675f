"""The person's skin tone in the toon pipeline: measured on the cheeks of the (warped) crop,
and used as the pipeline's anchor so every style keeps it.

A style may change the contrast, banding and saturation of the shading and add its line
work; the skin's base colour stays the photo's. The stages that used fixed levels (tone bands
between 0.3 and 0.98, contrast about mid grey, ink in absolute shadows) lifted dark skin and
darkened light skin, and the colour grade pushed every skin towards the style's palette (up to
dE 23 on the cheeks, a dark skin lighter and pinker). So:

- the tone bands and the grade's pivot sit on the skin's own luminance (`SkinTone.luma`);
- after the grade, `anchor` measures the graded cheeks and moves the skin-coloured pixels back
  to within `TOLERANCE` (CIELAB dE76) of the photo's cheeks, by a per-channel gain, so the
  style's shading ratios are kept;
- the blush is the skin's own colour, redder and a little deeper, not a fixed pink.

Colour differences here are CIELAB dE76 (D65), as the issue measures them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine import landmarks as lm

TOLERANCE = 3.0  # dE76 of its own shift a style may leave on the skin (the limit is 10)
CHEEK_RADIUS = 0.05  # the cheek samples' radius, in face widths
REFERENCE_LUMA = 0.65  # a light skin's luma: the fixed levels the styles were tuned on
_WHITE = np.array([0.95047, 1.0, 1.08883])  # D65
_RGB_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                     [0.2126729, 0.7151522, 0.0721750],
                     [0.0193339, 0.1191920, 0.9503041]])  # fmt: skip
_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class SkinTone:
    """The cheeks' colour: sRGB 0..1, its CIELAB and its luma (Rec. 601 on sRGB values, the
    pipeline's luminance)."""

    rgb: np.ndarray  # (3,) float64
    lab: np.ndarray  # (3,) L*, a*, b*

    @property
    def luma(self) -> float:
        return float(np.dot(_LUMA, self.rgb))

    @classmethod
    def of(cls, rgb: np.ndarray) -> SkinTone:
        rgb = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0)
        return cls(rgb, srgb_to_lab(rgb))


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB colours in 0..1, shape (..., 3)."""
    c = np.asarray(rgb, dtype=np.float64)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = lin @ _RGB_XYZ.T / _WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                     200 * (f[..., 1] - f[..., 2])], axis=-1)  # fmt: skip


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """sRGB 0..1 (clipped) of CIELAB (D65) colours, shape (..., 3)."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _WHITE
    lin = np.clip(xyz @ np.linalg.inv(_RGB_XYZ).T, 0.0, 1.0)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


def cheek_colour(x: torch.Tensor, pts: np.ndarray) -> np.ndarray:
    """The cheeks' colour in an image (1, 3, H, W) at its (478, 2) landmarks: a trimmed mean
    of discs round the bare-cheek points (the darkest fifth and brightest tenth left out:
    stray hairs, pores and shine)."""
    _, _, h, w = x.shape
    face_w = float(np.linalg.norm(pts[lm.FACE_SIDES[0]] - pts[lm.FACE_SIDES[1]]))
    r = max(2.0, CHEEK_RADIUS * face_w)
    samples = []
    for i in lm.CHEEK_SKIN:
        cx, cy = pts[i]
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, w)
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, h)
        if x1 <= x0 or y1 <= y0:
            continue
        ys, xs = torch.meshgrid(torch.arange(y0, y1, device=x.device),
                                torch.arange(x0, x1, device=x.device), indexing="ij")  # fmt: skip
        inside = (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
        samples.append(x[0, :, y0:y1, x0:x1][:, inside])
    if not samples:  # the cheeks lie outside the picture: the middle of the face then
        cx, cy = np.clip(pts[lm.NOSE_BRIDGE], 0, [w - 1, h - 1]).astype(int)
        samples.append(x[0, :, cy : cy + 1, cx : cx + 1].reshape(3, -1))
    pix = torch.cat(samples, dim=1).double()
    luma = torch.tensor(_LUMA, dtype=pix.dtype, device=pix.device) @ pix
    lo, hi = torch.quantile(luma, 0.2), torch.quantile(luma, 0.9)
    keep = (luma >= lo) & (luma <= hi)
    if int(keep.sum()) == 0:
        keep = torch.ones_like(keep)
    return pix[:, keep].mean(dim=1).cpu().numpy()


def skin_weight(x: torch.Tensor, tone: SkinTone, mask: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W) in 0..1: how much each pixel is the person's skin, by its chromaticity
    (hue and saturation relative to its own luminance, so shading stays skin) near the
    cheeks', within a lightness range round them and on the person (`mask`)."""
    size = x.shape[-2:]
    x = F.avg_pool2d(x, 2)  # a smooth map: worked out at half size
    y = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).clamp(min=0.04)
    i = 0.596 * x[:, 0:1] - 0.274 * x[:, 1:2] - 0.322 * x[:, 2:3]
    q = 0.211 * x[:, 0:1] - 0.523 * x[:, 1:2] + 0.312 * x[:, 2:3]
    s = torch.tensor(tone.rgb, dtype=x.dtype, device=x.device)
    ys = max(tone.luma, 0.04)
    i_s = float(0.596 * s[0] - 0.274 * s[1] - 0.322 * s[2]) / ys
    q_s = float(0.211 * s[0] - 0.523 * s[1] + 0.312 * s[2]) / ys
    d = torch.sqrt((i / y - i_s) ** 2 + (q / y - q_s) ** 2)
    c = float(np.hypot(i_s, q_s))
    near, far = 0.45 * c + 0.03, 1.1 * c + 0.08
    w_col = ((far - d) / (far - near)).clamp(0, 1)
    # shading from 0.4 to 1.6 times the cheeks' luma is skin, nothing below 0.22 or over 2.2
    # (hair of the skin's hue but another lightness keeps the style's grade)
    ratio = torch.log(y / ys)
    w_lum = ((ratio + 1.5) / 0.6).clamp(0, 1) * ((0.8 - ratio) / 0.33).clamp(0, 1)
    wgt = w_col * w_lum * F.avg_pool2d(mask.clamp(0, 1), 2)
    r = 3  # no speckle along its edges
    wgt = F.avg_pool2d(F.pad(wgt, (r, r, r, r), mode="replicate"), 2 * r + 1, stride=1)
    return F.interpolate(wgt, size=size, mode="bilinear", align_corners=False)


def anchor_gain(photo: SkinTone, graded: np.ndarray, tolerance: float = TOLERANCE) -> np.ndarray:
    """The per-channel gain (on sRGB values) that moves the graded cheek colour to within
    `tolerance` (dE76) of the photo's, along the line between them: the style keeps that
    much of its own shift."""
    g = srgb_to_lab(graded)
    d = g - photo.lab
    de = float(np.linalg.norm(d))
    if de <= tolerance:
        return np.ones(3)
    target = lab_to_srgb(photo.lab + d * (tolerance / de))
    return np.clip(target / np.maximum(graded, 1e-3), 0.2, 5.0)


def anchor(x: torch.Tensor, pts: np.ndarray, photo: SkinTone, weight: torch.Tensor) -> torch.Tensor:
    """The graded image x with its skin moved back to the photo's tone (see the module)."""
    gain = anchor_gain(photo, cheek_colour(x, pts))
    g = torch.tensor(gain, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * (1 + weight * (g - 1))).clamp(0, 1)


def blush_colour(tone: SkinTone) -> np.ndarray:
    """The blush as a per-channel multiplier of the skin: the skin's own colour, redder and a
    little deeper (a dark skin gets a deep warm flush, not a pink patch)."""
    l_, a, b = tone.lab
    flush = lab_to_srgb(np.array([l_ - 6.0, a + 16.0, b + 2.0]))
    return np.clip(flush / np.maximum(tone.rgb, 1e-3), 0.3, 1.5)
