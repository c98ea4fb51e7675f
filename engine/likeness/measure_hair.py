"""Hair and hats: which pixels are hair, the hair's colour and highlight, and a hat.

Hair is found by colour, seeded by place: above the forehead (the crown) the person mask
holds hair, a hat or a bare scalp, whatever its colour; beside the face it holds hair and
ears (skin, skipped). The dominant colour of those seeds gives the hair a colour model;
every pixel of the person like it, outside the face, not under the jaw (neck, collar) and
connected to the seeds is hair. Hair the segmentation leaves out (wispy, light hair against
a light wall) is not measured: a band round the mask brought in more background than hair.

A crown of another material than the hair beside the face is a hat: unlike it as a material
(`shading_contrast`, which forgives light and shade) and not interleaved with it; with no
hair beside the face, a crown of a colour no hair grows in (blue, green...) is a hat. Under a hat, only the sides say what the hair is. A black hat on
black hair cannot be told this way (nor can a hat hiding all the hair's colour).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine import landmarks as lm
from engine.likeness.measure_colour import (
    delta_e,
    dominant_colour,
    gaussian_model,
    mahalanobis2,
    robust_colour,
)
from engine.likeness.measure_face import Skin
from engine.likeness.measure_geometry import Scene, face_oval
from engine.likeness.measure_masks import connected_to, morph, odd

Result = tuple[object, float]
LIKE = 11.3  # squared Mahalanobis distance within which a pixel matches a colour model (99%)
HAT_CONTRAST = 12.0  # shading_contrast between crown and sides above which a hat may be
HAT_SHARED = 0.08  # ... if under this share of the crown has the sides' colour
HAT_MARGIN = 0.1  # ... and both signs clear their thresholds by this much (margins below)
NECK_HALF = 0.28  # the neck's half width (u) at the least
BAND = 0.04  # the band round the person mask that may hold hair too (face widths across)


@dataclass(frozen=True)
class Hair:
    mask: np.ndarray  # (h, w) bool: hair outside the face
    lab: np.ndarray | None  # main colour
    model: tuple[np.ndarray, np.ndarray] | None
    like: np.ndarray  # (h, w) bool: pixels of the hair's colour, anywhere
    hat: bool
    hat_lab: np.ndarray | None
    confidence: float
    hat_confidence: float = 0.3


def natural_hair(lab: np.ndarray) -> bool:
    """Whether a colour is one hair grows in: near-neutral (black, grey, white) or warm
    (red, brown, blond) and not too saturated. Dyed hair fails this; so does most hats'."""
    c = float(np.hypot(lab[1], lab[2]))
    h = float(np.degrees(np.arctan2(lab[2], lab[1])) % 360)
    return c < 12 or (c < 50 and 15 <= h <= 110)


def shading_contrast(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How unlike two colours are as materials rather than as light and shade of one: the
    same hair lit and in shadow differs in L* (a third of the difference counts) and keeps
    its hue, and near-black loses its chroma; a hat over hair differs in L* by far more, in
    hue (30 degrees count 15 between strong colours), or is grey where the hair is
    coloured."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    dl = np.abs(a[..., 0] - b[..., 0]) / 3
    ca, cb = np.hypot(a[..., 1], a[..., 2]), np.hypot(b[..., 1], b[..., 2])
    ha, hb = np.arctan2(a[..., 2], a[..., 1]), np.arctan2(b[..., 2], b[..., 1])
    dh = np.degrees(np.abs(np.angle(np.exp(1j * (ha - hb)))))
    lit = (a[..., 0] >= 15) & (b[..., 0] >= 15)  # hue means nothing near black
    # nor much near grey: a few levels of a or b swing a weak colour's hue by tens of
    # degrees, so hue counts in full from chroma 20 and fades out towards 10; a hard
    # step at 10 let a small change of colour turn a hat on (hair dyed a little bluer)
    weight = np.clip((np.minimum(ca, cb) - 10.0) / 10.0, 0.0, 1.0)
    hue = np.where(lit, weight * dh / 2, 0.0)
    grey = np.where(lit & ((np.minimum(ca, cb) < 6) & (np.maximum(ca, cb) >= 15)), 20.0, 0.0)
    return np.maximum(dl, np.maximum(hue, grey))


def roughness(lab: np.ndarray, mask: np.ndarray) -> float:
    """Median step in L* to the next pixel right and down, over a mask: hair's strands make
    it large, skin (even a bare scalp with its highlight) keeps it small."""
    lum = lab[..., 0]
    step = np.zeros(lum.shape, np.float32)
    step[:-1, :-1] = np.abs(lum[:-1, :-1] - lum[1:, :-1]) + np.abs(lum[:-1, :-1] - lum[:-1, 1:])
    return float(np.median(step[mask])) if mask.any() else 0.0


def bare_scalp(scene: Scene, crown: np.ndarray, skin: Skin, crown_lab: np.ndarray) -> bool:
    """Whether the head above the forehead is skin: of skin colour and no rougher than the
    cheeks."""
    if float(delta_e(crown_lab, skin.lab)) > 15:
        return False
    cheeks = skin.d2 < LIKE
    cheeks &= face_oval(scene)[0] & (scene.v > 0.2) & (scene.v < 0.6)
    return roughness(scene.lab, crown) < 1.6 * max(roughness(scene.lab, cheeks), 0.5)


def _balanced(scene: Scene, mask: np.ndarray) -> np.ndarray:
    """The mask's L*a*b* pixels with both halves of the head (left and right of the face's
    middle) equally many, so that the side the light comes from does not set the colour."""
    halves = [scene.lab[mask & (scene.u < 0)], scene.lab[mask & (scene.u >= 0)]]
    n = min(len(h) for h in halves)
    if n < 20:
        return scene.lab[mask]
    return np.concatenate([h[np.linspace(0, len(h) - 1, n).astype(int)] for h in halves])


def _lit(px: np.ndarray) -> np.ndarray:
    """The pixels that are not near-black (deep shadow, a dark collar, shadows crushed to
    black: no hue to go by), unless near-black is most of them (black hair)."""
    lit = px[px[:, 0] >= 8]
    return lit if len(lit) >= 0.4 * len(px) else px


def _side_colour(px: np.ndarray) -> np.ndarray:
    """The dominant colour beside the face, leaving out near-black."""
    return dominant_colour(_lit(px))[0]


def find_hair(scene: Scene, skin: Skin, debug: dict | None = None) -> Hair:
    """The hair's mask, colour model and main colour, and the hat (see the module)."""
    shape = scene.rgb.shape[:2]
    area = scene.face_width**2
    empty = np.zeros(shape, bool)
    oval, _ = face_oval(scene)
    grown = morph(oval, odd(0.06 * scene.face_width), "dilate")
    skin_d2 = skin.d2
    skin_like = skin_d2 < LIKE
    u, v = scene.u, scene.v
    v_top = float(scene.face_uv(scene.points[[lm.FOREHEAD]])[0, 1])
    v_brow = float(scene.face_uv(scene.poly(lm.RIGHT_BROW_UPPER + lm.LEFT_BROW_UPPER))[:, 1].mean())
    # a thin band round the person mask: its edge often falls inside thin hair
    head = morph(scene.person, odd(BAND * scene.face_width), "dilate") & (v < 1.3)
    inside = scene.person & ~grown
    # under the jaw line, between the jaw's corners: neck and collar, never hair
    jaw = scene.face_uv(scene.poly(lm.JAW_ANGLES))
    neck = (v > float(jaw[:, 1].min())) & (
        np.abs(u) < max(NECK_HALF, float(np.abs(jaw[:, 0]).max()))
    )
    neck &= ~oval
    # Above the forehead is hair, a hat or a bare scalp, whatever its colour (dark skin and
    # brown hair can match): no skin test there. Beside the face, ears are skin: skip them.
    crown = inside & (v < v_top + 0.05) & (np.abs(u) < 0.8)
    temples = inside & ~skin_like & (v >= v_brow) & (v < 0.6) & (np.abs(u) < 0.9)
    # beside the face from the eyes to the jaw: under any hat's brim
    ring = morph(oval, odd(0.4 * scene.face_width), "dilate")  # hair frames the face
    sides = inside & ring & ~skin_like & ~neck & (v >= 0.0) & (v < 0.9)
    n_crown, n_sides = int(crown.sum()), int(sides.sum())
    if debug is not None:
        debug["crown"], debug["temples"], debug["sides"] = crown, temples, sides
    crown_lab = dominant_colour(scene.lab[crown])[0] if n_crown >= 0.04 * area else None
    bare = crown_lab is not None and bare_scalp(scene, crown, skin, crown_lab)
    source = temples | (crown if not bare else empty)
    if source.sum() < 0.01 * area:
        return Hair(empty, None, None, empty, False, None, 0.5)

    hat, hat_lab, hat_conf = False, None, 0.3
    if crown_lab is not None and not bare:
        side_lab = _side_colour(scene.lab[sides]) if n_sides >= 0.015 * area else None
        if side_lab is not None:
            # a different material on top, unless the side's colour runs through the crown
            # too (strands and shadows of one head of hair interleave; a hat's edge is
            # clean); the same material on top and beside the face is hair, dyed or not
            contrast = float(shading_contrast(crown_lab, side_lab))
            shared = float((shading_contrast(scene.lab[crown], side_lab) < 8).mean())
            hat = contrast > HAT_CONTRAST and shared < HAT_SHARED
            # how clearly each sign says so: both for a hat, either against one
            margins = (abs(contrast - HAT_CONTRAST) / 20, abs(shared - HAT_SHARED) * 4)
            if hat and min(margins) < HAT_MARGIN:
                # a crown only just unlike the sides is hair lit or streaked differently
                # (a lighter top is common): calling it a hat would throw the hair's
                # colour away for whatever else lies beside the face
                hat = False
            hat_conf = 0.5 + min(0.4, min(margins) if hat else max(margins))
        else:
            hat = not natural_hair(crown_lab)  # nothing beside the face to compare with
            hat_conf = 0.45
        if hat:
            # under a hat, hair shows beside the face down to the jaw, in no hat colour
            hat_lab = crown_lab
            unlike_hat = shading_contrast(scene.lab[sides], crown_lab)
            source = empty.copy()
            source[sides] = unlike_hat > HAT_CONTRAST
            if source.sum() < 0.01 * area:
                return Hair(empty, None, None, empty, True, hat_lab, 0.3, hat_conf)

    seeds_lab = scene.lab[source]
    # near-black left out as beside the face: dark hair whose shadows a photo crushed to
    # black would otherwise be measured as the shadows once they outnumber any one shade
    # of the lit hair (a step: L* 30 from hair 21 dark, L* 14 from hair 23 dark)
    mode, share = dominant_colour(_lit(seeds_lab))
    close = delta_e(seeds_lab, mode) < 28
    model = gaussian_model(seeds_lab[close], floor=25.0)
    hair_d2 = mahalanobis2(scene.lab, model)
    # where hair and skin differ, a pixel nearer the skin is skin; where they match, the
    # face's outline and the neck (below) keep skin out of the hair instead
    apart = float(delta_e(mode, skin.lab))
    like = hair_d2 < LIKE
    if apart > 15:
        like &= ~(skin_like & (skin_d2 < hair_d2))
    if hat_lab is not None:
        like &= ~(delta_e(scene.lab, hat_lab) < 15)
    cand = head & like & ~grown & ~neck
    cand = morph(morph(cand, 3, "erode"), 3, "dilate")  # drop single-pixel specks
    mask = connected_to(cand, source & cand)
    # light strands between darker ones can pass for skin: gaps narrower than a twentieth
    # of the face inside the hair are hair (a bald crown or an ear is far wider)
    k = odd(0.05 * scene.face_width)
    mask = morph(morph(mask, k, "dilate"), k, "erode") & head & ~grown & ~neck
    px = scene.lab[mask]
    if len(px) < 20:
        return Hair(mask, None, None, like, hat, hat_lab, 0.3, hat_conf)
    lab, _ = robust_colour(_balanced(scene, mask), keep=3.0)
    conf = min(1.0, len(px) / (0.15 * area)) * (0.5 + 0.5 * min(1.0, share / 0.4))
    conf *= 0.5 + 0.5 * min(1.0, apart / 25)  # hair like skin is hard to outline
    return Hair(mask, lab, model, like, hat, hat_lab, float(conf), hat_conf)


def hair_colours(scene: Scene, hair: Hair) -> tuple[Result, Result]:
    """(main colour, highlight): the highlight is the lightest sixth of the hair when it
    stands clear of the main colour (dE > 8), else None."""
    if hair.lab is None:
        return (None, hair.confidence), (None, hair.confidence)
    px = scene.lab[hair.mask]
    light = px[px[:, 0] >= np.percentile(px[:, 0], 84)]
    hl, _ = robust_colour(light)
    gap = float(delta_e(hl, hair.lab))
    if gap < 8:
        return (hair.lab, hair.confidence), (None, 0.5 * hair.confidence)
    return (hair.lab, hair.confidence), (hl, hair.confidence * min(1.0, gap / 20))
