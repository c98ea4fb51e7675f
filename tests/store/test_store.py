"""`Store`: every write on the one writer thread, in order and in its own transaction; a
failing write rolls back alone; reads see what returned, and do not wait for a long write
(WAL), nor does the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils

from tests.store.rows import avatar, pragma, user
from webapi.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "t.db").open()
    yield s
    s.close()


def _count(table: str):
    return lambda db: db.execute(f"SELECT COUNT(*) FROM [{table}]").fetchone()[0]


def test_the_file_is_in_wal_mode_and_migrated(store: Store) -> None:
    assert pragma(store.path, "journal_mode") == [("wal",)]
    assert store.schema_version >= 1
    assert {"users", "sessions", "api_tokens", "avatars", "animations"} <= set(
        store.read_now(lambda db: db.table_names())
    )


def test_concurrent_writes_are_serialized_on_one_thread(store: Store) -> None:
    """Read-modify-write with a pause in the middle: interleaved transactions would lose
    increments (or fail with SQLITE_BUSY); the one writer loses none."""
    ada = user("ada")
    store.write_now(lambda db: db["users"].insert(ada))
    store.write_now(lambda db: db["avatars"].insert(avatar(ada["id"], "0") | {"id": "counter"}))
    threads: set[str] = set()

    def increment(db: sqlite_utils.Database) -> int:
        threads.add(threading.current_thread().name)
        n = int(db["avatars"].get("counter")["name"])
        time.sleep(0.001)  # let any other would-be writer in
        db["avatars"].update("counter", {"name": str(n + 1)})
        db["avatars"].insert(avatar(ada["id"], f"step {n + 1}"))
        return n + 1

    async def burst() -> list[int]:
        return await asyncio.gather(*(store.write(increment) for _ in range(100)))

    from_loop = asyncio.run(burst())
    # and from plain threads (the CLI, tests): the same queue
    from_threads: list[int] = []
    workers = [
        threading.Thread(target=lambda: from_threads.append(store.write_now(increment)))
        for _ in range(20)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    assert sorted(from_loop + from_threads) == list(range(1, 121))
    assert from_loop == sorted(from_loop)  # queued in order, run in order
    assert store.read_now(lambda db: db["avatars"].get("counter")["name"]) == "120"
    assert store.read_now(_count("avatars")) == 121
    assert threads == {"store-writer"}


def test_a_failing_write_rolls_back_and_the_writer_goes_on(store: Store) -> None:
    ada, bob = user("ada"), user("bob")

    def half_then_fail(db: sqlite_utils.Database) -> None:
        db["users"].insert(ada)
        db["avatars"].insert(avatar(ada["id"], "never saved"))
        raise ValueError("the domain said no")

    async def run() -> None:
        with pytest.raises(ValueError, match="the domain said no"):
            await store.write(half_then_fail)
        # an SQL error (a unique index) fails just the same, without stopping the writer
        await store.write(lambda db: db["users"].insert(bob))
        dupe = user("bob") | {"id": "other"}
        with pytest.raises(Exception, match="UNIQUE"):
            await store.write(lambda db: db["users"].insert(dupe))
        await store.write(lambda db: db["avatars"].insert(avatar(bob["id"], "kept")))

    before = store.commits
    asyncio.run(run())
    assert store.commits == before + 2  # what a cache keys on: committed writes only
    assert store.read_now(lambda db: [r["username"] for r in db["users"].rows]) == ["bob"]
    assert store.read_now(lambda db: [r["name"] for r in db["avatars"].rows]) == ["kept"]


def test_reads_see_every_write_that_returned(store: Store) -> None:
    """On every reader thread (each has its own connection): a read issued after a write
    returned sees it."""
    ada = user("ada")
    store.write_now(lambda db: db["users"].insert(ada))

    async def run() -> list[tuple[int, int]]:
        seen = []
        for i in range(1, 61):
            await store.write(lambda db, i=i: db["avatars"].insert(avatar(ada["id"], str(i))))
            counts = await asyncio.gather(*(store.read(_count("avatars")) for _ in range(6)))
            seen.extend((i, c) for c in counts)
        return seen

    seen = asyncio.run(run())
    assert [c for _, c in seen] == [i for i, _ in seen]


def test_reads_and_the_loop_do_not_wait_for_a_long_write(store: Store) -> None:
    """A write holding its transaction open: reads answer meanwhile with the state before
    it (WAL), the event loop keeps running, and once it commits reads see it."""
    ada = user("ada")
    store.write_now(lambda db: db["users"].insert(ada))
    inside, release = threading.Event(), threading.Event()

    def long_write(db: sqlite_utils.Database) -> str:
        # a big transaction with a small page cache: its pages spill to disk before the
        # commit, which without WAL takes the exclusive lock and blocks every reader
        db.execute("PRAGMA cache_size = 20")
        db["avatars"].insert_all(
            avatar(ada["id"], f"slow one {i}") | {"customizations": "x" * 8000} for i in range(300)
        )
        inside.set()
        if not release.wait(timeout=30):  # never hang the run if the test fails
            raise TimeoutError("not released")
        return "done"

    async def run() -> None:
        pending = asyncio.ensure_future(store.write(long_write))
        await asyncio.get_running_loop().run_in_executor(None, inside.wait, 10)
        assert inside.is_set()
        ticks = 0
        for _ in range(20):  # the loop is free: it runs other tasks meanwhile
            await asyncio.sleep(0)
            ticks += 1
        # reads answer while the write is open (a bound, not a timing measurement: a read
        # blocked by the writer would wait for the 30 s release)
        counts = await asyncio.wait_for(
            asyncio.gather(*(store.read(_count("avatars")) for _ in range(8))), timeout=10
        )
        assert counts == [0] * 8 and not pending.done() and ticks == 20
        release.set()
        assert await pending == "done"
        assert await store.read(_count("avatars")) == 300

    try:
        asyncio.run(run())
    finally:
        release.set()


def test_writes_survive_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    s = Store(path).open()
    ada = user("ada")
    s.write_now(lambda db: db["users"].insert(ada))
    s.close()
    s = Store(path).open()
    try:
        assert s.read_now(lambda db: db["users"].get(ada["id"])["username"]) == "ada"
        assert pragma(path, "integrity_check") == [("ok",)]
    finally:
        s.close()
