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
