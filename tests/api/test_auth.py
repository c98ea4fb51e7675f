"""Accounts over HTTP: sign-up, sign-in, sign-out and /api/me, each bad input answered in
words that name the field, one answer for an unknown account and a wrong password, session
expiry (sliding) and revocation, and the sign-in and sign-up limits."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.api.accounts import (
    PASSWORD,
    SAME_ORIGIN,
    error_of,
    page,
    serve,
    session_cookie,
    signup,
    signup_body,
)
from webapi.accounts import passwords
from webapi.accounts.ratelimit import AccountLimits, SignInLimiter
from webapi.accounts.tokens import digest, iso
from webapi.app import STORE
from webapi.handlers import auth

# people's accounts: the marketplace's Digigami creator is a users row too, seeded when the
# app starts, that cannot sign in (password hash "!", webapi/market/seed.py)
PEOPLE = "SELECT id FROM users WHERE password_hash != '!'"


async def rows(app: web.Application, sql: str, params: list[Any] | None = None) -> list[Any]:
    return await app[STORE].read(lambda db: db.execute(sql, params or []).fetchall())


# ---- sign-up ----------------------------------------------------------------------------------


def test_sign_up_signs_in_with_a_safe_cookie(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        r = await http.post("/api/auth/signup", json=signup_body("ada"), headers=page(http))
        body = await r.json()
        assert r.status == 201, body
        assert body["user"]["username"] == "ada"
        assert body["user"]["email"] == "ada@example.com"
        assert set(body["user"]) == {"id", "email", "username", "created_at"}
        assert PASSWORD not in await r.text()
        cookie = r.cookies["digigami_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
        assert not cookie["secure"]  # plain http here; https gets Secure
        assert int(cookie["max-age"]) == 30 * 24 * 3600
        me = await http.get("/api/me")
        assert me.status == 200
        mine = await me.json()
        assert mine["user"] == body["user"] and mine["via"] == "cookie"
        (row,) = await rows(app, "SELECT password_hash FROM users WHERE password_hash != '!'")
        assert row[0].startswith(f"$argon2id$v=19$m={passwords.MEMORY_KIB},t=2,p=1$")

    serve(test, tmp_path)


def test_me_without_a_session_is_401(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        assert "sign in first" in await error_of(await http.get("/api/me"), 401)
        http.session.cookie_jar.update_cookies(
            {"digigami_session": "made-up"}, response_url=http.make_url("/")
        )
        assert "sign in first" in await error_of(await http.get("/api/me"), 401)

    serve(test, tmp_path)


def test_whoami_answers_a_visitor_with_null_and_a_member_as_me_does(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        r = await http.get("/api/whoami")
        assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
        assert await r.json() == {"user": None, "via": None, "guest": False}
        # a dead session reads as nobody, as /api/me's 401 does
        http.session.cookie_jar.update_cookies(
            {"digigami_session": "made-up"}, response_url=http.make_url("/")
        )
        assert (await (await http.get("/api/whoami")).json())["user"] is None
        user = await signup(http, "ada")
        r = await http.get("/api/whoami")
        assert r.status == 200
        assert await r.json() == await (await http.get("/api/me")).json()
        assert (await r.json())["user"] == user
        # a bad API token is a mistake to say, not a visitor
        for token in ("not-a-token", "x" * 4000, "\u00e9" * 200):
            bad = await http.get("/api/whoami", headers={"Authorization": f"Bearer {token}"})
            assert "API token" in await error_of(bad, 401)
        huge = await http.get("/api/whoami", headers={"Authorization": "Bearer " + "x" * 20000})
        assert huge.status in (400, 431)  # over aiohttp's header limit: refused before us
        await http.post("/api/auth/logout", headers=page(http))
        assert (await (await http.get("/api/whoami")).json())["user"] is None

    serve(test, tmp_path)


BAD_SIGNUPS: list[tuple[dict[str, Any], list[str]]] = [
    ({"username": "ada", "password": PASSWORD}, ["email: required"]),
    ({"email": "", "username": "ada", "password": PASSWORD}, ["email: required"]),
    ({"email": "ada", "username": "ada", "password": PASSWORD}, ["email: not an email"]),
    ({"email": "ada@example", "username": "ada", "password": PASSWORD}, ["email: not an email"]),
    ({"email": "a b@example.com", "username": "ada", "password": PASSWORD}, ["email: not an"]),
    ({"email": "<x>@example.com", "username": "ada", "password": PASSWORD}, ["email: not an"]),
    (
        {"email": "a" * 250 + "@example.com", "username": "ada", "password": PASSWORD},
        ["email: too long"],
    ),
    ({"email": 7, "username": "ada", "password": PASSWORD}, ["email: required"]),
    ({"email": "ada@example.com", "password": PASSWORD}, ["username: required"]),
    ({"email": "ada@example.com", "username": "ad", "password": PASSWORD}, ["username: use 3"]),
    (
        {"email": "ada@example.com", "username": "a" * 33, "password": PASSWORD},
        ["username: use 3 to 32"],
    ),
    (
        {
            "email": "ada@example.com",
            "username": "<img src=x onerror=alert(1)>",
            "password": PASSWORD,
        },
        ["username: use"],
    ),
    (
        {"email": "ada@example.com", "username": "ada lovelace", "password": PASSWORD},
        ["username: use"],
    ),
    ({"email": "ada@example.com", "username": "adä", "password": PASSWORD}, ["username: use"]),
    ({"email": "ada@example.com", "username": "ada"}, ["password: required"]),
    (
        {"email": "ada@example.com", "username": "ada", "password": 1234567890},
        ["password: required"],
    ),
    (
        {"email": "ada@example.com", "username": "ada", "password": "Tiny9"},
        ["password: too short (at least 10"],
    ),
    (
        {"email": "ada@example.com", "username": "ada", "password": "x" * 257},
        ["password: too long (at most 256"],
    ),
    (
        {"email": "ada@example.com", "username": "ada_lovelace", "password": "ADA_LOVELACE"},
        ["password: must not be your email or username"],
    ),
    (
        {"email": "nope", "username": "x", "password": "y"},
        ["email: not an email", "username: use", "password: too short"],
    ),
]


def test_sign_up_names_every_bad_field(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        for body, words in BAD_SIGNUPS:
            r = await http.post("/api/auth/signup", json=body, headers=page(http))
            error = await error_of(r, 400)
            for word in words:
                assert word in error, (body, error)
            if isinstance(body.get("password"), str) and len(body["password"]) >= 5:
                assert body["password"] not in error
            assert "digigami_session" not in r.cookies
        assert await rows(app, PEOPLE) == []

    serve(test, tmp_path)


def test_sign_up_refuses_bodies_that_are_not_a_json_object(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        for raw in (b"", b"[]", b'"ada"', b"{not json"):
            r = await http.post(
                "/api/auth/signup",
                data=raw,
                headers={**page(http), "Content-Type": "application/json"},
            )
            assert await error_of(r, 400), raw
        r = await http.post(
            "/api/auth/signup", data="email=a@b.co&username=ada", headers=page(http)
        )  # a form's encoding
        assert "application/json" in await error_of(r, 415)
        r = await http.post(
            "/api/auth/signup",
            data=b"{" + b" " * 20_000 + b"}",
            headers={**page(http), "Content-Type": "application/json"},
        )
        assert "too large" in await error_of(r, 413)

    serve(test, tmp_path)


def test_email_and_username_are_unique_without_regard_to_case(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "Ada")
        http.session.cookie_jar.clear()
        cases = [
            (signup_body("ADA", email="other@example.com"), ["username: already taken"]),
            (signup_body("grace", email="ADA@Example.COM"), ["email: already has an account"]),
            (signup_body("aDa"), ["email: already", "username: already"]),
        ]
        for body, words in cases:
            r = await http.post("/api/auth/signup", json=body, headers=page(http))
            error = await error_of(r, 409)
            assert all(w in error for w in words), (body, error)
        assert len(await rows(app, PEOPLE)) == 1
        await signup(http, "grace")  # a different name and email is fine

    serve(test, tmp_path)


# ---- sign-in ----------------------------------------------------------------------------------


def test_sign_in_by_email_or_username_in_any_case(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        user = await signup(http, "Ada")
        for body in (
            {"login": "ada", "password": PASSWORD},
            {"login": "ADA@EXAMPLE.COM", "password": PASSWORD},
            {"email": "Ada@example.com", "password": PASSWORD},
            {"username": " ADA ", "password": PASSWORD},
        ):
            http.session.cookie_jar.clear()
            r = await http.post("/api/auth/login", json=body, headers=page(http))
            answer = await r.json()
            assert r.status == 200, (body, answer)
            assert answer["user"] == user and PASSWORD not in await r.text()
            assert (await http.get("/api/me")).status == 200

    serve(test, tmp_path)


def test_unknown_account_and_wrong_password_get_the_same_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = passwords.HASHER

    class Spy:  # records which hash each sign-in was checked against
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def verify(self, stored: str, password: str) -> bool:
            checked.append(stored)
            return real.verify(stored, password)

    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada")
        http.session.cookie_jar.clear()
        monkeypatch.setattr(passwords, "HASHER", Spy())
        answers = []
        for login in ("ada", "nobody", "ada@example.com", "nobody@example.com"):
            r = await http.post(
                "/api/auth/login", json={"login": login, "password": "wrong password!"}
            )
            answers.append((r.status, await r.json(), "digigami_session" in r.cookies))
        assert all(
            a == (401, {"error": "wrong email/username or password"}, False) for a in answers
        )
        # every attempt ran argon2 once: the unknown ones against the dummy hash (same work)
        assert len(checked) == 4
        assert checked[1] == checked[3] == passwords.dummy_hash()
        assert checked[0] == checked[2] != passwords.dummy_hash()
        assert (await http.get("/api/me")).status == 401

    serve(test, tmp_path)


def test_sign_in_refuses_bad_input_in_words(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        cases = [
            ({"password": PASSWORD}, "login: give your email or username"),
            ({"login": "", "password": PASSWORD}, "login: give your email or username"),
            ({"login": ["ada"], "password": PASSWORD}, "login: give your email or username"),
            ({"login": "ada"}, "password: required"),
            ({"login": "ada", "password": 5}, "password: required"),
            ({"login": "ada", "password": "x" * 300}, "password: too long"),
        ]
        for body, words in cases:
            r = await http.post("/api/auth/login", json=body, headers=page(http))
            assert words in await error_of(r, 400), body

    serve(test, tmp_path)


def test_signing_in_again_ends_the_previous_session(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada")
        first = session_cookie(http)
        r = await http.post("/api/auth/login", json={"login": "ada", "password": PASSWORD})
        assert r.status == 200
        second = session_cookie(http)
        assert first and second and first != second
        stored = {r[0] for r in await rows(app, "SELECT token_hash FROM sessions")}
        assert stored == {digest(second)}

    serve(test, tmp_path)


# ---- sign-out and expiry ------------------------------------------------------------------


def test_sign_out_revokes_the_session(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada")
        old = session_cookie(http)
        assert (await http.get("/api/me")).status == 200
        r = await http.post("/api/auth/logout", headers=SAME_ORIGIN)
        assert r.status == 200 and (await r.json()) == {"signed_out": True}
        assert r.cookies["digigami_session"].value == ""  # the cookie is cleared
        assert await rows(app, "SELECT token_hash FROM sessions") == []
        # a copy of the old cookie is worthless now
        http.session.cookie_jar.update_cookies(
            {"digigami_session": old}, response_url=http.make_url("/")
        )
        assert (await http.get("/api/me")).status == 401
        http.session.cookie_jar.clear()
        r = await http.post("/api/auth/logout", headers=SAME_ORIGIN)  # nothing to end: fine
        assert r.status == 200 and (await r.json()) == {"signed_out": False}

    serve(test, tmp_path)


def test_an_expired_session_signs_no_one_in_and_is_deleted(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada")
        past = iso(time.time() - 60)
        await app[STORE].write(lambda db: db.execute("UPDATE sessions SET expires_at = ?", [past]))
        r = await http.get("/api/me")
        assert r.status == 401
        assert r.cookies["digigami_session"].value == ""  # dropped from the browser too
        for _ in range(100):  # the expired row is deleted on the writer, not awaited
            if not await rows(app, "SELECT 1 FROM sessions"):
                break
            await asyncio.sleep(0.02)
        assert await rows(app, "SELECT 1 FROM sessions") == []

    serve(test, tmp_path)


def test_a_used_session_slides_its_expiry_forward(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada")
        day, old_seen = iso(time.time() + 86400), iso(time.time() - 7200)
        await app[STORE].write(
            lambda db: db.execute(
                "UPDATE sessions SET expires_at = ?, last_seen_at = ?", [day, old_seen]
            )
        )
        r = await http.get("/api/me")
        assert r.status == 200
        assert int(r.cookies["digigami_session"]["max-age"]) == 30 * 24 * 3600  # renewed
        soon = iso(time.time() + 29 * 86400)
        for _ in range(100):
            ((expires, seen),) = await rows(app, "SELECT expires_at, last_seen_at FROM sessions")
            if expires > soon:
                break
            await asyncio.sleep(0.02)
        assert expires > soon and seen > old_seen
        r = await http.get("/api/me")  # used again within the hour: no new write, no cookie
        assert r.status == 200 and "digigami_session" not in r.cookies

    serve(test, tmp_path)


# ---- limits -----------------------------------------------------------------------------------


def _small_limits(app: web.Application) -> None:
    app[auth.LIMITER] = SignInLimiter(
        AccountLimits(failures_per_account=3, failures_per_address=7, signups_per_address=2)
    )


def test_failed_sign_ins_are_limited_per_account(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada")
        await signup(http, "grace")
        http.session.cookie_jar.clear()
        wrong = {"login": "ada", "password": "not the password"}
        for _ in range(3):
            assert (await http.post("/api/auth/login", json=wrong)).status == 401
        r = await http.post("/api/auth/login", json=wrong)
        assert "too many failed sign-ins for this account" in await error_of(r, 429)
        assert 800 <= int(r.headers["Retry-After"]) <= 900  # the 15-minute window
        # locked: even the right password waits, and no cookie is given
        r = await http.post("/api/auth/login", json={"login": "ADA", "password": PASSWORD})
        assert r.status == 429 and "digigami_session" not in r.cookies
        # another account from the same address is not locked
        r = await http.post("/api/auth/login", json={"login": "grace", "password": PASSWORD})
        assert r.status == 200
        # an unknown name is counted just like a real one (the limit tells nothing)
        ghost = {"login": "ghost", "password": "not the password"}
        statuses = [(await http.post("/api/auth/login", json=ghost)).status for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        # 6 failures from this address so far; the 7th fills its limit
        r = await http.post("/api/auth/login", json={"login": "linus", "password": "nope nope"})
        assert r.status == 401
        r = await http.post("/api/auth/login", json={"login": "grace", "password": PASSWORD})
        assert "too many failed sign-ins from your address" in await error_of(r, 429)

    serve(test, tmp_path, before=_small_limits)


def test_a_good_sign_in_forgives_its_accounts_failures(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada")
        wrong = {"login": "ada", "password": "not the password"}
        good = {"login": "ada", "password": PASSWORD}
        for _ in range(2):
            assert (await http.post("/api/auth/login", json=wrong)).status == 401
        assert (await http.post("/api/auth/login", json=good)).status == 200
        for _ in range(2):
            assert (await http.post("/api/auth/login", json=wrong)).status == 401
        assert (await http.post("/api/auth/login", json=good)).status == 200

    serve(test, tmp_path, before=_small_limits)


def test_concurrent_guesses_cannot_slip_past_the_limit(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada")
        http.session.cookie_jar.clear()
        wrong = {"login": "ada", "password": "not the password"}
        answers = await asyncio.gather(
            *(http.post("/api/auth/login", json=wrong) for _ in range(8))
        )
        statuses = sorted(r.status for r in answers)
        assert statuses == [401] * 3 + [429] * 5  # counted before the first await

    serve(test, tmp_path, before=_small_limits)


def test_sign_ups_are_limited_per_address(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada")
        await signup(http, "grace")
        r = await http.post("/api/auth/signup", json=signup_body("linus"), headers=page(http))
        assert "too many sign-ups" in await error_of(r, 429)
        assert int(r.headers["Retry-After"]) > 0
        assert len(await rows(app, PEOPLE)) == 2

    serve(test, tmp_path, before=_small_limits)


def test_the_limiter_lets_an_account_try_again_after_its_window() -> None:
    limiter = SignInLimiter(AccountLimits(failures_per_account=2, failure_window_s=60))
    for t in (0.0, 1.0):
        limiter.begin_sign_in("user:ada", "10.0.0.1", now=t)
    with pytest.raises(Exception, match="too many failed sign-ins") as caught:
        limiter.begin_sign_in("user:ada", "10.0.0.1", now=30.0)
    assert caught.value.retry_after == pytest.approx(30.0)  # type: ignore[attr-defined]
    limiter.begin_sign_in("user:ada", "10.0.0.1", now=60.5)  # the first failure has left


# ---- no password anywhere -------------------------------------------------------------------


def test_passwords_never_reach_the_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = "Zebra-Unicorn-7731"

    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada", password=secret)
        http.session.cookie_jar.clear()
        for body in (
            {"login": "ada", "password": secret + "x"},
            {"login": "nobody", "password": secret},
            {"login": "ada", "password": secret},
        ):
            await http.post("/api/auth/login", json=body)
        await http.post(
            "/api/auth/signup", json=signup_body("ad", password=secret), headers=page(http)
        )
        await http.post("/api/auth/signup", json=signup_body("ada", secret), headers=page(http))

    with caplog.at_level(logging.DEBUG):
        serve(test, tmp_path)
    assert "wrong email/username or password" in caplog.text  # the log was captured
    assert secret not in caplog.text


# ---- the page ---------------------------------------------------------------------------------


def test_the_account_page_is_served_with_its_policy(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        r = await http.get("/account")
        html = await r.text()
        assert r.status == 200 and r.content_type == "text/html"
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        # never revalidated: a 304 would carry the non-page policy (see auth.account_page)
        assert r.headers["Cache-Control"] == "no-store"
        assert '<script type="module" src="/static/account.js">' in html
        assert "<style" not in html and " style=" not in html and "onclick" not in html
        for name in ("account.js", "account.css", "whoami.js"):
            assert (await http.get(f"/static/{name}")).status == 200, name

    serve(test, tmp_path)
