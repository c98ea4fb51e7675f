"""Fixtures shared by the streaming tests."""

from __future__ import annotations

import numpy as np
import pytest

from tests.photos import astronaut


@pytest.fixture(scope="module")
def face_frames() -> list[np.ndarray]:
    """A webcam frame (640x480) with a real face in it: the astronaut photo on grey."""
    canvas = np.full((480, 640, 3), 80, np.uint8)
    canvas[:, 64:576] = astronaut()[16:496]
    return [canvas]
