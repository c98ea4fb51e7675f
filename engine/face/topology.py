"""MediaPipe FaceMesh's topology, as committed in `content/tracking/face_topology.json`
(built by content/build/face_topology.py from the wheel's edge list).

The 468 tessellation points form a disc with three holes: the eyes and the mouth. "right"
is the subject's right, on the image's left in a photo (MediaPipe's naming); lid and lip
halves run from the same first corner to the same second corner, so `upper[i]` and
`lower[i]` face each other across the opening.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from engine.assets import ROOT
from engine.rig.data import frozen

TOPOLOGY_FILE = ROOT / "content" / "tracking" / "face_topology.json"
MESH_POINTS = 468  # the tessellation; 468..477 are the irises


@dataclass(frozen=True, slots=True)
class Opening:
    """A hole in the mesh (an eye or the mouth) as two paths between its corners."""

    upper: np.ndarray
    lower: np.ndarray

    @property
    def corners(self) -> tuple[int, int]:
        return int(self.upper[0]), int(self.upper[-1])


@dataclass(frozen=True, slots=True)
class FaceTopology:
    triangles: np.ndarray  # (852, 3) int32 into the 468 points
    outline: np.ndarray  # the face's outer loop, from mid-forehead (10) round the image's right
    eye_right: Opening
    eye_left: Opening
    mouth: Opening  # the inner lips
    brow_right: np.ndarray
    brow_left: np.ndarray
    iris_right: np.ndarray  # centre first
    iris_left: np.ndarray


@lru_cache(maxsize=1)
def topology() -> FaceTopology:
    doc = json.loads(TOPOLOGY_FILE.read_text())
    c = {k: frozen(np.array(v, dtype=np.int64)) for k, v in doc["contours"].items()}

    def opening(name: str) -> Opening:
        return Opening(c[f"{name}_upper"], c[f"{name}_lower"])

    return FaceTopology(
        triangles=frozen(np.array(doc["triangles"], dtype=np.int32)),
        outline=c["outline"],
        eye_right=opening("eye_right"),
        eye_left=opening("eye_left"),
        mouth=opening("lips_inner"),
        brow_right=c["brow_right"],
        brow_left=c["brow_left"],
        iris_right=c["iris_right"],
        iris_left=c["iris_left"],
    )
