"""Outfits from pictures: a bundle with new sprite-library labels whose slots show new
pictures (a marketplace outfit or accessory, docs/MARKETPLACE.md).

Each new attachment is a copy of one the rig already has for that slot (a region or a
mesh: same corners or vertices, weights and uvs), drawn from a new picture placed in an
extended copy of the atlas. The part's uvs are 0..1 over its own picture, so a picture of
another size still fills the same shape. Everything is new frozen data: the shared bundle,
its rig, atlas and sprite library are never changed, and the new bundle has its own `key`
(renderers are shared per key, and this one needs its own atlas on the GPU).

A new label starts from the category's default label and replaces the slots it brings:
an outfit that only repaints the shirt still wears the default trousers and shoes.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine.assets import AvatarBundle
from engine.atlas import Atlas
from engine.sprites import Label, SpriteLibraryData

GAP = 4  # texels between pictures, so mipmaps of neighbours stay apart
MAX_ROW = 4096  # the widest shelf of new pictures (GL's guaranteed texture size is larger)
MAX_PICTURE = 2048  # a part's picture, either side

# slot name -> (the slot's existing attachment to copy, the new picture: (h, w, 4) uint8 RGBA)
Parts = Mapping[str, tuple[str, np.ndarray]]


class WardrobeError(ValueError):
    """An outfit that cannot be worn on this rig; the message names what is wrong."""


@dataclass(frozen=True)
class Outfit:
    """One item to wear: a new `label` in sprite `category`, from `parts`."""

    category: str
    label: str
    parts: Parts


@dataclass(frozen=True, slots=True)
class DressedBundle(AvatarBundle):
    """A bundle wearing items from pictures: `items` names them (with their pictures'
    digest), so its key differs from the bare bundle's and from any other dressing."""

    items: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        base = self.rig.name if self.face is None else f"{self.rig.name}+{self.face}"
        return f"{base}+{'+'.join(self.items)}"


def with_outfit(bundle: AvatarBundle, category: str, label: str, parts: Parts) -> AvatarBundle:
    """`bundle` with sprite label `label` in `category` showing `parts`."""
    return with_items(bundle, [Outfit(category, label, parts)])


def with_items(bundle: AvatarBundle, outfits: Sequence[Outfit]) -> AvatarBundle:
    """`bundle` with every outfit's label added (one new atlas for all of them)."""
    if not outfits:
        return bundle
    library = bundle.sprites
    if library is None:
        raise WardrobeError(f'rig "{bundle.rig.name}" has no sprite library to add outfits to')
    rig = bundle.rig
    attachments = [dict(a) for a in bundle.rig.attachments]
    pictures: dict[str, np.ndarray] = {}  # new atlas path -> picture
    categories = {c: dict(labels) for c, labels in library.categories.items()}
    tags = []
    for outfit in outfits:
        _check_name(outfit.category, "category")
        _check_name(outfit.label, "label")
        if outfit.category not in categories:
            known = ", ".join(sorted(categories))
            raise WardrobeError(f'unknown sprite category "{outfit.category}" (known: {known})')
        if not outfit.parts:
            raise WardrobeError(f'outfit "{outfit.label}" has no parts')
        labels = categories[outfit.category]
        default = library.defaults.get(outfit.category)
        label: Label = dict(labels[default]) if default in labels else {}
        digest = hashlib.sha256()
        for slot_name, (attachment, picture) in sorted(outfit.parts.items()):
            s = rig.slot_index.get(slot_name)
            if s is None:
                raise WardrobeError(f'outfit "{outfit.label}": the rig has no slot "{slot_name}"')
            base = rig.attachments[s].get(attachment)
            if base is None:
                known = ", ".join(sorted(rig.attachments[s])) or "none"
                raise WardrobeError(
                    f'outfit "{outfit.label}", slot "{slot_name}": no attachment '
                    f'"{attachment}" to copy (known: {known})'
                )
            px = _picture(picture, f'outfit "{outfit.label}", slot "{slot_name}"')
            pic_digest = hashlib.sha256(px.tobytes() + str(px.shape).encode()).hexdigest()[:16]
            digest.update(f"{slot_name}:{attachment}:{pic_digest};".encode())
            # the same picture for two slots (left and right sleeves) is placed once
            path = f"wardrobe/{pic_digest}"
            pictures[path] = px
            name = f"{attachment}@{outfit.category}/{outfit.label}"
            attachments[s][name] = dataclasses.replace(base, name=name, path=path)
            label[s] = name
        labels[outfit.label] = label
        tags.append(f"{outfit.category}:{outfit.label}:{digest.hexdigest()[:12]}")
    new_rig = dataclasses.replace(rig, attachments=tuple(attachments))
    new_library = SpriteLibraryData(library.name, new_rig, categories, dict(library.defaults))
    atlas = extended_atlas(bundle.pictures(), pictures)
    earlier = bundle.items if isinstance(bundle, DressedBundle) else ()
    return DressedBundle(
        rig=new_rig,
        clips=bundle.clips,
        machine=bundle.machine,
        sprites=new_library,
        tracking=bundle.tracking,
        atlas=atlas,
        face=bundle.face,
        items=(*earlier, *tags),
    )


def extended_atlas(base: Atlas, pictures: Mapping[str, np.ndarray]) -> Atlas:
    """A new atlas: `base`'s image with `pictures` on shelves below it (base untouched)."""
    h0, w0 = base.image.shape[:2]
    width = max(w0, min(MAX_ROW, max(p.shape[1] for p in pictures.values()) + GAP))
    places: dict[str, tuple[int, int]] = {}
    x = y = shelf = 0
    for path, pic in pictures.items():
        h, w = pic.shape[:2]
        if x and x + w > width:
            x, y, shelf = 0, y + shelf + GAP, 0
        places[path] = (x, h0 + GAP + y)
        x += w + GAP
        shelf = max(shelf, h)
    image = np.zeros((h0 + GAP + y + shelf, width, 4), np.uint8)
    image[:h0, :w0] = base.image
    regions = dict(base.regions)
    for path, pic in pictures.items():
        px, py = places[path]
        h, w = pic.shape[:2]
        image[py : py + h, px : px + w] = pic
        regions[path] = (px, py, w, h)
    image.setflags(write=False)
    return Atlas(image, regions, dict(base.hulls))


def _picture(picture: np.ndarray, where: str) -> np.ndarray:
    px = np.asarray(picture)
    if px.ndim != 3 or px.shape[2] != 4 or px.dtype != np.uint8:
        raise WardrobeError(
            f"{where}: a picture is (h, w, 4) uint8 RGBA, got {px.shape} {px.dtype}"
        )
    h, w = px.shape[:2]
    if not (1 <= h <= MAX_PICTURE and 1 <= w <= MAX_PICTURE):
        raise WardrobeError(f"{where}: a picture is 1..{MAX_PICTURE} texels a side, got {w}x{h}")
    if not (px[..., 3] > 0).any():
        raise WardrobeError(f"{where}: the picture is fully transparent")
    return np.ascontiguousarray(px)


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not 1 <= len(name) <= 64 or "/" in name or "+" in name:
        raise WardrobeError(f'a {what} is 1..64 characters without "/" or "+", got {name!r}')
