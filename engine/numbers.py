"""The one check of a number that came from outside (a page, a saved document): a real
number, finite and within its range, or an error naming where it was and what is wrong."""

from __future__ import annotations

import math
from typing import Any


def number_in(
    v: Any, path: str, lo: float, hi: float, error: type[ValueError] = ValueError
) -> float:
    """`v` as a float within lo..hi, else `error("<path>: <why>")`. Booleans are not numbers
    (JSON's true is not 1), nor are NaN and the infinities."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise error(f"{path}: expected a number, got {type(v).__name__}")
    f = float(v)
    if not math.isfinite(f):
        raise error(f"{path}: must be a finite number")
    if not lo <= f <= hi:
        raise error(f"{path}: {f:g} is out of range {lo:g}..{hi:g}")
    return f
