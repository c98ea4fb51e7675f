"""ARCHITECTURE.md's import rules, enforced by walking every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# package -> top-level modules it must never import
FORBIDDEN = {
    "engine": {
        "streaming",
        "webapi",
        "aiohttp",
        "aiortc",
        "av",
        "sqlite3",
        "sqlite_utils",
        "stripe",
    },
    "streaming": {"webapi"},
}
# within engine/, these libraries belong to one place only (or to a few, as a tuple)
ONLY_IN: dict[str, str | tuple[str, ...]] = {
    "moderngl": "engine/render/",
    "pyglet": "engine/render/",
    "glcontext": "engine/render/",
    # the MediaPipe boundary: face landmarks, and person segmentation for engine/style
    "mediapipe": ("engine/tracking/landmarker.py", "engine/tracking/segmenter.py"),
    "cv2": "engine/tracking/camera.py",  # camera capture only
    "torch": "engine/style/",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_dependencies_point_one_way() -> None:
    bad = []
    for package, forbidden in FORBIDDEN.items():
        for path in _sources(package):
            for name in _imports(path) & forbidden:
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_heavy_libraries_stay_behind_their_boundary() -> None:
    bad = []
    for path in _sources("engine"):
        rel = path.relative_to(ROOT).as_posix()
        for name in _imports(path):
            home = ONLY_IN.get(name)
            homes = (home,) if isinstance(home, str) else home
            if homes is not None and not rel.startswith(homes):
                bad.append(f"{rel} imports {name} (only {' or '.join(homes)} may)")
    assert not bad, "\n".join(bad)


def test_the_walker_sees_imports() -> None:
    # Guard against a walker that silently finds nothing (which would pass every rule).
    seen = _imports(ROOT / "engine" / "session.py")
    assert "numpy" in seen and "engine" in seen
