"""Passwords: argon2id (argon2-cffi), hashed off the event loop in a small pool.

Parameters fit a 2-core server: time_cost 2, 46 MiB, one lane (OWASP's argon2id minimum is
19 MiB with 2 passes; 46 MiB with 2 passes costs an attacker more per guess and measured
65-70 ms per hash or check on the 2-core machine: docs/SECURITY.md). The pool has two threads, so at most two
hashes (92 MiB) run at once however many sign-ins arrive; the rest wait their turn.

A sign-in for an account that does not exist is checked against `dummy_hash()` (made with
the same parameters), so it costs the same time as a wrong password and gets the same
answer: timing tells no one which names have accounts.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

TIME_COST = 2
MEMORY_KIB = 46 * 1024
PARALLELISM = 1
HASHER = PasswordHasher(
    time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM, type=Type.ID
)
_pool = ThreadPoolExecutor(2, thread_name_prefix="argon2")  # argon2-cffi releases the GIL


@functools.cache
def dummy_hash() -> str:
    """A hash of a random, forgotten password with the real parameters."""
    return HASHER.hash(secrets.token_urlsafe(24))


def hash_now(password: str) -> str:
    """The argon2id hash (PHC string: algorithm, parameters, salt, digest). Blocking."""
    return HASHER.hash(password)


def verify_now(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored` (None: no such account, checked against the
    dummy so it takes as long). Blocking."""
    try:
        return HASHER.verify(stored or dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """The hash was made with other parameters (older, weaker): rehash on a good sign-in."""
    try:
        return HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool, hash_now, password)


async def verify_password(stored: str | None, password: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(_pool, verify_now, stored, password)
