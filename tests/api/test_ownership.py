"""Issue 13, ownership of saved avatars: for GET, PATCH, DELETE and export a second user gets
on the first user's private avatar exactly the answer a missing id gets (status and message,
once the id is the same), and nothing changes; a public avatar is readable by anyone (signed
in or not) but changed by its owner only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.test_avatars_api import call, created, serve, sign_up
from webapi.app import STORE

MISSING = "0123456789abcdef0123456789abcdef"  # the shape of an id, never issued


def _same_answer(foreign: tuple[int, Any], missing: tuple[int, Any], aid: str) -> None:
    """A foreign private id and a missing one cannot be told apart: the status and the
    message, with the id swapped."""
    assert foreign[0] == missing[0] == 404, (foreign, missing)
    assert foreign[1] == {"error": f'no avatar "{aid}"'}, foreign
    assert missing[1] == {"error": f'no avatar "{MISSING}"'}, missing
    assert set(foreign[1]) == set(missing[1])


def test_another_users_private_avatar_is_answered_as_a_missing_one(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        alice, bob = await sign_up(http, "alice"), await sign_up(http, "bob")
        secret = await created(http, alice, name="Secret", customizations={"library": "winter"})
        aid = secret["id"]
        requests = [
            ("GET", "", None),
            ("PATCH", "", {"name": "Stolen", "is_public": True}),
            ("DELETE", "", None),
            ("POST", "/export", {"formats": ["png"], "size": 32}),
        ]
        for who in (bob, None):  # another user, and nobody at all
            for method, tail, body in requests:
                foreign = await call(http, method, f"/api/avatars/{aid}{tail}", who, body)
                missing = await call(http, method, f"/api/avatars/{MISSING}{tail}", who, body)
                _same_answer(foreign, missing, aid)
        # nothing changed, nothing was deleted, bob's list does not show it
        status, got = await call(http, "GET", f"/api/avatars/{aid}", alice)
        assert status == 200 and got == secret
        status, page = await call(http, "GET", "/api/avatars", bob)
        assert page["avatars"] == []
        # its owner still gets the real answers (an export job)
        body = {"formats": ["png"], "size": 32}
        status, job = await call(http, "POST", f"/api/avatars/{aid}/export", alice, body)
        assert status == 202, job

    serve(tmp_path, test)


def test_a_public_avatar_is_readable_by_anyone_but_not_writable(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        alice, bob = await sign_up(http, "alice"), await sign_up(http, "bob")
        shown = await created(http, alice, name="Shown", is_public=True)
        aid = shown["id"]
        for who in (bob, None):
            status, got = await call(http, "GET", f"/api/avatars/{aid}", who)
            assert status == 200 and got["name"] == "Shown" and got["mine"] is False
            status, answer = await call(http, "PATCH", f"/api/avatars/{aid}", who, {"name": "X"})
            assert status == 403 and "only its owner" in answer["error"], answer
            status, answer = await call(http, "DELETE", f"/api/avatars/{aid}", who)
            assert status == 403, answer
        # a copy for bob is not a way in: the saved row stays alice's
        rows = http.app[STORE].read_now(
            lambda db: list(db.execute("SELECT name, owner_id FROM avatars").fetchall())
        )
        assert len(rows) == 1 and rows[0][0] == "Shown"
        # made private again, it vanishes for bob as if it never was
        await call(http, "PATCH", f"/api/avatars/{aid}", alice, {"is_public": False})
        foreign = await call(http, "GET", f"/api/avatars/{aid}", bob)
        missing = await call(http, "GET", f"/api/avatars/{MISSING}", bob)
        _same_answer(foreign, missing, aid)

    serve(tmp_path, test)


def test_a_guests_avatars_are_that_guests_only(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        alice = await sign_up(http, "alice")
        guest_a = {"Cookie": "digigami_guest=" + "a" * 32}
        guest_b = {"Cookie": "digigami_guest=" + "b" * 32}
        mine = await created(http, guest_a, name="Guest's")
        assert mine["mine"] is True
        for who in (guest_b, alice):
            foreign = await call(http, "GET", f"/api/avatars/{mine['id']}", who)
            missing = await call(http, "GET", f"/api/avatars/{MISSING}", who)
            _same_answer(foreign, missing, mine["id"])
        status, page = await call(http, "GET", "/api/avatars", guest_a)
        assert status == 200
        assert [a["id"] for a in page["avatars"]] == [mine["id"]]

    serve(tmp_path, test)
