"""Spritesheets: every frame of the job's animations rendered by our GL renderer, trimmed,
packed into atlas pages, and described in TexturePacker's "JSON Hash" format (what PixiJS's
`Assets.load` and Phaser's `load.atlas` read).

What is written, for an avatar named `digi`:
- `digi-0.png`, `digi-1.png`, ...: straight-alpha RGBA pages, no larger than `page_limit`.
- `digi-0.json`, `digi-1.json`, ...: one JSON Hash per page. Page 0 lists the others in
  `meta.related_multi_packs`, so one `Assets.load("digi-0.json")` in PixiJS loads every page.

Each frame is rendered at the job's size (all animations through one camera, so frames of
different animations line up and a sprite can switch animation without jumping), trimmed to
the box of its non-transparent pixels, and placed with `padding` transparent pixels between
it and anything else on the page. `spriteSourceSize`/`sourceSize` put the trimmed picture
back where it was, so a runtime draws exactly our render.

Why padding and no extrusion: a trimmed frame's surroundings in the full render are
transparent, so when a runtime scales a frame with linear filtering and samples half a texel
past the trimmed edge, the transparent padding is the right colour to find there: nothing
bleeds from a neighbour. Extruding edge pixels (what sheets of tiles do) would be wrong here:
it would grow soft outlines. Two pixels keep a neighbour out of reach of bilinear sampling
at any scale and of one mipmap level; a runtime that builds deeper mipmaps of the page can
still mix neighbours at small sizes (turn mipmaps off, or raise `padding`).

Animations: a JSON Hash page's `animations` lists the animations whose frames all lie on that
page (PixiJS resolves an animation's frame names within its own page only). Every page's
`meta.digigami` holds the full list for all pages, with each animation's frame rate, loop flag
and frame names; a frame name is a texture in PixiJS's cache once page 0 is loaded, whatever
page it is on. Identical frames (a held pose) share one packed rectangle."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.export.bake import Take
from engine.export.frames import Camera, camera_for
from engine.export.job import ExportError, Job, Output
from engine.export.png import straight

PAGE_LIMIT = 2048  # pixels, a page's larger side: every WebGL device takes 2048 textures
PADDING = 2  # transparent pixels between frames and around the page's edge
DEFAULT_ANIMATIONS = ("idle", "walk")
APP = "digigami"
VERSION = "1.0"


@dataclass
class Sprite:
    """One frame's trimmed picture and where it came from."""

    name: str  # "walk_0003"
    pixels: np.ndarray  # (h, w, 4) straight RGBA, trimmed
    offset: tuple[int, int]  # the trimmed box's top-left corner in the full render
    key: str  # content hash: identical pictures share one packed rect


@dataclass
class Placement:
    page: int
    x: int
    y: int


# --- trimming ---------------------------------------------------------------------------------


def trim(px: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """(trimmed picture, (x, y) of its corner) for a picture trimmed to its non-transparent
    pixels; an empty picture becomes one transparent pixel at (0, 0), as TexturePacker does."""
    alpha = px[..., 3] > 0
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    if rows.size == 0:
        return np.zeros((1, 1, 4), np.uint8), (0, 0)
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return px[y0:y1, x0:x1].copy(), (int(x0), int(y0))


# --- packing ----------------------------------------------------------------------------------


class Skyline:
    """One page's bottom-left skyline packer: the used area's top edge as (x, y, width)
    segments; a box goes where its bottom edge would be lowest (then leftmost)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.segments: list[list[int]] = [[0, 0, width]]
        self.used = (0, 0)  # the packed area's extent (width, height)

    def _fit(self, i: int, w: int, h: int) -> int | None:
        """The y a box of w x h would rest at with its left edge at segment i, or None."""
        x = self.segments[i][0]
        if x + w > self.width:
            return None
        y, left, j = 0, w, i
        while left > 0:
            y = max(y, self.segments[j][1])
            left -= self.segments[j][2]
            j += 1
        return y if y + h <= self.height else None

    def place(self, w: int, h: int) -> tuple[int, int] | None:
        best: tuple[int, int, int] | None = None  # (bottom, x, segment)
        for i in range(len(self.segments)):
            y = self._fit(i, w, h)
            if y is not None and (best is None or (y + h, self.segments[i][0]) < best[:2]):
                best = (y + h, self.segments[i][0], i)
        if best is None:
            return None
        bottom, x, i = best
        self._raise(i, x, w, bottom)
        self.used = (max(self.used[0], x + w), max(self.used[1], bottom))
        return x, bottom - h

    def _raise(self, i: int, x: int, w: int, top: int) -> None:
        """Replace the skyline under [x, x + w) by one segment at height `top`."""
        out = [*self.segments[:i], [x, top, w]]
        end = x + w
        for sx, sy, sw in self.segments[i:]:
            if sx + sw <= end:
                continue  # covered by the new segment
            if sx < end:
                sw, sx = sx + sw - end, end  # the part sticking out on the right
            out.append([sx, sy, sw])
        self.segments = out


def page_width(sizes: list[tuple[int, int]], limit: int) -> int:
    """A roughly square page for the boxes' total area, within the limit."""
    area = sum(w * h for w, h in sizes)
    widest = max(w for w, _ in sizes)
    return int(min(limit, max(widest, int(np.ceil(np.sqrt(area * 1.15))))))


def pack(
    sizes: list[tuple[int, int]], limit: int, padding: int
) -> tuple[list[Placement], list[tuple[int, int]]]:
    """Places boxes (w, h) on pages no larger than limit x limit, each box `padding` px away
    from other boxes and from the page's edge. Returns each box's placement and each page's
    (width, height). Deterministic: tallest first, ties in input order."""
    cells = [(w + padding, h + padding) for w, h in sizes]  # a box and its right/bottom gap
    inner = limit - padding  # the page's left/top edge gap comes first
    width = page_width(cells, inner)
    pages: list[Skyline] = []
    placed: list[Placement | None] = [None] * len(sizes)
    order = sorted(range(len(sizes)), key=lambda i: (-cells[i][1], -cells[i][0], i))
    for i in order:
        w, h = cells[i]
        found = next(
            ((p, spot) for p, pg in enumerate(pages) if (spot := pg.place(w, h)) is not None),
            None,
        )
        if found is None:
            pages.append(Skyline(width, inner))
            found = (len(pages) - 1, pages[-1].place(w, h))
        p, spot = found
        assert spot is not None  # every box was checked against the limit before packing
        placed[i] = Placement(p, spot[0] + padding, spot[1] + padding)
    extents = [(pg.used[0] + padding, pg.used[1] + padding) for pg in pages]
    return [p for p in placed if p is not None], extents


# --- the exporter ----------------------------------------------------------------------------


def _sprites(job: Job, takes: list[Take], camera: Camera) -> list[Sprite]:
    """Every frame of every take rendered, trimmed and hashed."""
    renderer = job.renderer(camera.width, camera.height)
    total = sum(len(t.frames) for t in takes)
    out: list[Sprite] = []
    for take in takes:
        for f in take.frames:
            job.report(
                0.9 * len(out) / total,
                f"rendering {take.name}, frame {f.index + 1}/{len(take.frames)}",
            )
            pixels, offset = trim(straight(renderer.render(f, camera)))
            digest = hashlib.blake2b(pixels.tobytes(), digest_size=16)
            digest.update(repr(pixels.shape).encode())
            out.append(Sprite(f"{take.name}_{f.index:04d}", pixels, offset, digest.hexdigest()))
    return out


def _check_fits(sprites: list[Sprite], limit: int, padding: int) -> None:
    for s in sprites:
        h, w = s.pixels.shape[:2]
        if max(w, h) + 2 * padding > limit:
            raise ExportError(
                f'frame "{s.name}" is {w}x{h} px ({w + 2 * padding}x{h + 2 * padding} with '
                f"{padding} px padding), larger than the spritesheet page limit of "
                f"{limit}x{limit} px: export at a smaller size or raise the page limit"
            )


def _anchor(camera: Camera) -> dict[str, float]:
    """The world origin (the avatar's root, between its feet) as a fraction of the frame:
    placing a sprite with this anchor puts the avatar's root at the sprite's position."""
    x, y = camera.to_pixels(np.zeros((1, 2)))[0]
    return {"x": round(float(x) / camera.width, 6), "y": round(float(y) / camera.height, 6)}


def _animations_meta(takes: list[Take], names: dict[str, list[str]]) -> dict[str, dict]:
    out = {}
    for t in takes:
        fps = 1.0 / t.frame_time
        out[t.name] = {
            "fps": round(fps, 6),
            "frame_time": round(t.frame_time, 9),
            "loop": t.loop,
            "animationSpeed": round(fps / 60.0, 6),  # PixiJS AnimatedSprite at a 60 Hz ticker
            "frames": names[t.name],
        }
    return out


def _page_png(size: tuple[int, int], sprites: list[Sprite], spots: list[Placement]) -> bytes:
    page = np.zeros((size[1], size[0], 4), np.uint8)  # transparent: the padding stays clean
    for s, p in zip(sprites, spots, strict=True):
        h, w = s.pixels.shape[:2]
        page[p.y : p.y + h, p.x : p.x + w] = s.pixels
    buf = io.BytesIO()
    Image.fromarray(page, "RGBA").save(buf, "PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def export_spritesheet(
    job: Job, page_limit: int = PAGE_LIMIT, padding: int = PADDING
) -> list[Output]:
    """Pages (`<name>-<i>.png`) and their TexturePacker JSON Hash descriptions
    (`<name>-<i>.json`; load `<name>-0.json`) of every frame of the job's animations."""
    if padding < 0 or page_limit < 1:
        raise ExportError(f"spritesheet padding must be >= 0 and page limit >= 1 px "
                          f"(got {padding} and {page_limit})")  # fmt: skip
    takes = job.takes(DEFAULT_ANIMATIONS)
    camera = camera_for(takes, job.size)
    sprites = _sprites(job, takes, camera)
    _check_fits(sprites, page_limit, padding)

    job.report(0.92, "packing the spritesheet")
    unique: dict[str, int] = {}  # content hash -> index among the packed pictures
    packed: list[Sprite] = []
    for s in sprites:
        if s.key not in unique:
            unique[s.key] = len(packed)
            packed.append(s)
    spots, pages = pack(
        [(s.pixels.shape[1], s.pixels.shape[0]) for s in packed], page_limit, padding
    )

    name = job.subject.name
    frames: list[dict[str, dict]] = [{} for _ in pages]
    where: dict[str, int] = {}  # frame name -> page
    anchor = _anchor(camera)
    for s in sprites:
        i = unique[s.key]
        spot, (h, w) = spots[i], packed[i].pixels.shape[:2]
        where[s.name] = spot.page
        frames[spot.page][s.name] = {
            "frame": {"x": spot.x, "y": spot.y, "w": w, "h": h},
            "rotated": False,
            "trimmed": True,
            "spriteSourceSize": {"x": s.offset[0], "y": s.offset[1], "w": w, "h": h},
            "sourceSize": {"w": camera.width, "h": camera.height},
            "anchor": anchor,  # PixiJS's Texture.defaultAnchor
            "pivot": anchor,  # TexturePacker's name for it
        }
    names = {t.name: [f"{t.name}_{f.index:04d}" for f in t.frames] for t in takes}
    side = _animations_meta(takes, names)

    out: list[Output] = []
    for p, size in enumerate(pages):
        job.report(0.95 + 0.05 * p / len(pages), f"writing spritesheet page {p + 1}/{len(pages)}")
        on_page = [k for k, s in enumerate(packed) if spots[k].page == p]
        image = f"{name}-{p}.png"
        out.append(
            Output(
                image, _page_png(size, [packed[k] for k in on_page], [spots[k] for k in on_page])
            )
        )
        meta: dict[str, object] = {
            "app": APP,
            "version": VERSION,
            "image": image,
            "format": "RGBA8888",
            "size": {"w": size[0], "h": size[1]},
            "scale": "1",
            "digigami": {"page": p, "pages": len(pages), "padding": padding, "animations": side},
        }
        if p == 0 and len(pages) > 1:
            meta["related_multi_packs"] = [f"{name}-{q}.json" for q in range(1, len(pages))]
        whole = {a: n for a, n in names.items() if all(where[f] == p for f in n)}
        doc = {"frames": frames[p], "animations": whole, "meta": meta}
        out.append(Output(f"{name}-{p}.json", json.dumps(doc, indent=1).encode()))
    job.report(1.0, f"spritesheet: {len(sprites)} frames on {len(pages)} page(s)")
    return out


def fill_ratio(outputs: list[Output]) -> float:
    """Packed frame area over page area, for a spritesheet export's outputs."""
    used = total = 0
    for o in outputs:
        if o.name.endswith(".json"):
            doc = json.loads(o.data)
            total += doc["meta"]["size"]["w"] * doc["meta"]["size"]["h"]
            rects = {tuple(f["frame"].values()) for f in doc["frames"].values()}
            used += sum(r[2] * r[3] for r in rects)
    return used / total if total else 0.0
