"""The MediaPipe boundary: FaceMesh with refined landmarks (478 points, irises included) on
RGB frames. The only module in the engine that imports mediapipe.

One `FaceLandmarker` per session: in video mode MediaPipe tracks a face from frame to frame
(detection runs only when tracking is lost), so a graph must never be shared between two
cameras. Its models ship inside the mediapipe 0.10.21 wheel; nothing is downloaded.

No face is a normal result (`found` is False), never an exception. With several faces in the
picture the landmarker follows one: at first the largest, most central face, then the one
nearest to where the followed face was, so a second person walking past does not steal the
avatar. Faces too small for MediaPipe's short-range detector (under about 60-70 px across,
eye line to chin, in a 640x480 frame; measured in tests/tracking) are not found: a webcam
user sits much nearer than that.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import numpy as np

from engine.images import check_rgb

# MediaPipe's C++ side logs a line per graph start to stderr; keep warnings and errors only.
os.environ.setdefault("GLOG_minloglevel", "2")

# Imported here and nowhere else in the engine (ARCHITECTURE.md); the solutions API carries
# the FaceMesh graph and its bundled models.
from mediapipe.python.solutions import face_mesh as _face_mesh

LANDMARKS = 478


class BadFrameError(ValueError):
    """A frame that is not an RGB picture (wrong shape, type or size)."""


@dataclass(frozen=True, slots=True)
class LandmarkResult:
    """One frame's landmarks in MediaPipe's normalized form: x and y in 0..1 of the
    picture's width and height (y down), z relative depth on x's scale (smaller is nearer
    the camera). `landmarks` is None when no face was found."""

    landmarks: np.ndarray | None  # (478, 3) float64
    faces: int  # faces MediaPipe returned this frame
    image_size: tuple[int, int]  # (width, height)
    ms: float  # time spent in MediaPipe

    @property
    def found(self) -> bool:
        return self.landmarks is not None


class FaceLandmarker:
    """MediaPipe FaceMesh for one camera. `static=True` treats every frame as a new photo
    (detection each time), for stills."""

    def __init__(
        self,
        *,
        static: bool = False,
        max_faces: int = 4,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ) -> None:
        self._mesh = _face_mesh.FaceMesh(
            static_image_mode=static,
            max_num_faces=max_faces,
            refine_landmarks=True,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        self._static = static  # a still has no "previous" face to stay on
        self._followed: np.ndarray | None = None  # (x, y, size) of the face we follow
        self._closed = False

    def process(self, rgb: np.ndarray) -> LandmarkResult:
        """Landmarks of the followed face in an RGB uint8 frame of shape (h, w, 3)."""
        frame = check_frame(rgb)
        h, w = frame.shape[:2]
        if self._closed:
            raise RuntimeError("this FaceLandmarker is closed")
        t0 = time.perf_counter()
        out = self._mesh.process(frame)
        ms = (time.perf_counter() - t0) * 1000.0
        faces = out.multi_face_landmarks or []
        if not faces:
            self._followed = None
            return LandmarkResult(None, 0, (w, h), ms)
        sets = [np.array([(p.x, p.y, p.z) for p in f.landmark], dtype=np.float64) for f in faces]
        chosen = choose_face(sets, (w, h), None if self._static else self._followed)
        self._followed = face_box(sets[chosen], (w, h))
        return LandmarkResult(sets[chosen], len(sets), (w, h), ms)

    def forget(self) -> None:
        """Stop following the current face (a new user may sit down)."""
        self._followed = None

    def close(self) -> None:
        if not self._closed:
            self._mesh.close()
            self._closed = True

    def __enter__(self) -> FaceLandmarker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_frame(rgb: np.ndarray) -> np.ndarray:
    """The frame as a C-contiguous uint8 (h, w, 3) array, or a BadFrameError saying what is
    wrong with it."""
    return check_rgb(rgb, "a frame", BadFrameError, 16, "a frame of {w}x{h} is too small to track")


def face_box(landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(centre x, centre y, size) of a face in pixels; size is the larger box side."""
    w, h = image_size
    px = landmarks[:, 0] * w
    py = landmarks[:, 1] * h
    return np.array(
        [(px.min() + px.max()) / 2, (py.min() + py.max()) / 2, max(np.ptp(px), np.ptp(py))]
    )


def choose_face(
    sets: list[np.ndarray], image_size: tuple[int, int], followed: np.ndarray | None
) -> int:
    """Which face to follow: the one nearest the followed face while it is still there
    (within one face size), else the largest, most central one."""
    w, h = image_size
    boxes = [face_box(s, image_size) for s in sets]
    if followed is not None:
        dist = [np.hypot(b[0] - followed[0], b[1] - followed[1]) for b in boxes]
        best = int(np.argmin(dist))
        if dist[best] < max(followed[2], 1.0):
            return best
    half_diag = np.hypot(w, h) / 2

    def score(b: np.ndarray) -> float:
        off_centre = np.hypot(b[0] - w / 2, b[1] - h / 2) / half_diag  # 0 centre .. 1 corner
        return float(b[2] * (1.0 - 0.5 * off_centre))

    return int(np.argmax([score(b) for b in boxes]))


class LandmarkerPool:
    """Reusable FaceLandmarkers for a server that opens a session per browser.

    MediaPipe does not give all of a graph's memory back when it closes (about 1 MB a graph,
    measured: 50 sessions grew the process by 60 MB), so a long-running server must not
    build a graph per session. A session borrows a landmarker for as long as it lives (still
    one graph per camera at a time) and gives it back when it ends; at most `max_idle` wait
    for the next session, the rest close.
    """

    def __init__(self, max_idle: int = 8) -> None:
        self.max_idle = max_idle
        self._idle: list[FaceLandmarker] = []
        self._lock = threading.Lock()
        self.created = 0

    def acquire(self) -> PooledLandmarker:
        with self._lock:
            lm = self._idle.pop() if self._idle else None
        if lm is None:
            lm = FaceLandmarker()
            with self._lock:
                self.created += 1
        lm.forget()
        return PooledLandmarker(self, lm)

    def _release(self, lm: FaceLandmarker) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(lm)
                return
        lm.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for lm in idle:
            lm.close()


class PooledLandmarker:
    """A borrowed landmarker: `close()` gives it back to its pool."""

    def __init__(self, pool: LandmarkerPool, landmarker: FaceLandmarker) -> None:
        self._pool = pool
        self._lm: FaceLandmarker | None = landmarker

    def process(self, rgb: np.ndarray) -> LandmarkResult:
        if self._lm is None:
            raise RuntimeError("this landmarker went back to its pool")
        return self._lm.process(rgb)

    def close(self) -> None:
        lm, self._lm = self._lm, None
        if lm is not None:
            self._pool._release(lm)


_shared: LandmarkerPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> LandmarkerPool:
    """The process's pool (the server's sessions share it)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LandmarkerPool()
        return _shared
