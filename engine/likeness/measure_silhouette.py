"""The hair's silhouette, read from the hair mask (measure_hair) in the face's own frame
(u across in face widths, v down: 0 at the eye line, 1 at the chin): length, volume,
fringe, texture, parting, and whether the scalp is bare.
"""

from __future__ import annotations

import numpy as np

from engine import landmarks as lm
from engine.likeness.measure_face import Skin
from engine.likeness.measure_geometry import Scene, face_oval
from engine.likeness.measure_hair import LIKE, Hair
from engine.likeness.measure_masks import box_blur, connected_to, morph, odd

Result = tuple[object, float]
# where the hair's lowest strands end (v) for each length class; shoulders: _shoulder_v
LENGTH_SHORT, LENGTH_EAR, LENGTH_CHIN = 0.15, 0.6, 1.3


def _shoulder_v(scene: Scene) -> float:
    """Where the shoulders begin (v): the first row below the chin where the person is over
    2.2 face widths wide; 1.8 when the crop ends first."""
    mid = scene.v.shape[1] // 2
    row_v = scene.v[:, mid]  # rows run across the face unless the head is rolled far
    wide = scene.person.sum(axis=1) > 2.2 * scene.face_width
    rows = np.nonzero(wide & (row_v >= 1.2))[0]
    return float(row_v[rows[0]]) if len(rows) else 1.8


def lowest_strand(scene: Scene, mask: np.ndarray) -> float:
    """How far down (v) the hair reaches: on each side of the face, the lowest band of v
    (0.05 tall) where the hair is at least 0.045 face widths wide (sideburns are narrower),
    without a gap over 0.15 from the hair above; the longer side counts (hair is often
    swept to one side)."""
    step = 0.05
    lowest = -1.0
    for side in (scene.u < 0, scene.u >= 0):
        vs = scene.v[mask & side]
        if len(vs) == 0:
            continue
        bins = np.floor(vs / step).astype(int)
        b0 = bins.min()
        need = 0.045 * scene.face_width * step * scene.unit
        ok = np.nonzero(np.bincount(bins - b0) >= need)[0]
        if len(ok) == 0:
            continue
        gaps = np.nonzero(np.diff(ok) > 3)[0]
        # the run that holds the eye line (or the first one below it) is the side's hair
        runs = np.split(ok, gaps + 1)
        below = [r for r in runs if (r[-1] + b0 + 1) * step > 0.0]
        if below:
            lowest = max(lowest, float((below[0][-1] + b0 + 1) * step))
    return lowest


def hair_length(scene: Scene, hair: Hair) -> tuple[Result, float]:
    """(class, confidence) and the lowest strand's v. Classes by where it ends: above the
    ear's middle (short), to the ear lobe (ear), to the chin (chin), to the shoulders
    (shoulder, measured from the person mask), below them (long)."""
    if hair.lab is None or not hair.mask.any():
        return ("short", 0.3), 0.0
    lowest = lowest_strand(scene, hair.mask)
    shoulder = _shoulder_v(scene)
    edges = [LENGTH_SHORT, LENGTH_EAR, min(LENGTH_CHIN, shoulder - 0.1), shoulder + 0.5]
    names = ["short", "ear", "chin", "shoulder", "long"]
    k = int(np.searchsorted(edges, lowest))
    margin = min(abs(lowest - e) for e in edges)
    conf = 0.45 + min(0.45, margin * 2.5)
    if scene.crop_cut()["bottom"] and hair.mask[-2:].any():
        conf *= 0.5  # the hair goes on past the photo's edge: at least this long
    return (names[k], conf * hair.confidence**0.5), lowest


def hair_volume(scene: Scene, hair: Hair) -> Result:
    """The widest span of hair and face (face widths), from the crown to the chin."""
    if hair.lab is None:
        return 1.0, 0.3
    oval, _ = face_oval(scene)
    both = hair.mask | oval
    sel = both & (scene.v < 1.0)
    if not sel.any():
        return 1.0, 0.2
    vs = np.floor(scene.v[sel] / 0.05).astype(int)
    us = scene.u[sel]
    widths = [np.ptp(us[vs == b]) for b in np.unique(vs)]
    cut = scene.crop_cut()
    touches = (cut["left"] and hair.mask[:, :2].any()) or (cut["right"] and hair.mask[:, -2:].any())
    return float(np.clip(max(widths), 0.0, 4.0)), (0.35 if touches else 0.75) * hair.confidence


def fringe(scene: Scene, hair: Hair, debug: dict | None = None) -> Result:
    """Hair over the forehead band (inside the face outline, above the brows): full when it
    covers both halves, side when one, none when neither."""
    if hair.lab is None:
        return "none", 0.4
    if hair.hat:  # the forehead under a brim says nothing
        return "none", 0.25
    oval, coverage = face_oval(scene)
    v_brow = scene.face_uv(scene.poly(lm.RIGHT_BROW_UPPER + lm.LEFT_BROW_UPPER))[:, 1].min()
    band = oval & (scene.v < v_brow - 0.06)
    if debug is not None:
        debug["forehead"] = band
    # a fringe is hair that falls from the head's hair: hair-coloured and joined to it
    fallen = connected_to((hair.like & (band | ~oval)) | hair.mask, hair.mask) & band
    shares = []
    for side in (scene.u < 0, scene.u >= 0):
        part = band & side
        shares.append(float(fallen[part].mean()) if part.sum() > 10 else 0.0)
    lo, hi = min(shares), max(shares)
    if lo > 0.45:
        cls, margin = "full", lo - 0.45
    elif hi > 0.3:
        cls, margin = "side", min(hi - 0.3, abs(0.45 - lo))
    else:
        cls, margin = "none", 0.3 - hi
    return cls, float(np.clip(0.4 + margin * 2, 0.3, 0.9) * coverage)


def hair_texture(scene: Scene, hair: Hair) -> tuple[Result, dict[str, float]]:
    """Straight, wavy or curly from how parallel the strands are inside the hair (the
    structure tensor's coherence: near 1 for straight strands, low for curls) and how rough
    its outline is. Weak on small or blurred hair: confidence stays low."""
    inner = morph(hair.mask, odd(0.05 * scene.face_width), "erode")
    if inner.sum() < 0.02 * scene.face_width**2:
        return ("straight", 0.15), {"coherence": 0.0, "rough": 0.0}
    ys, xs = np.nonzero(hair.mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    inner = inner[y0:y1, x0:x1]
    mask = hair.mask[y0:y1, x0:x1]
    lum = scene.lab[y0:y1, x0:x1, 0].astype(np.float64)
    gy, gx = np.gradient(lum)
    r = max(1, int(0.03 * scene.face_width))
    jxx, jyy, jxy = (box_blur(a, r) for a in (gx * gx, gy * gy, gx * gy))
    tr = jxx + jyy
    coh = np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2) / np.maximum(tr, 1e-6)
    weight = tr[inner]
    coherence = float((coh[inner] * weight).sum() / max(weight.sum(), 1e-6))
    smooth = box_blur(mask.astype(np.float64), odd(0.06 * scene.face_width) // 2) > 0.5
    edge = mask ^ morph(mask, 3, "erode")
    rough = float((smooth ^ mask).sum() / max(edge.sum(), 1))
    if coherence > 0.5 and rough < 1.2:
        cls, margin = "straight", coherence - 0.5
    elif coherence < 0.33 or rough > 2.0:
        cls, margin = "curly", max(0.33 - coherence, (rough - 2.0) / 4)
    else:
        cls, margin = "wavy", min(coherence - 0.33, 0.5 - coherence)
    conf = float(np.clip(0.25 + margin * 2, 0.2, 0.55) * hair.confidence)
    return (cls, conf), {"coherence": coherence, "rough": rough}


def parting(scene: Scene, hair: Hair, skin: Skin) -> Result:
    """Where the hair parts: a narrow column of scalp (skin-coloured pixels) running up from
    the hairline through the crown's hair, standing out from the columns beside it (dark
    strands and shadows are everywhere in hair, so only skin counts). "left"/"right" are
    the person's own."""
    if hair.lab is None or hair.hat:
        return "none", 0.2
    v_top = float(scene.face_uv(scene.points[[lm.FOREHEAD]])[0, 1])
    band = scene.person & (scene.v > v_top - 0.6) & (scene.v < v_top - 0.1)
    band &= np.abs(scene.u) < 0.45
    if band.sum() < 50:
        return "none", 0.2
    gap = (skin.d2 < LIKE) & band
    step = 0.025
    ub = np.floor(scene.u[band] / step).astype(int)
    lo = ub.min()
    tot = np.bincount(ub - lo)
    hits = np.bincount(ub - lo, weights=gap[band].astype(np.float64), minlength=len(tot))
    share = np.where(tot > 5, hits / np.maximum(tot, 1), 0.0)
    if len(share) < 9:
        return "none", 0.2
    k = int(np.argmax(share))
    peak, base = float(share[k]), float(np.median(share))
    # a parting is a line: hair (few skin pixels) a tenth of a face width to either side
    beside = float(np.mean([share[j] for j in (k - 5, k - 4, k + 4, k + 5) if 0 <= j < len(share)]))
    strength = min(peak - base - 0.2, peak - beside - 0.25, 0.3 - beside)
    if peak < 0.45 or strength < 0:
        return "none", float(np.clip(0.3 - strength, 0.2, 0.5))
    u_peak = (k + lo + 0.5) * step
    cls = "centre" if abs(u_peak) < 0.08 else ("left" if u_peak > 0 else "right")
    return cls, float(np.clip(0.3 + strength, 0.2, 0.5))


def scalp(scene: Scene, hair: Hair, skin: Skin, length: str) -> Result:
    """hair, shaved or bald, from the head above the forehead: mostly skin is bald; a
    short, thin cover with skin showing through is shaved."""
    if hair.hat:
        return "hair", 0.3 if hair.lab is not None else 0.15
    v_top = float(scene.face_uv(scene.points[[lm.FOREHEAD]])[0, 1])
    oval, _ = face_oval(scene)
    top = scene.person & ~oval & (scene.v < v_top) & (np.abs(scene.u) < 0.55)
    if top.sum() < 0.02 * scene.face_width**2:
        cut = scene.crop_cut()["top"]
        return "hair", 0.15 if cut else 0.3
    skin_share = float((skin.d2[top] < LIKE).mean())
    hair_share = float(hair.like[top].mean()) if hair.lab is not None else 0.0
    if skin_share > 0.45 and hair_share < 0.3:
        return "bald", float(np.clip(0.4 + skin_share - hair_share, 0.4, 0.85))
    if length == "short" and skin_share > 0.15 and hair_share > 0.3:
        return "shaved", 0.4
    return "hair", float(np.clip(0.4 + hair_share - skin_share, 0.3, 0.85))
