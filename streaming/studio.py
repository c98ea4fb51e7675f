"""A studio session's own state (docs/STUDIO.md): the creator's viewport of one avatar,
steered by control messages (`StudioState.command`), ticked by the render thread.

Threads: `command` and `set_draft` run on the event loop and replace whole values (the pose
edits, the solo clip's draft, the paused flag); `before_tick` and `after_tick` run on the
render thread, read each value once, and leave a `snapshot` (handles, bones, pose offsets)
that `status` hands the page whole, so the event loop never reads a pose mid-tick.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any

from engine.anim.clip import Clip
from engine.params.expressions import ExpressionError, parse_expressions
from engine.pose.edits import (
    EMPTY,
    BoneOffset,
    PoseEditError,
    PoseEdits,
    handles,
    merged,
    offsets_edits,
    parse_edits,
)
from engine.puppet import Puppet
from engine.render.framing import framing_rect
from engine.rig.data import RigData
from engine.session import Solo

SPEEDS = (0.1, 3.0)  # studio_speed
SNAPSHOT_EVERY = 0.1  # seconds between handle/bone snapshots (the page gets 2-4 a second)
MAX_NAME = 200  # an animation name's characters
TYPES = (  # the control messages a studio session adds (`expression` is everyone's)
    "studio_play",
    "studio_speed",
    "animation",
    "params",
    "expressions",
    "pose",
    "offsets",
    "timeline",
    "timeline_off",
)


class StudioError(ValueError):
    """A studio message that cannot be carried out; the message names the field."""


class StudioState:
    """What a studio session adds to a live session (`LiveSession.studio`)."""

    def __init__(self, puppet: Puppet, offsets: Mapping[str, BoneOffset] = ()) -> None:
        rig = puppet.bundle.rig
        self.puppet = puppet
        self.rig = rig
        self.handles = handles(rig)
        self.frame_rect = framing_rect(rig, "full")  # fixed: the overlay maps onto it
        self.paused = True  # the avatar holds still: identical frames (pixel-exact undo)
        self.speed = 1.0
        self.edits: PoseEdits = EMPTY  # the studio pose
        self.offsets: PoseEdits = offsets_edits(dict(offsets))  # accessories, live
        self.draft: Clip | None = None
        self.time = 0.0
        self.draft_playing = False
        self.draft_loop = True
        self.timeline = False  # the draft poses the avatar (solo) instead of the machine
        self.snapshot: dict[str, Any] = {}
        self._snapped_at = -math.inf
        self._lock = threading.Lock()  # guards the draft's time between the two threads
        self._push_edits()

    # --- messages (event loop) ------------------------------------------------------------

    def command(self, msg: dict[str, Any]) -> None:
        """One studio message (`TYPES`), checked whole before anything changes."""
        kind = msg["type"]
        if kind == "studio_play":
            self.paused = not _bool(msg, "playing")
        elif kind == "studio_speed":
            self.speed = _number(msg, "value", *SPEEDS)
        elif kind == "animation":
            self._animation(msg)
        elif kind == "params":
            self.puppet.expressions.hold(self._params(msg.get("values")))
        elif kind == "expressions":
            try:
                found = parse_expressions(msg.get("list"), self.rig, path="list")
            except ExpressionError as e:
                raise StudioError(str(e)) from None
            self.puppet.expressions.replace(found)
        elif kind == "pose":
            self.edits = _edits(msg.get("edits"), self.rig, "edits")
            self._push_edits()
        elif kind == "offsets":
            value = msg.get("offsets")
            if not isinstance(value, dict):
                raise StudioError('"offsets" must be an object of bone -> {x, y, rotation, scale}')
            self.offsets = _edits({"offsets": value}, self.rig, "")
            self._push_edits()
        elif kind == "timeline":
            self._timeline(msg)
        elif kind == "timeline_off":
            self.timeline = False
            self.draft_playing = False
            self.puppet.session.solo = None
        else:
            raise StudioError(f'unknown studio message "{kind}"')

    def set_draft(self, clip: Clip | None) -> None:
        """The timeline's clip (PUT /api/studio/{session}/draft), already checked by the
        engine's loader; None clears it (and the viewport goes back to the state machine)."""
        with self._lock:
            self.draft = clip
            if clip is None:
                self.timeline = self.draft_playing = False
                self.time = 0.0
                self.puppet.session.solo = None
            else:
                self.time = min(self.time, clip.length)
                if self.timeline:
                    self.puppet.session.solo = Solo(clip, self.time)

    def _animation(self, msg: dict[str, Any]) -> None:
        name = msg.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
            raise StudioError('"name" must be an animation\'s name (a non-empty string)')
        loop = _bool(msg, "loop")
        puppet = self.puppet
        self.timeline = self.draft_playing = False
        puppet.session.solo = None
        if loop:
            puppet.play(name)  # PuppetError: unknown (the session turns it into an error)
            return
        puppet.play_once(name)  # PuppetError: unknown; ends an earlier loop

    def _params(self, values: Any) -> dict[str, float]:
        if not isinstance(values, dict):
            raise StudioError('"values" must be an object of parameter ids to numbers')
        index = self.rig.parameter_index
        out: dict[str, float] = {}
        for pid in values:
            if pid not in index:
                known = ", ".join(list(index)[:20])
                raise StudioError(f"values.{pid:.64}: unknown parameter (known: {known})")
            p = self.rig.parameters[index[pid]]
            out[pid] = _number(values, pid, p.min, p.max, f"values.{pid}")
        return out

    def _timeline(self, msg: dict[str, Any]) -> None:
        draft = self.draft
        if draft is None:
            raise StudioError("no draft animation to play: PUT /api/studio/{session}/draft first")
        t = _number(msg, "time", 0.0, draft.length) if "time" in msg else None
        playing = _bool(msg, "playing") if "playing" in msg else None
        loop = _bool(msg, "loop") if "loop" in msg else None
        with self._lock:
            if t is not None:
                self.time = t
            if playing is not None:
                self.draft_playing = playing
            if loop is not None:
                self.draft_loop = loop
            self.timeline = True
            self.puppet.session.solo = Solo(draft, self.time)

    def _push_edits(self) -> None:
        # one assignment the tick reads whole: the pose over the accessories' offsets
        self.puppet.session.edits = merged(self.offsets, self.edits)

    # --- the tick (render thread) ---------------------------------------------------------

    def before_tick(self, dt: float) -> float:
        """Move the draft's playhead; the dt the state machine gets (0 while paused)."""
        with self._lock:
            draft = self.draft
            if self.timeline and draft is not None and self.draft_playing:
                t = self.time + dt * self.speed
                if t >= draft.length:
                    if self.draft_loop and draft.length > 0:
                        t %= draft.length
                    else:
                        t, self.draft_playing = draft.length, False
                self.time = t
                self.puppet.session.solo = Solo(draft, t)
        return 0.0 if self.paused else dt * self.speed

    def after_tick(self, now: float) -> None:
        """Where the handles and bones are now, for the page's overlay (a few times a
        second: the status carries it)."""
        if now - self._snapped_at < SNAPSHOT_EVERY and self.snapshot:
            return
        self._snapped_at = now
        pose = self.puppet.pose
        rig = self.rig
        spots: dict[str, list[float]] = {}
        for name, how in self.handles.items():
            if how.startswith("aim:"):
                x, y = pose.bone_tip(how[4:])
            else:
                x, y = pose.bone_tip(rig.bones[rig.ik[rig.ik_index[how]].bones[-1]].name)
            spots[name] = [round(x, 2), round(y, 2)]
        bones = {}
        for b in rig.bones:
            x, y = pose.bone_position(b.name)
            bones[b.name] = [round(x, 2), round(y, 2), round(pose.bone_angle(b.name), 2),
                             round(b.length, 2)]  # fmt: skip
        self.snapshot = {
            "handles": spots,
            "bones": bones,
            "pose_offsets": self.puppet.session.pose_offsets(),
        }

    # --- what the page is told (event loop) -----------------------------------------------

    def status(self) -> dict[str, Any]:
        draft = self.draft
        return {
            "paused": self.paused,
            "speed": self.speed,
            "time": round(self.time, 4),
            "draft": {"length": draft.length, "looping": self.draft_loop} if draft else None,
            "playing": self.draft_playing,
            "timeline": self.timeline,
            "frame_rect": list(self.frame_rect),
            "edits": self.edits.to_json(),
            **self.snapshot,
        }

    def hello(self, custom: Mapping[str, str], owned: list[dict[str, Any]]) -> dict[str, Any]:
        """What the studio page builds its panels from. `custom`: the avatar's custom
        animations (state -> name); `owned`: its owned marketplace animations."""
        rig, puppet = self.rig, self.puppet
        taken = set(custom) | {o["id"] for o in owned}
        # a custom or owned animation is a state of its own whose one variant is the clip
        # (named for its name): neither is a built-in
        mine = {s for s in puppet.states if s in taken}
        builtin = sorted(
            {s for s in puppet.states if s not in mine}
            | {v for s in puppet.states if s not in mine for v in puppet.variants(s)} - taken
        )
        return {
            "parameters": [
                {"id": p.id, "min": p.min, "max": p.max, "default": p.default}
                for p in rig.parameters
            ],
            "bones": [
                {"name": b.name, "parent": rig.bones[b.parent].name if b.parent >= 0 else None}
                for b in rig.bones
            ],
            "handles": list(self.handles),
            # what each sprite category wears when the customizations name none (undoing a
            # swap goes back to it)
            "sprite_defaults": dict(self.puppet.bundle.sprites.defaults)
            if self.puppet.bundle.sprites is not None
            else {},
            "frame_rect": list(self.frame_rect),
            "animations": {
                "builtin": builtin,
                "custom": [{"id": k, "name": v} for k, v in custom.items()],
                "owned": owned,
            },
        }


def expressions_hello(puppet: Puppet) -> list[dict[str, Any]]:
    """The session's expressions as the puppet page binds them (values stay here)."""
    return [
        {"name": e.name, "hotkey": e.hotkey, "fade": e.fade, "active": e.name in active}
        for active in (set(puppet.expressions.active),)
        for e in puppet.expressions.expressions
    ]


def expression(puppet: Puppet, msg: dict[str, Any]) -> None:
    """`{"type": "expression", "name", "on"?}`: toggle one (or set it on/off)."""
    name = msg.get("name")
    if not isinstance(name, str) or not name:
        raise StudioError('"name" must be an expression\'s name')
    try:
        if "on" in msg:
            puppet.expressions.set_active(name, _bool(msg, "on"))
        else:
            puppet.expressions.toggle(name)
    except ExpressionError as e:
        raise StudioError(str(e)) from None


def _edits(value: Any, rig: RigData, path: str) -> PoseEdits:
    try:
        return parse_edits(value if value is not None else {}, rig, path=path)
    except PoseEditError as e:
        raise StudioError(str(e).lstrip(".")) from None


def _bool(msg: Mapping[str, Any], key: str) -> bool:
    v = msg.get(key)
    if not isinstance(v, bool):
        raise StudioError(f'"{key}" must be true or false')
    return v


def _number(
    msg: Mapping[str, Any], key: str, lo: float, hi: float, name: str | None = None
) -> float:
    v = msg.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise StudioError(f'"{name or key}" must be a number from {lo:g} to {hi:g}')
    if not lo <= v <= hi:
        raise StudioError(f'"{name or key}" must be a number from {lo:g} to {hi:g}')
    return float(v)
