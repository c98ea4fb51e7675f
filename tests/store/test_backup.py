"""Backups of a live database: SQLite's online backup while writes go on is a consistent
database (every transaction in it whole, or not at all), and `digigami backup` copies a
running server's file."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from pathlib import Path

import aiohttp
import pytest
import sqlite_utils

from tests.e2e.conftest import digigami
from tests.store import http
from tests.store.rows import avatar, dump, pragma, user
from webapi.store import Store
from webapi.store.database import backup

WRITERS = 6


def _pair(i: int):
    """One transaction writing two tables: a user and the avatar they own."""

    def write(db: sqlite_utils.Database) -> None:
        u = user(f"u{i}")
        db["users"].insert(u)
        db["avatars"].insert(avatar(u["id"], f"avatar {i}"))

    return write


def check_copy(path: Path) -> int:
    """The copy opens, is intact, and holds whole transactions only; its user count."""
    assert pragma(path, "integrity_check") == [("ok",)]
    assert pragma(path, "foreign_key_check") == []
    assert pragma(path, "journal_mode") == [("delete",)]  # one self-contained file
    rows = dump(path, ("users", "avatars"))
    owners = sorted(a["owner_id"] for a in rows["avatars"])
    assert owners == sorted(u["id"] for u in rows["users"])  # no half of a pair
    return len(rows["users"])


@pytest.mark.parametrize("how", ["store", "file"])
def test_a_backup_during_a_burst_of_writes_is_consistent(tmp_path: Path, how: str) -> None:
    """`Store.backup`, and `backup(file)` from its own connection as `digigami backup` does,
    each taken several times while writers keep the one writer busy."""
    store = Store(tmp_path / "live.db").open()
    stop = threading.Event()
    made = [0]

    async def burst() -> None:
        async def writer(w: int) -> None:
            i = 0
            while not stop.is_set():
                await store.write(_pair(w * 1_000_000 + i))
                made[0] += 1
                i += 1

        await asyncio.gather(*(writer(w) for w in range(WRITERS)))

    loop_thread = threading.Thread(target=asyncio.run, args=(burst(),))
    loop_thread.start()
    copies: list[tuple[int, int, int]] = []
    try:
        while made[0] < 200:
            stop.wait(0.01)
        for n in range(5):
            target = tmp_path / f"copy{n}.db"
            low = made[0]
            written = store.backup(target) if how == "store" else backup(store.path, target)
            copies.append((low, check_copy(written), made[0]))
            stop.wait(0.05)
    finally:
        stop.set()
        loop_thread.join(timeout=30)
        store.close()
    for low, users, high in copies:
        # a snapshot from within the call: at least what had returned before it, at most
        # what had been written when it returned (plus the writes still in flight)
        assert low <= users <= high + WRITERS, copies
    assert copies[-1][1] > copies[0][1] > 0  # writes went on between the copies
    final = dump(store.path, ("users",))["users"]
    assert len(final) == made[0]


def test_a_backup_replaces_the_target_whole(tmp_path: Path) -> None:
    store = Store(tmp_path / "live.db").open()
    try:
        store.write_now(_pair(1))
        target = tmp_path / "copy.db"
        target.write_text("yesterday's junk")
        store.backup(target)
        assert check_copy(target) == 1
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    finally:
        store.close()


@pytest.mark.slow
def test_digigami_backup_copies_a_running_servers_database(serve, tmp_path: Path) -> None:
    """`digigami backup` (its own process) beside `digigami serve` on the same file, while
    signed-in clients keep creating avatars over HTTP: the copy is intact, holds the users
    and every avatar answered before the backup began, and the server goes on serving."""
    db = tmp_path / "served.db"
    server = serve("--db", str(db))
    target = tmp_path / "copies" / "digigami-backup.db"
    before, done = asyncio.run(_backup_during_burst(server.url, db, target))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("digigami: backed up ") and str(target) in done.stdout
    assert pragma(target, "integrity_check") == [("ok",)]
    assert pragma(target, "journal_mode") == [("delete",)]
    rows = dump(target, ("users", "avatars"))
    assert {f"backup_user_{c}" for c in range(CLIENTS)} <= {u["username"] for u in rows["users"]}
    copied = {a["id"] for a in rows["avatars"]}
    assert before and set(before) <= copied, f"{len(set(before) - copied)} answered avatars missing"
    assert server.health()  # still serving
    assert server.proc is not None and server.proc.poll() is None


CLIENTS = 4


async def _backup_during_burst(
    base: str, db: Path, target: Path
) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    """Avatar creates from CLIENTS signed-in clients; once some are answered, `digigami
    backup` runs while they go on. (ids answered before it started, its result)"""
    answered: list[str] = []
    stop = asyncio.Event()

    async def client(c: int) -> None:
        async with aiohttp.ClientSession(cookie_jar=http.jar()) as s:
            status, body = await http.signup(s, base, f"backup_user_{c}")
            assert status == 201, (status, body)
            n = 0
            while not stop.is_set():
                status, body = await http.create_avatar(s, base, n)
                assert status == 201, (status, body)
                answered.append(http.id_of(body) or "")
                n += 1

    async def backup_midway() -> tuple[list[str], subprocess.CompletedProcess[str]]:
        try:
            while len(answered) < 40:
                await asyncio.sleep(0.02)
            before = list(answered)
            proc = await asyncio.create_subprocess_exec(
                *digigami(), "backup", str(target), "--db", str(db),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(proc.communicate(), 120)
            assert len(answered) > len(before)  # the writes went on meanwhile
            args = ["digigami", "backup"]
            return before, subprocess.CompletedProcess(
                args, proc.returncode, out.decode(), err.decode()
            )
        finally:
            stop.set()

    results = await asyncio.gather(backup_midway(), *(client(c) for c in range(CLIENTS)))
    return results[0]
