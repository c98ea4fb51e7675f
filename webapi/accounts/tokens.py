"""Secrets handed to clients (session cookies, API tokens) and what the database keeps of
them: only a SHA-256 digest. The tokens are 256-bit random, so a plain hash cannot be
brute-forced and needs no salt or slow hash (a slow hash would put argon2 on every request);
a stolen database file lets no one sign in."""

from __future__ import annotations

import hashlib
import secrets
import time

API_TOKEN_PREFIX = "dgg_"  # recognisable in a leaked paste (secret scanners, grep)


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What the database stores for a token (hex SHA-256 of its UTF-8 bytes)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def iso(t: float) -> str:
    """Seconds since the epoch as the store's ISO 8601 UTC text (sorts as text; the same
    form as `webapi.store.now_iso`)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
