"""Benchmark: face tracking per camera frame.

    .venv/bin/python -m tests.bench.bench_tracking [--frames 300]

- the landmarker (MediaPipe FaceMesh, refined, video mode) on 640x480 frames of a real
  face photo that moves (a roll sweep with a drift), as a webcam would give them: wall
  time per frame, and process CPU per frame (its cost in cores at a camera's 30 fps, what
  server tracking's goal in issue 11 allows for it);
- the solver + calibration + filters (`FaceTracker.observe`) per camera frame, and the
  per-tick side (`FaceTracker.parameters`: predictor + retargeting + presence blend).
  Target for solver + filters: at most 0.3 ms per frame.

Prints figures; asserts nothing (timings belong in docs/PERFORMANCE.md, not in the suite).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from skimage.transform import rotate

from engine.assets import load_bundle
from engine.tracking import FaceTracker, solve
from engine.tracking.landmarker import FaceLandmarker
from tests.photos import astronaut


def _frames(n: int) -> list[np.ndarray]:
    """640x480 frames: the astronaut's face turning through a roll sweep, drifting."""
    photo = astronaut()
    out = []
    for k in range(n):
        a = 20 * np.sin(2 * np.pi * k / 90)
        img = (rotate(photo, a, mode="edge") * 255).astype(np.uint8)
        canvas = np.full((480, 640, 3), 90, np.uint8)
        dx = int(40 + 30 * np.sin(2 * np.pi * k / 150))
        canvas[:, dx : dx + 480] = img[16:496, 16:496]
        out.append(canvas)
    return out


def _stats(ms: np.ndarray) -> str:
    return (f"median {np.median(ms):.3f} ms, mean {ms.mean():.3f} ms, "
            f"p95 {np.percentile(ms, 95):.3f} ms, p99 {np.percentile(ms, 99):.3f} ms")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}, "
          f"{os.cpu_count()} cpus")  # fmt: skip
    frames = _frames(min(args.frames, 180))
    bundle = load_bundle("digi")
    assert bundle.tracking is not None

    results = []
    lm_ms = []
    with FaceLandmarker() as lm:
        for _ in range(3):  # warm-up: graph start, first detection
            lm.process(frames[0])
        cpu0 = time.process_time()
        for k in range(args.frames):
            t0 = time.perf_counter_ns()
            res = lm.process(frames[k % len(frames)])
            lm_ms.append((time.perf_counter_ns() - t0) / 1e6)
            results.append(res)
        # every thread of the process: MediaPipe's graph and XNNPACK threads do the work
        lm_cpu = (time.process_time() - cpu0) * 1e3 / args.frames
    found = sum(r.found for r in results)
    print(f"landmarker 640x480 (video mode, refined 478 points): {_stats(np.array(lm_ms))} "
          f"over {args.frames} frames; face found in {found}")  # fmt: skip
    print(f"landmarker process CPU: {lm_cpu:.3f} ms a frame (every thread) = "
          f"{lm_cpu * 30 / 1e3:.3f} cores at a 30 fps camera")  # fmt: skip

    faces = [r for r in results if r.found]
    solve_ms, observe_ms, tick_ms = [], [], []
    tracker = FaceTracker(bundle.tracking, bundle.rig)
    for _ in range(20):  # warm caches (the reference face, numpy paths)
        tracker.observe(solve(faces[0].landmarks, faces[0].image_size), 0.0)
    t = 1.0
    for k in range(max(args.frames, 600)):
        r = faces[k % len(faces)]
        t0 = time.perf_counter_ns()
        signals = solve(r.landmarks, r.image_size)
        t1 = time.perf_counter_ns()
        tracker.observe(signals, t)
        t2 = time.perf_counter_ns()
        tracker.parameters(t + 1 / 60, 1 / 60)
        tracker.parameters(t + 2 / 60, 1 / 60)
        t3 = time.perf_counter_ns()
        solve_ms.append((t1 - t0) / 1e6)
        observe_ms.append((t2 - t0) / 1e6)
        tick_ms.append((t3 - t2) / 2e6)
        t += 1 / 30
    print(f"solver alone: {_stats(np.array(solve_ms))}")
    print(f"solver + calibration + filters per camera frame: {_stats(np.array(observe_ms))}")
    print(f"per engine tick (predictor + retargeting + presence): {_stats(np.array(tick_ms))}")


if __name__ == "__main__":
    main()
