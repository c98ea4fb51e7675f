"""One-off GL work beside the render thread, on a thread and a GL context of its own: stills
(a character's picture, the studio's thumbnails) and the geometry of new renderers.

Making a renderer costs far more than drawing with it: the rig's geometry (each picture's
hulls and cores, its meshes cut to them: engine/hulls.py) is 0.5-2 s of Python. On the
render thread that stood every live session still for as long: the studio asks for a dozen
thumbnails at once (its own stream froze for seconds), and a session wearing a new look
stopped everyone else's. Here the render thread never waits for it; only the GIL is shared.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import moderngl
import numpy as np

from engine.assets import AvatarBundle
from engine.render import AvatarRenderer, create_context
from engine.render.looks import RenderStyle
from engine.render.renderer import RigGeometry, prepare_geometry
from engine.session import AvatarSession

FPS = 60  # the rate a still's idle is stepped at before it is drawn

T = TypeVar("T")
# (priority, order asked, work, its future); None (last of all) stops the thread
Job = tuple[int, int, Callable[[moderngl.Context], Any] | None, Future | None]
GEOMETRY, STILL = 0, 1  # a session waits for its geometry; a thumbnail can wait


class StillWorker:
    """Runs its jobs one at a time: a live session's geometry before any still, else in
    the order asked. The thread and its context start with the first job (a server that
    never asks holds no second context) and last until `stop`, which fails the jobs not
    yet run."""

    def __init__(self) -> None:
        self._queue: queue.PriorityQueue[Job] = queue.PriorityQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._asked = 0  # jobs so far: the order within a priority

    def snapshot(
        self,
        bundle: AvatarBundle,
        size: int,
        framing: str = "full",
        seconds: float = 1.0,
        style: RenderStyle | None = None,
    ) -> Future[np.ndarray]:
        """A still of `bundle` idling for `seconds` (its springs settled) in render style
        `style`: (size, size, 4) premultiplied RGBA, top row first. The future fails with
        the renderer's error (or the context's, where none can be made)."""

        def draw(ctx: moderngl.Context) -> np.ndarray:
            session = AvatarSession(bundle, seed=0)
            for _ in range(max(1, round(seconds * FPS))):
                session.advance(1 / FPS)
            # released at once: a still must not keep an atlas alive
            renderer = AvatarRenderer(ctx, bundle.rig, bundle.pictures(), (size, size))
            try:
                return renderer.render(session.pose, framing, style=style).copy()
            finally:
                renderer.release()

        return self._submit(STILL, draw)

    def geometry(self, bundle: AvatarBundle) -> Future[RigGeometry]:
        """The static geometry of `bundle`'s renderers (any size, any context):
        `AvatarRenderer(..., geometry=)` then costs little more than the atlas upload."""
        return self._submit(
            GEOMETRY, lambda ctx: prepare_geometry(ctx, bundle.rig, bundle.pictures())
        )

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._stopped = True
            thread = self._thread
        self._queue.put((STILL + 1, 0, None, None))  # after every job: they are failed
        if thread is not None:
            thread.join(timeout)

    def _submit(self, priority: int, work: Callable[[moderngl.Context], T]) -> Future[T]:
        done: Future[T] = Future()
        with self._lock:
            if self._stopped:
                done.set_exception(RuntimeError("the still worker has stopped"))
                return done
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="stills", daemon=True)
                self._thread.start()
            self._asked += 1
            self._queue.put((priority, self._asked, work, done))
        return done

    def _run(self) -> None:
        try:
            ctx = create_context()
        except Exception as e:
            error = RuntimeError(f"no OpenGL context for stills: {e}")
            while (job := self._queue.get())[2] is not None:
                job[3].set_exception(error)
            return
        try:
            while (job := self._queue.get())[2] is not None:
                _, _, work, done = job
                if self._stopped:  # the server is going: what is left is not run
                    done.set_exception(RuntimeError("the still worker has stopped"))
                elif done.set_running_or_notify_cancel():
                    try:
                        done.set_result(work(ctx))
                    except Exception as e:
                        done.set_exception(e)
        finally:
            ctx.release()
