"""Measure the person in a photo: `measure(photo) -> Measurement`.

Stage 1 of the likeness pipeline (issue 14): MediaPipe's 478 landmarks on the largest face
and the selfie segmentation's person mask (both through engine/tracking, the MediaPipe
boundary), then plain numpy on the pixels:

- colours (skin, hair and its highlight, irises, brows, glasses' frame, facial hair, hat)
  are robust medians in CIELAB over landmark regions (measure_face, measure_hair,
  measure_extras), compared with dE76;
- the hair's silhouette (length, volume, fringe, texture, parting, scalp) is read from a
  hair mask (measure_hair) in the face's own frame (measure_silhouette);
- face shape, eye size/spacing and eye shape from the frontal landmarks (measure_face).

Each feature carries a confidence in 0..1. Only pixels inside the photo are measured: a face
cut by the frame edge gives lower confidences, never black. With several faces, the largest
one is measured. The result's types and JSON form live in measure_types.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from engine.likeness import measure_extras as extras
from engine.likeness import measure_face as face
from engine.likeness import measure_hair as hair
from engine.likeness import measure_silhouette as silhouette
from engine.likeness.measure_colour import lab_to_srgb
from engine.likeness.measure_geometry import Scene, scene_of
from engine.likeness.measure_types import (
    SPECS,
    BadPhotoError,
    Colour,
    Feature,
    FeatureError,
    MeasureError,
    Measurement,
    NoFaceError,
)

__all__ = [
    "SPECS",
    "BadPhotoError",
    "Colour",
    "Feature",
    "FeatureError",
    "MeasureError",
    "Measurement",
    "NoFaceError",
    "measure",
    "measure_scene",
]


def _colour(result: tuple[Any, float]) -> tuple[Any, float]:
    value, conf = result
    if value is None:
        return None, conf
    return Colour.from_lab(
        np.clip(np.asarray(value, np.float64), [0, -128, -128], [100, 127, 127])
    ), conf


def measure_scene(scene: Scene, debug: dict | None = None) -> Measurement:
    """The Measurement of an already built Scene (`measure` without the MediaPipe calls)."""
    skin = face.measure_skin(scene, debug)
    iris_colour, iris_class = face.measure_iris(scene, debug)
    brow_colour, brow_thickness = face.measure_brows(scene, skin, debug)
    h = hair.find_hair(scene, skin, debug)
    hair_colour, highlight = hair.hair_colours(scene, h)
    length, lowest = silhouette.hair_length(scene, h)
    texture, texture_figures = silhouette.hair_texture(scene, h)
    wears, frame = extras.glasses(scene, skin, debug)
    beard, beard_colour = extras.facial_hair(scene, skin, debug)
    eye_size, eye_spacing = face.eye_metrics(scene)
    if debug is not None:
        debug["hair"] = h.mask
        debug["figures"] = {"lowest_v": lowest, **texture_figures}
    if wears[0]:  # a frame at the brows and lenses over the eyes blur both
        brow_colour = (brow_colour[0], brow_colour[1] * 0.6)
        brow_thickness = (brow_thickness[0], brow_thickness[1] * 0.6)
        iris_colour = (iris_colour[0], iris_colour[1] * 0.7)
        iris_class = (iris_class[0], iris_class[1] * 0.7)
    features = {
        "skin": _colour((skin.lab, skin.confidence)),
        "hair_colour": _colour(hair_colour),
        "hair_highlight": _colour(highlight),
        "iris_colour": _colour(iris_colour),
        "iris_class": iris_class,
        "brow_colour": _colour(brow_colour),
        "brow_thickness": brow_thickness,
        "hair_length": length,
        "hair_volume": silhouette.hair_volume(scene, h),
        "fringe": silhouette.fringe(scene, h, debug),
        "hair_texture": texture,
        "parting": silhouette.parting(scene, h, skin),
        "scalp": silhouette.scalp(scene, h, skin, length[0]),
        "face_shape": face.face_shape(scene),
        "eye_size": eye_size,
        "eye_spacing": eye_spacing,
        "eye_shape": face.eye_shape(scene),
        "glasses": wears,
        "glasses_colour": _colour(frame),
        "facial_hair": beard,
        "facial_hair_colour": _colour(beard_colour),
        "hat": (h.hat, h.hat_confidence),
        "hat_colour": _colour((h.hat_lab if h.hat else None, h.hat_confidence)),
    }
    return Measurement.build(features, faces=scene.faces)


def measure(photo: np.ndarray) -> Measurement:
    """The person's features in an RGB uint8 (h, w, 3) photo. BadPhotoError for an array
    that is not such a photo, NoFaceError when MediaPipe finds no face (both ValueErrors)."""
    return measure_scene(scene_of(photo))


# Region colours of the debug overlay (RGB), drawn half-transparent over the crop.
_OVERLAY = {
    "hair": (255, 0, 255),
    "skin": (0, 255, 0),
    "iris": (0, 160, 255),
    "brows": (255, 255, 0),
    "forehead": (255, 128, 0),
    "bridge": (0, 255, 255),
    "frame": (255, 0, 0),
    "facial_hair": (128, 0, 255),
}


def debug_overlay(photo: np.ndarray) -> tuple[Measurement, np.ndarray]:
    """The measurement and a picture of the working crop with its regions painted on, with
    swatches of the measured colours along the bottom (for looking at, not for the product)."""
    scene = scene_of(photo)
    debug: dict = {}
    m = measure_scene(scene, debug)
    out = scene.rgb.astype(np.float64).copy()
    for name, rgb in _OVERLAY.items():
        masks = debug.get(name)
        if masks is None:
            continue
        mask = np.any(np.array(masks if isinstance(masks, list) else [masks]), axis=0)
        alpha = 0.25 if name == "hair" else 0.45
        out[mask] = out[mask] * (1 - alpha) + np.array(rgb) * alpha
    swatch_h = max(16, out.shape[0] // 12)
    names = ["skin", "hair_colour", "hair_highlight", "iris_colour", "brow_colour",
             "glasses_colour", "facial_hair_colour", "hat_colour"]  # fmt: skip
    strip = np.full((swatch_h, out.shape[1], 3), 255.0)
    wid = out.shape[1] // len(names)
    for k, n in enumerate(names):
        c = getattr(m, n).value
        if c is not None:
            strip[:, k * wid : (k + 1) * wid - 2] = lab_to_srgb(np.array(c.lab)) * 255
    pic = np.vstack([out, strip]).clip(0, 255).astype(np.uint8)
    return m, np.asarray(Image.fromarray(pic))
