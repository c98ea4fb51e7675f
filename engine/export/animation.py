"""Render animations through the state machine to PNG frames and contact sheets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from engine.anim.controller import UnknownStateError
from engine.assets import ATLASES, AvatarBundle
from engine.atlas import load_atlas
from engine.export.png import save_png, sheet
from engine.render.context import create_context
from engine.render.renderer import AvatarRenderer
from engine.session import AvatarSession, Inputs

TICK = 1 / 60


def play(
    bundle: AvatarBundle,
    state: str,
    variant: str | None = None,
    count: int = 8,
    seconds: float | None = None,
    seed: int = 0,
    lead_in: float = 0.25,
) -> Iterator[AvatarSession]:
    """The session at `count` moments evenly over one play of `state` (its clip's length,
    or `seconds`), entered from idle after `lead_in` seconds with the state's own mix."""
    if state not in bundle.machine.states:
        known = ", ".join(sorted(bundle.machine.states))
        raise UnknownStateError(
            f'unknown state "{state}" for rig "{bundle.rig.name}" (known: {known})'
        )
    st = bundle.machine.states[state]
    if variant is not None and variant not in {c.name for c, _ in st.variants}:
        known = ", ".join(c.name for c, _ in st.variants) or "none"
        raise UnknownStateError(f'state "{state}" has no variant "{variant}" (known: {known})')
    s = AvatarSession(bundle, seed=seed)
    clip = next((c for c, _ in st.variants if c.name == variant), None) if variant else None
    clip = clip or (st.variants[0][0] if st.variants else st.blend.clips[0] if st.blend else None)
    length = seconds or st.duration or (clip.length if clip else 1.0)
    controls = {"speed": 1.0 if state == "walk" else 3.0 if state == "run" else 0.0}
    controls["grounded"] = 0.0 if state in ("jump", "fall") else 1.0
    t = 0.0
    s.step(TICK, Inputs(controls=controls))
    while t < lead_in:
        s.step(TICK)
        t += TICK
    s.controller.transition(state, variant=variant)
    step = length / count
    for _ in range(count):
        elapsed = 0.0
        while elapsed < step - 1e-9:
            s.step(TICK)
            elapsed += TICK
        yield s


def frames(
    bundle: AvatarBundle,
    renderer: AvatarRenderer,
    state: str,
    variant: str | None = None,
    count: int = 8,
    seconds: float | None = None,
    framing: str = "full",
    seed: int = 0,
) -> Iterator[np.ndarray]:
    """Rendered pictures of `play`."""
    for s in play(bundle, state, variant, count, seconds, seed):
        yield renderer.render(s.pose, framing).copy()


def animation_rows(bundle: AvatarBundle) -> list[tuple[str, str, str | None]]:
    """(label, state, variant) for every animation of the state machine, one row each."""
    rows = []
    for name, st in bundle.machine.states.items():
        if len(st.variants) > 1:
            rows += [(c.name, name, c.name) for c, _ in st.variants]
        else:
            rows.append((name, name, None))
    return rows


def render_command(
    rig: str,
    state: str | None,
    variant: str | None,
    out: Path,
    count: int,
    size: int,
    framing: str,
    say: Callable[[str], None] = print,
) -> None:
    from engine.assets import load_bundle

    bundle = load_bundle(rig)
    ctx = create_context()
    renderer = AvatarRenderer(ctx, bundle.rig, load_atlas(ATLASES / rig), size=(size, size))
    out.mkdir(parents=True, exist_ok=True)
    todo = animation_rows(bundle) if state is None else [(variant or state, state, variant)]
    rows = []
    for label, st, var in todo:
        pics = list(frames(bundle, renderer, st, var, count=count, framing=framing))
        if state is not None:
            for i, px in enumerate(pics):
                save_png(px, out / f"{label}_{i:03d}.png")
        rows.append((label, pics))
        say(f"rendered {label}: {len(pics)} frames")
    name = "contact_sheet.png" if state is None else f"{todo[0][0]}_sheet.png"
    sheet(rows, cell=min(size, 160)).save(out / name, optimize=True)
    say(f"wrote {out / name}")
