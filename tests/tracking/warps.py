"""Image manipulations for the tracking tests: known changes made to real face photos, so
that what the solver reads off the changed picture can be checked against what was done.

Every function takes and returns RGB uint8 arrays of shape (h, w, 3) and leaves its input
alone. Coordinates are pixels in the picture's own axes, x to the right and y down (as
MediaPipe's normalized landmarks times the picture's width and height, see `pixels`);
angles are degrees, counter-clockwise as seen on screen. Where a warp would reach outside
the source picture it repeats the picture's nearest edge pixels, so no black corners or
borders appear for the face detector to trip on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

# MediaPipe FaceMesh points the mouth warp is placed by (fixed by the model's topology).
UPPER_INNER_LIP, LOWER_INNER_LIP = 13, 14
MOUTH_CORNERS = (61, 291)  # the person's right, left
CHIN = 152

MOUTH_RIM = (70, 18, 24)  # dark red: an open mouth's interior just inside the lips
MOUTH_DEPTH = (12, 4, 6)  # near black: deeper in
GREY = 128


def pixels(landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(n, 2) pixel positions of (n, 2 or 3) normalized landmarks in a picture of
    `image_size` (width, height)."""
    w, h = image_size
    return np.asarray(landmarks, dtype=np.float64)[:, :2] * np.array([w, h], dtype=np.float64)


def box_of(points: np.ndarray) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1): the bounding box of (n, 2) pixel points."""
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def box_centre(box: tuple[float, float, float, float]) -> tuple[float, float]:
    x0, y0, x1, y1 = box
    return (x0 + x1) / 2, (y0 + y1) / 2


def inside(point: Sequence[float], box: tuple[float, float, float, float]) -> bool:
    """Whether pixel `point` (x, y) lies in `box` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    return bool(x0 <= point[0] <= x1 and y0 <= point[1] <= y1)


def remap(
    image: np.ndarray, src_x: np.ndarray, src_y: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """The picture resampled (bilinear) so that output pixel (row r, column c) shows the
    source at (src_x[r, c], src_y[r, c]); outside the source the nearest edge pixel.
    Where `valid` is False (no source at all) the output is plain grey."""
    src = image.astype(np.float64)
    out = np.stack(
        [
            ndimage.map_coordinates(src[..., c], [src_y, src_x], order=1, mode="nearest")
            for c in range(image.shape[2])
        ],
        axis=-1,
    )
    if valid is not None:
        out[~valid] = GREY
    return to_uint8(out)


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(np.rint(image), 0, 255).astype(np.uint8))


def _grid(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (x, y) of every output pixel of an (h, w, ...) picture."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    return xs, ys


def rotate(image: np.ndarray, angle: float, centre: tuple[float, float]) -> np.ndarray:
    """The picture turned in its own plane by `angle` degrees counter-clockwise (as seen on
    screen) about `centre` (x, y), same size: a head in it tilts by `angle` more,
    counter-clockwise. (skimage.transform.rotate's convention, with edge padding.)"""
    a = np.radians(angle)
    cx, cy = centre
    xs, ys = _grid(image.shape)
    dx, dy = xs - cx, ys - cy
    # Counter-clockwise on screen (y down) is clockwise in the maths frame; the inverse map
    # rotates each output pixel back the other way to find its source.
    src_x = cx + np.cos(a) * dx - np.sin(a) * dy
    src_y = cy + np.sin(a) * dx + np.cos(a) * dy
    return remap(image, src_x, src_y)


def turn_homography(angle: float, centre: tuple[float, float], focal: float) -> np.ndarray:
    """3x3 homography (source pixels to output pixels) of a flat picture turned by `angle`
    degrees about the vertical line through `centre`, as seen by a pinhole camera of focal
    length `focal` pixels looking straight at `centre` from `focal` pixels away (so the
    unturned picture maps to itself). Positive angles move the picture's right half away
    from the camera (it shrinks) and its left half nearer (it grows): the foreshortening of
    a head turning towards the picture's right."""
    a = np.radians(angle)
    cx, cy = centre
    # A point (X, Y) of the picture, relative to the centre, goes to (X cos a, Y, f + X sin a)
    # in the camera's frame and projects to f * (X cos a, Y) / (f + X sin a).
    turn = np.array([[focal * np.cos(a), 0, 0], [0, focal, 0], [np.sin(a), 0, focal]])
    to_centre = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=np.float64)
    back = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]], dtype=np.float64)
    h = back @ turn @ to_centre
    return h / h[2, 2]


def turn(image: np.ndarray, angle: float, centre: tuple[float, float], focal: float) -> np.ndarray:
    """The picture as a camera sees it turned by `angle` degrees about the vertical line
    through `centre` (`turn_homography`); same size. Output pixels past the turned
    picture's horizon (where no part of it can be seen) are plain grey."""
    inv = np.linalg.inv(turn_homography(angle, centre, focal))
    xs, ys = _grid(image.shape)
    hx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    hy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    hw = inv[2, 0] * xs + inv[2, 1] * ys + inv[2, 2]
    valid = hw > 1e-6
    safe = np.where(valid, hw, 1.0)
    return remap(image, hx / safe, hy / safe, valid)


def open_mouth(image: np.ndarray, points: np.ndarray, drop: float) -> np.ndarray:
    """The face's mouth opened by `drop` pixels. Below the line between the inner lips the
    lower lip, chin and jaw move straight down: fully at the middle of the lips and at the
    chin, less towards the mouth corners and across the cheeks, fading out down the neck.
    The gap that opens between the lips is painted as a dark mouth interior (dark red at
    its rim, near black inside), lens-shaped, closing at the mouth corners.

    `points` are the face's (478, 2) FaceMesh landmarks in pixels (`pixels`). The warp is a
    smooth vertical displacement field without folds for drops up to about half the
    lip-to-chin distance; nothing above the lip line moves, so the eyes, brows, nose and
    forehead (the points the solver fits head pose on) stay where they were."""
    if drop <= 0:
        return image.copy()
    upper, lower = points[UPPER_INNER_LIP], points[LOWER_INNER_LIP]
    right, left = points[MOUTH_CORNERS[0]], points[MOUTH_CORNERS[1]]
    chin = points[CHIN]
    xc = (upper[0] + lower[0]) / 2
    y0 = (upper[1] + lower[1]) / 2  # the lip line
    half_mouth = max(abs(left[0] - right[0]) / 2, 1.0)
    to_chin = max(chin[1] - y0, 1.0)

    xs, ys = _grid(image.shape)
    t = np.clip((ys - y0) / to_chin, 0.0, 1.0)  # 0 at the lip line .. 1 at the chin
    # The moving part widens from the mouth corners at the lip line to the jaw at the chin.
    u = (xs - xc) / (half_mouth * (1.0 + 0.5 * t))
    across = np.clip(1.0 - u * u, 0.0, 1.0) ** 0.75
    neck = np.clip((ys - chin[1]) / (1.5 * to_chin), 0.0, 1.0)  # 0 at the chin .. 1 below
    down = 1.0 - neck * neck * (3.0 - 2.0 * neck)
    shift = np.where(ys >= y0, drop * across * down, 0.0)
    src_y = ys - shift
    moved = remap(image, xs, src_y).astype(np.float64)

    # Output pixels below the lip line whose source lies above it: the opened gap.
    gap = (ys >= y0) & (src_y < y0)
    depth = np.where(gap, (ys - y0) / np.maximum(shift, 1e-6), 0.0)  # 0 top .. 1 bottom
    deep = (np.clip(1.0 - 2.0 * np.abs(depth - 0.5), 0.0, 1.0) * across)[..., None]
    colour = np.array(MOUTH_RIM, np.float64) * (1 - deep) + np.array(MOUTH_DEPTH, np.float64) * deep
    rim = np.clip(np.minimum(ys - y0, y0 - src_y) + 0.5, 0.0, 1.0)  # 1 px soft edge
    alpha = np.where(gap, rim, 0.0)[..., None]
    return to_uint8(moved * (1 - alpha) + colour * alpha)


def paste(
    canvas: np.ndarray,
    image: np.ndarray,
    box: tuple[float, float, float, float],
    centre: tuple[float, float],
    width: float,
    context: float | None = 1.6,
) -> tuple[float, float, float, float]:
    """Paint `image` onto `canvas` (in place), scaled so that the region `box`
    (x0, y0, x1, y1) of the image (a face's landmark box, say) lands centred on `centre`
    (x, y) of the canvas and `width` pixels wide. With `context`, only a square around the
    box, `context` times its larger side, is painted (a head and a little around it); with
    None the whole canvas is (the photo, edge-padded). Returns where `box` landed."""
    x0, y0, x1, y1 = box
    s = width / (x1 - x0)
    bx, by = box_centre(box)
    cx, cy = centre
    xs, ys = _grid(canvas.shape)
    warped = remap(image, bx + (xs - cx) / s, by + (ys - cy) / s)
    if context is None:
        canvas[...] = warped
    else:
        half = context / 2 * max(x1 - x0, y1 - y0) * s
        near = (np.abs(xs - cx) <= half) & (np.abs(ys - cy) <= half)
        canvas[near] = warped[near]
    return (
        cx - s * (bx - x0),
        cy - s * (by - y0),
        cx + s * (x1 - bx),
        cy + s * (y1 - by),
    )


def grey_canvas(width: int, height: int) -> np.ndarray:
    """A plain mid-grey RGB picture."""
    return np.full((height, width, 3), GREY, dtype=np.uint8)


def contact_sheet(rows: Sequence[Sequence[np.ndarray]], height: int = 256) -> np.ndarray:
    """Rows of pictures on a dark sheet, each picture scaled to `height` pixels high: for
    looking at what a warp did."""
    from PIL import Image

    tiled = [
        [
            np.asarray(
                Image.fromarray(im).resize(
                    (max(1, round(im.shape[1] * height / im.shape[0])), height), Image.BILINEAR
                )
            )
            for im in row
        ]
        for row in rows
    ]
    gap = 4
    width = max(sum(t.shape[1] for t in row) + gap * (len(row) + 1) for row in tiled)
    sheet = np.full((len(tiled) * (height + gap) + gap, width, 3), 40, dtype=np.uint8)
    for r, row in enumerate(tiled):
        x, y = gap, gap + r * (height + gap)
        for t in row:
            sheet[y : y + height, x : x + t.shape[1]] = t
            x += t.shape[1] + gap
    return sheet


def save_png(image: np.ndarray, path: str) -> None:
    from PIL import Image

    Image.fromarray(image).save(path)
