"""Live sessions kept in the store: their ids (token hashes) and looks (issue 15).

`SessionLooks` is the `streaming.persist.SessionMemory` the HTTP layer gives the session
manager. One row per puppet session id in `live_sessions` (migration 2): the SHA-256 of its
token and when that expires (so a page, and the OBS URL, resume it after a server restart),
and its look as JSON (`streaming.persist.snapshot`: sprites, colours, style, framing,
scene, calibration). Writes go through the store's one writer and are never awaited by the
caller (the event loop only queues them); a failed write is logged.

A signed-in streamer wearing one of their saved avatars (`?avatar=<id>`) also has that
avatar's customizations updated as they change the look live, so My avatars and their other
browsers see it; a guest's look is kept under the session id only.

A stored state is read back defensively: a row too large, not JSON, or with customizations
the rig no longer has is logged and skipped (its other parts still apply), never an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable
from concurrent.futures import Future
from typing import Any

from streaming.idents import LIMIT
from webapi.errors import DomainError, Invalid
from webapi.library import avatars
from webapi.library import customizations as custom
from webapi.store.database import Store, now_iso

log = logging.getLogger(__name__)

MAX_STATE = 32 * 1024  # bytes of a stored look (a real one is well under 2 KB)


class SessionLooks:
    """Session ids and looks in `store` (opened by the app before the manager starts)."""

    def __init__(self, store: Store, *, rig: str = avatars.DEFAULT_RIG) -> None:
        self.store = store
        self.rig = rig
        self._tasks: set[asyncio.Task] = set()
        # (account, saved avatar id) -> the customizations last written there
        self._worn: dict[tuple[str, str], str] = {}

    # --- ids --------------------------------------------------------------------------------

    def idents(self) -> Iterable[tuple[str, bytes, float]]:
        """The ids still valid, oldest first; expired rows (and any past the registry's
        limit) are deleted first. Blocking: the manager calls it off the loop at start."""
        now = time.time()

        def prune(db: Any) -> None:
            db.execute("DELETE FROM live_sessions WHERE expires_at <= ?", [now])
            db.execute(
                "DELETE FROM live_sessions WHERE id NOT IN "
                "(SELECT id FROM live_sessions ORDER BY expires_at DESC LIMIT ?)",
                [LIMIT],
            )

        self.store.write_now(prune)
        rows = self.store.read_now(
            lambda db: db.execute(
                "SELECT id, token_hash, expires_at FROM live_sessions ORDER BY expires_at"
            ).fetchall()
        )
        kept = []
        for sid, digest, expires in rows:
            try:
                kept.append((sid, bytes.fromhex(digest), float(expires)))
            except (TypeError, ValueError):
                log.warning("ignoring a stored session id with a malformed token hash")
        return kept

    def keep_ident(self, sid: str, digest: bytes, expires: float) -> None:
        def write(db: Any) -> None:
            db.execute(
                "INSERT INTO live_sessions (id, token_hash, expires_at, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "token_hash = excluded.token_hash, expires_at = excluded.expires_at",
                [sid, digest.hex(), expires, now_iso()],
            )

        self._submit(write, f"keeping session id {sid}")

    # --- looks ------------------------------------------------------------------------------

    async def recall(self, sid: str) -> dict[str, Any] | None:
        row = await self.store.read(
            lambda db: db.execute(
                "SELECT state FROM live_sessions WHERE id = ? AND expires_at > ?",
                [sid, time.time()],
            ).fetchone()
        )
        if row is None or row[0] is None:
            return None
        text = row[0]
        if len(text) > MAX_STATE:
            log.warning("session %s: its stored look is too large (%d bytes); ignored",
                        sid, len(text))  # fmt: skip
            return None
        try:
            state = json.loads(text)
        except ValueError as e:
            log.warning("session %s: its stored look is not JSON (%s); ignored", sid, e)
            return None
        if not isinstance(state, dict):
            log.warning("session %s: its stored look is not an object; ignored", sid)
            return None
        if "customizations" in state:
            opts = await custom.options(self.rig)
            try:
                state["customizations"] = custom.validate(state["customizations"], opts)
            except (Invalid, DomainError) as e:
                log.warning("session %s: its stored customizations do not fit the rig (%s); "
                            "the rest of its look is restored", sid, e)  # fmt: skip
                del state["customizations"]
        return state

    def remember(self, sid: str, state: dict[str, Any], owner: str | None) -> None:
        text = json.dumps(state, separators=(",", ":"))
        if len(text) > MAX_STATE:
            log.warning("session %s: its look is too large to keep (%d bytes)", sid, len(text))
            return

        def write(db: Any) -> None:
            db.execute(
                "UPDATE live_sessions SET state = ?, updated_at = ? WHERE id = ?",
                [text, now_iso(), sid],
            )

        self._submit(write, f"keeping session {sid}'s look")
        saved = (state.get("avatar") or {}).get("saved")
        if owner is not None and avatars.is_saved_id(saved):
            self._wear(saved, owner, state.get("customizations") or {})

    def _wear(self, avatar_id: str, owner: str, values: dict[str, Any]) -> None:
        """Write a signed-in streamer's live look into their saved avatar (only theirs:
        `avatars.patch` checks), when it changed."""
        key, text = (owner, avatar_id), json.dumps(values, sort_keys=True)
        if self._worn.get(key) == text:
            return
        self._worn[key] = text
        if len(self._worn) > 1000:  # one per avatar worn live since the start; bounded
            self._worn.pop(next(iter(self._worn)))

        async def patch() -> None:
            try:
                await avatars.patch(
                    self.store, avatar_id, avatars.Who(user_id=owner), {"customizations": values}
                )
            except DomainError as e:  # not theirs (a public avatar worn), or gone
                log.info("not saving the live look to avatar %s: %s", avatar_id, e)
            except Exception:
                self._worn.pop(key, None)  # tried again with the next change
                log.exception("saving the live look to avatar %s failed", avatar_id)

        task = asyncio.get_running_loop().create_task(patch())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _submit(self, fn: Any, what: str) -> None:
        try:
            fut: Future = self.store.submit_write(fn)
        except RuntimeError as e:  # the store is closed (shutting down)
            log.warning("%s: not written (%s)", what, e)
            return

        def done(f: Future) -> None:
            if f.exception() is not None:
                log.warning("%s failed: %s", what, f.exception())

        fut.add_done_callback(done)
