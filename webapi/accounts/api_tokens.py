"""API tokens: Bearer tokens for scripts and the OBS/WHEP links of a signed-in user. The
token is shown once, when issued; the `api_tokens` table keeps its digest, its name and
when it was made, last used and revoked. A revoked token is kept (marked) so a listing of
what was issued stays honest; it never authenticates again."""

from __future__ import annotations

import time
import weakref
from typing import Any

from webapi.accounts.cache import TTLCache
from webapi.accounts.sessions import Holder
from webapi.accounts.tokens import API_TOKEN_PREFIX, digest, iso, new_api_token
from webapi.errors import Conflict, Invalid, NotFound
from webapi.store import new_id

NAME_MAX = 100
MAX_ACTIVE = 50  # live tokens per user
LAST_USED_EVERY_S = 300.0  # `last_used_at` is written at most this often per token

_caches: weakref.WeakKeyDictionary[Any, TTLCache[Holder]] = weakref.WeakKeyDictionary()


def _cache(store: Any) -> TTLCache[Holder]:
    cache = _caches.get(store)
    if cache is None:
        cache = _caches[store] = TTLCache()
    return cache


def check_name(name: Any) -> str:
    if not isinstance(name, str):
        raise Invalid('"name" must be a string: what the token is for', field="name")
    name = name.strip()
    if not name:
        raise Invalid('"name" must not be empty: say what the token is for', field="name")
    if len(name) > NAME_MAX:
        raise Invalid(f'"name" is too long (at most {NAME_MAX} characters)', field="name")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise Invalid('"name" must not contain control characters', field="name")
    return name


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "name", "created_at", "last_used_at")}


async def issue(store: Any, user_id: str, name: Any) -> tuple[dict[str, Any], str]:
    """A new token for `user_id`: (its listing entry, the token itself: shown once)."""
    name = check_name(name)
    token = new_api_token()
    row = {
        "id": new_id(),
        "user_id": user_id,
        "name": name,
        "token_hash": digest(token),
        "created_at": iso(time.time()),
        "last_used_at": None,
        "revoked_at": None,
    }

    def write(db: Any) -> None:
        (live,) = db.execute(
            "SELECT COUNT(*) FROM api_tokens WHERE user_id = ? AND revoked_at IS NULL", [user_id]
        ).fetchone()
        if live >= MAX_ACTIVE:
            raise Conflict(
                f"you have {live} API tokens, the most one account may hold: revoke one first"
            )
        db["api_tokens"].insert(row)

    await store.write(write)
    return _public(row), token


async def list_tokens(store: Any, user_id: str) -> list[dict[str, Any]]:
    """A user's live tokens, newest first (no secrets: the tokens are not stored)."""

    def read(db: Any) -> list[dict[str, Any]]:
        rows = db.query(
            "SELECT id, name, created_at, last_used_at FROM api_tokens "
            "WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at DESC, id",
            [user_id],
        )
        return [dict(r) for r in rows]

    return await store.read(read)


async def revoke(store: Any, user_id: str, token_id: str) -> None:
    """Revoke one of the user's tokens. NotFound for a missing, already revoked or another
    user's token: the three answer alike."""

    def write(db: Any) -> str | None:
        row = db.execute(
            "SELECT token_hash FROM api_tokens WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
            [token_id, user_id],
        ).fetchone()
        if row is None:
            return None
        db.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ?", [iso(time.time()), token_id]
        )
        return row[0]

    key = await store.write(write)
    if key is None:
        raise NotFound(f'no API token "{token_id[:64]}"')
    _cache(store).forget(key)


async def authenticate(store: Any, token: str, now: float | None = None) -> Holder | None:
    """Whose live token this is, or None."""
    if not token.startswith(API_TOKEN_PREFIX) or len(token) > 200:
        return None
    now = time.time() if now is None else now
    key = digest(token)
    cache = _cache(store)
    holder = cache.get(key)
    if holder is None:

        def read(db: Any) -> Holder | None:
            row = db.execute(
                "SELECT t.user_id, u.username, t.last_used_at FROM api_tokens t "
                "JOIN users u ON u.id = t.user_id "
                "WHERE t.token_hash = ? AND t.revoked_at IS NULL",
                [key],
            ).fetchone()
            return Holder(row[0], row[1], None, row[2]) if row else None

        holder = await store.read(read)
        if holder is None:
            return None
        cache.put(key, holder)
    if holder.last_seen_at is None or holder.last_seen_at <= iso(now - LAST_USED_EVERY_S):
        at = iso(now)
        cache.put(key, Holder(holder.user_id, holder.username, None, at))
        # not awaited: "last used" is a hint for the owner, not worth a request's latency
        store.submit_write(
            lambda db: db.execute(
                "UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ?", [at, key]
            )
        )
    return holder
