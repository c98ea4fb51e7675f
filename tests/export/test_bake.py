"""Baking animations for export (engine/export/bake.py): frames that reproduce our engine's
world transforms from their local ones, loops that run on into their start, a chosen
variant that keeps playing, and one-shots from their entry to their end."""

from __future__ import annotations

import numpy as np
import pytest

from engine.anim.controller import UnknownStateError
from engine.export.bake import animation_names, bake, resolve, still
from engine.export.subject import digi


@pytest.fixture(scope="module")
def subject():
    return digi()


def _positions(take) -> np.ndarray:
    return np.stack([f.world[:, 4:6] for f in take.frames])


def test_local_transforms_reproduce_the_world(subject) -> None:
    take = bake(subject, "walk", 15)
    for f in take.frames[::5]:
        pose = f.pose(subject.rig)
        pose.ik_mix[:] = 0.0  # IK is already in the applied local transforms
        pose.update_world()
        assert np.abs(pose.world - f.world).max() < 1e-9


@pytest.mark.parametrize("name", ["walk", "idle", "dance_2", "sit", "swim"])
def test_a_loop_runs_on_into_its_start(subject, name) -> None:
    """The step from the last frame to the first is no bigger than the steps inside. Before
    the loop was closed, dance_2's face jumped 7 px (the idle layer under it has another
    period) and sit's 11 px, against 2 px steps inside."""
    take = bake(subject, name, 30)
    assert take.loop
    pos = _positions(take)
    inner = np.abs(np.diff(pos, axis=0)).max(axis=(1, 2))
    seam = np.abs(pos[0] - pos[-1]).max()
    assert seam <= 1.05 * inner.max() + 1e-6, (seam, inner.max())
    assert abs(take.duration - len(take.frames) * take.frame_time) < 1e-9


def test_a_chosen_variant_keeps_playing(subject) -> None:
    """Two periods of dance_2 repeat: the state would roll another dance at each loop."""
    one = bake(subject, "dance_2", 10)
    two = bake(subject, "dance_2", 10, seconds=2 * one.duration)
    assert len(two.frames) == 2 * len(one.frames)
    pos = _positions(two)
    half = len(one.frames)
    assert np.abs(pos[:half] - pos[half:]).max() < 2.0  # the springs differ a little


def test_a_one_shot_plays_from_entry_to_end(subject) -> None:
    take = bake(subject, "wave", 10)
    assert not take.loop and len(take.frames) == 20  # wave lasts 2 s
    pos = _positions(take)
    assert np.abs(pos[len(pos) // 2] - pos[0]).max() > 20  # the arm is up mid-wave


def test_names_and_errors(subject) -> None:
    names = animation_names(subject.bundle)
    assert {"walk", "dance", "dance_3", "idle_2", "wave"} <= set(names)
    assert resolve(subject.bundle, "dance_3") == ("dance", "dance_3")
    with pytest.raises(UnknownStateError, match='unknown animation "moonwalk"'):
        bake(subject, "moonwalk")
    with pytest.raises(ValueError, match="fps must be between 1 and 60"):
        bake(subject, "walk", 0)
    with pytest.raises(ValueError, match="time must be between 0 and 20"):
        still(subject, "idle", 30.0)


def test_a_still_holds_its_expression(subject) -> None:
    plain = still(subject).frames[0]
    open_mouth = still(subject, parameters={"ParamMouthOpenY": 1.0}).frames[0]
    assert plain.attachments != open_mouth.attachments or not np.array_equal(
        plain.colors, open_mouth.colors
    )
