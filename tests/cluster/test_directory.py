"""The directory's bookkeeping without a cluster: its class is plain Python until Ray makes
it an actor (webapi/cluster/directory.py), so its rules are checked here directly."""

from __future__ import annotations

import asyncio

import pytest

from webapi.cluster import directory as directory_module
from webapi.cluster.directory import Directory


def _opened(d: Directory) -> tuple[str, str]:
    d.placement.join("a", "node-a", 2)
    d.nodes["a"] = object()  # a box's actor handle: only looked up, never called here
    ticket, _, (sid, token) = asyncio.run(d.reserve(None))
    assert ticket.box == "a" and d.placement.used() == 1
    return sid, token


def test_a_front_that_dies_mid_open_does_not_keep_its_slot(monkeypatch) -> None:
    d = Directory()
    sid, _ = _opened(d)
    d._expire_openings()  # young: kept, its front may still commit
    assert sid in d.opening and d.placement.used() == 1
    monkeypatch.setattr(directory_module, "OPEN_WITHIN", -1.0)
    d._expire_openings()
    assert sid not in d.opening and d.placement.used() == 0
    assert d.placement.boxes["a"].free == 2


def test_a_committed_session_is_not_expired(monkeypatch) -> None:
    d = Directory()
    sid, _ = _opened(d)
    ticket, _ = d.opening[sid]
    asyncio.run(d.commit(ticket, "puppet"))
    monkeypatch.setattr(directory_module, "OPEN_WITHIN", -1.0)
    d._expire_openings()
    assert d.placement.where == {sid: "a"} and d.placement.used() == 1


def test_a_resume_needs_its_token() -> None:
    d = Directory()
    sid, token = _opened(d)
    ticket, _ = d.opening[sid]
    asyncio.run(d.commit(ticket, "puppet"))
    with pytest.raises(PermissionError):
        asyncio.run(d.reserve(sid, token="x" * len(token), resume=True))
    with pytest.raises(PermissionError):
        asyncio.run(d.reserve(sid, token=None, resume=True))


def test_a_late_end_of_the_session_a_page_resumed_frees_nothing() -> None:
    # A page reloads: its box ends the old session (serial 1) and tells the directory, but
    # that message can come after the page's resume was reserved, or after it committed:
    # it must not end the resumed session (serial 2), whose slot would then go uncounted.
    d = Directory()
    sid, token = _opened(d)

    async def alive(box: str) -> bool:
        return True  # the box's actor answers (there is no actor here to ping)

    d._alive = alive  # type: ignore[method-assign]
    ticket, _ = d.opening[sid]
    asyncio.run(d.commit(ticket, "puppet", None, 1))
    ticket2, _, _ = asyncio.run(d.reserve(sid, token=token, resume=True))
    asyncio.run(d.ended(sid, "a", 1))  # the old one's end, while the resume is opening
    asyncio.run(d.commit(ticket2, "puppet", None, 2))
    assert d.placement.where == {sid: "a"} and d.placement.used() == 1
    asyncio.run(d.ended(sid, "a", 1))  # ... or after the resume committed
    assert d.placement.where == {sid: "a"} and d.placement.used() == 1
    asyncio.run(d.ended(sid, "a", 2))  # the resumed session's own end frees its slot
    assert d.placement.where == {} and d.placement.used() == 0


def test_a_session_that_ends_before_its_commit_frees_its_slot() -> None:
    d = Directory()
    sid, _ = _opened(d)
    ticket, _ = d.opening[sid]
    asyncio.run(d.ended(sid, "a", 7))  # the page left before the front committed
    asyncio.run(d.commit(ticket, "puppet", None, 7))
    assert d.placement.where == {} and d.placement.used() == 0
