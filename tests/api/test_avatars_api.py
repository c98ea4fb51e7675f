"""Issue 13, saved avatars over HTTP: every /api/avatars endpoint, its happy path and each bad
input (customizations errors name their exact path), and a generation that lands in the
caller's library. In-process (aiohttp's test client) against a temporary database; the
streaming side is stubbed out (tests/api/test_wear_saved.py covers it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.webapi.images import data_url, grey_png
from webapi import generate
from webapi.app import STORE, create_app

PASSWORD = "correct horse battery staple"


class NoStreaming:
    """A stand-in SessionManager: these tests need no render thread or GL."""

    memory: Any = None  # where session looks are kept (the app gives it the store's)

    async def start(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    def health(self) -> dict[str, Any]:
        return {}


def serve(
    tmp_path: Path,
    test: Callable[[TestClient], Awaitable[None]],
    *,
    streaming: bool = False,
    timeout: float = 120,
) -> None:
    """Run `test` against a fresh app on a temporary database and avatar folder; with
    `streaming`, its real SessionManager (render thread, GL), else a stand-in."""

    async def main() -> None:
        app = create_app(
            db=tmp_path / "t.db",
            avatar_root=tmp_path / "avatars",
            manager=None if streaming else NoStreaming(),  # type: ignore[arg-type]
        )
        async with TestClient(TestServer(app)) as http:
            await test(http)

    asyncio.run(asyncio.wait_for(main(), timeout))


def origin(http: TestClient) -> dict[str, str]:
    """What a page of ours sends with a state-changing request (CSRF proof)."""
    return {"Origin": str(http.make_url("")).rstrip("/")}


async def sign_up(http: TestClient, name: str) -> dict[str, str]:
    """A new user; the Bearer header that acts as them (a fresh API token)."""
    body = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
    r = await http.post("/api/auth/signup", json=body, headers=origin(http))
    assert r.status == 201, await r.text()
    r = await http.post("/api/tokens", json={"name": "tests"}, headers=origin(http))
    assert r.status == 201, await r.text()
    token = (await r.json())["token"]
    http.session.cookie_jar.clear()  # from here on each user is their token only
    return {"Authorization": f"Bearer {token}"}


async def call(
    http: TestClient,
    method: str,
    path: str,
    who: dict[str, str] | None = None,
    body: Any = None,
) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"headers": {**origin(http), **(who or {})}}
    if body is not None:
        kwargs["json"] = body
    async with http.request(method, path, **kwargs) as r:
        return r.status, await r.json()


async def created(http: TestClient, who: dict[str, str], **body: Any) -> dict[str, Any]:
    status, answer = await call(http, "POST", "/api/avatars", who, body)
    assert status == 201, answer
    return answer


# ---- create, list, get, patch, delete: the happy paths ------------------------------------


def test_the_whole_life_of_a_saved_avatar(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        alice = await sign_up(http, "alice")
        custom = {
            "library": "winter",
            "sprites": {"outfit": "armor", "accessories": "hat"},
            "colors": {"avatar": {"hue": 20}, "outfit": {"saturation": 1.5, "contrast": 1.2}},
        }
        made = await created(http, alice, name="  Winter   Digi ", customizations=custom)
        assert made["name"] == "Winter Digi"  # spaces squeezed
        assert made["source"] == "rig" and made["rig"] == "digi" and made["mine"] is True
        assert made["is_public"] is False and made["generation_id"] is None
        assert made["customizations"] == {
            "library": "winter",
            "sprites": {"outfit": "armor", "accessories": "hat"},
            "colors": {
                "avatar": {"hue": 20.0},
                "outfit": {"saturation": 1.5, "contrast": 1.2},
            },
        }
        assert made["puppet_url"] == f"/?avatar={made['id']}"
        assert len(made["id"]) == 32

        status, got = await call(http, "GET", f"/api/avatars/{made['id']}", alice)
        assert status == 200 and got == made

        status, changed = await call(
            http,
            "PATCH",
            f"/api/avatars/{made['id']}",
            alice,
            {"name": "Renamed", "is_public": True, "customizations": {"sprites": {"body": "slim"}}},
        )
        assert status == 200, changed
        assert changed["name"] == "Renamed" and changed["is_public"] is True
        assert changed["customizations"] == {"sprites": {"body": "slim"}}  # replaced whole
        assert changed["updated_at"] >= made["updated_at"]
        status, got = await call(http, "GET", f"/api/avatars/{made['id']}", alice)
        assert got["name"] == "Renamed" and got["customizations"] == {"sprites": {"body": "slim"}}

        status, gone = await call(http, "DELETE", f"/api/avatars/{made['id']}", alice)
        assert status == 200 and gone == {"deleted": made["id"]}
        status, answer = await call(http, "GET", f"/api/avatars/{made['id']}", alice)
        assert status == 404 and answer == {"error": f'no avatar "{made["id"]}"'}
        status, answer = await call(http, "DELETE", f"/api/avatars/{made['id']}", alice)
        assert status == 404

    serve(tmp_path, test)


def test_the_list_is_the_callers_own_newest_first_in_pages(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        alice, bob = await sign_up(http, "alice"), await sign_up(http, "bob")
        ids = [(await created(http, alice, name=f"Digi {n}"))["id"] for n in range(5)]
        await created(http, bob, name="Bob's", is_public=True)
        status, page = await call(http, "GET", "/api/avatars", alice)
        assert status == 200
        assert [a["id"] for a in page["avatars"]] == ids[::-1] and page["next"] is None
        # pages of two, following "next"
        seen, before = [], None
        for _ in range(5):
            query = "/api/avatars?limit=2" + (f"&before={before}" if before else "")
            status, page = await call(http, "GET", query, alice)
            assert status == 200 and len(page["avatars"]) <= 2
            seen += [a["id"] for a in page["avatars"]]
            before = page["next"]
            if before is None:
                break
        assert seen == ids[::-1]
        status, page = await call(http, "GET", "/api/avatars", bob)
        assert [a["name"] for a in page["avatars"]] == ["Bob's"]  # not alice's, and vice versa
        # nobody at all: an empty list, not an error
        status, page = await call(http, "GET", "/api/avatars")
        assert status == 200 and page == {"avatars": [], "next": None}
        for bad in ("limit=0", "limit=201", "limit=x", "before=nonsense"):
            status, answer = await call(http, "GET", f"/api/avatars?{bad}", alice)
            assert status == 400, (bad, answer)
            assert bad.split("=")[0] in answer["error"]

    serve(tmp_path, test)


# ---- bad input ------------------------------------------------------------------------------

BAD_CUSTOMIZATIONS = [
    ([], "customizations must be an object"),
    ({"hat": "red"}, "customizations.hat is not a customization"),
    ({"library": "summer"}, "customizations.library must be one of the rig's sprite libraries"),
    ({"sprites": "armor"}, "customizations.sprites must be an object"),
    ({"sprites": {"shoes": "red"}}, "customizations.sprites.shoes is not a sprite category"),
    ({"sprites": {"outfit": "pyjamas"}}, "customizations.sprites.outfit must be one of"),
    ({"sprites": {"outfit": 3}}, "customizations.sprites.outfit must be one of"),
    # a valid one among the bad
    ({"library": "base", "sprites": {"accessories": "glasses"}}, None),
    ({"colors": {"body": {"hue": 200}}}, "customizations.colors.body.hue must be a number from"),
    ({"colors": {"body": {"hue": "red"}}}, "customizations.colors.body.hue must be a number"),
    ({"colors": {"body": {"hue": True}}}, "customizations.colors.body.hue must be a number"),
    ({"colors": {"avatar": {"contrast": -1}}}, "customizations.colors.avatar.contrast must be"),
    ({"colors": {"avatar": {"glow": 1}}}, "customizations.colors.avatar.glow is not a colour"),
    ({"colors": {"tail": {"hue": 1}}}, "customizations.colors.tail is not a colour part"),
    ({"colors": {"outfit": 1}}, "customizations.colors.outfit must be an object"),
    ({"colors": []}, "customizations.colors must be an object"),
    ({"style": "sepia"}, "customizations.style must be one of the render styles"),
    ({"style": 3}, "customizations.style must be one of the render styles"),
]


def test_customizations_errors_name_the_path(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        alice = await sign_up(http, "alice")
        for custom, error in BAD_CUSTOMIZATIONS:
            status, answer = await call(
                http, "POST", "/api/avatars", alice, {"customizations": custom}
            )
            if error is None:  # a valid one among the bad: proves the check is not blanket
                assert status == 201, (custom, answer)
                continue
            assert status == 400, (custom, answer)
            assert error in answer["error"], (custom, answer)
        mine = await created(http, alice, name="ok")
        for custom, error in BAD_CUSTOMIZATIONS:  # PATCH checks them the same way
            if error is None:
                continue
            status, answer = await call(
                http, "PATCH", f"/api/avatars/{mine['id']}", alice, {"customizations": custom}
            )
            assert status == 400 and error in answer["error"], (custom, answer)
        # the winter library has a winter hat; base does not have "winter" itself
        ok = await created(
            http, alice, customizations={"library": "winter", "sprites": {"accessories": "scarf"}}
        )
        assert ok["customizations"]["library"] == "winter"
        # neutral colours are dropped: they change nothing
        plain = await created(
            http, alice, customizations={"colors": {"avatar": {"hue": 0}}, "style": "none"}
        )
        assert plain["customizations"] == {}
        # a render style is kept with the avatar
        styled = await created(http, alice, customizations={"style": "ghibli"})
        assert styled["customizations"] == {"style": "ghibli"}

    serve(tmp_path, test)


def test_bad_fields_and_bodies(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        alice = await sign_up(http, "alice")
        cases = [
            ({"name": ""}, 400, '"name" must be a non-empty string'),
            ({"name": 5}, 400, '"name" must be a non-empty string'),
            ({"name": "x" * 81}, 400, '"name" must be at most 80 characters'),
            ({"name": "a\u0007b"}, 400, "control characters"),
            ({"is_public": "yes"}, 400, '"is_public" must be true or false'),
            ({"rig": "robot"}, 400, '"rig" must be one of the bundled rigs: digi'),
            ({"colour": "red"}, 400, 'unknown field "colour"'),
            ({"generation_id": "../../etc"}, 400, '"generation_id" must be'),
            ({"generation_id": "0123456789abcdef"}, 404, 'no generated avatar "0123456789abcdef"'),
        ]
        for body, status, error in cases:
            got, answer = await call(http, "POST", "/api/avatars", alice, body)
            assert got == status and error in answer["error"], (body, answer)
        mine = await created(http, alice, name="ok")
        for body, error in [
            ({}, "nothing to change"),
            ({"rig": "digi"}, 'unknown field "rig"'),
            ({"name": "  "}, '"name" must be a non-empty string'),
            ({"is_public": 1}, '"is_public" must be true or false'),
        ]:
            got, answer = await call(http, "PATCH", f"/api/avatars/{mine['id']}", alice, body)
            assert got == 400 and error in answer["error"], (body, answer)
        # not JSON objects, too deep, too large, the wrong type
        url = f"/api/avatars/{mine['id']}"
        headers = {**origin(http), **alice, "Content-Type": "application/json"}
        for raw, status in [
            (b"[1, 2]", 400),
            (b"{", 400),
            (b'{"customizations": {"colors": {"a": {"b": {"c": {"d": 1}}}}}}', 400),
            (b'{"name": "' + b"x" * 60000 + b'"}', 413),  # over the 48 KB cap
        ]:
            r = await http.patch(url, data=raw, headers=headers)
            assert r.status == status, (raw[:40], await r.text())
            assert "error" in await r.json()
        form = {**origin(http), **alice, "Content-Type": "application/x-www-form-urlencoded"}
        r = await http.post("/api/avatars", data=b"name=x", headers=form)
        assert r.status == 415
        # nobody signed in and no guest cookie: who would own it?
        status, answer = await call(http, "POST", "/api/avatars", None, {"name": "x"})
        assert status == 401 and "sign in first" in answer["error"]
        # the stored row never changed through all of that
        status, got = await call(http, "GET", url, alice)
        assert got["name"] == "ok" and got["customizations"] == {}

    serve(tmp_path, test)


# ---- generation -> library ------------------------------------------------------------------


class FakeStyle:
    """`engine.style` as webapi.generate uses it: a grey face in no time."""

    STYLES = ("kingdom-hearts",)
    UnknownStyleError = ValueError

    @staticmethod
    def GenerationOptions(**kw: Any) -> dict[str, Any]:
        return kw

    def generate(self, pixels, style, options, progress=None, cancelled=None):
        return SimpleNamespace(
            outputs={
                "full": np.full((64, 64, 3), 128, np.uint8),
                "transparent": np.zeros((64, 64, 4), np.uint8),
            },
            landmarks=np.zeros((478, 2)),
            metadata={"style": style},
        )


@pytest.fixture
def fake_style(monkeypatch) -> FakeStyle:
    engine = FakeStyle()
    monkeypatch.setattr(generate, "_engine", lambda: engine)
    return engine


async def generated(http: TestClient, who: dict[str, str] | None) -> dict[str, Any]:
    body = {"image": data_url(grey_png(128)), "style": "kingdom-hearts"}
    r = await http.post("/api/generate", json=body, headers={**origin(http), **(who or {})})
    assert r.status == 200, await r.text()
    return await r.json()


def test_a_generation_lands_in_the_library(tmp_path: Path, fake_style) -> None:
    async def test(http: TestClient) -> None:
        alice, bob = await sign_up(http, "alice"), await sign_up(http, "bob")
        result = await generated(http, alice)
        assert result["success"] is True and isinstance(result["libraryId"], str)
        status, saved = await call(http, "GET", f"/api/avatars/{result['libraryId']}", alice)
        assert status == 200, saved
        assert saved["source"] == "generated" and saved["generation_id"] == result["avatarId"]
        assert saved["name"] == "Kingdom Hearts avatar"
        assert saved["thumbnail_url"] == f"/avatars/{result['avatarId']}/full.png"
        # an account's generated files are claimed at once: they never expire
        files = json.loads(
            (tmp_path / "avatars" / result["avatarId"] / "metadata.json").read_text()
        )
        assert files["owner"] == files["claimed"]["owner"]
        assert files["owner"].startswith("account:")
        # a second saved avatar from the same generation: alice made it, bob did not
        again = await created(http, alice, generation_id=result["avatarId"], name="Again")
        assert again["source"] == "generated"
        status, answer = await call(
            http, "POST", "/api/avatars", bob, {"generation_id": result["avatarId"]}
        )
        assert status == 404 and answer == {"error": f'no generated avatar "{result["avatarId"]}"'}
        # deleting one keeps the files the other still wears; deleting both removes them
        folder = tmp_path / "avatars" / result["avatarId"]
        await call(http, "DELETE", f"/api/avatars/{result['libraryId']}", alice)
        assert folder.is_dir()
        await call(http, "DELETE", f"/api/avatars/{again['id']}", alice)
        assert not folder.exists()

        # a guest's generation is saved under its guest cookie, and listed for that guest
        http.session.cookie_jar.clear()
        result = await generated(http, None)
        assert isinstance(result["libraryId"], str)
        status, page = await call(http, "GET", "/api/avatars")
        assert [a["id"] for a in page["avatars"]] == [result["libraryId"]]
        status, page = await call(http, "GET", "/api/avatars", alice)
        assert result["libraryId"] not in [a["id"] for a in page["avatars"]]

        rows = http.app[STORE].read_now(lambda db: list(db["avatars"].rows))
        guest_rows = [r for r in rows if r["id"] == result["libraryId"]]
        assert guest_rows[0]["owner_id"] is None and guest_rows[0]["guest_id"]

    serve(tmp_path, test)


def test_the_library_page_is_csp_clean(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        r = await http.get("/library")
        assert r.status == 200 and r.content_type == "text/html"
        assert "script-src" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        page = await r.text()
        assert '<nav id="account-nav"' in page and "/static/whoami.js" in page
        assert '<script type="module" src="/static/library.js">' in page
        assert "<script>" not in page and "style=" not in page and "<style" not in page
        script = await (await http.get("/static/library.js")).text()
        assert "innerHTML" not in script  # user text goes in as text only
        r = await http.get("/static/library.digi.png")
        assert r.status == 200 and r.content_type == "image/png"

    serve(tmp_path, test)
