"""Shared encodes: one VP8 encoder per output stream (a session's layout and size), its
packets fanned out to every viewer of that stream.

Every viewer of a stream (the puppet's page, its OBS page, WHEP players, the viewers of one
preview) gets the same bytes: the session renders once, encodes once, and each viewer's
RTCRtpSender only packetizes (aiortc sends an `av.Packet` a track returns through
`encoder.pack`, and never encodes it again).

Threads: the render thread `publish`es a frame into a short queue (`WAITING` frames) and
never waits; the encoder's own thread encodes the frames in order and hands each packet to
the event loop once (one `call_soon_threadsafe` a frame, whatever the number of viewers),
where `_fan_out` offers it to every viewer's `PacketSlot` (`streaming.tracks`). A frame
pushed out of a full queue is dropped before it is encoded, which costs nothing: the next
frame is coded against the last one that was. One thread per stream rather than aiortc's
executor: a stream's frames must be encoded in order, one at a time, which a shared pool
does not promise; PyAV releases the GIL inside libvpx (measured: a Python thread runs at
full speed beside a busy encoder thread), so the thread costs the event loop and the
render thread nothing while it encodes.

Keyframes: the stream has none but its first unless asked (`request_keyframe`): a viewer
that starts, a viewer that fell behind and dropped packets, and a viewer's PLI/FIR
(`forward_keyframe_requests`) ask. Requests are coalesced and at most one forced keyframe
goes out per `KEYFRAME_MIN_INTERVAL`, so a struggling viewer cannot turn everyone's stream
into keyframes (a keyframe is several inter frames' worth of bits). A new picture (a
framing, scene or style change: `refresh`, from the render thread) makes the first frame
that shows it a keyframe, carried over to the frame that replaces it if it is dropped:
coded as a change from the old picture, its flat backdrop kept the old picture's blotches.

Rate control: a fixed target for the stream (`codec.target_bitrate`), constant bitrate as
aiortc's Vp8Encoder. A viewer's REMB estimate no longer moves it (one encode serves all).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from fractions import Fraction
from typing import Protocol

import av
from av import VideoFrame
from av.packet import Packet

from streaming import codec
from streaming.live import BoundedMap

log = logging.getLogger(__name__)

VIDEO_TIME_BASE = Fraction(1, 90_000)
KEYFRAME_MIN_INTERVAL = 0.2  # seconds between forced keyframes (requests in between wait)
# Frames that may wait for the encoder. Two, not one: on a box whose cores are busy (a
# browser beside the server) the encoder thread is sometimes kept off a core for more than
# a period, and a slot of one then drops a frame the viewer sees as a stutter; a frame
# that waited one more encode (about 3 ms) is still smooth. More would only add latency.
# Measured on the 2-core dev VM with Chromium tracking beside the server: 0.5-1.1 frames a
# second dropped with one, 0.0-0.3 with two (docs/PERFORMANCE.md, 2026-12-07).
WAITING = 2


def open_vp8(width: int, height: int, fps: int, bitrate: int) -> av.VideoCodecContext:
    """A libvpx VP8 encoder with the stream's settings (SharedEncoder's, and the
    benchmarks' that measure its cost)."""
    # aiortc's Vp8Encoder settings (realtime, CBR, no lag), at this stream's own rate,
    # less two that left blotches on the flat backdrop: `static-thresh` 1 let libvpx
    # skip blocks whose change it judged too small to code (the faint remains of a part
    # that moved away stayed for good), and `noise-sensitivity` 4 (its temporal
    # denoiser) smoothed the backdrop's return to flat over many frames. Measured on
    # Digi dancing at 512x512/60 through face -> full -> bust framings, decoded: backdrop
    # pixels 3+ levels off the flat colour 8 px or more from the avatar, 196-279 with
    # aiortc's settings, 1-8 without them (at 0.7 Mbps: 250-430 against 27-80), at the
    # same rate and 10% less encoding time (docs/STREAMING.md, "Picture quality").
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height = width, height
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = VIDEO_TIME_BASE
    ctx.framerate = Fraction(fps, 1)
    ctx.bit_rate = bitrate
    ctx.gop_size = 3000  # keyframes when asked, not on a timer
    ctx.qmin, ctx.qmax = 2, 56
    ctx.thread_count = 1
    b = str(bitrate)
    ctx.options = {
        "bufsize": b,  # a one-second buffer
        "cpu-used": "-6",
        "deadline": "realtime",
        "lag-in-frames": "0",
        "minrate": b,
        "maxrate": b,
        "noise-sensitivity": "0",
        "overshoot-pct": "15",
        "partitions": "0",
        "static-thresh": "0",
        "undershoot-pct": "100",
    }
    return ctx


class Viewer(Protocol):
    """What the encoder fans packets out to (`streaming.tracks.PacketSlot`); event loop only."""

    def put(self, packet: Packet) -> None: ...


class SharedEncoder:
    """One output stream's VP8 encoder. `publish` and `close` may be called from any thread
    (it stands as the `Output.slot` the render worker publishes to); viewers are added and
    removed on the event loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        width: int,
        height: int,
        fps: int,
        *,
        bitrate: int | None = None,
        name: str = "stream",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loop = loop
        self.width, self.height, self.fps = width, height, fps
        self._bitrate_given = bitrate
        self.bitrate = bitrate or codec.target_bitrate(width, height, fps)
        self._clock = clock
        self._cond = threading.Condition()
        # frames waiting, oldest first, each with whether it is a new picture's keyframe
        self._waiting: deque[tuple[VideoFrame, bool]] = deque()
        self._closed = False
        self._want_key = False
        self._key_next = False  # refresh(): the next published frame is a new picture
        self._last_forced = -float("inf")
        self.viewers: list[Viewer] = []
        self.frames_in = 0
        self.dropped = 0  # frames pushed out of the queue before the encoder took them
        self.encoded = 0
        self.keyframes = 0
        self.forced = 0  # keyframes made because someone asked
        self.refreshed = 0  # new pictures taken (refresh): keyframes, the interval allowing
        self.requests: Counter[str] = Counter()
        self.error: str | None = None
        # pts -> when its packet was ready (clock), for motion-to-photon; recent only
        self.encoded_at: BoundedMap = BoundedMap(240)
        self._thread = threading.Thread(target=self._run, name=f"encoder-{name}", daemon=True)
        self._thread.start()

    # --- any thread -----------------------------------------------------------------------

    def publish(self, frame: VideoFrame) -> None:
        """Queue this frame for encoding; never waits. When WAITING frames already wait,
        the oldest is dropped."""
        with self._cond:
            if self._closed:
                return
            key = self._key_next
            self._key_next = False
            if len(self._waiting) >= WAITING:
                _, carried = self._waiting.popleft()
                self.dropped += 1
                if carried:  # a new picture's keyframe goes to the frame after the dropped one
                    if self._waiting:
                        self._waiting[0] = (self._waiting[0][0], True)
                    else:
                        key = True
            self._waiting.append((frame, key))
            self.frames_in += 1
            self._cond.notify()

    def request_keyframe(self, why: str = "viewer") -> None:
        """Make a coming frame a keyframe (coalesced; see KEYFRAME_MIN_INTERVAL). `why`
        ("join", "gap", "pli"...) is only counted, in `requests`."""
        self.requests[why] += 1
        self._want_key = True

    def refresh(self) -> None:
        """The next frame published shows a new picture: make it a keyframe (called by the
        thread that publishes, before it publishes that frame). Still at most one forced
        keyframe per KEYFRAME_MIN_INTERVAL: a flood of scene changes waits like any other
        request."""
        self.requests["refresh"] += 1
        with self._cond:
            self._key_next = True

    def close(self) -> None:
        """Stop encoding; the thread ends after the frame in hand (idempotent, never waits)."""
        with self._cond:
            self._closed = True
            self._waiting.clear()
            self._cond.notify()

    @property
    def closed(self) -> bool:
        return self._closed

    def join(self, timeout: float = 2.0) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # --- event loop -----------------------------------------------------------------------

    def add_viewer(self, viewer: Viewer) -> None:
        """A viewer that starts pulling: it needs a keyframe to decode anything."""
        if viewer not in self.viewers:
            self.viewers.append(viewer)
        self.request_keyframe("join")

    def remove_viewer(self, viewer: Viewer) -> None:
        with contextlib.suppress(ValueError):
            self.viewers.remove(viewer)

    def _fan_out(self, packet: Packet) -> None:
        for v in list(self.viewers):
            v.put(packet)

    # --- the encoder thread ---------------------------------------------------------------

    def _open(self) -> av.VideoCodecContext:
        return open_vp8(self.width, self.height, self.fps, self.bitrate)

    def _run(self) -> None:
        ctx = None
        try:
            while True:
                with self._cond:
                    while not self._waiting and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        return
                    frame, key = self._waiting.popleft()
                    if key:
                        self._want_key = True
                        self.refreshed += 1
                if ctx is None or (frame.width, frame.height) != (self.width, self.height):
                    # the first frame, or a scene's new output size (streaming/render_worker.py
                    # renders every output at the scene's size): a new encode at the frame's
                    # size, which starts with a keyframe that carries the new size
                    self.width, self.height = frame.width, frame.height
                    if self._bitrate_given is None:
                        self.bitrate = codec.target_bitrate(self.width, self.height, self.fps)
                    ctx = self._open()
                    self._want_key = False  # the first frame is a keyframe anyway
                    self._last_forced = self._clock()
                now = self._clock()
                if self._want_key and now - self._last_forced >= KEYFRAME_MIN_INTERVAL:
                    self._want_key = False
                    self._last_forced = now
                    frame.pict_type = av.video.frame.PictureType.I
                    self.forced += 1
                for packet in ctx.encode(frame):
                    packet.time_base = VIDEO_TIME_BASE
                    self.encoded += 1
                    self.keyframes += bool(packet.is_keyframe)
                    self.encoded_at[packet.pts] = self._clock()
                    try:
                        self._loop.call_soon_threadsafe(self._fan_out, packet)
                    except RuntimeError:  # the loop is closed: nobody is watching
                        return
        except Exception as e:  # a broken encoder ends its stream, not the server
            self.error = f"encoding failed: {type(e).__name__}: {e}"
            log.exception("encoder %s", self._thread.name)
        finally:
            with self._cond:
                self._closed = True
                self._waiting.clear()


def forward_keyframe_requests(sender: object, request: Callable[[], None]) -> bool:
    """Pass a viewer's PLI/FIR on to the shared encoder.

    aiortc answers both by calling the sender's `_send_keyframe()`, which only sets its
    private `__force_keyframe`; that flag is read on the sender's own encode path, and a
    track that returns packets takes the pack path, which ignores it. aiortc has no public
    event for the request, so the one method both requests go through is wrapped on this
    sender instance (its `_handle_rtcp_packet` looks it up on the instance). False when
    this aiortc has no such method (the test of PLI then fails and says so)."""
    original = getattr(sender, "_send_keyframe", None)
    if original is None:
        log.warning("aiortc's RTCRtpSender has no _send_keyframe: PLI/FIR will not force keyframes")
        return False

    def send_keyframe() -> None:
        original()
        request()

    sender._send_keyframe = send_keyframe  # type: ignore[attr-defined]
    return True
