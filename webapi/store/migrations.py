"""The schema, as an ordered list of migrations. The database's `schema_version` table
records which have run; `migrate` runs the rest, each in its own transaction, so an old
database is upgraded in place and never rebuilt.

Rules for whoever adds one: append a new `(version, what, function)`; never edit or
reorder a migration that has shipped (databases out there ran it as it was); a migration
changes data as well as tables when it must (sqlite-utils' `transform` for column changes
SQLite's ALTER cannot do). Tables and columns follow the seed's data models; ids are
random 128-bit hex (`store.new_id`), times ISO 8601 UTC text (`store.now_iso`), JSON
columns hold text.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


def _v1(db: sqlite_utils.Database) -> None:
    """Accounts (users, browser sessions, API tokens), saved avatars and custom animations."""
    db["users"].create(
        {
            "id": str,
            "email": str,  # as given
            "email_key": str,  # lower-cased: unique, case-insensitive
            "username": str,
            "username_key": str,
            "password_hash": str,  # argon2id; the password itself is never stored
            "created_at": str,
        },
        pk="id",
        not_null={"email", "email_key", "username", "username_key", "password_hash"},
    )
    db["users"].create_index(["email_key"], unique=True)
    db["users"].create_index(["username_key"], unique=True)
    db["sessions"].create(
        {
            "token_hash": str,  # sha256 of the cookie's token; the token is never stored
            "user_id": str,
            "created_at": str,
            "expires_at": str,
            "last_seen_at": str,
        },
        pk="token_hash",
        not_null={"user_id", "expires_at"},
        foreign_keys=[("user_id", "users", "id")],
    )
    db["sessions"].create_index(["user_id"])
    db["api_tokens"].create(
        {
            "id": str,
            "user_id": str,
            "name": str,
            "token_hash": str,
            "created_at": str,
            "last_used_at": str,
            "revoked_at": str,
        },
        pk="id",
        not_null={"user_id", "token_hash"},
        foreign_keys=[("user_id", "users", "id")],
    )
    db["api_tokens"].create_index(["token_hash"], unique=True)
    db["api_tokens"].create_index(["user_id"])
    db["avatars"].create(
        {
            "id": str,
            "owner_id": str,  # a user; NULL while a guest's
            "guest_id": str,  # the guest cookie's id, until an account claims it
            "name": str,
            "rig": str,
            "source": str,  # "rig": the bundled rig customized; "generated": a photo's face
            "generation_id": str,  # the generated face's id (webapi avatar files)
            "customizations": str,  # JSON: what the engine applies (docs/API.md)
            "is_public": int,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"name", "rig", "source", "customizations", "is_public"},
        defaults={"is_public": 0, "customizations": "{}"},
        foreign_keys=[("owner_id", "users", "id")],
    )
    db["avatars"].create_index(["owner_id", "created_at"])
    db["avatars"].create_index(["guest_id"])
    db["animations"].create(
        {
            "id": str,
            "owner_id": str,
            "rig": str,
            "name": str,
            "definition": str,  # JSON in the engine's clip format
            "size_bytes": int,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"owner_id", "rig", "name", "definition"},
        foreign_keys=[("owner_id", "users", "id")],
    )
    db["animations"].create_index(["owner_id", "rig"])


def _v2(db: sqlite_utils.Database) -> None:
    """Live puppet sessions kept across reloads and restarts (webapi/store/sessions.py):
    the hash of each id's token, when it expires (wall-clock seconds), and its look."""
    db["live_sessions"].create(
        {
            "id": str,  # the session id (streaming/idents.py)
            "token_hash": str,  # sha256 of its token, hex; the token is never stored
            "expires_at": float,  # unix seconds
            "state": str,  # JSON: streaming/persist.py `snapshot`
            "updated_at": str,
        },
        pk="id",
        not_null={"token_hash", "expires_at"},
    )
    db["live_sessions"].create_index(["expires_at"])


def _v3(db: sqlite_utils.Database) -> None:
    """VTube Studio API plugins the streamer allowed (webapi/vts_tokens.py): the hash of
    each plugin's token, the session it was allowed on and the account signed in there."""
    db["vts_plugins"].create(
        {
            "id": str,
            "token_hash": str,  # sha256 of the plugin's token, hex; the token is never stored
            "plugin_name": str,
            "plugin_developer": str,
            "session_id": str,  # the live session (streaming/idents.py) it drives
            "user_id": str,  # the account signed in on that page, if any
            "created_at": str,
            "last_used_at": str,
        },
        pk="id",
        not_null={"token_hash", "plugin_name", "plugin_developer", "session_id"},
    )
    db["vts_plugins"].create_index(["token_hash"], unique=True)
    db["vts_plugins"].create_index(["session_id"])
    db["vts_plugins"].create_index(["user_id"])


Migration = tuple[int, str, Callable[[sqlite_utils.Database], None]]

MIGRATIONS: list[Migration] = [
    (1, "users, sessions, API tokens, avatars, animations", _v1),
    (2, "live sessions' ids and looks", _v2),
    (3, "VTube Studio API plugins", _v3),
]


def latest() -> int:
    return MIGRATIONS[-1][0]


def current(db: sqlite_utils.Database) -> int:
    if "schema_version" not in db.table_names():
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(db: sqlite_utils.Database, upto: int | None = None) -> int:
    """Run every migration newer than the database's version (up to `upto`, for tests that
    make an old database); returns the version it is at. The connection must be in
    autocommit mode (the store's writer connection is): each migration is one transaction."""
    from webapi.store.database import SchemaError, now_iso

    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_version "
        "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    have = current(db)
    if have > latest():
        raise SchemaError(
            f"the database is at schema version {have}, newer than this Digigami knows "
            f"({latest()}): upgrade Digigami, or use a backup made by this version"
        )
    target = latest() if upto is None else upto
    conn = db.conn
    for version, what, apply in MIGRATIONS:
        if version <= have or version > target:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            apply(db)
            conn.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (version, what, now_iso()),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        have = version
    return have
