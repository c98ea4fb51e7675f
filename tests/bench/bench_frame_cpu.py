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

    .venv/bin/python -m tests.bench.bench_frame_cpu --against /tmp/before [--frames 300]

compares this tree with an older checkout (`git worktree add /tmp/before e4524f6`: the code
before issue 11) in one process (tests/bench/older.py): both draw the same walk in turns of
`--turn` frames (default 30, half a second of a stream), and each frame's CPU is counted to
its side. A shared VM's speed wanders by tens of percent from minute to minute, so two runs
one after the other compare that wandering more than the code; short turns do not. Turns of
one frame (`--turn 1`, this script's method before 2026-12-07) make every frame follow the
other side's in the same GL context, which a stream never does (it draws its own frames in
a row): measured, they cost this tree's side 0.2-0.5 ms a frame more than turns of 30.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
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
    ap.add_argument("--against", help="an older checkout to compare with, in turns")
    ap.add_argument("--turn", type=int, default=30,
                    help="with --against: frames each side draws in a row before the other's turn")  # fmt: skip
    args = ap.parse_args()
    if args.turn < 1:
        ap.error("--turn must be at least 1")
    if args.against:
        against(args.against, args)
        return

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


def against(checkout: str, args: argparse.Namespace) -> None:
    """This tree and `checkout`'s engine, drawing the same walk in turns (see the module's
    docstring); prints each side's process CPU per frame and the change."""
    from tests.bench.older import import_engine

    older = import_engine(checkout)
    ctx = create_context()
    sides = []
    for assets, render, video, session in (
        (older("assets"), older("render"), older("render.video"), older("session")),
        (sys.modules["engine.assets"], sys.modules["engine.render"],
         sys.modules["engine.render.video"], sys.modules["engine.session"]),
    ):  # fmt: skip
        bundle = assets.load_bundle(args.rig)
        renderer = render.AvatarRenderer(ctx, bundle.rig, bundle.pictures(), (args.size,) * 2)
        s = session.AvatarSession(bundle, seed=1)
        s.step(DT, session.Inputs(controls={"speed": 1.0}, transitions=["walk", "wave"]))
        sides.append((renderer, video.VideoConverter(renderer, args.layout), s))
    print(f"renderer: {describe(ctx)}; {platform.machine()}, {os.cpu_count()} cpus")
    print(f"{args.rig} {args.size}x{args.size} {args.layout}: draw + convert_i420, "
          f"{args.frames} frames a framing in turns of {args.turn}: {checkout} (before) and this tree (after)")  # fmt: skip
    for r in range(args.rounds):
        for framing in args.framing:
            cpu = [0.0, 0.0]
            turn = args.turn
            for k in range(0, WARMUP + args.frames, turn):
                for i in (0, 1) if (k // turn) % 2 else (1, 0):  # who goes first alternates
                    renderer, conv, s = sides[i]
                    for j in range(k, min(k + turn, WARMUP + args.frames)):
                        s.step(DT)
                        c0 = time.process_time()
                        renderer.draw(s.pose, framing)
                        conv.convert_i420()
                        if j >= WARMUP:
                            cpu[i] += time.process_time() - c0
            before, after = (c * 1e3 / args.frames for c in cpu)
            print(f"  {framing:5s} before {before:6.2f} ms/frame, after {after:6.2f} ms/frame: "
                  f"{(after / before - 1) * 100:+.0f}%"
                  + (f"  [round {r + 1}]" if args.rounds > 1 else ""))  # fmt: skip
    for renderer, conv, _ in sides:
        conv.release()
        renderer.release()


if __name__ == "__main__":
    main()
