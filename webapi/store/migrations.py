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


def _v4(db: sqlite_utils.Database) -> None:
    """The marketplace (webapi/market): listings and their full-text index, ratings,
    purchases, entitlements, the ledger (integer cents; balances are sums over it), Stripe
    events seen (each processed once), payouts, creators' Stripe Connect accounts and
    downloads. Money is never a float: amounts are integer cents (USD) or whole credits
    (DIGI, 1 credit = 1 US cent)."""
    db["creators"].create(
        {
            "user_id": str,
            "display_name": str,
            "connect_account_id": str,  # Stripe Connect account payouts go to (NULL: none yet)
            "created_at": str,
        },
        pk="user_id",
        not_null={"display_name"},
        foreign_keys=[("user_id", "users", "id")],
    )
    db["listings"].create(
        {
            "id": str,  # "m" + 20 hex digits (also a scene background's id when a background)
            "creator_id": str,
            "type": str,  # outfit accessory animation avatar style_pack background effect
            "name": str,
            "description": str,
            "tags": str,  # space-separated, lower case (what FTS indexes); JSON list in answers
            "price_cents": int,  # in `currency`'s smallest unit; 0 = free
            "currency": str,  # "usd" | "digi"
            "compatibility": str,  # JSON list of rig ids
            "status": str,  # "draft" | "published" | "unpublished"
            "manifest": str,  # JSON: the uploaded manifest as checked
            "content": str,  # JSON: what the engine needs (market/assets.py per type)
            "size_bytes": int,  # the stored files
            "builtin": int,  # 1: Digi's own items, listed by the Digigami creator at start
            "rating_count": int,
            "rating_sum": int,
            "rating_avg": float,  # rating_sum / rating_count, 0 without ratings
            "sales": int,  # paid purchases not refunded (popularity)
            "downloads": int,
            "created_at": str,
            "updated_at": str,
            "published_at": str,
        },
        pk="id",
        not_null={"creator_id", "type", "name", "price_cents", "currency", "status"},
        defaults={
            "description": "", "tags": "", "compatibility": "[]", "status": "draft",
            "manifest": "{}", "content": "{}", "size_bytes": 0, "builtin": 0,
            "rating_count": 0, "rating_sum": 0, "rating_avg": 0.0, "sales": 0, "downloads": 0,
        },
        foreign_keys=[("creator_id", "users", "id")],
    )  # fmt: skip
    db["listings"].create_index(["status", "published_at", "id"])
    db["listings"].create_index(["status", "price_cents", "id"])
    db["listings"].create_index(["status", "sales", "id"])
    db["listings"].create_index(["status", "rating_avg", "id"])
    db["listings"].create_index(["creator_id", "created_at"])
    # external content: the index follows the table through sqlite-utils' triggers, keyed by
    # the listings' implicit rowids. VACUUM may renumber those: anyone who adds one must
    # rebuild the index after it (INSERT INTO listings_fts(listings_fts) VALUES('rebuild'))
    db["listings"].enable_fts(
        ["name", "description", "tags"], create_triggers=True, tokenize="porter unicode61"
    )
    db["ratings"].create(
        {"listing_id": str, "user_id": str, "stars": int, "created_at": str, "updated_at": str},
        pk=("listing_id", "user_id"),
        not_null={"stars"},
        foreign_keys=[("listing_id", "listings", "id"), ("user_id", "users", "id")],
    )
    db["purchases"].create(
        {
            "id": str,
            "buyer_id": str,
            "kind": str,  # "asset" | "credits" (a pack of DIGI credits bought with USD)
            "listing_id": str,  # the asset bought (kind "asset")
            "credits": int,  # the credits a pack adds (kind "credits")
            "amount_cents": int,  # from our database, never from the client
            "currency": str,  # "usd" | "digi"
            "method": str,  # "free" | "card" | "credits"
            "status": str,  # "pending" | "paid" | "refunded" | "failed"
            "payment_intent_id": str,  # Stripe's, for card purchases
            "created_at": str,
            "paid_at": str,
            "refunded_at": str,
        },
        pk="id",
        not_null={"buyer_id", "kind", "amount_cents", "currency", "method", "status"},
        foreign_keys=[("buyer_id", "users", "id"), ("listing_id", "listings", "id")],
    )
    db["purchases"].create_index(["payment_intent_id"], unique=True)
    db["purchases"].create_index(["buyer_id", "created_at"])
    db["purchases"].create_index(["listing_id", "status"])
    db["entitlements"].create(
        {
            "user_id": str,
            "listing_id": str,
            "purchase_id": str,
            "granted_at": str,
            "revoked_at": str,  # a refund revokes; NULL while it is held
        },
        pk=("user_id", "listing_id"),
        not_null={"purchase_id", "granted_at"},
        foreign_keys=[
            ("user_id", "users", "id"), ("listing_id", "listings", "id"),
            ("purchase_id", "purchases", "id"),
        ],
    )  # fmt: skip
    db["ledger"].create(
        {
            "id": int,
            # "creator:<user id>", "platform", "tax_reserve", "credits:<user id>" (DIGI),
            # "payouts:<user id>" (paid out to a creator's Connect account)
            "account": str,
            "amount": int,  # signed: cents for "usd", credits for "digi"
            "currency": str,
            "kind": str,  # sale, refund, credit_pack, credit_spend, payout, payout_reversal
            "purchase_id": str,
            "payout_id": str,
            "listing_id": str,
            "created_at": str,
        },
        pk="id",
        not_null={"account", "amount", "currency", "kind", "created_at"},
    )
    db["ledger"].create_index(["account", "currency"])
    db["ledger"].create_index(["purchase_id"])
    db["ledger"].create_index(["listing_id", "created_at"])
    db["stripe_events"].create(
        {"id": str, "type": str, "received_at": str, "outcome": str},
        pk="id",
        not_null={"type", "received_at"},
    )
    db["payouts"].create(
        {
            "id": str,  # also the Stripe Transfer's idempotency key
            "creator_id": str,
            "request_key": str,  # the client's key for this request: one payout per key
            "amount_cents": int,
            "currency": str,
            "status": str,  # "pending" | "paid" | "failed"
            "transfer_id": str,
            "error": str,
            "created_at": str,
            "completed_at": str,
        },
        pk="id",
        not_null={"creator_id", "request_key", "amount_cents", "currency", "status"},
        foreign_keys=[("creator_id", "users", "id")],
    )
    db["payouts"].create_index(["creator_id", "request_key"], unique=True)
    db["downloads"].create(
        {"id": int, "listing_id": str, "user_id": str, "created_at": str},
        pk="id",
        not_null={"listing_id", "user_id", "created_at"},
    )
    db["downloads"].create_index(["listing_id", "created_at"])


Migration = tuple[int, str, Callable[[sqlite_utils.Database], None]]

MIGRATIONS: list[Migration] = [
    (1, "users, sessions, API tokens, avatars, animations", _v1),
    (2, "live sessions' ids and looks", _v2),
    (3, "VTube Studio API plugins", _v3),
    (4, "the marketplace: listings, search, purchases, ledger, payouts", _v4),
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
