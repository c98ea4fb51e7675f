"""Benchmark: a long soak of mixed load on a real `digigami serve` (tests/security/server.py),
to show the server stays bounded: nothing leaks, nothing it should refuse cleanly becomes
an error, and everyone else keeps being served.

    .venv/bin/python -m tests.bench.bench_soak [--minutes 30] [--warmup 3]

The load, all at once, from this process (aiortc peers that count received frames without
decoding them, so the far end costs little):
- puppet sessions with browser-side tracking (landmarks of a real face): open, stream for
  10-40 s, then end one of three ways: DELETE, a closed connection, or vanishing without a
  word; some come back with their id and token (a reload);
- WHEP viewers of those sessions: some watch for a while and DELETE, some never connect;
- previews of different animations coming and going;
- avatar generations over /ws (a real photo, every style), some cancelled;
- bad input every second: malformed and deep JSON, invalid UTF-8, wrong content types,
  garbage SDP, oversized bodies, a foreign Origin, a stranger's session id;
- /api/health polled twice a second (its latency is the service's responsiveness).

Reported: unexpected errors (a 5xx, a refused connection, a dropped WebSocket, an ERROR or
traceback in the server's log), RSS, threads and fds over time, health latency p50/p99,
and leaked threads/fds (idle at the end against idle after warm-up). Goals (issue 12):
0 unexpected errors, RSS flat within 100 MB after warm-up, health p99 under 100 ms.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import platform
import random
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from tests.security.server import Server
from tests.streaming.peers import Client

ERROR_LINES = ("Traceback", " ERROR ", " CRITICAL ")


@dataclass
class Tally:
    """What happened, by kind; `unexpected` are the failures that count against the goal."""

    counts: dict[str, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    health_ms: list[float] = field(default_factory=list)
    samples: list[dict[str, float]] = field(default_factory=list)

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def fail(self, what: str) -> None:
        self.unexpected.append(f"{time.strftime('%H:%M:%S')} {what}")


def _skip_decoding() -> None:
    """Received frames are counted, not decoded (decoding every stream here would load the
    same two cores the server runs on)."""
    from aiortc.codecs import vpx
    from av import VideoFrame

    stand_in = VideoFrame(16, 16, "yuv420p")
    vpx.Vp8Decoder.decode = lambda self, encoded_frame: [stand_in]


def _face_points() -> tuple[np.ndarray, tuple[int, int]]:
    """MediaPipe's landmarks of a real face photo, once: what a page's FaceMesh would send."""
    from engine.tracking.landmarker import FaceLandmarker
    from tests.photos import astronaut

    photo = astronaut()
    with FaceLandmarker() as lm:
        result = lm.process(photo)
    if not result.found:
        raise SystemExit("MediaPipe found no face in the test photo")
    return np.asarray(result.landmarks, np.float32), (photo.shape[1], photo.shape[0])


class Soak:
    def __init__(self, server: Server, tally: Tally) -> None:
        self.server = server
        self.url = server.url
        self.end = 0.0  # of the phase running (`run`)
        self.phase = "warm-up"
        self.tally = tally
        self.live: dict[str, dict[str, Any]] = {}  # session id -> its answer (token, URLs)
        self.points, self.size = _face_points()
        self.photo = self._photo_data_url()

    def running(self) -> bool:
        return time.monotonic() < self.end

    async def run(self, http: aiohttp.ClientSession, phase: str, minutes: float, t0: float) -> None:
        """Every actor at once for `minutes`; an actor that crashes is an unexpected error."""
        self.phase, self.end = phase, time.monotonic() + minutes * 60
        actors = [self.puppets(http), self.puppets(http), self.viewers(http),
                  self.viewers(http), self.previews(http), self.generations(http),
                  self.bad_inputs(http), self.health(http), self.sampler(t0)]  # fmt: skip
        for r in await asyncio.gather(*actors, return_exceptions=True):
            if isinstance(r, BaseException):
                self.tally.fail(f"an actor crashed: {type(r).__name__}: {r}")

    async def _sleep(self, lo: float, hi: float) -> None:
        await asyncio.sleep(min(random.uniform(lo, hi), max(0.0, self.end - time.monotonic())))

    @staticmethod
    def _photo_data_url() -> str:
        import io

        from PIL import Image

        from tests.photos import astronaut

        buf = io.BytesIO()
        Image.fromarray(astronaut()).resize((256, 256)).save(buf, "JPEG", quality=85)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()

    # --- actors -------------------------------------------------------------------------------

    async def puppets(self, http: aiohttp.ClientSession) -> None:
        from streaming.landmarks import encode_landmarks

        resume: dict[str, str] | None = None
        while self.running():
            client = Client()
            channel = client.pc.createDataChannel("landmarks", ordered=False, maxRetransmits=0)
            sdp = await client.offer()
            body: dict[str, Any] = {"sdp": sdp, "type": "offer", "tracking": "browser"}
            if resume:
                body.update(resume)
            async with http.post(f"{self.url}/api/sessions", json=body) as r:
                answer = await r.json()
                status = r.status
            if status == 503:
                self.tally.count("session busy (503)")
                await client.close()
                await self._sleep(1, 3)
                continue
            if status != 200:
                self.tally.fail(f"open session: HTTP {status} {answer}")
                await client.close()
                await self._sleep(1, 3)
                continue
            self.tally.count("session resumed" if resume else "session opened")
            await client.accept(answer["sdp"])
            sid = answer["session"]
            self.live[sid] = answer
            hold = time.monotonic() + random.uniform(10, 40)
            seq = 0
            jitter = np.random.default_rng(seq)
            while time.monotonic() < hold and self.running():
                if channel.readyState == "open":
                    pts = self.points + jitter.normal(0, 0.002, self.points.shape).astype(
                        np.float32
                    )
                    channel.send(encode_landmarks(pts, self.size, seq, time.monotonic() * 1000))
                    seq += 1
                await asyncio.sleep(1 / 30)
            if client.received < 10:
                self.tally.fail(f"session {sid}: only {client.received} frames in its life")
            self.live.pop(sid, None)
            way = random.random()
            resume = None
            if way < 0.4:
                token = answer["token"]
                async with http.delete(
                    f"{self.url}/api/sessions/{sid}", headers={"Authorization": f"Bearer {token}"}
                ) as r:
                    if r.status != 200:
                        self.tally.fail(f"DELETE session: HTTP {r.status}")
                await client.close()
                self.tally.count("session deleted")
            elif way < 0.7:
                await client.close()
                self.tally.count("session closed by its peer")
                if random.random() < 0.5:
                    resume = {"session": sid, "token": answer["token"]}
            else:
                await client.vanish()
                await client.close()
                self.tally.count("session vanished")
            await self._sleep(1, 5)

    async def viewers(self, http: aiohttp.ClientSession) -> None:
        while self.running():
            await self._sleep(2, 6)
            if not self.live:
                continue
            sid, answer = random.choice(list(self.live.items()))
            client = Client()
            sdp = await client.offer(channel=False)
            async with http.post(
                f"{self.url}/whep/{sid}",
                data=sdp,
                headers={
                    "Content-Type": "application/sdp",
                    "Authorization": f"Bearer {answer['token']}",
                },
            ) as r:
                text = await r.text()
                status, location = r.status, r.headers.get("Location")
            if status in (404, 503):  # the session ended meanwhile / viewers at their limit
                self.tally.count(f"viewer refused ({status})")
                await client.close()
                continue
            if status != 201:
                self.tally.fail(f"WHEP offer: HTTP {status} {text[:200]}")
                await client.close()
                continue
            if random.random() < 0.25:  # never connects: the server must drop it
                await client.close()
                self.tally.count("viewer never connected")
                continue
            await client.accept(text)
            self.tally.count("viewer watched")
            await self._sleep(5, 20)
            async with http.delete(
                f"{self.url}{location}", headers={"Authorization": f"Bearer {answer['token']}"}
            ) as r:
                if r.status not in (200, 404):  # 404: its session ended first
                    self.tally.fail(f"WHEP DELETE: HTTP {r.status}")
            await client.close()

    async def previews(self, http: aiohttp.ClientSession) -> None:
        animations = ["idle", "wave", "dance_1", "dance_3", "jump", "cheer", "nosuchdance"]
        while self.running():
            client = Client()
            sdp = await client.offer(channel=False)
            body = {"sdp": sdp, "type": "offer", "animation": random.choice(animations),
                    "size": 256, "fps": 30}  # fmt: skip
            async with http.post(f"{self.url}/api/previews", json=body) as r:
                answer = await r.json()
                status = r.status
            if status == 200:
                await client.accept(answer["sdp"])
                self.tally.count("preview watched")
                await self._sleep(5, 20)
            elif status in (400, 503):  # an animation this rig lacks / previews at the limit
                self.tally.count(f"preview refused ({status})")
            else:
                self.tally.fail(f"preview: HTTP {status} {answer}")
            await client.close()
            await self._sleep(1, 4)

    async def generations(self, http: aiohttp.ClientSession) -> None:
        from engine.style import STYLES

        styles = itertools.cycle(STYLES)  # in turn: the warm-up meets every style
        while self.running():
            try:
                async with http.ws_connect(f"{self.url}/ws") as ws:
                    while self.running():
                        sid = "soak_" + secrets.token_hex(4)
                        await ws.send_json({
                            "type": "generate_avatar", "sessionId": sid, "image": self.photo,
                            "style": next(styles),
                            "options": {"outputSize": 256},
                        })  # fmt: skip
                        if random.random() < 0.2:
                            await ws.send_json({"type": "generate:cancel", "sessionId": sid})
                        # a deep message on the same socket: refused, the socket lives on
                        if random.random() < 0.3:
                            await ws.send_str("[" * 50_000 + "]" * 50_000)
                        while True:
                            msg = await asyncio.wait_for(ws.receive(), 120)
                            if msg.type != aiohttp.WSMsgType.TEXT:
                                self.tally.fail(f"generation socket closed: {msg.type} {msg.data}")
                                break
                            data = json.loads(msg.data)
                            if data.get("type") == "result" and data.get("sessionId") == sid:
                                ok = data.get("success")
                                err = str(data.get("error", ""))
                                if ok:
                                    self.tally.count("generation done")
                                elif "cancel" in err or "too many" in err or "quota" in err:
                                    self.tally.count("generation cancelled or refused")
                                else:
                                    self.tally.fail(f"generation failed: {err}")
                                break
                        else:
                            continue
                        await self._sleep(10, 30)
                        if ws.closed:
                            break
            except (aiohttp.ClientError, TimeoutError) as e:
                self.tally.fail(f"generation socket: {type(e).__name__}: {e}")
                await self._sleep(2, 5)

    async def bad_inputs(self, http: aiohttp.ClientSession) -> None:
        deep = ("[" * 100_000 + "]" * 100_000).encode()
        cases: list[tuple[str, str, bytes, dict[str, str]]] = [
            ("POST", "/api/sessions", b'{"sdp": "v=0 garbage", "type": "offer"}',
             {"Content-Type": "application/json"}),
            ("POST", "/api/sessions", deep, {"Content-Type": "application/json"}),
            ("POST", "/api/sessions", b'{"sdp": "\xff\xfe"}', {"Content-Type": "application/json"}),
            ("POST", "/api/sessions", b'{"sdp": "x"}', {"Content-Type": "text/plain"}),
            ("POST", "/api/previews", b'{"animation": [1, 2]}', {"Content-Type": "application/json"}),
            ("POST", "/api/generate", deep, {"Content-Type": "application/json"}),
            ("POST", "/api/generate", b"x" * (40 * 2**20), {"Content-Type": "application/json"}),
            ("POST", "/whep/nosuchsession", b"v=0\r\n", {"Content-Type": "application/sdp"}),
            ("POST", "/whep/nosuchsession", b"\xff\xfe", {"Content-Type": "application/sdp"}),
            ("DELETE", "/api/sessions/nosuchsession", b"", {}),
            ("GET", "/avatars/../../etc/passwd", b"", {}),
            ("GET", "/static/../../pyproject.toml", b"", {}),
        ]  # fmt: skip
        while self.running():
            method, path, body, headers = random.choice(cases)
            try:
                async with http.request(method, self.url + path, data=body, headers=headers) as r:
                    await r.read()
                    if r.status >= 500:
                        self.tally.fail(f"{method} {path} ({len(body)} B): HTTP {r.status}")
                    else:
                        self.tally.count(f"bad input refused ({r.status})")
            except aiohttp.ClientError as e:
                # a refusal may close the connection before an oversized body is all sent
                if len(body) < 2**20:
                    self.tally.fail(f"{method} {path}: {type(e).__name__}: {e}")
                else:
                    self.tally.count("bad input refused (connection closed)")
            # a foreign page opening our socket
            if random.random() < 0.1:
                with contextlib.suppress(aiohttp.WSServerHandshakeError):
                    async with http.ws_connect(
                        f"{self.url}/ws", headers={"Origin": "https://evil.example"}
                    ):
                        self.tally.fail("/ws accepted a foreign Origin")
                self.tally.count("foreign origin refused")
            await asyncio.sleep(1.0)

    async def health(self, http: aiohttp.ClientSession) -> None:
        while self.running():
            t0 = time.perf_counter()
            try:
                async with http.get(
                    f"{self.url}/api/health", timeout=aiohttp.ClientTimeout(5)
                ) as r:
                    await r.read()
                    if r.status != 200:
                        self.tally.fail(f"health: HTTP {r.status}")
                self.tally.health_ms.append((time.perf_counter() - t0) * 1000)
            except (aiohttp.ClientError, TimeoutError) as e:
                self.tally.fail(f"health: {type(e).__name__}")
            await asyncio.sleep(0.5)

    async def sampler(self, start: float) -> None:
        while self.running():
            self.tally.samples.append(self.sample(start))
            await asyncio.sleep(10)

    def sample(self, start: float) -> dict[str, Any]:
        s = self.server
        return {"t": time.monotonic() - start, "phase": self.phase, "rss": s.rss_mb(),
                "threads": s.threads(), "fds": s.fds()}  # fmt: skip


async def _idle(server: Server, timeout: float = 60.0) -> dict[str, Any]:
    """Once the server holds no sessions, previews or peers (and 10 s more, for pools to
    settle): its threads, fds and RSS, with its health."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        h = server.health()
        if not h.get("sessions") and not h.get("previews") and not h.get("peers"):
            break
        await asyncio.sleep(1)
    await asyncio.sleep(10)
    return {"threads": server.threads(), "fds": server.fds(), "rss": round(server.rss_mb()),
            "health": server.health()}  # fmt: skip


async def soak(minutes: float, warmup: float) -> None:
    """`warmup` minutes of load (every cache and pool fills), idle, then `minutes` measured,
    then idle again: what the second idle holds more than the first is a leak."""
    _skip_decoding()
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    server = Server(folder, "--max-sessions", "3", "--max-previews", "4").start()
    tally = Tally()
    try:
        s = Soak(server, tally)
        t0 = time.monotonic()
        print(f"soak: {warmup:g} + {minutes:g} min against {server.url} (log {server.log})")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=180)) as http:
            await s.run(http, "warm-up", warmup, t0)
            idle0 = await _idle(server)
            print(f"after warm-up, idle: {idle0}", flush=True)
            await s.run(http, "measured", minutes, t0)
        idle1 = await _idle(server)
        report(tally, server, minutes, warmup, idle0, idle1)
    finally:
        server.stop()


def report(
    tally: Tally,
    server: Server,
    minutes: float,
    warmup: float,
    idle0: dict[str, Any],
    idle1: dict[str, Any],
) -> None:
    log_errors = [
        line for line in server.text().splitlines() if any(k in line for k in ERROR_LINES)
    ]
    after = [x for x in tally.samples if x["phase"] == "measured"]
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs; warm-up {warmup:g} min, "
          f"then {minutes:g} min measured")  # fmt: skip
    print("\n| minute | RSS MB | threads | fds |")
    print("|---|---|---|---|")
    for x in tally.samples[::6]:  # one a minute
        print(f"| {x['t'] / 60:.0f} ({x['phase']}) | {x['rss']:.0f} | {x['threads']:.0f} "
              f"| {x['fds']:.0f} |")  # fmt: skip
    if after:
        rss = [x["rss"] for x in after]
        print(f"\nRSS after warm-up: {min(rss):.0f}..{max(rss):.0f} MB "
              f"(spread {max(rss) - min(rss):.0f} MB; goal <= 100)")  # fmt: skip
    if tally.health_ms:
        h = np.asarray(tally.health_ms)
        print(f"health latency: p50 {np.percentile(h, 50):.1f} ms, p99 {np.percentile(h, 99):.1f} ms, "
              f"max {h.max():.0f} ms over {h.size} polls (goal p99 < 100 ms)")  # fmt: skip
    print(f"idle after warm-up: {idle0}\nidle at the end:   {idle1}")
    print(f"leaked: threads {idle1['threads'] - idle0['threads']:+.0f}, "
          f"fds {idle1['fds'] - idle0['fds']:+.0f}")  # fmt: skip
    print("\nwhat happened:")
    for k, v in sorted(tally.counts.items()):
        print(f"  {v:6d}  {k}")
    unexpected = tally.unexpected + [f"server log: {line}" for line in log_errors]
    print(f"\nunexpected errors: {len(unexpected)} (goal 0)")
    for line in unexpected[:40]:
        print(f"  {line}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="minutes measured")
    ap.add_argument("--warmup", type=float, default=3.0, help="minutes of load before them")
    args = ap.parse_args()
    asyncio.run(soak(args.minutes, args.warmup))


if __name__ == "__main__":
    main()
