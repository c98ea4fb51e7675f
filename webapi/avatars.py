"""Photos in, avatars out: safe decoding of uploaded images and the store of generated avatars.

`decode_image` is the one door an uploaded photo goes through: size limits first (bytes, then
the declared pixel count read from the header, before a single pixel is decoded), then a full
decode that refuses truncated files, EXIF orientation applied, RGB out. Every refusal is an
`ImageError` whose message says what is wrong in words a user can act on.

`AvatarStore` keeps each generated avatar in its own folder, `<root>/<id>/<name>.png` plus
`metadata.json`. A folder is written under a temporary name and renamed into place in one
step, so a reader never sees a half-written avatar and a crash mid-save loses nothing that was
already saved. Limits and errors: docs/GENERATION.md.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import contextlib
import io
import json
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from engine.face import FaceArt, FaceArtError

MAX_BYTES = 10 * 1024 * 1024  # an uploaded photo, encoded
MAX_PIXELS = 40_000_000  # declared width x height; beyond this a file is refused unread
MIN_SIDE = 64  # a face needs at least this many pixels on each side
# Photos longer than this on a side are scaled down by a whole factor while they are decoded:
# the engine finds faces at 1280 and paints a 512 crop (a face 300 px tall is enough), and a
# 40 MP photo kept at full size costs each running job several copies of 120 MB for nothing.
MAX_DECODE_SIDE = 3072
# The longest data URL that can carry MAX_BYTES: base64 is 4 characters per 3 bytes, plus a
# generous allowance for the "data:image/...;base64," header.
MAX_DATA_URL = 4 * ((MAX_BYTES + 2) // 3) + 256

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a cut-off file is an error, never a grey half-picture
# Pillow's own bomb guard (a warning past this, an error past twice this) as a second line
# behind the explicit check in `decode_image`.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

_DATA_URL = re.compile(
    r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[\w.+-]+=[^;,]*)*)(?P<b64>;base64)?,", re.I
)
_ID = re.compile(r"^[0-9a-f]{16}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class ImageError(ValueError):
    """An uploaded image that cannot be used; the message says why."""


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def parse_data_url(s: str) -> bytes:
    """The bytes of a `data:image/...;base64,...` URL; anything else is an `ImageError`.
    The length is checked before anything is decoded."""
    if not isinstance(s, str):
        raise ImageError("the image must be a data URL string (data:image/...;base64,...)")
    if len(s) > MAX_DATA_URL:
        raise ImageError(
            f"image too large: the data URL is {_mb(len(s))} (at most {_mb(MAX_BYTES)} of image data, "
            f"{_mb(MAX_DATA_URL)} as a data URL)"
        )
    m = _DATA_URL.match(s)
    if m is None:
        raise ImageError(
            'the image must be a data URL ("data:image/png;base64,..." or "data:image/jpeg;base64,...")'
        )
    mime = (m["mime"] or "text/plain").lower()
    if not mime.startswith("image/"):
        raise ImageError(
            f'the data URL must hold an image (image/png, image/jpeg, ...), not "{mime}"'
        )
    if not m["b64"]:
        raise ImageError("the image data URL must be base64-encoded (data:image/...;base64,...)")
    payload = s[m.end() :]
    try:
        data = base64.b64decode(payload.strip(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ImageError(f"the image data URL is not valid base64: {e}") from None
    if not data:
        raise ImageError("the image data URL is empty")
    if len(data) > MAX_BYTES:
        raise ImageError(f"image too large: {_mb(len(data))} (at most {_mb(MAX_BYTES)})")
    return data


def check_header(data: bytes) -> tuple[int, int]:
    """(width, height) of an upload whose header passes every check `decode_image` makes
    before decoding (bytes, format, pixel count, sides); an `ImageError` otherwise. Cheap:
    no pixel is decoded, so a job can be refused before it waits in line."""
    with _open_checked(data) as im:
        return im.size


def decode_image(data: bytes) -> np.ndarray:
    """An uploaded image as an RGB uint8 array (H, W, 3), EXIF orientation applied; photos
    longer than `MAX_DECODE_SIDE` are scaled down by a whole factor as they are decoded."""
    with _open_checked(data) as im:
        w, h = im.size
        if im.format == "JPEG" and max(w, h) > MAX_DECODE_SIDE:
            # JPEG can decode at 1/2, 1/4 or 1/8 scale directly: the full picture never exists
            k = -(-max(w, h) // MAX_DECODE_SIDE)
            im.draft("RGB", (-(-w // k), -(-h // k)))
        try:
            im.load()
        except Exception as e:  # truncated, corrupt, or a codec error: never a partial picture
            msg = str(e) or type(e).__name__
            if "truncated" in msg.lower() or isinstance(e, (EOFError, SyntaxError)):
                raise ImageError(
                    f"the image is truncated or corrupt ({im.format}: {msg})"
                ) from None
            raise ImageError(f"the image could not be decoded ({im.format}: {msg})") from None
        if max(im.size) > MAX_DECODE_SIDE:
            k = -(-max(im.size) // MAX_DECODE_SIDE)
            try:
                im = im.reduce(k)  # box filter: a fair average
            except ValueError:  # a mode reduce does not take (palette): as RGB first
                im = _flatten(im).reduce(k)
        with contextlib.suppress(Exception):  # broken EXIF: keep the picture as stored
            im = ImageOps.exif_transpose(im)
        if im.mode != "RGB":
            im = _flatten(im)
        return np.array(im, dtype=np.uint8)  # a writable copy of its own


def _open_checked(data: bytes) -> Image.Image:
    """The upload opened (header only) once its size, format, pixel count and sides pass."""
    if len(data) > MAX_BYTES:
        raise ImageError(f"image too large: {_mb(len(data))} (at most {_mb(MAX_BYTES)})")
    if not data:
        raise ImageError("not an image: the upload is empty")
    try:
        im = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError:
        w, h = _declared_size(data)
        raise ImageError(_too_many_pixels(w, h)) from None
    except UnidentifiedImageError:
        raise ImageError(
            f"not an image: {len(data)} bytes that no image format recognises (send a PNG, JPEG or WebP photo)"
        ) from None
    except Exception as e:  # a header so broken the format's own parser gives up
        raise ImageError(f"not an image: {e}") from None
    w, h = im.size
    if w * h > MAX_PIXELS:
        im.close()
        raise ImageError(_too_many_pixels(w, h))
    if w < MIN_SIDE or h < MIN_SIDE:
        im.close()
        raise ImageError(
            f"image too small: {w}x{h} pixels (at least {MIN_SIDE}x{MIN_SIDE} for a face)"
        )
    return im


def _flatten(im: Image.Image) -> Image.Image:
    """RGB; a transparent photo over white rather than over whatever its hidden pixels hold."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        out = Image.new("RGB", rgba.size, (255, 255, 255))
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    return im.convert("RGB")


def _too_many_pixels(w: int, h: int) -> str:
    return f"image too large: {w}x{h} pixels (at most {MAX_PIXELS // 1_000_000} megapixels, e.g. 6000x6000)"


def _declared_size(data: bytes) -> tuple[int, int]:
    """The size a header declares, read with the bomb guard off (nothing is decoded)."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Exception:
        return (0, 0)
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def encode_png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG", compress_level=4)
    return buf.getvalue()


def png_data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def jsonable(value: Any) -> Any:
    """Engine metadata (numpy scalars, arrays, tuples) as plain JSON values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def default_root() -> Path:
    """`$DIGIGAMI_AVATAR_DIR`, else the repository's git-ignored `out/avatars`."""
    env = os.environ.get("DIGIGAMI_AVATAR_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "out" / "avatars"


@dataclass(frozen=True)
class SavedAvatar:
    id: str
    record: dict[str, Any]  # what metadata.json holds
    pngs: dict[str, bytes]  # name -> encoded PNG

    def url(self, name: str) -> str:
        return f"/avatars/{self.id}/{name}.png"


@dataclass
class _Entry:
    """What the store keeps in memory of one avatar: enough for quotas and expiry."""

    owner: str | None
    created: float  # seconds since the epoch
    bytes: int
    claimed: bool


class AvatarStore:
    """Generated avatars on disk: `<root>/<id>/<name>.png` and `<root>/<id>/metadata.json`.

    Each record names its `owner` (`guest:<id>` now; accounts later) and, once an account
    takes it, `claimed`. Unclaimed avatars expire (`expire`); claimed ones are never deleted
    here. Opening a store removes what a killed save left behind (`.tmp-*` folders)."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self._lock = threading.Lock()  # the index, claims and deletions (worker threads)
        self._index: dict[str, _Entry] | None = None
        self.remove_leftovers()

    def remove_leftovers(self) -> list[str]:
        """Delete the `.tmp-*` folders of saves that never finished (a crash, kill -9) and the
        `.del-*` ones of deletions that never finished; their names."""
        removed = []
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for path in self.root.iterdir():
                if path.name.startswith((".tmp-", ".del-")):
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path.name)
        return removed

    def save(
        self, avatar: Any, *, extra: dict[str, Any] | None = None, owner: str | None = None
    ) -> SavedAvatar:
        """Store a `GeneratedAvatar` (its `.outputs`, `.landmarks`, `.metadata`) under a new
        id, recorded as `owner`'s. Blocking (PNG encoding): call it off the event loop."""
        pngs: dict[str, bytes] = {}
        sizes: dict[str, dict[str, Any]] = {}
        for name, array in avatar.outputs.items():
            if not _NAME.match(name):
                raise ValueError(f"bad output name {name!r}")
            arr = np.asarray(array)
            pngs[name] = encode_png(arr)
            sizes[name] = {
                "width": int(arr.shape[1]),
                "height": int(arr.shape[0]),
                "channels": int(arr.shape[2]) if arr.ndim == 3 else 1,
            }
        avatar_id = secrets.token_hex(8)
        now = time.time()
        record = {
            "id": avatar_id,
            "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "outputs": {n: {"url": f"/avatars/{avatar_id}/{n}.png", **s} for n, s in sizes.items()},
            "metadata": jsonable(getattr(avatar, "metadata", {}) or {}),
            "landmarks": jsonable(getattr(avatar, "landmarks", None)),
            **jsonable(extra or {}),
        }
        if owner is not None:
            record["owner"] = owner
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{avatar_id}-{secrets.token_hex(4)}"
        tmp.mkdir()
        try:
            for name, png in pngs.items():
                (tmp / f"{name}.png").write_bytes(png)
            meta = json.dumps(record, separators=(",", ":"))
            (tmp / "metadata.json").write_text(meta)
            os.rename(tmp, self.root / avatar_id)  # one step: all of it or none of it
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        size = sum(len(p) for p in pngs.values()) + len(meta)
        with self._lock:
            if self._index is not None:
                self._index[avatar_id] = _Entry(owner, now, size, False)
        return SavedAvatar(avatar_id, record, pngs)

    def usage(self, owner: str) -> tuple[int, int]:
        """(avatars, bytes) that `owner` keeps stored, claimed ones included."""
        with self._lock:
            entries = [e for e in self._entries().values() if e.owner == owner]
        return len(entries), sum(e.bytes for e in entries)

    def claim(self, avatar_id: str, owner: str) -> bool:
        """Mark an avatar as `owner`'s for good (an account's): it no longer expires and no
        clean-up deletes it. False when there is no such avatar. Blocking (a file write)."""
        with self._lock:
            record = self.get(avatar_id)
            if record is None:
                return False
            record["owner"] = owner
            record["claimed"] = {
                "owner": owner,
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            folder = self.root / avatar_id
            tmp = folder / f".metadata-{secrets.token_hex(4)}.json"
            tmp.write_text(json.dumps(record, separators=(",", ":")))
            os.replace(tmp, folder / "metadata.json")  # readers see the old or the new record
            entry = self._entries().get(avatar_id)
            if entry is not None:
                entry.owner, entry.claimed = owner, True
        return True

    def expire(self, max_age_s: float, now: float | None = None) -> list[str]:
        """Delete every unclaimed avatar older than `max_age_s`; their ids. Claimed ones are
        never deleted. Blocking (disk): run it off the event loop."""
        now = time.time() if now is None else now
        removed = []
        with self._lock:
            for avatar_id, entry in list(self._entries().items()):
                if entry.claimed or now - entry.created <= max_age_s:
                    continue
                gone = self.root / f".del-{avatar_id}-{secrets.token_hex(4)}"
                try:
                    os.rename(self.root / avatar_id, gone)  # vanishes for readers in one step
                except FileNotFoundError:
                    pass
                else:
                    shutil.rmtree(gone, ignore_errors=True)
                del self._index[avatar_id]  # type: ignore[union-attr]
                removed.append(avatar_id)
        return removed

    def _entries(self) -> dict[str, _Entry]:
        """The index, read from disk on first use (the lock is held)."""
        if self._index is None:
            index: dict[str, _Entry] = {}
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                for folder in self.root.iterdir():
                    if _ID.match(folder.name) and folder.is_dir():
                        index[folder.name] = _read_entry(folder)
            self._index = index
        return self._index

    def get(self, avatar_id: str) -> dict[str, Any] | None:
        """The metadata record of a stored avatar, or None."""
        if not _ID.match(avatar_id):
            return None
        try:
            return json.loads((self.root / avatar_id / "metadata.json").read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            return None

    def face_art(self, avatar_id: str) -> FaceArt:
        """A stored avatar as art a live session can wear (its full and transparent
        pictures and its landmarks). LookupError when there is no such avatar; FaceArtError
        when its files cannot be used. Blocking (PNG decoding)."""
        record = self.get(avatar_id)
        full, tr = self.file(avatar_id, "full"), self.file(avatar_id, "transparent")
        if record is None or full is None or tr is None:
            raise LookupError(f'no avatar "{avatar_id}"')
        try:
            points = np.asarray(record.get("landmarks"), dtype=np.float64)
            with Image.open(full) as a, Image.open(tr) as b:
                rgb, rgba = np.asarray(a.convert("RGB")), np.asarray(b.convert("RGBA"))
        except (ValueError, TypeError, OSError) as e:
            raise FaceArtError(f"its stored files are damaged: {e}") from None
        if points.shape != (478, 2):
            raise FaceArtError("it was saved without its 478 face landmarks")
        return FaceArt(avatar_id, rgb, rgba, points)

    def file(self, avatar_id: str, name: str) -> Path | None:
        """The PNG of one output, or None (ids and names are checked: no path escapes)."""
        if not _ID.match(avatar_id) or not _NAME.match(name):
            return None
        path = self.root / avatar_id / f"{name}.png"
        return path if path.is_file() else None


def _read_entry(folder: Path) -> _Entry:
    """An avatar folder as an index entry; a damaged record counts as unclaimed and as old
    as its folder, so expiry still reaches it."""
    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    try:
        record = json.loads((folder / "metadata.json").read_text())
        created = calendar.timegm(time.strptime(record["createdAt"], "%Y-%m-%dT%H:%M:%SZ"))
        return _Entry(record.get("owner"), float(created), size, bool(record.get("claimed")))
    except (OSError, ValueError, KeyError, TypeError):
        return _Entry(None, folder.stat().st_mtime, size, False)
