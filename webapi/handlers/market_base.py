"""What the marketplace's handlers (webapi/handlers/market*.py) share: the app's market
settings (storage root, Stripe, the download-signing key, the preview renderer), the raw
listing row, blocking calls off the event loop, a raw body read within a limit, and signed
download URLs. The domain is webapi/market/; nothing here decides what a listing or a
purchase may be."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from webapi.errors import Forbidden, Invalid, NotFound, TooLarge
from webapi.market import assets
from webapi.market.payments import Payments

T = TypeVar("T")
log = logging.getLogger(__name__)

PREFIX = "/api/marketplace"
MAX_JSON = 16 * 1024  # every JSON body of the market is a few fields
MAX_WEBHOOK = 64 * 1024  # Stripe's events are a few KB
DOWNLOAD_TTL_S = 300  # a signed download URL lives 5 minutes
SECRET_FILE = ".secret"  # under the market root: the download URLs' HMAC key (0600)
MAX_QUEUED_RENDERS = 32  # previews waiting for the one renderer: more are dropped (retried)


class Previews:
    """Renders listings' thumbnail and preview pictures (and clips) one at a time on a
    thread of its own: the engine takes seconds per item, and an upload's answer must not
    wait for it. A listing asked for twice while queued is rendered once; a full queue drops
    the request (the next look at a missing picture asks again)."""

    def __init__(self, root: Path, *, enabled: bool = True) -> None:
        self.root = root
        self.enabled = enabled
        self._pool: ThreadPoolExecutor | None = None
        self._pending: set[str] = set()
        self._lock = threading.Lock()

    def ready(self, listing_id: str) -> bool:
        # assets.render_previews writes the thumbnail last: its presence means all are there
        return (self.root / listing_id / assets.THUMB).is_file()

    def schedule(self, listing_id: str, type_: str, content: dict[str, Any]) -> bool:
        """Queue a render of `listing_id`'s previews; False when not queued (off, full or
        already queued)."""
        if not self.enabled:
            return False
        with self._lock:
            if listing_id in self._pending or len(self._pending) >= MAX_QUEUED_RENDERS:
                return False
            self._pending.add(listing_id)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="market-previews")
        self._pool.submit(self._render, listing_id, type_, content)
        return True

    def _render(self, listing_id: str, type_: str, content: dict[str, Any]) -> None:
        try:
            assets.render_previews(self.root, listing_id, type_, content)
        except Exception:  # the listing stays usable; its pictures say "not ready"
            log.exception("rendering the previews of listing %s failed", listing_id)
        finally:
            # a draft deleted before or while it rendered: rendering made its folder again
            # (built-in items have no files and keep theirs)
            if not content.get("builtin") and not (self.root / listing_id / "files").is_dir():
                assets.remove_listing_files(self.root, listing_id)
            with self._lock:
                self._pending.discard(listing_id)

    def close(self) -> None:
        """Drop what is queued and wait for the render under way."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


MARKET_ROOT = web.AppKey("market_root", Path)  # out/market: <listing id>/files, previews
PAYMENTS = web.AppKey("payments", Payments)
SIGNING_KEY = web.AppKey("market_signing_key", bytes)
PREVIEWS = web.AppKey("market_previews", Previews)
# payouts whose transfer this process is sending: a repeated request waits for the first
INFLIGHT_PAYOUTS = web.AppKey("market_inflight_payouts", set)


def root_of(request: web.Request) -> Path:
    return request.app[MARKET_ROOT]


def payments_of(request: web.Request) -> Payments:
    return request.app[PAYMENTS]


async def blocking(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` on the default executor: Stripe's HTTP calls, zips, files."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def read_raw(request: web.Request, limit: int, what: str) -> bytes:
    """The raw body, refused as soon as it passes `limit` (the declared length is checked
    first, but never trusted: the bytes are counted as they come)."""
    too_large = f"{what} is over its limit of {_size(limit)}"
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(too_large)
    chunks, size = [], 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise TooLarge(too_large)
        chunks.append(chunk)
    return b"".join(chunks)


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


def fields(body: Any, allowed: set[str], why: str = "") -> dict[str, Any]:
    """`body` as a JSON object with only `allowed` keys; Invalid naming the first other."""
    if not isinstance(body, dict):
        raise Invalid("the request body must be a JSON object")
    for key in body:
        if key not in allowed:
            wanted = ", ".join(f'"{k}"' for k in sorted(allowed))
            raise Invalid(f'"{str(key)[:40]}" is not accepted here{why} (send {wanted})', field=key)
    return body


def raw_listing(db: Any, listing_id: str, *, parse: bool = True) -> dict[str, Any] | None:
    """The listing's row as stored plus `creator_name` (what `listings.public` shows; with
    `parse`: `content`, `manifest` and `compatibility` decoded); None when there is none.
    Callers decide who may see it."""
    cursor = db.execute(
        "SELECT l.*, COALESCE(c.display_name, u.username, '') AS creator_name FROM listings l "
        "LEFT JOIN creators c ON c.user_id = l.creator_id "
        "LEFT JOIN users u ON u.id = l.creator_id WHERE l.id = ?",
        [listing_id],
    )
    row = cursor.fetchone()
    if row is None:
        return None
    out = dict(zip([c[0] for c in cursor.description], row, strict=True))
    for key in ("content", "manifest", "compatibility") if parse else ():
        if isinstance(out.get(key), str):
            try:
                out[key] = json.loads(out[key])
            except ValueError:
                out[key] = {}
    return out


def creator_row(db: Any, user_id: str) -> dict[str, Any] | None:
    row = db.execute(
        "SELECT user_id, display_name, connect_account_id, created_at FROM creators "
        "WHERE user_id = ?",
        [user_id],
    ).fetchone()
    if row is None:
        return None
    return dict(
        zip(("user_id", "display_name", "connect_account_id", "created_at"), row, strict=True)
    )


def require_creator(db: Any, user_id: str) -> dict[str, Any]:
    found = creator_row(db, user_id)
    if found is None:
        raise Forbidden(
            "you are not a creator yet: POST /api/marketplace/creator with a display_name first"
        )
    return found


# ---- signed download URLs ------------------------------------------------------------------
# The key is 32 random bytes in <market root>/.secret, made (mode 0600) the first time the
# server starts: a URL survives a restart, and the key is never in the database (a backup
# of it cannot mint downloads). Deleting the file invalidates every URL handed out.


def load_signing_key(root: Path) -> bytes:
    root.mkdir(parents=True, exist_ok=True)
    path = root / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex())
    return key


def _read_key(path: Path) -> bytes:
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError:
        key = b""
    if len(key) < 32:
        raise RuntimeError(f"{path} is damaged: delete it (download links are made anew)")
    return key


def _mac(key: bytes, listing_id: str, user_id: str, expires: int) -> str:
    message = f"download\n{listing_id}\n{user_id}\n{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign_download(
    key: bytes, listing_id: str, user_id: str, now: float | None = None
) -> dict[str, Any]:
    """`{"url", "expires_at"}`: a URL that lets `user_id` fetch `listing_id`'s package until
    it expires (DOWNLOAD_TTL_S). The user is in the URL so the download is counted for them;
    the signature covers listing, user and expiry."""
    expires = int(now if now is not None else time.time()) + DOWNLOAD_TTL_S
    sig = _mac(key, listing_id, user_id, expires)
    return {
        "url": f"{PREFIX}/downloads/{listing_id}?user={user_id}&expires={expires}&sig={sig}",
        "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires)),
    }


def check_download(key: bytes, listing_id: str, query: Any, now: float | None = None) -> str:
    """The user a signed download URL was made for; Forbidden when the signature is wrong
    or missing, or the URL has expired."""
    user, expires_raw, sig = query.get("user", ""), query.get("expires", ""), query.get("sig", "")
    try:
        expires = int(expires_raw)
    except ValueError:
        raise Forbidden("this download link is not valid (ask for a new one)") from None
    if not hmac.compare_digest(_mac(key, listing_id, user, expires), sig):
        raise Forbidden("this download link is not valid (ask for a new one)")
    if (now if now is not None else time.time()) > expires:
        raise Forbidden("this download link has expired (they last 5 minutes): ask for a new one")
    return user


def not_found(listing_id: str) -> NotFound:
    return NotFound(f'no listing "{listing_id[:40]}"')
