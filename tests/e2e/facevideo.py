"""A fake webcam for the browser tests: a real face photo (the astronaut) that rolls its head
and opens its mouth, written as a YUV4MPEG2 file for Chromium's
`--use-file-for-fake-video-capture` (which plays it in a loop).

The head roll is a sinusoid (ROLL_AMPLITUDE degrees, period ROLL_PERIOD s), the picture
turned about the face's centre with its edges repeated (warps.rotate); the mouth opens and
closes (warps.open_mouth) on a shorter period that divides the roll's, so one roll period of
distinct pictures is computed and the rest of the file repeats them: a few seconds to make.
Both periods divide the file's length, so the loop has no seam.

Every frame carries its own index as a barcode of black and white cells along the bottom-left
edge (far from the face), so a page can tell exactly which camera frame it is showing (see
`BARCODE_JS`) and a test can pair what the avatar did with the roll the camera showed.
Angles are degrees counter-clockwise as seen on screen (warps' convention).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.photos import astronaut
from tests.tracking import warps

WIDTH, HEIGHT = 640, 480
FPS = 30
SECONDS = 12
ROLL_AMPLITUDE = 20.0  # degrees each way
ROLL_PERIOD = 4.0  # seconds
MOUTH_PERIOD = 4.0 / 3.0  # seconds: three mouth cycles per roll cycle
MOUTH_OPEN = 0.4  # the widest drop, as a fraction of the lip-to-chin distance

# The barcode: BITS cells of CELL x CELL pixels from (CELL, HEIGHT - 2 * CELL), a white
# start cell, the frame index's bits (most significant first), then a black stop cell.
CELL = 16
BITS = 10


@dataclass(frozen=True)
class FaceVideo:
    path: Path
    roll: np.ndarray  # (frames,) degrees counter-clockwise the face is turned in each frame
    mouth: np.ndarray  # (frames,) pixels the mouth is opened by in each frame
    face_centre: tuple[float, float]  # (x, y) pixels: what the picture turns about
    fps: int = FPS

    @property
    def frames(self) -> int:
        return len(self.roll)


def roll_at(i: np.ndarray | int) -> np.ndarray:
    """The roll (degrees) of frame `i`."""
    return ROLL_AMPLITUDE * np.sin(2 * np.pi * np.asarray(i) / (ROLL_PERIOD * FPS))


def mouth_phase(i: np.ndarray | int) -> np.ndarray:
    """How open the mouth is in frame `i`: 0 shut .. 1 widest."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.asarray(i) / (MOUTH_PERIOD * FPS))


def base_picture() -> np.ndarray:
    """The astronaut (512x512) scaled to the camera's height and centred in a 640x480
    picture, its edges repeated sideways."""
    photo = astronaut()
    s = HEIGHT / photo.shape[0]
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    x0 = (WIDTH - photo.shape[1] * s) / 2
    return warps.remap(photo, (xs + 0.5 - x0) / s - 0.5, (ys + 0.5) / s - 0.5)


def face_points(picture: np.ndarray) -> np.ndarray:
    """The face's (478, 2) FaceMesh landmarks in pixels."""
    from engine.tracking.landmarker import FaceLandmarker

    with FaceLandmarker(static=True) as lm:
        found = lm.process(picture).landmarks
    assert found is not None, "no face found in the fake camera's picture"
    return warps.pixels(found, (picture.shape[1], picture.shape[0]))


def paint_barcode(picture: np.ndarray, index: int) -> None:
    """Write `index` into `picture` (in place) as black and white cells (see CELL, BITS)."""
    y = HEIGHT - 2 * CELL
    bits = [1] + [(index >> (BITS - 1 - k)) & 1 for k in range(BITS)] + [0]
    for k, bit in enumerate(bits):
        x = CELL * (1 + k)
        picture[y : y + CELL, x : x + CELL] = 255 if bit else 0


def read_barcode(picture: np.ndarray) -> int | None:
    """The frame index painted by `paint_barcode` into an RGB picture of any size (scaled
    from 640x480), or None where the start/stop cells are not there."""
    h, w = picture.shape[:2]
    grey = picture[..., :3].astype(np.float64).mean(axis=2)

    def cell(k: int) -> bool:
        cx = (CELL * (1 + k) + CELL / 2) * w / WIDTH
        cy = (HEIGHT - 2 * CELL + CELL / 2) * h / HEIGHT
        return bool(grey[int(cy), int(cx)] > 128)

    if not cell(0) or cell(BITS + 1):
        return None
    value = 0
    for k in range(BITS):
        value = value * 2 + int(cell(1 + k))
    return value


# The same decoder for the page: `(video) => index | null`, reading the cells off a <video>
# showing the fake camera (at whatever size it plays).
BARCODE_JS = f"""
(video) => {{
  const W = {WIDTH}, H = {HEIGHT}, CELL = {CELL}, BITS = {BITS};
  const c = (window.__barcodeCanvas ??= document.createElement("canvas"));
  c.width = video.videoWidth; c.height = video.videoHeight;
  if (!c.width) return null;
  const ctx = c.getContext("2d", {{ willReadFrequently: true }});
  ctx.drawImage(video, 0, 0);
  const cy = Math.floor((H - 2 * CELL + CELL / 2) * c.height / H);
  const cell = (k) => {{
    const cx = Math.floor((CELL * (1 + k) + CELL / 2) * c.width / W);
    const p = ctx.getImageData(cx, cy, 1, 1).data;
    return (p[0] + p[1] + p[2]) / 3 > 128;
  }};
  if (!cell(0) || cell(BITS + 1)) return null;
  let v = 0;
  for (let k = 0; k < BITS; k++) v = v * 2 + (cell(1 + k) ? 1 : 0);
  return v;
}}
"""


def rgb_to_i420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Y, U and V planes of an RGB picture (BT.601, limited range: what Chromium assumes
    of a capture device; chroma averaged over 2x2 pixels)."""
    f = rgb.astype(np.float32) / 255.0
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    cb = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    cr = 128 + 112.0 * r - 93.786 * g - 18.214 * b

    def sub(p: np.ndarray) -> np.ndarray:
        h, w = p.shape
        return p.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    return tuple(np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, sub(cb), sub(cr)))


def paint_barcode_i420(planes: tuple[np.ndarray, np.ndarray, np.ndarray], index: int) -> None:
    """`paint_barcode` on I420 planes (in place): white Y 235, black Y 16, no colour."""
    y, u, v = planes
    top = HEIGHT - 2 * CELL
    bits = [1] + [(index >> (BITS - 1 - k)) & 1 for k in range(BITS)] + [0]
    for k, bit in enumerate(bits):
        x = CELL * (1 + k)
        y[top : top + CELL, x : x + CELL] = 235 if bit else 16
    x0, x1 = CELL // 2, CELL * (len(bits) + 1) // 2
    u[top // 2 : (top + CELL) // 2, x0:x1] = 128
    v[top // 2 : (top + CELL) // 2, x0:x1] = 128


def open_mouth_fast(picture: np.ndarray, points: np.ndarray, drop: float) -> np.ndarray:
    """warps.open_mouth, computed only where it changes anything: its displacement is zero
    beyond 1.5 half-mouth widths either side and 1.5 lip-to-chin distances below the chin,
    and its sources lie at most `drop` above the lip line, so a crop around that region
    (a few pixels more for the bilinear taps) gives the same pixels at a fraction of the cost."""
    if drop <= 0:
        return picture.copy()
    upper, lower = points[warps.UPPER_INNER_LIP], points[warps.LOWER_INNER_LIP]
    right, left = points[warps.MOUTH_CORNERS[0]], points[warps.MOUTH_CORNERS[1]]
    xc, y0 = (upper[0] + lower[0]) / 2, (upper[1] + lower[1]) / 2
    half_mouth = max(abs(left[0] - right[0]) / 2, 1.0)
    chin_y = points[warps.CHIN][1]
    to_chin = max(chin_y - y0, 1.0)
    x_lo = max(int(xc - 1.5 * half_mouth) - 4, 0)
    x_hi = min(int(xc + 1.5 * half_mouth) + 5, picture.shape[1])
    y_lo = max(int(y0 - drop) - 4, 0)
    y_hi = min(int(chin_y + 1.5 * to_chin) + 5, picture.shape[0])
    out = picture.copy()
    crop = np.ascontiguousarray(picture[y_lo:y_hi, x_lo:x_hi])
    out[y_lo:y_hi, x_lo:x_hi] = warps.open_mouth(crop, points - (x_lo, y_lo), drop)
    return out


def rotate_fast(picture: np.ndarray, angle: float, centre: tuple[float, float]) -> np.ndarray:
    """warps.rotate (counter-clockwise on screen about `centre`, edges repeated) by Pillow:
    the picture padded with its own edge pixels far enough that no corner reaches past the
    padding, turned, and cropped back."""
    from PIL import Image

    h, w = picture.shape[:2]
    reach = max(np.hypot(x - centre[0], y - centre[1]) for x in (0, w) for y in (0, h))
    pad = int(np.ceil(2 * reach * np.sin(np.radians(abs(angle)) / 2))) + 2
    padded = np.pad(picture, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    # Pillow's pixel centres sit at +0.5: the same centre as warps.rotate's pixel grid
    turned = Image.fromarray(padded).rotate(
        angle, resample=Image.BILINEAR, center=(centre[0] + pad + 0.5, centre[1] + pad + 0.5)
    )
    return np.asarray(turned)[pad : pad + h, pad : pad + w].copy()


def write_face_video(path: Path) -> FaceVideo:
    """Write the fake camera's video to `path` (.y4m) and say what it shows."""
    base = base_picture()
    points = face_points(base)
    cx, cy = (float(v) for v in points.mean(axis=0))
    lip_to_chin = float(points[warps.CHIN][1] - points[warps.LOWER_INNER_LIP][1])

    frames = SECONDS * FPS
    period = round(ROLL_PERIOD * FPS)
    mouth_period = round(MOUTH_PERIOD * FPS)
    assert frames % period == 0 and period % mouth_period == 0, "the loop must not have a seam"
    index = np.arange(frames)
    roll = roll_at(index)
    drop = MOUTH_OPEN * lip_to_chin * mouth_phase(index)

    mouths: dict[float, np.ndarray] = {}  # the mouth cycle is symmetric: ~half are repeats
    distinct = []
    for i in range(period):
        d = round(float(drop[i]), 6)
        if d not in mouths:
            mouths[d] = open_mouth_fast(base, points, d)
        distinct.append(rgb_to_i420(rotate_fast(mouths[d], float(roll[i]), (cx, cy))))

    header = f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{FPS}:1 Ip A1:1 C420jpeg\n".encode()
    with open(path, "wb") as out:
        out.write(header)
        for i in range(frames):
            planes = tuple(p.copy() for p in distinct[i % period])
            paint_barcode_i420(planes, i)
            out.write(b"FRAME\n")
            for p in planes:
                out.write(p.tobytes())
    return FaceVideo(path=path, roll=roll, mouth=drop, face_centre=(cx, cy))


def read_y4m_frame(path: Path, i: int) -> np.ndarray:
    """Frame `i` of a video written by `write_face_video`, back to RGB (for looking at it)."""
    with open(path, "rb") as f:
        header = f.readline()
        size = WIDTH * HEIGHT * 3 // 2
        f.seek(len(header) + i * (len(b"FRAME\n") + size) + len(b"FRAME\n"))
        data = np.frombuffer(f.read(size), np.uint8).astype(np.float32)
    y = data[: WIDTH * HEIGHT].reshape(HEIGHT, WIDTH) - 16
    u = data[WIDTH * HEIGHT : WIDTH * HEIGHT * 5 // 4].reshape(HEIGHT // 2, WIDTH // 2) - 128
    v = data[WIDTH * HEIGHT * 5 // 4 :].reshape(HEIGHT // 2, WIDTH // 2) - 128
    u = u.repeat(2, axis=0).repeat(2, axis=1)
    v = v.repeat(2, axis=0).repeat(2, axis=1)
    r = 1.164 * y + 1.596 * v
    g = 1.164 * y - 0.392 * u - 0.813 * v
    b = 1.164 * y + 2.017 * u
    return warps.to_uint8(np.stack([r, g, b], axis=-1))
