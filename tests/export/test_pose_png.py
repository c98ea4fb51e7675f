"""A pose made in the studio exported as a PNG (`Still.edits`): the right hand dragged up by
its IK handle changes the picture, and only around the right arm."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.export.frames import camera_for
from engine.export.job import Job, Still
from engine.export.raster import export_png
from engine.export.subject import digi
from engine.pose.edits import parse_edits
from tests.export import compare

SIZE = 160
GOAL = (-60.0, 300.0)  # above the right shoulder, within reach; the frame stays the same
ARM = ("arm_r", "sleeve_r", "hand_r", "tool")


@pytest.fixture(scope="module")
def stills():
    subject = digi()
    edits = parse_edits({"targets": {"hand_r": list(GOAL)}}, subject.rig)
    out = []
    for e in (None, edits):
        j = Job(subject, size=SIZE, pose=Still(edits=e))
        try:
            out.append((compare.load(export_png(j)[0].data).astype(np.int32), j.still()))
        finally:
            j.close()
    return subject, out


def _region(subject, take, camera, pad: int = 3) -> np.ndarray:
    mask = np.zeros((camera.height, camera.width), bool)
    index = {subject.rig.slot_index[s] for s in ARM}
    p = camera.to_pixels(
        np.concatenate([d.vertices for d in take.frames[0].draw if d.slot in index])
    )
    x0, y0 = np.floor(p.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(p.max(axis=0)).astype(int) + pad
    mask[max(0, y0) : y1, max(0, x0) : x1] = True
    return mask


def test_a_raised_hand_changes_only_the_arm(stills) -> None:
    subject, ((plain, plain_take), (raised, raised_take)) = stills
    camera = camera_for(raised_take, SIZE)
    assert camera.rect == camera_for(plain_take, SIZE).rect  # the pose fits the same frame
    hand = subject.rig.slot_index["hand_r"]
    drawn = next(d for d in raised_take.frames[0].draw if d.slot == hand).vertices
    assert math.dist(drawn.mean(axis=0), GOAL) < 25  # the hand's picture sits at the goal
    changed = np.abs(plain - raised).max(axis=2) > 8
    assert changed.sum() >= 30, "raising the hand changed nothing"
    arm = _region(subject, plain_take, camera) | _region(subject, raised_take, camera)
    assert (changed & ~arm).sum() <= 0.02 * changed.sum(), "pixels changed away from the arm"
    # the goal's pixels show the raised hand (over the hair in the plain picture)
    gx, gy = np.round(camera.to_pixels(np.array([GOAL]))[0]).astype(int)
    assert changed[gy - 1 : gy + 2, gx - 1 : gx + 2].all()
    assert raised[gy - 1 : gy + 2, gx - 1 : gx + 2, 3].min() == 255
