"""The `voice` data channel: lip-sync signals from the browser's microphone analysis
(docs/STREAMING.md, "The voice data channel").

The page analyses the mic itself (webapi/static/lipsync.js) and sends 30-60 small binary
messages a second: how loud, how open the mouth should be and the vowel weights. No audio
leaves the browser. Its own channel, unordered and never retransmitted, so lip-sync never
eats into the control channel's rate limit (clicks stay responsive) and a late message is
simply dropped for the next one.

Format (little-endian, 36 bytes): a header `<BBHI` = version (1), flags (bit 0: the mic is
muted or off: shut the mouth), reserved (0), sequence number (uint32); then seven float32:
loudness in dBFS (-160..0), mouth opening (0..1, over the noise floor), the weights of the
vowels A I U E O (each 0..1, summing to at most 1; all 0 in silence).

Every byte comes from the peer: a bad message is dropped and counted (the status's
`voice.refused` and `voice.last_error`), never a crash and never a closed channel.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from engine.tracking.voice import check_voice
from streaming.intake import ChannelIntake

CHANNEL = "voice"
VERSION = 1
FLAG_MUTED = 0x01
MESSAGE = struct.Struct("<BBHI7f")  # 36 bytes
DB_RANGE = (-160.0, 0.0)
REWIND_LIMIT = 120  # an unordered channel reorders a few messages; more is not reordering
RATE_LIMIT = 120.0  # messages a second; the page sends at most 60


class VoiceError(ValueError):
    """A voice message that cannot be used; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class VoiceMessage:
    seq: int
    muted: bool
    db: float
    open: float
    vowels: tuple[float, float, float, float, float]  # A I U E O


def encode_voice(
    open_: float,
    vowels: Sequence[float] = (0.0, 0.0, 0.0, 0.0, 0.0),
    seq: int = 0,
    db: float = -160.0,
    muted: bool = False,
) -> bytes:
    """One voice message (what lipsync.js writes; for tests and other clients)."""
    return MESSAGE.pack(
        VERSION, FLAG_MUTED if muted else 0, 0, seq & 0xFFFFFFFF, db, open_, *vowels
    )


def parse_voice(data: Any) -> VoiceMessage:
    """Check one message and return it parsed; a `VoiceError` says what is wrong."""
    if isinstance(data, str):
        raise VoiceError(f"voice messages are binary, got a text message of {len(data)} characters")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise VoiceError(f"voice messages are binary, got {type(data).__name__}")
    size = data.nbytes if isinstance(data, memoryview) else len(data)
    if size != MESSAGE.size:
        raise VoiceError(f"message of {size} bytes (a voice message is {MESSAGE.size})")
    version, flags, reserved, seq, db, open_, *vowels = MESSAGE.unpack(bytes(data))
    if version != VERSION:
        raise VoiceError(f"unknown version {version} (this server reads version {VERSION})")
    if flags & ~FLAG_MUTED:
        raise VoiceError(f"unknown flag bits 0x{flags & ~FLAG_MUTED:02x}")
    if reserved:
        raise VoiceError(f"reserved field is {reserved} (must be 0)")
    if not (math.isfinite(db) and DB_RANGE[0] <= db <= DB_RANGE[1]):
        raise VoiceError(f"loudness {db!r} dB is not from {DB_RANGE[0]:g} to {DB_RANGE[1]:g}")
    try:
        check_voice(open_, vowels)
    except ValueError as e:
        raise VoiceError(str(e)) from None
    return VoiceMessage(seq, bool(flags & FLAG_MUTED), db, open_, tuple(vowels))  # type: ignore[arg-type]


class VoiceSink(Protocol):
    """Where accepted signals go (`engine.tracking.voice.VoiceMouth`)."""

    def hear(self, open_: float, vowels: Sequence[float], t: float, muted: bool = False) -> None: ...


@dataclass
class VoiceIntake(ChannelIntake):
    """One session's voice channel: checks each message, hands accepted ones to `sink` at
    their arrival time, and counts what it refused. Runs on the event loop."""

    WHAT = "voice"
    RATE = RATE_LIMIT

    sink: VoiceSink
    db: float | None = None  # the newest loudness, for the page's meter
    muted: bool = True
    _last_seq: int | None = None

    def receive(self, data: Any) -> bool:
        """Take one message from the channel; True when it reached the mouth."""
        now = self._arrive()
        if now is None:
            return False
        try:
            msg = parse_voice(data)
        except VoiceError as e:
            self._refuse(now, str(e))
            return False
        if self._last_seq is not None and msg.seq <= self._last_seq:
            if self._last_seq - msg.seq > REWIND_LIMIT:
                # a page that reloaded its analyser starts again from 0: take it
                self._last_seq = None
            else:
                self.stale += 1
                return False
        self._last_seq = msg.seq
        self.sink.hear(msg.open, msg.vowels, now, muted=msg.muted)
        self.db, self.muted = msg.db, msg.muted
        self.accepted += 1
        return True

    def stats(self) -> dict[str, Any]:
        """The counters, the newest loudness and the mute, for the status message."""
        return {
            **super().stats(),
            "db": None if self.db is None else round(self.db, 1),
            "muted": self.muted,
        }


def attach(session: Any, channel: Any, heard: Callable[[float], None] | None = None) -> VoiceIntake | None:
    """Take a peer's `voice` channel for its session: every message goes through the
    session's one `VoiceIntake` (one per session, however many channels, so the rate limit
    holds). A session without a face (no tracking bindings) ignores the channel."""
    face = getattr(session, "face", None)
    if face is None:
        return None
    intake = session.voice
    if intake is None:
        intake = session.voice = VoiceIntake(face.voice, clock=session.clock, name=str(session.id))
    intake._last_seq = None  # a new channel is a new page (a reload, a moved tab): its own count

    @channel.on("message")
    def on_message(raw: Any) -> None:
        try:
            if heard is not None:
                heard(intake.clock())
            intake.receive(raw)
        except Exception as e:  # a bug of ours must not take the channel down with it
            intake._refuse(intake.clock(), f"internal error: {type(e).__name__}: {e}")

    return intake
