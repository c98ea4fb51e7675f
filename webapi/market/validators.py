"""Per asset type: a package's `content` checked by the engine's own loaders and turned into
what is stored (docs/MARKETPLACE.md, "Package"). Each `check_<type>` returns the stored
`content` (file names as `files/<name>`) and fills `out` with the bytes to store under those
names (pictures are re-encoded by us, never kept as sent). Errors are Invalid/TooLarge
naming the file or the `content.` JSON path at fault.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from engine.assets import AvatarBundle, load_base_atlas, load_bundle
from engine.atlas import Atlas
from webapi.errors import Invalid, TooLarge
from webapi.market.packages import Package, read_json, shown

FILES = "files/"
SIZE_FACTOR = 4  # an outfit picture may be up to 4x (or down to 1/4 of) the original's sides
MAX_CLIPS = 8  # one animation listing
MAX_FRAME_SIDE = 1024
SPRITE_CATEGORIES = {"outfit": "outfit", "accessory": "accessories"}
_LABEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_CLIP = re.compile(r"[a-z0-9][a-z0-9_]{0,39}")
_STYLE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")

Out = dict[str, bytes]


def _at(path: str, problem: str) -> Invalid:
    return Invalid(f"{path}: {problem}", field=path)


def _keys(value: Any, path: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
    if not isinstance(value, dict):
        raise _at(path, f"must be an object with {', '.join(required + optional)}")
    for k in value:
        if k not in required + optional:
            raise _at(
                f"{path}.{k}"[:120], f"unknown key (expected {', '.join(required + optional)})"
            )
    for k in required:
        if k not in value:
            raise _at(f"{path}.{k}", "missing required field")
    return value


@lru_cache(maxsize=4)
def bundle(rig: str) -> AvatarBundle:
    """The bundled rig with its base sprite library, loaded once (blocking)."""
    return load_bundle(rig)


@lru_cache(maxsize=4)
def atlas(rig: str) -> Atlas:
    return load_base_atlas(rig)


def _file(pkg: Package, name: Any, path: str, suffixes: tuple[str, ...]) -> str:
    if not isinstance(name, str) or not name:
        raise _at(path, "must name a file of the package")
    if name not in pkg.files:
        raise _at(path, f"no file {shown(name)} in the package")
    if not name.lower().endswith(suffixes):
        raise _at(path, f"{shown(name)} must be a {' or '.join(suffixes)} file")
    return name


# --- pictures --------------------------------------------------------------------------------


def open_picture(
    pkg: Package, name: str, formats: tuple[str, ...] = ("PNG",), max_pixels: int | None = None
) -> Image.Image:
    """A package picture fully decoded, after its format and its header's pixel count were
    checked (a small file can claim a huge picture: refused before anything is decoded)."""
    limit = max_pixels or pkg.limits.max_pixels
    q = shown(name)
    try:
        with warnings.catch_warnings():  # our own limit decides, with a clear refusal
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(pkg.files[name]))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        raise Invalid(f"{q}: not a picture ({' or '.join(formats)} expected)") from None
    if image.format not in formats:
        raise Invalid(f"{q}: a {image.format} picture; expected {' or '.join(formats)}")
    w, h = image.size
    if w * h > limit:
        raise TooLarge(f"{q}: {w} x {h} pixels is over the limit of {limit:,} pixels")
    if w < 1 or h < 1:
        raise Invalid(f"{q}: an empty picture")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
    except Exception as e:  # PIL raises many kinds for damaged data
        raise Invalid(f"{q}: the picture could not be decoded ({type(e).__name__})") from None
    return image


def rgba_picture(pkg: Package, name: str, max_side: int | None = None) -> np.ndarray:
    """A package PNG as (h, w, 4) uint8 straight RGBA, not fully transparent."""
    image = open_picture(pkg, name).convert("RGBA")
    if max_side is not None and max(image.size) > max_side:
        w, h = image.size
        raise TooLarge(f"{shown(name)}: {w} x {h} pixels; at most {max_side} on a side")
    px = np.asarray(image)
    if not (px[..., 3] > 0).any():
        raise Invalid(f"{shown(name)}: the picture is fully transparent")
    return px


def encode_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def resized(px: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Straight RGBA resized with premultiplied resampling (no dark fringes on soft edges)."""
    if (px.shape[1], px.shape[0]) == size:
        return px
    image = Image.fromarray(px, "RGBA").convert("RGBa")
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS).convert("RGBA"))


# --- outfit / accessory ------------------------------------------------------------------------


def check_wearable(
    pkg: Package, kind: str, content: Any, compatibility: list[str], out: Out
) -> dict:
    """An outfit or accessory: a new label of the rig's sprite library whose parts are
    pictures for attachments the rig already has (engine/wardrobe.py wears it)."""
    c = _keys(content, "content", ("rig", "label", "parts"), ("category",))
    rig = _rig(c["rig"], compatibility)
    lib = bundle(rig).sprites
    if lib is None:
        raise _at("content.rig", f'rig "{rig}" has no sprite library to add {kind}s to')
    # the type decides the sprite category (a session wears it there: market_items.py)
    category = SPRITE_CATEGORIES[kind]
    if c.get("category", category) != category:
        raise _at("content.category", f'an {kind} is in the sprite category "{category}"')
    if category not in lib.categories:
        raise _at("content.rig", f'rig "{rig}" has no sprite category "{category}"')
    label = c["label"]
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise _at("content.label", "1 to 40 of a-z, 0-9, _ and -, starting with a letter or digit")
    if label in lib.categories[category]:
        raise _at("content.label", f'"{label}" is one of the rig\'s own {category} labels')
    parts = c["parts"]
    slots = {lib.rig.slots[s].name for s in lib.slots_of(category)}
    if not isinstance(parts, dict) or not parts:
        raise _at("content.parts", "must be an object of slot -> {attachment, picture}")
    if len(parts) > len(slots):
        raise _at("content.parts", f"{len(parts)} parts; the category has {len(slots)} slots")
    rigdata, regions = lib.rig, atlas(rig).regions
    stored: dict[str, dict[str, str]] = {}
    for slot, part in parts.items():
        where = f"content.parts.{slot}"[:120]
        if slot not in slots:
            raise _at(where, f"{shown(slot, 40)} is not a slot of {category} "
                      f"(known: {', '.join(sorted(slots))})")  # fmt: skip
        p = _keys(part, where, ("attachment", "picture"))
        atts = rigdata.attachments[rigdata.slot_index[slot]]
        att = p["attachment"]
        if not isinstance(att, str) or att not in atts:
            raise _at(f"{where}.attachment", f"slot {slot} has no such attachment "
                      f"(known: {', '.join(sorted(atts))})")  # fmt: skip
        name = _file(pkg, p["picture"], f"{where}.picture", (".png",))
        original = regions.get(atts[att].path)
        if original is None:
            raise _at(f"{where}.attachment", f'"{att}" has no picture in the rig\'s atlas')
        ow, oh = original[2], original[3]
        px = rgba_picture(pkg, name)
        h, w = px.shape[:2]
        if not (
            ow / SIZE_FACTOR <= w <= ow * SIZE_FACTOR and oh / SIZE_FACTOR <= h <= oh * SIZE_FACTOR
        ):
            raise Invalid(
                f"{shown(name)}: {w} x {h} pixels; the picture it replaces is {ow} x {oh} "
                f"(allowed: up to {SIZE_FACTOR} times larger or smaller on each side)",
                field=f"{where}.picture",
            )
        # stored at the original's size: the mesh's uvs span the picture, and the GPU atlas
        # stays as large as the rig's own
        target = f"{FILES}{name}"
        if target not in out:
            out[target] = encode_png(Image.fromarray(resized(px, (ow, oh)), "RGBA"))
        stored[slot] = {"attachment": att, "picture": target}
    return {"rig": rig, "category": category, "label": label, "parts": stored}


# --- animation -----------------------------------------------------------------------------------


def check_animation(pkg: Package, content: Any, compatibility: list[str], out: Out) -> dict:
    """Clips in the engine's format (one JSON file each), checked by the engine's loader
    against the rig with the library's clip limits (webapi/library/animations.py)."""
    from webapi.library.animations import check_definition

    c = _keys(content, "content", ("rig", "clips"), ("loop", "state"))
    rig = _rig(c["rig"], compatibility)
    loop = c.get("loop", True)
    if not isinstance(loop, bool):
        raise _at("content.loop", "must be true or false")
    # where the clip goes in the rig's state machine: an emote state of its own (default),
    # or one more variant of the rig's looping `dance` state
    state = _keys(c.get("state", {"as": "emote"}), "content.state", ("as",))
    if state["as"] not in ("emote", "dance"):
        raise _at("content.state.as", 'must be "emote" or "dance"')
    clips = c["clips"]
    if not isinstance(clips, dict) or not clips:
        raise _at("content.clips", "must be an object of clip name -> its JSON file")
    if len(clips) > MAX_CLIPS:
        raise _at("content.clips", f"{len(clips)} clips; at most {MAX_CLIPS}")
    b = bundle(rig)
    taken = set(b.clips) | set(b.machine.states)
    definitions: dict[str, Any] = {}
    for name, file in clips.items():
        where = f"content.clips.{name}"[:120]
        if not _CLIP.fullmatch(name):
            raise _at(where, "a clip name is 1 to 40 of a-z, 0-9 and _")
        if name in taken:
            raise _at(where, f'"{name}" is one of the rig\'s own animations: choose another name')
        f = _file(pkg, file, where, (".json",))
        definition = read_json(pkg, f)
        try:
            checked, _ = check_definition(definition, b.rig, name)
        except (Invalid, TooLarge) as e:
            # the library's path starts "definition"; here the clip is the file
            raise type(e)(f"{shown(f)} (clip {name}): {e.message}", field=where) from None
        if state["as"] == "dance":
            _check_dance(checked, b, where)
        definitions[name] = checked
    out = {"rig": rig, "clips": definitions, "loop": loop}
    return {**out, "state": {"as": state["as"]}} if "state" in c else out


def _check_dance(definition: dict, b: AvatarBundle, where: str) -> None:
    """A dance is played as the rig's own dances are: looping on the body, so the clip must
    loop and key only bones the `dance` state's layer moves (its mask, when it has one)."""
    from engine.anim.loader import parse_clip
    from engine.rig.errors import FormatError

    dance = b.machine.states.get("dance")
    if dance is None:
        raise _at(where, "this rig has no dances: publish it as an emote")
    if definition.get("looping") is not True:
        raise _at(where, 'a dance must loop: set "looping": true in the clip')
    try:
        clip = parse_clip(definition, b.rig, where)
    except FormatError as e:  # checked just before: not expected
        raise _at(where, str(e)) from None
    keyed = {b.rig.bones[int(i)].name for i in clip.chan_bone}
    if not keyed:
        raise _at(where, "a dance must move the body: the clip keys no bones")
    mask = dance.layer.mask
    outside = sorted(n for n in keyed if mask is not None and mask.get(n, 0.0) <= 0.0)
    if outside:
        raise _at(where, f"a dance moves the body's bones only, not {', '.join(outside[:5])}")


# --- avatar ------------------------------------------------------------------------------------


def check_avatar(pkg: Package, content: Any, compatibility: list[str], out: Out) -> dict:
    from webapi.library.customizations import rig_options, validate

    c = _keys(content, "content", ("rig", "customizations"))
    rig = _rig(c["rig"], compatibility)
    return {"rig": rig, "customizations": validate(c["customizations"], rig_options(rig),
                                                   "content.customizations")}  # fmt: skip


# --- style pack ----------------------------------------------------------------------------------


def check_style_pack(pkg: Package, content: Any, compatibility: list[str], out: Out) -> dict:
    """A generation style pack: safetensors whose header is parsed by hand (never pickle) and
    whose tensors are the style schema's, each in range (engine/style/packs.py: the same
    checks the engine runs when it loads a pack)."""
    from engine.style.errors import StylePackError
    from engine.style.packs import decode
    from engine.style.packs import validate as validate_params
    from engine.style.styles import ARCHITECTURE, known_styles

    c = _keys(content, "content", ("style", "file"))
    style = c["style"]
    if not isinstance(style, str) or not _STYLE.fullmatch(style):
        raise _at("content.style", "1 to 40 of a-z, 0-9, _ and -")
    if style in known_styles():
        raise _at("content.style", f'"{style}" is a built-in style: choose another name')
    name = _file(pkg, c["file"], "content.file", (".safetensors",))
    where = shown(name)
    try:
        tensors, meta = decode(pkg.files[name], where)
        if meta.get("architecture") != ARCHITECTURE:
            raise StylePackError(f"{where}: made for architecture {meta.get('architecture')!r}, "
                                 f"this engine runs {ARCHITECTURE!r}")  # fmt: skip
        if meta.get("style") != style:
            raise StylePackError(f"{where}: its metadata names style {meta.get('style')!r}, "
                                 f'the manifest "{style}"')  # fmt: skip
        validate_params(tensors, where)
    except StylePackError as e:
        raise Invalid(str(e), field="content.file") from None
    target = f"{FILES}{name}"
    out[target] = pkg.files[name]
    summary = {k: list(v.shape) for k, v in sorted(tensors.items())}
    return {"style": style, "file": target, "architecture": ARCHITECTURE, "tensors": summary}


# --- background ----------------------------------------------------------------------------------


def check_background(pkg: Package, content: Any, compatibility: list[str], out: Out) -> dict:
    """A picture behind the avatar: the library's background checks (format, pixels read from
    the header first, full decode), then only our own JPEG re-encoding is kept."""
    from webapi.library.backgrounds import LIMITS, _decode

    if isinstance(content, dict) and "video" in content:
        return check_video_background(pkg, content, out)
    c = _keys(content, "content", ("picture",))
    name = _file(pkg, c["picture"], "content.picture", (".png", ".jpg", ".jpeg", ".webp"))
    data = pkg.files[name]
    if len(data) > LIMITS.max_bytes:
        raise TooLarge(f"{shown(name)}: over {LIMITS.max_bytes // (1024 * 1024)} MB")
    limits = type(LIMITS)(max_pixels=min(LIMITS.max_pixels, pkg.limits.max_pixels))
    try:
        image = _decode(data, limits)
    except (Invalid, TooLarge) as e:
        raise type(e)(f"{shown(name)}: {e.message}", field="content.picture") from None
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90, optimize=True)
    out[f"{FILES}background.jpg"] = buf.getvalue()
    return {"picture": f"{FILES}background.jpg", "width": image.width, "height": image.height}


def check_video_background(pkg: Package, content: Any, out: Out) -> dict:
    """A looping video behind the avatar (webapi/market/videos.py): stored as our own small
    frames (.npz) and their first frame as the picture previews and thumbnails show."""
    from webapi.market.videos import decode_loop

    c = _keys(content, "content", ("video",))
    name = _file(pkg, c["video"], "content.video", (".webm", ".mp4"))
    try:  # its bytes are within the package's per-file limit already (packages.py)
        loop = decode_loop(pkg.files[name], shown(name))
    except (Invalid, TooLarge) as e:
        raise type(e)(e.message, field="content.video") from None
    buf = io.BytesIO()
    Image.fromarray(loop.frames[0]).save(buf, "JPEG", quality=90, optimize=True)
    out[f"{FILES}background.jpg"] = buf.getvalue()
    out[f"{FILES}background.npz"] = loop.npz()
    n, h, w = loop.frames.shape[:3]
    return {"video": f"{FILES}background.npz", "picture": f"{FILES}background.jpg",
            "fps": loop.fps, "frames": n, "width": w, "height": h}  # fmt: skip


# --- effect --------------------------------------------------------------------------------------


def check_effect(pkg: Package, content: Any, compatibility: list[str], out: Out) -> dict:
    """engine/effects.py's format, checked by the engine's own `parse_effect` (its
    EffectFormatError names the JSON path); the overlay's frames are package PNGs, decoded
    here with the package's limits and stored as our own re-encodings."""
    from engine.effects import EffectFormatError, parse_effect

    if not isinstance(content, dict):
        raise _at("content", "must be an effect object (schema, filter, overlay)")
    frames: dict[str, np.ndarray] = {}

    def picture(name: str) -> np.ndarray:
        if name not in frames:
            where = "content.overlay.frames"
            frames[name] = rgba_picture(pkg, _file(pkg, name, where, (".png",)), MAX_FRAME_SIDE)
        return frames[name]

    try:
        parse_effect(content, picture, source="content")
    except EffectFormatError as e:
        path = f"content.{e.path}" if e.path else "content"
        raise Invalid(f"{path}: {e.problem}", field=path) from None
    stored = dict(content)
    overlay = content.get("overlay")
    if isinstance(overlay, dict):
        stored["overlay"] = {**overlay, "frames": [f"{FILES}{n}" for n in overlay["frames"]]}
        for name, px in frames.items():
            out[f"{FILES}{name}"] = encode_png(Image.fromarray(px, "RGBA"))
    return stored


# --- shared ------------------------------------------------------------------------------------


def _rig(rig: Any, compatibility: list[str]) -> str:
    from webapi.library.animations import check_rig

    try:
        rig = check_rig(rig, "content.rig")
    except Invalid as e:
        raise Invalid(e.message, field="content.rig") from None
    if rig not in compatibility:
        raise _at("content.rig", f'"{rig}" is not in the manifest\'s compatibility list')
    return rig


CHECKS: dict[str, Callable[[Package, Any, list[str], Out], dict]] = {
    "outfit": lambda p, c, k, o: check_wearable(p, "outfit", c, k, o),
    "accessory": lambda p, c, k, o: check_wearable(p, "accessory", c, k, o),
    "animation": check_animation,
    "avatar": check_avatar,
    "style_pack": check_style_pack,
    "background": check_background,
    "effect": check_effect,
}
