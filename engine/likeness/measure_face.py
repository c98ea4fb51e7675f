"""The face's own features: skin tone, irises, brows, face shape and the eyes' size,
spacing and shape. Colours are medians over landmark regions with outliers dropped (highlights,
shadows, lashes, stray hairs); shape figures are read on the frontal face (the tracking
solver's pose fit taken out), so a turned head does not change them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine import landmarks as lm
from engine.likeness.measure_colour import delta_e, gaussian_model, mahalanobis2, robust_colour
from engine.likeness.measure_geometry import Scene, face_oval, region, shrink
from engine.tracking.solver import reference

Result = tuple[object, float]  # (value, confidence)


@dataclass(frozen=True)
class Skin:
    """The cheeks' colour: median, a Gaussian model for "is this skin?", and per side."""

    lab: np.ndarray
    model: tuple[np.ndarray, np.ndarray]
    sides: tuple[np.ndarray, np.ndarray]  # the person's right and left cheek (or the median)
    confidence: float
    d2: np.ndarray  # (h, w) squared Mahalanobis distance of every crop pixel to the model


def measure_skin(scene: Scene, debug: dict | None = None) -> Skin:
    shape = scene.rgb.shape[:2]
    usable = scene.usable
    sides, pixels, cover = [], [], []
    for patch in (lm.RIGHT_CHEEK_PATCH, lm.LEFT_CHEEK_PATCH):
        mask, coverage = region(shape, shrink(scene.poly(patch), 0.85))
        px = scene.lab[mask & usable]
        cover.append(coverage)
        if len(px) >= 12:
            centre, inl = robust_colour(px)
            sides.append(centre)
            pixels.append(px[inl])
        else:
            sides.append(None)
        if debug is not None:
            debug.setdefault("skin", []).append(mask)
    if not pixels:  # both cheeks outside the photo: fall back to whatever face is inside
        mask, coverage = face_oval(scene)
        px = scene.lab[mask & usable]
        if len(px) < 12:
            px = scene.lab[mask] if mask.any() else scene.lab.reshape(-1, 3)
        centre, inl = robust_colour(px)
        pixels, sides, cover = [px[inl]], [centre, centre], [0.2 * coverage]
    allpx = np.concatenate(pixels)
    _, inl = robust_colour(allpx)
    # each cheek's own median, then their mean: the side the light comes from (often far
    # brighter) does not set the tone, and neither side's pixels are outliers of the other's
    found = [s for s in sides if s is not None]
    lab = np.mean(found, axis=0)
    spread = float(np.median(delta_e(allpx[inl], lab)))
    sides = [s if s is not None else lab for s in sides]
    conf = float(np.mean(cover)) * min(1.0, len(allpx) / 150) * (1.0 - min(0.5, spread / 30))
    model = gaussian_model(allpx[inl], floor=16.0)
    return Skin(lab, model, (sides[0], sides[1]), conf, mahalanobis2(scene.lab, model))


# --- irises ------------------------------------------------------------------------------------


def iris_class(lab: np.ndarray) -> str:
    """An iris colour's class from its CIELAB lightness, chroma and hue angle (degrees):
    nearly black (L* under 20, whatever the hue: a tinted lens or a warm cast adds chroma)
    or very dark and dull -> dark; almost no chroma -> grey; cool hues or negative b* -> blue;
    yellow-green to green hues -> green; yellow hues -> hazel; orange-red hues -> brown.
    Photographed irises are duller than they look, so the chroma limits are low."""
    l, a, b = (float(x) for x in lab)
    c = float(np.hypot(a, b))
    h = float(np.degrees(np.arctan2(b, a)) % 360)
    if l < 20 or (l < 28 and c < 10):
        return "dark"
    if c < 5:
        return "grey"
    if b < -1.5 or 200 <= h < 330:
        return "blue"
    if 100 <= h < 200:
        return "green"
    if 74 <= h < 100:
        return "hazel"
    return "brown"


def _eye_open(points: np.ndarray, ring: tuple[int, ...], pairs: tuple) -> float:
    width = np.linalg.norm(points[ring[0]] - points[ring[8]])
    gap = np.mean([np.linalg.norm(points[a] - points[b]) for a, b in pairs])
    return float(gap / max(width, 1e-6))


def measure_iris(scene: Scene, debug: dict | None = None) -> tuple[Result, Result]:
    """(iris colour, iris class): None / "not_visible" when the eyes are closed, too small
    or outside the photo."""
    shape = scene.rgb.shape[:2]
    gy, gx = np.mgrid[0 : shape[0], 0 : shape[1]]
    usable = scene.usable
    pixels, quality = [], []
    eyes = ((lm.RIGHT_IRIS, lm.RIGHT_EYE_RING, lm.RIGHT_LID_PAIRS),
            (lm.LEFT_IRIS, lm.LEFT_EYE_RING, lm.LEFT_LID_PAIRS))  # fmt: skip
    for iris, ring, pairs in eyes:
        c = scene.points[iris[0]]
        r = float(np.mean(np.linalg.norm(scene.points[list(iris[1:])] - c, axis=1)))
        opening = _eye_open(scene.points, ring, pairs)
        inside, coverage = region(shape, scene.poly(ring))
        d = np.hypot(gx - c[0], gy - c[1])
        ann = inside & (d >= 0.3 * r) & (d <= 0.92 * r) & usable
        if debug is not None:
            debug.setdefault("iris", []).append(ann)
        if r < 2.0 or opening < 0.14 or coverage < 0.6 or ann.sum() < 8:
            continue
        px = scene.lab[ann]
        med_l = np.median(px[:, 0])
        chroma = np.hypot(px[:, 1], px[:, 2])
        # specular glints and the sclera under a lid edge are light and colourless
        keep = (px[:, 0] < med_l + 18) & ~((px[:, 0] > 70) & (chroma < 10))
        if keep.sum() < 6:
            continue
        pixels.append(px[keep])
        quality.append(min(1.0, keep.sum() / 40) * min(1.0, (opening - 0.1) / 0.15) * coverage)
    if not pixels:
        return (None, 0.7), ("not_visible", 0.7)
    lab, _ = robust_colour(np.concatenate(pixels))
    conf = float(np.clip(np.mean(quality) * (0.6 + 0.2 * len(pixels)), 0.0, 1.0))
    return (lab, conf), (iris_class(lab), conf * 0.8)


# --- brows -----------------------------------------------------------------------------------


def measure_brows(scene: Scene, skin: Skin, debug: dict | None = None) -> tuple[Result, Result]:
    """(brow colour, brow thickness over eye width). Brow hairs are the pixels of a band
    round MediaPipe's brow outline that are darker than the cheeks; a light brow on light
    skin falls back to the band's darker third, with less confidence."""
    shape = scene.rgb.shape[:2]
    colours, thick, conf = [], [], []
    brows = ((lm.RIGHT_BROW_UPPER, lm.RIGHT_BROW_LOWER, lm.RIGHT_EYE_OUTER, lm.RIGHT_EYE_INNER),
             (lm.LEFT_BROW_UPPER, lm.LEFT_BROW_LOWER, lm.LEFT_EYE_OUTER, lm.LEFT_EYE_INNER))  # fmt: skip
    for upper, lower, outer, inner in brows:
        up, lo = scene.poly(upper), scene.poly(lower)
        h = np.linalg.norm(up - lo, axis=1).mean()
        band = np.vstack([up - scene.ey * 0.5 * h, (lo + scene.ey * 0.5 * h)[::-1]])
        mask, coverage = region(shape, band)
        if debug is not None:
            debug.setdefault("brows", []).append(mask)
        px = scene.lab[mask]
        if coverage < 0.5 or len(px) < 10:
            continue
        dark = px[:, 0] < skin.lab[0] - 12
        sure = 1.0
        if dark.sum() < max(6, 0.12 * len(px)):
            dark = px[:, 0] <= np.percentile(px[:, 0], 33)
            sure = 0.5
        colour, _ = robust_colour(px[dark])
        colours.append(colour)
        # thickness: dark pixels per pixel column along the brow
        uu = scene.u[mask] * scene.face_width
        cols = np.round(uu[dark]).astype(int)
        counts = np.bincount(cols - cols.min()) if len(cols) else np.array([0])
        span = np.round(uu).astype(int)
        n_cols = len(np.unique(span))
        per_col = np.sort(counts)[::-1][: max(1, int(0.8 * n_cols))]
        eye_w = np.linalg.norm(scene.points[outer] - scene.points[inner])
        thick.append(float(np.median(per_col)) / max(eye_w, 1e-6))
        conf.append(sure * coverage)
    if not colours:
        return (skin.lab * np.array([0.6, 1, 1]), 0.1), (0.2, 0.1)
    colour = np.median(np.array(colours), axis=0) if len(colours) > 1 else colours[0]
    c = float(np.mean(conf)) * (0.6 + 0.2 * len(colours))
    return (colour, c), (float(np.clip(np.mean(thick), 0, 1)), c * 0.8)


# --- face shape and eyes --------------------------------------------------------------------


def shape_ratios(face3d: np.ndarray) -> dict[str, float]:
    """Ratios of the frontal face: jaw (at its corners) and chin widths over the cheekbone
    width, and the length (mid-forehead to chin) over that width."""
    x, y = face3d[:, 0], face3d[:, 1]
    cheek = abs(x[lm.FACE_SIDES[1]] - x[lm.FACE_SIDES[0]])
    jaw = abs(x[lm.JAW_ANGLES[1]] - x[lm.JAW_ANGLES[0]])
    chin = abs(x[lm.CHIN_SIDES[1]] - x[lm.CHIN_SIDES[0]])
    length = abs(y[lm.FOREHEAD] - y[lm.CHIN])
    return {"jaw": jaw / cheek, "chin": chin / cheek, "length": length / cheek}


# How far a ratio must stray from the reference face's (the average of real photos,
# content/tracking/face_reference.json) to make a class. MediaPipe's mesh leans towards the
# average face (a jaw made 20% narrower in the picture reads about 4% narrower), so the
# steps are small.
JAW_NARROW, JAW_WIDE, FACE_SHORT = -0.03, 0.025, -0.06


def face_shape(scene: Scene) -> Result:
    """One of four classes from the jaw (at its corners) against the cheekbones and the
    face's length against its width, on the frontal landmarks:
    heart: jaw narrower than the average face's by JAW_NARROW (tapering to the chin);
    square: jaw wider by JAW_WIDE;
    round: face shorter (mid-forehead to chin over width) by FACE_SHORT;
    oval: the rest (the average face is oval).
    Weak: the mesh is a fitted model, so confidence stays at or under 0.7."""
    r = shape_ratios(scene.face3d)
    ref = shape_ratios(reference().points)
    dj, dl = r["jaw"] - ref["jaw"], r["length"] - ref["length"]
    if dj < JAW_NARROW:
        cls, margin = "heart", JAW_NARROW - dj
    elif dj > JAW_WIDE:
        cls, margin = "square", dj - JAW_WIDE
    elif dl < FACE_SHORT:
        cls, margin = "round", FACE_SHORT - dl
    else:
        cls, margin = "oval", min(dj - JAW_NARROW, JAW_WIDE - dj, dl - FACE_SHORT)
    turned = max(0.0, 1.0 - abs(scene.yaw) / 45)
    return cls, float(np.clip(0.35 + margin * 8, 0.2, 0.7) * turned)


def eye_metrics(scene: Scene) -> tuple[Result, Result]:
    """(eye size, eye spacing): eye width and the inner corners' distance over the face's
    width (the cheekbone sides), on the frontal face."""
    f = scene.face3d
    width = np.linalg.norm(f[lm.FACE_SIDES[1]] - f[lm.FACE_SIDES[0]])
    eyes = [np.linalg.norm(f[a] - f[b]) for a, b in
            ((lm.RIGHT_EYE_OUTER, lm.RIGHT_EYE_INNER), (lm.LEFT_EYE_OUTER, lm.LEFT_EYE_INNER))]  # fmt: skip
    gap = np.linalg.norm(f[lm.LEFT_EYE_INNER] - f[lm.RIGHT_EYE_INNER])
    turned = max(0.2, 1.0 - abs(scene.yaw) / 60)
    return (float(np.mean(eyes) / width), 0.8 * turned), (float(gap / width), 0.8 * turned)


def eye_figures(points: np.ndarray) -> dict[str, float]:
    """The eyes' figures on frontal landmarks (the face frame: x across the face, y up the
    face; the mean of both eyes): `open`, the lids' gap over the corners' distance, and
    `lift`, how much higher the outer corner is than the inner one over that distance."""
    opens, lifts = [], []
    for ring, pairs, outer, inner in (
        (lm.RIGHT_EYE_RING, lm.RIGHT_LID_PAIRS, lm.RIGHT_EYE_OUTER, lm.RIGHT_EYE_INNER),
        (lm.LEFT_EYE_RING, lm.LEFT_LID_PAIRS, lm.LEFT_EYE_OUTER, lm.LEFT_EYE_INNER),
    ):
        opens.append(_eye_open(points, ring, pairs))
        width = np.linalg.norm(points[outer] - points[inner])
        lifts.append(float(points[outer][1] - points[inner][1]) / max(width, 1e-6))
    return {"open": float(np.mean(opens)), "lift": float(np.mean(lifts))}


# How far an eye figure must stray from the reference face's (the average of real photos) to
# make a class (MediaPipe's mesh leans towards the average face, so the steps are small):
# the corners' lift over their distance for upturned; the opening (lids' gap over width), as a
# fraction of the reference's, for almond and, lower still, narrow.
EYE_LIFT, EYE_ALMOND, EYE_NARROW = 0.06, 0.88, 0.72


def eye_shape(scene: Scene) -> Result:
    """One of four classes of the character's eyes from the frontal landmarks:
    upturned: the outer corners higher than the reference face's by EYE_LIFT (of the eye's
    width); else by the opening against the reference's: narrow under EYE_NARROW of it,
    almond under EYE_ALMOND, round (Digi's own, the open average eye) above.
    Weak like the face shape (a fitted mesh, and a smile or a squint narrows the eyes), so
    confidence stays at or under 0.7, and falls with a turned head."""
    f = eye_figures(scene.face3d[:, :2])
    ref = eye_figures(reference().points[:, :2])
    lift = f["lift"] - ref["lift"]
    opening = f["open"] / max(ref["open"], 1e-6)
    if lift > EYE_LIFT:
        cls, margin = "upturned", lift - EYE_LIFT
    elif opening < EYE_NARROW:
        cls, margin = "narrow", EYE_NARROW - opening
    elif opening < EYE_ALMOND:
        cls, margin = "almond", min(opening - EYE_NARROW, EYE_ALMOND - opening)
    else:
        cls, margin = "round", min(opening - EYE_ALMOND, EYE_LIFT - lift)
    turned = max(0.0, 1.0 - abs(scene.yaw) / 45)
    return cls, float(np.clip(0.35 + margin * 4, 0.2, 0.7) * turned)
