"""Raster exports (engine/export/raster.py) decoded by Pillow and by Chromium and compared with
our own GL render of the same frames (a `FrameRenderer` of the test's own, not the job's).

Digi at 160 px, `walk` (a loop) and `wave` (a one-shot) at 10 fps: a handful of frames.

Thresholds (compare.py defines the two measures):
- Lossless formats (PNG, APNG, PNG sequence) decoded by Pillow: IoU >= 0.999 and colour
  diff <= 0.5 (they hold our pixels exactly up to un-premultiplying; anything else is a bug:
  a wrong frame, a flipped or shifted picture, premultiplied colour stored as straight).
- The same decoded by Chromium: colour diff <= 1.5 (its canvas stores premultiplied 8-bit
  colour, so a round trip through it rounds again).
- Over white: the PNG composited over white (by Pillow / Chromium's canvas) against our
  premultiplied render over white, max |diff| <= 2 (un-premultiplying rounds by under one
  level). Premultiplied colour stored as straight (the dark-fringe bug) is off by tens of
  levels at every soft edge.
- GIF: alpha is cut at half, the same level IoU uses, so IoU >= 0.995; colour diff <= 4 (a
  255-colour palette over Digi costs ~2.5 levels at 160 px; a wrong or per-frame-shuffled
  palette costs tens).
- Durations: GIF's per-frame 1/100 s add up to the take's length within 1/100 s; APNG's
  fractions are exact (within 1 ms as decoders report them).
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from engine.export.frames import Camera, FrameRenderer, camera_for
from engine.export.job import ExportError, Job, Still
from engine.export.raster import (
    apng_delay,
    encode_gif,
    export_apng,
    export_gif,
    export_png,
    export_sequence,
    gif_delays,
)
from engine.export.subject import digi
from tests.export import compare

SIZE = 160
FPS = 10.0


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def subject():
    return digi()


@pytest.fixture(scope="module")
def job(subject):
    j = Job(subject, ["walk", "wave"], size=SIZE, fps=FPS)
    yield j
    j.close()


@pytest.fixture(scope="module")
def reference(subject):
    """Our own GL render: the answer every decoded picture is compared with."""
    r = FrameRenderer(subject, SIZE)
    yield r
    r.close()


def _refs(reference: FrameRenderer, take, camera: Camera) -> list[np.ndarray]:
    return [reference.render(f, camera) for f in take.frames]


def _over_white(premultiplied: np.ndarray) -> np.ndarray:
    """Our premultiplied render composited over white (the exact answer)."""
    a = premultiplied[..., 3:4].astype(np.float64)
    return premultiplied[..., :3] + 255.0 * (1 - a / 255)


def _assert_like(got: np.ndarray, ours: np.ndarray, min_iou: float, max_color: float, what: str):
    """`got` (straight RGBA) against our premultiplied render `ours`."""
    want = compare.straight(ours)
    i, c = compare.iou(got, want), compare.color_diff(got, want)
    assert i >= min_iou, f"{what}: IoU {i:.4f} < {min_iou}"
    assert c <= max_color, f"{what}: colour diff {c:.2f} > {max_color}"
    print(f"{what}: IoU {i:.4f}, colour diff {c:.2f}")
    corners = got[[0, 0, -1, -1], [0, -1, 0, -1], 3]
    assert (corners == 0).all(), f"{what}: corners not transparent ({corners})"
    return i, c


def _home(runtime_server, page) -> None:
    """Open a page on the runtime server, so the files it fetches are same-origin (an
    untainted canvas can be read back)."""
    page.goto(runtime_server.put("index.html", "<!doctype html><title>raster</title>"))


def _decode_data_url(url: str) -> np.ndarray:
    return compare.load(base64.b64decode(url.split(",", 1)[1]))


IMG_TO_CANVAS = """async ({url, white}) => {
  const img = new Image();
  img.src = url;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d');
  if (white) { g.fillStyle = '#fff'; g.fillRect(0, 0, c.width, c.height); }
  g.drawImage(img, 0, 0);
  return c.toDataURL('image/png');
}"""

# WebCodecs' ImageDecoder: the frames as a browser composes them (disposal applied), with the
# durations and repetition count it read from the file.
IMAGE_DECODER = """async ({url, type}) => {
  const response = await fetch(url);
  const decoder = new ImageDecoder({data: response.body, type});
  await decoder.completed;
  await decoder.tracks.ready;
  const track = decoder.tracks.selectedTrack;
  const out = {frameCount: track.frameCount, repetitionCount: track.repetitionCount,
               animated: track.animated, frames: []};
  const c = document.createElement('canvas');
  for (let i = 0; i < track.frameCount; i++) {
    const {image} = await decoder.decode({frameIndex: i});
    c.width = image.displayWidth; c.height = image.displayHeight;
    const g = c.getContext('2d');
    g.clearRect(0, 0, c.width, c.height);
    g.drawImage(image, 0, 0);
    out.frames.push({duration: image.duration, png: c.toDataURL('image/png')});
    image.close();
  }
  decoder.close();
  return out;
}"""


# --- PNG still -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def still_png(job):
    (out,) = export_png(job)
    return out


@pytest.fixture(scope="module")
def still_ref(job, reference):
    take = job.still()
    return reference.render(take.frames[0], camera_for(take, SIZE))


def test_png_by_pillow(still_png, still_ref, shot):
    assert still_png.name == "digi.png"
    img = Image.open(io.BytesIO(still_png.data))
    assert (img.format, img.mode, img.size) == ("PNG", "RGBA", (SIZE, SIZE))
    got = compare.load(still_png.data)
    _assert_like(got, still_ref, 0.999, 0.5, "PNG by Pillow")
    assert (got[..., 3] == 255).sum() > 0.05 * SIZE * SIZE, "the avatar is not opaque"
    shot("raster_png.png", compare.side_by_side(got, compare.straight(still_ref)))


def test_png_has_no_dark_fringe(still_png, still_ref):
    """Soft edges keep their colour: the PNG over white equals our render over white."""
    got = Image.open(io.BytesIO(still_png.data)).convert("RGBA")
    white = Image.new("RGBA", got.size, (255, 255, 255, 255))
    over = np.asarray(Image.alpha_composite(white, got))[..., :3].astype(np.float64)
    diff = np.abs(over - _over_white(still_ref))
    soft = (still_ref[..., 3] > 0) & (still_ref[..., 3] < 255)
    assert soft.sum() > 100, "no soft edges to check"
    assert diff.max() <= 2, f"over white: max diff {diff.max():.1f} at soft edges"
    # the edges' straight colour is ours: not pulled toward black (premultiplied as straight)
    edge = (still_ref[..., 3] >= 64) & (still_ref[..., 3] < 230)
    mine = compare.load(still_png.data)[..., :3].astype(np.int32)
    ours = compare.straight(still_ref)[..., :3].astype(np.int32)
    assert np.abs(mine - ours)[edge].mean() <= 1.0


def test_png_by_chromium(still_png, still_ref, runtime_server, page):
    _home(runtime_server, page)
    url = runtime_server.put("digi.png", still_png.data)
    got = _decode_data_url(page.evaluate(IMG_TO_CANVAS, {"url": url, "white": False}))
    _assert_like(got, still_ref, 0.999, 1.5, "PNG by Chromium")
    over = _decode_data_url(page.evaluate(IMG_TO_CANVAS, {"url": url, "white": True}))
    diff = np.abs(over[..., :3].astype(np.float64) - _over_white(still_ref))
    assert diff.max() <= 3, f"Chromium over white: max diff {diff.max():.1f}"


def _region(subject, take, camera: Camera, slots: tuple[str, ...], pad: int = 3) -> np.ndarray:
    """A mask of the box (in pixels) around the named slots' drawn vertices."""
    mask = np.zeros((camera.height, camera.width), bool)
    index = {subject.rig.slot_index[s] for s in slots}
    pts = [d.vertices for d in take.frames[0].draw if d.slot in index]
    if pts:
        p = camera.to_pixels(np.concatenate(pts))
        x0, y0 = np.floor(p.min(axis=0)).astype(int) - pad
        x1, y1 = np.ceil(p.max(axis=0)).astype(int) + pad
        mask[max(0, y0) : y1, max(0, x0) : x1] = True
    return mask


@pytest.mark.parametrize(
    ("parameters", "slots"),
    [
        ({"ParamMouthOpenY": 1.0}, ("mouth_base", "mouth_open", "mouth_expr")),
        ({"ParamEyeLOpen": 0.0}, ("eye_white_l", "iris_l", "eyelid_l", "eye_expr_l")),
    ],
)
def test_png_expression_changes_only_its_part(subject, parameters, slots):
    """An expression in the still pose changes the picture, and only around its part."""
    pictures, takes = [], []
    for params in ({}, parameters):
        j = Job(subject, size=SIZE, pose=Still(parameters=params))
        try:
            pictures.append(compare.load(export_png(j)[0].data).astype(np.int32))
            takes.append(j.still())
        finally:
            j.close()
    camera = camera_for(takes, SIZE)  # export_png frames each still on its own: same here
    assert camera_for(takes[0], SIZE).rect == camera_for(takes[1], SIZE).rect
    changed = np.abs(pictures[0] - pictures[1]).max(axis=2) > 8
    assert changed.sum() >= 10, f"{parameters} changed nothing"
    where = _region(subject, takes[0], camera, slots) | _region(subject, takes[1], camera, slots)
    outside = changed & ~where
    assert outside.sum() <= 0.02 * changed.sum(), f"{parameters} changed pixels elsewhere"


# --- PNG sequence ----------------------------------------------------------------------------


def test_sequence(job, reference):
    outputs = export_sequence(job)
    files = {o.name: o.data for o in outputs}
    takes = job.takes()
    camera = camera_for(takes, SIZE)  # one camera for every take of the job
    for take in takes:
        n = len(take.frames)
        names = [f"{take.name}/{take.name}_{i:04d}.png" for i in range(n)]
        assert [k for k in files if k.startswith(f"{take.name}/") and k.endswith(".png")] == names
        info = json.loads(files[f"{take.name}/animation.json"])
        assert info["name"] == take.name and info["frames"] == n and info["loop"] == take.loop
        assert (info["width"], info["height"]) == (SIZE, SIZE)
        assert info["frame_time"] == pytest.approx(take.frame_time)
        assert info["fps"] == pytest.approx(1 / take.frame_time)
        assert info["fps"] == pytest.approx(FPS, rel=0.05)
        for name, ours in zip(names, _refs(reference, take, camera), strict=True):
            _assert_like(compare.load(files[name]), ours, 0.999, 0.5, name)
    assert len(files) == sum(len(t.frames) + 1 for t in takes)


# --- GIF -------------------------------------------------------------------------------------


def test_gif_delays_add_up():
    assert gif_delays(6, 1 / 30) == [3, 4, 3, 3, 4, 3]
    assert sum(gif_delays(31, 1.0333 / 31)) == 103
    with pytest.raises(ExportError, match="at most 50"):
        gif_delays(10, 1 / 60)


@pytest.fixture(scope="module")
def gifs(job):
    return {o.name: o.data for o in export_gif(job)}


@pytest.fixture(scope="module")
def walk_refs(job, reference):
    take = job.take("walk")
    return take, _refs(reference, take, camera_for(job.takes(), SIZE))


def _pillow_frames(data: bytes) -> tuple[Image.Image, list[np.ndarray], list[float]]:
    img = Image.open(io.BytesIO(data))
    frames, durations = [], []
    for i in range(img.n_frames):
        img.seek(i)
        durations.append(img.info["duration"])
        frames.append(np.asarray(img.convert("RGBA")).copy())
    return img, frames, durations


def test_gif_by_pillow(job, gifs, walk_refs, shot):
    take, refs = walk_refs
    assert set(gifs) == {"walk.gif", "wave.gif"}
    img, frames, durations = _pillow_frames(gifs["walk.gif"])
    assert len(frames) == len(take.frames)  # seamless: no repeated first frame at the end
    assert img.info.get("loop") == 0  # forever
    assert "transparency" in Image.open(io.BytesIO(gifs["walk.gif"])).info  # first frame's
    assert abs(sum(durations) - 1000 * take.duration) <= 10
    assert min(durations) >= 20
    worst = (1.0, 0.0)
    for i, (got, ours) in enumerate(zip(frames, refs, strict=True)):
        iou, diff = _assert_like(got, ours, 0.995, 4.0, f"GIF frame {i}")
        assert set(np.unique(got[..., 3])) <= {0, 255}
        worst = (min(worst[0], iou), max(worst[1], diff))
    print(f"GIF by Pillow: worst IoU {worst[0]:.4f}, colour diff {worst[1]:.2f}")
    shot("raster_gif.png", compare.side_by_side(frames[0], compare.straight(refs[0])))
    # a one-shot plays once: no loop extension
    once = Image.open(io.BytesIO(gifs["wave.gif"]))
    assert "loop" not in once.info and once.n_frames == len(job.take("wave").frames)


def test_gif_by_chromium(gifs, walk_refs, runtime_server, page):
    take, refs = walk_refs
    _home(runtime_server, page)
    url = runtime_server.put("walk.gif", gifs["walk.gif"])
    got = page.evaluate(IMAGE_DECODER, {"url": url, "type": "image/gif"})
    assert got["frameCount"] == len(take.frames)
    assert got["repetitionCount"] == float("inf")
    delays = gif_delays(len(take.frames), take.frame_time)
    assert [f["duration"] for f in got["frames"]] == [d * 10_000 for d in delays]  # µs
    for i, (f, ours) in enumerate(zip(got["frames"], refs, strict=True)):
        _assert_like(_decode_data_url(f["png"]), ours, 0.995, 4.0, f"GIF frame {i} (Chromium)")


def test_gif_above_50_fps_is_slowed_to_50(subject):
    """A 60 fps job's GIF is re-baked at <= 50 fps: no frame under 2/100 s."""
    j = Job(subject, ["walk"], size=48, fps=60)
    try:
        (out,) = export_gif(j)
        _, frames, durations = _pillow_frames(out.data)
        assert min(durations) >= 20
        assert abs(sum(durations) - 1000 * j.take("walk").duration) <= 10
        assert len(frames) <= 50 * j.take("walk").duration + 1
    finally:
        j.close()


def test_gif_encoder_keeps_edge_colour():
    """A half-transparent red pixel stays pure red (not darkened over black); under half is
    dropped."""
    px = np.zeros((4, 4, 4), np.uint8)
    px[0, 0] = (200, 0, 0, 200)  # premultiplied: straight (255, 0, 0, 200)
    px[1, 1] = (100, 0, 0, 100)  # under half: transparent
    px[2, 2] = (0, 0, 255, 255)
    data = encode_gif([px, px], 0.1, loop=False)
    got = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    assert tuple(got[0, 0]) == (255, 0, 0, 255)
    assert got[1, 1, 3] == 0  # alpha 100 < ALPHA_CUT
    assert tuple(got[2, 2]) == (0, 0, 255, 255)
    # a full palette (255 colours) leaves the transparent index to clear pixels only: opaque
    # black is not mistaken for it
    ramp = np.zeros((64, 64, 4), np.uint8)
    ramp[..., 0], ramp[..., 1], ramp[..., 3] = np.arange(64)[:, None] * 4, np.arange(64) * 4, 255
    ramp[:8, :8, :3] = 0
    got = np.asarray(Image.open(io.BytesIO(encode_gif([ramp], 0.1))).convert("RGBA"))
    assert (got[..., 3] == 255).all() and tuple(got[0, 0]) == (0, 0, 0, 255)


# --- APNG ------------------------------------------------------------------------------------


def test_apng_delay_fractions():
    assert apng_delay(1 / 30) == (1, 30)
    assert apng_delay(0.1) == (1, 10)
    num, den = apng_delay(1.0333 / 31)
    assert abs(num / den - 1.0333 / 31) < 1e-6


@pytest.fixture(scope="module")
def apngs(job):
    return {o.name: o.data for o in export_apng(job)}


def test_apng_by_pillow(apngs, walk_refs, shot):
    take, refs = walk_refs
    assert set(apngs) == {"walk.png", "wave.png"}
    img, frames, durations = _pillow_frames(apngs["walk.png"])
    assert img.is_animated and len(frames) == len(take.frames)
    assert img.info.get("loop") == 0
    assert durations == pytest.approx([1000 * take.frame_time] * len(frames), abs=1e-3)
    for i, (got, ours) in enumerate(zip(frames, refs, strict=True)):
        _assert_like(got, ours, 0.999, 0.5, f"APNG frame {i}")
    assert ((frames[0][..., 3] > 0) & (frames[0][..., 3] < 255)).any(), "no partial alpha"
    shot("raster_apng.png", compare.side_by_side(frames[0], compare.straight(refs[0])))
    once = Image.open(io.BytesIO(apngs["wave.png"]))
    assert once.info.get("loop") == 1


def test_apng_by_chromium(apngs, walk_refs, runtime_server, page):
    take, refs = walk_refs
    _home(runtime_server, page)
    url = runtime_server.put("walk.png", apngs["walk.png"])
    got = page.evaluate(IMAGE_DECODER, {"url": url, "type": "image/png"})
    assert got["animated"] and got["frameCount"] == len(take.frames)
    assert got["repetitionCount"] == float("inf")
    for i, (f, ours) in enumerate(zip(got["frames"], refs, strict=True)):
        assert f["duration"] == pytest.approx(1e6 * take.frame_time, abs=1000)  # µs
        got_i = _decode_data_url(f["png"])
        _assert_like(got_i, ours, 0.999, 1.5, f"APNG frame {i} (Chromium)")
        assert ((got_i[..., 3] > 0) & (got_i[..., 3] < 255)).any(), "no partial alpha"


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "export", "message"),
    [
        ({"animations": ["moonwalk"]}, export_gif, 'unknown animation "moonwalk"'),
        ({"animations": ["moonwalk"]}, export_sequence, 'unknown animation "moonwalk"'),
        ({"animations": ["moonwalk"]}, export_apng, 'unknown animation "moonwalk"'),
        ({"pose": Still(state="moonwalk")}, export_png, 'unknown animation "moonwalk"'),
        ({"pose": Still(parameters={"ParamNope": 1})}, export_png, 'unknown parameter "ParamNope"'),
        ({"pose": Still(time=99.0)}, export_png, "time must be between"),
    ],
)
def test_bad_input_is_named(subject, kwargs, export, message):
    j = Job(subject, size=32, **kwargs)
    try:
        with pytest.raises(ExportError, match=message):
            export(j)
    finally:
        j.close()
