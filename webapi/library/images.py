"""Uploaded photos in: safe decoding of images, and PNGs out.

`decode_image` is the one door an uploaded photo goes through: size limits first (bytes, then
the declared pixel count read from the header, before a single pixel is decoded), then a full
decode that refuses truncated files, EXIF orientation applied, RGB out. Every refusal is an
`ImageError` whose message says what is wrong in words a user can act on. Limits and errors:
docs/GENERATION.md.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import re

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

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
