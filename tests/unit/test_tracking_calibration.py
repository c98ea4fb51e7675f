"""Calibration: ranges that follow the user's own face within a sliding window, and a rest
pose captured on request and subtracted."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.tracking.calibration import AdaptiveRange, NeutralCalibration
from engine.tracking.signals import INDEX, SIGNALS, FaceSignals

# -- adaptive ranges --------------------------------------------------------------------------


def _times(rng: np.random.Generator, seconds: float, fps: float = 30.0) -> np.ndarray:
    n = round(seconds * fps)
    return np.cumsum(rng.uniform(0.8 / fps, 1.2 / fps, n))


def _narrow_eye(t: float, rng: np.random.Generator) -> float:
    """Openness of an eye that only spans 0.10 (shut) .. 0.18 (open), blinking every 3 s."""
    phase = t % 3.0
    if 1.0 <= phase < 1.1:
        base = 0.10
    elif 0.95 <= phase < 1.0 or 1.1 <= phase < 1.15:
        base = 0.14
    else:
        base = 0.18
    return base + rng.normal(0.0, 0.002)


def test_a_narrow_eyed_user_still_opens_and_closes_fully() -> None:
    rng = np.random.default_rng(20)
    r = AdaptiveRange(
        np.array([0.10]), np.array([0.26]), np.array([0.04]), adapt_lo=np.array([True]),
        adapt_hi=np.array([True]),
    )  # fmt: skip
    # by the prior alone the open eye is only half open
    assert r.normalize(np.array([0.18]))[0] == pytest.approx((0.18 - 0.10) / (0.26 - 0.10))
    for t in _times(rng, 6.0):
        r.observe(np.array([_narrow_eye(float(t), rng)]), float(t))
    opened = [r.normalize(np.array([0.18 + rng.normal(0, 0.002)]))[0] for _ in range(50)]
    shut = [r.normalize(np.array([0.10 + rng.normal(0, 0.002)]))[0] for _ in range(50)]
    assert np.mean(opened) > 0.9
    assert np.mean(shut) < 0.05


def test_lips_that_part_at_rest_read_as_a_shut_mouth() -> None:
    """A mouth whose rest openness is 0.35 (a smile with teeth), talking now and then: with
    its lower end following the rest it reads shut at rest and open when it opens; with the
    lower end fixed at the prior it would always read a third open."""
    rng = np.random.default_rng(22)
    follows = AdaptiveRange(np.array([0.0]), np.array([1.0]), np.array([0.5]), follow_lo=np.array([True]))
    fixed = AdaptiveRange(np.array([0.0]), np.array([1.0]), np.array([0.5]), adapt_lo=np.array([False]))
    for t in _times(rng, 12.0):
        talking = (t % 3.0) < 0.8
        x = np.array([(0.9 if talking else 0.35) + rng.normal(0, 0.01)])
        follows.observe(x, float(t))
        fixed.observe(x, float(t))
    assert follows.normalize(np.array([0.35]))[0] < 0.05
    assert follows.normalize(np.array([0.9]))[0] > 0.9
    assert fixed.normalize(np.array([0.35]))[0] > 0.3


def test_a_still_face_keeps_the_minimum_span() -> None:
    rng = np.random.default_rng(21)
    lo0, hi0, span = np.array([0.03]), np.array([0.5]), np.array([0.1])
    r = AdaptiveRange(lo0, hi0, span)  # both ends adapt
    xs = 0.02 + rng.normal(0.0, 0.002, 300)
    for x, t in zip(xs, _times(rng, 10.0), strict=True):
        r.observe(np.array([x]), float(t))
    lo, hi = r.bounds()
    assert hi[0] - lo[0] >= span[0] - 1e-12
    # the noise of a face that does not move stays small on the output; stretched over the
    # observed percentiles alone it would fill a good part of 0..1
    out = np.array([r.normalize(np.array([x]))[0] for x in xs])
    assert out.std() < 0.05
    p3, p97 = np.percentile(xs, [3, 97])
    assert (xs.std() / (p97 - p3)) > 0.2


def test_bounds_hold_the_priors_until_a_second_of_data() -> None:
    lo0, hi0, span = np.array([0.0, -1.0]), np.array([1.0, -0.9]), np.array([0.1, 0.5])
    r = AdaptiveRange(lo0, hi0, span)
    lo, hi = r.bounds()
    np.testing.assert_array_equal(lo, lo0)
    np.testing.assert_array_equal(hi, np.maximum(hi0, lo0 + span))
    for k in range(25):  # 0.8 s
        r.observe(np.array([0.5, 0.5]), k / 30)
    np.testing.assert_array_equal(r.bounds()[1], np.maximum(hi0, lo0 + span))
    for k in range(25, 40):
        r.observe(np.array([0.5, 0.5]), k / 30)
    assert not np.array_equal(r.bounds()[1], np.maximum(hi0, lo0 + span))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), seconds=st.floats(2.0, 30.0))
def test_bounds_follow_the_documented_rule(seed: int, seconds: float) -> None:
    rng = np.random.default_rng(seed)
    n = 5
    prior_lo, prior_hi = rng.uniform(-1, 0, n), rng.uniform(0, 1, n)
    span = rng.uniform(0, 0.5, n)
    adapt_lo, adapt_hi = rng.random(n) < 0.5, rng.random(n) < 0.5
    follow_lo = rng.random(n) < 0.3
    r = AdaptiveRange(prior_lo, prior_hi, span, 20.0, adapt_lo, adapt_hi, follow_lo)
    ts = _times(rng, seconds)
    xs = rng.normal(rng.uniform(-1, 1, n), rng.uniform(0.01, 1, n), (len(ts), n))
    for x, t in zip(xs, ts, strict=True):
        r.observe(x, float(t))
    # reference, straight from the documentation
    recent = xs[ts >= ts[-1] - 20.0]
    p_low, p_high = np.percentile(recent, 3, axis=0), np.percentile(recent, 97, axis=0)
    lo = np.where(adapt_lo, np.minimum(prior_lo, p_low), prior_lo)
    lo = np.where(follow_lo, p_low, lo)
    hi = np.where(adapt_hi, p_high, prior_hi)
    hi = np.maximum(hi, lo + span)
    got_lo, got_hi = r.bounds()
    np.testing.assert_allclose(got_lo, lo, atol=1e-12)
    np.testing.assert_allclose(got_hi, hi, atol=1e-12)
    out = r.normalize(xs[-1])
    np.testing.assert_allclose(out, np.clip((xs[-1] - lo) / (hi - lo), 0, 1), atol=1e-9)


def test_memory_is_bounded_and_old_data_is_forgotten() -> None:
    n = len(SIGNALS)
    rng = np.random.default_rng(22)
    r = AdaptiveRange(np.full(n, 0.45), np.full(n, 0.55), np.full(n, 0.01), window=20.0)
    size = r._buf.nbytes
    ts = np.arange(10 * 60 * 30) / 30  # ten minutes at 30 fps
    wide = rng.uniform(0.0, 1.0, (len(ts), n))
    narrow = rng.uniform(0.4, 0.6, (len(ts), n))
    xs = np.where((ts < ts[-1] - 30.0)[:, None], wide, narrow)  # calm for the last 30 s
    counts = []
    for k, (x, t) in enumerate(zip(xs, ts, strict=True)):
        r.observe(x, float(t))
        if k % 3000 == 0:
            counts.append(r.n_samples)
    assert r._buf.nbytes == size
    assert r.n_samples <= r.capacity
    assert max(counts) == counts[-1] == r.n_samples  # it filled once and stopped growing
    lo, hi = r.bounds()
    assert np.all(lo > 0.39) and np.all(hi < 0.61)  # the wide minutes are gone


def test_a_fast_camera_still_covers_the_whole_window() -> None:
    r = AdaptiveRange(np.array([0.45]), np.array([0.55]), np.array([0.01]), window=20.0)
    ts = np.arange(18 * 120) / 120  # 18 s at 120 fps
    for t in ts:
        x = 0.0 if t < 2.0 else 0.5  # a dip at the start of the window only
        r.observe(np.array([x]), float(t))
    lo, _ = r.bounds()
    assert lo[0] == pytest.approx(0.0)


def test_reset_forgets() -> None:
    r = AdaptiveRange(np.array([0.4]), np.array([0.6]), np.array([0.05]))
    for k in range(90):
        r.observe(np.array([0.0 if k % 2 else 1.0]), k / 30)
    assert r.bounds()[0][0] < 0.4
    r.reset()
    assert r.n_samples == 0
    np.testing.assert_array_equal(r.bounds()[0], [0.4])


# -- neutral ----------------------------------------------------------------------------------

OFFSET_BY_NEUTRAL = np.isin(SIGNALS, ["yaw", "pitch", "roll", "x", "y", "brow_l", "brow_r",
                                      "mouth_form"])  # fmt: skip
TILTED = FaceSignals(yaw=12.0, pitch=-6.0, roll=9.0, x=0.2, y=-0.1, scale=0.3, eye_open_l=0.9,
                     eye_open_r=0.85, brow_l=0.1, brow_r=0.05, mouth_form=-0.08).as_array()  # fmt: skip


def _capture(cal: NeutralCalibration, samples: np.ndarray, t0: float) -> None:
    cal.begin(t0, duration=0.5)
    for k, x in enumerate(samples):
        cal.observe(x, t0 + k / 30)


def test_before_calibration_apply_changes_nothing() -> None:
    cal = NeutralCalibration(len(SIGNALS))
    assert not cal.captured and not cal.done
    np.testing.assert_array_equal(cal.offset, np.zeros(len(SIGNALS)))
    np.testing.assert_array_equal(cal.apply(TILTED, OFFSET_BY_NEUTRAL), TILTED)


def test_a_captured_tilted_rest_pose_reads_as_neutral() -> None:
    rng = np.random.default_rng(30)
    cal = NeutralCalibration(len(SIGNALS))
    noise = rng.normal(0.0, 0.01, (16, len(SIGNALS)))
    _capture(cal, TILTED + noise * np.maximum(np.abs(TILTED), 0.1), 5.0)
    assert cal.done and cal.captured and not cal.capturing
    out = cal.apply(TILTED, OFFSET_BY_NEUTRAL)
    tol = 0.03 * np.maximum(np.abs(TILTED), 0.1)
    assert np.all(np.abs(out[OFFSET_BY_NEUTRAL]) < tol[OFFSET_BY_NEUTRAL])
    # the rest are absolute (openness, size, mouth shapes): left alone
    np.testing.assert_array_equal(out[~OFFSET_BY_NEUTRAL], TILTED[~OFFSET_BY_NEUTRAL])
    # and a turn away from the rest pose reads as that turn
    turned = TILTED.copy()
    turned[INDEX["yaw"]] += 20.0
    assert cal.apply(turned, OFFSET_BY_NEUTRAL)[INDEX["yaw"]] == pytest.approx(20.0, abs=0.5)


def test_the_neutral_shrugs_off_a_few_glitches() -> None:
    rng = np.random.default_rng(31)
    samples = TILTED + rng.normal(0.0, 0.05, (16, len(SIGNALS)))
    samples[[3, 9, 10], INDEX["yaw"]] = [80.0, -75.0, 90.0]  # tracking glitches
    samples[4, INDEX["eye_open_l"]] = 0.0  # a blink
    cal = NeutralCalibration(len(SIGNALS))
    _capture(cal, samples, 0.0)
    assert cal.offset[INDEX["yaw"]] == pytest.approx(TILTED[INDEX["yaw"]], abs=0.2)
    assert cal.offset[INDEX["eye_open_l"]] == pytest.approx(TILTED[INDEX["eye_open_l"]], abs=0.2)
    # a mean would have been dragged far off
    assert abs(samples[:, INDEX["yaw"]].mean() - TILTED[INDEX["yaw"]]) > 3.0


def test_capture_timing_and_a_recapture() -> None:
    n = len(SIGNALS)
    cal = NeutralCalibration(n)
    cal.observe(np.full(n, 50.0), 0.0)  # no capture running: ignored
    cal.begin(1.0, duration=0.5)
    cal.observe(np.full(n, 50.0), 0.9)  # before the start: ignored
    for k in range(15):  # 1.0 .. 1.467: still capturing
        cal.observe(np.full(n, 2.0), 1.0 + k / 30)
        assert cal.capturing and not cal.done
    cal.observe(np.full(n, 2.0), 1.5)
    assert cal.done and cal.captured
    cal.observe(np.full(n, -7.0), 1.6)  # after the capture: ignored
    np.testing.assert_array_equal(cal.offset, np.full(n, 2.0))
    # a new capture keeps the old neutral in use until it completes
    cal.begin(10.0, duration=0.2)
    cal.observe(np.full(n, 4.0), 10.0)
    assert not cal.done and cal.captured
    np.testing.assert_array_equal(cal.offset, np.full(n, 2.0))
    cal.observe(np.full(n, 4.0), 10.25)
    np.testing.assert_array_equal(cal.offset, np.full(n, 4.0))
    cal.reset()
    assert not cal.captured and not np.any(cal.offset)
