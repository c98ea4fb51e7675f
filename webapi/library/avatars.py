"""Saved avatars: the `avatars` table, with ownership.

A saved avatar is the bundled rig (`source: "rig"`) or a generated face worn on it
(`source: "generated"`, `generation_id` naming its files: webapi/library/files.py), plus
customizations (webapi/library/customizations.py). It belongs to a user (`owner_id`) or,
until they sign up or in, to a guest (`guest_id`, the guest cookie's id).

Ownership: a caller sees their own avatars and public ones; changes only their own.
Another user's private avatar is answered exactly as a missing id (`NotFound` with the same
message), so ids cannot be probed. Domain code: no aiohttp; errors are webapi.errors'.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

from streaming.live import Look
from webapi.errors import Forbidden, Invalid, NotFound, Unauthorized
from webapi.library import customizations as custom
from webapi.library.files import AvatarStore
from webapi.store import Store, new_id, now_iso

RIGS = ("digi",)  # bundled rigs a saved avatar can be made of
DEFAULT_RIG = "digi"
MAX_NAME = 80
MAX_LIMIT = 200  # avatars on one page of the list
DEFAULT_LIMIT = 50
CREATE_FIELDS = ("name", "rig", "generation_id", "customizations", "is_public")
PATCH_FIELDS = ("name", "is_public", "customizations")
_ID = re.compile(r"^[0-9a-f]{32}$")
_GENERATION_ID = re.compile(r"^[0-9a-f]{16}$")
_CURSOR = re.compile(r"^[0-9TZ:.\-]{1,40}~[0-9]{1,19}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
COLUMNS = (
    "id, owner_id, guest_id, name, rig, source, generation_id, customizations, is_public, "
    "created_at, updated_at"
)


class Caller(Protocol):
    """Who asks (webapi.handlers.identity.Identity fits): a user, a guest, or neither."""

    @property
    def user_id(self) -> str | None: ...

    @property
    def guest_id(self) -> str | None: ...


@dataclass(frozen=True)
class Who:
    """A caller as plain data (generation, tests)."""

    user_id: str | None = None
    guest_id: str | None = None


def _missing(avatar_id: str) -> NotFound:
    """One message for a missing id and for someone else's private one."""
    shown = _CONTROL.sub("?", avatar_id)[:64]
    return NotFound(f'no avatar "{shown}"')


def _owns(row: dict[str, Any], who: Caller) -> bool:
    if who.user_id is not None:
        return row["owner_id"] == who.user_id
    return who.guest_id is not None and row["owner_id"] is None and row["guest_id"] == who.guest_id


def _require_someone(who: Caller) -> None:
    if who.user_id is None and who.guest_id is None:
        raise Unauthorized(
            "sign in first (at /account), or send an API token as "
            '"Authorization: Bearer ..."; a guest needs the cookie a page gives'
        )


def public_view(row: dict[str, Any], who: Caller) -> dict[str, Any]:
    """A row as the API shows it."""
    gen = row["generation_id"]
    return {
        "id": row["id"],
        "name": row["name"],
        "rig": row["rig"],
        "source": row["source"],
        "generation_id": gen,
        "customizations": json.loads(row["customizations"] or "{}"),
        "is_public": bool(row["is_public"]),
        "mine": _owns(row, who),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        # the generated face's picture; a rig avatar's is the page's own render of Digi
        "thumbnail_url": f"/avatars/{gen}/full.png" if gen else None,
        "puppet_url": f"/?avatar={row['id']}",
        "preview_url": f"/preview?avatar={row['id']}",
    }


def _rows(cur: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


async def _row(store: Store, avatar_id: Any) -> dict[str, Any] | None:
    if not isinstance(avatar_id, str) or not _ID.match(avatar_id):
        return None

    def read(db: Any) -> dict[str, Any] | None:
        rows = _rows(db.execute(f"SELECT {COLUMNS} FROM avatars WHERE id = ?", [avatar_id]))
        return rows[0] if rows else None

    return await store.read(read)


async def _visible(store: Store, avatar_id: Any, who: Caller) -> dict[str, Any]:
    """The row if the caller may see it (theirs, or public); NotFound otherwise."""
    row = await _row(store, avatar_id)
    if row is None or not (row["is_public"] or _owns(row, who)):
        raise _missing(str(avatar_id))
    return row


async def _own(store: Store, avatar_id: Any, who: Caller) -> dict[str, Any]:
    """The row if the caller owns it: someone else's private avatar is NotFound (as a
    missing one), someone else's public one Forbidden (anyone may see it exists)."""
    row = await _visible(store, avatar_id, who)
    if not _owns(row, who):
        raise Forbidden("only its owner can change or delete this avatar")
    return row


# --- fields ---------------------------------------------------------------------------------


def _unknown(body: dict[str, Any], known: tuple[str, ...]) -> None:
    for key in body:
        if key not in known:
            shown = _CONTROL.sub("?", str(key))[:40]
            raise Invalid(f'unknown field "{shown}" (known: {", ".join(known)})', field=key)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid('"name" must be a non-empty string', field="name")
    name = " ".join(value.split())
    if len(name) > MAX_NAME:
        raise Invalid(f'"name" must be at most {MAX_NAME} characters', field="name")
    if _CONTROL.search(name):
        raise Invalid('"name" may not hold control characters', field="name")
    return name


def _flag(value: Any, key: str) -> int:
    if not isinstance(value, bool):
        raise Invalid(f'"{key}" must be true or false', field=key)
    return int(value)


async def _customizations(value: Any, rig: str) -> dict[str, Any]:
    return custom.validate(value, await custom.options(rig))


# --- the operations -------------------------------------------------------------------------


async def create(
    store: Store, files: AvatarStore, who: Caller, body: dict[str, Any]
) -> dict[str, Any]:
    """A new saved avatar from `body`: `{"name"?, "rig"?: "digi", "generation_id"?,
    "customizations"?, "is_public"?}`. With `generation_id`, the caller must own that
    generated avatar (made while signed in as them, or by their guest cookie)."""
    _require_someone(who)
    if not isinstance(body, dict):
        raise Invalid("the request body must be a JSON object")
    _unknown(body, CREATE_FIELDS)
    rig = body.get("rig", DEFAULT_RIG)
    if rig not in RIGS:
        raise Invalid(f'"rig" must be one of the bundled rigs: {", ".join(RIGS)}', field="rig")
    generation = body.get("generation_id")
    if generation is not None:
        if not isinstance(generation, str) or not _GENERATION_ID.match(generation):
            raise Invalid(
                '"generation_id" must be a generation result\'s "avatarId" (16 hex digits)',
                field="generation_id",
            )
        record = await asyncio.get_running_loop().run_in_executor(None, files.get, generation)
        if record is None or not _made_by(record, who):
            raise NotFound(f'no generated avatar "{generation}"')
    name = _name(body["name"]) if "name" in body else _default_name(generation)
    is_public = _flag(body.get("is_public", False), "is_public")
    values = await _customizations(body.get("customizations"), rig)
    return await insert(
        store,
        who,
        name=name,
        rig=rig,
        generation_id=generation,
        customizations=values,
        is_public=bool(is_public),
    )


def _made_by(record: dict[str, Any], who: Caller) -> bool:
    owner = record.get("owner")
    mine = []
    if who.user_id is not None:
        mine.append(f"account:{who.user_id}")
    if who.guest_id is not None:
        mine.append(f"guest:{who.guest_id}")
    return owner in mine


def _default_name(generation: str | None) -> str:
    return "My generated avatar" if generation else "My Digi"


async def insert(
    store: Store,
    who: Caller,
    *,
    name: str,
    rig: str = DEFAULT_RIG,
    generation_id: str | None = None,
    customizations: dict[str, Any] | None = None,
    is_public: bool = False,
) -> dict[str, Any]:
    """Store a row for `who` (fields already checked); its API view."""
    _require_someone(who)
    now = now_iso()
    row = {
        "id": new_id(),
        "owner_id": who.user_id,
        "guest_id": None if who.user_id is not None else who.guest_id,
        "name": name,
        "rig": rig,
        "source": "generated" if generation_id else "rig",
        "generation_id": generation_id,
        "customizations": json.dumps(customizations or {}, separators=(",", ":")),
        "is_public": int(is_public),
        "created_at": now,
        "updated_at": now,
    }
    await store.write(lambda db: db["avatars"].insert(row))
    return public_view(row, who)


async def list_avatars(
    store: Store, who: Caller, *, limit: Any = DEFAULT_LIMIT, before: Any = None
) -> dict[str, Any]:
    """The caller's avatars, newest first: `{"avatars": [...], "next": cursor | null}`;
    pass `next` back as `before` for the following page."""
    if isinstance(limit, str):
        limit = int(limit) if limit.isdigit() else limit
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f'"limit" must be a whole number from 1 to {MAX_LIMIT}', field="limit")
    after: tuple[str, int] | None = None
    if before is not None and before != "":
        if not isinstance(before, str) or not _CURSOR.match(before):
            raise Invalid('"before" must be the "next" value of a previous page', field="before")
        created, _, seq = before.partition("~")
        after = (created, int(seq))
    if who.user_id is None and who.guest_id is None:
        return {"avatars": [], "next": None}
    if who.user_id is not None:
        where, args = "owner_id = ?", [who.user_id]
    else:
        where, args = "owner_id IS NULL AND guest_id = ?", [who.guest_id]
    if after is not None:
        where += " AND (created_at < ? OR (created_at = ? AND rowid < ?))"
        args += [after[0], after[0], after[1]]
    # rowid breaks ties between avatars saved in the same millisecond: insertion order
    sql = (
        f"SELECT rowid AS seq, {COLUMNS} FROM avatars WHERE {where} "
        "ORDER BY created_at DESC, rowid DESC LIMIT ?"
    )

    def read(db: Any) -> list[dict[str, Any]]:
        return _rows(db.execute(sql, [*args, limit + 1]))

    rows = await store.read(read)
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = f"{rows[-1]['created_at']}~{rows[-1]['seq']}" if more and rows else None
    return {"avatars": [public_view(r, who) for r in rows], "next": nxt}


async def get(store: Store, avatar_id: Any, who: Caller) -> dict[str, Any]:
    """One avatar: the caller's own, or a public one."""
    return public_view(await _visible(store, avatar_id, who), who)


async def patch(store: Store, avatar_id: Any, who: Caller, body: dict[str, Any]) -> dict[str, Any]:
    """Change the caller's avatar: any of `name`, `is_public`, `customizations` (replaced
    whole)."""
    if not isinstance(body, dict):
        raise Invalid("the request body must be a JSON object")
    row = await _own(store, avatar_id, who)
    _unknown(body, PATCH_FIELDS)
    if not body:
        raise Invalid(f"nothing to change: send one of {', '.join(PATCH_FIELDS)}")
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = _name(body["name"])
    if "is_public" in body:
        changes["is_public"] = _flag(body["is_public"], "is_public")
    if "customizations" in body:
        values = await _customizations(body["customizations"], row["rig"])
        changes["customizations"] = json.dumps(values, separators=(",", ":"))
    changes["updated_at"] = now_iso()

    def write(db: Any) -> None:
        db["avatars"].update(row["id"], changes)

    await store.write(write)
    return public_view({**row, **changes}, who)


async def delete(store: Store, files: AvatarStore, avatar_id: Any, who: Caller) -> None:
    """Delete the caller's avatar, and its generated files unless another saved avatar
    still wears them."""
    row = await _own(store, avatar_id, who)
    gen = row["generation_id"]

    def write(db: Any) -> bool:
        db.execute("DELETE FROM avatars WHERE id = ?", [row["id"]])
        if gen is None:
            return False
        left = db.execute("SELECT COUNT(*) FROM avatars WHERE generation_id = ?", [gen])
        return left.fetchone()[0] == 0

    orphaned = await store.write(write)
    if orphaned:
        await asyncio.get_running_loop().run_in_executor(None, files.delete, gen)


async def record_generated(
    store: Store, who: Caller, generation_id: str, *, name: str = "My generated avatar"
) -> str:
    """The saved avatar a finished generation makes for its caller; its id."""
    view = await insert(store, who, name=name, generation_id=generation_id)
    return view["id"]


# --- live sessions and previews ---------------------------------------------------------------


def is_saved_id(value: Any) -> bool:
    """Whether `value` has a saved avatar id's shape (a generation's id is shorter)."""
    return isinstance(value, str) and bool(_ID.match(value))


async def avatar_for_session(store: Store, avatar_id: str, identity: Caller) -> Look:
    """What a session opened with `avatar=<saved id>` wears: its generated face (if any) and
    its customizations. NotFound for a missing id and for someone else's private one."""
    return await _look_of(await _visible(store, avatar_id, identity))


async def avatar_for_operator(store: Store, avatar_id: str) -> Look:
    """What a saved avatar wears, for whoever runs this server (the `digigami export`
    command on the database's own machine): no visibility rule. NotFound if missing."""
    row = await _row(store, avatar_id)
    if row is None:
        raise _missing(str(avatar_id))
    return await _look_of(row)


async def _look_of(row: dict[str, Any]) -> Look:
    opts = await custom.options(row["rig"])
    stored = json.loads(row["customizations"] or "{}")
    try:
        values = custom.validate(stored, opts)
    except Invalid:  # stored by an older rig: wear what still fits rather than nothing
        values = {}
    return custom.look(values, opts, face=row["generation_id"], saved=row["id"])
