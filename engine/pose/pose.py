"""A session's live pose (Spine's `Skeleton` instance side): small mutable arrays over a
shared, frozen `RigData`.

Each frame: `reset()` to the setup pose, let animation and parameters write local transforms,
then `update_world()` walks the rig's precomputed plan (world transforms and IK in order).
"""

from __future__ import annotations

import math

import numpy as np

from engine.kernels.layout import ROT, WA, WC, WX, WY, X, Y
from engine.kernels.transform import (
    update_bone,
    update_bones,
    world_to_local_point,
    world_to_local_rotation,
)
from engine.pose.ik import solve_constraint
from engine.rig.data import MeshAttachment, RigData


class Pose:
    def __init__(self, rig: RigData) -> None:
        self.rig = rig
        n = len(rig.bones)
        self.local = np.array(rig.setup_local, dtype=np.float64)
        self.world = np.zeros((n, 6))
        self.ik_mix = np.array([c.mix for c in rig.ik], dtype=np.float64)
        # this frame only: constraint index -> mix over `ik_mix` (a dragged pose handle);
        # read by `update_world`, cleared by `reset`
        self.frame_ik_mix: dict[int, float] = {}
        self.slot_attachment: list[str | None] = [s.attachment for s in rig.slots]
        self._mesh_sizes = {
            a.offset: a.count
            for d in rig.attachments
            for a in d.values()
            if isinstance(a, MeshAttachment)
        }
        self.slot_color = np.array([s.color for s in rig.slots], dtype=np.float64).reshape(-1, 4)
        self._setup_attachment = list(self.slot_attachment)
        # parameter deforms: offsets per skin-buffer vertex, and which meshes have any
        self.deform = np.zeros((rig.vertex_count, 2))
        self.deformed: set[int] = set()  # skin-buffer offsets of deformed meshes
        self._setup_color = self.slot_color.copy()
        self.update_world()

    def reset(self) -> None:
        """Back to the setup pose (runtime IK mixes are session settings and are kept)."""
        np.copyto(self.local, self.rig.setup_local)
        self.slot_attachment[:] = self._setup_attachment
        np.copyto(self.slot_color, self._setup_color)
        if self.frame_ik_mix:
            self.frame_ik_mix.clear()
        for off in self.deformed:
            self.deform[off : off + self._mesh_sizes[off]] = 0.0
        self.deformed.clear()

    def add_deform(self, mesh: MeshAttachment, offsets: np.ndarray) -> None:
        """Add per-vertex offsets (slot-bone frame) to a mesh for this frame."""
        self.deform[mesh.offset : mesh.offset + mesh.count] += offsets
        self.deformed.add(mesh.offset)

    def update_world(self) -> None:
        rig = self.rig
        override = self.frame_ik_mix
        for step in rig.plan:
            if step.bones is not None:
                update_bones(step.bones, rig.parent, rig.inherit, self.local, self.world)
            else:
                c = rig.ik[step.ik]
                mix = self.ik_mix[step.ik]
                if override:
                    mix = override.get(step.ik, mix)
                if mix > 0.0:
                    solve_constraint(rig, c, mix, self.local, self.world)
                else:  # pure FK: the chain still needs its world transforms
                    for b in c.bones:
                        update_bone(b, rig.parent, rig.inherit, self.local, self.world)

    # --- queries and runtime controls ---------------------------------------------------

    def bone_position(self, name: str) -> tuple[float, float]:
        b = self.rig.bone_index[name]
        return float(self.world[b, WX]), float(self.world[b, WY])

    def bone_tip(self, name: str) -> tuple[float, float]:
        b = self.rig.bone_index[name]
        length = self.rig.bones[b].length
        w = self.world[b]
        return float(w[WX] + w[WA] * length), float(w[WY] + w[WC] * length)

    def bone_angle(self, name: str) -> float:
        """World angle of the bone's x axis, degrees."""
        w = self.world[self.rig.bone_index[name]]
        return math.degrees(math.atan2(w[WC], w[WA]))

    def set_bone_world_position(self, name: str, x: float, y: float) -> None:
        """Move a bone (an IK target, say) so its origin lands at a world point this frame.
        Uses the parent's current world transform: call after `update_world()` or on bones
        whose parents don't move in between (IK targets sit under the root)."""
        b = self.rig.bone_index[name]
        lx, ly = world_to_local_point(b, self.rig.parent, self.world, x, y)
        self.local[b, X] = lx
        self.local[b, Y] = ly

    def set_bone_world_rotation(self, name: str, angle: float) -> None:
        b = self.rig.bone_index[name]
        self.local[b, ROT] = world_to_local_rotation(
            b, self.rig.parent, self.world, self.local, angle
        )

    def set_base_attachment(self, slot: int, name: str | None) -> None:
        """Change what a slot shows when nothing animates it (a sprite-library swap); it
        shows from the next `reset` on, and animations still key over it."""
        self._setup_attachment[slot] = name

    def set_ik_mix(self, name: str, mix: float) -> None:
        self.ik_mix[self.rig.ik_index[name]] = min(1.0, max(0.0, mix))

    def visible_meshes(self) -> list[tuple[int, MeshAttachment]]:
        out = []
        for s in self.rig.slots:
            name = self.slot_attachment[s.index]
            if name is None:
                continue
            att = self.rig.attachments[s.index].get(name)
            if isinstance(att, MeshAttachment):
                out.append((s.index, att))
        return out


__all__ = ["Pose"]
