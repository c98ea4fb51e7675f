"""A looping video background as the marketplace stores it (docs/MARKETPLACE.md, "Package"):
the creator's WebM (VP8/VP9) or MP4 (H.264) is decoded here with PyAV, checked (length,
size, every frame decodable) and kept only as our own small frames: the long side at most
STORED_SIDE, at most STORED_FPS and STORED_FRAMES, in one compressed .npz of uint8 RGB
frames plus its fps (what streaming/market_items.py `VideoBackdrop` loads). Nothing of the
file as sent is kept, so a crafted container never reaches a live session.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from webapi.errors import Invalid, TooLarge

MAX_SECONDS = 10.0
MIN_SECONDS = 0.5
MAX_SIZE = (1920, 1080)  # long side, short side
STORED_SIDE = 640  # a backdrop is soft and scaled anyway; 640x360 x 120 frames is 83 MB decoded
STORED_FPS = 15
STORED_FRAMES = 120  # 8 s at 15 fps
MAX_DECODED = 2400  # frames decoded at most (10 s at 240 fps): bounds the work of a bad file
CODECS = {"vp8", "vp9", "h264"}
CONTAINERS = ("matroska", "webm", "mov", "mp4")


@dataclass(frozen=True, eq=False)
class Loop:
    """The stored frames, (n, h, w, 3) uint8, shown at `fps` and looped."""

    frames: np.ndarray
    fps: int

    def npz(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(buf, frames=self.frames, fps=np.array(self.fps, np.int32))
        return buf.getvalue()


def decode_loop(data: bytes, name: str) -> Loop:
    """`data` (the file `name`) checked and turned into our frames; Invalid or TooLarge name
    the file and what is wrong with it."""
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, ValueError, OSError):
        raise Invalid(f"{name}: not a video (WebM or MP4 expected)") from None
    with container:
        if not any(c in container.format.name for c in CONTAINERS):
            raise Invalid(f"{name}: a {container.format.name} file; expected WebM or MP4")
        if not container.streams.video:
            raise Invalid(f"{name}: holds no video stream")
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        if codec not in CODECS:
            raise Invalid(f"{name}: {codec} video; expected VP8, VP9 or H.264")
        _check_size(name, stream.codec_context.width, stream.codec_context.height)
        if container.duration is not None and container.duration / 1e6 > MAX_SECONDS + 0.05:
            raise TooLarge(
                f"{name}: {container.duration / 1e6:.1f} s long; at most {MAX_SECONDS:g} s"
            )
        rate = stream.average_rate or stream.guessed_rate or Fraction(STORED_FPS)
        fps = max(1, min(STORED_FPS, round(float(rate))))
        try:
            return _frames(container, stream, name, fps, float(rate))
        except (av.FFmpegError, ValueError) as e:
            raise Invalid(f"{name}: cannot be decoded throughout ({e})") from None


def _check_size(name: str, w: int, h: int) -> None:
    if w <= 0 or h <= 0:
        raise Invalid(f"{name}: the video has no picture size")
    if max(w, h) > MAX_SIZE[0] or min(w, h) > MAX_SIZE[1]:
        raise TooLarge(f"{name}: {w}x{h}; at most {MAX_SIZE[0]}x{MAX_SIZE[1]}")


def _frames(container, stream, name: str, fps: int, rate: float) -> Loop:
    """Decode every frame; keep, for each of our times k/fps, the last frame shown by then
    (so a 60 fps source keeps every fourth frame, a 10 fps one each frame once)."""
    kept: list[np.ndarray] = []
    prev = None  # (time, frame) of the newest decoded frame
    last_t = 0.0
    scaled: tuple[int, int] | None = None
    slack = 0.25 / rate

    def keep(frame) -> None:
        nonlocal scaled
        if scaled is None:
            w, h = frame.width, frame.height
            _check_size(name, w, h)
            k = min(1.0, STORED_SIDE / max(w, h))
            scaled = (max(2, round(w * k)) // 2 * 2, max(2, round(h * k)) // 2 * 2)
        px = frame.to_ndarray(format="rgb24", width=scaled[0], height=scaled[1])
        kept.append(np.ascontiguousarray(px, np.uint8))

    for decoded, frame in enumerate(container.decode(stream), 1):
        if decoded > MAX_DECODED:
            raise TooLarge(f"{name}: over {MAX_DECODED} frames")
        t = float(frame.time) if frame.time is not None else (decoded - 1) / rate
        if t > MAX_SECONDS:
            raise TooLarge(f"{name}: over {MAX_SECONDS:g} s long")
        # a quarter of a source frame's slack: container times are rounded (ms in WebM)
        while prev is not None and len(kept) < STORED_FRAMES and len(kept) / fps < t - slack:
            keep(prev[1])
        prev = (t, frame)
        last_t = max(last_t, t)
    if prev is None:
        raise Invalid(f"{name}: holds no frames")
    seconds = last_t + 1 / rate
    if seconds < MIN_SECONDS:
        raise Invalid(f"{name}: {seconds:.2f} s long; at least {MIN_SECONDS:g} s")
    if seconds > MAX_SECONDS + 0.05:
        raise TooLarge(f"{name}: {seconds:.1f} s long; at most {MAX_SECONDS:g} s")
    # + 0.05: container times are rounded (WebM keeps milliseconds)
    total = min(STORED_FRAMES, max(1, math.floor(seconds * fps + 0.05)))
    while len(kept) < total:
        keep(prev[1])
    return Loop(np.stack(kept[:total]), fps)
