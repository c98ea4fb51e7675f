"""The database never holds a password, a session token or an API token in clear: the test
signs up, signs in, makes and uses a token, then reads the database file's bytes (and its
write-ahead log) and looks for each secret."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.api.accounts import SAME_ORIGIN, serve, session_cookie, signup, signup_body
from webapi.accounts.tokens import digest

PASSWORD = "Quokka-Sunrise-4471"


def files_of(db: Path) -> bytes:
    """The database, its WAL and shared-memory index, as one blob of bytes."""
    parts = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def forms(secret: str) -> list[bytes]:
    """The ways a secret could sit in a file: UTF-8, UTF-16 (either order), hex."""
    return [
        secret.encode(),
        secret.encode("utf-16-le"),
        secret.encode("utf-16-be"),
        secret.encode().hex().encode(),
    ]


def test_the_database_holds_no_secret_in_clear(tmp_path: Path) -> None:
    secrets: list[str] = [PASSWORD]
    digests: list[str] = []
    db = tmp_path / "t.db"

    async def test(http: TestClient, app: web.Application) -> None:
        await signup(http, "ada", password=PASSWORD)
        secrets.append(session_cookie(http) or "")
        r = await http.post("/api/auth/login", json={"login": "ada", "password": PASSWORD})
        assert r.status == 200
        secrets.append(session_cookie(http) or "")
        r = await http.post("/api/tokens", json={"name": "obs"}, headers=SAME_ORIGIN)
        token = (await r.json())["token"]
        secrets.append(token)
        assert (await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})).ok
        # a failed sign-up and sign-in with other passwords leave nothing either
        other = "Otter-Moonrise-9313"
        secrets.append(other)
        await http.post("/api/auth/signup", json=signup_body("ada", other), headers=SAME_ORIGIN)
        await http.post("/api/auth/login", json={"login": "ada", "password": other})
        assert all(secrets) and len(set(secrets)) == len(secrets)
        digests.extend(digest(s) for s in secrets[2:4])  # the live session, the token
        # while the server runs: the new rows are in the WAL
        check(files_of(db), secrets, digests)

    serve(test, tmp_path)
    check(files_of(db), secrets, digests)  # and after the store closed


def check(blob: bytes, secrets: list[str], digests: list[str]) -> None:
    assert b"$argon2id$" in blob  # the password's hash is there: this is the right file
    for d in digests:  # so are the tokens' digests (sessions, API token)
        assert d.encode() in blob
    for secret in secrets:
        for form in forms(secret):
            assert form not in blob, f"a secret ({secret[:4]}...) is stored in clear"
