"""Framing presets: which part of engine space fills the output picture."""

from __future__ import annotations

import numpy as np

from engine.rig.data import MeshAttachment, RigData
from engine.rig.loader import setup_world_transforms

FRAMINGS = ("full", "bust", "face")
Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in engine space (y-up)


def framing_rect(rig: RigData, preset: str, pad: float = 0.06) -> Rect:
    """A square around what the setup pose shows: the whole body, head and shoulders, or the
    head (the bones under `head`)."""
    if preset not in FRAMINGS:
        raise ValueError(f'unknown framing "{preset}" (expected one of {", ".join(FRAMINGS)})')
    pts = _setup_points(rig)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    if preset != "full" and "head" in rig.bone_index:
        head = _setup_points(rig, under=rig.bone_index["head"])
        hx0, hy0 = head.min(axis=0)
        hx1, hy1 = head.max(axis=0)
        if preset == "face":
            x0, y0, x1, y1 = hx0, hy0, hx1, hy1
        else:  # bust: the head, and shoulders and chest below it (60% of a head)
            y0, y1 = hy0 - 0.6 * (hy1 - hy0), hy1
            body = pts[(pts[:, 1] >= y0)]
            x0, x1 = body[:, 0].min(), body[:, 0].max()
    return _square(x0, y0, x1, y1, pad)


def _square(x0: float, y0: float, x1: float, y1: float, pad: float) -> Rect:
    side = max(x1 - x0, y1 - y0) * (1 + 2 * pad)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


def _setup_points(rig: RigData, under: int | None = None) -> np.ndarray:
    keep = None if under is None else rig.descendants(under) | {under}
    pts = []
    world = setup_world_transforms(rig)
    for slot in rig.slots:
        if keep is not None and slot.bone not in keep:
            continue
        # what shows at setup: alternates (a hat, a sword) would only widen the frame
        shown = [rig.attachments[slot.index][slot.attachment]] if slot.attachment else []
        for att in shown:
            if isinstance(att, MeshAttachment):
                pts.append(att.setup_vertices)
            else:
                w = world[slot.bone]
                c = att.corners
                pts.append(
                    np.stack(
                        [
                            w[0] * c[:, 0] + w[1] * c[:, 1] + w[4],
                            w[2] * c[:, 0] + w[3] * c[:, 1] + w[5],
                        ],
                        1,
                    )
                )
    if not pts:
        raise ValueError("the rig has no attachments to frame")
    return np.concatenate(pts)


def view_matrix(rect: Rect, width: int, height: int) -> np.ndarray:
    """Engine space -> clip space, fitting `rect` into the output without stretching."""
    x0, y0, x1, y1 = rect
    sx = 2.0 / (x1 - x0)
    sy = 2.0 / (y1 - y0)
    aspect = width / height
    if aspect > 1:
        sx /= aspect
    else:
        sy *= aspect
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return np.array([[sx, 0, -cx * sx], [0, sy, -cy * sy], [0, 0, 1]], dtype=np.float32)
