"""Benchmark: skin + draw + readback of an avatar at 512x512 through the GL renderer
(headless EGL: Mesa llvmpipe here, NVIDIA on a GPU host).

    .venv/bin/python -m tests.bench.bench_render [--rig digi] [--size 512] [--samples 0]
        [--framing full|bust|face] [--face astronaut:kingdom-hearts]

`--face` wears a generated avatar of a test photo (engine/face) and also times building it.

Prints figures; asserts nothing. Record results in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from engine.assets import load_bundle
from engine.render import AvatarRenderer, create_context
from engine.render.context import describe
from engine.session import AvatarSession, Inputs

DT = 1 / 60


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rig", default="digi")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--samples", type=int, default=0, help="MSAA samples (0 = off)")
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--framing", default="full", choices=("full", "bust", "face"))
    ap.add_argument("--face", help="photo:style, e.g. astronaut:kingdom-hearts")
    args = ap.parse_args()

    if args.face:
        from engine.face import wear_face
        from tests.worn import face_art

        art = face_art(*args.face.split(":"))
        builds = []
        for _ in range(3):
            t0 = time.perf_counter()
            bundle = wear_face(art, args.rig)
            builds.append((time.perf_counter() - t0) * 1e3)
        print(f"wear_face {args.face}: {min(builds):.0f} ms best of 3 ({', '.join(f'{b:.0f}' for b in builds)})")
    else:
        bundle = load_bundle(args.rig)
    ctx = create_context()
    renderer = AvatarRenderer(ctx, bundle.rig, bundle.pictures(), (args.size, args.size), args.samples)
    # every attachment's own triangles (hull and core variants not counted)
    triangles = sum(m.index_count for m in renderer.geometry.meshes.values()) // 3
    print(f"renderer: {describe(ctx)}; {platform.machine()}, {os.cpu_count()} cpus")
    print(f"rig {args.rig}: {len(bundle.rig.bones)} bones, {len(renderer.geometry.bones)} GPU vertices, "
          f"{triangles} triangles in all attachments; {args.size}x{args.size}, MSAA {renderer.samples or 'off'}")  # fmt: skip
    s = AvatarSession(bundle, seed=1)
    s.step(DT, Inputs(controls={"speed": 1.0}, transitions=["walk", "wave"]))
    render_ms, tick_ms = [], []
    for k in range(60 + args.frames):
        t0 = time.perf_counter()
        s.step(DT)
        t1 = time.perf_counter()
        renderer.render(s.pose, args.framing)
        t2 = time.perf_counter()
        if k >= 60:
            tick_ms.append((t1 - t0) * 1e3)
            render_ms.append((t2 - t1) * 1e3)
    print(f"last frame: {renderer.triangles_drawn} triangles drawn (hidden slots and hulls)")
    r = np.array(render_ms)
    print(f"skin + draw + readback: median {np.median(r):.2f} ms, p90 {np.percentile(r, 90):.2f} ms, "
          f"p99 {np.percentile(r, 99):.2f} ms over {args.frames} frames")  # fmt: skip
    total = r + np.array(tick_ms)
    print(
        f"engine tick + render: median {np.median(total):.2f} ms ({1000 / np.median(total):.0f} fps possible)"
    )


if __name__ == "__main__":
    main()
