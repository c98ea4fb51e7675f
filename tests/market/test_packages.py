"""Zip attacks on a marketplace upload (webapi/market/packages.py): each refused with a message
naming the entry and the problem, and nothing stored (the upload path as the HTTP handler
runs it: read, validate, store)."""

from __future__ import annotations

import io
import json
import random
import struct
import zipfile
from pathlib import Path

import pytest

from tests.market import zips
from webapi.errors import DomainError, Invalid, TooLarge
from webapi.market.assets import store_listing_files, validate
from webapi.market.packages import LIMITS, PackageLimits, read_package

LID = "m" + "ab" * 10
MANIFEST = json.dumps(zips.manifest("avatar", {"rig": "digi", "customizations": {}})).encode()


def ingest(root: Path, data: bytes, limits: PackageLimits = LIMITS) -> int:
    pkg = read_package(data, limits)
    _, content = validate(pkg)
    return store_listing_files(root, LID, pkg, content)


def refused(tmp_path: Path, data: bytes, *words: str, limits: PackageLimits = LIMITS,
            kind: type[DomainError] = Invalid) -> str:  # fmt: skip
    """The refusal's message, after checking its class, that it has every word, and that
    nothing at all was written under the storage root."""
    root = tmp_path / "market"
    with pytest.raises(DomainError) as e:
        ingest(root, data, limits)
    assert isinstance(e.value, kind), (type(e.value), e.value.message)
    for w in words:
        assert w in e.value.message, (w, e.value.message)
    assert not root.exists() or not any(root.iterdir())
    return e.value.message


def with_manifest(files: dict[str, bytes], **kw) -> bytes:
    return zips.make_zip({"manifest.json": MANIFEST, **files}, **kw)


def test_a_valid_package_is_read_and_stored(tmp_path: Path) -> None:
    data = with_manifest({}, directories=["empty", "empty/deeper"])  # directories are skipped
    pkg = read_package(data)
    assert pkg.files == {} and pkg.manifest["type"] == "avatar"
    assert ingest(tmp_path / "market", data) > 0
    assert (tmp_path / "market" / LID / "package.zip").read_bytes() == data


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("../x.png", ['"../x.png"', "traversal"]),
        ("a/../../x.png", ['"a/../../x.png"', "traversal"]),
        ("/abs.png", ['"/abs.png"', "absolute"]),
        ("C:\\x.png", ['"C:\\\\x.png"', "backslash"]),
        ("C:x.png", ['"C:x.png"', "drive letter"]),
        ("a\\..\\b.png", ['"a\\\\..\\\\b.png"', "backslash"]),
        ("a//b.png", ['"a//b.png"', "empty"]),
        ("./a.png", ['"./a.png"', "'.'"]),
        ("a b.png", ['"a b.png"', "letters, digits"]),
        ("a\n.png", ['"a\\n.png"', "letters, digits"]),
        ("caf\u00e9.png", ['"caf\\u00e9.png"', "letters, digits"]),
        ("x" * 201, ["over 200 characters"]),
    ],
)
def test_unsafe_names_are_refused(tmp_path: Path, name: str, words: list[str]) -> None:
    refused(tmp_path, with_manifest({name: b"x"}), *words)


def test_symlinks_are_refused(tmp_path: Path) -> None:
    data = with_manifest({"link.png": b"/etc/passwd"}, symlinks=["link.png"])
    refused(tmp_path, data, '"link.png"', "symbolic link")


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    data = zips.add_duplicate(with_manifest({"a.png": b"1"}), "a.png", b"2")
    refused(tmp_path, data, '"a.png"', "duplicate")
    folded = with_manifest({"Shirt.png": b"1", "shirt.PNG": b"2"})
    refused(tmp_path, folded, '"shirt.PNG"', "duplicate", "case", '"Shirt.png"')
    manifests = zips.add_duplicate(with_manifest({}), "manifest.json", b"{}")
    refused(tmp_path, manifests, '"manifest.json"', "duplicate")


def test_too_many_files(tmp_path: Path) -> None:
    files = {f"f{i}.png": b"x" for i in range(LIMITS.max_files)}  # + manifest = one too many
    refused(tmp_path, with_manifest(files), "201 files", "at most 200", kind=TooLarge)


def test_the_entry_count_is_read_before_the_entries() -> None:
    """A central directory listing far more entries than allowed is refused from its end
    record, before zipfile builds an object for each."""
    data = with_manifest({f"e{i}": b"" for i in range(60)})
    with pytest.raises(TooLarge) as e:
        read_package(data, PackageLimits(max_files=10))
    assert "61 entries" in e.value.message
    forged = bytearray(data)
    at = forged.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", forged, at + 8, 0xFFFF, 0xFFFF)  # "see the zip64 record"
    with pytest.raises(Invalid) as e:
        read_package(bytes(forged))
    assert "zip64" in e.value.message


def test_a_file_over_the_size_limit_is_refused_while_inflating(tmp_path: Path) -> None:
    limits = PackageLimits(max_file=10_000)
    data = with_manifest({"big.png": bytes(range(256)) * 50})  # 12,800 bytes
    refused(tmp_path, data, '"big.png"', "limit per file", limits=limits, kind=TooLarge)


def test_a_header_that_understates_the_size_is_not_trusted(tmp_path: Path) -> None:
    """The header says 10 bytes; the data inflates to 20,000. Reading stops at what was
    claimed, and the CRC of those bytes does not match: refused, nothing kept."""
    limits = PackageLimits(max_file=1000)
    data = bytearray(with_manifest({"liar.png": bytes(range(200)) * 100}))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo("liar.png")
    struct.pack_into("<I", data, info.header_offset + 22, 10)  # local header: uncompressed size
    cd = bytes(data).find(b"PK\x01\x02", info.header_offset + 30)
    while cd != -1:  # the central directory record of this entry
        if struct.unpack_from("<I", data, cd + 42)[0] == info.header_offset:
            struct.pack_into("<I", data, cd + 24, 10)
            break
        cd = bytes(data).find(b"PK\x01\x02", cd + 4)
    assert zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("liar.png").file_size == 10
    refused(tmp_path, bytes(data), '"liar.png"', "damaged", limits=limits)


def test_the_total_size_is_limited(tmp_path: Path) -> None:
    limits = PackageLimits(max_total=5_000)
    files = {f"f{i}.bin": bytes(range(256)) * 8 for i in range(3)}  # 3 x 2,048 bytes
    refused(tmp_path, with_manifest(files), '"f2.bin"', "in total", limits=limits, kind=TooLarge)


def test_a_zip_bomb_is_stopped_by_the_ratio(tmp_path: Path) -> None:
    data = with_manifest({"zeros.png": bytes(10 * 1024 * 1024)})
    assert len(data) < 20_000  # 10 MB of zeros deflate to ~10 KB
    refused(tmp_path, data, '"zeros.png"', "100:1", "zip bomb", kind=TooLarge)


def test_a_nested_zip_is_just_a_file(tmp_path: Path) -> None:
    inner = zips.make_zip({"evil.png": b"x"})
    pkg = read_package(with_manifest({"inner.zip": inner}))
    assert set(pkg.files) == {"inner.zip"}  # not expanded
    refused(tmp_path, with_manifest({"inner.zip": inner}), 'unused file "inner.zip"')


def test_encrypted_entries_are_refused(tmp_path: Path) -> None:
    data = with_manifest({"secret.png": b"x"}, encrypted=["secret.png"])
    refused(tmp_path, data, '"secret.png"', "encrypted")


def test_other_compression_methods_are_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("manifest.json", MANIFEST)
        z.writestr("b.png", b"x" * 100, compress_type=zipfile.ZIP_BZIP2)
    refused(tmp_path, buf.getvalue(), '"b.png"', "compression method")


def test_not_a_zip_and_truncated_zips(tmp_path: Path) -> None:
    refused(tmp_path, b"PK\x03\x04 not really", "not a zip")
    refused(tmp_path, b"", "empty")
    good = zips.outfit_zip()
    refused(tmp_path, good[: len(good) // 2], "not a zip")
    # the central directory intact, an entry's data cut short in the middle
    data = bytearray(good)
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        info = z.getinfo("shirt.png")
    start = info.header_offset + 30 + len(info.filename)
    data[start + 10 : start + 200] = bytes(190)
    refused(tmp_path, bytes(data), '"shirt.png"', "damaged")


def test_the_upload_size_is_limited(tmp_path: Path) -> None:
    noise = random.Random(1).randbytes(5000)  # does not compress
    refused(tmp_path, with_manifest({"a.png": noise}), "at most 4,000 bytes",
            limits=PackageLimits(max_upload=4000), kind=TooLarge)  # fmt: skip


def test_the_manifest_must_be_there_and_a_json_object(tmp_path: Path) -> None:
    refused(tmp_path, zips.make_zip({"shirt.png": b"x"}), "no manifest.json")
    refused(tmp_path, zips.make_zip({"sub/manifest.json": MANIFEST}), "no manifest.json")
    refused(tmp_path, zips.make_zip({"manifest.json": b"{not json"}), "manifest.json",
            "not valid JSON")  # fmt: skip
    refused(tmp_path, zips.make_zip({"manifest.json": b"\xff\xfe"}), "manifest.json", "UTF-8")
    refused(tmp_path, zips.make_zip({"manifest.json": b"[1, 2]"}), "manifest.json", "object")
    deep = b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}"
    refused(tmp_path, zips.make_zip({"manifest.json": deep}), "manifest.json", "nested too deep")
    huge = json.dumps({"type": "avatar", "description": "x" * 300_000}).encode()
    stored = zips.make_zip({"manifest.json": huge}, compression=zipfile.ZIP_STORED)
    refused(tmp_path, stored, "manifest.json", "too long")
