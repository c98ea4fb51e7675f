"""A creator's side of the marketplace over HTTP: becoming a creator, uploading a package
(refusals leave nothing stored), editing, publishing, unpublishing, deleting drafts, the
dashboard, and (slow) the previews rendered after an upload."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import pytest
from PIL import Image

from tests.market import zips
from tests.market.test_api_catalog import (
    MISSING,
    Server,
    call,
    outfit_zip,
    published,
    search,
    upload,
    user,
    word,
)
from webapi.handlers.market import PREVIEWS as PREVIEWS_KEY


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("creator"))
    try:
        yield s
    finally:
        s.close()


def _stored(server: Server) -> set[str]:
    """The listing folders under the market root."""
    return {p.name for p in server.root.iterdir() if p.is_dir()} if server.root.is_dir() else set()


def test_upload_edit_publish_unpublish_delete(server: Server) -> None:
    async def test() -> None:
        http = server.http
        seller, other = await user(http, "seller"), await user(http, "other")
        status, creator = await call(
            http, "POST", "/api/marketplace/creator", seller, {"display_name": "Neon Studio"}
        )
        assert status == 200 and creator["display_name"] == "Neon Studio"
        draft = await upload(http, seller, outfit_zip(name="Neon jacket", price_cents=700))
        lid, path = draft["id"], f"/api/marketplace/assets/{draft['id']}"
        assert draft["status"] == "draft" and draft["creator"]["name"] == "Neon Studio"
        assert (server.root / lid / "files").is_dir()
        # edits: only the editable fields, each checked
        status, edited = await call(
            http, "PATCH", path, seller, {"name": "Neon blazer", "price_cents": 900}
        )
        assert status == 200 and (edited["name"], edited["price_cents"]) == ("Neon blazer", 900)
        status, body = await call(http, "PATCH", path, seller, {"status": "published"})
        assert status == 400 and '"status"' in body["error"]
        status, body = await call(http, "PATCH", path, seller, {"price_cents": -5})
        assert status == 400 and "price" in body["error"]
        status, _ = await call(http, "PATCH", path, other, {"name": "Mine now"})
        assert status == 404  # another's listing: as if missing
        for action in ("publish", "unpublish"):
            status, _ = await call(http, "POST", f"{path}/{action}", other)
            assert status == 404
        # publish: found by anyone; unpublish: gone from search and from others' view
        tag = word()
        await call(http, "PATCH", path, seller, {"tags": [tag]})
        status, done = await call(http, "POST", f"{path}/publish", seller)
        assert status == 200 and done["status"] == "published" and done["published_at"]
        assert [i["id"] for i in (await search(http, q=tag))["items"]] == [lid]
        status, body = await call(http, "DELETE", path, seller)
        assert status == 409  # published once: unpublish instead (buyers keep it)
        status, done = await call(http, "POST", f"{path}/unpublish", seller)
        assert status == 200 and done["status"] == "unpublished"
        assert (await search(http, q=tag))["items"] == []
        assert (await call(http, "GET", path, other))[0] == 404
        assert (await call(http, "GET", path, seller))[0] == 200
        # a draft can be deleted, files and all
        second = await upload(http, seller, outfit_zip(name="Throwaway"))
        status, body = await call(http, "DELETE", f"/api/marketplace/assets/{second['id']}", other)
        assert status == 404 and (server.root / second["id"]).is_dir()
        status, body = await call(http, "DELETE", f"/api/marketplace/assets/{second['id']}", seller)
        assert status == 200 and body == {"deleted": second["id"]}
        assert not (server.root / second["id"]).exists()
        assert (await call(http, "GET", f"/api/marketplace/assets/{second['id']}", seller))[
            0
        ] == 404

    server.run(test())


REFUSED = {
    "not a zip": (b"this is not a zip file at all", 400),
    "path traversal": (zips.make_zip({"manifest.json": b"{}", "../evil.png": b"x"}), 400),
    "symlink": (
        zips.make_zip({"manifest.json": b"{}", "link.png": b"/etc/passwd"}, symlinks=["link.png"]),
        400,
    ),
    "no manifest": (zips.make_zip({"a.png": b"x"}), 400),
    "negative price": (None, 400),
    "unknown type": (None, 400),
}


def test_refused_uploads_store_nothing(server: Server) -> None:
    async def test() -> None:
        http = server.http
        seller = await user(http, "seller")
        before = _stored(server)
        cases = dict(REFUSED)
        cases["negative price"] = (outfit_zip(price_cents=-100), 400)
        cases["unknown type"] = (outfit_zip(type="spaceship"), 400)
        for what, (data, expected) in cases.items():
            status, body = await call(
                http, "POST", "/api/marketplace/assets", seller, data=data, ctype="application/zip"
            )
            assert status == expected and body["error"], (what, status, body)
        # a valid package sent as something else, or by nobody
        good = outfit_zip()
        status, body = await call(
            http,
            "POST",
            "/api/marketplace/assets",
            seller,
            data=good,
            ctype="application/octet-stream",
        )
        assert status == 415 and "application/zip" in body["error"]
        status, body = await call(
            http, "POST", "/api/marketplace/assets", None, data=good, ctype="application/zip"
        )
        assert status == 401
        assert _stored(server) == before
        seller_id = (await call(http, "GET", "/api/me", seller))[1]["user"]["id"]
        assert server.db("SELECT id FROM listings WHERE creator_id = ?", [seller_id]) == []

    server.run(test())


def page_origin(server: Server) -> dict[str, str]:
    return {"Origin": server.url("/").rstrip("/")}


def test_an_upload_over_50_mb_is_refused_while_it_streams(server: Server) -> None:
    async def test() -> None:
        seller = await user(server.http, "seller")
        before = _stored(server)

        async def body():  # no Content-Length: the server must count
            chunk = b"\0" * (1024 * 1024)
            for _ in range(51):
                yield chunk

        headers = {**page_origin(server), **seller, "Content-Type": "application/zip"}
        try:
            async with server.http.post(
                "/api/marketplace/assets", data=body(), headers=headers
            ) as r:
                assert r.status == 413
                assert "50 MB" in (await r.json())["error"]
        except Exception as e:  # the server may close the socket before the client is done
            assert "Connection" in type(e).__name__ or "Payload" in type(e).__name__, e
        assert _stored(server) == before

    server.run(test())


def test_dashboard_is_for_creators(server: Server) -> None:
    async def test() -> None:
        http = server.http
        nobody, seller = await user(http, "nobody"), await user(http, "seller")
        status, body = await call(http, "GET", "/api/marketplace/dashboard", nobody)
        assert status == 403 and "creator" in body["error"]
        assert (await call(http, "GET", "/api/marketplace/dashboard"))[0] == 401
        item = await published(http, seller, outfit_zip(name="Dash", price_cents=250))
        status, board = await call(http, "GET", "/api/marketplace/dashboard", seller)
        assert status == 200, board
        assert (board["sales"], board["earned_cents"], board["balance_cents"]) == (0, 0, 0)
        assert [x["id"] for x in board["listings"]] == [item["id"]]
        status, body = await call(http, "GET", "/api/marketplace/dashboard?since=yesterday", seller)
        assert status == 400 and "since" in body["error"]
        # connecting needs Stripe: this server has no keys
        status, body = await call(http, "POST", "/api/marketplace/creator/connect", seller)
        assert status == 503 and "not configured" in body["error"]
        status, body = await call(
            http, "POST", "/api/marketplace/creator", seller, {"display_name": "Digigami"}
        )
        assert status == 409  # the platform's own name
        status, body = await call(http, "GET", f"/api/marketplace/assets/{MISSING}", seller)
        assert status == 404

    server.run(test())


@pytest.mark.slow
def test_previews_are_rendered_after_the_upload(server: Server) -> None:
    async def test() -> None:
        seller = await user(server.http, "seller")
        server.app[PREVIEWS_KEY].enabled = True
        try:
            draft = await upload(server.http, seller, outfit_zip(name="Rendered"))
            path = f"/api/marketplace/assets/{draft['id']}"
            for _ in range(240):  # the render takes seconds on a CPU; wait at most 2 min
                if (await call(server.http, "GET", path, seller))[1]["preview_ready"]:
                    break
                await asyncio.sleep(0.5)
            status, png = await call(server.http, "GET", f"{path}/thumbnail.png", seller)
            assert status == 200
            assert Image.open(io.BytesIO(png)).size == (256, 256)
            status, png = await call(server.http, "GET", f"{path}/preview.png", seller)
            assert status == 200 and Image.open(io.BytesIO(png)).size == (512, 512)
        finally:
            server.app[PREVIEWS_KEY].enabled = False

    server.run(test(), timeout=180)


def test_a_try_on_preview_may_use_a_published_listing_or_ones_own_draft(server: Server) -> None:
    async def test() -> None:
        http = server.http
        seller, other = await user(http, "seller"), await user(http, "other")
        draft = await upload(http, seller, outfit_zip(name="Unreleased"))
        shop = await published(http, seller, outfit_zip(name="Released"))

        async def preview(who: dict[str, str] | None, item: object) -> tuple[int, str]:
            # a junk offer: an item that may be tried gets as far as the offer's check (400)
            body = {"sdp": "not an offer", "type": "offer", "try": item}
            status, answer = await call(http, "POST", "/api/previews", who, body)
            return status, answer["error"]

        _, missing = await preview(other, MISSING)
        for who in (other, None):  # another's draft: exactly like a listing that never was
            assert await preview(who, draft["id"]) == (404, missing)
        for who, item in ((seller, draft["id"]), (other, shop["id"]), (None, shop["id"])):
            status, error = await preview(who, item)
            assert status == 400 and error != missing, (who, item, error)
        status, error = await preview(seller, 42)
        assert status == 400 and '"try"' in error

    server.run(test())


def test_a_draft_deleted_while_its_previews_render_leaves_no_folder(tmp_path) -> None:
    """Rendering makes the listing's folder when it is missing (built-in items have none):
    a draft deleted before or while its previews rendered must not get one back."""
    from webapi.handlers.market_base import Previews
    from webapi.market import listings

    previews = Previews(tmp_path)
    gone = listings.new_listing_id()  # its files were removed with the draft
    previews._render(gone, "background", {"picture": "files/bg.png"})
    assert not (tmp_path / gone).exists()
    builtin = listings.new_listing_id()  # a built-in background keeps its rendered pictures
    previews._render(builtin, "background", {"background": "sunset", "builtin": True})
    assert (tmp_path / builtin / "thumb.png").is_file()
