"""Stills (streaming/stills.py) are drawn beside the render worker, not on it: a live session
keeps its ticks while a batch of stills is made (the studio asks for a dozen thumbnails at
once; drawn on the render thread they froze its stream for seconds), and each still is the
picture the engine draws for that pose."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from engine.render import AvatarRenderer, create_context
from engine.render.renderer import _PIECES
from engine.session import AvatarSession
from streaming.live import LiveSession, Output
from streaming.render_worker import RenderWorker
from streaming.stills import StillWorker
from tests.worn import worn


def _wearing(bundle, category: str, label: str):
    lib = bundle.sprites
    worn = dataclasses.replace(lib, defaults={**lib.defaults, category: label})
    return dataclasses.replace(bundle, sprites=worn)


def _cold(monkeypatch) -> None:
    """As on a server's first start: no pieces in memory, none on disk (engine/memo_store.py)."""
    monkeypatch.setattr(_PIECES, "store", None)
    _PIECES.clear()


def test_a_live_session_keeps_ticking_while_stills_are_made(digi, monkeypatch) -> None:
    worker = RenderWorker()
    worker.start()
    session = LiveSession(digi, kind="studio", fps=30)
    try:
        worker.add(session)
        deadline = time.monotonic() + 20
        while session.stats.ticks < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session.stats.ticks >= 5, "the session did not start ticking"
        _cold(monkeypatch)  # every still's renderer is made from scratch
        looks = [("accessories", "glasses"), ("accessories", "hat"), ("body", "muscular")]
        stills = [worker.snapshot(_wearing(digi, *look), 64) for look in looks]
        before, t0 = session.stats.ticks, time.monotonic()
        for still in stills:
            assert still.result(timeout=60).shape == (64, 64, 4)
        took, ticked = time.monotonic() - t0, session.stats.ticks - before
        # drawn on the render thread, the three stills (a second or more each, cold) let
        # no tick through; beside it the session goes on ticking (a count, not a rate: a
        # slower machine takes longer over the stills and ticks more meanwhile)
        assert ticked >= 10, f"{ticked} ticks in the {took:.1f} s of stills"
    finally:
        session.close()
        worker.stop()


class Frames:
    """An output's sink that keeps count (the encoder's place)."""

    encoded = dropped = 0

    def __init__(self) -> None:
        self.published = 0

    def publish(self, frame) -> None:
        self.published += 1

    def close(self) -> None:
        pass


def _viewed(bundle, fps: int) -> tuple[LiveSession, Frames]:
    session = LiveSession(bundle, kind="studio", fps=fps)
    sink = Frames()
    session.add_output(Output("opaque", 64, sink))
    return session, sink


def test_a_new_look_is_made_beside_the_render_thread(digi, monkeypatch) -> None:
    """A session wearing a look no renderer has yet (here a generated face) starts
    drawing once its geometry is made by the still worker, and the session already live
    keeps its ticks meanwhile: made on the render thread, that stopped it for seconds."""
    look = worn()
    worker = RenderWorker()
    worker.start()
    first, first_frames = _viewed(digi, 30)
    second, second_frames = _viewed(look, 30)
    try:
        worker.add(first)
        deadline = time.monotonic() + 30
        while first_frames.published < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first_frames.published >= 5, "the first session did not draw"
        _cold(monkeypatch)  # the new look's geometry made from scratch
        before, t0 = first.stats.ticks, time.monotonic()
        worker.add(second)
        while second_frames.published < 1 and time.monotonic() < t0 + 60:
            time.sleep(0.01)
        took, ticked = time.monotonic() - t0, first.stats.ticks - before
        assert second_frames.published >= 1, "the new look never drew"
        assert worker.renderers == 2
        # made on the render thread: 1 or 2 ticks (the one that made it, and the next)
        assert ticked >= 10, f"{ticked} ticks in the {took:.1f} s it took"
    finally:
        first.close()
        second.close()
        worker.stop()


def test_a_still_is_the_engines_picture_of_its_pose(digi) -> None:
    stills = StillWorker()
    try:
        got = stills.snapshot(digi, 96, "bust", seconds=0.5).result(timeout=60)
    finally:
        stills.stop()
    session = AvatarSession(digi, seed=0)
    for _ in range(30):
        session.advance(1 / 60)
    ctx = create_context()
    try:
        renderer = AvatarRenderer(ctx, digi.rig, digi.pictures(), (96, 96))
        want = renderer.render(session.pose, "bust")
        renderer.release()
    finally:
        ctx.release()
    assert np.array_equal(got, want)
    assert got[..., 3].mean() > 20, "the still is empty"


def test_a_sessions_geometry_goes_before_waiting_stills(digi) -> None:
    """A live session waits for its geometry; thumbnails can wait for it."""
    stills = StillWorker()
    finished: list[str] = []
    try:
        jobs = [("still 1", stills.snapshot(digi, 32)), ("still 2", stills.snapshot(digi, 32))]
        jobs.append(("geometry", stills.geometry(digi)))
        for name, job in jobs:
            job.add_done_callback(lambda _, name=name: finished.append(name))
        for _, job in jobs:
            job.result(timeout=60)
    finally:
        stills.stop()
    # the first still was running (or about to) when the geometry was asked for
    assert finished.index("geometry") < finished.index("still 2"), finished


def test_a_stopped_worker_refuses_stills(digi) -> None:
    stills = StillWorker()
    stills.stop()
    still = stills.snapshot(digi, 32)
    try:
        still.result(timeout=5)
    except RuntimeError as e:
        assert "stopped" in str(e)
    else:
        raise AssertionError("a stopped still worker drew a still")
