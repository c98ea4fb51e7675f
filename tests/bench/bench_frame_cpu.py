"""Benchmark: process CPU per live frame, what a CPU-only host pays for each one. A frame is
what streaming/render_worker.py does per output: `AvatarRenderer.draw` + GPU yuv conversion
+ readback (`VideoConverter.convert_i420`), here of Digi walking and waving, per framing.

    .venv/bin/python -m tests.bench.bench_frame_cpu [--frames 300] [--size 512]
        [--framing full bust face] [--layout opaque|packed] [--rounds 1]

Process CPU (time.process_time: every thread of the process, so llvmpipe's rasterizer
threads count) is summed over the draws and conversions only, not the engine tick; on a
machine shared with others it is steadier than wall time, which is printed too (median and
p95 per frame). Run it again with LP_NUM_THREADS=1 to see llvmpipe without its helper
threads. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import numpy as np

import engine
from engine.assets import load_bundle
from engine.render import AvatarRenderer, create_context
from engine.render.context import describe
from engine.render.video import VideoConverter
from engine.session import AvatarSession, Inputs

DT = 1 / 60
WARMUP = 30


def _rusage_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(
    renderer: AvatarRenderer,
    conv: VideoConverter,
    session: AvatarSession,
    framing: str,
    frames: int,
) -> tuple[np.ndarray, float, float]:
    """(wall ms per frame, process CPU ms per frame, getrusage CPU ms per frame)."""
    wall, cpu, rus = [], 0.0, 0.0
    for k in range(WARMUP + frames):
        session.step(DT)
        c0, r0, t0 = time.process_time(), _rusage_cpu(), time.perf_counter()
        renderer.draw(session.pose, framing)
        conv.convert_i420()
        t1, c1, r1 = time.perf_counter(), time.process_time(), _rusage_cpu()
        if k >= WARMUP:
            wall.append((t1 - t0) * 1e3)
            cpu += c1 - c0
            rus += r1 - r0
    return np.array(wall), cpu * 1e3 / frames, rus * 1e3 / frames


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rig", default="digi")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--framing", nargs="+", default=["full", "bust", "face"])
    ap.add_argument("--layout", default="opaque", choices=("opaque", "packed"))
    ap.add_argument("--rounds", type=int, default=1, help="measure every framing this often")
    args = ap.parse_args()

    bundle = load_bundle(args.rig)
    ctx = create_context()
    renderer = AvatarRenderer(ctx, bundle.rig, bundle.pictures(), (args.size, args.size))
    conv = VideoConverter(renderer, args.layout)
    print(f"engine: {os.path.dirname(engine.__file__)}")
    print(f"renderer: {describe(ctx)}; {platform.machine()}, {os.cpu_count()} cpus, "
          f"LP_NUM_THREADS={os.environ.get('LP_NUM_THREADS', '(default)')}")  # fmt: skip
    print(f"{args.rig} {args.size}x{args.size} {args.layout}: draw + convert_i420, "
          f"{args.frames} frames a framing, walking and waving")  # fmt: skip
    s = AvatarSession(bundle, seed=1)
    s.step(DT, Inputs(controls={"speed": 1.0}, transitions=["walk", "wave"]))
    for r in range(args.rounds):
        for framing in args.framing:
            wall, cpu, rus = measure(renderer, conv, s, framing, args.frames)
            print(f"  {framing:5s} process CPU {cpu:6.2f} ms/frame (getrusage {rus:6.2f}); "
                  f"wall median {np.median(wall):6.2f} ms, p95 {np.percentile(wall, 95):6.2f} ms"
                  + (f"  [round {r + 1}]" if args.rounds > 1 else ""))  # fmt: skip
    conv.release()
    renderer.release()


if __name__ == "__main__":
    main()
