"""The `landmarks` data channel: face points tracked in the browser, one binary message a
camera frame (docs/STREAMING.md, "The landmarks data channel").

A browser that runs FaceMesh itself sends the 478 refined points instead of its webcam
video: the camera never leaves the browser, and the server skips the VP8 decode and the
MediaPipe graph (most of a core per session). The server then runs the same solver,
calibration and filters on those points as on its own (`TrackingWorker.submit_landmarks`).

Format (little-endian): a 20-byte header `<BBHIdHH` = version (2; 1 is read too), flags
(bit 0: a face was found), point count (478, or 0 without a face), sequence number
(uint32), the browser's capture time in ms (float64, `performance.now()`), image width and
height in pixels; then `count * 3` values x, y, z in MediaPipe's normalized form: int16 in
1/16384ths in version 2, float32 in version 1. Version 2 halves the message (2,888 bytes:
3 SCTP packets where 5,756 took 5, half the upstream a browser-tracked user pays) for a step
of 0.06 px on a 1280 px camera, far under FaceMesh's own jitter.

Everything here runs on the event loop and is cheap (one `np.frombuffer` and a few checks a
message). Every byte comes from the peer, so every field has a limit; a bad message is
dropped and counted, never a crash and never a closed channel.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from streaming.intake import ChannelIntake

CHANNEL = "landmarks"
VERSION = 2  # what encode_landmarks writes and the page sends
VERSIONS = (1, 2)  # what is read: 1, float32 points, from a page cached before version 2
Q = 16384.0  # version 2's points: int16 in 1/Q ths (so -2 .. 1.99994)
VALUE_BYTES = {1: 4, 2: 2}
FLAG_FACE = 0x01
POINTS = 478
HEADER = struct.Struct("<BBHIdHH")  # 20 bytes, so the float32 points start 4-aligned
MESSAGE_SIZE = HEADER.size + POINTS * 3 * 4  # the largest valid message (version 1): 5756 bytes
XY_RANGE = (-1.0, 2.0)  # a face partly out of the picture still has points a bit outside 0..1
Z_LIMIT = 2.0  # MediaPipe's z is on x's scale, a few tenths for a face filling the frame
IMAGE_RANGE = (16, 4096)  # pixels, each side
CAPTURE_MS_LIMIT = 1e10  # performance.now() of a page open for 115 days
REWIND_LIMIT = 120  # an unordered channel reorders a few messages; more is not reordering
RATE_LIMIT = 120.0  # messages a second; a camera gives 30-60
MAX_AGE = 1.0  # seconds: the oldest capture time a message is taken to have


class LandmarkError(ValueError):
    """A landmarks message that cannot be used; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class LandmarkMessage:
    """One parsed message. `points` is (478, 3) float64 when a face was found, else None."""

    version: int
    face: bool
    seq: int
    captured_ms: float
    image_size: tuple[int, int]  # (width, height)
    points: np.ndarray | None


def encode_landmarks(
    points: np.ndarray | None,
    image_size: tuple[int, int],
    seq: int = 0,
    captured_ms: float = 0.0,
    version: int = VERSION,
) -> bytes:
    """One landmarks message: `points` (478, 3) in MediaPipe's normalized form, or None when
    the frame had no face; `image_size` (width, height) of the picture they came from.
    (What the browser's tracking.js writes; for tests, benchmarks and other clients.)"""
    if version not in VERSIONS:
        raise ValueError(f"unknown version {version} (expected one of {VERSIONS})")
    w, h = image_size
    if points is None:
        return HEADER.pack(version, 0, 0, seq & 0xFFFFFFFF, float(captured_ms), w, h)
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (POINTS, 3):
        raise ValueError(f"expected points of shape ({POINTS}, 3), got {pts.shape}")
    head = HEADER.pack(version, FLAG_FACE, POINTS, seq & 0xFFFFFFFF, float(captured_ms), w, h)
    if version == 1:
        return head + pts.astype("<f4").tobytes()
    # rounded half up and held to int16, as tracking.js does (Math.round), so both write the
    # same bytes; a point beyond -2..2 is refused by the range check anyway, and so is a
    # non-finite x or y, written as -32768 (int16 has no NaN or infinity)
    q = np.where(np.isfinite(pts), np.floor(pts * Q + 0.5), -32768.0)
    return head + np.clip(q, -32768, 32767).astype("<i2").tobytes()


def parse_landmarks(data: Any) -> LandmarkMessage:
    """Check one message from the channel and return it parsed; a `LandmarkError` says what
    is wrong (anything not bytes, a length that does not match the count, an unknown
    version, a count other than 0 or 478, non-finite or implausible values)."""
    if isinstance(data, str):
        raise LandmarkError(
            f"landmarks messages are binary, got a text message of {len(data)} characters"
        )
    if not isinstance(data, bytes | bytearray | memoryview):
        raise LandmarkError(f"landmarks messages are binary, got {type(data).__name__}")
    size = data.nbytes if isinstance(data, memoryview) else len(data)
    if size > MESSAGE_SIZE:  # before any copy: a peer may send megabytes
        raise LandmarkError(
            f"message of {size} bytes is longer than the largest valid one ({MESSAGE_SIZE})"
        )
    data = bytes(data)
    if len(data) < HEADER.size:
        raise LandmarkError(
            f"message of {len(data)} bytes is shorter than the {HEADER.size}-byte header"
        )
    version, flags, count, seq, captured_ms, w, h = HEADER.unpack_from(data)
    if version not in VERSIONS:
        raise LandmarkError(
            f"unknown version {version} (this server reads versions "
            f"{' and '.join(map(str, VERSIONS))})"
        )
    if flags & ~FLAG_FACE:
        raise LandmarkError(f"unknown flag bits 0x{flags & ~FLAG_FACE:02x}")
    face = bool(flags & FLAG_FACE)
    if count not in (0, POINTS):
        raise LandmarkError(f"point count {count} (expected {POINTS}, or 0 without a face)")
    if face != (count == POINTS):
        raise LandmarkError(
            f"the face flag says {'a face' if face else 'no face'} but the count is {count}"
        )
    want = HEADER.size + count * 3 * VALUE_BYTES[version]
    if len(data) != want:
        raise LandmarkError(f"message of {len(data)} bytes for {count} points (expected {want})")
    if not math.isfinite(captured_ms) or not 0.0 <= captured_ms <= CAPTURE_MS_LIMIT:
        raise LandmarkError(f"capture time {captured_ms!r} ms is not a performance.now() time")
    lo, hi = IMAGE_RANGE
    if not (lo <= w <= hi and lo <= h <= hi):
        raise LandmarkError(f"image size {w}x{h} (each side must be {lo} to {hi} pixels)")
    points = None
    if face:
        if version == 1:
            points = np.frombuffer(data, dtype="<f4", offset=HEADER.size).reshape(POINTS, 3)
        else:
            points = np.frombuffer(data, dtype="<i2", offset=HEADER.size).reshape(POINTS, 3) / Q
        if not np.isfinite(points).all():
            raise LandmarkError("points contain NaN or infinity")
        xy = points[:, :2]
        if xy.min() < XY_RANGE[0] or xy.max() > XY_RANGE[1]:
            raise LandmarkError(
                f"x/y outside {XY_RANGE[0]}..{XY_RANGE[1]} (normalized to the picture): "
                f"{float(xy.min()):.3g}..{float(xy.max()):.3g}"
            )
        z = float(np.abs(points[:, 2]).max())
        if z > Z_LIMIT:
            raise LandmarkError(f"|z| up to {z:.3g} (at most {Z_LIMIT})")
        points = points.astype(np.float64)
    return LandmarkMessage(version, face, seq, captured_ms, (w, h), points)


class LandmarkSink(Protocol):
    """Where accepted points go (`TrackingWorker.submit_landmarks`)."""

    def submit_landmarks(
        self, points: np.ndarray | None, image_size: tuple[int, int], t: float | None = None
    ) -> None: ...


@dataclass
class LandmarkIntake(ChannelIntake):
    """One session's landmarks channel: checks each message (`parse_landmarks`, then the
    sequence and the rate), hands accepted points to `sink` at their capture time on the
    server's clock, and counts what it refused. Runs on the event loop."""

    WHAT = "landmarks"
    RATE = RATE_LIMIT

    sink: LandmarkSink
    _last_seq: int | None = None
    _offset: float | None = None  # server clock minus browser clock, seconds (lowest seen)
    _offset_at: float = 0.0
    _last_t: float = -math.inf

    def receive(self, data: Any) -> bool:
        """Take one message from the channel; True when its points went to the tracker."""
        now = self._arrive()
        if now is None:
            return False
        try:
            msg = parse_landmarks(data)
        except LandmarkError as e:
            self._refuse(now, str(e))
            return False
        if self._last_seq is not None and msg.seq <= self._last_seq:
            if self._last_seq - msg.seq > REWIND_LIMIT:
                self._refuse(now, f"sequence went back from {self._last_seq} to {msg.seq}")
            else:
                self.stale += 1  # newest wins: an older frame that arrived late
            return False
        self._last_seq = msg.seq
        # never earlier than the last one: the filters step forward in time, whatever a
        # peer writes into its capture times
        t = self._last_t = max(self._server_time(msg.captured_ms, now), self._last_t)
        self.sink.submit_landmarks(msg.points, msg.image_size, t)
        self.accepted += 1
        return True

    def _server_time(self, captured_ms: float, now: float) -> float:
        """The capture time on the server's clock: the browser's time plus the smallest
        offset seen (the least-delayed message), so network jitter does not shake the
        filters; the offset may creep up slowly (clock drift, a route that got slower), and
        a time is never later than its arrival nor more than MAX_AGE before it (a page whose
        clock jumped cannot freeze the face in the past)."""
        captured = captured_ms / 1000.0
        seen = now - captured
        if self._offset is None or seen < self._offset:
            self._offset = seen
        else:
            self._offset = min(seen, self._offset + (now - self._offset_at) * 0.01)
        self._offset_at = now
        return min(now, max(captured + self._offset, now - MAX_AGE))


def sends_video(sdp: str) -> bool:
    """Whether an offer sends video to us (a video section that is sendrecv or sendonly; a
    section without a direction is sendrecv): a browser-tracked session must not send it,
    its camera stays in the browser."""
    sections: list[tuple[str, str]] = []  # (media, direction)
    for line in sdp.splitlines():
        line = line.strip()
        if line.startswith("m="):
            sections.append((line[2:].split(" ", 1)[0], "sendrecv"))
        elif sections and line in ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"):
            sections[-1] = (sections[-1][0], line[2:])
    return any(m == "video" and d in ("sendrecv", "sendonly") for m, d in sections)


def offer_tracking(offer: Any) -> str:
    """Where a puppet offer wants its face tracked: its `"tracking"`, "browser" or "server"
    (the default: older pages and other clients send their webcam), or "none" (camera-less:
    no video, no landmarks; the voice channel may still come). A ValueError says what
    is wrong, e.g. a browser-tracked offer that still sends video."""
    mode = offer.get("tracking", "server") if isinstance(offer, dict) else "server"
    if mode not in ("browser", "server", "none"):
        raise ValueError(
            f'"tracking" must be "browser" or "server" (or "none": camera-less), not {mode!r:.40}'
        )
    sdp = offer.get("sdp") if isinstance(offer, dict) else offer
    if mode == "none" and isinstance(sdp, str) and sends_video(sdp):
        raise ValueError(
            'with "tracking": "none" (camera-less) the offer must not send video: receive '
            "the avatar on a recvonly section"
        )
    if mode == "browser" and isinstance(sdp, str) and sends_video(sdp):
        raise ValueError(
            'with "tracking": "browser" the offer must not send video (the camera stays in '
            "the browser): receive the avatar on a recvonly section, send landmarks on the "
            '"landmarks" data channel'
        )
    return mode


def attach(session: Any, channel: Any, heard: Callable[[float], None]) -> LandmarkIntake | None:
    """Take a peer's `landmarks` channel for its browser-tracked session: each message goes
    through the session's one `LandmarkIntake` (one per session, however many channels, so
    the rate limit holds), and `heard(now)` is told of every message (the silent-peer
    watchdog counts them like webcam frames). A server-tracked session ignores the channel:
    its face comes from its video."""
    if getattr(session, "tracking_source", "server") != "browser" or session.worker is None:
        return None
    intake = session.landmarks
    if intake is None:
        intake = session.landmarks = LandmarkIntake(
            session.worker, clock=session.clock, name=str(session.id)
        )

    @channel.on("message")
    def on_message(raw: Any) -> None:
        try:
            heard(intake.clock())
            intake.receive(raw)
        except Exception as e:  # a bug of ours must not take the channel down with it
            intake._refuse(intake.clock(), f"internal error: {type(e).__name__}: {e}")

    return intake
