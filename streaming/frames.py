"""Video frames for the encoder: the GPU converter's I420 buffer (Y, then U, then V, top row
first) into a PyAV frame, stamped on the 90 kHz RTP clock."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from av import VideoFrame

VIDEO_TIME_BASE = Fraction(1, 90_000)


def frame_from_i420(i420: np.ndarray, seconds: float) -> VideoFrame:
    """A yuv420p frame from a (3h/2, w) uint8 I420 buffer, at `seconds` on the stream's
    clock. PyAV copies it into its own (possibly padded) lines, so the buffer may be reused."""
    frame = VideoFrame.from_ndarray(i420, format="yuv420p")
    frame.time_base = VIDEO_TIME_BASE
    frame.pts = round(seconds * 90_000)
    return frame
