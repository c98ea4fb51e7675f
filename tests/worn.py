"""Generated avatars of the bundled real face photos, and Digi wearing them: made once per
test run (each takes about a second) and shared by the face, GL and streaming tests."""

from __future__ import annotations

from functools import lru_cache

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
