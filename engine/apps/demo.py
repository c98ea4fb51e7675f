"""A headless tour of the engine core: an avatar's state machine (Digi's by default) driven
through every state at 60 Hz, printing what it does and what a tick costs. The main job until
`serve`."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.assets import load_bundle
from engine.export.wireframe import contact_sheet, draw_frame, frame_bounds
from engine.session import AvatarSession, Inputs

TICK = 1 / 60


@dataclass(frozen=True)
class Cue:
    at: float  # seconds
    inputs: Inputs
    say: str


def script() -> list[Cue]:
    def c(
        at: float,
        say: str,
        *,
        controls: dict | None = None,
        go: list | None = None,
        params: dict | None = None,
        stop: list | None = None,
    ) -> Cue:
        return Cue(at, Inputs(params or {}, controls or {}, go or [], stop or []), say)

    return [
        c(0.0, "idle (weighted variants, breathing)"),
        c(4.0, "walk: speed 1.0", controls={"speed": 1.0}, go=["walk"]),
        c(6.0, "speed up to 2.6: walk blends into run", controls={"speed": 2.6}),
        c(8.0, "wave while running (emote layer over movement)", go=["wave"]),
        c(11.0, "stop: speed 0", controls={"speed": 0.0}),
        c(12.0, "jump (then fall while airborne)", controls={"grounded": 0.0}, go=["jump"]),
        c(13.2, "touch down: land, then idle", controls={"grounded": 1.0}),
        c(14.5, "head turn through parameters", params={"ParamAngleX": 25.0, "ParamAngleZ": -10.0}),
        c(
            15.5,
            "equip a tool, slash, lunge",
            go=["toolnone"],
            params={"ParamAngleX": 0.0, "ParamAngleZ": 0.0},
        ),
        c(16.0, "", go=["toolslash"]),
        c(17.0, "", go=["toollunge"]),
        c(18.0, "dance (a random one of nine)", go=["dance"]),
        c(21.0, "cheer interrupts, then the dance resumes", go=["cheer"]),
        c(24.0, "stop dancing, put the tool away, sit", go=["sit"], stop=["emote", "tool"]),
        c(26.0, "climb", go=["climb"]),
        c(28.0, "swim", go=["swim"]),
        c(30.0, "back to idle", go=["idle"]),
    ]


def run(
    rig: str = "digi",
    seed: int = 0,
    seconds: float = 32.0,
    png: Path | None = None,
    out: Callable[[str], None] = print,
) -> dict:
    bundle = load_bundle(rig)
    session = AvatarSession(bundle, seed=seed)
    rig = bundle.rig
    out(f"rig {rig.name}: {len(rig.bones)} bones, {rig.vertex_count} skinned vertices, "
        f"{len(rig.ik)} IK constraints, {len(bundle.clips)} clips, {len(bundle.machine.states)} states")  # fmt: skip
    cues = iter(script())
    cue = next(cues, None)
    last: tuple = ()
    costs: list[float] = []
    frames = []
    ticks = round(seconds / TICK)
    for k in range(ticks):
        t = k * TICK
        inputs = None
        while cue is not None and cue.at <= t + 1e-9:
            if cue.say:
                out(f"{t:6.2f}s  > {cue.say}")
            inputs = (
                cue.inputs
                if inputs is None
                else Inputs(
                    {**inputs.parameters, **cue.inputs.parameters},
                    {**inputs.controls, **cue.inputs.controls},
                    inputs.transitions + cue.inputs.transitions,
                )
            )
            cue = next(cues, None)
        t0 = time.perf_counter()
        frame = session.step(TICK, inputs)
        costs.append(time.perf_counter() - t0)
        ctl = session.controller
        now = tuple((r, ctl.state(r)) for r in sorted(ctl.regions))
        if now != last:
            desc = ", ".join(f"{r}={s}" for r, s in now if s)
            out(f"{frame.time:6.2f}s    state: {desc}")
            last = now
        for ev in frame.events:
            out(f"{frame.time:6.2f}s    event: {ev.event.name} {ev.event.string} ({ev.animation})")
        if png is not None and k % 30 == 0:
            # draw items view the session's skin buffer, which the next tick overwrites
            draw = [dataclasses.replace(d, vertices=d.vertices.copy()) for d in frame.draw]
            frames.append((frame.time, ctl.active_state, draw, _bone_segments(session)))
    warm = np.array(costs[60:]) * 1e3
    stats = {
        "ticks": ticks,
        "median_ms": float(np.median(warm)),
        "p99_ms": float(np.percentile(warm, 99)),
    }
    out(f"{ticks} ticks: median {stats['median_ms']:.3f} ms, p99 {stats['p99_ms']:.3f} ms per tick "
        f"(state machine, sampling, mixing, parameters, IK, world transforms, CPU skinning)")  # fmt: skip
    if png is not None:
        _write_sheet(frames, png)
        out(f"wrote {png}")
    return stats


def _bone_segments(session: AvatarSession) -> np.ndarray:
    p = session.pose
    segs = [(p.bone_position(b.name), p.bone_tip(b.name)) for b in p.rig.bones if b.length > 0]
    return np.array(segs)


def _write_sheet(frames: list, png: Path) -> None:
    bounds = frame_bounds([f[2] for f in frames])
    images = [draw_frame(d, 200, bounds, bones, f"{t:.1f}s {s}") for t, s, d, bones in frames]
    png.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(images, cols=8).save(png)
