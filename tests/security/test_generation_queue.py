"""Issue 12, generation queue: it holds encoded uploads (decoded only in a slot), is bounded
in jobs and bytes, per visitor and per address, serves clients fairly, and a REST job ends
when its client leaves.

The in-process tests use a fake engine (`FakeEngine`): each job's photo is a grey square
whose level names it, and the fake holds each job until the test lets it go, so the order
jobs start in is observable without timing."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from PIL import Image

from tests.security.server import Server
from tests.webapi.images import data_url, encode
from webapi import generate
from webapi.library.files import AvatarStore

GUEST = "digigami_guest"
STYLE = "kingdom-hearts"


class FakeEngine:
    """`engine.style` as `webapi.generate` uses it, holding each job until released."""

    STYLES = ("kingdom-hearts", "dark-cloud", "ghibli", "cel-shade")
    UnknownStyleError = ValueError

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: list[int] = []  # grey levels, in the order jobs reached the engine
        self.cancelled: list[int] = []
        self.gates: defaultdict[int, threading.Event] = defaultdict(threading.Event)
        self.everything = threading.Event()  # releases every job, now and later

    @staticmethod
    def GenerationOptions(**kw: Any) -> dict[str, Any]:  # the engine's name
        return kw

    def release(self, level: int) -> None:
        self.gates[level].set()

    def generate(self, pixels, style, options, progress=None, cancelled=None):
        level = int(pixels[0, 0, 0])
        with self.lock:
            self.started.append(level)
        if progress is not None:
            progress(50, "style", "painting")
        for _ in range(3000):  # 60 s at most: never leave a worker thread behind
            if self.gates[level].is_set() or self.everything.is_set():
                break
            if cancelled is not None and cancelled():
                with self.lock:
                    self.cancelled.append(level)
                raise generate.Cancelled()
            threading.Event().wait(0.02)
        rgb = np.full((64, 64, 3), level, np.uint8)
        return SimpleNamespace(
            outputs={"full": rgb, "transparent": np.zeros((64, 64, 4), np.uint8)},
            landmarks=np.zeros((478, 2)),
            metadata={"style": style},
        )

    def started_now(self) -> list[int]:
        with self.lock:
            return list(self.started)


@pytest.fixture
def engine(monkeypatch) -> FakeEngine:
    fake = FakeEngine()
    monkeypatch.setattr(generate, "_engine", lambda: fake)
    yield fake
    fake.everything.set()


def png(level: int) -> bytes:
    return encode(np.full((64, 64, 3), level, np.uint8))


def grey(level: int) -> str:
    return data_url(png(level))


def request(level: int, sid: str | None = None) -> dict[str, Any]:
    return {"type": "generate_avatar", "sessionId": sid or f"j{level}", "image": grey(level),
            "style": STYLE}  # fmt: skip


def app_with(root: Path, **limits: Any) -> web.Application:
    from webapi.limits import GenerationLimits

    app = web.Application()
    generate.setup(app, AvatarStore(root), limits=GenerationLimits(**limits))
    return app


class Served:
    """An app on a real port with aiohttp's defaults, as `digigami serve` runs it: a handler
    is not cancelled when its client leaves (aiohttp's TestServer would cancel it)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.runner = web.AppRunner(app)
        self.port = 0

    async def __aenter__(self) -> Served:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()

    def make_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def run(
    test: Callable[[Served], Awaitable[None]], app: web.Application, timeout: float = 120
) -> None:
    async def main() -> None:
        async with Served(app) as server:
            await test(server)

    asyncio.run(asyncio.wait_for(main(), timeout))


class Peer:
    """One client: a session with its own guest cookie (or none) and source address."""

    def __init__(
        self, server: Served, guest: str | None = None, address: str = "127.0.0.1"
    ) -> None:
        self.server = server
        self.headers = {"Cookie": f"{GUEST}={guest}"} if guest else {}
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(address, 0)),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def ws(self) -> aiohttp.ClientWebSocketResponse:
        return await self.session.ws_connect(self.server.make_url("/ws"), headers=self.headers)

    async def close(self) -> None:
        await self.session.close()


def guest(n: int) -> str:
    return f"{n:032x}"


async def receive(ws: aiohttp.ClientWebSocketResponse, timeout: float = 30) -> dict[str, Any]:
    m = await ws.receive(timeout=timeout)
    assert m.type == aiohttp.WSMsgType.TEXT, f"socket answered {m.type} {m.data!r}"
    return json.loads(m.data)


async def until(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def answers(ws, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    """The next `count` first answers of jobs (a progress or a result), one per session."""
    seen: dict[str, dict[str, Any]] = {}
    while len(seen) < count:
        msg = await receive(ws, timeout)
        seen.setdefault(msg.get("sessionId"), msg)
    return list(seen.values())


# ---- fairness and caps, in-process ----------------------------------------------------------


def test_a_second_client_waits_for_at_most_one_job_of_a_flooding_client(tmp_path, engine) -> None:
    async def test(server: Served) -> None:
        flood, other = Peer(server, guest(1)), Peer(server, guest(2))
        try:
            a = await flood.ws()
            for level in (10, 11, 12, 13):  # two run, two wait
                await a.send_json(request(level))
            await until(lambda: len(engine.started_now()) == 2, "two jobs in the engine")
            b = await other.ws()
            await b.send_json(request(99))
            assert (await receive(b))["stage"] == "queued"
            first = engine.started_now()[0]
            engine.release(first)  # one of the flood's jobs ends: its slot goes to the other client
            await until(lambda: len(engine.started_now()) == 3, "a third job in the engine")
            assert engine.started_now()[2] == 99, engine.started_now()
            engine.everything.set()
            results = await drain(b, 1)
            assert results[0]["success"] is True, results
        finally:
            engine.everything.set()
            await flood.close()
            await other.close()

    run(test, app_with(tmp_path))


async def drain(ws, results: int, timeout: float = 30) -> list[dict[str, Any]]:
    out = []
    while len(out) < results:
        msg = await receive(ws, timeout)
        if msg["type"] == "result":
            out.append(msg)
    return out


def test_one_visitor_and_one_address_are_capped_with_a_clear_refusal(tmp_path, engine) -> None:
    async def test(server: Served) -> None:
        peers = [Peer(server, guest(n)) for n in (1, 2, 3)]
        try:
            a, b, c = [await p.ws() for p in peers]
            for level in range(10, 15):  # one more than a visitor may have
                await a.send_json(request(level))
            first = await answers(a, 5)
            refused = [m for m in first if m["type"] == "result"]
            assert len(refused) == 1 and refused[0]["success"] is False, first
            assert "too many jobs: at most 4" in refused[0]["error"], refused
            # another visitor from the same address: up to the address's 6, then refused
            for level in range(20, 23):
                await b.send_json(request(level))
            second = await answers(b, 3)
            refused = [m for m in second if m["type"] == "result"]
            assert (
                len(refused) == 1 and "from your network address: at most 6" in refused[0]["error"]
            )
            engine.everything.set()
            await drain(a, 4)
            await drain(b, 2)
            await c.send_json(request(30))  # all done: the address may generate again
            assert (await drain(c, 1))[0]["success"] is True
        finally:
            engine.everything.set()
            for p in peers:
                await p.close()

    run(test, app_with(tmp_path, max_jobs_per_address=6))


def test_the_line_is_bounded_in_jobs_and_in_bytes(tmp_path, engine) -> None:
    async def test(server: Served) -> None:
        peers = [Peer(server, guest(n), f"127.0.0.{n + 1}") for n in range(1, 5)]
        try:
            sockets = [await p.ws() for p in peers]
            for i, ws in enumerate(sockets):  # 2 run, 3 may wait, then the line is full
                for j in range(2):
                    await ws.send_json(request(10 + 2 * i + j))
            firsts = [m for ws in sockets for m in await answers(ws, 2)]
            refused = [m for m in firsts if m["type"] == "result"]
            assert len(refused) == 3, firsts
            assert all(
                "the generation queue is full (3 jobs waiting)" in m["error"] for m in refused
            )
            assert sum(m.get("stage") == "queued" for m in firsts) == 3
        finally:
            engine.everything.set()
            for p in peers:
                await p.close()

    run(test, app_with(tmp_path, max_queued=3))

    big = data_url(encode(np.random.default_rng(0).integers(0, 255, (400, 400, 3), np.uint8)))

    async def test_bytes(server: Served) -> None:
        peers = [Peer(server, guest(n), f"127.0.0.{n + 1}") for n in range(1, 4)]
        try:
            sockets = [await p.ws() for p in peers]
            for i, ws in enumerate(sockets):
                await ws.send_json({**request(0, f"b{i}"), "image": big})
            firsts = [(await answers(ws, 1))[0] for ws in sockets]
            refused = [m for m in firsts if m["type"] == "result"]
            assert len(refused) == 1 and "MB of photos waiting" in refused[0]["error"], firsts
        finally:
            engine.everything.set()
            for p in peers:
                await p.close()

    # one slot, room in the line for one such photo (~480 KB) but not two
    run(test_bytes, app_with(tmp_path / "b", max_running=1, max_queued_bytes=700_000))


def test_a_waiting_job_holds_its_encoded_upload_not_pixels(tmp_path, engine, monkeypatch) -> None:
    decoded: list[int] = []
    real = generate.decode_image

    def counting(data: bytes):
        pixels = real(data)
        decoded.append(int(pixels[0, 0, 0]))
        return pixels

    monkeypatch.setattr(generate, "decode_image", counting)

    async def test(server: Served) -> None:
        peers = [Peer(server, guest(n)) for n in (1, 2)]
        try:
            a, b = [await p.ws() for p in peers]
            for level in (10, 11, 12, 13):
                await a.send_json(request(level))
            for level in (20, 21):
                await b.send_json(request(level))
            await until(lambda: len(engine.started_now()) == 2, "two jobs in the engine")
            gen = server.app[generate.GENERATOR]
            await until(lambda: gen.queue.queued == 4, "four jobs waiting")
            assert sorted(decoded) == sorted(engine.started_now()), decoded  # only the running
            waiting = [v for v in (10, 11, 12, 13, 20, 21) if v not in engine.started_now()]
            assert gen.queue.queued_bytes == sum(len(png(v)) for v in waiting)
        finally:
            engine.everything.set()
            for p in peers:
                await p.close()

    run(test, app_with(tmp_path))


# ---- a REST job whose client leaves --------------------------------------------------------


def test_a_rest_job_is_cancelled_when_its_client_disconnects(tmp_path, engine) -> None:
    body = json.dumps({**request(42), "type": None}).encode()

    async def test(server: Served) -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        await until(lambda: engine.started_now() == [42], "the REST job in the engine")
        writer.close()  # the client goes away without waiting for its answer
        await until(lambda: engine.cancelled == [42], "the engine told to stop", timeout=20)
        gen = server.app[generate.GENERATOR]
        await until(lambda: not gen.jobs, "the job to end")
        assert [p.name for p in tmp_path.iterdir()] == []  # nothing stored

        # and one that leaves while it waits in line never reaches the engine
        peer = Peer(server, guest(7))
        try:
            ws = await peer.ws()
            for level in (50, 51):
                await ws.send_json(request(level))
            await until(lambda: len(engine.started_now()) == 3, "both slots busy")
            _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            waiting = json.dumps({**request(43), "type": None}).encode()
            writer.write(
                b"POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(waiting)}\r\n\r\n".encode()
                + waiting
            )
            await writer.drain()
            await until(lambda: gen.queue.queued == 1, "the REST job in line")
            writer.close()
            await until(lambda: gen.queue.queued == 0, "the REST job out of line")
            engine.everything.set()
            await drain(ws, 2)
            assert 43 not in engine.started_now()
        finally:
            engine.everything.set()
            await peer.close()

    run(test, app_with(tmp_path))


# ---- a real server: 64 huge photos in line -------------------------------------------------


def huge_png() -> bytes:
    """A solid-colour PNG of 7000x5657 (39.6 MP) in about 130 KB: 120 MB once decoded."""
    buf = io.BytesIO()
    Image.new("RGB", (7000, 5657), (200, 30, 90)).save(buf, format="PNG", compress_level=9)
    return buf.getvalue()


def test_64_queued_huge_photos_keep_the_server_small(serve: Callable[..., Server]) -> None:
    server = serve()
    image = data_url(huge_png())
    baseline = server.rss_mb()

    async def flood() -> tuple[list[str], int, float]:
        # 8 addresses x 2 visitors x 4 jobs = 64 jobs, each visitor and address at its cap;
        # then 8 more from 2 other addresses: over the line's bound
        peers: list[tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]] = []
        refusals: list[str] = []
        finished = 0
        try:
            for n in range(20):
                s = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(local_addr=(f"127.0.0.{2 + n // 2}", 0)),
                    cookie_jar=aiohttp.DummyCookieJar(),
                )
                ws = await s.ws_connect(
                    f"{server.url}/ws", headers={"Cookie": f"{GUEST}={guest(n + 1)}"}
                )
                peers.append((s, ws))
            for i, (_, ws) in enumerate(peers[:16]):
                for j in range(4):
                    await ws.send_json({**request(0, f"q{i}-{j}"), "image": image})
            await peers[0][1].send_json({**request(0, "one-too-many"), "image": image})
            for i, (_, ws) in enumerate(peers[16:]):
                for j in range(2):
                    await ws.send_json({**request(0, f"x{i}-{j}"), "image": image})

            async def listen(ws) -> None:
                nonlocal finished
                while True:
                    msg = await receive(ws, 300)
                    if msg["type"] != "result":
                        continue
                    if "no face" in msg.get("error", ""):
                        finished += 1
                    else:
                        refusals.append(msg["error"])

            listeners = [asyncio.create_task(listen(ws)) for _, ws in peers]
            try:
                for _ in range(6000):  # until 6 have been through the engine (2 at a time)
                    if finished >= 6:
                        break
                    await asyncio.sleep(0.05)
                peak = server.peak_rss_mb()
            finally:
                for t in listeners:
                    t.cancel()
            return refusals, finished, peak
        finally:
            for s, ws in peers:  # closing cancels what still waits
                await ws.close()
                await s.close()

    refusals, finished, peak = asyncio.run(asyncio.wait_for(flood(), 600))
    print(f"RSS: {baseline:.0f} MB at start, peak {peak:.0f} MB with 64 huge photos in line "
          f"({finished} generated)")  # fmt: skip
    assert finished >= 6
    assert any("too many jobs: at most 4" in r for r in refusals), refusals
    assert any("the generation queue is full" in r for r in refusals), refusals
    assert peak < 1500, f"peak RSS {peak:.0f} MB"
    assert server.health()  # still serving
    assert "Traceback" not in server.text()
