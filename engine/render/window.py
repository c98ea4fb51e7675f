"""The desktop preview (pyglet): Digi driven by the state machine, keys for states, emotes,
tools, dances, sprite swaps and framing. `digigami preview`."""

from __future__ import annotations

import pyglet
from pyglet.window import key

from engine.assets import ATLASES, AvatarBundle
from engine.render.atlas import load_atlas
from engine.render.context import window_context
from engine.render.framing import FRAMINGS
from engine.render.renderer import AvatarRenderer
from engine.session import AvatarSession, Inputs

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
    def __init__(self, bundle: AvatarBundle, size: int = 640, seed: int = 0) -> None:
        super().__init__(size, size, caption=f"Digigami preview: {bundle.rig.name}", resizable=True)
        self.bundle = bundle
        self.ctx = window_context()
        self.renderer = AvatarRenderer(
            self.ctx, bundle.rig, load_atlas(ATLASES / bundle.rig.name), (size, size)
        )
        self.session = AvatarSession(bundle, seed=seed)
        self.pending = Inputs()
        self.speed = 0.0
        self.framing = 0
        self.show_help = True
        self.landing_in: float | None = None
        self.status = pyglet.text.Label("", x=8, y=8, font_size=10, color=(255, 255, 255, 230))
        self.help = pyglet.text.Label(HELP, x=8, y=size - 8, anchor_y="top", width=size - 16, multiline=True,
                                      font_size=9, color=(255, 255, 255, 200))  # fmt: skip
        pyglet.clock.schedule_interval(self.tick, TICK)

    # --- input ---------------------------------------------------------------------------

    def on_key_press(self, symbol: int, modifiers: int) -> None:
        p = self.pending
        states = self.bundle.machine.states
        if symbol == key.ESCAPE:
            self.close()
        elif symbol in (key.UP, key.DOWN):
            self.speed = max(0.0, min(4.0, self.speed + (0.5 if symbol == key.UP else -0.5)))
            p.controls = {**p.controls, "speed": self.speed}
            if self.speed > 0 and self.session.controller.state() == "idle":
                p.transitions.append("walk")
        elif symbol == key.SPACE and "jump" in states:
            p.controls = {**p.controls, "grounded": 0.0}
            p.transitions.append("jump")
            self.landing_in = 0.7
        elif symbol in STATE_KEYS and STATE_KEYS[symbol] in states:
            p.transitions.append(STATE_KEYS[symbol])
        elif key._1 <= symbol <= key._9 and "dance" in states:
            n = symbol - key._0
            self.session.controller.transition("dance", variant=f"dance_{n}")
        elif symbol == key.Q:
            p.stop.append("tool")
        elif symbol == key.E:
            p.stop.append("emote")
        elif symbol in (key.O, key.A, key.B):
            self.cycle_sprite({key.O: 0, key.A: 1, key.B: 2}[symbol])
        elif symbol == key.F:
            self.framing = (self.framing + 1) % len(FRAMINGS)
        elif symbol == key.H:
            self.show_help = not self.show_help

    def cycle_sprite(self, which: int) -> None:
        lib, sel = self.bundle.sprites, self.session.sprites
        if lib is None or sel is None:
            return
        preferred = ("outfit", "accessories", "body")[which]
        cats = list(lib.categories)
        category = preferred if preferred in lib.categories else cats[which % len(cats)]
        labels = list(lib.categories[category])
        current = sel.chosen.get(category, labels[0])
        label = labels[(labels.index(current) + 1) % len(labels)]
        self.pending.swaps = {**self.pending.swaps, category: label}

    # --- time and drawing ------------------------------------------------------------------

    def tick(self, dt: float) -> None:
        if self.landing_in is not None:
            self.landing_in -= dt
            if self.landing_in <= 0:
                self.pending.controls = {**self.pending.controls, "grounded": 1.0}
                self.landing_in = None
        inputs, self.pending = self.pending, Inputs()
        self.session.step(TICK, inputs)
        c = self.session.controller
        swaps = self.session.sprites.chosen if self.session.sprites else {}
        self.status.text = (
            f"{c.active_state}  speed {self.speed:.1f}  framing {FRAMINGS[self.framing]}  "
            + "  ".join(f"{k}: {v}" for k, v in swaps.items())
        )

    def on_draw(self) -> None:
        self.ctx.screen.use()
        self.renderer.draw(
            self.session.pose, FRAMINGS[self.framing], target=self.ctx.screen, background=BACKGROUND
        )
        self.ctx.enable_only(0)
        self.status.draw()
        if self.show_help:
            self.help.draw()


def run_preview(
    rig: str, size: int = 640, seed: int = 0, screenshot: str | None = None, after: float = 2.0
) -> None:
    """Open the window; with `screenshot`, save the window's picture after `after` seconds
    and close (for scripted checks under a virtual display)."""
    from engine.assets import load_bundle

    win = PreviewWindow(load_bundle(rig), size=size, seed=seed)
    if screenshot is not None:

        def shoot(_dt: float) -> None:
            win.switch_to()
            win.on_draw()
            pyglet.image.get_buffer_manager().get_color_buffer().save(screenshot)
            win.close()
            pyglet.app.exit()

        pyglet.clock.schedule_once(shoot, after)
    pyglet.app.run()
