"""A guest's avatars become an account's when that guest signs up or signs in: their
`avatars` rows change owner, and their generated files are claimed in the avatar file store
(so expiry of guests' files never deletes them)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

from webapi.accounts.tokens import iso

log = logging.getLogger(__name__)
_GUEST = re.compile(r"^[0-9a-f]{32}$")  # webapi/guests.py's cookie value


async def claim_guest(store: Any, avatar_files: Any, guest_id: str | None, user_id: str) -> int:
    """Move every avatar of guest `guest_id` to user `user_id`; how many moved.
    `avatar_files`: the generated avatars' file store (`AvatarStore`, anything with
    `claim(generation_id, owner)`), or None."""
    if not guest_id or not _GUEST.match(guest_id):
        return 0

    def write(db: Any) -> list[str | None]:
        rows = db.execute(
            "SELECT generation_id FROM avatars WHERE guest_id = ? AND owner_id IS NULL",
            [guest_id],
        ).fetchall()
        db.execute(
            "UPDATE avatars SET owner_id = ?, guest_id = NULL, updated_at = ? "
            "WHERE guest_id = ? AND owner_id IS NULL",
            [user_id, iso(time.time()), guest_id],
        )
        return [r[0] for r in rows]

    generations = await store.write(write)
    if avatar_files is not None:
        loop = asyncio.get_running_loop()
        for gid in {g for g in generations if g}:
            # a file write each; a missing generation (expired before it was saved) is fine
            if not await loop.run_in_executor(None, avatar_files.claim, gid, f"account:{user_id}"):
                log.info("claimed avatar's generated files %s are gone", gid)
    return len(generations)
