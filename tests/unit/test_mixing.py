"""Tracks and cross-fades: continuity across transitions, masks, additive layers, queues."""

from __future__ import annotations

import numpy as np
import pytest

from engine.anim import AnimationState
from engine.assets import AvatarBundle
from engine.kernels.layout import ROT
from engine.pose import Pose
from engine.session import AvatarSession, Inputs

DT = 1 / 60


def animated(session: AvatarSession) -> np.ndarray:
    """The animation system's output this tick: every bone's local row after the tracks are
    mixed (before parameters and IK), scale in percent so all channels are comparable."""
    p = Pose(session.bundle.rig)
    p.reset()
    session.controller.apply(p)
    out = p.local.copy()
    out[:, 3:5] *= 100.0
    return out


def run(
    bundle: AvatarBundle, script: dict[int, Inputs], ticks: int, cut: int | None = None
) -> np.ndarray:
    """Values per tick; with `cut`, the transitions at that tick happen with no cross-fade."""
    s = AvatarSession(bundle, seed=7)
    out = []
    for k in range(ticks):
        inp = script.get(k)
        if k == cut and inp is not None:
            for name in inp.transitions:
                s.controller.transition(name, blend_time=0.0)
            inp = Inputs(inp.parameters, inp.controls, [])
        s.step(DT, inp)
        out.append(animated(s))
    return np.array(out)


def assert_continuous(
    bundle: AvatarBundle, before: Inputs | None, change: Inputs, mix_ticks: int
) -> None:
    """Across a transition, no animated value moves more between two ticks than the two
    animations themselves do, plus its share of closing the gap between them over the mix
    (a linear cross-fade v = (1-m)A + mB moves by (1-m)dA + m dB + dm (B - A)).

    `old` never transitions; `new` cuts to the new state at the same tick (so it shows the new
    animation at the same phase); `mixed` is the real cross-fade. The check must fail for the
    cut itself, wherever the two animations differ."""
    t0, ticks = 30, 30 + mix_ticks + 10
    pre = {0: before} if before is not None else {}
    old = run(bundle, pre, ticks)
    new = run(bundle, {**pre, t0: change}, ticks, cut=t0)
    mixed = run(bundle, {**pre, t0: change}, ticks)

    def step(a: np.ndarray) -> np.ndarray:
        return np.abs(np.diff(a, axis=0))

    own = np.maximum(step(old), step(new))
    own[t0 - 1] = np.maximum(step(old)[t0 - 1], step(new)[t0])  # not the cut's own jump
    gap = np.abs(new - old)[1:]
    allowed = 1.05 * own + gap / mix_ticks + 1e-9
    window = slice(t0 - 1, t0 + mix_ticks + 2)
    excess = (step(mixed) - allowed)[window]
    worst = np.unravel_index(excess.argmax(), excess.shape)
    assert excess.max() <= 0, (
        f"tick {worst[0]}, bone {worst[1]}, channel {worst[2]}: {excess.max():.4f} over"
    )
    assert gap[t0 - 1].max() > 1.0, "the transition changes nothing: the test would prove nothing"
    assert (step(new) - allowed)[window].max() > 0, "a hard cut must fail this check"


def test_idle_to_walk_is_continuous(testrig: AvatarBundle) -> None:
    assert_continuous(testrig, None, Inputs(controls={"speed": 1.0}, transitions=["walk"]), 12)


def test_walk_to_idle_is_continuous(testrig: AvatarBundle) -> None:
    assert_continuous(
        testrig,
        Inputs(controls={"speed": 1.0}, transitions=["walk"]),
        Inputs(controls={"speed": 0.0}, transitions=["idle"]),
        12,
    )


def test_emote_over_walk_is_continuous(testrig: AvatarBundle) -> None:
    assert_continuous(
        testrig,
        Inputs(controls={"speed": 1.0}, transitions=["walk"]),
        Inputs(transitions=["wave"]),
        12,
    )


def test_mix_table_pairs_override_the_default(testrig: AvatarBundle) -> None:
    state = AnimationState(testrig.rig, tracks=1)
    state.mixes.set("walk", "jump", 0.1)
    clips = testrig.clips
    state.set(0, clips["walk"])
    e = state.set(0, clips["jump"])
    assert e.mix_duration == pytest.approx(0.1)
    e = state.set(0, clips["walk"])
    assert e.mix_duration == pytest.approx(0.2)


def rotations_after(bundle: AvatarBundle, *plays: tuple) -> np.ndarray:
    """Play (clip, mix, seconds) steps on one track; the local rotations that result."""
    st = AnimationState(bundle.rig, tracks=1)
    for clip, mix, seconds in plays:
        st.set(0, clip, mix=mix)
        st.update(seconds)
    p = Pose(bundle.rig)
    p.reset()
    st.apply(p)
    return p.local[:, ROT].copy()


def test_crossfade_is_a_lerp_for_bones_both_clips_key(testrig: AvatarBundle) -> None:
    a, b = testrig.clips["walk"], testrig.clips["run"]
    both = np.flatnonzero(a.bone_keyed[:, 1] & b.bone_keyed[:, 1])
    assert both.size
    # 0.05 s into a 0.2 s mix: m = 0.25; the old clip kept playing (0.1 s in), the new is 0.05 s in
    mixed = rotations_after(testrig, (a, 0.0, 0.05), (b, 0.2, 0.05))
    pa = rotations_after(testrig, (a, 0.0, 0.1))
    pb = rotations_after(testrig, (b, 0.0, 0.05))
    np.testing.assert_allclose(mixed[both], pa[both] * 0.75 + pb[both] * 0.25, atol=1e-9)
    assert not np.allclose(mixed[both], pa[both])


def test_masked_layer_only_moves_its_bones(testrig: AvatarBundle) -> None:
    rig, clips = testrig.rig, testrig.clips
    st = AnimationState(rig, tracks=2)
    st.configure(1, mask={"upperarm_r": 1.0, "forearm_r": 1.0})
    st.set(0, clips["walk"])
    st.set(1, clips["cheer"], mix=0.0)
    st.update(0.5)
    p = Pose(rig)
    st.apply(p)
    ref = AnimationState(rig, tracks=1)
    ref.set(0, clips["walk"])
    ref.update(0.5)
    q = Pose(rig)
    ref.apply(q)
    masked = [rig.bone_index[n] for n in ("upperarm_r", "forearm_r")]
    others = [i for i in range(len(rig.bones)) if i not in masked]
    np.testing.assert_allclose(p.local[others], q.local[others])
    assert not np.allclose(p.local[masked, ROT], q.local[masked, ROT])


def test_additive_track_adds_and_fades_out(testrig: AvatarBundle) -> None:
    rig, clips = testrig.rig, testrig.clips
    st = AnimationState(rig, tracks=2)
    st.configure(1, additive=True, alpha=0.5)
    st.set(1, clips["laugh"], mix=0.0)
    st.update(0.3)
    p = Pose(rig)
    st.apply(p)
    solo = AnimationState(rig, tracks=1)
    solo.set(0, clips["laugh"], mix=0.0)
    solo.update(0.3)
    q = Pose(rig)
    solo.apply(q)
    keyed = clips["laugh"].bone_keyed[:, 1]
    expected = rig.setup_local[keyed, ROT] + 0.5 * (
        q.local[keyed, ROT] - rig.setup_local[keyed, ROT]
    )
    np.testing.assert_allclose(p.local[keyed, ROT], expected, atol=1e-9)
    st.set_empty(1, mix=0.2)
    st.update(0.2)
    p.reset()
    st.apply(p)
    np.testing.assert_allclose(p.local, rig.setup_local, atol=1e-12)


def test_queued_entry_follows_a_one_shot(testrig: AvatarBundle) -> None:
    rig, clips = testrig.rig, testrig.clips
    st = AnimationState(rig, tracks=1)
    st.set(0, clips["jump"], mix=0.0)
    queued = st.add(0, clips["fall"], mix=0.1)
    t = 0.0
    while st.current(0) is not queued:
        st.update(DT)
        t += DT
        assert t < 5
    assert t == pytest.approx(clips["jump"].length - 0.1, abs=DT)
