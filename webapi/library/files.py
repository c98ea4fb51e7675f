"""Generated avatars' files on disk: `<root>/<id>/<name>.png` plus `metadata.json`.

A folder is written under a temporary name and renamed into place in one step, so a reader
never sees a half-written avatar and a crash mid-save loses nothing that was already saved.
The saved-avatar rows (webapi/library/avatars.py) point at these folders by their id
(`generation_id`). Limits and errors: docs/GENERATION.md.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.face import FaceArt, FaceArtError
from engine.likeness.character import Character, CharacterError
from webapi.library.images import encode_png

_ID = re.compile(r"^[0-9a-f]{16}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
CHARACTER_FILE = "character.json"  # the user's edits of a generated avatar's character


def jsonable(value: Any) -> Any:
    """Engine metadata (numpy scalars, arrays, tuples) as plain JSON values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def default_root() -> Path:
    """`$DIGIGAMI_AVATAR_DIR`, else the repository's git-ignored `out/avatars`."""
    env = os.environ.get("DIGIGAMI_AVATAR_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "out" / "avatars"


@dataclass(frozen=True)
class SavedAvatar:
    id: str
    record: dict[str, Any]  # what metadata.json holds
    pngs: dict[str, bytes]  # name -> encoded PNG

    def url(self, name: str) -> str:
        return f"/avatars/{self.id}/{name}.png"


@dataclass
class _Entry:
    """What the store keeps in memory of one avatar: enough for quotas and expiry."""

    owner: str | None
    created: float  # seconds since the epoch
    bytes: int
    claimed: bool


class AvatarStore:
    """Generated avatars on disk: `<root>/<id>/<name>.png` and `<root>/<id>/metadata.json`.

    Each record names its `owner` (`guest:<id>` now; accounts later) and, once an account
    takes it, `claimed`. Unclaimed avatars expire (`expire`); claimed ones are never deleted
    here. Opening a store removes what a killed save left behind (`.tmp-*` folders)."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self._lock = threading.Lock()  # the index, claims and deletions (worker threads)
        self._index: dict[str, _Entry] | None = None
        self.remove_leftovers()

    def remove_leftovers(self) -> list[str]:
        """Delete the `.tmp-*` folders of saves that never finished (a crash, kill -9) and the
        `.del-*` ones of deletions that never finished; their names."""
        removed = []
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for path in self.root.iterdir():
                if path.name.startswith((".tmp-", ".del-")):
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path.name)
        return removed

    def save(
        self,
        avatar: Any,
        *,
        extra: dict[str, Any] | None = None,
        owner: str | None = None,
        claimed: bool = False,
    ) -> SavedAvatar:
        """Store a `GeneratedAvatar` (its `.outputs`, `.landmarks`, `.metadata`) under a new
        id, recorded as `owner`'s; `claimed`: an account's from the start (it never
        expires). Blocking (PNG encoding): call it off the event loop."""
        pngs: dict[str, bytes] = {}
        sizes: dict[str, dict[str, Any]] = {}
        for name, array in avatar.outputs.items():
            if not _NAME.match(name):
                raise ValueError(f"bad output name {name!r}")
            arr = np.asarray(array)
            pngs[name] = encode_png(arr)
            sizes[name] = {
                "width": int(arr.shape[1]),
                "height": int(arr.shape[0]),
                "channels": int(arr.shape[2]) if arr.ndim == 3 else 1,
            }
        avatar_id = secrets.token_hex(8)
        now = time.time()
        record = {
            "id": avatar_id,
            "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "outputs": {n: {"url": f"/avatars/{avatar_id}/{n}.png", **s} for n, s in sizes.items()},
            "metadata": jsonable(getattr(avatar, "metadata", {}) or {}),
            "landmarks": jsonable(getattr(avatar, "landmarks", None)),
            **jsonable(extra or {}),
        }
        if owner is not None:
            record["owner"] = owner
        if claimed:
            record["claimed"] = {"owner": owner, "at": record["createdAt"]}
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{avatar_id}-{secrets.token_hex(4)}"
        tmp.mkdir()
        try:
            for name, png in pngs.items():
                (tmp / f"{name}.png").write_bytes(png)
            meta = json.dumps(record, separators=(",", ":"))
            (tmp / "metadata.json").write_text(meta)
            os.rename(tmp, self.root / avatar_id)  # one step: all of it or none of it
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        size = sum(len(p) for p in pngs.values()) + len(meta)
        with self._lock:
            if self._index is not None:
                self._index[avatar_id] = _Entry(owner, now, size, claimed)
        return SavedAvatar(avatar_id, record, pngs)

    def usage(self, owner: str) -> tuple[int, int]:
        """(avatars, bytes) that `owner` keeps stored, claimed ones included."""
        with self._lock:
            entries = [e for e in self._entries().values() if e.owner == owner]
        return len(entries), sum(e.bytes for e in entries)

    def claim(self, avatar_id: str, owner: str) -> bool:
        """Mark an avatar as `owner`'s for good (an account's): it no longer expires and no
        clean-up deletes it. False when there is no such avatar. Blocking (a file write)."""
        with self._lock:
            record = self.get(avatar_id)
            if record is None:
                return False
            record["owner"] = owner
            record["claimed"] = {
                "owner": owner,
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            folder = self.root / avatar_id
            tmp = folder / f".metadata-{secrets.token_hex(4)}.json"
            tmp.write_text(json.dumps(record, separators=(",", ":")))
            os.replace(tmp, folder / "metadata.json")  # readers see the old or the new record
            entry = self._entries().get(avatar_id)
            if entry is not None:
                entry.owner, entry.claimed = owner, True
        return True

    def expire(self, max_age_s: float, now: float | None = None) -> list[str]:
        """Delete every unclaimed avatar older than `max_age_s`; their ids. Claimed ones are
        never deleted. Blocking (disk): run it off the event loop."""
        now = time.time() if now is None else now
        removed = []
        with self._lock:
            for avatar_id, entry in list(self._entries().items()):
                if entry.claimed or now - entry.created <= max_age_s:
                    continue
                gone = self.root / f".del-{avatar_id}-{secrets.token_hex(4)}"
                try:
                    os.rename(self.root / avatar_id, gone)  # vanishes for readers in one step
                except FileNotFoundError:
                    pass
                else:
                    shutil.rmtree(gone, ignore_errors=True)
                del self._index[avatar_id]  # type: ignore[union-attr]
                removed.append(avatar_id)
        return removed

    def delete(self, avatar_id: str) -> bool:
        """Remove an avatar's folder (a saved avatar deleted by its owner); False when there
        is none. Blocking (disk): run it off the event loop."""
        if not _ID.match(avatar_id):
            return False
        with self._lock:
            gone = self.root / f".del-{avatar_id}-{secrets.token_hex(4)}"
            try:
                os.rename(self.root / avatar_id, gone)  # vanishes for readers in one step
            except (FileNotFoundError, NotADirectoryError):
                return False
            shutil.rmtree(gone, ignore_errors=True)
            if self._index is not None:
                self._index.pop(avatar_id, None)
        return True

    def _entries(self) -> dict[str, _Entry]:
        """The index, read from disk on first use (the lock is held)."""
        if self._index is None:
            index: dict[str, _Entry] = {}
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                for folder in self.root.iterdir():
                    if _ID.match(folder.name) and folder.is_dir():
                        index[folder.name] = _read_entry(folder)
            self._index = index
        return self._index

    def get(self, avatar_id: str) -> dict[str, Any] | None:
        """The metadata record of a stored avatar, or None."""
        if not _ID.match(avatar_id):
            return None
        try:
            return json.loads((self.root / avatar_id / "metadata.json").read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            return None

    def face_art(self, avatar_id: str) -> FaceArt:
        """A stored avatar as art a live session can wear (its full and transparent
        pictures and its landmarks). LookupError when there is no such avatar; FaceArtError
        when its files cannot be used. Blocking (PNG decoding)."""
        record = self.get(avatar_id)
        full, tr = self.file(avatar_id, "full"), self.file(avatar_id, "transparent")
        if record is None or full is None or tr is None:
            raise LookupError(f'no avatar "{avatar_id}"')
        try:
            points = np.asarray(record.get("landmarks"), dtype=np.float64)
            with Image.open(full) as a, Image.open(tr) as b:
                rgb, rgba = np.asarray(a.convert("RGB")), np.asarray(b.convert("RGBA"))
        except (ValueError, TypeError, OSError) as e:
            raise FaceArtError(f"its stored files are damaged: {e}") from None
        if points.shape != (478, 2):
            raise FaceArtError("it was saved without its 478 face landmarks")
        return FaceArt(avatar_id, rgb, rgba, points)

    def character(self, avatar_id: str) -> Character | None:
        """The character assembled for a stored avatar (engine/likeness), the user's
        overrides applied; None for an avatar made before characters (it wears its photo
        face). LookupError when there is no such avatar."""
        record = self.get(avatar_id)
        if record is None:
            raise LookupError(f'no avatar "{avatar_id}"')
        override = self.root / avatar_id / CHARACTER_FILE
        try:
            data = json.loads(override.read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            data = record.get("character")
        if data is None:
            return None
        try:
            return Character.from_json(data)
        except CharacterError as e:
            raise FaceArtError(f"its stored character is damaged: {e}") from None

    def set_character(self, avatar_id: str, character: Character) -> None:
        """Keep `character` (the user's edits) for a stored avatar, replacing the file in
        one step. LookupError when there is no such avatar. Blocking."""
        if self.get(avatar_id) is None:
            raise LookupError(f'no avatar "{avatar_id}"')
        folder = self.root / avatar_id
        tmp = folder / f".{CHARACTER_FILE}.{secrets.token_hex(4)}"
        tmp.write_text(json.dumps(character.to_json(), separators=(",", ":")))
        os.replace(tmp, folder / CHARACTER_FILE)

    def file(self, avatar_id: str, name: str) -> Path | None:
        """The PNG of one output, or None (ids and names are checked: no path escapes)."""
        if not _ID.match(avatar_id) or not _NAME.match(name):
            return None
        path = self.root / avatar_id / f"{name}.png"
        return path if path.is_file() else None


def _read_entry(folder: Path) -> _Entry:
    """An avatar folder as an index entry; a damaged record counts as unclaimed and as old
    as its folder, so expiry still reaches it."""
    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    try:
        record = json.loads((folder / "metadata.json").read_text())
        created = calendar.timegm(time.strptime(record["createdAt"], "%Y-%m-%dT%H:%M:%SZ"))
        return _Entry(record.get("owner"), float(created), size, bool(record.get("claimed")))
    except (OSError, ValueError, KeyError, TypeError):
        return _Entry(None, folder.stat().st_mtime, size, False)
