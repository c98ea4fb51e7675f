"""The voice channel (streaming/voice.py) without a network: the message's round trip, every
refusal named, the intake's order, rate limit and counters, and a live session (with a
camera, and camera-less) whose mouth follows the voice and whose status reports it."""

from __future__ import annotations

import math

import pytest

from engine.assets import AvatarBundle
from streaming import voice as vc
from streaming.landmarks import offer_tracking
from streaming.live import LiveSession
from streaming.voice import MESSAGE, RATE_LIMIT, VoiceError, VoiceIntake, encode_voice, parse_voice

A = (1.0, 0.0, 0.0, 0.0, 0.0)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Ears:
    def __init__(self) -> None:
        self.heard: list[tuple] = []

    def hear(self, open_, vowels, t, muted=False) -> None:
        self.heard.append((open_, tuple(vowels), t, muted))


def test_a_message_survives_the_round_trip() -> None:
    data = encode_voice(0.5, (0.25, 0.25, 0.0, 0.5, 0.0), seq=7, db=-23.5, muted=False)
    assert len(data) == MESSAGE.size == 36
    msg = parse_voice(data)
    assert (msg.seq, msg.muted, msg.db, msg.open, msg.vowels) == (
        7, False, -23.5, 0.5, (0.25, 0.25, 0.0, 0.5, 0.0),
    )  # fmt: skip
    assert parse_voice(memoryview(encode_voice(0.0, muted=True))).muted


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("hello", "binary, got a text message"),
        (12, "binary, got int"),
        (b"\x01" * 35, "35 bytes"),
        (b"\x01" * 10_000, "10000 bytes"),
        (MESSAGE.pack(2, 0, 0, 1, -20.0, 0.5, *A), "unknown version 2"),
        (MESSAGE.pack(1, 4, 0, 1, -20.0, 0.5, *A), "unknown flag bits 0x04"),
        (MESSAGE.pack(1, 0, 9, 1, -20.0, 0.5, *A), "reserved field is 9"),
        (MESSAGE.pack(1, 0, 0, 1, math.nan, 0.5, *A), "loudness nan dB"),
        (MESSAGE.pack(1, 0, 0, 1, 12.0, 0.5, *A), "loudness 12.0 dB"),
        (MESSAGE.pack(1, 0, 0, 1, -20.0, 1.5, *A), "mouth opening 1.5"),
        (MESSAGE.pack(1, 0, 0, 1, -20.0, math.inf, *A), "mouth opening inf"),
        (MESSAGE.pack(1, 0, 0, 1, -20.0, 0.5, 1, 1, 0, 0, 0), "sum to 2"),
        (MESSAGE.pack(1, 0, 0, 1, -20.0, 0.5, 0, -1, 0, 0, 0), "vowel I weight -1.0"),
    ],
)
def test_every_refusal_says_what_is_wrong(data, words: str) -> None:
    with pytest.raises(VoiceError, match=words.replace("(", r"\(").replace(".", r"\.")):
        parse_voice(data)


def test_the_intake_keeps_order_counts_refusals_and_cuts_a_flood() -> None:
    clock, ears = Clock(), Ears()
    intake = VoiceIntake(ears, clock=clock, name="p")
    assert intake.receive(encode_voice(0.5, A, seq=5, db=-20.0))
    assert not intake.receive(encode_voice(0.9, A, seq=4))  # late: the newer one stands
    assert intake.stale == 1
    assert not intake.receive(b"junk")
    assert intake.refused == 1 and "4 bytes" in intake.last_error
    assert intake.receive(encode_voice(0.0, seq=6, muted=True))
    assert [h[0] for h in ears.heard] == [0.5, 0.0] and ears.heard[-1][3] is True
    stats = intake.stats()
    assert stats["accepted"] == 2 and stats["muted"] is True and stats["db"] == -160.0
    # a sequence far back is a restarted count: taken, not refused forever
    assert intake.receive(encode_voice(0.5, seq=10_000))
    assert intake.receive(encode_voice(0.5, seq=1))
    sent = 1000
    clock.t += 1.0
    took = sum(intake.receive(encode_voice(0.3, seq=10 + i)) for i in range(sent))
    assert RATE_LIMIT * 0.9 <= took <= RATE_LIMIT * 1.1
    assert intake.rate_limited == sent - took


class Channel:
    def __init__(self) -> None:
        self.handlers: dict = {}

    def on(self, event):
        def register(fn):
            self.handlers[event] = fn
            return fn

        return register


def _drive(session: LiveSession, clock: Clock, seconds: float, open_: float | None) -> float:
    """Tick the session at 60 Hz for `seconds`, sending `open_` (A) over its voice channel
    at 50 Hz; the newest mouth opening of the pose's parameters."""
    channel = Channel()
    vc.attach(session, channel)
    mouth = session.bundle.rig.parameter_index["ParamMouthOpenY"]
    seq = getattr(session, "_test_seq", 0)
    for i in range(round(seconds * 60)):
        clock.t += 1 / 60
        if open_ is not None and i % 6 != 3:
            seq += 1
            channel.handlers["message"](encode_voice(open_, A, seq=seq, db=-12.0))
        session.tick(clock.t)
    session._test_seq = seq  # type: ignore[attr-defined]
    return float(session.puppet.session.params.values[mouth])


@pytest.mark.parametrize("tracking", ["browser", "none"])
def test_a_session_talks_with_the_voice(digi: AvatarBundle, tracking: str) -> None:
    clock = Clock()
    session = LiveSession(digi, clock=clock, tracking=tracking)
    try:
        assert session.status()["voice"]["source"] is None
        assert _drive(session, clock, 0.5, None) < 0.01
        assert _drive(session, clock, 0.5, 0.85) > 0.6
        status = session.status()
        assert status["voice"]["source"] == "voice"
        assert status["voice"]["accepted"] >= 20 and status["voice"]["db"] == -12.0
        assert status["tracking"] == ("none" if tracking == "none" else "lost")
        assert _drive(session, clock, 0.6, None) < 0.02  # the page stopped: mouth shut
        # junk on the channel: counted, the session goes on
        channel = Channel()
        vc.attach(session, channel)
        channel.handlers["message"]("not binary")
        assert session.status()["voice"]["refused"] == 1
        assert _drive(session, clock, 0.3, 0.85) > 0.6
    finally:
        session.close()


def test_a_camera_less_session_has_no_tracking_worker(digi: AvatarBundle) -> None:
    session = LiveSession(digi, tracking="none")
    try:
        assert session.worker is None and session.face is not None
        assert session.face.ambient is not None
    finally:
        session.close()


def test_a_camera_less_offer_sends_no_video() -> None:
    assert offer_tracking({"tracking": "none", "sdp": "v=0\r\nm=video 9 UDP\r\na=recvonly\r\n"}) == "none"
    with pytest.raises(ValueError, match="camera-less"):
        offer_tracking({"tracking": "none", "sdp": "v=0\r\nm=video 9 UDP\r\na=sendrecv\r\n"})
    with pytest.raises(ValueError, match='or "none": camera-less'):
        offer_tracking({"tracking": "mic"})
