"""A memo's results kept on disk between processes (engine/memo.py `Memo(store=...)`, whose
`Store` this is).

The renderer's static geometry of a rig (hulls, cores, mesh cuts: engine/render/renderer.py)
costs a second or more of Python per avatar, and every process that draws pays it again:
each `digigami serve` start, each Ray render worker, each test process. The pieces are pure
functions of their content keys and of the code that makes them, so they are kept as files
in a directory under `$DIGIGAMI_CACHE_DIR`, else under the checkout's git-ignored
`out/cache/`. `DIGIGAMI_CACHE_DIR=""` keeps nothing on disk. Files, not SQLite: the
engine never opens a database (docs/ARCHITECTURE.md), and a file renamed into place needs
no lock between processes.

- Keys are salted with the code that makes the values (`source_salt`): a changed hull
  algorithm never reads an older version's pieces.
- Values are their arrays' raw bytes after a JSON layout (each array's dtype, shape and
  offset; the nesting of tuples, lists, None, bools and numbers). Only plain number dtypes
  are read and nothing is unpickled, so a file someone else wrote can at worst be wrong; a
  value that cannot be read is a miss. (NumPy's `.npz` took longer to read than the
  pieces take to make: its headers are parsed as Python literals.)
- It is a cache: a disk that cannot be read or written turns it off for the process with
  one warning, and the results are made as if it were not there. Writes wait for a
  `flush` (a rig's pieces at once), and the directory is pruned to `max_entries` values
  when first used and again after every fifth of that written, the oldest written first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

FORMAT = 1  # of the stored values: part of every key's salt
BATCH = 256  # values waiting to be written, at most
MAX_VALUE_BYTES = 16 << 20  # a value larger than this is not kept
STALE_TMP_S = 3600.0  # a half-written value this old was left by a killed writer


def default_dir() -> Path | None:
    """`$DIGIGAMI_CACHE_DIR` (empty: no disk cache), else the checkout's `out/cache`."""
    env = os.environ.get("DIGIGAMI_CACHE_DIR")
    if env is not None:
        return Path(env) if env.strip() else None
    return Path(__file__).resolve().parents[1] / "out" / "cache"


def source_salt(*files: Path) -> bytes:
    """A digest of the code that makes a store's values (and of NumPy's version, whose
    arithmetic they come from): values made by other code are never read."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"format {FORMAT} numpy {np.__version__}".encode())
    for f in files:
        h.update(f.name.encode() + b"\x00" + f.read_bytes() + b"\x00")
    return h.digest()


_KINDS = "biuf"  # the dtype kinds a stored array may have (bool, ints, floats)


def encode(value: Any) -> bytes:
    """`value` (arrays, and tuples, lists, None, bools, ints, floats and strings of them)
    as bytes `decode` reads back equal: a JSON layout, a NUL, then the arrays' bytes."""
    blobs: list[bytes] = []
    at = 0

    def array(a: np.ndarray) -> dict[str, Any]:
        nonlocal at
        if a.dtype.kind not in _KINDS:
            raise TypeError(f"an array of dtype {a.dtype} cannot be stored")
        data = np.ascontiguousarray(a).tobytes()
        blobs.append(data)
        at += len(data)
        return {"d": a.dtype.str, "s": list(a.shape), "o": at - len(data)}

    def shape(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return {"a": array(v)}
        if isinstance(v, np.generic):  # a NumPy scalar keeps its dtype
            return {"g": array(np.asarray(v))}
        if isinstance(v, tuple):
            return {"t": [shape(x) for x in v]}
        if isinstance(v, list):
            return {"l": [shape(x) for x in v]}
        if v is None or isinstance(v, (bool, int, float, str)):
            return {"v": v}
        raise TypeError(f"a {type(v).__name__} cannot be stored")

    layout = json.dumps(shape(value), separators=(",", ":")).encode()
    return layout + b"\x00" + b"".join(blobs)


def decode(data: bytes) -> Any:
    """The value `encode` wrote, its arrays read-only; ValueError if it is not one."""
    cut = data.find(b"\x00")
    if cut < 0:
        raise ValueError("not a stored value: no layout")
    try:
        layout = json.loads(data[:cut])
    except ValueError as e:
        raise ValueError(f"not a stored value: {e}") from e
    body = memoryview(data)[cut + 1 :]

    def array(spec: Any) -> np.ndarray:
        dtype = np.dtype(spec["d"])
        if dtype.kind not in _KINDS:
            raise ValueError(f"not a stored value: an array of dtype {dtype}")
        shape = tuple(int(n) for n in spec["s"])
        count = math.prod(shape)
        start = int(spec["o"])
        if min(start, *shape, 0) < 0 or start + count * dtype.itemsize > len(body):
            raise ValueError("not a stored value: an array past its bytes")
        # a copy: the bytes hold arrays at any offset, and an unaligned array is slow (and
        # refused by numba); read-only, since memoised pieces are shared
        a = np.frombuffer(body, dtype, count, start).reshape(shape).copy()
        a.setflags(write=False)
        return a

    def build(node: Any) -> Any:
        if not isinstance(node, dict) or len(node) != 1:
            raise ValueError("not a stored value: a bad layout")
        ((kind, part),) = node.items()
        if kind == "a":
            return array(part)
        if kind == "g":
            return array(part)[()]
        if kind == "t":
            return tuple(build(x) for x in part)
        if kind == "l":
            return [build(x) for x in part]
        if kind == "v":
            return part
        raise ValueError(f"not a stored value: a node of kind {kind!r}")

    try:
        return build(layout)
    except (KeyError, TypeError) as e:
        raise ValueError(f"not a stored value: {e}") from e


class DiskStore:
    """Values by key, a file each in one directory shared by every process that uses it
    (written whole under a temporary name, then renamed into place: a reader sees a value
    whole or not at all, and no process locks another out). Thread-safe."""

    def __init__(self, root: Path, salt: bytes, max_entries: int = 20_000) -> None:
        self.root = root
        self.salt = salt
        self.max_entries = max_entries
        self._ready = False
        self._off = False
        self._pending: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.loads = 0  # values read from disk
        self.saves = 0  # values written to disk
        self._unpruned = 0  # values written since the directory was last pruned

    def _name(self, key: bytes) -> str:
        return hashlib.blake2b(self.salt + key, digest_size=20).hexdigest()

    def _open(self) -> bool:
        """Whether the directory can be used (made, and pruned, on first use)."""
        if not self._ready and not self._off:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                self._prune()
                self._ready = True
            except OSError as e:
                self._fail(e)
        return self._ready

    def _fail(self, e: Exception) -> None:
        log.warning("the disk cache %s is off for this process: %s", self.root, e)
        self._off, self._ready = True, False

    def _prune(self) -> None:
        names, now = [], time.time()
        with os.scandir(self.root) as it:
            for e in it:
                if not e.name.startswith("."):
                    if e.is_file():  # anything else here is not ours to prune
                        names.append(e.name)
                elif e.name.endswith(".tmp"):
                    try:  # a writer killed mid-write left it (a live one renames it soon)
                        if now - e.stat().st_mtime > STALE_TMP_S:
                            Path(e.path).unlink(missing_ok=True)
                    except FileNotFoundError:
                        pass  # renamed into place meanwhile
        if len(names) <= self.max_entries:
            return

        # the oldest written go, down to four fifths of the bound
        def written(name: str) -> float:
            try:
                return (self.root / name).stat().st_mtime
            except FileNotFoundError:  # another process pruned it
                return 0.0

        names.sort(key=written)
        for name in names[: len(names) - self.max_entries * 4 // 5]:
            (self.root / name).unlink(missing_ok=True)

    def load(self, key: bytes) -> tuple[Any] | None:
        """(the value stored under `key`,), or None."""
        name = self._name(key)
        with self._lock:
            data = self._pending.get(name)
            if data is None and not self._open():
                return None
        if data is None:
            try:
                data = (self.root / name).read_bytes()
            except FileNotFoundError:
                return None
            except OSError as e:
                with self._lock:
                    self._fail(e)
                return None
        try:
            value = decode(data)
        except ValueError:
            return None  # made again, and written over this one
        self.loads += 1
        return (value,)

    def save(self, key: bytes, value: Any) -> None:
        """Keep `value` under `key` (written at the next `flush`, or when BATCH wait)."""
        try:
            data = encode(value)
        except TypeError as e:
            log.warning("not kept on disk: %s", e)
            return
        if len(data) > MAX_VALUE_BYTES:
            return
        with self._lock:
            if self._off:
                return
            self._pending[self._name(key)] = data
            full = len(self._pending) >= BATCH
        if full:
            self.flush()

    def flush(self) -> None:
        """Write what is waiting."""
        with self._lock:
            pending, self._pending = self._pending, {}
            if not pending or not self._open():
                return
            tmp = f".{os.getpid()}.{threading.get_ident()}.tmp"
            try:
                for name, data in pending.items():
                    part = self.root / ("." + name + tmp)  # hidden until renamed
                    part.write_bytes(data)
                    os.replace(part, self.root / name)
                    self.saves += 1
                self._unpruned += len(pending)
                if self._unpruned >= max(self.max_entries // 5, 1):  # a long-lived server
                    self._unpruned = 0
                    self._prune()
            except OSError as e:
                self._fail(e)

    def close(self) -> None:
        self.flush()
