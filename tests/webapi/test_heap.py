"""webapi/heap.py: a server's start-up heap is moved out of the garbage collector's way once,
so a full collection no longer stops every stream for as long as it took to walk it."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.security.server import Server

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
    import json

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
