"""`AvatarSession.step(dt, inputs) -> Frame`: one engine tick, in the frame order of
docs/ARCHITECTURE.md, with no GL. Time is passed in, so a frame is deterministic and testable.

    state machine -> animation tracks (mix/blend) -> parameter bindings -> IK and world
    transforms (update plan) -> springs (secondary motion) -> CPU skinning -> draw list

`advance(dt, inputs)` is the same tick without the last two steps, for callers that skin and
draw on the GPU from `pose` (the live server, the desktop window: `engine.puppet`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from engine.anim.clip import Clip, ParamFrame
from engine.anim.controller import AnimationController
from engine.anim.state import FiredEvent
from engine.assets import AvatarBundle
from engine.kernels.skinning import skin_ranges
from engine.params.parameters import ParameterSet
from engine.pose.edits import PoseEdits, apply_edits, pose_offsets
from engine.pose.pose import Pose
from engine.pose.springs import SpringSystem
from engine.rig.data import BlendMode, MeshAttachment, RegionAttachment
from engine.sprites import SpriteSelection


@dataclass(frozen=True, slots=True)
class DrawItem:
    slot: int
    attachment: str
    vertices: np.ndarray  # (n, 2) world space, y-up
    uvs: np.ndarray
    triangles: np.ndarray
    color: tuple[float, float, float, float]
    blend: BlendMode


@dataclass(frozen=True, slots=True)
class Frame:
    """One tick's output. Mesh vertices view the session's skin buffer: valid until the
    next `step` (copy them to keep them; the renderer consumes them at once)."""

    time: float
    events: list[FiredEvent]
    draw: list[DrawItem]


@dataclass(slots=True)
class Inputs:
    """What may change between ticks: parameter values, state-machine inputs, regions to send
    back to rest (stop dancing), state transitions (a state's name, or (state, variant) for
    one of its animations: ("dance", "dance_3")), and sprite swaps ({category: label})
    (applied in that order, before the tick)."""

    parameters: Mapping[str, float] = field(default_factory=dict)
    controls: Mapping[str, float] = field(default_factory=dict)
    transitions: list[str | tuple[str, str]] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)
    swaps: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Solo:
    """One clip shown at one time instead of the state machine (the studio's timeline):
    the caller scrubs or plays by replacing it."""

    clip: Clip
    time: float


_REGION_TRIANGLES = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32)


class AvatarSession:
    def __init__(self, bundle: AvatarBundle, seed: int = 0) -> None:
        self.bundle = bundle
        rig = bundle.rig
        self.pose = Pose(rig)
        self.params = ParameterSet(rig)
        self.controller = AnimationController(bundle.machine, rig, seed=seed)
        self.springs = SpringSystem(rig)
        self.sprites = SpriteSelection(bundle.sprites, self.pose) if bundle.sprites else None
        self.skinned = np.zeros((rig.vertex_count, 2))
        self.time = 0.0
        # replaced whole by other threads, read once per tick (None: nothing to do)
        self.edits: PoseEdits | None = None
        self.solo: Solo | None = None
        self._solo_alpha = np.ones((len(rig.bones), 4))
        self._solo_slots = np.ones(len(rig.slots))
        self._pframe = ParamFrame(len(rig.parameters))  # clips' parameter timelines

    def apply_inputs(self, inputs: Inputs) -> None:
        self.params.update(inputs.parameters)
        for k, v in inputs.controls.items():
            self.controller.set_input(k, v)
        for region in inputs.stop:
            self.controller.stop(region)
        for name in inputs.transitions:
            if isinstance(name, tuple):
                self.controller.transition(name[0], variant=name[1])
            else:
                self.controller.transition(name)
        if inputs.swaps:
            if self.sprites is None:
                raise ValueError(f'rig "{self.bundle.rig.name}" has no sprite library to swap from')
            for category, label in inputs.swaps.items():
                self.sprites.swap(category, label)

    def step(self, dt: float, inputs: Inputs | None = None) -> Frame:
        """One tick with CPU skinning and the draw list (exports, tests, wireframes)."""
        events = self.advance(dt, inputs)
        return Frame(self.time, events, self.draw_list())

    def advance(self, dt: float, inputs: Inputs | None = None) -> list[FiredEvent]:
        """One tick up to the posed skeleton (`pose`), without CPU skinning: for callers
        that skin on the GPU. Returns the events that fired."""
        if inputs is not None:
            self.apply_inputs(inputs)
        self.time += dt
        pose = self.pose
        solo = self.solo
        params, frame = self.params, self._pframe
        frame.base, frame.mixed = params.values, False  # (ParamFrame.begin, inlined)
        if solo is None:
            events = self.controller.update(dt)
            pose.reset()
            self.controller.apply(pose, frame)
        else:  # the controller holds still: no update, no events
            events = []
            pose.reset()
            self._apply_solo(solo)
        if frame.mixed:  # a clip keyed parameters: bind this tick's mixed values, not the session's
            values = params.values
            params.values = frame.values
            try:
                params.apply(pose)
            finally:
                params.values = values
        else:
            params.apply(pose)
        edits = self.edits
        if edits is not None:
            apply_edits(edits, pose)
        pose.update_world()
        self.springs.step(pose, dt)
        return events

    def _apply_solo(self, solo: Solo) -> None:
        clip, pose = solo.clip, self.pose
        t = min(max(solo.time, 0.0), clip.length)
        clip.apply_bones(t, self.bundle.rig.setup_local, pose.local, self._solo_alpha, False)
        if clip.slot_keyed.any():
            clip.apply_slots(t, pose.slot_attachment, pose.slot_color, self._solo_slots)
        if clip.param_index.shape[0]:
            self._pframe.mix(clip, t, 1.0)

    def pose_offsets(self) -> dict[str, float]:
        """Each bone's solved local rotation as an offset from setup, for bones more than
        0.01 degrees from it (a pose turned into keyframes)."""
        return pose_offsets(self.pose)

    def draw_list(self) -> list[DrawItem]:
        """The current pose skinned on the CPU, as a draw list (what `step` returns)."""
        rig = self.bundle.rig
        pose = self.pose
        visible = [(slot, pose.slot_attachment[slot.index]) for slot in rig.slots]
        visible = [
            (slot, name, rig.attachments[slot.index][name])
            for slot, name in visible
            if name is not None
        ]
        meshes = [att for _, _, att in visible if isinstance(att, MeshAttachment)]
        if meshes:
            starts = np.array([m.offset for m in meshes], dtype=np.int64)
            ends = starts + np.array([m.count for m in meshes], dtype=np.int64)
            deformed = np.array([m.offset in pose.deformed for m in meshes])
            skin_ranges(
                pose.world, rig.skin_bones, rig.skin_weights, rig.skin_local, starts, ends,
                self.skinned, pose.deform, rig.skin_anchor, deformed,
            )  # fmt: skip
        regions = [(slot, att) for slot, _, att in visible if isinstance(att, RegionAttachment)]
        corners = _region_corners(pose.world, regions)
        colors = pose.slot_color.tolist()
        items: list[DrawItem] = []
        r = 0
        for slot, name, att in visible:
            if isinstance(att, MeshAttachment):
                verts = self.skinned[att.offset : att.offset + att.count]
                tris = att.triangles
            else:
                verts = corners[r]
                tris = _REGION_TRIANGLES
                r += 1
            items.append(
                DrawItem(
                    slot.index, name, verts, att.uvs, tris, tuple(colors[slot.index]), slot.blend
                )
            )  # type: ignore[arg-type]
        return items


def _region_corners(world: np.ndarray, regions: list) -> np.ndarray:
    """Every visible region's 4 corners in world space, in one batch: (R, 4, 2)."""
    if not regions:
        return np.zeros((0, 4, 2))
    w = world[[slot.bone for slot, _ in regions]]  # (R, 6)
    c = np.stack([att.corners for _, att in regions])  # (R, 4, 2)
    x = w[:, None, 0] * c[..., 0] + w[:, None, 1] * c[..., 1] + w[:, None, 4]
    y = w[:, None, 2] * c[..., 0] + w[:, None, 3] * c[..., 1] + w[:, None, 5]
    return np.stack([x, y], axis=2)
