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
        "sqlite3",
        "sqlite_utils",
        "stripe",
    },
    "streaming": {"webapi"},
    # the web app's domain packages know nothing of HTTP: handlers (webapi/handlers) do that
    "webapi/store": {"aiohttp", "aiortc"},
    "webapi/accounts": {"aiohttp", "aiortc"},
    "webapi/library": {"aiohttp", "aiortc"},
}
# product code outside webapi/store never opens the database itself
DATABASE = {"sqlite3", "sqlite_utils"}
# within engine/, these libraries belong to one place only (or to a few, as a tuple)
ONLY_IN: dict[str, str | tuple[str, ...]] = {
    "moderngl": "engine/render/",
    # the desktop windows are an application on top of the renderer, not the GL boundary
    "pyglet": ("engine/render/", "engine/apps/window.py"),
    "glcontext": "engine/render/",
    # the MediaPipe boundary: face landmarks, and person segmentation for engine/style
    "mediapipe": ("engine/tracking/landmarker.py", "engine/tracking/segmenter.py"),
    "cv2": "engine/tracking/camera.py",  # camera capture only
    "torch": "engine/style/",
    "cairosvg": "engine/likeness/art.py",  # SVG art rasterized at run time (characters)
    # PyAV belongs to streaming; the engine's one use is writing WebM exports
    "av": "engine/export/webm.py",
}


# The engine's inner layers, lowest first (docs/ARCHITECTURE.md): a module may import its
# own package and any package on a LOWER layer, never one on its own layer or above. Every
# import counts, also one inside a function: a lazy import is for a heavy library
# (MediaPipe, torch), never a way round this order.
ENGINE_LAYERS: tuple[tuple[str, ...], ...] = (
    ("kernels", "images", "landmarks", "hulls", "numbers", "memo", "memo_store"),  # numeric kernels, fixed facts
    ("rig",),  # frozen rig data and its loader
    ("pose", "atlas"),  # a pose of a rig; pictures of its parts
    ("params", "anim", "sprites", "tracking", "effects"),  # what moves a pose; effects as data
    ("assets",),  # the bundle: rig + clips + machine + sprites + tracking + pictures
    ("session",),  # one tick
    ("puppet", "face", "style", "wardrobe"),  # puppeting; a worn face; styling; outfits
    ("likeness",),  # a photo's person measured, a character assembled from Digi's parts
    ("render",),  # the GL boundary
    ("export",),  # pictures and files out, through the renderer
    ("apps",),  # the desktop windows and the demo: applications on top
)


def _engine_imports(path: Path) -> set[str]:
    """Every engine module `path` imports (as dotted names, from any depth of the file)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "engine")
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and node.module.split(".")[0] == "engine"
        ):
            out.add(node.module)
            # `from engine import landmarks` names a module, not an attribute
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer_of(module: str) -> tuple[str, int] | None:
    """(engine part, its layer) of a dotted engine module name; None for `engine` itself."""
    parts = module.split(".")
    if len(parts) < 2:
        return None
    for rank, names in enumerate(ENGINE_LAYERS):
        if parts[1] in names:
            return parts[1], rank
    raise AssertionError(f"{module}: engine/{parts[1]} has no layer in ENGINE_LAYERS")


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


def test_only_the_store_touches_the_database() -> None:
    bad = []
    for package in ("engine", "streaming", "webapi"):
        for path in _sources(package):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("webapi/store/"):
                continue
            bad += [f"{rel} imports {name}" for name in sorted(_imports(path) & DATABASE)]
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


def test_engine_layers_point_down() -> None:
    bad = []
    for path in _sources("engine"):
        me = _layer_of(_module(path))
        if me is None:
            continue
        for target in sorted(_engine_imports(path)):
            other = _layer_of(target)
            if other is None or other[0] == me[0]:
                continue
            if other[1] >= me[1]:
                bad.append(f"{path.relative_to(ROOT)} (layer {me[1]}, {me[0]}) imports {target} (layer {other[1]})")
    assert not bad, "\n".join(bad)


def test_no_import_cycles_inside_the_engine() -> None:
    modules = {_module(p): p for p in _sources("engine")}
    graph = {
        name: {t for t in _engine_imports(path) if t in modules and t != name}
        for name, path in modules.items()
    }
    # a package's __init__ importing its own modules is how a package exports; what must not
    # happen is a module importing back into the package that imports it
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                if not all(c == cycle[0] or c.startswith(cycle[0] + ".") for c in cycle):
                    cycles.append(" -> ".join(cycle))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert not cycles, "\n".join(cycles)


def test_the_layer_walker_sees_a_violation(tmp_path: Path) -> None:
    # Guard against rules that pass because the walker sees nothing.
    assert "engine.session" in _engine_imports(ROOT / "engine" / "puppet.py")
    assert _layer_of("engine.render.renderer")[1] > _layer_of("engine.session")[1]
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from engine.render import AvatarRenderer\n")
    assert "engine.render" in _engine_imports(bad)


def test_the_market_knows_no_http_and_one_module_knows_stripe() -> None:
    """webapi/market is domain code (the HTTP is webapi/handlers/market*.py), and
    payments.py is the only module of the whole product that talks to Stripe. The one
    exemption: stripe_test.py's `_serve`, the test mode's fake Stripe, an aiohttp server that
    only ever runs in a process of its own (`python -m webapi.market.stripe_test`)."""
    bad = []
    for path in _sources("webapi/market"):
        rel = path.relative_to(ROOT).as_posix()
        if rel != "webapi/market/stripe_test.py":
            bad += [f"{rel} imports {n}" for n in sorted(_imports(path) & {"aiohttp", "aiortc"})]
    for package in ("engine", "streaming", "webapi"):
        for path in _sources(package):
            rel = path.relative_to(ROOT).as_posix()
            if "stripe" in _imports(path) and rel != "webapi/market/payments.py":
                bad.append(f"{rel} imports stripe (only webapi/market/payments.py may)")
    assert not bad, "\n".join(bad)
    assert "stripe" in _imports(ROOT / "webapi" / "market" / "payments.py")  # the walker sees it


def test_ray_lives_in_the_cluster_package() -> None:
    """Ray is cluster mode's alone (docs/ARCHITECTURE.md, "Past one box"): the single box
    never imports it, so only webapi/cluster/ may (the CLI reaches it through that package)."""
    bad = []
    for package in ("engine", "streaming", "webapi"):
        for path in _sources(package):
            rel = path.relative_to(ROOT).as_posix()
            if "ray" in _imports(path) and not rel.startswith("webapi/cluster/"):
                bad.append(f"{rel} imports ray (only webapi/cluster/ may)")
    assert not bad, "\n".join(bad)
    assert "ray" in _imports(ROOT / "webapi" / "cluster" / "directory.py")  # the walker sees it
