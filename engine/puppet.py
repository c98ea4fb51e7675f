"""`Puppet`: one avatar puppeted live. Requests in, one tick at a time, pose out.

The one puppet loop every live front end shares: the server's live sessions
(`streaming/live.py`), the desktop windows (`engine/apps/window.py`) and anything else that
drives an avatar in real time. What it adds to `AvatarSession` is what a live caller needs
and should not have to know the state machine's insides for:

- requests from any thread (a control message on the event loop, a key press on the window's
  thread) are validated at once, with an error that names what is wrong, and queued; they
  take effect at the next tick, on the owner's thread, so the pose is only ever touched by
  the thread that ticks it;
- face tracking as a layer: the tracker's parameters enter the tick's inputs (explicit
  parameters win over tracked ones), and `calibrate()` takes the user's neutral face;
- "keep playing" (`play`): a preview re-enters a state, or one of its animations, whenever
  it ends;
- what plays (`playing`): each region's state and animation and what is queued after them,
  as one snapshot taken at the end of each tick, so any thread can read it whole;
- `tick(now, dt)` advances the avatar without building a CPU draw list: callers that render
  on the GPU read `pose`; callers that need CPU vertices (exports, tests) call
  `session.step` themselves.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.anim.state import FiredEvent
from engine.assets import AvatarBundle
from engine.params.expressions import ExpressionLayer
from engine.pose.pose import Pose
from engine.session import AvatarSession, Inputs
from engine.tracking.tracker import FaceTracker

MAX_PENDING = 32  # requests of one kind kept for the next tick (_push)


class PuppetError(ValueError):
    """A request the avatar cannot carry out; the message says which part is wrong."""


@dataclass(frozen=True, slots=True)
class Playing:
    """What the avatar does after a tick: `layers`, each region's current state (None: the
    region rests with nothing playing); `animations`, the animation playing it (which
    dance, which idle roll; None for a walk/run blend); `queued`, what a region does by
    itself once its current state ends ({"region", "after", "state"}, state None: rest)."""

    layers: dict[str, str | None]
    animations: dict[str, str | None]
    queued: tuple[dict[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "layers": dict(self.layers),
            "animations": dict(self.animations),
            "queued": [dict(q) for q in self.queued],
        }


class Puppet:
    def __init__(
        self, bundle: AvatarBundle, *, seed: int = 0, tracker: FaceTracker | None = None
    ) -> None:
        self.bundle = bundle
        self.session = AvatarSession(bundle, seed=seed)
        self.tracker = tracker
        self.last_face = -math.inf  # capture time of the newest face a tick used
        self._lock = threading.Lock()
        self._pending = Inputs()
        self._calibrate = False
        self._repeat: tuple[str, str | None] | None = None  # play(): (state, variant)
        self._cancel: list[str | None] = []  # cancel(): regions (None: every region)
        # a last word on the tick's parameters (a remote-control plugin's injected values)
        self.overlay: Callable[[float, Mapping[str, float]], Mapping[str, float]] | None = None
        # hotkeyed expressions and the editor's held sliders, over tracking, under `overlay`
        self.expressions = ExpressionLayer(bundle.rig)
        self.playing = self._snapshot()

    # --- what the avatar offers -------------------------------------------------------------

    @property
    def pose(self) -> Pose:
        """The newest tick's pose (read it on the ticking thread)."""
        return self.session.pose

    @property
    def states(self) -> list[str]:
        return sorted(self.bundle.machine.states)

    def variants(self, state: str) -> list[str]:
        """The animations a state picks from (the nine dances of "dance")."""
        st = self.bundle.machine.states.get(state)
        return [c.name for c, _ in st.variants] if st is not None else []

    @property
    def regions(self) -> list[str]:
        return list(self.bundle.machine.regions())

    @property
    def labels(self) -> dict[str, list[str]]:
        """Sprite categories and their labels ({} for a rig without a sprite library)."""
        lib = self.bundle.sprites
        return {c: list(ls) for c, ls in lib.categories.items()} if lib else {}

    @property
    def wearing(self) -> dict[str, str]:
        """What the avatar wears now: the library's defaults, then this puppet's swaps."""
        lib, chosen = self.bundle.sprites, self.session.sprites
        return {**lib.defaults, **chosen.chosen} if lib and chosen else {}

    @property
    def active_state(self) -> str | None:
        return self.session.controller.active_state

    def state(self, region: str = "body") -> str | None:
        return self.session.controller.state(region)

    # --- requests (any thread): validated now, applied at the next tick ----------------------

    def transition(self, state: str, variant: str | None = None) -> None:
        """Enter `state` (and, with `variant`, that one of its animations)."""
        machine = self.bundle.machine
        if state not in machine.states:
            raise PuppetError(f'unknown state "{state}" (known: {", ".join(self.states)})')
        if variant is not None and variant not in self.variants(state):
            known = ", ".join(self.variants(state)) or "none"
            raise PuppetError(f'unknown {state} "{variant}" (known: {known})')
        with self._lock:
            _push(self._pending.transitions, state if variant is None else (state, variant))

    def stop(self, region: str) -> None:
        """Send a region back to rest (stop an emote, put the tool away)."""
        if region not in self.bundle.machine.regions():
            raise PuppetError(f'unknown region "{region}" (known: {", ".join(self.regions)})')
        with self._lock:
            _push(self._pending.stop, region)

    def cancel(self, region: str | None = None) -> None:
        """Drop what `region` (None: every region) would do by itself after its current
        state (a slash's return to holding, the dance an emote interrupted)."""
        if region is not None and region not in self.bundle.machine.regions():
            raise PuppetError(f'unknown region "{region}" (known: {", ".join(self.regions)})')
        with self._lock:
            _push(self._cancel, region)

    def set_controls(self, values: Mapping[str, float]) -> None:
        """State-machine inputs ("speed", "grounded", ...)."""
        inputs = self.bundle.machine.inputs
        checked = _numbers(values, "input", inputs, f' (known: {", ".join(sorted(inputs))})')
        with self._lock:
            self._pending.controls = {**self._pending.controls, **checked}

    def set_parameters(self, values: Mapping[str, float]) -> None:
        """Rig parameters for the next tick, over the tracked ones."""
        checked = _numbers(values, "parameter", self.bundle.rig.parameter_index)
        with self._lock:
            self._pending.parameters = {**self._pending.parameters, **checked}

    def swap(self, category: str, label: str) -> None:
        """Wear another sprite (outfit "armor", accessories "hat", ...)."""
        check_label(self.bundle, category, label)
        with self._lock:
            self._pending.swaps = {**self._pending.swaps, category: label}

    def calibrate(self) -> None:
        """Take the next half second of the tracked face as the user's neutral."""
        if self.tracker is None:
            raise PuppetError("this avatar has no face tracking to calibrate")
        with self._lock:
            self._calibrate = True

    def play(self, animation: str) -> None:
        """Keep playing a state (`wave`) or one of a state's animations (`dance_3`),
        re-entering it whenever it ends (a preview)."""
        machine = self.bundle.machine
        if animation in machine.states:
            found: tuple[str, str | None] = (animation, None)
        else:
            owner = next((s for s in machine.states if animation in self.variants(s)), None)
            if owner is None:
                known = sorted(set(self.states) | {v for s in self.states for v in self.variants(s)})
                raise PuppetError(f'unknown animation "{animation}" (known: {", ".join(known)})')
            found = (owner, animation)
        with self._lock:
            self._repeat = found

    def play_once(self, animation: str) -> None:
        """Play a state or one of a state's animations once, ending an earlier `play`'s
        loop (the studio's animation preview without its loop flag)."""
        self.play(animation)  # validates, and names the known animations
        with self._lock:
            state, variant = self._repeat  # type: ignore[misc]
            self._repeat = None
            _push(self._pending.transitions, state if variant is None else (state, variant))

    # --- the tick (the owner's thread) --------------------------------------------------------

    def tick(self, now: float, dt: float) -> list[FiredEvent]:
        """One engine step at time `now` (seconds, the caller's clock, the tracker's too):
        queued requests, tracked parameters, state machine, clips, IK, springs. No CPU
        skinning: the caller renders `pose` on the GPU."""
        with self._lock:
            inputs, self._pending = self._pending, Inputs()
            calibrate, self._calibrate = self._calibrate, False
            cancel, self._cancel = self._cancel, []
            repeat = self._repeat
        if repeat is not None:
            state, variant = repeat
            region = self.bundle.machine.states[state].layer.region
            if self.session.controller.state(region) != state:
                inputs.transitions.append(state if variant is None else (state, variant))
        if self.tracker is not None:
            if calibrate:
                self.tracker.calibrate(now)
            inputs.parameters = {**self.tracker.parameters(now, dt), **inputs.parameters}
            self.last_face = self.tracker.last_face
        if self.expressions.busy:
            inputs.parameters = self.expressions.merge(now, inputs.parameters)
        if self.overlay is not None:  # values from outside, over all (engine/params/injection.py)
            inputs.parameters = self.overlay(now, inputs.parameters)
        # requests first, then cancels: a cancel sent right after a command applies to it
        self.session.apply_inputs(inputs)
        for region in cancel:
            self.session.controller.cancel(region)
        events = self.session.advance(dt)
        self.playing = self._snapshot()
        return events

    def _snapshot(self) -> Playing:
        c = self.session.controller
        now = c.playing()
        return Playing(
            layers={r: s for r, (s, _) in now.items()},
            animations={r: a for r, (_, a) in now.items()},
            queued=tuple(
                {"region": q.region, "after": q.after, "state": q.state} for q in c.queued()
            ),
        )


def _push(pending: list[Any], request: Any) -> None:
    """Queue a request for the next tick, keeping the newest `MAX_PENDING`: a flood between
    two ticks (a script hammering the puppet) must not grow a backlog that each tick takes
    longer to work through; requests older than that were overtaken within 1/60 s anyway."""
    pending.append(request)
    if len(pending) > MAX_PENDING:
        del pending[: len(pending) - MAX_PENDING]


def check_label(bundle: AvatarBundle, category: str, label: str) -> None:
    """PuppetError unless the rig's sprite library has `label` in `category`."""
    sprites = bundle.sprites
    if sprites is None:
        raise PuppetError(f'rig "{bundle.rig.name}" has no sprite library')
    if category not in sprites.categories:
        raise PuppetError(f'unknown category "{category}" (known: {", ".join(sprites.categories)})')
    if label not in sprites.categories[category]:
        known = ", ".join(sprites.categories[category])
        raise PuppetError(f'unknown {category} "{label}" (known: {known})')


def _numbers(
    values: Mapping[str, float], what: str, known: Mapping[str, object], hint: str = ""
) -> dict[str, float]:
    """`values` as floats, or PuppetError naming the first unknown name or non-number."""
    for name, v in values.items():
        if name not in known:
            raise PuppetError(f'unknown {what} "{name}"{hint}')
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise PuppetError(f'{what} "{name}" must be a number')
    return {k: float(v) for k, v in values.items()}
