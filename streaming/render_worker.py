"""The render worker: one thread that owns the process's GL context (a context belongs to
one thread) and ticks every live session at its own rate.

Each session has its own tick grid (a `TickGrid`, the worker's own bookkeeping: the epoch
the session joined at and its period); the worker sleeps until the earliest tick is due,
steps that session, draws each of its outputs, converts them to yuv420p on the GPU and
publishes them (newest wins). A tick a little late still runs; a session that falls
further behind skips the ticks it missed and carries on from now: it never queues ticks,
so latency cannot build up.
A tracked session's grid is phase-locked to its face input (`TickGrid.align`): the camera
runs at its own rate and phase, and without the lock a new face waited for a random part
of a period (up to 16.7 ms at 60 Hz) before a tick used it. The slots trail the faces by a
lead, so that a late face still finds its tick unrun; a face on time runs its tick at once
(a pull: that tick only, stamped when it ran), so it does not wait out the lead.
Renderers are shared per (bundle key, size), so GL objects do not grow with the number of
sessions; views no session uses any more are released, except the warm ones (a worn face's
renderer holds its own atlas, and faces come and go). A look no renderer draws yet has its
geometry made by the still worker (streaming/stills.py) while its session ticks undrawn:
made here, it stopped every session for 0.5-2 s.
A puppet session's scene (engine/render/scene.py) decides its outputs' size (every output,
the OBS/WHEP views and the page's own preview alike), where the avatar stands and whether
it is mirrored (composed into the framing's rect), and what is behind it (a colour or a
picture, composited by the session's own video converters: two sessions sharing a renderer
may show different backgrounds). Each size is drawn once per tick, however many layouts
are converted from it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from engine.assets import AvatarBundle
from engine.effects import EffectData
from engine.render import AvatarRenderer, create_context
from engine.render.context import is_software
from engine.render.looks import RenderStyle
from engine.render.overlay import OverlayPass
from engine.render.renderer import RigGeometry
from engine.render.scene import SOFTWARE_FPS, Scene, cover
from engine.render.video import VideoConverter
from streaming.frames import frame_from_i420
from streaming.live import BACKGROUND, LiveSession, Output
from streaming.market_items import VideoBackdrop
from streaming.stills import StillWorker

Size = tuple[int, int]

log = logging.getLogger(__name__)

# The phase lock (TickGrid.align); tuned in a simulation of a 30 Hz camera with 0.5-3 ms of
# arrival jitter against 60 Hz ticks (tests/streaming/test_tick_lock.py): p95 wait 2-8 ms
# instead of 16, rate unchanged. Two spreads, not three: on a live server-tracked session
# that took 6 ms off motion-to-photon's p95 (docs/PERFORMANCE.md, 2026-12-04); the price is a
# 60 Hz input with 3 ms of jitter, whose late arrivals miss their tick more often (p95 wait
# 15 ms in the simulation, against 9 with three spreads).
LEAD_BASE = 1e-3  # seconds a tick trails an arrival at the least
LEAD_SPREADS = 2.0  # ... plus this many times the arrivals' spread
# a tick due this share of a period ago still runs (TickGrid.advance); later ones are skipped
LATE_LIMIT = 0.5
LOCK_GAIN = 0.5  # the share of each phase error corrected at once
# The lock's net moves of the grid (TickGrid.align) stay within MAX_DRIFT, of which 1/e
# leaks away every DRIFT_S: a steady drift is followed at 10 ms a second at most, which
# costs or adds at most 0.6 of 60 frames a second.
MAX_DRIFT = 10e-3
DRIFT_S = 1.0
SPREAD_WEIGHT = 0.05  # the spread's moving average
# A face runs the tick it is for at once (TickGrid.align), but never sooner than MIN_GAP of
# a period after the tick before: the lead above then only catches late faces and costs
# on-time ones nothing. In the lock's simulation (30 Hz, 4-6 ms of jitter, 6 ms ticks) a
# face's p95 wait fell from 10-11 to 5-6 ms and its median from 6-7 to 0; half a period
# and not more, since a 0.6 gap gave 7-8 ms and 0.75 gave 9-11 ms at p95.
MIN_GAP = 0.5
BACKDROP_RETRY_S = 2.0  # a scene's picture that could not be had is tried again after this
FITTED_KEPT = 4  # scene pictures kept fitted to an output size


@dataclass(eq=False)
class TickGrid:
    """Where a session's ticks fall: `epoch + index * period`, each tick on its slot or a
    little before it where a face pulled it (`align`). A frame's timestamp is its slot's
    index over the rate, less the pull, so timestamps never drift."""

    session: LiveSession
    epoch: float
    index: int = 0  # ticks since epoch
    last: float = -math.inf  # the newest tick's slot on the grid
    ran: float = -math.inf  # when the newest tick ran (earlier than its slot if pulled)
    spread: float = 2e-3  # how far input arrivals stray from where the lock expects them
    arrived: float = -math.inf  # the newest input's arrival
    drift: float = 0.0  # the lock's recent moves, net (seconds; later is positive)
    interval: float = 1 / 30  # between input arrivals, a moving average (seconds)
    sizes: set[tuple[int, int]] = field(default_factory=set)  # what its last tick drew
    next_frame: int = 0  # the first tick index that draws again (a capped output rate)
    pull: tuple[int, float] | None = None  # (tick index, when it runs): a face pulled it

    @property
    def next_tick(self) -> float:
        """The next tick's slot on the grid."""
        return self.epoch + self.index * self.session.period

    @property
    def due(self) -> float:
        """When the next tick runs: its slot, or earlier where a face pulled it (`align`)."""
        slot = self.next_tick
        if self.pull is not None and self.pull[0] == self.index:
            # at most half a period early: frame timestamps then step by at least half a
            # period (`early`), however the lock moves the grid meanwhile
            return min(slot, max(self.pull[1], slot - self.session.period / 2))
        return slot

    @property
    def early(self) -> float:
        """How long before its slot the next tick runs (seconds): its frame's timestamp is
        as much earlier, so a viewer's jitter buffer sees the frame on time, not early."""
        return self.next_tick - self.due

    def advance(self, now: float) -> int:
        """Step to the next tick after one that finished at `now`; how many were skipped.
        A tick already due still runs if it is less than LATE_LIMIT of a period late: a
        frame a few milliseconds late is still a frame, and skipping it would cost a whole
        period (a machine a little short of time for 60 frames a second would send 30).
        Ticks further behind are skipped, never queued, so latency cannot build up: a tick
        runs at most LATE_LIMIT of a period late, and the frames keep their grid times."""
        period = self.session.period
        self.index += 1
        behind = now - self.next_tick
        if behind < LATE_LIMIT * period:
            return 0
        missed = math.floor((behind - LATE_LIMIT * period) / period) + 1
        self.index += missed
        return missed

    def align(self, arrived: float) -> None:
        """Input (a tracked face) arrived at `arrived`: nudge the grid so that ticks fall a
        short lead after arrivals. A phase-locked loop, not a tick per arrival: each
        arrival moves the grid by half its phase error, earlier or later, so ticks stay at
        the session's rate (no extra frames) whatever the camera's rate and jitter. The
        lead grows with the arrivals' measured spread, so a jittery input is not missed by
        a tick that comes just before it (which would cost it a whole period); a face on
        time then pulls its tick to its arrival (below), so only late faces wait.

        The moves, less what leaks away over DRIFT_S, stay within MAX_DRIFT: every move
        later is time without a tick. An input whose rate is not a whole fraction of the
        tick rate (a browser's face tracker at 28 Hz, say) drifts through the grid's phase
        for good; followed all the way, it would take the session down to 56 frames a
        second. Its phase then slips, and the session keeps its rate; jitter, whose moves
        go both ways, is followed as before."""
        period = self.session.period
        lead = min(LEAD_BASE + LEAD_SPREADS * self.spread, period / 2)
        nxt = self.next_tick
        running = self.last >= nxt
        if running:
            # that tick is running (the worker advances the grid when it ends): it took its
            # inputs when it began, so this face is for the one after. Taken for the next,
            # the running tick was "moved" to the face's arrival, past the drift bound: the
            # grid lurched later by up to a period and many faces then waited most of one
            nxt += period
        error = (nxt - arrived - lead + period / 2) % period - period / 2
        self.spread += SPREAD_WEIGHT * (abs(error) - self.spread)
        if self.arrived > -math.inf:
            gap = max(arrived - self.arrived, 0.0)
            self.drift *= math.exp(-gap / DRIFT_S)
            self.interval += SPREAD_WEIGHT * (min(gap, 1.0) - self.interval)
        self.arrived = arrived
        step = min(max(-LOCK_GAIN * error, -MAX_DRIFT - self.drift), MAX_DRIFT - self.drift)
        moved = max(nxt + step, arrived, self.last + period / 4)
        self.drift += moved - nxt
        self.epoch += moved - nxt
        # The pull: the lock keeps the grid a lead behind the faces so that a late one is
        # still caught by its tick; a face on time need not wait out that lead, so it runs
        # its tick now. Only that tick moves (the grid and the rate stay), and never nearer
        # than MIN_GAP of a period to the tick before it, so frames do not bunch.
        # A face pulls the tick it is for when it comes within half a period of that
        # tick's slot. A face late for its tick (after that tick's slot) pulls the next
        # one too, but only where faces come more than a tick and a half apart: at 60 Hz
        # the next tick has a face of its own, which the pull would leave behind (in the
        # simulation p95 10 ms where it waits 0 without). A face that came before its
        # tick's slot, after the tick had run early, is not late by the grid; pulling for
        # it would set every later tick half a period early, each just before its face.
        index = self.index + 1 if running else self.index
        sparse = self.interval > 1.5 * period
        if moved - arrived <= period / 2 or (sparse and arrived > self.last):
            self.pull = (index, max(arrived, self.ran + MIN_GAP * period))


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
        # a CPU rasterizer (llvmpipe): large scenes are drawn at a lower rate (SOFTWARE_FPS)
        self.software = False
        self._warm: tuple[tuple[AvatarBundle, int, str], ...] = ()
        # (session, layout) -> its converter, the renderer it converts, and what backdrop
        # it was given (the scene's background fields): per session, since scenes differ
        self._converters: dict[
            tuple[LiveSession, str], tuple[VideoConverter, AvatarRenderer, tuple]
        ] = {}
        # (picture id, size) -> the picture fitted to it, the newest last
        self._fitted: dict[tuple, np.ndarray | Future] = {}  # a video's next frame: a Future
        self._changed = False  # a session left: views nobody uses may be released
        # effects' overlays on the GPU (their frames' textures), by (name, overlay object)
        self._overlays: dict[tuple[str, int], OverlayPass] = {}
        self._stills = StillWorker()  # on a thread and context of its own

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
        """A still of `bundle` idling for `seconds` (its springs settled) in render style
        `style`: (size, size, 4) premultiplied RGBA, top row first. Drawn by the still
        worker (streaming/stills.py), never on this thread: making a still's renderer
        costs a second or more, which would stop every session's ticks. The future fails
        with the renderer's error."""
        return self._stills.snapshot(bundle, size, framing, seconds, style)

    @property
    def sessions(self) -> int:
        with self._lock:
            return len(self._grids)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        self._wake.set()
        self._stills.stop(timeout)
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
        self.software = is_software(ctx)
        renderers: dict[tuple[str, Size], AvatarRenderer] = {}
        # bundle key -> its renderers' static geometry, made by the still worker: made here,
        # a new look's renderer stopped every session's ticks for 0.5-2 s
        geometries: dict[str, Future[RigGeometry]] = {}
        warm_converters: list[VideoConverter] = []

        def renderer_for(
            bundle: AvatarBundle, size: Size, wait: bool = False
        ) -> AvatarRenderer | None:
            """The shared renderer of `bundle` at `size`; None while its geometry is being
            made beside this thread (unless `wait`: then made here)."""
            key = (bundle.key, size)
            if key not in renderers:
                made = geometries.get(bundle.key)
                if made is None and not wait:
                    geometries[bundle.key] = self._stills.geometry(bundle)
                    return None
                if made is not None and not made.done():
                    return None
                geometry = None if made is None else made.result()  # its error, if it failed
                renderer = AvatarRenderer(
                    ctx, bundle.rig, bundle.pictures(), size, geometry=geometry
                )
                if made is None:
                    geometries[bundle.key] = done = Future()
                    done.set_result(renderer.geometry)
                renderers[key] = renderer
                self.renderers += 1
            return renderers[key]

        def release_unused() -> None:
            with self._lock:
                sessions = [g.session for g in self._grids]
            used = {(s.bundle.key, size) for s in sessions for size in _sizes(s)}
            used |= {(b.key, (n, n)) for b, n, _ in self._warm}
            for key, (conv, renderer, _) in list(self._converters.items()):
                if key[0] not in sessions or renderer not in renderers.values():
                    conv.release()
                    del self._converters[key]
            effects = {_overlay_key(s.effect) for s in sessions if s.effect is not None}
            for key in [k for k in self._overlays if k not in effects]:
                self._overlays.pop(key).release()
            looks = {bundle_key for bundle_key, _ in used}
            for bundle_key in [k for k in geometries if k not in looks]:
                del geometries[bundle_key]
            for key in [k for k in renderers if k not in used]:
                renderer = renderers.pop(key)
                for ck, (conv, r, _) in list(self._converters.items()):
                    if r is renderer:
                        conv.release()
                        del self._converters[ck]
                renderer.release()
                self.renderers -= 1

        try:
            for bundle, size, layout in self._warm:
                # the renderer, and the converter's shaders compiled once (the driver
                # caches them for the sessions' own converters), or on a software
                # rasteriser its numba kernels loaded, by one conversion
                conv = VideoConverter(
                    renderer_for(bundle, (size, size), wait=True), layout, BACKGROUND
                )
                warm_converters.append(conv)
                conv.convert_i420()
            for conv in warm_converters:
                conv.release()
        except Exception as e:
            self.error = f"the renderer could not be prepared: {type(e).__name__}: {e}"
        self._ready.set()

        try:
            while not self._stopping:
                with self._lock:
                    alive = [g for g in self._grids if not g.session.closed]
                    self._changed |= len(alive) != len(self._grids)
                    self._grids = alive
                    due = min(self._grids, key=lambda g: g.due, default=None)
                    changed, self._changed = self._changed, False
                if changed:
                    release_unused()
                if due is None:
                    self._wake.wait(0.5)
                    self._wake.clear()
                    continue
                delay = due.due - self.clock()
                if delay > 0:
                    self._wake.wait(delay)
                    self._wake.clear()
                    continue  # something may have been added or closed meanwhile
                self._tick(due, renderer_for)
        finally:
            for overlay in self._overlays.values():
                overlay.release()
            self._overlays.clear()
            for conv, _, _ in self._converters.values():
                conv.release()
            self._converters.clear()
            for renderer in renderers.values():
                renderer.release()
            self.renderers = 0
            ctx.release()

    def _tick(self, grid: TickGrid, renderer_for) -> None:
        # the tick's time, stamped once and passed on: its slot on the session's grid, or
        # earlier where a face pulled it; its frames' timestamps say the same
        s = grid.session
        with self._lock:  # `align` moves the grid and its pull from the tracking thread
            now, slot = grid.due, grid.next_tick
            grid.last, grid.ran = slot, now
        at = grid.index / s.fps - (slot - now)  # on the stream's clock: `early`
        t0 = time.perf_counter()
        try:
            s.tick(now)
            scene = s.scene if s.kind == "puppet" else None  # one read: replaced whole
            stride = 1
            if scene is not None and self.software:
                stride = max(1, round(s.fps / SOFTWARE_FPS[scene.size]))
            s.output_fps = s.fps / stride
            by_size: dict[Size, list[Output]] = {}
            drawing = grid.index >= grid.next_frame
            if drawing:  # the engine steps every tick; large outputs are drawn every stride
                grid.next_frame = grid.index + stride
            for out in s.current_outputs() if drawing else ():
                size = scene.dimensions if scene is not None else (out.size, out.size)
                by_size.setdefault(size, []).append(out)
            for size, outs in by_size.items():
                renderer = renderer_for(s.bundle, size)
                if renderer is None:  # a new look: its geometry is being made
                    continue
                # the framing as it follows the pose (LiveSession.frame_rect, set by tick)
                rect = s.frame_rect or renderer.framing(s.framing)
                if scene is not None:
                    rect = scene.place(rect, *size)
                # a look's colours and render style
                renderer.draw(s.puppet.pose, rect, *s.filters, style=s.render_style)
                effect = s.effect  # one read: replaced whole
                if effect is not None and effect.overlay is not None:
                    # over the avatar, under the scene's backdrop (the converter's), at the
                    # frame's own time on the session's grid
                    self._overlay(renderer, effect).draw(renderer, at)
                for out in outs:
                    # a preview's backdrop is its try-on background, a puppet's its scene's
                    behind = scene if scene is not None else s.backdrop
                    converter = self._converter(s, out.layout, renderer, behind, at)
                    frame = frame_from_i420(converter.convert_i420(), at)
                    frame.duration = round(stride * 90_000 / s.fps)  # the encoder's budget
                    out.frames += 1
                    out.camera_at[frame.pts] = s.last_camera
                    out.slot.publish(frame)
            if drawing and set(by_size) != grid.sizes:
                grid.sizes = set(by_size)
                with self._lock:
                    self._changed = True  # a size nobody draws any more: release it
            s.error = None
        except Exception as e:  # one broken session must not stop the others
            if s.error is None:
                log.exception("session %s: rendering failed", s.id)
            s.error = f"rendering failed: {type(e).__name__}: {e}"
        # next tick on the session's own grid; ticks far behind are skipped, never queued
        with self._lock:  # `arrived` moves the grid from the tracking thread
            missed = grid.advance(self.clock())
        s.stats.record(now, (time.perf_counter() - t0) * 1000, missed)

    def _overlay(self, renderer: AvatarRenderer, effect: EffectData) -> OverlayPass:
        """The effect's overlay on the GPU, uploaded on first use (render thread only)."""
        key = _overlay_key(effect)
        overlay = self._overlays.get(key)
        if overlay is None:
            overlay = self._overlays[key] = OverlayPass(renderer.ctx, effect)
            with self._lock:
                self._changed = True  # another may be unused now: release it
        return overlay

    def _converter(
        self,
        s: LiveSession,
        layout: str,
        renderer: AvatarRenderer,
        scene: Scene | None,
        t: float = 0.0,
    ) -> VideoConverter:
        """The session's converter for `layout`, converting `renderer`'s picture over the
        scene's backdrop (set again only when the scene's background changes, or a video
        backdrop's frame at the session's time `t` does: uploaded on a frame change only)."""
        key = (s, layout)
        want = _backdrop_key(scene)
        held = self._converters.get(key)
        if held is not None and held[1] is not renderer:
            held[0].release()
            held = None
        if held is None:
            conv = VideoConverter(renderer, layout, BACKGROUND)
            held = (conv, renderer, ("transparent",))
        conv, _, have = held
        if len(have) == 4 and have[:2] == want:  # a video playing: ("image", id, video, frame)
            want = (*want, have[2], have[2].index(t))
        retry = have[0] == "retry" and have[1] == want and self.clock() >= have[2]
        if have != want and (have[0] != "retry" or have[1] != want or retry):
            backdrop = self._backdrop(s, scene, renderer.size, t)
            if isinstance(backdrop, Playing):
                want = ("image", want[1], backdrop.video, backdrop.index)
                backdrop = backdrop.picture
            conv.set_backdrop(backdrop)
            if (
                scene is not None and scene.background == "image" and isinstance(backdrop, tuple)
            ):  # the picture could not be had (yet): the colour now, another try soon
                want = ("retry", want, self.clock() + BACKDROP_RETRY_S)
            have = want
        self._converters[key] = (conv, renderer, have)
        return conv

    def _backdrop(
        self, s: LiveSession, scene: Scene | None, size: Size, t: float = 0.0
    ) -> tuple[int, int, int] | np.ndarray | Playing | None:
        """What the converter composites behind the avatar: None (transparent), a colour,
        or the scene's picture fitted to `size` (kept for the next converter that wants it:
        fitting a large picture costs tens of milliseconds). A picture that cannot be had
        (gone, not the session's to use, its resolver not attached yet) falls back to the
        scene's colour: the stream goes on. A video's frame at time `t` is its frame
        fitted (bilinear, its next frame fitted ahead on another thread: tens of ms at
        1080p, up to 15 times a second, must not stall the ticks)."""
        if scene is None or scene.background == "transparent":
            return None
        if scene.background == "image" and scene.image:
            key = (scene.image, size)
            try:
                # asked every time, fitted or not: whether this session may use it (the
                # library keeps the decoded picture, so this is a lookup, not a decode)
                picture = s.background(scene.image)
                video = picture if isinstance(picture, VideoBackdrop) else None
                if video is not None:
                    key = (scene.image, size, video.index(t))
                fitted = self._fitted.pop(key, None)
                if isinstance(fitted, Future):  # fitted ahead (started a frame ago)
                    fitted = fitted.result()
                if fitted is None and video is not None:
                    fitted = video.fitted(key[2], *size)
                elif fitted is None:
                    fitted = cover(picture, *size)
                if video is not None:  # the next frame fitted off this thread meanwhile
                    after = (scene.image, size, (key[2] + 1) % len(video.frames))
                    if after not in self._fitted and after != key:
                        self._fitted[after] = _fit_pool().submit(video.fitted, after[2], *size)
            except Exception as e:  # a picture must never stop the stream
                log.warning("session %s: background %r unusable: %s", s.id, scene.image, e)
                return scene.rgb
            self._fitted[key] = fitted  # newest last
            while len(self._fitted) > FITTED_KEPT:
                del self._fitted[next(iter(self._fitted))]
            if video is not None:
                return Playing(video, video.index(t), fitted)
            return fitted
        return scene.rgb


@dataclass(frozen=True, eq=False)
class Playing:
    """A video backdrop's frame `index`, fitted to an output (`picture`)."""

    video: VideoBackdrop
    index: int
    picture: np.ndarray


_POOL: list[ThreadPoolExecutor] = []


def _fit_pool() -> ThreadPoolExecutor:
    """One thread fitting video backdrop frames ahead (PIL's resize releases the GIL), so a
    1080p output's frame change does not cost the render thread its fit."""
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(1, thread_name_prefix="backdrop-fit"))
    return _POOL[0]


def _overlay_key(effect: EffectData) -> tuple[str, int]:
    return effect.name, id(effect.overlay)


def _sizes(s: LiveSession) -> set[Size]:
    if s.kind == "puppet":
        return {s.scene.dimensions}
    return {(o.size, o.size) for o in s.current_outputs()}


def _backdrop_key(scene: Scene | None) -> tuple:
    if scene is None or scene.background == "transparent":
        return ("transparent",)
    if scene.background == "colour":
        return ("colour", scene.colour)
    return ("image", scene.image)
