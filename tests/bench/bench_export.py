"""Benchmark: exporting Digi's walk at 512 px as each format (each in a job of its own, so
baking the walk, the GL context and the renderer count in every row), and how big each is.

    .venv/bin/python -m tests.bench.bench_export [--size 512] [--fps 30] [--animation walk]
        [--format gif ...]

Prints figures; asserts nothing. Record results in docs/PERFORMANCE.md ("Exports")."""

from __future__ import annotations

import argparse
import os
import platform
import time

from engine.export.bake import bake
from engine.export.job import Job
from engine.export.run import check, run
from engine.export.subject import digi
from engine.render.context import create_context, describe


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--animation", default="walk")
    ap.add_argument("--format", dest="formats", action="append", default=None)
    args = ap.parse_args()

    subject = digi()
    ctx = create_context()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"GL: {describe(ctx)}")  # fmt: skip
    ctx.release()
    t = time.perf_counter()
    take = bake(subject, args.animation, args.fps)
    print(f"bake {args.animation}: {len(take.frames)} frames in "
          f"{(time.perf_counter() - t) * 1000:.0f} ms")  # fmt: skip
    formats = check(subject, args.formats or ["all"], [args.animation], args.size, args.fps)
    print(f"{'format':<18} {'seconds':>8} {'files':>6} {'bytes':>12}")
    for f in formats:
        job = Job(subject, [args.animation], args.size, args.fps)
        t = time.perf_counter()
        try:
            out = run(job, [f])
        except Exception as e:  # a preset that cannot meet its limit says so
            print(f"{f.name:<18} {'-':>8} {'-':>6} {type(e).__name__}: {e}")
            continue
        seconds = time.perf_counter() - t
        size = sum(len(o.data) for o in out)
        print(f"{f.name:<18} {seconds:8.2f} {len(out):6d} {size:12,d}")


if __name__ == "__main__":
    main()
