"""Browser sessions: a random token in an HttpOnly cookie; the `sessions` table keeps only
its digest. A session lives `LIFETIME_S` after it was last used (sliding: refreshed at most
once per `REFRESH_AFTER_S`, so a busy page does not write on every request); sign-out
deletes it, and an expired one is deleted when it is next presented."""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Any

from webapi.accounts.cache import TTLCache
from webapi.accounts.tokens import digest, iso, new_session_token

LIFETIME_S = 30 * 24 * 3600
REFRESH_AFTER_S = 3600.0


@dataclass(frozen=True)
class Holder:
    """Who a token (a session's or an API token's) belongs to."""

    user_id: str
    username: str
    expires_at: str | None  # ISO text; None: until revoked
    last_seen_at: str | None  # ISO text of the last recorded use


@dataclass(frozen=True)
class Found:
    holder: Holder
    refreshed: bool  # the expiry moved on: the cookie should be set again


_caches: weakref.WeakKeyDictionary[Any, TTLCache[Holder]] = weakref.WeakKeyDictionary()


def _cache(store: Any) -> TTLCache[Holder]:
    cache = _caches.get(store)
    if cache is None:
        cache = _caches[store] = TTLCache()
    return cache


async def open_session(store: Any, user_id: str, now: float | None = None) -> str:
    """A new session for `user_id`; its token (for the cookie, never stored). Expired
    sessions of the same user are swept on the way."""
    now = time.time() if now is None else now
    token = new_session_token()
    at, until = iso(now), iso(now + LIFETIME_S)

    def write(db: Any) -> None:
        db.execute("DELETE FROM sessions WHERE user_id = ? AND expires_at <= ?", [user_id, at])
        db["sessions"].insert(
            {
                "token_hash": digest(token),
                "user_id": user_id,
                "created_at": at,
                "expires_at": until,
                "last_seen_at": at,
            }
        )

    await store.write(write)
    return token


async def lookup(store: Any, token: str, now: float | None = None) -> Found | None:
    """The signed-in user of a session token, or None (unknown, signed out or expired)."""
    if not token or len(token) > 200:
        return None
    now = time.time() if now is None else now
    key = digest(token)
    cache = _cache(store)
    holder = cache.get(key)
    if holder is None:

        def read(db: Any) -> Holder | None:
            row = db.execute(
                "SELECT s.user_id, u.username, s.expires_at, s.last_seen_at FROM sessions s "
                "JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?",
                [key],
            ).fetchone()
            return Holder(*row) if row else None

        holder = await store.read(read)
        if holder is None:
            return None
        cache.put(key, holder)
    at = iso(now)
    if holder.expires_at is not None and holder.expires_at <= at:
        cache.forget(key)
        store.submit_write(
            lambda db: db.execute("DELETE FROM sessions WHERE token_hash = ?", [key])
        )
        return None
    if holder.last_seen_at is None or holder.last_seen_at <= iso(now - REFRESH_AFTER_S):
        until = iso(now + LIFETIME_S)
        holder = Holder(holder.user_id, holder.username, until, at)
        cache.put(key, holder)
        # not awaited: a lost refresh only makes the session end an hour early
        store.submit_write(
            lambda db: db.execute(
                "UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE token_hash = ?",
                [at, until, key],
            )
        )
        return Found(holder, refreshed=True)
    return Found(holder, refreshed=False)


async def close_session(store: Any, token: str) -> bool:
    """Sign out: the session is deleted (its cookie is worthless from now on). False when
    there was none."""
    key = digest(token)
    _cache(store).forget(key)

    def write(db: Any) -> bool:
        return db.execute("DELETE FROM sessions WHERE token_hash = ?", [key]).rowcount > 0

    return await store.write(write)


async def close_all(store: Any, user_id: str) -> int:
    """Every session of a user ends (a password change, "sign out everywhere")."""

    def write(db: Any) -> list[str]:
        rows = db.execute("SELECT token_hash FROM sessions WHERE user_id = ?", [user_id])
        keys = [r[0] for r in rows.fetchall()]
        db.execute("DELETE FROM sessions WHERE user_id = ?", [user_id])
        return keys

    keys = await store.write(write)
    for key in keys:
        _cache(store).forget(key)
    return len(keys)
