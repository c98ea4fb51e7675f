"""The GL boundary: contexts, shaders, the avatar renderer. Only this package imports
moderngl (and, for the desktop window, pyglet)."""

from engine.atlas import Atlas, load_atlas
from engine.render.context import GLUnavailableError, create_context
from engine.render.framing import FRAMINGS, framing_rect
from engine.render.renderer import NO_FILTER, AvatarRenderer

__all__ = [
    "FRAMINGS",
    "NO_FILTER",
    "Atlas",
    "AvatarRenderer",
    "GLUnavailableError",
    "create_context",
    "framing_rect",
    "load_atlas",
]
