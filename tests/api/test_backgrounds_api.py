"""Scene backgrounds over HTTP (webapi/handlers/backgrounds.py): the bundled list, uploads
checked byte by byte (type, size, pixel count, damage) and re-encoded, and ownership: an
upload is its owner's alone (another user's or guest's id answers exactly as a missing one)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp.test_utils import TestClient
from PIL import Image

from tests.api.accounts import serve as serve_app
from tests.api.test_avatars_api import origin, sign_up
from webapi.library.backgrounds import LIMITS

MISSING = "u0123456789abcdef0123"  # an upload id's shape, never issued


def serve(tmp: Path, test) -> None:
    async def run(http: TestClient, app) -> None:
        await test(http)

    serve_app(run, tmp)


def _png(w: int, h: int, colour=(200, 60, 30), mode: str = "RGB", fmt: str = "PNG") -> bytes:
    img = Image.new(mode, (w, h), colour if mode == "RGB" else (*colour, 128))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


async def _upload(
    http: TestClient, data: bytes, who: dict[str, str] | None = None,
    ctype: str = "image/png", name: str | None = None,
) -> tuple[int, Any]:  # fmt: skip
    headers = {**origin(http), **(who or {}), "Content-Type": ctype}
    url = "/api/backgrounds" + (f"?name={name}" if name else "")
    async with http.post(url, data=data, headers=headers) as r:
        return r.status, await r.json()


async def _get(http: TestClient, path: str, who: dict[str, str] | None = None):
    async with http.get(path, headers=who or {}) as r:
        return r.status, (await r.read()), r.headers.get("Content-Type")


def test_bundled_backgrounds_are_listed_and_served(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        async with http.get("/api/backgrounds") as r:
            assert r.status == 200
            listed = (await r.json())["backgrounds"]
        ids = [b["id"] for b in listed]
        assert {"studio", "night-sky", "pastel-room"} <= set(ids)
        assert all(b["kind"] == "bundled" and b["name"] for b in listed)
        status, body, ctype = await _get(http, listed[1]["url"])
        assert status == 200 and ctype == "image/png"
        px = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
        assert min(px.shape[:2]) >= 1080 and px.std() > 5  # a picture, not a flat fill

    serve(tmp_path, test)


def test_an_upload_is_reencoded_and_private_to_its_owner(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        alice, bob = await sign_up(http, "alice"), await sign_up(http, "bob")
        # a transparent WebP, 3000 wide: flattened, scaled to the stored limit, JPEG
        status, saved = await _upload(
            http, _png(3000, 400, mode="RGBA", fmt="WEBP"), alice, "image/webp", "Beach"
        )
        assert status == 201, saved
        bid = saved["id"]
        assert saved["name"] == "Beach" and saved["kind"] == "upload"
        assert saved["width"] == LIMITS.max_side and saved["height"] < 400
        status, body, ctype = await _get(http, f"/api/backgrounds/{bid}", alice)
        assert status == 200 and ctype == "image/jpeg"
        img = Image.open(io.BytesIO(body))
        assert img.format == "JPEG" and img.mode == "RGB" and not img.info.get("exif")
        async with http.get("/api/backgrounds", headers=alice) as r:
            assert bid in [b["id"] for b in (await r.json())["backgrounds"]]
        # bob, and nobody at all, get what a missing id gets
        for who in (bob, None):
            foreign = await _get(http, f"/api/backgrounds/{bid}", who)
            missing = await _get(http, f"/api/backgrounds/{MISSING}", who)
            assert foreign[0] == missing[0] == 404
            assert foreign[1].decode().replace(bid, MISSING) == missing[1].decode()
            async with http.get("/api/backgrounds", headers=who or {}) as r:
                assert bid not in [b["id"] for b in (await r.json())["backgrounds"]]
            async with http.delete(
                f"/api/backgrounds/{bid}", headers={**origin(http), **(who or {})}
            ) as r:
                assert r.status == 404
        # alice deletes it; then it is gone for her too
        async with http.delete(f"/api/backgrounds/{bid}", headers={**origin(http), **alice}) as r:
            assert r.status == 200
        assert (await _get(http, f"/api/backgrounds/{bid}", alice))[0] == 404

    serve(tmp_path, test)


def test_a_guest_upload_belongs_to_that_guest(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        status, saved = await _upload(http, _png(300, 200))
        assert status == 201, saved
        cookie = http.session.cookie_jar.filter_cookies(http.make_url("/"))
        assert "digigami_guest" in cookie  # the upload made the visitor a guest
        assert (await _get(http, saved["url"]))[0] == 200
        http.session.cookie_jar.clear()  # another visitor
        assert (await _get(http, saved["url"]))[0] == 404

    serve(tmp_path, test)


def test_bad_uploads_are_refused_by_name(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        cases: list[tuple[bytes, str, int, str]] = [
            (b"", "image/png", 400, "empty"),
            (b"GIF89a not really", "image/png", 400, "not a picture"),
            (_png(64, 64, fmt="GIF"), "image/png", 400, "GIF pictures are not taken"),
            (_png(40, 300), "image/png", 400, "at least 64"),
            (_png(128, 128)[:200], "image/png", 400, "could not be decoded"),
            (b"x" * (LIMITS.max_bytes + 1), "image/png", 413, "over 10 MB"),
            (_png(64, 64), "text/plain", 415, "Content-Type"),
        ]
        # a small file that claims a huge picture: refused from its header, never decoded
        bomb = _png(8000, 6000, colour=(0, 0, 0))
        assert len(bomb) < LIMITS.max_bytes
        cases.append((bomb, "image/png", 413, "megapixels"))
        for data, ctype, status, words in cases:
            got, answer = await _upload(http, data, ctype=ctype)
            assert got == status and words in answer["error"], (words, got, answer)
        got, answer = await _upload(http, _png(64, 64), name="\x07bell")
        assert got == 400 and "name" in answer["error"]
        async with http.get("/api/backgrounds") as r:
            assert all(b["kind"] == "bundled" for b in (await r.json())["backgrounds"])

    serve(tmp_path, test)


def test_an_owner_may_keep_only_so_many(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        alice = await sign_up(http, "alice")
        for _ in range(LIMITS.per_owner):
            status, _ = await _upload(http, _png(64, 64), alice)
            assert status == 201
        status, answer = await _upload(http, _png(64, 64), alice)
        assert status == 409 and "delete one first" in answer["error"]

    serve(tmp_path, test)
