"""What the person wears or grows on the face: glasses (and their frame colour) and facial
hair (none / stubble / moustache / beard, and its colour).

Glasses are found by their bridge: between the eyes, at eye level, a frame crosses the
nose as a bar spanning the gap from one eye to the other, of non-skin colour or with sharp
edges, where a bare nose is smooth skin (its highlight and shadows run along the nose, not
across it).

Facial hair is skin made darker over the upper lip, the chin and the jaw (the jaw's sides
each compared with the cheek on their own side, so one-sided lighting is not a beard).
"""

from __future__ import annotations

import numpy as np

from engine import landmarks as lm
from engine.likeness.measure_colour import delta_e, mahalanobis2, robust_colour
from engine.likeness.measure_face import Skin
from engine.likeness.measure_geometry import Scene, face_oval, region, shrink

Result = tuple[object, float]
FRAME_DE = 14.0  # a frame pixel differs from the cheeks by at least this (dE76)
BAR_GLASSES = 0.6  # share of the bridge's width a frame row must cover
STEP_DE = 10.0  # a colour step of this much (dE76) over two pixels is a frame's edge


def _rows(scene: Scene, band: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The band's pixels grouped into rows across the face: (row index per band pixel,
    the rows' ids, pixels per row)."""
    rows = np.round(scene.v[band] * scene.unit).astype(int)
    ids, counts = np.unique(rows, return_counts=True)
    return rows, ids, counts


def _row_share(
    rows: np.ndarray, ids: np.ndarray, counts: np.ndarray, hit: np.ndarray
) -> np.ndarray:
    """Per row, the share of its pixels that are hits, averaged with the next row (a frame
    edge is rarely one pixel row exactly)."""
    hits = np.zeros(len(ids))
    np.add.at(hits, np.searchsorted(ids, rows), hit.astype(np.float64))
    share = np.where(counts >= 3, hits / np.maximum(counts, 1), 0.0)
    return (share + np.append(share[1:], 0.0)) / 2


def glasses(scene: Scene, skin: Skin, debug: dict | None = None) -> tuple[Result, Result]:
    """(wears glasses, frame colour). The bridge band between the eyes is read row by row
    across the face: a frame's bar makes a row of non-skin colour (a dark or coloured frame)
    or a row of sharp colour steps, its edges (a frame close to skin colour), across most
    of the band's width."""
    uv = scene.face_uv(scene.points)
    u_r, u_l = uv[lm.RIGHT_EYE_INNER, 0], uv[lm.LEFT_EYE_INNER, 0]
    v_eye = (uv[lm.RIGHT_EYE_INNER, 1] + uv[lm.LEFT_EYE_INNER, 1]) / 2
    v_brow = (uv[lm.RIGHT_BROW_LOWER[-1], 1] + uv[lm.LEFT_BROW_LOWER[-1], 1]) / 2
    span = u_l - u_r
    u, v = scene.u, scene.v
    band = (u > u_r + 0.2 * span) & (u < u_l - 0.2 * span) & (v > v_brow) & (v < v_eye + 0.12)
    band[:1] = band[-1:] = False  # the steps below look one pixel up and down
    if debug is not None:
        debug["bridge"] = band
    expected = max(1.0, 0.6 * span * scene.face_width * (v_eye + 0.12 - v_brow) * scene.unit)
    inside = min(1.0, band.sum() / expected)
    if band.sum() < 20:
        return (False, 0.2), (None, 0.2)
    px = scene.lab[band]
    off = (delta_e(px, skin.lab) > FRAME_DE) & (mahalanobis2(px, skin.model) > 20)
    lab = scene.lab
    step = np.zeros(band.shape, np.float32)
    step[1:-1] = np.linalg.norm(lab[2:] - lab[:-2], axis=-1)
    sharp = step[band] > STEP_DE
    rows, ids, counts = _rows(scene, band)
    colour_share = _row_share(rows, ids, counts, off)
    edge_share = _row_share(rows, ids, counts, sharp)
    score = float(max(colour_share.max(), edge_share.max()))
    wears = score >= BAR_GLASSES
    conf = float(np.clip(0.5 + abs(score - BAR_GLASSES) * 1.5, 0.5, 0.95)) * (0.5 + 0.5 * inside)
    if not wears:
        return (False, conf), (None, conf)
    if colour_share.max() >= BAR_GLASSES:
        on = np.isin(rows, ids[colour_share >= 0.8 * colour_share.max()]) & off
    else:  # the bar lies between its two strongest edges
        order = np.argsort(edge_share)[::-1]
        top = ids[order[0]]
        others = [ids[k] for k in order[1:] if 2 <= abs(ids[k] - top) <= 0.15 * scene.unit]
        lo, hi = sorted((top, others[0] if others else top + 2))
        on = (rows > lo) & (rows <= hi)
    frame = np.zeros(band.shape, bool)
    frame[band] = on
    if debug is not None:
        debug["frame"] = frame
    colour = robust_colour(px[on])[0] if on.sum() >= 5 else None
    return (True, conf), (colour, conf * 0.7 if colour is not None else 0.0)


def _region_stats(scene: Scene, mask: np.ndarray, ref: np.ndarray) -> tuple[float, float, int]:
    """(share of pixels darker than `ref` by over 10 L*, median L* drop, pixel count)."""
    px = scene.lab[mask]
    if len(px) < 8:
        return 0.0, 0.0, len(px)
    drop = ref[0] - px[:, 0]
    dark = (drop > 10) & (delta_e(px, ref) > 12)
    return float(dark.mean()), float(np.median(drop)), len(px)


def facial_hair(scene: Scene, skin: Skin, debug: dict | None = None) -> tuple[Result, Result]:
    """(class, colour): beard when the chin and the jaw are darker than the cheeks, a
    moustache when the upper lip alone is, stubble for a milder darkening of all three
    (each region's median at least 3 L* under the cheeks'); none otherwise."""
    shape = scene.rgb.shape[:2]
    oval, _ = face_oval(scene)
    uv = scene.face_uv(scene.points)
    # the upper lip's lower part: the nostrils' shadow falls on its upper part
    nose = scene.poly(lm.NOSE_BOTTOM)
    drop = 0.4 * float(
        np.linalg.norm(scene.points[lm.UPPER_LIP_TOP] - scene.points[lm.NOSE_BOTTOM[2]])
    )
    lip_top = np.vstack([nose + scene.ey * drop, scene.poly(lm.UPPER_LIP_OUTER)[::-1]])
    lip, lip_cover = region(shape, shrink(lip_top, 0.9))
    mouth_half = abs(uv[lm.MOUTH_CORNERS[1], 0] - uv[lm.MOUTH_CORNERS[0], 0]) / 2
    v_lower = uv[lm.LOWER_LIP_BOTTOM, 1]
    v_corner = uv[list(lm.MOUTH_CORNERS), 1].mean()
    inner = shrink(scene.poly(lm.JAW), 0.93)  # keep off the jaw's edge and its shadow
    inner_mask, _ = region(shape, inner)
    u, v = scene.u, scene.v
    chin = inner_mask & oval & (np.abs(u) < 0.85 * mouth_half) & (v > v_lower + 0.06)
    jaw_r = inner_mask & oval & (u < -1.1 * mouth_half) & (v > v_corner)
    jaw_l = inner_mask & oval & (u > 1.1 * mouth_half) & (v > v_corner)
    if debug is not None:
        debug["facial_hair"] = lip | chin | jaw_r | jaw_l
    mid = skin.lab
    s_lip, d_lip, _ = _region_stats(scene, lip, mid)
    s_chin, d_chin, n_chin = _region_stats(scene, chin, mid)
    s_jr, d_jr, _ = _region_stats(scene, jaw_r, skin.sides[0])
    s_jl, d_jl, _ = _region_stats(scene, jaw_l, skin.sides[1])
    s_jaw, d_jaw = (s_jr + s_jl) / 2, (d_jr + d_jl) / 2
    seen = min(1.0, lip_cover, n_chin / max(1.0, 0.02 * scene.face_width**2))
    everywhere = lip | chin | jaw_r | jaw_l
    mean_share, least_drop = (s_lip + s_chin + s_jaw) / 3, min(d_lip, d_chin, d_jaw)
    if s_chin > 0.5 and s_jaw > 0.35:
        cls, margin, where = "beard", min(s_chin - 0.5, s_jaw - 0.35), everywhere
    elif s_lip > 0.5 and s_chin < 0.25:  # the upper lip alone (a jaw is often shaded)
        cls, margin, where = "moustache", min(s_lip - 0.5, 0.25 - s_chin), lip
    elif least_drop > 3 and mean_share > 0.15:  # a milder, even shadow over all of it
        cls, margin, where = "stubble", min(least_drop - 3, mean_share - 0.15) / 5, everywhere
    else:
        cls, where = "none", None
        margin = max(0.0, min(0.5 - max(s_chin, s_lip), 0.15 - mean_share))
    conf = float(np.clip(0.5 + margin, 0.4, 0.9) * (0.4 + 0.6 * seen))
    if where is None:
        return ("none", conf), (None, conf)
    px = scene.lab[where]
    dark = px[(mid[0] - px[:, 0]) > 5]
    colour = robust_colour(dark if len(dark) >= 8 else px)[0]
    return (cls, conf), (colour, conf * 0.8)
