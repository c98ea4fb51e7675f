"""Typed, path-tracking access to parsed JSON, so every loader error names where it happened.

`Node` wraps a JSON value with its path (``bones[3].parent``). Accessors check types and
ranges and raise the loader's error class with that path; loaders then read like a schema.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.rig.errors import FormatError

_MISSING = object()


class Node:
    def __init__(
        self, value: Any, path: str, source: str, error: type[FormatError] = FormatError
    ) -> None:
        self.value = value
        self.path = path
        self.source = source
        self.error = error

    def fail(self, problem: str, path: str | None = None) -> FormatError:
        return self.error(self.source, self.path if path is None else path, problem)

    def _child_path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def child(self, key: str | int, value: Any) -> Node:
        return Node(value, self._child_path(key), self.source, self.error)

    # --- structure -------------------------------------------------------------------------

    def obj(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise self.fail(f"expected an object, got {_kind(self.value)}")
        return self.value

    def has(self, key: str) -> bool:
        return key in self.obj()

    def get(self, key: str, default: Any = _MISSING) -> Node:
        d = self.obj()
        if key not in d:
            if default is _MISSING:
                raise self.fail("missing required field", self._child_path(key))
            return self.child(key, default)
        return self.child(key, d[key])

    def items(self) -> Iterator[tuple[str, Node]]:
        for k, v in self.obj().items():
            yield k, self.child(k, v)

    def list(self, min_len: int = 0) -> list[Node]:
        if not isinstance(self.value, list):
            raise self.fail(f"expected a list, got {_kind(self.value)}")
        if len(self.value) < min_len:
            raise self.fail(f"expected at least {min_len} entries, got {len(self.value)}")
        return [self.child(i, v) for i, v in enumerate(self.value)]

    # --- scalars ---------------------------------------------------------------------------

    def num(self, lo: float | None = None, hi: float | None = None) -> float:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(f"expected a number, got {_kind(v)}")
        v = float(v)
        if not math.isfinite(v):
            raise self.fail(f"expected a finite number, got {v}")
        if lo is not None and v < lo:
            raise self.fail(f"must be >= {lo}, got {v}")
        if hi is not None and v > hi:
            raise self.fail(f"must be <= {hi}, got {v}")
        return v

    def int_(self, lo: int | None = None) -> int:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(f"expected an integer, got {_kind(v)}")
        if lo is not None and v < lo:
            raise self.fail(f"must be >= {lo}, got {v}")
        return v

    def str_(self) -> str:
        if not isinstance(self.value, str) or not self.value:
            raise self.fail(f"expected a non-empty string, got {_kind(self.value)}")
        return self.value

    def bool_(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.fail(f"expected true or false, got {_kind(self.value)}")
        return self.value

    def choice(self, options: tuple[str, ...]) -> str:
        s = self.str_()
        if s not in options:
            raise self.fail(f'unknown value "{s}" (expected one of {", ".join(options)})')
        return s

    def vec(self, n: int) -> tuple[float, ...]:
        items = self.list()
        if len(items) != n:
            raise self.fail(f"expected {n} numbers, got {len(items)}")
        return tuple(i.num() for i in items)


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return f"the number {v}"
    if isinstance(v, str):
        return f'the string "{v}"' if len(v) < 40 else "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def check_schema(root: Node, supported: int) -> None:
    version = root.get("schema")
    v = version.value
    if isinstance(v, bool) or not isinstance(v, int):
        raise version.fail(f"expected an integer schema version, got {_kind(v)}")
    if v != supported:
        raise version.fail(f"unsupported version {v} (this build reads {supported})")


def read_json(path: Path, error: type[FormatError]) -> Any:
    """Parse a data file, turning a missing file or bad JSON into the loader's error."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(str(path), "", "file not found") from None
    except json.JSONDecodeError as e:
        raise error(str(path), "", f"not valid JSON: {e}") from None


def read_rig_file(path: Path, error: type[FormatError], version: int, rig: str, what: str) -> Node:
    """The root of a data file that belongs to one rig (`"schema"` and `"rig"` checked):
    sprite libraries, tracking bindings. `what` names the file's content in the error."""
    root = Node(read_json(path, error), "", str(path), error)
    root.obj()
    check_schema(root, version)
    rnode = root.get("rig")
    if rnode.str_() != rig:
        raise rnode.fail(f'{what} for rig "{rnode.value}", not "{rig}"')
    return root
