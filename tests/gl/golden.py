"""Golden-image comparison: small fixed renders, compared per channel with a tolerance.
On failure the actual picture and a diff picture are written next to the golden (in
`_actual/`) so a person can look. `DIGIGAMI_UPDATE_GOLDENS=1` rewrites the goldens."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

GOLDENS = Path(__file__).parent / "goldens"
ACTUAL = Path(__file__).parent / "_actual"


def assert_matches_golden(
    name: str, pixels: np.ndarray, tolerance: int = 6, max_bad: float = 0.002
) -> None:
    """`pixels` (h, w, 4) uint8 must match `goldens/<name>.png`: at most `max_bad` of the
    pixels may differ by more than `tolerance` in any channel."""
    path = GOLDENS / f"{name}.png"
    if os.environ.get("DIGIGAMI_UPDATE_GOLDENS") == "1" or not path.exists():
        if os.environ.get("CI") and not path.exists():
            raise AssertionError(
                f"golden {path} is missing; generate it with DIGIGAMI_UPDATE_GOLDENS=1"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, "RGBA").save(path)
        return
    golden = np.asarray(Image.open(path).convert("RGBA"))
    if golden.shape != pixels.shape:
        _write_failure(name, pixels, None)
        raise AssertionError(
            f"{name}: size {pixels.shape[:2]} differs from the golden's {golden.shape[:2]}"
        )
    diff = np.abs(golden.astype(np.int16) - pixels.astype(np.int16)).max(axis=2)
    bad = float((diff > tolerance).mean())
    if bad > max_bad:
        _write_failure(name, pixels, diff)
        raise AssertionError(
            f"{name}: {bad:.2%} of pixels differ by more than {tolerance} (allowed {max_bad:.2%}); "
            f"see {ACTUAL / (name + '.png')} and {ACTUAL / (name + '.diff.png')}"
        )


def _write_failure(name: str, pixels: np.ndarray, diff: np.ndarray | None) -> None:
    ACTUAL.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGBA").save(ACTUAL / f"{name}.png")
    if diff is not None:
        vis = np.clip(diff.astype(np.int32) * 8, 0, 255).astype(np.uint8)
        Image.fromarray(vis, "L").save(ACTUAL / f"{name}.diff.png")
