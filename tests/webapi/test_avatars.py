"""webapi/library (images.py, files.py): every hostile or broken upload is refused in words, before any pixel is
decoded where the size alone says no; the store never shows half an avatar."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from tests.photos import astronaut
from tests.webapi.images import (
    astronaut_jpeg,
    bomb_png,
    data_url,
    encode,
    grey_png,
    tiny_png,
    truncated_jpeg,
)
from webapi.library import files
from webapi.library.files import AvatarStore
from webapi.library.images import (
    MAX_BYTES,
    MAX_DATA_URL,
    ImageError,
    decode_image,
    parse_data_url,
)


def test_a_photo_decodes_to_rgb() -> None:
    rgb = decode_image(astronaut_jpeg())
    assert rgb.shape == (512, 512, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb.astype(int) - astronaut().astype(int)).mean() < 4  # JPEG, not another picture


def test_transparent_and_grey_pictures_become_rgb() -> None:
    rgba = np.zeros((80, 90, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:40, :, 3] = 255
    out = decode_image(encode(rgba))
    assert out.shape == (80, 90, 3)
    assert tuple(out[10, 10]) == (255, 0, 0) and tuple(out[70, 10]) == (255, 255, 255)
    assert decode_image(encode(np.full((70, 70), 9, np.uint8))).shape == (70, 70, 3)


def test_exif_orientation_is_applied() -> None:
    im = Image.fromarray(np.zeros((100, 200, 3), np.uint8))  # wide as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif)
    assert decode_image(buf.getvalue()).shape == (200, 100, 3)  # tall as seen


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"hello, I am text", "not an image"),
        (b"", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not an image"),
        (truncated_jpeg(), "truncated"),
        (tiny_png(), "image too small: 1x1 pixels"),
        (encode(np.zeros((40, 300, 3), np.uint8)), "image too small: 300x40 pixels"),
    ],
    ids=["text", "empty", "broken-header", "truncated-jpeg", "1x1", "thin"],
)
def test_bad_images_are_refused_in_words(data: bytes, words: str) -> None:
    with pytest.raises(ImageError, match=words):
        decode_image(data)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [20000, 7000])  # past Pillow's own guard, and past only ours
def test_decompression_bombs_are_refused_before_decoding(side: int, monkeypatch) -> None:
    bomb = bomb_png(side, side)
    assert len(bomb) < 100_000

    def no_decoding(self, *a, **k):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    with pytest.raises(ImageError, match=f"image too large: {side}x{side} pixels"):
        decode_image(bomb)


def test_oversized_uploads_are_refused_unread() -> None:
    with pytest.raises(ImageError, match=r"image too large: 10\.0 MB"):
        decode_image(b"\0" * (MAX_BYTES + 1))


def test_data_urls() -> None:
    png = grey_png()
    assert parse_data_url(data_url(png)) == png
    assert parse_data_url(data_url(png, "image/jpeg")) == png  # the bytes decide, not the label
    for bad, words in [
        ("https://example.com/me.png", "must be a data URL"),
        ("data:text/plain;base64,aGVsbG8=", "must hold an image"),
        ("data:image/png,rawtext", "base64"),
        ("data:image/png;base64,***", "not valid base64"),
        ("data:image/png;base64,", "empty"),
        ("data:image/png;base64," + "A" * MAX_DATA_URL, "image too large: the data URL is 13.3 MB"),
    ]:
        with pytest.raises(ImageError, match=words):
            parse_data_url(bad)
    with pytest.raises(ImageError, match="data URL string"):
        parse_data_url(12)  # type: ignore[arg-type]


def _fake_avatar() -> SimpleNamespace:
    rgb = np.zeros((512, 512, 3), np.uint8)
    return SimpleNamespace(
        outputs={
            "full": rgb,
            "transparent": np.zeros((512, 512, 4), np.uint8),
            "thumbnail": rgb[:128, :128],
            "profile": rgb[:256, :256],
            "hd": np.zeros((1024, 1024, 3), np.uint8),
        },
        landmarks=np.ones((478, 2), np.float32),
        metadata={"style": "ghibli", "processingTime": np.float64(12.5), "headPose": (1, 2, 3)},
    )


def test_the_store_saves_and_serves(tmp_path: Path) -> None:
    store = AvatarStore(tmp_path)
    saved = store.save(_fake_avatar(), extra={"style": "ghibli"})
    record = store.get(saved.id)
    assert record == json.loads((tmp_path / saved.id / "metadata.json").read_text())
    assert record["metadata"] == {"style": "ghibli", "processingTime": 12.5, "headPose": [1, 2, 3]}
    assert len(record["landmarks"]) == 478
    assert record["outputs"]["thumbnail"] == {"url": f"/avatars/{saved.id}/thumbnail.png",
                                              "width": 128, "height": 128, "channels": 3}
    with Image.open(store.file(saved.id, "transparent")) as im:
        assert im.mode == "RGBA" and im.size == (512, 512)
    assert [p.name for p in tmp_path.iterdir()] == [saved.id]  # no temporary folder left


def test_the_store_refuses_other_paths(tmp_path: Path) -> None:
    store = AvatarStore(tmp_path)
    saved = store.save(_fake_avatar())
    assert store.file(saved.id, "../metadata") is None
    assert store.file("../" + saved.id, "full") is None
    assert store.get("..") is None and store.get("0123456789abcdef") is None
    assert store.file(saved.id, "nothere") is None


def test_a_failed_save_leaves_nothing_and_loses_nothing(tmp_path: Path, monkeypatch) -> None:
    store = AvatarStore(tmp_path)
    first = store.save(_fake_avatar())

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(files.json, "dumps", broken)
    with pytest.raises(OSError, match="disk full"):
        store.save(_fake_avatar())
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == [first.id]
    assert store.get(first.id)["id"] == first.id
