"""What a puppet session keeps across page reloads and server restarts (issue 15): its look.

A streamer who refreshes mid-stream, or whose server restarts, keeps the same OBS URL; the
avatar on air must keep its look too. The manager takes a `snapshot` of every live puppet
session every couple of seconds and hands it to its `SessionMemory` when it changed (so a
slider dragged through fifty values is one write, and the render thread never waits on a
disk); a session reopened under its id gets the saved look back before its first frame
(`restored_look`, `restore`).

What is kept, per session id:
- the look: sprite library, sprites (outfit, accessories, body...), colours and render
  style, restored only onto the same avatar (a page opened with another `?avatar=` starts
  from that avatar's own look, and overwrites the saved one);
- framing and scene (background, position, scale, mirror, size);
- calibration: the tracker's neutral face;
- hotkeys: a session's expression hotkeys, when it has any (`LiveSession.hotkeys`, a plain
  JSON object); kept as they are.

Streaming never reads the store: the HTTP layer injects the memory (webapi/store/sessions.py:
SQLite for every session, and a signed-in streamer's own saved avatar). A stored state is
data from disk, so every part is checked when it is applied and a bad one is skipped with a
logged warning, never an error to the page.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable
from typing import Any, Protocol

from engine.render.framing import FRAMINGS
from engine.render.looks import LOOK_NAMES
from engine.render.scene import Scene, SceneError
from streaming.live import COLOR_RANGES, LiveSession, Look

log = logging.getLogger(__name__)

VERSION = 1  # the state's format; a newer one is ignored (a downgraded server)


class SessionMemory(Protocol):
    """Where sessions' ids and looks are kept (webapi/store/sessions.py)."""

    def idents(self) -> Iterable[tuple[str, bytes, float]]:
        """Every kept (id, token hash, wall-clock expiry), oldest first. Blocking: called
        once, off the event loop, when the server starts."""
        ...

    def keep_ident(self, sid: str, digest: bytes, expires: float) -> None:
        """Remember an id's token hash until `expires` (wall clock). Must not block."""
        ...

    async def recall(self, sid: str) -> dict[str, Any] | None:
        """The state last remembered for session `sid`, or None."""
        ...

    def remember(self, sid: str, state: dict[str, Any], owner: str | None) -> None:
        """Keep `state` (a `snapshot`) for session `sid`, opened by account `owner` (None:
        a guest). Must not block: the write happens elsewhere."""
        ...


def snapshot(session: LiveSession) -> dict[str, Any]:
    """What `session` wears and how it is framed now, as plain JSON data. Event loop."""
    look = session.look
    state: dict[str, Any] = {
        "v": VERSION,
        "avatar": {"face": look.face, "saved": look.saved, "wears": look.wears},
        "customizations": session.customizations(),
        "framing": session.framing,
        "scene": session.scene.to_json(),
    }
    if session.tracker is not None:
        neutral = session.tracker.neutral_pose()
        if neutral is not None:
            state["calibration"] = [round(v, 6) for v in neutral]
    hotkeys = getattr(session, "hotkeys", None)
    if isinstance(hotkeys, dict) and hotkeys:
        state["hotkeys"] = hotkeys
    return state


def usable(state: Any) -> dict[str, Any] | None:
    """`state` if it is one this version can read, else None (logged)."""
    if not isinstance(state, dict):
        log.warning("ignoring a saved session state that is not an object")
        return None
    if state.get("v") != VERSION:
        log.warning("ignoring a saved session state of format %r (this server reads %d)",
                    state.get("v"), VERSION)  # fmt: skip
        return None
    return state


def same_avatar(state: dict[str, Any], look: Look) -> bool:
    """Whether the saved look was worn by the avatar `look` is (its look applies)."""
    avatar = state.get("avatar")
    if not isinstance(avatar, dict):
        return False
    return (avatar.get("face"), avatar.get("saved"), avatar.get("wears", "character")) == (
        look.face,
        look.saved,
        look.wears,
    )


def restored_look(state: dict[str, Any] | None, look: Look, *, keep_style: bool) -> Look:
    """`look` with the saved library, sprites, colours and style put back, when `state`
    was saved for the same avatar. `keep_style`: the request chose a style itself (it
    wins). The sprites are checked against the rig by `LiveSession`; a bad one there
    makes the caller fall back to `look`."""
    if state is None or not same_avatar(state, look):
        return look
    c = state.get("customizations")
    if not isinstance(c, dict):
        return look
    changes: dict[str, Any] = {}
    library = c.get("library")
    if isinstance(library, str) and library.replace("-", "").replace("_", "").isalnum():
        changes["library"] = library
    sprites = c.get("sprites")
    if isinstance(sprites, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in sprites.items()
    ):
        changes["sprites"] = dict(sprites)
    colors = _colors(c.get("colors"), look)
    if colors is not None:
        changes["colors"] = colors
    style = c.get("style", "none")
    if not keep_style and style in LOOK_NAMES:
        changes["style"] = style
    return dataclasses.replace(look, **changes)


def _colors(value: Any, look: Look) -> dict[str, tuple[float, float, float, float]] | None:
    """Saved colours (part -> {hue, ...}) as the session's filters; None when any is bad."""
    if not isinstance(value, dict):
        return None
    out = {}
    for part, values in value.items():
        if part != "avatar" and part not in look.groups:
            return None
        if not isinstance(values, dict):
            return None
        entry = []
        for key, (lo, hi) in COLOR_RANGES.items():
            v = values.get(key, 1.0 if key != "hue" else 0.0)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                return None
            if not lo <= v <= hi:
                return None
            entry.append(float(v))
        out[part] = tuple(entry)
    return out  # type: ignore[return-value]


def restore(session: LiveSession, state: dict[str, Any] | None) -> list[str]:
    """Put the saved framing, scene, calibration and hotkeys back on a new `session`
    (before its first frame). Each part on its own: a bad one is skipped and logged.
    Returns the parts restored."""
    if state is None:
        return []
    done = []
    framing = state.get("framing")
    if framing in FRAMINGS:
        session.framing = framing
        done.append("framing")
    elif framing is not None:
        log.warning("session %s: ignoring its saved framing %.40r", session.id, framing)
    if "scene" in state:
        try:
            session.scene = Scene.from_json(state["scene"])
            done.append("scene")
        except SceneError as e:
            log.warning("session %s: ignoring its saved scene: %s", session.id, e)
    neutral = state.get("calibration")
    if neutral is not None and session.tracker is not None:
        try:
            session.tracker.restore_neutral(neutral)
            done.append("calibration")
        except (ValueError, TypeError) as e:
            log.warning("session %s: ignoring its saved calibration: %s", session.id, e)
    hotkeys = state.get("hotkeys")
    if isinstance(hotkeys, dict) and hasattr(session, "hotkeys"):
        try:
            setter = getattr(session, "restore_hotkeys", None)
            if callable(setter):
                setter(hotkeys)
            else:
                session.hotkeys = hotkeys
            done.append("hotkeys")
        except ValueError as e:
            log.warning("session %s: ignoring its saved hotkeys: %s", session.id, e)
    return done
