"""The pieces of admission on their own (no GL, no server): slots that are released on
every way out, server-issued session ids, the control channel's limits, the media host's
check. The end-to-end attacks are tests/security/."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from streaming import control
from streaming.admission import Busy, Slots
from streaming.idents import IdentRegistry
from streaming.manager import NotFound, SessionManager
from streaming.network import media_host
from tests.streaming.peers import bare_offer


def test_a_reservation_is_released_by_any_exception_and_only_once() -> None:
    slots = Slots(2, "things")
    with pytest.raises(ValueError), slots.reserve():
        raise ValueError("bad offer")
    assert slots.used == 0
    with slots.reserve() as kept:
        kept.hand_over()
    assert slots.used == 1
    with slots.reserve():  # not handed over: not kept either
        pass
    assert slots.used == 1
    kept.release()
    kept.release()
    assert slots.used == 0
    a, b = slots.reserve(), slots.reserve()
    with pytest.raises(Busy, match="busy: 2 things already"):
        slots.reserve()
    a.release()
    b.release()
    assert slots.free == 2


def test_issued_ids_resume_only_with_their_token_until_they_expire() -> None:
    now = [0.0]
    ids = IdentRegistry(ttl=100.0, limit=3, clock=lambda: now[0])
    sid, token = ids.issue()
    with pytest.raises(PermissionError, match="not issued"):
        ids.check(sid, token)  # issued, but no session opened with it: not kept
    ids.keep(sid, token)
    ids.check(sid, token)
    with pytest.raises(PermissionError, match="someone else"):
        ids.check(sid, "x" * 22)
    with pytest.raises(PermissionError, match="not issued"):
        ids.check("made-up-by-a-client", token)
    now[0] = 90.0
    ids.check(sid, token)  # a use keeps it another ttl
    now[0] = 180.0
    ids.check(sid, token)
    now[0] = 281.0
    with pytest.raises(PermissionError, match="not issued"):
        ids.check(sid, token)
    for _ in range(5):
        ids.keep(*ids.issue())
    assert len(ids) == 3  # bounded: the least recently used are forgotten


def test_control_channel_limits_never_raise() -> None:
    sent: list[dict[str, Any]] = []
    applied: list[Any] = []
    now = [0.0]

    def apply(msg: Any) -> None:
        if msg.get("type") == "boom":
            raise RuntimeError("a bug of ours")
        applied.append(msg)

    ch = control.ControlChannel(apply, sent.append, clock=lambda: now[0])
    ch.on_message('{"type": "calibrate"}')
    ch.on_message("[" * 5000 + "]" * 5000)
    ch.on_message(b"\x00")
    ch.on_message('{"type": "boom"}')  # our exception: answered, not raised
    assert applied == [{"type": "calibrate"}]
    words = [m["message"] for m in sent]
    assert "too long" in words[0] and "binary" in words[1] and "internal error" in words[2]
    sent.clear()
    for _ in range(200):  # at one instant: the burst, then refused
        ch.on_message('{"type": "calibrate"}')
    assert len(applied) == 1 + control.BURST - 4  # every message takes a token, bad ones too
    assert len(sent) == 1 and "too many" in sent[0]["message"]
    now[0] = 1.0  # a second later: the rate's worth again
    ch.on_message('{"type": "calibrate"}')
    assert len(applied) == 1 + control.BURST - 4 + 1


def test_the_media_host_is_checked_when_the_manager_is_made() -> None:
    assert media_host(None) is None and media_host("0.0.0.0") is None and media_host("::") is None
    assert media_host("localhost") == "127.0.0.1" and media_host("127.0.0.1") == "127.0.0.1"
    with pytest.raises(ValueError):
        media_host("203.0.113.9")


def test_a_cancelled_or_failed_open_gives_its_slot_back_and_builds_a_face_once() -> None:
    """With one slot: a request cancelled while its face is being built frees it; two
    requests for one avatar share one build."""
    builds: list[str] = []
    release = threading.Event()

    def faces(avatar: str):
        builds.append(avatar)
        release.wait(10)
        raise LookupError(f'no avatar "{avatar}"')

    async def main() -> None:
        manager = SessionManager(faces=faces, max_sessions=2)
        pcs_bodies = [await bare_offer("puppet") for _ in range(3)]
        bodies = [{**b, "avatar": "abc123"} for _, b in pcs_bodies]
        first = asyncio.create_task(manager.open_puppet(bodies[0]))
        second = asyncio.create_task(manager.open_puppet(bodies[1]))
        await asyncio.sleep(0.2)
        assert manager.health()["reserved"]["sessions"] == 2
        with pytest.raises(Busy):  # the limit holds while both are being set up
            await manager.open_puppet(bodies[2])
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert manager.health()["reserved"]["sessions"] == 1
        release.set()
        with pytest.raises(NotFound):
            await second
        assert manager.health()["reserved"]["sessions"] == 0
        for pc, _ in pcs_bodies:
            await pc.close()

    started = time.monotonic()
    asyncio.run(main())
    assert builds == ["abc123"], builds
    assert time.monotonic() - started < 30  # (a hang would be a lost release)
