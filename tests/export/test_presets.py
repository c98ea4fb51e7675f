"""Platform presets: each preset's files decoded (Pillow; Chromium's ImageDecoder for the
animated ones) and checked against the platform's rules and against our own GL render
through the same camera.

Thresholds (straight RGBA, tests/export/compare.py):
- PNG stills are lossless: IoU >= 0.999 and colour diff <= 1 (measured 1.0 and 0.0). A wrong
  framing falls far below (the face framing against the bust scores 0.59).
- The sticker's APNG holds one shared palette of 256 RGBA colours: IoU >= 0.99 and colour
  diff <= 4 (measured 0.9998 and 1.5: palette rounding of smooth shading). A neighbouring
  frame of the walk scores 0.78-0.82, so a frame out of order fails; so does a lost tRNS
  chunk (no transparency) or a wrong framing.
- GIF keeps no partial alpha (cut at half, as the IoU's mask is) and 255 colours: IoU >= 0.99,
  colour diff <= 5 (measured 1.0 and 2.1-2.2).
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from engine.export import presets
from engine.export.job import ExportError, Job
from engine.export.subject import digi
from tests.export import compare

FPS = 12  # small takes: 2 CPUs are shared


@pytest.fixture(scope="module")
def job():
    j = Job(digi(), ["walk"], size=512, fps=FPS)
    yield j
    j.close()


def ours(job: Job, take, part: str, side: int, index: int = 0) -> np.ndarray:
    """Our render of frame `index` of `take` framed as the preset frames it."""
    camera = presets.square_camera(job, [take], part, side)
    return compare.straight(job.renderer(side).render(take.frames[index], camera))


def decoded(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def test_every_preset_is_registered_with_the_runner() -> None:
    from engine.export.run import known_formats

    formats = known_formats()
    for name, preset in presets.PRESETS.items():
        assert callable(preset.exporter())
        assert formats[name].exporter() is preset.exporter()
        assert preset.description and preset.limits


STILLS = [
    # preset, file, (width, height), limit, framing part
    ("twitch-emotes", "digi_28.png", (28, 28), presets.TWITCH_BYTES, "face"),
    ("twitch-emotes", "digi_56.png", (56, 56), presets.TWITCH_BYTES, "face"),
    ("twitch-emotes", "digi_112.png", (112, 112), presets.TWITCH_BYTES, "face"),
    ("discord-emoji", "digi.png", (128, 128), presets.EMOJI_BYTES, "face"),
    ("x-profile", "digi_profile.png", (400, 400), presets.X_PROFILE_BYTES, "bust"),
    ("roblox-tshirt", "digi_tshirt.png", (512, 512), presets.ROBLOX_BYTES, "face"),
    ("vrchat-portrait", "digi_portrait.png", (1024, 1024), presets.VRCHAT_BYTES, "bust"),
]


@pytest.fixture(scope="module")
def outputs(job) -> dict[str, dict[str, bytes]]:
    """Each preset's files (made once: the emoji's and the sticker's animations are shared
    by several tests)."""
    made = {}
    for name in ("twitch-emotes", "discord-emoji", "x-profile", "roblox-tshirt",
                 "vrchat-portrait", "x-header", "discord-sticker", "twitch-animated"):  # fmt: skip
        made[name] = {o.name: o.data for o in presets.PRESETS[name].exporter()(job)}
    return made


@pytest.mark.parametrize(("preset", "name", "size", "limit", "part"), STILLS)
def test_still_presets(job, outputs, preset, name, size, limit, part) -> None:
    data = outputs[preset][name]
    img = decoded(data)
    assert (img.format, img.size) == ("PNG", size)
    assert len(data) <= limit
    got = np.asarray(img.convert("RGBA"))
    assert got[[0, 0, -1, -1], [0, -1, 0, -1], 3].max() == 0  # transparent background
    want = ours(job, job.still(), part, size[0])
    assert compare.iou(got, want) >= 0.999
    if size[0] >= 56:  # a 28 px picture is nearly all edge: no well-covered inside to compare
        assert compare.color_diff(got, want) <= 1


def test_power_of_two_portrait(outputs) -> None:
    w, h = decoded(outputs["vrchat-portrait"]["digi_portrait.png"]).size
    assert w == h and w & (w - 1) == 0


def test_x_header_puts_the_bust_in_the_right_third(job, outputs, shot) -> None:
    data = outputs["x-header"]["digi_header.png"]
    img = decoded(data)
    assert (img.format, img.size) == ("PNG", (1500, 500))
    assert len(data) <= presets.X_HEADER_BYTES
    got = np.asarray(img.convert("RGBA"))
    assert (got[..., 3] == 255).all()  # a plain background (X re-encodes headers)
    assert tuple(got[0, 0, :3]) == presets.HEADER_BACKGROUND
    # the avatar is everything not background: all of it in the right third
    drawn = np.any(got[..., :3] != np.array(presets.HEADER_BACKGROUND, np.uint8), axis=2)
    cols = np.nonzero(drawn.any(axis=0))[0]
    assert cols.min() >= 1000 - 1 and cols.max() < 1500
    # and it is our bust, placed: compare the right third with our render over the colour
    want = ours(job, job.still(), "bust", 500)
    a = want[..., 3:4].astype(np.float32) / 255
    bg = np.array(presets.HEADER_BACKGROUND, np.float32)
    flat = want[..., :3] * a + bg * (1 - a)
    third = got[:, 1000:1500, :3].astype(np.float32)
    assert np.abs(third - flat).mean() <= 1.0
    shot("preset_x_header.png", img)


def apng_frames(data: bytes) -> list[np.ndarray]:
    img = decoded(data)
    out = []
    for k in range(img.n_frames):
        img.seek(k)
        out.append(np.asarray(img.convert("RGBA")).copy())
    return out


def test_discord_sticker(job, outputs, shot) -> None:
    data = outputs["discord-sticker"]["walk.png"]
    img = decoded(data)
    assert (img.format, img.size) == ("PNG", (320, 320))
    assert img.is_animated and img.info.get("loop") == 0  # loops forever
    assert len(data) <= presets.STICKER_BYTES
    take = job.take("walk")
    frames = apng_frames(data)
    assert len(frames) == len(take.frames)  # 12 fps fits at once: no frames dropped
    for k in (0, len(frames) // 2):
        want = ours(job, take, "bust", 320, k)
        iou, diff = compare.iou(frames[k], want), compare.color_diff(frames[k], want)
        assert iou >= 0.99, iou
        assert diff <= 4, diff
    shot(
        "preset_discord_sticker.png", compare.side_by_side(frames[0], ours(job, take, "bust", 320))
    )


def test_gif_emotes(job, outputs) -> None:
    take = job.take("walk")
    for preset, name, side, limit in (
        ("discord-emoji", "walk.gif", 128, presets.EMOJI_BYTES),
        ("twitch-animated", "walk.gif", 112, presets.TWITCH_BYTES),
    ):
        data = outputs[preset][name]
        img = decoded(data)
        assert (img.format, img.size) == ("GIF", (side, side))
        assert img.info.get("loop") == 0 and len(data) <= limit
        assert img.n_frames == len(take.frames) <= presets.TWITCH_FRAMES
        got = np.asarray(img.convert("RGBA"))
        want = ours(job, take, "face", side)
        assert compare.iou(got, want) >= 0.99
        assert compare.color_diff(got, want) <= 5


def test_twitch_animated_drops_frames_to_fit_60() -> None:
    """Idle is 3 s: 90 frames at 30 fps; Twitch takes 60 at most, so the rate goes down."""
    j = Job(digi(), ["idle"], fps=30)
    try:
        (out,) = presets.export_twitch_animated(j)
    finally:
        j.close()
    img = decoded(out.data)
    assert img.n_frames <= presets.TWITCH_FRAMES
    assert img.n_frames >= 30  # the highest rate that fits, not the lowest


def test_a_fast_job_is_capped_for_gif() -> None:
    """60 fps would make 1/60 s GIF delays (GIF counts 1/100 s): emotes play at 30 at most."""
    j = Job(digi(), ["walk"], fps=60)
    try:
        (out,) = presets.export_twitch_animated(j)
        assert decoded(out.data).n_frames == len(presets.take_at(j, "walk", 30).frames)
    finally:
        j.close()


def test_impossible_limit_raises_and_writes_nothing(monkeypatch) -> None:
    monkeypatch.setattr(presets, "STICKER_BYTES", 2000)
    j = Job(digi(), ["walk"], fps=4)
    try:
        with pytest.raises(ExportError, match=r"2000 bytes limit.*smallest try .* was \d+"):
            presets.export_discord_sticker(j)
    finally:
        j.close()


def test_reductions_go_from_the_job_rate_down() -> None:
    class J:
        fps = 25.0

    assert presets.rates(J()) == [25.0, 24.0, 20.0, 15.0, 12.0, 10.0]  # type: ignore[arg-type]
    J.fps = 60.0
    assert presets.rates(J())[0] == presets.MAX_FPS  # type: ignore[arg-type]


DECODE = """<!doctype html><meta charset=utf-8><body><canvas id=c></canvas><script>
window.decode = async (url, type) => {
  const data = await (await fetch(url)).arrayBuffer();
  const d = new ImageDecoder({data, type});
  await d.tracks.ready;
  const track = d.tracks.selectedTrack;
  const {image} = await d.decode({frameIndex: 0});
  const c = document.getElementById('c');
  c.width = image.displayWidth; c.height = image.displayHeight;
  const ctx = c.getContext('2d');
  ctx.clearRect(0, 0, c.width, c.height);
  ctx.drawImage(image, 0, 0);
  image.close();
  return [track.animated, track.frameCount, track.repetitionCount, c.toDataURL('image/png')];
};
</script>"""


def test_chromium_decodes_the_animated_presets(job, outputs, page, runtime_server) -> None:
    take = job.take("walk")
    page.goto(runtime_server.put("index.html", DECODE))
    for preset, name, kind, part, side in (
        ("discord-sticker", "walk.png", "image/png", "bust", 320),
        ("twitch-animated", "walk.gif", "image/gif", "face", 112),
    ):
        url = runtime_server.put(f"{preset}-{name}", outputs[preset][name])
        animated, count, repeats, png = page.evaluate(
            "([u, t]) => window.decode(u, t)", [url, kind]
        )
        assert animated and count == len(take.frames), (preset, count)
        assert repeats is None or repeats == float("inf"), repeats  # Infinity: loops forever
        got = compare.load(base64.b64decode(png.split(",", 1)[1]))
        assert compare.iou(got, ours(job, take, part, side)) >= 0.97, preset
