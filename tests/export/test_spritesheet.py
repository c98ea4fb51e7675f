"""Spritesheets (engine/export/spritesheet.py) played back by PixiJS 8 in Chromium, and the
pages themselves checked for bleeding.

Digi's walk (a loop) and jump (a one-shot) at 192 px go through the exporter; PixiJS loads
the JSON Hash with `Assets.load`, shows frames with an `AnimatedSprite` on a transparent
canvas, and the canvas is compared with our own GL render of the same frame.

Thresholds, and what they catch:
- IoU >= 0.995 and colour diff <= 1.5: trimming and packing move no pixel, so PixiJS's
  picture is ours up to rounding (the page is premultiplied on upload, the canvas is
  un-premultiplied on readback: a level or two in soft-edged pixels, which can flip a pixel
  whose alpha sits at the IoU's 50 % line). A frame offset by one pixel at this size costs
  about 8 % IoU (measured); a wrong frame of the walk costs more still.
- alpha within 3 levels everywhere: a trim offset, a wrong `sourceSize` or a neighbour's
  pixels sampled through the padding all show up here as a full-alpha difference.
- The pages: every pixel outside every frame rect (the padding ring included) has alpha 0,
  rects and their padding rings never overlap, and each rect holds exactly our render's
  trimmed pixels (straight alpha, bit for bit)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from engine.export.frames import camera_for
from engine.export.job import ExportError, Job, Output
from engine.export.png import straight
from engine.export.spritesheet import PADDING, export_spritesheet, fill_ratio
from engine.export.subject import digi
from tests.export import compare
from tests.export.conftest import need_node_package

SIZE = 192
ANIMATIONS = ("walk", "jump")
IOU_MIN = 0.995
COLOR_MAX = 1.5
ALPHA_MAX = 3


@pytest.fixture(scope="module")
def job():
    j = Job(digi(), ANIMATIONS, size=SIZE, fps=30)
    yield j
    j.close()


@pytest.fixture(scope="module")
def ours(job):
    """frame name -> our GL render (straight RGBA), through the exporter's camera."""
    takes = job.takes()
    camera = camera_for(takes, SIZE)
    r = job.renderer(SIZE)
    return {
        f"{t.name}_{f.index:04d}": straight(r.render(f, camera)) for t in takes for f in t.frames
    }


@pytest.fixture(scope="module")
def sheet(job):
    return export_spritesheet(job)


@pytest.fixture(scope="module")
def multipage(job):
    # 192 px walk/jump frames are about 80 x 170: at most two fit on a 256 px page
    return export_spritesheet(job, page_limit=256)


def _docs(outputs: list[Output]) -> dict[str, dict]:
    return {o.name: json.loads(o.data) for o in outputs if o.name.endswith(".json")}


def _pages(outputs: list[Output]) -> dict[str, np.ndarray]:
    return {o.name: compare.load(o.data) for o in outputs if o.name.endswith(".png")}


PAGE = """<!doctype html><meta charset="utf-8"><body style="margin:0">
<script type="module">
import * as PIXI from "/node_modules/pixi.js/dist/pixi.mjs";
const app = new PIXI.Application();
await app.init({ width: %(size)d, height: %(size)d, backgroundAlpha: 0, antialias: false,
                 preserveDrawingBuffer: true, preference: "webgl", autoStart: false });
document.body.appendChild(app.canvas);
const sheet = await PIXI.Assets.load("%(json)s");
const side = sheet.data.meta.digigami.animations;
const sprites = {};
// An animation from the page's own `animations` when it is there (PixiJS's usual path),
// else from the cache by frame name (frames spread over several pages).
for (const [name, a] of Object.entries(side)) {
  const textures = sheet.animations[name] ?? a.frames.map((f) => PIXI.Assets.get(f));
  const s = new PIXI.AnimatedSprite(textures);
  s.animationSpeed = a.animationSpeed;
  s.loop = a.loop;
  // the texture's default anchor is the avatar's root: place it there in the canvas
  s.position.set(s.anchor.x * %(size)d, s.anchor.y * %(size)d);
  s.visible = false;
  sprites[name] = s;
  app.stage.addChild(s);
}
window.PIXI = PIXI;
window.sheet = sheet;
window.sprites = sprites;
window.show = (name, i) => {
  for (const s of Object.values(sprites)) s.visible = false;
  sprites[name].visible = true;
  sprites[name].gotoAndStop(i);
  app.render();
  return app.canvas.toDataURL("image/png");
};
window.ready = true;
</script>"""


def _open(page, runtime_server, outputs: list[Output]) -> None:
    for o in outputs:
        runtime_server.put(o.name, o.data)
    url = runtime_server.put("play.html", PAGE % {"size": SIZE, "json": "/files/digi-0.json"})
    page.goto(url)
    page.wait_for_function("window.ready === true", timeout=30_000)


def _canvas(page, name: str, i: int) -> np.ndarray:
    data = page.evaluate(f"() => show({json.dumps(name)}, {i})")
    return compare.load(base64.b64decode(data.split(",", 1)[1]))


def _matches(theirs: np.ndarray, ours: np.ndarray, what: str) -> tuple[float, float]:
    iou, diff = compare.iou(theirs, ours), compare.color_diff(theirs, ours)
    alpha = int(np.abs(theirs[..., 3].astype(int) - ours[..., 3].astype(int)).max())
    assert iou >= IOU_MIN, f"{what}: IoU {iou:.4f}"
    assert diff <= COLOR_MAX, f"{what}: colour diff {diff:.2f}"
    assert alpha <= ALPHA_MAX, f"{what}: alpha differs by up to {alpha}"
    return iou, diff


def test_pixi_plays_the_sheet(page, runtime_server, sheet, job, ours, shot) -> None:
    need_node_package("pixi.js")
    assert [o.name for o in sheet] == ["digi-0.png", "digi-0.json"]
    _open(page, runtime_server, sheet)
    takes = job.takes()
    anims = page.evaluate(
        "() => Object.fromEntries(Object.entries(sheet.animations).map(([k, v]) => "
        "[k, v.map((t) => t.label)]))"
    )
    assert anims == {t.name: [f"{t.name}_{i:04d}" for i in range(len(t.frames))] for t in takes}

    for t in takes:
        for i in sorted({0, len(t.frames) // 3, len(t.frames) - 1}):
            name = f"{t.name}_{i:04d}"
            theirs = _canvas(page, t.name, i)
            iou, diff = _matches(theirs, ours[name], f"PixiJS {name}")
            print(f"{name}: IoU {iou:.4f}, colour diff {diff:.2f}")
            if name == "walk_0010":
                shot("spritesheet-pixi.png", compare.side_by_side(theirs, ours[name]))

    # play(): the ticker moves the walk on at its own rate (animationSpeed = fps / 60)
    played = page.evaluate(
        """async () => {
          const s = sprites.walk; show("walk", 0);
          let changes = 0;
          s.onFrameChange = () => changes++;
          s.play();  // Ticker.shared drives it
          const t0 = performance.now();
          await new Promise((r) => setTimeout(r, 600));
          s.stop();
          return [changes, (performance.now() - t0) / 1000];
        }"""
    )
    changes, seconds = played
    expected = seconds / takes[0].frame_time
    print(f"played {changes} frames in {seconds:.2f} s (expected about {expected:.1f})")
    # at least one step (a busy machine may drop ticker frames, so no lower rate is asserted);
    # never faster than the take's rate (animationSpeed = fps / 60 of a 60 Hz ticker)
    assert changes >= 1, "AnimatedSprite.play() did not advance the walk"
    assert changes <= 1.5 * expected + 2, f"played {changes} frames in {seconds:.2f} s"


def test_multipage_loads_every_frame(page, runtime_server, multipage, job, ours) -> None:
    need_node_package("pixi.js")
    docs = _docs(multipage)
    assert len(docs) >= 2, "a 256 px page limit should need several pages"
    first = docs["digi-0.json"]
    assert first["meta"]["related_multi_packs"] == [f"digi-{i}.json" for i in range(1, len(docs))]
    for d in docs.values():
        assert max(d["meta"]["size"].values()) <= 256
    _open(page, runtime_server, multipage)
    names = [n for d in docs.values() for n in d["frames"]]
    missing = page.evaluate("(names) => names.filter((n) => !PIXI.Assets.cache.has(n))", names)
    assert not missing, f"PixiJS did not load frames {missing[:5]}"
    assert len(names) == len(ours)
    # a frame from the last page, played through the cache-built AnimatedSprite
    last = f"digi-{len(docs) - 1}.json"
    name = sorted(docs[last]["frames"])[0]
    anim, i = name.rsplit("_", 1)
    _matches(_canvas(page, anim, int(i)), ours[name], f"PixiJS {name} from {last}")


@pytest.mark.parametrize("which", ["sheet", "multipage"])
def test_no_bleeding(which, request, ours, shot) -> None:
    outputs = request.getfixturevalue(which)
    docs, pages = _docs(outputs), _pages(outputs)
    for doc in docs.values():
        page = pages[doc["meta"]["image"]]
        assert page.shape[:2] == (doc["meta"]["size"]["h"], doc["meta"]["size"]["w"])
        covered = np.zeros(page.shape[:2], int)  # how many padded rects cover each pixel
        inside = np.zeros(page.shape[:2], bool)
        rects = {}
        for name, f in doc["frames"].items():
            r, s = f["frame"], f["spriteSourceSize"]
            x, y, w, h = r["x"], r["y"], r["w"], r["h"]
            want = ours[name][s["y"] : s["y"] + h, s["x"] : s["x"] + w]
            got = page[y : y + h, x : x + w]
            assert np.array_equal(got, want), f"{name}: packed pixels differ from our render"
            rects[(x, y, w, h)] = name  # identical frames share a rect: count it once
        for x, y, w, h in rects:
            assert x >= PADDING and y >= PADDING, "a frame touches the page's edge"
            covered[y - PADDING : y + h + PADDING, x - PADDING : x + w + PADDING] += 1
            inside[y : y + h, x : x + w] = True
        # no frame lies in another's padded box: the gap between frames is >= PADDING
        overlap = covered > 1
        assert not overlap[inside].any(), "a frame lies within another's padding"
        assert page[..., 3][~inside].max(initial=0) == 0, "pixels outside the frames"
        print(f"{doc['meta']['image']}: {len(rects)} rects, {page.shape[1]}x{page.shape[0]}")
    print(f"{which}: {len(pages)} page(s), fill {fill_ratio(outputs):.2f}")
    if which == "sheet":
        shot("spritesheet-page.png", compare.side_by_side(pages["digi-0.png"]))


def test_frame_larger_than_the_page_limit(job, sheet) -> None:
    with pytest.raises(ExportError, match=r'frame "\w+" is \d+x\d+ px .* page limit of 100x100'):
        export_spritesheet(job, page_limit=100)
