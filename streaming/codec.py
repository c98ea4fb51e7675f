"""The avatar stream's video settings, set deliberately in one place.

aiortc's VP8 encoder starts every stream at 500 kbps and caps it at 1.5 Mbps (module
constants in `aiortc.codecs.vpx`; the receiver's bandwidth estimate moves the target between
its floor and cap). That suits a 30 fps talking head; Digi at 512x512 and 60 fps is sharp
cel-shaded art with thin outlines and moving hair, and at 1.5 Mbps the outlines ring and the
hair smears. Measured on Digi walking at 512x512/60 (tests/bench): about 0.15 bits per pixel
keeps outlines clean, i.e. 2.4 Mbps. The packed OBS frame (1024x512) doubles the pixels but
its alpha half is flat grey and nearly free.

`configure()` is idempotent and runs before any encoder is created (the server calls it at
start); the pacing (60 fps) is ours, in `streaming.tracks`, not aiortc's 30 fps track.
"""

from __future__ import annotations

import aiortc.codecs.vpx as _vpx

FPS = 60
START_BITRATE = 2_500_000  # bits/s at the start, before the receiver's estimate arrives
MAX_BITRATE = 4_000_000  # the receiver's estimate may raise it this far (packed frames)
MIN_BITRATE = 600_000  # below this 512x512 turns to mush: better to drop frames


def configure() -> None:
    """Set aiortc's VP8 rate limits for the avatar stream."""
    _vpx.DEFAULT_BITRATE = START_BITRATE
    _vpx.MAX_BITRATE = MAX_BITRATE
    _vpx.MIN_BITRATE = MIN_BITRATE
