"""Import an older checkout's `engine` package beside this one, as `engine_before`, so a
benchmark can run both in one process and interleave their frames: on a machine whose
speed wanders by tens of percent from minute to minute (a shared VM), only frames taken
turn about compare two versions fairly.

    older = import_engine("/tmp/before")        # git worktree add /tmp/before <commit>
    Renderer = older("render").AvatarRenderer   # engine_before.render

The older modules are compiled from their own files with `engine` in their imports read
as `engine_before`; their shaders and content are the checkout's own (they find them
next to their files). Only for benchmarks: nothing in the product imports this.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

NAME = "engine_before"
_IMPORTS = re.compile(r"^(\s*)(from|import)\s+engine(?=[\s.])", re.MULTILINE)


class _Loader(importlib.abc.SourceLoader):
    def __init__(self, path: Path) -> None:
        self.path = path

    def get_filename(self, fullname: str) -> str:
        return str(self.path)

    def get_data(self, path: str) -> bytes:
        source = Path(path).read_text(encoding="utf-8")
        return _IMPORTS.sub(rf"\1\2 {NAME}", source).encode("utf-8")


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(
        self, fullname: str, path: object, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != NAME and not fullname.startswith(NAME + "."):
            return None
        rel = Path(*fullname.split(".")[1:])
        package = self.root / rel / "__init__.py"
        module = (self.root / rel).with_suffix(".py")
        if package.exists():
            return importlib.util.spec_from_file_location(
                fullname, package, loader=_Loader(package),
                submodule_search_locations=[str(package.parent)],
            )  # fmt: skip
        if module.exists():
            return importlib.util.spec_from_file_location(fullname, module, loader=_Loader(module))
        return None


def import_engine(checkout: str | Path) -> Callable[[str], ModuleType]:
    """Make `engine_before` the `engine` package of `checkout`; returns a function that
    imports one of its modules by its name inside the package ("render", "session"...)."""
    root = Path(checkout).resolve() / "engine"
    if not (root / "__init__.py").exists():
        raise SystemExit(f"{checkout} has no engine package (a checkout of this repository?)")
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder(root))
    return lambda name: importlib.import_module(f"{NAME}.{name}")
