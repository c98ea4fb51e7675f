"""Listings: what the marketplace sells, their checks, their answers and ratings (search is
webapi/market/search.py).

Every function here is a synchronous function of a `sqlite_utils.Database`, so it runs
inside `Store.write(fn)` (one transaction: all or nothing) or `Store.read(fn)`, and raises
`webapi.errors` for what the client got wrong (docs/MARKETPLACE.md).
"""

from __future__ import annotations

import json
import re
import secrets
import unicodedata
from typing import Any

from webapi.errors import Conflict, Forbidden, Invalid, NotFound
from webapi.library.animations import known_rigs
from webapi.store import now_iso

TYPES = ("outfit", "accessory", "animation", "avatar", "style_pack", "background", "effect")
CURRENCIES = ("usd", "digi")
MAX_PRICE_CENTS = 100_000  # $1,000 / 100,000 credits
NAME_MAX = 80
DESCRIPTION_MAX = 2000
TAGS_MAX = 12
TAG_MAX = 24
DISPLAY_NAME_MAX = 60
STATUSES = ("draft", "published", "unpublished")
# the name the system creator goes by; nobody else may take it as a display name
SYSTEM_NAME = "Digigami"

_ID = re.compile(r"^m[0-9a-f]{20}$")
_TAG = re.compile(r"^[a-z0-9-]+$")
# format characters allowed in names: zero-width (non-)joiners make emoji sequences
_JOINERS = {"\u200c", "\u200d"}
EDITABLE = ("name", "description", "tags", "price_cents", "currency", "compatibility")

# columns every answer needs: the listing plus its creator's shown name
SELECT_LISTINGS = (
    "SELECT l.*, COALESCE(c.display_name, u.username, '') AS creator_name FROM listings l "
    "LEFT JOIN creators c ON c.user_id = l.creator_id "
    "LEFT JOIN users u ON u.id = l.creator_id"
)


def new_listing_id() -> str:
    """A fresh listing id: "m" + 20 random hex digits (80 bits; also usable as a scene
    background's id, which is why it has its own shape)."""
    return "m" + secrets.token_hex(10)


def is_listing_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_ID.match(value))


# --- field checks -------------------------------------------------------------------------


def _bad_char(text: str, *, newlines: bool) -> str | None:
    """The first control/invisible character of `text` (as U+XXXX), if any."""
    for ch in text:
        cat = unicodedata.category(ch)
        if newlines and ch in "\n\t":
            continue
        if cat in ("Cc", "Cs", "Co") or (cat == "Cf" and ch not in _JOINERS):
            return f"U+{ord(ch):04X}"
    return None


def check_name(value: Any, field: str = "name") -> str:
    if not isinstance(value, str):
        raise Invalid(f"{field}: must be a string of 1 to {NAME_MAX} characters", field=field)
    value = value.strip()
    if not value:
        raise Invalid(f"{field}: must not be empty", field=field)
    if len(value) > NAME_MAX:
        raise Invalid(f"{field}: at most {NAME_MAX} characters (got {len(value)})", field=field)
    bad = _bad_char(value, newlines=False)
    if bad:
        raise Invalid(f"{field}: must not contain control characters ({bad})", field=field)
    return value


def check_description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid("description: must be a string", field="description")
    value = value.replace("\r\n", "\n").strip()
    if len(value) > DESCRIPTION_MAX:
        raise Invalid(
            f"description: at most {DESCRIPTION_MAX} characters (got {len(value)})",
            field="description",
        )
    bad = _bad_char(value, newlines=True)
    if bad:
        raise Invalid(
            f"description: must not contain control characters ({bad})", field="description"
        )
    return value


def check_tags(value: Any) -> list[str]:
    """Lower-cased, de-duplicated (first kept), each 1..24 of a-z 0-9 -, at most 12."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise Invalid('tags: must be a list of words, e.g. ["neon", "casual"]', field="tags")
    if len(value) > TAGS_MAX:
        raise Invalid(f"tags: at most {TAGS_MAX} (got {len(value)})", field="tags")
    out: list[str] = []
    for i, tag in enumerate(value):
        if not isinstance(tag, str):
            raise Invalid(f"tags[{i}]: must be a string", field="tags")
        t = tag.strip().lower()
        if not t or len(t) > TAG_MAX or not _TAG.match(t):
            raise Invalid(
                f"tags[{i}]: use 1 to {TAG_MAX} characters, each a-z, 0-9 or - (got {tag[:40]!r})",
                field="tags",
            )
        if t not in out:
            out.append(t)
    return out


def check_price(value: Any) -> int:
    # bool is an int in Python: `true` is not a price
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(
            f"price_cents: must be a whole number of cents (an integer), not {value!r}"[:120],
            field="price_cents",
        )
    if value < 0:
        raise Invalid("price_cents: must not be negative", field="price_cents")
    if value > MAX_PRICE_CENTS:
        raise Invalid(
            f"price_cents: at most {MAX_PRICE_CENTS} (got {value})"[:120], field="price_cents"
        )
    return value


def check_currency(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in CURRENCIES:
        return value.strip().lower()
    raise Invalid(f"currency: one of {', '.join(CURRENCIES)}", field="currency")


def check_compatibility(value: Any) -> list[str]:
    """Rig ids the item works with (de-duplicated); empty: any rig (a background, a style)."""
    if value is None:
        return []
    rigs = known_rigs()
    if not isinstance(value, list | tuple):
        raise Invalid('compatibility: must be a list of rigs, e.g. ["digi"]', field="compatibility")
    if len(value) > len(rigs):
        raise Invalid(f"compatibility: at most {len(rigs)} rigs", field="compatibility")
    out: list[str] = []
    for i, rig in enumerate(value):
        if not isinstance(rig, str) or rig not in rigs:
            raise Invalid(
                f"compatibility[{i}]: not a rig here (the rigs are {', '.join(rigs)})",
                field="compatibility",
            )
        if rig not in out:
            out.append(rig)
    return out


def check_type(value: Any) -> str:
    if isinstance(value, str) and value in TYPES:
        return value
    raise Invalid(f"type: one of {', '.join(TYPES)}", field="type")


_CHECKS = {
    "name": check_name,
    "description": check_description,
    "tags": check_tags,
    "price_cents": check_price,
    "currency": check_currency,
    "compatibility": check_compatibility,
}


def check_fields(fields: Any) -> dict[str, Any]:
    """The editable fields of `fields` checked (a PATCH body); Invalid naming an unknown
    or bad one."""
    if not isinstance(fields, dict):
        raise Invalid("the body must be a JSON object of the fields to change")
    unknown = [k for k in fields if k not in _CHECKS]
    if unknown:
        raise Invalid(
            f"{str(unknown[0])[:40]}: cannot be changed (the fields are {', '.join(EDITABLE)})",
            field=str(unknown[0])[:40],
        )
    return {k: _CHECKS[k](v) for k, v in fields.items()}


# --- rows and answers ----------------------------------------------------------------------


def rows_of(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def _row(db: Any, listing_id: str) -> dict[str, Any] | None:
    if not is_listing_id(listing_id):
        return None
    found = rows_of(db.execute(f"{SELECT_LISTINGS} WHERE l.id = ?", [listing_id]))
    return found[0] if found else None


def _json(value: Any, default: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return default
    return default if value is None else value


def _tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return list(value)
    return [t for t in (value or "").split() if t]


def public(row: dict[str, Any]) -> dict[str, Any]:
    """What anyone may see of a listing (never its content or manifest)."""
    lid = row["id"]
    base = f"/api/marketplace/assets/{lid}"
    count = int(row.get("rating_count") or 0)
    return {
        "id": lid,
        "type": row["type"],
        "name": row["name"],
        "description": row.get("description") or "",
        "tags": _tags(row.get("tags")),
        "price_cents": int(row["price_cents"]),
        "currency": row["currency"],
        "free": int(row["price_cents"]) == 0,
        "compatibility": _json(row.get("compatibility"), []),
        "status": row["status"],
        "creator": {"id": row["creator_id"], "name": row.get("creator_name") or ""},
        "rating": {
            "average": round(float(row.get("rating_avg") or 0.0), 2) if count else 0.0,
            "count": count,
        },
        "sales": int(row.get("sales") or 0),
        "downloads": int(row.get("downloads") or 0),
        "created_at": row.get("created_at"),
        "published_at": row.get("published_at"),
        "builtin": bool(row.get("builtin")),
        "thumbnail_url": f"{base}/thumbnail.png",
        "preview_url": f"{base}/preview.png",
        "clip_url": f"{base}/preview.webm" if row["type"] in ("outfit", "animation") else None,
    }


def _owns(db: Any, user_id: str | None, listing_id: str) -> bool:
    if not user_id:
        return False
    return (
        db.execute(
            "SELECT 1 FROM entitlements WHERE user_id = ? AND listing_id = ? "
            "AND revoked_at IS NULL",
            [user_id, listing_id],
        ).fetchone()
        is not None
    )


def _visible(row: dict[str, Any] | None, viewer_id: str | None) -> dict[str, Any]:
    """The row when `viewer_id` may see it: published, or their own. Else NotFound, the
    same answer as for a missing id (a draft's existence is not revealed)."""
    if row is None or (row["status"] != "published" and row["creator_id"] != viewer_id):
        raise NotFound("no such asset")
    return row


def get(db: Any, listing_id: str, viewer_id: str | None) -> dict[str, Any]:
    """A listing as `viewer_id` (None: a guest) sees it: public + owned, mine, my_rating."""
    row = _visible(_row(db, listing_id), viewer_id)
    mine = viewer_id is not None and row["creator_id"] == viewer_id
    my_rating = None
    if viewer_id:
        r = db.execute(
            "SELECT stars FROM ratings WHERE listing_id = ? AND user_id = ?",
            [row["id"], viewer_id],
        ).fetchone()
        my_rating = int(r[0]) if r else None
    return {
        **public(row),
        "owned": _owns(db, viewer_id, row["id"]),
        "mine": mine,
        "my_rating": my_rating,
    }


def row_for_use(db: Any, listing_id: str, viewer_id: str | None) -> dict[str, Any]:
    """The whole row of a listing `viewer_id` may try on (published, or their own draft):
    every column, with `content`, `manifest` and `compatibility` decoded from JSON and
    `tags` as a list. NotFound otherwise."""
    row = dict(_visible(_row(db, listing_id), viewer_id))
    row["content"] = _json(row.get("content"), {})
    row["manifest"] = _json(row.get("manifest"), {})
    row["compatibility"] = _json(row.get("compatibility"), [])
    row["tags"] = _tags(row.get("tags"))
    return row


# --- creators -----------------------------------------------------------------------------


def _creator(db: Any, user_id: str) -> dict[str, Any] | None:
    found = rows_of(db.execute("SELECT * FROM creators WHERE user_id = ?", [user_id]))
    if not found:
        return None
    c = found[0]
    return {
        "id": c["user_id"],
        "user_id": c["user_id"],
        "display_name": c["display_name"],
        "connect_account_id": c["connect_account_id"],
        "created_at": c["created_at"],
    }


def ensure_creator(db: Any, user_id: str, display_name: str) -> dict[str, Any]:
    """Make `user_id` a creator shown as `display_name` (idempotent: again with another
    name renames). "Digigami" is the system creator's name and nobody else's."""
    name = check_name(display_name, "display_name")
    if len(name) > DISPLAY_NAME_MAX:
        raise Invalid(f"display_name: at most {DISPLAY_NAME_MAX} characters", field="display_name")
    user = db.execute("SELECT password_hash FROM users WHERE id = ?", [user_id]).fetchone()
    if user is None:
        raise NotFound("no such user")
    # the system user cannot sign in (password hash "!"), so a real person never passes
    if name.casefold() == SYSTEM_NAME.casefold() and user[0] != "!":
        raise Conflict(
            f'display_name: "{SYSTEM_NAME}" is reserved for the platform\'s own items',
            field="display_name",
        )
    existing = _creator(db, user_id)
    if existing is None:
        db.execute(
            "INSERT INTO creators (user_id, display_name, created_at) VALUES (?, ?, ?)",
            [user_id, name, now_iso()],
        )
    elif existing["display_name"] != name:
        db.execute("UPDATE creators SET display_name = ? WHERE user_id = ?", [name, user_id])
    found = _creator(db, user_id)
    assert found is not None
    return found


# --- a creator's own listings ---------------------------------------------------------------


def create_draft(
    db: Any,
    *,
    listing_id: str,
    creator_id: str,
    type: str,
    name: str,
    description: str,
    tags: list[str],
    price_cents: int,
    currency: str,
    compatibility: list[str],
    manifest: dict[str, Any],
    content: dict[str, Any],
    size_bytes: int,
    builtin: bool = False,
) -> dict[str, Any]:
    """A new draft listing, every field checked; its public answer. Forbidden when
    `creator_id` has not become a creator; Conflict for a taken id."""
    if not is_listing_id(listing_id):
        raise Invalid("id: not a listing id (m + 20 hex digits)", field="id")
    fields = {
        "type": check_type(type),
        "name": check_name(name),
        "description": check_description(description),
        "tags": " ".join(check_tags(tags)),
        "price_cents": check_price(price_cents),
        "currency": check_currency(currency),
        "compatibility": json.dumps(check_compatibility(compatibility)),
    }
    if not isinstance(manifest, dict) or not isinstance(content, dict):
        raise Invalid("manifest and content must be JSON objects")
    if isinstance(size_bytes, bool) or not isinstance(size_bytes, int) or size_bytes < 0:
        raise Invalid("size_bytes: must be a whole number of bytes, 0 or more")
    if _creator(db, creator_id) is None:
        raise Forbidden(
            "become a creator first (POST /api/marketplace/creator with a display_name)"
        )
    if db.execute("SELECT 1 FROM listings WHERE id = ?", [listing_id]).fetchone():
        raise Conflict("a listing with this id exists already")
    now = now_iso()
    db.execute(
        "INSERT INTO listings (id, creator_id, type, name, description, tags, price_cents, "
        "currency, compatibility, status, manifest, content, size_bytes, builtin, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?, ?, ?, ?, ?)",
        [
            listing_id, creator_id, fields["type"], fields["name"], fields["description"],
            fields["tags"], fields["price_cents"], fields["currency"], fields["compatibility"],
            json.dumps(manifest), json.dumps(content), size_bytes, int(bool(builtin)), now, now,
        ],
    )  # fmt: skip
    row = _row(db, listing_id)
    assert row is not None
    return public(row)


def _own(db: Any, listing_id: str, creator_id: str) -> dict[str, Any]:
    """The listing when `creator_id` made it; NotFound otherwise (as for a missing id)."""
    row = _row(db, listing_id)
    if row is None or row["creator_id"] != creator_id:
        raise NotFound("no such asset")
    return row


def update(db: Any, listing_id: str, creator_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Change a creator's listing's editable fields (any status); the listing as its
    creator sees it. Only the fields given change."""
    checked = check_fields(fields)
    _own(db, listing_id, creator_id)
    if checked:
        if "tags" in checked:
            checked["tags"] = " ".join(checked["tags"])
        if "compatibility" in checked:
            checked["compatibility"] = json.dumps(checked["compatibility"])
        checked["updated_at"] = now_iso()
        sets = ", ".join(f"{k} = ?" for k in checked)
        db.execute(f"UPDATE listings SET {sets} WHERE id = ?", [*checked.values(), listing_id])
    return get(db, listing_id, creator_id)


def set_status(db: Any, listing_id: str, creator_id: str, status: str) -> dict[str, Any]:
    """Publish ("published") or unpublish ("unpublished") a creator's listing. A draft
    cannot be unpublished and nothing goes back to draft (buyers may hold it). Setting the
    status it has is a no-op. `published_at` is the first publication (the "newest" order)."""
    if status not in ("published", "unpublished"):
        raise Invalid('status: "published" or "unpublished"', field="status")
    row = _own(db, listing_id, creator_id)
    if row["status"] != status:
        if status == "unpublished" and row["status"] == "draft":
            raise Conflict("this asset is a draft: it is not published")
        now = now_iso()
        db.execute(
            "UPDATE listings SET status = ?, updated_at = ?, "
            "published_at = COALESCE(published_at, ?) WHERE id = ?",
            [status, now, now if status == "published" else None, listing_id],
        )
    return get(db, listing_id, creator_id)


def delete_draft(db: Any, listing_id: str, creator_id: str) -> None:
    """Remove a creator's draft (its files are the caller's to remove). Conflict for a
    listing that has been published: unpublish it instead (buyers keep what they bought)."""
    row = _own(db, listing_id, creator_id)
    if row["status"] != "draft":
        raise Conflict("only a draft can be deleted: unpublish this asset instead")
    db.execute("DELETE FROM ratings WHERE listing_id = ?", [listing_id])
    db.execute("DELETE FROM listings WHERE id = ?", [listing_id])


def by_creator(db: Any, creator_id: str) -> list[dict[str, Any]]:
    """Every listing of a creator, any status, newest first."""
    rows = rows_of(
        db.execute(
            f"{SELECT_LISTINGS} WHERE l.creator_id = ? ORDER BY l.created_at DESC, l.id DESC",
            [creator_id],
        )
    )
    return [public(r) for r in rows]


# --- ratings ------------------------------------------------------------------------------


def rate(db: Any, listing_id: str, user_id: str, stars: int) -> dict[str, Any]:
    """`user_id`'s 1..5 stars for a listing they hold (an entitlement not revoked; a free
    item "bought" is one too). One rating per buyer: again replaces it. The listing keeps
    the sum, count and average. {"average", "count", "mine"}."""
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise Invalid("stars: a whole number from 1 to 5", field="stars")
    row = _row(db, listing_id)
    if row is None:
        raise NotFound("no such asset")
    if row["creator_id"] == user_id:
        raise Forbidden("you made this asset: only buyers rate it")
    if not _owns(db, user_id, listing_id):
        if row["status"] != "published":
            raise NotFound("no such asset")
        raise Forbidden("only buyers can rate this asset: get it first")
    now = now_iso()
    db.execute(
        "INSERT INTO ratings (listing_id, user_id, stars, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (listing_id, user_id) "
        "DO UPDATE SET stars = excluded.stars, updated_at = excluded.updated_at",
        [listing_id, user_id, stars, now, now],
    )
    # recounted from the ratings, not adjusted: the listing's figures cannot drift
    count, total = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(stars), 0) FROM ratings WHERE listing_id = ?",
        [listing_id],
    ).fetchone()
    avg = total / count if count else 0.0
    db.execute(
        "UPDATE listings SET rating_count = ?, rating_sum = ?, rating_avg = ? WHERE id = ?",
        [count, total, avg, listing_id],
    )
    return {"average": round(avg, 2), "count": int(count), "mine": stars}
