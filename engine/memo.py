"""A bounded, thread-safe memo of pure results keyed by the content of their inputs.

Built for the renderer's static geometry (engine/render/renderer.py `RigGeometry`): each of
a rig's pictures gets hulls and cores, and each mesh its cut triangles, all pure functions of
a few small arrays and a second or more of Python for a whole rig. Renderers are made again
and again for the same pictures (a still per studio thumbnail, a renderer per output size,
an outfit preview that changes one picture of fifty), so a picture's pieces are worked out
once per process, whoever asks: the render thread, the stills' thread or an export's. With a
store (engine/memo_store.py) they are also kept on disk, for the next process.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import numpy as np

T = TypeVar("T")


def content_key(*parts: Any) -> bytes:
    """A digest of `parts`: arrays by dtype, shape and bytes; anything else by its repr
    (numbers, strings, tuples of them)."""
    h = hashlib.blake2b(digest_size=20)
    for part in parts:
        if isinstance(part, np.ndarray):
            a = np.ascontiguousarray(part)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        else:
            h.update(repr(part).encode())
        h.update(b"\x00")
    return h.digest()


class Store(Protocol):
    """Where a memo keeps results between processes (engine/memo_store.py `DiskStore`)."""

    def load(self, key: bytes) -> tuple[Any] | None:
        """(the value stored under `key`,), or None."""
        ...

    def save(self, key: bytes, value: Any) -> None: ...

    def flush(self) -> None: ...


class Memo:
    """Results by content key, the least recently used dropped past `size`. Two threads
    asking for the same missing key may both compute it (the results are equal); nothing
    is computed under the lock. A `store` is asked before computing, and keeps what was
    computed (call `flush` when a batch of work is done)."""

    def __init__(self, size: int, store: Store | None = None) -> None:
        self.size = size
        self.store = store
        self._items: OrderedDict[bytes, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0  # computed (not in memory, nor in the store)

    def get(self, key: bytes, make: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        stored = None if self.store is None else self.store.load(key)
        if stored is not None:
            value = stored[0]
        else:
            with self._lock:
                self.misses += 1
            value = make()
            if self.store is not None:
                self.store.save(key, value)
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def flush(self) -> None:
        """Write what the store keeps waiting."""
        if self.store is not None:
            self.store.flush()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
