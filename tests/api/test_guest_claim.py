"""A guest's avatars become the account's when that guest signs up or signs in: their rows
change owner (guest_id cleared) and their generated files are claimed, so the expiry of
guests' files never deletes them. Another guest's avatars stay where they are."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.api.accounts import PASSWORD, page, serve, signup, signup_body
from webapi.app import STORE
from webapi.generate import GENERATOR
from webapi.store import new_id, now_iso


def be_guest(http: TestClient) -> str:
    """Give the client a guest cookie (a page would); its id."""
    gid = secrets.token_hex(16)
    http.session.cookie_jar.update_cookies({"digigami_guest": gid}, response_url=http.make_url("/"))
    return gid


async def guest_avatar(app: web.Application, gid: str, *, generated: bool) -> dict[str, Any]:
    """A guest's saved avatar row (and, for a generated one, its files on disk)."""
    generation = None
    if generated:
        files = app[GENERATOR].store
        face = SimpleNamespace(
            outputs={"full": np.full((8, 8, 3), 200, np.uint8)}, landmarks=None, metadata={}
        )
        generation = files.save(face, owner=f"guest:{gid}").id
    row = {
        "id": new_id(),
        "owner_id": None,
        "guest_id": gid,
        "name": "mine",
        "rig": "digi",
        "source": "generated" if generated else "rig",
        "generation_id": generation,
        "customizations": "{}",
        "is_public": 0,
        "created_at": now_iso(),
        "updated_at": now_iso(),
    }
    await app[STORE].write(lambda db: db["avatars"].insert(row))
    return row


async def owners(app: web.Application) -> dict[str, tuple[str | None, str | None]]:
    rows = await app[STORE].read(
        lambda db: db.execute("SELECT id, owner_id, guest_id FROM avatars").fetchall()
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def file_record(app: web.Application, generation: str) -> dict[str, Any]:
    return json.loads((app[GENERATOR].store.root / generation / "metadata.json").read_text())


def test_signing_up_claims_the_guests_avatars_and_files(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        gid = be_guest(http)
        drawn = await guest_avatar(app, gid, generated=False)
        made = await guest_avatar(app, gid, generated=True)
        stranger = await guest_avatar(app, secrets.token_hex(16), generated=True)
        r = await http.post("/api/auth/signup", json=signup_body("ada"), headers=page(http))
        body = await r.json()
        assert r.status == 201 and body["claimed_avatars"] == 2
        uid = body["user"]["id"]
        now = await owners(app)
        assert now[drawn["id"]] == now[made["id"]] == (uid, None)
        assert now[stranger["id"]] == (None, stranger["guest_id"])
        record = file_record(app, made["generation_id"])
        assert record["owner"] == f"account:{uid}" and record["claimed"]["owner"] == record["owner"]
        assert file_record(app, stranger["generation_id"])["owner"].startswith("guest:")
        # expiry of guests' files spares the claimed one
        removed = app[GENERATOR].store.expire(0, now=10**12)
        assert stranger["generation_id"] in removed and made["generation_id"] not in removed

    serve(test, tmp_path)


def test_signing_in_claims_the_guests_avatars(tmp_path: Path) -> None:
    async def test(http: TestClient, app: web.Application) -> None:
        user = await signup(http, "ada")
        http.session.cookie_jar.clear()
        gid = be_guest(http)  # later, in another browser
        made = await guest_avatar(app, gid, generated=True)
        r = await http.post("/api/auth/login", json={"login": "ada", "password": PASSWORD})
        body = await r.json()
        assert r.status == 200 and body["claimed_avatars"] == 1
        assert (await owners(app))[made["id"]] == (user["id"], None)
        assert file_record(app, made["generation_id"])["owner"] == f"account:{user['id']}"
        # signing in again claims nothing more (and does not fail)
        r = await http.post("/api/auth/login", json={"login": "ada", "password": PASSWORD})
        assert (await r.json())["claimed_avatars"] == 0

    serve(test, tmp_path)


def test_an_avatar_saved_as_a_guest_is_listed_after_signing_up(tmp_path: Path) -> None:
    """Through the REST API only: save Digi as a guest, sign up, find it in the list."""

    async def test(http: TestClient, app: web.Application) -> None:
        be_guest(http)
        r = await http.post(
            "/api/avatars",
            json={"name": "winter Digi", "rig": "digi", "customizations": {"library": "winter"}},
            headers=page(http),
        )
        assert r.status == 201, await r.text()
        await signup(http, "ada")
        http.session.cookie_jar.clear()  # the account's list, without the guest cookie
        r = await http.post("/api/auth/login", json={"login": "ada", "password": PASSWORD})
        assert r.status == 200
        listed = await (await http.get("/api/avatars")).json()
        names = [a["name"] for a in listed["avatars"]] if isinstance(listed, dict) else []
        assert names == ["winter Digi"], listed

    serve(test, tmp_path)
