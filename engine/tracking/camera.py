"""`CameraSource`: RGB frames from a local webcam or a video file, on a capture thread.

Why: the desktop puppet (`digigami puppet`) needs frames from the user's webcam, and tests
and demos need the same path fed from a recorded video, so both go through one source. A
capture thread reads frames as fast as the source gives them (a webcam at its own rate; a
file paced at its nominal fps, looping on request), converts OpenCV's BGR to RGB and hands
each to a callback, typically `TrackingWorker.submit`, which is newest-wins and returns at
once, so the capture thread never waits on tracking.

OpenCV (`cv2`, installed with mediapipe as opencv-contrib-python) is used here for capture
only: opening devices and decoding video files. No image processing, and no other module of
the engine imports it. OpenCV's own log lines about devices it cannot open are silenced
while opening: a missing camera or file is reported once, as a `CameraError` naming it.

In the browser product the frames come over WebRTC instead (streaming/); this source is for
the desktop and for tests.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

FrameCallback = Callable[[np.ndarray, float], None]  # (rgb (h, w, 3) uint8, capture time)
DEFAULT_FPS = 30.0  # for files that do not say their frame rate


class CameraError(RuntimeError):
    """A camera or video file that cannot be opened or read; the message names it."""


@contextmanager
def _quiet() -> Iterator[None]:
    """OpenCV logs warnings of its own for devices and files it cannot open; we raise one
    clear CameraError instead."""
    old = cv2.getLogLevel()
    cv2.setLogLevel(0)  # LOG_LEVEL_SILENT
    try:
        yield
    finally:
        cv2.setLogLevel(old)


class CameraSource:
    """Frames from webcam `source` (a device index) or a video file (a path), delivered to
    `on_frame(rgb, t)` on the capture thread, `t` the capture time on `clock` (the clock the
    engine ticks by). `on_frame` may be set after opening, before `start()` (a source can be
    checked before its consumer exists); without one, frames are counted and let go. A file
    is paced at its fps (or `fps`, when given) and starts over at its end when `loop` is
    set; otherwise the source ends (`ended`).

    `open()` checks the source and reads its first frame (raising CameraError), `start()`
    opens if needed and starts the thread, `stop()` ends it and releases the device.
    Stats: `frames` delivered, `fps` (measured over the last second), `size` (width,
    height), `ended`, and `error` ("Type: message" of the newest failure of the callback,
    or the camera going away).
    """

    def __init__(
        self,
        source: int | str | os.PathLike[str],
        on_frame: FrameCallback | None = None,
        *,
        loop: bool = False,
        clock: Callable[[], float] = time.monotonic,
        fps: float | None = None,
    ) -> None:
        self.source = source
        self.on_frame = on_frame
        self.loop = loop
        self.clock = clock
        self.is_file = not isinstance(source, int)
        self.name = str(source) if self.is_file else f"camera {source}"
        self._fps_override = fps
        self.nominal_fps = fps or DEFAULT_FPS
        self.size: tuple[int, int] | None = None
        self.frames = 0
        self.ended = False
        self.error: str | None = None
        self._cap: cv2.VideoCapture | None = None
        self._first: np.ndarray | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._times: deque[float] = deque(maxlen=240)
        self._lock = threading.Lock()

    # --- opening -------------------------------------------------------------------------

    def open(self) -> CameraSource:
        """Open the device or file and read its first frame; CameraError when it cannot."""
        if self._cap is not None:
            return self
        cap = self._open_capture()
        ok, frame = cap.read()
        if not ok or frame is None:
            cap.release()
            raise CameraError(f"{self.name} opened but gave no frame")
        h, w = frame.shape[:2]
        self.size = (w, h)
        if self.is_file and self._fps_override is None:
            fps = cap.get(cv2.CAP_PROP_FPS)
            self.nominal_fps = float(fps) if 1.0 <= fps <= 240.0 else DEFAULT_FPS
        self._cap, self._first = cap, frame
        return self

    def _open_capture(self) -> cv2.VideoCapture:
        if not self.is_file:
            with _quiet():
                cap = cv2.VideoCapture(int(self.source))  # type: ignore[arg-type]
            if not cap.isOpened():
                raise CameraError(
                    f"{self.name} could not be opened (no such device, or another program "
                    "is using it)"
                )
            return cap
        path = Path(self.source)
        if not path.is_file():
            raise CameraError(f"video file not found: {path}")
        with _quiet():
            cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise CameraError(f"{path}: not a video file OpenCV can read")
        return cap

    # --- life ----------------------------------------------------------------------------

    def start(self) -> CameraSource:
        """Open (if not yet) and start the capture thread; a no-op when it runs already."""
        if self._stop.is_set():
            raise RuntimeError("a stopped CameraSource cannot be started again")
        if self._thread is None:
            self.open()
            self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> bool:
        """End the capture thread and release the device; True once the thread has ended.
        Waits at most `timeout` seconds (a webcam read in flight finishes first). Safe to
        call again."""
        self._stop.set()
        thread = self._thread
        if thread is None:
            with self._lock:
                if self._cap is not None:
                    self._cap.release()
                    self._cap = None
            return True
        if thread is threading.current_thread():
            return False
        thread.join(timeout)
        return not thread.is_alive()

    close = stop

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def fps(self) -> float:
        """Frames delivered per second over the last second."""
        with self._lock:
            now = time.monotonic()
            recent = [t for t in self._times if now - t <= 1.0]
        if len(recent) < 2:
            return 0.0
        span = recent[-1] - recent[0]
        return (len(recent) - 1) / span if span > 0 else 0.0

    def __enter__(self) -> CameraSource:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        cap = self._cap
        assert cap is not None
        frame, self._first = self._first, None
        period = 1.0 / self.nominal_fps
        due = time.monotonic()  # when the next file frame is due
        try:
            while not self._stop.is_set():
                if frame is None:
                    ok, frame = cap.read()
                    if not ok and self.is_file and self.loop:
                        cap.release()  # start over: reopening works for every container
                        with _quiet():
                            cap = cv2.VideoCapture(str(self.source))
                        self._cap = cap
                        ok, frame = cap.read()
                    if not ok or frame is None:
                        if self.is_file:
                            self.ended = True
                        else:
                            self.error = f"{self.name} stopped giving frames"
                        return
                if self.is_file:
                    wait = due - time.monotonic()
                    if wait > 0 and self._stop.wait(wait):
                        return
                    # behind (a slow machine): skip ahead instead of catching up in a burst
                    due = max(due, time.monotonic() - period) + period
                self._deliver(frame)
                frame = None
        finally:
            with self._lock:
                cap.release()
                self._cap = None

    def _deliver(self, bgr: np.ndarray) -> None:
        t = self.clock()
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        with self._lock:
            self.frames += 1
            self._times.append(time.monotonic())
        on_frame = self.on_frame
        if on_frame is None:
            return
        try:
            on_frame(rgb, t)
        except Exception as e:  # the consumer's problem; keep capturing
            self.error = f"{type(e).__name__}: {e}"
