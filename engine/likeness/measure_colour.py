"""Colour arithmetic for the measurements: sRGB <-> CIELAB (D65, the 1976 formulas), the
1976 colour difference (dE76, plain Euclidean distance in L*a*b*), robust region colours
and the dominant colour of a pixel set.

Pure numpy, so the engine does not need scikit-image at run time; the tests check it
against scikit-image's conversion.
"""

from __future__ import annotations

import numpy as np

_M_RGB_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_M_XYZ_RGB = np.linalg.inv(_M_RGB_XYZ)
_WHITE = np.array([0.95047, 1.0, 1.08883])  # D65, Y = 1
_EPS = 216 / 24389
_KAPPA = 24389 / 27


_LINEAR = np.array(
    [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in np.arange(256) / 255.0]
)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB (uint8 0..255, or floats 0..1) -> (..., 3) L*a*b* (float64; float32
    for uint8 pictures, where a lookup table does the gamma: whole photos convert fast)."""
    c = np.asarray(rgb)
    if c.dtype == np.uint8:
        lin = _LINEAR.astype(np.float32)[c]
        m = (_M_RGB_XYZ / _WHITE[:, None]).T.astype(np.float32)
    else:
        c = c.astype(np.float64)
        lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        m = (_M_RGB_XYZ / _WHITE[:, None]).T
    xyz = lin @ m
    f = np.where(xyz > _EPS, np.cbrt(xyz), (_KAPPA * xyz + 16) / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """(..., 3) L*a*b* -> (..., 3) sRGB floats in 0..1 (out-of-gamut colours clipped)."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16) / 116
    fx = fy + lab[..., 1] / 500
    fz = fy - lab[..., 2] / 200
    f = np.stack([fx, fy, fz], axis=-1)
    xyz = np.where(f**3 > _EPS, f**3, (116 * f - 16) / _KAPPA) * _WHITE
    lin = np.clip(xyz @ _M_XYZ_RGB.T, 0.0, 1.0)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)


def delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """dE76 between L*a*b* colours (broadcasting over the last axis)."""
    return np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1)


def robust_colour(lab: np.ndarray, *, keep: float = 2.5) -> tuple[np.ndarray, np.ndarray]:
    """The central colour of a region's (n, 3) L*a*b* pixels and the inlier mask: the
    per-channel median, after dropping pixels further than `keep` median distances from a
    first median (specular highlights, deep shadows, stray hairs)."""
    if len(lab) == 0:
        raise ValueError("no pixels to take a colour from")
    centre = np.median(lab, axis=0)
    d = delta_e(lab, centre)
    inliers = d <= max(keep * float(np.median(d)), 4.0)
    return np.median(lab[inliers], axis=0), inliers


def dominant_colour(lab: np.ndarray, *, radius: float = 15.0) -> tuple[np.ndarray, float]:
    """The most common colour of (n, 3) L*a*b* pixels and the share of pixels near it.

    A coarse 3-D histogram (6-unit cells) smoothed over each cell's neighbours finds the
    densest colour; the result is the median of the pixels within `radius` of it, so two
    materials in one region (a hat over hair) give the larger one, not their average."""
    if len(lab) == 0:
        raise ValueError("no pixels to take a colour from")
    cell = 6.0
    lo = np.array([0.0, -128.0, -128.0])
    idx = np.clip(((lab - lo) / cell).astype(np.int64), 0, None)
    shape = idx.max(axis=0) + 3
    grid = np.zeros(shape, np.float64)
    np.add.at(grid, (idx[:, 0] + 1, idx[:, 1] + 1, idx[:, 2] + 1), 1.0)
    smooth = np.zeros_like(grid)
    for dl in (-1, 0, 1):
        for da in (-1, 0, 1):
            for db in (-1, 0, 1):
                smooth += np.roll(grid, (dl, da, db), axis=(0, 1, 2))
    peak = np.array(np.unravel_index(int(np.argmax(smooth)), smooth.shape)) - 1
    centre = lo + (peak + 0.5) * cell
    near = delta_e(lab, centre) <= radius
    if near.sum() < 3:
        return np.median(lab, axis=0), 0.0
    return np.median(lab[near], axis=0), float(near.mean())


def gaussian_model(lab: np.ndarray, floor: float = 9.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and inverse covariance of (n, 3) L*a*b* pixels; `floor` (units squared) is added
    to the diagonal so a flat region still accepts JPEG noise and gentle shading."""
    mean = lab.mean(axis=0)
    cov = np.cov(lab.T) if len(lab) > 3 else np.zeros((3, 3))
    cov = cov + np.eye(3) * floor
    return mean, np.linalg.inv(cov)


def mahalanobis2(lab: np.ndarray, model: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Squared Mahalanobis distances of (..., 3) L*a*b* pixels to a `gaussian_model`."""
    mean, inv = model
    d = lab - mean.astype(lab.dtype)
    return ((d @ inv.astype(lab.dtype)) * d).sum(axis=-1)
