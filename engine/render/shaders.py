"""GLSL comes from `shaders/` as files, through this one loader. `#include "file.glsl"`
lines are expanded (once per file), so drawing and the skinning check share one function."""

from __future__ import annotations

import re
from pathlib import Path

import moderngl

SHADER_DIR = Path(__file__).resolve().parents[2] / "shaders"
_INCLUDE = re.compile(r'^\s*#include\s+"([^"]+)"\s*$', re.M)


class ShaderError(RuntimeError):
    pass


def source(name: str) -> str:
    """The text of `shaders/<name>` with includes expanded."""
    return _expand(name, set())


def _expand(name: str, seen: set[str]) -> str:
    path = SHADER_DIR / name
    if not path.is_file():
        raise ShaderError(f"shader file not found: shaders/{name}")
    if name in seen:
        return ""
    seen.add(name)
    text = path.read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda m: _expand(m.group(1), seen), text)


def program(
    ctx: moderngl.Context,
    vertex: str,
    fragment: str | None = None,
    varyings: tuple[str, ...] = (),
    defines: tuple[str, ...] = (),
) -> moderngl.Program:
    """Compile and link `shaders/<vertex>` (+ `<fragment>`); with `varyings` and no fragment
    shader the program captures those outputs by transform feedback. `defines` are
    `#define`d in both stages, after `#version` (for shader variants)."""

    def text(name: str) -> str:
        head, _, rest = source(name).partition("\n")
        return "\n".join([head, *(f"#define {d}" for d in defines), rest])

    try:
        return ctx.program(
            vertex_shader=text(vertex),
            fragment_shader=text(fragment) if fragment else None,
            varyings=varyings,
        )
    except moderngl.Error as e:
        raise ShaderError(f"shaders/{vertex} + shaders/{fragment}: {e}") from e
