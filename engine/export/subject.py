"""What an export shows: an avatar (rig, clips, pictures) with its sprite choices, colours
and render style, as plain data. The web layer resolves a stored avatar into one; `digi()`
is the bundled avatar as it ships."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from engine.assets import AvatarBundle, load_bundle
from engine.atlas import Atlas
from engine.pose.edits import BoneOffset
from engine.render.looks import LOOK_NAMES, NONE
from engine.rig.data import RigData

ColorFilter = tuple[float, float, float, float]  # hue degrees, saturation, brightness, contrast
NEUTRAL: ColorFilter = (0.0, 1.0, 1.0, 1.0)
WHOLE = "avatar"  # the colour part that filters the whole avatar


@dataclass(frozen=True, eq=False)
class Subject:
    """An avatar to export. `sprites`: category -> label over the library's defaults;
    `colors`: colour part (`avatar`, or a group of `groups`) -> filter; `groups`: each colour
    group's slot names; `style`: a render style (engine/render/looks.py) for pictures that
    go through the renderer; vector formats carry the art as drawn (docs/EXPORT.md)."""

    bundle: AvatarBundle
    name: str = "digi"
    sprites: Mapping[str, str] = field(default_factory=dict)
    colors: Mapping[str, ColorFilter] = field(default_factory=dict)
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    style: str = NONE
    # animation (state) -> the name its files and clips get: a custom animation's state is
    # its id, its files are named for what its creator called it
    labels: Mapping[str, str] = field(default_factory=dict)
    # accessories placed on their bones (customizations' `accessories`): pose edits every
    # baked session of the subject wears
    offsets: Mapping[str, BoneOffset] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.style not in LOOK_NAMES:
            raise ValueError(
                f'unknown render style "{self.style}" (known: {", ".join(LOOK_NAMES)})'
            )
        lib = self.bundle.sprites
        for category, label in self.sprites.items():
            if lib is None or category not in lib.categories:
                raise ValueError(f'the avatar has no sprite category "{category}"')
            if label not in lib.categories[category]:
                raise ValueError(f'sprite category "{category}" has no label "{label}"')

    @property
    def rig(self) -> RigData:
        return self.bundle.rig

    @cached_property
    def atlas(self) -> Atlas:
        """The rig's pictures as drawn (before colour filters)."""
        return self.bundle.pictures()

    @property
    def avatar_filter(self) -> ColorFilter:
        return tuple(self.colors.get(WHOLE, NEUTRAL))  # type: ignore[return-value]

    @cached_property
    def part_filters(self) -> dict[str, ColorFilter]:
        """Slot name -> its group's filter (the renderer's `part_filters`)."""
        known = self.bundle.rig.slot_index
        return {
            slot: tuple(self.colors[group])  # type: ignore[misc]
            for group, slots in self.groups.items()
            if group in self.colors and tuple(self.colors[group]) != NEUTRAL
            for slot in slots
            if slot in known
        }

    def slot_filters(self, slot: str) -> tuple[ColorFilter, ColorFilter]:
        """(part filter, avatar filter) applied to slot `slot`'s pictures, in that order
        (the shader's order: the part's, then the whole avatar's)."""
        return self.part_filters.get(slot, NEUTRAL), self.avatar_filter

    def label(self, animation: str) -> str:
        """The name `animation`'s files and clips get."""
        return self.labels.get(animation, animation)

    @property
    def filtered(self) -> bool:
        return self.avatar_filter != NEUTRAL or bool(self.part_filters)


def digi(sprites: Mapping[str, str] | None = None, style: str = NONE) -> Subject:
    """The bundled avatar, Digi, as it ships (or with `sprites` swapped)."""
    return Subject(load_bundle("digi"), "digi", dict(sprites or {}), style=style)
