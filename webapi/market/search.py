"""Search over published listings (GET /api/marketplace/assets).

Search is SQLite FTS5 over name, description and tags (`listings_fts`, kept in step by
triggers). User text never reaches FTS5's query language: every whitespace-separated
token becomes a quoted FTS string (an inner `"` doubled) and the last one a prefix match,
so `"`, `*`, `NEAR(`, `a OR`, `col:x` are all just words to look for and no input can raise
a syntax error. Pagination is by keyset (the sort key and the id of the last row, in an
opaque cursor): rows added meanwhile never shift a page. The default order is "newest"
even when text is given (a listing page's order should not jump when a word is typed);
`sort=relevance` ranks by bm25 (name weighs most, then tags, then description).

Every function is synchronous on a `sqlite_utils.Database` (run it in `Store.read`).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webapi.errors import Invalid
from webapi.library.animations import known_rigs
from webapi.market.listings import (
    MAX_PRICE_CENTS,
    SELECT_LISTINGS,
    check_currency,
    check_type,
    is_listing_id,
    public,
    rows_of,
)

SEARCH_TEXT_MAX = 200
LIMIT_MAX = 100
DEFAULT_LIMIT = 24
SORTS = ("newest", "popular", "rating", "price", "price_desc", "relevance")
# a word matching at most this many listings drives a search (see `search`)
_FEW_HITS = 400
# bm25 weights per FTS column (name, description, tags): a word in the name counts most
_BM25 = "bm25(listings_fts, 10.0, 1.0, 5.0)"


@dataclass(frozen=True)
class Query:
    text: str = ""
    type: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    currency: str | None = None
    free: bool | None = None
    rig: str | None = None
    sort: str = "newest"
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


_PARAMS = (
    "text", "q", "type", "min_price", "max_price", "currency", "free", "rig", "sort",
    "limit", "cursor",
)  # fmt: skip
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _int_param(params: Mapping[str, str], name: str, lo: int, hi: int) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    raw = raw.strip()
    if not re.fullmatch(r"[0-9]{1,9}", raw) or not lo <= int(raw) <= hi:
        raise Invalid(f"{name}: a whole number from {lo} to {hi}", field=name)
    return int(raw)


def parse_query(params: Mapping[str, str]) -> Query:
    """A Query from URL parameters (all optional): text (or q), type, min_price,
    max_price, currency, free (true/false), rig, sort, limit, cursor. Invalid naming the
    bad or unknown parameter."""
    for key in params:
        if key not in _PARAMS:
            raise Invalid(
                f"{str(key)[:40]}: not a search parameter (they are {', '.join(_PARAMS)})",
                field=str(key)[:40],
            )
    text = params.get("text")
    if text is None:
        text = params.get("q")
    text = text or ""
    check_text(text)
    type_ = params.get("type") or None
    if type_ is not None:
        check_type(type_)
    currency = params.get("currency") or None
    if currency is not None:
        currency = check_currency(currency)
    free_raw = (params.get("free") or "").strip().lower()
    free: bool | None = None
    if free_raw in _TRUE:
        free = True
    elif free_raw in _FALSE:
        free = False
    elif free_raw:
        raise Invalid("free: true or false", field="free")
    rig = params.get("rig") or None
    if rig is not None and rig not in known_rigs():
        raise Invalid(f"rig: one of {', '.join(known_rigs())}", field="rig")
    sort = params.get("sort") or "newest"
    if sort not in SORTS:
        raise Invalid(f"sort: one of {', '.join(SORTS)}", field="sort")
    limit = _int_param(params, "limit", 1, LIMIT_MAX)
    min_price = _int_param(params, "min_price", 0, MAX_PRICE_CENTS)
    max_price = _int_param(params, "max_price", 0, MAX_PRICE_CENTS)
    if min_price is not None and max_price is not None and min_price > max_price:
        raise Invalid("min_price: must not be above max_price", field="min_price")
    cursor = params.get("cursor") or None
    q = Query(
        text=text, type=type_, min_price=min_price, max_price=max_price, currency=currency,
        free=free, rig=rig, sort=sort, limit=DEFAULT_LIMIT if limit is None else limit,
        cursor=cursor,
    )  # fmt: skip
    if cursor is not None:
        _decode_cursor(cursor, q.sort if fts_query(q.text) else _plain_sort(q.sort))
    return q


def check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise Invalid("text: must be a string", field="text")
    if len(text) > SEARCH_TEXT_MAX:
        raise Invalid(f"search text is at most {SEARCH_TEXT_MAX} characters", field="text")
    return text


def fts_query(text: str) -> str | None:
    """`text` as an FTS5 query that can never be a syntax error: each whitespace-separated
    token with a letter or digit becomes a quoted string (inner `"` doubled), implicitly
    ANDed, the last one a prefix match. None when no token is left (list everything)."""
    # control characters split words: SQLite would cut the query at a NUL ("unterminated
    # string"), and a lone surrogate cannot even be encoded for it
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text)
    tokens = [t for t in text.split() if any(ch.isalnum() for ch in t)]
    if not tokens:
        return None
    quoted = ['"' + t.replace('"', '""') + '"' for t in tokens]
    quoted[-1] += "*"
    return " ".join(quoted)


def _plain_sort(sort: str) -> str:
    # relevance means nothing without words to be relevant to
    return "newest" if sort == "relevance" else sort


# sort -> (key expression, direction)
_ORDER = {
    "newest": ("l.published_at", "DESC"),
    "popular": ("l.sales", "DESC"),
    "rating": ("l.rating_avg", "DESC"),
    "price": ("l.price_cents", "ASC"),
    "price_desc": ("l.price_cents", "DESC"),
    "relevance": ("f.score", "ASC"),  # bm25: lower is better
}


def _encode_cursor(sort: str, key: Any, last_id: str) -> str:
    raw = json.dumps({"s": sort, "k": key, "i": last_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    bad = Invalid("cursor: not a cursor from this search (start again without it)", field="cursor")
    if not isinstance(cursor, str) or len(cursor) > 512:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (ValueError, binascii.Error):
        raise bad from None
    if not isinstance(data, dict) or data.get("s") != sort or not is_listing_id(data.get("i")):
        raise bad
    key = data.get("k")
    if sort == "newest":
        ok = isinstance(key, str) and len(key) <= 40
    elif isinstance(key, bool) or not isinstance(key, int | float):
        ok = False
    elif sort in ("relevance", "rating"):
        ok = math.isfinite(key) and abs(key) < 2**53
    else:  # SQLite's integers are 64-bit: a bigger one could not even be bound
        ok = isinstance(key, int) and abs(key) < 2**53
    if not ok:
        raise bad
    return key, data["i"]


def search(db: Any, q: Query) -> dict[str, Any]:
    """Published listings matching `q`: {"items": [public...], "next_cursor": str|None}
    (None on the last page). Ties in the sort key are broken by id, so pages never repeat
    or skip a row.

    Two steps, both cheap: the page's ids in order (only the sort key travels through any
    sort), then those rows. With words, a rare word's few matches drive the query (looked
    up by rowid, then sorted); a common word's many are only a membership test while the
    sort's own index is walked in order and stops at the page's end."""
    check_text(q.text)
    if not 1 <= q.limit <= LIMIT_MAX:
        raise Invalid(f"limit: from 1 to {LIMIT_MAX}", field="limit")
    match = fts_query(q.text)
    sort = q.sort if match is not None else _plain_sort(q.sort)
    if sort not in _ORDER:
        raise Invalid(f"sort: one of {', '.join(SORTS)}", field="sort")
    key_expr, direction = _ORDER[sort]
    where = ["l.status = 'published'"]
    args: list[Any] = []
    source = "listings l"
    if match is not None and sort == "relevance":
        source = (
            f"(SELECT rowid AS fts_rowid, {_BM25} AS score FROM listings_fts "
            "WHERE listings_fts MATCH ?) f JOIN listings l ON l.rowid = f.fts_rowid"
        )
        args.append(match)
    elif match is not None:
        hits = db.execute(
            "SELECT COUNT(*) FROM listings_fts WHERE listings_fts MATCH ?", [match]
        ).fetchone()[0]
        # "+" keeps SQLite from driving the query from the match list (unary plus: no index)
        drive = "" if hits <= _FEW_HITS else "+"
        where.append(
            f"{drive}l.rowid IN (SELECT rowid FROM listings_fts WHERE listings_fts MATCH ?)"
        )
        args.append(match)
    if q.type is not None:
        where.append("l.type = ?")
        args.append(q.type)
    if q.currency is not None:
        where.append("l.currency = ?")
        args.append(q.currency)
    if q.min_price is not None:
        where.append("l.price_cents >= ?")
        args.append(q.min_price)
    if q.max_price is not None:
        where.append("l.price_cents <= ?")
        args.append(q.max_price)
    if q.free is True:
        where.append("l.price_cents = 0")
    elif q.free is False:
        where.append("l.price_cents > 0")
    if q.rig is not None:
        # an empty compatibility list means any rig (backgrounds, styles)
        where.append(
            "(l.compatibility = '[]' OR EXISTS "
            "(SELECT 1 FROM json_each(l.compatibility) WHERE json_each.value = ?))"
        )
        args.append(q.rig)
    if q.cursor is not None:
        key, last_id = _decode_cursor(q.cursor, sort)
        # a row value: SQLite walks the sort's index from the cursor on
        where.append(f"({key_expr}, l.id) {'<' if direction == 'DESC' else '>'} (?, ?)")
        args.extend([key, last_id])
    sql = (
        f"SELECT l.id, {key_expr} FROM {source} WHERE {' AND '.join(where)} "
        f"ORDER BY {key_expr} {direction}, l.id {direction} LIMIT ?"
    )
    args.append(q.limit + 1)
    page = db.execute(sql, args).fetchall()
    next_cursor = None
    if len(page) > q.limit:
        page = page[: q.limit]
        next_cursor = _encode_cursor(sort, page[-1][1], page[-1][0])
    ids = [r[0] for r in page]
    rows: dict[str, dict[str, Any]] = {}
    if ids:
        marks = ", ".join("?" * len(ids))
        rows = {r["id"]: r for r in rows_of(db.execute(f"{SELECT_LISTINGS} WHERE l.id IN ({marks})", ids))}
    return {"items": [public(rows[i]) for i in ids if i in rows], "next_cursor": next_cursor}
