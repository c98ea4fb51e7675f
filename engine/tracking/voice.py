"""Lip-sync from the voice, and the face of an avatar that has no camera.

The browser analyses the microphone (webapi/static/lipsync.js: loudness over an adaptive
noise floor, and a vowel estimate from the spectrum) and sends, 30-60 times a second, how
open the mouth should be (0..1) and the weights of the five vowels A I U E O (summing to 1,
or all 0 in silence). No audio leaves the browser; only those six numbers do.

Here they become mouth signals (`mouth_open`, `vowel_*`, the same `FaceSignals` the camera
path produces) and go through the rig's own tracking bindings (`rigs/<id>/tracking.json`),
so any rig whose mouth follows the camera follows the voice the same way.

The combination rule (`VoicedFace`): the camera wins while it sees the face (the tracker's
presence, eased), the voice drives the mouth otherwise (face lost, camera off, camera-less
mode). The hand-over is the same smoothstep of presence that eases a lost face to rest, so
neither direction pops.

Camera-less mode adds an `AmbientFace`: natural blinks at random intervals (now and then a
double blink), glances around with the head following the eyes a little, a slow sway, and a
small nod while talking, so an avatar without a camera looks alive rather than frozen.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import numpy as np

from engine.rig.data import RigData
from engine.tracking.filters import OneEuroFilter
from engine.tracking.retarget import Retargeter
from engine.tracking.signals import INDEX, SIGNALS
from engine.tracking.tracker import EURO, FaceTracker

VOWELS = ("a", "i", "u", "e", "o")
MOUTH = ("mouth_open", *(f"vowel_{v}" for v in VOWELS))
STALE = 0.25  # seconds without a voice message before the mouth closes (the page stopped)
CLOSE = 0.08  # seconds: how fast a stale or muted mouth closes (time constant)
# a mouth this open (0..1) shows no vowel shape yet; fully shaped from VOWEL_FULL (as the
# camera solver gates its vowels: engine/tracking/solver.py)
VOWEL_GATE, VOWEL_FULL = 0.08, 0.25


def _smoothstep(u: float) -> float:
    u = min(1.0, max(0.0, u))
    return u * u * (3.0 - 2.0 * u)


def check_voice(open_: float, vowels: Sequence[float]) -> None:
    """ValueError unless `open_` is in 0..1 and `vowels` five weights in 0..1 summing to at
    most 1 (a little float slack allowed)."""
    if not (isinstance(open_, int | float) and math.isfinite(open_) and 0.0 <= open_ <= 1.0):
        raise ValueError(f"mouth opening {open_!r} is not a number from 0 to 1")
    if len(vowels) != len(VOWELS):
        raise ValueError(f"expected {len(VOWELS)} vowel weights (A I U E O), got {len(vowels)}")
    for name, w in zip(VOWELS, vowels, strict=True):
        if not (math.isfinite(w) and 0.0 <= w <= 1.0):
            raise ValueError(f"vowel {name.upper()} weight {w!r} is not a number from 0 to 1")
    if sum(vowels) > 1.001:
        raise ValueError(f"vowel weights sum to {sum(vowels):.3g} (at most 1)")


class VoiceMouth:
    """The voice's mouth signals over time: `hear` (any thread, each message) and `sample`
    (the engine tick). Filtered like the camera's mouth (One Euro, the face path's settings);
    closes on its own when the messages stop or the mic is muted."""

    def __init__(self) -> None:
        euro = [EURO[s] for s in MOUTH]
        self._euro = OneEuroFilter([c for c, _ in euro], [b for _, b in euro])
        self._lock = threading.Lock()
        self._value = np.zeros(len(MOUTH))  # the newest filtered signals
        self._heard = -math.inf  # time of the newest message
        self._muted = True
        self._out = np.zeros(len(MOUTH))  # what the last tick used
        self.level = 0.0  # the newest mouth opening heard (unfiltered), for the status

    def hear(self, open_: float, vowels: Sequence[float], t: float, muted: bool = False) -> None:
        """One analysis frame from the browser at time `t` (seconds, the tick's clock)."""
        check_voice(open_, vowels)
        gate = _smoothstep((open_ - VOWEL_GATE) / (VOWEL_FULL - VOWEL_GATE))
        x = np.array([0.0 if muted else open_, *(0.0 if muted else w * gate for w in vowels)])
        with self._lock:
            if t - self._heard > STALE:
                self._euro.reset()  # back after a pause: no slide from stale values
            self._value = self._euro(x, t)
            self._heard = t
            self._muted = muted
            self.level = 0.0 if muted else float(open_)

    def sample(self, t: float, dt: float) -> np.ndarray:
        """The mouth signals for the tick at `t`, in `MOUTH` order."""
        with self._lock:
            live = not self._muted and t - self._heard <= STALE
            target = self._value if live else np.zeros(len(MOUTH))
        if live:
            self._out = target.copy()
        else:
            k = 1.0 - math.exp(-max(dt, 0.0) / CLOSE)
            self._out = self._out + (target - self._out) * k
        return np.clip(self._out, 0.0, 1.0)

    def speaking(self, t: float) -> bool:
        """Whether the voice is driving anything now (recent, unmuted messages)."""
        with self._lock:
            return not self._muted and t - self._heard <= STALE


class AmbientFace:
    """A face for an avatar without a camera: blinks, glances and a slow sway, as
    `FaceSignals` values (camera-view conventions, like a tracked face)."""

    BLINK_MEAN = 3.6  # seconds between blinks on average (people: 15-20 a minute)
    BLINK_MIN = 1.0
    DOUBLE = 0.15  # chance that a blink comes twice
    CLOSING, CLOSED, OPENING = 0.07, 0.05, 0.12  # seconds: a blink's phases
    GLANCE = (1.2, 4.5)  # seconds between glances, uniform
    EYES_TAU, HEAD_TAU = 0.05, 0.45  # seconds: eyes jump, the head follows slowly

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self._t: float | None = None
        self._next_blink = 0.0
        self._blink_at = -math.inf
        self._next_glance = 0.0
        self._gaze = np.zeros(2)  # where the eyes look now (x, y)
        self._gaze_target = np.zeros(2)
        self._head = np.zeros(2)  # yaw, pitch in degrees, following the gaze
        self._phase = float(self.rng.uniform(0, 2 * math.pi))

    def _blink_interval(self) -> float:
        # gamma-distributed intervals look natural: few very short gaps, a long tail
        return self.BLINK_MIN + float(self.rng.gamma(2.0, (self.BLINK_MEAN - self.BLINK_MIN) / 2))

    def _eyelid(self, since: float) -> float:
        """How open the eyes are `since` seconds into a blink (1 outside it)."""
        c, h, o = self.CLOSING, self.CLOSED, self.OPENING
        if since < 0 or since >= c + h + o:
            return 1.0
        if since < c:
            return 1.0 - _smoothstep(since / c)
        if since < c + h:
            return 0.0
        return _smoothstep((since - c - h) / o)

    def signals(self, t: float, dt: float, talking: float = 0.0) -> dict[str, float]:
        """The face at time `t`; `talking` (0..1, the voice's mouth opening) nods it a little."""
        if self._t is None:
            self._t = t
            self._next_blink = t + float(self.rng.uniform(0.3, 1.5))
            self._next_glance = t + float(self.rng.uniform(*self.GLANCE))
        if t >= self._next_blink:
            self._blink_at = t
            double = self.rng.random() < self.DOUBLE
            gap = self.CLOSING + self.CLOSED + self.OPENING
            self._next_blink = t + (gap + 0.08 if double else self._blink_interval())
        if t >= self._next_glance:
            if self.rng.random() < 0.4:  # back to the viewer, as people do between glances
                self._gaze_target = np.zeros(2)
            else:
                self._gaze_target = np.array(
                    [self.rng.uniform(-0.6, 0.6), self.rng.uniform(-0.25, 0.35)]
                )
            self._next_glance = t + float(self.rng.uniform(*self.GLANCE))
            if self.rng.random() < 0.5:  # people often blink as their eyes move
                self._next_blink = min(self._next_blink, t + 0.02)
        step = max(0.0, min(dt, 0.1))
        self._gaze += (self._gaze_target - self._gaze) * (1.0 - math.exp(-step / self.EYES_TAU))
        head_target = np.array([self._gaze_target[0] * 14.0, self._gaze_target[1] * 7.0])
        self._head += (head_target - self._head) * (1.0 - math.exp(-step / self.HEAD_TAU))
        sway = t - self._t
        eye = self._eyelid(t - self._blink_at)
        return {
            "yaw": float(self._head[0] + 2.0 * math.sin(0.37 * sway + self._phase)),
            "pitch": float(self._head[1] + 1.2 * math.sin(0.23 * sway) + 4.0 * talking),
            "roll": float(2.5 * math.sin(0.29 * sway + 0.7 * self._phase)),
            "gaze_x": float(self._gaze[0]),
            "gaze_y": float(self._gaze[1]),
            "eye_open_l": eye,
            "eye_open_r": eye,
        }


class VoicedFace:
    """A face tracker with the voice (and, camera-less, an ambient face) over it; what the
    puppet ticks (`Puppet(tracker=...)`): `parameters`, `calibrate`, `last_face`.

    Each tick: the camera's parameters (already eased to rest by presence) plus, weighted by
    how absent the camera's face is, the voice's mouth and the ambient face mapped through
    the rig's bindings. `source` says what drives the mouth: "camera", "voice" or None."""

    def __init__(
        self, tracker: FaceTracker, rig: RigData, *, camera: bool = True, seed: int = 0
    ) -> None:
        self.tracker = tracker
        self.camera = camera
        self.voice = VoiceMouth()
        self.ambient = None if camera else AmbientFace(seed)
        self.retargeter = Retargeter(tracker.data, rig)
        self._mouth = np.array([INDEX[s] for s in MOUTH], dtype=np.int64)
        # with a camera the voice moves the mouth only; camera-less, the whole face
        by_voice = {b.parameter for b in tracker.data.bindings if b.signal in MOUTH}
        self._ours = tuple(
            i for i, name in enumerate(self.retargeter.parameters) if not camera or name in by_voice
        )
        self.source: str | None = None

    @property
    def last_face(self) -> float:
        return self.tracker.last_face

    @property
    def presence(self) -> float:
        return self.tracker.presence

    def calibrate(self, t: float, duration: float = 0.5) -> None:
        self.tracker.calibrate(t, duration)

    def parameters(self, t: float, dt: float) -> dict[str, float]:
        """The rig parameters for the tick at `t`: the camera's, the voice's where the
        camera does not see the face."""
        face = self.tracker.parameters(t, dt)
        p = self.tracker.presence
        w = p * p * (3 - 2 * p)  # the camera's share, as the tracker blends its own
        mouth = self.voice.sample(t, dt)
        x = np.zeros(len(SIGNALS))
        x[INDEX["eye_open_l"]] = x[INDEX["eye_open_r"]] = 1.0
        x[self._mouth] = mouth
        if self.ambient is not None:
            for name, v in self.ambient.signals(t, dt, float(mouth[0])).items():
                x[INDEX[name]] = v
        values = self.retargeter.step(x, dt)
        rest = self.retargeter.rest
        out = dict(face)
        names = self.retargeter.parameters
        for i in self._ours:
            r = float(rest[i])
            out[names[i]] = out.get(names[i], r) + (float(values[i]) - r) * (1.0 - w)
        presence = self.tracker.data.presence_parameter
        if presence is not None and self.ambient is not None:
            out[presence] = 1.0  # the ambient face owns the eyes, as a tracked one does
        if w >= 0.5:
            self.source = "camera"
        elif self.voice.speaking(t):
            self.source = "voice"
        else:
            self.source = None
        return out
