"""Real face photos that ship with installed packages (nothing is downloaded): the test
faces for tracking, and the sources of the reference face."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np


def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def grace_hopper() -> np.ndarray:
    import matplotlib.cbook
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB")).copy()


PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": astronaut,
    "grace_hopper": grace_hopper,
}


@lru_cache(maxsize=1)
def astronaut_landmarks() -> np.ndarray:
    """The astronaut's 478 landmarks, found once by the real landmarker (read-only)."""
    from engine.tracking.landmarker import FaceLandmarker  # MediaPipe: only when asked

    with FaceLandmarker(static=True) as landmarker:
        result = landmarker.process(astronaut())
    assert result.landmarks is not None, "MediaPipe found no face on the astronaut"
    result.landmarks.flags.writeable = False
    return result.landmarks
