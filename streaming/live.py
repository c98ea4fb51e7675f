"""A live session: one puppeted avatar (`engine.puppet.Puppet`), its face-tracking worker,
its control messages and its video outputs.

Threads (docs/ARCHITECTURE.md): the event loop parses control messages and hands them to the
puppet, which validates and queues them (`command`); the render worker calls `tick` on the
session's own clock and draws the outputs; the tracking worker turns webcam frames into
tracker observations. The pose is touched by the render thread only.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.assets import AvatarBundle
from engine.puppet import Puppet, PuppetError
from engine.render.framing import FRAMINGS
from engine.tracking import FaceTracker
from engine.tracking.worker import TrackingWorker

LAYOUTS = ("opaque", "packed")
BACKGROUND = (40, 44, 56)  # the puppet page's backdrop behind the avatar (opaque layout)


class CommandError(ValueError):
    """A control message that cannot be carried out; the message says why."""


class FrameSink(Protocol):
    """Where the render thread hands an output's frames: newest wins, never waits
    (`streaming.encoder.SharedEncoder`)."""

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
        tracking: str = "server",
    ) -> None:
        """`tracking`: where a puppet's face is tracked, "server" (its webcam video comes
        here) or "browser" (landmarks come over the `landmarks` channel, and no MediaPipe
        graph is built for it: streaming/landmarks.py)."""
        # (id, token): a puppet page that reconnects keeps its id, so OBS's URL stays valid
        # (the manager issues them: streaming/idents.py)
        self.id, self.token = ident or (secrets.token_urlsafe(16), secrets.token_urlsafe(16))
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
            self.worker = TrackingWorker(self.tracker, clock=clock, landmarker_factory=factory)
        self.tracking_source = tracking
        self.landmarks: Any = None  # a browser-tracked session's LandmarkIntake (manager)
        self.puppet = Puppet(bundle, seed=seed, tracker=self.tracker)
        self.framing = "full"
        self.outputs: list[Output] = []
        self.stats = Stats()  # the render worker reports its ticks here
        self.error: str | None = None  # a render failure, reported on the page
        self.created = clock()
        self.last_tick: float | None = None
        self.last_camera = -float("inf")  # capture time of the newest face a frame used
        self.closed = False
        self._lock = threading.Lock()  # guards `outputs`

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
            elif kind == "controls":
                values = msg.get("values")
                if not isinstance(values, dict):
                    raise CommandError('"values" must be an object of input names to numbers')
                puppet.set_controls(values)
            elif kind == "swap":
                puppet.swap(_text(msg, "category"), _text(msg, "label"))
            elif kind == "calibrate":
                puppet.calibrate()
            elif kind == "framing":
                value = _text(msg, "value")
                if value not in FRAMINGS:
                    raise CommandError(
                        f'unknown framing "{value}" (expected one of {", ".join(FRAMINGS)})'
                    )
                self.framing = value
            else:
                raise CommandError(f'unknown message type "{kind}"')
        except PuppetError as e:
            raise CommandError(str(e)) from None

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
        self.puppet.tick(now, dt)
        self.last_camera = self.puppet.last_face

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
            "tracking_source": self.tracking_source,
            "landmarks": self.landmarks.stats() if self.landmarks is not None else None,
            "fps": round(self.stats.fps, 1),
            "state": self.puppet.active_state,
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
        puppet = self.puppet
        return {
            "type": "hello",
            "session": self.id,
            "labels": puppet.labels,
            "current": puppet.wearing,
            "states": puppet.states,
            "dances": puppet.variants("dance"),
            "framings": list(FRAMINGS),
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
