"""Session ids: issued by the server, resumable only with the token they were issued with.

A puppet page that reloads asks for its old id back (so the OBS URL pasted into OBS keeps
working). Ids used to be whatever the client sent: once a session ended, anyone could open
a new one under its id with their own token, and the owner's page and OBS source got 403
(issue 12). Now the server makes every id (`secrets.token_urlsafe(16)`: 128 random bits)
and remembers, for `ttl` seconds after its last use, a hash of the token it went with. A
resume is allowed only for an id this server issued, with that token; an id the client made
up, or one forgotten (expired, or pushed out by `limit` newer ones, or issued before a
restart when the server keeps no store), is refused, and the page starts under a new id.
An id is never given to anyone else: new ids are random, never taken from the client.

Across restarts (issue 15): with a `saver` the registry reports every kept (id, hash,
wall-clock expiry) to it (webapi/store/sessions.py writes them to SQLite off the event loop)
and `load` takes them back at start, so an OBS URL keeps working after a server restart.

Only a SHA-256 of each token is kept, so the registry (which outlives sessions) holds no
secret a memory dump could replay.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

TTL = 24 * 3600.0  # seconds an ended session's id stays resumable by its owner
LIMIT = 50_000  # ids remembered (~250 bytes each, ~12 MB at most); least recently used go first


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class IdentRegistry:
    """Issued (id, token) pairs, bounded in number and age."""

    def __init__(
        self,
        ttl: float = TTL,
        limit: int = LIMIT,
        clock: Callable[[], float] = time.monotonic,
        saver: Callable[[str, bytes, float], None] | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """`saver(id, token hash, expires at as wall-clock seconds)`: told of every id kept
        (must not block: it runs on the event loop)."""
        self.ttl = ttl
        self.limit = limit
        self.clock = clock
        self.wall = wall
        self.saver = saver
        self._ids: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # id -> (hash, until)

    def load(self, entries: Iterable[tuple[str, bytes, float]]) -> int:
        """Take back ids kept before a restart: (id, token hash, wall-clock expiry), oldest
        first. Expired or malformed entries are skipped; returns how many were taken."""
        taken = 0
        offset = self.clock() - self.wall()  # wall-clock expiry -> this registry's clock
        for sid, digest, expires in entries:
            if not isinstance(sid, str) or not isinstance(digest, bytes) or len(digest) != 32:
                continue
            until = float(expires) + offset
            if until <= self.clock() or until > self.clock() + self.ttl:
                continue
            self._ids[sid] = (digest, until)
            self._ids.move_to_end(sid)
            taken += 1
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)
        return taken

    def issue(self) -> tuple[str, str]:
        """A new (id, token). Not remembered until `keep`: only a session that opened
        takes room here, so failed offers cannot push the owners' ids out."""
        while True:
            sid = secrets.token_urlsafe(16)
            if sid not in self._ids:  # 2**-128 odds; cheap to be sure
                return sid, secrets.token_urlsafe(16)

    def keep(self, sid: str, token: str) -> None:
        """Remember (id, token) for another `ttl` from now: when its session opens, and
        again when it ends (the ttl counts from the end)."""
        self._remember(sid, _digest(token))

    def check(self, sid: str, token: str) -> None:
        """PermissionError unless `sid` was issued here with `token` and has not expired;
        a good check keeps it for another `ttl`."""
        self._expire()
        entry = self._ids.get(sid)
        if entry is None:
            raise PermissionError(
                f'session id "{sid:.64}" was not issued by this server (or has expired): '
                "start a new session without it"
            )
        if not secrets.compare_digest(entry[0], _digest(token)):
            raise PermissionError("that session id belongs to someone else")
        self._remember(sid, entry[0])

    def __contains__(self, sid: object) -> bool:
        self._expire()
        return sid in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def _remember(self, sid: str, digest: bytes) -> None:
        self._ids[sid] = (digest, self.clock() + self.ttl)
        self._ids.move_to_end(sid)
        if self.saver is not None:
            self.saver(sid, digest, self.wall() + self.ttl)
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def _expire(self) -> None:
        now = self.clock()
        # ordered by last use, and every use gives the same ttl: the expired are in front
        while self._ids:
            sid, (_, until) = next(iter(self._ids.items()))
            if until > now:
                break
            del self._ids[sid]
