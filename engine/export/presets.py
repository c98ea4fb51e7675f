"""Platform presets: files sized and framed for one place each (Discord stickers and emoji,
Twitch emotes, X profile picture and header, a Roblox classic T-shirt, a VRChat portrait).

Each preset is one exporter (`export_<preset>(job) -> list[Output]`) built on the raster
encoders (engine/export/raster.py), registered in `PRESETS` (the runner lists them as
formats). The job's `size` is ignored: the platform fixes it. Small pictures frame the head
and shoulders (`bust`) or the head (`face`), not the whole tiny body: the framing is the
live session's (engine/render/framing.py) moved with the head over the take and widened
until every frame's head fits, so a dance never cuts the face off.

A platform's file-size limit is met by reductions tried in order, cheapest loss first:
fewer frames a second (the take is re-baked, so it still loops without a seam), then fewer
colours. If the smallest still does not fit, ExportError names the limit and the size
reached: an oversized file is never returned. The limits and their sources are in
docs/EXPORT.md (platform rules change; check the linked pages before relying on them)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.export.bake import Take, bake
from engine.export.frames import Camera
from engine.export.job import ExportError, Job, Output
from engine.export.png import straight
from engine.export.raster import apng_file, encode_gif, encode_png, pictures_of
from engine.render.framing import Rect, framing_rect
from engine.rig.loader import setup_world_transforms

KB = 1024
# An emote or sticker plays small: 30 frames a second is smooth there, and GIF cannot show
# more than 50 (its delays count 1/100 s, and browsers slow delays under 2/100 s)
MAX_FPS = 30.0
FPS_STEPS = (30.0, 24.0, 20.0, 15.0, 12.0, 10.0)  # tried from the job's rate down
COLOR_STEPS = (256, 128, 64)  # palette sizes tried at the lowest rate
# a rate is skipped when a faster rate's cost per frame predicts more than this times the
# limit (frames of different poses cost up to ~20% more or less than the ones measured)
SKIP_MARGIN = 1.3
# file-size limits in bytes (docs/EXPORT.md names each one's source)
STICKER_BYTES = 512 * KB  # Discord sticker
EMOJI_BYTES = 256 * KB  # Discord emoji
TWITCH_BYTES = 1024 * KB  # Twitch emote, static or animated
TWITCH_FRAMES = 60  # Twitch animated emote
X_PROFILE_BYTES = 2 * 1024 * KB
X_HEADER_BYTES = 5 * 1024 * KB
ROBLOX_BYTES = 20 * 1024 * KB  # no published decal limit is lower than this, as far as we know
VRCHAT_BYTES = 64 * 1024 * KB  # none published: a sanity bound
HEADER_WIDTH, HEADER_HEIGHT = 1500, 500
HEADER_BACKGROUND = (24, 26, 38)  # X header: a dark slate (X re-encodes headers as JPEG)


@dataclass(frozen=True)
class Preset:
    function: str  # the exporter's name in this module (the runner imports it by name)
    description: str  # one line, for `digigami export --help` and the API
    limits: str  # what the platform allows, in words (docs/EXPORT.md has the sources)

    def exporter(self) -> Callable[[Job], list[Output]]:
        return globals()[self.function]


# --- framing ---------------------------------------------------------------------------------


def frame_rect(job: Job, takes: Sequence[Take], part: str) -> Rect:
    """A square world rect showing `part` ("bust" or "face") in every frame of `takes`:
    the setup pose's framing, moved by the head's mean displacement over the frames, then
    widened (about its centre) until every frame's head parts fit."""
    rig = job.subject.rig
    x0, y0, x1, y1 = framing_rect(rig, part)
    head = rig.bone_index.get("head")
    frames = [f for t in takes for f in t.frames]
    if head is None or not frames:
        return x0, y0, x1, y1
    setup = setup_world_transforms(rig)[head, 4:6]
    dx, dy = np.mean([f.world[head, 4:6] - setup for f in frames], axis=0)
    cx, cy, half = (x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy, (x1 - x0) / 2
    keep = rig.descendants(head) | {head}
    slots = {s.index for s in rig.slots if s.bone in keep}
    pts = [d.vertices for f in frames for d in f.draw if d.slot in slots]
    if pts:
        p = np.concatenate(pts)
        reach = max(np.abs(p[:, 0] - cx).max(), np.abs(p[:, 1] - cy).max()) * 1.04
        half = max(half, float(reach))
    return cx - half, cy - half, cx + half, cy + half


def square_camera(job: Job, takes: Sequence[Take], part: str, side: int) -> Camera:
    return Camera(frame_rect(job, takes, part), side, side)


# --- reductions ------------------------------------------------------------------------------


def rates(job: Job) -> list[float]:
    """The frame rates to try: the job's (at most MAX_FPS), then each step below it."""
    top = min(job.fps, MAX_FPS)
    return [top] + [f for f in FPS_STEPS if f < top - 1e-6]


def take_at(job: Job, name: str, fps: float) -> Take:
    """`name` at `fps`: the job's own take at the job's rate, else re-baked (a loop's period
    is split into whole frames again, so it still loops without a seam)."""
    return job.take(name) if abs(fps - job.fps) < 1e-6 else bake(job.subject, name, fps)


def fit_limit(
    what: str, limit: int, attempts: Sequence[Callable[[], bytes | None]], job: Job
) -> bytes:
    """The first attempt whose bytes fit `limit` (an attempt returns None when it breaks
    another of the platform's rules, e.g. too many frames); ExportError naming the limit
    and the smallest size reached when none fits."""
    sizes = []
    for k, attempt in enumerate(attempts):
        job.report(k / len(attempts), f"fitting {what} under {_size(limit)}")
        data = attempt()
        if data is None:
            continue
        if len(data) <= limit:
            return data
        sizes.append(len(data))
    if not sizes:
        raise ExportError(f"{what}: no frame rate we try fits the platform's frame limit")
    raise ExportError(
        f"{what} cannot be made to fit the platform's {_size(limit)} limit: the smallest "
        f"try (fewest frames and colours) was {_size(min(sizes))}"
    )


def _size(n: int) -> str:
    return f"{n / KB:.0f} KB" if n >= 10 * KB else f"{n} bytes"


# --- an APNG with one shared palette ---------------------------------------------------------


def palette_of(straights: Sequence[np.ndarray], colors: int) -> np.ndarray:
    """(colors, 4) RGBA palette shared by every frame: entry 0 fully transparent, the rest
    an octree quantization (it keeps partial alpha) of the drawn pixels of all frames."""
    px = np.concatenate([s[s[..., 3] > 0] for s in straights])
    if len(px) > 1 << 20:
        px = px[:: len(px) // (1 << 20) + 1]
    if not len(px):
        px = np.zeros((1, 4), np.uint8)
    strip = Image.fromarray(np.resize(px, (-(-len(px) // 1024) * 1024, 4)).reshape(-1, 1024, 4))
    q = strip.convert("RGBA").quantize(colors - 1, method=Image.Quantize.FASTOCTREE)
    pal = np.array(q.getpalette("RGBA") or [], np.uint8).reshape(-1, 4)[: colors - 1]
    return np.concatenate([np.zeros((1, 4), np.uint8), pal])


def indexed(straights: Sequence[np.ndarray], palette: np.ndarray) -> list[np.ndarray]:
    """Straight RGBA pictures -> palette indices (nearest RGBA entry; clear pixels -> 0).
    Distances are taken once for each distinct colour over all frames (flat art has few, and
    frames share most of them), not for every pixel."""
    keys = [np.ascontiguousarray(s).view(np.uint32)[..., 0] for s in straights]
    uniq = np.unique(np.concatenate([k.ravel() for k in keys]))
    cols = uniq.view(np.uint8).reshape(-1, 4).astype(np.int32)
    pal = palette[1:].astype(np.int32)
    best = np.empty(len(cols), np.uint8)
    for lo in range(0, len(cols), 4096):  # bounded memory: 4096 x colours distances
        d = ((cols[lo : lo + 4096, None, :] - pal[None, :, :]) ** 2).sum(axis=2)
        best[lo : lo + 4096] = d.argmin(axis=1) + 1
    best[cols[:, 3] == 0] = 0
    return [best[np.searchsorted(uniq, k)] for k in keys]


def _idat(indices: np.ndarray) -> bytes:
    """One frame's compressed image data (8-bit indices, filter 0 on each row: indexed
    pictures compress best unfiltered)."""
    rows = np.concatenate([np.zeros((len(indices), 1), np.uint8), indices], axis=1)
    return zlib.compress(rows.tobytes(), 9)


def encode_apng_indexed(
    straights: Sequence[np.ndarray], frame_time: float, loop: bool, colors: int
) -> bytes:
    """Straight RGBA pictures as an APNG with one shared palette of `colors` entries (PLTE
    + tRNS: partial alpha is kept), every frame whole, exact delays, looping when `loop`.
    A quarter of the truecolour APNG's size for flat-shaded art."""
    h, w = straights[0].shape[:2]
    palette = palette_of(straights, colors)
    header = [
        (b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)),
        (b"PLTE", palette[:, :3].tobytes()),
        (b"tRNS", palette[:, 3].tobytes()),
    ]
    frames = [[_idat(indices)] for indices in indexed(straights, palette)]
    return apng_file(header, frames, (w, h), frame_time, loop)


# --- building blocks -------------------------------------------------------------------------

Encoder = Callable[[list[np.ndarray], Take, int], bytes]  # (pictures, take, colours) -> file


def _animated(
    job: Job, part: str, side: int, limit: int, encode: Encoder, ext: str, max_frames: int = 0
) -> list[Output]:
    """Each take asked for (idle by default) framed on `part`, `side` px square, encoded by
    `encode` under `limit` bytes and, when `max_frames`, with at most that many frames."""
    out = [
        Output(f"{name}.{ext}", _fit_take(job, name, part, side, limit, encode, ext, max_frames))
        for name in job.take_names()
    ]
    job.report(1.0, f"wrote {len(out)} file(s)")
    return out


def _fit_take(
    job: Job,
    name: str,
    part: str,
    side: int,
    limit: int,
    encode: Encoder,
    ext: str,
    max_frames: int,
) -> bytes:
    camera = square_camera(job, [job.take(name)], part, side)
    takes: dict[float, Take] = {}
    rendered: dict[float, list[np.ndarray]] = {}  # per rate, shared by its colour counts
    per_frame: dict[int, float] = {}  # bytes a frame costs at each colour count, as measured
    # fewer frames first (15 fps still reads as motion), then fewer colours at the lowest rate
    plan = [(fps, COLOR_STEPS[0]) for fps in rates(job)]
    plan += [(plan[-1][0], colors) for colors in COLOR_STEPS[1:]]

    def attempt(k: int) -> bytes | None:
        fps, colors = plan[k]
        if fps not in takes:
            takes[fps] = take_at(job, name, fps)
        take = takes[fps]
        if max_frames and len(take.frames) > max_frames:
            return None
        # a file's size grows with its frames: skip a rate that a faster one's measured
        # cost per frame says cannot fit (the last, smallest try always runs: the error
        # names the real minimum)
        predicted = per_frame.get(colors, 0.0) * len(take.frames)
        if predicted > limit * SKIP_MARGIN and k < len(plan) - 1:
            return None
        if fps not in rendered:
            rendered[fps] = pictures_of(job, take, camera)
        data = encode(rendered[fps], take, colors)
        per_frame[colors] = min(per_frame.get(colors, np.inf), len(data) / len(take.frames))
        return data

    attempts = [(lambda k=k: attempt(k)) for k in range(len(plan))]
    return fit_limit(f'"{name}.{ext}"', limit, attempts, job)


def _still(job: Job, part: str, side: int, limit: int, name: str) -> Output:
    """The job's still pose framed on `part` as a `side` px square PNG under `limit`."""
    take = job.still()
    camera = square_camera(job, [take], part, side)
    (picture,) = pictures_of(job, take, camera, "the still")
    return Output(name, fit_limit(name, limit, [lambda: encode_png(picture)], job))


def _apng(pictures: list[np.ndarray], take: Take, colors: int) -> bytes:
    return encode_apng_indexed([straight(p) for p in pictures], take.frame_time, take.loop, colors)


def _gif(pictures: list[np.ndarray], take: Take, colors: int) -> bytes:
    return encode_gif(pictures, take.frame_time, take.loop, colors)


# --- the presets ---------------------------------------------------------------------------


def export_discord_sticker(job: Job) -> list[Output]:
    """Each take as a looping APNG sticker, 320x320, under 512 KB, framed on the bust."""
    return _animated(job, "bust", 320, STICKER_BYTES, _apng, "png")


def export_discord_emoji(job: Job) -> list[Output]:
    """The still as a 128x128 PNG emoji, and each take as an animated GIF emoji, each under
    256 KB, framed on the face (a small emoji shows little more)."""
    still = _still(job, "face", 128, EMOJI_BYTES, f"{job.subject.name}.png")
    return [still, *_animated(job, "face", 128, EMOJI_BYTES, _gif, "gif")]


def export_twitch_emotes(job: Job) -> list[Output]:
    """The still as Twitch's three static emote sizes (28, 56, 112 px PNGs, each under
    1 MB), framed on the face: at 28 px a bust is unreadable."""
    name = job.subject.name
    out = [_still(job, "face", side, TWITCH_BYTES, f"{name}_{side}.png") for side in (28, 56, 112)]
    job.report(1.0, "wrote 3 emote sizes")
    return out


def export_twitch_animated(job: Job) -> list[Output]:
    """Each take as a 112x112 animated GIF emote: at most 60 frames, under 1 MB."""
    return _animated(job, "face", 112, TWITCH_BYTES, _gif, "gif", TWITCH_FRAMES)


def export_x_profile(job: Job) -> list[Output]:
    """The still as X's 400x400 profile picture (PNG, transparent, under 2 MB), framed on the
    bust (X crops it to a circle: the bust framing's margin keeps the head inside)."""
    return [_still(job, "bust", 400, X_PROFILE_BYTES, f"{job.subject.name}_profile.png")]


def export_x_header(
    job: Job, background: tuple[int, int, int] | None = HEADER_BACKGROUND
) -> list[Output]:
    """X's 1500x500 header (PNG under 5 MB): the bust in the right third (the profile
    picture covers the lower left, a streamer's name and links sit on the left), over a
    plain colour (`background`; None keeps it transparent)."""
    take = job.still()
    # the bust rendered square and placed, not one 3:1 camera: the renderer fits a rect
    # into its output as a square (engine.render.framing.view_matrix), so a 3:1 rect squeezes
    camera = square_camera(job, [take], "bust", HEADER_HEIGHT)
    (bust,) = pictures_of(job, take, camera, "the header")
    picture = np.zeros((HEADER_HEIGHT, HEADER_WIDTH, 4), np.uint8)
    left = HEADER_WIDTH * 5 // 6 - HEADER_HEIGHT // 2  # centred on the right third
    picture[:, left : left + HEADER_HEIGHT] = bust
    if background is not None:
        picture = _over(picture, background)
    name = f"{job.subject.name}_header.png"
    return [Output(name, fit_limit(name, X_HEADER_BYTES, [lambda: encode_png(picture)], job))]


def export_roblox_tshirt(job: Job) -> list[Output]:
    """A classic T-shirt decal: the face framed in a 512x512 transparent PNG (Roblox shows it
    on the torso's front, scaled down to 128x128)."""
    return [_still(job, "face", 512, ROBLOX_BYTES, f"{job.subject.name}_tshirt.png")]


def export_vrchat_portrait(job: Job) -> list[Output]:
    """A 1024x1024 transparent PNG of the bust: power-of-two sides, so Unity imports it
    compressed and mip-mapped without resampling."""
    return [_still(job, "bust", 1024, VRCHAT_BYTES, f"{job.subject.name}_portrait.png")]


def _over(picture: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    """Premultiplied RGBA composited over an opaque colour (still premultiplied, alpha 255)."""
    a = picture[..., 3:4].astype(np.float32) / 255
    rgb = picture[..., :3].astype(np.float32) + np.array(color, np.float32) * (1 - a)
    out = np.full(picture.shape, 255, np.uint8)
    out[..., :3] = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    return out


PRESETS: dict[str, Preset] = {
    "discord-sticker": Preset(
        "export_discord_sticker", "Discord sticker: looping APNG, 320x320, bust",
        "320x320 APNG, at most 512 KB"),
    "discord-emoji": Preset(
        "export_discord_emoji", "Discord emoji: 128x128 PNG still + animated GIF, face",
        "128x128, at most 256 KB each"),
    "twitch-emotes": Preset(
        "export_twitch_emotes", "Twitch emotes: static PNGs at 28, 56 and 112 px, face",
        "28x28, 56x56, 112x112 PNG, at most 1 MB each"),
    "twitch-animated": Preset(
        "export_twitch_animated", "Twitch animated emote: 112x112 looping GIF, face",
        "112x112 GIF, at most 60 frames, at most 1 MB"),
    "x-profile": Preset(
        "export_x_profile", "X profile picture: 400x400 PNG, bust",
        "400x400 PNG, at most 2 MB"),
    "x-header": Preset(
        "export_x_header", "X header: 1500x500 PNG, the bust in the right third",
        "1500x500 PNG, at most 5 MB"),
    "roblox-tshirt": Preset(
        "export_roblox_tshirt", "Roblox classic T-shirt decal: 512x512 transparent PNG, face",
        "square PNG (shown at 128x128 on the torso)"),
    "vrchat-portrait": Preset(
        "export_vrchat_portrait", "VRChat portrait / poster texture: 1024x1024 PNG, bust",
        "power-of-two square PNG (Unity texture import)"),
}  # fmt: skip
