"""Users: sign-up and sign-in against the `users` table. Email and username are unique
without regard to case (`email_key`, `username_key`, each with a unique index); the
password is kept only as its argon2id hash (passwords.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from webapi.accounts import passwords
from webapi.accounts.ratelimit import SignInLimiter
from webapi.accounts.tokens import iso
from webapi.accounts.validation import (
    EMAIL_MAX,
    PASSWORD_MAX,
    check_signup,
    email_key,
    username_key,
)
from webapi.errors import Conflict, Invalid, Unauthorized
from webapi.store import new_id

# One answer for an unknown account and a wrong password: which it was is not said.
WRONG = "wrong email/username or password"


@dataclass(frozen=True)
class User:
    id: str
    email: str
    username: str
    created_at: str

    def public(self) -> dict[str, Any]:
        """What the user themself is shown (GET /api/me, sign-up and sign-in answers)."""
        return {
            "id": self.id,
            "email": self.email,
            "username": self.username,
            "created_at": self.created_at,
        }


_COLUMNS = "id, email, username, created_at"


def _taken(db: Any, e_key: str, u_key: str) -> list[str]:
    taken = []
    if db.execute("SELECT 1 FROM users WHERE email_key = ?", [e_key]).fetchone():
        taken.append("email: already has an account (sign in instead)")
    if db.execute("SELECT 1 FROM users WHERE username_key = ?", [u_key]).fetchone():
        taken.append("username: already taken, choose another")
    return taken


async def sign_up(
    store: Any, body: dict[str, Any], limiter: SignInLimiter | None = None, address: str = ""
) -> User:
    """A new account from a sign-up body {email, username, password}. Invalid naming each
    bad field; Conflict naming each taken one (case-insensitive); RateLimited when
    `address` has signed up too often (only sign-ups that get as far as hashing count)."""
    form = check_signup(body)
    e_key, u_key = form.email_key, form.username_key
    # refuse a taken name before paying for a hash; the write checks again (no race: one
    # writer), and the unique indexes stand behind both
    taken = await store.read(lambda db: _taken(db, e_key, u_key))
    if taken:
        raise Conflict("; ".join(taken), field=taken[0].split(":")[0])
    if limiter is not None:
        limiter.check_sign_up(address)
    hashed = await passwords.hash_password(form.password)
    user = User(new_id(), form.email, form.username, iso(time.time()))

    def write(db: Any) -> None:
        taken = _taken(db, e_key, u_key)
        if taken:
            raise Conflict("; ".join(taken), field=taken[0].split(":")[0])
        db["users"].insert(
            {
                "id": user.id,
                "email": user.email,
                "email_key": e_key,
                "username": user.username,
                "username_key": u_key,
                "password_hash": hashed,
                "created_at": user.created_at,
            }
        )

    await store.write(write)
    return user


def login_key(login: str) -> str:
    """The account key a sign-in name stands for (an email's or a username's)."""
    login = login.strip()
    return f"email:{email_key(login)}" if "@" in login else f"user:{username_key(login)}"


async def sign_in(store: Any, limiter: SignInLimiter, body: dict[str, Any], address: str) -> User:
    """The user whose email or username (`login`; `email` or `username` are accepted too)
    and password these are. Unauthorized with one message for an unknown name and a wrong
    password (the same work is done for both); RateLimited past the limits."""
    login = next((body[k] for k in ("login", "email", "username") if k in body), None)
    password = body.get("password")
    if not isinstance(login, str) or not login.strip() or len(login) > EMAIL_MAX:
        raise Invalid('login: give your email or username as "login" (a string)', field="login")
    if not isinstance(password, str) or not password:
        raise Invalid("password: required (a string)", field="password")
    if len(password) > PASSWORD_MAX:
        raise Invalid(f"password: too long (at most {PASSWORD_MAX} characters)", field="password")
    key = login_key(login)
    stamp = limiter.begin_sign_in(key, address)
    column, value = key.split(":", 1)
    column = "email_key" if column == "email" else "username_key"

    def read(db: Any) -> tuple[Any, ...] | None:
        return db.execute(
            f"SELECT {_COLUMNS}, password_hash FROM users WHERE {column} = ?", [value]
        ).fetchone()

    row = await store.read(read)
    stored = row[4] if row else None
    if not await passwords.verify_password(stored, password):
        raise Unauthorized(WRONG)  # counted as a failure by begin_sign_in
    limiter.succeeded(key, address, stamp)
    user = User(*row[:4])
    if passwords.needs_rehash(stored):
        hashed = await passwords.hash_password(password)
        await store.write(
            lambda db: db.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?", [hashed, user.id]
            )
        )
    return user


async def get_user(store: Any, user_id: str) -> User | None:
    def read(db: Any) -> tuple[Any, ...] | None:
        return db.execute(f"SELECT {_COLUMNS} FROM users WHERE id = ?", [user_id]).fetchone()

    row = await store.read(read)
    return User(*row) if row else None
