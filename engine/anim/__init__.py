"""Keyframe clips, tracks with cross-fades, and the animation state machine."""

from engine.anim.blend import Blend1D
from engine.anim.clip import Clip, EventData
from engine.anim.controller import AnimationController, Queued, UnknownStateError
from engine.anim.loader import AnimationFormatError, load_clip, load_clips, parse_clip
from engine.anim.player import AnimationPlayer
from engine.anim.state import AnimationState, FiredEvent, MixTable, TrackEntry
from engine.anim.statemachine import (
    StateMachineData,
    StateMachineFormatError,
    load_state_machine,
    parse_state_machine,
)

__all__ = [
    "AnimationController",
    "AnimationFormatError",
    "AnimationPlayer",
    "AnimationState",
    "Blend1D",
    "Clip",
    "EventData",
    "FiredEvent",
    "MixTable",
    "Queued",
    "StateMachineData",
    "StateMachineFormatError",
    "TrackEntry",
    "UnknownStateError",
    "load_clip",
    "load_clips",
    "load_state_machine",
    "parse_clip",
    "parse_state_machine",
]
