"""API tokens: issued once (only a hash kept), listed without secrets, used as a Bearer
token, revoked; another user's token id answers 404 exactly like a missing one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.api.accounts import SAME_ORIGIN, error_of, serve, signup
from webapi.accounts.tokens import digest
from webapi.app import STORE


async def issue(http: TestClient, name: str = "obs laptop") -> dict:
    r = await http.post("/api/tokens", json={"name": name}, headers=SAME_ORIGIN)
    body = await r.json()
    assert r.status == 201, body
    assert r.headers["Location"] == f"/api/tokens/{body['id']}"
    assert r.headers["Cache-Control"] == "no-store"
    return body


def test_a_token_is_issued_listed_used_and_revoked(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        user = await signup(http, "ada")
        made = await issue(http)
        token = made["token"]
        assert made["name"] == "obs laptop" and token.startswith("dgg_") and len(token) > 40
        stored = await app[STORE].read(
            lambda db: db.execute("SELECT token_hash FROM api_tokens").fetchall()
        )
        assert stored == [(digest(token),)]  # the hash, not the token
        listed = (await (await http.get("/api/tokens")).json())["tokens"]
        assert listed == [{k: made[k] for k in ("id", "name", "created_at", "last_used_at")}]
        assert token not in str(listed)

        http.session.cookie_jar.clear()  # from here on, a script with only the token
        bearer = {"Authorization": f"Bearer {token}"}
        r = await http.get("/api/me", headers=bearer)
        me = await r.json()
        assert r.status == 200 and me["user"]["id"] == user["id"] and me["via"] == "bearer"
        # recorded (at most every 5 min) by a write the request does not wait for
        for _ in range(50):
            listed = (await (await http.get("/api/tokens", headers=bearer)).json())["tokens"]
            if listed[0]["last_used_at"] is not None:
                break
            await asyncio.sleep(0.1)
        assert listed[0]["last_used_at"] is not None

        r = await http.delete(f"/api/tokens/{made['id']}", headers=bearer)
        assert r.status == 200 and (await r.json()) == {"revoked": made["id"]}
        error = await error_of(await http.get("/api/me", headers=bearer), 401)
        assert "API token" in error and "not valid" in error
        r = await http.delete(f"/api/tokens/{made['id']}", headers=bearer)
        assert r.status == 401  # the revoked token cannot even revoke itself again

    serve(test, tmp_path)


def test_revoking_one_token_leaves_the_others(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada")
        a, b = await issue(http, "a"), await issue(http, "b")
        r = await http.delete(f"/api/tokens/{a['id']}", headers=SAME_ORIGIN)
        assert r.status == 200
        names = [t["name"] for t in (await (await http.get("/api/tokens")).json())["tokens"]]
        assert names == ["b"]
        r = await http.get("/api/me", headers={"Authorization": f"Bearer {b['token']}"})
        assert r.status == 200
        # revoking it again: no longer a live token of yours
        r = await http.delete(f"/api/tokens/{a['id']}", headers=SAME_ORIGIN)
        assert "no API token" in await error_of(r, 404)

    serve(test, tmp_path)


def test_another_users_token_id_is_a_404_like_a_missing_one(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada")
        adas = await issue(http)
        http.session.cookie_jar.clear()
        await signup(http, "grace")
        theirs = await http.delete(f"/api/tokens/{adas['id']}", headers=SAME_ORIGIN)
        missing = await http.delete("/api/tokens/" + "0" * 32, headers=SAME_ORIGIN)
        assert theirs.status == missing.status == 404
        error = await error_of(theirs, 404)
        assert error == (await missing.json())["error"].replace("0" * 32, adas["id"])
        assert (await (await http.get("/api/tokens")).json())["tokens"] == []  # not listed
        r = await http.get("/api/me", headers={"Authorization": f"Bearer {adas['token']}"})
        assert (await r.json())["user"]["username"] == "ada"  # still works: not revoked

    serve(test, tmp_path)


def test_token_names_are_checked(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada")
        for body, words in (
            ({}, '"name" must be a string'),
            ({"name": 7}, '"name" must be a string'),
            ({"name": "   "}, '"name" must not be empty'),
            ({"name": "x" * 101}, '"name" is too long (at most 100'),
            ({"name": "a\nb"}, "control characters"),
        ):
            r = await http.post("/api/tokens", json=body, headers=SAME_ORIGIN)
            assert words in await error_of(r, 400), body
        assert (await (await http.get("/api/tokens")).json())["tokens"] == []

    serve(test, tmp_path)


def test_tokens_need_a_signed_in_user(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        assert "sign in first" in await error_of(await http.get("/api/tokens"), 401)
        r = await http.post("/api/tokens", json={"name": "x"}, headers=SAME_ORIGIN)
        assert "sign in first" in await error_of(r, 401)
        r = await http.delete("/api/tokens/" + "0" * 32, headers=SAME_ORIGIN)
        assert r.status == 401
        for bad in ("Bearer nonsense", "Bearer dgg_" + "A" * 43, "Bearer "):
            r = await http.get("/api/tokens", headers={"Authorization": bad})
            assert "not valid" in await error_of(r, 401), bad

    serve(test, tmp_path)
