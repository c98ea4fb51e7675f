"""Stage 3, post-processing: optional detail enhancement (unsharp mask) and colour profile,
the transparent-background version (MediaPipe selfie segmentation through
`engine.tracking.segmenter`), and the output sizes.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

SIZES = {"thumbnail": 128, "profile": 256, "hd": 1024}


def person_mask(rgb: np.ndarray) -> np.ndarray:
    """Float (h, w) mask of the person in an RGB uint8 picture, 1 on the person."""
    from engine.tracking.segmenter import segment_person  # the MediaPipe boundary

    return segment_person(rgb)


def enhance(rgb: np.ndarray, amount: float = 0.8) -> np.ndarray:
    """Detail enhancement: an unsharp mask that crisps lines and edges."""
    img = Image.fromarray(rgb)
    return np.asarray(img.filter(ImageFilter.UnsharpMask(radius=2, percent=int(amount * 100),
                                                         threshold=2)))  # fmt: skip


def colour_profile(rgb: np.ndarray) -> np.ndarray:
    """The display colour profile (sRGB): the pipeline already works in sRGB values, so this
    only makes sure the values are uint8 sRGB, contiguous."""
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def resize(rgb: np.ndarray, size: int) -> np.ndarray:
    img = Image.fromarray(rgb)
    if img.width == size:
        return np.asarray(img).copy()
    out = img.resize((size, size), Image.LANCZOS)
    if size > img.width:  # an upscale: sharpen a little so hd is not only bigger
        out = out.filter(ImageFilter.UnsharpMask(radius=2, percent=60, threshold=1))
    return np.asarray(out)


def transparent(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGBA (straight alpha): the person opaque, the background transparent, edges soft."""
    m = np.clip((np.asarray(mask, dtype=np.float32) - 0.25) / 0.5, 0.0, 1.0)
    alpha = np.asarray(
        Image.fromarray((m * 255 + 0.5).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.0))
    )
    return np.dstack([rgb, alpha])


def outputs(styled: np.ndarray, mask: np.ndarray, *, enhance_details: bool,
            output_size: int) -> dict[str, np.ndarray]:  # fmt: skip
    """The five outputs from the styled image and the person mask (both at the same size)."""
    rgb = enhance(styled) if enhance_details else styled
    rgb = colour_profile(rgb)
    full = resize(rgb, output_size)
    m = mask
    if m.shape[0] != output_size:
        m = np.asarray(Image.fromarray(mask.astype(np.float32), mode="F").resize(
            (output_size, output_size), Image.BILINEAR))  # fmt: skip
    out = {"full": full, "transparent": transparent(full, m)}
    for name, size in SIZES.items():
        out[name] = resize(rgb, size)
    return out
