"""One-off stills (a character's picture, the studio's thumbnails) on a thread and a GL
context of their own.

A still needs a renderer of its own (a thumbnail wears a look no session wears), and making
one costs far more than drawing it: the rig's geometry, its pictures' hulls and cores
(engine/hulls.py), the atlas upload. On the render thread that stood every live session
still for as long (the studio asks for a dozen thumbnails at once: its own stream froze for
seconds). Here the render thread never waits for a still; only the GIL is shared.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from engine.assets import AvatarBundle
from engine.render import AvatarRenderer, create_context
from engine.render.looks import RenderStyle
from engine.session import AvatarSession

log = logging.getLogger(__name__)

FPS = 60  # the rate a still's idle is stepped at before it is drawn


@dataclass(frozen=True)
class StillRequest:
    bundle: AvatarBundle
    size: int
    framing: str
    seconds: float
    style: RenderStyle | None
    done: Future[np.ndarray]


class StillWorker:
    """Draws stills in the order asked, one at a time. The thread and its context start
    with the first still (a server that is never asked for one holds no second context)
    and last until `stop`, which fails the stills not yet drawn."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[StillRequest | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def submit(
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
        done: Future[np.ndarray] = Future()
        with self._lock:
            if self._stopped:
                done.set_exception(RuntimeError("the still worker has stopped"))
                return done
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="stills", daemon=True)
                self._thread.start()
            self._queue.put(StillRequest(bundle, size, framing, seconds, style, done))
        return done

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._stopped = True
            thread = self._thread
        self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        try:
            ctx = create_context()
        except Exception as e:
            error = RuntimeError(f"no OpenGL context for stills: {e}")
            while (request := self._queue.get()) is not None:
                request.done.set_exception(error)
            return
        try:
            while (request := self._queue.get()) is not None:
                if self._stopped:  # the server is going: what is left is not drawn
                    request.done.set_exception(RuntimeError("the still worker has stopped"))
                elif request.done.set_running_or_notify_cancel():
                    try:
                        request.done.set_result(_draw(ctx, request))
                    except Exception as e:
                        request.done.set_exception(e)
        finally:
            ctx.release()


def _draw(ctx, request: StillRequest) -> np.ndarray:
    session = AvatarSession(request.bundle, seed=0)
    for _ in range(max(1, round(request.seconds * FPS))):
        session.advance(1 / FPS)
    bundle, size = request.bundle, request.size
    # released at once: a still must not keep an atlas alive
    renderer = AvatarRenderer(ctx, bundle.rig, bundle.pictures(), (size, size))
    try:
        return renderer.render(session.pose, request.framing, style=request.style).copy()
    finally:
        renderer.release()
