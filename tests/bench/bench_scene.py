"""Benchmark: what a scene's output size costs per frame on this host. Per size preset
(engine/render/scene.py SIZES) and background, what streaming/render_worker.py does per
tick for a puppet page with OBS watching: one `draw` of Digi walking at the scene's size,
two conversions (the page's opaque view and OBS's packed one), and, with --encode, the VP8
encodes of both (streaming/encoder.py's settings), which on a CPU host cost the most.

    .venv/bin/python -m tests.bench.bench_scene [--frames 60] [--encode]
        [--size square 720p ...] [--background transparent colour image]

Prints wall and process-CPU milliseconds per frame (median, p95); asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from engine.assets import load_bundle
from engine.render import AvatarRenderer, create_context
from engine.render.context import describe
from engine.render.scene import SIZES, Scene, cover
from engine.render.video import VideoConverter
from engine.session import AvatarSession, Inputs
from webapi.library.backgrounds import Backgrounds

DT = 1 / 60
WARMUP = 10


def _encoder(w: int, h: int):
    """A VP8 encoder with the live stream's own settings (streaming/encoder.py)."""
    from streaming import codec
    from streaming.encoder import open_vp8

    return open_vp8(w, h, 60, codec.target_bitrate(w, h, 60))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--size", nargs="*", default=list(SIZES))
    ap.add_argument("--background", nargs="*", default=["transparent", "colour", "image"])
    ap.add_argument("--encode", action="store_true")
    args = ap.parse_args()
    ctx = create_context()
    print(describe(ctx))
    bundle = load_bundle("digi")
    night = Backgrounds("/tmp").pixels(None, "night-sky")
    print(f"{'size':16} {'background':12} {'wall ms':>9} {'p95':>7} {'cpu ms':>8}")
    for size in args.size:
        w, h = SIZES[size]
        renderer = AvatarRenderer(ctx, bundle.rig, bundle.pictures(), (w, h))
        for background in args.background:
            scene = Scene(background=background, image="night-sky", size=size)
            convs = [VideoConverter(renderer, layout) for layout in ("opaque", "packed")]
            back = {"transparent": None, "colour": scene.rgb}.get(background)
            if background == "image":
                back = cover(night, w, h)
            for c in convs:
                c.set_backdrop(back)
            encoders = [_encoder(w, h), _encoder(2 * w, h)] if args.encode else []
            session = AvatarSession(bundle, seed=1)
            session.step(DT, Inputs(controls={"speed": 1.0}, transitions=["walk"]))
            rect = scene.place(renderer.framing("full"), w, h)
            wall, cpu = [], 0.0
            for k in range(WARMUP + args.frames):
                session.step(DT)
                c0, t0 = time.process_time(), time.perf_counter()
                renderer.draw(session.pose, rect)
                planes = [c.convert_i420() for c in convs]
                for enc, i420 in zip(encoders, planes, strict=False):
                    import av

                    frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
                    frame.pts = k * 1500
                    enc.encode(frame)
                t1, c1 = time.perf_counter(), time.process_time()
                if k >= WARMUP:
                    wall.append((t1 - t0) * 1e3)
                    cpu += c1 - c0
            for c in convs:
                c.release()
            wall_a = np.array(wall)
            print(
                f"{size + f' {w}x{h}':16} {background:12} {np.median(wall_a):9.1f} "
                f"{np.percentile(wall_a, 95):7.1f} {cpu * 1e3 / args.frames:8.1f}"
            )
        renderer.release()


if __name__ == "__main__":
    main()
