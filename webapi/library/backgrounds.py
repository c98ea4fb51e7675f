"""Scene backgrounds: the bundled pictures (content/backgrounds, made by
content/build/backgrounds.py) and the ones streamers upload, as files, owner-scoped.

One id space for every kind, so a scene names any of them the same way: a bundled
picture's id is its name (`night-sky`), an upload's is `u` and 20 hex digits; the
marketplace (a later issue) will add listed ones (`m...`) beside them. An upload is private
to the owner that sent it (`account:<id>` or `guest:<id>`, as generated avatars are): it is
stored under a directory named by a hash of its owner, so another owner's id is simply
not there (404, the same as an id that never existed).

Every uploaded byte is checked before it is kept: the body's size, the format (PNG, JPEG
or WebP, by its content, not its name), the pixel count read from the header before
anything is decoded (a small file can claim a huge picture), a full decode, and then only
our own re-encoding is stored (JPEG, orientation applied, transparency flattened, no
metadata), scaled down to MAX_SIDE: a background never needs more than the largest output.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.assets import ROOT
from webapi.errors import Conflict, Invalid, NotFound, TooLarge

BUNDLED = ROOT / "content" / "backgrounds"
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_UPLOAD_ID = re.compile(r"u[0-9a-f]{20}")
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,60}")
FLATTEN = (40, 44, 56)  # what a transparent upload's see-through parts become


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 10 * 1024 * 1024  # the upload as sent
    max_pixels: int = 40_000_000  # as its header claims (a 10 MB PNG can claim far more)
    min_side: int = 64
    max_side: int = 2560  # stored no larger: covers 1920 x 1080 either way
    per_owner: int = 24


LIMITS = Limits()


class UnknownBackground(NotFound, LookupError):
    """No such background, or another owner's: the two answer alike (404)."""


def _owner_dir(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()[:32]


class Backgrounds:
    """The backgrounds a server knows: `bundled` (read-only) and uploads under `root`."""

    def __init__(self, root: Path | str, bundled: Path = BUNDLED, limits: Limits = LIMITS) -> None:
        self.root = Path(root)
        self.bundled = Path(bundled)
        self.limits = limits
        index = self.bundled / "index.json"
        self._names: dict[str, str] = json.loads(index.read_text()) if index.exists() else {}
        self._lock = threading.Lock()  # uploads count against a quota: one at a time
        self._cache: OrderedDict[Path, np.ndarray] = OrderedDict()  # decoded, newest last
        self._cache_size = 6

    # --- reading -----------------------------------------------------------------------------

    def _bundled(self, bid: str) -> dict[str, Any]:
        return {"id": bid, "name": self._names[bid], "kind": "bundled"}

    def list(self, owner: str | None) -> list[dict[str, Any]]:
        """The bundled backgrounds, then `owner`'s uploads (oldest first)."""
        out = [self._bundled(bid) for bid in self._names]
        if owner is not None:
            out += [m for m in self._uploads(owner)]
        for entry in out:
            entry["url"] = f"/api/backgrounds/{entry['id']}"
        return out

    def _uploads(self, owner: str) -> list[dict[str, Any]]:
        folder = self.root / _owner_dir(owner)
        found = []
        for meta in folder.glob("u*.json") if folder.is_dir() else ():
            try:
                record = json.loads(meta.read_text())
            except (OSError, ValueError):
                continue  # half written, or damaged: not listed
            if _UPLOAD_ID.fullmatch(str(record.get("id", ""))):
                found.append(record)
        found.sort(key=lambda r: (r.get("created", 0), r["id"]))
        return [
            {k: r[k] for k in ("id", "name", "width", "height") if k in r} | {"kind": "upload"}
            for r in found
        ]

    def file(self, owner: str | None, bid: str) -> tuple[Path, str]:
        """The picture's file and its media type; UnknownBackground when there is none
        this owner may see."""
        if bid in self._names:
            return self.bundled / f"{bid}.png", "image/png"
        if owner is not None and _UPLOAD_ID.fullmatch(bid):
            path = self.root / _owner_dir(owner) / f"{bid}.jpg"
            if path.is_file():
                return path, "image/jpeg"
        raise UnknownBackground(f'no background "{bid[:70]}"')

    def pixels(self, owner: str | None, bid: str) -> np.ndarray:
        """The picture as (h, w, 3) uint8, top row first (decoded once, then cached)."""
        path, _ = self.file(owner, bid)
        with self._lock:
            if path in self._cache:
                self._cache.move_to_end(path)
                return self._cache[path]
        with Image.open(path) as image:
            px = np.asarray(image.convert("RGB"), np.uint8)
        px.flags.writeable = False  # shared between sessions
        with self._lock:
            self._cache[path] = px
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return px

    def resolver(self, owner: str | None) -> Callable[[str], np.ndarray]:
        """What a live session looks its scene's picture up with (streaming/live.py)."""
        return lambda bid: self.pixels(owner, bid)

    # --- writing -----------------------------------------------------------------------------

    def save(self, owner: str, data: bytes, name: str | None = None) -> dict[str, Any]:
        """Check, decode and re-encode an uploaded picture and keep it as `owner`'s; the
        refusals (Invalid, TooLarge, Conflict) say what is wrong. Blocking: run it in an
        executor."""
        lim = self.limits
        if len(data) > lim.max_bytes:
            raise TooLarge(f"the picture is over {lim.max_bytes // (1024 * 1024)} MB")
        if not data:
            raise Invalid("the request body is empty: send the picture's bytes")
        if name is not None and not _NAME.fullmatch(name):
            raise Invalid("name: 1 to 60 characters, no control characters", field="name")
        picture = _decode(data, lim)
        with self._lock:
            folder = self.root / _owner_dir(owner)
            if len(list(folder.glob("u*.json")) if folder.is_dir() else []) >= lim.per_owner:
                raise Conflict(
                    f"you have {lim.per_owner} backgrounds, the most one may keep: delete one first"
                )
            folder.mkdir(parents=True, exist_ok=True)
            bid = "u" + secrets.token_hex(10)
            picture.save(folder / f"{bid}.jpg", "JPEG", quality=90, optimize=True)
            record = {
                "id": bid,
                "name": name or "My background",
                "owner": owner,
                "width": picture.width,
                "height": picture.height,
                "created": time.time(),
            }
            # the record last: a listed upload always has its picture
            tmp = folder / f"{bid}.json.tmp"
            tmp.write_text(json.dumps(record))
            tmp.replace(folder / f"{bid}.json")
        return {k: record[k] for k in ("id", "name", "width", "height")} | {
            "kind": "upload",
            "url": f"/api/backgrounds/{bid}",
        }

    def delete(self, owner: str | None, bid: str) -> None:
        if bid in self._names:
            raise UnknownBackground(f'"{bid}" is a bundled background: it cannot be deleted')
        path, _ = self.file(owner, bid)
        with self._lock:
            path.with_suffix(".json").unlink(missing_ok=True)
            path.unlink(missing_ok=True)
            self._cache.pop(path, None)


def _decode(data: bytes, lim: Limits) -> Image.Image:
    try:
        with warnings.catch_warnings():  # the size is checked below, with a clear refusal
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise Invalid("not a picture: send a PNG, JPEG or WebP image") from None
    except Image.DecompressionBombError:
        raise TooLarge(f"the picture is over {lim.max_pixels // 1_000_000} megapixels") from None
    if image.format not in FORMATS:
        raise Invalid(f"{image.format} pictures are not taken: send a PNG, JPEG or WebP image")
    w, h = image.size
    if w * h > lim.max_pixels:
        raise TooLarge(
            f"the picture is {w} x {h} pixels: at most {lim.max_pixels // 1_000_000} megapixels"
        )
    if min(w, h) < lim.min_side:
        raise Invalid(f"the picture is {w} x {h} pixels: at least {lim.min_side} on each side")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except Exception as e:  # PIL raises many kinds for damaged data
        raise Invalid(f"the picture could not be decoded ({type(e).__name__})") from None
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (*FLATTEN, 255))
        image = Image.alpha_composite(flat, rgba)
    image = image.convert("RGB")
    image.thumbnail((lim.max_side, lim.max_side), Image.Resampling.LANCZOS)
    return image
