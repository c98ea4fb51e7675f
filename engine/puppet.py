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
- `tick(now, dt)` advances the avatar without building a CPU draw list: callers that render
  on the GPU read `pose`; callers that need CPU vertices (exports, tests) call
  `session.step` themselves.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping

from engine.anim.state import FiredEvent
from engine.assets import AvatarBundle
from engine.pose.pose import Pose
from engine.session import AvatarSession, Inputs
from engine.tracking.tracker import FaceTracker


class PuppetError(ValueError):
    """A request the avatar cannot carry out; the message says which part is wrong."""


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
            self._pending.transitions.append(state if variant is None else (state, variant))

    def stop(self, region: str) -> None:
        """Send a region back to rest (stop an emote, put the tool away)."""
        if region not in self.bundle.machine.regions():
            raise PuppetError(f'unknown region "{region}" (known: {", ".join(self.regions)})')
        with self._lock:
            self._pending.stop.append(region)

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

    # --- the tick (the owner's thread) --------------------------------------------------------

    def tick(self, now: float, dt: float) -> list[FiredEvent]:
        """One engine step at time `now` (seconds, the caller's clock, the tracker's too):
        queued requests, tracked parameters, state machine, clips, IK, springs. No CPU
        skinning: the caller renders `pose` on the GPU."""
        with self._lock:
            inputs, self._pending = self._pending, Inputs()
            calibrate, self._calibrate = self._calibrate, False
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
        return self.session.advance(dt, inputs)


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
