"""Issue 12, stored avatars: a quota per guest, unclaimed guest avatars expire (claimed ones
never), and what a killed save leaves (`.tmp-*`) is removed at start-up."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import numpy as np
import pytest

from tests.security.server import Server
from tests.security.test_generation_queue import (
    FakeEngine,
    Peer,
    Served,
    app_with,
    drain,
    guest,
    receive,
    request,
)
from tests.webapi.images import astronaut_jpeg, data_url
from webapi import generate
from webapi.library.files import AvatarStore
from webapi.limits import StorageQuota


@pytest.fixture
def fake(monkeypatch) -> FakeEngine:
    engine = FakeEngine()
    engine.everything.set()
    monkeypatch.setattr(generate, "_engine", lambda: engine)
    return engine


def avatar() -> SimpleNamespace:
    rgb = np.zeros((64, 64, 3), np.uint8)
    return SimpleNamespace(outputs={"full": rgb}, landmarks=np.zeros((478, 2)), metadata={})


def age(store: AvatarStore, avatar_id: str, seconds: float) -> None:
    """Make a stored avatar `seconds` old, as if it had been saved then."""
    path = store.root / avatar_id / "metadata.json"
    record = json.loads(path.read_text())
    record["createdAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds))
    path.write_text(json.dumps(record))


# ---- the quota ------------------------------------------------------------------------------


def test_a_guest_over_its_quota_is_refused_and_others_are_not(tmp_path, fake) -> None:
    async def test(server: Served) -> None:
        first, second = Peer(server, guest(1)), Peer(server, guest(2))
        try:
            a = await first.ws()
            for n in range(2):
                await a.send_json(request(10 + n, f"ok{n}"))
                assert (await drain(a, 1))[0]["success"] is True
            await a.send_json(request(12, "over"))
            refused = (await drain(a, 1))[0]
            assert refused["success"] is False
            assert "storage quota reached: at most 2 avatars" in refused["error"], refused
            assert "deleted 3 days after" in refused["error"]
            b = await second.ws()
            await b.send_json(request(20))
            assert (await drain(b, 1))[0]["success"] is True
        finally:
            await first.close()
            await second.close()

    async def rest(server: Served) -> None:
        cookie = {"Cookie": f"digigami_guest={guest(1)}"}
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            resp = await http.post(server.make_url("/api/generate"), headers=cookie,
                                   json={**request(13), "type": None})  # fmt: skip
            assert resp.status == 429 and "storage quota reached" in (await resp.json())["error"]

    limits = {"guest_quota": StorageQuota(avatars=2), "guest_max_age_s": 3 * 86400.0}
    app = app_with(tmp_path, **limits)

    async def both(server: Served) -> None:
        await test(server)
        await rest(server)

    asyncio.run(asyncio.wait_for(_serve(app, both), 60))
    owners = [json.loads((p / "metadata.json").read_text())["owner"] for p in tmp_path.iterdir()]
    assert sorted(owners) == [f"guest:{guest(1)}"] * 2 + [f"guest:{guest(2)}"]


async def _serve(app, test) -> None:
    async with Served(app) as server:
        await test(server)


def test_the_guest_cookie_is_set_httponly_and_lax(tmp_path, fake) -> None:
    async def test(server: Served) -> None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            resp = await http.get(server.make_url("/create"))
            cookie = resp.cookies["digigami_guest"]
            assert len(cookie.value) == 32 and cookie["httponly"] and cookie["samesite"] == "Lax"
            async with http.ws_connect(server.make_url("/ws"),
                                       headers={"Cookie": f"digigami_guest={cookie.value}"}) as ws:  # fmt: skip
                await ws.send_json(request(9, "mine"))
                result = (await drain(ws, 1))[0]
        record = json.loads((tmp_path / result["avatarId"] / "metadata.json").read_text())
        assert record["owner"] == f"guest:{cookie.value}"

    asyncio.run(asyncio.wait_for(_serve(app_with(tmp_path), test), 60))


# ---- expiry and claims ----------------------------------------------------------------------


def test_expiry_deletes_old_unclaimed_avatars_and_never_a_claimed_one(tmp_path) -> None:
    store = AvatarStore(tmp_path)
    old, claimed, fresh = (store.save(avatar(), owner="guest:" + "a" * 32) for _ in range(3))
    for saved in (old, claimed):
        age(store, saved.id, 10 * 86400)
    store = AvatarStore(tmp_path)  # read back from disk, as after a restart
    assert store.usage("guest:" + "a" * 32)[0] == 3
    assert store.claim(claimed.id, "account:42") is True
    assert store.claim("0123456789abcdef", "account:42") is False
    assert store.expire(7 * 86400) == [old.id]
    assert store.get(old.id) is None and store.file(old.id, "full") is None
    assert store.get(claimed.id)["claimed"]["owner"] == "account:42"
    assert store.get(fresh.id) is not None
    # a claimed avatar survives any age, and counts against its new owner only
    assert store.expire(0, now=time.time() + 100 * 365 * 86400) == [fresh.id]
    assert store.get(claimed.id) is not None
    assert store.usage("account:42") == (1, store.usage("account:42")[1])
    assert store.usage("guest:" + "a" * 32) == (0, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [claimed.id]


def test_the_server_expires_old_avatars_at_start_up(tmp_path, fake) -> None:
    store = AvatarStore(tmp_path)
    old, claimed, fresh = (store.save(avatar(), owner="guest:" + "b" * 32) for _ in range(3))
    for saved in (old, claimed):
        age(store, saved.id, 2 * 3600)
    store.claim(claimed.id, "account:7")

    async def test(server: Served) -> None:
        for _ in range(500):
            if not (tmp_path / old.id).exists():
                break
            await asyncio.sleep(0.02)

    asyncio.run(asyncio.wait_for(_serve(app_with(tmp_path, guest_max_age_s=3600.0), test), 60))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([claimed.id, fresh.id])


# ---- a save killed half-way ------------------------------------------------------------------


def plant_half_save(root: Path) -> Path:
    """What a save killed half-way leaves: a `.tmp-*` folder with a partial PNG."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / ".tmp-0123456789abcdef-dead"
    tmp.mkdir()
    (tmp / "full.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)  # cut off
    return tmp


def test_opening_the_store_removes_half_saves(tmp_path) -> None:
    tmp = plant_half_save(tmp_path)
    kept = AvatarStore(tmp_path).save(avatar())
    AvatarStore(tmp_path)
    assert not tmp.exists()
    assert [p.name for p in tmp_path.iterdir()] == [kept.id]


def test_half_saves_are_gone_after_kill_9_and_a_restart(serve: Callable[..., Server]) -> None:
    pytest.importorskip(
        "engine.style", reason="engine.style (the style transfer engine) is not installed"
    )
    first = serve()

    async def generate_and_kill() -> str:
        """A real generation, the server killed with SIGKILL as it saves; what it left."""
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{first.url}/ws") as ws:
            await ws.send_json(
                {**request(0, "k"), "image": data_url(astronaut_jpeg(), "image/jpeg")}
            )
            while True:
                msg = await receive(ws, 120)
                assert msg["type"] == "progress", msg
                if msg["stage"] == "saving":
                    break
            for _ in range(2000):  # the temporary folder appears, then we kill
                if first.avatars.is_dir() and any(
                    p.name.startswith(".tmp-") for p in first.avatars.iterdir()
                ):
                    break
                await asyncio.sleep(0.0005)
            first.kill()  # SIGKILL: no clean-up of any kind runs
            return (
                ", ".join(p.name for p in first.avatars.iterdir()) if first.avatars.is_dir() else ""
            )

    print("left by the kill:", asyncio.run(asyncio.wait_for(generate_and_kill(), 180)))
    assert first.proc is not None and first.proc.returncode == -9
    planted = plant_half_save(first.avatars)  # certain, whatever the race above left
    second = serve(env={"DIGIGAMI_AVATAR_DIR": str(first.avatars)})
    assert second.health()
    left = [p.name for p in first.avatars.iterdir() if p.name.startswith((".tmp-", ".del-"))]
    assert left == [] and not planted.exists(), left
    for folder in first.avatars.iterdir():  # whatever finished before the kill is whole
        assert (folder / "metadata.json").is_file(), folder
