"""Benchmark: the live server, measured on the server side with the far end (aiortc peers
sending a moving real face, or pulling previews) in another process.

    .venv/bin/python -m tests.bench.bench_stream [--seconds 10]

- motion-to-photon: a webcam frame received by the server -> the first encoded avatar frame
  that used it (p50, p95; target p95 <= 33 ms);
- CPU of one tracked 60 fps session (the server process's CPU time over wall time, as a
  share of the machine; target: at least 40% of the machine left idle);
- concurrent 30 fps preview streams (384x384): received fps per stream for 2, 4, 6, 8 at once
  (target: at least 6 held at 30 fps).

Prints figures; asserts nothing (timings belong in docs/PERFORMANCE.md, not in the suite).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np
from aiohttp import web
from aiortc.codecs import vpx

from webapi.app import MANAGER, create_app

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _far_end(url: str, *args: str) -> dict:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.bench.stream_client", url, *args,
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return json.loads(out.decode().strip().splitlines()[-1])


async def run(seconds: float) -> None:
    encoded: dict[int, float] = {}  # pts -> when its encoding finished (monotonic)
    original = vpx.Vp8Encoder.encode

    def timed_encode(self, frame, force_keyframe=False):
        pts = frame.pts  # PyAV rebases the frame's pts to the codec's time base in place
        out = original(self, frame, force_keyframe)
        encoded[pts] = time.monotonic()
        return out

    vpx.Vp8Encoder.encode = timed_encode
    app = create_app(max_sessions=3, max_previews=12)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}"
    manager = app[MANAGER]
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}, "
          f"{os.cpu_count()} cpus; server at {url}")  # fmt: skip

    # one tracked session: motion-to-photon and CPU
    far = asyncio.create_task(_far_end(url, "puppet", str(seconds)))
    while not manager.peers:
        await asyncio.sleep(0.05)
    await asyncio.sleep(3.0)  # connected, tracking, filters settled
    c0, w0 = _cpu(), time.monotonic()
    await asyncio.sleep(seconds - 2)
    cpu = (_cpu() - c0) / (time.monotonic() - w0)
    peer = next(iter(manager.peers.values()))
    cam_at = dict(peer.output.camera_at)
    result = await far
    lat = []
    newest = -1.0
    for pts in sorted(cam_at):
        cam = cam_at[pts]
        if cam > newest and pts in encoded:
            lat.append((encoded[pts] - cam) * 1000)
            newest = cam
    if not lat:
        print(f"no latency samples: {len(cam_at)} stamped frames, {len(encoded)} encoded; "
              f"e.g. {list(cam_at.items())[:3]} / {list(encoded)[:3]}")  # fmt: skip
        lat = [float("nan")]
    lat_a = np.array(lat)
    ncpu = os.cpu_count() or 1
    print(f"tracked session: {result['fps']:.1f} fps received; server status {result['status']}")
    print(f"motion-to-photon (camera frame in -> first encoded frame using it): "
          f"p50 {np.percentile(lat_a, 50):.1f} ms, p95 {np.percentile(lat_a, 95):.1f} ms, "
          f"max {lat_a.max():.1f} ms over {len(lat_a)} camera frames")  # fmt: skip
    print(f"server CPU for one tracked 60 fps session: {cpu * 100:.0f}% of one core = "
          f"{cpu / ncpu * 100:.0f}% of the machine ({(1 - cpu / ncpu) * 100:.0f}% idle)")  # fmt: skip
    while manager.peers:
        await asyncio.sleep(0.1)

    for n in (2, 4, 6, 8):
        c0, w0 = _cpu(), time.monotonic()
        res = await _far_end(url, "previews", str(seconds / 2), str(n))
        cpu = (_cpu() - c0) / (time.monotonic() - w0)
        fps = res["fps"]
        print(f"{n} previews at once (384x384, 30 fps): received fps min {min(fps):.1f}, "
              f"mean {np.mean(fps):.1f}; server CPU {cpu / ncpu * 100:.0f}% of the machine")  # fmt: skip
        while manager.peers:
            await asyncio.sleep(0.1)
    vpx.Vp8Encoder.encode = original
    await runner.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    asyncio.run(run(ap.parse_args().seconds))


if __name__ == "__main__":
    main()
