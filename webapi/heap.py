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

The C heap is the other half. Frames, packets and arrays come and go on many threads, and
glibc's malloc gives freed memory back to the system only from the top of each arena: a
server that had sessions and previews come and go for half an hour held 200-275 MB of freed
memory once they had all gone, counted in its RSS like memory in use (docs/PERFORMANCE.md,
"Soak"). `Trimmer` calls glibc's `malloc_trim` once a minute on a thread of its own (the
call releases the GIL), which hands those pages back, but only while nothing streams: a
trim holds each arena's lock while it walks it (25-33 ms for 150-200 MB), and a render
thread that allocated meanwhile would miss its frame. While streams run, their freed
memory is the pool their next frames come from.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import threading
import time
from collections.abc import Callable
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


TRIM_EVERY_S = 60.0  # how often a Trimmer hands free pages back (see the module's docstring)


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS)."""
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def rss_mb() -> float:
    """This process's resident memory in MB (Linux), or 0.0 where /proc has no statm."""
    try:
        with open("/proc/self/statm", "rb") as f:
            pages = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass(frozen=True)
class Trim:
    ms: float  # how long malloc_trim took (other threads' mallocs may wait on an arena)
    released_mb: float  # RSS before minus after


class Trimmer:
    """Hands the C heap's free pages back to the system every `every_s` seconds while
    `idle()` says nothing real-time runs (always, without one), on a daemon thread of its
    own. `idle` is called on that thread. Where the C library has no `malloc_trim`, it does
    nothing (`available` is False)."""

    def __init__(
        self, every_s: float = TRIM_EVERY_S, idle: Callable[[], bool] | None = None
    ) -> None:
        if not every_s > 0:
            raise ValueError(f"every_s must be a positive number of seconds, not {every_s!r}")
        self.every_s = every_s
        self.idle = idle
        self._trim = _malloc_trim()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.trims = 0
        self.last: Trim | None = None

    @property
    def available(self) -> bool:
        return self._trim is not None

    def trim(self) -> Trim | None:
        """Trim now, on the calling thread (the GIL is free meanwhile); None when not
        available."""
        if self._trim is None:
            return None
        before = rss_mb()
        t0 = time.perf_counter()
        self._trim(0)
        done = Trim((time.perf_counter() - t0) * 1e3, before - rss_mb())
        self.trims += 1
        self.last = done
        # an idle server trims every minute: only a trim that gave something back is news
        log.log(
            logging.INFO if done.released_mb >= 1.0 else logging.DEBUG,
            "malloc_trim: %.1f MB handed back in %.1f ms",
            done.released_mb,
            done.ms,
        )
        return done

    def start(self) -> None:
        """Start trimming every `every_s` seconds (a no-op when running or not available)."""
        if self._trim is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="heap-trim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                if self.idle is None or self.idle():
                    self.trim()
            except Exception:  # a trim that fails must not end the server's trimming
                log.exception("malloc_trim failed")
