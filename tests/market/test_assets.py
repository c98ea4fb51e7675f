"""Marketplace uploads past the zip (webapi/market/assets.py, validators.py, previews.py):
the manifest's fields, each type's content checked by the engine's own loaders, atomic
storage, and previews rendered by the engine on Digi."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.market import zips
from webapi.errors import DomainError, Invalid, TooLarge
from webapi.market.assets import (
    check_manifest,
    remove_listing_files,
    render_previews,
    store_listing_files,
    validate,
)
from webapi.market.packages import LIMITS, PackageLimits, read_package

LID = "m" + "cd" * 10


def ingest(root: Path, data: bytes, limits: PackageLimits = LIMITS, lid: str = LID):
    pkg = read_package(data, limits)
    manifest, content = validate(pkg)
    store_listing_files(root, lid, pkg, content)
    return manifest, content


def refused(tmp_path: Path, data: bytes, *words: str, limits: PackageLimits = LIMITS,
            kind: type[DomainError] = Invalid) -> str:  # fmt: skip
    root = tmp_path / "market"
    with pytest.raises(DomainError) as e:
        ingest(root, data, limits)
    assert isinstance(e.value, kind), (type(e.value), e.value.message)
    for w in words:
        assert w in e.value.message, (w, e.value.message)
    assert not root.exists() or not any(root.iterdir())
    return e.value.message


# --- the manifest ----------------------------------------------------------------------------


def good_manifest(**kw: Any) -> dict[str, Any]:
    return zips.manifest("avatar", {"rig": "digi", "customizations": {}}, **kw)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"price_cents": -1}, ["price_cents", "negative"]),
        ({"price_cents": 4.99}, ["price_cents", "whole number"]),
        ({"price_cents": 500.0}, ["price_cents", "whole number"]),
        ({"price_cents": "500"}, ["price_cents", "whole number"]),
        ({"price_cents": True}, ["price_cents", "whole number"]),
        ({"price_cents": 10**12}, ["price_cents", "at most 100000"]),
        ({"price_cents": None}, ["missing", "price_cents"]),
        ({"currency": "eur"}, ["currency", "usd, digi"]),
        ({"type": "virus"}, ["type", "outfit"]),
        ({"type": None}, ["missing", "type"]),
        ({"name": ""}, ["name", "empty"]),
        ({"name": "x" * 81}, ["name", "at most 80"]),
        ({"name": "a\x07b"}, ["name", "control"]),
        ({"tags": "neon"}, ["tags", "list"]),
        ({"tags": ["<b>"]}, ["tags[0]"]),
        ({"compatibility": ["unicorn"]}, ["compatibility"]),
        ({"content": None}, ["missing", "content"]),
        ({"price": 5}, ["unknown key", '"price"']),
    ],
)
def test_manifest_fields_are_checked(fields: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(Invalid) as e:
        check_manifest(good_manifest(**fields))
    for w in words:
        assert w in e.value.message, (w, e.value.message)


def test_manifest_text_is_kept_as_text() -> None:
    m = check_manifest(
        good_manifest(
            name="<script>alert(1)</script>", description='"><img src=x onerror=alert(1)>'
        )
    )
    assert m["name"] == "<script>alert(1)</script>"  # the pages render it as text
    assert m["price_cents"] == 0 and m["currency"] == "usd" and m["compatibility"] == ["digi"]


def test_a_bad_manifest_in_a_package_stores_nothing(tmp_path: Path) -> None:
    data = zips.package(good_manifest(price_cents=-5))
    refused(tmp_path, data, "price_cents", "negative")


# --- each type: the happy path -----------------------------------------------------------------


def test_outfit_is_stored_with_its_pictures_at_the_originals_size(tmp_path: Path) -> None:
    root = tmp_path / "market"
    manifest, content = ingest(root, zips.outfit_zip())
    assert manifest["type"] == "outfit" and manifest["price_cents"] == 500
    assert content["rig"] == "digi" and content["category"] == "outfit"
    assert content["label"] == "neon"
    assert content["parts"]["shirt"] == {"attachment": "shirt_casual", "picture": "files/shirt.png"}
    stored = Image.open(root / LID / "files" / "shirt.png")
    assert stored.mode == "RGBA" and stored.size == zips.picture("shirt_casual").shape[1::-1]
    assert (root / LID / "package.zip").read_bytes() == zips.outfit_zip()


def test_a_larger_outfit_picture_is_resized_to_the_original(tmp_path: Path) -> None:
    big = Image.fromarray(zips.dyed(zips.picture("shirt_casual"))).resize((280, 450))
    files = {"shirt.png": zips.png(np.asarray(big))}
    content = {"rig": "digi", "label": "big", "parts": {"shirt": {"attachment": "shirt_casual",
                                                                  "picture": "shirt.png"}}}  # fmt: skip
    root = tmp_path / "market"
    ingest(root, zips.package(zips.manifest("outfit", content), files))
    h, w = zips.picture("shirt_casual").shape[:2]
    assert Image.open(root / LID / "files" / "shirt.png").size == (w, h)


def test_accessory_animation_avatar_background_effect(tmp_path: Path) -> None:
    root = tmp_path / "market"
    made = {}
    for i, make in enumerate((zips.accessory_zip, zips.animation_zip, zips.avatar_zip,
                              zips.background_zip, zips.effect_zip)):  # fmt: skip
        lid = f"m{i:020x}"
        made[make.__name__] = (lid, ingest(root, make(), lid=lid)[1])
    lid, c = made["accessory_zip"]
    assert c["category"] == "accessories" and (root / lid / "files" / "glasses.png").is_file()
    _, c = made["animation_zip"]
    assert c["clips"]["big_wave"]["name"] == "big_wave" and c["loop"] is True
    _, c = made["avatar_zip"]
    assert c["customizations"]["sprites"] == {"outfit": "armor", "accessories": "hat"}
    assert c["customizations"]["colors"] == {"outfit": {"hue": 90.0}}
    lid, c = made["background_zip"]
    assert c["picture"] == "files/background.jpg"
    assert Image.open(root / lid / c["picture"]).format == "JPEG"  # our re-encoding only
    lid, c = made["effect_zip"]
    assert c["overlay"]["frames"] == [f"files/f{i}.png" for i in range(4)]
    assert all((root / lid / f).is_file() for f in c["overlay"]["frames"])


# --- each type: refusals -------------------------------------------------------------------------


def outfit(parts: dict[str, Any], files: dict[str, bytes], **content: Any) -> bytes:
    c = {"rig": "digi", "label": "neon", "parts": parts, **content}
    return zips.package(zips.manifest("outfit", c), files)


SHIRT = zips.png(zips.dyed(zips.picture("shirt_casual")))


def test_outfit_refusals(tmp_path: Path) -> None:
    part = {"attachment": "shirt_casual", "picture": "shirt.png"}
    files = {"shirt.png": SHIRT}
    refused(tmp_path, outfit({"wing": part}, files), "content.parts.wing", "not a slot")
    refused(tmp_path, outfit({"shirt": {**part, "attachment": "hat_cap"}}, files),
            "content.parts.shirt.attachment", "no such attachment")  # fmt: skip
    refused(tmp_path, outfit({"shirt": {**part, "picture": "nope.png"}}, files),
            "content.parts.shirt.picture", 'no file "nope.png"')  # fmt: skip
    refused(tmp_path, outfit({"shirt": part}, {**files, "extra.png": SHIRT}),
            'unused file "extra.png"')  # fmt: skip
    refused(tmp_path, outfit({"shirt": part}, files, label="casual"), "content.label", "own")
    refused(tmp_path, outfit({"shirt": part}, files, label="Bad Label"), "content.label")
    refused(tmp_path, outfit({"shirt": part}, files, category="accessories"), "content.category")
    refused(tmp_path, outfit({"shirt": part}, files, rig="unicorn"), "content.rig", "unknown rig")
    refused(tmp_path, outfit({"shirt": part}, files, extra=1), "content.extra", "unknown key")
    refused(tmp_path, outfit({}, files), "content.parts")


def test_outfit_picture_refusals(tmp_path: Path) -> None:
    part = {"shirt": {"attachment": "shirt_casual", "picture": "shirt.png"}}
    jpeg = io.BytesIO()
    Image.fromarray(zips.picture("shirt_casual")[..., :3]).save(jpeg, "JPEG")
    refused(tmp_path, outfit(part, {"shirt.png": jpeg.getvalue()}), '"shirt.png"', "JPEG")
    refused(tmp_path, outfit(part, {"shirt.png": b"not a picture"}), '"shirt.png"', "not a picture")
    refused(tmp_path, outfit(part, {"shirt.png": SHIRT[: len(SHIRT) // 2]}), '"shirt.png"',
            "could not be decoded")  # fmt: skip
    clear = zips.png(np.zeros((200, 120, 4), np.uint8))
    refused(tmp_path, outfit(part, {"shirt.png": clear}), '"shirt.png"', "fully transparent")
    tiny = zips.png(np.full((10, 10, 4), 255, np.uint8))
    refused(tmp_path, outfit(part, {"shirt.png": tiny}), '"shirt.png"', "10 x 10", "4 times")
    # a picture whose header claims more pixels than the limit: refused before decoding
    huge = _png_claiming(6000, 6000)
    refused(tmp_path, outfit(part, {"shirt.png": huge}), '"shirt.png"', "6000 x 6000",
            "limit", kind=TooLarge)  # fmt: skip


def _png_claiming(w: int, h: int) -> bytes:
    """A small PNG whose IHDR claims w x h (its data is one row's worth, so it is damaged)."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (w * 4 + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_animation_refusals_name_the_clip_path(tmp_path: Path) -> None:
    clip = zips.wave_clip()
    clip["bones"]["tail"] = clip["bones"].pop("forearm_r")
    msg = refused(tmp_path, zips.animation_zip(clip=clip), '"big_wave.json"', "bones.tail",
                  'unknown bone "tail"')  # fmt: skip
    assert "content.clips" not in msg
    bad_key = zips.wave_clip()
    bad_key["bones"]["upperarm_r"]["rotation"][1]["time"] = 5.0
    refused(tmp_path, zips.animation_zip(clip=bad_key), "bones.upperarm_r.rotation[1].time")
    wave = zips.wave_clip(name="wave")
    m = zips.manifest("animation", {"rig": "digi", "clips": {"wave": "w.json"}})
    refused(tmp_path, zips.package(m, {"w.json": json.dumps(wave).encode()}),
            "content.clips.wave", "own animations")  # fmt: skip
    deep = b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}"
    m = zips.manifest("animation", {"rig": "digi", "clips": {"big_wave": "w.json"}})
    refused(tmp_path, zips.package(m, {"w.json": deep}), '"w.json"', "nested too deep")
    long = zips.wave_clip(length=120.0)
    refused(tmp_path, zips.animation_zip(clip=long), "too long", kind=TooLarge)


def test_avatar_refusals_name_the_path(tmp_path: Path) -> None:
    refused(tmp_path, zips.avatar_zip(customizations={"sprites": {"outfit": "tutu"}}),
            "content.customizations.sprites.outfit", "casual")  # fmt: skip
    refused(tmp_path, zips.avatar_zip(customizations={"colors": {"avatar": {"hue": 999}}}),
            "content.customizations.colors.avatar.hue")  # fmt: skip
    refused(tmp_path, zips.avatar_zip(customizations={"wings": 1}), "content.customizations.wings")


@pytest.mark.slow  # imports torch (engine/style)
def test_style_pack(tmp_path: Path) -> None:
    import pickle

    from engine.style.styles import ARCHITECTURE

    _, c = ingest(tmp_path / "ok", zips.style_pack_zip())
    assert c["style"] == "midtone" and c["tensors"]["shadow_tint"] == [3]
    sent = read_package(zips.style_pack_zip()).files["style.safetensors"]
    assert (tmp_path / "ok" / LID / c["file"]).read_bytes() == sent

    meta = {"architecture": ARCHITECTURE, "style": "midtone"}
    pickled = pickle.dumps({"eye_scale": 0.2})  # never unpickled: read as safetensors, refused
    refused(tmp_path, zips.style_pack_zip(data=pickled), '"style.safetensors"', "header length")
    tensors = zips.style_tensors()
    good = zips.safetensors(tensors, meta)
    (n,) = struct.unpack("<Q", good[:8])
    head = json.loads(good[8 : 8 + n])
    head["eye_scale"]["data_offsets"] = [0, 400]
    text = json.dumps(head).encode()
    text += b" " * (-len(text) % 8)
    lying = struct.pack("<Q", len(text)) + text + good[8 + n :]
    refused(tmp_path, zips.style_pack_zip(data=lying), "eye_scale", "data_offsets")
    refused(tmp_path, zips.style_pack_zip(data=good[:-40]), "data_offsets")
    missing = {k: v for k, v in tensors.items() if k != "blush"}
    refused(tmp_path, zips.style_pack_zip(data=zips.safetensors(missing, meta)), "missing", "blush")
    wild = {**tensors, "saturation": np.float32(99.0)}
    refused(tmp_path, zips.style_pack_zip(data=zips.safetensors(wild, meta)), "saturation")
    other = zips.safetensors(tensors, {**meta, "architecture": "sd-xl"})
    refused(tmp_path, zips.style_pack_zip(data=other), "architecture", "sd-xl")
    refused(tmp_path, zips.style_pack_zip(style="ghibli"), "content.style", "built-in")


def test_background_refusals(tmp_path: Path) -> None:
    refused(tmp_path, zips.background_zip(picture_bytes=b"GIF89a..."), '"bg.png"', "not a picture")
    small = zips.png(zips.background_picture((40, 30)))
    refused(tmp_path, zips.background_zip(picture_bytes=small), '"bg.png"', "at least 64")
    refused(tmp_path, zips.background_zip(picture_bytes=_png_claiming(5000, 4000)), '"bg.png"',
            "megapixels", kind=TooLarge)  # fmt: skip


def test_effect_refusals_name_the_path(tmp_path: Path) -> None:
    e = {"schema": 1, "filter": {"hue": 400}}
    refused(tmp_path, zips.effect_zip(effect=e), "content.filter.hue")
    refused(tmp_path, zips.effect_zip(effect={"schema": 1}), "content", "filter")
    e = {"schema": 1, "overlay": {"frames": ["missing.png"], "fps": 8}}
    refused(tmp_path, zips.effect_zip(effect=e), "missing.png")


# --- storage ------------------------------------------------------------------------------------


def test_storage_is_all_or_nothing(tmp_path: Path) -> None:
    root = tmp_path / "market"
    pkg = read_package(zips.outfit_zip())
    _, content = validate(pkg)
    pkg.stored["../escape.png"] = b"x"  # a broken validator: the store refuses it, keeps nothing
    with pytest.raises(ValueError):
        store_listing_files(root, LID, pkg, content)
    assert list(root.iterdir()) == []
    del pkg.stored["../escape.png"]
    assert store_listing_files(root, LID, pkg, content) > len(pkg.data)
    with pytest.raises(FileExistsError):  # never written over
        store_listing_files(root, LID, pkg, content)
    assert [p.name for p in root.iterdir()] == [LID]
    with pytest.raises(Invalid):
        store_listing_files(root, "../../etc", pkg, content)
    remove_listing_files(root, LID)
    assert list(root.iterdir()) == []


# --- previews -----------------------------------------------------------------------------------


def _coverage(path: Path) -> float:
    px = np.asarray(Image.open(path).convert("RGBA"))
    return float((px[..., 3] > 0).mean())


@pytest.mark.slow
def test_outfit_previews_show_the_outfit(tmp_path: Path) -> None:
    import av

    root = tmp_path / "market"
    neon, green = "m" + "1" * 20, "m" + "2" * 20
    _, c1 = ingest(root, zips.outfit_zip(), lid=neon)
    _, c2 = ingest(root, zips.outfit_zip(label="green", colour=(0, 255, 0)), lid=green)
    render_previews(root, neon, "outfit", c1)
    render_previews(root, green, "outfit", c2)
    for lid in (neon, green):
        assert Image.open(root / lid / "thumb.png").size == (256, 256)
        assert Image.open(root / lid / "preview.png").size == (512, 512)
        assert 0.05 < _coverage(root / lid / "preview.png") < 0.9  # Digi, not empty, not a box
        with av.open(str(root / lid / "preview.webm")) as v:
            frames = [f.to_ndarray(format="rgb24") for f in v.decode(video=0)]
        assert 20 <= len(frames) <= 60 and frames[0].shape == (256, 256, 3)
    a = np.asarray(Image.open(root / neon / "preview.png").convert("RGBA")).astype(int)
    b = np.asarray(Image.open(root / green / "preview.png").convert("RGBA")).astype(int)
    assert np.abs(a - b).sum(axis=2).astype(bool).mean() > 0.01  # the shirt differs

    # the neon shirt is seen: many strongly magenta pixels, none in the green one
    def magenta(px: np.ndarray) -> int:
        r, g, bl, al = px[..., 0], px[..., 1], px[..., 2], px[..., 3]
        return int(((r > 150) & (bl > 120) & (g < 80) & (al > 200)).sum())

    assert magenta(a) > 2000 and magenta(b) < 50


BUILTINS = {
    "dance_3": (
        "animation",
        {"rig": "digi", "state": "dance", "variant": "dance_3", "builtin": True},
    ),
    "sparkles": ("effect", {"effect": "sparkles", "builtin": True}),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "make", ["background_zip", "effect_zip", "avatar_zip", "animation_zip", *BUILTINS]
)
def test_other_previews(tmp_path: Path, make: str) -> None:
    root = tmp_path / "market"
    if make in BUILTINS:  # a seeded listing: no files, the content names the rig's own
        kind, content = BUILTINS[make]
    else:
        manifest, content = ingest(root, getattr(zips, make)())
        kind = manifest["type"]
    render_previews(root, LID, kind, content)
    for name, side in (("thumb.png", 256), ("preview.png", 512)):
        im = Image.open(root / LID / name)
        assert im.size == (side, side)
    cover = _coverage(root / LID / "preview.png")
    px = np.asarray(Image.open(root / LID / "preview.png").convert("RGB")).astype(int)
    if kind in ("background", "effect"):
        assert cover == 1.0  # Digi in front of a picture / backdrop
        assert len(np.unique(px.reshape(-1, 3), axis=0)) > 500  # not a flat fill
    else:
        assert 0.05 < cover < 0.9
    assert (root / LID / "preview.webm").exists() == (kind == "animation")
