"""A marketplace upload as a checked zip: the manifest and the files, in memory, or a refusal
naming the entry at fault. Only the zip is judged here; what the files mean is assets.py's.

Hostile zips are the expected case, so nothing in the archive is trusted:
- names: relative, `[A-Za-z0-9._/-]` only, no empty, `.` or `..` segment, no backslash,
  drive letter or leading slash, each at most `max_name` characters; duplicates refused,
  also when they differ only in case (they would collide on a case-insensitive disk);
- entries: no symlinks (Unix mode in the external attributes), no encryption, only stored
  or deflated data; directory entries are skipped; a zip inside is just a file;
- sizes: the upload, the entry count, and each entry's DECOMPRESSED size, the running
  total and the ratio to its compressed size, all counted while inflating in chunks, so a
  header that lies about a size is caught by the count (or by the CRC check at the end);
- `manifest.json`: present, a JSON object no deeper than `max_depth` (streaming.jsonlimits).

Nothing is written to disk here (assets.store_listing_files does that, atomically).
"""

from __future__ import annotations

import io
import json
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any

from streaming.jsonlimits import JSONLimitError
from streaming.jsonlimits import parse as parse_json
from webapi.errors import Invalid, TooLarge

MB = 1024 * 1024
MANIFEST = "manifest.json"
_NAME = re.compile(r"[A-Za-z0-9._/-]+")
_CHUNK = 64 * 1024
_RATIO_FLOOR = 64 * 1024  # small entries compress well legitimately (JSON, flat pictures)
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}


@dataclass(frozen=True)
class PackageLimits:
    max_upload: int = 50 * MB  # the zip as sent
    max_files: int = 200
    max_file: int = 20 * MB  # one entry, decompressed
    max_total: int = 100 * MB  # every entry, decompressed
    max_ratio: int = 100  # decompressed / compressed, per entry past _RATIO_FLOOR
    max_name: int = 200  # characters of an entry's name
    max_depth: int = 32  # JSON nesting (manifest and JSON files)
    max_pixels: int = 16_000_000  # per picture (assets.py checks it)
    max_manifest: int = 256 * 1024  # bytes of manifest.json


LIMITS = PackageLimits()


@dataclass(frozen=True)
class Package:
    """A checked upload: its manifest (a JSON object, not yet checked as a listing), its
    other files by name, and the zip as sent (kept for buyers' downloads). `stored` is
    filled by assets.validate: what is written to disk, by stored name (`files/...`: our
    own re-encodings of the pictures, never the bytes as sent)."""

    manifest: dict[str, Any]
    files: dict[str, bytes]
    data: bytes = field(default=b"", repr=False)
    limits: PackageLimits = LIMITS
    stored: dict[str, bytes] = field(default_factory=dict, repr=False)


def shown(name: str, limit: int = 80) -> str:
    """An entry's name quoted for a message: JSON escapes make control characters visible."""
    text = json.dumps(name[:limit])
    return text if len(name) <= limit else text[:-1] + '..."'


def check_name(name: str, limits: PackageLimits = LIMITS) -> str:
    """`name` if it is a safe relative path inside the package; Invalid naming it if not."""
    q = shown(name)
    if len(name) > limits.max_name:
        raise Invalid(f"entry {q}: the name is over {limits.max_name} characters")
    if "\\" in name:
        raise Invalid(f"entry {q}: backslashes are not allowed in names (use /)")
    if name.startswith("/"):
        raise Invalid(f"entry {q}: absolute paths are not allowed")
    if re.match(r"[A-Za-z]:", name):
        raise Invalid(f"entry {q}: drive letters are not allowed")
    segments = name.split("/")
    if ".." in segments:
        raise Invalid(f"entry {q}: path traversal (..) is not allowed")
    if any(s in ("", ".") for s in segments):
        raise Invalid(f"entry {q}: empty or '.' path segments are not allowed")
    if not _NAME.fullmatch(name):
        raise Invalid(f"entry {q}: names may only use letters, digits, '.', '_', '-' and '/'")
    return name


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def read_package(data: bytes, limits: PackageLimits = LIMITS) -> Package:
    """The manifest and files of a zip upload, or Invalid/TooLarge naming what is wrong."""
    if len(data) > limits.max_upload:
        raise TooLarge(f"the package is {len(data):,} bytes: at most {_size(limits.max_upload)}")
    if not data:
        raise Invalid("the package is empty: send a zip file")
    _check_directory_size(data, limits)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError):
        raise Invalid("the package is not a zip file (or it is damaged or truncated)") from None
    with archive:
        infos = archive.infolist()
        entries = [i for i in infos if not i.is_dir()]
        if len(entries) > limits.max_files:
            raise TooLarge(f"the package has {len(entries)} files: at most {limits.max_files}")
        seen: dict[str, str] = {}
        for info in infos:  # every name first, directories too: nothing is inflated yet
            name = info.filename
            q = shown(name)
            check_name(name.rstrip("/") if info.is_dir() else name, limits)
            if _is_symlink(info):
                raise Invalid(f"entry {q}: symbolic links are not allowed")
            if info.is_dir():
                continue
            folded = name.casefold()
            if folded in seen:
                same = seen[folded] == name
                raise Invalid(
                    f"entry {q}: duplicate name"
                    + ("" if same else f" (differs only in case from {shown(seen[folded])})")
                )
            seen[folded] = name
            if info.flag_bits & 0x1:
                raise Invalid(f"entry {q}: encrypted entries are not allowed")
            if info.compress_type not in _METHODS:
                raise Invalid(
                    f"entry {q}: compression method {info.compress_type} is not supported "
                    "(use deflate or store)"
                )
            if info.file_size > limits.max_file:  # an early refusal; the count below decides
                raise TooLarge(_too_big(name, info.file_size, limits))
        files: dict[str, bytes] = {}
        total = 0
        for info in entries:
            blob = _inflate(archive, info, limits, limits.max_total - total)
            total += len(blob)
            files[info.filename] = blob
    if MANIFEST not in files:
        raise Invalid(f"the package has no {MANIFEST} at its top level")
    manifest = _manifest(files.pop(MANIFEST), limits)
    return Package(manifest=manifest, files=files, data=data, limits=limits)


def _check_directory_size(data: bytes, limits: PackageLimits) -> None:
    """The entry count from the end-of-central-directory record, before zipfile builds an
    object per entry (a 50 MB upload can list a million empty entries). Zip64 is refused:
    a package never needs 65,535 entries or 4 GB."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 65535))
    if at < 0 or at + 22 > len(data):
        return  # not a zip: zipfile says so below
    (count,) = struct.unpack_from("<H", data, at + 10)
    if count == 0xFFFF or data.rfind(b"PK\x06\x06", max(0, at - 56 - 20), at) >= 0:
        raise Invalid("zip64 archives are not accepted (a package is far smaller)")
    if count > limits.max_files + 1:  # the manifest, and directory entries counted below
        raise TooLarge(f"the package has {count} entries: at most {limits.max_files} files")


def _size(n: int) -> str:
    return f"{n // MB} MB" if n % MB == 0 else f"{n:,} bytes"


def _too_big(name: str, size: int, limits: PackageLimits) -> str:
    return (
        f"entry {shown(name)}: {size:,} bytes decompressed, over the "
        f"{_size(limits.max_file)} limit per file"
    )


def _inflate(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: PackageLimits, room: int
) -> bytes:
    """One entry's bytes, counted while they are inflated: at most `max_file`, `room` (what
    the total allows) and `max_ratio` times its compressed size."""
    q = shown(info.filename)
    out = bytearray()
    try:
        with archive.open(info) as f:
            while chunk := f.read(_CHUNK):
                out += chunk
                n = len(out)
                if n > limits.max_file:
                    raise TooLarge(_too_big(info.filename, n, limits) + " (or more)")
                if n > room:
                    raise TooLarge(
                        f"entry {q}: the package decompresses to more than "
                        f"{_size(limits.max_total)} in total"
                    )
                if n > _RATIO_FLOOR and n > limits.max_ratio * max(info.compress_size, 1):
                    raise TooLarge(
                        f"entry {q}: compressed more than {limits.max_ratio}:1 "
                        f"({info.compress_size} bytes inflate past {n}): a zip bomb?"
                    )
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError) as e:
        # a bad CRC (a header that lied about the data), a truncated archive, bad deflate data
        raise Invalid(f"entry {q}: damaged or truncated data ({e})") from None
    except (NotImplementedError, RuntimeError) as e:  # unsupported features, passwords
        raise Invalid(f"entry {q}: cannot be read ({e})") from None
    return bytes(out)


def _manifest(raw: bytes, limits: PackageLimits) -> dict[str, Any]:
    try:
        value = parse_json(raw, max_bytes=limits.max_manifest, max_depth=limits.max_depth,
                           what=MANIFEST)  # fmt: skip
    except JSONLimitError as e:
        raise Invalid(str(e)) from None
    if not isinstance(value, dict):
        raise Invalid(f"{MANIFEST} must be a JSON object")
    return value


def read_json(pkg: Package, name: str, max_bytes: int = 1 * MB) -> Any:
    """A JSON file of the package, parsed with the package's depth limit; Invalid names it."""
    try:
        return parse_json(pkg.files[name], max_bytes=max_bytes,
                          max_depth=pkg.limits.max_depth, what=shown(name))  # fmt: skip
    except JSONLimitError as e:
        raise Invalid(str(e)) from None
