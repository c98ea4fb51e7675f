"""Looping video backgrounds (webapi/market/videos.py, streaming/market_items.py): a valid
loop is stored as our own small frames with its first frame as the picture; bad ones are
refused by name; a try-on preview over real WebRTC peers shows the loop's frames in turn."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from streaming.manager import SessionManager
from streaming.market_items import MarketItem, VideoBackdrop, background_of
from tests.market import zips
from tests.market.test_assets import LID, ingest, refused
from tests.streaming.peers import Client
from webapi.errors import TooLarge

RED, BLUE = (220, 20, 20), (20, 40, 220)


def webm(colours: list[tuple[int, int, int]], fps: int = 2, size: tuple[int, int] = (160, 96),
         codec: str = "libvpx") -> bytes:  # fmt: skip
    """A WebM made here with PyAV: one solid frame per colour, at `fps`."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="webm") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for c in colours:
            px = np.zeros((size[1], size[0], 3), np.uint8)
            px[:] = c
            for packet in stream.encode(av.VideoFrame.from_ndarray(px, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def video_zip(data: bytes, name: str = "loop.webm") -> bytes:
    return zips.package(zips.manifest("background", {"video": name}), {name: data})


def test_a_loop_is_stored_as_our_frames(tmp_path: Path) -> None:
    root = tmp_path / "market"
    # 20 frames at 30 fps (0.67 s): kept at 15 fps, every second frame
    colours = [RED if i % 4 < 2 else BLUE for i in range(20)]
    _, c = ingest(root, video_zip(webm(colours, fps=30, size=(192, 108))))
    assert c["video"] == "files/background.npz" and c["picture"] == "files/background.jpg"
    assert c["fps"] == 15 and c["frames"] == 10 and (c["width"], c["height"]) == (192, 108)
    folder = root / LID
    assert Image.open(folder / c["picture"]).format == "JPEG"  # the first frame: red
    first = np.asarray(Image.open(folder / c["picture"]).convert("RGB")).astype(int)
    assert np.abs(first.mean(axis=(0, 1)) - RED).max() < 20
    assert not (folder / "files" / "loop.webm").exists()  # never the file as sent
    video = background_of(MarketItem(LID, "background", c, folder))()
    assert isinstance(video, VideoBackdrop) and video.frames.shape == (10, 108, 192, 3)
    # frame floor(t * fps) % n: red, blue, red... (each source colour held 2 frames of 30)
    means = [video.frame(i / 15).mean(axis=(0, 1)) for i in (0, 1, 2, 11)]
    assert [int(np.argmax(m)) for m in means] == [0, 2, 0, 2], means
    assert video.fitted(0, 64, 64).shape == (64, 64, 3)


def test_a_large_loop_is_scaled_down(tmp_path: Path) -> None:
    _, c = ingest(tmp_path / "market", video_zip(webm([RED, BLUE], fps=2, size=(1280, 720))))
    assert (c["width"], c["height"]) == (640, 360) and c["frames"] == 2 and c["fps"] == 2


def test_bad_loops_are_refused_by_name(tmp_path: Path) -> None:
    refused(tmp_path, video_zip(b"\x1aE\xdf\xa3 not really a webm"), '"loop.webm"', "not a video")
    refused(tmp_path, video_zip(zips.png(zips.background_picture()), "loop.mp4"), '"loop.mp4"',
            "expected WebM or MP4")  # fmt: skip
    refused(tmp_path, video_zip(webm([RED] * 23, fps=2)), '"loop.webm"', "at most 10 s",
            kind=TooLarge)  # fmt: skip
    refused(tmp_path, video_zip(webm([RED, BLUE], fps=2, size=(2000, 1000))), '"loop.webm"',
            "2000x1000", kind=TooLarge)  # fmt: skip
    refused(tmp_path, video_zip(webm([RED], fps=4)), '"loop.webm"', "at least 0.5 s")
    # a WebM with not one frame in it
    refused(tmp_path, video_zip(webm([], fps=2)), '"loop.webm"', "not a video")
    refused(tmp_path, video_zip(webm([RED, BLUE]), "loop.gif"), "content.video", ".webm")


@pytest.mark.slow
def test_a_try_on_preview_plays_the_loop(tmp_path: Path) -> None:
    """Over real peers: the preview's corners are red at one time and blue at another."""
    root = tmp_path / "market"
    _, c = ingest(root, video_zip(webm([RED, BLUE], fps=2)))
    item = MarketItem(LID, "background", c, root / LID)

    def corner(client: Client) -> np.ndarray:
        px = client.frames[-1].to_ndarray(format="rgb24").astype(int)
        return px[:12, :12].reshape(-1, 3).mean(axis=0)

    def showing(client: Client, colour: tuple[int, int, int]) -> bool:
        return bool(client.frames) and np.abs(corner(client) - colour).max() < 40

    async def main() -> None:
        manager = SessionManager("digi", max_previews=2)
        await manager.start()
        try:
            client = Client()
            sdp = await client.offer(channel=False)
            opts = {"size": 256, "fps": 15}
            answer, _ = await manager.open_preview({"sdp": sdp, "type": "offer"}, opts, None,
                                                   try_on=item)  # fmt: skip
            await client.accept(answer)
            await client.wait_for(lambda: showing(client, RED), 30, "the red frame")
            await client.wait_for(lambda: showing(client, BLUE), 30, "the blue frame")
            await client.wait_for(lambda: showing(client, RED), 30, "red again: a loop")
            await client.close()
        finally:
            await manager.shutdown()
            manager.worker.stop()

    asyncio.run(asyncio.wait_for(main(), 90))
