"""The seed's `DigigamiAnimationPlayer`: one animation at a time, with a completion callback.
A thin front over one `AnimationState` track, so it mixes exactly like the state machine."""

from __future__ import annotations

from collections.abc import Callable

from engine.anim.clip import Clip
from engine.anim.state import AnimationState, FiredEvent, TrackEntry
from engine.pose.pose import Pose
from engine.rig.data import RigData


class AnimationPlayer:
    def __init__(self, rig: RigData) -> None:
        self._state = AnimationState(rig, tracks=1)
        self._entry: TrackEntry | None = None

    def play(
        self,
        animation: Clip,
        speed: float = 1.0,
        on_complete: Callable[[], None] | None = None,
        mix: float = 0.0,
    ) -> None:
        """Start `animation` from its beginning. A non-looping one calls `on_complete` once
        when it ends and then holds its last frame; a looping one never completes."""
        self._entry = self._state.set(0, animation, speed=speed, mix=mix)
        if on_complete is not None:
            self._entry.on_complete = lambda _e: on_complete()

    def update(self, dt: float) -> list[FiredEvent]:
        return self._state.update(dt)

    def apply(self, pose: Pose) -> None:
        self._state.apply(pose)

    @property
    def current(self) -> Clip | None:
        src = self._entry.source if self._entry is not None else None
        return src if isinstance(src, Clip) else None

    @property
    def elapsed(self) -> float:
        """Seconds into the animation (wrapped for looping ones, capped at the end otherwise)."""
        return self._entry.time if self._entry is not None else 0.0

    @property
    def completed(self) -> bool:
        return self._entry is not None and self._entry.completed
