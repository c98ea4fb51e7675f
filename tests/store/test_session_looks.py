"""Live sessions' ids and looks in the store (webapi/store/sessions.py): kept, pruned when
expired, read back defensively, and a signed-in streamer's live look written into their own
saved avatar (never into someone else's)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from webapi.library import avatars
from webapi.store import Store
from webapi.store.database import now_iso
from webapi.store.sessions import MAX_STATE, SessionLooks

DIGEST = bytes(range(32))


def _user(db, uid: str) -> None:
    db["users"].insert({
        "id": uid, "email": f"{uid}@example.org", "email_key": f"{uid}@example.org",
        "username": uid, "username_key": uid, "password_hash": "x", "created_at": now_iso(),
    })  # fmt: skip


def _state(**over) -> dict:
    state = {
        "v": 1,
        "avatar": {"face": None, "saved": None, "wears": "character"},
        "customizations": {"sprites": {"outfit": "armor"}},
        "framing": "bust",
    }
    state.update(over)
    return state


def test_ids_are_kept_and_expired_ones_pruned(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite").open()
    try:
        looks = SessionLooks(store)
        looks.keep_ident("live-session-1", DIGEST, time.time() + 100)
        looks.keep_ident("old-session-22", DIGEST, time.time() - 1)
        looks.keep_ident("live-session-1", bytes(32), time.time() + 200)  # kept again: updated
        store.write_now(lambda db: None)  # the queued writes are done
        kept = list(looks.idents())
        assert [(sid, digest) for sid, digest, _ in kept] == [("live-session-1", bytes(32))]
        rows = store.read_now(lambda db: db.execute("SELECT id FROM live_sessions").fetchall())
        assert rows == [("live-session-1",)]  # the expired row is gone from the file too
    finally:
        store.close()


def test_looks_are_read_back_defensively(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite").open()

    async def main() -> None:
        looks = SessionLooks(store)
        looks.keep_ident("session-abcdefgh", DIGEST, time.time() + 100)
        assert await looks.recall("session-abcdefgh") is None  # nothing saved yet
        looks.remember("session-abcdefgh", _state(), None)
        await store.write(lambda db: None)
        assert (await looks.recall("session-abcdefgh"))["customizations"] == {
            "sprites": {"outfit": "armor"}
        }
        assert await looks.recall("no-such-session") is None

        def put(text: str) -> None:
            store.write_now(lambda db: db.execute(
                "UPDATE live_sessions SET state = ? WHERE id = 'session-abcdefgh'", [text]))  # fmt: skip

        put("{not json")
        assert await looks.recall("session-abcdefgh") is None
        put(json.dumps([1]))
        assert await looks.recall("session-abcdefgh") is None
        put(json.dumps({"v": 1, "x": "y" * MAX_STATE}))
        assert await looks.recall("session-abcdefgh") is None
        # customizations the rig does not have are dropped; the rest stays
        put(json.dumps(_state(customizations={"sprites": {"outfit": "spacesuit"}})))
        state = await looks.recall("session-abcdefgh")
        assert "customizations" not in state and state["framing"] == "bust"
        # a look too large to keep is not written (the last good one stays)
        looks.remember("session-abcdefgh", _state(hotkeys={"k": "x" * MAX_STATE}), None)
        await store.write(lambda db: None)
        assert (await looks.recall("session-abcdefgh"))["framing"] == "bust"

    try:
        asyncio.run(main())
    finally:
        store.close()


def test_a_signed_in_streamers_live_look_goes_to_their_own_avatar(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite").open()

    async def main() -> None:
        await store.write(lambda db: (_user(db, "alice"), _user(db, "mallory")))
        mine = await avatars.insert(store, avatars.Who(user_id="alice"), name="Digi")
        looks = SessionLooks(store)
        looks.keep_ident("session-abcdefgh", DIGEST, time.time() + 100)
        worn = {"face": None, "saved": mine["id"], "wears": "character"}
        state = _state(avatar=worn, customizations={"sprites": {"outfit": "formal"}})
        # someone else wearing alice's avatar (it would have to be public): not written
        looks.remember("session-abcdefgh", state, "mallory")
        await asyncio.gather(*looks._tasks)
        row = await avatars.get(store, mine["id"], avatars.Who(user_id="alice"))
        assert row["customizations"] == {}
        looks.remember("session-abcdefgh", state, "alice")
        await asyncio.gather(*looks._tasks)
        row = await avatars.get(store, mine["id"], avatars.Who(user_id="alice"))
        assert row["customizations"] == {"sprites": {"outfit": "formal"}}
        # the same look again is no second write
        before = store.commits
        looks.remember("session-abcdefgh", state, "alice")
        await asyncio.gather(*looks._tasks)
        await store.write(lambda db: None)
        assert store.commits == before + 2  # the session row and the flush, no avatar write

    try:
        asyncio.run(main())
    finally:
        store.close()
