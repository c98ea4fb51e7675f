"""Avatar generation over the network: the seed's WebSocket protocol at `/ws`, the REST
fallback `POST /api/generate`, the stored avatars at `/avatars/...` and the `/create` page.

A request is checked in the order that costs least: its fields, then the data URL's length,
then the image header (size, pixel count) and a full decode, all before the engine is asked
to do anything. Generation (`engine.style.generate`) runs on a thread pool, never on the event
loop, at most `max_jobs` at once; later requests wait their turn and are told so. Every
failure is answered to the one client that caused it, in words, and the socket stays open.
Protocol, limits and errors: docs/GENERATION.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import secrets
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from webapi.avatars import (
    MAX_BYTES,
    MAX_DATA_URL,
    AvatarStore,
    ImageError,
    decode_image,
    parse_data_url,
    png_data_url,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
MAX_JOBS = 2  # generations running at once; more wait in line
WS_MAX_MSG = 32 * 1024 * 1024  # past this aiohttp closes the socket (1009); below it we answer
REST_MAX_BODY = MAX_DATA_URL + 1024 * 1024  # a JSON body: the data URL plus the other fields
MAX_SESSION_ID = 128
OUTPUT_SIZES = range(64, 2049)

# Overall percents: our own stages around the engine's, which reports 0..100 itself.
P_QUEUED, P_DECODE, P_ENGINE_FROM, P_ENGINE_TO, P_SAVE, P_DONE = 0, 2, 5, 92, 95, 100


class BadRequest(ValueError):
    """A message with a missing or wrong field (the message names it)."""


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


def classify(exc: BaseException) -> tuple[int, str]:
    """(HTTP status, message for the client) for a failed generation."""
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
    if isinstance(value, str) and value.lower() in ("true", "1", "on", "yes", "false", "0", "off", "no", ""):
        return value.lower() in ("true", "1", "on", "yes")
    if not isinstance(value, bool):
        raise BadRequest(f'options.{key} must be true or false, not {json.dumps(value)[:40]}')
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
            options = json.loads(options)
        except json.JSONDecodeError as e:
            raise BadRequest(f'"options" is not valid JSON: {e}') from None
    if not isinstance(options, dict):
        raise BadRequest('"options" must be an object {"preserveExpression", "enhanceDetails", "outputSize"}')
    size = options.get("outputSize", 512)
    if isinstance(size, str) and size.strip().isdigit():
        size = int(size)
    if isinstance(size, bool) or not isinstance(size, int) or size not in OUTPUT_SIZES:
        raise BadRequest(f"options.outputSize must be a whole number of pixels from 64 to 2048, not {json.dumps(size)[:40]}")
    return image, style, {
        "preserve_expression": _flag(options, "preserveExpression", True),
        "enhance_details": _flag(options, "enhanceDetails", False),
        "output_size": size,
    }


def session_id_of(msg: dict[str, Any]) -> str:
    sid = msg.get("sessionId")
    if sid is None or sid == "":
        return "gen_" + secrets.token_hex(6)
    if not isinstance(sid, str) or len(sid) > MAX_SESSION_ID:
        raise BadRequest(f'"sessionId" must be a string of at most {MAX_SESSION_ID} characters')
    return sid


class Job:
    """One generation: its session id, its cancel flag, its progress (never going back)."""

    def __init__(self, session_id: str, emit: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.session_id = session_id
        self.emit = emit
        self.flag = threading.Event()  # read by the worker thread
        self.cancel_event = asyncio.Event()  # awaited while queued
        self.percent = -1

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
            self.emit({"type": "progress", "sessionId": self.session_id, "percent": self.percent,
                       "stage": stage, "message": message})


class Generator:
    """The thread pools, the queue limit and the store; one per app."""

    def __init__(self, store: AvatarStore, max_jobs: int = MAX_JOBS) -> None:
        self.store = store
        self.max_jobs = max_jobs
        self.pool = ThreadPoolExecutor(max_jobs, thread_name_prefix="generate")
        self.decoders = ThreadPoolExecutor(2, thread_name_prefix="decode")
        self.slots: asyncio.Semaphore | None = None
        self.jobs: set[Job] = set()
        self.sockets: set[web.WebSocketResponse] = set()
        self.running = 0

    async def run(self, job: Job, msg: dict[str, Any]) -> dict[str, Any]:
        """Generate, store, and return the success `result` message; raises on failure."""
        loop = asyncio.get_running_loop()
        if self.slots is None:
            self.slots = asyncio.Semaphore(self.max_jobs)
        self.jobs.add(job)
        try:
            image, style, options = parse_request(msg)
            data = parse_data_url(image) if isinstance(image, str) else bytes(image)
            if len(data) > MAX_BYTES:
                raise ImageError(f"image too large: {len(data) / 2**20:.1f} MB (at most {MAX_BYTES / 2**20:.1f} MB)")
            job.report(P_DECODE, "decoding", "Reading the photo...")
            pixels = await loop.run_in_executor(self.decoders, decode_image, data)
            engine = await loop.run_in_executor(self.decoders, _engine)
            if style not in engine.STYLES:
                raise engine.UnknownStyleError(f'unknown style "{style}": the styles are {", ".join(engine.STYLES)}')
            await self._wait_for_slot(job)
            try:
                self.running += 1
                return await self._generate(job, engine, pixels, style, options)
            finally:
                self.running -= 1
                self.slots.release()
        finally:
            self.jobs.discard(job)

    async def _wait_for_slot(self, job: Job) -> None:
        assert self.slots is not None
        if job.cancelled:
            raise Cancelled()
        if not self.slots.locked():
            # a free slot is taken at once, with no suspension in between: the next job's
            # check then sees it taken and is told it waits
            await self.slots.acquire()
            return
        job.report(P_QUEUED, "queued", f"Waiting for a free slot ({self.max_jobs} avatars are being generated)...")
        acquire = asyncio.ensure_future(self.slots.acquire())
        cancel = asyncio.ensure_future(job.cancel_event.wait())
        try:
            await asyncio.wait({acquire, cancel}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            cancel.cancel()
            if not acquire.done():
                acquire.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await acquire
        if job.cancelled:
            if acquire.done() and not acquire.cancelled():
                self.slots.release()
            raise Cancelled()

    async def _generate(self, job: Job, engine, pixels, style: str, options: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        span = P_ENGINE_TO - P_ENGINE_FROM

        def progress(percent: int, stage: str, message: str) -> None:  # on the worker thread
            overall = P_ENGINE_FROM + span * max(0.0, min(100.0, float(percent))) / 100.0
            loop.call_soon_threadsafe(job.report, overall, stage, message)

        def work():
            avatar = engine.generate(
                pixels, style, engine.GenerationOptions(**options),
                progress=progress, cancelled=job.flag.is_set,
            )
            if job.cancelled:
                raise Cancelled()
            loop.call_soon_threadsafe(job.report, P_SAVE, "saving", "Saving your avatar...")
            saved = self.store.save(avatar, extra={"style": style, "options": options})
            return saved, png_data_url(saved.pngs["full"]) if "full" in saved.pngs else None

        job.report(P_ENGINE_FROM, "starting", f"Generating a {style} avatar...")
        saved, data_url = await loop.run_in_executor(self.pool, work)
        meta = dict(saved.record["metadata"])
        meta.setdefault("style", style)
        meta.setdefault("processingTime", round((time.perf_counter() - started) * 1000))
        job.report(P_DONE, "done", "Done")
        outputs = {name: info["url"] for name, info in saved.record["outputs"].items()}
        return {
            "type": "result",
            "sessionId": job.session_id,
            "success": True,
            "avatarId": saved.id,
            "avatarData": data_url,
            "avatarUrl": outputs.get("full"),
            "outputs": outputs,
            "metadata": meta,
        }

    async def shutdown(self, app: web.Application) -> None:
        for job in list(self.jobs):
            job.cancel()
        for ws in list(self.sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"server shutting down")

    async def cleanup(self, app: web.Application) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.decoders.shutdown(wait=False, cancel_futures=True)


GENERATOR = web.AppKey("generator", Generator)


def failure(session_id: str | None, exc: BaseException) -> dict[str, Any]:
    return {"type": "result", "sessionId": session_id, "success": False, "error": classify(exc)[1]}


# ---- the WebSocket ----------------------------------------------------------------------


async def websocket(request: web.Request) -> web.WebSocketResponse:
    gen = request.app[GENERATOR]
    ws = web.WebSocketResponse(max_msg_size=WS_MAX_MSG, heartbeat=30)
    await ws.prepare(request)
    gen.sockets.add(ws)
    outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    writer = asyncio.create_task(_write(ws, outbox))
    jobs: dict[str, Job] = {}
    tasks: set[asyncio.Task] = set()

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
            if m.type == WSMsgType.TEXT:
                _dispatch(m.data, outbox, jobs, tasks, one)
            elif m.type == WSMsgType.BINARY:
                outbox.put_nowait({"type": "error", "message": "messages are JSON text, not binary frames"})
            elif m.type == WSMsgType.ERROR:
                log.info("generation socket closed: %s", ws.exception())
                break
    finally:
        for job in jobs.values():  # nobody is listening: stop at the next stage
            job.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        outbox.put_nowait(None)
        with contextlib.suppress(Exception):
            await writer
        gen.sockets.discard(ws)
    return ws


def _dispatch(raw: str, outbox: asyncio.Queue, jobs: dict[str, Job], tasks: set[asyncio.Task], one) -> None:
    def error(message: str, **extra: Any) -> None:
        outbox.put_nowait({"type": "error", "message": message, **extra})

    try:
        msg = json.loads(raw)
    except json.JSONDecodeError as e:
        return error(f"malformed JSON: {e}")
    if not isinstance(msg, dict):
        return error("a message must be a JSON object with a \"type\"")
    kind = msg.get("type")
    if kind in ("generate_avatar", "generate:start"):
        try:
            sid = session_id_of(msg)
        except BadRequest as e:
            outbox.put_nowait(failure(None, e))
            return None
        if sid in jobs:
            outbox.put_nowait({"type": "result", "sessionId": sid, "success": False,
                               "error": f'a generation for session "{sid}" is already running'})
            return None
        job = Job(sid, outbox.put_nowait)
        jobs[sid] = job
        task = asyncio.ensure_future(one(job, msg))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return None
    if kind == "generate:cancel":
        sid = msg.get("sessionId")
        job = jobs.get(sid) if isinstance(sid, str) else None
        if job is None:
            return error(f"no generation is running for session {json.dumps(sid)[:140]}", sessionId=sid)
        job.cancel()
        return None
    return error(
        f"unknown message type {json.dumps(kind)[:60]} (expected \"generate_avatar\" or \"generate:cancel\")"
    )


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
    try:
        if request.content_type.startswith("multipart/"):
            msg = await _multipart(request)
        else:
            msg = await _json_body(request)
        job = Job(session_id_of(msg))
        result = await gen.run(job, msg)
    except Exception as e:
        status, message = classify(e)
        return web.json_response({"error": message}, status=status)
    return web.json_response(result)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.clone(client_max_size=REST_MAX_BODY).read()
    except web.HTTPRequestEntityTooLarge:
        raise ImageError(f"image too large: the request body is over {REST_MAX_BODY / 2**20:.1f} MB "
                         f"(at most {MAX_BYTES / 2**20:.1f} MB of image data)") from None
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadRequest(f"the request body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


async def _multipart(request: web.Request) -> dict[str, Any]:
    reader = await request.multipart()
    msg: dict[str, Any] = {}
    options: dict[str, Any] = {}
    while (part := await reader.next()) is not None:
        name = part.name or ""
        limit = MAX_BYTES if name == "image" else 64 * 1024
        data = bytearray()
        while chunk := await part.read_chunk(256 * 1024):
            data += chunk
            if len(data) > limit:
                if name == "image":
                    raise ImageError(f"image too large: over {MAX_BYTES / 2**20:.1f} MB")
                raise BadRequest(f'form field "{name}" is too long')
        if name == "image":
            msg["image"] = bytes(data)
        elif name in ("preserveExpression", "enhanceDetails", "outputSize"):
            options[name] = data.decode("utf-8", "replace")
        elif name in ("style", "sessionId", "options"):
            msg[name] = data.decode("utf-8", "replace")
    if options:
        base = msg.get("options")
        merged = json.loads(base) if isinstance(base, str) and base.strip() else {}
        msg["options"] = {**merged, **options} if isinstance(merged, dict) else merged
    return msg


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
            {"error": f'no output "{request.match_info["name"]}" for avatar "{request.match_info["id"]}"'}, status=404
        )
    # An avatar never changes once saved: cache it for good.
    return web.FileResponse(path, headers={"Content-Type": "image/png",
                                           "Cache-Control": "public, max-age=31536000, immutable"})


async def create_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "create.html", headers={"Cache-Control": "no-cache"})


def setup(app: web.Application, store: AvatarStore, max_jobs: int = MAX_JOBS) -> Generator:
    """Register generation on `app`: `/ws`, `/api/generate`, `/avatars/...`, `/create`."""
    gen = Generator(store, max_jobs)
    app[GENERATOR] = gen
    app.on_shutdown.append(gen.shutdown)
    app.on_cleanup.append(gen.cleanup)
    r = app.router
    r.add_get("/ws", websocket)
    r.add_post("/api/generate", rest_generate)
    r.add_get("/avatars/{id}", avatar_metadata)
    r.add_get("/avatars/{id}/{name}.png", avatar_file)
    r.add_get("/create", create_page)
    return gen
