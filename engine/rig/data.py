"""Frozen rig data (Spine's "setup" side): loaded once, shared by every session.

Nothing here changes after loading; numpy arrays are made read-only. Per-session state
lives in `engine.pose.Pose`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np


class BlendMode(IntEnum):
    NORMAL = 0
    ADDITIVE = 1
    MULTIPLY = 2
    SCREEN = 3


class IkSolver(IntEnum):
    LIMB = 0
    CCD = 1
    FABRIK = 2


def frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, slots=True)
class BoneData:
    index: int
    name: str
    parent: int  # -1 for the root
    length: float
    x: float
    y: float
    rotation: float
    scale_x: float
    scale_y: float
    shear_x: float
    shear_y: float
    inherit: int  # engine.kernels.layout.INHERIT_*

    @property
    def local(self) -> tuple[float, ...]:
        return (
            self.x,
            self.y,
            self.rotation,
            self.scale_x,
            self.scale_y,
            self.shear_x,
            self.shear_y,
        )


@dataclass(frozen=True, slots=True)
class SlotData:
    index: int
    name: str
    bone: int
    attachment: str | None
    color: tuple[float, float, float, float]
    blend: BlendMode


@dataclass(frozen=True, slots=True)
class RegionAttachment:
    name: str
    path: str
    x: float
    y: float
    rotation: float
    scale_x: float
    scale_y: float
    width: float
    height: float
    # Corners in the slot bone's local space: bottom-left, bottom-right, top-right, top-left.
    corners: np.ndarray
    uvs: np.ndarray


@dataclass(frozen=True, slots=True)
class MeshAttachment:
    """A skinned mesh. Its vertices sit at rows [offset, offset + count) of the rig's packed
    skin buffers (`RigData.skin_*`), so one kernel call can skin every visible mesh."""

    name: str
    path: str
    uvs: np.ndarray  # (n, 2)
    triangles: np.ndarray  # (m, 3) int32, indices into this mesh's vertices
    setup_vertices: np.ndarray  # (n, 2), skeleton space
    offset: int
    count: int


Attachment = RegionAttachment | MeshAttachment


@dataclass(frozen=True, slots=True)
class IkData:
    index: int
    name: str
    solver: IkSolver
    bones: tuple[int, ...]  # root to tip, each the parent of the next
    target: int
    mix: float
    bend: float  # +1 counter-clockwise, -1 clockwise (limb)
    iterations: int
    tolerance: float
    velocity: float
    # (n, 2) min/max local rotation relative to the setup rotation; -inf/inf for none
    limits: np.ndarray
    # derived for the solver: chain as an int64 array, bone lengths, and the limits as
    # bounds on the angle between each bone and its parent (setup rotation + shearX added)
    chain: np.ndarray
    lengths: np.ndarray
    relative_limits: np.ndarray


@dataclass(frozen=True, slots=True)
class ParamBinding:
    bone: int
    prop: int  # engine.kernels.layout local-row column
    inputs: np.ndarray  # parameter values, increasing
    outputs: np.ndarray  # offsets (added) or factors (scale, multiplied)


@dataclass(frozen=True, slots=True)
class SlotBinding:
    """A parameter driving a slot: its alpha (piecewise linear, multiplied in), which
    attachment it shows (the key with the largest value <= the parameter), or a deform of
    one mesh attachment (per-vertex offsets in the slot bone's frame, piecewise linear)."""

    slot: int
    kind: str  # "alpha" | "attachment" | "deform"
    inputs: np.ndarray
    alphas: np.ndarray | None = None
    names: tuple[str | None, ...] | None = None
    offsets: np.ndarray | None = None  # (keys, vertices, 2) for deform
    mesh: MeshAttachment | None = None  # the deformed attachment


@dataclass(frozen=True, slots=True)
class ParameterData:
    index: int
    id: str
    min: float
    max: float
    default: float
    bindings: tuple[ParamBinding, ...]
    slot_bindings: tuple[SlotBinding, ...] = ()


@dataclass(frozen=True, slots=True)
class SpringData:
    bone: int
    stiffness: float  # 1/s^2: pull back towards the animated rotation
    damping: float  # 1/s
    inertia: float  # how strongly the bone's origin motion and parent turns drive it
    gravity: float  # deg/s^2 towards -y at full sideways lever
    limit: float  # degrees away from the animated rotation, at most


@dataclass(frozen=True, slots=True)
class UpdateStep:
    """One step of the precomputed update plan: a run of bones, or one IK constraint."""

    bones: np.ndarray | None = None  # int64 indices, parents first
    ik: int = -1


@dataclass(frozen=True, slots=True)
class RigData:
    name: str
    bones: tuple[BoneData, ...]
    slots: tuple[SlotData, ...]
    attachments: tuple[dict[str, Attachment], ...]  # per slot index
    ik: tuple[IkData, ...]
    parameters: tuple[ParameterData, ...]
    plan: tuple[UpdateStep, ...]
    springs: tuple[SpringData, ...]
    # packed per-bone arrays for the kernels
    parent: np.ndarray  # (n,) int64
    inherit: np.ndarray  # (n,) int64
    setup_local: np.ndarray  # (n, 7)
    # packed skin buffers of every mesh attachment
    skin_bones: np.ndarray  # (V, 4) int64
    skin_weights: np.ndarray  # (V, 4)
    skin_local: np.ndarray  # (V, 4, 2)
    skin_anchor: np.ndarray  # (V,) int64: the slot's bone, the frame of deform offsets
    bone_index: dict[str, int] = field(repr=False)
    slot_index: dict[str, int] = field(repr=False)
    ik_index: dict[str, int] = field(repr=False)
    parameter_index: dict[str, int] = field(repr=False)

    @property
    def vertex_count(self) -> int:
        return int(self.skin_bones.shape[0])

    def bone(self, name: str) -> BoneData:
        return self.bones[self.bone_index[name]]

    def children(self, bone: int) -> list[int]:
        return [b.index for b in self.bones if b.parent == bone]

    def descendants(self, bone: int) -> set[int]:
        out: set[int] = set()
        for b in self.bones:  # parent-first order: one pass suffices
            if b.parent == bone or b.parent in out:
                out.add(b.index)
        return out
