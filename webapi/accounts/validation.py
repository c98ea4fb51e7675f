"""What a sign-up may contain. Every bad field is named in one answer (a form can show them
all at once), and the password itself never appears in a message."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from webapi.errors import Invalid

EMAIL_MAX = 254  # RFC 5321's path limit
USERNAME_MIN, USERNAME_MAX = 3, 32
PASSWORD_MIN, PASSWORD_MAX = 10, 256  # characters; the max bounds hashing work, not strength
_USERNAME = re.compile(r"^[A-Za-z0-9_-]+$")
# A practical email shape, not RFC 5322's: one @, a local part without spaces, quotes,
# brackets or angle brackets, and a domain of dot-separated labels (IDNs in punycode).
_LOCAL = re.compile(r"^[^\s@<>()\[\]\\,;:\"']{1,64}$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")


@dataclass(frozen=True)
class SignUp:
    email: str
    username: str
    password: str

    @property
    def email_key(self) -> str:
        return email_key(self.email)

    @property
    def username_key(self) -> str:
        return username_key(self.username)


def email_key(email: str) -> str:
    """What makes two emails the same account: case-insensitive."""
    return unicodedata.normalize("NFKC", email).casefold()


def username_key(username: str) -> str:
    return username.lower()


def _email_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "email: required, e.g. ada@example.com"
    value = value.strip()
    if len(value) > EMAIL_MAX:
        return f"email: too long (at most {EMAIL_MAX} characters)"
    local, at, domain = value.rpartition("@")
    if not at or not _LOCAL.match(local) or not _DOMAIN.match(domain):
        return "email: not an email address like ada@example.com"
    if any(unicodedata.category(c).startswith("C") for c in value):
        return "email: must not contain control or invisible characters"
    return None


def _username_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return f"username: required ({USERNAME_MIN} to {USERNAME_MAX} letters, digits, _ or -)"
    value = value.strip()
    if not USERNAME_MIN <= len(value) <= USERNAME_MAX or not _USERNAME.match(value):
        return (
            f"username: use {USERNAME_MIN} to {USERNAME_MAX} characters, each a letter (a-z, "
            "A-Z), a digit, _ or -"
        )
    return None


def password_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "password: required"
    if len(value) < PASSWORD_MIN:
        return f"password: too short (at least {PASSWORD_MIN} characters)"
    if len(value) > PASSWORD_MAX:
        return f"password: too long (at most {PASSWORD_MAX} characters)"
    if "\x00" in value:
        return "password: must not contain a NUL character"
    return None


def check_signup(body: dict[str, Any]) -> SignUp:
    """The sign-up's fields, cleaned (surrounding spaces of email and username dropped);
    Invalid naming every bad field otherwise."""
    email, username, password = body.get("email"), body.get("username"), body.get("password")
    problems = [
        p
        for p in (_email_problem(email), _username_problem(username), password_problem(password))
        if p
    ]
    if not problems and password.casefold() in (
        email.strip().casefold(),
        username.strip().casefold(),
    ):
        problems.append("password: must not be your email or username")
    if problems:
        field = problems[0].split(":", 1)[0]
        raise Invalid("; ".join(problems), field=field)
    return SignUp(email.strip(), username.strip(), password)
