"""Representative rows for every table of schema v1, as the accounts and library code write
them (ids from `new_id`, times from `now_iso`, JSON columns as text)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from webapi.store import new_id, now_iso

V1_TABLES = ("users", "sessions", "api_tokens", "avatars", "animations")


def user(name: str) -> dict[str, Any]:
    return {
        "id": new_id(),
        "email": f"{name.title()}@Example.com",
        "email_key": f"{name.lower()}@example.com",
        "username": name,
        "username_key": name.lower(),
        "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        "created_at": now_iso(),
    }


def avatar(owner_id: str | None, name: str, *, guest_id: str | None = None) -> dict[str, Any]:
    return {
        "id": new_id(),
        "owner_id": owner_id,
        "guest_id": guest_id,
        "name": name,
        "rig": "digi",
        "source": "rig",
        "generation_id": None,
        "customizations": json.dumps({"sprites": {"outfit": "winter"}, "filter": {"hue": 30}}),
        "is_public": 0,
        "created_at": now_iso(),
        "updated_at": now_iso(),
    }


def v1_rows() -> dict[str, list[dict[str, Any]]]:
    """A few rows in every table of the first schema, their foreign keys consistent."""
    ada, bob = user("Ada"), user("bob")
    later = "2099-01-01T00:00:00.000Z"
    generated = avatar(ada["id"], "from a photo") | {
        "source": "generated",
        "generation_id": new_id(),
        "is_public": 1,
    }
    return {
        "users": [ada, bob],
        "sessions": [
            {
                "token_hash": "ab" * 32,
                "user_id": ada["id"],
                "created_at": now_iso(),
                "expires_at": later,
                "last_seen_at": now_iso(),
            }
        ],
        "api_tokens": [
            {
                "id": new_id(),
                "user_id": bob["id"],
                "name": "OBS laptop",
                "token_hash": "cd" * 32,
                "created_at": now_iso(),
                "last_used_at": None,
                "revoked_at": None,
            }
        ],
        "avatars": [
            avatar(ada["id"], "Winter Ada"),
            generated,
            avatar(None, "a guest's", guest_id=new_id()),
            avatar(bob["id"], "<img src=x onerror=alert(1)>"),
        ],
        "animations": [
            {
                "id": new_id(),
                "owner_id": bob["id"],
                "rig": "digi",
                "name": "little wave",
                "definition": json.dumps({"duration": 1.0, "timelines": []}),
                "size_bytes": 40,
                "created_at": now_iso(),
                "updated_at": now_iso(),
            }
        ],
    }


def dump(path: Path, tables: tuple[str, ...] = V1_TABLES) -> dict[str, list[dict[str, Any]]]:
    """Every row of `tables`, sorted by rowid, read with plain sqlite3 (not the store)."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return {
            t: [dict(r) for r in conn.execute(f"SELECT * FROM [{t}] ORDER BY rowid")]
            for t in tables
        }
    finally:
        conn.close()


def pragma(path: Path, name: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchall()
    finally:
        conn.close()
