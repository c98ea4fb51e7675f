"""Marketplace items in live sessions: what a session does with one (docs/MARKETPLACE.md).

The HTTP layer hands items in as plain data (`MarketItem`: the listing's id, type and
`content`, and its stored files' folder), as it hands in a `Look`; streaming never reads
the store. Per type:

- outfit / accessory: a sprite label. A built-in one is already a label of the rig; one
  from pictures is added by engine/wardrobe.py (`dress`), under its own label (made unique
  when it would shadow one the avatar has);
- animation: a built-in one names a state (and variant) of the rig; one from a package adds
  its clip as an emote state named by the listing id (streaming/manager.py `with_clips`),
  or (content `"state": {"as": "dance"}`) as one more variant of the rig's `dance` state,
  named by the listing id (`with_dances`): only in its owners' bundles, so only they roll it;
- background: a picture behind the avatar (the scene's `image`, by the listing id; a
  built-in one is a bundled background's id), or a looping video (`VideoBackdrop`: our
  stored frames, the one shown picked by the session's time);
- effect: a colour filter and/or an animated overlay (engine/effects.py), applied by the
  `effect` control message (a puppet) or at once (a try-on preview);
- avatar: the listing is a whole avatar (its customizations on the bare rig): a try-on
  preview wears it as its saved copy will be worn (`avatar_look`, `with_colour_groups`),
  instead of the viewer's own avatar. Bought, it is a saved avatar (webapi/market/purchases.py
  `_save_avatar`), worn like any other.

Pictures are read from `files` (the listing's folder; paths in `content` are relative to it,
"files/shirt.png", or to its `files/` folder), never outside it. Everything that reads
files or builds bundles is blocking: the manager runs it in an executor.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.assets import ROOT, AvatarBundle
from engine.effects import EffectData, builtin_effect, builtin_picture, parse_effect
from engine.rig.errors import FormatError
from engine.wardrobe import Outfit, WardrobeError, with_items
from streaming.live import COLOR_RANGES, Look

TYPES = ("outfit", "accessory", "animation", "avatar", "style_pack", "background", "effect")
SPRITE_TYPES = {"outfit": "outfit", "accessory": "accessories"}  # type -> sprite category
log = logging.getLogger(__name__)

BUNDLED_BACKGROUNDS = ROOT / "content" / "backgrounds"
MAX_PIXELS = 16_000_000  # a picture's pixels at most (the upload limit's, checked again)


class ItemError(ValueError):
    """An item that cannot be used in a session; the message names the item and why."""


@dataclass(frozen=True)
class MarketItem:
    """A listing as a session uses it: `files` is its stored folder (None for built-ins)."""

    id: str
    type: str
    content: dict[str, Any]
    files: Path | None = None
    name: str = field(default="", compare=False)

    @property
    def builtin(self) -> bool:
        return bool(self.content.get("builtin"))


@dataclass(frozen=True, eq=False)
class VideoBackdrop:
    """A looping video background: `frames` (n, h, w, 3) uint8 shown at `fps`, frame
    floor(t * fps) % n at a session's time t (webapi/market/videos.py stores them)."""

    frames: np.ndarray
    fps: int

    def index(self, t: float) -> int:
        return math.floor(max(0.0, t) * self.fps) % len(self.frames)

    def frame(self, t: float) -> np.ndarray:
        return self.frames[self.index(t)]

    def fitted(self, index: int, width: int, height: int) -> np.ndarray:
        """Frame `index` covering a `width` x `height` output, centred (as the scene's
        `cover`, but bilinear from the crop: a frame changes up to 15 times a second)."""
        px = self.frames[index]
        h, w = px.shape[:2]
        k = max(width / w, height / h)
        cw, ch = width / k, height / k
        x0, y0 = (w - cw) / 2, (h - ch) / 2
        image = Image.fromarray(px).resize(
            (width, height), Image.Resampling.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch)
        )
        return np.asarray(image, np.uint8)


MAX_VIDEO_FRAMES = 120  # what the upload checks keep (webapi/market/videos.py), checked again
MAX_VIDEO_SIDE = 640


def read_video(item: MarketItem, rel: Any) -> VideoBackdrop:
    """The item's stored frames (.npz: `frames`, `fps`), never pickles, within the limits;
    decoded once for every session showing it (up to 83 MB each: a few are kept)."""
    path = file_of(item, rel)
    try:
        return _decoded_video(str(path), path.stat().st_mtime_ns, item.id, str(rel))
    except OSError as e:
        raise ItemError(f'item "{item.id}": video "{rel}" cannot be read: {e}') from None


@lru_cache(maxsize=3)
def _decoded_video(path_text: str, mtime_ns: int, item_id: str, rel: str) -> VideoBackdrop:
    path = Path(path_text)
    try:
        with np.load(path, allow_pickle=False) as z:
            frames, fps = z["frames"], int(z["fps"])
    except (OSError, ValueError, KeyError) as e:
        raise ItemError(f'item "{item_id}": video "{rel}" cannot be read: {e}') from None
    if (
        frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3
        or not 1 <= len(frames) <= MAX_VIDEO_FRAMES or max(frames.shape[1:3]) > MAX_VIDEO_SIDE
        or not 1 <= fps <= 60
    ):  # fmt: skip
        raise ItemError(f'item "{item_id}": video "{rel}" is not our stored frames')
    return VideoBackdrop(frames, fps)


@dataclass(frozen=True)
class Wardrobe:
    """What a set of items adds to a session: sprite labels by item id ((category, label)),
    emote clips (state -> clip definition) and their names, backgrounds (id -> a loader of
    its (h, w, 3) pixels), effects (id -> EffectData), and the built-in animations."""

    labels: dict[str, tuple[str, str]] = field(default_factory=dict)
    clips: dict[str, dict[str, Any]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    backgrounds: dict[str, Callable[[], np.ndarray | VideoBackdrop]] = field(default_factory=dict)
    effects: dict[str, EffectData] = field(default_factory=dict)
    animations: dict[str, str] = field(default_factory=dict)  # id -> state or variant
    dances: dict[str, dict[str, Any]] = field(default_factory=dict)  # variant -> clip definition


# --- files ----------------------------------------------------------------------------------


def file_of(item: MarketItem, rel: Any) -> Path:
    """The stored file `rel` names ("files/x.png" or "x.png"), inside the item's folder."""
    if item.files is None:
        raise ItemError(f'item "{item.id}" has no stored files')
    if not isinstance(rel, str) or not rel or "\\" in rel or rel.startswith("/"):
        raise ItemError(f'item "{item.id}": bad file name {rel!r}')
    root = item.files.resolve()
    for base in (root, root / "files"):
        path = (base / rel).resolve()
        if not path.is_relative_to(root):
            raise ItemError(f'item "{item.id}": file name {rel!r} leaves its folder')
        if path.is_file():
            return path
    raise ItemError(f'item "{item.id}": no file "{rel}"')


def read_picture(item: MarketItem, rel: Any, mode: str = "RGBA") -> np.ndarray:
    path = file_of(item, rel)
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ItemError(f'item "{item.id}": picture "{rel}" has too many pixels')
            return np.asarray(im.convert(mode)).copy()
    except OSError as e:
        raise ItemError(f'item "{item.id}": picture "{rel}" cannot be read: {e}') from None


# --- per type ---------------------------------------------------------------------------------


def outfit_of(item: MarketItem, label: str | None = None) -> Outfit:
    """An outfit or accessory from pictures as the wardrobe wears it."""
    category = SPRITE_TYPES[item.type]
    parts = item.content.get("parts")
    if not isinstance(parts, dict) or not parts:
        raise ItemError(f'item "{item.id}": "parts" must name the slots it dresses')
    out: dict[str, tuple[str, np.ndarray]] = {}
    for slot, part in parts.items():
        if not isinstance(part, dict) or not isinstance(part.get("attachment"), str):
            raise ItemError(f'item "{item.id}": part "{slot}" needs an "attachment"')
        out[slot] = (part["attachment"], read_picture(item, part.get("picture")))
    return Outfit(category, label or str(item.content.get("label") or item.id), out)


def effect_of(item: MarketItem) -> EffectData:
    """The item's effect: a built-in by name, or the engine's format with its frames."""
    content = item.content
    if item.builtin and "effect" in content:
        try:
            base = builtin_effect(str(content["effect"]))
        except KeyError:
            raise ItemError(f'item "{item.id}": no built-in effect "{content["effect"]}"') from None
        return EffectData(item.id, base.filter, base.overlay)
    spec = {k: v for k, v in content.items() if k != "builtin"}

    def pictures(path: str) -> np.ndarray:
        if path.startswith("builtin:"):
            return builtin_picture(path)
        try:
            return read_picture(item, path)
        except ItemError as e:
            raise LookupError(str(e)) from None

    try:
        return parse_effect(spec, pictures, name=item.id, source=f"effect {item.id}")
    except FormatError as e:
        raise ItemError(str(e)) from None


def background_of(item: MarketItem) -> Callable[[], np.ndarray | VideoBackdrop]:
    """A loader of the item's picture, (h, w, 3) uint8, or of its video's frames (read
    once, when first shown)."""
    content = item.content
    if item.builtin and isinstance(content.get("background"), str):
        bid = content["background"]
        path = BUNDLED_BACKGROUNDS / f"{bid}.png"
        if not bid.replace("-", "").isalnum() or not path.is_file():
            raise ItemError(f'item "{item.id}": no bundled background "{bid}"')
        return lru_cache(maxsize=1)(lambda: _rgb(path))
    if "video" in content:
        file_of(item, content.get("video"))  # there, and inside its folder
        return lru_cache(maxsize=1)(lambda: read_video(item, content.get("video")))
    file_of(item, content.get("picture"))  # there, and inside its folder
    return lru_cache(maxsize=1)(lambda: read_picture(item, content.get("picture"), "RGB"))


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def clips_of(item: MarketItem) -> dict[str, Any]:
    """An animation package's first clip definition (the engine checks it when added)."""
    clips = item.content.get("clips")
    if not isinstance(clips, dict) or not clips:
        raise ItemError(f'item "{item.id}": "clips" must hold at least one clip')
    definition = next(iter(clips.values()))
    if isinstance(definition, str):  # a file of the package
        try:
            definition = json.loads(file_of(item, definition).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ItemError(f'item "{item.id}": clip file cannot be read: {e}') from None
    if not isinstance(definition, dict):
        raise ItemError(f'item "{item.id}": a clip is a JSON object')
    return definition


# --- a set of items -------------------------------------------------------------------------


def dress(
    bundle: AvatarBundle, items: Sequence[MarketItem], strict: bool = True
) -> tuple[AvatarBundle, Wardrobe]:
    """`bundle` with the items' outfits and accessories from pictures added as labels, and
    what else the items bring (clips, backgrounds, effects). Items of types a session does
    not use (avatars, style packs) and built-in outfits need nothing. An item that cannot
    be used raises ItemError, or (`strict=False`: a puppet's owned items, where one broken
    item must not keep the others off the stream) is left out with a warning. Blocking."""
    taken = {c: set(v) for c, v in (bundle.sprites.categories if bundle.sprites else {}).items()}
    found = Wardrobe({}, {}, {}, {}, {}, {})
    outfits: list[tuple[str, Outfit]] = []
    for item in items:
        try:
            _take(item, found, outfits, taken)
        except ItemError as e:
            if strict:
                raise
            log.warning("marketplace item %s left out: %s", item.id, e)
    if outfits:
        try:
            bundle = with_items(bundle, [o for _, o in outfits])
        except WardrobeError as e:
            if strict:
                raise ItemError(str(e)) from None
            log.warning("marketplace outfits left out: %s", e)
            for iid, _ in outfits:
                del found.labels[iid]
    return bundle, found


def _take(
    item: MarketItem,
    found: Wardrobe,
    outfits: list[tuple[str, Outfit]],
    taken: dict[str, set[str]],
) -> None:
    """One item's share of `dress` (its dicts are filled here, before anyone sees them)."""
    c = item.content
    labels, clips, names = found.labels, found.clips, found.names
    if item.type not in TYPES:
        raise ItemError(f'item "{item.id}": unknown type "{item.type}"')
    if item.type in SPRITE_TYPES:
        category = SPRITE_TYPES[item.type]
        if item.builtin:
            labels[item.id] = (str(c.get("category") or category), str(c.get("label")))
            return
        wanted = str(c.get("label") or item.id)
        # never shadow a label the avatar (or another item) has
        label = wanted if wanted not in taken.get(category, ()) else f"{wanted}-{item.id[1:7]}"
        taken.setdefault(category, set()).add(label)
        outfits.append((item.id, outfit_of(item, label)))
        labels[item.id] = (category, label)
    elif item.type == "animation":
        if item.builtin:
            found.animations[item.id] = str(c.get("variant") or c.get("state"))
        else:
            state = c.get("state") if isinstance(c.get("state"), dict) else {}
            # a dance: a variant of `dance` named by the listing id (unique among the
            # owner's items, never one of the rig's own dances)
            (found.dances if state.get("as") == "dance" else clips)[item.id] = clips_of(item)
            names[item.id] = item.name or str(next(iter(c.get("clips") or {item.id: 0})))
            found.animations[item.id] = item.id
    elif item.type == "background":
        found.backgrounds[item.id] = background_of(item)
    elif item.type == "effect":
        found.effects[item.id] = effect_of(item)


# --- an avatar listing ----------------------------------------------------------------------


def avatar_look(item: MarketItem, look: Look, rig: str) -> Look:
    """What trying on avatar listing `item` wears: its customizations (sprite library,
    sprites, colours, render style: webapi/library/customizations.py's format, validated on
    upload) on the bare rig, as the saved avatar buying it makes is worn. Not the viewer's
    face or saved avatar: the listing replaces the avatar. The colour groups come from the
    bundle once built (`with_colour_groups`). ItemError names what cannot be worn."""
    content = item.content
    if content.get("rig") != rig:
        raise ItemError(f'item "{item.id}": made for rig {content.get("rig")!r}, not "{rig}"')
    cust = content.get("customizations")
    cust = {} if cust is None else cust
    if not isinstance(cust, dict):
        raise ItemError(f'item "{item.id}": "customizations" must be an object')
    library, style = cust.get("library", "base"), cust.get("style", "none")
    sprites, colors = cust.get("sprites") or {}, cust.get("colors") or {}
    if not isinstance(library, str) or not isinstance(style, str):
        raise ItemError(f'item "{item.id}": "library" and "style" are names')
    if not isinstance(sprites, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in sprites.items()
    ):
        raise ItemError(f'item "{item.id}": "sprites" maps sprite categories to labels')
    if not isinstance(colors, dict):
        raise ItemError(f'item "{item.id}": "colors" maps colour parts to filters')
    filters = {str(part): _filter(item, part, values) for part, values in colors.items()}
    return dataclasses.replace(
        look, face=None, saved=None, library=library, sprites=dict(sprites), colors=filters,
        style=style, groups={},
    )  # fmt: skip


def _filter(item: MarketItem, part: Any, values: Any) -> tuple[float, float, float, float]:
    """One part's {"hue", "saturation", "brightness", "contrast"} as the renderer's tuple
    (webapi/library/customizations.py `filter_of`; streaming does not import webapi)."""
    if not isinstance(values, dict) or any(k not in COLOR_RANGES for k in values):
        raise ItemError(f'item "{item.id}": colours of "{part}" name {", ".join(COLOR_RANGES)}')
    out = []
    for key, (lo, hi) in COLOR_RANGES.items():
        v = values.get(key, 0.0 if key == "hue" else 1.0)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ItemError(f'item "{item.id}": colour "{part}.{key}" is not a number')
        if not lo <= v <= hi:
            raise ItemError(f'item "{item.id}": colour "{part}.{key}" is outside {lo:g}..{hi:g}')
        out.append(float(v))
    return (out[0], out[1], out[2], out[3])


def with_colour_groups(look: Look, bundle: AvatarBundle) -> Look:
    """`look` with the colour groups of `bundle`'s sprite library: each category's slots,
    as webapi/library/customizations.py `rig_options` makes them for a saved avatar, so an
    avatar listing's part colours (its outfit's hue...) are drawn."""
    lib = bundle.sprites
    if lib is None:
        return look
    groups = {
        c: tuple(sorted({lib.rig.slots[s].name for s in lib.slots_of(c)})) for c in lib.categories
    }
    return dataclasses.replace(look, groups={**groups, **look.groups})
