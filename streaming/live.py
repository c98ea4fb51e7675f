"""A live session: one avatar, its face tracking, its control messages and its video outputs.

Threads (ARCHITECTURE.md): the event loop parses and validates control messages and hands
them over (`command`); the render worker calls `tick` at the session's own rate and draws
the outputs; the tracking worker turns webcam frames into tracker observations. The pose is
touched by the render thread only; what crosses threads is a lock-guarded pending `Inputs`.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from engine.assets import AvatarBundle
from engine.render.framing import FRAMINGS
from engine.session import AvatarSession, Inputs
from engine.tracking import FaceTracker
from engine.tracking.worker import TrackingWorker
from streaming.tracks import FrameSlot

LAYOUTS = ("opaque", "packed")
BACKGROUND = (40, 44, 56)  # the puppet page's backdrop behind the avatar (opaque layout)


class CommandError(ValueError):
    """A control message that cannot be carried out; the message says why."""


@dataclass(eq=False)
class Output:
    """One encoded view of a session: a layout and a size, delivered through a slot."""

    layout: str
    size: int
    slot: FrameSlot
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

    def count(self, now: float) -> None:
        self.ticks += 1
        w = self._window
        w.append(now)
        while w and now - w[0] > 1.0:
            w.pop(0)
        self.fps = len(w) / min(1.0, max(now - w[0], 1e-3)) if len(w) > 1 else 0.0


class LiveSession:
    """`kind` is "puppet" (webcam-driven, 60 Hz) or "preview" (a named animation, no camera)."""

    def __init__(
        self,
        bundle: AvatarBundle,
        *,
        kind: str = "puppet",
        fps: int = 60,
        seed: int = 0,
        clock=time.monotonic,
        ident: tuple[str, str] | None = None,
    ) -> None:
        # (id, token): a puppet page that reconnects keeps its id, so OBS's URL stays valid
        self.id, self.token = ident or (secrets.token_urlsafe(8), secrets.token_urlsafe(16))
        self.kind = kind
        self.bundle = bundle
        self.fps = fps
        self.period = 1.0 / fps
        self.clock = clock
        self.avatar = AvatarSession(bundle, seed=seed)
        self.tracker: FaceTracker | None = None
        self.worker: TrackingWorker | None = None
        if kind == "puppet" and bundle.tracking is not None:
            self.tracker = FaceTracker(bundle.tracking, bundle.rig)
            self.worker = TrackingWorker(self.tracker, clock=clock, landmarker_factory=_pooled)
        self.framing = "full"
        self.outputs: list[Output] = []
        self.stats = Stats()
        self.error: str | None = None  # a render failure, reported on the page
        self.created = clock()
        self.next_tick = self.epoch = self.created  # the render worker sets these three
        self.index = 0  # ticks since epoch, on the session's fps grid
        self.last_tick: float | None = None
        self.last_camera = -float("inf")  # capture time of the newest face a frame used
        self.closed = False
        self._lock = threading.Lock()
        self._pending = Inputs()
        self._repeat: tuple[str, str | None] | None = None  # preview: keep playing this
        self._calibrate = False

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
            raise CommandError(f'unknown layout "{out.layout}" (expected one of {", ".join(LAYOUTS)})')
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

    # --- control messages (event loop): validate now, apply at the next tick ---------------

    def command(self, msg: Any) -> None:
        """Validate one control message (docs/STREAMING.md) and queue its effect."""
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            raise CommandError('a control message is a JSON object with a "type"')
        kind = msg["type"]
        machine = self.bundle.machine
        with self._lock:
            p = self._pending
            if kind == "transition":
                state = _text(msg, "state")
                if state not in machine.states:
                    raise CommandError(f'unknown state "{state}" (known: {", ".join(sorted(machine.states))})')
                p.transitions.append(state)
            elif kind == "dance":
                variant = _text(msg, "variant")
                self._check_variant("dance", variant)
                p.transitions.append(f"dance:{variant}")
            elif kind == "stop":
                region = _text(msg, "region")
                if region not in machine.regions():
                    raise CommandError(f'unknown region "{region}" (known: {", ".join(machine.regions())})')
                p.stop.append(region)
            elif kind == "controls":
                values = msg.get("values")
                if not isinstance(values, dict):
                    raise CommandError('"values" must be an object of input names to numbers')
                for name, v in values.items():
                    if name not in machine.inputs:
                        raise CommandError(f'unknown input "{name}" (known: {", ".join(sorted(machine.inputs))})')
                    if isinstance(v, bool) or not isinstance(v, int | float) or v != v:
                        raise CommandError(f'input "{name}" must be a number')
                p.controls = {**p.controls, **{k: float(v) for k, v in values.items()}}
            elif kind == "swap":
                category, label = _text(msg, "category"), _text(msg, "label")
                check_label(self.bundle, category, label)
                p.swaps = {**p.swaps, category: label}
            elif kind == "calibrate":
                if self.tracker is None:
                    raise CommandError("this session has no face tracking to calibrate")
                self._calibrate = True
            elif kind == "framing":
                value = _text(msg, "value")
                if value not in FRAMINGS:
                    raise CommandError(f'unknown framing "{value}" (expected one of {", ".join(FRAMINGS)})')
                self.framing = value
            else:
                raise CommandError(f'unknown message type "{kind}"')

    def _check_variant(self, state: str, variant: str) -> None:
        st = self.bundle.machine.states.get(state)
        names = [c.name for c, _ in st.variants] if st else []
        if variant not in names:
            raise CommandError(f'unknown {state} "{variant}" (known: {", ".join(names)})')

    def play(self, animation: str) -> None:
        """Preview: keep playing a state (`wave`) or one of a state's animations
        (`dance_3`), re-entering it whenever it ends."""
        machine = self.bundle.machine
        if animation in machine.states:
            self._repeat = (animation, None)
            return
        for name, st in machine.states.items():
            if any(c.name == animation for c, _ in st.variants):
                self._repeat = (name, animation)
                return
        known = sorted(set(machine.states) | {c.name for st in machine.states.values() for c, _ in st.variants})
        raise CommandError(f'unknown animation "{animation}" (known: {", ".join(known)})')

    # --- the tick (render thread) -----------------------------------------------------------

    def tick(self, now: float) -> None:
        """One engine step at time `now`: pending inputs, tracked parameters, the step."""
        dt = self.period if self.last_tick is None else min(now - self.last_tick, 0.1)
        self.last_tick = now
        with self._lock:
            inputs, self._pending = self._pending, Inputs()
            calibrate, self._calibrate = self._calibrate, False
        ctrl = self.avatar.controller
        plain = []
        for name in inputs.transitions:
            if name.startswith("dance:"):
                ctrl.transition("dance", variant=name.split(":", 1)[1])
            else:
                plain.append(name)
        inputs.transitions = plain
        if self._repeat is not None:
            state, variant = self._repeat
            region = self.bundle.machine.states[state].layer.region
            if ctrl.state(region) != state:
                ctrl.transition(state, variant=variant)
        if self.tracker is not None:
            if calibrate:
                self.tracker.calibrate(now)
            inputs.parameters = self.tracker.parameters(now, dt)
            self.last_camera = self.tracker.last_face
        self.avatar.step(dt, inputs)

    # --- status (event loop) ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        tr, wk = self.tracker, self.worker
        error = self.error or (wk.error if wk is not None else None)
        if tr is None:
            tracking = "off"
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
            "fps": round(self.stats.fps, 1),
            "state": self.avatar.controller.active_state,
            "framing": self.framing,
        }

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
        machine = self.bundle.machine
        sprites = self.bundle.sprites
        return {
            "type": "hello",
            "session": self.id,
            "labels": {c: list(ls) for c, ls in sprites.categories.items()} if sprites else {},
            # what the avatar wears now (the library's defaults, then this session's swaps)
            "current": {**sprites.defaults, **self.avatar.sprites.chosen}
            if sprites and self.avatar.sprites
            else {},
            "states": sorted(machine.states),
            "dances": [c.name for c, _ in machine.states["dance"].variants] if "dance" in machine.states else [],
            "framings": list(FRAMINGS),
        }


def _pooled():
    """A landmarker from the process's pool (MediaPipe graphs are costly to build and leak
    when closed); called on the tracking worker's thread."""
    from engine.tracking.landmarker import shared_pool

    return shared_pool().acquire()


def check_label(bundle: AvatarBundle, category: str, label: str) -> None:
    sprites = bundle.sprites
    if sprites is None:
        raise CommandError(f'rig "{bundle.rig.name}" has no sprite library')
    if category not in sprites.categories:
        raise CommandError(f'unknown category "{category}" (known: {", ".join(sprites.categories)})')
    if label not in sprites.categories[category]:
        known = ", ".join(sprites.categories[category])
        raise CommandError(f'unknown {category} "{label}" (known: {known})')


def _text(msg: dict, key: str) -> str:
    v = msg.get(key)
    if not isinstance(v, str) or not v:
        raise CommandError(f'"{key}" must be a non-empty string')
    return v
