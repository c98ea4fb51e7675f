"""Builds `content/tracking/face_reference.json`: the frontal reference face the tracking
solver fits head pose against.

MediaPipe's wheel carries its FaceMesh models but not its canonical face geometry, and
nothing may be downloaded, so we make the reference ourselves from real face photos that
ship with installed packages (scikit-image's astronaut, matplotlib's Grace Hopper):

1. run FaceMesh on each photo and lift the landmarks into a 3-D, isotropic, y-up frame;
2. find each point's mirror partner (the mesh is left/right symmetric by construction);
3. turn each face frontal: the symmetry plane's normal is the x axis, chin-to-forehead
   (made orthogonal to it) the y axis;
4. average the photos and symmetrize (a point and its mirrored partner averaged), so the
   reference is exactly symmetric and a frontal face reads yaw 0 and roll 0;
5. tip it about x so that the source portraits, people looking into a camera at eye level,
   read pitch 0 on average (chin-to-forehead is not quite upright in a face at rest);
6. choose the rigid points: the upper face (forehead, temples, nose, cheekbones) without the
   eyes, lids, brows and irises, which expressions move. Mouth and jaw are below the cut, so
   opening the mouth cannot tilt the fitted head.

Deterministic: `.venv/bin/python content/build/face_reference.py` rewrites the same file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine import landmarks as lm  # noqa: E402
from engine.tracking.geometry import (  # noqa: E402
    angles,
    fit_similarity,
    lift,
    rotation,
    symmetry_frame,
)
from engine.tracking.landmarker import FaceLandmarker  # noqa: E402
from tests.photos import PHOTOS  # noqa: E402

OUT = ROOT / "content" / "tracking" / "face_reference.json"


def mirror_pairs(points: np.ndarray) -> np.ndarray:
    """For each point, the index of its mirror partner, from a roughly frontal face
    (x across the face): a one-to-one matching of the x-mirrored points to the points
    (a nearest neighbour alone lets two points claim one partner)."""
    from scipy.optimize import linear_sum_assignment

    mirrored = points * np.array([-1.0, 1.0, 1.0])
    d = np.linalg.norm(mirrored[:, None, :] - points[None, :, :], axis=2)
    _, partner = linear_sum_assignment(d)
    return partner


def build() -> dict:
    """The reference face document, from the bundled photos."""
    faces = []
    with FaceLandmarker(static=True, max_faces=1) as lm:
        for name, load in PHOTOS.items():
            image = load()
            res = lm.process(image)
            if res.landmarks is None:
                raise SystemExit(f"no face found in {name}")
            faces.append(lift(res.landmarks, res.image_size))

    # Partners from a first, eye-line-based frontal guess; then each face's own symmetry
    # plane with those partners, iterated once more with the refined partners.
    n = faces[0].shape[0]
    pairs = None
    frontal = []
    for _ in range(3):
        frontal = []
        for p in faces:
            rot, centre = symmetry_frame(p, pairs)
            frontal.append((p - centre) @ rot)
        mean = np.mean(frontal, axis=0)
        pairs = mirror_pairs(mean)
    assert pairs is not None
    mutual = pairs[pairs] == np.arange(n)
    if mutual.mean() < 0.95:
        raise SystemExit(f"mirror pairing is not consistent ({mutual.mean():.0%} mutual)")
    pairs = np.where(mutual, pairs, np.arange(n))  # the few unsure points stay unpaired

    # Scale: outer eye corners one unit apart.
    ref = np.mean(frontal, axis=0)
    ref = (ref + ref[pairs] * np.array([-1.0, 1.0, 1.0])) / 2
    ref -= ref.mean(axis=0)
    ref /= np.linalg.norm(ref[263] - ref[33])
    rigid = rigid_points(ref, n)
    for _ in range(3):
        pitch = np.mean([angles(fit_similarity(ref[rigid], p[rigid])[1])[1] for p in faces])
        ref = ref @ rotation(0.0, pitch, 0.0).T
    rigid = rigid_points(ref, n)

    return {
        "schema": 1,
        "about": "Frontal reference face for head-pose fitting (content/build/face_reference.py):"
        " MediaPipe FaceMesh topology (478 points), x right, y up, z towards the camera,"
        " outer eye corners 1 apart.",
        "sources": list(PHOTOS),
        "points": [[round(float(v), 5) for v in p] for p in ref],
        "mirror": [int(i) for i in pairs],
        "rigid": rigid,
    }


def main() -> None:
    doc = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(doc['points'])} points, {len(doc['rigid'])} rigid")


def rigid_points(ref: np.ndarray, n: int) -> list[int]:
    """The upper face without eyes, lids, brows, irises and lips."""
    from mediapipe.python.solutions import face_mesh_connections as fmc

    moving = set()
    for group in (
        fmc.FACEMESH_LEFT_EYE, fmc.FACEMESH_RIGHT_EYE, fmc.FACEMESH_LEFT_EYEBROW,
        fmc.FACEMESH_RIGHT_EYEBROW, fmc.FACEMESH_LIPS, fmc.FACEMESH_IRISES,
    ):  # fmt: skip
        moving |= {i for edge in group for i in edge}
    moving |= set(range(lm.MESH_POINTS, lm.POINTS))  # the irises
    eye_centres = [
        ref[[lm.RIGHT_EYE_OUTER, lm.RIGHT_EYE_INNER]].mean(axis=0),
        ref[[lm.LEFT_EYE_OUTER, lm.LEFT_EYE_INNER]].mean(axis=0),
    ]
    eye_radius = 0.28  # of the outer-corner distance: the lids and the skin they pull
    subnasale = ref[2, 1]
    return [
        i for i in range(n)
        if i not in moving
        and ref[i, 1] >= subnasale
        and all(np.linalg.norm(ref[i, :2] - c[:2]) > eye_radius for c in eye_centres)
    ]  # fmt: skip


if __name__ == "__main__":
    main()
