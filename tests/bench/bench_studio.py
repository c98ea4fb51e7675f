"""The studio's edit-to-stream latency (issue 18: "edits show in the stream within 100 ms"):
from a control message leaving the page's peer to the first received frame that shows it,
over real WebRTC between two peers in this process (the server's render thread, its VP8
encode, the network stack, the receiver's decode).

Each round sends one edit to a paused studio session, alternating so every edit changes the
picture: the hair's hue (a `color` message, the avatar editor), the right hand's IK target
(a `pose` message, the pose editor) and a held mouth (a `params` message, the expression
editor). A frame "shows it" once more than 40 of its pixels differ from the frame before the edit by
more than VP8's noise ever moves one.

    .venv/bin/python -m tests.bench.bench_studio [--rounds 30] [--fps 30] [--size 512]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import numpy as np

from streaming.live import Look
from streaming.manager import SessionManager
from tests.bench.machine import machine
from tests.streaming.peers import Client
from webapi.library.customizations import rig_options

MOVED = 40  # pixels an edit changes at least (an opened mouth at 512: ~150)
EDITS = (
    ({"type": "color", "part": "hair", "hue": 120}, {"type": "color", "part": "hair", "hue": 0}),
    (
        {"type": "pose", "edits": {"targets": {"hand_r": [60, 260]}}},
        {"type": "pose", "edits": {}},
    ),
    (
        {"type": "params", "values": {"ParamMouthOpenY": 1, "ParamA": 1}},
        {"type": "params", "values": {}},
    ),
)


def _shows_change(now: np.ndarray, before: np.ndarray) -> bool:
    """More than `MOVED` pixels changed by more than the codec ever moves one."""
    return int((np.abs(now - before).max(axis=2) > 48).sum()) > MOVED


def _pixels(client: Client) -> np.ndarray:
    return client.frames[-1].to_ndarray(format="rgb24").astype(np.int16)


async def _settle(client: Client, frames: int = 6) -> np.ndarray:
    start = client.received
    while client.received < start + frames:
        await asyncio.sleep(0.01)
    return _pixels(client)


async def _latency(client: Client, msg: dict, timeout: float = 5.0) -> float:
    """Seconds from sending `msg` to the first received frame that differs from before."""
    before = await _settle(client)
    seen = client.received
    sent = time.perf_counter()
    client.send(msg)
    while time.perf_counter() - sent < timeout:
        if client.received > seen:
            seen = client.received
            if _shows_change(_pixels(client), before):
                return time.perf_counter() - sent
        await asyncio.sleep(0.001)
    errors = [m["message"] for m in client.of_type("error")]
    raise RuntimeError(f"no frame showed {msg} within {timeout} s (errors: {errors[-3:]})")


async def run(rounds: int, fps: int, size: int) -> dict[str, list[float]]:
    manager = SessionManager("digi")
    await manager.start()
    client = Client()
    try:
        sdp = await client.offer()

        async def digi() -> Look:  # Digi with its colour parts, as the studio's page opens it
            return Look(groups=dict(rig_options("digi").groups))

        answer, _ = await manager.open_studio(
            {"sdp": sdp, "type": "offer", "fps": fps, "size": size}, digi
        )
        await client.accept(answer)
        while not client.of_type("hello") or client.received < 10:
            await asyncio.sleep(0.05)
        out: dict[str, list[float]] = {m[0]["type"]: [] for m in EDITS}
        for i in range(rounds):
            for on, off in EDITS:
                out[on["type"]].append(await _latency(client, on if i % 2 == 0 else off))
        return out
    finally:
        await client.close()
        await manager.shutdown()
        manager.worker.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    results = asyncio.run(run(args.rounds, args.fps, args.size))
    print(f"machine: {machine()}")
    print(f"studio {args.size}px at {args.fps} fps, {args.rounds} edits of each kind (ms):")
    every: list[float] = []
    for kind, values in results.items():
        ms = sorted(v * 1000 for v in values)
        every += ms
        p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
        print(f"  {kind:7s} median {statistics.median(ms):6.1f}  p95 {p95:6.1f}  max {ms[-1]:6.1f}")
    every.sort()
    within = sum(v <= 100 for v in every) / len(every)
    print(f"  all     median {statistics.median(every):6.1f}  within 100 ms: {within:.0%}")


if __name__ == "__main__":
    main()
