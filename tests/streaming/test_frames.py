"""`frame_from_i420`: the converter's I420 buffer as the encoder's frame, wrapped without a
copy where PyAV reads the buffer's layout right, copied where it would not."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from streaming.encoder import open_vp8
from streaming.frames import frame_from_i420


def _i420(w: int, h: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h * 3 // 2, w), np.uint8)


@pytest.mark.parametrize(("w", "h"), [(512, 512), (384, 384), (1280, 720), (64, 66), (18, 10)])
def test_the_frame_holds_the_buffer_plane_by_plane(w: int, h: int) -> None:
    i420 = _i420(w, h)
    frame = frame_from_i420(i420, 1.5)
    assert (frame.width, frame.height, frame.format.name) == (w, h, "yuv420p")
    assert frame.pts == 135_000 and float(frame.time_base * frame.pts) == 1.5
    y, u, v = (np.frombuffer(p, np.uint8).reshape(-1, p.line_size) for p in frame.planes)
    assert np.array_equal(y[:h, :w], i420[:h])
    chroma = i420[h:].reshape(2, h // 2, w // 2)  # U's rows, then V's, each w/2 wide
    assert np.array_equal(u[: h // 2, : w // 2], chroma[0])
    assert np.array_equal(v[: h // 2, : w // 2], chroma[1])


def test_a_wrapped_frame_outlives_the_callers_reference_and_encodes() -> None:
    # the frame keeps the buffer alive: the render worker drops its reference at once
    frames = [frame_from_i420(_i420(64, 64, seed=i), i / 30) for i in range(3)]
    gc.collect()
    encoder = open_vp8(64, 64, 30, 200_000)
    packets = [p for f in frames for p in encoder.encode(f)] + list(encoder.encode(None))
    assert len(packets) == 3 and all(p.size > 0 for p in packets)
