"""A long-running server's heap and Python's cyclic garbage collector.

A collection of the oldest generation walks every object the collector tracks, and the
thread that runs it holds the GIL throughout: every other Python thread stops, the render
thread and the event loop included. After start-up a server holds about 240,000 such objects
(modules, functions and classes: numba's, MediaPipe's, matplotlib's by way of MediaPipe,
aiortc's), none of which will ever be garbage, and a full collection took 60-110 ms on a
2-core box: a hitch of four to seven frames in every 60 fps stream, once every two to five
minutes while serving (docs/PERFORMANCE.md, "The live server").

`settle()`, called once start-up is done, collects what start-up left behind and then moves
every object still alive into the collector's permanent generation (`gc.freeze`), which
later collections do not walk: they then walk only what the server made since (6-7 ms
with one live session, 28 ms with a preview's 24 viewers connected).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

_lock = threading.Lock()
_settled = False


@dataclass(frozen=True)
class Settled:
    frozen: int  # objects moved out of the collector's way
    collect_ms: float  # the full collection that cleared start-up's garbage first


def settle() -> Settled | None:
    """Once a process: collect, then freeze every live object (see the module's docstring).
    Later calls do nothing and return None, so an object made after start-up is never
    frozen by a second call (a frozen cycle that becomes garbage is never freed).
    Call it from the process's own entry point (`digigami serve`, a render node) once the
    heavy modules are loaded, not from code a test process runs many times."""
    global _settled
    with _lock:
        if _settled:
            return None
        _settled = True
    t0 = time.perf_counter()
    gc.collect()
    took = (time.perf_counter() - t0) * 1e3
    gc.freeze()
    done = Settled(gc.get_freeze_count(), took)
    log.info(
        "start-up heap settled: %d objects frozen (a full collection walked them in %.0f ms)",
        done.frozen,
        done.collect_ms,
    )
    return done
