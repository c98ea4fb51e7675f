"""The render worker: one thread that owns the process's GL context (a context belongs to
one thread) and ticks every live session at its own rate.

Each session has its own tick grid (a `TickGrid`, the worker's own bookkeeping: the epoch
the session joined at and its period); the worker sleeps until the earliest tick is due,
steps that session, draws each of its outputs, converts them to yuv420p on the GPU and
publishes them (newest wins). A session that falls behind skips the ticks it missed and
carries on from now: it never queues ticks, so latency cannot build up.
A tracked session's grid is phase-locked to its face input (`TickGrid.align`): the camera
runs at its own rate and phase, and without the lock a new face waited for a random part
of a period (up to 16.7 ms at 60 Hz) before a tick used it.
Renderers are shared per (bundle key, size), so GL objects do not grow with the number of
sessions; views no session uses any more are released, except the warm ones (a worn face's
renderer holds its own atlas, and faces come and go).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from engine.assets import AvatarBundle
from engine.render import AvatarRenderer, create_context
from engine.render.looks import RenderStyle
from engine.render.video import VideoConverter
from engine.session import AvatarSession
from streaming.frames import frame_from_i420
from streaming.live import BACKGROUND, LiveSession

log = logging.getLogger(__name__)

# The phase lock (TickGrid.align); tuned in a simulation of a 30 Hz camera with 0.5-3 ms of
# arrival jitter against 60 Hz ticks: p95 wait 4-12 ms instead of 16, rate unchanged.
LEAD_BASE = 1e-3  # seconds a tick trails an arrival at the least
LEAD_SPREADS = 3.0  # ... plus this many times the arrivals' spread
LOCK_GAIN = 0.5  # the share of each phase error corrected at once
SPREAD_WEIGHT = 0.05  # the spread's moving average


@dataclass(eq=False)
class TickGrid:
    """Where a session's ticks fall: `epoch + index * period`. Frames carry exact 1/fps
    steps (or whole multiples after a skip), so their timestamps never drift."""

    session: LiveSession
    epoch: float
    index: int = 0  # ticks since epoch
    last: float = -math.inf  # when the newest tick ran (its slot on the grid)
    spread: float = 2e-3  # how far input arrivals stray from where the lock expects them

    @property
    def next_tick(self) -> float:
        return self.epoch + self.index * self.session.period

    def align(self, arrived: float) -> None:
        """Input (a tracked face) arrived at `arrived`: nudge the grid so that ticks fall a
        short lead after arrivals. A phase-locked loop, not a tick per arrival: each
        arrival moves the grid by half its phase error, earlier or later, so ticks stay at
        the session's rate (no extra frames) whatever the camera's rate and jitter. The
        lead grows with the arrivals' measured spread, so a jittery input is not missed by
        a tick that comes just before it (which would cost it a whole period)."""
        period = self.session.period
        lead = min(LEAD_BASE + LEAD_SPREADS * self.spread, period / 2)
        nxt = self.next_tick
        error = (nxt - arrived - lead + period / 2) % period - period / 2
        self.spread += SPREAD_WEIGHT * (abs(error) - self.spread)
        moved = max(nxt - LOCK_GAIN * error, arrived, self.last + period / 4)
        self.epoch += moved - nxt


class RenderWorker:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._grids: list[TickGrid] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None  # why the GL context could not be made
        self.renderers = 0  # live GL renderers (for leak checks)
        self._warm: tuple[tuple[AvatarBundle, int, str], ...] = ()
        self._changed = False  # a session left: views nobody uses may be released
        self._stills: list[
            tuple[AvatarBundle, int, str, float, RenderStyle | None, Future[np.ndarray]]
        ] = []

    def start(
        self, timeout: float = 20.0, warm: tuple[tuple[AvatarBundle, int, str], ...] = ()
    ) -> None:
        """Start the thread and wait until its GL context exists (or say why not). `warm`
        lists (bundle, size, layout) views to build first (atlas upload, shader compiles), so
        the first browser does not wait for them while its stream starts."""
        self._warm = warm
        self._thread = threading.Thread(target=self._run, name="render-worker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the render worker did not start in time")
        if self.error is not None:
            raise RuntimeError(self.error)

    def add(self, session: LiveSession) -> None:
        with self._lock:
            self._grids.append(TickGrid(session, self.clock()))
        session.on_input = lambda: self.arrived(session)
        self._wake.set()

    def arrived(self, session: LiveSession) -> None:
        """New input for `session` (called from its tracking worker's thread): lock its
        tick grid's phase to the input's (TickGrid.align)."""
        now = self.clock()
        with self._lock:
            for g in self._grids:
                if g.session is session:
                    g.align(now)
                    break
        self._wake.set()

    def remove(self, session: LiveSession) -> None:
        with self._lock:
            self._grids = [g for g in self._grids if g.session is not session]
            self._changed = True
        self._wake.set()

    def snapshot(
        self, bundle: AvatarBundle, size: int, framing: str = "full", seconds: float = 1.0,
        style: RenderStyle | None = None,
    ) -> Future[np.ndarray]:  # fmt: skip
        """A still of `bundle` idling for `seconds` (its springs settled), drawn on the
        render thread between ticks in render style `style`: (size, size, 4) premultiplied
        RGBA, top row first. The future fails with the renderer's error."""
        done: Future[np.ndarray] = Future()
        with self._lock:
            self._stills.append((bundle, size, framing, seconds, style, done))
        self._wake.set()
        return done

    @property
    def sessions(self) -> int:
        with self._lock:
            return len(self._grids)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # --- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            ctx = create_context()
        except Exception as e:
            self.error = f"no OpenGL context for rendering: {e}"
            self._ready.set()
            return
        views: dict[tuple[str, int], tuple[AvatarRenderer, dict[str, VideoConverter]]] = {}

        def view(
            bundle: AvatarBundle, size: int, layout: str
        ) -> tuple[AvatarRenderer, VideoConverter]:
            key = (bundle.key, size)
            if key not in views:
                renderer = AvatarRenderer(ctx, bundle.rig, bundle.pictures(), (size, size))
                views[key] = (renderer, {})
                self.renderers += 1
            renderer, converters = views[key]
            if layout not in converters:
                converters[layout] = VideoConverter(renderer, layout, BACKGROUND)
            return renderer, converters[layout]

        def release(key: tuple[str, int]) -> None:
            renderer, converters = views.pop(key)
            for c in converters.values():
                c.release()
            renderer.release()
            self.renderers -= 1

        try:
            for bundle, size, layout in self._warm:
                view(bundle, size, layout)
        except Exception as e:
            self.error = f"the renderer could not be prepared: {type(e).__name__}: {e}"
        self._ready.set()

        try:
            while not self._stopping:
                with self._lock:
                    stills, self._stills = self._stills, []
                for still in stills:
                    self._still(ctx, *still)
                with self._lock:
                    alive = [g for g in self._grids if not g.session.closed]
                    self._changed |= len(alive) != len(self._grids)
                    self._grids = alive
                    due = min(self._grids, key=lambda g: g.next_tick, default=None)
                    changed, self._changed = self._changed, False
                    used = {g.session.bundle.key for g in self._grids}
                if changed:
                    keep = used | {b.key for b, _, _ in self._warm}
                    for key in [k for k in views if k[0] not in keep]:
                        release(key)
                if due is None:
                    self._wake.wait(0.5)
                    self._wake.clear()
                    continue
                delay = due.next_tick - self.clock()
                if delay > 0:
                    self._wake.wait(delay)
                    self._wake.clear()
                    continue  # something may have been added or closed meanwhile
                self._tick(due, view)
        finally:
            for renderer, converters in views.values():
                for c in converters.values():
                    c.release()
                renderer.release()
            self.renderers = 0
            ctx.release()

    def _still(
        self, ctx, bundle: AvatarBundle, size: int, framing: str, seconds: float,
        style: RenderStyle | None, done: Future[np.ndarray],
    ) -> None:  # fmt: skip
        if not done.set_running_or_notify_cancel():
            return
        try:
            session = AvatarSession(bundle, seed=0)
            for _ in range(max(1, round(seconds * 60))):
                session.advance(1 / 60)
            # its own renderer, released at once: a still must not keep an atlas alive
            renderer = AvatarRenderer(ctx, bundle.rig, bundle.pictures(), (size, size))
            try:
                done.set_result(renderer.render(session.pose, framing, style=style).copy())
            finally:
                renderer.release()
        except Exception as e:
            done.set_exception(e)

    def _tick(self, grid: TickGrid, view) -> None:
        # the tick's time is its slot on the session's grid, stamped once and passed on
        s = grid.session
        now = grid.next_tick
        grid.last = now
        t0 = time.perf_counter()
        try:
            s.tick(now)
            for out in s.current_outputs():
                renderer, converter = view(s.bundle, out.size, out.layout)
                # a look's colours and render style
                renderer.draw(s.puppet.pose, s.framing, *s.filters, style=s.render_style)
                frame = frame_from_i420(converter.convert_i420(), grid.index / s.fps)
                out.frames += 1
                out.camera_at[frame.pts] = s.last_camera
                out.slot.publish(frame)
            s.error = None
        except Exception as e:  # one broken session must not stop the others
            if s.error is None:
                log.exception("session %s: rendering failed", s.id)
            s.error = f"rendering failed: {type(e).__name__}: {e}"
        # next tick on the session's own grid; missed ticks are skipped, never queued
        with self._lock:  # `arrived` moves the grid from the tracking thread
            grid.index += 1
            behind = self.clock() - grid.next_tick
            missed = math.floor(behind / s.period) + 1 if behind >= 0 else 0
            grid.index += missed
        s.stats.record(now, (time.perf_counter() - t0) * 1000, missed)
