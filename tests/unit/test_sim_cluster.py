"""The cluster simulation (tests/bench/sim_cluster.py) at a small size: it drives the real
placement policy, never puts a box over its slots, and its books add up."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from tests.bench.sim_cluster import Config, Result, parse, report, simulate, validate
from webapi.cluster.placement import Placement

SMALL = Config(
    boxes=40,
    sessions=3_000,
    cpu_slots=90,
    gpu_slots=100,
    fronts=4,
    minutes=12.0,
    session_minutes=20.0,
    mtbf_hours=1.0,  # about 8 failures in 12 minutes
    rack_size=3,
    rack_minute=6.0,
    drain_share=0.1,
    drain_batch=2,
    drain_minute=1.0,
    drain_timeout_s=60.0,
    restart_s=30.0,
    check=True,
)


@pytest.fixture(scope="module")
def small() -> Result:
    return simulate(SMALL)


def test_it_drives_the_clusters_own_placement(small: Result) -> None:
    assert type(small.placement) is Placement
    assert small.reserves > SMALL.sessions  # every session was placed by Placement.reserve


def test_no_box_is_ever_over_its_slots_and_the_books_match(small: Result) -> None:
    assert small.violations == []
    for box in small.placement.boxes.values():
        assert box.used + box.pending <= box.slots
        assert box.used == len(box.sessions)
    assert small.live <= set(small.placement.where)


def test_failures_and_drains_happened(small: Result) -> None:
    c = small.counts
    assert c["box failures"] >= 3 + 1  # the rack and at least one more
    assert 3 <= c["boxes drained"] <= 4  # 10% of 40; one may have failed before its turn
    assert c["failure: sessions lost"] > 100
    assert c["drain: sessions lost"] > 0


def test_every_lost_session_reconnected_or_is_counted(small: Result) -> None:
    c = small.counts
    for kind in ("failure", "drain"):
        assert c[f"{kind}: sessions lost"] == (
            c[f"{kind}: reconnected"]
            + c[f"{kind}: reconnect failed"]
            + c[f"{kind}: left while reconnecting"]
            + small.in_flight[kind]
        )
        assert len(small.reconnect_s[kind]) == c[f"{kind}: reconnected"]
    # A page notices a dead box by the 2 s no-frames rule: nobody is back before it.
    assert min(small.reconnect_s["failure"]) >= SMALL.detect_s
    assert max(small.reconnect_s["failure"]) <= SMALL.give_up_s + 5


def test_sessions_add_up(small: Result) -> None:
    c = small.counts
    assert c["initial"] == SMALL.sessions
    assert c["arrivals"] == (
        c["new placed"]
        + c["new refused (NoCapacity)"]
        + c["new refused (dead box twice)"]
        + c["left while opening"]
        + small.opening
    )
    back = c["failure: reconnected"] + c["drain: reconnected"]
    lost = c["failure: sessions lost"] + c["drain: sessions lost"]
    assert len(small.live) == c["initial"] + c["new placed"] - c["departures"] - lost + back


def test_an_overloaded_cluster_refuses_and_keeps_its_books() -> None:
    r = simulate(replace(SMALL, sessions=6_000, minutes=5.0))  # more than its 3,680 slots
    assert r.counts["fill refused"] > 0
    assert r.counts["new refused (NoCapacity)"] > 0
    assert r.violations == []
    assert r.min_free == 0
    assert "refused (NoCapacity)" in report(r)


def test_the_same_seed_gives_the_same_run(small: Result) -> None:
    again = simulate(replace(SMALL, minutes=4.0))
    once = simulate(replace(SMALL, minutes=4.0))
    assert again.counts == once.counts
    assert again.reconnect_s == once.reconnect_s
    other = simulate(replace(SMALL, minutes=4.0, seed=7))
    assert other.reconnect_s != once.reconnect_s


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"boxes": 0}, "boxes"),
        ({"sessions": 10**7}, "sessions"),
        ({"gpu_share": 1.5}, "gpu_share"),
        ({"minutes": math.nan}, "minutes"),
        ({"fronts": 0, "seed": -1}, "seed"),
    ],
)
def test_sizes_past_the_limits_are_refused_by_name(change: dict[str, float], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        validate(replace(Config(), **change))


def test_the_command_line_refuses_a_bad_size(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(["--boxes", "50000"])
    assert "boxes must be within 1..20000" in capsys.readouterr().err
    assert parse(["--boxes", "12", "--seed", "3"]).boxes == 12
