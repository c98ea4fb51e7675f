"""A `digigami serve` killed with SIGKILL in the middle of a burst of writes from several
concurrent clients loses nothing it answered 2xx, the file passes `PRAGMA integrity_check`,
and the server starts again on it and serves what was saved."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.store import http
from tests.store.rows import dump, pragma

pytestmark = pytest.mark.slow

# each signs up new users one after another (argon2: slow on purpose), until the server's
# per-address sign-up limit (webapi/accounts/ratelimit.py) answers 429
SIGNUP_CLIENTS = 3
AVATAR_CLIENTS = 5  # each a signed-in page creating avatars as fast as it is answered
KILL_AFTER = 120  # answered writes before the kill (both kinds)
BURST_TIMEOUT_S = 120.0


class Burst:
    """What the clients were answered 2xx, and the kill."""

    def __init__(self, base: str, pid: int) -> None:
        self.base, self.pid = base, pid
        self.users: list[str] = []  # usernames answered 2xx
        self.avatars: dict[str, str] = {}  # avatar id -> its owner's username
        self.refused: dict[int, int] = {}  # non-2xx statuses (rate limits...) by count
        self.killed = asyncio.Event()
        self.in_flight_at_kill = 0
        self.in_flight = 0

    def answered(self) -> int:
        return len(self.users) + len(self.avatars)

    def maybe_kill(self) -> None:
        if not self.killed.is_set() and self.answered() >= KILL_AFTER and len(self.users) >= 4:
            self.in_flight_at_kill = self.in_flight
            os.kill(self.pid, signal.SIGKILL)
            self.killed.set()

    async def call(self, coro: Any) -> tuple[int, Any] | None:
        """One request; None when the server went away under it."""
        self.in_flight += 1
        try:
            return await coro
        except (TimeoutError, aiohttp.ClientError, ConnectionError):
            return None
        finally:
            self.in_flight -= 1

    def note(self, status: int) -> None:
        self.refused[status] = self.refused.get(status, 0) + 1


async def _signups(burst: Burst, client: int) -> None:
    # DummyCookieJar: each sign-up's session cookie is not kept (this client is no one)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
        n = 0
        while not burst.killed.is_set():
            name = f"burst_s{client}_{n}"
            n += 1
            answer = await burst.call(http.signup(s, burst.base, name))
            if answer is None:
                return
            status, body = answer
            if 200 <= status < 300:
                burst.users.append(name)
                burst.maybe_kill()
            else:
                burst.note(status)
                assert status == 429, f"sign-up of {name}: {status} {body}"
                return  # the per-address sign-up limit: the avatar clients go on


async def _avatars(burst: Burst, client: int) -> None:
    async with aiohttp.ClientSession(cookie_jar=http.jar()) as s:
        name = f"burst_a{client}"
        answer = await burst.call(http.signup(s, burst.base, name))
        if answer is None:
            return
        status, body = answer
        assert 200 <= status < 300, f"sign-up of {name}: {status} {body}"
        burst.users.append(name)
        n = 0
        while not burst.killed.is_set():
            answer = await burst.call(http.create_avatar(s, burst.base, n))
            n += 1
            if answer is None:
                return
            status, body = answer
            if 200 <= status < 300:
                avatar_id = http.id_of(body)
                assert avatar_id, f"POST /api/avatars answered {status} without an id: {body}"
                burst.avatars[avatar_id] = name
                burst.maybe_kill()
            else:
                burst.note(status)
                assert status != 404, f"POST /api/avatars: {status} {body}"
                await asyncio.sleep(0.05)


async def _run_burst(base: str, pid: int) -> Burst:
    burst = Burst(base, pid)
    clients = [_signups(burst, c) for c in range(SIGNUP_CLIENTS)]
    clients += [_avatars(burst, c) for c in range(AVATAR_CLIENTS)]
    await asyncio.wait_for(asyncio.gather(*clients), BURST_TIMEOUT_S)
    return burst


def test_a_killed_server_loses_no_answered_write(serve, tmp_path: Path) -> None:
    db = tmp_path / "durable.db"
    server = serve("--db", str(db))
    burst = asyncio.run(_run_burst(server.url, server.pid))
    assert burst.killed.is_set(), f"the burst ended before the kill: {burst.refused}"
    assert server.proc is not None
    server.proc.wait(timeout=15)
    assert server.proc.returncode == -signal.SIGKILL
    assert len(burst.avatars) > 0 and len(burst.users) >= 4, burst.refused

    # the file as the killed process left it (its WAL is recovered by the first opener)
    assert pragma(db, "integrity_check") == [("ok",)]
    assert pragma(db, "foreign_key_check") == []
    rows = dump(db, ("users", "avatars"))
    users = {u["username"]: u["id"] for u in rows["users"]}
    lost_users = [u for u in burst.users if u not in users]
    assert lost_users == [], f"answered sign-ups missing after kill -9: {lost_users}"
    owners = {a["id"]: a["owner_id"] for a in rows["avatars"]}
    lost = [a for a in burst.avatars if a not in owners]
    assert lost == [], f"{len(lost)} answered avatar creates missing after kill -9: {lost[:5]}"
    assert all(owners[a] == users[u] for a, u in burst.avatars.items())
    print(
        f"killed with {burst.in_flight_at_kill} requests in flight after {len(burst.users)} "
        f"sign-ups and {len(burst.avatars)} avatar creates answered; refused: {burst.refused}"
    )

    # the server starts again on the same file and serves what was saved
    again = serve("--db", str(db))
    assert again.health()
    owner = next(iter(burst.avatars.values()))
    mine = sorted(a for a, u in burst.avatars.items() if u == owner)
    listed = asyncio.run(_login_and_list(again.url, owner))
    assert set(mine) <= set(listed)


async def _login_and_list(base: str, username: str) -> list[str]:
    async with aiohttp.ClientSession(cookie_jar=http.jar()) as s:
        async with s.post(
            f"{base}/api/auth/login",
            json={"login": username, "password": http.PASSWORD},
            headers=http.page_headers(base),
        ) as r:
            assert r.status == 200, await r.text()
        async with s.get(f"{base}/api/avatars?limit=200") as r:
            assert r.status == 200, await r.text()
            body = await r.json()
    items = body if isinstance(body, list) else body.get("avatars", body.get("items", []))
    return [a["id"] for a in items]
