"""The one place that creates GL contexts.

Headless EGL everywhere: Mesa llvmpipe on CPU machines, NVIDIA's EGL on GPU hosts. A context
belongs to the thread that made it; the render worker owns one per process.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

import moderngl

MIN_GL_VERSION = 330


class GLUnavailableError(RuntimeError):
    """No usable OpenGL context could be created."""


def create_context() -> moderngl.Context:
    """A standalone (window-less) context; `DIGIGAMI_GL_BACKEND` may name another backend
    (for example `x11` under a desktop session)."""
    backend = os.environ.get("DIGIGAMI_GL_BACKEND", "egl")
    try:
        ctx = moderngl.create_standalone_context(require=MIN_GL_VERSION, backend=backend)
    except Exception as e:  # moderngl raises plain Exception for every loader failure
        raise GLUnavailableError(
            f"could not create an OpenGL {MIN_GL_VERSION // 100}.{MIN_GL_VERSION % 100 // 10} "
            f"context through {backend}: {e}"
        ) from e
    return ctx


_FINISH: list[Callable[[], None] | None] = []  # glFinish through ctypes, resolved once


def wait_idle(ctx: moderngl.Context) -> None:
    """Wait until `ctx` (current on this thread) has done all its work, without holding
    Python's GIL. moderngl holds the GIL through every call, so a read-back that waits for
    llvmpipe's rasteriser (milliseconds a frame) or a GPU stops every other Python thread
    meanwhile: the render worker's waits stalled the server's event loop, its WebRTC I/O
    included, for up to 10-15 ms at a time. A ctypes call releases the GIL; the reads
    after it find the work done."""
    if not _FINISH:
        try:
            finish = ctypes.CDLL("libGL.so.1").glFinish  # glvnd: the current context's
            finish.restype, finish.argtypes = None, []
            _FINISH.append(finish)
        except (OSError, AttributeError):
            _FINISH.append(None)
    finish = _FINISH[0]
    if finish is None:
        ctx.finish()
    else:
        finish()


def is_software(ctx: moderngl.Context) -> bool:
    """Whether `ctx` rasterises on the CPU (Mesa's llvmpipe, softpipe or swrast), where
    every pixel a draw or a clear touches costs CPU time."""
    renderer = ctx.info["GL_RENDERER"].lower()
    return any(name in renderer for name in ("llvmpipe", "softpipe", "swrast"))


def describe(ctx: moderngl.Context) -> str:
    info = ctx.info
    return f"{info['GL_RENDERER']} ({info['GL_VERSION']})"


def window_context() -> moderngl.Context:
    """Wrap the context a desktop window (pyglet) has just made current."""
    try:
        return moderngl.create_context(require=MIN_GL_VERSION)
    except Exception as e:
        raise GLUnavailableError(f"the window's OpenGL context is unusable: {e}") from e
