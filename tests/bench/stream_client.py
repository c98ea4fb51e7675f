"""The far end for the streaming benchmark, in its own process (as a browser would be on its
own machine): aiortc peers that send a moving real face as the webcam (or, tracking in the
"browser", that face's landmarks over the `landmarks` data channel), or pull previews, and
report what they received as one JSON line. It prints "measuring" when its measured window
starts and "done" when it ends (before it hangs up), so the server can time its own
figures over the same window.

    python -m tests.bench.stream_client URL puppet SECONDS
    python -m tests.bench.stream_client URL browser SECONDS LANDMARKS.npz
    python -m tests.bench.stream_client URL previews SECONDS N     (N different previews)
    python -m tests.bench.stream_client URL shared SECONDS N       (N viewers of one preview)

A viewer of many (`shared`) counts the frames it receives whole (assembled from their RTP
packets) without decoding them: 24 VP8 decoders in this one process would measure the far
end, not the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time

import aiohttp
import numpy as np
from aiortc.codecs import vpx
from av import VideoFrame
from skimage.transform import rotate

from tests.photos import astronaut
from tests.streaming.peers import Client, PhotoCamera

CONNECT_WITHIN = 30.0  # seconds for every peer to show frames, or the run gives up


def moving_face(n: int = 60) -> list[np.ndarray]:
    photo = astronaut()
    frames = []
    for k in range(n):
        img = (rotate(photo, 20 * np.sin(2 * np.pi * k / n), mode="edge") * 255).astype(np.uint8)
        canvas = np.full((480, 640, 3), 80, np.uint8)
        canvas[:, 64:576] = img[16:496]
        frames.append(canvas)
    return frames


def _mark(what: str) -> None:
    print(what, flush=True)


async def puppet(url: str, seconds: float) -> dict:
    client = Client(PhotoCamera(moving_face()))
    async with aiohttp.ClientSession() as http:
        sdp = await client.offer()
        async with http.post(f"{url}/api/sessions", json={"sdp": sdp, "type": "offer"}) as r:
            body = await r.json()
        await client.accept(body["sdp"])
        try:
            return await _measure(client, seconds)
        finally:
            await client.close()


async def _measure(client: Client, seconds: float) -> dict:
    """Once frames flow and tracking has settled: the received fps over `seconds` (the
    benchmark process measures the server meanwhile, between the two marks) and the last
    status message."""
    await client.wait_for(lambda: client.received > 30, CONNECT_WITHIN, "frames")
    await asyncio.sleep(2.0)  # tracking found the face, filters settled
    _mark("measuring")
    n0, t0 = client.received, time.monotonic()
    await asyncio.sleep(seconds)
    fps = (client.received - n0) / (time.monotonic() - t0)
    _mark("done")
    status = client.of_type("status")[-1] if client.of_type("status") else {}
    return {"fps": fps, "status": status}


async def browser(url: str, seconds: float, landmarks_file: str) -> dict:
    """A page that tracks the face itself: no webcam video, one landmarks message a camera
    frame at 30 fps (the moving face's MediaPipe landmarks, computed beforehand by the
    benchmark so that this process does not run MediaPipe)."""
    from streaming.landmarks import encode_landmarks

    data = np.load(landmarks_file)
    points, found, size = data["points"], data["found"], tuple(int(v) for v in data["size"])
    client = Client()
    channel = client.pc.createDataChannel("landmarks", ordered=False, maxRetransmits=0)
    sent = 0

    async def send_landmarks() -> None:
        nonlocal sent
        period = 1 / 30
        start = time.monotonic()
        while True:
            if channel.readyState == "open":
                k = sent % len(points)
                msg = encode_landmarks(points[k] if found[k] else None, size, sent, time.monotonic() * 1000)
                channel.send(msg)
                sent += 1
            await asyncio.sleep(max(0.0, start + (sent + 1) * period - time.monotonic()))

    async with aiohttp.ClientSession() as http:
        sdp = await client.offer()
        body = {"sdp": sdp, "type": "offer", "tracking": "browser"}
        async with http.post(f"{url}/api/sessions", json=body) as r:
            answer = await r.json()
        if r.status != 200:
            await client.close()
            return {"error": answer.get("error", f"HTTP {r.status}")}
        await client.accept(answer["sdp"])
        task = asyncio.create_task(send_landmarks())
        try:
            return {**await _measure(client, seconds), "sent": sent}
        finally:
            task.cancel()
            await client.close()


async def previews(url: str, seconds: float, n: int, shared: bool = False) -> dict:
    """`n` preview viewers: of `n` different animations, or all of one (`shared`)."""
    if shared:
        _skip_decoding()
    clients = [Client() for _ in range(n)]
    try:
        async with aiohttp.ClientSession() as http:
            for i, c in enumerate(clients):
                sdp = await c.offer(channel=False)
                animation = "dance_3" if shared else f"dance_{i % 9 + 1}"
                body = {"sdp": sdp, "type": "offer", "animation": animation, "size": 384}
                async with http.post(f"{url}/api/previews", json=body) as r:
                    answer = await r.json()
                if r.status != 200:
                    why = answer.get("error")
                    return {"error": f"viewer {i + 1} of {n}: HTTP {r.status}: {why}"}
                await c.accept(answer["sdp"])
            for c in clients:
                await c.wait_for(lambda c=c: c.received > 15, CONNECT_WITHIN, "preview frames")
            _mark("measuring")
            starts = [(c.received, time.monotonic()) for c in clients]
            await asyncio.sleep(seconds)
            fps = [(c.received - n0) / (time.monotonic() - t0) for c, (n0, t0) in zip(clients, starts, strict=True)]
            _mark("done")
    finally:
        for c in clients:
            await c.close()
    return {"fps": fps}


def _skip_decoding() -> None:
    """Every whole frame a receiver assembles reaches its track as one small stand-in frame,
    undecoded (`Client.received` counts them as before)."""
    stand_in = VideoFrame(16, 16, "yuv420p")
    vpx.Vp8Decoder.decode = lambda self, encoded_frame: [stand_in]


def main() -> None:
    url, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with contextlib.suppress(KeyboardInterrupt):
        if mode == "puppet":
            out = asyncio.run(puppet(url, seconds))
        elif mode == "browser":
            out = asyncio.run(browser(url, seconds, sys.argv[4]))
        else:
            out = asyncio.run(previews(url, seconds, int(sys.argv[4]), shared=mode == "shared"))
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
