"""Marketplace packages for tests: valid zips of every asset type, and `make_zip` for the
hostile ones (symlinks, odd names, encrypted flags, bombs).

A package is a zip with `manifest.json` at its root (webapi/market/assets.py, "Package"):
the listing's fields plus `content`, the type's data with file names relative to the zip.
The outfit is Digi's casual shirt and sleeves cut out of Digi's own atlas and turned neon
magenta, so a test can SEE it on the stream (`NEON`).
"""

from __future__ import annotations

import io
import json
import stat
import struct
import zipfile
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from engine.assets import ATLASES

NEON = (255, 0, 220)  # what the test outfit is dyed: nothing in Digi's own art is this colour
OUTFIT_SLOTS = {"shirt": "shirt_casual", "sleeve_l": "sleeve_casual", "sleeve_r": "sleeve_casual"}


def make_zip(
    files: dict[str, bytes],
    *,
    symlinks: Iterable[str] = (),
    encrypted: Iterable[str] = (),
    directories: Iterable[str] = (),
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """A zip of `files` in order (duplicate names need a list of pairs: pass a dict here and
    use `add_duplicate`). Names in `symlinks` get a Unix symlink mode in their external
    attributes (the content is the link target); names in `encrypted` get the encrypted flag
    bit set (their data stays plain: a reader must refuse them on the flag alone)."""
    links, enc = set(symlinks), set(encrypted)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for d in directories:
            z.writestr(zipfile.ZipInfo(d.rstrip("/") + "/"), b"")
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = compression
            if name in links:
                info.create_system = 3  # Unix: external_attr's high word is st_mode
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            else:
                info.external_attr = (stat.S_IFREG | 0o644) << 16
            z.writestr(info, data)
    out = buf.getvalue()
    return _set_encrypted(out, enc) if enc else out


def add_duplicate(data: bytes, name: str, content: bytes) -> bytes:
    """`data` (a zip) with one more entry called `name` (zipfile warns, and writes it)."""
    import warnings

    buf = io.BytesIO(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(buf, "a") as z:
            z.writestr(name, content)
    return buf.getvalue()


def _set_encrypted(data: bytes, names: set[str]) -> bytes:
    """Sets bit 0 of the general-purpose flags of `names` in both local and central headers."""
    b = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = [i for i in z.infolist() if i.filename in names]
    cd = b.find(b"PK\x01\x02")
    for info in infos:
        flag_at = info.header_offset + 6  # local header: signature(4) version(2) flags(2)
        b[flag_at] |= 1
        pos = cd
        while pos != -1:  # the central directory record of the same entry
            (offset,) = struct.unpack_from("<I", b, pos + 42)
            if offset == info.header_offset:
                b[pos + 8] |= 1
                break
            pos = b.find(b"PK\x01\x02", pos + 4)
    return bytes(b)


def manifest(type_: str, content: dict[str, Any], /, **fields: Any) -> dict[str, Any]:
    """A manifest of `type_` with sensible listing fields; `fields` override them (a value of
    None drops the key)."""
    m: dict[str, Any] = {
        "type": type_,
        "name": f"Test {type_}",
        "description": f"Test {type_.replace('_', ' ')}, made by the tests.",
        "tags": [type_.replace("_", "-"), "test"],
        "price_cents": 0,
        "currency": "usd",
        "compatibility": ["digi"],
        "content": content,
    }
    for k, v in fields.items():
        if v is None:
            m.pop(k, None)
        else:
            m[k] = v
    return m


def package(m: dict[str, Any], files: dict[str, bytes] | None = None) -> bytes:
    return make_zip({"manifest.json": json.dumps(m).encode(), **(files or {})})


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, "PNG")
    return buf.getvalue()


@lru_cache(maxsize=1)
def _atlas() -> tuple[np.ndarray, dict[str, list[int]]]:
    image = np.asarray(Image.open(ATLASES / "digi" / "atlas.png").convert("RGBA"))
    regions = json.loads((ATLASES / "digi" / "atlas.json").read_text())["regions"]
    return image, regions


def picture(attachment: str) -> np.ndarray:
    """Digi's own picture of an attachment (its atlas path is `digi/<attachment>`)."""
    image, regions = _atlas()
    x, y, w, h = regions[f"digi/{attachment}"]
    return image[y : y + h, x : x + w].copy()


def dyed(rgba: np.ndarray, colour: tuple[int, int, int] = NEON) -> np.ndarray:
    """The picture in one strong colour, its shading kept (luminance scales the colour) and
    its alpha untouched, so the outline and the engine's hull stay the same."""
    out = rgba.copy()
    lum = rgba[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    shade = 0.45 + 0.55 * (lum / 255.0)
    out[..., :3] = np.clip(shade[..., None] * np.array(colour, np.float32), 0, 255).astype(np.uint8)
    return out


def outfit_zip(
    name: str = "Neon casual",
    price_cents: int = 500,
    currency: str = "usd",
    label: str = "neon",
    colour: tuple[int, int, int] = NEON,
    **fields: Any,
) -> bytes:
    """A VALID outfit for Digi: the casual shirt and sleeves, dyed `colour`."""
    parts, files = {}, {}
    for slot, attachment in OUTFIT_SLOTS.items():
        file = f"{slot}.png"
        parts[slot] = {"attachment": attachment, "picture": file}
        files[file] = png(dyed(picture(attachment), colour))
    content = {"rig": "digi", "category": "outfit", "label": label, "parts": parts}
    m = manifest("outfit", content, name=name, price_cents=price_cents, currency=currency,
                 tags=["neon", "casual", "outfit"], **fields)  # fmt: skip
    return package(m, files)


def accessory_zip(
    name: str = "Neon glasses", price_cents: int = 0, label: str = "neon_glasses", **fields: Any
) -> bytes:
    """A VALID accessory: Digi's glasses dyed neon (and the plain hair top the "glasses"
    label also wears)."""
    content = {
        "rig": "digi",
        "category": "accessories",
        "label": label,
        "parts": {
            "glasses": {"attachment": "glasses", "picture": "glasses.png"},
            "hair_top": {"attachment": "hair_top", "picture": "hair_top.png"},
        },
    }
    files = {"glasses.png": png(dyed(picture("glasses"))), "hair_top.png": png(picture("hair_top"))}
    m = manifest("accessory", content, name=name, price_cents=price_cents, **fields)
    return package(m, files)


def wave_clip(name: str = "big_wave", length: float = 1.0) -> dict[str, Any]:
    """A small valid clip in the engine's format: the right arm waving."""
    keys = [
        {"time": 0.0, "value": 0.0},
        {"time": length / 2, "value": 60.0},
        {"time": length, "value": 0.0},
    ]
    return {"schema": 1, "name": name, "length": length, "looping": True,
            "bones": {"upperarm_r": {"rotation": keys}, "forearm_r": {"rotation": keys}}}  # fmt: skip


def animation_zip(
    name: str = "Big wave", clip: dict[str, Any] | None = None, state: Any = None, **fields: Any
) -> bytes:
    """An animation package of one clip; `state` ("emote", "dance" or any odd value) is its
    content's `"state": {"as": state}`, left out when None."""
    c = clip if clip is not None else wave_clip()
    content = {"rig": "digi", "clips": {c.get("name", "clip"): "big_wave.json"}, "loop": True}
    if state is not None:
        content["state"] = {"as": state}
    m = manifest("animation", content, name=name, **fields)
    return package(m, {"big_wave.json": json.dumps(c).encode()})


def avatar_zip(name: str = "Armored Digi", customizations: Any = None, **fields: Any) -> bytes:
    cust = (
        customizations
        if customizations is not None
        else {
            "sprites": {"outfit": "armor", "accessories": "hat"},
            "colors": {"outfit": {"hue": 90}},
        }
    )
    m = manifest("avatar", {"rig": "digi", "customizations": cust}, name=name, **fields)
    return package(m)


def background_picture(size: tuple[int, int] = (320, 180)) -> np.ndarray:
    """A vivid RGB gradient (no alpha)."""
    w, h = size
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    rgb = np.stack([np.broadcast_to(x, (h, w)), np.broadcast_to(y, (h, w)),
                    np.full((h, w), 200, np.float32)], axis=-1)  # fmt: skip
    return rgb.astype(np.uint8)


def background_zip(
    name: str = "Gradient", picture_bytes: bytes | None = None, **fields: Any
) -> bytes:
    data = picture_bytes if picture_bytes is not None else png(background_picture())
    m = manifest("background", {"picture": "bg.png"}, name=name, **fields)
    return package(m, {"bg.png": data})


def effect_frames(n: int = 4, size: int = 128) -> list[np.ndarray]:
    """Twinkles: small pink-white crosses in a transparent square, each frame moving them."""
    rng = np.random.default_rng(7)
    spots = rng.integers(8, size - 8, (14, 2))
    frames = []
    for i in range(n):
        f = np.zeros((size, size, 4), np.uint8)
        for k, (x, y) in enumerate(spots):
            r = 2 + (i + k) % 4  # each twinkle grows and shrinks out of step with the others
            f[y - r : y + r + 1, x] = (255, 200, 240, 255)
            f[y, x - r : x + r + 1] = (255, 200, 240, 255)
        frames.append(f)
    return frames


def effect_zip(
    name: str = "Pink sparkle", effect: dict[str, Any] | None = None, **fields: Any
) -> bytes:
    frames = effect_frames()
    files = {f"f{i}.png": png(f) for i, f in enumerate(frames)}
    e = effect if effect is not None else {
        "schema": 1,
        "filter": {"hue": 40.0, "saturation": 1.5, "brightness": 0.05, "contrast": 1.1},
        "overlay": {"frames": list(files), "fps": 8, "blend": "screen", "opacity": 0.8,
                    "placement": "full"},
    }  # fmt: skip
    m = manifest("effect", e, name=name, **fields)
    return package(m, files if effect is None else {})


def safetensors(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """The safetensors bytes of float32 `tensors` (built here, not by the engine, so tests can
    bend it)."""
    header: dict[str, Any] = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name in sorted(tensors):
        raw = np.asarray(tensors[name], "<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(tensors[name])),
                        "data_offsets": [offset, offset + len(raw)]}  # fmt: skip
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


def style_tensors() -> dict[str, np.ndarray]:
    """Every parameter of the style schema at the middle of its range."""
    from engine.style.styles import SCHEMA  # torch: only tests of style packs pay for it

    return {k: np.full(p.shape, (p.lo + p.hi) / 2, np.float32) for k, p in SCHEMA.items()}


def style_pack_zip(
    name: str = "Mid style", style: str = "midtone", data: bytes | None = None, **fields: Any
) -> bytes:
    if data is None:
        from engine.style.styles import ARCHITECTURE

        data = safetensors(style_tensors(), {"architecture": ARCHITECTURE, "style": style})
    m = manifest("style_pack", {"style": style, "file": "style.safetensors"}, name=name, **fields)
    return package(m, {"style.safetensors": data})
