"""Sprite libraries (the seed's `SpriteLibrary`, after Unity's Sprite Library Asset):
categories of labels, each label naming the attachment every slot of the category shows.

`SpriteLibraryData` is frozen and shared; `SpriteSelection` is a session's current choice
per category, applied to its pose as the attachments the pose resets to each frame, so a
swap shows on the very next frame and animations still key attachments on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.pose.pose import Pose
from engine.rig.data import RigData
from engine.rig.errors import FormatError
from engine.rig.reader import Node, read_rig_file

SCHEMA_VERSION = 1
Label = dict[int, str | None]  # slot index -> attachment (None hides the slot)


class SpriteLibraryError(FormatError):
    """A sprite library file is invalid."""


class UnknownSpriteError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class SpriteLibraryData:
    name: str
    rig: RigData
    categories: dict[str, dict[str, Label]]
    defaults: dict[str, str]

    def slots_of(self, category: str) -> set[int]:
        """Every slot any label of the category uses: choosing a label hides the others."""
        return {s for label in self.categories[category].values() for s in label}

    def resolve(self, category: str, label: str) -> dict[str, str | None]:
        """What a label shows, by slot name (slots of the category it leaves out are hidden)."""
        labels = self._labels(category)
        if label not in labels:
            raise UnknownSpriteError(
                f'unknown label "{label}" in category "{category}" (known: {", ".join(sorted(labels))})'
            )
        shown = labels[label]
        return {self.rig.slots[s].name: shown.get(s) for s in sorted(self.slots_of(category))}

    def _labels(self, category: str) -> dict[str, Label]:
        if category not in self.categories:
            raise UnknownSpriteError(
                f'unknown sprite category "{category}" (known: {", ".join(sorted(self.categories))})'
            )
        return self.categories[category]


def load_sprite_library(path: str | Path, rig: RigData) -> SpriteLibraryData:
    """Load a library; one that `extends` another is merged over it label by label."""
    return _load(Path(path), rig, seen=())


def _load(path: Path, rig: RigData, seen: tuple[str, ...]) -> SpriteLibraryData:
    root = read_rig_file(path, SpriteLibraryError, SCHEMA_VERSION, rig.name, "library is")
    categories: dict[str, dict[str, Label]] = {}
    defaults: dict[str, str] = {}
    base = root.get("extends", None)
    if base.value is not None:
        stem = base.str_()
        if stem in seen or stem == path.stem:
            raise base.fail(f'"extends" makes a cycle through "{stem}"')
        parent = _load(path.with_name(f"{stem}.json"), rig, (*seen, path.stem))
        categories = {c: dict(labels) for c, labels in parent.categories.items()}
        defaults = dict(parent.defaults)
    for cname, cnode in root.get("categories").items():
        labels = categories.setdefault(cname, {})
        for lname, lnode in cnode.items():
            labels[lname] = _label(lnode, rig)
    for cname, dnode in root.get("defaults", {}).items():
        if cname not in categories:
            raise dnode.fail(f'unknown category "{cname}"')
        if dnode.str_() not in categories[cname]:
            raise dnode.fail(f'unknown label "{dnode.value}" in category "{cname}"')
        defaults[cname] = dnode.value
    return SpriteLibraryData(path.stem, rig, categories, defaults)


def _label(node: Node, rig: RigData) -> Label:
    out: Label = {}
    for slot_name, anode in node.items():
        if slot_name not in rig.slot_index:
            raise anode.fail(f'unknown slot "{slot_name}"')
        s = rig.slot_index[slot_name]
        name = None if anode.value is None else anode.str_()
        if name is not None and name not in rig.attachments[s]:
            raise anode.fail(f'unknown attachment "{name}" for slot "{slot_name}"')
        out[s] = name
    return out


class SpriteSelection:
    """A session's chosen label per category, applied to its pose."""

    def __init__(self, library: SpriteLibraryData, pose: Pose) -> None:
        self.library = library
        self.pose = pose
        self.chosen: dict[str, str] = {}
        for category, label in library.defaults.items():
            self.swap(category, label)

    def swap(self, category: str, label: str) -> None:
        """Show `label` for `category` from the next frame on (no reload)."""
        for slot_name, attachment in self.library.resolve(category, label).items():
            self.pose.set_base_attachment(self.pose.rig.slot_index[slot_name], attachment)
        self.chosen[category] = label
