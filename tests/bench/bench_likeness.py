"""Benchmark: measuring the person in a photo (engine/likeness/measure.py) at 512 pixels.

    .venv/bin/python -m tests.bench.bench_likeness [--runs 7]

For each real face photo (tests/photos.py) scaled to 512 on its longer side: the median
time of `measure` (MediaPipe landmarks and segmentation included), and of its parts: the
scene (MediaPipe and the working crop) and the measurements on it. The first call, which
starts MediaPipe's graphs, is left out. Issue 14's budget is 500 ms for measure + assemble.

Prints figures; asserts nothing (timings belong in docs/PERFORMANCE.md, not in the suite).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from PIL import Image

from engine.likeness.measure import measure, measure_scene
from engine.likeness.measure_geometry import scene_of
from tests.photos import PHOTOS


def _at_512(photo: np.ndarray) -> np.ndarray:
    h, w = photo.shape[:2]
    k = 512 / max(h, w)
    return np.asarray(Image.fromarray(photo).resize((round(w * k), round(h * k)), Image.LANCZOS))


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}, "
          f"{os.cpu_count()} cpus")  # fmt: skip
    for name, load in PHOTOS.items():
        photo = _at_512(load())
        measure(photo)  # MediaPipe's graphs start here
        scene = scene_of(photo)
        total = _median_ms(lambda p=photo: measure(p), args.runs)
        mp = _median_ms(lambda p=photo: scene_of(p), args.runs)
        rest = _median_ms(lambda s=scene: measure_scene(s), args.runs)
        print(f"{name} {photo.shape[1]}x{photo.shape[0]}: measure median {total:.0f} ms "
              f"(scene: MediaPipe + crop {mp:.0f} ms, measurements {rest:.0f} ms), "
              f"face {scene.face_width / scene.scale:.0f} px wide")  # fmt: skip


if __name__ == "__main__":
    main()
