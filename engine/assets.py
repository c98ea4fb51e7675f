"""Where bundled rigs and animation sets live, and loading them together."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from engine.anim.clip import Clip
from engine.anim.loader import load_clips
from engine.anim.statemachine import StateMachineData, load_state_machine
from engine.atlas import Atlas, load_atlas
from engine.rig.data import RigData
from engine.rig.loader import load_rig
from engine.sprites import SpriteLibraryData, load_sprite_library
from engine.tracking.retarget import TrackingData, load_tracking

ROOT = Path(__file__).resolve().parent.parent
RIGS = ROOT / "rigs"
ANIMATIONS = ROOT / "content" / "animations"
SPRITES = ROOT / "content" / "sprites"
ATLASES = ROOT / "content" / "atlases"


@dataclass(frozen=True, slots=True)
class AvatarBundle:
    """A rig with its clips and state machine: everything a session needs, loaded once."""

    rig: RigData
    clips: dict[str, Clip]
    machine: StateMachineData
    sprites: SpriteLibraryData | None = None
    tracking: TrackingData | None = None  # face-tracking bindings, for rigs that have them
    # the rig's pictures when they are not its committed atlas (a worn face, engine/face/)
    atlas: Atlas | None = None
    face: str | None = None  # the worn face's name (a generated avatar's id), if any

    @property
    def key(self) -> str:
        """Names the rig and its pictures: renderers are shared per key."""
        return self.rig.name if self.face is None else f"{self.rig.name}+{self.face}"

    def pictures(self) -> Atlas:
        return self.atlas if self.atlas is not None else load_base_atlas(self.rig.name)


def load_bundle(
    rig_id: str, animation_set: str | None = None, sprites: str = "base"
) -> AvatarBundle:
    """The rig, its animation set and state machine, its sprite library if it has one
    (`sprites` names a library in content/sprites/<rig>/, e.g. a seasonal variant) and its
    face-tracking bindings (`rigs/<rig>/tracking.json`) if it has them."""
    return bundle_for(load_rig(RIGS / rig_id / "rig.json"), rig_id, animation_set, sprites)


def bundle_for(
    rig: RigData,
    rig_id: str,
    animation_set: str | None = None,
    sprites: str = "base",
    atlas: Atlas | None = None,
    face: str | None = None,
) -> AvatarBundle:
    """Everything `load_bundle` loads, for a rig already in hand (one built from
    `rigs/<rig_id>/rig.json`, like a rig wearing a generated face)."""
    anim_dir = ANIMATIONS / (animation_set or rig_id)
    clips = load_clips(anim_dir, rig)
    machine = load_state_machine(anim_dir / "statemachine.json", clips, set(rig.bone_index))
    lib_path = SPRITES / rig_id / f"{sprites}.json"
    library = load_sprite_library(lib_path, rig) if lib_path.exists() or sprites != "base" else None
    track_path = RIGS / rig_id / "tracking.json"
    tracking = load_tracking(track_path, rig) if track_path.exists() else None
    return AvatarBundle(rig, clips, machine, library, tracking, atlas, face)


@lru_cache(maxsize=8)
def load_base_atlas(rig_id: str) -> Atlas:
    """A bundled rig's committed atlas (content/atlases/<rig_id>/), read once a process and
    shared (its image read-only): decoding Digi's 16 MB PNG costs 0.2-0.3 s, and every new
    renderer, still and export of a bundled look asks for it, the render thread's too."""
    atlas = load_atlas(ATLASES / rig_id)
    atlas.image.setflags(write=False)
    return atlas
