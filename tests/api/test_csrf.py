"""CSRF: a request signed in by the session cookie that changes something must come from
our own pages (Origin or Sec-Fetch-Site); another site's form post with the visitor's
cookie is refused and changes nothing. Bearer-token requests need no such proof."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.api.accounts import error_of, origin, serve, session_cookie, signup

EVIL = "https://evil.example"


async def token_count(http: TestClient) -> int:
    r = await http.get("/api/tokens")  # a GET needs no proof
    assert r.status == 200
    return len((await r.json())["tokens"])


def test_another_sites_form_post_with_the_cookie_is_refused(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada")
        for ctype, data in (
            ("application/x-www-form-urlencoded", "name=pwned"),
            ("text/plain", '{"name": "pwned"}'),
            ("multipart/form-data; boundary=x", '--x\r\nContent-Disposition: form-data; name="name"'
             "\r\n\r\npwned\r\n--x--\r\n"),
            ("application/json", '{"name": "pwned"}'),  # a fetch from evil (if CORS let it)
        ):  # fmt: skip
            r = await http.post(
                "/api/tokens", data=data, headers={"Origin": EVIL, "Content-Type": ctype}
            )
            assert "not allowed" in await error_of(r, 403), ctype
        r = await http.post("/api/auth/logout", headers={"Origin": EVIL})
        assert r.status == 403
        assert await token_count(http) == 0  # nothing was made
        assert (await http.get("/api/me")).status == 200  # and the session still lives

    serve(test, tmp_path)


def test_a_cookie_request_without_origin_proof_is_refused(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada")
        r = await http.post(
            "/api/tokens", json={"name": "keep"}, headers={"Sec-Fetch-Site": "same-origin"}
        )
        keep = await r.json()
        assert r.status == 201
        refusals = [
            http.post("/api/tokens", json={"name": "x"}),  # neither header (an old browser)
            http.post("/api/tokens", json={"name": "x"}, headers={"Sec-Fetch-Site": "cross-site"}),
            http.post("/api/tokens", json={"name": "x"}, headers={"Sec-Fetch-Site": "same-site"}),
            http.delete(f"/api/tokens/{keep['id']}"),  # no body at all
            http.post("/api/auth/logout"),
        ]
        for pending in refusals:
            error = await error_of(await pending, 403)
            assert "does not show that it comes from this site's own pages" in error
        assert await token_count(http) == 1
        assert (await http.get("/api/me")).status == 200

    serve(test, tmp_path)


def test_same_origin_requests_with_the_cookie_work(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada")
        for headers in (
            {"Origin": origin(http)},
            {"Sec-Fetch-Site": "same-origin"},
            {"Sec-Fetch-Site": "none"},  # typed into the address bar, a bookmark
            {"Origin": origin(http), "Sec-Fetch-Site": "same-origin"},
        ):
            r = await http.post("/api/tokens", json={"name": "page"}, headers=headers)
            assert r.status == 201, (headers, await r.text())
        assert await token_count(http) == 4
        r = await http.post("/api/auth/logout", headers={"Origin": origin(http)})
        assert r.status == 200 and session_cookie(http) in (None, "")

    serve(test, tmp_path)


def test_bearer_requests_need_no_origin(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada")
        r = await http.post(
            "/api/tokens", json={"name": "script"}, headers={"Origin": origin(http)}
        )
        token = (await r.json())["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        r = await http.post("/api/tokens", json={"name": "second"}, headers=bearer)  # cookie too
        assert r.status == 201, await r.text()
        second = await r.json()
        http.session.cookie_jar.clear()
        r = await http.delete(f"/api/tokens/{second['id']}", headers=bearer)
        assert r.status == 200
        r = await http.post("/api/tokens", json={"name": "third"}, headers=bearer)
        assert r.status == 201

    serve(test, tmp_path)
