"""WebM exports: each take as a VP9 video with an alpha channel, for web pages (`<video>`),
OBS browser sources and video editors that keep transparency.

VP9 carries alpha as a second, luma-only VP9 stream inside each block (Matroska's
BlockAdditional, announced by the track tag `alpha_mode=1`); FFmpeg's libvpx-vp9 encoder
writes it when it is fed yuva420p frames. This module is the engine's one PyAV import
(tests/unit/test_architecture.py): PyAV is otherwise the streaming layer's.

What goes in, and why:
- our own GL render of every baked frame (the reference all exports are measured against),
  one camera for all takes so that clips swapped in a player keep the same framing;
- straight (not premultiplied) colour: a player composites the decoded colour with the
  decoded alpha as straight alpha, so premultiplied colour would darken every soft edge;
- transparent pixels black: growing the edge colour outward into them (so 4:2:0 chroma and
  the codec's blur would not mix the outline with black) was measured and bought nothing
  (the composited error along the outline: 2.77 vs 2.81 of 255 at 512 px) for 20% more bytes;
- BT.709 limited-range YUV, tagged so (an untagged stream is guessed differently by
  different players);
- exact timestamps: frame i at i * frame_time (the take's loop period split into whole
  frames), so the file's duration is the take's and `<video loop>` runs without a seam;
- a keyframe at the first frame (a loop restarts there) and every KEY_SECONDS after it, so a
  player seeks quickly.
yuv420 needs even sides: an odd size is padded with one transparent column and row."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np

from engine.export.bake import Take
from engine.export.frames import Camera, camera_for
from engine.export.job import ExportError, Job, Output
from engine.export.png import straight

# VP9 constant quality (0 best .. 63): at 24 a 512 px walk's colour is within about 4 of 255
# of our render (most of it 4:2:0 chroma) in ~260 KB a second
CRF = 24
KEY_SECONDS = 2.0  # a keyframe at least this often (seeking, scrubbing in an editor)
SPEED = 4  # libvpx cpu-used: 4 is "good" quality at a few times the speed of 1
MAX_FRAMES = 1200  # one take: 20 s at 60 fps (bake's longest take)


def export_webm(job: Job) -> list[Output]:
    """One `<take>.webm` per take asked for (idle when none were)."""
    takes = job.takes()
    size = job.size
    camera = camera_for(takes, size)
    total = sum(len(t.frames) for t in takes)
    done = 0
    outputs = []
    for take in takes:
        if len(take.frames) > MAX_FRAMES:
            raise ExportError(
                f'"{take.name}" has {len(take.frames)} frames; a WebM take holds at most '
                f"{MAX_FRAMES}"
            )
        outputs.append(Output(f"{take.name}.webm", encode_take(job, take, camera, done, total)))
        done += len(take.frames)
    job.report(1.0, f"wrote {len(outputs)} WebM video(s)")
    return outputs


def even_size(size: int) -> int:
    """The video's side: `size`, or one more when odd (yuv420 halves each side)."""
    return size + size % 2


def encode_take(job: Job, take: Take, camera: Camera, done: int = 0, total: int = 0) -> bytes:
    """`take` rendered through `camera` and encoded as a VP9-with-alpha WebM (bytes)."""
    renderer = job.renderer(camera.width, camera.height)
    side_w, side_h = even_size(camera.width), even_size(camera.height)
    padded = (side_w, side_h) != (camera.width, camera.height)
    total = total or len(take.frames)
    buf = io.BytesIO()
    with av.open(buf, "w", format="webm") as container:
        stream = _video_stream(container, take, side_w, side_h)
        for i, frame in enumerate(take.frames):
            px = straight(renderer.render(frame, camera))
            _mux(container, stream.encode(_yuva(_pad(px, side_w, side_h), i)))
            done += 1
            note = " (padded to even size)" if padded else ""
            job.report(done / total, f"encoding {take.name}{note}, frame {done}/{total}")
        _mux(container, stream.encode(None))
    return buf.getvalue()


def frame_rate(take: Take) -> Fraction:
    """Frames per second as an exact fraction of the take's frame time (a loop's period
    split into whole frames is rarely 1/fps exactly)."""
    return Fraction(1 / take.frame_time).limit_denominator(1001)


def _video_stream(container: av.container.OutputContainer, take: Take, w: int, h: int):
    rate = frame_rate(take)
    stream = container.add_stream("libvpx-vp9", rate=rate)
    stream.width, stream.height = w, h
    stream.pix_fmt = "yuva420p"  # the 'a' makes libvpx-vp9 write the alpha stream
    cc = stream.codec_context
    cc.time_base = 1 / rate  # pts counts frames: frame i shows at i * frame_time
    cc.bit_rate = 0  # with crf: constant quality, no bitrate target ("-b:v 0")
    cc.gop_size = max(1, min(len(take.frames), round(KEY_SECONDS * float(rate))))
    cc.colorspace = av.video.reformatter.Colorspace.ITU709
    cc.color_range = av.video.reformatter.ColorRange.MPEG
    cc.color_primaries = av.video.reformatter.ColorPrimaries.BT709
    cc.color_trc = av.video.reformatter.ColorTrc.BT709
    stream.options = {
        "crf": str(CRF),
        "deadline": "good",
        "cpu-used": str(SPEED),
        "row-mt": "1",
    }
    return stream


def _mux(container: av.container.OutputContainer, packets: list) -> None:
    for packet in packets:
        container.mux(packet)


def _yuva(rgba: np.ndarray, index: int) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba")
    frame = frame.reformat(
        format="yuva420p",
        src_colorspace="ITU709",
        dst_colorspace="ITU709",
        src_color_range="JPEG",  # our pictures use all of 0..255
        dst_color_range="MPEG",  # video's 16..235 (what the stream is tagged with)
    )
    frame.pts = index
    return frame


def _pad(px: np.ndarray, w: int, h: int) -> np.ndarray:
    """Transparent columns and rows on the right and bottom up to w x h."""
    if px.shape[:2] == (h, w):
        return px
    out = np.zeros((h, w, 4), np.uint8)
    out[: px.shape[0], : px.shape[1]] = px
    return out
