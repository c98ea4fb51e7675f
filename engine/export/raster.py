"""Raster exports: a PNG still, PNG sequences, animated GIFs and APNGs, all made of our own
GL render of the baked frames (`FrameRenderer`), so what a user downloads is what the live
avatar shows.

The encoders are separate from the exporters so other formats (the platform presets) can
reuse them on their own pictures:
- `encode_png`: premultiplied in, straight-alpha PNG out (PNG stores straight alpha; a
  premultiplied picture saved as is would have dark fringes on every soft edge).
- `encode_gif`: one adaptive palette over all frames (colours do not flicker between frames),
  one transparent index, alpha thresholded at 50%; the kept edge pixels keep their straight
  colour (GIF has no partial alpha: compositing them over black or white would put a dark or
  light halo on every other background). Delays in 1/100 s, rounded cumulatively so the loop
  lasts exactly the take's length; never under 2/100 s (browsers show shorter delays as
  10/100 s), hence at most 50 frames a second.
- `encode_apng`: full alpha, each frame's delay as an exact fraction of a second (APNG's
  16-bit numerator / denominator). Each frame is compressed by Pillow's PNG encoder (its
  filters and zlib), and its IDAT data re-wrapped in APNG's frame chunks here, because
  Pillow writes APNG delays only in whole milliseconds.
"""

from __future__ import annotations

import io
import json
import math
import struct
import zlib
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import TypeVar

import numpy as np
from PIL import Image

from engine.anim.controller import UnknownStateError
from engine.export.bake import Take, bake
from engine.export.frames import Camera, camera_for
from engine.export.job import ExportError, Job, Output
from engine.export.png import straight
from engine.params.parameters import UnknownParameterError

GIF_FPS_MAX = 50.0  # GIF counts delays in 1/100 s, and browsers clamp delays under 2 to 10
GIF_MIN_DELAY = 2  # centiseconds
ALPHA_CUT = 128  # GIF: a pixel is drawn when its alpha is at least half
_U16 = 65535  # APNG's delay numerator and denominator are 16-bit

T = TypeVar("T")


# --- frames --------------------------------------------------------------------------------


def pictures_of(
    job: Job,
    take: Take,
    camera: Camera,
    what: str = "",
    span: tuple[float, float] = (0.0, 1.0),
) -> list[np.ndarray]:
    """Our GL render of every frame of `take` through `camera`: premultiplied RGBA uint8,
    (height, width, 4), top row first. Reports "rendering walk, frame 12/30" (`what`
    replaces the take's name in it) over `span` of the format's progress."""
    renderer = job.renderer(camera.width, camera.height)
    label = what or take.name
    n = len(take.frames)
    lo, hi = span
    out = []
    for i, frame in enumerate(take.frames):
        job.report(lo + (hi - lo) * i / n, f"rendering {label}, frame {i + 1}/{n}")
        out.append(renderer.render(frame, camera))
    job.report(hi, f"rendered {label}")
    return out


def _baked(make: Callable[[], T]) -> T:
    """Run a bake, turning a user's wrong name or value into an ExportError."""
    try:
        return make()
    except (UnknownStateError, UnknownParameterError) as e:
        raise ExportError(str(e)) from None
    except ValueError as e:
        raise ExportError(str(e)) from None


# --- PNG -----------------------------------------------------------------------------------


def encode_png(picture: np.ndarray, optimize: bool = True) -> bytes:
    """A premultiplied RGBA picture as a straight-alpha PNG. `optimize`: Pillow's smallest
    (slower) deflate; off for the many frames of a sequence when speed matters more."""
    buf = io.BytesIO()
    img = Image.fromarray(straight(picture), "RGBA")
    if optimize:
        img.save(buf, "PNG", optimize=True)
    else:
        img.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def export_png(job: Job) -> list[Output]:
    """The job's still pose (state, time, expression) as `<name>.png`, job.size square,
    transparent background."""
    take = _baked(job.still)
    camera = camera_for(take, job.size)
    (picture,) = pictures_of(job, take, camera, "the still", span=(0.0, 0.8))
    job.report(0.9, "writing the PNG")
    data = encode_png(picture)
    job.report(1.0, "PNG written")
    return [Output(f"{job.subject.name}.png", data)]


# --- PNG sequence ----------------------------------------------------------------------------


def export_sequence(job: Job) -> list[Output]:
    """Each take as numbered PNGs (`walk/walk_0000.png`, ...) and `walk/animation.json`
    (name, fps, frame_time, frames, loop, width, height). All takes share one camera, so a
    character does not jump or resize between its animations."""
    takes = _baked(job.takes)
    camera = camera_for(takes, job.size)
    out: list[Output] = []
    for k, take in enumerate(takes):
        lo, hi = k / len(takes), (k + 1) / len(takes)
        pics = pictures_of(job, take, camera, span=(lo, lo + (hi - lo) * 0.7))
        for i, pic in enumerate(pics):
            job.report(lo + (hi - lo) * (0.7 + 0.3 * i / len(pics)), f"writing {take.name} PNGs")
            out.append(Output(f"{take.name}/{take.name}_{i:04d}.png", encode_png(pic, False)))
        out.append(Output(f"{take.name}/animation.json", _sequence_json(take, camera)))
    job.report(1.0, "PNG sequences written")
    return out


def _sequence_json(take: Take, camera: Camera) -> bytes:
    info = {
        "name": take.name,
        "fps": 1.0 / take.frame_time,  # the exact rate of the frames (a loop's own period)
        "frame_time": take.frame_time,
        "frames": len(take.frames),
        "loop": take.loop,
        "width": camera.width,
        "height": camera.height,
    }
    return (json.dumps(info, indent=2) + "\n").encode()


# --- GIF -------------------------------------------------------------------------------------


def gif_delays(count: int, frame_time: float) -> list[int]:
    """Each frame's delay in 1/100 s, rounded cumulatively so they add up to the take's
    length (30 fps: 3, 4, 3, 3, 4, 3, ...). ExportError when a frame would be shorter than
    2/100 s (browsers would slow such frames to 10/100 s)."""
    cs = frame_time * 100.0
    ends = [round((i + 1) * cs) for i in range(count)]
    delays = [e - s for s, e in zip([0, *ends[:-1]], ends, strict=True)]
    if count and min(delays) < GIF_MIN_DELAY:
        raise ExportError(
            f"GIF frames must last at least 2/100 s: {1 / frame_time:.3g} frames a second is "
            f"too many (at most {GIF_FPS_MAX:g})"
        )
    return delays


def _opaque_sample(straights: Sequence[np.ndarray], limit: int = 1 << 20) -> np.ndarray:
    """The drawn pixels' straight RGB over all frames, (n, 3), thinned to about `limit`
    (the palette is built from every frame, so no frame's colours are left out)."""
    rgb = np.concatenate([s[..., :3][s[..., 3] >= ALPHA_CUT] for s in straights])
    if len(rgb) > limit:
        rgb = rgb[:: math.ceil(len(rgb) / limit)]
    return rgb if len(rgb) else np.zeros((1, 3), np.uint8)


def gif_palette(straights: Sequence[np.ndarray], colors: int = 256) -> Image.Image:
    """One adaptive palette (median cut over every frame's drawn pixels) of `colors - 1`
    colours; the last index stays free for transparency."""
    rgb = _opaque_sample(straights)
    width = 1024
    rows = math.ceil(len(rgb) / width)
    pad = np.resize(rgb, (rows * width, 3))  # repeats pixels to fill the strip: no new colours
    strip = Image.fromarray(pad.reshape(rows, width, 3), "RGB")
    return strip.quantize(colors - 1, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def _indexed(picture: np.ndarray, palette: Image.Image, transparent: int) -> Image.Image:
    """A straight RGBA picture mapped to the palette (nearest colour, no dithering: the art
    is flat-shaded, and dither noise would crawl between frames), clear pixels -> the
    transparent index."""
    rgb = Image.fromarray(np.ascontiguousarray(picture[..., :3]), "RGB")
    idx = np.array(rgb.quantize(palette=palette, dither=Image.Dither.NONE))
    idx[picture[..., 3] < ALPHA_CUT] = transparent
    img = Image.fromarray(idx, "P")
    return img


def encode_gif(
    pictures: Sequence[np.ndarray], frame_time: float, loop: bool = True, colors: int = 256
) -> bytes:
    """Premultiplied RGBA pictures as an animated GIF: `frame_time` seconds each, looping
    forever when `loop` (else played once), `colors` (2..256) in one palette, the last
    index transparent."""
    if not pictures:
        raise ExportError("a GIF needs at least one frame")
    if not 2 <= colors <= 256:
        raise ExportError(f"a GIF palette holds 2 to 256 colours (got {colors})")
    straights = [straight(p) for p in pictures]
    delays = gif_delays(len(pictures), frame_time)
    palette = gif_palette(straights, colors)
    transparent = colors - 1
    pal = (palette.getpalette() or [])[: 3 * (colors - 1)]
    pal += [0] * (3 * colors - len(pal))  # the transparent entry (and any unused ones)
    frames = []
    for s in straights:
        img = _indexed(s, palette, transparent)
        img.putpalette(pal)
        frames.append(img)
    buf = io.BytesIO()
    extra = {"loop": 0} if loop else {}
    frames[0].save(
        buf,
        "GIF",
        save_all=True,
        append_images=frames[1:],
        duration=[d * 10 for d in delays],  # Pillow takes ms and writes ms // 10
        transparency=transparent,
        disposal=2,  # clear to transparent before each frame: a frame never shows the last
        optimize=False,  # keep the palette's indices as they are (transparency is the last)
        **extra,
    )
    return buf.getvalue()


def _gif_take(job: Job, name: str) -> Take:
    """The take for a GIF: the job's, or re-baked at a rate whose frames last at least
    2/100 s when the job's rate is above GIF's 50 frames a second."""
    take = _baked(lambda: job.take(name))
    if take.frame_time >= GIF_MIN_DELAY / 100 - 1e-9:
        return take
    fps = math.floor(take.duration * GIF_FPS_MAX + 1e-6) / take.duration
    return _baked(lambda: bake(job.subject, name, min(fps, GIF_FPS_MAX)))


def export_gif(job: Job) -> list[Output]:
    """One `<take>.gif` per take (all through one camera): loops forever when the take
    loops; at most 50 frames a second (a faster job's takes are re-baked for the GIF)."""
    takes = [_gif_take(job, n) for n in job.take_names()]
    return _animated(job, takes, "gif", encode_gif, "GIFs")


# --- APNG ------------------------------------------------------------------------------------


def apng_delay(frame_time: float) -> tuple[int, int]:
    """`frame_time` seconds as (numerator, denominator), both 16-bit: exact for any rate a
    take has (a loop's period split into whole frames), at worst within 1/65535 s."""
    f = Fraction(frame_time).limit_denominator(_U16)
    while f.numerator > _U16:  # a long frame: trade precision of the denominator
        f = Fraction(frame_time).limit_denominator(max(1, f.denominator // 2))
        if f.denominator == 1:
            f = Fraction(min(_U16, round(frame_time)), 1)
            break
    return f.numerator, f.denominator


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """A PNG file's chunks as (type, data)."""
    out, pos = [], 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]))
        pos += 12 + n
    return out


def apng_file(
    header: Sequence[tuple[bytes, bytes]],
    frames: Sequence[Sequence[bytes]],
    size: tuple[int, int],
    frame_time: float,
    loop: bool,
) -> bytes:
    """An APNG from its parts: `header` chunks (IHDR first; PLTE, tRNS...) and each frame's
    compressed image data (one or more IDAT payloads), every frame whole (dispose none,
    blend SOURCE: a frame replaces the last), `frame_time` as an exact fraction, looping
    forever when `loop` (else played once). The first frame is also the default image."""
    w, h = size
    num, den = apng_delay(frame_time)
    parts = [b"\x89PNG\r\n\x1a\n", *(_chunk(kind, data) for kind, data in header)]
    parts.append(_chunk(b"acTL", struct.pack(">II", len(frames), 0 if loop else 1)))
    seq = 0
    for i, payloads in enumerate(frames):
        parts.append(_chunk(b"fcTL", struct.pack(">IIIIIHHBB", seq, w, h, 0, 0, num, den, 0, 0)))
        seq += 1
        for data in payloads:
            if i == 0:
                parts.append(_chunk(b"IDAT", data))
            else:
                parts.append(_chunk(b"fdAT", struct.pack(">I", seq) + data))
                seq += 1
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


def encode_apng(pictures: Sequence[np.ndarray], frame_time: float, loop: bool = True) -> bytes:
    """Premultiplied RGBA pictures as a truecolour APNG: full straight alpha, exact delays,
    looping forever when `loop` (else played once)."""
    if not pictures:
        raise ExportError("an APNG needs at least one frame")
    h, w = pictures[0].shape[:2]
    header: list[tuple[bytes, bytes]] = []
    frames = []
    for pic in pictures:
        if pic.shape[:2] != (h, w):
            raise ExportError("every APNG frame must have the same size")
        chunks = _png_chunks(encode_png(pic, optimize=False))
        header = header or [chunks[0]]  # the first frame's IHDR
        frames.append([data for kind, data in chunks if kind == b"IDAT"])
    return apng_file(header, frames, (w, h), frame_time, loop)


def export_apng(job: Job) -> list[Output]:
    """One `<take>.png` (APNG) per take, all through one camera: full alpha, exact delays,
    looping forever when the take loops."""
    return _animated(job, _baked(job.takes), "png", encode_apng, "APNGs")


def _animated(
    job: Job,
    takes: Sequence[Take],
    ext: str,
    encode: Callable[[Sequence[np.ndarray], float, bool], bytes],
    what: str,
) -> list[Output]:
    """One `<take>.<ext>` per take, all through one camera: rendered, then encoded."""
    camera = camera_for(list(takes), job.size)
    out = []
    for k, take in enumerate(takes):
        lo, hi = k / len(takes), (k + 1) / len(takes)
        pics = pictures_of(job, take, camera, span=(lo, lo + (hi - lo) * 0.6))
        job.report(lo + (hi - lo) * 0.6, f"writing {take.name}.{ext}")
        out.append(Output(f"{take.name}.{ext}", encode(pics, take.frame_time, take.loop)))
    job.report(1.0, f"{what} written")
    return out
