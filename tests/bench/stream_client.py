"""The far end for the streaming benchmark, in its own process (as a browser would be on its
own machine): aiortc peers that send a moving real face as the webcam, or pull previews, and
report what they received as one JSON line.

    python -m tests.bench.stream_client URL puppet SECONDS
    python -m tests.bench.stream_client URL previews SECONDS N
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp
import numpy as np
from skimage.transform import rotate

from tests.photos import astronaut
from tests.streaming.peers import Client, PhotoCamera


def moving_face(n: int = 60) -> list[np.ndarray]:
    photo = astronaut()
    frames = []
    for k in range(n):
        img = (rotate(photo, 20 * np.sin(2 * np.pi * k / n), mode="edge") * 255).astype(np.uint8)
        canvas = np.full((480, 640, 3), 80, np.uint8)
        canvas[:, 64:576] = img[16:496]
        frames.append(canvas)
    return frames


async def puppet(url: str, seconds: float) -> dict:
    client = Client(PhotoCamera(moving_face()))
    async with aiohttp.ClientSession() as http:
        sdp = await client.offer()
        async with http.post(f"{url}/api/sessions", json={"sdp": sdp, "type": "offer"}) as r:
            body = await r.json()
        await client.accept(body["sdp"])
        await client.wait_for(lambda: client.received > 30, 30, "frames")
        n0, t0 = client.received, time.monotonic()
        await asyncio.sleep(seconds)
        fps = (client.received - n0) / (time.monotonic() - t0)
        status = client.of_type("status")[-1] if client.of_type("status") else {}
        await client.close()
    return {"fps": fps, "status": status}


async def previews(url: str, seconds: float, n: int) -> dict:
    clients = [Client() for _ in range(n)]
    async with aiohttp.ClientSession() as http:
        for i, c in enumerate(clients):
            sdp = await c.offer(channel=False)
            body = {"sdp": sdp, "type": "offer", "animation": f"dance_{i % 9 + 1}", "size": 384}
            async with http.post(f"{url}/api/previews", json=body) as r:
                answer = await r.json()
            await c.accept(answer["sdp"])
        for c in clients:
            await c.wait_for(lambda c=c: c.received > 15, 30, "preview frames")
        starts = [(c.received, time.monotonic()) for c in clients]
        await asyncio.sleep(seconds)
        fps = [(c.received - n0) / (time.monotonic() - t0) for c, (n0, t0) in zip(clients, starts, strict=True)]
        for c in clients:
            await c.close()
    return {"fps": fps}


def main() -> None:
    url, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if mode == "puppet":
        out = asyncio.run(puppet(url, seconds))
    else:
        out = asyncio.run(previews(url, seconds, int(sys.argv[4])))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
