"""Digi, the default avatar: golden images of poses, outfits and accessories; swaps; every
animation of the seed's table through the state machine, with no cracks at the joints."""

from __future__ import annotations

import moderngl
import numpy as np
import pytest

from engine.assets import ATLASES, AvatarBundle
from engine.render import AvatarRenderer, load_atlas
from engine.session import Inputs
from tests.conftest import posed
from tests.gl.golden import assert_matches_golden

DT = 1 / 60


@pytest.fixture(scope="module")
def digi_renderer(gl: moderngl.Context, digi: AvatarBundle) -> AvatarRenderer:
    return AvatarRenderer(gl, digi.rig, load_atlas(ATLASES / "digi"), size=(192, 192))


POSES = [
    ("digi_idle", Inputs(), 1.0),
    ("digi_wave_mid", Inputs(transitions=["wave"]), 1.0),
    ("digi_walk_contact", Inputs(controls={"speed": 1.0}, transitions=["walk"]), 1.0),
]


@pytest.mark.parametrize(("name", "inputs", "seconds"), POSES, ids=[p[0] for p in POSES])
def test_golden_poses(
    digi: AvatarBundle, digi_renderer: AvatarRenderer, name: str, inputs: Inputs, seconds: float
) -> None:
    assert_matches_golden(name, digi_renderer.render(posed(digi, inputs, seconds, seed=5).pose))


def _labels(bundle: AvatarBundle, category: str) -> list[str]:
    assert bundle.sprites is not None, "Digi ships a sprite library"
    return list(bundle.sprites.categories[category])


@pytest.mark.parametrize("category", ["outfit", "accessories", "body"])
def test_golden_sprite_labels(
    digi: AvatarBundle, digi_renderer: AvatarRenderer, category: str
) -> None:
    labels = _labels(digi, category)
    assert len(labels) >= 3
    pictures = {}
    for label in labels:
        s = posed(digi, Inputs(swaps={category: label}), 0.5, seed=5)
        framing = "bust" if category == "accessories" else "full"
        pictures[label] = digi_renderer.render(s.pose, framing).copy()
        assert_matches_golden(f"digi_{category}_{label}", pictures[label])
    # every label looks different from every other
    for a in labels:
        for b in labels:
            if a < b:
                assert (
                    np.abs(pictures[a].astype(int) - pictures[b]).max(axis=2) > 24
                ).sum() > 40, (a, b)


def test_swap_shows_next_frame_and_back_is_pixel_identical(
    digi: AvatarBundle, digi_renderer: AvatarRenderer
) -> None:
    s = posed(digi, Inputs(), 0.5, seed=5)
    assert s.sprites is not None
    outfit = s.sprites.chosen["outfit"]
    other = next(label for label in _labels(digi, "outfit") if label != outfit)
    before = digi_renderer.render(s.pose).copy()
    s.step(0.0, Inputs(swaps={"outfit": other}))
    changed = digi_renderer.render(s.pose).copy()
    s.step(0.0, Inputs(swaps={"outfit": outfit}))
    back = digi_renderer.render(s.pose)
    assert (np.abs(changed.astype(int) - before).max(axis=2) > 24).sum() > 100
    np.testing.assert_array_equal(back, before)


# Parts that meet at a joint. Digi's limbs are single skinned strips (upper and lower arm,
# thigh and shin), which linear blend skinning cannot tear; a crack can only open where two
# separate parts meet, so each pair, drawn alone, must stay one connected piece.
CONNECTIONS = [
    ("arm_l", "hand_l"), ("arm_r", "hand_r"),  # wrists
    ("arm_l", "torso"), ("arm_r", "torso"),  # shoulders
    ("leg_l", "shoe_l"), ("leg_r", "shoe_r"),  # ankles
    ("leg_l", "pelvis"), ("leg_r", "pelvis"),  # hips
    ("neck", "head"), ("neck", "torso"),  # neck
    ("torso", "pelvis"),  # waist
]  # fmt: skip


def _pieces(renderer: AvatarRenderer, pose, slots: set[int]) -> int:
    """How many separate pieces the given slots make when drawn alone."""
    from scipy import ndimage

    saved = list(pose.slot_attachment)
    for i in range(len(saved)):
        if i not in slots:
            pose.slot_attachment[i] = None
    px = renderer.render(pose)
    pose.slot_attachment[:] = saved
    # Soft edges count: a crack is see-through, while a thin sliver of a part drawn small
    # is merely faint.
    _, n = ndimage.label(px[..., 3] >= 24, structure=np.ones((3, 3)))
    return n


def test_every_animation_plays_with_no_cracks_at_joints(
    digi: AvatarBundle, digi_renderer: AvatarRenderer
) -> None:
    from engine.export.animation import animation_rows, play

    rows = animation_rows(digi)
    names = {label for label, _, _ in rows}
    required = {"idle_1", "idle_2", "idle_3", "walk", "run", "climb", "swim", "jump", "fall", "sit", "land",
                "wave", "point", "laugh", "cheer", "toolnone", "toolslash", "toollunge"}  # fmt: skip
    assert required <= names | {"walk", "run"}
    assert len([n for n in names if n.startswith("dance_")]) == 9
    index = digi.rig.slot_index
    for label, state, variant in rows:
        pics = []
        for k, s in enumerate(play(digi, state, variant, count=6)):
            for a, b in CONNECTIONS:
                assert _pieces(digi_renderer, s.pose, {index[a], index[b]}) == 1, (
                    f"{label} frame {k}: {a} and {b} come apart"
                )
            pics.append(digi_renderer.render(s.pose).copy())
        assert any(np.abs(p.astype(int) - pics[0]).max() > 30 for p in pics[1:]), (
            f"{label} does not move"
        )


def test_the_crack_check_has_teeth(digi: AvatarBundle, digi_renderer: AvatarRenderer) -> None:
    from engine.pose import Pose

    pose = Pose(digi.rig)
    hand = digi.rig.bone_index["hand_r"]
    pose.local[hand, 0] += 40.0  # pull the hand off the wrist
    pose.update_world()
    index = digi.rig.slot_index
    assert _pieces(digi_renderer, pose, {index["arm_r"], index["hand_r"]}) == 2


@pytest.mark.parametrize("state", ["idle", "wave", "dance", "run"])
def test_gpu_skinning_matches_the_cpu_kernel_on_every_vertex(
    digi: AvatarBundle, digi_renderer: AvatarRenderer, state: str
) -> None:
    # mid-animation, with parameters (head turn deforms, mouth) and springs in play
    inputs = Inputs(
        controls={"speed": 3.0 if state == "run" else 0.0},
        transitions=[state],
        parameters={"ParamAngleX": 22.0, "ParamAngleY": -12.0, "ParamMouthOpenY": 0.7},
    )
    s = posed(digi, inputs, 0.9, seed=5)
    gpu = digi_renderer.skin_on_gpu(s.pose)
    for item in s.draw_list():
        m = digi_renderer.geometry.meshes[(item.slot, item.attachment)]
        got = gpu[m.first_vertex : m.first_vertex + m.vertex_count]
        assert np.abs(got - item.vertices).max() < 0.5, (item.slot, item.attachment)


@pytest.mark.parametrize("state", ["laugh", "cheer"])
def test_a_happy_eye_hides_the_open_lid(digi: AvatarBundle, state: str) -> None:
    """While the happy eye (^) shows, the eyelids are hidden: the open lid's crease and
    lashes reach past it and drew a stray arc above the ^; after it, they are back."""
    from engine.session import AvatarSession

    s = AvatarSession(digi, seed=3)
    s.step(0.0, Inputs(transitions=[state]))
    rig = digi.rig
    happy = []
    for _ in range(round(2.0 / DT)):
        s.step(DT)
        for side in ("l", "r"):
            showing = s.pose.slot_attachment[rig.slot_index[f"eye_expr_{side}"]] == "eye_happy"
            lid = s.pose.slot_color[rig.slot_index[f"eyelid_{side}"], 3]
            happy.append((showing, lid))
            if showing:  # (at most half there while the clip mixes in)
                assert lid <= 0.5, (state, side, lid)
    assert any(lid == 0.0 for showing, lid in happy if showing), f"{state}: no happy eye"
    assert s.pose.slot_color[rig.slot_index["eyelid_l"], 3] == 1.0  # the lids are back
