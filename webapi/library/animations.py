"""Animation clips a caller can see: a rig's built-in clips (its animation set in
content/animations/<rig>/, read once) and a signed-in user's own custom clips (the
`animations` table), in the engine's clip format (content/README.md, "Animation clip").

A custom clip is validated by the engine's own loader (`engine.anim.parse_clip`) against the
rig it is for, so whatever is stored can be played: its bones, slots and attachments exist
in that rig, its keys are in order and inside the clip. A loader error names the JSON path
of the fault (`definition.bones.hips.rotation[5].time: ...`). Size limits (`ClipLimits`)
are checked first, on the raw structure, so an oversized clip costs no parsing.

Ids: a built-in clip is `<rig>:<clip>` (`digi:wave`); a custom one a random 128-bit hex id.
Custom clips are private: another user's id is answered exactly as a missing one (None /
NotFound), so ids cannot be probed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import re
import threading
from dataclasses import dataclass
from typing import Any

from engine.anim import AnimationFormatError, Clip, parse_clip
from engine.assets import ANIMATIONS, RIGS, load_bundle
from engine.rig.data import RigData
from webapi.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from webapi.store import Store, new_id, now_iso

DEFAULT_RIG = "digi"
_RIG_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")  # checked before any path is built
_CUSTOM_ID = re.compile(r"^[0-9a-f]{32}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ClipLimits:
    """What one custom clip may weigh. The body cap (webapi.app.MAX_BODY) bounds the raw
    request; these bound what is stored and what a session samples every frame."""

    max_bytes: int = 64 * 1024  # the definition as stored (compact JSON)
    max_keys: int = 2_000  # every key of every timeline, and events
    max_timelines: int = 200  # bone channels plus slot timelines
    max_length: float = 60.0  # seconds
    max_name: int = 64  # characters
    max_per_user: int = 200  # custom clips one account may keep


LIMITS = ClipLimits()


@dataclass(frozen=True)
class BuiltinClip:
    """A clip of a rig's bundled animation set."""

    rig: str
    name: str
    length: float
    looping: bool
    states: tuple[str, ...]  # the state-machine states that play it
    definition: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.rig}:{self.name}"

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rig": self.rig,
            "name": self.name,
            "builtin": True,
            "length": self.length,
            "looping": self.looping,
            "states": list(self.states),
        }

    def detail(self) -> dict[str, Any]:
        return {**self.summary(), "definition": self.definition}


@dataclass(frozen=True)
class CustomClip:
    """A signed-in user's own clip for one rig; `definition` is in the engine's clip format
    and passed that rig's loader when it was saved."""

    id: str
    rig: str
    name: str
    definition: dict[str, Any]
    owner_id: str = ""
    size_bytes: int = 0
    created_at: str = ""
    updated_at: str = ""

    @property
    def length(self) -> float:
        return float(self.definition.get("length", 0.0))

    @property
    def looping(self) -> bool:
        return bool(self.definition.get("looping", False))

    def clip(self, rig: RigData) -> Clip:
        """The engine's `Clip` of this definition, for `rig` (the rig it was saved for, or
        one with the same bones and slots, such as that rig wearing a generated face)."""
        return parse_clip(self.definition, rig, f"animation {self.id}")

    def summary(self) -> dict[str, Any]:
        return _custom_summary({**self.__dict__, "length": self.length, "looping": self.looping})

    def detail(self) -> dict[str, Any]:
        return {**self.summary(), "definition": self.definition}


def _custom_summary(row: dict[str, Any]) -> dict[str, Any]:
    """A custom clip's summary from its fields (a `CustomClip`'s or a listed row's)."""
    return {
        "id": row["id"],
        "rig": row["rig"],
        "name": row["name"],
        "builtin": False,
        "length": float(row["length"] or 0.0),
        "looping": bool(row["looping"]),
        "states": [],
        "size_bytes": row["size_bytes"] or 0,
        "created_at": row["created_at"] or "",
        "updated_at": row["updated_at"] or "",
    }


def _rows(cur: Any, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    names = [c[0] for c in cur.description]
    return [dict(zip(names, r, strict=True)) for r in rows]


# ---- built-in clips -----------------------------------------------------------------------


@functools.cache
def known_rigs() -> tuple[str, ...]:
    """Bundled rigs that have an animation set (so clips can be made for them)."""
    return tuple(
        sorted(
            d.name
            for d in RIGS.iterdir()
            if (d / "rig.json").is_file()
            and (ANIMATIONS / d.name / "statemachine.json").is_file()
            and _RIG_NAME.match(d.name)
        )
    )


def check_rig(rig: Any, what: str = "rig") -> str:
    """`rig` if it names a bundled rig with clips; Invalid (naming the known ones) if not."""
    if not isinstance(rig, str) or not rig:
        raise Invalid(f'{what}: expected a rig name such as "{DEFAULT_RIG}"', field=what)
    if not _RIG_NAME.match(rig) or rig not in known_rigs():
        shown = rig if len(rig) <= 40 else rig[:40] + "..."
        raise Invalid(
            f'{what}: unknown rig "{shown}" (known: {", ".join(known_rigs())})', field=what
        )
    return rig


def _load_rig(rig: str) -> tuple[RigData, dict[str, BuiltinClip]]:
    """The rig and its built-in clips with the states that play them (blocking)."""
    bundle = load_bundle(rig)
    used: dict[str, list[str]] = {}
    for state_name, state in bundle.machine.states.items():
        played = [c for c, _ in state.variants]
        if state.blend is not None:
            played += list(state.blend.clips)
        for c in played:
            if state_name not in used.setdefault(c.name, []):
                used[c.name].append(state_name)
    clips: dict[str, BuiltinClip] = {}
    for name, clip in sorted(bundle.clips.items()):
        source = ANIMATIONS / rig / f"{name}.json"
        clips[name] = BuiltinClip(
            rig=rig,
            name=name,
            length=clip.length,
            looping=clip.looping,
            states=tuple(sorted(used.get(name, ()))),
            definition=json.loads(source.read_text(encoding="utf-8")),
        )
    return bundle.rig, clips


_LOADED: dict[str, tuple[RigData, dict[str, BuiltinClip]]] = {}


_LOADING = threading.Lock()


def _load_once(rig: str) -> tuple[RigData, dict[str, BuiltinClip]]:
    # fifty first requests at once must not parse the bundle fifty times (a CPU each):
    # the first loads, the others wait for it here
    with _LOADING:
        if rig not in _LOADED:
            _LOADED[rig] = _load_rig(rig)
        return _LOADED[rig]


async def _loaded(rig: str) -> tuple[RigData, dict[str, BuiltinClip]]:
    """`_load_rig`, once per rig. The first call parses the bundle (most of a second): on a
    thread, never on the event loop."""
    hit = _LOADED.get(rig)
    return hit if hit is not None else await asyncio.to_thread(_load_once, rig)


async def builtin_clips(rig: str = DEFAULT_RIG) -> list[BuiltinClip]:
    """A rig's built-in clips, by name."""
    _, clips = await _loaded(check_rig(rig))
    return list(clips.values())


async def rig_data(rig: str) -> RigData:
    """The bundled rig's data (what custom clips are validated against)."""
    data, _ = await _loaded(check_rig(rig))
    return data


# ---- custom clips -------------------------------------------------------------------------


def _row_clip(row: dict[str, Any]) -> CustomClip:
    return CustomClip(
        id=row["id"],
        rig=row["rig"],
        name=row["name"],
        definition=json.loads(row["definition"]),
        owner_id=row["owner_id"],
        size_bytes=row["size_bytes"] or 0,
        created_at=row["created_at"] or "",
        updated_at=row["updated_at"] or "",
    )


async def custom_clip(store: Store, animation_id: str, user_id: str | None) -> CustomClip | None:
    """The custom clip `animation_id` if `user_id` owns it; None when it is missing, is
    someone else's, or the caller is not signed in (the three look the same). Built-in ids
    (`digi:wave`) are not custom clips: None."""
    if user_id is None:
        return None
    return await _custom(store, animation_id, user_id)


async def clip_for_operator(store: Store, animation_id: str) -> CustomClip | None:
    """Any user's custom clip, for whoever runs this server (the `digigami export` command
    on the database's own machine); None when there is none."""
    return await _custom(store, animation_id, None)


async def _custom(store: Store, animation_id: str, owner: str | None) -> CustomClip | None:
    if not isinstance(animation_id, str) or not _CUSTOM_ID.match(animation_id):
        return None

    def read(db: Any) -> dict[str, Any] | None:
        sql = (
            "SELECT id, owner_id, rig, name, definition, size_bytes, created_at, updated_at "
            "FROM animations WHERE id = ?"
        )
        args = [animation_id]
        if owner is not None:
            sql, args = sql + " AND owner_id = ?", [animation_id, owner]
        cur = db.execute(sql, args)
        row = cur.fetchone()
        return None if row is None else _rows(cur, [row])[0]

    row = await store.read(read)
    return None if row is None else _row_clip(row)


async def get_clip(store: Store, animation_id: str, user_id: str | None) -> dict[str, Any]:
    """A clip's detail (its summary and `definition`): a built-in one by `<rig>:<name>`,
    the caller's own custom one by id. NotFound otherwise, the same for someone else's."""
    if ":" in animation_id:
        rig, _, name = animation_id.partition(":")
        if _RIG_NAME.match(rig) and rig in known_rigs():
            _, clips = await _loaded(rig)
            if name in clips:
                return clips[name].detail()
    else:
        clip = await custom_clip(store, animation_id, user_id)
        if clip is not None:
            return clip.detail()
    raise NotFound(f'no animation "{_shown(animation_id)}"')


def _shown(text: str) -> str:
    text = _CONTROL.sub("?", text)
    return text if len(text) <= 80 else text[:80] + "..."


async def list_clips(
    store: Store,
    *,
    rig: str = DEFAULT_RIG,
    user_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """One page of the clips a caller can see for `rig`: the built-in ones (by name), then
    the caller's own (oldest first). `{"animations": [summaries], "total", "limit",
    "offset", "next_offset"}` (`next_offset` null on the last page)."""
    builtins = await builtin_clips(rig)
    rows: list[dict[str, Any]] = []
    own = 0
    if user_id is not None:
        skip = max(0, offset - len(builtins))
        take = max(0, limit - max(0, len(builtins) - offset))

        def read(db: Any) -> tuple[int, list[dict[str, Any]]]:
            count = db.execute(
                "SELECT COUNT(*) FROM animations WHERE owner_id = ? AND rig = ?", [user_id, rig]
            ).fetchone()[0]
            if take == 0:
                return count, []
            cur = db.execute(
                "SELECT id, rig, name, size_bytes, created_at, updated_at, "
                "json_extract(definition, '$.length') AS length, "
                "json_extract(definition, '$.looping') AS looping "
                "FROM animations WHERE owner_id = ? AND rig = ? "
                "ORDER BY created_at, id LIMIT ? OFFSET ?",
                [user_id, rig, take, skip],
            )
            return count, _rows(cur, cur.fetchall())

        own, rows = await store.read(read)
    page = [c.summary() for c in builtins[offset : offset + limit]]
    page += [_custom_summary(r) for r in rows]
    total = len(builtins) + own
    return {
        "animations": page,
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if offset + limit < total else None,
    }


def _count(node: dict[str, Any]) -> tuple[int, int]:
    """(timelines, keys) of a raw definition, tolerant of a malformed one (the loader
    reports those): cheap enough to run before any parsing."""
    timelines = keys = 0
    for group in ("bones", "slots"):
        owners = node.get(group)
        if not isinstance(owners, dict):
            continue
        for channels in owners.values():
            if not isinstance(channels, dict):
                continue
            for chan in channels.values():
                timelines += 1
                if isinstance(chan, list):
                    keys += len(chan)
    params = node.get("parameters")
    if isinstance(params, dict):  # parameter timelines: {pid: [keys]}
        for chan in params.values():
            timelines += 1
            if isinstance(chan, list):
                keys += len(chan)
    if isinstance(node.get("events"), list):
        keys += len(node["events"])
    return timelines, keys


def check_definition(
    definition: Any, rig: RigData, name: str, limits: ClipLimits | None = None
) -> tuple[dict[str, Any], str]:
    """The definition as it will be stored (its `name` set to `name`) and its compact JSON
    text, after the size limits and the engine's clip loader for `rig`. TooLarge or Invalid
    naming the path (`definition.bones.hips.rotation[5].time`) of what is wrong. Blocking
    (CPU only: run it on a thread)."""
    limits = limits or LIMITS
    if not isinstance(definition, dict):
        raise Invalid("definition: expected an object (a clip in the engine's format)",
                      field="definition")  # fmt: skip
    given = definition.get("name", name)
    if given != name and not (isinstance(given, str) and given.strip() == name):
        raise Invalid(
            f'definition.name: "{_shown(str(given))}" does not match the name "{name}" '
            "(leave it out to use the name)",
            field="definition.name",
        )
    definition = {**definition, "name": name}
    try:
        text = json.dumps(definition, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:  # Python's json reads NaN and Infinity; they are not JSON
        raise Invalid("definition: every number must be finite (NaN and Infinity are not JSON)",
                      field="definition") from None  # fmt: skip
    size = len(text.encode("utf-8"))
    if size > limits.max_bytes:
        raise TooLarge(
            f"definition: the clip is too large: {size} bytes as compact JSON "
            f"(at most {limits.max_bytes})",
            field="definition",
        )
    timelines, keys = _count(definition)
    if timelines > limits.max_timelines:
        raise TooLarge(
            f"definition: too many timelines: {timelines} bone channels and slot timelines "
            f"(at most {limits.max_timelines})",
            field="definition",
        )
    if keys > limits.max_keys:
        raise TooLarge(
            f"definition: too many keys: {keys} keys and events (at most {limits.max_keys})",
            field="definition",
        )
    length = definition.get("length")
    if (
        isinstance(length, int | float)
        and not isinstance(length, bool)
        and math.isfinite(length)
        and length > limits.max_length
    ):
        raise TooLarge(
            f"definition.length: the clip is too long: {length:g} s "
            f"(at most {limits.max_length:g} s)",
            field="definition.length",
        )
    try:
        parse_clip(definition, rig, "definition")
    except AnimationFormatError as e:
        # the loader's path is relative to the clip; the request holds it under "definition"
        path = f"definition.{e.path}" if e.path else "definition"
        raise Invalid(f"{path}: {e.problem}", field=path) from None
    return definition, text


def check_name(name: Any, limits: ClipLimits | None = None) -> str:
    """A clip's display name, trimmed: 1..max_name characters, no control characters."""
    limits = limits or LIMITS
    if name is None:
        raise Invalid("name: missing required field (or give the definition a name)",
                      field="name")  # fmt: skip
    if not isinstance(name, str) or not name.strip():
        raise Invalid("name: expected a non-empty string", field="name")
    name = name.strip()
    if len(name) > limits.max_name:
        raise Invalid(f"name: at most {limits.max_name} characters (got {len(name)})",
                      field="name")  # fmt: skip
    if _CONTROL.search(name):
        raise Invalid("name: must not contain control characters", field="name")
    return name


async def create_clip(
    store: Store, user_id: str, body: Any, limits: ClipLimits | None = None
) -> CustomClip:
    """Save a signed-in user's clip from `{"rig", "name", "definition"}` (`rig` defaults
    to digi; `name` to the definition's own). Invalid/TooLarge name the field or the JSON
    path at fault; Conflict past `max_per_user` clips."""
    limits = limits or LIMITS
    if not isinstance(body, dict):
        raise Invalid("the request body must be a JSON object")
    unknown = sorted(set(body) - {"rig", "name", "definition"})
    if unknown:
        raise Invalid(
            f'unknown field "{_shown(unknown[0])}" (expected rig, name, definition)',
            field=unknown[0],
        )
    rig = check_rig(body.get("rig", DEFAULT_RIG))
    if "definition" not in body:
        raise Invalid("definition: missing required field (a clip in the engine's format)",
                      field="definition")  # fmt: skip
    definition = body["definition"]
    own_name = definition.get("name") if isinstance(definition, dict) else None
    name = check_name(body.get("name", own_name), limits)
    rig_data_ = await rig_data(rig)
    definition, text = await asyncio.to_thread(
        check_definition, definition, rig_data_, name, limits
    )
    now = now_iso()
    clip = CustomClip(
        id=new_id(), rig=rig, name=name, definition=definition, owner_id=user_id,
        size_bytes=len(text.encode("utf-8")), created_at=now, updated_at=now,
    )  # fmt: skip

    def insert(db: Any) -> None:
        have = db.execute(
            "SELECT COUNT(*) FROM animations WHERE owner_id = ?", [user_id]
        ).fetchone()[0]
        if have >= limits.max_per_user:
            raise Conflict(
                f"you have {have} custom clips, the most an account may keep "
                f"({limits.max_per_user}): delete one first"
            )
        db["animations"].insert(
            {
                "id": clip.id,
                "owner_id": user_id,
                "rig": rig,
                "name": name,
                "definition": text,
                "size_bytes": clip.size_bytes,
                "created_at": now,
                "updated_at": now,
            }
        )

    await store.write(insert)
    return clip


async def delete_clip(store: Store, animation_id: str, user_id: str) -> None:
    """Delete the caller's own custom clip. A built-in clip cannot be deleted (Forbidden);
    a missing id and someone else's are the same NotFound."""
    if ":" in animation_id:
        rig, _, name = animation_id.partition(":")
        if _RIG_NAME.match(rig) and rig in known_rigs():
            _, clips = await _loaded(rig)
            if name in clips:
                raise Forbidden(
                    f'"{animation_id}" is a built-in clip: only your own clips can be deleted'
                )
        raise NotFound(f'no animation "{_shown(animation_id)}"')
    if not _CUSTOM_ID.match(animation_id):
        raise NotFound(f'no animation "{_shown(animation_id)}"')

    def delete(db: Any) -> int:
        cur = db.execute(
            "DELETE FROM animations WHERE id = ? AND owner_id = ?", [animation_id, user_id]
        )
        return cur.rowcount

    if await store.write(delete) == 0:
        raise NotFound(f'no animation "{_shown(animation_id)}"')
