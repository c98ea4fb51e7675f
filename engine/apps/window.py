"""The desktop windows (pyglet). `PreviewWindow` (`digigami preview`): Digi driven by the
state machine, keys for states, emotes, tools, dances, sprite swaps and framing.
`PuppetWindow` (`digigami puppet`): the same, with the head and face following a webcam (or a
video file) through face tracking, layered over the state machine so the body keeps idling,
walking and emoting underneath.

Both drive the avatar through `engine.puppet.Puppet`, the same puppet loop as the live
server's sessions: keys become the puppet's requests, and its tick reads the tracker.

Threads in puppet mode (docs/ARCHITECTURE.md): the camera's capture thread hands frames to
the tracking worker's newest-wins slot, the worker thread runs MediaPipe and the solver and
feeds the FaceTracker, and the window's own thread (pyglet's loop, which owns the GL context)
ticks the puppet, which reads the tracker's parameters. Nothing waits on anything else.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

import pyglet
from pyglet.window import key

from engine.assets import RIGS, AvatarBundle, load_bundle
from engine.puppet import Puppet, PuppetError
from engine.render.context import window_context
from engine.render.framing import FRAMINGS
from engine.render.renderer import AvatarRenderer
from engine.rig.errors import FormatError
from engine.tracking.camera import CameraSource
from engine.tracking.tracker import FaceTracker
from engine.tracking.worker import TrackingWorker

TICK = 1 / 60
BACKGROUND = (0.33, 0.35, 0.42, 1.0)
STATE_KEYS = {
    key.W: "wave", key.P: "point", key.C: "cheer", key.L: "laugh", key.D: "dance",
    key.S: "sit", key.K: "climb", key.M: "swim", key.I: "idle",
    key.T: "toolnone", key.X: "toolslash", key.Z: "toollunge",
}  # fmt: skip
HELP = (
    "up/down speed  space jump  W wave  P point  C cheer  L laugh  D dance  1-9 dance n  "
    "S sit  K climb  M swim  I idle  T tool  X slash  Z lunge  Q drop tool  E stop emote  "
    "O/A/B swap outfit/accessory/body  F framing  H help"
)


class PreviewWindow(pyglet.window.Window):
    def __init__(
        self,
        bundle: AvatarBundle,
        size: int = 640,
        seed: int = 0,
        *,
        tracker: FaceTracker | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # hidden until the renderer is built (a second or so on a software GL): no blank
        # window meanwhile, and keys pressed once it shows reach a window that is ready
        super().__init__(
            size, size, caption=f"Digigami preview: {bundle.rig.name}", resizable=True, visible=False
        )
        self.bundle = bundle
        self.clock = clock
        self.ctx = window_context()
        self.renderer = AvatarRenderer(self.ctx, bundle.rig, bundle.pictures(), (size, size))
        self.puppet = Puppet(bundle, seed=seed, tracker=tracker)
        self.speed = 0.0
        self.framing = 0
        self.show_help = True
        self.landing_in: float | None = None
        self.status = pyglet.text.Label("", x=8, y=8, font_size=10, color=(255, 255, 255, 230))
        self.help = pyglet.text.Label(HELP, x=8, y=size - 8, anchor_y="top", width=size - 16, multiline=True,
                                      font_size=9, color=(255, 255, 255, 200))  # fmt: skip
        pyglet.clock.schedule_interval(self.tick, TICK)
        self.set_visible(True)

    # --- input ---------------------------------------------------------------------------

    def on_key_press(self, symbol: int, modifiers: int) -> None:
        # a key the rig has nothing for (a state it lacks, a tenth dance) does nothing
        with contextlib.suppress(PuppetError):
            self.press(symbol)

    def press(self, symbol: int) -> None:
        p = self.puppet
        states = self.bundle.machine.states
        if symbol == key.ESCAPE:
            self.close()
        elif symbol in (key.UP, key.DOWN):
            self.speed = max(0.0, min(4.0, self.speed + (0.5 if symbol == key.UP else -0.5)))
            p.set_controls({"speed": self.speed})
            if self.speed > 0 and p.state() == "idle":
                p.transition("walk")
        elif symbol == key.SPACE and "jump" in states:
            p.set_controls({"grounded": 0.0})
            p.transition("jump")
            self.landing_in = 0.7
        elif symbol in STATE_KEYS and STATE_KEYS[symbol] in states:
            p.transition(STATE_KEYS[symbol])
        elif key._1 <= symbol <= key._9 and "dance" in states:
            p.transition("dance", f"dance_{symbol - key._0}")
        elif symbol == key.Q:
            p.stop("tool")
        elif symbol == key.E:
            p.stop("emote")
        elif symbol in (key.O, key.A, key.B):
            self.cycle_sprite({key.O: 0, key.A: 1, key.B: 2}[symbol])
        elif symbol == key.F:
            self.framing = (self.framing + 1) % len(FRAMINGS)
        elif symbol == key.H:
            self.show_help = not self.show_help

    def cycle_sprite(self, which: int) -> None:
        labels_of, wearing = self.puppet.labels, self.puppet.wearing
        if not labels_of:
            return
        preferred = ("outfit", "accessories", "body")[which]
        cats = list(labels_of)
        category = preferred if preferred in labels_of else cats[which % len(cats)]
        labels = labels_of[category]
        current = wearing.get(category, labels[0])
        self.puppet.swap(category, labels[(labels.index(current) + 1) % len(labels)])

    # --- time and drawing ------------------------------------------------------------------

    def tick(self, dt: float) -> None:
        if self.landing_in is not None:
            self.landing_in -= dt
            if self.landing_in <= 0:
                self.puppet.set_controls({"grounded": 1.0})
                self.landing_in = None
        self.puppet.tick(self.clock(), TICK)
        self.status.text = (
            f"{self.puppet.active_state}  speed {self.speed:.1f}  framing {FRAMINGS[self.framing]}  "
            + "  ".join(f"{k}: {v}" for k, v in self.puppet.wearing.items())
        )

    def on_draw(self) -> None:
        self.ctx.screen.use()
        self.renderer.draw(
            self.puppet.pose, FRAMINGS[self.framing], target=self.ctx.screen, background=BACKGROUND
        )
        self.ctx.enable_only(0)
        self.status.draw()
        if self.show_help:
            self.help.draw()


class PuppetWindow(PreviewWindow):
    """The preview puppeted by face tracking from `camera` (a webcam index, a video file
    path, which loops, or a CameraSource on the same clock). Every tick the tracker's
    parameters go into the session's inputs, so the state machine keeps running underneath
    and the preview's keys still work. Extra key: N takes the next half second of the face
    as the user's neutral pose. The camera is opened before the window, so a missing one
    raises CameraError with no window."""

    def __init__(
        self,
        bundle: AvatarBundle,
        camera: CameraSource | int | str | os.PathLike[str],
        size: int = 640,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if bundle.tracking is None:
            raise FormatError(
                (RIGS / bundle.rig.name / "tracking.json").relative_to(RIGS.parent).as_posix(),
                "",
                "file not found (puppet mode needs the rig's face-tracking bindings)",
            )
        self.tracker = FaceTracker(bundle.tracking, bundle.rig)
        self.worker = TrackingWorker(self.tracker, clock=clock)
        if not isinstance(camera, CameraSource):
            camera = CameraSource(camera, loop=True, clock=clock)
        self.camera = camera.open()
        self.camera.on_frame = self.worker.submit
        self._stopped = False
        try:
            super().__init__(bundle, size=size, seed=seed, tracker=self.tracker, clock=clock)
        except BaseException:
            self.camera.stop()
            raise
        self.set_caption(f"Digigami puppet: {bundle.rig.name} ({self.camera.name})")
        self.help.text = HELP + "  N neutral (calibrate)"
        self.tracking_status = pyglet.text.Label(
            "", x=8, y=26, font_size=10, color=(255, 255, 255, 230)
        )
        self.worker.start()
        self.camera.start()

    def press(self, symbol: int) -> None:
        if symbol == key.N:
            self.puppet.calibrate()
        else:
            super().press(symbol)

    def tick(self, dt: float) -> None:
        super().tick(dt)
        self.tracking_status.text = self.tracking_line()

    def tracking_line(self) -> str:
        """Tracking state (tracking / lost / the newest error), camera fps, landmarker time
        and presence, for the status line."""
        w, cam = self.worker, self.camera
        state = f"error: {w.error}" if w.error else self.tracker.state
        if cam.error:
            state = f"camera error: {cam.error}"
        elif not cam.alive and cam.ended:
            state += " (video ended)"
        return (
            f"face {state}  presence {self.tracker.presence:.2f}  "
            f"camera {cam.fps:.0f} fps  landmarks {w.last_ms:.1f} ms"
        )

    def summary(self) -> str:
        """One line on what the camera and the tracking worker did, for the end of a run."""
        w, cam = self.worker, self.camera
        line = (
            f"puppet: {cam.name}: {cam.frames} frames; tracked {w.frames} "
            f"({w.dropped} dropped), face in {w.faces}, last {w.last_ms:.1f} ms"
        )
        return line + (f"; error: {w.error}" if w.error else "")

    def on_draw(self) -> None:
        super().on_draw()
        self.tracking_status.draw()

    def close(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.camera.stop()
            self.worker.stop()
        super().close()


def run_preview(
    rig: str, size: int = 640, seed: int = 0, screenshot: str | None = None, after: float = 2.0
) -> None:
    """Open the window; with `screenshot`, save the window's picture after `after` seconds
    and close (for scripted checks under a virtual display)."""
    _run(PreviewWindow(load_bundle(rig), size=size, seed=seed), screenshot, after)


def run_puppet(
    rig: str,
    camera: CameraSource | int | str | os.PathLike[str] = 0,
    size: int = 640,
    seed: int = 0,
    screenshot: str | None = None,
    after: float = 2.0,
) -> None:
    """Open the puppet window on `camera`: a webcam index, a video file (played in a loop)
    or a CameraSource (CameraError when it cannot be opened); `screenshot` and `after` as
    for `run_preview`. Prints a one-line summary of the camera and tracking at the end."""
    win = PuppetWindow(load_bundle(rig), camera, size=size, seed=seed)
    try:
        _run(win, screenshot, after)
    finally:
        win.camera.stop()
        win.worker.stop()
    print(win.summary())


def _run(win: PreviewWindow, screenshot: str | None, after: float) -> None:
    if screenshot is not None:

        def shoot(_dt: float) -> None:
            win.switch_to()
            win.on_draw()
            pyglet.image.get_buffer_manager().get_color_buffer().save(screenshot)
            win.close()
            pyglet.app.exit()

        pyglet.clock.schedule_once(shoot, after)
    pyglet.app.run()
