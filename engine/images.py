"""The one check that a picture handed to the engine is an RGB uint8 array, shared by the
tracking landmarker and the style pipeline (each names the picture its own way)."""

from __future__ import annotations

import numpy as np


def check_rgb(
    image: object, what: str, error: type[Exception], min_side: int, too_small: str
) -> np.ndarray:
    """`image` as a C-contiguous uint8 (h, w, 3) array, or `error` saying what is wrong:
    `what` names it ("a frame", "the photo"); `too_small` is the complaint for a picture
    under `min_side` pixels, formatted with its {w} and {h}."""
    if not isinstance(image, np.ndarray):
        raise error(f"{what} must be a numpy array, not {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise error(f"{what} must be RGB of shape (height, width, 3), got {image.shape}")
    if image.dtype != np.uint8:
        raise error(f"{what} must be uint8, got {image.dtype}")
    h, w = image.shape[:2]
    if min(h, w) < min_side:
        raise error(too_small.format(w=w, h=h))
    return np.ascontiguousarray(image)
