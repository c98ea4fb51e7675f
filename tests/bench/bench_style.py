"""Benchmark: avatar generation per style at 512 (engine/style).

    .venv/bin/python -m tests.bench.bench_style [--runs 5]

Per style, the median over runs of: Stage 1 (landmarks, crop), segmentation, each step of
Stage 2 (the toon pipeline) and Stage 3, and the whole `generate` call, on the astronaut
photo. Target: at most 1000 ms per style on the CPU. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from engine.style import STYLES, generate, pipeline, post
from engine.style import face as stage1
from engine.style.styles import style_params
from tests.photos import astronaut


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    photo = astronaut()
    dev = pipeline.device()
    print(f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"torch {torch.__version__} threads {torch.get_num_threads()}, device {dev}")  # fmt: skip
    generate(photo, STYLES[0])  # warm up MediaPipe graphs and torch
    for style in STYLES:
        rows: dict[str, list[float]] = {}
        for _ in range(args.runs):
            t: dict[str, float] = {}
            t0 = time.perf_counter()
            found = stage1.process_face(photo, 512)
            t1 = time.perf_counter()
            mask = post.person_mask(found.crop)
            t2 = time.perf_counter()
            styled, _, m = pipeline.stylize(found.crop, found.landmarks, style_params(style),
                                            mask=mask, dev=dev, timings=t)  # fmt: skip
            t3 = time.perf_counter()
            post.outputs(styled, m, enhance_details=False, output_size=512)
            t4 = time.perf_counter()
            g0 = time.perf_counter()
            generate(photo, style)
            total = (time.perf_counter() - g0) * 1000
            for k, v in {"face": (t1 - t0) * 1000, "segment": (t2 - t1) * 1000, **t,
                         "stage2": (t3 - t2) * 1000, "post": (t4 - t3) * 1000,
                         "generate": total}.items():  # fmt: skip
                rows.setdefault(k, []).append(v)
        med = {k: statistics.median(v) for k, v in rows.items()}
        print(f"{style:15s} " + "  ".join(f"{k} {v:6.1f}" for k, v in med.items()) + "  ms")


if __name__ == "__main__":
    main()
