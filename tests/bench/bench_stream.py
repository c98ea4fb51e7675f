"""Benchmark: the live server, measured on the server side with the far end (aiortc peers
sending a moving real face or its landmarks, or pulling previews) in another process
(tests/bench/stream_client.py), as a browser would be.

    .venv/bin/python -m tests.bench.bench_stream [--seconds 10] [--viewers 1,8,16,24]

Absolute figures (CPU in cores: the server process's CPU time over wall time, over the far
end's measured window):

- the floor: render + conversion + encode of one 512x512 stream at 60 fps, no network;
- one live session, server tracking (the far end sends a moving real face at 30 fps): CPU,
  received fps, motion-to-photon p50/p95 (a webcam frame received by the server -> the
  first encoded avatar frame that used it), and the CPU's ratio to the floor;
- the same, browser tracking (the far end sends that face's MediaPipe landmarks, computed
  here beforehand, over the `landmarks` data channel): motion-to-photon from the landmark
  message's arrival;
- one shared 384x384 30 fps preview watched by 1, 8, 16, 24 viewers: CPU for each, the
  marginal CPU per added viewer (goal <= 0.02 core) and the lowest received fps (goal: 24
  viewers held at >= 29 fps);
- with `--distinct 2,4,6,8`: that many different previews at once (a render and an encode
  each).

The live sessions' ratios to the floor are measured in `--rounds` rounds (default 3): the
floor is measured again after each round, and each session is divided by the mean of the
floor windows either side of it. A box of this kind drifts by 10-20% over minutes, so a
ratio against one floor measured minutes earlier moves by as much as what it measures.
The summary gives each ratio's median over the rounds, and the median of what server
tracking adds over browser tracking (the two sessions of a round; their order alternates
from round to round), to set beside the landmarker's process CPU from `bench_tracking`.

The server settles its start-up heap first, as `digigami serve` does (webapi/heap.py;
`--no-settle` to compare), and the run ends with every full garbage collection it saw and
how long each held every Python thread.

Every wait is bounded: a far end that hangs is killed and its part reported as failed.
Prints figures; asserts nothing (timings belong in docs/PERFORMANCE.md, not in the suite).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from aiohttp import web

from streaming import render_worker
from streaming.encoder import SharedEncoder
from streaming.live import LiveSession, Output
from streaming.manager import Peer, SessionManager
from webapi import heap
from webapi.app import MANAGER, create_app

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SETTLE = 30.0  # seconds a far end may take to connect and settle before its window


class Collections:
    """How long each of Python's full garbage collections (the oldest generation) held the
    GIL while the server ran: every Python thread, render and event loop included, waits
    that long (webapi/heap.py)."""

    def __init__(self) -> None:
        self.ms: list[float] = []
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.ms.append((time.perf_counter() - self._t0) * 1e3)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Window:
    """The server's CPU over the far end's measured window ("measuring" .. "done")."""

    def __init__(self) -> None:
        self.start: tuple[float, float] | None = None
        self.cores: float | None = None

    def mark(self, line: str) -> None:
        if line == "measuring":
            self.start = (_cpu(), time.monotonic())
        elif line == "done" and self.start is not None:
            c0, w0 = self.start
            self.cores = (_cpu() - c0) / max(time.monotonic() - w0, 1e-6)


async def _far_end(url: str, window: Window, seconds: float, *args: str) -> dict[str, Any]:
    """Run the far end; its marks go to `window`; its last line is its report. Killed (and
    reported as an error) when it takes longer than it possibly should."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.bench.stream_client", url, *args,
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    last = ""
    errors: list[str] = []  # its stderr's last lines: why it failed, if it does

    async def drain() -> None:
        async for raw in proc.stderr:  # type: ignore[union-attr]
            errors.append(raw.decode(errors="replace").rstrip())
            del errors[:-5]

    async def read() -> None:
        nonlocal last
        async for raw in proc.stdout:  # type: ignore[union-attr]
            line = raw.decode().strip()
            window.mark(line)
            last = line or last
        await proc.wait()

    stderr = asyncio.create_task(drain())
    try:
        await asyncio.wait_for(read(), SETTLE + seconds + 30)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return {"error": "the far end did not finish in time (killed)"}
    finally:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stderr, 5)
    try:
        return json.loads(last)
    except ValueError:
        why = next((line for line in reversed(errors) if line.strip()), last)
        return {"error": f"the far end failed (exit {proc.returncode}): {why[:300]!r}"}


async def _until(cond: Callable[[], bool], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > end:
            return False
        await asyncio.sleep(0.05)
    return True


async def floor(manager: SessionManager, seconds: float) -> dict[str, float]:
    """Render + convert + encode of one 512x512 60 fps stream (Digi idling), no network:
    what one live session costs before any tracking, networking or signaling."""
    loop = asyncio.get_running_loop()
    session = LiveSession(manager._bundle(), kind="preview", fps=60)
    session.play("idle")
    encoder = SharedEncoder(loop, 512, 512, 60, name="floor")
    session.add_output(Output("opaque", 512, encoder))  # type: ignore[arg-type]
    manager.worker.add(session)
    try:
        await asyncio.sleep(2.0)
        c0, w0, n0 = _cpu(), time.monotonic(), encoder.encoded
        await asyncio.sleep(seconds)
        wall = time.monotonic() - w0
        return {"cores": (_cpu() - c0) / wall, "fps": (encoder.encoded - n0) / wall}
    finally:
        manager.worker.remove(session)
        session.close()


def _face_landmarks(path: str) -> None:
    """The far end's moving face through MediaPipe once, here, so that the far end only
    replays the points (as a page whose FaceMesh runs on the user's machine)."""
    from engine.tracking.landmarker import FaceLandmarker
    from tests.bench.stream_client import moving_face

    frames = moving_face()
    points = np.zeros((len(frames), 478, 3), np.float32)
    found = np.zeros(len(frames), bool)
    with FaceLandmarker() as lm:
        for _ in range(2):  # the second pass follows the face as a video would
            for k, f in enumerate(frames):
                r = lm.process(f)
                found[k] = r.found
                if r.found:
                    points[k] = r.landmarks
    h, w = frames[0].shape[:2]
    np.savez(path, points=points, found=found, size=np.array([w, h]))


async def tracked(url: str, manager: SessionManager, seconds: float, mode: str, *args: str) -> dict[str, Any]:
    """One live puppet session (`mode` "puppet": server tracking, "browser": landmarks)."""
    from engine.tracking import worker as tracking_worker
    from streaming import landmarks

    arrivals: dict[float, float] = {}  # server capture time -> the message's arrival
    # a face's capture time -> when its landmarks were solved and observed (both paths)
    observed: dict[float, float] = {}
    observe = tracking_worker.TrackingWorker._observe

    def observing(self, signals, t, failure, t0) -> None:  # type: ignore[no-untyped-def]
        observed[t] = time.monotonic()
        if len(observed) > 4000:
            del observed[next(iter(observed))]
        observe(self, signals, t, failure, t0)

    tracking_worker.TrackingWorker._observe = observing  # type: ignore[method-assign]
    # a puppet frame's pts -> when its tick began, and when its frame was drawn and
    # converted (handed to the encoder): the render stage split into its waits and work
    began: dict[int, float] = {}
    drawn: dict[int, float] = {}
    tick, to_frame = render_worker.RenderWorker._tick, render_worker.frame_from_i420

    def ticking(self, grid, renderer_for) -> None:  # type: ignore[no-untyped-def]
        if grid.session.kind == "puppet":
            # keyed by its frames' pts: its slot's time, less the pull of a face
            began[round((grid.index / grid.session.fps - grid.early) * 90_000)] = time.monotonic()
        tick(self, grid, renderer_for)

    def framing(i420, seconds):  # type: ignore[no-untyped-def]
        frame = to_frame(i420, seconds)
        drawn[frame.pts] = time.monotonic()
        return frame

    render_worker.RenderWorker._tick = ticking  # type: ignore[method-assign]
    render_worker.frame_from_i420 = framing
    original = getattr(landmarks.LandmarkIntake, "_server_time", None)
    if mode == "browser" and original is not None:

        def server_time(self, captured_ms: float, now: float) -> float:
            t = original(self, captured_ms, now)
            arrivals[t] = now
            if len(arrivals) > 4000:
                del arrivals[next(iter(arrivals))]
            return t

        landmarks.LandmarkIntake._server_time = server_time  # type: ignore[method-assign]
    window = Window()
    far = asyncio.create_task(_far_end(url, window, seconds, mode, str(seconds), *args))
    try:
        peer: Peer | None = None

        def found() -> bool:
            nonlocal peer
            peer = next((p for p in manager.peers.values() if p.kind == "puppet"), None)
            return peer is not None or far.done()

        await _until(found, SETTLE)
        cam_at: dict[int, float] = {}
        enc_at: dict[int, float] = {}
        while peer is not None and not far.done():  # the maps keep a few seconds: gather
            cam_at.update(peer.output.camera_at)
            enc_at.update(peer.output.slot.encoded_at)  # type: ignore[attr-defined]
            await asyncio.sleep(0.5)
        result = await far
    finally:
        tracking_worker.TrackingWorker._observe = observe  # type: ignore[method-assign]
        render_worker.RenderWorker._tick = tick  # type: ignore[method-assign]
        render_worker.frame_from_i420 = to_frame
        if original is not None:
            landmarks.LandmarkIntake._server_time = original  # type: ignore[method-assign]
    lat, tracking, rendering, newest = [], [], [], -1.0
    split: tuple[list[float], list[float], list[float]] = ([], [], [])
    for pts in sorted(cam_at):
        cam = cam_at[pts]
        if cam > newest and pts in enc_at:
            lat.append((enc_at[pts] - arrivals.get(cam, cam)) * 1000)
            if cam in observed:  # where the time went: the landmarks, then tick + draw + encode
                tracking.append((observed[cam] - arrivals.get(cam, cam)) * 1000)
                rendering.append((enc_at[pts] - observed[cam]) * 1000)
                if pts in began and pts in drawn:  # ... the wait for a tick, the draw, the encode
                    split[0].append((began[pts] - observed[cam]) * 1000)
                    split[1].append((drawn[pts] - began[pts]) * 1000)
                    split[2].append((enc_at[pts] - drawn[pts]) * 1000)
            newest = cam
    result["cores"] = window.cores
    result["latency"] = lat
    result["stages"] = (tracking, rendering, *split)
    if peer is not None:
        enc = peer.output.slot
        result["keyframes"] = {"forced": enc.forced, "requests": dict(enc.requests), "gaps": peer.track.slot.gaps}  # type: ignore[attr-defined]
    await _until(lambda: not manager.peers, 10)
    return result


async def shared(url: str, manager: SessionManager, seconds: float, n: int) -> dict[str, Any]:
    window = Window()
    streams: set[int] = set()
    far = asyncio.create_task(_far_end(url, window, seconds, "shared", str(seconds), str(n)))
    while not far.done():
        streams.add(len(manager.outputs))
        await asyncio.sleep(0.5)
    result = await far
    result["cores"] = window.cores
    result["encoders"] = max(streams, default=0)
    await _until(lambda: not manager.peers, 10)
    return result


async def distinct(url: str, manager: SessionManager, seconds: float, n: int) -> dict[str, Any]:
    window = Window()
    result = await _far_end(url, window, seconds, "previews", str(seconds), str(n))
    result["cores"] = window.cores
    await _until(lambda: not manager.peers, 10)
    return result


def _ms(lat: list[float]) -> str:
    if not lat:
        return "no samples"
    a = np.array(lat)
    return (f"p50 {np.percentile(a, 50):.1f} ms, p95 {np.percentile(a, 95):.1f} ms, max {a.max():.1f} ms "
            f"over {len(a)} camera frames")  # fmt: skip


def _cores(c: float | None) -> str:
    return "n/a (no measured window)" if c is None else f"{c:.3f} cores"


async def _floor_line(manager: SessionManager, seconds: float) -> float:
    base = await floor(manager, seconds)
    print(f"floor (render + convert + encode, 512x512 at 60 fps, no network): {base['cores']:.3f} cores, "
          f"{base['fps']:.1f} fps encoded", flush=True)  # fmt: skip
    return base["cores"]


async def run(
    seconds: float, viewers: list[int], previews: list[int], settle: bool = True, rounds: int = 3
) -> None:
    # seats for every viewer the run asks for (the server's default is 8 a stream)
    app = create_app(max_sessions=3, max_previews=12, max_viewers=max([8, *viewers]))
    runner = web.AppRunner(app)
    await runner.setup()
    if settle:  # as `digigami serve` does once its start-up is done (webapi/heap.py)
        frozen = heap.settle()
        print(f"start-up heap settled: {frozen.frozen if frozen else 'already'} objects frozen", flush=True)
    collections = Collections()
    gc.callbacks.append(collections)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}"
    manager = app[MANAGER]
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}, "
          f"{os.cpu_count()} cpus; server at {url}; {seconds:g} s windows", flush=True)  # fmt: skip
    try:
        floors = [await _floor_line(manager, seconds)]
        ratios: dict[str, list[float]] = {}
        added: list[float] = []  # server tracking's cores over browser tracking's, per round
        with tempfile.TemporaryDirectory() as tmp:
            marks = os.path.join(tmp, "landmarks.npz")
            await asyncio.get_running_loop().run_in_executor(None, _face_landmarks, marks)
            sessions = [
                ("puppet", "server tracking (webcam video up, 30 fps)", ()),
                ("browser", "browser tracking (landmarks up, 30 fps)", (marks,)),
            ]
            for k in range(rounds):
                results = []
                # every other round the other way round, so that a drift over the round
                # does not always land on the same path's side of the difference
                for mode, label, extra in sessions if k % 2 == 0 else sessions[::-1]:
                    r = await tracked(url, manager, seconds, mode, *extra)
                    results.append((mode, label, r))
                    if "error" in r:
                        print(f"round {k + 1}, live session, {label}: FAILED: {r['error']}", flush=True)
                floors.append(await _floor_line(manager, seconds))
                around = (floors[-2] + floors[-1]) / 2  # the floor either side of this round
                got = {mode: r.get("cores") for mode, _, r in results if "error" not in r}
                if got.get("puppet") is not None and got.get("browser") is not None:
                    added.append(got["puppet"] - got["browser"])
                    print(f"round {k + 1}: server tracking adds {added[-1]:.3f} cores over "
                          f"browser tracking", flush=True)  # fmt: skip
                for _, label, r in results:
                    if "error" in r:
                        continue
                    c = r["cores"]
                    ratio = ""
                    if c is not None and around > 0:
                        ratios.setdefault(label, []).append(c / around)
                        ratio = f" = {c / around:.2f}x the floor around it ({around:.3f} cores)"
                    print(f"round {k + 1}, live session, {label}: server {_cores(c)}{ratio}; "
                          f"{r['fps']:.1f} fps received; motion-to-photon {_ms(r['latency'])} "
                          f"(to the landmarks {_ms(r['stages'][0])}; then tick, draw and encode "
                          f"{_ms(r['stages'][1])}: waiting for the tick {_ms(r['stages'][2])}, tick and "
                          f"draw {_ms(r['stages'][3])}, encode {_ms(r['stages'][4])}); "
                          f"keyframes {r.get('keyframes')}; status {r['status']}", flush=True)  # fmt: skip
        for label, rs in ratios.items():
            print(f"live session, {label}: median {np.median(rs):.2f}x the floor over {len(rs)} "
                  f"round(s) ({', '.join(f'{v:.2f}' for v in rs)}); floors "
                  f"{', '.join(f'{f:.3f}' for f in floors)} cores", flush=True)  # fmt: skip
        if added:
            print(f"server tracking over browser tracking: median {np.median(added):.3f} cores over "
                  f"{len(added)} round(s) ({', '.join(f'{v:.3f}' for v in added)}); the goal allows "
                  f"the landmarker's process CPU at 30 fps (bench_tracking) + 0.05", flush=True)  # fmt: skip
        cores = {}
        for n in viewers:
            r = await shared(url, manager, seconds / 2, n)
            if "error" in r:
                print(f"one preview (384x384, 30 fps), {n} viewers: FAILED: {r['error']}", flush=True)
                continue
            cores[n] = r["cores"]
            print(f"one preview (384x384, 30 fps), {n} viewers: server {_cores(r['cores'])}; received fps "
                  f"min {min(r['fps']):.1f}, mean {np.mean(r['fps']):.1f}; {r['encoders']} encoder(s)",
                  flush=True)  # fmt: skip
        known = {n: c for n, c in cores.items() if c is not None}
        if len(known) >= 2:
            ns = np.array(sorted(known))
            slope = np.polyfit(ns, [known[n] for n in ns], 1)[0]
            print(f"marginal server CPU per added viewer of one preview: {slope:.4f} cores "
                  f"(least squares over {', '.join(map(str, ns))} viewers)", flush=True)  # fmt: skip
        for n in previews:
            r = await distinct(url, manager, seconds / 2, n)
            if "error" in r:
                print(f"{n} different previews: FAILED: {r['error']}", flush=True)
                continue
            print(f"{n} different previews at once (384x384, 30 fps): received fps min {min(r['fps']):.1f}, "
                  f"mean {np.mean(r['fps']):.1f}; server {_cores(r['cores'])}", flush=True)  # fmt: skip
    finally:
        gc.callbacks.remove(collections)
        if collections.ms:
            print(f"full garbage collections while serving: {len(collections.ms)}, each holding every "
                  f"Python thread {', '.join(f'{ms:.1f}' for ms in collections.ms)} ms", flush=True)  # fmt: skip
        else:
            print("full garbage collections while serving: none", flush=True)
        await runner.cleanup()


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--viewers", type=_ints, default=[1, 8, 16, 24], help="viewers of one preview")
    ap.add_argument("--distinct", type=_ints, default=[], help="different previews at once, e.g. 2,4,6,8")
    ap.add_argument("--rounds", type=int, default=3,
                    help="live-session rounds, each followed by a floor window (ratios use the floors around them)")  # fmt: skip
    ap.add_argument("--no-settle", dest="settle", action="store_false",
                    help="leave the start-up heap where the garbage collector walks it (to compare)")  # fmt: skip
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    budget = 60 + (1 + 3 * args.rounds) * (args.seconds + SETTLE + 40) + (len(args.viewers) + len(args.distinct)) * (args.seconds + SETTLE + 40)
    asyncio.run(asyncio.wait_for(run(args.seconds, args.viewers, args.distinct, args.settle, args.rounds), budget))


if __name__ == "__main__":
    main()
