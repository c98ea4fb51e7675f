"""Digi's own items, listed free by the "Digigami" creator so a fresh machine has a market
to browse, try on and "buy" from (docs/MARKETPLACE.md).

`builtin_items()` reads them from the bundled content: the outfits and accessories of
Digi's sprite library, the dances and emotes of its state machine, the built-in
generation styles, the bundled backgrounds and the engine's built-in effects. `seed(db,
items)` inserts the ones missing (and brings a changed one up to date), so running it at
every start is cheap and changes nothing the second time, and an item added by a later
version appears on the next start.

Ids are stable: "m" + the first 20 hex digits of sha256 of the item's key (e.g.
"outfit:armor"), so the same item has the same id on every machine and every run.

The Digigami creator is a real `users` row that cannot sign in (password hash "!"),
found again by that and its reserved email (market@digigami.invalid, or market+N@... when
a person took it). Its username is "digigami", or "digigami-market" (then
"digigami-market-2", ...) when a person already has that name: seeding never fails on a
database where the name is taken.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from webapi.market import listings
from webapi.store import new_id, now_iso

ROOT = Path(__file__).resolve().parents[2]
CONTENT = ROOT / "content"
RIG = "digi"
SYSTEM_EMAIL = "market@digigami.invalid"
SYSTEM_USERNAMES = ("digigami", "digigami-market", *(f"digigami-market-{n}" for n in range(2, 10)))
# engine/style/styles.py STYLES (kept here so listing them does not import torch; a test
# checks the two agree)
STYLES: dict[str, tuple[str, str]] = {
    "kingdom-hearts": (
        "Kingdom Hearts style",
        "Bright, saturated colour, bold clean lines and big eyes.",
    ),
    "dark-cloud": (
        "Dark Cloud style",
        "A darker, cool, desaturated palette with heavy ink lines.",
    ),
    "ghibli": (
        "Ghibli style",
        "Soft watercolour and pastel tones, thin warm lines, a gentle touch.",
    ),
    "cel-shade": (
        "Cel-shade style",
        "Hard two- and three-tone bands and strong outlines.",
    ),
}

_OUTFITS = {
    "armor": ("Armor outfit", "Plate armour from shirt to shoes, for the hero in you."),
    "casual": ("Casual outfit", "Digi's everyday look: shirt, jeans and sneakers."),
    "formal": ("Formal outfit", "A sharp suit with trousers and dress shoes."),
}
_ACCESSORIES = {
    "glasses": ("Glasses", "A pair of glasses."),
    "hat": ("Cap", "A cap worn over the hair."),
    "scarf": ("Scarf", "A wrapped scarf with a loose end."),
}
# content/build/digi_motion.py's dance_N clips, as their docstrings describe them
_DANCES = {
    "dance_1": ("Raise the roof", "A bounce on every beat, open hands pushing up, 120 bpm."),
    "dance_2": ("Slow sway", "Arms wide, hips and chest in counter-motion, eyes closed."),
    "dance_3": ("Robot", "Hard pose hits every quarter second."),
    "dance_4": ("Disco", "Point up and out, then down across, hips swinging to the beat."),
    "dance_5": ("Running man", "A knee lift while the other foot slides back, fast arms."),
    "dance_6": ("Arm wave", "A wave travels from one hand through the chest to the other."),
    "dance_7": ("Twist", "Low stance, knees in and out, hips against chest."),
    "dance_8": ("Jumping jacks", "Hop out with the arms up in a V, hop in with them down."),
    "dance_9": ("Head-bang", "Sharp nods, fist pumps and hair whipping at 160 bpm."),
}
_EFFECTS = {
    "sparkles": "Twinkling sparkles around your avatar.",
    "sepia": "A warm, faded old-photograph tone.",
    "neon-glow": "Vivid colour with a pulsing neon glow.",
    "snowfall": "Snow drifting down over the whole scene.",
}
_EMOTES = {
    "cheer": ("Cheer", "Digi cheers."),
    "laugh": ("Laugh", "A hearty laugh."),
    "point": ("Point", "Points at something (or someone)."),
    "wave": ("Wave", "A friendly wave hello."),
}


def builtin_id(key: str) -> str:
    """The listing id of the built-in item `key` (e.g. "outfit:armor")."""
    return "m" + hashlib.sha256(key.encode()).hexdigest()[:20]


def _item(
    key: str, type_: str, name: str, description: str, tags: list[str], content: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": builtin_id(key),
        "key": key,
        "type": type_,
        "name": name,
        "description": description,
        "tags": tags,
        "compatibility": [RIG],
        "content": {**content, "builtin": True},
    }


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def builtin_items() -> list[dict[str, Any]]:
    """Every built-in item as {"id", "key", "type", "name", "description", "tags",
    "compatibility", "content"} (free, for Digi), in a stable order."""
    items: list[dict[str, Any]] = []
    sprites = _load(CONTENT / "sprites" / RIG / "base.json")["categories"]
    for label in sorted(sprites.get("outfit", {})):
        name, desc = _OUTFITS.get(label, (f"{label.replace('_', ' ').capitalize()} outfit", ""))
        items.append(
            _item(
                f"outfit:{label}", "outfit", name, desc or f"Digi's {label} outfit.",
                ["outfit", label, "digi"],
                {"rig": RIG, "category": "outfit", "label": label},
            )
        )  # fmt: skip
    for label in sorted(sprites.get("accessories", {})):
        if label == "none":
            continue
        name, desc = _ACCESSORIES.get(label, (label.replace("_", " ").capitalize(), ""))
        items.append(
            _item(
                f"accessory:{label}", "accessory", name, desc or f"Digi's {label}.",
                ["accessory", label, "digi"],
                {"rig": RIG, "category": "accessories", "label": label},
            )
        )  # fmt: skip
    machine = _load(CONTENT / "animations" / RIG / "statemachine.json")
    states = machine["states"]
    for n, variant in enumerate(states.get("dance", {}).get("variants", []), start=1):
        clip = variant["animation"]
        title, desc = _DANCES.get(clip, ("Dance", ""))
        items.append(
            _item(
                f"animation:dance:{clip}", "animation", f"Dance {n}: {title}",
                desc or f"One of Digi's dances ({clip}).",
                ["dance", "animation", "digi"],
                {"rig": RIG, "state": "dance", "variant": clip},
            )
        )  # fmt: skip
    for state in sorted(states):
        if states[state].get("layer") != "emote":  # the one-shot emotes (wave, cheer...)
            continue
        title, desc = _EMOTES.get(state, (state.replace("_", " ").capitalize(), ""))
        items.append(
            _item(
                f"animation:emote:{state}", "animation", f"{title} emote",
                desc or f"Digi's {state} emote.", ["emote", "animation", "digi"],
                {"rig": RIG, "state": state},
            )
        )  # fmt: skip
    for style, (title, desc) in STYLES.items():
        items.append(
            _item(
                f"style:{style}", "style_pack", title, desc,
                ["style", style, "generation"], {"style": style},
            )
        )  # fmt: skip
    backgrounds = _load(CONTENT / "backgrounds" / "index.json")
    for bg, title in sorted(backgrounds.items()):
        items.append(
            _item(
                f"background:{bg}", "background", f"{title} background",
                f"The bundled {title.lower()} backdrop, behind your avatar and in the OBS "
                "stream.", ["background", bg], {"background": bg},
            )
        )  # fmt: skip
    effects, titles = _builtin_effects()
    for name, spec in sorted(effects.items()):
        title = titles.get(name) or name.replace("-", " ").replace("_", " ").capitalize()
        desc = _EFFECTS.get(name) or (spec.get("description") if isinstance(spec, dict) else None)
        items.append(
            _item(
                f"effect:{name}", "effect", f"{title} effect",
                desc if isinstance(desc, str) and desc else f"The {title.lower()} effect.",
                ["effect", name.replace("_", "-")], {"effect": name},
            )
        )  # fmt: skip
    return items


def _builtin_effects() -> tuple[dict[str, Any], dict[str, str]]:
    """engine/effects.py's BUILTIN and their shown names (none while a checkout has no
    effects module). Imported here, not at the top, so importing this module stays light."""
    try:
        from engine import effects
    except ModuleNotFoundError as e:
        if e.name != "engine.effects":
            raise
        return {}, {}
    return dict(getattr(effects, "BUILTIN", {})), dict(getattr(effects, "BUILTIN_NAMES", {}))


# --- the system creator ---------------------------------------------------------------------


def system_user(db: Any) -> str:
    """The id of the Digigami system user, created when missing (see the module's note)."""
    row = db.execute(
        "SELECT id FROM users WHERE password_hash = '!' "
        "AND (email_key = ? OR email_key LIKE 'market+%@digigami.invalid') "
        "ORDER BY created_at, id LIMIT 1",
        [SYSTEM_EMAIL],
    ).fetchone()
    if row:
        return str(row[0])
    for n, username in enumerate(SYSTEM_USERNAMES):
        email = SYSTEM_EMAIL if n == 0 else f"market+{n}@digigami.invalid"
        taken = db.execute(
            "SELECT 1 FROM users WHERE username_key = ? OR email_key = ?",
            [username.lower(), email],
        ).fetchone()
        if taken:
            continue
        uid = new_id()
        db.execute(
            "INSERT INTO users (id, email, email_key, username, username_key, password_hash, "
            "created_at) VALUES (?, ?, ?, ?, ?, '!', ?)",
            [uid, email, email, username, username.lower(), now_iso()],
        )
        return uid
    raise RuntimeError("every reserved username for the Digigami creator is taken")


def seed(db: Any, items: list[dict[str, Any]]) -> int:
    """Insert the built-in listings missing from the database, published and free, by the
    Digigami creator; bring one whose name, description, tags, compatibility or content
    changed up to date. The number of listings inserted or changed (0: nothing to do)."""
    uid = system_user(db)
    listings.ensure_creator(db, uid, listings.SYSTEM_NAME)
    changed = 0
    for item in items:
        lid = item["id"]
        found = db.execute(
            "SELECT name, description, tags, compatibility, content, creator_id, builtin "
            "FROM listings WHERE id = ?",
            [lid],
        ).fetchone()
        if found is None:
            listings.create_draft(
                db,
                listing_id=lid,
                creator_id=uid,
                type=item["type"],
                name=item["name"],
                description=item["description"],
                tags=item["tags"],
                price_cents=0,
                currency="usd",
                compatibility=item["compatibility"],
                manifest={"type": item["type"], "name": item["name"], "builtin": True},
                content=item["content"],
                size_bytes=0,
                builtin=True,
            )
            listings.set_status(db, lid, uid, "published")
            changed += 1
            continue
        if found[5] != uid or not found[6]:
            continue  # not ours (cannot happen with hashed ids): never touch it
        want = (
            listings.check_name(item["name"]),
            listings.check_description(item["description"]),
            " ".join(listings.check_tags(item["tags"])),
            json.dumps(listings.check_compatibility(item["compatibility"])),
            json.dumps(item["content"]),
        )
        if tuple(found[:5]) != want:
            db.execute(
                "UPDATE listings SET name = ?, description = ?, tags = ?, compatibility = ?, "
                "content = ?, updated_at = ? WHERE id = ?",
                [*want, now_iso(), lid],
            )
            changed += 1
    return changed
