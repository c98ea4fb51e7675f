"""webapi/heap.py: a server's start-up heap is moved out of the garbage collector's way once,
so a full collection no longer stops every stream for as long as it took to walk it; and
the C heap's freed pages are handed back to the system while nothing streams, so an idle
server's RSS after a busy evening is what it uses, not what it once used."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from aiohttp import web

from streaming.manager import SessionManager
from tests.security.server import Server
from webapi import heap
from webapi.server import TRIMMER, _start_trimming, _stop_trimming, trimmer_for

# run in a fresh interpreter: settle() works once a process, and freezing the test
# process's own heap would keep its later garbage cycles for good
SETTLE = textwrap.dedent(
    """
    import gc, json, weakref
    from webapi import heap

    class Node:
        pass

    kept = [Node() for _ in range(100_000)]  # start-up's objects, alive for good
    a, b = Node(), Node()
    a.other, b.other = b, a  # start-up's garbage: a cycle only a collection frees
    gone = weakref.ref(a)
    del a, b
    tracked = len(gc.get_objects())
    first = heap.settle()
    walked = len(gc.get_objects())  # what a full collection walks from now on
    later = [Node() for _ in range(1000)]
    second = heap.settle()
    print(json.dumps({
        "tracked": tracked, "walked": walked, "frozen": first.frozen,
        "cycle_freed": gone() is None, "second": second,
        "frozen_later": gc.get_freeze_count(),
    }))
    """
)


def test_settle_freezes_what_is_alive_once_and_frees_start_ups_garbage_first() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SETTLE], capture_output=True, text=True, timeout=120, check=True
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["tracked"] > 100_000
    # the live objects are frozen: a full collection walks a few of them at most
    assert r["frozen"] >= 100_000
    assert r["walked"] < r["tracked"] / 20
    # the garbage cycle was collected before the freeze, not kept for good
    assert r["cycle_freed"]
    # a second call does nothing: objects made after start-up stay collectable
    assert r["second"] is None
    assert r["frozen_later"] == r["frozen"]


def test_digigami_serve_settles_its_heap_after_start_up(tmp_path: Path) -> None:
    server = Server(tmp_path).start()
    try:
        line = next((ln for ln in server.text().splitlines() if "heap settled" in ln), None)
        assert line is not None, server.tail()
        m = re.search(r"(\d+) objects frozen", line)
        assert m is not None, line
        # the server's modules, the rig and the warm landmarker: well over 100,000 objects
        assert int(m[1]) > 100_000
    finally:
        server.stop()


# run in a fresh interpreter, whose heap is this script's alone: 40 MB of 100 KB blocks
# (under glibc's mmap threshold, so they come from the heap), one more block above them,
# then the 40 MB freed. free() gives back only the top of the heap, which the last block
# holds, so the 40 MB stay resident until a trim.
FREED_BELOW_THE_TOP = textwrap.dedent(
    """
    import json
    from webapi import heap

    blocks = [b"\\x01" * 100_000 for _ in range(400)]
    top = b"\\x02" * 100_000
    with_blocks = heap.rss_mb()
    del blocks
    freed = heap.rss_mb()
    trimmer = heap.Trimmer()
    done = trimmer.trim()
    print(json.dumps({
        "available": trimmer.available, "with_blocks": with_blocks, "freed": freed,
        "trimmed": heap.rss_mb(), "released": done and done.released_mb,
        "trims": trimmer.trims, "top": len(top),
    }))
    """
)


def test_a_trim_hands_freed_heap_memory_back_to_the_system() -> None:
    out = subprocess.run(
        [sys.executable, "-c", FREED_BELOW_THE_TOP],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if not r["available"]:
        pytest.skip("this C library has no malloc_trim")
    # freeing alone kept the memory: it lies below the last block
    assert r["with_blocks"] - r["freed"] < 10, r
    # the trim gave back most of the 40 MB, and said so
    assert r["freed"] - r["trimmed"] > 30, r
    assert r["released"] > 30, r
    assert r["trims"] == 1


def _wait_for(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_trimmer_trims_on_its_own_thread_until_stopped() -> None:
    trimmer = heap.Trimmer(every_s=0.05)
    if not trimmer.available:
        pytest.skip("this C library has no malloc_trim")
    trimmer.start()
    trimmer.start()  # a second start keeps the one thread
    try:
        _wait_for(lambda: trimmer.trims >= 3)
        assert trimmer.last is not None and trimmer.last.ms >= 0.0
    finally:
        trimmer.stop()
    stopped_at = trimmer.trims
    time.sleep(0.2)
    assert trimmer.trims == stopped_at


def test_the_trimmer_waits_while_something_streams() -> None:
    streaming = True
    trimmer = heap.Trimmer(every_s=0.02, idle=lambda: not streaming)
    if not trimmer.available:
        pytest.skip("this C library has no malloc_trim")
    trimmer.start()
    try:
        time.sleep(0.3)  # about 15 periods, each one asking
        assert trimmer.trims == 0
        streaming = False  # the last peer left
        _wait_for(lambda: trimmer.trims >= 1)
    finally:
        trimmer.stop()


def test_a_trimmer_needs_a_positive_period() -> None:
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="every_s"):
            heap.Trimmer(every_s=bad)


def test_digigami_serve_starts_trimming_with_the_app_and_stops_at_its_cleanup() -> None:
    app = web.Application()
    app[TRIMMER] = trimmer = heap.Trimmer(every_s=0.05)
    if not trimmer.available:
        pytest.skip("this C library has no malloc_trim")
    asyncio.run(_start_trimming(app))
    try:
        _wait_for(lambda: trimmer.trims >= 1)
    finally:
        asyncio.run(_stop_trimming(app))
    stopped_at = trimmer.trims
    time.sleep(0.2)
    assert trimmer.trims == stopped_at


def test_a_servers_trimmer_is_idle_exactly_while_no_peer_is_connected() -> None:
    manager = SessionManager()
    trimmer = trimmer_for(manager)
    assert trimmer.idle is not None and trimmer.idle()
    manager.peers["a-peer"] = object()  # type: ignore[assignment]  # a peer connected
    assert not trimmer.idle()
    del manager.peers["a-peer"]
    assert trimmer.idle()
