"""GL fixtures: one headless EGL context for the whole run (a context belongs to a thread),
and the test rig's renderer."""

from __future__ import annotations

from collections.abc import Iterator

import moderngl
import pytest

from engine.assets import ROOT, AvatarBundle
from engine.render import AvatarRenderer, create_context, load_atlas


@pytest.fixture(scope="session")
def gl() -> Iterator[moderngl.Context]:
    ctx = create_context()
    yield ctx
    ctx.release()


@pytest.fixture(scope="session")
def renderer(gl: moderngl.Context, testrig: AvatarBundle) -> AvatarRenderer:
    return AvatarRenderer(
        gl, testrig.rig, load_atlas(ROOT / "content" / "atlases" / "testrig"), size=(256, 256)
    )
