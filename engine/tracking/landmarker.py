"""The MediaPipe boundary: FaceMesh with refined landmarks (478 points, irises included) on
RGB frames. The only module in the engine that imports mediapipe.

One `FaceLandmarker` per session: in video mode MediaPipe tracks a face from frame to frame
(detection runs only when tracking is lost), so a graph must never be shared between two
cameras. Its models ship inside the mediapipe 0.10.21 wheel; nothing is downloaded.

No face is a normal result (`found` is False), never an exception. With several faces in the
picture the landmarker follows one: at first the largest, most central face, then the one
nearest to where the followed face was, so a second person walking past does not steal the
avatar. Finding every face costs MediaPipe a face detection on every frame (its graph
detects while it tracks fewer faces than it may return: 3.5 against 2.2-2.4 ms a frame on
a 2-core VM, docs/PERFORMANCE.md), so once a face is followed a second, one-face graph
tracks it, without detections; whenever that graph loses the face or finds someone else,
the all-faces graph takes over again for a while.

Faces too small for MediaPipe's short-range detector (under about 60-70 px across, eye line
to chin, in a 640x480 frame; measured in tests/tracking) are not found: a webcam user sits
much nearer than that.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.images import check_rgb

# MediaPipe's C++ side logs a line per graph start to stderr; keep warnings and errors only.
os.environ.setdefault("GLOG_minloglevel", "2")

# Imported here and nowhere else in the engine (ARCHITECTURE.md); the solutions API carries
# the FaceMesh graph and its bundled models.
from mediapipe.python.solutions import face_mesh as _face_mesh

LANDMARKS = 478
# frames the all-faces graph serves after the one-face graph lost the followed face or
# found another: a second person the detector prefers is not tried for again every frame
TRACK_RETRY = 30


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
        def graph(faces: int) -> Any:
            return _face_mesh.FaceMesh(
                static_image_mode=static,
                max_num_faces=faces,
                refine_landmarks=True,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence,
            )

        self._graph = graph
        self._mesh = graph(max_faces)  # every face (up to max_faces): whom to follow
        # video mode: the followed face alone, tracked without detections; made when a
        # face is first followed (about 27 MB) and kept (a closed graph does not give all
        # its memory back); a black frame makes it let go of a face (`_reset`)
        self._tracks = not static and max_faces > 1
        self._track: Any = None
        self._track_on: np.ndarray | None = None  # the face box the one-face graph is on
        self._shape: tuple[int, ...] = (480, 640, 3)  # the newest frame's
        self._hold = 0  # frames before the one-face graph is tried again
        self._static = static  # a still has no "previous" face to stay on
        self._followed: np.ndarray | None = None  # (x, y, size) of the face we follow
        self._closed = False
        self.searches = 0  # frames the all-faces graph ran on (detections, most of them)

    def process(self, rgb: np.ndarray) -> LandmarkResult:
        """Landmarks of the followed face in an RGB uint8 frame of shape (h, w, 3)."""
        frame = check_frame(rgb)
        h, w = frame.shape[:2]
        if self._closed:
            raise RuntimeError("this FaceLandmarker is closed")
        self._shape = frame.shape
        t0 = time.perf_counter()
        if self._tracks and self._followed is not None and self._hold == 0:
            found = self._tracked(frame, (w, h))
            if found is not None:
                ms = (time.perf_counter() - t0) * 1000.0
                return LandmarkResult(found, 1, (w, h), ms)
            self._hold = TRACK_RETRY
        self._hold = max(self._hold - 1, 0)
        self.searches += 1
        out = self._mesh.process(frame)
        ms = (time.perf_counter() - t0) * 1000.0
        faces = out.multi_face_landmarks or []
        if not faces:
            self._followed = None
            return LandmarkResult(None, 0, (w, h), ms)
        sets = [_points(f) for f in faces]
        chosen = choose_face(sets, (w, h), None if self._static else self._followed)
        self._followed = face_box(sets[chosen], (w, h))
        return LandmarkResult(sets[chosen], len(sets), (w, h), ms)

    def _tracked(self, frame: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
        """The followed face by the one-face graph, or None (then it has let go) when that
        graph has no face or a face other than the followed one (a detection of its own
        took the face MediaPipe scores highest, who may be someone else)."""
        followed = self._followed
        assert followed is not None
        if self._track is None:
            self._track = self._graph(1)
        out = self._track.process(frame)
        faces = out.multi_face_landmarks or []
        if not faces:  # lost: it detects again on its next frame by itself
            self._track_on = None
            return None
        points = _points(faces[0])
        box = face_box(points, size)
        if _same_face(box, followed):
            self._followed = self._track_on = box
            return points
        self._track_on = box
        self._reset()
        return None

    def _reset(self) -> None:
        """Make the one-face graph let go of its face: a black frame (the camera's size)
        has none, so its next frame starts with a detection."""
        if self._track is not None and self._track_on is not None:
            self._track.process(np.zeros(self._shape, np.uint8))
        self._track_on = None

    def forget(self) -> None:
        """Stop following the current face (a new user may sit down)."""
        self._followed = None
        self._hold = 0
        self._reset()

    def close(self) -> None:
        if not self._closed:
            self._mesh.close()
            if self._track is not None:
                self._track.close()
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


# A landmark as MediaPipe's protobuf writes it when only x, y and z are set (FaceMesh sets
# no visibility or presence): field 1 (the landmark, 15 bytes long), then x, y and z as
# fields 1-3, each a tag byte and a little-endian float32.
_RECORD = 17
_TAG_AT = np.array([0, 1, 2, 7, 12])
_TAGS = np.array([0x0A, 0x0F, 0x0D, 0x15, 0x1D], np.uint8)
_FLOATS_AT = np.array([3, 4, 5, 6, 8, 9, 10, 11, 13, 14, 15, 16])


def _points(face: Any) -> np.ndarray:
    """One MediaPipe face's landmarks as a (478, 3) array. Read from the list's wire bytes
    in one pass (0.04 ms; reading 1,434 attributes in Python took 0.34 ms of each camera
    frame with the GIL held); any other layout is read field by field."""
    n = len(face.landmark)
    raw = np.frombuffer(face.SerializeToString(), np.uint8)
    if n and raw.size == n * _RECORD:
        records = raw.reshape(n, _RECORD)
        if (records[:, _TAG_AT] == _TAGS).all():
            xyz = np.ascontiguousarray(records[:, _FLOATS_AT]).view("<f4")
            return xyz.astype(np.float64)
    return np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float64).reshape(n, 3)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """How far apart two face boxes' centres are, in pixels."""
    return float(np.hypot(a[0] - b[0], a[1] - b[1]))


def _same_face(box: np.ndarray, followed: np.ndarray) -> bool:
    """Whether a face box is still the followed face: its centre within one face size."""
    return _distance(box, followed) < max(followed[2], 1.0)


def choose_face(
    sets: list[np.ndarray], image_size: tuple[int, int], followed: np.ndarray | None
) -> int:
    """Which face to follow: the one nearest the followed face while it is still there
    (within one face size), else the largest, most central one."""
    w, h = image_size
    boxes = [face_box(s, image_size) for s in sets]
    if followed is not None:
        best = int(np.argmin([_distance(b, followed) for b in boxes]))
        if _same_face(boxes[best], followed):
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
