"""Search (webapi/market/search.py `search`, `parse_query`) on a real SQLite FTS5 index:
any text is a valid search, filters, every sort order, and keyset pages that never repeat
or skip a row, also while listings are added between pages."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.market.test_listings import add_user, draft, grant
from webapi.errors import Invalid
from webapi.market import listings
from webapi.market import search as market_search
from webapi.market.search import Query, parse_query, search
from webapi.store import Store

# (name, description, tags, type, price, currency, compatibility, published)
CATALOG = [
    ("Neon casual", "A glowing jacket", ["neon", "casual"], "outfit", 500, "usd", ["digi"], True),
    ("Dancing queen", "A disco dance for Digi", ["dance"], "animation", 0, "usd", ["digi"], True),
    ("Sunset beach", "Warm light behind you", ["beach"], "background", 250, "digi", [], True),
    ("Sparkle aura", "Neon sparkles all around", ["effect"], "effect", 1200, "usd", [], True),
    ("Test hat", "A hat for the test rig", ["hat"], "accessory", 100, "usd", ["testrig"], True),
    ("Plain shirt", "Nothing special", ["basic"], "outfit", 0, "usd", ["digi"], True),
    ("Secret neon draft", "not yet public", ["neon"], "outfit", 300, "usd", ["digi"], False),
]


def fill(store: Store) -> dict[str, str]:
    """The catalog above, by a creator "ada"; name -> listing id."""

    def write(db: Any) -> dict[str, str]:
        ada = add_user(db, "ada")
        ids = {}
        for name, desc, tags, type_, price, cur, compat, pub in CATALOG:
            made = draft(
                db, ada, name=name, description=desc, tags=tags, type=type_,
                price_cents=price, currency=cur, compatibility=compat,
            )  # fmt: skip
            if pub:
                listings.set_status(db, made["id"], ada, "published")
            ids[name] = made["id"]
        return ids

    return store.write_now(write)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, dict[str, str]]]:
    """One filled store for the read-only tests of this module (hypothesis reuses it)."""
    s = Store(Path(tmp_path_factory.mktemp("search")) / "market.db").open()
    try:
        yield s, fill(s)
    finally:
        s.close()


def names(store: Store, **q: Any) -> list[str]:
    found = store.read_now(lambda db: search(db, Query(**q)))
    return [i["name"] for i in found["items"]]


PUBLISHED = {c[0] for c in CATALOG if c[7]}


def test_no_text_lists_every_published_listing_newest_first(catalog: Any) -> None:
    store, _ = catalog
    found = store.read_now(lambda db: search(db, Query()))
    assert {i["name"] for i in found["items"]} == PUBLISHED
    assert found["next_cursor"] is None
    keys = [(i["published_at"], i["id"]) for i in found["items"]]
    assert keys == sorted(keys, reverse=True)
    assert names(store, text="   \t ") == [i["name"] for i in found["items"]]


def test_words_match_name_description_and_tags(catalog: Any) -> None:
    store, _ = catalog
    assert set(names(store, text="neon")) == {"Neon casual", "Sparkle aura"}  # not the draft
    assert names(store, text="jacket") == ["Neon casual"]  # description
    assert names(store, text="beach") == ["Sunset beach"]  # tag and name
    assert names(store, text="neon jacket") == ["Neon casual"]  # every word must match
    assert names(store, text="dance") == ["Dancing queen"]  # porter stemming
    assert names(store, text="spark") == ["Sparkle aura"]  # the last word is a prefix
    assert names(store, text="NEON Casual") == ["Neon casual"]  # case-insensitive
    assert names(store, text="zebra") == []


FTS_SYNTAX = [
    '"', '""', '"neon', 'neon"', "*", "neon*", "NEAR(", "NEAR(neon casual)", "a OR",
    "OR", "AND", "NOT", "neon AND", "neon OR jacket", "NOT neon", "-", "-neon", "^", "^neon",
    ":", "col:x", "name:neon", "{name tags}: neon", "(", ")", "(neon", "+", "'", "\\", "\x00",
    "neon\x00casual", "🙂", "ё", "%", "_", "neon % _", "a" * 200,
]  # fmt: skip


@pytest.mark.parametrize("text", FTS_SYNTAX)
def test_fts_syntax_in_user_text_is_just_text(catalog: Any, text: str) -> None:
    store, _ = catalog
    found = store.read_now(lambda db: search(db, Query(text=text)))
    assert {i["status"] for i in found["items"]} <= {"published"}
    assert "Secret neon draft" not in {i["name"] for i in found["items"]}


def test_operators_do_not_act_as_operators(catalog: Any) -> None:
    store, _ = catalog
    # as FTS syntax, "neon OR zebra" would find neon listings; as words, "or" must match too
    assert names(store, text="neon OR zebra") == []
    assert names(store, text="NOT neon") == []  # not "everything but neon"
    assert names(store, text="name:neon") == []  # no column filter: "name neon" is a phrase
    assert set(names(store, text='"neon')) == {"Neon casual", "Sparkle aura"}
    assert names(store, text="*") == names(store)  # punctuation alone: list everything


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(max_size=market_search.SEARCH_TEXT_MAX)
    # every code point, lone surrogates too (a URL's %ED%A0%80 can decode to one)
    | st.text(st.characters(exclude_categories=()), max_size=market_search.SEARCH_TEXT_MAX)
)
def test_any_text_is_a_valid_search(catalog: Any, text: str) -> None:
    store, _ = catalog
    for sort in ("newest", "relevance"):
        found = store.read_now(lambda db, s=sort: search(db, Query(text=text, sort=s)))
        assert all(i["status"] == "published" for i in found["items"])
        assert {i["name"] for i in found["items"]} <= PUBLISHED


def test_text_over_200_characters_is_refused(catalog: Any) -> None:
    store, _ = catalog
    with pytest.raises(Invalid, match="search text is at most 200 characters"):
        store.read_now(lambda db: search(db, Query(text="a" * 201)))
    with pytest.raises(Invalid, match="search text is at most 200 characters"):
        parse_query({"text": "x" * 10_000})


def test_filters(catalog: Any) -> None:
    store, _ = catalog
    assert set(names(store, type="outfit")) == {"Neon casual", "Plain shirt"}
    assert set(names(store, free=True)) == {"Dancing queen", "Plain shirt"}
    assert "Plain shirt" not in names(store, free=False)
    assert set(names(store, min_price=250, max_price=500)) == {"Neon casual", "Sunset beach"}
    assert names(store, currency="digi") == ["Sunset beach"]
    # a rig filter keeps what names the rig and what fits any rig (empty compatibility)
    assert set(names(store, rig="testrig")) == {"Test hat", "Sunset beach", "Sparkle aura"}
    assert "Test hat" not in names(store, rig="digi")
    assert names(store, text="neon", type="effect") == ["Sparkle aura"]


def test_sorts(catalog: Any) -> None:
    store, _ = catalog
    by_price = store.read_now(lambda db: search(db, Query(sort="price")))["items"]
    assert [i["price_cents"] for i in by_price] == sorted(i["price_cents"] for i in by_price)
    desc = [i["price_cents"] for i in store.read_now(
        lambda db: search(db, Query(sort="price_desc")))["items"]]  # fmt: skip
    assert desc == sorted(desc, reverse=True)
    # a name match outranks a description match
    assert names(store, text="neon", sort="relevance") == ["Neon casual", "Sparkle aura"]
    # relevance without words is the newest order
    assert names(store, sort="relevance") == names(store)


def test_popular_and_rating_orders(store: Store) -> None:
    ids = fill(store)

    def bump(db: Any) -> None:
        db.execute("UPDATE listings SET sales = 7 WHERE id = ?", [ids["Plain shirt"]])
        db.execute("UPDATE listings SET sales = 3 WHERE id = ?", [ids["Sunset beach"]])
        bob = add_user(db, "bob", creator=False)
        for name, stars in (("Test hat", 4), ("Dancing queen", 5)):
            grant(db, bob, ids[name])
            listings.rate(db, ids[name], bob, stars)

    store.write_now(bump)
    assert names(store, sort="popular")[:2] == ["Plain shirt", "Sunset beach"]
    assert names(store, sort="rating")[:2] == ["Dancing queen", "Test hat"]


def walk(store: Store, q: Query, between: Any = None) -> list[str]:
    """Every id over every page of `q` (calling `between(page_no)` after each page)."""
    seen: list[str] = []
    cursor = None
    for page in range(100):
        found = store.read_now(
            lambda db, c=cursor: search(db, Query(**{**q.__dict__, "cursor": c}))
        )
        assert len(found["items"]) <= q.limit
        seen.extend(i["id"] for i in found["items"])
        cursor = found["next_cursor"]
        if cursor is None:
            return seen
        if between is not None:
            between(page)
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("few_hits", [400, 0], ids=["words-drive", "index-drives"])
@pytest.mark.parametrize("sort", market_search.SORTS)
def test_pages_cover_everything_once_in_order(
    catalog: Any, sort: str, few_hits: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both plans (a rare word's matches drive the query; a common word's are only a
    membership test while the sort's index is walked) page alike."""
    monkeypatch.setattr(market_search, "_FEW_HITS", few_hits)
    store, _ = catalog
    text = "neon" if sort == "relevance" or few_hits == 0 else ""
    whole = store.read_now(lambda db: search(db, Query(text=text, sort=sort, limit=100)))
    paged = walk(store, Query(text=text, sort=sort, limit=2))
    assert paged == [i["id"] for i in whole["items"]]
    assert len(paged) == len(set(paged))


def test_pages_are_stable_while_listings_are_added(store: Store) -> None:
    """Many rows share a timestamp (ties broken by id); rows published between pages
    neither repeat nor push an old row off the walk."""

    def many(db: Any) -> list[str]:
        ada = add_user(db, "ada")
        out = []
        for i in range(25):
            made = draft(db, ada, name=f"Item {i}", price_cents=(i % 4) * 100)
            listings.set_status(db, made["id"], ada, "published")
            out.append(made["id"])
        return out

    before = set(store.write_now(many))
    for sort in ("newest", "price", "price_desc", "popular"):
        added: list[str] = []

        def add(page: int, _added: list[str] = added) -> None:
            def write(db: Any) -> None:
                ada = db.execute("SELECT user_id FROM creators").fetchone()[0]
                made = draft(db, ada, name=f"Late {page}", price_cents=200)
                listings.set_status(db, made["id"], ada, "published")
                _added.append(made["id"])

            store.write_now(write)

        seen = walk(store, Query(sort=sort, limit=4), between=add)
        assert len(seen) == len(set(seen)), sort  # nothing twice
        assert before <= set(seen), sort  # nothing that was there is skipped
        before |= set(added)


def test_bad_cursors_are_invalid(catalog: Any) -> None:
    store, _ = catalog
    first = store.read_now(lambda db: search(db, Query(sort="price", limit=1)))
    assert first["next_cursor"]
    for bad in ("garbage", "!!!", "e30", first["next_cursor"][:-3], "A" * 600):
        with pytest.raises(Invalid, match="cursor"):
            store.read_now(lambda db, b=bad: search(db, Query(sort="price", cursor=b)))
    forged = [
        {"s": "price", "k": 10**30, "i": "m" + "0" * 20},  # beyond SQLite's integers
        {"s": "price", "k": "5", "i": "m" + "0" * 20},
        {"s": "price", "k": 5, "i": "'; --"},
        {"s": "rating", "k": float("nan"), "i": "m" + "0" * 20},
        {"s": "newest", "k": ["x"], "i": "m" + "0" * 20},
        ["price", 5],
    ]
    for data in forged:
        raw = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
        sort = data["s"] if isinstance(data, dict) else "price"
        with pytest.raises(Invalid, match="cursor"):
            store.read_now(lambda db, r=raw, s=sort: search(db, Query(sort=s, cursor=r)))
    with pytest.raises(Invalid, match="cursor"):  # a cursor of another order
        store.read_now(lambda db: search(db, Query(sort="newest", cursor=first["next_cursor"])))
    with pytest.raises(Invalid, match="cursor"):
        parse_query({"sort": "popular", "cursor": first["next_cursor"]})


def test_parse_query_reads_and_checks_every_parameter() -> None:
    q = parse_query(
        {"q": "neon", "type": "outfit", "min_price": "100", "max_price": "900",
         "currency": "USD", "free": "false", "rig": "digi", "sort": "price", "limit": "10"}
    )  # fmt: skip
    assert q == Query(
        text="neon", type="outfit", min_price=100, max_price=900, currency="usd", free=False,
        rig="digi", sort="price", limit=10,
    )  # fmt: skip
    assert parse_query({}) == Query()
    assert parse_query({"text": "a", "q": "b"}).text == "a"
    assert parse_query({"free": "1"}).free is True


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit: a whole number from 1 to 100"),
        ({"limit": "101"}, "limit: a whole number from 1 to 100"),
        ({"limit": "ten"}, "limit"),
        ({"min_price": "-1"}, "min_price"),
        ({"max_price": "1.5"}, "max_price"),
        ({"min_price": "500", "max_price": "100"}, "min_price: must not be above max_price"),
        ({"type": "weapon"}, "type: one of"),
        ({"currency": "eur"}, "currency: one of"),
        ({"free": "maybe"}, "free: true or false"),
        ({"rig": "nope"}, "rig: one of"),
        ({"sort": "random"}, "sort: one of"),
        ({"sort_by": "price"}, "sort_by: not a search parameter"),
    ],
)
def test_parse_query_names_the_bad_parameter(params: dict[str, str], message: str) -> None:
    with pytest.raises(Invalid) as e:
        parse_query(params)
    assert message in str(e.value)


def test_fts_query_quotes_every_token() -> None:
    assert market_search.fts_query("") is None and market_search.fts_query('" * ( -') is None
    assert market_search.fts_query("neon") == '"neon"*'
    assert market_search.fts_query('a"b OR c') == '"a""b" "OR" "c"*'
    assert market_search.fts_query("NEAR(x y)") == '"NEAR(x" "y)"*'


def test_control_characters_and_lone_surrogates_split_words(catalog: Any) -> None:
    store, _ = catalog
    # a NUL would end SQLite's copy of the query inside a quoted string
    assert names(store, text="neon\x00jacket") == ["Neon casual"]
    assert market_search.fts_query("neon\ud800jacket") == '"neon" "jacket"*'
    assert set(names(store, text="\ud800neon\udfff")) == {"Neon casual", "Sparkle aura"}
