"""Tracks and mixing (Spine's `AnimationState`): several tracks applied in order, each playing
one entry at a time and cross-fading from the previous ones.

Cross-fade rule, per bone and target, with m the mix progress 0..1:
- keyed by both the old and new entry: lerp(old, new, m);
- keyed only by the old entry: it fades back to what lies underneath, lerp(old, below, m);
- keyed only by the new entry: it fades in over what lies underneath.
Additive tracks fade the old entry out by (1 - m) and the new one in by m.

Entries advance a normalised progress (loops completed + fraction), so a blend whose length
changes with its input keeps its phase.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.anim.blend import Blend1D
from engine.anim.clip import Clip, EventData, ParamFrame
from engine.pose.pose import Pose
from engine.rig.data import RigData

Source = Clip | Blend1D
DEFAULT_MIX = 0.2
MAX_MIX_DEPTH = 4  # older fading entries beyond this are dropped; they weigh almost nothing


@dataclass(frozen=True, slots=True)
class FiredEvent:
    track: int
    animation: str
    event: EventData


class MixTable:
    """Cross-fade durations: a default, and overrides per (from, to) pair of animation names."""

    def __init__(self, default: float = DEFAULT_MIX) -> None:
        self.default = default
        self._pairs: dict[tuple[str, str], float] = {}

    def set(self, from_name: str, to_name: str, duration: float) -> None:
        self._pairs[(from_name, to_name)] = duration

    def get(self, from_name: str | None, to_name: str | None) -> float:
        if from_name is not None and to_name is not None:
            return self._pairs.get((from_name, to_name), self.default)
        return self.default


@dataclass(eq=False)
class TrackEntry:
    source: Source | None
    loop: bool
    speed: float = 1.0
    mix_duration: float = 0.0
    delay: float | None = None  # queued entries: seconds into the previous entry to start
    after_loop: int = -1  # queued behind a looping entry: start once it passes this loop
    blend_value: float = 0.0  # the input of a Blend1D source
    progress: float = 0.0
    elapsed: float = 0.0
    mix_time: float = 0.0
    mixing_from: TrackEntry | None = None
    completed: bool = False
    on_complete: Callable[[TrackEntry], None] | None = None
    on_loop: Callable[[TrackEntry], None] | None = None
    on_event: Callable[[TrackEntry, EventData], None] | None = None
    tag: object = field(default=None, repr=False)  # owner's bookkeeping (the state machine's)

    @property
    def name(self) -> str | None:
        return None if self.source is None else self.source.name

    @property
    def is_empty(self) -> bool:
        return self.source is None

    def duration(self) -> float:
        s = self.source
        if s is None:
            return 0.0
        if isinstance(s, Blend1D):
            return s.duration(self.blend_value)
        return s.length

    @property
    def time(self) -> float:
        """Seconds into the current loop (held at the end once a one-shot completes)."""
        return self._fraction() * self.duration()

    @property
    def loops(self) -> int:
        return math.floor(self.progress) if self.loop else 0

    def _fraction(self) -> float:
        if self.loop:
            return self.progress - math.floor(self.progress)
        return min(self.progress, 1.0)

    @property
    def mix(self) -> float:
        if self.mixing_from is None or self.mix_duration <= 0.0:
            return 1.0
        return min(1.0, self.mix_time / self.mix_duration)

    def keyed(self, n_bones: int, n_slots: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.source
        if s is None:
            return np.zeros((n_bones, 4), bool), np.zeros(n_slots, bool)
        return s.bone_keyed, s.slot_keyed

    def samples(self) -> list[tuple[Clip, float, float]]:
        """(clip, weight-of-this-layer, clip time) in application order."""
        s = self.source
        if s is None:
            return []
        frac = self._fraction()
        if isinstance(s, Clip):
            return [(s, 1.0, frac * s.length)]
        i, w = s.weights(self.blend_value)
        if len(s.clips) == 1 or w <= 0.0:
            c = s.clips[i]
            return [(c, 1.0, frac * c.length)]
        a, b = s.clips[i], s.clips[i + 1]
        if w >= 1.0:
            return [(b, 1.0, frac * b.length)]
        return [(a, 1.0, frac * a.length), (b, w, frac * b.length)]


class Track:
    def __init__(self, n_bones: int, n_slots: int) -> None:
        self.current: TrackEntry | None = None
        self.queue: deque[TrackEntry] = deque()
        self.alpha = 1.0
        self.additive = False
        self.mask = np.ones(n_bones)  # per-bone weight
        self.slot_mask = np.ones(n_slots)


class AnimationState:
    """Plays sources on tracks and mixes them into a `Pose`."""

    def __init__(self, rig: RigData, tracks: int = 1, mixes: MixTable | None = None) -> None:
        self.rig = rig
        self.mixes = mixes or MixTable()
        self._nb = len(rig.bones)
        self._ns = len(rig.slots)
        self.tracks = [Track(self._nb, self._ns) for _ in range(tracks)]

    # --- configuration -------------------------------------------------------------------

    def configure(
        self,
        track: int,
        *,
        alpha: float | None = None,
        additive: bool | None = None,
        mask: dict[str, float] | None = None,
    ) -> None:
        """Set a track's alpha, blend mode and bone mask ({bone: weight}; slots follow
        their bone)."""
        t = self.tracks[track]
        if alpha is not None:
            t.alpha = alpha
        if additive is not None:
            t.additive = additive
        if mask is not None:
            t.mask = np.zeros(self._nb)
            for name, w in mask.items():
                t.mask[self.rig.bone_index[name]] = w
            t.slot_mask = np.array([t.mask[s.bone] for s in self.rig.slots])

    # --- playing -------------------------------------------------------------------------

    def set(
        self,
        track: int,
        source: Source | None,
        *,
        loop: bool | None = None,
        speed: float = 1.0,
        mix: float | None = None,
    ) -> TrackEntry:
        """Play `source` now on `track`, cross-fading from what it played (None = empty)."""
        t = self.tracks[track]
        t.queue.clear()
        entry = self._entry(source, loop, speed)
        self._start(t, entry, mix)
        return entry

    def set_empty(self, track: int, mix: float | None = None) -> TrackEntry:
        """Fade the track out to nothing, revealing the tracks below."""
        return self.set(track, None, mix=mix)

    def add(
        self,
        track: int,
        source: Source | None,
        *,
        loop: bool | None = None,
        speed: float = 1.0,
        delay: float | None = None,
        mix: float | None = None,
    ) -> TrackEntry:
        """Queue `source` after the track's current entry. Without a delay it starts so that
        its cross-fade ends when a one-shot ends, or at the next loop end of a looping one."""
        t = self.tracks[track]
        entry = self._entry(source, loop, speed)
        entry.delay = delay
        entry.mix_duration = -1.0 if mix is None else mix  # resolved when it starts
        last = t.queue[-1] if t.queue else t.current
        if t.current is None or (t.current.is_empty and t.current.mixing_from is None):
            self._start(t, entry, mix)
        else:
            entry.after_loop = last.loops if last is t.current else 0
            t.queue.append(entry)
        return entry

    def clear(self, track: int) -> None:
        t = self.tracks[track]
        t.current = None
        t.queue.clear()

    def current(self, track: int) -> TrackEntry | None:
        return self.tracks[track].current

    def _entry(self, source: Source | None, loop: bool | None, speed: float) -> TrackEntry:
        if loop is None:
            loop = bool(source.looping) if source is not None else False
        return TrackEntry(source=source, loop=loop, speed=speed)

    def _start(self, t: Track, entry: TrackEntry, mix: float | None) -> None:
        cur = t.current if t.current is not None else TrackEntry(source=None, loop=False)
        if mix is None or mix < 0:
            mix = self.mixes.get(cur.name, entry.name)
        entry.mix_duration = mix
        entry.mix_time = 0.0
        if mix > 0.0:
            entry.mixing_from = cur
            _trim(entry, MAX_MIX_DEPTH)
        t.current = entry

    # --- time ----------------------------------------------------------------------------

    def update(self, dt: float) -> list[FiredEvent]:
        """Advance every track by dt seconds; returns the events crossed, in order."""
        fired: list[FiredEvent] = []
        for i, t in enumerate(self.tracks):
            e = t.current
            if e is None:
                continue
            self._advance(i, e, dt, fired)
            f = e
            # Older entries keep playing while they fade, silently: their events and
            # completions belong to a state that has already been left.
            while f.mixing_from is not None:
                f.mix_time += dt
                if f.mix_time >= f.mix_duration:
                    f.mixing_from = None
                    break
                f = f.mixing_from
                self._advance(i, f, dt, None)
            if t.queue:
                self._maybe_start_queued(t, e)
        return fired

    def _maybe_start_queued(self, t: Track, cur: TrackEntry) -> None:
        nxt = t.queue[0]
        mix = nxt.mix_duration if nxt.mix_duration >= 0 else self.mixes.get(cur.name, nxt.name)
        if nxt.delay is not None:
            due = cur.elapsed >= nxt.delay
        elif cur.is_empty:
            due = True
        elif cur.loop:
            due = cur.loops > nxt.after_loop
        else:
            due = (1.0 - min(cur.progress, 1.0)) * cur.duration() / max(cur.speed, 1e-9) <= mix
        if due:
            t.queue.popleft()
            self._start(t, nxt, mix)

    def _advance(
        self, track: int, e: TrackEntry, dt: float, fired: list[FiredEvent] | None
    ) -> None:
        e.elapsed += dt
        d = e.duration()
        if d <= 0.0 or (e.completed and not e.loop):
            return
        prev = e.progress
        new = prev + dt * e.speed / d
        if not e.loop and new >= 1.0:
            new = 1.0
        e.progress = new
        if fired is None:
            return
        self._events(track, e, prev, new, fired)
        if e.loop:
            for _ in range(math.floor(new) - math.floor(prev)):
                if e.on_loop is not None:
                    e.on_loop(e)
        elif new >= 1.0 and not e.completed:
            e.completed = True
            if e.on_complete is not None:
                e.on_complete(e)

    def _events(
        self, track: int, e: TrackEntry, prev: float, new: float, fired: list[FiredEvent]
    ) -> None:
        samples = e.samples()
        if not samples:
            return
        # A blend fires the events of its dominant clip only (one set of footsteps).
        clip = samples[-1][0] if samples[-1][1] >= 0.5 else samples[0][0]
        if not clip.events:
            return
        k = math.floor(prev)
        while k <= new:
            lo = max(prev - k, 0.0)
            hi = min(new - k, 1.0)
            ends = hi >= 1.0
            if hi > lo or (ends and not e.loop):
                for ev in clip.events_in(lo * clip.length, hi * clip.length, include_end=ends):
                    fired.append(FiredEvent(track, clip.name, ev))
                    if e.on_event is not None:
                        e.on_event(e, ev)
            if ends and not e.loop:
                break
            k += 1

    # --- applying ------------------------------------------------------------------------

    def apply(self, pose: Pose, params: ParamFrame | None = None) -> None:
        """Mix every track into the pose, in track order (later tracks win per bone); clips'
        parameter timelines mix into `params` (when given) by the same weights."""
        for t in self.tracks:
            e = t.current
            if e is None:
                continue
            alpha = np.outer(t.mask * t.alpha, np.ones(4))
            self._apply_entry(e, pose, alpha, t.slot_mask * t.alpha, t.additive, params, t.alpha)

    def _apply_entry(
        self,
        e: TrackEntry,
        pose: Pose,
        alpha: np.ndarray,
        slot_alpha: np.ndarray,
        additive: bool,
        params: ParamFrame | None = None,
        param_alpha: float = 1.0,
    ) -> None:
        if e.mixing_from is not None:
            m = e.mix
            if additive:
                fa, fs = alpha * (1.0 - m), slot_alpha * (1.0 - m)
            else:
                bk, sk = e.keyed(self._nb, self._ns)
                fa = alpha * np.where(bk, 1.0, 1.0 - m)
                fs = slot_alpha * np.where(sk, 1.0, 1.0 - m)
            self._apply_entry(
                e.mixing_from, pose, fa, fs, additive, params, param_alpha * (1.0 - m)
            )
            alpha = alpha * m
            slot_alpha = slot_alpha * m
            param_alpha = param_alpha * m
        setup = self.rig.setup_local
        for clip, w, t in e.samples():
            a = alpha if w == 1.0 else alpha * w
            clip.apply_bones(t, setup, pose.local, a, additive)
            if clip.slot_keyed.any():
                clip.apply_slots(
                    t,
                    pose.slot_attachment,
                    pose.slot_color,
                    slot_alpha if w == 1.0 else slot_alpha * w,
                )
            if params is not None and clip.param_index.shape[0] and param_alpha * w > 0.0:
                params.mix(clip, t, param_alpha * w)


def _trim(entry: TrackEntry, depth: int) -> None:
    e = entry
    for _ in range(depth):
        if e.mixing_from is None:
            return
        e = e.mixing_from
    e.mixing_from = None
