"""Lip-sync from the voice (engine/tracking/voice.py): the voice's mouth through the rig's
bindings, the combination with the camera (camera wins while it sees the face), closing
when the voice stops, and the camera-less ambient face (random blinks, glances)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.assets import AvatarBundle
from engine.puppet import Puppet
from engine.tracking import FaceSignals, FaceTracker
from engine.tracking.voice import STALE, AmbientFace, VoicedFace, VoiceMouth, check_voice

TICK = 1 / 60
A = (1.0, 0.0, 0.0, 0.0, 0.0)
I = (0.0, 1.0, 0.0, 0.0, 0.0)


def _face(bundle: AvatarBundle, camera: bool = True, seed: int = 0) -> VoicedFace:
    assert bundle.tracking is not None
    return VoicedFace(FaceTracker(bundle.tracking, bundle.rig), bundle.rig, camera=camera, seed=seed)


def _run(face: VoicedFace, seconds: float, *, voice=None, camera=None, start: float = 0.0):
    """Ticks at 60 Hz; `voice(t)` -> (open, vowels) or None at 50 Hz, `camera(t)` ->
    FaceSignals or None at 30 fps. Returns each tick's parameters."""
    out = []
    for i in range(round(seconds / TICK)):
        t = start + i * TICK
        if voice is not None and (v := voice(t)) is not None and i % 6 in (0, 1, 2, 4, 5):
            face.voice.hear(v[0], v[1], t)
        if camera is not None and i % 2 == 0:
            face.tracker.observe(camera(t), t)
        out.append(face.parameters(t, TICK))
    return out


def test_voice_opens_the_mouth_and_shapes_the_vowel(digi: AvatarBundle) -> None:
    face = _face(digi)
    shut = _run(face, 0.5)[-1]
    assert shut["ParamMouthOpenY"] == pytest.approx(0.0, abs=1e-6)
    talking = _run(face, 0.5, voice=lambda t: (0.8, A), start=0.5)[-1]
    assert talking["ParamMouthOpenY"] > 0.6
    assert talking["ParamA"] > 0.6 and talking["ParamI"] < 0.05
    assert face.source == "voice"
    ee = _run(face, 0.5, voice=lambda t: (0.8, I), start=1.0)[-1]
    assert ee["ParamI"] > 0.6 and ee["ParamA"] < 0.1


def test_a_quiet_voice_opens_a_little_and_shows_no_vowel(digi: AvatarBundle) -> None:
    face = _face(digi)
    loud = _run(face, 0.5, voice=lambda t: (0.9, A))[-1]["ParamMouthOpenY"]
    face = _face(digi)
    quiet = _run(face, 0.5, voice=lambda t: (0.06, A))[-1]
    assert 0.0 <= quiet["ParamMouthOpenY"] < loud / 2
    assert quiet["ParamA"] < 0.01  # below the vowel gate: no vowel shape yet


def test_the_mouth_closes_when_the_voice_stops_or_mutes(digi: AvatarBundle) -> None:
    face = _face(digi)
    _run(face, 0.5, voice=lambda t: (0.8, A))
    after = _run(face, STALE + 0.6, start=0.5)
    assert after[0]["ParamMouthOpenY"] > 0.5  # messages a few ms apart: no flicker
    assert after[-1]["ParamMouthOpenY"] < 0.02 and after[-1]["ParamA"] < 0.02
    assert face.source is None
    face = _face(digi)
    _run(face, 0.5, voice=lambda t: (0.8, A))
    face.voice.hear(0.8, A, 0.5, muted=True)
    muted = _run(face, 0.5, voice=None, start=0.5)
    assert muted[-1]["ParamMouthOpenY"] < 0.02


def test_the_camera_wins_while_it_sees_the_face(digi: AvatarBundle) -> None:
    face = _face(digi)
    shut = FaceSignals(mouth_open=0.0)
    both = _run(face, 1.0, voice=lambda t: (0.9, A), camera=lambda t: shut)
    assert face.source == "camera"
    assert both[-1]["ParamMouthOpenY"] < 0.05  # the camera's shut mouth, not the voice's
    # the face leaves the camera: the voice takes the mouth over, smoothly
    gone = _run(face, 1.5, voice=lambda t: (0.9, A), camera=lambda t: None, start=1.0)
    assert face.source == "voice"
    assert gone[-1]["ParamMouthOpenY"] > 0.6
    steps = np.diff([p["ParamMouthOpenY"] for p in gone])
    assert np.abs(steps).max() < 0.2  # no pop at the hand-over


def test_with_a_camera_the_voice_moves_nothing_but_the_mouth(digi: AvatarBundle) -> None:
    face = _face(digi)
    bare = FaceTracker(digi.tracking, digi.rig)  # type: ignore[arg-type]
    voiced = _run(face, 1.0, voice=lambda t: (0.9, A))[-1]
    plain = [bare.parameters(i * TICK, TICK) for i in range(60)][-1]
    mouth = {"ParamMouthOpenY", "ParamA", "ParamI", "ParamU", "ParamE", "ParamO"}
    for name, v in plain.items():
        if name not in mouth:
            assert voiced[name] == pytest.approx(v, abs=1e-9), name


def test_camera_less_blinks_at_random_intervals_and_glances_around(digi: AvatarBundle) -> None:
    face = _face(digi, camera=False, seed=3)
    ticks = _run(face, 30.0)
    eyes = np.array([p["ParamEyeLOpen"] for p in ticks])
    closed = eyes < 0.2
    starts = np.flatnonzero(closed[1:] & ~closed[:-1]) * TICK
    assert 5 <= len(starts) <= 20  # 10-20 blinks a minute, now and then a double one
    gaps = np.diff(starts)
    assert gaps.std() > 0.3  # not a metronome
    assert all(p["ParamFaceTracked"] == 1.0 for p in ticks)  # the ambient face owns the eyes
    yaw = np.array([p["ParamAngleX"] for p in ticks])
    gaze = np.array([p["ParamEyeBallX"] for p in ticks])
    assert np.ptp(yaw) > 6.0 and np.ptp(gaze) > 0.3  # looks around
    assert np.abs(np.diff(yaw)).max() < 1.0  # gently: no snapping head
    assert max(abs(p["ParamMouthOpenY"]) for p in ticks) < 1e-6  # silent: mouth shut


def test_camera_less_talks_with_the_voice(digi: AvatarBundle) -> None:
    face = _face(digi, camera=False)
    # a syllable every quarter second
    ticks = _run(face, 2.0, voice=lambda t: (0.8 if (t % 0.25) < 0.15 else 0.0, A))
    mouth = np.array([p["ParamMouthOpenY"] for p in ticks[30:]])
    assert mouth.max() > 0.6 and mouth.min() < 0.15


def test_ambient_face_is_seeded() -> None:
    def run(seed: int) -> list[float]:
        a = AmbientFace(seed)
        return [a.signals(i * TICK, TICK)["gaze_x"] for i in range(600)]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_voice_values_are_checked() -> None:
    check_voice(0.5, A)
    for open_, vowels in [
        (1.5, A), (-0.1, A), (math.nan, A), (0.5, (0.5, 0.5, 0.5, 0, 0)),
        (0.5, (1.0, 0, 0, 0)), (0.5, (math.inf, 0, 0, 0, 0)), (0.5, (-0.2, 0, 0, 0, 0)),
    ]:  # fmt: skip
        with pytest.raises(ValueError):
            check_voice(open_, vowels)
    with pytest.raises(ValueError):
        VoiceMouth().hear(2.0, A, 0.0)


def test_the_puppet_ticks_the_voiced_face(digi: AvatarBundle) -> None:
    face = _face(digi, camera=False)
    puppet = Puppet(digi, tracker=face)  # type: ignore[arg-type]
    mouth = digi.rig.parameter_index["ParamMouthOpenY"]
    for i in range(30):
        face.voice.hear(0.9, A, i * TICK)
        puppet.tick(i * TICK, TICK)
    assert puppet.session.params.values[mouth] > 0.6
