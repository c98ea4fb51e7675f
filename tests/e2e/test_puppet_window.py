"""`digigami puppet` as a person uses it, with a video file for the webcam: a real pyglet
window on a virtual X display, the real camera source, MediaPipe and tracker, and
screenshots of what the window shows.

The videos are a real photo (the astronaut) turned in its own plane by +25 and -25 degrees,
so the person's head is rolled counter-clockwise in one camera picture and clockwise in the
other. Digi is mirrored (rigs/digi/tracking.json: Digi moves like the user's reflection), so
a counter-clockwise roll in the camera picture tilts Digi's head clockwise on screen, and the
other way round. The tilt is measured on Digi's hair (the orange mass of the head): where it
sits relative to the body, and the rotation that best lays one screenshot's hair onto the
other's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.tracking.landmarker import FaceLandmarker
from tests.e2e.xvfb import virtual_display
from tests.photos import astronaut

SIZE = 400
TILT = 25.0  # degrees the photo is turned, each way


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    yield from virtual_display(121)


def digigami() -> list[str]:
    """The installed `digigami` command (the module when it is not installed)."""
    script = Path(sys.executable).with_name("digigami")
    return [str(script)] if script.exists() else [sys.executable, "-m", "webapi.cli"]


@pytest.fixture(scope="module")
def face_centre() -> tuple[float, float]:
    """The centre of the astronaut's face in pixels: the videos turn the photo about it, so
    the face stays in the picture."""
    photo = astronaut()
    with FaceLandmarker(static=True) as lm:
        found = lm.process(photo).landmarks
    assert found is not None
    x, y = found[:, :2].mean(axis=0) * (photo.shape[1], photo.shape[0])
    return float(x), float(y)


def tilted_video(path: Path, angle: float, centre: tuple[float, float]) -> Path:
    """2 s at 30 fps (MJPG .avi) of the astronaut photo turned `angle` degrees
    counter-clockwise on screen about `centre` (OpenCV's convention, y down)."""
    photo = astronaut()
    h, w = photo.shape[:2]
    turn = cv2.getRotationMatrix2D(centre, angle, 1.0)
    picture = cv2.warpAffine(photo, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (w, h))
    assert out.isOpened()
    bgr = cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)
    for _ in range(60):
        out.write(bgr)
    out.release()
    return path


def run_puppet(display: str, video: Path, shot: Path) -> tuple[np.ndarray, str]:
    env = {**os.environ, "DISPLAY": display}
    cmd = [*digigami(), "puppet", "--camera", str(video), "--size", str(SIZE),
           "--screenshot", str(shot), "--after", "4"]  # fmt: skip
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = [line for line in r.stdout.splitlines() if line.startswith("puppet: ")]
    assert summary, r.stdout + r.stderr
    return np.asarray(Image.open(shot).convert("RGB")).astype(int), summary[-1]


def hair(picture: np.ndarray) -> np.ndarray:
    """Digi's orange hair: strongly red over blue, in the upper 60% of the window (below
    that only the red shoes would pass). The white help text never passes."""
    r, b = picture[..., 0], picture[..., 2]
    mask = (r - b > 100) & (r > 120)
    mask[int(picture.shape[0] * 0.6) :] = False
    return mask


def centroid(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


def body_x(picture: np.ndarray) -> float:
    """The middle of Digi's legs and shorts (62-85% down the window) across the window."""
    background = picture[SIZE // 2, 5]
    avatar = np.abs(picture - background).max(axis=2) > 40
    band = avatar[int(SIZE * 0.62) : int(SIZE * 0.85)]
    return float(np.nonzero(band)[1].mean())


def best_rotation(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The angle (degrees, counter-clockwise on screen) that best lays mask `a` onto mask
    `b`, turning `a` about its centroid and moving it onto `b`'s: (angle, overlap IoU)."""
    ca, cb = centroid(a), centroid(b)
    src = a.astype(np.float32)
    best = (0.0, -1.0)
    for angle in np.arange(-80.0, 80.5, 1.0):
        m = cv2.getRotationMatrix2D(ca, float(angle), 1.0)
        m[:, 2] += np.subtract(cb, ca)
        turned = cv2.warpAffine(src, m, (a.shape[1], a.shape[0])) > 0.5
        iou = float((turned & b).sum() / (turned | b).sum())
        if iou > best[1]:
            best = (float(angle), iou)
    return best


@pytest.mark.slow
def test_digi_tilts_the_head_the_mirrored_way_of_the_face_on_camera(
    display: str, tmp_path: Path, face_centre: tuple[float, float]
) -> None:
    ccw, ccw_summary = run_puppet(
        display, tilted_video(tmp_path / "ccw.avi", TILT, face_centre), tmp_path / "ccw.png"
    )
    cw, cw_summary = run_puppet(
        display, tilted_video(tmp_path / "cw.avi", -TILT, face_centre), tmp_path / "cw.png"
    )
    for summary in (ccw_summary, cw_summary):  # the face was found, frame after frame
        faces = re.search(r"face in (\d+)", summary)
        assert faces and int(faces.group(1)) > 30, summary
        assert "error" not in summary, summary

    hair_ccw, hair_cw = hair(ccw), hair(cw)
    for mask in (hair_ccw, hair_cw):  # Digi is there, head whole
        assert mask.mean() > 0.02, "no hair in the window"
    assert 0.8 < hair_ccw.sum() / hair_cw.sum() < 1.25, "the head changed size: broken?"

    # The person rolled counter-clockwise: Digi's head tilts clockwise, its mass swinging
    # to the right of the body; and the other way for the clockwise roll. (Not symmetric:
    # the astronaut looks a little to one side, and Digi with her, which moves the hair.)
    lean_ccw = centroid(hair_ccw)[0] - body_x(ccw)
    lean_cw = centroid(hair_cw)[0] - body_x(cw)
    assert lean_ccw > 0 > lean_cw, (lean_ccw, lean_cw)
    assert lean_ccw - lean_cw > 0.1 * SIZE, (lean_ccw, lean_cw)
    # Laying the first head onto the second takes a counter-clockwise turn of about twice
    # the tilt each way; and the hair really is the same shape, turned.
    angle, overlap = best_rotation(hair_ccw, hair_cw)
    assert angle > 20.0, angle
    assert overlap > 0.6, overlap
    back, _ = best_rotation(hair_cw, hair_ccw)
    assert abs(angle + back) <= 4.0, (angle, back)


def test_a_missing_video_is_one_clear_error_without_a_display() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    r = subprocess.run(
        [*digigami(), "puppet", "--camera", "/nonexistent.avi"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines == ["digigami: error: video file not found: /nonexistent.avi"], r.stderr
