"""Listings (webapi/market/listings.py) on a real SQLite store: every field's checks, who sees
what, a creator's edits, publishing, deleting drafts, and ratings by buyers only."""

from __future__ import annotations

import re
from typing import Any

import pytest

from webapi.errors import Conflict, Forbidden, Invalid, NotFound
from webapi.market import listings
from webapi.store import Store, new_id, now_iso


def add_user(db: Any, name: str, *, creator: bool = True) -> str:
    """A user row (no password hashing: these tests never sign in), a creator if asked."""
    uid = new_id()
    db.execute(
        "INSERT INTO users (id, email, email_key, username, username_key, password_hash, "
        "created_at) VALUES (?, ?, ?, ?, ?, 'x', ?)",
        [uid, f"{name}@example.com", f"{name}@example.com", name, name.lower(), now_iso()],
    )
    if creator:
        listings.ensure_creator(db, uid, name.capitalize())
    return uid


def draft(db: Any, creator: str, **fields: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "listing_id": listings.new_listing_id(),
        "creator_id": creator,
        "type": "outfit",
        "name": "Neon casual",
        "description": "A glowing take on the casual outfit.",
        "tags": ["neon", "casual"],
        "price_cents": 500,
        "currency": "usd",
        "compatibility": ["digi"],
        "manifest": {"type": "outfit"},
        "content": {"rig": "digi", "category": "outfit", "label": "neon"},
        "size_bytes": 1234,
    }
    args.update(fields)
    return listings.create_draft(db, **args)


def grant(db: Any, user_id: str, listing_id: str, *, revoked: bool = False) -> None:
    """What a purchase leaves behind (MONEY's module writes these in the product)."""
    pid = new_id()
    db.execute(
        "INSERT INTO purchases (id, buyer_id, kind, listing_id, amount_cents, currency, method, "
        "status, created_at) VALUES (?, ?, 'asset', ?, 0, 'usd', 'free', 'paid', ?)",
        [pid, user_id, listing_id, now_iso()],
    )
    db.execute(
        "INSERT INTO entitlements (user_id, listing_id, purchase_id, granted_at, revoked_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [user_id, listing_id, pid, now_iso(), now_iso() if revoked else None],
    )


@pytest.fixture
def ada(store: Store) -> str:
    return store.write_now(lambda db: add_user(db, "ada"))


def test_new_ids_have_the_listing_shape() -> None:
    ids = {listings.new_listing_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"m[0-9a-f]{20}", i) for i in ids)


def test_a_draft_is_stored_and_answered_in_the_public_shape(store: Store, ada: str) -> None:
    made = store.write_now(lambda db: draft(db, ada, tags=["Neon", "casual", "neon"]))
    assert made["status"] == "draft"
    assert made["tags"] == ["neon", "casual"]  # lower-cased, de-duplicated
    assert made["free"] is False and made["price_cents"] == 500 and made["currency"] == "usd"
    assert made["creator"] == {"id": ada, "name": "Ada"}
    assert made["compatibility"] == ["digi"]
    assert made["rating"] == {"average": 0.0, "count": 0}
    assert made["thumbnail_url"] == f"/api/marketplace/assets/{made['id']}/thumbnail.png"
    assert made["clip_url"].endswith("/preview.webm")
    assert "content" not in made and "manifest" not in made
    stored = store.read_now(
        lambda db: db.execute("SELECT tags FROM listings WHERE id = ?", [made["id"]]).fetchone()
    )
    assert stored[0] == "neon casual"  # what FTS indexes


BAD_FIELDS = [
    ("name", "", "name: must not be empty"),
    ("name", "   ", "name: must not be empty"),
    ("name", "x" * 81, "name: at most 80"),
    ("name", "bad\x00name", "name: must not contain control characters (U+0000)"),
    ("name", "evil\u202ename", "name: must not contain control characters (U+202E)"),
    ("name", 42, "name: must be a string"),
    ("description", "x" * 2001, "description: at most 2000"),
    ("description", "bell\x07", "description: must not contain control characters"),
    ("description", ["a"], "description: must be a string"),
    ("tags", "neon", "tags: must be a list"),
    ("tags", [f"t{i}" for i in range(13)], "tags: at most 12"),
    ("tags", ["two words"], "tags[0]: use 1 to 24 characters"),
    ("tags", ["ok", "x" * 25], "tags[1]: use 1 to 24 characters"),
    ("tags", ["<script>"], "tags[0]: use 1 to 24 characters"),
    ("tags", [""], "tags[0]: use 1 to 24 characters"),
    ("tags", [3], "tags[0]: must be a string"),
    ("price_cents", -1, "price_cents: must not be negative"),
    ("price_cents", 4.5, "price_cents: must be a whole number of cents"),
    ("price_cents", 5.0, "price_cents: must be a whole number of cents"),
    ("price_cents", True, "price_cents: must be a whole number of cents"),
    ("price_cents", "500", "price_cents: must be a whole number of cents"),
    ("price_cents", listings.MAX_PRICE_CENTS + 1, "price_cents: at most 100000"),
    ("price_cents", 10**30, "price_cents: at most 100000"),
    ("currency", "eur", "currency: one of usd, digi"),
    ("currency", None, "currency: one of usd, digi"),
    ("compatibility", ["nope"], "compatibility[0]: not a rig here"),
    ("compatibility", "digi", "compatibility: must be a list"),
    ("type", "weapon", "type: one of outfit"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_FIELDS)
def test_every_field_is_checked_and_nothing_is_stored(
    store: Store, ada: str, field: str, value: Any, message: str
) -> None:
    with pytest.raises(Invalid) as e:
        store.write_now(lambda db: draft(db, ada, **{field: value}))
    assert message in str(e.value)
    count = store.read_now(lambda db: db.execute("SELECT COUNT(*) FROM listings").fetchone())
    assert count[0] == 0


def test_limits_themselves_are_allowed(store: Store, ada: str) -> None:
    made = store.write_now(
        lambda db: draft(
            db, ada, name="n" * 80, description="line one\nline two\t" + "d" * 1980,
            tags=[f"tag-{i}" for i in range(12)], price_cents=listings.MAX_PRICE_CENTS,
            currency="DIGI", compatibility=[],
        )
    )  # fmt: skip
    assert made["currency"] == "digi" and made["compatibility"] == []
    assert len(made["tags"]) == 12 and made["price_cents"] == 100_000
    free = store.write_now(lambda db: draft(db, ada, price_cents=0, name="Fam 👨\u200d👩\u200d👧"))
    assert free["free"] is True and "\u200d" in free["name"]


def test_markup_is_kept_as_text_not_interpreted(store: Store, ada: str) -> None:
    name = '<img src=x onerror="alert(1)">'
    made = store.write_now(lambda db: draft(db, ada, name=name, description="<script>x</script>"))
    assert made["name"] == name and made["description"] == "<script>x</script>"


def test_only_creators_make_listings_and_ids_are_unique(store: Store, ada: str) -> None:
    bob = store.write_now(lambda db: add_user(db, "bob", creator=False))
    with pytest.raises(Forbidden, match="become a creator first"):
        store.write_now(lambda db: draft(db, bob))
    made = store.write_now(lambda db: draft(db, ada))
    with pytest.raises(Conflict):
        store.write_now(lambda db: draft(db, ada, listing_id=made["id"]))
    with pytest.raises(Invalid, match="not a listing id"):
        store.write_now(lambda db: draft(db, ada, listing_id="../etc"))


def test_ensure_creator_is_idempotent_and_digigami_is_reserved(store: Store, ada: str) -> None:
    again = store.write_now(lambda db: listings.ensure_creator(db, ada, "Ada"))
    renamed = store.write_now(lambda db: listings.ensure_creator(db, ada, "Ada L."))
    assert again["display_name"] == "Ada" and renamed["display_name"] == "Ada L."
    assert renamed["created_at"] == again["created_at"]
    n = store.read_now(lambda db: db.execute("SELECT COUNT(*) FROM creators").fetchone())
    assert n[0] == 1
    with pytest.raises(Conflict, match="reserved"):
        store.write_now(lambda db: listings.ensure_creator(db, ada, "digiGAMI"))
    with pytest.raises(Invalid, match="display_name"):
        store.write_now(lambda db: listings.ensure_creator(db, ada, ""))
    with pytest.raises(NotFound):
        store.write_now(lambda db: listings.ensure_creator(db, new_id(), "Ghost"))


def test_drafts_are_seen_only_by_their_creator(store: Store, ada: str) -> None:
    bob = store.write_now(lambda db: add_user(db, "bob"))
    made = store.write_now(lambda db: draft(db, ada))
    mine = store.read_now(lambda db: listings.get(db, made["id"], ada))
    assert mine["mine"] is True and mine["owned"] is False and mine["my_rating"] is None
    for viewer in (None, bob):
        with pytest.raises(NotFound, match="no such asset"):
            store.read_now(lambda db, v=viewer: listings.get(db, made["id"], v))
        with pytest.raises(NotFound):
            store.read_now(lambda db, v=viewer: listings.row_for_use(db, made["id"], v))
    # a missing id answers exactly the same
    with pytest.raises(NotFound, match="no such asset"):
        store.read_now(lambda db: listings.get(db, listings.new_listing_id(), None))
    with pytest.raises(NotFound, match="no such asset"):
        store.read_now(lambda db: listings.get(db, "'; DROP TABLE listings; --", None))


def test_row_for_use_decodes_the_content(store: Store, ada: str) -> None:
    made = store.write_now(lambda db: draft(db, ada))
    row = store.read_now(lambda db: listings.row_for_use(db, made["id"], ada))
    assert row["content"] == {"rig": "digi", "category": "outfit", "label": "neon"}
    assert row["compatibility"] == ["digi"] and row["tags"] == ["neon", "casual"]
    assert row["type"] == "outfit" and row["builtin"] == 0
    store.write_now(lambda db: listings.set_status(db, made["id"], ada, "published"))
    guest = store.read_now(lambda db: listings.row_for_use(db, made["id"], None))
    assert guest["content"]["label"] == "neon"


def test_publish_and_unpublish(store: Store, ada: str) -> None:
    made = store.write_now(lambda db: draft(db, ada))
    with pytest.raises(Conflict, match="draft"):
        store.write_now(lambda db: listings.set_status(db, made["id"], ada, "unpublished"))
    with pytest.raises(Invalid, match="status"):
        store.write_now(lambda db: listings.set_status(db, made["id"], ada, "draft"))
    pub = store.write_now(lambda db: listings.set_status(db, made["id"], ada, "published"))
    assert pub["status"] == "published" and pub["published_at"]
    assert store.read_now(lambda db: listings.get(db, made["id"], None))["status"] == "published"
    store.write_now(lambda db: listings.set_status(db, made["id"], ada, "unpublished"))
    with pytest.raises(NotFound):
        store.read_now(lambda db: listings.get(db, made["id"], None))
    again = store.write_now(lambda db: listings.set_status(db, made["id"], ada, "published"))
    assert again["published_at"] == pub["published_at"]  # the first publication counts
    bob = store.write_now(lambda db: add_user(db, "bob"))
    with pytest.raises(NotFound):
        store.write_now(lambda db: listings.set_status(db, made["id"], bob, "unpublished"))


def test_update_changes_only_the_given_fields_of_ones_own_listing(store: Store, ada: str) -> None:
    made = store.write_now(lambda db: draft(db, ada))
    new = store.write_now(
        lambda db: listings.update(db, made["id"], ada, {"name": " Neon v2 ", "tags": ["v2"]})
    )
    assert new["name"] == "Neon v2" and new["tags"] == ["v2"]
    assert new["description"] == made["description"] and new["price_cents"] == 500
    with pytest.raises(Invalid, match="price_cents"):
        store.write_now(
            lambda db: listings.update(db, made["id"], ada, {"name": "X", "price_cents": -5})
        )
    with pytest.raises(Invalid, match="status: cannot be changed"):
        store.write_now(lambda db: listings.update(db, made["id"], ada, {"status": "published"}))
    with pytest.raises(Invalid, match="JSON object"):
        store.write_now(lambda db: listings.update(db, made["id"], ada, ["name"]))  # type: ignore[arg-type]
    assert store.read_now(lambda db: listings.get(db, made["id"], ada))["name"] == "Neon v2"
    bob = store.write_now(lambda db: add_user(db, "bob"))
    with pytest.raises(NotFound):
        store.write_now(lambda db: listings.update(db, made["id"], bob, {"name": "mine now"}))


def test_only_drafts_are_deleted(store: Store, ada: str) -> None:
    a = store.write_now(lambda db: draft(db, ada))
    b = store.write_now(lambda db: draft(db, ada))
    bob = store.write_now(lambda db: add_user(db, "bob"))
    with pytest.raises(NotFound):
        store.write_now(lambda db: listings.delete_draft(db, a["id"], bob))
    store.write_now(lambda db: listings.delete_draft(db, a["id"], ada))
    with pytest.raises(NotFound):
        store.read_now(lambda db: listings.get(db, a["id"], ada))
    store.write_now(lambda db: listings.set_status(db, b["id"], ada, "published"))
    with pytest.raises(Conflict, match="unpublish"):
        store.write_now(lambda db: listings.delete_draft(db, b["id"], ada))


def test_by_creator_lists_every_status_newest_first(store: Store, ada: str) -> None:
    made = [store.write_now(lambda db, i=i: draft(db, ada, name=f"Item {i}")) for i in range(3)]
    store.write_now(lambda db: listings.set_status(db, made[1]["id"], ada, "published"))
    bob = store.write_now(lambda db: add_user(db, "bob"))
    store.write_now(lambda db: draft(db, bob, name="Not Ada's"))
    mine = store.read_now(lambda db: listings.by_creator(db, ada))
    assert {m["id"] for m in mine} == {m["id"] for m in made}
    keys = [(m["created_at"], m["id"]) for m in mine]
    assert keys == sorted(keys, reverse=True)
    assert {m["status"] for m in mine} == {"draft", "published"}


# --- ratings ------------------------------------------------------------------------------


@pytest.fixture
def published(store: Store, ada: str) -> str:
    made = store.write_now(lambda db: draft(db, ada))
    store.write_now(lambda db: listings.set_status(db, made["id"], ada, "published"))
    return made["id"]


def test_only_buyers_rate_once_each_and_the_average_is_kept(
    store: Store, ada: str, published: str
) -> None:
    bob, cy, dee = (store.write_now(lambda db, n=n: add_user(db, n, creator=False))
                    for n in ("bob", "cy", "dee"))  # fmt: skip
    with pytest.raises(Forbidden, match="only buyers"):
        store.write_now(lambda db: listings.rate(db, published, bob, 5))
    with pytest.raises(Forbidden, match="you made this"):
        store.write_now(lambda db: listings.rate(db, published, ada, 5))
    store.write_now(lambda db: grant(db, bob, published))
    store.write_now(lambda db: grant(db, cy, published))
    store.write_now(lambda db: grant(db, dee, published, revoked=True))  # refunded
    with pytest.raises(Forbidden, match="only buyers"):
        store.write_now(lambda db: listings.rate(db, published, dee, 1))
    assert store.write_now(lambda db: listings.rate(db, published, bob, 5)) == {
        "average": 5.0, "count": 1, "mine": 5,
    }  # fmt: skip
    assert store.write_now(lambda db: listings.rate(db, published, cy, 2))["average"] == 3.5
    again = store.write_now(lambda db: listings.rate(db, published, bob, 3))  # replaces
    assert again == {"average": 2.5, "count": 2, "mine": 3}
    seen = store.read_now(lambda db: listings.get(db, published, bob))
    assert seen["rating"] == {"average": 2.5, "count": 2}
    assert seen["my_rating"] == 3 and seen["owned"] is True
    row = store.read_now(
        lambda db: db.execute(
            "SELECT rating_sum, rating_count, rating_avg FROM listings WHERE id = ?", [published]
        ).fetchone()
    )
    assert tuple(row) == (5, 2, 2.5)


@pytest.mark.parametrize("stars", [0, 6, -1, 4.5, True, "5", None])
def test_stars_are_whole_numbers_from_1_to_5(store: Store, published: str, stars: Any) -> None:
    bob = store.write_now(lambda db: add_user(db, "bob", creator=False))
    store.write_now(lambda db: grant(db, bob, published))
    with pytest.raises(Invalid, match="stars: a whole number from 1 to 5"):
        store.write_now(lambda db: listings.rate(db, published, bob, stars))
    n = store.read_now(lambda db: db.execute("SELECT COUNT(*) FROM ratings").fetchone())
    assert n[0] == 0


def test_rating_a_missing_or_hidden_listing_is_not_found(store: Store, ada: str) -> None:
    bob = store.write_now(lambda db: add_user(db, "bob", creator=False))
    hidden = store.write_now(lambda db: draft(db, ada))
    with pytest.raises(NotFound):
        store.write_now(lambda db: listings.rate(db, hidden["id"], bob, 4))
    with pytest.raises(NotFound):
        store.write_now(lambda db: listings.rate(db, listings.new_listing_id(), bob, 4))
