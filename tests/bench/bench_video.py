"""Benchmark: a rendered frame to yuv420p for the encoder, four ways, per frame:
render + GPU convert + readback of the planes (engine/render/video.py), render + readback
of the avatar's box + the numba kernel (the converter's CPU path, engine/kernels/i420.py),
render + RGBA readback + the numpy reference (engine/kernels/yuv.py), and render + RGBA
readback + numpy composite + PyAV's swscale (the old path). Wall time and process CPU
(every thread, a software rasteriser's included). 512x512 opaque (the avatar track) and 1024x512
packed (OBS), on Digi walking.

    .venv/bin/python -m tests.bench.bench_video [--frames 300] [--size 512]

Prints medians (wall) and means (CPU); asserts nothing. Record results in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import av
import numpy as np

from engine.assets import ATLASES, load_bundle
from engine.kernels.yuv import DEFAULT_BACKGROUND, to_yuv420
from engine.render import AvatarRenderer, create_context, load_atlas
from engine.render.context import describe
from engine.render.video import VideoConverter
from engine.session import AvatarSession, Inputs

DT = 1 / 60


def rgb24(rgba: np.ndarray, layout: str) -> np.ndarray:
    """The old CPU composite: premultiplied RGBA -> the frame's RGB (uint8)."""
    if layout == "packed":
        a = rgba[..., 3:4]
        return np.concatenate([rgba[..., :3], np.repeat(a, 3, axis=2)], axis=1)
    bg = np.array(DEFAULT_BACKGROUND, np.uint16)
    inv = 255 - rgba[..., 3:4].astype(np.uint16)
    return (rgba[..., :3] + (bg * inv + 127) // 255).clip(0, 255).astype(np.uint8)


def timed(frames: int, step: Callable[[], None], rows: dict[str, Callable[[], object]]):
    """Per-frame wall milliseconds of each row, and its process CPU milliseconds; the rows
    take turns on every frame, so a busy machine slows them alike."""
    ms: dict[str, list[float]] = {name: [] for name in rows}
    cpu: dict[str, list[float]] = {name: [] for name in rows}
    for k in range(30 + frames):
        step()
        for name, work in rows.items():
            c0, t0 = time.process_time(), time.perf_counter()
            work()
            if k >= 30:
                ms[name].append((time.perf_counter() - t0) * 1e3)
                cpu[name].append((time.process_time() - c0) * 1e3)
    return {name: (np.array(ms[name]), np.array(cpu[name])) for name in rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rig", default="digi")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args()

    bundle = load_bundle(args.rig)
    ctx = create_context()
    renderer = AvatarRenderer(ctx, bundle.rig, load_atlas(ATLASES / args.rig), (args.size,) * 2)
    print(f"renderer: {describe(ctx)}; {platform.machine()}, {os.cpu_count()} cpus; "
          f"PyAV {av.__version__}; {args.frames} frames each, medians")  # fmt: skip
    s = AvatarSession(bundle, seed=1)
    s.step(DT, Inputs(controls={"speed": 1.0}, transitions=["walk"]))

    def step() -> None:
        s.step(DT)

    for layout in ("opaque", "packed"):
        conv = VideoConverter(renderer, layout, on_cpu=False)
        on_cpu = VideoConverter(renderer, layout, on_cpu=True)
        w, h = conv.size

        def gpu(conv: VideoConverter = conv) -> object:
            renderer.draw(s.pose)
            return conv.convert()

        def cpu(conv: VideoConverter = on_cpu) -> object:
            renderer.draw(s.pose)
            return conv.convert()

        def reference(layout: str = layout) -> object:
            return to_yuv420(renderer.render(s.pose), layout)

        def pyav(layout: str = layout) -> object:
            rgb = rgb24(renderer.render(s.pose), layout)
            return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")

        def gpu_frame(conv: VideoConverter = conv) -> object:
            renderer.draw(s.pose)
            return av.VideoFrame.from_ndarray(conv.convert_i420(), format="yuv420p")

        rows = {
            "render only (draw + RGBA readback)": lambda: renderer.render(s.pose),
            "render + GPU convert + planes readback": gpu,
            "render + box readback + numba convert": cpu,
            "render + GPU convert + av.VideoFrame.from_ndarray": gpu_frame,
            "render + RGBA readback + numpy reference": reference,
            "render + RGBA readback + numpy composite + PyAV": pyav,
        }
        print(f"\n{layout} {w}x{h} (render {args.size}x{args.size}):")
        for name, (ms, used) in timed(args.frames, step, rows).items():
            print(f"  {name:52s} {np.median(ms):6.2f} ms  (p90 {np.percentile(ms, 90):.2f}); "
                  f"CPU {used.mean():6.2f} ms")  # fmt: skip
        on_cpu.release()

        # how far the old path's planes are from the specification (swscale's own rounding
        # and chroma filter), for information
        renderer.draw(s.pose)
        ours = conv.convert()
        ref = to_yuv420(renderer.render(s.pose), layout)
        old = av.VideoFrame.from_ndarray(rgb24(renderer.render(s.pose), layout), format="rgb24")
        old = old.reformat(format="yuv420p")
        for name, g, e, p in zip("YUV", ours, ref, old.planes, strict=True):
            sw = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width]
            d_gpu = np.abs(g.astype(int) - e).max()
            d_sw = np.abs(sw.astype(int) - e).max()
            print(f"  {name}: GPU vs reference max {d_gpu}; PyAV vs reference max {d_sw}; "
                  f"PyAV line_size {p.line_size} for width {p.width}")  # fmt: skip
        conv.release()
    renderer.release()


if __name__ == "__main__":
    main()
