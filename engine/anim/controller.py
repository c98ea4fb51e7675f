"""The animation state machine (the seed's `AvatarAnimationController`, after Roblox's Animate
script), running a `StateMachineData` on an `AnimationState` with one track per layer.

Regions are independent: the body walks while the tool region slashes and the emote region
waves. Within a region one state is current; entering it plays it on its layer, fades the
region's higher layers to their rest and keeps the lower ones on theirs, so walking covers
idle (which keeps breathing underneath) and stopping reveals it again without a pop.
Random picks come from a seeded generator, so a run is reproducible.

Commands and automatic moves differ (docs/CONTROL.md "Controls"): `transition` is a command
(a button, a hotkey, a control message) and also sends the regions its layer `stops` to
rest, so Idle or Sit end a running emote; the moves the data makes by itself (`when`
conditions, `next` after a one-shot, an emote returning) never stop another region. What a
region does after its current state (`next`, or the state an emote interrupted) is its
queue: `queued()` reports it and `cancel()` drops it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from engine.anim.clip import Clip, ParamFrame
from engine.anim.state import AnimationState, FiredEvent, MixTable, TrackEntry
from engine.anim.statemachine import LayerData, StateData, StateMachineData
from engine.pose.pose import Pose
from engine.rig.data import RigData


class UnknownStateError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class RegionState:
    name: str
    layers: list[LayerData]
    current: StateData | None = None
    time_in_state: float = 0.0
    # states interrupted by a one-shot that returns, with the variant they were playing
    interrupted: list[tuple[StateData, Clip | None]] = field(default_factory=list)
    # the current state's `next` was cancelled: when it ends, the region goes to rest
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class Queued:
    """What a region does by itself once its current state (`after`) ends: `state`, or
    None for the region's rest."""

    region: str
    after: str
    state: str | None


class AnimationController:
    def __init__(self, machine: StateMachineData, rig: RigData, seed: int = 0) -> None:
        self.machine = machine
        mixes = MixTable(machine.default_mix)
        for a, b, d in machine.mixes:
            mixes.set(a, b, d)
        self.anim = AnimationState(rig, tracks=len(machine.layers), mixes=mixes)
        for layer in machine.layers:
            if layer.mask is not None:
                self.anim.configure(layer.track, mask=layer.mask)
        self.rng = random.Random(seed)
        self.inputs = dict(machine.inputs)
        self.regions = {n: RegionState(n, ls) for n, ls in machine.regions().items()}
        self._pending: list[tuple[str, TrackEntry]] = []
        for region in self.regions.values():
            self._rest(region, mix=0.0)
        for region, state in machine.initial.items():
            self._enter(machine.states[state], mix=0.0)
            self.regions[region].time_in_state = 0.0

    # --- commands ------------------------------------------------------------------------

    def set_input(self, name: str, value: float) -> None:
        if name not in self.inputs:
            raise UnknownStateError(
                f'unknown input "{name}" (known: {", ".join(sorted(self.inputs))})'
            )
        self.inputs[name] = float(value)

    def transition(
        self,
        new_state: str,
        blend_time: float | None = None,
        variant: str | None = None,
        hold: bool = False,
    ) -> None:
        """Enter `new_state` on command, cross-fading over `blend_time` seconds (default: the
        state's mix, else the mix table's value for the pair of animations, else 0.2 s).
        `variant` picks one of the state's animations instead of a random roll (dance 3,
        say); `hold` keeps playing that one on every loop instead of rolling again (an
        export loops one animation). The regions the state's layer `stops` go back to rest
        first."""
        st = self._state(new_state)
        clip = None
        if variant is not None:
            clip = next((c for c, _ in st.variants if c.name == variant), None)
            if clip is None:
                known = ", ".join(c.name for c, _ in st.variants) or "none"
                raise UnknownStateError(
                    f'state "{new_state}" has no variant "{variant}" (known: {known})'
                )
        for region in st.layer.stops:
            self.stop(region, blend_time)
        self._go(st, blend_time, clip)
        entry = self.anim.current(st.layer.track)
        if hold and entry is not None and entry.tag is st:
            entry.on_loop = None

    def solo(self, state: str) -> None:
        """From now on only `state`'s layer moves: the layers under it hold their current
        pose (what they show stays put: an emote still stands on the idle pose) and the
        layers above are emptied. An export loops one animation alone: the layers under it
        (the idle layer under a dance) have periods and variant rolls of their own, and no
        loop would close."""
        st = self._state(state)
        for layer in self.machine.layers:
            entry = self.anim.current(layer.track)
            if layer.track > st.layer.track:
                self.anim.set_empty(layer.track, 0.0)
            elif layer.track < st.layer.track and entry is not None:
                entry.speed = 0.0
                entry.on_loop = None

    def _go(self, st: StateData, blend_time: float | None = None, clip: Clip | None = None) -> None:
        """Enter `st` (playing `clip` of its variants, if given): what a command does, and
        what `when` and `next` do by themselves."""
        region = self.regions[st.layer.region]
        if st.returns and region.current is not None and region.current is not st:
            if not region.current.returns:
                playing = self.anim.current(region.current.layer.track)
                was = playing.source if playing is not None else None
                region.interrupted.append((region.current, was if isinstance(was, Clip) else None))
        elif not st.returns:
            region.interrupted.clear()
        self._enter(st, blend_time, clip=clip)

    def stop(self, region: str, blend_time: float | None = None) -> None:
        """Send a region back to its rest (stop dancing, put the tool away)."""
        r = self.regions[region]
        r.interrupted.clear()
        self._rest(r, blend_time)
        r.cancelled = False

    def cancel(self, region: str | None = None) -> None:
        """Drop what `region` (every region: None) would do by itself after its current
        state: the current state plays on, then the region rests."""
        for r in self.regions.values() if region is None else [self.regions[region]]:
            st = r.current
            r.interrupted.clear()
            r.cancelled = st is not None and st.next is not None

    # --- queries -------------------------------------------------------------------------

    def state(self, region: str = "body") -> str | None:
        r = self.regions[region].current
        return None if r is None else r.name

    def playing(self) -> dict[str, tuple[str | None, str | None]]:
        """Each region's current state and the animation playing it (the dance, the idle
        roll; None for a blend), in layer order."""
        out: dict[str, tuple[str | None, str | None]] = {}
        for name, r in self.regions.items():
            st = r.current
            if st is None:
                out[name] = (None, None)
                continue
            entry = self.anim.current(st.layer.track)
            clip = entry.source if entry is not None and entry.tag is st else None
            out[name] = (st.name, clip.name if isinstance(clip, Clip) else None)
        return out

    def queued(self) -> list[Queued]:
        """What each region will do by itself when its current state ends: a one-shot's
        `next`, or the state an emote interrupted. Looping states and rests queue nothing."""
        out = []
        for name, r in self.regions.items():
            st = r.current
            if st is None:
                continue
            if st.next is not None and not r.cancelled:
                out.append(Queued(name, st.name, st.next))
            elif st.returns and r.interrupted:
                out.append(Queued(name, st.name, r.interrupted[-1][0].name))
        return out

    @property
    def active_state(self) -> str | None:
        """What the avatar is visibly doing: the current state on the highest layer."""
        best: StateData | None = None
        for r in self.regions.values():
            if r.current is not None and (best is None or r.current.layer.track > best.layer.track):
                best = r.current
        return None if best is None else best.name

    # --- time ----------------------------------------------------------------------------

    def update(self, dt: float) -> list[FiredEvent]:
        for region in self.regions.values():
            st = region.current
            if st is None:
                continue
            region.time_in_state += dt
            for cond in st.when:
                if cond.go != st.name and cond.holds(self.inputs[cond.input]):
                    self._go(self.machine.states[cond.go])
                    break
            else:
                if st.duration is not None and region.time_in_state >= st.duration:
                    self._complete(region, st)
        for layer in self.machine.layers:
            e = self.anim.current(layer.track)
            if e is not None and isinstance(e.tag, StateData) and e.tag.blend is not None:
                e.blend_value = self.inputs[e.tag.blend.input]
        events = self.anim.update(dt)
        # Callbacks were deferred: acting inside AnimationState.update would reshuffle the
        # tracks it is walking.
        pending, self._pending = self._pending, []
        for kind, entry in pending:
            st = entry.tag
            if not isinstance(st, StateData) or self.anim.current(st.layer.track) is not entry:
                continue
            if kind == "loop":
                self._reroll(st, entry)
            elif st.duration is None:
                self._complete(self.regions[st.layer.region], st)
        return events

    def apply(self, pose: Pose, params: ParamFrame | None = None) -> None:
        """Mix the playing clips into the pose (and their parameter timelines into
        `params`, when given)."""
        self.anim.apply(pose, params)

    # --- internals -----------------------------------------------------------------------

    def _state(self, name: str) -> StateData:
        try:
            return self.machine.states[name]
        except KeyError:
            raise UnknownStateError(
                f'unknown state "{name}" (known: {", ".join(sorted(self.machine.states))})'
            ) from None

    def pick_variant(self, st: StateData) -> Clip:
        """A weighted random pick among the state's variants, from the seeded generator."""
        if len(st.variants) == 1:
            return st.variants[0][0]
        total = sum(w for _, w in st.variants)
        r = self.rng.random() * total
        for clip, w in st.variants:
            r -= w
            if r < 0.0:
                return clip
        return st.variants[-1][0]

    def _enter(self, st: StateData, mix: float | None = None, clip: Clip | None = None) -> None:
        region = self.regions[st.layer.region]
        track = st.layer.track
        cur = self.anim.current(track)
        playing = cur is not None and cur.tag is st and cur.loop and not cur.is_empty
        playing = playing and (clip is None or cur is None or cur.source is clip)
        same_blend = cur is not None and st.blend is not None and cur.source is st.blend
        if same_blend and cur is not None:  # walk <-> run share one blend: keep its phase
            cur.tag = st
        elif not playing:
            self._play(st, mix, source=clip if clip in {c for c, _ in st.variants} else None)
        region.current = st
        region.time_in_state = 0.0
        region.cancelled = False
        for layer in region.layers:
            if layer.track > track:
                self._layer_to_rest(layer, mix)
            elif layer.track < track and layer.rest is not None:
                self._ensure_playing(self.machine.states[layer.rest], mix)

    def _play(self, st: StateData, mix: float | None, source: Clip | None = None) -> TrackEntry:
        src = st.blend if st.blend is not None else (source or self.pick_variant(st))
        loop = st.loop if st.loop is not None else src.looping
        if mix is None:
            mix = st.mix
        entry = self.anim.set(st.layer.track, src, loop=loop, speed=st.speed, mix=mix)
        entry.tag = st
        if st.blend is not None:
            entry.blend_value = self.inputs[st.blend.input]
        entry.on_complete = lambda e: self._pending.append(("complete", e))
        if st.reroll:
            entry.on_loop = lambda e: self._pending.append(("loop", e))
        return entry

    def _ensure_playing(self, st: StateData, mix: float | None) -> None:
        cur = self.anim.current(st.layer.track)
        if cur is None or cur.tag is not st:
            self._play(st, mix)

    def _layer_to_rest(self, layer: LayerData, mix: float | None) -> None:
        if layer.rest is not None:
            self._ensure_playing(self.machine.states[layer.rest], mix)
            return
        cur = self.anim.current(layer.track)
        if cur is not None and not cur.is_empty:
            self.anim.set_empty(layer.track, mix)

    def _rest(self, region: RegionState, mix: float | None = None) -> None:
        region.current = None
        for layer in region.layers:
            self._layer_to_rest(layer, mix)
            if layer.rest is not None and region.current is None:
                region.current = self.machine.states[layer.rest]
        region.time_in_state = 0.0

    def _complete(self, region: RegionState, st: StateData) -> None:
        if region.current is not st:
            return
        if st.next is not None and not region.cancelled:
            self._go(self.machine.states[st.next])
        elif st.returns and region.interrupted:
            back, clip = region.interrupted.pop()
            self._enter(back, clip=clip)
        elif st.returns or not (st.loop or any(c.looping for c, _ in st.variants)):
            self._rest(region)

    def _reroll(self, st: StateData, entry: TrackEntry) -> None:
        clip = self.pick_variant(st)
        if clip is not entry.source:
            self._play(st, None, source=clip)
