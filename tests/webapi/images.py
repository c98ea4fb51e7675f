"""Test images for the generation API: real photos, broken files and hostile ones, made in
memory (nothing on disk, nothing downloaded)."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
from PIL import Image

from tests.photos import astronaut


def encode(array: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kw)
    return buf.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def astronaut_jpeg() -> bytes:
    return encode(astronaut(), "JPEG", quality=90)


def truncated_jpeg() -> bytes:
    data = astronaut_jpeg()
    return data[: len(data) // 2]


def grey_png(size: int = 256) -> bytes:
    return encode(np.full((size, size, 3), 128, np.uint8))


def tiny_png() -> bytes:
    return encode(np.zeros((1, 1, 3), np.uint8))


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 1-bit PNG declaring width x height pixels in a few tens of KB: written chunk by
    chunk (Pillow would need the whole picture in memory to write it)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
