"""Browser-side tracking over real WebRTC: two aiortc peers in-process, the client sending
no video at all, only landmark messages on the `landmarks` channel (the astronaut's real
MediaPipe landmarks, rolled), and the server's tracker following them; hostile messages are
dropped and counted while the session keeps streaming."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from engine.tracking.solver import solve
from streaming import live
from streaming.landmarks import HEADER, RATE_LIMIT, encode_landmarks
from tests.photos import astronaut_landmarks
from tests.streaming.peers import Client, PhotoCamera, serve
from webapi.app import MANAGER

SIZE = (512, 512)  # the astronaut photo's (width, height)
ROLL = 20.0  # degrees


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return astronaut_landmarks()


def rolled(points: np.ndarray, degrees: float) -> np.ndarray:
    """The face turned `degrees` counter-clockwise on screen about its centre (in pixels,
    so the picture's aspect does not shear it; z, on x's scale, stays)."""
    w, h = SIZE
    px = points[:, :2] * (w, h)
    c = px.mean(axis=0)
    a = math.radians(degrees)
    # y points down on screen: counter-clockwise as seen is a negative angle in these axes
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    out = points.copy()
    out[:, :2] = ((px - c) @ rot.T + c) / (w, h)
    return out


class Browser(Client):
    """A page tracking in the browser: a recvonly section for the avatar, the `control`
    channel and the unordered, no-retransmit `landmarks` channel; no camera track."""

    def __init__(self) -> None:
        super().__init__(camera=None)
        self.landmarks = self.pc.createDataChannel("landmarks", ordered=False, maxRetransmits=0)
        self.seq = 0

    def send_face(self, points: np.ndarray | None) -> None:
        self.landmarks.send(
            encode_landmarks(points, SIZE, self.seq, asyncio.get_running_loop().time() * 1000)
        )
        self.seq += 1

    async def hold(self, points: np.ndarray | None, seconds: float, hz: float = 30.0) -> None:
        for _ in range(round(seconds * hz)):
            self.send_face(points)
            await asyncio.sleep(1 / hz)

    def status(self) -> dict:
        return self.of_type("status")[-1] if self.of_type("status") else {}


async def connect(http: TestClient, client: Client, **extra) -> tuple[int, dict]:
    sdp = await client.offer()
    resp = await http.post("/api/sessions", json={"sdp": sdp, "type": "offer", **extra})
    body = await resp.json()
    if resp.status == 200:
        await client.accept(body["sdp"])
    return resp.status, body


def angle_z(http: TestClient, session_id: str) -> float:
    session = http.server.app[MANAGER].sessions[session_id]
    return session.puppet.session.params.get("ParamAngleZ")


def test_landmarks_from_the_browser_drive_the_avatar_without_video(face, monkeypatch) -> None:
    graphs: list[object] = []
    pooled = live._pooled
    monkeypatch.setattr(live, "_pooled", lambda: graphs.append(1) or pooled())

    async def test(http: TestClient) -> None:
        client = Browser()
        status, body = await connect(http, client, tracking="browser")
        assert status == 200, body
        assert "m=video" in body["sdp"] and "a=sendonly" in body["sdp"]  # the avatar only
        await client.wait_for(
            lambda: client.landmarks.readyState == "open", 20, "the landmarks channel"
        )
        session = http.server.app[MANAGER].sessions[body["session"]]
        assert session.tracking_source == "browser"

        await client.hold(face, 1.0)
        await client.wait_for(lambda: client.status().get("tracking") == "tracking", 10, "tracking")
        s = client.status()
        assert s["tracking_source"] == "browser" and s["error"] is None
        assert s["landmarks"]["accepted"] > 0 and s["landmarks"]["refused"] == 0
        # sent at 30 Hz: a slow machine sends fewer, never more than that
        assert 0 < s["landmarks"]["per_s"] <= 45, s["landmarks"]
        upright = angle_z(http, body["session"])

        # the face rolls one way, then the other: the avatar's head roll follows (Digi is
        # mirrored: ParamAngleZ runs against the solver's roll, rigs/digi/tracking.json)
        await client.hold(rolled(face, ROLL), 1.0)
        left = angle_z(http, body["session"])
        await client.hold(rolled(face, -ROLL), 1.0)
        right = angle_z(http, body["session"])
        solver_roll = solve(rolled(face, ROLL), SIZE).roll - solve(face, SIZE).roll
        assert abs(solver_roll) > 10, solver_roll
        assert np.sign(left - right) == -np.sign(solver_roll), (upright, left, right)
        assert abs(left - right) > 15, (upright, left, right)
        assert left != upright != right

        # a face that leaves the picture: "lost" after the tracker's timeout
        await client.hold(None, 1.5)
        await client.wait_for(lambda: client.status().get("tracking") == "lost", 10, "lost")
        assert client.received > 60  # the avatar streamed all along
        assert not graphs  # no MediaPipe graph was asked for on the server
        await client.close()

    serve(test)


def test_hostile_landmark_messages_are_dropped_and_counted(face) -> None:
    async def test(http: TestClient) -> None:
        client = Browser()
        status, body = await connect(http, client, tracking="browser")
        assert status == 200, body
        await client.wait_for(
            lambda: client.landmarks.readyState == "open", 20, "the landmarks channel"
        )
        await client.hold(face, 0.5)
        await client.wait_for(lambda: client.status().get("tracking") == "tracking", 10, "tracking")
        before = client.received

        good = encode_landmarks(face, SIZE, 10_000, 1.0)
        # a NaN in a version-1 message (float32 points; version 2's int16 has none)
        nan = bytearray(encode_landmarks(face, SIZE, 10_000, 1.0, version=1))
        nan[HEADER.size : HEADER.size + 4] = np.array([np.nan], "<f4").tobytes()
        huge = bytearray(good)
        huge[2:4] = (65535).to_bytes(2, "little")
        far = bytearray(good)  # version 2: x = -32768 / 16384 = -2, left of the picture
        far[HEADER.size : HEADER.size + 2] = (-32768).to_bytes(2, "little", signed=True)
        hostile = [
            good[:-7],
            bytes(nan),
            bytes(huge),
            bytes(far),
            '{"type": "transition"}',
            b"",
            good + b"!" * 64,
        ]
        for h in hostile:
            client.landmarks.send(h)
            await asyncio.sleep(0.02)
        await client.wait_for(
            lambda: (client.status().get("landmarks") or {}).get("refused", 0) >= len(hostile), 5,
            "the hostile messages to be counted",
        )  # fmt: skip
        errors = client.status()["landmarks"]
        assert errors["refused"] == len(hostile) and errors["last_error"], errors

        # a flood far above the rate (no-face messages: 20 bytes, so SCTP's congestion
        # window does not pace them for us): cut to the rate, counted, the session goes on
        intake = http.server.app[MANAGER].sessions[body["session"]].landmarks
        r0, a0, limited0 = intake.received, intake.accepted, intake.rate_limited
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for i in range(3000):
            client.landmarks.send(encode_landmarks(None, SIZE, 20_000 + i, 2.0))
        await asyncio.sleep(1.0)
        elapsed = loop.time() - t0
        received, accepted = intake.received - r0, intake.accepted - a0
        limited = intake.rate_limited - limited0
        # (the channel never retransmits, so some of the flood may never arrive)
        assert received > 1.5 * RATE_LIMIT, f"only {received} of the flood arrived"
        assert accepted <= RATE_LIMIT * (1 + elapsed) + 1, (accepted, elapsed)
        assert limited == received - accepted > 0, intake.stats()
        assert client.landmarks.readyState == "open"
        await client.wait_for(
            lambda: client.landmarks.bufferedAmount == 0, 20, "the flood to drain"
        )
        # the status comes on the control channel, which shares the SCTP association with
        # the flood: on a loaded machine it arrives only once the flood has drained
        await client.wait_for(
            lambda: client.status()["landmarks"]["rate_limited"] >= limited,
            15,
            "the status to count it",
        )
        # the last of the flood may still be on its way after the client's buffer is empty
        # (the server's side of the association holds some): wait until nothing more
        # arrives, so what is counted next is the good messages alone
        quiet_since, seen = loop.time(), intake.received
        while loop.time() - quiet_since < 1.0 and loop.time() - t0 < 60:
            await asyncio.sleep(0.1)
            if intake.received != seen:
                quiet_since, seen = loop.time(), intake.received
        client.seq = 30_000  # on from the flood's numbers (going back by more is refused)
        # good messages after all that still drive the face (aiortc's own SCTP may take a
        # few seconds to speed up again after the flood: it is the client, not under test)
        a1, r1 = intake.accepted, intake.received
        for _ in range(20):
            await client.hold(face, 1.0)
            if intake.accepted - a1 > 30:
                break
        got = (intake.received - r1, intake.accepted - a1)
        # (an unordered channel may still deliver a late one, counted as stale, not refused)
        assert got[1] > 30 and got[1] >= 0.9 * got[0], (
            f"(received, accepted) after the flood: {got}; {intake.stats()}"
        )
        await client.wait_for(
            lambda: client.status()["tracking"] == "tracking", 10, "tracking again"
        )
        assert client.received - before > 60, "the avatar stopped streaming"
        await client.close()

    serve(test)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"tracking": "gpu"}, '"tracking" must be "browser" or "server"'),
        ({"tracking": 1}, '"tracking" must be "browser" or "server"'),
    ],
)
def test_a_bad_tracking_field_is_a_400(extra, words) -> None:
    async def test(http: TestClient) -> None:
        client = Browser()
        status, body = await connect(http, client, **extra)
        assert status == 400 and words in body["error"], body
        await client.close()

    serve(test)


def test_a_browser_tracked_offer_may_not_send_video() -> None:
    frames = [np.full((240, 320, 3), 90, np.uint8)]

    async def test(http: TestClient) -> None:
        client = Client(PhotoCamera(frames))
        status, body = await connect(http, client, tracking="browser")
        assert status == 400 and "must not send video" in body["error"], body
        assert http.server.app[MANAGER].health()["sessions"] == 0
        await client.close()

    serve(test)
