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
