"""Benchmark: measuring the person in a photo (engine/likeness/measure.py) at 512 pixels,
and assembling the character (engine/likeness/assemble.py).

    .venv/bin/python -m tests.bench.bench_likeness [--runs 7]

For each real face photo (tests/photos.py) scaled to 512 on its longer side: the median
time of `measure` (MediaPipe landmarks and segmentation included), and of its parts: the
scene (MediaPipe and the working crop) and the measurements on it. The first call, which
starts MediaPipe's graphs, is left out. Then the character: `character_from` and
`assemble` (recoloured atlas, hairstyle pictures, rig JSON, bundle), after the server's
start-up warm-up (`recolor.warm_up`, timed on its own), each time with a new palette so no
cache answers. Issue 14's budget is 500 ms for measure + assemble.

Prints figures; asserts nothing (timings belong in docs/PERFORMANCE.md, not in the suite).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from PIL import Image

from engine.likeness import recolor
from engine.likeness.assemble import assemble
from engine.likeness.character import character_from
from engine.likeness.measure import measure, measure_scene
from engine.likeness.measure_geometry import scene_of
from engine.likeness.measure_types import Colour
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
    t0 = time.perf_counter()
    recolor.warm_up()
    print(f"recolour warm-up (once, at server start): {(time.perf_counter() - t0) * 1000:.0f} ms")
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
        character = character_from(measure(photo))
        shifts = iter(range(1, 1000))

        def build(c=character, shifts=shifts) -> None:
            # a skin one level different each time: no palette cache can answer
            k = next(shifts)
            r, g, b = Colour.from_hex(c.skin).srgb if c.skin else (200, 150, 120)
            assemble(c.with_overrides({"skin": f"#{(r + k) % 256:02x}{g:02x}{b:02x}"}))

        asm = _median_ms(build, args.runs)
        print(f"{name}: character {character.hairstyle}; assemble median {asm:.0f} ms; "
              f"measure + assemble {total + asm:.0f} ms (budget 500)")  # fmt: skip


if __name__ == "__main__":
    main()
