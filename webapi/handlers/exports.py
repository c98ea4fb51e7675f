"""HTTP for exports: `POST /api/avatars/{id}/export` starts a job (202), `GET
/api/exports/{job}` says how far it is, `GET /api/exports/{job}/download` hands over the file;
progress is also pushed over the `/ws` socket (`{"type": "export:watch", "job": ...}`).

AVATAR is `digi` (the bundled avatar, anyone) or a saved avatar's id: its owner may export it,
anyone may export a public one, and someone else's private one is a 404 like a missing one.
The whole request is checked before a job is made, so a bad one costs nothing and writes
nothing (docs/EXPORT.md, docs/API.md)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import re
from pathlib import Path
from typing import Any

from aiohttp import web

from engine.assets import AvatarBundle, load_bundle
from engine.export.bake import animation_names
from engine.export.job import (
    FPS_MAX,
    FPS_MIN,
    SIZE_MAX,
    SIZE_MIN,
    ExportError,
    Job,
    Progress,
    Still,
)
from engine.export.run import check, known_formats
from engine.export.subject import Subject
from engine.face import FaceArtError
from engine.likeness.character import CharacterError
from engine.likeness.hair import HairstyleError
from engine.pose.edits import PoseEditError, parse_edits
from engine.rig.errors import FormatError
from streaming.live import Look
from streaming.manager import BadOffer, build_bundle, with_clips
from webapi.errors import Invalid, NotFound
from webapi.exportjobs import ExportJobs
from webapi.handlers.avatars import FILES
from webapi.handlers.identity import identify
from webapi.handlers.request import json_body, store_of
from webapi.handlers.spec import OPTIONAL, body_of, errors, json_answer
from webapi.library import avatars, customizations
from webapi.library.animations import CustomClip, builtin_clips, custom_clip, list_clips
from webapi.library.files import AvatarStore

EXPORTS = web.AppKey("exports", ExportJobs)
MAX_BODY = 8 * 1024
MAX_DEPTH = 5  # body > pose > edits > targets|offsets > [x, y]|{x, y, rotation, scale}
MAX_NAMES = 40  # formats or animations in one request
# an animated picture format holds one animation's rendered frames at once: the server's
# memory for it (idle, 3 s at 30 fps, is 90 frames: 1024 px fits, 2048 px does not)
MAX_TAKE_BYTES = 512 * 2**20
FIELDS = ("formats", "animations", "size", "fps", "pose")
POSE_FIELDS = ("state", "time", "parameters", "edits")
BUNDLED = "digi"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CLIP_ID = re.compile(r"^[0-9a-f]{32}$")  # a custom animation's id (webapi/library/animations.py)


def _names(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or len(value) > MAX_NAMES:
        raise Invalid(f'"{key}" must be a list of at most {MAX_NAMES} names', field=key)
    for i, v in enumerate(value):
        if not isinstance(v, str) or not _NAME.match(v):
            raise Invalid(f'{key}[{i}] must be a name (lower-case letters, digits, "-" or "_")',
                          field=key)  # fmt: skip
    return value


def parse(body: Any) -> dict[str, Any]:
    """The request's fields, shapes checked (names and ranges are the engine's `check`)."""
    if not isinstance(body, dict):
        raise Invalid("the request body must be a JSON object")
    for key in body:
        if key not in FIELDS:
            raise Invalid(
                f'unknown field "{str(key)[:40]}" (known: {", ".join(FIELDS)})', field=key
            )
    out: dict[str, Any] = {
        "formats": _names(body, "formats"),
        "animations": _names(body, "animations"),
    }
    for key, default in (("size", 512), ("fps", 30)):
        value = body.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f'"{key}" must be a number', field=key)
        out[key] = value
    if isinstance(out["size"], float):
        if not out["size"].is_integer():
            raise Invalid('"size" must be a whole number of pixels', field="size")
        out["size"] = int(out["size"])
    pose = body.get("pose", {})
    if not isinstance(pose, dict):
        raise Invalid(
            '"pose" must be an object with "state", "time" and "parameters"', field="pose"
        )
    for key in pose:
        if key not in POSE_FIELDS:
            raise Invalid(f'unknown field "pose.{str(key)[:40]}" (known: {", ".join(POSE_FIELDS)})',
                          field="pose")  # fmt: skip
    state = pose.get("state", "idle")
    if not isinstance(state, str) or not _NAME.match(state):
        raise Invalid('"pose.state" must be an animation\'s name', field="pose")
    t = pose.get("time", 0.0)
    if isinstance(t, bool) or not isinstance(t, int | float):
        raise Invalid('"pose.time" must be a number of seconds', field="pose")
    params = pose.get("parameters", {})
    if not isinstance(params, dict) or len(params) > 64:
        raise Invalid('"pose.parameters" must be an object of at most 64 values', field="pose")
    for k, v in params.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise Invalid(f'"pose.parameters.{str(k)[:40]}" must be a number', field="pose")
    edits = pose.get("edits", {})
    if not isinstance(edits, dict):
        raise Invalid('"pose.edits" must be an object with "bones", "targets" and "offsets"',
                      field="pose")  # fmt: skip
    # the edits' names and limits are checked against the rig in start_export
    out["pose"] = Still(state, float(t), {str(k): float(v) for k, v in params.items()})
    out["pose_edits"] = edits
    return out


async def _look(request: web.Request, avatar_id: str) -> tuple[Look, str]:
    """What the avatar wears, and the name its files get."""
    if avatar_id == BUNDLED:
        opts = await customizations.options(avatars.DEFAULT_RIG)
        return Look(groups=dict(opts.groups)), BUNDLED
    who = await identify(request)
    look = await avatars.avatar_for_session(store_of(request), avatar_id, who)
    return look, f"avatar-{avatar_id[:8]}"


def subject_of(bundle: AvatarBundle, look: Look, name: str) -> Subject:
    """The export's subject: a bundle dressed for `look` and what the look adds on top."""
    return Subject(bundle, name, dict(look.sprites), dict(look.colors), dict(look.groups),
                   look.style, offsets=dict(look.offsets))  # fmt: skip


@functools.cache
def _base(rig: str) -> AvatarBundle:
    """The bare rig: what a request is checked against (a worn face changes pictures only:
    the animations and parameters are the rig's)."""
    return load_bundle(rig)


def dress(files: AvatarStore, look: Look, name: str) -> Subject:
    """The avatar as `look` wears it (a generated face takes about 2 s to put on: called on
    the export thread)."""
    try:
        bundle = build_bundle(avatars.DEFAULT_RIG, look.face, look.library, look.wears,
                              files.face_art, files.character)  # fmt: skip
    except LookupError as e:
        raise ExportError(f"the avatar's face cannot be found: {e}") from None
    except (FaceArtError, CharacterError, HairstyleError, FormatError) as e:
        raise ExportError(f"the avatar cannot be put together: {e}") from None
    return subject_of(bundle, look, name)


def labels_of(clips: dict[str, CustomClip], taken: set[str]) -> dict[str, str]:
    """Each custom animation's file name: its name, made safe ("Big Wave!" -> "big-wave"),
    with its id's start added where two would collide or it is a built-in's name."""
    out: dict[str, str] = {}
    for cid, clip in clips.items():
        slug = re.sub(r"[^a-z0-9]+", "-", clip.name.lower()).strip("-")[:40] or "animation"
        if slug in taken or slug in out.values():
            slug = f"{slug}-{cid[:6]}"
        out[cid] = slug
    return out


async def _clips(request: web.Request, names: list[str]) -> dict[str, CustomClip]:
    """The caller's own custom animations among `names` (32-hex ids); someone else's or a
    missing one is a 404, as on /api/animations."""
    ids = [n for n in names if CLIP_ID.match(n)]
    if not ids:
        return {}
    who = await identify(request)
    out = {}
    for cid in ids:
        clip = await custom_clip(store_of(request), cid, who.user_id)
        if clip is None or clip.rig != avatars.DEFAULT_RIG:
            raise NotFound(f'no animation "{cid}"')
        out[cid] = clip
    return out


def with_animations(subject: Subject, clips: dict[str, CustomClip]) -> Subject:
    """`subject` with custom animations added as states (named by their ids, labelled by
    their names)."""
    if not clips:
        return subject
    try:
        bundle = with_clips(subject.bundle, {cid: c.definition for cid, c in clips.items()})
    except BadOffer as e:
        raise ExportError(str(e)) from None
    labels = labels_of(clips, set(animation_names(subject.bundle)))
    return dataclasses.replace(subject, bundle=bundle, labels=labels)


async def start_export(request: web.Request) -> web.Response:
    avatar_id = request.match_info["id"]
    body = parse(await json_body(request, max_bytes=MAX_BODY, max_depth=MAX_DEPTH))
    look, name = await _look(request, avatar_id)
    clips = await _clips(request, body["animations"])
    loop = asyncio.get_running_loop()
    base = await loop.run_in_executor(None, _base, avatars.DEFAULT_RIG)
    pose: Still = body["pose"]
    if body["pose_edits"]:
        try:
            edits = parse_edits(body["pose_edits"], base.rig, "pose.edits")
        except PoseEditError as e:
            raise Invalid(str(e), field="pose") from None
        pose = dataclasses.replace(pose, edits=edits)
    try:
        checked = with_animations(subject_of(base, look, name), clips)
        formats = check(checked, body["formats"], body["animations"], body["size"], body["fps"],
                        pose.state, pose.time, pose.parameters,
                        max_take_bytes=MAX_TAKE_BYTES)  # fmt: skip
    except (ExportError, ValueError) as e:
        raise Invalid(str(e)) from None
    files = request.app[FILES]

    def make(progress: Progress) -> Job:
        if look.face is None and look.library == "base":
            subject = checked
        else:
            subject = with_animations(dress(files, look, name), clips)
        return Job(subject, body["animations"], body["size"], body["fps"], pose, progress)

    owner = (await identify(request)).owner
    job = request.app[EXPORTS].submit(owner, name, formats, make)
    return web.json_response(job.view(), status=202, headers={"Location": f"/api/exports/{job.id}"})


async def export_options(request: web.Request) -> web.Response:
    """What an export request may ask for: the formats and presets, the animations, the
    size and fps ranges (the export dialog builds its form from this)."""
    base = await asyncio.get_running_loop().run_in_executor(None, _base, avatars.DEFAULT_RIG)
    rig = base.rig
    who = await identify(request)
    custom = []
    if who.user_id is not None:  # the caller's own custom animations (the first 200)
        skip = len(await builtin_clips())  # the list starts with the built-in ones
        page = await list_clips(store_of(request), user_id=who.user_id, limit=200, offset=skip)
        custom = [{"id": c["id"], "name": c["name"]} for c in page["animations"]]
    return web.json_response({
        "custom_animations": custom,
        "formats": [{"name": f.name, "description": f.description, "kind": kind_of(f.name)}
                    for f in known_formats().values()],
        "animations": animation_names(base),
        "parameters": [{"id": p.id, "min": p.min, "max": p.max, "default": p.default}
                       for p in rig.parameters],
        "size": {"min": SIZE_MIN, "max": SIZE_MAX, "default": 512},
        "fps": {"min": FPS_MIN, "max": FPS_MAX, "default": 30},
    }, headers={"Cache-Control": "no-cache"})  # fmt: skip


def kind_of(name: str) -> str:
    """How the dialog groups a format: a still, an animation, a runtime's data, a platform."""
    if name in ("png", "svg"):
        return "still"
    if name in ("sequence", "spritesheet", "gif", "apng", "webm"):
        return "animation"
    if name in ("spine", "lottie", "gltf"):
        return "runtime"
    return "platform"


async def export_status(request: web.Request) -> web.Response:
    owner = (await identify(request)).owner
    job = request.app[EXPORTS].find(request.match_info["job"], owner)
    return web.json_response(job.view(), headers={"Cache-Control": "no-store"})


async def export_download(request: web.Request) -> web.StreamResponse:
    owner = (await identify(request)).owner
    job = request.app[EXPORTS].find(request.match_info["job"], owner)
    if job.file is None:
        raise Invalid(f"export {job.id} is {job.state}, not done: nothing to download yet")
    return web.FileResponse(job.file, headers={
        "Content-Disposition": f'attachment; filename="{job.file.name}"',
        "Cache-Control": "no-store"})  # fmt: skip


def watcher(exports: ExportJobs, owner: str | None, msg: dict[str, Any], send) -> None:
    """`{"type": "export:watch", "job": id}` on `/ws`: the job's progress, then its end."""
    job_id = msg.get("job")
    if not isinstance(job_id, str):
        send({"type": "error", "message": '"export:watch" needs "job": an export\'s id'})
        return
    try:
        job = exports.find(job_id, owner)
    except NotFound as e:
        send({"type": "export:failed", "job": job_id[:64], "error": str(e)})
        return
    exports.watch(job, send)


def setup(app: web.Application, root: Path) -> None:
    """Register exports on `app` (after generation: progress rides its `/ws` socket)."""
    from webapi.generate import GENERATOR

    jobs = ExportJobs(root)
    app[EXPORTS] = jobs
    gen = app[GENERATOR]
    gen.handlers["export:watch"] = lambda msg, send, owner: watcher(jobs, owner, msg, send)
    gen.farewells.append(jobs.unwatch)

    async def start(app: web.Application) -> None:
        jobs.start()

    async def stop(app: web.Application) -> None:
        jobs.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    r = app.router
    r.add_post("/api/avatars/{id}/export", start_export)
    r.add_get("/api/exports/options", export_options)
    r.add_get("/api/exports/{job}", export_status)
    r.add_get("/api/exports/{job}/download", export_download)


_JOB = {"name": "job", "in": "path", "required": True, "schema": {"type": "string"}}
_AVATAR = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "`digi` (the bundled avatar) or a saved avatar's id"}  # fmt: skip
_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}

OPENAPI_PATHS = {
    "/api/avatars/{id}/export": {
        "parameters": [_AVATAR],
        "post": {
            "tags": ["exports"],
            "summary": "Export an avatar to files (docs/EXPORT.md): starts a job",
            "description": "Someone else's private avatar answers 404, as a missing one.",
            "security": OPTIONAL,
            "requestBody": body_of("ExportRequest"),
            "responses": {
                "202": json_answer("ExportJob", "queued: watch it on /ws or poll its url"),
                **errors(400, 404, 413, 429),
            },
        },
    },
    "/api/exports/options": {
        "get": {
            "tags": ["exports"],
            "summary": "The formats, presets, animations and ranges an export may ask for",
            "security": OPTIONAL,
            "responses": {
                "200": {
                    "description": "the options",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        },
    },
    "/api/exports/{job}": {
        "parameters": [_JOB],
        "get": {
            "tags": ["exports"],
            "summary": "An export job's state and progress",
            "security": OPTIONAL,
            "responses": {"200": json_answer("ExportJob", "the job"), **errors(404)},
        },
    },
    "/api/exports/{job}/download": {
        "parameters": [_JOB],
        "get": {
            "tags": ["exports"],
            "summary": "The finished export's file (a zip when it holds several files)",
            "security": OPTIONAL,
            "responses": {
                "200": {"description": "the file", "content": _BINARY},
                **errors(400, 404),
            },
        },
    },
}

OPENAPI_SCHEMAS = {
    "ExportRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "formats": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_NAMES,
                        "description": "formats and platform presets (docs/EXPORT.md), or all"},
            "animations": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_NAMES},
            "size": {"type": "integer", "minimum": 16, "maximum": 2048, "default": 512},
            "fps": {"type": "number", "minimum": 1, "maximum": 60, "default": 30},
            "pose": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "state": {"type": "string", "default": "idle"},
                    "time": {"type": "number", "minimum": 0, "maximum": 20},
                    "parameters": {"type": "object",
                                   "additionalProperties": {"type": "number"}},
                    "edits": {"type": "object",
                              "description": "pose edits: {bones: {bone: degrees}, targets: "
                                             "{handle: [x, y]}, offsets: {bone: {x, y, "
                                             "rotation, scale}}} (docs/API.md)"},
                },
            },
        },
    },
    "ExportJob": {
        "type": "object",
        "required": ["job", "avatar", "formats", "state", "progress", "stage", "url"],
        "properties": {
            "job": {"type": "string"},
            "avatar": {"type": "string"},
            "formats": {"type": "array", "items": {"type": "string"}},
            "state": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "stage": {"type": "string"},
            "url": {"type": "string"},
            "download": {"type": "string"},
            "filename": {"type": "string"},
            "bytes": {"type": "integer"},
            "error": {"type": "string"},
        },
    },
}  # fmt: skip
