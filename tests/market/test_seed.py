"""The built-in listings (webapi/market/seed.py): built from the bundled content, inserted
once by the Digigami creator, idempotent, and never in the way of a real user."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.market.test_listings import add_user
from webapi.errors import Conflict, Forbidden
from webapi.market import listings, seed
from webapi.market.search import Query, search
from webapi.store import Store

ROOT = Path(__file__).resolve().parents[2]


def engine_styles() -> tuple[str, ...]:
    """engine/style/styles.py's STYLES, read from its source (importing it loads torch)."""
    tree = ast.parse((ROOT / "engine" / "style" / "styles.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "STYLES":
            return tuple(ast.literal_eval(node.value))
    raise AssertionError("engine/style/styles.py has no STYLES")


@pytest.fixture(scope="module")
def items() -> list[dict[str, Any]]:
    return seed.builtin_items()


def by_type(items: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [i for i in items if i["type"] == type_]


def test_items_come_from_the_bundled_content(items: list[dict[str, Any]]) -> None:
    base = json.loads((ROOT / "content/sprites/digi/base.json").read_text())["categories"]
    outfits = {i["content"]["label"] for i in by_type(items, "outfit")}
    assert outfits == set(base["outfit"])
    accessories = {i["content"]["label"] for i in by_type(items, "accessory")}
    assert accessories == set(base["accessories"]) - {"none"}
    machine = json.loads((ROOT / "content/animations/digi/statemachine.json").read_text())
    dances = [i for i in by_type(items, "animation") if i["content"].get("state") == "dance"]
    assert [d["content"]["variant"] for d in dances] == [
        v["animation"] for v in machine["states"]["dance"]["variants"]
    ]
    emotes = {i["content"]["state"] for i in by_type(items, "animation")} - {"dance"}
    assert emotes == {s for s, d in machine["states"].items() if d.get("layer") == "emote"}
    assert emotes >= {"wave", "cheer"}
    assert {i["content"]["style"] for i in by_type(items, "style_pack")} == set(engine_styles())
    bundled = json.loads((ROOT / "content/backgrounds/index.json").read_text())
    assert {i["content"]["background"] for i in by_type(items, "background")} == set(bundled)
    from engine import effects

    assert {i["content"]["effect"] for i in by_type(items, "effect")} == set(effects.BUILTIN)


def test_items_have_nice_names_stable_ids_and_builtin_content(
    items: list[dict[str, Any]],
) -> None:
    named = {i["name"]: i for i in items}
    assert named["Armor outfit"]["content"] == {
        "rig": "digi", "category": "outfit", "label": "armor", "builtin": True,
    }  # fmt: skip
    assert named["Dance 3: Robot"]["content"] == {
        "rig": "digi", "state": "dance", "variant": "dance_3", "builtin": True,
    }  # fmt: skip
    assert named["Wave emote"]["content"] == {"rig": "digi", "state": "wave", "builtin": True}
    assert len(named) == len(items)  # names are unique
    ids = [i["id"] for i in items]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"m[0-9a-f]{20}", i) for i in ids)
    assert seed.builtin_items() == items  # the same on every call
    assert named["Armor outfit"]["id"] == seed.builtin_id("outfit:armor")
    for item in items:
        assert item["compatibility"] == ["digi"] and item["content"]["builtin"] is True
        assert item["description"] and item["tags"]
        assert listings.check_tags(item["tags"]) == item["tags"]


def snapshot(store: Store) -> list[tuple[Any, ...]]:
    return store.read_now(
        lambda db: [tuple(r) for r in db.execute("SELECT * FROM listings ORDER BY id")]
    ) + store.read_now(lambda db: [tuple(r) for r in db.execute("SELECT * FROM users")])


def test_seed_lists_every_item_free_and_published_by_digigami(
    store: Store, items: list[dict[str, Any]]
) -> None:
    assert store.write_now(lambda db: seed.seed(db, items)) == len(items)
    user = store.read_now(
        lambda db: db.execute("SELECT id, username, email, password_hash FROM users").fetchall()
    )
    assert len(user) == 1
    uid, username, email, password_hash = user[0]
    assert (username, email, password_hash) == ("digigami", "market@digigami.invalid", "!")
    found = store.read_now(lambda db: search(db, Query(limit=100)))["items"]
    assert {i["id"] for i in found} == {i["id"] for i in items}
    for listing in found:
        assert listing["free"] and listing["builtin"] and listing["status"] == "published"
        assert listing["creator"] == {"id": uid, "name": "Digigami"}
    assert [i["name"] for i in store.read_now(
        lambda db: search(db, Query(text="robot")))["items"]] == ["Dance 3: Robot"]  # fmt: skip
    row = store.read_now(lambda db: listings.row_for_use(db, seed.builtin_id("outfit:armor"), None))
    assert row["content"]["label"] == "armor" and row["builtin"] == 1


def test_seeding_again_changes_nothing_and_adds_what_is_new(
    store: Store, items: list[dict[str, Any]]
) -> None:
    store.write_now(lambda db: seed.seed(db, items))
    before = snapshot(store)
    assert store.write_now(lambda db: seed.seed(db, items)) == 0
    assert snapshot(store) == before
    later = {
        "id": seed.builtin_id("outfit:future"), "key": "outfit:future", "type": "outfit",
        "name": "Future outfit", "description": "Added by a later version.",
        "tags": ["outfit"], "compatibility": ["digi"],
        "content": {"rig": "digi", "category": "outfit", "label": "future", "builtin": True},
    }  # fmt: skip
    assert store.write_now(lambda db: seed.seed(db, [*items, later])) == 1
    n = store.read_now(lambda db: db.execute("SELECT COUNT(*) FROM listings").fetchone()[0])
    assert n == len(items) + 1
    # a better description in a later version reaches the stored listing
    reworded = [{**items[0], "description": "Reworded."}, *items[1:]]
    assert store.write_now(lambda db: seed.seed(db, reworded)) == 1
    shown = store.read_now(lambda db: listings.get(db, items[0]["id"], None))
    assert shown["description"] == "Reworded."
    users = store.read_now(lambda db: db.execute("SELECT COUNT(*) FROM users").fetchone()[0])
    assert users == 1


def test_a_person_named_digigami_keeps_their_name(
    store: Store, items: list[dict[str, Any]]
) -> None:
    person = store.write_now(lambda db: add_user(db, "digigami", creator=False))
    store.write_now(lambda db: seed.seed(db, items[:3]))
    rows = store.read_now(
        lambda db: db.execute(
            "SELECT id, username, password_hash FROM users ORDER BY username"
        ).fetchall()
    )
    assert [(r[1], r[2]) for r in rows] == [("digigami", "x"), ("digigami-market", "!")]
    system = rows[1][0]
    shown = store.read_now(lambda db: listings.get(db, items[0]["id"], None))
    assert shown["creator"] == {"id": system, "name": "Digigami"}
    assert store.write_now(lambda db: seed.seed(db, items)) == len(items) - 3
    assert store.read_now(lambda db: db.execute("SELECT COUNT(*) FROM users").fetchone()[0]) == 2
    # the person cannot pass as the platform
    with pytest.raises(Conflict, match="reserved"):
        store.write_now(lambda db: listings.ensure_creator(db, person, "Digigami"))


def test_builtin_listings_cannot_be_rated_without_getting_them(
    store: Store, items: list[dict[str, Any]]
) -> None:
    store.write_now(lambda db: seed.seed(db, items[:1]))
    bob = store.write_now(lambda db: add_user(db, "bob", creator=False))
    with pytest.raises(Forbidden):
        store.write_now(lambda db: listings.rate(db, items[0]["id"], bob, 5))


def test_every_builtin_item_ships_its_thumbnail(items: list[dict[str, Any]]) -> None:
    """content/build/market_thumbs.py made one per built-in item (a fresh market shows them
    at once); a new built-in item without one fails here until the script is run again."""
    from PIL import Image

    folder = ROOT / "content" / "market"
    for item in items:
        path = folder / f"{item['id']}.png"
        assert path.is_file(), f"{item['key']}: no {path.name}: run content/build/market_thumbs.py"
        with Image.open(path) as im:
            assert im.size == (256, 256), item["key"]
    shipped = {p.stem for p in folder.glob("*.png")}
    assert shipped == {item["id"] for item in items}  # none left of a removed item
