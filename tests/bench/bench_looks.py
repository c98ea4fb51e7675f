"""Benchmark: what a render style (engine/render/looks.py) costs a frame: Digi drawn at 512
(full body and face) as drawn, and in each style (the avatar into its own texture, then the
style pass over the frame's bounds), with the GPU finished each frame (a 1-pixel read).

    .venv/bin/python -m tests.bench.bench_looks [--frames 200]

Prints the median ms per frame; asserts nothing (docs/PERFORMANCE.md holds the figures).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from engine.assets import load_bundle
from engine.render import AvatarRenderer, create_context
from engine.render.context import describe
from engine.render.looks import LOOK_NAMES, render_style
from engine.session import AvatarSession


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200)
    args = ap.parse_args()
    ctx = create_context()
    bundle = load_bundle("digi")
    renderer = AvatarRenderer(ctx, bundle.rig, bundle.pictures(), (512, 512))
    session = AvatarSession(bundle, seed=3)
    print(f"{platform.processor() or platform.machine()}; {describe(ctx)}")
    for framing in ("full", "face"):
        for name in LOOK_NAMES:
            style = render_style(name)
            times = []
            for _ in range(args.frames):
                session.advance(1 / 60)
                t0 = time.perf_counter()
                renderer.draw(session.pose, framing, style=style)
                ctx.finish()
                times.append((time.perf_counter() - t0) * 1000)
            print(f"{framing:5s} {name:15s} {np.median(times[10:]):6.2f} ms")


if __name__ == "__main__":
    main()
