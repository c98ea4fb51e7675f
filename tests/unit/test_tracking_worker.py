"""The tracking worker and its camera source: frames go through a newest-wins slot (a slow
landmarker never makes them queue), a failing landmarker is reported and survived, stopping
is prompt and leaves no thread behind, and a real photo, through the real FaceLandmarker
(and through a video file read by CameraSource), reaches the tracker as a face.

Only the timing tests use a stand-in landmarker (to hold a frame inside `process` for as
long as the test needs); everything else runs MediaPipe on real photos."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.assets import AvatarBundle
from engine.tracking import FaceSignals, FaceTracker
from engine.tracking.camera import CameraError, CameraSource
from engine.tracking.landmarker import LandmarkResult
from engine.tracking.worker import TrackingWorker
from tests.photos import astronaut, astronaut_landmarks

WAIT = 10.0  # seconds a test waits for the worker at most (it normally takes milliseconds)


@pytest.fixture(scope="module")
def photo_landmarks() -> np.ndarray:
    """The astronaut's landmarks, read once by the real landmarker."""
    return astronaut_landmarks()


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    before = threading.active_count()
    yield
    for _ in range(100):  # a thread that was told to stop may take a moment to finish
        if threading.active_count() <= before:
            break
        time.sleep(0.02)
    assert threading.active_count() <= before, [t.name for t in threading.enumerate()]


class RecordingTracker(FaceTracker):
    """A real FaceTracker that also remembers what it was given: (face?, t) per frame."""

    def __init__(self, bundle: AvatarBundle) -> None:
        assert bundle.tracking is not None
        super().__init__(bundle.tracking, bundle.rig)
        self.seen: list[tuple[bool, float]] = []

    def observe(self, signals: FaceSignals | None, t: float) -> None:
        self.seen.append((signals is not None, t))
        super().observe(signals, t)


class GatedLandmarker:
    """A landmarker we control the timing of: each frame waits in `process` until the test
    opens the gate, then yields `landmarks` (the real photo's). Frames are told apart by
    their first pixel; `fail_on` names frames that raise."""

    def __init__(self, landmarks: np.ndarray, fail_on: frozenset[int] = frozenset()) -> None:
        self.landmarks = landmarks
        self.fail_on = fail_on
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.ids: list[int] = []
        self.closed = False

    def process(self, rgb: np.ndarray) -> LandmarkResult:
        frame_id = int(rgb[0, 0, 0])
        self.ids.append(frame_id)
        self.entered.set()
        assert self.gate.wait(WAIT)
        if frame_id in self.fail_on:
            raise RuntimeError(f"graph broke on frame {frame_id}")
        return LandmarkResult(self.landmarks, 1, (512, 512), 0.0)

    def close(self) -> None:
        self.closed = True


def frame(frame_id: int) -> np.ndarray:
    f = np.zeros((32, 32, 3), np.uint8)
    f[0, 0, 0] = frame_id
    return f


def test_a_slow_landmarker_sees_only_the_newest_frame(
    digi: AvatarBundle, photo_landmarks: np.ndarray
) -> None:
    tracker = RecordingTracker(digi)
    lm = GatedLandmarker(photo_landmarks)
    with TrackingWorker(tracker, landmarker_factory=lambda: lm) as worker:
        lm.gate.clear()
        worker.submit(frame(0), t=0.0)
        assert lm.entered.wait(WAIT)  # frame 0 is in the landmarker, held there
        for i in range(1, 10):  # the camera goes on meanwhile: each replaces the last
            worker.submit(frame(i), t=i / 30)
        lm.gate.set()
        assert worker.wait_for(2, WAIT)
        time.sleep(0.05)
        assert lm.ids == [0, 9]
        assert (worker.frames, worker.dropped, worker.faces) == (2, 8, 2)
        assert worker.error is None
    # the tracker got each processed frame's own capture time, in order
    assert tracker.seen == [(True, 0.0), (True, 9 / 30)]
    assert lm.closed


def test_a_failing_landmarker_is_reported_and_the_next_frame_is_tried(
    digi: AvatarBundle, photo_landmarks: np.ndarray
) -> None:
    tracker = RecordingTracker(digi)
    lm = GatedLandmarker(photo_landmarks, fail_on=frozenset({1}))
    with TrackingWorker(tracker, landmarker_factory=lambda: lm) as worker:
        worker.submit(frame(1), t=0.0)
        assert worker.wait_for(1, WAIT)
        assert worker.error == "RuntimeError: graph broke on frame 1"
        assert (worker.errors, worker.faces) == (1, 0)
        assert worker.alive
        worker.submit(frame(2), t=0.1)
        assert worker.wait_for(2, WAIT)
        assert worker.error is None and worker.errors == 1 and worker.faces == 1
    # the failed frame is, to the tracker, a frame without a face
    assert tracker.seen == [(False, 0.0), (True, 0.1)]


def test_a_landmarker_that_cannot_start_is_reported(digi: AvatarBundle) -> None:
    def broken() -> GatedLandmarker:
        raise OSError("model file missing")

    worker = TrackingWorker(RecordingTracker(digi), landmarker_factory=broken).start()
    assert not worker.wait_for(1, WAIT)
    assert worker.error == "the landmarker could not start: OSError: model file missing"
    worker.submit(frame(0))
    assert worker.dropped == 1
    assert worker.stop()


def test_stop_is_prompt_idempotent_and_never_hangs(
    digi: AvatarBundle, photo_landmarks: np.ndarray
) -> None:
    # idle worker: stops at once, and again
    lm = GatedLandmarker(photo_landmarks)
    worker = TrackingWorker(RecordingTracker(digi), landmarker_factory=lambda: lm).start()
    t0 = time.perf_counter()
    assert worker.stop()
    assert time.perf_counter() - t0 < 0.5
    assert worker.stop() and not worker.alive
    with pytest.raises(RuntimeError, match="cannot be started again"):
        worker.start()
    worker.submit(frame(0))  # after stop: let go, not an error
    assert worker.dropped == 1

    # a frame stuck in the landmarker: stop gives up after its timeout instead of hanging,
    # and the thread still ends (closing the landmarker) once the frame comes out
    stuck = GatedLandmarker(photo_landmarks)
    stuck.gate.clear()
    worker = TrackingWorker(RecordingTracker(digi), landmarker_factory=lambda: stuck).start()
    worker.submit(frame(0))
    assert stuck.entered.wait(WAIT)
    t0 = time.perf_counter()
    assert not worker.stop(timeout=0.2)
    assert time.perf_counter() - t0 < 0.5
    stuck.gate.set()
    assert worker.stop(timeout=WAIT)
    assert stuck.closed and worker.frames == 1

    # never started: nothing to stop
    assert TrackingWorker(RecordingTracker(digi)).stop()


def test_the_real_landmarker_finds_a_real_face(digi: AvatarBundle) -> None:
    tracker = RecordingTracker(digi)
    photo = astronaut()
    with TrackingWorker(tracker) as worker:  # the default: MediaPipe, on the worker thread
        worker.submit(photo.astype(np.float32), t=0.0)  # not uint8
        assert worker.wait_for(1, WAIT)
        assert worker.error == "BadFrameError: a frame must be uint8, got float32"
        for i in range(1, 6):
            worker.submit(photo, t=i / 30)
            assert worker.wait_for(i + 1, WAIT)
        assert worker.error is None
        assert worker.faces == 5 and worker.last_ms > 0
    assert tracker.signals is not None
    assert abs(tracker.signals.roll) < 10  # the astronaut holds her head nearly upright
    # the engine ticks: presence rises from 0 to the full face (over the rig's 0.4 s ease,
    # within its 0.5 s loss timeout of the newest frame)
    t, presence = 5 / 30, []
    for _ in range(27):
        t += 1 / 60
        params = tracker.parameters(t, 1 / 60)
        presence.append(tracker.presence)
    assert presence[0] < 0.1 and presence[-1] == 1.0
    assert tracker.state == "tracking" and params["ParamFaceTracked"] == 1.0


# --- the camera source -----------------------------------------------------------------------


def write_video(path: Path, picture: np.ndarray, frames: int, fps: float = 30.0) -> Path:
    """An MJPG .avi of `frames` copies of an RGB picture."""
    h, w = picture.shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert out.isOpened()
    bgr = cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)
    for _ in range(frames):
        out.write(bgr)
    out.release()
    return path


def test_a_video_file_reaches_the_tracker_through_camera_and_worker(
    digi: AvatarBundle, tmp_path: Path
) -> None:
    video = write_video(tmp_path / "face.avi", astronaut(), frames=6)
    tracker = RecordingTracker(digi)
    with TrackingWorker(tracker) as worker:
        camera = CameraSource(video, worker.submit, loop=True)
        assert camera.open().size == (512, 512) and camera.nominal_fps == 30.0
        t0 = time.monotonic()
        with camera:
            while camera.frames < 15 and time.monotonic() - t0 < WAIT:
                time.sleep(0.01)
        elapsed = time.monotonic() - t0
        assert camera.frames >= 15  # past the 6-frame file's end: it looped
        assert elapsed > 14 / 30 * 0.9  # paced at the file's 30 fps, not as fast as it decodes
        assert camera.error is None and not camera.ended
        assert worker.wait_for(1, WAIT)
    assert worker.faces >= 1 and tracker.signals is not None
    assert worker.frames + worker.dropped == camera.frames
    # capture times are on the tracker's clock (time.monotonic here), in order
    times = [t for _, t in tracker.seen]
    assert times == sorted(times) and t0 <= times[0] <= time.monotonic()


def test_a_video_without_loop_ends(tmp_path: Path) -> None:
    video = write_video(tmp_path / "short.avi", astronaut(), frames=3)
    got: list[tuple[tuple[int, ...], np.dtype]] = []
    camera = CameraSource(video, lambda rgb, t: got.append((rgb.shape, rgb.dtype)), fps=200)
    camera.start()
    for _ in range(200):
        if camera.ended and not camera.alive:  # "ended" is set just before the thread exits
            break
        time.sleep(0.01)
    assert camera.ended and not camera.alive and camera.error is None
    assert got == [((512, 512, 3), np.dtype(np.uint8))] * 3
    assert camera.stop()


def test_frames_arrive_as_rgb(tmp_path: Path) -> None:
    picture = np.zeros((64, 64, 3), np.uint8)
    picture[..., 0] = 220  # red, in RGB
    got: list[np.ndarray] = []
    video = write_video(tmp_path / "red.avi", picture, 2)
    with CameraSource(video, lambda rgb, t: got.append(rgb)):
        for _ in range(200):
            if got:
                break
            time.sleep(0.01)
    assert got
    r, g, b = got[0][32, 32].astype(int)
    assert r > 180 and g < 40 and b < 40


def test_missing_sources_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match=r"video file not found: .*nope\.avi"):
        CameraSource(tmp_path / "nope.avi").open()
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video")
    with pytest.raises(CameraError, match=r"junk\.avi: not a video file OpenCV can read"):
        CameraSource(junk).open()
    with pytest.raises(CameraError, match="camera 57 could not be opened"):
        CameraSource(57).start()
