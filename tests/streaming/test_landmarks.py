"""The landmarks message (streaming/landmarks.py) and its intake, without a network: a message
survives the round trip, every refusal names what is wrong, the intake keeps the newest,
cuts a flood to the rate, logs rarely and never raises, and the tracking worker turns real
landmarks into the same signals whichever way they came."""

from __future__ import annotations

import base64
import json
import logging
import math
import shutil
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from engine.assets import AvatarBundle
from engine.tracking import FaceTracker
from engine.tracking.solver import solve
from engine.tracking.worker import TrackingWorker
from streaming import landmarks as lm
from streaming.intake import WARN_EVERY
from streaming.landmarks import (
    HEADER,
    MESSAGE_SIZE,
    POINTS,
    RATE_LIMIT,
    LandmarkError,
    LandmarkIntake,
    encode_landmarks,
    offer_tracking,
    parse_landmarks,
    sends_video,
)
from tests.photos import astronaut_landmarks

SIZE = (512, 512)  # the astronaut photo


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """The astronaut's 478 landmarks, found by the real landmarker."""
    return astronaut_landmarks()


def message(points: np.ndarray | None = None, **fields) -> bytes:
    """A message with header fields overridden (`flags`, `count`, ...), points as given."""
    head = dict(version=1, flags=0 if points is None else 1, count=0 if points is None else POINTS,
                seq=1, ms=1000.0, w=640, h=480)  # fmt: skip
    head.update(fields)
    body = b"" if points is None else np.asarray(points, "<f4").tobytes()
    return HEADER.pack(*head.values()) + body


# --- the format -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "size", "step"),
    [(2, 20 + 478 * 6, 0.5 / lm.Q), (1, MESSAGE_SIZE, 1e-6)],  # int16 / float32 on the wire
    ids=["version 2", "version 1"],
)
def test_a_message_survives_the_round_trip(
    face: np.ndarray, version: int, size: int, step: float
) -> None:
    """Version 2 (what the page sends) and version 1 (a page cached before it) both read."""
    data = encode_landmarks(face, (640, 480), seq=41, captured_ms=12345.25, version=version)
    assert len(data) == size
    msg = parse_landmarks(data)
    assert (msg.version, msg.face, msg.seq, msg.captured_ms, msg.image_size) == (
        version, True, 41, 12345.25, (640, 480),
    )  # fmt: skip
    assert msg.points is not None and msg.points.dtype == np.float64
    np.testing.assert_allclose(msg.points, face, rtol=0, atol=step)
    # and the solver reads the same face from it: the head's angles within a hundredth of a
    # degree, the eyes and mouth (0..1) within half a percent (an eye's opening is a lid gap
    # of a few pixels over its width: the int16 step moves it by 0.2%; FaceMesh's own jitter
    # there is a few percent)
    ours, theirs = solve(msg.points, (640, 480)), solve(face, (640, 480))
    for name, within in (("yaw", 0.01), ("pitch", 0.01), ("roll", 0.01), ("eye_open_l", 5e-3),
                         ("eye_open_r", 5e-3), ("mouth_open", 5e-3)):  # fmt: skip
        assert getattr(ours, name) == pytest.approx(getattr(theirs, name), abs=within), name


def test_version_2_is_half_the_bytes_and_holds_the_edges_of_its_range(face: np.ndarray) -> None:
    assert lm.VERSION == 2
    assert len(encode_landmarks(face, SIZE)) * 2 - 20 == MESSAGE_SIZE
    edge = face.copy()
    edge[0] = (-1.0, 1.99, -2.0)  # the lowest x/y and z the server takes, nearly the highest
    back = parse_landmarks(encode_landmarks(edge, SIZE)).points
    assert back is not None
    np.testing.assert_allclose(back[0], edge[0], atol=0.5 / lm.Q)
    # beyond the int16 range a point is held to it, then refused where the server refuses
    far = face.copy()
    far[0, 0] = -5.0
    with pytest.raises(LandmarkError, match=r"x/y outside -1.0..2.0"):
        parse_landmarks(encode_landmarks(far, SIZE))
    for bad in (math.nan, math.inf):  # int16 has neither: written as -2, refused as such
        far[0, 0] = bad
        with pytest.raises(LandmarkError, match=r"x/y outside -1.0..2.0"):
            parse_landmarks(encode_landmarks(far, SIZE))
    with pytest.raises(ValueError, match="unknown version 3"):
        encode_landmarks(face, SIZE, version=3)


def test_no_face_is_a_header_alone() -> None:
    data = encode_landmarks(None, (320, 240), seq=7, captured_ms=5.0)
    assert len(data) == HEADER.size
    msg = parse_landmarks(data)
    assert not msg.face and msg.points is None and msg.seq == 7 and msg.image_size == (320, 240)
    # bytearray and memoryview (what some channels hand over) are bytes too
    assert parse_landmarks(bytearray(data)).seq == 7
    assert parse_landmarks(memoryview(data)).seq == 7


def test_the_header_is_little_endian_at_fixed_offsets() -> None:
    """What tracking.js writes with a DataView: the layout is the contract."""
    data = encode_landmarks(None, (640, 480), seq=0x01020304, captured_ms=1.5)
    assert data[0] == 2 and data[1] == 0
    assert data[2:4] == b"\x00\x00"
    assert data[4:8] == bytes([4, 3, 2, 1])
    assert struct.unpack("<d", data[8:16])[0] == 1.5
    assert struct.unpack("<HH", data[16:20]) == (640, 480)


def _with(face: np.ndarray, index: tuple[int, int], value: float) -> np.ndarray:
    p = face.copy()
    p[index] = value
    return p


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda f: "x" * 30, "binary, got a text message"),
        (lambda f: 12345, "binary, got int"),
        (lambda f: b"\x01" * 10, "shorter than the 20-byte header"),
        (lambda f: message(f) + b"\x00" * 4, "longer than the largest valid one"),
        (lambda f: b"\x00" * 100_000, "longer than the largest valid one"),
        (lambda f: message(f, version=3), "unknown version 3 (this server reads versions 1 and 2)"),
        (lambda f: message(f, version=0), "unknown version 0"),
        (lambda f: message(f, version=2), "5756 bytes for 478 points (expected 2888)"),
        (lambda f: message(f, version=2)[:2908], "2908 bytes for 478 points (expected 2888)"),
        (lambda f: encode_landmarks(f, SIZE)[:-2], "2886 bytes for 478 points (expected 2888)"),
        (lambda f: message(None, version=2, count=478, flags=1), "20 bytes for 478 points"),
        (lambda f: message(f, flags=0x81), "unknown flag bits 0x80"),
        (lambda f: message(None, count=65535), "point count 65535"),
        (lambda f: message(None, count=477), "point count 477"),
        (lambda f: message(None, flags=1), "the face flag says a face but the count is 0"),
        (lambda f: message(f, flags=0), "the face flag says no face but the count is 478"),
        (lambda f: message(f)[:-12], "5744 bytes for 478 points (expected 5756)"),
        (lambda f: message(None, count=478, flags=1), "20 bytes for 478 points"),
        (lambda f: message(f, ms=math.nan), "capture time nan ms"),
        (lambda f: message(f, ms=-5.0), "capture time -5.0 ms"),
        (lambda f: message(f, ms=math.inf), "capture time inf ms"),
        (lambda f: message(f, w=8), "image size 8x480"),
        (lambda f: message(f, h=5000), "image size 640x5000"),
        (lambda f: message(_with(f, (10, 0), math.nan)), "NaN or infinity"),
        (lambda f: message(_with(f, (10, 2), -math.inf)), "NaN or infinity"),
        (lambda f: message(_with(f, (3, 1), 7.0)), "x/y outside -1.0..2.0"),
        (lambda f: message(_with(f, (3, 0), -1e30)), "x/y outside -1.0..2.0"),
        (lambda f: message(_with(f, (3, 2), 50.0)), "|z| up to 50"),
    ],
)
def test_every_refusal_names_what_is_wrong(face: np.ndarray, make, words: str) -> None:
    with pytest.raises(LandmarkError, match=None) as e:
        parse_landmarks(make(face))
    assert words in str(e.value), str(e.value)


def test_encode_refuses_a_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"\(478, 3\)"):
        encode_landmarks(np.zeros((468, 3)), (640, 480))


def test_offers_say_where_the_face_is_tracked() -> None:
    recv = "v=0\r\nm=video 9 UDP 96\r\na=recvonly\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    send = "v=0\r\nm=video 9 UDP 96\r\na=sendrecv\r\n"
    bare = "v=0\r\nm=video 9 UDP 96\r\na=mid:0\r\n"  # no direction: sendrecv
    assert not sends_video(recv) and sends_video(send) and sends_video(bare)
    assert offer_tracking({"sdp": send}) == "server"
    assert offer_tracking({"sdp": send, "tracking": "server"}) == "server"
    assert offer_tracking({"sdp": recv, "tracking": "browser"}) == "browser"
    with pytest.raises(ValueError, match="must not send video"):
        offer_tracking({"sdp": send, "tracking": "browser"})
    with pytest.raises(ValueError, match='"tracking" must be "browser" or "server"'):
        offer_tracking({"sdp": recv, "tracking": "gpu"})
    with pytest.raises(ValueError, match='"tracking" must be'):
        offer_tracking({"sdp": recv, "tracking": ["browser"]})


# --- the intake -------------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.got: list[tuple[np.ndarray | None, tuple[int, int], float]] = []

    def submit_landmarks(self, points, image_size, t=None) -> None:
        self.got.append((points, image_size, t))


class Clock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_the_intake_keeps_the_newest_and_refuses_a_big_rewind(face: np.ndarray) -> None:
    sink, clock = Sink(), Clock()
    intake = LandmarkIntake(sink, clock=clock)
    for seq in (1010, 1011, 1009, 1012, 1011):  # 1009, 1011 come late (the channel is unordered)
        clock.t += 1 / 30
        intake.receive(encode_landmarks(face, SIZE, seq=seq, captured_ms=seq * 33.3))
    assert [round(t[2], 6) for t in sink.got] == sorted(round(t[2], 6) for t in sink.got)
    assert (intake.accepted, intake.stale, intake.refused) == (3, 2, 0)
    clock.t += 0.1
    assert not intake.receive(encode_landmarks(face, SIZE, seq=1012 - 500, captured_ms=1.0))
    assert intake.refused == 1 and "sequence went back from 1012 to 512" in intake.last_error


def test_capture_times_map_onto_the_server_clock_without_jitter(face: np.ndarray) -> None:
    """The least-delayed message sets the offset; later ones keep their browser spacing,
    however late they arrive, and never land in the future."""
    sink, clock = Sink(), Clock(500.0)
    intake = LandmarkIntake(sink, clock=clock)
    delays = [0.030, 0.010, 0.050, 0.012, 0.080, 0.011]
    for i, d in enumerate(delays):
        captured = 2000.0 + i * 1000 / 30  # ms on the browser's clock
        clock.t = 500.0 + i / 30 + d
        intake.receive(encode_landmarks(face, SIZE, seq=i, captured_ms=captured))
        assert sink.got[-1][2] <= clock.t
    times = np.array([t for _, _, t in sink.got])
    steps = np.diff(times[1:])  # from the second on, the offset is the 10 ms one
    np.testing.assert_allclose(steps, 1 / 30, atol=0.0015)


def test_capture_times_that_jump_about_never_send_the_tracker_back(face: np.ndarray) -> None:
    sink, clock = Sink(), Clock(10.0)
    intake = LandmarkIntake(sink, clock=clock)
    for i, ms in enumerate([5000.0, 5033.0, 1.0, 9e9, 5100.0, 0.0]):
        clock.t += 1 / 30
        assert intake.receive(encode_landmarks(face, SIZE, seq=i, captured_ms=ms))
    times = [t for _, _, t in sink.got]
    assert times == sorted(times) and all(t <= clock.t for t in times), times
    # and a clock that jumped does not hold the face in the past
    assert times[-1] >= clock.t - lm.MAX_AGE


def test_a_flood_is_cut_to_the_rate_and_logged_rarely(face: np.ndarray, caplog) -> None:
    sink, clock = Sink(), Clock()
    intake = LandmarkIntake(sink, clock=clock, name="flooder")
    data = [encode_landmarks(face, SIZE, seq=i, captured_ms=i) for i in range(2000)]
    with caplog.at_level(logging.WARNING, logger="streaming.landmarks"):
        for i, d in enumerate(data):  # 2000 messages in 2 s: 1000 a second
            clock.t = 100.0 + i / 1000
            intake.receive(d)
    # a second's burst, then the rate: about 120 + 2 * 120 of the 2000
    assert RATE_LIMIT <= intake.accepted <= 3 * RATE_LIMIT + 2, intake.stats()
    assert intake.rate_limited == 2000 - intake.accepted == intake.refused
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert 1 <= len(warnings) <= 1 + 2 / WARN_EVERY, [r.message for r in warnings]
    assert "flooder" in warnings[0].getMessage() and "messages a second" in warnings[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records)  # never a traceback
    # and once the flood stops, messages go through again
    clock.t += 2.0
    assert intake.receive(encode_landmarks(face, SIZE, seq=5000, captured_ms=5000.0))


def test_bad_messages_are_counted_and_the_intake_never_raises(face: np.ndarray, caplog) -> None:
    sink, clock = Sink(), Clock()
    intake = LandmarkIntake(sink, clock=clock)
    bad = [b"", "text", None, b"\xff" * 5756, message(_with(face, (0, 0), math.nan))]
    with caplog.at_level(logging.WARNING, logger="streaming.landmarks"):
        for d in bad:
            clock.t += 0.05
            assert intake.receive(d) is False
    assert intake.refused == len(bad) and not sink.got
    assert intake.stats()["refused"] == len(bad) and intake.stats()["last_error"]
    assert len(caplog.records) == 1  # one warning for the lot (within WARN_EVERY)
    clock.t += WARN_EVERY + 0.1
    intake.receive(b"")
    assert (
        len(caplog.records) == 2
        and "4 more since the last warning" in caplog.records[1].getMessage()
    )


def test_attach_counts_every_message_as_heard_and_ignores_server_sessions(face: np.ndarray) -> None:
    class Channel:
        def __init__(self) -> None:
            self.handlers = {}

        def on(self, event):
            def register(f):
                self.handlers[event] = f
                return f

            return register

    class Session:
        def __init__(self, source: str) -> None:
            self.tracking_source, self.worker, self.landmarks = source, Sink(), None
            self.clock, self.id = Clock(3.0), "s1"

    heard: list[float] = []
    browser = Session("browser")
    ch = Channel()
    intake = lm.attach(browser, ch, heard.append)
    assert intake is browser.landmarks
    ch.handlers["message"](encode_landmarks(face, SIZE, seq=1, captured_ms=1.0))
    ch.handlers["message"]("hostile text")
    assert heard == [3.0, 3.0] and intake.accepted == 1 and intake.refused == 1
    # a second channel shares the session's intake (and so its rate limit)
    assert lm.attach(browser, Channel(), heard.append) is intake
    server = Session("server")
    assert lm.attach(server, Channel(), heard.append) is None and server.landmarks is None


# --- the worker -------------------------------------------------------------------------------


def test_landmarks_reach_the_tracker_like_frames_do_and_no_landmarker_is_made(
    digi: AvatarBundle, face: np.ndarray
) -> None:
    assert digi.tracking is not None
    tracker = FaceTracker(digi.tracking, digi.rig)
    worker = TrackingWorker(tracker, landmarker_factory=None).start()
    try:
        t0 = time.monotonic()
        for i in range(10):
            worker.submit_landmarks(face, SIZE, t0 + i / 30)
            assert worker.wait_for(i + 1, 10.0)
        worker.submit_landmarks(None, SIZE, t0 + 11 / 30)  # a frame without a face
        assert worker.wait_for(11, 10.0)
        worker.submit(np.zeros((480, 640, 3), np.uint8))  # no graph to take a frame
        assert (worker.landmarks, worker.faces, worker.errors, worker.dropped) == (11, 10, 0, 1)
        assert worker.error is None
        assert tracker.signals is not None and tracker.last_face == pytest.approx(t0 + 9 / 30)
        # the same signals the solver gives (the filters settle on a still face)
        assert tracker.signals.yaw == pytest.approx(solve(face, SIZE).yaw, abs=3.0)
    finally:
        assert worker.stop()


def test_landmarks_the_solver_refuses_are_an_error_not_a_crash(digi: AvatarBundle) -> None:
    assert digi.tracking is not None
    tracker = FaceTracker(digi.tracking, digi.rig)
    with TrackingWorker(tracker, landmarker_factory=None) as worker:
        worker.submit_landmarks(np.zeros((468, 3)), SIZE)
        assert worker.wait_for(1, 10.0)
        assert worker.errors == 1 and "LandmarkShapeError" in (worker.error or "")


# --- the browser's FaceMesh, served by us ------------------------------------------------------


def _vendor(name: str, root) -> tuple[int, str, bytes]:
    import asyncio

    from aiohttp.test_utils import make_mocked_request

    from webapi import app

    async def go():
        request = make_mocked_request("GET", f"/vendor/face_mesh/{name}", match_info={"name": name})
        original = app.FACE_MESH
        app.FACE_MESH = root
        try:
            resp = await app.face_mesh_file(request)
        finally:
            app.FACE_MESH = original
        body = resp.text.encode() if getattr(resp, "text", None) else b""
        return resp.status, resp.headers.get("Content-Type", ""), body

    return asyncio.run(go())


def test_face_mesh_files_are_served_from_the_package_only(tmp_path) -> None:
    pkg = tmp_path / "node_modules" / "@mediapipe" / "face_mesh"
    pkg.mkdir(parents=True)
    (pkg / "face_mesh_solution_simd_wasm_bin.wasm").write_bytes(b"\0asm")
    (pkg / "face_mesh.js").write_text("window.FaceMesh = 1;")
    (pkg / "README.md").write_text("not ours to serve")
    (tmp_path / "secret.js").write_text("no")
    status, ctype, _ = _vendor("face_mesh_solution_simd_wasm_bin.wasm", pkg)
    assert status == 200 and ctype == "application/wasm"  # instantiateStreaming needs it
    assert _vendor("face_mesh.js", pkg)[:2] == (200, "text/javascript")
    for name in ("README.md", "../../../secret.js", "..", ".hidden.js", "missing.js", "a\\b.js"):
        status, _, body = _vendor(name, pkg)
        assert status == 404 and b"@mediapipe/face_mesh" in body, (name, status, body)


def test_a_missing_face_mesh_install_says_so(tmp_path) -> None:
    status, _, body = _vendor("face_mesh.js", tmp_path / "absent")
    assert status == 503 and b"npm ci" in body and b"falls back to tracking on the server" in body


_PAGE_ENCODES = """
import { encodeLandmarks } from %s;
// Python's json writes NaN and Infinity bare, which JSON.parse does not take: quote them
const text = process.argv[2].replace(/-?Infinity|NaN/g, (m) => `"${m}"`);
const points = JSON.parse(text).map((p) => p.map(Number)).map(([x, y, z]) => ({ x, y, z }));
const buf = encodeLandmarks(points, 7, 1234.5, 640, 480);
process.stdout.write(Buffer.from(buf).toString("base64"));
"""


def test_what_the_page_writes_is_what_the_server_reads(face: np.ndarray, tmp_path) -> None:
    """webapi/static/tracking.js's encoder, run by node (the page's own code, no browser
    needed: it touches no DOM to encode), against `parse_landmarks`: the layout is the
    contract between the two, so each side is checked against the other, not itself."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (.ci/setup installs it)")
    page = Path(__file__).resolve().parents[2] / "webapi" / "static" / "tracking.js"
    script = tmp_path / "encode.mjs"
    script.write_text(_PAGE_ENCODES % json.dumps(page.as_uri()))
    points = face.copy()
    points[0] = (-1.0, 1.99, -2.0)  # the range's edges
    points[1] = (5.0, -7.0, 0.5)  # held to int16's range (the server refuses it: not here)
    points[2] = (math.nan, math.inf, 0.5)  # no NaN or infinity in int16: -2 (refused too)
    run = subprocess.run(
        [node, str(script), json.dumps(points.tolist())],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    # the very bytes the server's own encoder writes (both round halves up, hold the range)
    written = base64.b64decode(run.stdout)
    assert written == encode_landmarks(points, (640, 480), 7, 1234.5)
    points[1:3] = face[1:3]
    written = written[:26] + encode_landmarks(points, (640, 480))[26:38] + written[38:]
    msg = parse_landmarks(written)
    assert (msg.version, msg.face, msg.seq, msg.captured_ms, msg.image_size) == (
        lm.VERSION, True, 7, 1234.5, (640, 480),
    )  # fmt: skip
    assert msg.points is not None
    np.testing.assert_allclose(msg.points, points, rtol=0, atol=0.5 / lm.Q)
