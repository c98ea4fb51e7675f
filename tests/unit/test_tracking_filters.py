"""Tracking filters: the One Euro filter against the paper, frame-rate independence, blinks
that close at once and winks that need holding, and a predictor that never pops."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.tracking.filters import BlinkStabilizer, OneEuroFilter, Predictor

# -- One Euro ---------------------------------------------------------------------------------


class _PaperLowPass:
    """The paper's LowPassFilter, scalar, as written there."""

    def __init__(self) -> None:
        self.first_time = True
        self.hatxprev = 0.0

    def filter(self, x: float, alpha: float) -> float:
        if self.first_time:
            self.first_time = False
            hatx = x
        else:
            hatx = alpha * x + (1 - alpha) * self.hatxprev
        self.hatxprev = hatx
        return hatx


class _PaperOneEuro:
    """The paper's OneEuroFilter, scalar, taking timestamps (rate = 1 / Te)."""

    def __init__(self, mincutoff: float, beta: float, dcutoff: float) -> None:
        self.mincutoff, self.beta, self.dcutoff = mincutoff, beta, dcutoff
        self.xfilt, self.dxfilt = _PaperLowPass(), _PaperLowPass()
        self.first_time = True
        self.t_prev = 0.0

    @staticmethod
    def alpha(rate: float, cutoff: float) -> float:
        tau = 1.0 / (2 * math.pi * cutoff)
        te = 1.0 / rate
        return 1.0 / (1.0 + tau / te)

    def filter(self, x: float, t: float) -> float:
        if self.first_time:
            self.first_time = False
            dx = 0.0
            rate = 1.0  # unused: the first sample passes through both low-passes
        else:
            rate = 1.0 / (t - self.t_prev)
            dx = (x - self.xfilt.hatxprev) * rate
        self.t_prev = t
        edx = self.dxfilt.filter(dx, self.alpha(rate, self.dcutoff))
        cutoff = self.mincutoff + self.beta * abs(edx)
        return self.xfilt.filter(x, self.alpha(rate, cutoff))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 4),
    steps=st.integers(2, 30),
    seed=st.integers(0, 2**32 - 1),
    d_cutoff=st.floats(0.1, 5.0),
)
def test_one_euro_matches_the_papers_scalar_filter(
    n: int, steps: int, seed: int, d_cutoff: float
) -> None:
    rng = np.random.default_rng(seed)
    min_cutoff = rng.uniform(0.05, 10.0, n)
    beta = rng.uniform(0.0, 3.0, n)
    times = np.cumsum(rng.uniform(0.002, 0.2, steps))
    xs = rng.normal(0.0, rng.uniform(0.01, 50.0), (steps, n))
    f = OneEuroFilter(min_cutoff, beta, d_cutoff)
    refs = [_PaperOneEuro(min_cutoff[i], beta[i], d_cutoff) for i in range(n)]
    for x, t in zip(xs, times, strict=True):
        got = f(x, float(t))
        want = [refs[i].filter(float(x[i]), float(t)) for i in range(n)]
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def _filter_sine(fps: int, filt, seconds: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    ts = np.arange(round(seconds * fps) + 1) / fps
    ys = np.array([filt(np.array([math.sin(2 * math.pi * t)]), float(t))[0] for t in ts])
    return ts, ys


class _FrameCountingLowPass:
    """A low-pass with one alpha per frame, tuned at 30 fps: what frame-rate independence is
    meant to avoid (used only to show the test below can tell the difference)."""

    def __init__(self, alpha: float) -> None:
        self.alpha, self.y = alpha, None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        self.y = x.copy() if self.y is None else self.y + self.alpha * (x - self.y)
        return self.y


@pytest.mark.parametrize(("min_cutoff", "beta"), [(1.0, 0.0), (1.5, 0.2)])
def test_one_euro_is_frame_rate_independent(min_cutoff: float, beta: float) -> None:
    def at_common_times(make) -> dict[int, np.ndarray]:
        # every 1/15 s after the first second (the start-up transient differs by design)
        return {fps: _filter_sine(fps, make())[1][:: fps // 15][15:] for fps in (15, 30, 60)}

    ys = at_common_times(lambda: OneEuroFilter(min_cutoff, beta))
    # The rates agree up to backward Euler's error, which shrinks with dt: first order, so
    # halving dt about halves it. At 15 fps dt is already 0.4 tau at a 1 Hz cutoff, a coarse
    # step, hence the wider band.
    err15, err30 = np.abs(ys[15] - ys[60]).max(), np.abs(ys[30] - ys[60]).max()
    assert err15 < 0.15 and err30 < 0.08
    assert err30 < 0.65 * err15
    # it does filter: the output lags the raw sine noticeably
    raw = np.sin(2 * math.pi * (np.arange(46) / 15))[15:]
    assert np.abs(ys[60] - raw).max() > 0.15

    tau = 1 / (2 * math.pi * min_cutoff)
    naive = at_common_times(lambda: _FrameCountingLowPass(1 / (1 + 30 * tau)))
    assert np.abs(naive[15] - naive[60]).max() > 0.3


def test_a_constant_passes_through_exactly() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 10, 19)
    f = OneEuroFilter(rng.uniform(0.1, 5, 19), rng.uniform(0, 2, 19))
    for t in np.cumsum(rng.uniform(0.01, 0.1, 200)):
        assert np.array_equal(f(x, float(t)), x)


def test_noise_at_rest_is_smoothed_away() -> None:
    rng = np.random.default_rng(4)
    n = 2000
    xs = 5.0 + rng.normal(0, 1.0, (n, 3))
    ts = np.cumsum(rng.uniform(1 / 34, 1 / 26, n))
    f = OneEuroFilter(1.0, 0.01)
    ys = np.array([f(x, float(t)) for x, t in zip(xs, ts, strict=True)])[100:]
    # an exponential smoother with alpha ~ 0.17 (1 Hz at 30 fps) keeps alpha/(2-alpha) ~ 0.09
    # of the variance; beta lets a little more through
    assert np.all(ys.var(axis=0) < 0.2 * xs[100:].var(axis=0))
    np.testing.assert_allclose(ys.mean(axis=0), 5.0, atol=0.1)


def test_a_faster_ramp_lags_less_with_more_beta() -> None:
    slope, fps, min_cutoff = 40.0, 30, 1.0
    ts = np.arange(90) / fps

    def lag(beta: float) -> float:
        f = OneEuroFilter(min_cutoff, beta)
        y = [f(np.array([slope * t]), float(t))[0] for t in ts]
        return slope * ts[-1] - y[-1]

    lags = [lag(b) for b in (0.0, 0.01, 0.1, 1.0)]
    assert all(a > b > 0 for a, b in itertools.pairwise(lags))
    # without beta it is a first-order low-pass, whose backward-Euler lag on a ramp is
    # exactly slope * tau
    assert lags[0] == pytest.approx(slope / (2 * math.pi * min_cutoff), rel=1e-6)


def test_first_sample_stale_timestamps_and_reset() -> None:
    f = OneEuroFilter(1.0, 0.1)
    a, b, c = np.array([1.0, -2.0]), np.array([3.0, 0.0]), np.array([-9.0, 9.0])
    assert np.array_equal(f(a, 1.0), a)
    y1 = f(b, 1.1)
    # a repeated or older timestamp: the previous output, and no update
    assert np.array_equal(f(c, 1.1), y1)
    assert np.array_equal(f(c, 0.5), y1)
    twin = OneEuroFilter(1.0, 0.1)
    twin(a, 1.0)
    twin(b, 1.1)
    assert np.array_equal(f(b, 1.2), twin(b, 1.2))
    f.reset()
    assert np.array_equal(f(c, 7.0), c)


# -- blinks -----------------------------------------------------------------------------------

FPS = 30


def _run_blink(stab: BlinkStabilizer, frames: list[tuple[float, float]]) -> np.ndarray:
    return np.array([stab(l, r, k / FPS) for k, (l, r) in enumerate(frames)])


def test_a_one_frame_blink_closes_both_eyes_on_that_frame() -> None:
    # the closed frame is measured half-heartedly, as a fast blink often is
    frames = [(0.95, 0.92)] * 10 + [(0.12, 0.17)] + [(0.94, 0.93)] * 5
    out = _run_blink(BlinkStabilizer(), frames)
    assert np.array_equal(out[10], [0.0, 0.0])
    assert np.all(out[:10] == 1.0) and np.all(out[11:] == 1.0)


def test_an_eye_lagging_a_frame_never_winks() -> None:
    profile = [0.95, 0.95, 0.6, 0.1, 0.05, 0.4, 0.9, 0.95, 0.95, 0.95]
    left = [*profile, 0.95]
    right = [0.95, *profile]  # one frame behind
    out = _run_blink(BlinkStabilizer(), list(zip(left, right, strict=True)))
    assert np.abs(out[:, 0] - out[:, 1]).max() < 1e-12
    assert out.min() == 0.0  # and the blink still closes fully


def test_a_held_wink_shows_after_the_hold() -> None:
    stab = BlinkStabilizer(wink_hold=0.08)
    frames = [(0.95, 0.95)] * 5 + [(0.05, 0.93)] * 9 + [(0.94, 0.95)] * 5  # 0.3 s wink
    out = _run_blink(stab, frames)
    times = np.arange(len(frames)) / FPS
    onset = times[5]
    winking = np.abs(out[:, 0] - out[:, 1]) > 0.5
    held = (times >= onset + 0.08 - 1e-9) & (np.arange(len(frames)) < 14)
    assert np.array_equal(winking, held)
    assert np.all(out[held, 0] == 0.0) and np.all(out[held, 1] == 1.0)
    assert np.all(out[14:] == 1.0)  # and it lets go once both eyes are open again


def test_noise_around_open_stays_fully_open() -> None:
    rng = np.random.default_rng(5)
    frames = [tuple(v) for v in rng.uniform(0.82, 0.98, (300, 2))]
    assert np.all(_run_blink(BlinkStabilizer(), frames) == 1.0)


@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_snapping_is_monotone_and_fills_its_ends(a: float, b: float) -> None:
    s = BlinkStabilizer(close_below=0.2, open_above=0.8)
    lo, hi = min(a, b), max(a, b)
    assert 0.0 <= s.snap(lo) <= s.snap(hi) <= 1.0
    if hi <= 0.2:
        assert s.snap(hi) == 0.0
    if lo >= 0.8:
        assert s.snap(lo) == 1.0
    # continuous: a small change in, a small change out (smoothstep's slope is at most 1.5/0.6)
    assert abs(s.snap(min(lo + 1e-4, 1.0)) - s.snap(lo)) <= 2.5 * 1e-4 + 1e-12


# -- predictor --------------------------------------------------------------------------------


def _jittered_times(rng: np.random.Generator, n: int, fps: float, jitter: float) -> np.ndarray:
    return np.cumsum(rng.uniform(1 / fps - jitter, 1 / fps + jitter, n))


def _drive(pred: Predictor, signal, captures: np.ndarray, tick: float, latency: float = 0.0):
    """Push each capture once the engine clock reaches it (plus latency) and sample at every
    tick; returns the tick times and outputs, from the fourth capture on."""
    ts, out, i = [], [], 0
    t = captures[0] + latency
    while t < captures[-1]:
        while i < len(captures) and captures[i] + latency <= t:
            pred.push(signal(captures[i]), float(captures[i]))
            i += 1
        out.append(pred.sample(t))
        ts.append(t)
        t += tick
    ts_a, out_a = np.array(ts), np.array(out)
    keep = ts_a >= captures[3] + latency
    return ts_a[keep], out_a[keep]


def test_before_any_sample_there_is_none_and_one_sample_is_held() -> None:
    p = Predictor()
    assert p.sample(0.0) is None and p.age(0.0) == math.inf
    p.push(np.array([2.0, -1.0]), 1.0)
    for t in (0.5, 1.0, 1.04, 3.0):
        assert np.array_equal(p.sample(t), [2.0, -1.0])
    assert p.age(1.25) == pytest.approx(0.25)
    p.reset()
    assert p.sample(2.0) is None


def test_exact_on_linear_motion_within_the_horizon() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.normal(0, 1, 3), rng.normal(0, 5, 3)

    def line(t: float) -> np.ndarray:
        return a + b * t

    # two samples, then anywhere up to the horizon past the newest
    p = Predictor(horizon=0.05)
    p.push(line(1.0), 1.0)
    p.push(line(1.04), 1.04)
    for s in np.linspace(0.0, 0.05, 11):
        np.testing.assert_allclose(p.sample(1.04 + s), line(1.04 + s), atol=1e-9)

    # a live stream at a jittery 30 fps, sampled at 60 Hz: every tick lands within the horizon
    # of the trajectories it blends between, so the output is the line throughout
    p = Predictor(horizon=0.08)
    caps = _jittered_times(rng, 60, 30, 0.004)
    ts, out = _drive(p, line, caps, 1 / 60)
    np.testing.assert_allclose(out, np.array([line(t) for t in ts]), atol=1e-9)


def _sine(freq: float):
    return lambda t: np.array([math.sin(2 * math.pi * freq * t), math.cos(2 * math.pi * freq * t)])


@pytest.mark.parametrize(("freq", "seed"), [(0.5, 7), (1.0, 8)])
def test_at_60hz_it_moves_no_faster_than_the_signal_plus_a_little(freq: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    caps = _jittered_times(rng, 150, 30, 0.005)
    _, out = _drive(Predictor(), _sine(freq), caps, 1 / 60)
    own = 2 * math.pi * freq / 60  # the most a unit sine moves in one tick
    assert np.abs(np.diff(out, axis=0)).max() <= own + 0.03


def test_it_is_continuous_between_and_across_pushes() -> None:
    # sampled finely, a continuous output changes by little per step; a pop would not
    rng = np.random.default_rng(9)
    caps = _jittered_times(rng, 60, 22, 0.02)  # 15-30 fps
    tick = 1 / 2000

    def biggest_step(blend: float) -> float:
        _, out = _drive(Predictor(blend=blend), _sine(1.0), caps, tick, latency=0.02)
        return float(np.abs(np.diff(out, axis=0)).max())

    assert biggest_step(0.03) < 0.01
    assert biggest_step(0.0) > 0.05  # without the blend the same stream pops


def test_a_surprising_sample_blends_in_over_the_blend_time() -> None:
    p = Predictor(blend=0.03)
    p.push(np.array([0.0]), 0.0)
    p.push(np.array([0.0]), 0.033)
    before = p.sample(0.04)
    p.push(np.array([1.0]), 0.066)  # a jump the prediction did not see coming
    first = p.sample(0.07)
    assert first is not None and before is not None
    assert np.array_equal(first, before)  # the old trajectory's value at that time
    mid = p.sample(0.085)
    v = 1.0 / 0.033
    assert mid is not None and 0.0 < mid[0] < 1.0 + v * (0.085 - 0.066)  # between the two
    # after the blend: on the new trajectory (x1 + v * g(s)), which the settled value bounds
    after = p.sample(0.1 + 1e-9)
    settled = p.sample(1.0)
    assert after is not None and settled is not None
    assert 1.0 < after[0] <= settled[0] <= 1.0 + v * (0.05 + 0.025) + 1e-9


def test_after_the_stream_stops_it_settles_close_to_the_newest_sample() -> None:
    p = Predictor(horizon=0.05, settle=0.025)
    v = np.array([3.0, -40.0])
    for k in range(10):
        p.push(v * k / 30, k / 30)
    newest = v * 9 / 30
    ts = 9 / 30 + np.arange(1, 1200) / 120  # ten seconds with no new sample
    out = np.array([p.sample(float(t)) for t in ts])
    assert np.isfinite(out).all()
    reach = np.abs(out - newest)
    assert np.all(reach <= np.abs(v) * (0.05 + 0.025) + 1e-9)  # never runs away
    assert np.all(np.diff(reach, axis=0) >= -1e-12)  # eases out without turning back
    assert np.abs(out[-120:] - out[-1]).max() < 1e-9  # and has come to rest
    assert p.age(float(ts[-1])) == pytest.approx(ts[-1] - 9 / 30)


def test_output_is_clamped() -> None:
    lower, upper = np.array([-1.0, 0.0]), np.array([1.0, 0.5])
    rng = np.random.default_rng(10)
    caps = _jittered_times(rng, 60, 30, 0.005)

    def wild(t: float) -> np.ndarray:
        return np.array([3 * math.sin(9 * t), 2 * math.cos(7 * t)])

    _, clamped = _drive(Predictor(lower=lower, upper=upper), wild, caps, 1 / 60)
    _, free = _drive(Predictor(), wild, caps, 1 / 60)
    assert np.all(clamped >= lower) and np.all(clamped <= upper)
    np.testing.assert_array_equal(clamped, np.clip(free, lower, upper))
    assert (free > upper).any() and (free < lower).any()  # the clamp had work to do
