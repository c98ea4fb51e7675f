"""`Store`: one SQLite file, one writer, many readers, nothing on the event loop.

SQLite allows one writer at a time; rather than let request handlers fight for the write
lock (SQLITE_BUSY under load), every write goes through one thread that owns the only
writing connection and runs queued functions in order, each in its own transaction
(`write`). Reads run on a small pool of threads, each with its own read-only connection
(`read`); WAL mode lets them read while the writer writes. Both return awaitables, so a
handler never blocks the event loop on disk.

Durability: WAL with `synchronous=NORMAL`. A transaction that returned is in the WAL file,
so a killed process (kill -9) loses nothing it answered; only a power loss can drop the last
transactions (never corrupt the file). `backup` makes a consistent copy of a live database
with SQLite's online backup API.
"""

from __future__ import annotations

import asyncio
import os
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from webapi.store import migrations

T = TypeVar("T")

READERS = 4  # read connections (threads); reads are short, and the machine has few cores
BUSY_TIMEOUT_MS = 5000  # a reader or `backup` waiting on a checkpoint


class SchemaError(RuntimeError):
    """The database file cannot be used by this version (newer schema, not our file)."""


def default_path() -> Path:
    """`$DIGIGAMI_DB`, else the checkout's git-ignored `out/digigami.db`."""
    env = os.environ.get("DIGIGAMI_DB")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "out" / "digigami.db"


def new_id() -> str:
    """A random, unguessable 128-bit id (32 hex digits)."""
    return secrets.token_hex(16)


def now_iso() -> str:
    """UTC now as ISO 8601 with milliseconds: sorts as text."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class Store:
    """The database at `path` (created and migrated by `open`)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._writes: queue.Queue[tuple[Callable[[sqlite_utils.Database], Any], Future] | None]
        self._writes = queue.Queue()
        self._writer: threading.Thread | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.schema_version = 0
        # Committed writes so far (bumped before the writer answers): a reader caching a
        # derived answer (an encoded list) keys it by this, so any write since makes it stale.
        self.commits = 0

    # --- life -----------------------------------------------------------------------------

    def open(self) -> Store:
        """Create the file if needed, migrate it to the current schema, start the writer.
        Blocking (call it off the event loop: `start`). SchemaError for a file this version
        cannot use."""
        if self._writer is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(self.path, readonly=False)
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise SchemaError(f"cannot switch to WAL mode (got {mode})")
            conn.execute("PRAGMA synchronous = NORMAL")
            self.schema_version = migrations.migrate(sqlite_utils.Database(conn))
        except sqlite3.DatabaseError as e:
            conn.close()
            raise SchemaError(f"{self.path} is not a usable SQLite database: {e}") from None
        except SchemaError as e:  # the migrations' own refusal: say which file
            conn.close()
            raise SchemaError(f"{self.path}: {e}") from None
        except BaseException:
            conn.close()
            raise
        self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="store-read")
        self._writer = threading.Thread(
            target=self._write_loop, args=(conn,), name="store-writer", daemon=True
        )
        self._writer.start()
        return self

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.open)

    def close(self) -> None:
        """Finish the queued writes, then close every connection."""
        if self._writer is not None:
            self._writes.put(None)
            self._writer.join()
            self._writer = None
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        with self._lock:
            for c in self._read_conns:
                c.close()
            self._read_conns.clear()

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    # --- writing ----------------------------------------------------------------------------

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        db = sqlite_utils.Database(conn)
        try:
            while (item := self._writes.get()) is not None:
                fn, fut = item
                if not fut.set_running_or_notify_cancel():
                    continue
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        result = fn(db)
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                    self.commits += 1
                except BaseException as e:  # the caller gets it; the writer goes on
                    fut.set_exception(e)
                else:
                    fut.set_result(result)
        finally:
            conn.close()

    def submit_write(self, fn: Callable[[sqlite_utils.Database], T]) -> Future[T]:
        """Queue `fn(db)` to run in its own transaction on the writer thread (rolled back
        if it raises). The future has its result or its exception."""
        if self._writer is None:
            raise RuntimeError("Store.open() has not run (or the store is closed)")
        fut: Future[T] = Future()
        self._writes.put((fn, fut))
        return fut

    async def write(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """`fn(db)` in one transaction on the writer thread; its result (or exception)."""
        return await asyncio.wrap_future(self.submit_write(fn))

    def write_now(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """`write` for code without an event loop (the CLI, tests): waits for the result."""
        return self.submit_write(fn).result()

    # --- reading ----------------------------------------------------------------------------

    def _read_db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            conn = _connect(self.path, readonly=True)
            with self._lock:
                self._read_conns.append(conn)
            db = self._local.db = sqlite_utils.Database(conn)
        return db

    def read_now(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """`fn(db)` on a read-only connection of this thread (blocking)."""
        return fn(self._read_db())

    async def read(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """`fn(db)` on a reader thread's read-only connection: sees every write that
        returned before it was called."""
        if self._readers is None:
            raise RuntimeError("Store.open() has not run (or the store is closed)")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self.read_now, fn)

    # --- copies -----------------------------------------------------------------------------

    def backup(self, target: Path | str) -> Path:
        """A consistent copy of the database at `target` (a new file, replaced if present),
        taken with SQLite's online backup API while the store keeps serving. Blocking."""
        return backup(self.path, target)


def backup(source: Path | str, target: Path | str) -> Path:
    """A consistent copy of the database file `source` at `target` (replaced if present),
    without opening a `Store` (no writer, no migration: `digigami backup` runs beside a
    serving process). Blocking. SchemaError when `source` is missing or not a database;
    OSError when `target` cannot be written."""
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise SchemaError(f"no database at {source}")
    try:
        src = _connect(source, readonly=True)
        src.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # not a database: here
    except sqlite3.DatabaseError as e:
        raise SchemaError(f"{source} is not a usable SQLite database: {e}") from None
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(tmp)
        try:
            # One step: it reads in one transaction, so it sees one snapshot (WAL lets the
            # writer go on meanwhile). In several steps, a write by another process (the
            # server) restarts the copy, which under steady writes might never finish.
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            dst.close()
        os.replace(tmp, target)
    except sqlite3.DatabaseError as e:
        raise OSError(f"cannot write {target}: {e}") from None
    finally:
        src.close()
        if tmp.exists():
            tmp.unlink()
    return target
