"""Animations baked into frames: what every exporter writes from.

A live avatar's motion is more than its clips: the state machine mixes them, parameters
drive bones, slots and mesh deforms, IK bends the limbs and springs swing the hair. An export
must play back what our engine shows, so each animation is run through a real
`AvatarSession` and sampled: per frame every bone's applied local transform (Spine's bone
model: it reproduces the frame's world transforms exactly) and world transform, each slot's
attachment and colour, and the CPU-skinned draw list.

A looping animation plays alone (its variant held, the layers under it emptied: they have
periods of their own) and is sampled over exactly one period after a warm-up period (the
entry mix and the springs have settled); what still drifts (a spring) is spread over the
loop, so its last frame runs on into its first without a seam. A one-shot animation plays
over the idle avatar and is sampled from the moment it is entered to its end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from engine.anim.controller import UnknownStateError
from engine.assets import AvatarBundle
from engine.export.subject import Subject
from engine.kernels.layout import ROT, SHX
from engine.pose.edits import PoseEdits, merged, offsets_edits
from engine.pose.pose import Pose
from engine.render.framing import Rect
from engine.rig.data import RigData
from engine.session import AvatarSession, DrawItem, Inputs

TICK = 1 / 60  # the session's own step; frames between ticks are reached with shorter ones
LEAD_IN = 0.25  # seconds of idle before an animation is entered (as a player would see it)
MAX_SECONDS = 20.0  # the longest take (a one-shot state's length, or `seconds`)
STILL = "pose"  # the take name of a single still frame


@dataclass(frozen=True, eq=False)
class BakedFrame:
    """One sampled moment. Arrays are copies: a frame stays valid after the session moves."""

    index: int
    time: float  # seconds since the take's first frame
    local: np.ndarray  # (bones, 7) applied local transforms (engine.kernels.layout order)
    world: np.ndarray  # (bones, 6) world transforms (a, b, c, d, x, y), y-up
    attachments: tuple[str | None, ...]  # per slot
    colors: np.ndarray  # (slots, 4) straight RGBA, 0..1, parameters' alphas included
    deform: np.ndarray  # (skin vertices, 2) parameter deform offsets (slot-bone frame)
    deformed: frozenset[int]  # skin-buffer offsets of the meshes `deform` moves
    draw: tuple[DrawItem, ...]  # visible attachments in draw order, world-space vertices

    def pose(self, rig: RigData) -> Pose:
        """A `Pose` holding this frame, for the renderer."""
        p = Pose(rig)
        np.copyto(p.local, self.local)
        np.copyto(p.world, self.world)
        p.slot_attachment[:] = list(self.attachments)
        np.copyto(p.slot_color, self.colors)
        np.copyto(p.deform, self.deform)
        p.deformed.update(self.deformed)
        return p


@dataclass(frozen=True, eq=False)
class Take:
    """One animation (or one still pose) baked at a frame rate."""

    name: str  # what the user asked for (a state, a variant, "pose"), or its label
    state: str
    variant: str | None
    loop: bool
    fps: float  # the rate asked for
    frame_time: float  # seconds per frame (a loop's period split into whole frames)
    frames: tuple[BakedFrame, ...]
    bounds: Rect  # world-space box (x0, y0, x1, y1) around every frame's drawn vertices

    @property
    def duration(self) -> float:
        return len(self.frames) * self.frame_time


def animation_names(bundle: AvatarBundle) -> list[str]:
    """Every animation an export can name: each state, and each variant of a state that has
    several (`dance` plays its first; `dance_3` that one)."""
    out: list[str] = []
    for name, st in bundle.machine.states.items():
        out.append(name)
        if len(st.variants) > 1:
            out += [c.name for c, _ in st.variants if c.name not in bundle.machine.states]
    return out


def resolve(bundle: AvatarBundle, animation: str) -> tuple[str, str | None]:
    """(state, variant) for an animation name; UnknownStateError names the known ones."""
    states = bundle.machine.states
    if animation in states:
        st = states[animation]
        return animation, (st.variants[0][0].name if len(st.variants) > 1 else None)
    for name, st in states.items():
        if len(st.variants) > 1 and any(c.name == animation for c, _ in st.variants):
            return name, animation
    known = ", ".join(animation_names(bundle))
    raise UnknownStateError(f'unknown animation "{animation}" (known: {known})')


def _controls(state: str) -> dict[str, float]:
    return {
        "speed": 1.0 if state == "walk" else 3.0 if state == "run" else 0.0,
        "grounded": 0.0 if state in ("jump", "fall") else 1.0,
    }


def _period(bundle: AvatarBundle, state: str, variant: str | None) -> tuple[float, bool]:
    """(seconds, loops) of one play of the state."""
    st = bundle.machine.states[state]
    if st.variants:
        clip = next((c for c, _ in st.variants if c.name == variant), st.variants[0][0])
    else:
        assert st.blend is not None
        speed = _controls(state).get(st.blend.input, 0.0)
        clip = st.blend.clips[int(np.argmin([abs(a - speed) for a in st.blend.at]))]
    loops = st.loop if st.loop is not None else clip.looping
    length = st.duration or clip.length
    return float(length / max(st.speed, 1e-6)), bool(loops)


def _session(
    subject: Subject,
    parameters: Mapping[str, float] | None,
    seed: int,
    edits: PoseEdits | None = None,
) -> AvatarSession:
    s = AvatarSession(subject.bundle, seed=seed)
    s.edits = merged(offsets_edits(subject.offsets), edits)
    if subject.sprites:
        s.apply_inputs(Inputs(swaps=dict(subject.sprites)))
    if parameters:
        s.params.update(parameters)  # UnknownParameterError names a wrong one
    return s


def _advance(s: AvatarSession, seconds: float) -> None:
    """Move the session on by `seconds` in ticks of at most TICK."""
    if seconds <= 0:
        return
    n = max(1, math.ceil(seconds / TICK - 1e-9))
    for _ in range(n):
        s.advance(seconds / n)


def _sample(s: AvatarSession, index: int, time: float, step: bool = True) -> BakedFrame:
    """The session's pose now, as a frame. `step`: tick it by nothing first (the pose of the
    current time); without, the pose as the caller set it."""
    items = s.step(0.0).draw if step else s.draw_list()
    pose = s.pose
    draw = tuple(
        DrawItem(d.slot, d.attachment, d.vertices.copy(), d.uvs, d.triangles, d.color, d.blend)
        for d in items
    )
    return BakedFrame(
        index=index,
        time=time,
        local=pose.local.copy(),
        world=pose.world.copy(),
        attachments=tuple(pose.slot_attachment),
        colors=pose.slot_color.copy(),
        deform=pose.deform.copy(),
        deformed=frozenset(pose.deformed),
        draw=draw,
    )


def _bounds(frames: tuple[BakedFrame, ...]) -> Rect:
    pts = [d.vertices for f in frames for d in f.draw if d.color[3] > 0]
    if not pts:
        return (-1.0, -1.0, 1.0, 1.0)
    allp = np.concatenate(pts)
    x0, y0 = allp.min(axis=0)
    x1, y1 = allp.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def _span(period: float, loops: bool, fps: float, seconds: float | None) -> tuple[float, int]:
    """(seconds, frames) a take covers."""
    # a loop covers whole periods; a one-shot its own length
    length = period * max(1, round((seconds or period) / period)) if loops else seconds or period
    length = min(length, MAX_SECONDS)
    return length, max(1, round(length * fps))


def frame_count(bundle: AvatarBundle, animation: str, fps: float) -> int:
    """How many frames `bake` makes of `animation` at `fps` (without baking it)."""
    state, variant = resolve(bundle, animation)
    return _span(*_period(bundle, state, variant), fps, None)[1]


def bake(
    subject: Subject,
    animation: str,
    fps: float = 30.0,
    seconds: float | None = None,
    parameters: Mapping[str, float] | None = None,
    seed: int = 0,
) -> Take:
    """`animation` (a state or a variant, see `animation_names`) sampled at `fps`. A loop is
    one period (or `seconds`, rounded to whole periods); a one-shot runs to its end."""
    if not (1.0 <= fps <= 60.0):
        raise ValueError(f"fps must be between 1 and 60 (got {fps:g})")
    bundle = subject.bundle
    state, variant = resolve(bundle, animation)
    period, loops = _period(bundle, state, variant)
    length, count = _span(period, loops, fps, seconds)
    frame_time = length / count
    s = _session(subject, parameters, seed)
    s.advance(TICK, Inputs(controls=_controls(state)))
    _advance(s, LEAD_IN)
    s.controller.transition(state, variant=variant, hold=True)
    if loops:
        s.controller.solo(state)  # the layers under it would not repeat with it
        _advance(s, period * math.ceil(1.0 / period))  # the entry mix and springs settle
    frames = []
    for i in range(count):
        frames.append(_sample(s, i, i * frame_time))
        _advance(s, frame_time)
    if loops:
        frames = _close_loop(s, frames, _sample(s, count, count * frame_time))
    out = tuple(frames)
    return Take(subject.label(animation), state, variant, loops, fps, frame_time, out, _bounds(out))


def _close_loop(s: AvatarSession, frames: list[BakedFrame], after: BakedFrame) -> list[BakedFrame]:
    """Make a loop's end run on into its start exactly. The animation repeats, but what
    plays under it need not have the same period (the idle layer's breathing under a dance,
    a spring still swinging out), so the frame one period on (`after`) can differ from the
    first: that drift (local transforms and slot colours) is taken out in equal shares over
    the loop, a fraction of a pixel a frame, and the frames are posed again from the
    corrected transforms (IK is already in them)."""
    first = frames[0]
    drift = after.local - first.local
    drift[:, ROT] = (drift[:, ROT] + 180.0) % 360.0 - 180.0
    drift[:, SHX:] = (drift[:, SHX:] + 180.0) % 360.0 - 180.0
    color_drift = after.colors - first.colors
    if not drift.any() and not color_drift.any():
        return frames
    pose = s.pose
    ik = pose.ik_mix.copy()
    pose.ik_mix[:] = 0.0
    out = []
    n = len(frames)
    for f in frames:
        share = f.index / n
        np.copyto(pose.local, f.local - drift * share)
        pose.update_world()
        pose.slot_attachment[:] = list(f.attachments)
        np.copyto(pose.slot_color, np.clip(f.colors - color_drift * share, 0.0, 1.0))
        np.copyto(pose.deform, f.deform)
        pose.deformed.clear()
        pose.deformed.update(f.deformed)
        out.append(_sample(s, f.index, f.time, step=False))
    pose.ik_mix[:] = ik
    return out


def still(
    subject: Subject,
    state: str = "idle",
    time: float = 0.0,
    parameters: Mapping[str, float] | None = None,
    seed: int = 0,
    edits: PoseEdits | None = None,
) -> Take:
    """One pose: `state` (or a variant) entered and played for `time` seconds, with
    `parameters` (an expression: eyes, mouth, brows, head angles) held and pose `edits`
    (dragged handles, rotated bones) applied over it."""
    if not (0.0 <= time <= MAX_SECONDS):
        raise ValueError(f"time must be between 0 and {MAX_SECONDS:g} seconds (got {time:g})")
    bundle = subject.bundle
    st, variant = resolve(bundle, state)
    s = _session(subject, parameters, seed, edits)
    s.advance(TICK, Inputs(controls=_controls(st)))
    if st != "idle" or variant is not None:
        _advance(s, LEAD_IN)
        s.controller.transition(st, variant=variant)
        _advance(s, bundle.machine.states[st].mix or bundle.machine.default_mix)
    _advance(s, time)
    frames = (_sample(s, 0, 0.0),)
    return Take(STILL, st, variant, False, 1.0, 1.0, frames, _bounds(frames))
