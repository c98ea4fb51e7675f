"""In-process WebRTC peers for the streaming tests: our aiohttp app on a test server and a
real aiortc client peer that sends a camera (frames of a real face photo) and receives the
avatar, as aiortc's own tests pair two real peers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from aiohttp.test_utils import TestClient, TestServer
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from av import VideoFrame

from streaming.manager import local_only
from webapi.app import create_app


class PhotoCamera(VideoStreamTrack):
    """A 30 fps camera showing `frames` in a loop (aiortc paces it)."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        super().__init__()
        self.frames = frames
        self.sent = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame.from_ndarray(self.frames[self.sent % len(self.frames)], format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        self.sent += 1
        return frame


class Client:
    """One browser-like peer: webcam out, avatar in, the `control` channel."""

    def __init__(self, camera: PhotoCamera | None = None) -> None:
        self.pc = RTCPeerConnection(local_only())  # never aiortc's default public STUN server
        self.camera = camera
        self.frames: deque[VideoFrame] = deque(maxlen=120)  # the newest; older are freed
        self.received = 0
        self.messages: list[dict[str, Any]] = []
        self.channel = None
        self._tasks: list[asyncio.Task] = []
        self.answer: dict[str, Any] = {}

        @self.pc.on("track")
        def on_track(track) -> None:
            self._tasks.append(asyncio.ensure_future(self._receive(track)))

    async def _receive(self, track) -> None:
        with contextlib.suppress(Exception):
            while True:
                self.frames.append(await track.recv())
                self.received += 1

    async def offer(self, *, channel: bool = True, split: bool = False) -> str:
        """`split`: the webcam on a send-only section and a receive-only one for the
        avatar, as browsers often offer; otherwise one two-way section carries both."""
        if self.camera is not None:
            if split:
                self.pc.addTransceiver(self.camera, direction="sendonly")
            else:
                self.pc.addTrack(self.camera)
        if split or self.camera is None:
            self.pc.addTransceiver("video", direction="recvonly")
        if channel:
            self.channel = self.pc.createDataChannel("control")

            @self.channel.on("message")
            def on_message(raw: str) -> None:
                self.messages.append(json.loads(raw))

        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    def send(self, msg: dict[str, Any]) -> None:
        assert self.channel is not None
        self.channel.send(json.dumps(msg))

    async def wait_for(self, cond: Callable[[], bool], timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not cond():
            if loop.time() > end:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            await asyncio.sleep(0.05)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    async def vanish(self) -> None:
        """Go away as a killed browser does: no DTLS goodbye, no more packets (the ICE
        sockets close under the peer connection), so only the server's own checks notice."""
        for t in self._tasks:
            t.cancel()
        if self.camera is not None:
            self.camera.stop()
        seen = set()
        for tr in self.pc.getTransceivers():
            ice = tr.sender.transport.transport if tr.sender.transport else None
            if ice is not None and id(ice) not in seen:
                seen.add(id(ice))
                await ice._connection.close()  # aioice: sockets only, nothing sent

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await self.pc.close()


async def connect(http: TestClient, client: Client, split: bool = False) -> dict[str, Any]:
    sdp = await client.offer(split=split)
    resp = await http.post("/api/sessions", json={"sdp": sdp, "type": "offer"})
    body = await resp.json()
    assert resp.status == 200, body
    await client.accept(body["sdp"])
    client.answer = body
    return body


def serve(
    test: Callable[[TestClient], Awaitable[None]], timeout: float = 90, **app_options: Any
) -> None:
    """Run `test(http_client)` against a fresh app (its own render worker and GL context);
    the app's shutdown must leave nothing running."""

    async def main() -> None:
        async with TestClient(TestServer(create_app(**app_options))) as http:
            await test(http)

    asyncio.run(asyncio.wait_for(main(), timeout))


async def bare_offer(kind: str = "puppet") -> tuple[RTCPeerConnection, dict[str, Any]]:
    """A real offer from a peer that will never connect (an attacker's, or a page that
    went away): `kind` "puppet" (browser tracking: the avatar received on a recvonly
    section, `control` and `landmarks` channels), "viewer" (receive-only video: WHEP and
    previews) or "sendonly" (a webcam but nothing to receive the avatar on: refused only
    once the peer connection exists). Returns the peer (close it) and the JSON body."""
    pc = RTCPeerConnection(local_only())
    body: dict[str, Any] = {"type": "offer"}
    if kind == "sendonly":
        pc.addTransceiver("video", direction="sendonly")
    else:
        pc.addTransceiver("video", direction="recvonly")
    if kind == "puppet":
        pc.createDataChannel("control")
        pc.createDataChannel("landmarks", ordered=False, maxRetransmits=0)
        body["tracking"] = "browser"
    await pc.setLocalDescription(await pc.createOffer())
    body["sdp"] = pc.localDescription.sdp
    return pc, body


def candidates(sdp: str) -> list[tuple[str, str]]:
    """(address, type) of every ICE candidate in an SDP."""
    found = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            found.append((parts[4], parts[7]))
    return found
