"""Pose edits: what a creator does to a pose by hand (the studio's pose editor, a saved pose,
an accessory placed on its bone), as checked data plus the one function that applies it.

Three kinds, applied in this order after animation and parameters, before world transforms:

- `offsets`: added to a bone's local x/y/rotation, scale multiplied (accessories);
- `bones`: a bone's local rotation SET to setup + offset (a pose is a pose: it overrides
  what animation did there), the same number a clip's rotation key holds;
- `targets`: handles dragged to world points. A limb handle moves its IK constraint's
  target bone and runs the constraint at mix 1 for this frame only (`Pose.frame_ik_mix`);
  the "head" handle turns the head toward the point, at most `HEAD_AIM_LIMIT` degrees from
  its animated angle.

Every limit refuses (a `PoseEditError` naming the exact JSON path), never clamps silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from engine.kernels.layout import ROT, SX, SY, WA, WC, WX, WY, X, Y
from engine.numbers import number_in
from engine.pose.pose import Pose
from engine.rig.data import RigData

MAX_ROTATION = 360.0  # a bone's rotation offset from setup, degrees
MAX_COORD = 5000.0  # a target's world coordinates, rig units
MAX_OFFSET_XY = 200.0
MAX_OFFSET_ROTATION = 180.0
SCALE_RANGE = (0.25, 4.0)
MAX_BONES = 64
MAX_TARGETS = 8
MAX_OFFSETS = 16
HEAD_AIM_LIMIT = 35.0  # degrees the head turns toward its aim point, at most
HEAD = "head"
_AIM = "aim:head"
_NAMES_SHOWN = 20


class PoseEditError(ValueError):
    """Pose edits that cannot be applied; the message names the JSON path."""


@dataclass(frozen=True, slots=True)
class BoneOffset:
    x: float = 0.0
    y: float = 0.0
    rotation: float = 0.0
    scale: float = 1.0

    def to_json(self) -> dict[str, float]:
        return {"x": self.x, "y": self.y, "rotation": self.rotation, "scale": self.scale}


def _frozen_map(m: Mapping | None) -> Mapping:
    return MappingProxyType(dict(m or {}))


@dataclass(frozen=True, slots=True)
class PoseEdits:
    bones: Mapping[str, float] = field(default_factory=dict)
    targets: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    offsets: Mapping[str, BoneOffset] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # read-only views: edits are shared across threads and replaced whole, never mutated
        object.__setattr__(self, "bones", _frozen_map(self.bones))
        object.__setattr__(self, "targets", _frozen_map(self.targets))
        object.__setattr__(self, "offsets", _frozen_map(self.offsets))

    def is_empty(self) -> bool:
        return not (self.bones or self.targets or self.offsets)

    def to_json(self) -> dict[str, Any]:
        return {
            "bones": dict(self.bones),
            "targets": {h: [p[0], p[1]] for h, p in self.targets.items()},
            "offsets": {b: o.to_json() for b, o in self.offsets.items()},
        }


EMPTY = PoseEdits()


def handles(rig: RigData) -> dict[str, str]:
    """The rig's drag handles: handle -> IK constraint name, or "aim:head" for the head.
    A constraint's handle is its target bone's name without the "ik_" prefix
    (arm_r_ik -> ik_hand_r -> "hand_r")."""
    out: dict[str, str] = {}
    for c in rig.ik:
        target = rig.bones[c.target].name
        out[target.removeprefix("ik_")] = c.name
    if HEAD in rig.bone_index and HEAD not in out:
        out[HEAD] = _AIM
    return out


def offsets_edits(offsets: Mapping[str, BoneOffset]) -> PoseEdits:
    """Accessory offsets as pose edits (a look worn on every session)."""
    return PoseEdits(offsets=offsets) if offsets else EMPTY


def merged(a: PoseEdits | None, b: PoseEdits | None) -> PoseEdits | None:
    """`a` and `b` together (b wins where both name the same bone or handle); None when
    both are empty, so a session without edits keeps its one `is None` check."""
    if a is None or a.is_empty():
        return None if b is None or b.is_empty() else b
    if b is None or b.is_empty():
        return a
    return PoseEdits(
        bones={**a.bones, **b.bones},
        targets={**a.targets, **b.targets},
        offsets={**a.offsets, **b.offsets},
    )


# --- parsing ------------------------------------------------------------------------------


def _shown(name: Any) -> str:
    """A user-supplied name as error messages quote it: at most 40 characters."""
    s = str(name)
    return s if len(s) <= 40 else s[:40] + "..."


def _known(names: Any) -> str:
    names = list(names)
    shown = ", ".join(names[:_NAMES_SHOWN])
    return shown + (f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else "")


def _num(v: Any, path: str, lo: float, hi: float) -> float:
    return number_in(v, path, lo, hi, PoseEditError)


def _obj(v: Any, path: str, limit: int) -> dict:
    if not isinstance(v, dict):
        raise PoseEditError(f"{path}: expected an object, got {type(v).__name__}")
    if len(v) > limit:
        raise PoseEditError(f"{path}: {len(v)} entries, at most {limit}")
    return v


def _bone(rig: RigData, name: Any, path: str) -> str:
    if not isinstance(name, str) or name not in rig.bone_index:
        raise PoseEditError(
            f'{path}: unknown bone "{_shown(name)}" (known: {_known(rig.bone_index)})'
        )
    return name


def _rotatable(rig: RigData) -> list[str]:
    """Bones a pose may rotate: not the root, not an IK constraint's target (those move
    by their handles)."""
    targets = {c.target for c in rig.ik}
    return [
        b.name
        for b in rig.bones
        if b.parent >= 0 and b.index not in targets and not b.name.startswith("ik_")
    ]


def parse_edits(data: Any, rig: RigData, path: str = "pose") -> PoseEdits:
    """Validate pose edits JSON ({"bones", "targets", "offsets"}, each optional)."""
    root = _obj(data, path, 3)
    extra = set(root) - {"bones", "targets", "offsets"}
    if extra:
        raise PoseEditError(
            f"{path}.{_shown(sorted(extra)[0])}: unknown key (expected bones, targets, offsets)"
        )
    bones: dict[str, float] = {}
    rotatable = set(_rotatable(rig))
    for name, v in _obj(root.get("bones", {}), f"{path}.bones", MAX_BONES).items():
        p = f"{path}.bones.{_shown(name)}"
        _bone(rig, name, p)
        if name not in rotatable:
            raise PoseEditError(
                f'{p}: bone "{name}" cannot be rotated (the root and IK targets move by handles)'
            )
        bones[name] = _num(v, p, -MAX_ROTATION, MAX_ROTATION)
    known = handles(rig)
    targets: dict[str, tuple[float, float]] = {}
    for h, v in _obj(root.get("targets", {}), f"{path}.targets", MAX_TARGETS).items():
        p = f"{path}.targets.{_shown(h)}"
        if h not in known:
            raise PoseEditError(f'{p}: unknown handle "{_shown(h)}" (known: {_known(known)})')
        if not isinstance(v, (list, tuple)) or len(v) != 2:
            raise PoseEditError(f"{p}: expected [x, y]")
        targets[h] = (
            _num(v[0], f"{p}[0]", -MAX_COORD, MAX_COORD),
            _num(v[1], f"{p}[1]", -MAX_COORD, MAX_COORD),
        )
    offsets: dict[str, BoneOffset] = {}
    for name, v in _obj(root.get("offsets", {}), f"{path}.offsets", MAX_OFFSETS).items():
        p = f"{path}.offsets.{_shown(name)}"
        _bone(rig, name, p)
        o = _obj(v, p, 4)
        extra = set(o) - {"x", "y", "rotation", "scale"}
        if extra:
            raise PoseEditError(
                f"{p}.{_shown(sorted(extra)[0])}: unknown key (expected x, y, rotation, scale)"
            )
        offsets[name] = BoneOffset(
            x=_num(o.get("x", 0.0), f"{p}.x", -MAX_OFFSET_XY, MAX_OFFSET_XY),
            y=_num(o.get("y", 0.0), f"{p}.y", -MAX_OFFSET_XY, MAX_OFFSET_XY),
            rotation=_num(
                o.get("rotation", 0.0), f"{p}.rotation", -MAX_OFFSET_ROTATION, MAX_OFFSET_ROTATION
            ),
            scale=_num(o.get("scale", 1.0), f"{p}.scale", *SCALE_RANGE),
        )
    return PoseEdits(bones=bones, targets=targets, offsets=offsets)


# --- applying -----------------------------------------------------------------------------


def _wrap180(a: float) -> float:
    return (a + 180.0) % 360.0 - 180.0


def apply_edits(edits: PoseEdits, pose: Pose) -> None:
    """Edits into the pose's local transforms (after animation and parameters, before
    `update_world`). Reads the previous frame's world transforms for parents (handles'
    targets sit under the root; the head's neck is not moved by the aim)."""
    rig = pose.rig
    local = pose.local
    for name, o in edits.offsets.items():
        b = rig.bone_index[name]
        local[b, X] += o.x
        local[b, Y] += o.y
        local[b, ROT] += o.rotation
        local[b, SX] *= o.scale
        local[b, SY] *= o.scale
    for name, deg in edits.bones.items():
        b = rig.bone_index[name]
        local[b, ROT] = rig.setup_local[b, ROT] + deg
    if not edits.targets:
        return
    known = handles(rig)
    for h, (x, y) in edits.targets.items():
        c = known[h]
        if c == _AIM:
            _aim_head(pose, x, y)
            continue
        ik = rig.ik[rig.ik_index[c]]
        pose.set_bone_world_position(rig.bones[ik.target].name, x, y)
        pose.frame_ik_mix[ik.index] = 1.0


def _aim_head(pose: Pose, x: float, y: float) -> None:
    rig = pose.rig
    b = rig.bone_index[HEAD]
    w = pose.world
    p = rig.parent[b]
    # the animated world angle: the parent's (last frame) plus this frame's local rotation
    base = math.degrees(math.atan2(w[p, WC], w[p, WA])) if p >= 0 else 0.0
    animated = base + pose.local[b, ROT]
    dx, dy = x - w[b, WX], y - w[b, WY]
    if dx * dx + dy * dy < 1e-12:
        return
    turn = _wrap180(math.degrees(math.atan2(dy, dx)) - animated)
    pose.local[b, ROT] += max(-HEAD_AIM_LIMIT, min(HEAD_AIM_LIMIT, turn))


def pose_offsets(pose: Pose, threshold: float = 0.01) -> dict[str, float]:
    """Each bone's solved local rotation as an offset from setup (what a clip's rotation key
    holds), for bones that differ from setup by more than `threshold` degrees. Spring bones
    are left out: their swing is secondary motion, and a key would fight the spring."""
    rig = pose.rig
    springs = {s.bone for s in rig.springs}
    out: dict[str, float] = {}
    for name in _rotatable(rig):
        b = rig.bone_index[name]
        if b in springs:
            continue
        d = _wrap180(float(pose.local[b, ROT] - rig.setup_local[b, ROT]))
        if abs(d) > threshold:
            out[name] = round(d, 3)
    return out


__all__ = [
    "EMPTY",
    "HEAD_AIM_LIMIT",
    "MAX_BONES",
    "MAX_COORD",
    "MAX_OFFSETS",
    "MAX_OFFSET_ROTATION",
    "MAX_OFFSET_XY",
    "MAX_ROTATION",
    "MAX_TARGETS",
    "SCALE_RANGE",
    "BoneOffset",
    "PoseEditError",
    "PoseEdits",
    "apply_edits",
    "handles",
    "merged",
    "offsets_edits",
    "parse_edits",
    "pose_offsets",
]
