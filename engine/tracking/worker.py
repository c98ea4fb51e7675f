"""`TrackingWorker`: one session's landmarker and solver on a thread of their own.

Why a thread: MediaPipe takes 5-30 ms a frame, longer than an engine tick, and a camera
delivers frames on its own schedule. Neither the render loop nor the camera's capture
thread may wait for it (ARCHITECTURE.md, "never block the event loop"), so frames are handed
over through a newest-wins slot: `submit` puts a frame there and returns at once; if the
previous frame was not picked up yet it is replaced (and counted in `dropped`), so latency
never builds up behind a slow landmarker. The worker thread takes the newest frame, finds
the landmarks, solves them into FaceSignals and hands those to `FaceTracker.observe` with
the frame's capture time; the engine reads `FaceTracker.parameters` at its own tick rate.

The landmarker is created, used and closed on the worker thread only (one MediaPipe graph
per camera, owned by one thread), and `engine.tracking.landmarker` is imported there, so
importing this module does not load MediaPipe.

Landmarks found elsewhere (a browser running FaceMesh itself, streaming/landmarks.py) come in
through `submit_landmarks` into the same slot and go through the same solver, calibration and
filters, so both paths track alike. A worker made with `landmarker_factory=None` takes
landmarks only and never builds a MediaPipe graph.

A failure is never fatal to the session: if the landmarker or the solver raises (a bad
frame, a broken graph), the message goes to `error`, the tracker simply sees no face (so
the avatar eases back to its animations), and the next frame is tried as usual.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from engine.tracking.signals import FaceSignals
from engine.tracking.solver import solve
from engine.tracking.tracker import FaceTracker

if TYPE_CHECKING:
    from engine.tracking.landmarker import LandmarkResult


class Landmarker(Protocol):
    """What the worker needs of a landmarker (`engine.tracking.landmarker.FaceLandmarker`).
    A `close()` method, when present, is called when the worker stops."""

    def process(self, rgb: np.ndarray) -> LandmarkResult: ...


def _default_landmarker() -> Landmarker:
    from engine.tracking.landmarker import FaceLandmarker  # MediaPipe: on the worker thread

    return FaceLandmarker()


def describe(e: BaseException) -> str:
    """An exception as one line: its type and its message."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


class TrackingWorker:
    """Landmarks and signals for one camera, off the caller's thread.

    `submit(rgb, t)` from any thread (the camera's); the tracker receives every processed
    frame's signals (or None without a face) at the frame's capture time `t`, on the clock
    the engine ticks by. The frame array is handed over, not copied: do not write to it
    after submitting.

    `submit_landmarks(points, image_size, t)` hands over landmarks found elsewhere instead of
    a frame (same slot, newest wins). With `landmarker_factory=None` the worker takes only
    those: no landmarker is made, and frames are dropped.

    Stats (read from any thread): `frames` processed (landmark sets included; `landmarks`
    counts those alone), `dropped` (replaced or stopped before
    they were processed, or submitted when the worker was not running), `faces` (frames
    with a face), `errors` (frames that failed), `last_ms` (landmarker + solver time of the
    newest frame) and `error` (the newest failure as "Type: message"; None again once a
    frame goes through).
    """

    def __init__(
        self,
        tracker: FaceTracker,
        clock: Callable[[], float] = time.monotonic,
        landmarker_factory: Callable[[], Landmarker] | None = _default_landmarker,
    ) -> None:
        self.tracker = tracker
        self.clock = clock
        self._factory = landmarker_factory
        self._cond = threading.Condition()
        # (frame, t) or (landmarks, image size, t): whichever came last
        self._slot: tuple[Any, ...] | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.frames = 0
        self.dropped = 0
        self.faces = 0
        self.landmarks = 0
        self.errors = 0
        self.last_ms = 0.0
        self.error: str | None = None
        # called on the worker thread after each face reaches the tracker (the render
        # worker phase-locks its ticks to these arrivals); must not block
        self.on_observed: Callable[[], None] | None = None

    # --- life ----------------------------------------------------------------------------

    def start(self) -> TrackingWorker:
        """Start the worker thread (a no-op when it is running already)."""
        with self._cond:
            if self._stopping:
                raise RuntimeError("a stopped TrackingWorker cannot be started again")
            if self._thread is not None:
                return self
            self._thread = threading.Thread(target=self._run, name="tracking-worker", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop the thread and close its landmarker; True once the thread has ended. Waits at
        most `timeout` seconds (a frame in the landmarker finishes first; the thread is a
        daemon, so a stuck landmarker cannot keep the process alive). Safe to call again."""
        with self._cond:
            self._stopping = True
            if self._slot is not None:  # never to be processed
                self.dropped += 1
                self._slot = None
            self._cond.notify_all()
            thread = self._thread
        if thread is None or thread is threading.current_thread():
            return thread is None
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def alive(self) -> bool:
        """Whether the worker thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> TrackingWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- frames --------------------------------------------------------------------------

    def submit(self, rgb: np.ndarray | Any, t: float | None = None) -> None:
        """Hand over an RGB uint8 frame (h, w, 3) captured at time `t` (default: now, on the
        worker's clock). Returns at once; an older frame still waiting is dropped. A decoded
        video frame with `to_ndarray(format="rgb24")` (PyAV's, from WebRTC) is accepted too
        and converted on the worker thread, so the caller's event loop does no pixel work."""
        if self._factory is None:  # landmarks only: no graph to find them in a frame
            with self._cond:
                self.dropped += 1
            return
        self._put((rgb, self.clock() if t is None else t))

    def submit_landmarks(
        self, points: np.ndarray | None, image_size: tuple[int, int], t: float | None = None
    ) -> None:
        """Hand over one frame's landmarks found elsewhere: `points` (478, 3) in MediaPipe's
        normalized form, or None when that frame had no face; `image_size` (width, height)
        of the picture; `t` its capture time on the worker's clock (default: now). Returns
        at once; an older frame or landmark set still waiting is dropped."""
        self._put((points, image_size, self.clock() if t is None else t))

    def _put(self, item: tuple[Any, ...]) -> None:
        with self._cond:
            if self._stopping or self._thread is None or not self._thread.is_alive():
                self.dropped += 1
                return
            if self._slot is not None:
                self.dropped += 1
            self._slot = item
            self._cond.notify()

    def wait_for(self, frames: int, timeout: float) -> bool:
        """Wait until at least `frames` frames have been processed (or failed); False when
        `timeout` seconds pass first or the worker ends."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.frames < frames:
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping or not self.alive:
                    return self.frames >= frames
                self._cond.wait(min(left, 0.05))
            return True

    # --- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            landmarker = self._factory() if self._factory is not None else None
        except Exception as e:  # a broken install or graph: say so, take no frames
            with self._cond:
                self.error = f"the landmarker could not start: {describe(e)}"
                self._cond.notify_all()
            return
        try:
            while True:
                with self._cond:
                    while self._slot is None and not self._stopping:
                        self._cond.wait()
                    if self._stopping:
                        return
                    item, self._slot = self._slot, None
                if len(item) == 3:
                    self._process_landmarks(*item)
                elif landmarker is not None:
                    self._process(landmarker, *item)
        finally:
            close = getattr(landmarker, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as e:
                    self.error = f"the landmarker did not close cleanly: {describe(e)}"

    def _process(self, landmarker: Landmarker, rgb: np.ndarray, t: float) -> None:
        signals = None
        failure: str | None = None
        t0 = time.perf_counter()
        try:
            if not isinstance(rgb, np.ndarray) and hasattr(rgb, "to_ndarray"):
                rgb = rgb.to_ndarray(format="rgb24")
            result = landmarker.process(rgb)
            if result.landmarks is not None:
                signals = solve(result.landmarks, result.image_size)
        except Exception as e:  # BadFrameError, a MediaPipe failure, bad landmarks
            failure = describe(e)
        self._observe(signals, t, failure, t0)

    def _process_landmarks(
        self, points: np.ndarray | None, image_size: tuple[int, int], t: float
    ) -> None:
        signals = None
        failure: str | None = None
        t0 = time.perf_counter()
        try:
            if points is not None:
                signals = solve(points, image_size)
        except Exception as e:  # landmarks the solver cannot fit (LandmarkShapeError, ...)
            failure = describe(e)
        with self._cond:
            self.landmarks += 1
        self._observe(signals, t, failure, t0)

    def _observe(
        self, signals: FaceSignals | None, t: float, failure: str | None, t0: float
    ) -> None:
        ms = (time.perf_counter() - t0) * 1000.0
        try:
            self.tracker.observe(signals, t)
        except Exception as e:
            failure = f"the tracker rejected a frame: {describe(e)}"
        with self._cond:
            self.frames += 1
            self.last_ms = ms
            if failure is None:
                self.error = None
                self.faces += signals is not None
            else:
                self.error = failure
                self.errors += 1
            self._cond.notify_all()
        if signals is not None and failure is None and self.on_observed is not None:
            self.on_observed()
