"""Avatar generation over the network: the seed's WebSocket protocol at `/ws`, the REST
fallback `POST /api/generate`, the stored avatars at `/avatars/...` and the `/create` page.

A request is checked in the order that costs least: its fields, then the data URL's length,
then the image header (size, pixel count), all before the job may wait in line. A waiting
job holds only its encoded upload: it is decoded once a slot is its own. Generation
(`engine.style.generate`) runs on a thread pool, never on the event loop, at most
`max_running` at once; later requests wait their turn in a line that is bounded (jobs and
bytes, per visitor and per address: `GenerationLimits`) and fair (a freed slot goes to the
client served longest ago). Every failure is answered to the one client that caused it, in
words, and the socket stays open. Protocol, limits and errors: docs/GENERATION.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import json
import logging
import secrets
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, ClientPayloadError, WSCloseCode, WSMsgType, web
from aiohttp.http_exceptions import HttpProcessingError

from streaming import jsonlimits
from streaming.jsonlimits import JSONLimitError
from streaming.ratelimit import TokenBucket
from webapi import guests
from webapi.errors import DomainError
from webapi.guests import Client
from webapi.handlers.identity import identify
from webapi.library import avatars as library
from webapi.library.files import AvatarStore
from webapi.library.images import (
    MAX_BYTES,
    MAX_DATA_URL,
    ImageError,
    check_header,
    decode_image,
    parse_data_url,
    png_data_url,
)
from webapi.limits import GenerationLimits, StorageQuota
from webapi.store import Store

if TYPE_CHECKING:
    from webapi.cluster.generation import ServeGeneration

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
MAX_JOBS = GenerationLimits.max_running  # generations running at once; more wait in line
WS_MAX_MSG = 32 * 1024 * 1024  # past this aiohttp closes the socket (1009); below it we answer
REST_MAX_BODY = MAX_DATA_URL + 1024 * 1024  # a JSON body: the data URL plus the other fields
MAX_SESSION_ID = 128
OUTPUT_SIZES = range(64, 2049)
FORM_TEXT = ("style", "sessionId", "options")  # multipart fields read as text
FORM_OPTIONS = ("preserveExpression", "enhanceDetails", "outputSize")  # ... merged into options
# A photo past this is decoded at full size before it is scaled down (MAX_DECODE_SIDE): one
# such decode at a time, so two 40 MP uploads cost 160 MB at a time, not 320
HUGE_PIXELS = 16_000_000
DISCONNECT_POLL_S = 0.25
OUTBOX_ERRORS = 256  # error answers are dropped while this many messages wait to be sent  # how often a REST job looks whether its client is still there

# Overall percents: our own stages around the engine's, which reports 0..100 itself.
P_QUEUED, P_DECODE, P_ENGINE_FROM, P_ENGINE_TO, P_SAVE, P_DONE = 0, 2, 5, 92, 95, 100


class BadRequest(ValueError):
    """A message with a missing or wrong field (the message names it)."""


class TooLarge(BadRequest):
    """A request body over its cap (413)."""


class TooMany(Exception):
    """Over a limit on jobs (per visitor, per address, or the line's): 429."""


class QuotaExceeded(Exception):
    """The owner's stored avatars are at their quota: 429."""


class Cancelled(Exception):
    """Cancelled by the client before or after the engine ran."""


class Unavailable(RuntimeError):
    """The engine cannot be loaded on this server."""


def _engine():
    """`engine.style`, imported on first use (it brings torch)."""
    try:
        return importlib.import_module("engine.style")
    except ImportError as e:
        raise Unavailable(f"avatar generation is not available on this server ({e})") from None


def _register_pack(engine: Any, pack: StylePack) -> None:
    """Load `pack`'s file and make it the engine's style `pack.key` (on a worker thread: it
    reads a file). The file was checked on upload; one that no longer loads is our fault,
    logged with its path and answered without it."""
    from engine.style.packs import load_pack

    try:
        _, params = load_pack(pack.file)
    except engine.StylePackError:
        log.exception("the style pack of listing %s does not load", pack.key)
        raise Unavailable(f'the style pack "{pack.name}" cannot be loaded on this server') from None
    engine.register_style(pack.key, params)


def measure_likeness(pixels: Any) -> dict[str, Any]:
    """The person's measured features and the character they ask for (engine/likeness), as
    a stored avatar's JSON fields; none when the photo cannot be measured (the style
    pipeline found a face, so this is rare: the avatar then wears its photo face)."""
    from engine.likeness.character import character_from
    from engine.likeness.measure import measure
    from engine.likeness.measure_types import MeasureError

    try:
        measurement = measure(pixels)
    except MeasureError as e:
        log.info("the photo could not be measured for a character: %s", e)
        return {}
    return {
        "features": measurement.to_json(),
        "character": character_from(measurement).to_json(),
    }


def classify(exc: BaseException) -> tuple[int, str]:
    """(HTTP status, message for the client) for a failed generation."""
    if isinstance(exc, DomainError):  # who is asking: a bad API token, a forged request
        return exc.status, str(exc)
    if isinstance(exc, TooLarge):
        return 413, str(exc)
    if isinstance(exc, (TooMany, QuotaExceeded)):
        return 429, str(exc)
    if isinstance(exc, (BadRequest, ImageError)):
        return 400, str(exc)
    if isinstance(exc, Cancelled):
        return 409, "generation cancelled"
    if isinstance(exc, Unavailable):
        return 503, str(exc)
    style = sys.modules.get("engine.style")
    if style is not None:
        if isinstance(exc, style.GenerationCancelled):
            return 409, "generation cancelled"
        if isinstance(exc, style.NoFaceDetectedError):
            return 422, str(exc) or "no face found in the photo"
        if isinstance(exc, style.StyleError):
            return 400, str(exc)
    log.error("avatar generation failed", exc_info=exc)
    return 500, "internal error while generating the avatar (logged on the server)"


def _flag(options: dict[str, Any], key: str, default: bool) -> bool:
    value = options.get(key, default)
    if isinstance(value, str) and value.lower() in (
        "true",
        "1",
        "on",
        "yes",
        "false",
        "0",
        "off",
        "no",
        "",
    ):
        return value.lower() in ("true", "1", "on", "yes")
    if not isinstance(value, bool):
        raise BadRequest(f"options.{key} must be true or false, not {json.dumps(value)[:40]}")
    return value


def parse_request(msg: dict[str, Any]) -> tuple[Any, str, dict[str, Any]]:
    """(image: data URL str or raw bytes, style, options as engine keywords) of a
    generate_avatar message; a `BadRequest` names the wrong field."""
    image = msg.get("image")
    if image is None or image == "":
        raise BadRequest('the message has no "image" (a data URL: "data:image/jpeg;base64,...")')
    if not isinstance(image, (str, bytes)):
        raise BadRequest('"image" must be a data URL string ("data:image/jpeg;base64,...")')
    style = msg.get("style")
    if not isinstance(style, str) or not style:
        raise BadRequest('the message has no "style" (for example "kingdom-hearts")')
    options = msg.get("options") or {}
    if isinstance(options, str):  # a multipart form field
        try:
            options = jsonlimits.parse(options, max_bytes=64 * 1024, what='"options"')
        except JSONLimitError as e:
            raise BadRequest(str(e)) from None
    if not isinstance(options, dict):
        raise BadRequest(
            '"options" must be an object {"preserveExpression", "enhanceDetails", "outputSize"}'
        )
    size = options.get("outputSize", 512)
    if isinstance(size, str) and size.strip().isdigit():
        size = int(size)
    if isinstance(size, bool) or not isinstance(size, int) or size not in OUTPUT_SIZES:
        raise BadRequest(
            f"options.outputSize must be a whole number of pixels from 64 to 2048, not {json.dumps(size)[:40]}"
        )
    return (
        image,
        style,
        {
            "preserve_expression": _flag(options, "preserveExpression", True),
            "enhance_details": _flag(options, "enhanceDetails", False),
            "output_size": size,
        },
    )


def session_id_of(msg: dict[str, Any]) -> str:
    sid = msg.get("sessionId")
    if sid is None or sid == "":
        return "gen_" + secrets.token_hex(6)
    if not isinstance(sid, str) or len(sid) > MAX_SESSION_ID:
        raise BadRequest(f'"sessionId" must be a string of at most {MAX_SESSION_ID} characters')
    return sid


@dataclasses.dataclass(frozen=True)
class StylePack:
    """A style besides the built-ins that one caller may generate with: a marketplace style
    pack they own or made (webapi/handlers/market_styles.py). A request names it by `key`
    (its listing id) or by `style`; the engine knows an uploaded one by `key`, since two
    creators may choose the same style name."""

    key: str
    style: str  # the pack's own style name (a built-in style's, for a built-in listing)
    name: str  # for people: the listing's name
    file: Path | None  # its safetensors; None: a built-in style's listing (`style` is it)


# a caller's (user id or None) extra styles; set by the marketplace, none without it
StyleSource = Callable[[str | None], Awaitable[list[StylePack]]]


class Job:
    """One generation: who asked, its upload (encoded, until a slot is its own), its cancel
    flag, its progress (never going back)."""

    def __init__(
        self,
        session_id: str,
        emit: Callable[[dict[str, Any]], None] | None = None,
        client: Client | None = None,
        user_id: str | None = None,
    ) -> None:
        self.session_id = session_id
        self.emit = emit
        self.client = client or Client(secrets.token_hex(16), "unknown", True)
        self.user_id = user_id  # a signed-in caller: the avatar is their account's
        self.flag = threading.Event()  # read by the worker thread
        self.cancel_event = asyncio.Event()  # awaited while queued
        self.percent = -1
        self.data: bytes | None = None  # the encoded upload while the job waits
        self.granted: asyncio.Future[None] | None = None  # set when a slot is handed over

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else 0

    @property
    def owner(self) -> str:
        """What its stored files are recorded under (and a guest's quota counted by)."""
        return f"account:{self.user_id}" if self.user_id else self.client.owner

    def cancel(self) -> None:
        self.flag.set()
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.flag.is_set()

    def report(self, percent: float, stage: str, message: str) -> None:
        """On the event loop: one progress message, the percent clamped so it never drops."""
        self.percent = max(self.percent, min(100, round(percent)))
        if self.emit is not None:
            self.emit(
                {
                    "type": "progress",
                    "sessionId": self.session_id,
                    "percent": self.percent,
                    "stage": stage,
                    "message": message,
                }
            )


class FairQueue:
    """The generation slots and the line for them, on the event loop.

    Admission counts a job against its client and its address (running or waiting) and
    refuses past either limit; the line is bounded in jobs and in encoded bytes. A freed
    slot goes to the waiting client with the fewest jobs running, then the one served
    longest ago, so a client that floods the line delays another by at most one of its
    jobs."""

    def __init__(self, limits: GenerationLimits) -> None:
        self.limits = limits
        self.running = 0
        self.queued = 0
        self.queued_bytes = 0
        self.waiting: dict[str, deque[Job]] = {}
        self.per_client: Counter[str] = Counter()  # admitted: running or waiting
        self.per_address: Counter[str] = Counter()
        self.running_of: Counter[str] = Counter()
        self.served: dict[str, int] = {}  # client -> when it last got a slot (a counter)
        self.turn = 0

    def admit(self, job: Job) -> None:
        """Count `job` in, or raise `TooMany` naming the limit it is over."""
        lim, c = self.limits, job.client
        if self.per_client[c.key] >= lim.max_jobs_per_client:
            raise TooMany(f"too many jobs: at most {lim.max_jobs_per_client} generations at once "
                          "per visitor (running or waiting); wait for one to finish")  # fmt: skip
        if self.per_address[c.address] >= lim.max_jobs_per_address:
            raise TooMany(f"too many jobs from your network address: at most "
                          f"{lim.max_jobs_per_address} generations at once (running or waiting); "
                          "wait for one to finish")  # fmt: skip
        self.per_client[c.key] += 1
        self.per_address[c.address] += 1

    def leave(self, job: Job) -> None:
        """Undo `admit` (the job has ended, whatever way)."""
        for counter, key in (
            (self.per_client, job.client.key),
            (self.per_address, job.client.address),
        ):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]

    async def acquire(self, job: Job) -> None:
        """A slot for `job`, waiting in line if none is free; `Cancelled` when the job is
        cancelled first, `TooMany` when the line is full."""
        if job.cancelled:
            raise Cancelled()
        if self.running < self.limits.max_running and not self.waiting:
            self._start(job)
            return
        lim = self.limits
        if self.queued >= lim.max_queued:
            raise TooMany(f"the generation queue is full ({lim.max_queued} jobs waiting): "
                          "try again in a minute")  # fmt: skip
        if self.queued_bytes + job.size > lim.max_queued_bytes:
            raise TooMany(f"the generation queue is full ({lim.max_queued_bytes / 2**20:.0f} MB "
                          "of photos waiting): try again in a minute")  # fmt: skip
        job.granted = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(job.client.key, deque()).append(job)
        self.queued += 1
        self.queued_bytes += job.size
        job.report(
            P_QUEUED,
            "queued",
            "Waiting in line: other avatars are being made first…",
        )
        cancel = asyncio.ensure_future(job.cancel_event.wait())
        try:
            await asyncio.wait({job.granted, cancel}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # the awaiting task itself was cancelled
            self._abandon(job)
            raise
        finally:
            cancel.cancel()
        if job.cancelled:
            self._abandon(job)
            raise Cancelled()

    def _abandon(self, job: Job) -> None:
        """A waiting job gives up: out of the line, or its slot passed on if it had one."""
        assert job.granted is not None
        if job.granted.done() and not job.granted.cancelled():
            self.release(job)
        else:
            self._unqueue(job)
            job.granted.cancel()

    def release(self, job: Job) -> None:
        """Give back `job`'s slot and hand it to the next in line."""
        self.running -= 1
        self.running_of[job.client.key] -= 1
        if self.running_of[job.client.key] <= 0:
            del self.running_of[job.client.key]
        self._grant()

    def _start(self, job: Job) -> None:
        self.running += 1
        self.running_of[job.client.key] += 1
        self.turn += 1
        self.served[job.client.key] = self.turn
        if len(self.served) > 4 * self.limits.max_queued:  # forget long-gone clients
            for key in [
                k for k in self.served if k not in self.waiting and k not in self.running_of
            ]:
                del self.served[key]

    def _unqueue(self, job: Job) -> None:
        line = self.waiting.get(job.client.key)
        if line is None or job not in line:
            return
        line.remove(job)
        if not line:
            del self.waiting[job.client.key]
        self.queued -= 1
        self.queued_bytes -= job.size

    def _grant(self) -> None:
        while self.running < self.limits.max_running and self.waiting:
            key = min(self.waiting, key=lambda k: (self.running_of[k], self.served.get(k, 0)))
            job = self.waiting[key][0]
            self._unqueue(job)
            self._start(job)
            assert job.granted is not None
            job.granted.set_result(None)


class Generator:
    """The thread pools, the fair queue, the store and its clean-up; one per app."""

    def __init__(
        self,
        store: AvatarStore,
        limits: GenerationLimits | None = None,
        quota: Callable[[str], StorageQuota | None] | None = None,
        db: Store | None = None,
    ) -> None:
        self.store = store
        self.db = db  # where a finished avatar is saved to its maker's library
        self.limits = limits or GenerationLimits()
        # the quota of an owner ("guest:<id>", later "account:<id>"); None: no quota
        self.quota = quota or self.default_quota
        self.max_jobs = self.limits.max_running
        self.pool = ThreadPoolExecutor(self.max_jobs, thread_name_prefix="generate")
        self.decoders = ThreadPoolExecutor(2, thread_name_prefix="decode")  # headers only
        self.huge_decode = threading.Lock()  # one photo over HUGE_PIXELS decoded at a time
        self.queue = FairQueue(self.limits)
        self.jobs: set[Job] = set()
        self.sockets: set[web.WebSocketResponse] = set()
        self.janitor: asyncio.Task | None = None
        # other areas' message types on this socket (exports: "export:watch"): type ->
        # handler(message, send, owner), where owner is "account:<id>" or "guest:<id>"
        self.handlers: dict[str, Callable[[dict[str, Any], Callable, str], None]] = {}
        # each socket's goodbye to those areas (its watchers are dropped): called with send
        self.farewells: list[Callable[[Callable], None]] = []
        self.style_packs: StyleSource | None = None  # the market's (market_styles.install)
        # cluster mode: the engine runs on Ray Serve (webapi/cluster/generation.py); the
        # queue, limits, quotas and saving stay here. None: on this server's thread pool
        self._remote: ServeGeneration | None = None

    def use_remote(self, remote: ServeGeneration) -> None:
        """Cluster mode: generate on Ray Serve (the same as setting `remote`)."""
        self.remote = remote

    @property
    def remote(self) -> ServeGeneration | None:
        return self._remote

    @remote.setter
    def remote(self, remote: ServeGeneration | None) -> None:
        """Cluster mode, set before any job: generate on Ray Serve. The line's slots become
        the deployment's capacity, so a job past it waits here, where its position is
        reported, not unseen in Serve's own queue."""
        self._remote = remote
        if remote is not None:
            self.limits = dataclasses.replace(self.limits, max_running=max(1, remote.capacity))
            self.max_jobs = self.limits.max_running
            self.queue.limits = self.limits

    def default_quota(self, owner: str) -> StorageQuota | None:
        return self.limits.guest_quota if owner.startswith("guest:") else None

    @property
    def running(self) -> int:
        return self.queue.running

    async def run(self, job: Job, msg: dict[str, Any]) -> dict[str, Any]:
        """Generate, store, and return the success `result` message; raises on failure.
        Until a slot is free the job holds only its encoded upload."""
        self.queue.admit(job)  # first, with no suspension before it: counts cannot race
        self.jobs.add(job)
        try:
            return await self._run(job, msg)
        finally:
            self.jobs.discard(job)
            self.queue.leave(job)
            job.data = None

    async def _run(self, job: Job, msg: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        image, style, options = parse_request(msg)
        msg.pop("image", None)  # the data URL is not kept while the job waits
        data = parse_data_url(image) if isinstance(image, str) else bytes(image)
        del image
        if len(data) > MAX_BYTES:
            raise ImageError(
                f"image too large: {len(data) / 2**20:.1f} MB (at most {MAX_BYTES / 2**20:.1f} MB)"
            )
        width, height = await loop.run_in_executor(self.decoders, check_header, data)
        engine = await loop.run_in_executor(self.decoders, _engine)
        style, label = await self._style(job, engine, style)
        await loop.run_in_executor(self.decoders, self._check_quota, job.owner)  # disk
        job.data = data
        del data
        await self.queue.acquire(job)
        try:
            return await self._generate(job, engine, style, options, width * height, label)
        finally:
            self.queue.release(job)

    async def _style(self, job: Job, engine: Any, requested: str) -> tuple[str, str]:
        """(the engine's name for the requested style, its name for people): a built-in
        style, or a style pack the caller owns or made, loaded from its file (validated by
        the engine's pack loader, never unpickled) and registered with the engine under its
        listing id. Anyone else's pack is unknown, as a misspelt style is."""
        if requested in engine.STYLES:
            return requested, requested
        packs = await self.style_packs(job.user_id) if self.style_packs is not None else []
        pack = next((p for p in packs if p.key == requested), None) or next(
            (p for p in packs if p.style == requested and p.file is not None), None
        )
        if pack is None:
            names = dict.fromkeys([*engine.STYLES, *(p.style for p in packs)])
            raise engine.UnknownStyleError(
                f'unknown style "{requested[:60]}": the styles are {", ".join(names)}'
            )
        if pack.file is None:  # a built-in style's listing
            return pack.style, pack.style
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.decoders, _register_pack, engine, pack)
        return pack.key, pack.name

    def _check_quota(self, owner: str) -> None:
        quota = self.quota(owner)
        if quota is None:
            return
        count, size = self.store.usage(owner)
        if count >= quota.avatars or size >= quota.bytes:
            days = self.limits.guest_max_age_s / 86400
            raise QuotaExceeded(
                f"storage quota reached: at most {quota.avatars} avatars or "
                f"{quota.bytes / 2**20:.0f} MB stored per visitor (you have {count}, "
                f"{size / 2**20:.1f} MB); unclaimed avatars are deleted {days:g} days after "
                "they were made"
            )

    async def _generate(
        self,
        job: Job,
        engine,
        style: str,
        options: dict[str, Any],
        pixel_count: int,
        label: str | None = None,
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        span = P_ENGINE_TO - P_ENGINE_FROM
        data, job.data = job.data, None  # the worker owns it now; the line's count is settled
        owner = job.owner

        def progress(percent: int, stage: str, message: str) -> None:  # on the worker thread
            overall = P_ENGINE_FROM + span * max(0.0, min(100.0, float(percent))) / 100.0
            loop.call_soon_threadsafe(job.report, overall, stage, message)

        def work():
            nonlocal data
            # decoded only now, in the slot: at most max_running pictures exist at once, and
            # one huge one (its full size exists while it is scaled down)
            with self.huge_decode if pixel_count > HUGE_PIXELS else contextlib.nullcontext():
                pixels = decode_image(data)
            data = None
            if job.cancelled:
                raise Cancelled()
            loop.call_soon_threadsafe(
                job.report, P_ENGINE_FROM, "starting", f"Generating a {style} avatar..."
            )
            avatar = engine.generate(
                pixels,
                style,
                engine.GenerationOptions(**options),
                progress=progress,
                cancelled=job.flag.is_set,
            )
            likeness = measure_likeness(pixels)
            del pixels
            if job.cancelled:
                raise Cancelled()
            loop.call_soon_threadsafe(job.report, P_SAVE, "saving", "Saving your avatar...")
            return self._store_avatar(job, avatar, style, options, likeness, owner)

        job.report(P_DECODE, "decoding", "Reading your photo…")
        if self.remote is not None:  # cluster mode: decoded and generated on a Serve replica
            running = asyncio.ensure_future(
                self._made_remotely(job, engine, data, style, options, pixel_count)
            )
            data = None
        else:
            running = loop.run_in_executor(self.pool, work)
        try:
            saved, data_url = await asyncio.shield(running)
        except asyncio.CancelledError:
            # the awaiting task was cancelled (a handler whose client left, a shutdown): stop
            # the worker and keep the slot until it has stopped, so slots stay true
            job.cancel()
            with contextlib.suppress(BaseException):
                await running
            raise
        meta = dict(saved.record["metadata"])
        meta.setdefault("style", style)
        meta.setdefault("processingTime", round((time.perf_counter() - started) * 1000))
        library_id = await self._save_to_library(job, saved.id, label or style)
        job.report(P_DONE, "done", "Your avatar is ready")
        outputs = {name: info["url"] for name, info in saved.record["outputs"].items()}
        return {
            # the measured features and the character assembled from them (null when the
            # photo could not be measured: the avatar is worn with its photo face)
            "features": saved.record.get("features"),
            "character": saved.record.get("character"),
            "type": "result",
            "sessionId": job.session_id,
            "success": True,
            "avatarId": saved.id,
            "avatarData": data_url,
            "avatarUrl": outputs.get("full"),
            "outputs": outputs,
            "metadata": meta,
            # the saved avatar made for the caller ("My avatars"); null if it could not be
            "libraryId": library_id,
        }

    def _store_avatar(
        self,
        job: Job,
        avatar: Any,
        style: str,
        options: dict[str, Any],
        likeness: dict[str, Any],
        owner: str,
    ) -> tuple[Any, str | None]:
        """(the saved avatar, its "full" picture as a data URL); on a worker thread."""
        saved = self.store.save(
            avatar,
            extra={"style": style, "options": options, **likeness},
            owner=owner,
            claimed=job.user_id is not None,  # an account's: it never expires
        )
        return saved, png_data_url(saved.pngs["full"]) if "full" in saved.pngs else None

    async def _made_remotely(
        self,
        job: Job,
        engine: Any,
        data: bytes,
        style: str,
        options: dict[str, Any],
        pixel_count: int,
    ) -> tuple[Any, str | None]:
        """`work`'s cluster twin: the engine on a Serve replica (its progress streamed back,
        `job.cancel()` cancelling it there), then saved here. The avatar's metadata names
        the replica that made it (`servedBy`)."""
        from webapi.cluster.generation import GenerationTask

        assert self.remote is not None
        loop = asyncio.get_running_loop()
        span = P_ENGINE_TO - P_ENGINE_FROM
        owner = job.owner

        def report(kind: str, percent: float, stage: str, message: str) -> None:
            if kind == "starting":  # decoded on the replica; the engine begins
                job.report(P_ENGINE_FROM, stage, message)
            else:
                job.report(P_ENGINE_FROM + span * max(0.0, min(100.0, percent)) / 100.0,
                           stage, message)  # fmt: skip

        # a style pack was registered here by `_style`; the replica gets its parameters
        pack = None if style in engine.STYLES else engine.style_params(style)
        task = GenerationTask(
            data, style, options, pixel_count,
            None if pack is None else {k: v.numpy() for k, v in pack.items()},
        )  # fmt: skip
        del data
        made = await self.remote.generate(task, report, job.cancel_event)
        if job.cancelled:
            raise Cancelled()
        job.report(P_SAVE, "saving", "Saving your avatar...")
        made.avatar.metadata["servedBy"] = made.served_by
        return await loop.run_in_executor(
            self.pool, self._store_avatar, job, made.avatar, style, options, made.likeness, owner
        )

    async def _save_to_library(self, job: Job, generation_id: str, style: str) -> str | None:
        """A saved avatar row for the job's caller: their account's when signed in, else
        their guest cookie's (claimed by the account they sign up or in with)."""
        if self.db is None:
            return None
        who = library.Who(job.user_id, None if job.user_id else job.client.guest)
        name = f"{style.replace('-', ' ').title()} avatar"
        try:
            return await library.record_generated(self.db, who, generation_id, name=name)
        except Exception:  # the avatar itself is saved: answer it, log what failed
            log.exception("saving generated avatar %s to the library failed", generation_id)
            return None

    async def startup(self, app: web.Application) -> None:
        self.janitor = asyncio.create_task(self._clean_up_periodically())

    async def _clean_up_periodically(self) -> None:
        """Expired guest avatars deleted now and every `cleanup_interval_s`, off the loop."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                gone = await loop.run_in_executor(
                    None, self.store.expire, self.limits.guest_max_age_s
                )
                if gone:
                    log.info("deleted %d expired avatars", len(gone))
            except Exception:  # a disk error must not end the clean-up for good
                log.exception("the avatar clean-up failed")
            await asyncio.sleep(self.limits.cleanup_interval_s)

    async def shutdown(self, app: web.Application) -> None:
        for job in list(self.jobs):
            job.cancel()
        for ws in list(self.sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"server shutting down")

    async def cleanup(self, app: web.Application) -> None:
        if self.janitor is not None:
            self.janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.janitor
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.decoders.shutdown(wait=False, cancel_futures=True)


GENERATOR = web.AppKey("generator", Generator)


def failure(session_id: str | None, exc: BaseException) -> dict[str, Any]:
    return {"type": "result", "sessionId": session_id, "success": False, "error": classify(exc)[1]}


# ---- the WebSocket ----------------------------------------------------------------------


async def websocket(request: web.Request) -> web.WebSocketResponse:
    gen = request.app[GENERATOR]
    client = guests.identify(request)
    user_id = (await identify(request)).user_id  # before the socket: an error is HTTP
    ws = web.WebSocketResponse(max_msg_size=WS_MAX_MSG, heartbeat=30)
    guests.remember(ws, request, client)
    await ws.prepare(request)
    # From here on the answer is a socket: nothing may reach the HTTP error middleware, which
    # would write an HTTP response into it.
    try:
        await _serve_socket(gen, ws, client, user_id)
    except Exception:
        log.exception("a generation socket failed")
        with contextlib.suppress(Exception):
            await ws.close(
                code=WSCloseCode.INTERNAL_ERROR, message=b"internal error (logged on the server)"
            )
    return ws


async def _serve_socket(
    gen: Generator, ws: web.WebSocketResponse, client: Client, user_id: str | None = None
) -> None:
    gen.sockets.add(ws)
    outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    writer = asyncio.create_task(_write(ws, outbox))
    jobs: dict[str, Job] = {}
    tasks: set[asyncio.Task] = set()
    lim = gen.limits
    bucket = TokenBucket(lim.ws_rate, lim.ws_burst)
    dropped = 0  # messages dropped in a row by the rate limit

    async def one(job: Job, msg: dict[str, Any]) -> None:
        try:
            result = await gen.run(job, msg)
        except Exception as e:
            result = failure(job.session_id, e)
        finally:
            jobs.pop(job.session_id, None)
        outbox.put_nowait(result)

    try:
        async for m in ws:
            if m.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                if m.type == WSMsgType.ERROR:
                    log.info("generation socket closed: %s", ws.exception())
                    break
                continue
            if not bucket.take(time.monotonic()):
                dropped += 1
                if dropped == 1:  # one answer per run of drops: the answers cannot flood either
                    outbox.put_nowait({"type": "error", "message": (
                        f"too many messages: at most {lim.ws_rate:g} a second ({lim.ws_burst} at "
                        "once); this one and the next ones are dropped until you slow down")})  # fmt: skip
                    log.warning("generation socket from %s: over the message rate", client.address)
                if dropped >= lim.ws_abuse_close:
                    log.warning("generation socket from %s closed: %d messages over the rate",
                                client.address, dropped)  # fmt: skip
                    await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too many messages")
                    break
                continue
            dropped = 0
            if m.type == WSMsgType.BINARY:
                outbox.put_nowait(
                    {"type": "error", "message": "messages are JSON text, not binary frames"}
                )
                continue
            try:
                _dispatch(m.data, outbox, jobs, tasks, one, client, lim, user_id, gen.handlers)
            except Exception:  # our bug, in one message: answer it, keep the socket
                log.exception("a generation message failed")
                outbox.put_nowait(
                    {"type": "error", "message": "internal error (logged on the server)"}
                )
            m = None  # a 13 MB data URL must not live on while its job waits
    finally:
        for farewell in gen.farewells:
            farewell(outbox.put_nowait)
        for job in jobs.values():  # nobody is listening: stop at the next stage
            job.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        outbox.put_nowait(None)
        with contextlib.suppress(Exception):
            await writer
        gen.sockets.discard(ws)


def _dispatch(
    raw: str,
    outbox: asyncio.Queue,
    jobs: dict[str, Job],
    tasks: set[asyncio.Task],
    one,
    client: Client,
    lim: GenerationLimits,
    user_id: str | None = None,
    handlers: dict[str, Callable[[dict[str, Any], Callable, str], None]] | None = None,
) -> None:
    def error(message: str, **extra: Any) -> None:
        if outbox.qsize() < OUTBOX_ERRORS:  # a client that never reads cannot grow it for good
            outbox.put_nowait({"type": "error", "message": message, **extra})

    try:
        msg = jsonlimits.parse(
            raw, max_bytes=WS_MAX_MSG, max_depth=lim.json_max_depth, what="the message"
        )
    except JSONLimitError as e:
        log.warning("generation socket from %s: %s", client.address, e)
        return error(f"malformed JSON: {e}")
    if not isinstance(msg, dict):
        return error('a message must be a JSON object with a "type"')
    kind = msg.get("type")
    if kind in ("generate_avatar", "generate:start"):
        try:
            sid = session_id_of(msg)
        except BadRequest as e:
            outbox.put_nowait(failure(None, e))
            return None
        if sid in jobs:
            outbox.put_nowait(
                {
                    "type": "result",
                    "sessionId": sid,
                    "success": False,
                    "error": f'a generation for session "{sid}" is already running',
                }
            )
            return None
        job = Job(sid, outbox.put_nowait, client, user_id)
        jobs[sid] = job
        task = asyncio.ensure_future(one(job, msg))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return None
    if kind == "generate:cancel":
        sid = msg.get("sessionId")
        job = jobs.get(sid) if isinstance(sid, str) else None
        if job is None:
            return error(
                f"no generation is running for session {json.dumps(sid)[:140]}", sessionId=sid
            )
        job.cancel()
        return None
    if handlers and isinstance(kind, str) and kind in handlers:
        owner = f"account:{user_id}" if user_id else client.key
        return handlers[kind](msg, outbox.put_nowait, owner)
    expected = ", ".join(
        f'"{k}"' for k in ("generate_avatar", "generate:cancel", *(handlers or {}))
    )
    return error(f"unknown message type {json.dumps(kind)[:60]} (expected one of {expected})")


async def _write(ws: web.WebSocketResponse, outbox: asyncio.Queue) -> None:
    """The one writer of a socket: messages leave in the order they were queued."""
    while (msg := await outbox.get()) is not None:
        if ws.closed:
            continue
        try:
            await ws.send_json(msg)
        except (ConnectionError, RuntimeError) as e:
            log.info("could not send to a generation socket: %s", e)


# ---- REST ---------------------------------------------------------------------------------


async def rest_generate(request: web.Request) -> web.Response:
    gen = request.app[GENERATOR]
    client = guests.identify(request)
    try:
        try:
            if request.content_type.startswith("multipart/"):
                msg = await _multipart(request, gen.limits)
            else:
                msg = await _json_body(request, gen.limits)
        except (BadRequest, ImageError) as e:
            log.warning("POST /api/generate from %s refused: %s", client.address, e)
            raise
        user_id = (await identify(request)).user_id
        job = Job(session_id_of(msg), client=client, user_id=user_id)
        result = await _run_watched(request, gen, job, msg)
    except Exception as e:
        status, message = classify(e)
        response = web.json_response({"error": message}, status=status)
    else:
        response = web.json_response(result)
    guests.remember(response, request, client)
    return response


async def _run_watched(
    request: web.Request, gen: Generator, job: Job, msg: dict[str, Any]
) -> dict[str, Any]:
    """`gen.run`, cancelled when the HTTP client goes away: aiohttp (>= 3.9) no longer
    cancels a handler on disconnect, so the transport is watched."""

    async def watch() -> None:
        while not job.cancelled:
            transport = request.transport
            if transport is None or transport.is_closing():
                log.info("POST /api/generate: the client left; cancelling %s", job.session_id)
                job.cancel()
                return
            await asyncio.sleep(DISCONNECT_POLL_S)

    watcher = asyncio.create_task(watch())
    try:
        return await gen.run(job, msg)
    finally:
        watcher.cancel()


async def _json_body(request: web.Request, lim: GenerationLimits) -> dict[str, Any]:
    try:
        raw = await request.clone(client_max_size=REST_MAX_BODY).read()
    except web.HTTPRequestEntityTooLarge:
        raise ImageError(
            f"image too large: the request body is over {REST_MAX_BODY / 2**20:.1f} MB "
            f"(at most {MAX_BYTES / 2**20:.1f} MB of image data)"
        ) from None
    try:
        body = jsonlimits.parse(raw, max_bytes=REST_MAX_BODY, max_depth=lim.json_max_depth,
                                what="the request body")  # fmt: skip
    except JSONLimitError as e:
        raise BadRequest(str(e)) from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


async def _multipart(request: web.Request, lim: GenerationLimits) -> dict[str, Any]:
    """The form's fields, read with a cap on the whole body (every field together) checked
    as it arrives: junk is refused after `form_max_bytes`, not after it has all come."""
    cap = lim.form_max_bytes
    too_large = f"the request body is too large: at most {cap / 2**20:.1f} MB for the whole form"
    if request.content_length is not None and request.content_length > cap:
        raise TooLarge(too_large)
    msg: dict[str, Any] = {}
    options: dict[str, Any] = {}
    total = parts = 0
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            parts += 1
            if parts > lim.form_max_parts or not isinstance(part, BodyPartReader):
                raise BadRequest(
                    f"the form has too many fields (at most {lim.form_max_parts}, none nested)"
                )
            name = part.name or ""
            limit = MAX_BYTES if name == "image" else 64 * 1024
            data = bytearray()
            while chunk := await part.read_chunk(256 * 1024):
                total += len(chunk)
                if total > cap:
                    raise TooLarge(too_large)
                data += chunk
                if len(data) > limit:
                    if name == "image":
                        raise ImageError(f"image too large: over {MAX_BYTES / 2**20:.1f} MB")
                    raise BadRequest(f'form field "{name[:40]}" is too long')
            if name == "image":
                msg["image"] = bytes(data)
            elif name in FORM_OPTIONS or name in FORM_TEXT:
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise BadRequest(
                        f'form field "{name}" is not valid UTF-8 (byte {e.start})'
                    ) from None
                (options if name in FORM_OPTIONS else msg)[name] = text
    except (BadRequest, ImageError):
        raise
    except (ValueError, RuntimeError, AssertionError, HttpProcessingError, ClientPayloadError) as e:
        # aiohttp's own complaints about a broken form (no boundary, bad headers, cut short)
        raise BadRequest(f"the multipart form could not be read: {e}") from None
    if isinstance(msg.get("options"), str):
        msg["options"] = _options_field(msg["options"], lim) if msg["options"].strip() else {}
    if options:
        base = msg.get("options", {})
        msg["options"] = {**base, **options} if isinstance(base, dict) else base
    return msg


def _options_field(text: str, lim: GenerationLimits) -> Any:
    try:
        return jsonlimits.parse(text, max_bytes=64 * 1024, max_depth=lim.json_max_depth,
                                what='form field "options"')  # fmt: skip
    except JSONLimitError as e:
        raise BadRequest(str(e)) from None


# ---- stored avatars and the page ------------------------------------------------------------


async def avatar_metadata(request: web.Request) -> web.Response:
    record = request.app[GENERATOR].store.get(request.match_info["id"])
    if record is None:
        return web.json_response({"error": f'no avatar "{request.match_info["id"]}"'}, status=404)
    return web.json_response(record)


async def avatar_file(request: web.Request) -> web.StreamResponse:
    path = request.app[GENERATOR].store.file(request.match_info["id"], request.match_info["name"])
    if path is None:
        return web.json_response(
            {
                "error": f'no output "{request.match_info["name"]}" for avatar "{request.match_info["id"]}"'
            },
            status=404,
        )
    # An avatar never changes once saved: cache it for good.
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "image/png",
            "Cache-Control": "public, max-age=31536000, immutable",
        },
    )


async def create_page(request: web.Request) -> web.FileResponse:
    client = guests.identify(request)
    response = web.FileResponse(STATIC / "create.html", headers={"Cache-Control": "no-cache"})
    guests.remember(response, request, client)  # the guest id, before the socket opens
    return response


def setup(
    app: web.Application,
    store: AvatarStore,
    max_jobs: int | None = None,
    *,
    limits: GenerationLimits | None = None,
    quota: Callable[[str], StorageQuota | None] | None = None,
    db: Store | None = None,
) -> Generator:
    """Register generation on `app`: `/ws`, `/api/generate`, `/avatars/...`, `/create`.
    `limits`: every knob (webapi/limits.py); `max_jobs` overrides its `max_running`.
    `quota(owner)`: the storage quota of an owner (`guest:<id>`, later `account:<id>`),
    None for none; by default guests get `limits.guest_quota` and others none. `db`: the
    store where a finished avatar is saved to its maker's library (`libraryId`)."""
    limits = limits or GenerationLimits()
    if max_jobs is not None:
        limits = dataclasses.replace(limits, max_running=max_jobs)
    gen = Generator(store, limits, quota, db)
    app[GENERATOR] = gen
    app.on_startup.append(gen.startup)
    app.on_shutdown.append(gen.shutdown)
    app.on_cleanup.append(gen.cleanup)
    r = app.router
    r.add_get("/ws", websocket)
    r.add_post("/api/generate", rest_generate)
    r.add_get("/avatars/{id}", avatar_metadata)
    r.add_get("/avatars/{id}/{name}.png", avatar_file)
    r.add_get("/create", create_page)
    return gen
