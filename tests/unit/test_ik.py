"""IK kernels (engine.kernels.ik): geometric properties, never hard-coded answers.

Chains are drawn by hypothesis: 2..5 bones (1 where said) of unequal lengths, any origin,
any start pose, targets placed by distance from the origin (so "reachable" is known exactly).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.kernels.ik import forward, mix_angles, solve_ccd, solve_fabrik, solve_limb

# CCD at the default velocity 0.5 creeps through poses with a joint folded near 180 degrees
# and towards targets near full reach. Measured on 10^4 random chains of this file's kind
# (tolerance 0.01): ~1 in 10^4 needed more than 10^4 passes, none more than 3 * 10^4. So
# the "reaches" property gets a budget of 5 * 10^4 (a converged solve stops early, so this
# costs little); the defaults (10 passes) are checked for never making things worse.
CCD_ITERATIONS = 50_000
# FABRIK is faster but also slow near folds: the worst of 10^4 random chains, and a 2-bone
# chain folding towards a target at 5 % of its reach, needed about 1000 passes.
FABRIK_ITERATIONS = 5_000
TOL = 0.01

FREE = np.array([-np.inf, np.inf])
SETTINGS = settings(max_examples=200, deadline=None)

length = st.floats(0.5, 5.0)
coord = st.floats(-100.0, 100.0)
angle = st.floats(-360.0, 360.0)
unit = st.floats(0.0, 1.0)


def free_limits(n: int) -> np.ndarray:
    return np.tile(FREE, (n, 1))


def wrap(d):
    """(-180, 180], elementwise."""
    return 180.0 - np.mod(180.0 - np.asarray(d, dtype=np.float64), 360.0)


def at(origin: np.ndarray, distance: float, direction: float) -> np.ndarray:
    r = math.radians(direction)
    return origin + distance * np.array([math.cos(r), math.sin(r)])


def beyond(origin: np.ndarray, lengths: np.ndarray, k: float, direction: float) -> np.ndarray:
    """A target k >= 1 chain lengths away; the nudge keeps rounding in origin + d from
    landing it a hair inside the reach, where a solver may rightly bend instead."""
    return at(origin, k * lengths.sum() + 1e-9, direction)


def effector_error(origin, angles, lengths, target) -> float:
    return float(np.linalg.norm(forward(origin, angles, lengths)[-1] - target))


def min_reach(lengths: np.ndarray) -> float:
    """The nearest the effector of a free chain can get to its origin."""
    return max(0.0, 2.0 * lengths.max() - lengths.sum())


@st.composite
def chains(draw, min_bones: int = 2, max_bones: int = 5):
    n = draw(st.integers(min_bones, max_bones))
    lengths = np.array(draw(st.lists(length, min_size=n, max_size=n)))
    origin = np.array([draw(coord), draw(coord)])
    angles = np.array(draw(st.lists(angle, min_size=n, max_size=n)))
    base = draw(angle)
    return origin, angles, lengths, base


@st.composite
def limits(draw, n: int):
    """(n, 2) bounds: a free bone now and then, else an arc of width < 360 anywhere."""
    rows = []
    for _ in range(n):
        if draw(st.booleans()) and draw(st.booleans()):
            rows.append(FREE)
        else:
            centre = draw(st.floats(-200.0, 200.0))
            width = draw(st.floats(0.0, 350.0))
            rows.append([centre - width / 2, centre + width / 2])
    return np.array(rows, dtype=np.float64)


def assert_within_limits(angles, base, lims) -> None:
    prev = base
    for i, a in enumerate(angles):
        lo, hi = lims[i]
        raw = a - prev
        if hi - lo < 360.0:
            # documented: the raw difference itself lies inside, not only modulo 360
            assert lo - 1e-9 <= raw <= hi + 1e-9, (i, raw, lo, hi)
        prev = a


def assert_points_at(angles, origin, target) -> None:
    d = target - origin
    direction = math.degrees(math.atan2(d[1], d[0]))
    assert np.all(np.abs(wrap(angles - direction)) < 1e-6), (angles, direction)


SOLVERS = {
    "limb": lambda o, a, l, b, lim, t: solve_limb(o, a, l, b, lim, t, 1.0),
    "limb-": lambda o, a, l, b, lim, t: solve_limb(o, a, l, b, lim, t, -1.0),
    "ccd": lambda o, a, l, b, lim, t: solve_ccd(o, a, l, b, lim, t),
    "fabrik": lambda o, a, l, b, lim, t: solve_fabrik(o, a, l, b, lim, t),
}
ALL = pytest.mark.parametrize("name", list(SOLVERS))


def fit(name: str, origin, angles, lengths, base):
    """The limb solver takes exactly two bones: cut longer chains."""
    if name.startswith("limb"):
        return origin, angles[:2], lengths[:2], base
    return origin, angles, lengths, base


# --- limb ----------------------------------------------------------------------------------


@SETTINGS
@given(chains(2, 2), unit, st.floats(-180.0, 180.0), st.sampled_from([1.0, -1.0]))
def test_limb_reaches_every_reachable_target_and_bends_to_the_requested_side(
    chain, f, direction, bend
) -> None:
    origin, angles, lengths, base = chain
    l1, l2 = lengths
    eps = 1e-3 * (l1 + l2)
    lo, hi = abs(l1 - l2) + eps, l1 + l2 - eps
    target = at(origin, lo + f * (hi - lo), direction)
    out = solve_limb(origin, angles, lengths, base, free_limits(2), target, bend)
    joints = forward(origin, out, lengths)
    assert np.linalg.norm(joints[2] - target) < 1e-4
    # bend > 0: the second bone turns counter-clockwise from the first ...
    assert np.sign(math.sin(math.radians(out[1] - out[0]))) == bend
    # ... so the elbow lies to the right of origin -> target
    u, e = target - origin, joints[1] - origin
    assert np.sign(u[0] * e[1] - u[1] * e[0]) == -bend


@SETTINGS
@given(chains(2, 2), st.floats(1.0, 4.0), st.floats(-180.0, 180.0), st.sampled_from([1.0, -1.0]))
def test_limb_points_both_bones_at_an_unreachable_target(chain, k, direction, bend) -> None:
    origin, angles, lengths, base = chain
    target = beyond(origin, lengths, k, direction)
    out = solve_limb(origin, angles, lengths, base, free_limits(2), target, bend)
    assert_points_at(out, origin, target)


@SETTINGS
@given(chains(2, 2), st.floats(0.0, 0.999), st.floats(-180.0, 180.0), st.sampled_from([1.0, -1.0]))
def test_limb_folds_towards_a_target_inside_its_inner_reach(chain, f, direction, bend) -> None:
    origin, angles, lengths, base = chain
    inner = abs(lengths[0] - lengths[1])
    assume(inner > 1e-3)
    d = f * inner
    target = at(origin, d, direction)
    out = solve_limb(origin, angles, lengths, base, free_limits(2), target, bend)
    # no pose gets the effector nearer than inner - d
    assert effector_error(origin, out, lengths, target) == pytest.approx(inner - d, abs=1e-6)


@pytest.mark.parametrize("bend", [1.0, -1.0])
def test_limb_on_a_target_at_its_origin_keeps_the_first_angle_and_folds(bend) -> None:
    origin, lengths = np.array([3.0, -2.0]), np.array([2.0, 2.0])
    out = solve_limb(origin, np.array([37.0, 80.0]), lengths, 0.0, free_limits(2), origin, bend)
    assert np.all(np.isfinite(out))
    assert wrap(out[0] - 37.0) == pytest.approx(0.0, abs=1e-9)
    assert abs(wrap(out[1] - out[0])) == pytest.approx(180.0)
    assert effector_error(origin, out, lengths, origin) < 1e-9


# --- CCD and FABRIK -----------------------------------------------------------------------


def reachable_target(origin, lengths, f, direction) -> np.ndarray:
    total = lengths.sum()
    lo, hi = min_reach(lengths) + 0.05 * total, 0.9 * total
    assume(lo < hi)
    return at(origin, lo + f * (hi - lo), direction)


@SETTINGS
@given(chains(), unit, st.floats(-180.0, 180.0))
def test_ccd_reaches_reachable_targets(chain, f, direction) -> None:
    origin, angles, lengths, base = chain
    target = reachable_target(origin, lengths, f, direction)
    n = len(lengths)
    out = solve_ccd(origin, angles, lengths, base, free_limits(n), target, CCD_ITERATIONS, TOL)
    assert effector_error(origin, out, lengths, target) <= TOL


@SETTINGS
@given(chains(), unit, st.floats(-180.0, 180.0))
def test_fabrik_reaches_reachable_targets(chain, f, direction) -> None:
    origin, angles, lengths, base = chain
    target = reachable_target(origin, lengths, f, direction)
    n = len(lengths)
    out = solve_fabrik(
        origin, angles, lengths, base, free_limits(n), target, FABRIK_ITERATIONS, TOL
    )
    assert effector_error(origin, out, lengths, target) <= TOL


@pytest.mark.parametrize("solver", [solve_ccd, solve_fabrik])
@pytest.mark.parametrize("f", [0.3, 0.7, 0.99])
def test_a_straight_chain_bends_for_a_target_along_its_own_line(solver, f) -> None:
    # every joint sees effector and target in one direction: plain CCD turns nothing and
    # plain FABRIK stays on the line, so this is the case a solver must unstick from
    origin, lengths = np.zeros(2), np.array([1.0, 2.0, 1.5])
    target = at(origin, f * lengths.sum(), 30.0)
    out = solver(origin, np.full(3, 30.0), lengths, 0.0, free_limits(3), target, 5000, TOL)
    assert effector_error(origin, out, lengths, target) <= TOL


@SETTINGS
@given(chains(), st.booleans(), st.data())
def test_ccd_error_never_grows_from_pass_to_pass(chain, limited, data) -> None:
    # each CCD step turns the effector along its circle towards the target, and a limit only
    # stops the turn early: so the error after k passes can only fall, limits or not
    origin, angles, lengths, base = chain
    n = len(lengths)
    lims = data.draw(limits(n)) if limited else free_limits(n)
    target = at(origin, data.draw(unit) * lengths.sum(), data.draw(st.floats(-180.0, 180.0)))
    errors = [
        effector_error(
            origin, solve_ccd(origin, angles, lengths, base, lims, target, k), lengths, target
        )
        for k in range(11)  # k = 0: the start pose moved into its limits
    ]
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(errors)), errors


@SETTINGS
@given(
    st.floats(-180.0, 180.0),  # base
    st.floats(-180.0, 180.0),  # limit centre
    st.floats(0.0, 350.0),  # limit width
    unit,  # start, as a fraction of the allowed arc
    st.floats(-180.0, 180.0),  # direction of the target
    st.floats(0.1, 0.9),  # its distance, in bone lengths
)
def test_ccd_stops_a_limited_joint_at_its_bound_instead_of_swinging_through_the_gap(
    base, centre, width, f, direction, k
) -> None:
    # a joint turns the short way towards the target and stops at the first bound it meets;
    # it never comes out on the far side of the forbidden arc (a pose jump, not a motion)
    lo, hi = centre - width / 2, centre + width / 2
    start = lo + f * (hi - lo)
    origin, lengths = np.zeros(2), np.array([2.0])
    target = at(origin, 2.0 * k, direction)
    out = solve_ccd(
        origin, np.array([base + start]), lengths, base, np.array([[lo, hi]]), target, 5, 0.0, 1.0
    )
    turn = wrap(direction - base - start)
    assume(abs(turn) < 180.0 - 1e-6)  # exactly behind, either way round is the short one
    expected = min(hi, max(lo, start + turn))
    assert out[0] - base == pytest.approx(expected, abs=1e-9)


@SETTINGS
@given(chains(), unit, st.floats(-180.0, 180.0))
def test_ccd_and_fabrik_with_defaults_improve_on_the_start(chain, f, direction) -> None:
    origin, angles, lengths, base = chain
    target = reachable_target(origin, lengths, f, direction)
    start = effector_error(origin, angles, lengths, target)
    assume(start > TOL)
    lims = free_limits(len(lengths))
    for solver in (solve_ccd, solve_fabrik):
        out = solver(origin, angles, lengths, base, lims, target)  # 10 passes, tolerance 0.01
        assert effector_error(origin, out, lengths, target) < start, solver


@pytest.mark.parametrize("solver", [solve_ccd, solve_fabrik])
@SETTINGS
@given(chains(), st.floats(1.0, 4.0), st.floats(-180.0, 180.0))
def test_unreachable_target_gives_a_straight_chain_pointing_at_it(
    solver, chain, k, direction
) -> None:
    origin, angles, lengths, base = chain
    target = beyond(origin, lengths, k, direction)
    out = solver(origin, angles, lengths, base, free_limits(len(lengths)), target)
    assert_points_at(out, origin, target)


@pytest.mark.parametrize("solver", [solve_ccd, solve_fabrik])
@SETTINGS
@given(chains(1, 1), st.floats(0.01, 3.0), st.floats(-180.0, 180.0))
def test_a_single_bone_aims_at_the_target(solver, chain, k, direction) -> None:
    # 100 passes: CCD at velocity 0.5 halves the remaining angle each pass
    origin, angles, lengths, base = chain
    target = at(origin, k * lengths.sum(), direction)
    out = solver(origin, angles, lengths, base, free_limits(1), target, 100, 0.0)
    assert_points_at(out, origin, target)


# --- all solvers ---------------------------------------------------------------------------


@ALL
@SETTINGS
@given(chain=chains(), f=st.floats(0.0, 1.5), direction=st.floats(-180.0, 180.0))
def test_bone_lengths_are_preserved(name, chain, f, direction) -> None:
    origin, angles, lengths, base = fit(name, *chain)
    target = at(origin, f * lengths.sum(), direction)
    out = SOLVERS[name](origin, angles, lengths, base, free_limits(len(lengths)), target)
    assert out.shape == angles.shape and out.dtype == np.float64
    assert np.all(np.isfinite(out))
    joints = forward(origin, out, lengths)
    np.testing.assert_allclose(joints[0], origin)
    np.testing.assert_allclose(np.linalg.norm(np.diff(joints, axis=0), axis=1), lengths, atol=1e-9)


@ALL
@SETTINGS
@given(chain=chains(), f=st.floats(0.0, 1.5), direction=st.floats(-180.0, 180.0), data=st.data())
def test_limits_are_respected(name, chain, f, direction, data) -> None:
    origin, angles, lengths, base = fit(name, *chain)
    lims = data.draw(limits(len(lengths)))
    target = at(origin, f * lengths.sum(), direction)
    before = angles.copy()
    out = SOLVERS[name](origin, angles, lengths, base, lims, target)
    assert np.array_equal(angles, before)  # inputs are never written
    assert np.all(np.isfinite(out))
    assert_within_limits(out, base, lims)


@ALL
@SETTINGS
@given(chain=chains(), which=st.integers(0, 5), data=st.data())
def test_degenerate_targets_and_folded_chains_give_no_nan(name, chain, which, data) -> None:
    origin, angles, lengths, base = fit(name, *chain)
    n = len(lengths)
    if data.draw(st.booleans()):  # fold every joint back: joints may coincide
        angles = angles[0] + 180.0 * np.arange(n)
    if data.draw(st.booleans()):
        lengths = np.full(n, lengths[0])  # equal bones: a fold lands on the origin exactly
    joints = forward(origin, angles, lengths)
    target = joints[min(which, n)].copy()  # the origin, a joint or the effector itself
    target += data.draw(st.sampled_from([0.0, 1e-300, 1e-12, 1e-7]))
    lims = data.draw(limits(n)) if data.draw(st.booleans()) else free_limits(n)
    out = SOLVERS[name](origin, angles, lengths, base, lims, target)
    assert np.all(np.isfinite(out)), out


# --- mixing --------------------------------------------------------------------------------


@SETTINGS
@given(st.lists(st.tuples(angle, angle), min_size=1, max_size=6), unit)
def test_mix_angles_blends_along_the_shortest_path(pairs, mix) -> None:
    fk = np.array([p[0] for p in pairs])
    ik = np.array([p[1] for p in pairs])
    assert np.all(np.abs(wrap(mix_angles(fk, ik, 0.0) - fk)) < 1e-9)
    assert np.all(np.abs(wrap(mix_angles(fk, ik, 1.0) - ik)) < 1e-9)
    out = mix_angles(fk, ik, mix)
    gap = wrap(ik - fk)  # the short way round, at most 180
    np.testing.assert_allclose(out - fk, gap * mix, atol=1e-9)
    assert np.all(np.abs(out - fk) <= 180.0 * mix + 1e-9)


def test_mix_angles_crosses_the_seam_the_short_way() -> None:
    out = mix_angles(np.array([170.0, -170.0]), np.array([-170.0, 170.0]), 0.5)
    # half way between 170 and -170 is 180, not 0
    assert np.all(np.abs(wrap(out - 180.0)) < 1e-9)
