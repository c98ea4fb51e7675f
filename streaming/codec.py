"""The avatar stream's video settings, set deliberately in one place.

aiortc's VP8 encoder starts every stream at 500 kbps and caps it at 1.5 Mbps (module
constants in `aiortc.codecs.vpx`; the receiver's bandwidth estimate moves the target between
its floor and cap). That suits a 30 fps talking head; Digi at 512x512 and 60 fps is sharp
cel-shaded art with thin outlines and moving hair, and at 1.5 Mbps the outlines ring and the
hair smears. Measured on Digi walking at 512x512/60 (tests/bench): about 0.15 bits per pixel
keeps outlines clean, i.e. 2.4 Mbps. The packed OBS frame (1024x512) doubles the pixels but
its alpha half is flat grey and nearly free.

The other direction, the browser's webcam, is Chromium's to encode. Its bandwidth estimate
starts near 300 kbps and, with aiortc's sparse feedback, stays there: a 640x480 face at that
rate loses the few pixels a lip moves, and the tracker with them. The answer to a puppet's
offer therefore asks for a floor and a start (`camera_bitrate`: Chromium's x-google-*
format parameters on VP8, which other browsers ignore).

The avatar is encoded once per stream (`streaming.encoder`, shared by all its viewers) at a
fixed target, `target_bitrate`: the same bits per pixel per second for every size and rate,
so a 384x384 preview at 30 fps gets about 0.7 Mbps and the 512x512 puppet stream at 60 fps
2.5 Mbps. One viewer's bandwidth estimate (REMB) no longer moves it: the encode is theirs
all together. `configure()` (aiortc's own limits, for any stream aiortc encodes itself) is
idempotent and runs at the server's start; the pacing (60 fps) is ours, not aiortc's 30 fps
track.
"""

from __future__ import annotations

import aiortc.codecs.vpx as _vpx

FPS = 60
START_BITRATE = 2_500_000  # bits/s at the start, before the receiver's estimate arrives
MAX_BITRATE = 4_000_000  # the receiver's estimate may raise it this far (packed frames)
MIN_BITRATE = 600_000  # below this 512x512 turns to mush: better to drop frames
BITS_PER_PIXEL = START_BITRATE / (512 * 512 * FPS)  # per frame: about 0.16


CAMERA_MIN_KBPS = 1000  # the webcam, upstream: enough for lips and lids at 640x480
CAMERA_START_KBPS = 1500
CAMERA_MAX_KBPS = 2500


def camera_bitrate(sdp: str) -> str:
    """An answer SDP whose VP8 payload types carry the webcam's bitrate floor, start and
    cap (added to an existing fmtp line, or a new one after the rtpmap)."""
    params = (
        f"x-google-min-bitrate={CAMERA_MIN_KBPS};x-google-start-bitrate={CAMERA_START_KBPS};"
        f"x-google-max-bitrate={CAMERA_MAX_KBPS}"
    )
    lines = sdp.split("\r\n")
    vp8 = {
        ln.split()[0].split(":")[1] for ln in lines if ln.startswith("a=rtpmap:") and " VP8/" in ln
    }
    has_fmtp = {ln.split()[0].split(":")[1] for ln in lines if ln.startswith("a=fmtp:")}
    out = []
    for ln in lines:
        pt = ln.split()[0].split(":")[1] if ln.startswith(("a=fmtp:", "a=rtpmap:")) else None
        if ln.startswith("a=fmtp:") and pt in vp8:
            ln = f"{ln};{params}"
        out.append(ln)
        if ln.startswith("a=rtpmap:") and pt in vp8 and pt not in has_fmtp:
            out.append(f"a=fmtp:{pt} {params}")
    return "\r\n".join(out)


def configure() -> None:
    """Set aiortc's VP8 rate limits for the avatar stream."""
    _vpx.DEFAULT_BITRATE = START_BITRATE
    _vpx.MAX_BITRATE = MAX_BITRATE
    _vpx.MIN_BITRATE = MIN_BITRATE


def target_bitrate(width: int, height: int, fps: float) -> int:
    """The shared encoder's target for a stream: START_BITRATE's bits per pixel, within
    MIN_BITRATE..MAX_BITRATE (the packed 1024x512 frame's flat alpha half needs less than
    its share, so the cap suits it)."""
    return int(min(MAX_BITRATE, max(MIN_BITRATE, BITS_PER_PIXEL * width * height * fps)))
