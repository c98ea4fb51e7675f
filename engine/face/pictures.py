"""The pictures a worn face is textured with, cut from the styled art (numpy + Pillow).

- the face: the art with an alpha that is 1 inside the face's outline and feathers to 0
  over a few pixels at it, so the mesh's edge blends into the head behind it;
- the back of the head: the art's transparent version (hair, ears) with the face's own
  features painted over in skin, so nothing doubles when the face mesh turns away from
  it, and everything below the chin (neck, shoulders, clothes) cut off: the body rig has
  its own;
- the inner mouth: drawn, not cut (a closed-mouthed photo has none): teeth, a dark mouth,
  a tongue;
- the skin tone, read from the cheeks, that the body's bare skin is tinted to.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from engine import landmarks as lm
from engine.face.rigging import FaceRig
from engine.face.topology import topology

SUPERSAMPLE = 4
CHEEKS = lm.CHEEK_SKIN


def polygon_mask(points: np.ndarray, size: int, grow: float = 0.0) -> np.ndarray:
    """(size, size) float 0..1 coverage of a polygon, anti-aliased; `grow` moves every
    point that many pixels away from the centroid (negative shrinks)."""
    pts = np.asarray(points, dtype=np.float64)
    c = pts.mean(axis=0)
    d = pts - c
    n = np.linalg.norm(d, axis=1, keepdims=True)
    pts = c + d * (1 + grow / np.maximum(n, 1e-6))
    big = Image.new("L", (size * SUPERSAMPLE, size * SUPERSAMPLE), 0)
    ImageDraw.Draw(big).polygon([tuple(p) for p in pts * SUPERSAMPLE], fill=255)
    small = big.resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float64) / 255.0


def _blur(a: np.ndarray, radius: float) -> np.ndarray:
    img = Image.fromarray(np.clip(a * 255 + 0.5, 0, 255).astype(np.uint8))
    return np.asarray(img.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float64) / 255.0


def skin_tone(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The cheeks' median colour, (3,) uint8."""
    h, w = rgb.shape[:2]
    samples = []
    for i in CHEEKS:
        x, y = np.clip(np.round(landmarks[i]).astype(int), 2, [w - 3, h - 3])
        samples.append(rgb[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3))
    return np.median(np.concatenate(samples), axis=0).astype(np.uint8)


def face_picture(rgb: np.ndarray, landmarks: np.ndarray, feather: float = 2.5) -> np.ndarray:
    """The face's texture: (s, s, 4) straight-alpha RGBA."""
    size = rgb.shape[0]
    outline = landmarks[topology().outline]
    alpha = _blur(polygon_mask(outline, size, grow=-feather), feather)
    return np.dstack([rgb, np.round(alpha * 255).astype(np.uint8)])


def back_picture(rgba: np.ndarray, landmarks: np.ndarray, rig: FaceRig) -> np.ndarray:
    """The back of the head's texture: (s, s, 4) straight-alpha RGBA."""
    size = rgba.shape[0]
    rgb = rgba[..., :3].astype(np.float64)
    alpha = rgba[..., 3].astype(np.float64) / 255.0
    topo = topology()
    outline = landmarks[topo.outline]
    w = rig.width
    # the face region, painted over with its own skin, smoothed: a blur that averages
    # only bare skin (eyes, brows and lips left out), so shading survives and features go
    skin = polygon_mask(outline, size) * (1 - _features(landmarks, size, 0.07 * w))
    r = 0.1 * w
    smooth = _blur3(rgb * skin[..., None], r) / np.maximum(_blur(skin, r)[..., None], 1e-3)
    # out to just past the outline, so the art's own jaw line goes too: when the face mesh
    # turns away from it, a second outline would show
    cover = _blur(polygon_mask(outline, size, grow=0.005 * w), 0.015 * w)[..., None]
    rgb = rgb * (1 - cover) + smooth * cover
    # the head only: the hair and ears above the jaw's corners and a margin round the face;
    # below that (neck, shoulders, clothes) the body rig has its own
    y = np.arange(size, dtype=np.float64)[:, None]
    ears = float(landmarks[list(lm.FACE_SIDES), 1].mean())
    above = np.clip(1 - (y - (ears + 0.1 * w)) / (0.12 * w), 0.0, 1.0) * np.ones((1, size))
    chin = np.clip(1 - (y - rig.chin[1]) / (0.02 * w), 0.0, 1.0)
    near = _blur(polygon_mask(outline, size, grow=0.04 * w), 0.03 * w) * chin
    alpha = np.maximum(alpha, cover[..., 0] * chin) * np.maximum(above, near)
    # the style's crop may cut the hair at the picture's edge: fade it out instead
    edge = 0.03 * size
    x = np.arange(size, dtype=np.float64)[None, :]
    inward = np.minimum(np.minimum(x, size - 1 - x), y)
    alpha = alpha * np.clip(inward / edge, 0.0, 1.0)
    return np.dstack([_u8(rgb), _u8(alpha * 255)])


def _features(landmarks: np.ndarray, size: int, radius: float) -> np.ndarray:
    """Coverage of discs round every eye, brow and inner-lip point."""
    t = topology()
    idx = np.concatenate([
        t.eye_right.upper, t.eye_right.lower, t.eye_left.upper, t.eye_left.lower,
        t.brow_right, t.brow_left, t.mouth.upper, t.mouth.lower,
        [*lm.MOUTH_CORNERS, lm.UPPER_LIP_TOP, lm.LOWER_LIP_BOTTOM],
    ])  # fmt: skip
    big = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(big)
    for x, y in landmarks[idx]:
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(big, dtype=np.float64) / 255.0


def _blur3(rgb: np.ndarray, radius: float) -> np.ndarray:
    """A Gaussian blur of float RGB kept in float (values may exceed 255 before dividing)."""
    scale = max(float(rgb.max()), 1.0)
    return np.dstack([_blur(rgb[..., c] / scale, radius) for c in range(3)]) * scale


def _u8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


def inner_mouth_picture(size: int = 64) -> np.ndarray:
    """The inner mouth's texture, laid out for the mouth layer's uvs: rows 0..0.3 of the
    picture are above the upper teeth's edge, the rest is the mouth's depth and tongue."""
    v = (np.arange(size) + 0.5)[:, None] / size
    u = (np.arange(size) + 0.5)[None, :] / size
    img = np.zeros((size, size, 3))
    dark = np.array([62.0, 18.0, 30.0])
    img[:] = dark
    gum = np.array([150.0, 52.0, 64.0])
    img[(v < 0.12) & (u >= 0)] = gum
    teeth = (v >= 0.1) & (v < 0.29) & (np.abs(u - 0.5) < 0.36)
    shade = np.clip((v - 0.1) / 0.19, 0, 1)
    tooth = np.array([250.0, 248.0, 242.0])[None, None, :] * (1 - 0.12 * shade[..., None])
    img = np.where(teeth[..., None], tooth, img)
    tongue = ((u - 0.5) / 0.34) ** 2 + ((v - 1.02) / 0.36) ** 2 < 1
    img[tongue] = np.array([196.0, 84.0, 96.0])
    img = np.clip(img, 0, 255).astype(np.uint8)
    return np.dstack([img, np.full((size, size), 255, np.uint8)])


def lid_colours(rgb: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(skin, ink) for the shut lids: the lid skin's median a little above each upper lid,
    and the lash line's colour (the darkest quarter along the upper lids)."""
    t = topology()
    h, w = rgb.shape[:2]
    skin, ink = [], []
    for eye in (t.eye_right, t.eye_left):
        up, lo = landmarks[eye.upper], landmarks[eye.lower]
        gap = float(np.max(lo[:, 1] - up[:, 1]))
        for p in up[2:-2]:
            x = int(np.clip(round(p[0]), 0, w - 1))
            for k in (0.8, 1.1, 1.4):
                skin.append(rgb[int(np.clip(round(p[1] - k * gap), 0, h - 1)), x])
            col = rgb[int(np.clip(round(p[1] - 3), 0, h - 1)) : int(np.clip(round(p[1] + 2), 1, h)), x]
            ink.extend(col)
    skin_a, ink_a = np.array(skin, float), np.array(ink, float)
    # the brighter half of what lies above the lids is skin (the rest: lashes, brows, frames)
    bright = skin_a[skin_a @ [0.299, 0.587, 0.114] >= np.median(skin_a @ [0.299, 0.587, 0.114])]
    lum = ink_a @ [0.299, 0.587, 0.114]
    dark = ink_a[lum <= np.percentile(lum, 25)]
    return np.median(bright, axis=0).astype(np.uint8), np.median(dark, axis=0).astype(np.uint8)


def lid_picture(skin: np.ndarray, ink: np.ndarray, width: int = 96, height: int = 32) -> np.ndarray:
    """The shut lid's texture, laid out for the lid layer's uvs: u from the outer corner, v
    down; lid skin fading in from the top over the upper half, the lash line in the lower
    half (fading at its ends), two lash flicks at the outer corner."""
    v = (np.arange(height) + 0.5)[:, None] / height
    u = (np.arange(width) + 0.5)[None, :] / width
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    base = np.zeros((height, width, 4))
    base[..., :3] = skin
    base[..., 3] = 0.95 * np.clip(v / 0.4, 0, 1) ** 2 * (v < 0.5) * np.clip(np.minimum(u, 1 - u) / 0.15, 0, 1)
    line = (v >= 0.5) & (v < 0.98)
    ends = np.clip(np.minimum(u, 1 - u) / 0.05, 0, 1)
    base[..., :3] = np.where(line[..., None], ink, base[..., :3])
    base[..., 3] = np.where(line, np.clip((0.98 - v) / 0.12, 0, 1) * ends, base[..., 3])
    img = Image.fromarray(_u8(base * [1, 1, 1, 255]))
    draw = ImageDraw.Draw(img)
    colour = (*(int(c) for c in ink), 255)
    for u0, u1, v1 in ((0.16, 0.04, 0.22), (0.26, 0.13, 0.3)):  # flicks, up and outwards
        draw.line([(u0 * width, 0.55 * height), (u1 * width, v1 * height)], fill=colour, width=2)
    return np.asarray(img)
