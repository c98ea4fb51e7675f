"""Approved VTube Studio API plugins in the SQLite store (the `vts_plugins` table): what
streaming/vts/plugins.py's `PluginHub` remembers across reloads and restarts. Only a hash
of each plugin's token is kept."""

from __future__ import annotations

from typing import Any

from streaming.vts.plugins import Plugin
from webapi.store import Store, new_id, now_iso

MAX_PLUGINS = 10_000  # approved plugins kept in all (then the oldest go first)


def _plugin(row: dict[str, Any]) -> Plugin:
    return Plugin(
        id=row["id"],
        name=row["plugin_name"],
        developer=row["plugin_developer"],
        session=row["session_id"],
        owner=row["user_id"],
        created=row["created_at"] or "",
    )


class StoredPlugins:
    """`streaming.vts.plugins.PluginStore` on the store's one writer and its readers."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(
        self, token_hash: str, name: str, developer: str, session: str, owner: str | None
    ) -> Plugin:
        row = {
            "id": new_id(),
            "token_hash": token_hash,
            "plugin_name": name,
            "plugin_developer": developer,
            "session_id": session,
            "user_id": owner,
            "created_at": now_iso(),
            "last_used_at": None,
        }

        def write(db) -> None:
            db["vts_plugins"].insert(row)
            (n,) = db.execute("SELECT COUNT(*) FROM vts_plugins").fetchone()
            if n > MAX_PLUGINS:
                db.execute(
                    "DELETE FROM vts_plugins WHERE id IN (SELECT id FROM vts_plugins "
                    "ORDER BY created_at LIMIT ?)",
                    (n - MAX_PLUGINS,),
                )

        await self.store.write(write)
        return _plugin(row)

    async def find(self, token_hash: str) -> Plugin | None:
        rows = await self.store.read(
            lambda db: list(
                db.query("SELECT * FROM vts_plugins WHERE token_hash = ?", (token_hash,))
            )
        )
        if not rows:
            return None
        plugin = _plugin(rows[0])
        await self.store.write(
            lambda db: db.execute(
                "UPDATE vts_plugins SET last_used_at = ? WHERE id = ?", (now_iso(), plugin.id)
            )
        )
        return plugin

    async def of(self, session: str, owner: str | None) -> list[Plugin]:
        """The plugins allowed on this session, and on any session of this account."""
        rows = await self.store.read(
            lambda db: list(
                db.query(
                    "SELECT * FROM vts_plugins WHERE session_id = ? "
                    "OR (? IS NOT NULL AND user_id = ?) ORDER BY created_at",
                    (session, owner, owner),
                )
            )
        )
        return [_plugin(r) for r in rows]

    async def remove(self, plugin_id: str, session: str, owner: str | None) -> bool:
        """Forget a plugin allowed on this session (or this account): its token is void."""

        def write(db) -> bool:
            cur = db.execute(
                "DELETE FROM vts_plugins WHERE id = ? AND (session_id = ? "
                "OR (? IS NOT NULL AND user_id = ?))",
                (plugin_id, session, owner, owner),
            )
            return cur.rowcount > 0

        return await self.store.write(write)

    async def count(self) -> int:
        return await self.store.read(
            lambda db: db.execute("SELECT COUNT(*) FROM vts_plugins").fetchone()[0]
        )
