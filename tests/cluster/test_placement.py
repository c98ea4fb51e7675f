"""The placement policy (webapi/cluster/placement.py) as plain data: where a session goes,
how slots are counted through reserve/commit/cancel/end, sticky resumes, draining, and a
box that leaves. No Ray: the directory actor and the 1,000-box simulation run this object."""

from __future__ import annotations

import pytest

from webapi.cluster.placement import NoCapacity, Placement, Ticket


def boxes(**slots: int) -> Placement:
    p = Placement()
    for box, n in slots.items():
        p.join(box, f"node-{box}", n)
    return p


def place(p: Placement, sid: str, *, resume: bool = False) -> Ticket:
    ticket = p.reserve(sid, resume=resume)
    p.commit(ticket)
    return ticket


def counts(p: Placement) -> dict[str, tuple[int, int]]:
    return {b.id: (b.used, b.pending) for b in p.boxes.values()}


def test_join_refuses_no_slots_and_twice() -> None:
    p = boxes(a=2)
    with pytest.raises(ValueError, match="at least one slot"):
        p.join("b", "n", 0)
    with pytest.raises(ValueError, match="joined already"):
        p.join("a", "n", 3)


def test_most_free_slots_first_then_load_then_used_then_id() -> None:
    p = boxes(a=2, b=3)
    assert place(p, "s1").box == "b"  # 3 free against 2
    # 2 free each: the less loaded wins
    p.report("b", 0.5)
    assert p.reserve("s2").box == "a"
    p = boxes(x=2, y=2)
    assert p.reserve("t1").box == "x"  # all equal: the id, so runs repeat


def test_fills_to_capacity_then_busy_naming_it() -> None:
    p = boxes(a=2, b=3)
    for i in range(5):
        place(p, f"s{i}")
    assert counts(p) == {"a": (2, 0), "b": (3, 0)}
    assert p.used() == p.capacity() == 5
    with pytest.raises(NoCapacity, match="every render worker is full"):
        p.reserve("s5")


def test_pending_counts_before_commit_and_cancel_frees_it() -> None:
    p = boxes(a=1)
    ticket = p.reserve("s1")
    assert counts(p) == {"a": (0, 1)}
    with pytest.raises(NoCapacity):  # the pending slot is taken already
        p.reserve("s2")
    p.cancel(ticket)
    assert counts(p) == {"a": (0, 0)}
    assert "s1" not in p.where
    place(p, "s2")
    assert counts(p) == {"a": (1, 0)}


def test_end_frees_the_slot_once() -> None:
    p = boxes(a=1)
    place(p, "s1")
    p.end("s1")
    p.end("s1")  # twice: nothing more to free
    p.end("never-placed")
    assert counts(p) == {"a": (0, 0)} and p.where == {}


def test_resume_is_sticky_and_counts_nothing_new() -> None:
    p = boxes(a=1, b=3)
    place(p, "s1")  # on b (more free)
    ticket = p.reserve("s1", resume=True)
    assert ticket == Ticket("b", "s1", sticky=True)
    p.commit(ticket)
    assert counts(p) == {"a": (0, 0), "b": (1, 0)}
    p.cancel(ticket)  # a failed sticky resume frees nothing
    assert counts(p) == {"a": (0, 0), "b": (1, 0)}


def test_resume_of_a_session_that_ended_meanwhile_is_counted_again() -> None:
    p = boxes(a=2)
    place(p, "s1")
    ticket = p.reserve("s1", resume=True)
    p.end("s1")  # its page closed while the resume was being set up
    p.commit(ticket)
    assert counts(p) == {"a": (1, 0)}
    assert p.where == {"s1": "a"}


def test_resume_of_a_gone_box_places_anew() -> None:
    p = boxes(a=2, b=2)
    place(p, "s1")  # on a (the id breaks the tie)
    assert p.leave("a") == ["s1"]
    assert p.where == {}
    ticket = p.reserve("s1", resume=True)
    assert ticket == Ticket("b", "s1")
    p.commit(ticket)
    assert counts(p) == {"b": (1, 0)}


def test_draining_takes_no_new_sessions_and_sticky_resumes_move() -> None:
    p = boxes(a=3, b=1)
    place(p, "s1")  # on a
    p.drain("a")
    assert p.capacity() == 1
    ticket = p.reserve("s1", resume=True)
    assert ticket == Ticket("b", "s1")  # moves on, not sticky
    p.commit(ticket)
    assert counts(p) == {"a": (0, 0), "b": (1, 0)}
    assert p.where == {"s1": "b"}
    with pytest.raises(NoCapacity):
        p.reserve("s2")


def test_leave_drops_the_box_and_its_sessions_only() -> None:
    p = boxes(a=2, b=2)
    for sid in ("s1", "s2", "s3"):
        place(p, sid)
    assert p.where == {"s1": "a", "s2": "b", "s3": "a"}
    assert p.leave("a") == ["s1", "s3"]
    assert p.where == {"s2": "b"}
    assert p.leave("a") == []  # gone already
    assert p.used() == 1


def test_commit_after_its_box_left_counts_nothing() -> None:
    p = boxes(a=1, b=1)
    ticket = p.reserve("s1")
    p.leave(ticket.box)
    p.commit(ticket)
    p.cancel(ticket)
    assert p.where == {} and p.used() == 0


def test_report_is_clamped_and_ignores_unknown_boxes() -> None:
    p = boxes(a=1)
    p.report("a", 7.0)
    assert p.boxes["a"].load == 1.0
    p.report("a", -1)
    assert p.boxes["a"].load == 0.0
    p.report("nope", 0.5)
    assert set(p.boxes) == {"a"}


def test_snapshot_says_each_box() -> None:
    p = boxes(a=2)
    place(p, "s1")
    p.reserve("s2")
    assert p.snapshot() == {
        "a": {
            "node": "node-a",
            "slots": 2,
            "used": 1,
            "pending": 1,
            "load": 0.0,
            "draining": False,
            "sessions": ["s1"],
        }
    }


def test_adopted_sessions_count_where_they_run() -> None:
    """A box re-joining with its live sessions: counted there (moved from anywhere else),
    once each, even past its slots (they run; placement only stops adding to it)."""
    p = boxes(a=1, b=2)
    place(p, "s1")  # on b (the most free slots)
    assert p.where["s1"] == "b"
    p.adopt("a", "s1")
    p.adopt("a", "s1")
    p.adopt("a", "s2")
    assert p.where == {"s1": "a", "s2": "a"}
    assert (p.boxes["a"].used, p.boxes["b"].used) == (2, 0)
    assert p.boxes["a"].free == -1 and p.reserve("s3").box == "b"
