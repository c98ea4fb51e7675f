"""One shared encoder (streaming.encoder) driven frame by frame, for tests that look at
what it makes: each frame is published (after a `refresh` where asked) and waited for
until its packet is out, so none is dropped however slow the machine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from av import VideoFrame
from av.packet import Packet

from streaming.encoder import SharedEncoder


def encode_each(
    frames: Iterable[tuple[VideoFrame, bool]],
    width: int,
    height: int,
    on_packet: Callable[[Packet], None],
    *,
    fps: int = 60,
    bitrate: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    timeout: float = 60.0,
) -> None:
    """Encode `frames` ((frame, refresh first?) pairs, made lazily if need be) in turn with
    a SharedEncoder of this size, rate and bitrate (None: the product's own for the size),
    handing each packet to `on_packet` on the event loop as a viewer gets it."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        packets = 0

        class Viewer:
            def put(self, packet: Packet) -> None:
                nonlocal packets
                packets += 1
                on_packet(packet)

        enc = SharedEncoder(loop, width, height, fps, bitrate=bitrate, clock=clock)
        enc.viewers.append(Viewer())
        try:
            for k, (frame, refresh) in enumerate(frames):
                if refresh:
                    enc.refresh()
                enc.publish(frame)
                while packets <= k:
                    await asyncio.sleep(0.002)
        finally:
            enc.close()
            enc.join()

    asyncio.run(asyncio.wait_for(main(), timeout))
