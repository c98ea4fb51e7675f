"""WebM (VP9 with alpha) exports, decoded two ways and compared with our own GL render.

- PyAV with the libvpx-vp9 decoder (FFmpeg's native vp9 decoder ignores the alpha stream):
  the frame count, each frame's timestamp, the file's duration, the alpha tag, and every
  frame against our render of the same baked frame through the same camera.
- Chromium's `<video>`: seeked to several frames, drawn into a transparent canvas and read
  back; its `duration`, a transparent background and each frame against our render.

Thresholds (our render vs the decoded video, straight RGBA, tests/export/compare.py), at
192 px (small: 2 CPUs are shared, and edges are a larger share of a small picture, so the
figures are worse than at 512):
- IoU >= 0.97 per frame: measured 0.997+ in PyAV and 0.997-0.999 in Chromium (a lossy alpha
  plane moves the half-alpha outline by well under a pixel). A neighbouring frame of the
  walk, a misplaced or missing part, a wrong camera or a lost alpha stream fall far below.
- colour diff (of 255, over the well-covered inside): PyAV mean over frames <= 7 and each
  frame <= 8, Chromium each frame <= 8. Measured: 4.4-6.1 (PyAV), 4.3-5.8 (Chromium): crf 24
  plus 4:2:0 chroma. Reading the BT.709 stream with BT.601's matrix measured 6.9-8.2 (mean
  7.8), limited range read as full 9.6-10.6, swapped channels 60.
- background alpha <= 4 at the corners: lossy alpha leaves 0-2 of noise; no alpha stream
  reads 255.
"""

from __future__ import annotations

import base64
import io
from fractions import Fraction

import av
import numpy as np
import pytest

from engine.export import webm
from engine.export.frames import camera_for
from engine.export.job import ExportError, Job
from engine.export.subject import digi
from tests.export import compare

SIZE = 192  # small: 2 CPUs are shared; edges are still a small share of the mask
FPS = 12  # a 1 s walk: 12 frames


@pytest.fixture(scope="module")
def job():
    j = Job(digi(), ["walk"], size=SIZE, fps=FPS)
    yield j
    j.close()


@pytest.fixture(scope="module")
def video(job) -> bytes:
    (out,) = webm.export_webm(job)
    assert out.name == "walk.webm"
    return out.data


@pytest.fixture(scope="module")
def ours(job) -> list[np.ndarray]:
    """Our GL render of each frame, straight RGBA, through the camera the export used."""
    take = job.take("walk")
    camera = camera_for([take], SIZE)
    r = job.renderer(SIZE)
    return [compare.straight(r.render(f, camera)) for f in take.frames]


def to_rgba(frame: av.VideoFrame) -> np.ndarray:
    """A yuva420p frame as straight RGBA. The colour through swscale; the alpha plane read
    as is (swscale's yuva420p -> rgba left the last column's alpha unset at odd widths)."""
    rgb = frame.reformat(
        format="rgb24",
        src_colorspace="ITU709",
        dst_colorspace="ITU709",
        src_color_range="MPEG",
        dst_color_range="JPEG",
    ).to_ndarray()
    plane = frame.planes[3]
    alpha = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)
    return np.dstack([rgb, alpha[:, : frame.width]])


def decode(data: bytes) -> tuple[list[np.ndarray], list[int], av.container.InputContainer]:
    """Every frame as straight RGBA (BT.709 limited range, as tagged) and its pts in ms."""
    container = av.open(io.BytesIO(data))
    stream = container.streams.video[0]
    codec = av.codec.CodecContext.create("libvpx-vp9", "r")
    pictures, stamps = [], []
    for packet in container.demux(stream):
        if packet.size == 0:  # the demuxer's end-of-stream packet
            continue
        for frame in codec.decode(packet):
            assert frame.format.name == "yuva420p", "the alpha stream was not decoded"
            pictures.append(to_rgba(frame))
            stamps.append(int(frame.pts * stream.time_base * 1000))
    return pictures, stamps, container


def test_frames_timestamps_and_alpha_tag(job, video) -> None:
    take = job.take("walk")
    pictures, stamps, container = decode(video)
    stream = container.streams.video[0]
    assert stream.metadata.get("alpha_mode") == "1"  # what players look for
    assert len(pictures) == len(take.frames)
    # Matroska stores milliseconds: each frame within 1 ms of i * frame_time
    want = [round(i * take.frame_time * 1000) for i in range(len(take.frames))]
    assert max(abs(a - b) for a, b in zip(stamps, want, strict=True)) <= 1, stamps
    assert abs(container.duration / 1e6 - take.duration) <= 0.002
    assert pictures[0].shape == (SIZE, SIZE, 4)


def test_first_frame_is_a_keyframe(video) -> None:
    """A looping player restarts at frame 0: it must decode on its own."""
    container = av.open(io.BytesIO(video))
    first = next(p for p in container.demux(container.streams.video[0]) if p.size)
    assert first.is_keyframe


def test_frames_match_our_render(job, video, ours, shot) -> None:
    pictures, _, _ = decode(video)
    ious, diffs = [], []
    for got, want in zip(pictures, ours, strict=True):
        ious.append(compare.iou(got, want))
        diffs.append(compare.color_diff(got, want))
        corners = got[[0, 0, -1, -1], [0, -1, 0, -1], 3]
        assert corners.max() <= 4, f"background not transparent: corner alphas {corners}"
        inside = want[..., 3] == 255
        assert np.median(got[..., 3][inside]) >= 250, "the avatar is not opaque"
    shot("webm_pyav.png", compare.side_by_side(pictures[len(ours) // 3], ours[len(ours) // 3]))
    assert min(ious) >= 0.97, ious
    assert np.mean(diffs) <= 7 and max(diffs) <= 8, diffs


def test_odd_size_is_padded_transparent() -> None:
    j = Job(digi(), ["walk"], size=65, fps=4)
    try:
        (out,) = webm.export_webm(j)
    finally:
        j.close()
    pictures, _, _ = decode(out.data)
    assert pictures[0].shape == (66, 66, 4)
    assert max(p[-1, :, 3].max() for p in pictures) <= 4  # the padded row
    assert max(p[:, -1, 3].max() for p in pictures) <= 4  # and column


def test_too_many_frames_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(webm, "MAX_FRAMES", 3)
    j = Job(digi(), ["walk"], size=32, fps=4)
    try:
        with pytest.raises(ExportError, match="at most 3"):
            webm.export_webm(j)
    finally:
        j.close()


def test_frame_rate_is_exact_for_a_split_period() -> None:
    class T:
        frame_time = 1.3 / 37  # a loop's period split into whole frames

    assert webm.frame_rate(T()) == Fraction(370, 13)  # type: ignore[arg-type]


PAGE = """<!doctype html><meta charset=utf-8><body style="background:transparent">
<video id=v muted playsinline preload=auto></video>
<canvas id=c width={size} height={size}></canvas>
<script>
const v = document.getElementById('v'), c = document.getElementById('c');
const ctx = c.getContext('2d');
// played from a blob: the test server answers no Range requests, and Chromium seeks only
// in a resource it can fetch by ranges (or holds whole)
window.ready = new Promise((ok, fail) => {{
  v.addEventListener('loadeddata', () => ok(v.duration));
  v.addEventListener('error', () => fail(new Error('video error ' + v.error.code)));
  fetch('walk.webm').then((r) => r.blob()).then((b) => {{ v.src = URL.createObjectURL(b); }});
}});
// a seek is done when 'seeked' fired and the frame at `want` seconds was presented
// (drawing at 'seeked' alone may draw the frame shown before); gives up after 5 s
const presented = () => new Promise((ok) => v.requestVideoFrameCallback((n, m) => ok(m.mediaTime)));
window.grab = async (t, want) => {{
  const seeked = new Promise((ok) => v.addEventListener('seeked', ok, {{once: true}}));
  const until = performance.now() + 5000;
  let shown = presented();
  v.currentTime = t;
  await seeked;
  let mediaTime = null;
  while (performance.now() < until) {{
    mediaTime = await Promise.race([shown, new Promise((ok) => setTimeout(() => ok(null), 500))]);
    if (mediaTime !== null && Math.abs(mediaTime - want) < 0.002) break;
    shown = presented();
  }}
  ctx.clearRect(0, 0, c.width, c.height);
  ctx.drawImage(v, 0, 0);
  return [mediaTime, c.toDataURL('image/png')];
}};
</script>"""


def test_chromium_plays_it_with_alpha(job, video, ours, page, runtime_server, shot) -> None:
    take = job.take("walk")
    runtime_server.put("walk.webm", video)
    url = runtime_server.put("index.html", PAGE.format(size=SIZE))
    page.goto(url)
    duration = page.evaluate("() => window.ready")
    assert abs(duration - take.duration) <= 0.002, duration
    n = len(take.frames)
    # each seek shows a new frame (Chromium presents nothing for a seek within the frame
    # already shown); frame 0 last: the loop's restart point
    for i in (n // 3, (2 * n) // 3, n - 1, 0):
        # the middle of frame i's display time: no rounding lands on a neighbour
        t = i * take.frame_time
        shown, data = page.evaluate(
            "([t, want]) => window.grab(t, want)", [t + take.frame_time / 2, t]
        )
        assert shown is not None, f"frame {i} was never presented"
        assert abs(shown - t) <= 0.002, f"asked for frame {i}, shown {shown} s"
        got = compare.load(base64.b64decode(data.split(",", 1)[1]))
        want = ours[i]
        corners = got[[0, 0, -1, -1], [0, -1, 0, -1], 3]
        assert corners.max() <= 4, f"frame {i}: background not transparent ({corners})"
        iou, diff = compare.iou(got, want), compare.color_diff(got, want)
        if i == n // 3:
            shot("webm_chromium.png", compare.side_by_side(got, want))
        assert iou >= 0.97, f"frame {i}: IoU {iou:.3f}"
        assert diff <= 8, f"frame {i}: colour diff {diff:.1f}"


def test_chromium_loops_it(job, video, page, runtime_server) -> None:
    """`<video loop>` plays past the end back to the start (a keyframe at frame 0, a known
    duration): the time it reports drops back once within a few seconds of playing."""
    runtime_server.put("walk.webm", video)
    page.goto(runtime_server.put("index.html", PAGE.format(size=SIZE)))
    page.evaluate("() => window.ready")
    wrapped = page.evaluate(
        """() => new Promise((ok) => {
          let last = 0;
          v.loop = true;
          v.addEventListener('timeupdate', () => {
            if (v.currentTime + 0.2 < last) ok(true);
            last = v.currentTime;
          });
          setTimeout(() => ok(false), 6000);
          v.play();
        })"""
    )
    assert wrapped, "the video did not loop back to its start"
