"""The live framing (engine/render/framing.py `Framer`): in every animation of Digi's state
machine, entered from idle as a streamer would, the framed part (the whole avatar, the head
and chest, the head) stays inside the picture on every tick; the frame holds still when
nothing moves."""

from __future__ import annotations

from collections.abc import Iterator

import moderngl
import numpy as np
import pytest

from engine.assets import ATLASES, AvatarBundle
from engine.export.animation import animation_rows
from engine.render import AvatarRenderer, framing_rect, load_atlas
from engine.render.framing import FRAMINGS, Framer, Rect
from engine.session import AvatarSession, Inputs

DT = 1 / 60


@pytest.fixture(scope="module")
def digi_renderer(gl: moderngl.Context, digi: AvatarBundle) -> AvatarRenderer:
    return AvatarRenderer(gl, digi.rig, load_atlas(ATLASES / "digi"), size=(128, 128))


def run(
    bundle: AvatarBundle, state: str, variant: str | None, preset: str, seconds: float | None = None
) -> Iterator[tuple[AvatarSession, Framer, Rect, np.ndarray]]:
    """Idle for a second, then `state` for one play of its clip (or `seconds`) and a second
    more; each tick: the session, the framer, its rect and the framed part's box."""
    s = AvatarSession(bundle, seed=3)
    framer = Framer(bundle.rig)
    part = framer._parts[preset]
    st = bundle.machine.states[state]
    clip = next((c for c, _ in st.variants if c.name == variant), None) if variant else None
    clip = clip or (st.variants[0][0] if st.variants else st.blend.clips[0] if st.blend else None)
    length = seconds or st.duration or (clip.length if clip else 1.0)
    controls = {"speed": 1.0 if state == "walk" else 3.0 if state == "run" else 0.0}
    controls["grounded"] = 0.0 if state in ("jump", "fall") else 1.0
    s.step(DT, Inputs(controls=controls))
    for k in range(round((1.0 + length + 1.0) / DT)):
        if k == round(1.0 / DT):
            s.controller.transition(state, variant=variant)
        s.step(DT)
        rect = framer.update(s.pose, preset, DT)
        yield s, framer, rect, part.box(s.pose)


def inside(box: np.ndarray, rect: Rect) -> bool:
    x0, y0, x1, y1 = rect
    eps = 1e-6 * (x1 - x0)
    return bool(
        box[0] >= x0 - eps and box[1] >= y0 - eps and box[2] <= x1 + eps and box[3] <= y1 + eps
    )


@pytest.mark.parametrize("preset", FRAMINGS)
def test_every_animation_keeps_the_framed_part_in_the_picture(
    digi: AvatarBundle, digi_renderer: AvatarRenderer, preset: str
) -> None:
    for label, state, variant in animation_rows(digi):
        squares = []
        for k, (s, _, rect, box) in enumerate(run(digi, state, variant, preset)):
            assert inside(box, rect), f"{preset} {label} tick {k}: {box} outside {rect}"
            assert rect[2] - rect[0] == pytest.approx(rect[3] - rect[1])
            squares.append(rect)
            if preset == "full" and k % 20 == 0:
                # the picture itself: no part of the avatar touches the frame's edge
                alpha = digi_renderer.render(s.pose, rect)[..., 3]
                edge = np.concatenate([alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]])
                assert edge.max() < 8, f"{label} tick {k}: the avatar reaches the edge"
        sides = np.array([r[2] - r[0] for r in squares])
        assert sides.min() > 0


def test_the_containment_check_has_teeth(digi: AvatarBundle) -> None:
    """The setup pose's own face framing loses the head while swimming (issue 15)."""
    fixed = framing_rect(digi.rig, "face")
    lost = [not inside(box, fixed) for _, _, _, box in run(digi, "swim", None, "face")]
    assert sum(lost) > 60


def test_a_framing_follows_the_head_and_settles(digi: AvatarBundle) -> None:
    ticks = list(run(digi, "swim", None, "face", seconds=4.0))
    rects = np.array([r for _, _, r, _ in ticks])
    idle, swim = rects[50], rects[-1]
    assert np.hypot(*(swim[:2] - idle[:2])) > 0.3 * (idle[2] - idle[0])  # it moved along
    last = rects[-30:]
    assert np.abs(last - last[0]).max() == 0.0, "the frame keeps drifting"
    assert not ticks[-1][1].moving and ticks[-1][1].moves >= 1


def test_the_frame_holds_still_while_idling(digi: AvatarBundle) -> None:
    """Idle's breathing, blinks and fidgets move the frame now and then, never tick after
    tick: a drifting frame redraws the whole picture every frame (bits the encoder needs)."""
    for preset in FRAMINGS:
        rects = np.array([r for _, _, r, _ in run(digi, "idle", None, preset, seconds=4.0)])
        moved = (np.abs(np.diff(rects[60:], axis=0)).max(axis=1) > 0).mean()
        assert moved < 0.2, f"{preset}: the frame moves on {moved:.0%} of the ticks"


def test_presets_cut_at_once_and_narrow_in_order(digi: AvatarBundle) -> None:
    s = AvatarSession(digi, seed=1)
    s.step(DT, Inputs())
    framer = Framer(digi.rig)
    sides = {}
    for preset in FRAMINGS:
        rect = framer.update(s.pose, preset, DT)
        sides[preset] = rect[2] - rect[0]
        assert not framer.moving
    assert sides["full"] > sides["bust"] > sides["face"]
    with pytest.raises(ValueError, match='unknown framing "waist"'):
        framer.update(s.pose, "waist", DT)


def test_the_box_kernel_matches_the_skinning_reference(digi: AvatarBundle) -> None:
    """`_Part.box` (one numba pass over the outline vertices and region corners) against
    every vertex of every shown attachment skinned by `skin_reference`."""
    from engine.kernels.skinning import skin_reference
    from engine.rig.data import MeshAttachment

    rig = digi.rig
    s = AvatarSession(digi, seed=2)
    s.step(DT, Inputs(transitions=["swim"]))
    for _ in range(40):
        s.step(DT)
    pose = s.pose
    pts = []
    for slot in rig.slots:
        name = pose.slot_attachment[slot.index]
        if name is None or pose.slot_color[slot.index, 3] <= 0:
            continue
        att = rig.attachments[slot.index][name]
        if isinstance(att, MeshAttachment):
            rows = np.arange(att.offset, att.offset + att.count)
            pts.append(
                skin_reference(
                    pose.world, rig.skin_bones[rows], rig.skin_weights[rows], rig.skin_local[rows]
                )
            )
        else:
            w = pose.world[slot.bone]
            c = att.corners
            pts.append(np.stack([w[0] * c[:, 0] + w[1] * c[:, 1] + w[4],
                                 w[2] * c[:, 0] + w[3] * c[:, 1] + w[5]], 1))  # fmt: skip
    p = np.concatenate(pts)
    want = np.array([*p.min(axis=0), *p.max(axis=0)])
    got = Framer(rig)._parts["full"].box(pose)
    np.testing.assert_allclose(got, want, atol=1e-6)
