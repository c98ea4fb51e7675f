"""The content build scripts (content/build/*.py) as modules, for tests that check a
committed file is what its script makes. They are scripts, not a package, so they are
loaded by path."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from engine.assets import ROOT


def build_script(name: str) -> ModuleType:
    """content/build/<name>.py, loaded as a module (its main() not run)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "content" / "build" / f"{name}.py")
    assert spec and spec.loader, name
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
