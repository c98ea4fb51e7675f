"""Encoded JSON answers kept while the store has committed nothing since they were read
(the avatar library's pages, the marketplace's searches)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any


class PageCache:
    """Encoded list pages, each valid while the store has committed nothing since it was
    read. Building a page (reading the rows, decoding their JSON columns, encoding the
    answer) is most of a list or search request's cost, and lists are read far more often
    than anything is saved (docs/PERFORMANCE.md, "REST API" and "Marketplace"). Any commit
    makes every page stale: coarse, but never wrong."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._pages: OrderedDict[tuple[Any, ...], tuple[int, bytes]] = OrderedDict()

    def get(self, key: tuple[Any, ...], commits: int) -> bytes | None:
        hit = self._pages.get(key)
        if hit is None or hit[0] != commits:
            return None
        self._pages.move_to_end(key)
        return hit[1]

    def put(self, key: tuple[Any, ...], commits: int, body: bytes) -> None:
        self._pages[key] = (commits, body)
        self._pages.move_to_end(key)
        while len(self._pages) > self.size:
            self._pages.popitem(last=False)
