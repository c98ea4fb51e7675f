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
import contextlib
import io
import json
import os
import re
import secrets
import shutil
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
# The longest data URL that can carry MAX_BYTES: base64 is 4 characters per 3 bytes, plus a
# generous allowance for the "data:image/...;base64," header.
MAX_DATA_URL = 4 * ((MAX_BYTES + 2) // 3) + 256

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a cut-off file is an error, never a grey half-picture
# Pillow's own bomb guard (a warning past this, an error past twice this) as a second line
# behind the explicit check in `decode_image`.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[\w.+-]+=[^;,]*)*)(?P<b64>;base64)?,", re.I)
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
        raise ImageError('the image must be a data URL ("data:image/png;base64,..." or "data:image/jpeg;base64,...")')
    mime = (m["mime"] or "text/plain").lower()
    if not mime.startswith("image/"):
        raise ImageError(f'the data URL must hold an image (image/png, image/jpeg, ...), not "{mime}"')
    if not m["b64"]:
        raise ImageError("the image data URL must be base64-encoded (data:image/...;base64,...)")
    payload = s[m.end():]
    try:
        data = base64.b64decode(payload.strip(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ImageError(f"the image data URL is not valid base64: {e}") from None
    if not data:
        raise ImageError("the image data URL is empty")
    if len(data) > MAX_BYTES:
        raise ImageError(f"image too large: {_mb(len(data))} (at most {_mb(MAX_BYTES)})")
    return data


def decode_image(data: bytes) -> np.ndarray:
    """An uploaded image as an RGB uint8 array (H, W, 3), EXIF orientation applied."""
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
    with im:
        w, h = im.size
        if w * h > MAX_PIXELS:
            raise ImageError(_too_many_pixels(w, h))
        if w < MIN_SIDE or h < MIN_SIDE:
            raise ImageError(f"image too small: {w}x{h} pixels (at least {MIN_SIDE}x{MIN_SIDE} for a face)")
        try:
            im.load()
        except Exception as e:  # truncated, corrupt, or a codec error: never a partial picture
            msg = str(e) or type(e).__name__
            if "truncated" in msg.lower() or isinstance(e, (EOFError, SyntaxError)):
                raise ImageError(f"the image is truncated or corrupt ({im.format}: {msg})") from None
            raise ImageError(f"the image could not be decoded ({im.format}: {msg})") from None
        with contextlib.suppress(Exception):  # broken EXIF: keep the picture as stored
            im = ImageOps.exif_transpose(im)
        if im.mode != "RGB":
            im = _flatten(im)
        return np.asarray(im, dtype=np.uint8).copy()


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


class AvatarStore:
    """Generated avatars on disk: `<root>/<id>/<name>.png` and `<root>/<id>/metadata.json`."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    def save(self, avatar: Any, *, extra: dict[str, Any] | None = None) -> SavedAvatar:
        """Store a `GeneratedAvatar` (its `.outputs`, `.landmarks`, `.metadata`) under a new
        id. Blocking (PNG encoding): call it off the event loop."""
        pngs: dict[str, bytes] = {}
        sizes: dict[str, dict[str, Any]] = {}
        for name, array in avatar.outputs.items():
            if not _NAME.match(name):
                raise ValueError(f"bad output name {name!r}")
            arr = np.asarray(array)
            pngs[name] = encode_png(arr)
            sizes[name] = {"width": int(arr.shape[1]), "height": int(arr.shape[0]),
                           "channels": int(arr.shape[2]) if arr.ndim == 3 else 1}
        avatar_id = secrets.token_hex(8)
        record = {
            "id": avatar_id,
            "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "outputs": {n: {"url": f"/avatars/{avatar_id}/{n}.png", **s} for n, s in sizes.items()},
            "metadata": jsonable(getattr(avatar, "metadata", {}) or {}),
            "landmarks": jsonable(getattr(avatar, "landmarks", None)),
            **jsonable(extra or {}),
        }
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{avatar_id}-{secrets.token_hex(4)}"
        tmp.mkdir()
        try:
            for name, png in pngs.items():
                (tmp / f"{name}.png").write_bytes(png)
            (tmp / "metadata.json").write_text(json.dumps(record, separators=(",", ":")))
            os.rename(tmp, self.root / avatar_id)  # one step: all of it or none of it
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return SavedAvatar(avatar_id, record, pngs)

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
