"""Builds `content/tracking/face_topology.json`: MediaPipe FaceMesh's triangles and the
contours the engine's generated faces are rigged by (engine/face/).

The wheel ships the tessellation only as an edge list (`FACEMESH_TESSELATION`), so the
triangles are recovered as its 3-cliques. Two cliques are not faces of the mesh: each lies
inside a fan of real triangles on the side of the nose (every one of its edges is already
shared by two faces). They are found as the cliques whose edges all have two other
triangles, and dropped. What remains is a disc with three holes (V - E + F = -2): the
outline of the face and, inside it, the two eyes and the mouth, whose boundary loops are
written in order with their corner points.

Deterministic: `.venv/bin/python content/build/face_topology.py` rewrites the same file.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

from mediapipe.python.solutions import face_mesh_connections as fmc

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "content" / "tracking" / "face_topology.json"

# Corners that split each hole's loop into its upper and lower halves. "right" is the
# subject's right (the image's left in a photo), MediaPipe's naming.
CORNERS = {
    "eye_right": (33, 133),
    "eye_left": (263, 362),
    "lips_inner": (78, 308),
}
BROWS = {
    "brow_right": (70, 63, 105, 66, 107, 46, 53, 52, 65, 55),
    "brow_left": (300, 293, 334, 296, 336, 276, 283, 282, 295, 285),
}
IRIS = {"iris_right": tuple(range(468, 473)), "iris_left": tuple(range(473, 478))}


def triangles() -> list[tuple[int, int, int]]:
    edges = {tuple(sorted(e)) for e in fmc.FACEMESH_TESSELATION}
    near = collections.defaultdict(set)
    for a, b in edges:
        near[a].add(b)
        near[b].add(a)
    cliques = {tuple(sorted((a, b, c))) for a, b in edges for c in near[a] & near[b]}
    uses = collections.Counter(e for t in cliques for e in _edges(t))
    spurious = {t for t in cliques if all(uses[e] == 3 for e in _edges(t))}
    tris = sorted(cliques - spurious)
    counts = collections.Counter(e for t in tris for e in _edges(t))
    assert max(counts.values()) == 2, "the tessellation is not a manifold after cleaning"
    vertices = {v for t in tris for v in t}
    euler = len(vertices) - len(counts) + len(tris)
    assert euler == -2, f"expected a disc with three holes, got Euler characteristic {euler}"
    return tris


def _edges(t: tuple[int, int, int]) -> tuple[tuple[int, int], ...]:
    a, b, c = t
    return ((a, b), (a, c), (b, c))


def boundary_loops(tris: list[tuple[int, int, int]]) -> list[list[int]]:
    counts = collections.Counter(e for t in tris for e in _edges(t))
    near = collections.defaultdict(list)
    for (a, b), n in counts.items():
        if n == 1:
            near[a].append(b)
            near[b].append(a)
    loops, seen = [], set()
    for start in sorted(near):
        if start in seen:
            continue
        loop, prev, cur = [start], None, start
        while True:
            nxt = next(v for v in near[cur] if v != prev)
            if nxt == start:
                break
            loop.append(nxt)
            prev, cur = cur, nxt
        seen.update(loop)
        loops.append(loop)
    return loops


def halves(loop: list[int], a: int, b: int) -> tuple[list[int], list[int]]:
    """The loop split at corners a and b into its two open paths, each from a to b."""
    i = loop.index(a)
    loop = loop[i:] + loop[:i]
    j = loop.index(b)
    first = loop[: j + 1]
    second = [a, *loop[j:][::-1]]
    return first, second


def build() -> dict:
    tris = triangles()
    loops = boundary_loops(tris)
    by_member = {}
    for loop in loops:
        for name, (a, b) in CORNERS.items():
            if a in loop and b in loop:
                by_member[name] = loop
    outline = next(lp for lp in loops if lp not in by_member.values())
    contours: dict[str, list[int]] = {}
    # 10 (mid forehead) first, then clockwise as seen in a photo (towards the image's right)
    i = outline.index(10)
    outline = outline[i:] + outline[:i]
    if outline[1] != 338:
        outline = [outline[0], *outline[1:][::-1]]
    contours["outline"] = outline
    for name, (a, b) in CORNERS.items():
        p, q = halves(by_member[name], a, b)
        # the upper half is the one through the topmost landmark of the canonical face:
        # MediaPipe's own lid and lip lists name it (159 upper right lid, 386 upper left lid,
        # 13 upper inner lip)
        top = {"eye_right": 159, "eye_left": 386, "lips_inner": 13}[name]
        upper, lower = (p, q) if top in p else (q, p)
        contours[f"{name}_upper"] = upper
        contours[f"{name}_lower"] = lower
    contours.update({k: list(v) for k, v in BROWS.items()})
    contours.update({k: list(v) for k, v in IRIS.items()})
    return {
        "schema": 1,
        "about": (
            "MediaPipe FaceMesh topology (content/build/face_topology.py): the 468-point "
            "tessellation's triangles (holes at the eyes and the mouth) and named contours. "
            "Lid and lip halves run from the first corner to the second."
        ),
        "points": 478,
        "triangles": [list(t) for t in tris],
        "contours": contours,
    }


def main() -> None:
    data = build()
    text = json.dumps(data, separators=(",", ":"))
    OUT.write_text(text + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(data['triangles'])} triangles")


if __name__ == "__main__":
    main()
