"""Video frames for the encoder: the GPU converter's I420 buffer (Y, then U, then V, top row
first) into a PyAV frame, stamped on the 90 kHz RTP clock."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from av import VideoFrame

VIDEO_TIME_BASE = Fraction(1, 90_000)


def frame_from_i420(i420: np.ndarray, seconds: float) -> VideoFrame:
    """A yuv420p frame from a (3h/2, w) uint8 I420 buffer, at `seconds` on the stream's
    clock. The frame wraps the buffer itself, so the caller must not write to the buffer
    afterwards (the converter makes a new one every frame). PyAV's copy into a frame of its
    own cost the render thread 0.14-0.23 ms a 512x512 frame with the GIL held; FFmpeg now
    copies the frame once inside the encoder (a memcpy, on the encoder's thread, off the
    GIL), docs/PERFORMANCE.md."""
    h = i420.shape[0] * 2 // 3
    if h % 4 == 0 and i420.flags.c_contiguous:
        # PyAV reads the height of a wrapped buffer as rows // 6 * 4: whole only for h % 4 == 0
        frame = VideoFrame.from_numpy_buffer(i420, format="yuv420p")
    else:
        frame = VideoFrame.from_ndarray(i420, format="yuv420p")
    frame.time_base = VIDEO_TIME_BASE
    frame.pts = round(seconds * 90_000)
    return frame
