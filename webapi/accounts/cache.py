"""A small in-process cache of who a token belongs to. Every authenticated request looks its
token up; caching the answer for a few seconds keeps that off the database under load.
Sign-out and revocation in this process drop the entry at once (`forget`); the short TTL
bounds how long another process's revocation (the CLI's) can go unseen."""

from __future__ import annotations

import time
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    def __init__(self, ttl_s: float = 10.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._items: dict[str, tuple[float, V]] = {}

    def get(self, key: str, now: float | None = None) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        now = time.monotonic() if now is None else now
        if now - item[0] > self.ttl_s:
            self._items.pop(key, None)
            return None
        return item[1]

    def put(self, key: str, value: V, now: float | None = None) -> None:
        self._items.pop(key, None)
        while len(self._items) >= self.max_entries:  # oldest first: dicts keep insertion order
            self._items.pop(next(iter(self._items)))
        self._items[key] = (time.monotonic() if now is None else now, value)

    def forget(self, key: str) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()
