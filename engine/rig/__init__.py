"""Frozen rig data and its loader."""

from engine.rig.data import (
    BlendMode,
    BoneData,
    IkData,
    IkSolver,
    MeshAttachment,
    ParameterData,
    RegionAttachment,
    RigData,
    SlotData,
)
from engine.rig.errors import FormatError, RigFormatError
from engine.rig.loader import load_rig, parse_rig, setup_world_transforms

__all__ = [
    "BlendMode",
    "BoneData",
    "FormatError",
    "IkData",
    "IkSolver",
    "MeshAttachment",
    "ParameterData",
    "RegionAttachment",
    "RigData",
    "RigFormatError",
    "SlotData",
    "load_rig",
    "parse_rig",
    "setup_world_transforms",
]
