"""Where things are in the photo: the largest face's landmarks (through the MediaPipe
boundary, engine/tracking/landmarker.py), the person mask (engine/tracking/segmenter.py),
the face's own frame, and landmark polygons as pixel masks.

Everything is measured on a working copy of the photo cropped to the head and shoulders
(`Scene`). Regions that reach outside the photo are clipped, never padded: pixels outside
the frame are unknown, and each region knows which share of it was inside (`coverage`), so
a face cut by the frame edge lowers confidence instead of reading black.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image, ImageDraw

from engine import landmarks as lm
from engine.face.topology import topology
from engine.images import check_rgb
from engine.likeness.measure_colour import srgb_to_lab
from engine.likeness.measure_types import BadPhotoError, NoFaceError
from engine.tracking.geometry import angles, fit_similarity, lift
from engine.tracking.solver import reference

MIN_SIDE = 32
MAX_SIDE = 1024  # larger photos are measured at this size (faces stay well over 100 px)
MAX_FACES = 4
# The working crop around the face, in face widths (sideways) and eye-to-chin heights.
CROP_SIDE, CROP_UP, CROP_DOWN = 1.6, 2.2, 3.2
WORK_FACE = 120.0  # the working crop is scaled down to at most this face width (pixels)

_lock = threading.Lock()
_landmarker = None


def check_photo(photo: object) -> np.ndarray:
    return check_rgb(
        photo, "the photo", BadPhotoError, MIN_SIDE, "a photo of {w}x{h} is too small to measure"
    )


def _process(image: np.ndarray) -> tuple[np.ndarray | None, int]:
    global _landmarker
    from engine.tracking.landmarker import FaceLandmarker  # the MediaPipe boundary

    with _lock:  # one static graph for every photo: graphs are not thread-safe
        if _landmarker is None:
            _landmarker = FaceLandmarker(static=True, max_faces=MAX_FACES)
        result = _landmarker.process(image)
    return result.landmarks, result.faces


def _face_size(landmarks: np.ndarray, w: int, h: int) -> float:
    px = landmarks[:, 0] * w
    py = landmarks[:, 1] * h
    return float(max(np.ptp(px), np.ptp(py)))


def largest_face(image: np.ndarray) -> tuple[np.ndarray, int]:
    """Normalized (478, 3) landmarks of the largest face and how many faces there are.

    The landmarker follows the largest *most central* face; a bigger face off to the side
    must win here, so with several faces each one found is painted out (grey, its box) and
    the landmarker asked again, and the largest of all is kept."""
    h, w = image.shape[:2]
    found, faces = _process(image)
    if found is None:
        raise NoFaceError(
            f"no face found in the photo ({w}x{h}): use a photo with a face looking at the "
            "camera, well lit and not too small"
        )
    if faces < 2:
        return found, 1
    seen = [found]
    work = image.copy()
    for _ in range(faces - 1):
        px, py = seen[-1][:, 0] * w, seen[-1][:, 1] * h
        pad = 0.15 * max(np.ptp(px), np.ptp(py))
        x0, x1 = int(max(0, px.min() - pad)), int(min(w, px.max() + pad + 1))
        y0, y1 = int(max(0, py.min() - pad)), int(min(h, py.max() + pad + 1))
        work[y0:y1, x0:x1] = 128
        more, _ = _process(work)
        if more is None:
            break
        seen.append(more)
    best = max(seen, key=lambda s: _face_size(s, w, h))
    return best, faces


@dataclass(frozen=True)
class Scene:
    """The working crop: pixels, L*a*b*, person mask, landmarks in crop pixels and the face's
    own frame (u along the eye line in face widths, v downwards in eye-to-chin heights, 0 at
    the eye line, 1 at the chin)."""

    rgb: np.ndarray  # (h, w, 3) uint8
    lab: np.ndarray  # (h, w, 3) float32
    person: np.ndarray  # (h, w) bool
    points: np.ndarray  # (478, 2) crop pixels
    face3d: np.ndarray  # (478, 3) frontal face frame (pose removed), eye corners ~1 apart
    yaw: float
    pitch: float
    roll: float
    origin: np.ndarray  # eye midpoint, crop pixels
    ex: np.ndarray  # unit vector along the eye line (towards the picture's right)
    ey: np.ndarray  # unit vector down the face
    face_width: float  # pixels between the face's sides (234-454)
    unit: float  # pixels from the eye line to the chin
    scale: float  # crop pixels per photo pixel
    cut: dict[str, bool]  # which sides of the crop are the photo's edge (the head may go on)
    faces: int
    u: np.ndarray  # (h, w) face coordinates of every pixel
    v: np.ndarray

    def face_uv(self, pts: np.ndarray) -> np.ndarray:
        d = np.asarray(pts, np.float64) - self.origin
        return np.stack([d @ self.ex / self.face_width, d @ self.ey / self.unit], axis=-1)

    def pixel_of(self, u: float, v: float) -> np.ndarray:
        return self.origin + self.ex * u * self.face_width + self.ey * v * self.unit

    def poly(self, indices: tuple[int, ...] | list[int] | np.ndarray) -> np.ndarray:
        return self.points[np.asarray(indices)]

    def crop_cut(self) -> dict[str, bool]:
        return self.cut

    @cached_property
    def oval(self) -> tuple[np.ndarray, float]:
        """The face inside MediaPipe's outline (forehead middle round the jaw), coverage."""
        return region(self.rgb.shape[:2], self.poly(topology().outline))

    @cached_property
    def usable(self) -> np.ndarray:
        """Pixels that carry colour: not a white highlight (all channels clipped), not black.
        One clipped channel (bright fair skin's red) still says most of the colour."""
        return (self.rgb.min(axis=-1) < 245) & (self.lab[..., 0] > 6)


def polygon_mask(shape: tuple[int, int], pts: np.ndarray) -> np.ndarray:
    """Pixels inside a polygon (crop pixel coordinates; parts outside are clipped)."""
    img = Image.new("L", (shape[1], shape[0]), 0)
    ImageDraw.Draw(img).polygon([(float(x), float(y)) for x, y in pts], fill=1)
    return np.asarray(img, dtype=bool)


def polygon_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def region(shape: tuple[int, int], pts: np.ndarray) -> tuple[np.ndarray, float]:
    """A polygon's pixel mask and the share of its area inside the crop (0..1)."""
    mask = polygon_mask(shape, pts)
    area = polygon_area(pts)
    return mask, float(min(1.0, mask.sum() / area)) if area > 1 else 0.0


def shrink(pts: np.ndarray, k: float) -> np.ndarray:
    """A polygon scaled by k about its centroid (k < 1 keeps clear of its edges)."""
    c = pts.mean(axis=0)
    return c + (pts - c) * k


def _frontal(landmarks: np.ndarray, w: int, h: int) -> tuple[np.ndarray, float, float, float]:
    """The landmarks with the head pose taken out (the tracking solver's fit), and the pose."""
    ref = reference()
    pts = lift(landmarks, (w, h))
    s, rot, t = fit_similarity(ref.points[ref.rigid], pts[ref.rigid])
    yaw, pitch, roll = angles(rot)
    return (pts - t) @ rot / s, yaw, pitch, roll


def _downscale(photo: np.ndarray) -> np.ndarray:
    h, w = photo.shape[:2]
    if max(h, w) <= MAX_SIDE:
        return photo
    k = MAX_SIDE / max(h, w)
    small = Image.fromarray(photo).resize((round(w * k), round(h * k)), Image.BILINEAR)
    return np.asarray(small)


def scene_of(photo: np.ndarray) -> Scene:
    """Find the largest face and build the working crop around it."""
    from engine.tracking.segmenter import segment_person  # the MediaPipe boundary

    image = _downscale(check_photo(photo))
    h, w = image.shape[:2]
    landmarks, faces = largest_face(image)
    pts = landmarks[:, :2] * np.array([w, h])
    face3d, yaw, pitch, roll = _frontal(landmarks, w, h)

    eye_r = pts[[lm.RIGHT_EYE_OUTER, lm.RIGHT_EYE_INNER]].mean(axis=0)
    eye_l = pts[[lm.LEFT_EYE_OUTER, lm.LEFT_EYE_INNER]].mean(axis=0)
    origin = (eye_r + eye_l) / 2
    ex = (eye_l - eye_r) / max(np.linalg.norm(eye_l - eye_r), 1e-6)
    ey = np.array([-ex[1], ex[0]])  # image y is down, so this points down the face
    face_width = float(np.linalg.norm(pts[lm.FACE_SIDES[1]] - pts[lm.FACE_SIDES[0]]))
    unit = float(max((pts[lm.CHIN] - origin) @ ey, 0.3 * face_width))

    # the crop, in photo pixels, clipped to the photo (outside stays unknown)
    corners = np.array(
        [origin + ex * su * CROP_SIDE * face_width + ey * sv * unit
         for su in (-1, 1) for sv in (-CROP_UP, CROP_DOWN)]
    )  # fmt: skip
    x0, y0 = np.floor(corners.min(axis=0)).astype(int)
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 16 or y1 - y0 < 16:
        raise NoFaceError(f"the face in the photo ({w}x{h}) is almost entirely outside it")
    cut = {"left": x0 == 0, "top": y0 == 0, "right": x1 >= w, "bottom": y1 >= h}
    rgb = np.ascontiguousarray(image[y0:y1, x0:x1])
    off = np.array([x0, y0], np.float64)
    k = min(1.0, WORK_FACE / face_width)  # big faces are measured smaller: same detail, faster
    if k < 1.0:
        size = (max(16, round((x1 - x0) * k)), max(16, round((y1 - y0) * k)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR, reducing_gap=2.0))
        k = size[0] / (x1 - x0)
    person = segment_person(rgb) >= 0.5
    pts = (pts - off) * k
    origin = (origin - off) * k
    face_width, unit = face_width * k, unit * k
    ch, cw = rgb.shape[:2]
    gy, gx = np.mgrid[0:ch, 0:cw].astype(np.float32)
    dx, dy = gx - np.float32(origin[0]), gy - np.float32(origin[1])
    u = (dx * np.float32(ex[0]) + dy * np.float32(ex[1])) / np.float32(face_width)
    v = (dx * np.float32(ey[0]) + dy * np.float32(ey[1])) / np.float32(unit)
    return Scene(
        rgb=rgb,
        lab=srgb_to_lab(rgb).astype(np.float32),
        person=person,
        points=pts,
        face3d=face3d,
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        origin=origin,
        ex=ex,
        ey=ey,
        face_width=face_width,
        unit=unit,
        scale=k,
        cut=cut,
        faces=faces,
        u=u,
        v=v,
    )


def face_oval(scene: Scene) -> tuple[np.ndarray, float]:
    """The face inside MediaPipe's outline (forehead middle round the jaw) and its coverage."""
    return scene.oval
