"""Stage 1, face processing: MediaPipe's 478 landmarks on the photo (through
`engine.tracking.landmarker`, the MediaPipe boundary), expression and head pose (the tracking
solver), and an aligned square crop of the face and head.

The crop is a similarity transform of the photo: the eye line made level (roll removed), room
for the hair above the face and for the neck and shoulder-length hair below the chin, scaled
to `size` pixels. The landmarks are carried through the same transform, so they lie on the
cropped face.

A face near the photo's edge: the crop slides back inside the photo at the top and bottom as
far as the face allows; what still lies outside is painted in (the face's other side
mirrored across its midline, else a smooth continuation of the nearest colours), never
left black, and the landmarks are found again on the completed crop.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from engine import landmarks as lm
from engine.images import check_rgb
from engine.style.errors import NoFaceDetectedError, StyleError
from engine.tracking.solver import solve

MAX_DETECT_SIDE = 1280  # larger photos are scaled down for detection (landmarks are relative)
MIN_SIDE = 32
# the crop round the face (landmarks' top to chin), in face heights: hair volume above it;
# below the chin the neck and hair down to the shoulders (a crop ending at the neck cut long
# hair off at the jaw)
ROOM_ABOVE, ROOM_BELOW = 0.45, 0.55
RIGHT_EYE = (lm.RIGHT_EYE_OUTER, lm.RIGHT_EYE_INNER)  # the person's own right eye
LEFT_EYE = (lm.LEFT_EYE_OUTER, lm.LEFT_EYE_INNER)
# points on the face's vertical midline: the mirror line for a face cut by the frame
MIDLINE = (lm.FOREHEAD, lm.NOSE_BRIDGE, lm.NOSE_TIP[0], lm.UPPER_LIP_TOP, lm.CHIN)
EDGE_PAD = 4  # edge pixels repeated past the farthest the crop reaches
SEAM = 8  # crop pixels over which the photo fades into the face's mirrored other side

_lock = threading.Lock()
_landmarker = None


@dataclass(frozen=True)
class Face:
    """A face found in a photo, cropped and aligned."""

    crop: np.ndarray  # (size, size, 3) uint8 RGB
    landmarks: np.ndarray  # (478, 2) pixels in `crop`
    expression: dict[str, float]  # smile, eyebrowRaise, eyeOpenness, mouthOpen (0..1)
    head_pose: dict[str, float]  # yaw, pitch, roll in degrees
    faces: int  # faces MediaPipe saw in the photo


def check_image(image: np.ndarray) -> np.ndarray:
    return check_rgb(
        image,
        "the photo",
        StyleError,
        MIN_SIDE,
        "a photo of {w}x{h} is too small to find a face in",
    )


def _detect(image: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Normalized (478, 3) landmarks of the largest, most central face, and the face count."""
    global _landmarker
    h, w = image.shape[:2]
    small = image
    if max(h, w) > MAX_DETECT_SIDE:
        k = MAX_DETECT_SIDE / max(h, w)
        small = np.asarray(
            Image.fromarray(image).resize((round(w * k), round(h * k)), Image.BILINEAR)
        )
    from engine.tracking.landmarker import FaceLandmarker  # the MediaPipe boundary

    with _lock:  # one static graph for every photo; MediaPipe graphs are not thread-safe
        if _landmarker is None:
            _landmarker = FaceLandmarker(static=True)
        result = _landmarker.process(small)
    return result.landmarks, result.faces


def expression_of(landmarks: np.ndarray, size: tuple[int, int]) -> tuple[dict, dict]:
    s = solve(landmarks, size)
    expression = {
        "smile": round(max(0.0, s.mouth_form), 3),
        "eyebrowRaise": round(float(np.clip((s.brow_l + s.brow_r) / 2, 0.0, 1.0)), 3),
        "eyeOpenness": round((s.eye_open_l + s.eye_open_r) / 2, 3),
        "mouthOpen": round(s.mouth_open, 3),
    }
    pose = {"yaw": round(s.yaw, 2), "pitch": round(s.pitch, 2), "roll": round(s.roll, 2)}
    return expression, pose


def crop_transform(
    points: np.ndarray, size: int, photo_size: tuple[int, int] | None = None
) -> np.ndarray:
    """The 2x3 affine matrix taking photo pixels to crop pixels, from (478, 2) landmarks.
    With the photo's (w, h), a crop that would reach past the photo's top or bottom edge is
    slid back inside it as far as the face allows (the frame then cuts the hair or the neck
    instead of a painted-in band)."""
    eye_r = points[list(RIGHT_EYE)].mean(axis=0)
    eye_l = points[list(LEFT_EYE)].mean(axis=0)
    d = eye_l - eye_r  # the person's left eye is on the picture's right
    angle = np.arctan2(d[1], d[0])
    c, s = np.cos(-angle), np.sin(-angle)
    rot = np.array([[c, -s], [s, c]])
    upright = points @ rot.T  # roll removed
    lo, hi = upright.min(axis=0), upright.max(axis=0)
    face_h = max(hi[1] - lo[1], (hi[0] - lo[0]) * 1.15)
    side = face_h * (1 + ROOM_ABOVE + ROOM_BELOW)
    top = lo[1] - ROOM_ABOVE * face_h
    if photo_size is not None:
        w, h = photo_size
        corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], dtype=np.float64) @ rot.T
        photo_top, photo_bottom = corners[:2, 1].max(), corners[2:, 1].min()
        margin = 0.02 * side  # the face itself stays in the crop
        if top < photo_top:
            top = min(photo_top, lo[1] - margin)
        elif top + side > photo_bottom:
            top = max(photo_bottom - side, hi[1] + margin - side)
    centre = np.array([(lo[0] + hi[0]) / 2, top + side / 2])
    k = size / side
    a = rot * k
    t = np.array([size / 2, size / 2]) - centre * k
    return np.hstack([a, t[:, None]])


def warp_affine(image: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """The photo resampled through the 2x3 matrix `m` (photo -> crop) into size x size.
    Where the crop reaches past the photo's edge its edge pixels go on (never black: a fill
    colour there would also bleed into the last photo pixels through the bicubic kernel);
    `fill_outside` paints that part in."""
    full = np.vstack([m, [0.0, 0.0, 1.0]])
    inv = np.linalg.inv(full)  # PIL wants crop -> photo
    src = np.asarray(image)
    k = 1.0 / np.hypot(m[0, 0], m[0, 1])  # photo pixels per crop pixel
    if k > 2.0:  # shrink first so the bicubic resample does not alias
        f = int(k // 1.5)
        src = np.asarray(Image.fromarray(src).reduce(f))
        inv = np.diag([1.0 / f, 1.0 / f, 1.0]) @ inv
    # pad as far as the crop reaches (and a little more: the bicubic kernel reaches past its
    # sample)
    corners = inv[:2] @ np.array([[0, size, 0, size], [0, 0, size, size], [1, 1, 1, 1]])
    h, w = src.shape[:2]
    left, top = -corners.min(axis=1)
    right, bottom = corners.max(axis=1) - (w, h)
    pads = [max(0, int(np.ceil(v))) + EDGE_PAD for v in (left, right, top, bottom)]
    src = np.pad(src, ((pads[2], pads[3]), (pads[0], pads[1]), (0, 0)), mode="edge")
    inv = np.array([[1.0, 0.0, pads[0]], [0.0, 1.0, pads[2]], [0.0, 0.0, 1.0]]) @ inv
    coeffs = tuple(inv[:2].reshape(-1))
    out = Image.fromarray(src).transform((size, size), Image.AFFINE, coeffs, Image.BICUBIC)
    return np.asarray(out)


def inside_photo(m: np.ndarray, photo_size: tuple[int, int], size: int) -> np.ndarray:
    """Bool (size, size): the crop pixels whose source lies inside the photo (w, h)."""
    w, h = photo_size
    inv = np.linalg.inv(np.vstack([m, [0.0, 0.0, 1.0]]))[:2]
    c = np.arange(size, dtype=np.float64) + 0.5  # pixel centres
    sx = inv[0, 0] * c[None, :] + inv[0, 1] * c[:, None] + inv[0, 2]
    sy = inv[1, 0] * c[None, :] + inv[1, 1] * c[:, None] + inv[1, 2]
    return (sx >= 0) & (sx <= w) & (sy >= 0) & (sy <= h)


def fill_outside(crop: np.ndarray, inside: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The crop with its part beyond the photo's edge painted in. Where the face's other
    side is in the photo it is mirrored across the face's midline (a face cut by the frame
    gets its own cheek and eye back); the rest (a cut across the top or bottom) continues
    smoothly from the nearest known colours (push-pull: averages from coarser and coarser
    levels), as mirroring the photo in its edge would stand the eyes upside down above the
    face there. Each seam is a short cross-fade."""
    if inside.all():
        return crop
    size = crop.shape[0]
    axis = float(points[list(MIDLINE), 0].mean())  # the crop is upright: a vertical line
    mx = np.rint(2 * axis - np.arange(size)).astype(int)
    ok = (mx >= 0) & (mx < size)
    mirror = crop.copy()
    mirror[:, ok] = crop[:, mx[ok]]
    mirror_in = np.zeros_like(inside)
    mirror_in[:, ok] = inside[:, mx[ok]]
    known = inside | mirror_in
    base = crop.astype(np.float32)
    # the photo's own pixel fades to the mirror over its last SEAM pixels, where there is one
    keep = _feather(inside, SEAM)
    take = _feather(mirror_in, SEAM)
    base = base + (mirror.astype(np.float32) - base) * (take * (1 - keep))[..., None]
    if not known.all():
        smooth = _push_pull(base, known)
        fade = _feather(known, SEAM)[..., None]
        base = smooth + (base - smooth) * fade
    return np.clip(base + 0.5, 0, 255).astype(np.uint8)


def _push_pull(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """(h, w, 3) float: the known pixels' colours carried smoothly over the unknown ones."""
    img = torch.from_numpy(image).permute(2, 0, 1)[None]
    wgt = torch.from_numpy(known.astype(np.float32))[None, None]
    levels = [(img * wgt, wgt)]  # push: averages of the known pixels, down to one pixel
    while min(levels[-1][1].shape[-2:]) > 1:
        c, k = levels[-1]
        levels.append((F.avg_pool2d(c, 2, ceil_mode=True), F.avg_pool2d(k, 2, ceil_mode=True)))
    est = levels[-1][0] / levels[-1][1].clamp(min=1e-6)
    for c, k in reversed(levels[:-1]):  # pull: a level's own average where it has one
        up = F.interpolate(est, size=c.shape[-2:], mode="bilinear", align_corners=False)
        conf = k.clamp(0, 1)
        est = conf * (c / k.clamp(min=1e-6)) + (1 - conf) * up
    return est[0].permute(1, 2, 0).numpy()


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    m = torch.from_numpy(mask.astype(np.float32))[None, None]
    return (F.max_pool2d(m, 2 * r + 1, stride=1, padding=r)[0, 0] > 0.5).numpy()


def _feather(mask: np.ndarray, r: int) -> np.ndarray:
    """A soft version of a bool mask: 0..1 over about r pixels inside its edge."""
    inner = ~_dilate(~mask, r)
    m = torch.from_numpy(inner.astype(np.float32))[None, None]
    soft = F.avg_pool2d(F.pad(m, (r, r, r, r), mode="replicate"), 2 * r + 1, stride=1)
    return np.minimum(soft[0, 0].numpy() * 2, 1.0) * mask


def process_face(image: np.ndarray, size: int = 512) -> Face:
    """Stage 1: find the face (the largest one) and crop it, or NoFaceDetectedError."""
    image = check_image(image)
    h, w = image.shape[:2]
    landmarks, faces = _detect(image)
    if landmarks is None:
        raise NoFaceDetectedError(
            f"no face found in the photo ({w}x{h}): use a photo with one face looking at the "
            "camera, well lit and not too small"
        )
    points = landmarks[:, :2] * np.array([w, h])
    expression, pose = expression_of(landmarks, (w, h))
    m = crop_transform(points, size, (w, h))
    crop = warp_affine(image, m, size)
    inside = inside_photo(m, (w, h), size)
    out_points = points @ m[:, :2].T + m[:, 2]
    if not inside.all():
        crop = fill_outside(crop, inside, out_points)
        # MediaPipe's guess at the points it could not see is poor: find the face again on
        # the completed crop, so the features are drawn where the pixels show them
        again, _ = _detect(crop)
        if again is not None:
            out_points = again[:, :2] * size
    return Face(crop, out_points.astype(np.float64), expression, pose, faces)
