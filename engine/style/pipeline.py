"""Stage 2, the toon pipeline: a differentiable image pipeline in torch, no learned weights.

    photo crop ─► landmark-guided warp (anime proportions, grid_sample)
               ─► the cheeks' colour measured (skin.py)
               ─► edge-preserving smoothing (fast guided filter at half size)
               ─► tone bands (soft luminance quantization) ─► colour grade
               ─► the skin anchored back to the photo's tone (skin.py)
               ─► XDoG ink lines ─► features drawn from the landmarks (eye whites, lashes,
                  irises, catchlights, jaw line, lips, blush) ─► backdrop and paper finish

The tone bands, the grade's pivot and the ink's thresholds work relative to the measured skin,
so every skin, light or dark, keeps its tone (within dE76 `skin.TOLERANCE` of the photo's
cheeks after the grade) while each style keeps its banding, contrast and lines.

Every step is made of differentiable torch operations (sigmoids for the band steps, tanh for
the XDoG threshold), so a style's parameters (`styles.SCHEMA`) could be fitted by gradient
descent; at run time it is evaluated under `torch.no_grad()`. The same warp that moves the
pixels moves the landmarks (by inverting it numerically), so they stay on the styled face.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from engine import landmarks as lm
from engine.landmarks import (
    CHEEKS,
    CHIN,
    JAW,
    LEFT_EYE_RING,
    LEFT_IRIS,
    LEFT_UPPER_LID,
    LIP_LINE,
    NOSE_TIP,
    NOSE_WINGS,
    RIGHT_EYE_RING,
    RIGHT_IRIS,
    RIGHT_UPPER_LID,
)
from engine.style.skin import (
    REFERENCE_LUMA,
    SkinTone,
    anchor,
    blush_colour,
    cheek_colour,
    skin_weight,
)

Params = dict[str, torch.Tensor]

# MediaPipe FaceMesh points (engine/landmarks.py; the person's right is the picture's left)
RIGHT_BROW, LEFT_BROW = lm.RIGHT_BROW_LOWER, lm.LEFT_BROW_LOWER
MOUTH_CENTRE = (lm.UPPER_LIP_INNER, lm.LOWER_LIP_INNER, lm.UPPER_LIP_TOP, lm.LOWER_LIP_BOTTOM)

BLUSH_MIX = 0.45  # the blush's opacity at its centre, times the style's `blush`
SCLERA_LIFT = 0.5  # how far the eye whites are taken towards white
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_INV = torch.linalg.inv(_YIQ)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ---------------------------------------------------------------- warp


class Warp:
    """Anime proportions as an inverse map: each output pixel p samples the photo at
    `source(p)` = p + a sum of smooth, local displacements (bulges at the eyes, pinches at the
    nose and mouth, a horizontal squeeze of the lower face)."""

    def __init__(self, points: np.ndarray, p: Params, preserve_expression: bool = True):
        pts = np.asarray(points, dtype=np.float64)
        eye_w = np.linalg.norm(pts[33] - pts[133]) / 2 + np.linalg.norm(pts[263] - pts[362]) / 2
        mouth_w = float(np.linalg.norm(pts[61] - pts[291]))
        face_w = float(np.linalg.norm(pts[234] - pts[454]))
        self.terms: list[tuple[str, np.ndarray, float, float, float]] = []
        eye_a = float(p["eye_scale"])
        for ring in (RIGHT_EYE_RING, LEFT_EYE_RING):
            c = pts[list(ring)].mean(axis=0)
            # bulge: radius beyond the eye so lids and lashes grow with it
            self.terms.append(("bulge", c, 1.05 * eye_w, eye_a, 1.12))
        nose = pts[list(NOSE_TIP)].mean(axis=0)
        nose_w = float(np.linalg.norm(pts[NOSE_WINGS[0]] - pts[NOSE_WINGS[1]]))
        self.terms.append(("bulge", nose, 1.1 * nose_w, -float(p["nose_shrink"]), 1.0))
        mouth = pts[list(MOUTH_CENTRE)].mean(axis=0)
        self.terms.append(("bulge", mouth, 0.85 * mouth_w, -float(p["mouth_shrink"]), 1.0))
        if not preserve_expression:
            # a calmer face: squeeze the mouth's opening, settle the brows
            self.terms.append(("bulge", mouth, 0.7 * mouth_w, -0.35, 2.5))
            for brow in (RIGHT_BROW, LEFT_BROW):
                self.terms.append(("lift", pts[list(brow)].mean(axis=0), 0.9 * eye_w,
                                   -0.12 * eye_w, 1.0))  # fmt: skip
        self.jaw = float(p["jaw_narrow"])
        self.centre_x = float((pts[234, 0] + pts[454, 0]) / 2)
        self.top_y = float(pts[list(NOSE_TIP), 1].mean())
        self.chin_y = float(pts[CHIN, 1])
        self.face_w = face_w

    def source(self, q: torch.Tensor) -> torch.Tensor:
        """Photo coordinates sampled by output points q (..., 2) in pixels."""
        s = q.clone()
        for kind, c, r, a, aspect in self.terms:
            if a == 0.0:
                continue
            d = q - torch.tensor(c, dtype=q.dtype, device=q.device)
            dy = d[..., 1] / aspect
            t2 = (d[..., 0] ** 2 + dy**2) / (r * r)
            f = torch.clamp(1.0 - t2, min=0.0) ** 2
            if kind == "bulge":
                s = s - d * (a * f)[..., None]
            else:  # "lift": shift by `a` pixels (content moves by -a)
                s[..., 1] = s[..., 1] + a * f
        if self.jaw > 0:
            span = max(self.chin_y - self.top_y, 1.0)
            g = torch.clamp((q[..., 1] - self.top_y) / span, 0.0, 1.4)
            g = g * g * (3 - 2 * torch.clamp(g, 0.0, 1.0))
            u = (q[..., 0] - self.centre_x) / (0.75 * self.face_w)
            h = torch.exp(-(u * u))
            s[..., 0] = s[..., 0] + self.jaw * (q[..., 0] - self.centre_x) * g * h
            # a slightly shorter, rounder chin
            s[..., 1] = s[..., 1] + 0.25 * self.jaw * (q[..., 1] - self.top_y) * g * h
        return s

    def forward_points(self, pts: np.ndarray, iters: int = 30) -> np.ndarray:
        """Where photo points land in the output (the inverse of `source`, by fixed-point
        iteration; the map is a small perturbation of the identity)."""
        target = torch.tensor(pts, dtype=torch.float64)
        q = target.clone()
        for _ in range(iters):
            q = q + (target - self.source(q))
        return q.numpy()

    def apply(self, image: torch.Tensor) -> torch.Tensor:
        """image (1, C, H, W) -> the warped image."""
        _, _, h, w = image.shape
        ys, xs = torch.meshgrid(
            torch.arange(h, dtype=torch.float32, device=image.device),
            torch.arange(w, dtype=torch.float32, device=image.device),
            indexing="ij",
        )
        src = self.source(torch.stack([xs, ys], dim=-1))
        grid = torch.stack([src[..., 0] / (w - 1) * 2 - 1, src[..., 1] / (h - 1) * 2 - 1], -1)
        return F.grid_sample(image, grid[None], mode="bilinear", padding_mode="border",
                             align_corners=True)  # fmt: skip


# ---------------------------------------------------------------- filters


def box(x: torch.Tensor, r: int) -> torch.Tensor:
    k = 2 * r + 1
    x = F.avg_pool2d(F.pad(x, (r, r, 0, 0), mode="replicate"), (1, k), stride=1)
    return F.avg_pool2d(F.pad(x, (0, 0, r, r), mode="replicate"), (k, 1), stride=1)


def gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(
        F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c
    )
    return F.conv2d(
        F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c
    )


def fast_guided_filter(x: torch.Tensor, r: int, eps: float) -> torch.Tensor:
    """Self-guided filter (He et al.), coefficients at half size: smooths flat regions and
    keeps strong edges."""
    h, w = x.shape[-2:]
    lo = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False,
                       antialias=True)  # fmt: skip
    mean = box(lo, r)
    var = box(lo * lo, r) - mean * mean
    a = var / (var + eps)
    b = mean - a * mean
    a, b = box(a, r), box(b, r)
    a = F.interpolate(a, size=(h, w), mode="bilinear", align_corners=False)
    b = F.interpolate(b, size=(h, w), mode="bilinear", align_corners=False)
    return a * x + b


def kuwahara(x: torch.Tensor, r: int, sharpness: float = 4.0) -> torch.Tensor:
    """Soft Kuwahara filter: each pixel takes the mean of its four (r+1)-square quadrants,
    weighted towards the flattest one. Flat paint regions with crisp edges between them."""
    k = r + 1
    mean = F.avg_pool2d(F.pad(x, (r, r, r, r), mode="replicate"), k, stride=1)
    sq = F.avg_pool2d(F.pad(x * x, (r, r, r, r), mode="replicate"), k, stride=1)
    var = (sq - mean * mean).clamp(min=0).sum(1, keepdim=True)
    h, w = x.shape[-2:]
    # quadrant windows ending / starting at the pixel: offsets into the padded pool output
    quads = [(0, 0), (0, r), (r, 0), (r, r)]
    means = torch.stack([mean[..., dy : dy + h, dx : dx + w] for dy, dx in quads])
    vars_ = torch.stack([var[..., dy : dy + h, dx : dx + w] for dy, dx in quads])
    scale = vars_.mean(0, keepdim=True).clamp(min=1e-6)
    wgt = torch.softmax(-sharpness * vars_ / scale, dim=0)
    return (means * wgt).sum(0)


def luminance(x: torch.Tensor) -> torch.Tensor:
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).clamp(0, 1)


def tone_bands(x: torch.Tensor, p: Params, skin_luma: float = REFERENCE_LUMA) -> torch.Tensor:
    """Soft quantization of luminance into bands, colour kept (sigmoid steps, so it stays
    differentiable). The bands are a ladder of luminance ratios with the skin's own luminance
    on a rung: the skin keeps its tone and its shading steps down from it, however light or
    dark it is. `bands` sets the ratio between rungs (the span of the old fixed ladder,
    0.3..0.98, in `bands` steps)."""
    # bands of a blurred luminance: smooth band shapes instead of speckle (at half size: the
    # blur leaves nothing finer)
    h, w = x.shape[-2:]
    y = gaussian(F.avg_pool2d(luminance(x), 2), 1.5).clamp(min=1e-3)
    n = round(float(p["bands"].detach()))
    step = math.log(0.98 / 0.3) / (n - 1)  # log luminance between rungs
    k = p["band_sharpness"]
    u = (torch.log(y / skin_luma) / step).clamp(-8, 8)  # rungs above (+) or below (-) the skin
    # the sum of a sigmoid step at every half rung: only the three nearest ones are not
    # 0 or 1 yet (the rest differ by under sigmoid(-1.5 k))
    f = torch.floor(u)
    r = u - f
    rung = f - 1 + sum(torch.sigmoid(k * (r - c)) for c in (-0.5, 0.5, 1.5))
    q = skin_luma * torch.exp(step * rung)
    gain = torch.lerp(y, q, p["tone_mix"]) / y
    gain = F.interpolate(gain, size=(h, w), mode="bilinear", align_corners=False)
    return (x * gain).clamp(0, 1.2)


def grade(
    x: torch.Tensor,
    p: Params,
    skin_luma: float = REFERENCE_LUMA,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """The style's colour grade. On the skin (`weight`, 1 everywhere without one) the contrast
    pivot, brightness and the shadow/highlight tints are scaled to the skin's luminance (the
    styles were tuned on a light skin): the grade shapes every skin's shading alike instead of
    crushing a dark one, and the rest of the picture is graded as the style was tuned."""
    ang = p["hue_shift"] * (math.pi / 180)
    c, s = torch.cos(ang), torch.sin(ang)
    sat = p["saturation"]
    one, zero = torch.ones_like(sat), torch.zeros_like(sat)
    # hue rotation and saturation act on YIQ's chroma plane: one colour matrix
    chroma = torch.stack([torch.stack([one, zero, zero]), torch.stack([zero, c * sat, -s * sat]),
                          torch.stack([zero, s * sat, c * sat])])  # fmt: skip
    x = torch.einsum("ij,bjhw->bihw", _YIQ_INV.to(x) @ chroma.to(x) @ _YIQ.to(x), x)
    rel: float | torch.Tensor = skin_luma / REFERENCE_LUMA
    if weight is not None:
        rel = 1 + (rel - 1) * weight
    pivot = 0.5 * rel
    x = ((x - pivot) * p["contrast"] + pivot + p["brightness"] * rel).clamp(0, 1)
    x = x ** p["gamma"]
    y = (luminance(x) / rel).clamp(0, 1)
    tint = torch.lerp(p["shadow_tint"].view(1, 3, 1, 1), p["highlight_tint"].view(1, 3, 1, 1), y)
    x = (x * tint).clamp(0, 1)
    return x + p["pastel"] * (1 - x)


def xdog(y: torch.Tensor, p: Params, skin_luma: float = REFERENCE_LUMA) -> torch.Tensor:
    """Ink coverage 0..1 from XDoG (Winnemöller et al.) of luminance y (1, 1, H, W). A skin
    darker than the reference is seen through a gamma that brings it there, so its features
    get the same lines (edge strength and "deep shadow" are absolute thresholds)."""
    if skin_luma < REFERENCE_LUMA:
        # (not steeper than a cube root: an underexposed photo's noise would turn to ink)
        lift = max(math.log(REFERENCE_LUMA) / math.log(max(skin_luma, 0.02)), 0.33)
        y = y.clamp(min=1e-4) ** lift
    sigma = float(p["line_sigma"].detach())  # kernel sizes are not learned
    g1 = gaussian(y, sigma)
    g2 = gaussian(y, sigma * float(p["line_k"].detach()))
    u = g1 - p["line_tau"] * g2
    e = p["line_eps"]
    t = torch.where(u >= e, torch.ones_like(u), 1 + torch.tanh(p["line_phi"] * (u - e)))
    ink = (1 - t).clamp(0, 1)
    # keep ink on strong, larger-scale edges only: no stipple on skin texture or wrinkles
    g = gaussian(y, 2.0 * sigma)
    gx = F.pad(g[..., :, 2:] - g[..., :, :-2], (1, 1, 0, 0), mode="replicate")
    gy = F.pad(g[..., 2:, :] - g[..., :-2, :], (0, 0, 1, 1), mode="replicate")
    strength = torch.sqrt(gx * gx + gy * gy + 1e-8)
    dark = (0.12 - y).clamp(min=0) / 0.12  # and in the deepest shadows
    ink = ink * torch.maximum(((strength - 0.025) / 0.03).clamp(0, 1), dark)
    width = float(p["line_width"].detach())
    k = 2 * int(width // 2) + 1
    if k > 1:
        ink = F.max_pool2d(ink, k, stride=1, padding=k // 2)
    return gaussian(ink, 0.6) * p["line_weight"]


# ---------------------------------------------------------------- landmark features


def _box_grid(
    h: int, w: int, pts: np.ndarray, margin: float, dev: torch.device, centre: float = 0.0
) -> tuple[int, int, torch.Tensor, torch.Tensor] | None:
    """Pixel coordinates (xs, ys) of the image's part around `pts` (plus `margin`), and that
    part's top-left corner: shapes are drawn there only, not over the whole picture.
    `centre` 0.5 samples pixel centres. None when the box misses the picture."""
    x0, y0 = np.floor(pts.min(axis=0) - margin).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0) + margin).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return None
    ys, xs = torch.meshgrid(torch.arange(y0, y1, device=dev, dtype=torch.float32) + centre,
                            torch.arange(x0, x1, device=dev, dtype=torch.float32) + centre,
                            indexing="ij")  # fmt: skip
    return int(x0), int(y0), xs, ys


def stroke(h: int, w: int, pts: np.ndarray, widths: np.ndarray, dev: torch.device,
           closed: bool = False) -> torch.Tensor:  # fmt: skip
    """Coverage (h, w) of an anti-aliased polyline with a width per vertex."""
    if closed:
        pts = np.vstack([pts, pts[:1]])
        widths = np.append(widths, widths[0])
    out = torch.zeros(h, w, device=dev)
    box = _box_grid(h, w, pts, float(widths.max()) + 2, dev)
    if box is None:
        return out
    x0, y0, xs, ys = box
    pix = torch.stack([xs, ys], -1)[..., None, :]  # (h, w, 1, 2)
    a = torch.tensor(pts[:-1], dtype=torch.float32, device=dev)
    b = torch.tensor(pts[1:], dtype=torch.float32, device=dev)
    wa = torch.tensor(widths[:-1], dtype=torch.float32, device=dev)
    wb = torch.tensor(widths[1:], dtype=torch.float32, device=dev)
    ab = b - a
    t = (((pix - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp(min=1e-6)).clamp(0, 1)
    d = (pix - (a + t[..., None] * ab)).norm(dim=-1)
    half = (wa + t * (wb - wa)) / 2
    cov = (half + 0.5 - d).clamp(0, 1).amax(dim=-1)
    out[y0 : y0 + cov.shape[0], x0 : x0 + cov.shape[1]] = cov
    return out


def disc(h: int, w: int, c: np.ndarray, r: float, dev: torch.device, soft: float = 1.0):
    ys, xs = torch.meshgrid(
        torch.arange(h, device=dev, dtype=torch.float32),
        torch.arange(w, device=dev, dtype=torch.float32),
        indexing="ij",
    )
    d = torch.sqrt((xs - float(c[0])) ** 2 + (ys - float(c[1])) ** 2)
    return ((r - d) / soft + 0.5).clamp(0, 1)


def features(
    x: torch.Tensor, pts: np.ndarray, p: Params, tone: SkinTone | None = None
) -> torch.Tensor:
    """Anime features drawn over the image from the (warped) landmarks; the blush is the
    skin's own colour flushed (`skin.blush_colour`), a fixed pink without a `tone`."""
    _, _, h, w = x.shape
    dev = x.device
    ink = p["line_color"].view(1, 3, 1, 1).to(dev)
    eye_w = float(np.linalg.norm(pts[33] - pts[133]) + np.linalg.norm(pts[263] - pts[362])) / 2
    lw = max(1.0, float(p["line_width"]))
    # blush
    if float(p["blush"]) > 0:
        ys, xs = torch.meshgrid(torch.arange(h, device=dev, dtype=torch.float32),
                                torch.arange(w, device=dev, dtype=torch.float32),
                                indexing="ij")  # fmt: skip
        g = torch.zeros(h, w, device=dev)
        for i in CHEEKS:
            cx, cy = pts[i]
            g = g + torch.exp(-(((xs - cx) / (0.55 * eye_w)) ** 2
                                + ((ys - cy) / (0.3 * eye_w)) ** 2))  # fmt: skip
        flush = (1.0, 0.55, 0.6) if tone is None else blush_colour(tone)
        pink = torch.tensor(flush, dtype=x.dtype, device=dev).view(1, 3, 1, 1)
        x = torch.lerp(x, x * pink, (BLUSH_MIX * p["blush"] * g)[None, None])
    # eye whites, then irises: darker, deeper colour, with a catchlight
    for ring, iris in ((RIGHT_EYE_RING, RIGHT_IRIS), (LEFT_EYE_RING, LEFT_IRIS)):
        c = pts[iris[0]]
        r = float(np.mean([np.linalg.norm(pts[i] - c) for i in iris[1:]]))
        # only inside the eye opening
        opening = stroke(h, w, pts[list(ring)], np.full(len(ring), 1.0), dev, closed=True)
        inside = fill_polygon(h, w, pts[list(ring)], dev).clamp(0, 1)
        iris_m = disc(h, w, c, r * 1.05, dev) * inside
        # the tone bands sit on the skin, so a photo's greyish eye whites would stay grey:
        # anime eyes are white
        white = inside * (1 - disc(h, w, c, r * 1.15, dev))
        x = torch.lerp(x, torch.full_like(x, 0.97), (SCLERA_LIFT * white)[None, None])
        x = torch.lerp(x, x * 0.45 + ink * 0.2, (0.8 * p["lash_weight"] * iris_m)[None, None])
        pupil = disc(h, w, c, r * 0.45, dev) * inside
        x = torch.lerp(x, ink, (0.85 * p["lash_weight"] * pupil)[None, None])
        hl = disc(h, w, c + np.array([-0.35 * r, -0.4 * r]), 0.32 * r, dev) * inside
        x = torch.lerp(x, torch.ones_like(x), (p["catchlight"] * hl)[None, None])
        x = torch.lerp(x, ink, (0.5 * p["lash_weight"] * opening)[None, None])
    # upper-lid lash lines, heavy at the outer corner
    for lid in (RIGHT_UPPER_LID, LEFT_UPPER_LID):
        n = len(lid)
        widths = lw * (0.8 + 1.7 * np.linspace(1.0, 0.25, n) ** 1.5) * (eye_w / 45) ** 0.5
        cov = stroke(h, w, pts[list(lid)], widths, dev)
        x = torch.lerp(x, ink, (p["lash_weight"] * cov)[None, None])
    # brows, jaw line and lips
    for line, width, alpha in (
        (RIGHT_BROW, 1.2 * lw, 0.55),
        (LEFT_BROW, 1.2 * lw, 0.55),
        (JAW, lw, 0.75),
        (LIP_LINE, 0.8 * lw, 0.7),
    ):
        n = len(line)
        taper = np.sin(np.linspace(0.15, np.pi - 0.15, n)) ** 0.5
        cov = stroke(h, w, pts[list(line)], width * taper, dev)
        x = torch.lerp(x, ink, (alpha * p["line_weight"] * cov)[None, None])
    return x


def fill_polygon(h: int, w: int, poly: np.ndarray, dev: torch.device) -> torch.Tensor:
    """Soft inside-mask of a closed polygon (even-odd crossing test, slightly feathered)."""
    out = torch.zeros(h, w, device=dev)
    box = _box_grid(h, w, poly, 2, dev, centre=0.5)
    if box is None:
        return out
    x0, y0, xs, ys = box
    a = torch.tensor(poly, dtype=torch.float32, device=dev)
    b = torch.roll(a, -1, 0)
    xs_, ys_ = xs[..., None], ys[..., None]
    cond = (a[:, 1] > ys_) != (b[:, 1] > ys_)
    xint = a[:, 0] + (ys_ - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1] + 1e-9)
    inside = ((cond & (xs_ < xint)).sum(-1) % 2).float()
    out[y0 : y0 + inside.shape[0], x0 : x0 + inside.shape[1]] = inside
    return gaussian(out[None, None], 0.7)[0, 0]


# ---------------------------------------------------------------- finish


def backdrop(x: torch.Tensor, mask: torch.Tensor, p: Params) -> torch.Tensor:
    _, _, h, w = x.shape
    ys = torch.linspace(0, 1, h, device=x.device).view(1, 1, h, 1)
    col = p["background"].view(1, 3, 1, 1).to(x)
    grad = (col * (1.15 - 0.35 * ys)).clamp(0, 1).expand(1, 3, h, w)
    return torch.lerp(x, grad, p["background_mix"] * (1 - mask))


def paper(x: torch.Tensor, p: Params, seed: int = 7) -> torch.Tensor:
    """Watercolour finish: colour bleeding, darker pigment at region edges, paper grain."""
    a = p["paper"]
    if float(a) <= 0:
        return x
    _, _, h, w = x.shape
    gen = torch.Generator(device="cpu").manual_seed(seed)
    grain = torch.zeros(1, 1, h, w)
    for s, amp in ((4, 0.5), (16, 0.3), (64, 0.2)):
        n = torch.rand(1, 1, h // s + 1, w // s + 1, generator=gen)
        grain += amp * F.interpolate(n, size=(h, w), mode="bicubic", align_corners=False)
    grain = grain.to(x) - 0.5
    bleed = gaussian(x, 2.0)
    x = torch.lerp(x, bleed, 0.5 * a)
    edge = (gaussian(x, 4.0) - x).abs().mean(1, keepdim=True)
    x = x * (1 - a * (0.12 * grain + 1.2 * edge))
    return x.clamp(0, 1)


def stylize(
    crop: np.ndarray,
    points: np.ndarray,
    params: Params,
    *,
    mask: np.ndarray | None = None,
    preserve_expression: bool = True,
    dev: torch.device | None = None,
    timings: dict[str, float] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stage 2 on a square RGB uint8 crop and its (478, 2) landmarks. Returns the styled
    image (RGB uint8), the landmarks in it, and the person mask carried through the warp."""
    dev = dev or device()
    t = {} if timings is None else timings
    p = {k: v.to(dev) for k, v in params.items()}
    h, w = crop.shape[:2]
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        t[name] = t.get(name, 0.0) + (now - clock) * 1000
        clock = now
        if progress is not None:
            progress(name)

    with torch.no_grad():
        img = torch.from_numpy(np.array(crop, dtype=np.uint8)).to(dev).permute(2, 0, 1)[None]
        img = img.float() / 255
        m = (
            torch.ones(1, 1, h, w, device=dev)
            if mask is None
            else (torch.from_numpy(np.asarray(mask, dtype=np.float32)).to(dev)[None, None])
        )
        warp = Warp(points, params, preserve_expression)
        both = warp.apply(torch.cat([img, m], 1))
        img, m = both[:, :3], both[:, 3:]
        out_pts = warp.forward_points(points)
        tone = SkinTone.of(cheek_colour(img, out_pts))  # the photo's cheeks
        skin_luma = min(max(tone.luma, 0.03), 0.95)
        lap("warp")
        r = max(1, round(float(p["smooth_radius"])))
        # the filter's regularisation is a variance: scaled to the skin's luminance, a dark
        # face is smoothed as much as a light one, not flattened further
        eps = float(p["smooth_eps"]) * min(skin_luma / REFERENCE_LUMA, 1.5) ** 2
        guided = fast_guided_filter(img, r, eps)
        flat = guided
        for _ in range(round(float(p["smooth_passes"]))):
            flat = kuwahara(flat, max(2, r // 2 + 1))
        flat = gaussian(flat, 0.8)  # round off the quadrants' corners
        lap("smooth")
        ink = xdog(luminance(gaussian(guided, 0.7)), p, skin_luma)
        lap("lines")
        banded = tone_bands(flat, p, skin_luma)
        weight = skin_weight(flat, tone, m)
        # the skin graded about its own luminance, the rest of the picture as the style was
        # tuned (a dark skin's shading is not crushed, nor the scene round it lifted)
        x = anchor(grade(banded, p, skin_luma, weight), out_pts, tone, weight)
        lap("tone")
        x = torch.lerp(x, p["line_color"].view(1, 3, 1, 1), ink)
        x = features(x, out_pts, p, tone)
        lap("features")
        x = paper(backdrop(x, m, p), p)
        out = (x.clamp(0, 1)[0].permute(1, 2, 0) * 255 + 0.5).to(torch.uint8).cpu().numpy()
        lap("finish")
    return out, out_pts, m[0, 0].clamp(0, 1).cpu().numpy()
