"""Framing presets: which part of engine space fills the output picture.

`framing_rect` is a still's framing, from the setup pose; a live session's framing follows
the pose (`Framer`)."""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.kernels.layout import WA, WB, WC, WD, WX, WY
from engine.kernels.skinning import skin_vertex
from engine.pose.pose import Pose
from engine.rig.data import MeshAttachment, RigData
from engine.rig.loader import setup_world_transforms

FRAMINGS = ("full", "bust", "face")
Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in engine space (y-up)


def framing_rect(rig: RigData, preset: str, pad: float = 0.06) -> Rect:
    """A square around what the setup pose shows: the whole body, the head and body down to
    the hips (as a live session's bust, `Framer`), or the head (the bones under `head`)."""
    if preset not in FRAMINGS:
        raise ValueError(f'unknown framing "{preset}" (expected one of {", ".join(FRAMINGS)})')
    pts = _setup_points(rig)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    if preset == "face" and "head" in rig.bone_index:
        head = _setup_points(rig, under=rig.bone_index["head"])
        x0, y0 = head.min(axis=0)
        x1, y1 = head.max(axis=0)
    elif preset == "bust" and "head" in rig.bone_index:  # what a live bust frames (_Part)
        pose = Pose(rig)
        pose.update_world()
        x0, y0, x1, y1 = _Part(rig, "bust").box(pose)
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


# --- live framing: a camera that keeps the framed part in view in every animation ----------
#
# A framing computed once from the setup pose fails as soon as the avatar moves: swimming
# lays Digi on her side and the face framing showed an empty corner, and a full framing sized
# for the setup pose's outstretched arms left wide empty gaps beside an idling avatar. The
# session's framing therefore follows what the pose shows, like a camera operator: it widens
# quickly when the framed part reaches past the picture, holds still while the part moves
# about inside it (a dance's swings are remembered for HOLD seconds), and settles again
# slowly once the part has stayed smaller or elsewhere for that long. In between it does not
# move at all: a drifting camera would redraw every pixel of the picture each frame, which
# costs the video encoder bits that the avatar needs.

HOLD = 1.5  # seconds a pose's extent keeps the frame wide (a dance's swing comes back sooner)
GROW_TAU = 0.08  # seconds: how fast the frame widens when the part reaches past it
MOVE_TAU = 0.35  # seconds: how fast it narrows or re-centres once it may
SLACK = 0.15  # re-aim when the held extent's square is this much smaller (or as far off)
PADS = {"full": 0.04, "bust": 0.06, "face": 0.08}  # margin around the part, of its size


class Framer:
    """One live session's framing, moved on the render thread once a tick (`update`).

    The rect it returns is square (what `view_matrix` fits without stretching), in engine
    space. A change of preset cuts to the new framing at once (a cut reads better than a
    zoom across the whole body, and the stream makes a keyframe of it). `moving` is true
    while the frame eases; `moves` counts the moves it has finished."""

    def __init__(self, rig: RigData) -> None:
        self.rig = rig
        self._parts = {preset: _Part(rig, preset) for preset in FRAMINGS}
        self._preset: str | None = None
        # the part's recent boxes (x0 y0 x1 y1) and their times
        self._times = np.zeros(0)
        self._boxes = np.zeros((0, 4))
        self._goal: np.ndarray | None = None  # cx, cy, side
        self._now = np.zeros(3)
        self._time = 0.0
        self.moving = False
        self.moves = 0
        self.rect: Rect | None = None

    def update(self, pose: Pose, preset: str, dt: float) -> Rect:
        """The framing for this tick's `pose` in `preset`, `dt` seconds after the last."""
        if preset not in FRAMINGS:
            raise ValueError(f'unknown framing "{preset}" (expected one of {", ".join(FRAMINGS)})')
        self._time += max(dt, 0.0)
        box = self._parts[preset].box(pose)
        if preset != self._preset or self._goal is None:  # a cut
            self._preset = preset
            self._times, self._boxes = np.array([self._time]), box[None, :]
            self._goal = _square_of(box, PADS[preset])
            self._now = self._goal.copy()
            self.moving = False
            return self._emit()
        times = np.append(self._times, self._time)
        boxes = np.vstack([self._boxes, box])
        size = max(box[2] - box[0], box[3] - box[1])
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        # what the part did here lately; where it was before it moved away is forgotten
        # (lying down to swim moves the head by more than half its size: the frame follows it
        # there rather than widening to keep the empty place it left)
        far = np.hypot(*(centres - centres[-1]).T) > size / 2
        keep = (self._time - times <= HOLD) & ~far
        self._times, self._boxes = times[keep], boxes[keep]
        held = np.array([*self._boxes[:, :2].min(axis=0), *self._boxes[:, 2:].max(axis=0)])
        wanted = _square_of(held, PADS[preset])
        goal = self._goal
        if not _inside(box, goal, PADS[preset] / 2):
            self._goal = wanted  # the part reaches past the frame: widen now
            tau = GROW_TAU
        else:
            smaller = wanted[2] < goal[2] * (1 - SLACK)
            off = np.hypot(*(wanted[:2] - goal[:2])) > goal[2] * SLACK / 2
            if smaller or off:
                self._goal = wanted
            tau = GROW_TAU if self._goal[2] > self._now[2] * 1.001 else MOVE_TAU
        step = self._goal - self._now
        if np.abs(step).max() <= 2e-3 * self._goal[2]:
            if self.moving:
                self.moves += 1
            self._now = self._goal.copy()
            self.moving = False
        else:
            self._now = self._now + step * (1 - np.exp(-max(dt, 0.0) / tau))
            self.moving = True
            if not _inside(box, self._now, 0.0):  # outran the easing: never cut the part
                self._now = _contain(self._now, box)
        return self._emit()

    def _emit(self) -> Rect:
        self.rect = _corners(self._now)
        return self.rect


def _square_of(box: np.ndarray, pad: float) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.array([(x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * (1 + 2 * pad)])


def _contain(square: np.ndarray, box: np.ndarray) -> np.ndarray:
    """`square` moved (and widened only if it must) the least that puts `box` inside it."""
    side = max(float(square[2]), box[2] - box[0], box[3] - box[1])
    half = side / 2
    cx = min(max(float(square[0]), box[2] - half), box[0] + half)
    cy = min(max(float(square[1]), box[3] - half), box[1] + half)
    return np.array([cx, cy, side])


def _corners(square: np.ndarray) -> tuple[float, float, float, float]:
    cx, cy, side = (float(v) for v in square)
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


def _inside(box: np.ndarray, square: np.ndarray, margin: float) -> bool:
    """Whether `box` lies in `square` (cx, cy, side) shrunk by `margin` of its side."""
    cx, cy, side = square
    half = side * (0.5 - margin)
    x0, y0, x1, y1 = box
    return bool(x0 >= cx - half and x1 <= cx + half and y0 >= cy - half and y1 <= cy + half)


class _Part:
    """The points of a pose that a preset frames: every shown attachment (full), the head
    and the body below it down to the hips, shoulders included (bust), or the head (face).
    A skinned mesh counts by vertex, each with the bone that moves it most, so the legs and
    arms stay out of a bust."""

    def __init__(self, rig: RigData, preset: str) -> None:
        bones = _bones(rig, preset)
        regions, meshes = [], []
        for slot in rig.slots:
            for name, att in rig.attachments[slot.index].items():
                if isinstance(att, MeshAttachment):
                    rows = att.offset + _outline(att.triangles)
                    if bones is not None:
                        w = rig.skin_weights[rows]
                        main = rig.skin_bones[rows, np.argmax(w, axis=1)]
                        rows = rows[np.isin(main, list(bones))]
                    if len(rows):
                        meshes.append((slot.index, name, rows))
                elif bones is None or slot.bone in bones:
                    regions.append((slot.index, name, slot.bone, att.corners))
        self.rig = rig
        self._regions = regions
        self._meshes = meshes
        self._shown: tuple[tuple, tuple] | None = None

    def box(self, pose: Pose) -> np.ndarray:
        """x0, y0, x1, y1 of the part as `pose` shows it (deforms left out: they are
        small, and the margin covers them)."""
        visible = tuple(pose.slot_attachment)
        alpha = tuple(pose.slot_color[:, 3] > 0.0)
        if self._shown is None or self._shown[0] != (visible, alpha):
            rig = self.rig
            regs = [r for r in self._regions if visible[r[0]] == r[1] and alpha[r[0]]]
            rows = [m[2] for m in self._meshes if visible[m[0]] == m[1] and alpha[m[0]]]
            rows_all = np.concatenate(rows) if rows else np.zeros(0, np.int64)
            skin = (rig.skin_bones[rows_all], rig.skin_weights[rows_all], rig.skin_local[rows_all])
            bones = np.array([r[2] for r in regs], np.int64)
            corners = np.array([r[3] for r in regs], np.float64).reshape(-1, 4, 2)
            self._shown = ((visible, alpha), (skin, bones, corners))
        (sb, sw, sl), bones, corners = self._shown[1]
        world = pose.world
        if not len(sb) and not len(bones):  # nothing of the part shows: frame the skeleton
            p = world[:, [WX, WY]]
            return np.array([*p.min(axis=0), *p.max(axis=0)])
        return _extent(world, sb, sw, sl, bones, corners)


@njit(cache=True, fastmath=True)
def _extent(
    world: np.ndarray,
    bones: np.ndarray,
    weights: np.ndarray,
    local: np.ndarray,
    region_bones: np.ndarray,
    corners: np.ndarray,
) -> np.ndarray:
    """x0, y0, x1, y1 of skinned vertices (`skin_reference`'s sum, deforms left out) and
    region corners, in one pass: a tick's framing costs microseconds, not a tenth of a
    millisecond of numpy temporaries."""
    out = np.array([np.inf, np.inf, -np.inf, -np.inf])
    for v in range(bones.shape[0]):
        x, y = skin_vertex(world, bones, weights, local, v)
        out[0] = min(out[0], x)
        out[1] = min(out[1], y)
        out[2] = max(out[2], x)
        out[3] = max(out[3], y)
    for r in range(region_bones.shape[0]):
        b = region_bones[r]
        for k in range(4):
            cx = corners[r, k, 0]
            cy = corners[r, k, 1]
            x = world[b, WA] * cx + world[b, WB] * cy + world[b, WX]
            y = world[b, WC] * cx + world[b, WD] * cy + world[b, WY]
            out[0] = min(out[0], x)
            out[1] = min(out[1], y)
            out[2] = max(out[2], x)
            out[3] = max(out[3], y)
    return out


def _outline(triangles: np.ndarray) -> np.ndarray:
    """A mesh's vertices on its outline (edges of one triangle only): a sheet that does not
    fold over itself reaches furthest at one of them, so only they are skinned."""
    tri = np.asarray(triangles, np.int64)
    edges = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1)
    unique, count = np.unique(edges, axis=0, return_counts=True)
    return np.unique(unique[count == 1])


def _bones(rig: RigData, preset: str) -> set[int] | None:
    """The bones whose parts a preset frames; None for all of them. A rig without a
    `head` bone frames the whole body in every preset."""
    head = rig.bone_index.get("head")
    if preset == "full" or head is None:
        return None
    bones = rig.descendants(head) | {head}
    if preset == "bust":  # and the body down to the hips, with the shoulders, not the limbs
        parent = rig.bones[head].parent
        while parent >= 0 and rig.bones[parent].parent >= 0:  # not the root
            bones.add(parent)
            parent = rig.bones[parent].parent
        bones |= {i for i, b in enumerate(rig.bones) if b.name.startswith("shoulder")}
    return bones
