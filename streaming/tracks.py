"""Media tracks: the avatar's video out (one async `recv()` boundary, as aiortc's tracks),
and the webcam's frames in.

Frames cross from the render thread to the event loop through a `FrameSlot`: newest wins,
nothing queues, so a slow encoder or network drops old frames instead of adding latency.
Pacing is at the source (the render worker's 60 Hz clock): `recv()` returns each new frame
once, stamped with the time of the tick that made it, on the 90 kHz RTP video clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from fractions import Fraction

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame

VIDEO_TIME_BASE = Fraction(1, 90_000)


class FrameSlot:
    """A one-frame hand-off from a worker thread to one asyncio consumer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._frame: VideoFrame | None = None
        self._ready = asyncio.Event()
        self._closed = False
        self.published = 0
        self.dropped = 0  # frames replaced before the consumer took them

    def publish(self, frame: VideoFrame) -> None:
        """From any thread: replace the waiting frame (if any) with this one."""
        with self._lock:
            if self._closed:
                return
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self.published += 1
        with contextlib.suppress(RuntimeError):  # the loop is closing: nobody waits
            self._loop.call_soon_threadsafe(self._ready.set)

    async def take(self) -> VideoFrame:
        while True:
            await self._ready.wait()
            with self._lock:
                if self._closed:
                    raise MediaStreamError
                frame, self._frame = self._frame, None
                self._ready.clear()
            if frame is not None:
                return frame

    def close(self) -> None:
        with self._lock:
            self._closed = True
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._ready.set)


class AvatarTrack(MediaStreamTrack):
    """The rendered avatar as a video track. `on_stop` runs once when the track ends (the
    peer went away or the session closed), so its render output can be dropped."""

    kind = "video"

    def __init__(self, slot: FrameSlot, on_stop: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.slot = slot
        self._on_stop = on_stop
        self.sent = 0
        self.last_sent = 0.0  # time.monotonic() of the newest frame handed to the encoder

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self.slot.take()
        self.sent += 1
        self.last_sent = time.monotonic()
        return frame

    def stop(self) -> None:
        super().stop()
        self.slot.close()
        if self._on_stop is not None:
            callback, self._on_stop = self._on_stop, None
            callback()


async def consume_camera(
    track: MediaStreamTrack, submit: Callable[[VideoFrame, float], None], clock=time.monotonic
) -> None:
    """Hand every decoded webcam frame to `submit` with its arrival time until the track
    ends. Only the newest frame matters: the tracking worker drops older ones."""
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        submit(frame, clock())
