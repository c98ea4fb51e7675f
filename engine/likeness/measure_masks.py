"""Mask arithmetic for the measurements, in numpy: dilation and erosion by squares (running
sums, so any size costs the same), connected parts reached from seeds (run-length labels),
and box blurs. The engine does not use scipy or OpenCV for image work."""

from __future__ import annotations

import numpy as np


def box_count(mask: np.ndarray, size: int) -> np.ndarray:
    """How many pixels of a size x size square round each pixel are set (outside: unset)."""
    r = size // 2
    x = np.pad(mask.astype(np.int32), ((r + 1, r), (r + 1, r)))
    x = np.cumsum(x, axis=0)
    x = x[size:] - x[:-size]
    x = np.cumsum(x, axis=1)
    return x[:, size:] - x[:, :-size]


def morph(mask: np.ndarray, size: int, op: str) -> np.ndarray:
    """Dilate or erode a mask by a size x size square (running sums: any size, same cost)."""
    count = box_count(mask, size)
    return count > 0 if op == "dilate" else count >= size * size


def odd(x: float) -> int:
    return max(3, int(x) // 2 * 2 + 1)


def connected_to(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The parts of `mask` connected (4-neighbours) to any seed pixel.

    Labels runs of pixels along rows and joins runs that overlap in the next row (union by
    hooking and pointer jumping, all in numpy), so it costs about the number of runs."""
    h, w = mask.shape
    d = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(d == 1)
    _, ends = np.nonzero(d == -1)  # row-major order: run k starts and ends in row rows[k]
    n = len(rows)
    if n == 0:
        return np.zeros_like(mask)
    big = w + 2
    key_start = rows * big + starts
    key_end = rows * big + ends
    lo = np.searchsorted(key_end, (rows + 1) * big + starts, side="right")
    hi = np.searchsorted(key_start, (rows + 1) * big + ends, side="left")
    count = np.maximum(hi - lo, 0)
    a = np.repeat(np.arange(n), count)
    b = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(count.sum())
    label = np.arange(n)
    while len(a):
        la, lb = label[a], label[b]
        differ = la != lb
        if not differ.any():
            break
        hi_l, lo_l = np.maximum(la[differ], lb[differ]), np.minimum(la[differ], lb[differ])
        np.minimum.at(label, hi_l, lo_l)
        while True:  # pointer jumping: every run points at its root
            nxt = label[label]
            if (nxt == label).all():
                break
            label = nxt
    ys, xs = np.nonzero(seeds & mask)
    if len(ys) == 0:
        return np.zeros_like(mask)
    run = np.searchsorted(key_start, ys * big + xs + 1, side="right") - 1
    keep = np.zeros(n, bool)
    keep[np.unique(label[run])] = True
    sel = keep[label]
    out = np.zeros((h, w + 1), np.int32)
    np.add.at(out, (rows[sel], starts[sel]), 1)
    np.add.at(out, (rows[sel], ends[sel]), -1)
    return np.cumsum(out, axis=1)[:, :w] > 0


def box_blur(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 box, edges clamped (separable running sums)."""
    k = 2 * r + 1
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (r + 1, r)
        c = np.cumsum(np.pad(x, pad, mode="edge"), axis=axis)
        x = (np.take(c, range(k, c.shape[axis]), axis=axis)
             - np.take(c, range(0, c.shape[axis] - k), axis=axis)) / k  # fmt: skip
    return x
