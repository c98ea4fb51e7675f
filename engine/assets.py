"""Where bundled rigs and animation sets live, and loading them together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.anim.clip import Clip
from engine.anim.loader import load_clips
from engine.anim.statemachine import StateMachineData, load_state_machine
from engine.rig.data import RigData
from engine.rig.loader import load_rig

ROOT = Path(__file__).resolve().parent.parent
RIGS = ROOT / "rigs"
ANIMATIONS = ROOT / "content" / "animations"


@dataclass(frozen=True, slots=True)
class AvatarBundle:
    """A rig with its clips and state machine: everything a session needs, loaded once."""

    rig: RigData
    clips: dict[str, Clip]
    machine: StateMachineData


def load_bundle(rig_id: str, animation_set: str | None = None) -> AvatarBundle:
    rig = load_rig(RIGS / rig_id / "rig.json")
    anim_dir = ANIMATIONS / (animation_set or rig_id)
    clips = load_clips(anim_dir, rig)
    machine = load_state_machine(anim_dir / "statemachine.json", clips, set(rig.bone_index))
    return AvatarBundle(rig, clips, machine)
