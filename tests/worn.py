"""Generated avatars of the bundled real face photos, and Digi wearing them: made once per
test run (each takes about a second) and shared by the face, GL and streaming tests."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from engine.assets import AvatarBundle
from engine.face import FaceArt, wear_face
from engine.style import GeneratedAvatar, generate
from tests.photos import PHOTOS


@lru_cache(maxsize=8)
def generated(photo: str = "astronaut", style: str = "kingdom-hearts") -> GeneratedAvatar:
    return generate(PHOTOS[photo](), style)


def face_art(photo: str = "astronaut", style: str = "kingdom-hearts") -> FaceArt:
    g = generated(photo, style)
    return FaceArt(f"{photo}-{style}", g.outputs["full"], g.outputs["transparent"], g.landmarks)


@lru_cache(maxsize=8)
def worn(photo: str = "astronaut", style: str = "kingdom-hearts") -> AvatarBundle:
    return wear_face(face_art(photo, style))


def colour_overlap(a: np.ndarray, b: np.ndarray, bins: int = 8) -> float:
    """Histogram intersection of two RGB pictures' colours (1: the same colours, 0: none
    shared). Moving pixels (a head that rolls or turns) hardly changes it; other art does."""

    def hist(p: np.ndarray) -> np.ndarray:
        q = (np.clip(p, 0, 255).astype(int) * bins // 256).reshape(-1, 3)
        h = np.bincount((q[:, 0] * bins + q[:, 1]) * bins + q[:, 2], minlength=bins**3)
        return h / h.sum()

    return float(np.minimum(hist(a), hist(b)).sum())


Box = tuple[slice, slice]


def render_at_rest(
    bundle: AvatarBundle, size: int = 512, framing: str = "full", style: str = "none"
) -> tuple[np.ndarray, tuple]:
    """The bundle's first frame drawn as the puppet stream frames it (in render style
    `style`): (size, size, 3) RGB over the stream's backdrop, and the framing rectangle."""
    from engine.render import AvatarRenderer, create_context
    from engine.render.looks import render_style
    from engine.session import AvatarSession
    from streaming.live import BACKGROUND

    ctx = create_context()
    try:
        r = AvatarRenderer(ctx, bundle.rig, bundle.pictures(), (size, size))
        s = AvatarSession(bundle)
        s.step(0.0)
        img = r.render(s.pose, framing, style=render_style(style)).astype(float)
        rect = r.framing(framing)
        r.release()
    finally:
        ctx.release()
    return img[..., :3] + np.array(BACKGROUND, float) * (1 - img[..., 3:] / 255), rect


def slot_box(bundle: AvatarBundle, rect: tuple, slot_name: str, size: int = 512, pad: int = 0) -> Box:
    """The pixel box round one slot's attachment at rest, in a picture framed by `rect`."""
    from engine.session import AvatarSession

    slot = bundle.rig.slot_index[slot_name]
    v = next(i for i in AvatarSession(bundle).draw_list() if i.slot == slot).vertices
    x0, y0, x1, y1 = rect
    xs, ys = (v[:, 0] - x0) / (x1 - x0) * size, (y1 - v[:, 1]) / (y1 - y0) * size
    return (slice(max(int(ys.min()) - pad, 0), int(ys.max()) + pad),
            slice(max(int(xs.min()) - pad, 0), int(xs.max()) + pad))  # fmt: skip
