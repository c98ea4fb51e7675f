"""engine/render/context.py: waiting for the GL context's work leaves Python's other threads
running (the server's event loop shares its process with the render worker)."""

from __future__ import annotations

import threading
import time

import moderngl
import numpy as np
import pytest

from engine.render.context import create_context, wait_idle

_VERTEX = """#version 330 core
void main() {
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}"""
_SLOW = """#version 330 core
out vec4 colour;
void main() {  // a few hundred operations a pixel: milliseconds of work on a CPU rasteriser
    float v = gl_FragCoord.x * 0.001;
    for (int i = 0; i < 200; i++) {
        v = fract(sin(v * 12.9898 + float(i)) * 43758.5453);
    }
    colour = vec4(v);
}"""


def _wait_while_counting() -> tuple[float, int]:
    """Queue a slow draw on a thread's own context and wait for it with `wait_idle`, while
    this thread counts its own steps: (seconds the wait took, steps made meanwhile)."""
    marks: list[float] = []
    span: list[float] = []
    ready, done = threading.Event(), threading.Event()

    def render() -> None:
        ctx = create_context()
        try:
            fb = ctx.framebuffer(color_attachments=[ctx.texture((1024, 1024), 4)])
            prog = ctx.program(vertex_shader=_VERTEX, fragment_shader=_SLOW)
            vao = ctx.vertex_array(prog, [])
            fb.use()
            for _ in range(2):
                vao.render(moderngl.TRIANGLES, vertices=3)
            ready.set()
            t0 = time.perf_counter()
            wait_idle(ctx)
            span[:] = [t0, time.perf_counter()]
        finally:
            done.set()
            ctx.release()

    worker = threading.Thread(target=render)
    worker.start()
    ready.wait(60)
    while not done.is_set():
        for _ in range(1000):  # Python work: it needs the GIL
            pass
        marks.append(time.perf_counter())
    worker.join()
    t0, t1 = span
    return t1 - t0, int(((np.array(marks) > t0) & (np.array(marks) < t1)).sum())


def test_waiting_for_the_gpu_leaves_other_threads_running() -> None:
    took, steps = _wait_while_counting()
    if took < 0.02:
        pytest.skip(f"the draw took {took * 1e3:.1f} ms: too fast here to tell")
    # free, this thread counts some 35,000 steps a second here; blocked by a wait that
    # holds the GIL (moderngl's own finish), some 500 (between the GL calls)
    assert steps >= 5000 * took, f"{steps} steps during a {took * 1e3:.0f} ms wait"
