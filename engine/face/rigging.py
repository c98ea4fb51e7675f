"""The generated face as meshes in art space, and how each parameter deforms them.

Art space is the styled picture's own pixels: x right, y down, the landmarks where the
style pipeline left them (GeneratedAvatar.landmarks). Everything here is pure numpy, so the
deforms are tested without GL; engine/face/wear.py maps the result onto a body rig.

Three layers, back to front:
- `back`: the whole picture on one quad (hair, ears, the back of the head), drawn behind;
- `mouth`: the inner mouth, seen only through the hole between the lips;
- `face`: MediaPipe's tessellation textured with the art. The eye holes are filled with
  strips from the upper to the lower lid, so closing an eye collapses its strip; the mouth
  hole stays open, so opening the jaw reveals the inner mouth behind it.

The face rests with its mouth closed whatever the photo showed (a puppet's mouth is
driven live); its uvs keep the art's own positions.

Deforms are keyed per parameter (Live2D's standard ids, the interface tracking drives) as
per-vertex offsets, and add up. Head turns come from 3-D: each point's depth is taken from
the tracking solver's reference face, scaled to the art, and the face is turned about an
axis through the ears and projected back; the hair layer shifts a little the other way
(parallax).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine import landmarks as lm
from engine.face.topology import FaceTopology, Opening, topology
from engine.tracking.solver import reference

Keys = list[tuple[float, np.ndarray]]  # (parameter value, (n, 2) offsets), increasing values

LOWER_LIP = np.array(lm.LOWER_LIP_OUTER)
TURN_KEYS = (-30.0, -15.0, 0.0, 15.0, 30.0)  # degrees (ParamAngleX / ParamAngleY)
JAW_DROP = 0.42  # the lower lip's travel at a wide-open mouth, in mouth widths
CHIN_FOLLOW = 0.7  # how far the chin drops with the lower lip
LID_MEET = 0.22  # where closed lids meet, from the lower lid towards the upper one
BROW_LIFT = 0.13  # a full brow raise, in eye distances
HAIR_PARALLAX = 0.3  # the hair layer's turn shift against the nose's, opposite way
# Turns are drawn at this fraction of a true 3-D turn: flat art cannot show the far cheek
# it never had, and a partial turn reads as a turn without stretching it (Live2D's way).
TURN_GAIN = 0.6


@dataclass(frozen=True, slots=True)
class Layer:
    vertices: np.ndarray  # (n, 2) art pixels at rest
    uvs: np.ndarray  # (n, 2) 0..1 over the layer's picture, (0, 0) top-left
    triangles: np.ndarray  # (m, 3)
    deforms: dict[str, Keys] = field(default_factory=dict)
    # the slot's alpha per parameter: (value, alpha) keys, multiplied in
    alpha: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FaceRig:
    size: int  # the art's side in pixels
    back: Layer
    mouth: Layer
    face: Layer
    lids: tuple[Layer, Layer]  # the closed lids' lines, right eye then left
    chin: np.ndarray  # (2,) art pixels
    width: float  # cheek to cheek (landmarks 234, 454), pixels
    mouth_box: tuple[float, float, float, float]  # the inner mouth's x0, y0, x1, y1 at rest


class FaceRigError(ValueError):
    """Landmarks that cannot be rigged (not 478 points, or not a plausible face)."""


def rig_face(landmarks: np.ndarray, size: int) -> FaceRig:
    """Rig the face whose (478, 2) landmarks lie in a `size` x `size` picture."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (lm.POINTS, 2) or not np.all(np.isfinite(pts)):
        raise FaceRigError(f"expected ({lm.POINTS}, 2) finite landmarks, got shape {pts.shape}")
    topo = topology()
    art = pts  # vertex i is landmark i; the iris rings ride along in no triangle
    sides = list(lm.FACE_SIDES)
    width = float(np.linalg.norm(art[sides[1]] - art[sides[0]]))
    eye_span = float(np.linalg.norm(art[lm.LEFT_EYE_OUTER] - art[lm.RIGHT_EYE_OUTER]))
    if width < 16 or eye_span < 8:
        raise FaceRigError(f"the face is too small to rig ({width:.0f} px across)")
    lo, hi = art.min(axis=0), art.max(axis=0)
    if np.any(lo < -0.25 * size) or np.any(hi > 1.25 * size):
        raise FaceRigError("the landmarks lie outside the picture")

    mouth_w = float(np.linalg.norm(art[lm.MOUTH_CORNERS[1]] - art[lm.MOUTH_CORNERS[0]]))
    rest = art + _close_mouth(art, topo.mouth, mouth_w)
    depth = reference().points[:, 2] * eye_span  # pixels, towards the viewer
    depth = _slope_limited(depth, rest, topo.triangles, TURN_KEYS[-1] * TURN_GAIN)
    pivot = float(depth[sides].mean())  # by the ears: the head turns about them
    centre = art[sides].mean(axis=0)

    eyes = [_eye_fill(rest, eye, int(iris[0])) for eye, iris in
            ((topo.eye_right, topo.iris_right), (topo.eye_left, topo.iris_left))]  # fmt: skip
    face = Layer(
        vertices=rest,
        uvs=art / size,
        triangles=np.concatenate([topo.triangles, *(tris for tris, _ in eyes)]),
        deforms={},
    )
    jaw = _jaw(rest, topo.mouth, mouth_w, width)
    face.deforms["ParamMouthOpenY"] = [(0.0, 0 * rest), (1.0, jaw)]
    face.deforms["ParamEyeROpen"] = _lid(rest, topo.eye_right, topo.brow_right, eyes[0][1])
    face.deforms["ParamEyeLOpen"] = _lid(rest, topo.eye_left, topo.brow_left, eyes[1][1])
    face.deforms["ParamEyeBallX"] = _gaze(rest, topo, [c for _, c in eyes], axis=0)
    face.deforms["ParamEyeBallY"] = _gaze(rest, topo, [c for _, c in eyes], axis=1)
    face.deforms["ParamBrowRY"] = _brow(rest, topo.brow_right, topo.eye_right, eye_span)
    face.deforms["ParamBrowLY"] = _brow(rest, topo.brow_left, topo.eye_left, eye_span)
    corners = (*lm.MOUTH_CORNERS, *lm.INNER_MOUTH_CORNERS)
    face.deforms["ParamMouthForm"] = [
        (-1.0, _corners(rest, corners, mouth_w, out=-0.02, up=-0.09)),
        (0.0, 0 * rest),
        (1.0, _corners(rest, corners, mouth_w, out=0.05, up=0.12)),
    ]
    for pid, squeeze in (("ParamI", -0.22), ("ParamE", -0.14), ("ParamU", 0.4), ("ParamO", 0.25)):
        face.deforms[pid] = [(0.0, 0 * rest), (1.0, _squeeze(rest, topo.mouth, mouth_w, squeeze))]
    face.deforms["ParamAngleX"] = _turn(rest, depth, pivot, centre, axis=0)
    face.deforms["ParamAngleY"] = _turn(rest, depth, pivot, centre, axis=1)

    mouth = _inner_mouth(rest, topo.mouth, mouth_w, jaw, depth, pivot, centre)
    lids = (
        _lid_line(rest, topo.eye_right, "ParamEyeROpen", depth, pivot, centre),
        _lid_line(rest, topo.eye_left, "ParamEyeLOpen", depth, pivot, centre),
    )
    back = _back(size, depth, pivot)
    x0, y0 = mouth.vertices.min(axis=0)
    x1, y1 = mouth.vertices.max(axis=0)
    return FaceRig(size, back, mouth, face, lids, art[lm.CHIN].copy(), width, (x0, y0, x1, y1))


# --- the deforms -------------------------------------------------------------------------------


def _spread(
    pts: np.ndarray, idx: np.ndarray, disp: np.ndarray, radius: float, mask: np.ndarray
) -> np.ndarray:
    """Offsets that move the control points `idx` by exactly `disp` and the masked points
    by a smooth blend of their neighbours' moves: Gaussian weights, normalized where they
    add up to more than 1 (near the controls: their average) and not where they add up to
    less (far away: the move fades out)."""
    out = np.zeros_like(pts)
    d2 = ((pts[:, None, :] - pts[None, idx, :]) ** 2).sum(axis=2)
    k = np.exp(-d2 / radius**2)
    blend = (k @ disp) / np.maximum(k.sum(axis=1, keepdims=True), 1.0)
    out[mask] = blend[mask]
    out[idx] = disp
    return out


def _line_y(pts: np.ndarray, path: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The height of a corner-to-corner path at each x (flat beyond its ends)."""
    px, py = pts[path, 0], pts[path, 1]
    order = np.argsort(px)
    return np.interp(x, px[order], py[order])


def _close_mouth(art: np.ndarray, mouth: Opening, mouth_w: float) -> np.ndarray:
    up, lo = mouth.upper[1:-1], mouth.lower[1:-1]
    mid = (art[up] + art[lo]) / 2
    idx = np.concatenate([up, lo])
    disp = np.concatenate([mid - art[up], mid - art[lo]])
    # only the lips themselves follow: nose and chin keep the art's shape
    near = np.abs(art[:, 1] - _line_y(art, mouth.upper, art[:, 0])) < 0.35 * mouth_w
    return _spread(art, idx, disp, 0.18 * mouth_w, near)


def _jaw(rest: np.ndarray, mouth: Opening, mouth_w: float, face_w: float) -> np.ndarray:
    """The mouth wide open: the lower lip drops as one piece (most at the middle, none at
    the corners), and the chin and jaw below it follow a little less. The moving part
    widens from the mouth's corners at the lips to most of the jaw at the chin, so the
    cheeks beside the corners stay put and nothing folds."""
    left, right = rest[mouth.upper[0], 0], rest[mouth.upper[-1], 0]
    mid, half = (left + right) / 2, (right - left) / 2
    x, y = rest[:, 0], rest[:, 1]
    line = _line_y(rest, mouth.upper, x)
    lip = _line_y(rest, LOWER_LIP, x)
    t = np.clip((y - line) / max(rest[lm.CHIN, 1] - line.mean(), 1e-6), 0.0, 1.0)
    reach = half + (0.45 * face_w - half) * t
    across = np.sqrt(np.clip(1 - ((x - mid) / reach) ** 2, 0.0, 1.0))
    down = np.clip((y - lip) / max(rest[lm.CHIN, 1] - lip.mean(), 1e-6), 0.0, 1.0)
    follow = 1 - (1 - CHIN_FOLLOW) * down
    # at rest the lower lip touches the upper one (the mouth is shut), so the line itself
    # belongs to the jaw, bar the upper lip's own points
    below = y > line - 0.01 * mouth_w
    below[mouth.upper] = False
    out = np.zeros_like(rest)
    out[:, 1] = np.where(below, JAW_DROP * mouth_w * across * follow, 0.0)
    return out


def _lid(rest: np.ndarray, eye: Opening, brow: np.ndarray, centre: int | None) -> Keys:
    """Closed (0) to open (1, the art): the upper lid comes down to meet the lower one
    (low in the middle, halfway near the corners, where they are close already). The skin
    above a lid follows the lid point below it, less the higher it is, and stops at one and
    a half times the lid's travel: nothing above can pass the lid, so nothing folds."""
    up, lo = eye.upper, eye.lower
    meet = _meet(rest, eye)
    x, y = rest[:, 0], rest[:, 1]
    out = np.zeros_like(rest)
    for path, side in ((up, -1.0), (lo, 1.0)):
        travel = meet - rest[path]
        travel[[0, -1]] = 0.0  # the corners stay
        order = np.argsort(rest[path, 0])
        px = rest[path, 0][order]
        d = np.stack(
            [np.interp(x, px, travel[order, k], left=0.0, right=0.0) for k in (0, 1)], axis=1
        )
        height = side * (y - _line_y(rest, path, x))  # away from the opening
        reach = 1.5 * np.abs(travel[:, 1]).max() + 1e-6
        fade = np.clip(1 - height / reach, 0.0, 1.0)
        beyond = (height > 0) & (x > px[0]) & (x < px[-1])
        beyond[brow] = False  # the brows are the brow parameters' own
        out[beyond] = (d * fade[:, None])[beyond]
        out[path] = travel
    if centre is not None:  # the eye's middle (the iris) goes down to the meeting line too
        order = np.argsort(meet[:, 0])
        out[centre, 1] = np.interp(x[centre], meet[order, 0], meet[order, 1]) - y[centre]
    return [(0.0, out), (1.0, 0 * rest)]


def _meet(rest: np.ndarray, eye: Opening) -> np.ndarray:
    """Where the lids meet when the eye is shut, one point per lid point (corners too):
    low in the middle, halfway near the corners."""
    up, lo = eye.upper, eye.lower
    n = len(up)
    middle = np.sin(np.pi * np.arange(n) / (n - 1))[:, None]
    return rest[lo] + (0.5 - (0.5 - LID_MEET) * middle) * (rest[up] - rest[lo])


def _lid_line(
    rest: np.ndarray, eye: Opening, pid: str, depth: np.ndarray, pivot: float, centre: np.ndarray
) -> Layer:
    """The shut eye drawn clean: a ribbon along the meeting line with the lash line in its
    lower half and lid skin above it, covering the squeezed lashes of the art's open eye.
    Shown only as the eye shuts (its slot's alpha follows the eye's parameter)."""
    meet = _meet(rest, eye)
    n = len(meet)
    gap = rest[eye.lower, 1] - rest[eye.upper, 1]
    tall = max(float(gap.max()), 1.0)
    along = np.sin(np.pi * np.arange(n) / (n - 1))
    skin = 0.35 * tall + 0.75 * gap  # as high as the lashes were pushed down
    ink = 0.1 * tall * (0.45 + 0.55 * along)
    rows = [meet - np.stack([np.zeros(n), skin], 1), meet - np.stack([np.zeros(n), ink / 2], 1),
            meet + np.stack([np.zeros(n), ink / 2], 1)]  # fmt: skip
    verts = np.concatenate(rows)
    u = np.linspace(0.0, 1.0, n)  # 0 at the outer corner, for either eye
    uvs = np.concatenate([np.stack([u, np.full(n, v)], 1) for v in (0.0, 0.5, 1.0)])
    tris = []
    for r in range(2):
        for c in range(n - 1):
            a = r * n + c
            tris += [(a, a + 1, a + n + 1), (a, a + n + 1, a + n)]
    z = np.tile(depth[eye.upper], 3)
    layer = Layer(verts, uvs, np.array(tris, dtype=np.int32))
    layer.deforms["ParamAngleX"] = _turn(verts, z, pivot, centre, axis=0)
    layer.deforms["ParamAngleY"] = _turn(verts, z, pivot, centre, axis=1)
    layer.alpha[pid] = [(0.0, 1.0), (0.12, 1.0), (0.3, 0.0)]
    return layer


def _brow(rest: np.ndarray, brow: np.ndarray, eye: Opening, eye_span: float) -> Keys:
    """Raised (+1) and lowered (-1). The skin between the brow and the lid stretches or
    gathers in proportion to its height above the lid, which never moves; a brow comes
    down at most a third of the way to its lid."""
    x, y = rest[:, 0], rest[:, 1]
    lid = _line_y(rest, eye.upper, x)
    under = _line_y(rest, brow[len(brow) // 2 :], x)  # the brow's lower edge
    # its own side of the face only (the nose bridge is the middle)
    mid = rest[lm.NOSE_BRIDGE, 0]
    side = np.sign(x - mid) == np.sign(rest[brow, 0].mean() - mid)
    above = side & (y < lid - 0.02 * eye_span)
    height = np.clip((lid - y) / np.maximum(lid - under, 1e-6), 0.0, 1.0)[:, None]
    room = (lid - y)[brow]
    keys: Keys = []
    for value in (-1.0, 1.0):
        move = np.zeros((len(brow), 2))
        move[:, 1] = (
            -BROW_LIFT * eye_span if value > 0 else np.minimum(0.5 * BROW_LIFT * eye_span, room / 3)
        )
        d = _spread(rest, brow, move, 0.25 * eye_span, above) * height
        d[brow] = move
        keys.append((value, d))
    return [keys[0], (0.0, 0 * rest), keys[1]]


def _corners(
    rest: np.ndarray, corners: tuple[int, ...], mouth_w: float, out: float, up: float
) -> np.ndarray:
    idx = np.array(corners)
    centre_x = rest[idx, 0].mean()
    side = np.sign(rest[idx, 0] - centre_x)
    disp = np.stack([side * out * mouth_w, np.full(len(idx), -up * mouth_w)], axis=1)
    return _spread(rest, idx, disp, 0.3 * mouth_w, np.ones(len(rest), bool))


def _squeeze(rest: np.ndarray, mouth: Opening, mouth_w: float, amount: float) -> np.ndarray:
    """The mouth narrowed (amount > 0: "u", "o") or widened (< 0: "i", "e") about its
    middle: a sideways scale by 1 - amount at the middle that fades with distance. Each
    row of points keeps its order (x' grows with x for |amount| < 1), so nothing folds."""
    left, right = rest[mouth.upper[0]], rest[mouth.upper[-1]]
    cx, cy = (left + right) / 2
    u, v = rest[:, 0] - cx, rest[:, 1] - cy
    w = np.exp(-((u / (0.6 * mouth_w)) ** 2) - (v / (0.4 * mouth_w)) ** 2)
    out = np.zeros_like(rest)
    out[:, 0] = -amount * u * w
    return out


def _turn(pts: np.ndarray, depth: np.ndarray, pivot: float, centre: np.ndarray, axis: int) -> Keys:
    """Offsets that turn the face by each of TURN_KEYS degrees: about the vertical axis
    (axis 0, ParamAngleX: positive turns the nose towards the picture's right) or the
    horizontal one (axis 1, ParamAngleY: positive looks up), through the ears."""
    keys: Keys = []
    for deg in TURN_KEYS:
        a = np.radians(deg * TURN_GAIN)
        off = np.zeros_like(pts)
        along = pts[:, axis] - centre[axis]
        lean = (depth - pivot) * np.sin(a)
        off[:, axis] = along * (np.cos(a) - 1) + (lean if axis == 0 else -lean)
        keys.append((deg, off))
    return keys


def _slope_limited(
    depth: np.ndarray, pts: np.ndarray, tris: np.ndarray, degrees: float
) -> np.ndarray:
    """The depth with every triangle's slope eased under what a turn of `degrees` can
    carry without folding it over. A turn moves a point sideways by depth * sin(angle); a
    triangle whose depth falls away faster than cot(angle) across it (a face's sides, the
    nose's flanks) would pass its neighbour, where a real head hides it instead. Steep
    triangles are flattened towards their own mean depth, a little at a time, so the rest
    of the face keeps its shape."""
    limit = 0.8 / np.tan(np.radians(degrees))
    a, b, c = pts[tris[:, 0]], pts[tris[:, 1]], pts[tris[:, 2]]
    e1, e2 = b - a, c - a
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    longest = np.max([np.linalg.norm(e1, axis=1), np.linalg.norm(e2, axis=1),
                      np.linalg.norm(c - b, axis=1)], axis=0)  # fmt: skip
    solid = np.abs(det) / np.maximum(longest, 1e-9) > 0.5  # slivers have no slope to speak of
    t, det, e1, e2 = tris[solid], det[solid], e1[solid], e2[solid]
    z = depth.copy()
    for _ in range(500):
        dz1, dz2 = z[t[:, 1]] - z[t[:, 0]], z[t[:, 2]] - z[t[:, 0]]
        gx = (dz1 * e2[:, 1] - dz2 * e1[:, 1]) / det
        gy = (dz2 * e1[:, 0] - dz1 * e2[:, 0]) / det
        steep = np.maximum(np.abs(gx), np.abs(gy)) > limit
        if not steep.any():
            break
        bad = t[steep]
        mean = z[bad].mean(axis=1, keepdims=True)
        pull = np.zeros_like(z)
        count = np.zeros_like(z)
        np.add.at(pull, bad.ravel(), (0.3 * (mean - z[bad])).ravel())
        np.add.at(count, bad.ravel(), 1.0)
        z += pull / np.maximum(count, 1.0)
    return z


GAZE = (0.16, 0.08)  # the iris's travel at a full glance, in eye widths: sideways, up/down


def _eye_fill(rest: np.ndarray, eye: Opening, iris: int) -> tuple[np.ndarray, int | None]:
    """Triangles filling an eye, and the vertex that carries its iris: a fan round the
    iris centre when it lies inside the opening (so the gaze can move it), else a strip
    between the lids and no iris vertex."""
    ring = np.concatenate([eye.upper, eye.lower[1:-1][::-1]])
    if _inside(rest[iris], rest[ring]):
        fan = [(iris, int(ring[i]), int(ring[(i + 1) % len(ring)])) for i in range(len(ring))]
        return np.array(fan, dtype=np.int32), iris
    return _strip(eye), None


def _inside(p: np.ndarray, poly: np.ndarray) -> bool:
    """Whether point p lies inside the polygon (even-odd rule)."""
    x, y = p
    inside = False
    for (x0, y0), (x1, y1) in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def _gaze(rest: np.ndarray, topo: FaceTopology, irises: list[int | None], axis: int) -> Keys:
    """The eyes glancing (ParamEyeBallX: +1 towards the picture's right; ParamEyeBallY: +1
    up): each iris vertex moves within its eye, the eye's outline stays."""
    off = np.zeros_like(rest)
    for eye, iris in zip((topo.eye_right, topo.eye_left), irises, strict=True):
        if iris is None:
            continue
        eye_w = float(np.linalg.norm(rest[eye.upper[-1]] - rest[eye.upper[0]]))
        off[iris, axis] = GAZE[axis] * eye_w * (1.0 if axis == 0 else -1.0)
    return [(-1.0, -off), (0.0, 0 * rest), (1.0, off)]


def _strip(eye: Opening) -> np.ndarray:
    """Triangles filling an eye between its lids (ends at the shared corners)."""
    u, lo = eye.upper, eye.lower
    tris = []
    for i in range(len(u) - 1):
        for t in ((u[i], u[i + 1], lo[i + 1]), (u[i], lo[i + 1], lo[i])):
            if len(set(t)) == 3:
                tris.append(t)
    return np.array(tris, dtype=np.int32)


def _inner_mouth(
    rest: np.ndarray, mouth: Opening, mouth_w: float, jaw: np.ndarray,
    depth: np.ndarray, pivot: float, centre: np.ndarray,
) -> Layer:  # fmt: skip
    """A 3x3 grid behind the lips: the top row above the upper lip, the middle row where
    the upper teeth end (fixed), the bottom row below the lower lip, following the jaw."""
    left, right = rest[mouth.upper[0]], rest[mouth.upper[-1]]
    line = (left[1] + right[1]) / 2
    pad = 0.08 * mouth_w
    xs = np.array([left[0] - pad, (left[0] + right[0]) / 2, right[0] + pad])
    ys = np.array([line - 0.12 * mouth_w, line + 0.1 * mouth_w, line + 0.14 * mouth_w])
    verts = np.array([(x, y) for y in ys for x in xs])
    uvs = np.array([(u, v) for v in (0.0, 0.3, 1.0) for u in (0.0, 0.5, 1.0)])
    tris = []
    for r in range(2):
        for c in range(2):
            a = r * 3 + c
            tris += [(a, a + 1, a + 4), (a, a + 4, a + 3)]
    # the bottom row drops with the lower lip's middle; turns use the lips' depth
    drop = np.zeros_like(verts)
    drop[6:, 1] = jaw[mouth.lower[1:-1], 1].max()
    lips = np.concatenate([mouth.upper, mouth.lower])
    z = np.full(len(verts), depth[lips].mean() - 0.05 * mouth_w)
    layer = Layer(verts, uvs, np.array(tris, dtype=np.int32))
    layer.deforms["ParamMouthOpenY"] = [(0.0, 0 * verts), (1.0, drop)]
    layer.deforms["ParamAngleX"] = _turn(verts, z, pivot, centre, axis=0)
    layer.deforms["ParamAngleY"] = _turn(verts, z, pivot, centre, axis=1)
    return layer


def crop_quad(layer: Layer, box: tuple[float, float, float, float], size: int) -> Layer:
    """A one-quad layer (the back of the head) cut down to `box` (x0, y0, x1, y1 pixels),
    the part of its picture that shows: a frame fits the head, not the empty square."""
    x0, y0, x1, y1 = box
    verts = np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], dtype=np.float64)
    # every vertex of a quad layer moves alike, so its deform keys carry over unchanged
    deforms = {
        pid: [(v, np.repeat(d[:1], 4, axis=0)) for v, d in keys]
        for pid, keys in layer.deforms.items()
    }
    return Layer(verts, verts / size, layer.triangles, deforms)


def _back(size: int, depth: np.ndarray, pivot: float) -> Layer:
    s = float(size)
    verts = np.array([(0, 0), (s, 0), (s, s), (0, s)], dtype=np.float64)
    uvs = np.array([(0, 0), (1, 0), (1, 1), (0, 1)], dtype=np.float64)
    tris = np.array([(0, 1, 2), (0, 2, 3)], dtype=np.int32)
    nose = float(depth[1] - pivot)
    layer = Layer(verts, uvs, tris)
    for pid, axis in (("ParamAngleX", 0), ("ParamAngleY", 1)):
        keys: Keys = []
        for deg in TURN_KEYS:
            off = np.zeros_like(verts)
            shift = -HAIR_PARALLAX * nose * np.sin(np.radians(deg * TURN_GAIN))
            off[:, axis] = shift if axis == 0 else -shift
            keys.append((deg, off))
        layer.deforms[pid] = keys
    return layer


__all__ = ["FaceRig", "FaceRigError", "FaceTopology", "Layer", "rig_face"]
