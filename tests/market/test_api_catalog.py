"""The marketplace's catalogue over HTTP (webapi/handlers/market*.py): full-text search that
no input can break, filters, stable keyset pages, a listing and who may see a draft, and a
paid purchase on a server without Stripe keys (a clear 503, nothing granted).

Also the helpers the other API test modules share: `Server` (one app per test module, on an
event loop of its own thread: starting an app costs seconds, so a module's tests share one
and keep apart by using fresh users), users, calls and uploads."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import threading
import zipfile
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.api.test_avatars_api import origin, sign_up
from tests.market import zips
from webapi.app import STORE, create_app
from webapi.handlers.market import PREVIEWS
from webapi.market.payments import Payments

T = TypeVar("T")
MISSING = "m" + "0" * 20  # a listing id's shape, never issued


class Server:
    """One app (its own database and folders) served on a loop in a thread of its own;
    `run(coro)` runs a coroutine there. Previews are not rendered unless `render`."""

    def __init__(self, tmp: Path, payments: Payments | None = None, render: bool = False) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="api-tests", daemon=True)
        self.thread.start()
        self.app = create_app(
            db=tmp / "t.db",
            avatar_root=tmp / "avatars",
            payments=payments or Payments(None, None, None),
        )
        self.app[PREVIEWS].enabled = render
        self.root = tmp / "market"

        async def start() -> TestClient:
            http = TestClient(TestServer(self.app))
            await http.start_server()
            return http

        self.http: TestClient = self.run(start())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def url(self, path: str) -> str:
        return str(self.http.make_url(path))

    def db(self, sql: str, args: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of a read on the app's own store (what the tests check was or was not
        written)."""
        return self.app[STORE].read_now(lambda db: db.execute(sql, args or []).fetchall())

    def close(self) -> None:
        self.run(self.http.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("catalog"))
    try:
        yield s
    finally:
        s.close()


def outfit_zip(**fields: Any) -> bytes:
    """zips.outfit_zip with any manifest field set (tags and description too)."""
    base = {k: fields.pop(k) for k in ("name", "price_cents", "currency", "label") if k in fields}
    data = zips.outfit_zip(**base)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        files = {n: z.read(n) for n in z.namelist()}
    files["manifest.json"] = json.dumps({**json.loads(files["manifest.json"]), **fields}).encode()
    return zips.make_zip(files)


def word() -> str:
    """A word no other listing has (letters only: it survives FTS's tokenizer whole)."""
    return "zq" + "".join(secrets.choice("bcdfghjklmnpstvwxz") for _ in range(8))


async def user(http: TestClient, prefix: str = "u") -> dict[str, str]:
    """A new account; the Bearer header that acts as it."""
    return await sign_up(http, f"{prefix}{secrets.token_hex(4)}")


async def call(
    http: TestClient,
    method: str,
    path: str,
    who: dict[str, str] | None = None,
    body: Any = None,
    *,
    data: bytes | None = None,
    ctype: str | None = None,
) -> tuple[int, Any]:
    """(status, JSON answer) of one request, sent as a page of ours would."""
    headers = {**origin(http), **(who or {})}
    if ctype:
        headers["Content-Type"] = ctype
    async with http.request(method, path, json=body, data=data, headers=headers) as r:
        answer = await r.json() if r.content_type == "application/json" else await r.read()
        return r.status, answer


async def upload(http: TestClient, who: dict[str, str], package: bytes) -> dict[str, Any]:
    status, listing = await call(
        http, "POST", "/api/marketplace/assets", who, data=package, ctype="application/zip"
    )
    assert status == 201, listing
    return listing


async def published(http: TestClient, who: dict[str, str], package: bytes) -> dict[str, Any]:
    """An uploaded package, published."""
    listing = await upload(http, who, package)
    status, done = await call(http, "POST", f"/api/marketplace/assets/{listing['id']}/publish", who)
    assert status == 200 and done["status"] == "published", done
    return done


async def search(http: TestClient, **params: Any) -> dict[str, Any]:
    async with http.get("/api/marketplace/assets", params=params) as r:
        body = await r.json()
        assert r.status == 200, body
        return body


# ---- search ---------------------------------------------------------------------------------

JUNK = [
    '"',
    "*",
    "NEAR(",
    "a OR",
    "",
    "   ",
    "OR",
    "AND NOT",
    "(",
    ")",
    "^",
    "-x",
    "a:b",
    'NEAR("a" "b", 2)',
    '"unterminated',
    "a*b*",
    "{}",
    "'; DROP TABLE listings; --",
    "\u00e9t\u00e9 \u2603",
    "x" * 200,
]


def test_any_search_text_answers_a_page_never_an_error(server: Server) -> None:
    async def test() -> None:
        for text in JUNK:
            page = await search(server.http, q=text)
            assert isinstance(page["items"], list) and "next_cursor" in page, text
        # too long is the one refusal, a 400 that says so (not a 500)
        async with server.http.get("/api/marketplace/assets", params={"q": "(x" * 2000}) as r:
            assert r.status == 400
            assert "200 characters" in (await r.json())["error"]

    server.run(test())


def test_search_matches_name_description_and_tags_of_published_listings_only(
    server: Server,
) -> None:
    async def test() -> None:
        seller = await user(server.http, "seller")
        in_name, in_description, in_tag = word(), word(), word()
        draft = await upload(
            server.http,
            seller,
            outfit_zip(
                name=f"Jacket {in_name}",
                description=f"Warm {in_description}.",
                tags=[in_tag, "outfit"],
            ),
        )
        for text in (in_name, in_description, in_tag):  # a draft is nobody's find yet
            assert (await search(server.http, q=text))["items"] == []
        await call(server.http, "POST", f"/api/marketplace/assets/{draft['id']}/publish", seller)
        for text in (in_name, in_description, in_tag, in_name[:6], f"jacket {in_name}"):
            ids = [i["id"] for i in (await search(server.http, q=text))["items"]]
            assert ids == [draft["id"]], text
        assert (await search(server.http, q=f"{in_name} {in_tag}"))["items"][0]["tags"] == [
            in_tag,
            "outfit",
        ]

    server.run(test())


def test_filters_by_type_price_currency_free_and_rig(server: Server) -> None:
    async def test() -> None:
        seller = await user(server.http, "seller")
        tag = word()
        cheap = await published(
            server.http, seller, outfit_zip(name="Cheap", price_cents=150, tags=[tag])
        )
        dear = await published(
            server.http, seller, outfit_zip(name="Dear", price_cents=900, tags=[tag])
        )
        credits = await published(
            server.http,
            seller,
            outfit_zip(name="In credits", price_cents=300, currency="digi", tags=[tag]),
        )

        async def ids(**params: Any) -> set[str]:
            return {i["id"] for i in (await search(server.http, q=tag, **params))["items"]}

        assert await ids() == {cheap["id"], dear["id"], credits["id"]}
        assert await ids(type="outfit") == {cheap["id"], dear["id"], credits["id"]}
        assert await ids(type="effect") == set()
        assert await ids(min_price=200) == {dear["id"], credits["id"]}
        assert await ids(max_price=200) == {cheap["id"]}
        assert await ids(currency="digi") == {credits["id"]}
        assert await ids(free="true") == set()
        assert await ids(free="false") == {cheap["id"], dear["id"], credits["id"]}
        assert await ids(rig="digi") == {cheap["id"], dear["id"], credits["id"]}
        by_price = await search(server.http, q=tag, sort="price", currency="usd")
        assert [i["id"] for i in by_price["items"]] == [cheap["id"], dear["id"]]
        # Digi's own items are there on a fresh server, free
        free = await search(server.http, free="true", limit=100)
        assert len(free["items"]) >= 10 and all(i["builtin"] for i in free["items"])

    server.run(test())


def test_bad_parameters_are_refused_by_name(server: Server) -> None:
    async def test() -> None:
        for params, named in (
            ({"sort": "cheapest"}, "sort"),
            ({"limit": "0"}, "limit"),
            ({"limit": "lots"}, "limit"),
            ({"type": "spaceship"}, "type"),
            ({"min_price": "-1"}, "min_price"),
            ({"free": "maybe"}, "free"),
            ({"cursor": "not-a-cursor"}, "cursor"),
            ({"colour": "red"}, "colour"),
        ):
            async with server.http.get("/api/marketplace/assets", params=params) as r:
                body = await r.json()
                assert r.status == 400 and named in body["error"], (params, body)

    server.run(test())


def test_keyset_pages_cover_everything_once_in_every_sort(server: Server) -> None:
    async def test() -> None:
        for sort in ("newest", "popular", "rating", "price", "price_desc"):
            everything = [
                i["id"] for i in (await search(server.http, sort=sort, limit=100))["items"]
            ]
            assert len(everything) >= 20  # Digi's own items at least
            seen, cursor = [], None
            while True:
                params = {"sort": sort, "limit": 7, **({"cursor": cursor} if cursor else {})}
                page = await search(server.http, **params)
                assert len(page["items"]) <= 7
                seen += [i["id"] for i in page["items"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert seen == everything, sort  # same order, nothing twice, nothing left out

    server.run(test())


# ---- one listing ----------------------------------------------------------------------------


def test_a_draft_is_its_creators_alone(server: Server) -> None:
    async def test() -> None:
        seller, other = await user(server.http, "seller"), await user(server.http, "other")
        draft = await upload(server.http, seller, outfit_zip(name="Secret"))
        assert draft["status"] == "draft" and draft["preview_ready"] is False
        path = f"/api/marketplace/assets/{draft['id']}"
        status, mine = await call(server.http, "GET", path, seller)
        assert status == 200 and mine["mine"] is True and mine["name"] == "Secret"
        _, missing = await call(server.http, "GET", f"/api/marketplace/assets/{MISSING}", other)
        for who in (other, None):  # another user, a guest: exactly as if it did not exist
            status, body = await call(server.http, "GET", path, who)
            assert status == 404 and body == missing
            status, _ = await call(server.http, "GET", f"{path}/thumbnail.png", who)
            assert status == 404
        # published: anyone; a guest gets the public fields, no content
        await call(server.http, "POST", f"{path}/publish", seller)
        status, seen = await call(server.http, "GET", path)
        assert status == 200 and seen["owned"] is False and seen["mine"] is False
        assert "content" not in seen and "manifest" not in seen
        assert seen["price_cents"] == 500 and seen["currency"] == "usd"

    server.run(test())


def test_paid_purchase_without_stripe_keys_is_a_clear_503_and_grants_nothing(
    server: Server,
) -> None:
    async def test() -> None:
        seller, buyer = await user(server.http, "seller"), await user(server.http, "buyer")
        item = await published(server.http, seller, outfit_zip(price_cents=500))
        status, body = await call(
            server.http, "POST", "/api/marketplace/purchase", buyer, {"asset_id": item["id"]}
        )
        assert status == 503 and "payments are not configured" in body["error"], body
        rows = server.db("SELECT status FROM purchases WHERE listing_id = ?", [item["id"]])
        assert rows == [("failed",)]
        assert server.db("SELECT * FROM entitlements WHERE listing_id = ?", [item["id"]]) == []
        status, owned = await call(server.http, "GET", "/api/marketplace/owned", buyer)
        assert status == 200 and owned["items"] == []

    server.run(test())


def test_builtin_items_show_their_shipped_thumbnail_at_once(server: Server) -> None:
    """A fresh market: Digi's own items answer their thumbnail before anything is rendered
    (content/market, made by content/build/market_thumbs.py); their preview picture is still
    rendered on demand (404 until then)."""

    async def test() -> None:
        status, page = await call(server.http, "GET", "/api/marketplace/assets?type=outfit")
        assert status == 200
        armor = next(i for i in page["items"] if i["builtin"] and "armor" in i["tags"])
        assert not (server.root / armor["id"] / "thumb.png").exists()  # nothing rendered
        async with server.http.get(armor["thumbnail_url"]) as r:
            assert r.status == 200 and r.content_type == "image/png"
            shipped = await r.read()
        own = Path(__file__).resolve().parents[2] / "content" / "market" / f"{armor['id']}.png"
        assert shipped == own.read_bytes()
        async with server.http.get(armor["preview_url"]) as r:
            assert r.status == 404

    server.run(test())
