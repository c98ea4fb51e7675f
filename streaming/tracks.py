"""Media tracks: the avatar's video out (one async `recv()` boundary, as aiortc's tracks),
and the webcam's frames in.

The avatar is encoded once per stream (`streaming.encoder`); each viewer's `AvatarTrack`
returns the shared encoder's packets (aiortc packetizes them, it does not encode again)
through its own `PacketSlot`: a slow viewer drops packets instead of adding latency. Unlike
a raw frame, a VP8 inter frame only decodes on top of the one before it, so a keyframe
replaces whatever waits, inter frames wait in order (a few at most: one stalled event-loop
turn), and a viewer further behind than that drops them all and sends nothing more until the
next keyframe (and asks for it); a viewer that starts asks for one too. Pacing is at the source (the render
worker's clock): each packet carries the time of the tick that made it, on the 90 kHz RTP
video clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from typing import Protocol

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame
from av.packet import Packet

VIDEO_TIME_BASE = Fraction(1, 90_000)


class PacketSource(Protocol):
    """A shared encoder as its viewers see it (`streaming.encoder.SharedEncoder`)."""

    def add_viewer(self, viewer: PacketSlot) -> None: ...

    def remove_viewer(self, viewer: PacketSlot) -> None: ...

    def request_keyframe(self, why: str = ...) -> None: ...


class PacketSlot:
    """One viewer's hand-off of a shared encoder's packets; event loop only.

    Newest wins, as for frames, with one difference VP8 forces: an inter frame decodes only
    on top of the one before it, so packets cannot be skipped one at a time. A keyframe
    replaces whatever still waits (nothing before it matters any more); inter frames wait
    in order, at most `depth` of them, which is one stalled event-loop turn's worth (the
    fan-out callbacks of two frames then run back to back, before the sender's task could
    take the first: dropping one there would cost a keyframe for a stall the viewer never
    saw). A viewer further behind is slow: what waits is dropped, nothing more is sent
    until the next keyframe, and it asks for one.

    It joins the encoder's fan-out at its first `take` (when the viewer's sender starts
    pulling), so packets made while the connection is still being set up are neither drops
    nor a reason to make everyone a keyframe."""

    def __init__(self, source: PacketSource, depth: int = 3) -> None:
        self.source = source
        self.depth = depth
        self._waiting: deque[Packet] = deque()
        self._ready = asyncio.Event()
        self._joined = False
        self._closed = False
        self.need_key = True  # nothing decodes until a keyframe
        self.put_count = 0  # packets offered
        self.dropped = 0  # packets that never reached the viewer's sender
        self.gaps = 0  # times the viewer fell behind (each asked for a keyframe)
        self.keys_taken = 0
        self.taken: list[bool] = []  # is_keyframe of the first packets taken (for tests)

    def put(self, packet: Packet) -> None:
        if self._closed:
            return
        self.put_count += 1
        if packet.is_keyframe:
            self.dropped += len(self._waiting)
            self._waiting.clear()
            self.need_key = False
        elif self.need_key:
            self.dropped += 1
            return
        elif len(self._waiting) >= self.depth:
            # a decoder fed past a hole shows smeared garbage until a keyframe (and aiortc
            # numbers picture ids per sender, so the receiver would not even see the hole)
            self.dropped += len(self._waiting) + 1
            self._waiting.clear()
            self.need_key = True
            self.gaps += 1
            self.source.request_keyframe("gap")
            return
        self._waiting.append(packet)
        self._ready.set()

    async def take(self) -> Packet:
        if not self._joined and not self._closed:
            self._joined = True
            self.source.add_viewer(self)
        while True:
            await self._ready.wait()
            if self._closed:
                raise MediaStreamError
            if not self._waiting:
                self._ready.clear()
                continue
            packet = self._waiting.popleft()
            if not self._waiting:
                self._ready.clear()
            key = bool(packet.is_keyframe)
            self.keys_taken += key
            if len(self.taken) < 32:
                self.taken.append(key)
            return packet

    def close(self) -> None:
        """Leave the fan-out; a waiting `take` ends with MediaStreamError. Event loop only."""
        if self._closed:
            return
        self._closed = True
        self._waiting.clear()
        self.source.remove_viewer(self)
        self._ready.set()


class AvatarTrack(MediaStreamTrack):
    """The rendered avatar as a video track of ready-made VP8 packets. `on_stop` runs once
    when the track ends (the peer went away or the session closed), so the viewer can
    leave its stream."""

    kind = "video"

    def __init__(self, slot: PacketSlot, on_stop: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.slot = slot
        self._on_stop = on_stop
        self.sent = 0
        self.last_sent = 0.0  # time.monotonic() of the newest packet handed to the sender

    async def recv(self) -> Packet:
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self.slot.take()
        self.sent += 1
        self.last_sent = time.monotonic()
        return packet

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
