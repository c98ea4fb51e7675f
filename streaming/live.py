"""A live session: one puppeted avatar (`engine.puppet.Puppet`), its face-tracking worker,
its control messages and its video outputs.

Threads (docs/ARCHITECTURE.md): the event loop parses control messages and hands them to the
puppet, which validates and queues them (`command`); the render worker calls `tick` on the
session's own clock and draws the outputs; the tracking worker turns webcam frames into
tracker observations. The pose is touched by the render thread only.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.assets import AvatarBundle
from engine.effects import EffectData, combined_filter
from engine.params.expressions import Expression
from engine.pose.edits import BoneOffset, offsets_edits
from engine.puppet import Puppet, PuppetError, check_label
from engine.render.framing import FRAMINGS, Framer, Rect
from engine.render.looks import LOOK_NAMES, NONE, RenderStyle, UnknownLookError, render_style
from engine.render.scene import SIZES, Scene, SceneError
from engine.tracking import FaceTracker
from engine.tracking.voice import VoicedFace
from engine.tracking.worker import TrackingWorker
from streaming import studio

LAYOUTS = ("opaque", "packed")
WEARS = ("character", "photo")  # how a generated avatar is worn (Look.wears)
BACKGROUND = (40, 44, 56)  # the puppet page's backdrop behind the avatar (opaque layout)
# The renderer's colour filter (engine/render/renderer.py), one value each, in this order;
# the ranges a saved avatar's customizations and the "color" control message both accept
COLOR_RANGES: dict[str, tuple[float, float]] = {
    "hue": (-180.0, 180.0),  # degrees
    "saturation": (0.0, 2.0),
    "brightness": (0.0, 2.0),
    "contrast": (0.0, 2.0),
}
NEUTRAL = (0.0, 1.0, 1.0, 1.0)  # the filter that changes nothing
WHOLE = "avatar"  # the colour part that filters the whole avatar


@dataclass(frozen=True, eq=False)
class Look:
    """What a session wears besides its rig, as plain data: the HTTP layer resolves a saved
    avatar (webapi/library) into it, so streaming never reads the store.

    `face`: a generated avatar's id whose face is worn; `library`: the sprite library
    (`base`, a variant such as `winter`); `sprites`: category -> label over its defaults;
    `colors`: colour part (`avatar` or a group) -> (hue, saturation, brightness, contrast);
    `groups`: each colour group's slot names; `saved`: the saved avatar's id;
    `clips`: custom animations (state name -> clip definition in the engine's format), each
    playable as an emote (`transition`) or by a preview; `wears`: see below."""

    face: str | None = None
    library: str = "base"
    sprites: Mapping[str, str] = field(default_factory=dict)
    colors: Mapping[str, tuple[float, float, float, float]] = field(default_factory=dict)
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    saved: str | None = None
    clips: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)  # custom clip state -> its name
    # how a generated avatar (`face`) is worn: "character", the Digi-style character
    # assembled from its measured features (engine/likeness), or "photo", its styled photo
    # as Digi's face (engine/face); an avatar without a character wears its photo
    wears: str = "character"
    # the render style it is drawn in (engine/render/looks.py LOOK_NAMES); "none": as drawn
    style: str = "none"
    # accessories placed on their bones (customizations' `accessories`), worn by every
    # session of the look as pose edits, and its named expressions (hotkeys, fades)
    offsets: Mapping[str, BoneOffset] = field(default_factory=dict)
    expressions: tuple[Expression, ...] = ()

    @property
    def bundle_key(self) -> tuple[str | None, str, str]:
        """What picks the rig's pictures and sprite library (the costly part to build)."""
        return self.face, self.library, self.wears


class CommandError(ValueError):
    """A control message that cannot be carried out; the message says why."""


class FrameSink(Protocol):
    """Where the render thread hands an output's frames: newest wins, never waits
    (`streaming.encoder.SharedEncoder`). `encoded` and `dropped` count the frames it coded
    and the frames a newer one replaced before it got to them (the status reports both)."""

    encoded: int
    dropped: int

    def publish(self, frame: Any) -> None: ...

    def close(self) -> None: ...


@dataclass(eq=False)
class Output:
    """One view of a session: a layout and a size, rendered once per tick and handed to its
    sink (one shared encoder that every viewer of this view gets packets from)."""

    layout: str
    size: int
    slot: FrameSink
    frames: int = 0
    # pts -> capture time of the newest face the frame used (motion-to-photon), recent only
    camera_at: BoundedMap = field(default_factory=lambda: BoundedMap(240))


class BoundedMap(dict):
    """A dict that forgets its oldest keys past `limit` entries."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        if len(self) > self.limit:
            del self[next(iter(self))]


@dataclass
class Stats:
    ticks: int = 0
    skipped: int = 0  # ticks skipped to catch up (never queued)
    tick_ms: float = 0.0  # step + render + convert, newest
    fps: float = 0.0  # ticks per second over the last second
    _window: list[float] = field(default_factory=list)

    def record(self, now: float, tick_ms: float, skipped: int) -> None:
        """One tick at `now` that took `tick_ms`, after which `skipped` ticks were skipped."""
        self.tick_ms = tick_ms
        self.skipped += skipped
        self.ticks += 1
        w = self._window
        w.append(now)
        while w and now - w[0] > 1.0:
            w.pop(0)
        # intervals over the time they span: counting the ticks themselves over a second
        # read 61 for a steady 60
        self.fps = (len(w) - 1) / (now - w[0]) if len(w) > 1 and now > w[0] else 0.0


class LiveSession:
    """`kind` is "puppet" (webcam-driven, 60 Hz), "preview" (a named animation, no camera)
    or "studio" (the creator's viewport: no camera, steered by `studio`'s messages)."""

    def __init__(
        self,
        bundle: AvatarBundle,
        *,
        kind: str = "puppet",
        fps: int = 60,
        seed: int = 0,
        clock=time.monotonic,
        ident: tuple[str, str] | None = None,
        tracking: str = "server",
        look: Look | None = None,
    ) -> None:
        """`tracking`: where a puppet's face is tracked, "server" (its webcam video comes
        here) or "browser" (landmarks come over the `landmarks` channel, and no MediaPipe
        graph is built for it: streaming/landmarks.py), or "none": camera-less, the avatar
        idles with a face of its own and talks with the voice (streaming/voice.py).
        `look`: what it wears (a saved
        avatar's customizations); its sprites are checked here (CommandError)."""
        # (id, token): a puppet page that reconnects keeps its id, so OBS's URL stays valid
        # (the manager issues them: streaming/idents.py)
        self.id, self.token = ident or (secrets.token_urlsafe(16), secrets.token_urlsafe(16))
        # the account that opened it, if signed in: its API tokens also open the session's
        # OBS and WHEP views (a link that survives a new session token)
        self.owner: str | None = None
        self.kind = kind
        self.bundle = bundle
        self.fps = fps
        self.period = 1.0 / fps
        self.clock = clock
        self.tracker: FaceTracker | None = None
        self.worker: TrackingWorker | None = None
        if kind == "puppet" and bundle.tracking is not None:
            self.tracker = FaceTracker(bundle.tracking, bundle.rig)
            factory = _pooled if tracking == "server" else None
            if tracking != "none":
                self.worker = TrackingWorker(self.tracker, clock=clock, landmarker_factory=factory)
        self.tracking_source = tracking
        # the mouth from the mic's voice where the camera does not see it (camera-less: the
        # whole face): what the puppet ticks instead of the bare tracker
        self.face: VoicedFace | None = None
        if self.tracker is not None:
            self.face = VoicedFace(self.tracker, bundle.rig, camera=tracking != "none", seed=seed)
        self.voice: Any = None  # the session's VoiceIntake, once a `voice` channel opens
        # set by the render worker: a new face arrived, phase-lock the ticks to it
        self.on_input: Callable[[], None] | None = None
        if self.worker is not None:
            self.worker.on_observed = self._input
        self.landmarks: Any = None  # a browser-tracked session's LandmarkIntake (manager)
        # the VTube Studio plugin API's part of this session (streaming/vts/plugins.py
        # SessionLink), attached by its hub: the page's plugin prompts, injected parameters
        self.vts: Any = None
        self.puppet = Puppet(bundle, seed=seed, tracker=self.face)  # type: ignore[arg-type]
        self.framing = "full"
        # the framing follows the pose (engine/render/framing.py Framer): moved by the
        # render thread each tick, which draws `frame_rect`
        self.framer = Framer(bundle.rig)
        self.frame_rect: Rect | None = None
        # bumped when the whole picture changes at once (framing, scene, style): the tick
        # after, every output's encoder makes that frame a keyframe (refresh_picture)
        self.picture = 0
        self._picture_seen = 0
        # background, position, mirror and output size (engine/render/scene.py): replaced
        # whole by the event loop, read whole by the render thread
        self.scene = Scene()
        # the scene's background pictures this session may use (injected by webapi:
        # id -> (h, w, 3) uint8 pixels, LookupError for an unknown or another's id)
        self.backgrounds: Callable[[str], Any] | None = None
        # id -> name of the backgrounds its opener may use (set with `backgrounds`): a
        # remote plugin's scene hotkeys (streaming/vts)
        self.background_names: dict[str, str] = {}
        # the outputs' frame rate: below `fps` for a large scene on a CPU renderer (set by
        # the render worker, engine/render/scene.py SOFTWARE_FPS)
        self.output_fps: float = fps
        # the render style, switched live by a "style" message; read by the render thread
        self.style_name = NONE
        self.render_style: RenderStyle | None = None
        self.outputs: list[Output] = []
        self.stats = Stats()  # the render worker reports its ticks here
        self.error: str | None = None  # a render failure, reported on the page
        self.created = clock()
        self.last_tick: float | None = None
        self.last_camera = -float("inf")  # capture time of the newest face a frame used
        self.closed = False
        self._lock = threading.Lock()  # guards `outputs`
        self.look = look or Look()
        self.colors: dict[str, tuple[float, float, float, float]] = {}
        # (avatar filter, part filters by slot): replaced whole, read by the render thread
        self.filters: tuple[tuple[float, ...], dict[str, tuple[float, ...]]] = (NEUTRAL, {})
        # marketplace items (streaming/market_items.py), set by the manager before it starts:
        # the effects this session may apply (listing id -> effect), the one applied (its
        # filter joins `filters`, its overlay is drawn by the render thread), the pictures
        # its scene may show besides `backgrounds` (id -> loader), a preview's backdrop
        # (a try-on background; a puppet's is its scene's) and what the page lists (hello)
        self.effects: dict[str, EffectData] = {}
        self.effect: EffectData | None = None
        self.market_backgrounds: dict[str, Callable[[], Any]] = {}
        self.backdrop: Scene | None = None
        self.market: dict[str, Any] = {}
        try:
            for category, label in self.look.sprites.items():
                check_label(bundle, category, label)
                # at once, not queued for the first tick: hello and status report it
                self.puppet.session.sprites.swap(category, label)
        except PuppetError as e:
            raise CommandError(str(e)) from None
        for part, value in self.look.colors.items():
            self._set_color(part, value)
        self._set_style(self.look.style)
        self.puppet.expressions.replace(self.look.expressions)
        # the studio's own state (streaming/studio.py): its pose and timeline over the look
        self.studio: studio.StudioState | None = None
        if kind == "studio":
            self.studio = studio.StudioState(self.puppet, self.look.offsets)
            self.frame_rect = self.studio.frame_rect
        elif self.look.offsets:
            self.puppet.session.edits = offsets_edits(self.look.offsets)

    # --- lifecycle (event loop) -------------------------------------------------------------

    def start(self) -> None:
        if self.worker is not None:
            self.worker.start()

    def close(self) -> None:
        """Stop tracking and every output; idempotent. The render worker drops closed
        sessions at its next pass."""
        if self.closed:
            return
        self.closed = True
        with self._lock:
            outputs, self.outputs = self.outputs, []
        for out in outputs:
            out.slot.close()
        if self.worker is not None:
            self.worker.stop(timeout=2.0)

    def add_output(self, out: Output) -> None:
        if out.layout not in LAYOUTS:
            raise CommandError(
                f'unknown layout "{out.layout}" (expected one of {", ".join(LAYOUTS)})'
            )
        with self._lock:
            self.outputs.append(out)

    def remove_output(self, out: Output) -> None:
        with self._lock:
            if out in self.outputs:
                self.outputs.remove(out)
        out.slot.close()

    def current_outputs(self) -> list[Output]:
        with self._lock:
            return list(self.outputs)

    def _input(self) -> None:
        on_input = self.on_input
        if on_input is not None:
            on_input()

    # --- control messages (event loop): validated now, applied at the next tick ---------------

    def command(self, msg: Any) -> None:
        """Check one control message's shape (docs/STREAMING.md) and hand it to the puppet,
        which validates its values and queues its effect."""
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            raise CommandError('a control message is a JSON object with a "type"')
        kind = msg["type"]
        puppet = self.puppet
        try:
            if kind == "transition":
                puppet.transition(_text(msg, "state"))
            elif kind == "dance":
                puppet.transition("dance", _text(msg, "variant"))
            elif kind == "stop":
                puppet.stop(_text(msg, "region"))
            elif kind == "cancel":  # drop what is queued after the current state
                puppet.cancel(_text(msg, "region") if "region" in msg else None)
            elif kind == "controls":
                values = msg.get("values")
                if not isinstance(values, dict):
                    raise CommandError('"values" must be an object of input names to numbers')
                puppet.set_controls(values)
            elif kind == "swap":
                puppet.swap(_text(msg, "category"), _text(msg, "label"))
            elif kind == "color":
                self._color(msg)
            elif kind == "calibrate":
                puppet.calibrate()
            elif kind == "framing":
                value = _text(msg, "value")
                if value not in FRAMINGS:
                    raise CommandError(
                        f'unknown framing "{value}" (expected one of {", ".join(FRAMINGS)})'
                    )
                self.framing = value
                self.refresh_picture()
            elif kind == "style":
                self._set_style(_text(msg, "value"))
                self.refresh_picture()
            elif kind == "scene":
                self.set_scene(msg)
            elif kind == "effect":
                self.set_effect(msg.get("id"))
            elif kind == "expression":  # a saved expression's hotkey (the puppet page's too)
                studio.expression(puppet, msg)
            elif self.studio is not None and kind in studio.TYPES:
                self.studio.command(msg)
            elif kind.startswith("vts_") and self.vts is not None:
                self.vts.command(msg)  # the page answering a plugin (streaming/vts)
            else:
                raise CommandError(f'unknown message type "{kind}"')
        except (PuppetError, studio.StudioError) as e:
            raise CommandError(str(e)) from None
        if self.vts is not None:  # plugins hear of hotkeys pressed on the page too
            self.vts.observed(msg)

    def set_scene(self, values: Any) -> None:
        """`{"type": "scene", ...fields}` (engine/render/scene.py): the fields given change,
        every bad one is named at once; a picture must be one this session may use."""
        try:
            scene = self.scene.updated(values)
        except SceneError as e:
            raise CommandError(str(e)) from None
        if scene.background == "image" and scene.image != self.scene.image:
            try:
                self.background(scene.image)  # found, and decoded once (the resolver caches)
            except LookupError:
                raise CommandError(
                    f'no background "{scene.image}" (see GET /api/backgrounds)'
                ) from None
        old, self.scene = self.scene, scene  # one assignment the render thread reads whole
        # a new backdrop, size or side is a new picture: a keyframe. A slider's steps (x, y,
        # scale) move the avatar as its own motion does: a keyframe each would cost the
        # stream a burst of bits five times a second while dragging.
        moved = {"x": 0, "y": 0, "scale": 1}
        if old.to_json() | moved != scene.to_json() | moved:
            self.refresh_picture()

    def background(self, bid: str) -> Any:
        """A scene picture this session may show: (h, w, 3) uint8; LookupError if none.
        Owned marketplace backgrounds first, then the opener's library (`backgrounds`)."""
        loader = self.market_backgrounds.get(bid)
        if loader is not None:
            return loader()
        if self.backgrounds is None:
            raise LookupError(f'no background "{bid}"')
        return self.backgrounds(bid)

    def set_effect(self, effect_id: Any) -> None:
        """`{"type": "effect", "id": <an owned effect's listing id> | null}`: apply that
        effect (its filter and overlay) from the next frame on; null takes it off."""
        if effect_id is None:
            effect = None
        elif not isinstance(effect_id, str) or effect_id not in self.effects:
            known = ", ".join(self.effects) or "none"
            raise CommandError(f'no effect "{effect_id!s:.64}" to apply (yours: {known})')
        else:
            effect = self.effects[effect_id]
        self.effect = effect  # one assignment the render thread reads whole
        self._set_filters()
        self.refresh_picture()

    def refresh_picture(self) -> None:
        """The whole picture changes at once (a framing, scene or style change; any thread):
        the first frame drawn after it is sent as a keyframe (`SharedEncoder.refresh`).
        Coded as a change from the frame before, the new picture's flat backdrop kept
        blotches of what was there until the next keyframe, which never came."""
        self.picture += 1

    def _set_style(self, name: str) -> None:
        try:
            style = render_style(name)
        except UnknownLookError as e:
            raise CommandError(str(e)) from None
        # one assignment the render thread reads whole: the name only reports it
        self.render_style, self.style_name = style, name

    def _color(self, msg: dict[str, Any]) -> None:
        """`{"type": "color", "part": "avatar" | a group, "hue": ..., ...}`: the values
        given change, the others keep theirs."""
        part = _text(msg, "part")
        if part != WHOLE and part not in self.look.groups:
            known = ", ".join([WHOLE, *self.look.groups])
            raise CommandError(f'unknown colour part "{part}" (known: {known})')
        current = list(self.colors.get(part, NEUTRAL))
        given = [k for k in msg if k not in ("type", "part")]
        if not given:
            raise CommandError(f'a "color" message sets one of {", ".join(COLOR_RANGES)}')
        for key in given:
            if key not in COLOR_RANGES:
                raise CommandError(
                    f'unknown colour value "{key}" (expected {", ".join(COLOR_RANGES)})'
                )
            v, (lo, hi) = msg[key], COLOR_RANGES[key]
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise CommandError(f'"{key}" must be a number from {lo:g} to {hi:g}')
            if not lo <= v <= hi:
                raise CommandError(f'"{key}" must be a number from {lo:g} to {hi:g}')
            current[list(COLOR_RANGES).index(key)] = float(v)
        self._set_color(part, tuple(current))

    def _set_color(self, part: str, value: tuple[float, ...]) -> None:
        value = tuple(float(v) for v in value)
        if value == NEUTRAL:
            self.colors.pop(part, None)
        else:
            self.colors[part] = value  # type: ignore[assignment]
        self._set_filters()

    def _set_filters(self) -> None:
        """The renderer's filters: the look's colours, the applied effect's after them."""
        known = self.bundle.rig.slot_index  # a group names slots of the rig it was made for
        parts = {
            slot: self.colors[group]
            for group, slots in self.look.groups.items()
            if group in self.colors
            for slot in slots
            if slot in known
        }
        effect = self.effect.filter if self.effect is not None else None
        self.filters = (combined_filter(self.colors.get(WHOLE, NEUTRAL), effect), parts)

    def customizations(self) -> dict[str, Any]:
        """What the session wears now, in a saved avatar's customizations format
        (docs/API.md): what "Save to my avatars" stores."""
        out = {
            "library": self.look.library,
            "sprites": dict(self.puppet.wearing),
            "colors": {
                part: dict(zip(COLOR_RANGES, value, strict=True))
                for part, value in self.colors.items()
            },
        }
        if self.style_name != NONE:
            out["style"] = self.style_name
        # accessories placed on their bones (a studio's as placed now) and the expressions,
        # when there are any: a look saved from here keeps them
        offsets = self.studio.offsets.offsets if self.studio is not None else self.look.offsets
        if offsets:
            out["accessories"] = {bone: o.to_json() for bone, o in offsets.items()}
        expressions = self.puppet.expressions.expressions
        if expressions:
            out["expressions"] = [e.to_json() for e in expressions]
        return out

    def play(self, animation: str) -> None:
        """Preview: keep playing a state (`wave`) or one of its animations (`dance_3`)."""
        try:
            self.puppet.play(animation)
        except PuppetError as e:
            raise CommandError(str(e)) from None

    # --- the tick (render thread) -----------------------------------------------------------

    def tick(self, now: float) -> None:
        """One engine step at time `now` (the session's tick grid): the puppet's tick."""
        dt = self.period if self.last_tick is None else min(now - self.last_tick, 0.1)
        self.last_tick = now
        st = self.studio
        if st is not None:  # paused: dt 0, so the frame is the same tick after tick
            self.puppet.tick(now, st.before_tick(dt))
            st.after_tick(now)  # fixed framing (StudioState.frame_rect), set once
        else:
            self.puppet.tick(now, dt)
            self.frame_rect = self.framer.update(self.puppet.pose, self.framing, dt)
        self.last_camera = self.puppet.last_face
        if self.picture != self._picture_seen:  # before this tick's frames are published
            self._picture_seen = self.picture
            for out in self.current_outputs():
                refresh = getattr(out.slot, "refresh", None)
                if refresh is not None:
                    refresh()

    # --- status (event loop) ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        tr, wk = self.tracker, self.worker
        error = self.error or (wk.error if wk is not None else None)
        if tr is None:
            tracking = "off"
        elif self.tracking_source == "none":
            tracking = "none"  # camera-less
        elif error:
            tracking = "error"
        else:
            tracking = tr.state
        return {
            "type": "status",
            "tracking": tracking,
            "presence": round(tr.presence, 3) if tr is not None else 0.0,
            "error": error,
            "camera_fps": round(self._camera_fps(), 1),
            "landmarker_ms": round(wk.last_ms, 2) if wk is not None else None,
            "tracking_source": self.tracking_source,
            "landmarks": self.landmarks.stats() if self.landmarks is not None else None,
            "voice": self._voice_status(),
            "fps": round(self.stats.fps, 1),
            "state": self.puppet.active_state,
            # each region's state and animation, and what is queued after them
            # (docs/CONTROL.md "Controls"): the last tick's snapshot, read whole
            **self.puppet.playing.as_dict(),
            "framing": self.framing,
            "style": self.style_name,
            "scene": self.scene.to_json(),
            "effect": self.effect.name if self.effect is not None else None,
            "output_fps": round(self.output_fps, 1),
            # per view: frames drawn, coded, and lost to a busy encoder (where a viewer's
            # missing frames went, when the drawn rate is whole but the received one is not)
            "outputs": [
                {
                    "layout": o.layout,
                    "size": o.size,
                    "drawn": o.frames,
                    "encoded": o.slot.encoded,
                    "dropped": o.slot.dropped,
                }
                for o in self.current_outputs()
            ],
            "avatar": self.look.saved,
            "customizations": self.customizations(),
            "vts": self.vts.status() if self.vts is not None else None,
            "expressions": self.puppet.expressions.active,
            **({"studio": self.studio.status()} if self.studio is not None else {}),
        }

    def _voice_status(self) -> dict[str, Any] | None:
        """The mic lip-sync path: what its channel took, how open the voice says the
        mouth is, and what drives the mouth now ("camera", "voice" or None)."""
        face = self.face
        if face is None:
            return None
        out: dict[str, Any] = self.voice.stats() if self.voice is not None else {}
        out["level"] = round(face.voice.level, 3)
        out["source"] = face.source
        return out

    def _camera_fps(self) -> float:
        wk = self.worker
        if wk is None:
            return 0.0
        now = self.clock()
        seen = getattr(self, "_cam_seen", None)
        total = wk.frames + wk.dropped
        self._cam_seen = (now, total)
        if seen is None or now - seen[0] <= 0:
            return 0.0
        return (total - seen[1]) / (now - seen[0])

    def hello(self) -> dict[str, Any]:
        puppet = self.puppet
        return {
            "type": "hello",
            "session": self.id,
            "labels": puppet.labels,
            "current": puppet.wearing,
            "states": puppet.states,
            "dances": puppet.variants("dance"),
            # which region each state plays in (docs/CONTROL.md "Controls")
            "state_regions": {
                name: st.layer.region for name, st in sorted(self.bundle.machine.states.items())
            },
            "framings": list(FRAMINGS),
            "styles": list(LOOK_NAMES),
            "style": self.style_name,
            "scene": self.scene.to_json(),
            "sizes": {name: list(wh) for name, wh in SIZES.items()},
            "avatar": self.look.saved,
            "library": self.look.library,
            "color_parts": [WHOLE, *self.look.groups],
            "customizations": self.customizations(),
            # custom animations this session can play (`transition` with the id as state)
            "custom": [{"id": k, "name": v} for k, v in self.look.names.items()],
            # owned marketplace items (streaming/market_items.py): labels, emotes,
            # backgrounds and effects by listing id, and the effect applied now
            "market": self.market,
            "effect": self.effect.name if self.effect is not None else None,
            # saved expressions and their hotkeys (the page binds them: `expression`)
            "expressions": studio.expressions_hello(puppet),
            **(self._studio_hello() if self.studio is not None else {}),
        }

    def _studio_hello(self) -> dict[str, Any]:
        assert self.studio is not None
        market = self.market
        # owned marketplace animations by what `animation` plays: a state or a dance variant
        owned = [{"id": e["state"], "name": e["name"]} for e in market.get("emotes", ())]
        owned += [{"id": d["variant"], "name": d["name"]} for d in market.get("dances", ())]
        active = set(self.puppet.expressions.active)
        return {
            **self.studio.hello(self.look.names, owned),
            # with their values: the expression editor lists and edits them
            "expressions": [
                {**e.to_json(), "active": e.name in active}
                for e in self.puppet.expressions.expressions
            ],
        }


def _pooled():
    """A landmarker from the process's pool (MediaPipe graphs are costly to build and leak
    when closed); called on the tracking worker's thread."""
    from engine.tracking.landmarker import shared_pool

    return shared_pool().acquire()


def _text(msg: dict, key: str) -> str:
    v = msg.get(key)
    if not isinstance(v, str) or not v:
        raise CommandError(f'"{key}" must be a non-empty string')
    return v
