"""Migrations: a database made by the first schema, with rows in every table, is upgraded
in place by opening a `Store` on it (same rows, latest version, intact); a database newer
than this code, or a file that is not a database, is refused and left as it was."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from tests.store.rows import V1_TABLES, dump, pragma, v1_rows
from webapi.store import SchemaError, Store, migrations


def make_old_database(path: Path, version: int = 1) -> dict[str, list[dict]]:
    """A file as Digigami at schema `version` left it (WAL mode, rows in every v1 table);
    returns what it holds."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        db = sqlite_utils.Database(conn)
        assert migrations.migrate(db, upto=version) == version
        conn.execute("BEGIN")
        for table, rows in v1_rows().items():
            db[table].insert_all(rows)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return dump(path)


def versions(path: Path) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
    finally:
        conn.close()


@pytest.mark.parametrize("start", range(1, migrations.latest() + 1))
def test_an_old_database_is_upgraded_in_place(tmp_path: Path, start: int) -> None:
    """Parametrized over every shipped version, so a migration added later is exercised
    from each older schema too (the first schema above all)."""
    path = tmp_path / "old.db"
    before = make_old_database(path, start)
    assert versions(path) == list(range(1, start + 1))
    inode = path.stat().st_ino

    store = Store(path).open()
    try:
        assert store.schema_version == migrations.latest()
        # the same rows, read back through the store's own readers
        after = store.read_now(
            lambda db: {
                t: [dict(r) for r in db.query(f"SELECT * FROM [{t}] ORDER BY rowid")]
                for t in V1_TABLES
            }
        )
    finally:
        store.close()

    for table in V1_TABLES:
        assert len(after[table]) == len(before[table]) > 0, table
        for old, new in zip(before[table], after[table], strict=True):
            # a later migration may add columns; none may change or drop what was there
            assert {k: new[k] for k in old} == old, table
    assert versions(path) == list(range(1, migrations.latest() + 1))
    assert path.stat().st_ino == inode  # in place, never rebuilt as a new file
    assert pragma(path, "integrity_check") == [("ok",)]
    assert pragma(path, "foreign_key_check") == []
    assert pragma(path, "journal_mode") == [("wal",)]


def test_opening_a_current_database_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    make_old_database(path, migrations.latest())
    before = dump(path, (*V1_TABLES, "schema_version"))
    Store(path).open().close()
    Store(path).open().close()
    assert dump(path, (*V1_TABLES, "schema_version")) == before


def test_a_database_newer_than_the_code_is_refused_naming_both_versions(
    tmp_path: Path,
) -> None:
    path = tmp_path / "future.db"
    make_old_database(path, migrations.latest())
    newer = migrations.latest() + 3
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT INTO schema_version VALUES (?, 'marketplace', '2099-01-01T00:00:00.000Z')",
            (newer,),
        )
    conn.close()
    before = dump(path, (*V1_TABLES, "schema_version"))

    with pytest.raises(SchemaError) as refused:
        Store(path).open()
    message = str(refused.value)
    assert f"schema version {newer}" in message and f"({migrations.latest()})" in message
    assert str(path) in message
    assert dump(path, (*V1_TABLES, "schema_version")) == before  # untouched


@pytest.mark.parametrize(
    "content",
    [b"name,email\nada,ada@example.com\n", b"SQLite format 3\x00" + b"\xff" * 4080],
    ids=["text", "corrupt-header"],
)
def test_a_file_that_is_not_a_database_is_refused_clearly(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(content)
    with pytest.raises(SchemaError, match="is not a usable SQLite database") as refused:
        Store(path).open()
    assert str(path) in str(refused.value)
    assert path.read_bytes() == content  # nothing written over it


def test_a_failing_migration_leaves_the_database_at_the_previous_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each migration is one transaction: a broken one rolls back whole, so the next start
    retries it on an intact database."""
    path = tmp_path / "t.db"
    make_old_database(path, migrations.latest())
    before = dump(path, (*V1_TABLES, "schema_version"))

    def broken(db: sqlite_utils.Database) -> None:
        db["users"].add_column("half_done", str)
        raise RuntimeError("migration bug")

    monkeypatch.setattr(
        migrations, "MIGRATIONS", [*migrations.MIGRATIONS, (migrations.latest() + 1, "x", broken)]
    )
    with pytest.raises(RuntimeError, match="migration bug"):
        Store(path).open()
    monkeypatch.undo()
    assert dump(path, (*V1_TABLES, "schema_version")) == before
    assert "half_done" not in {c[1] for c in pragma(path, "table_info(users)")}
    Store(path).open().close()
