"""A listing's previews, rendered by the engine on Digi (the same GL renderer the stream and
the exports use): `thumb.png` (256 x 256), `preview.png` (512 x 512) and, for outfits,
accessories and animations, `preview.webm` (a ~2 s VP9-with-alpha loop at 256 x 256, 15 fps).

What each type shows:
- outfit / accessory: Digi wearing it (engine/wardrobe.py makes the label from the pictures;
  a builtin item is already a label of the rig), standing, and waving in the clip;
- animation: Digi playing it (the still is the middle of the clip);
- avatar: the stored avatar's customizations on Digi;
- background: the picture (cover-fitted) behind Digi;
- effect: Digi with the effect's colour filter and its first overlay frame;
- style_pack: Digi with the style's colour grading (hue, saturation, brightness, contrast)
  on the style's backdrop colour: a style is a photo pipeline's parameters, and this is
  what of it can be shown without a photo and a second of torch.

Bounded: one still and at most MAX_CLIP_FRAMES video frames, a few seconds on a CPU.
Every file is written beside its final name and renamed into place; `thumb.png` last, so
its presence means the previews are ready.
"""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.assets import ROOT, AvatarBundle, load_bundle
from engine.export.bake import Take, bake, still
from engine.export.frames import FrameRenderer, camera_for
from engine.export.png import straight
from engine.export.subject import NEUTRAL, WHOLE, ColorFilter, Subject
from webapi.market.validators import FILES, bundle

THUMB_SIZE, PREVIEW_SIZE, CLIP_SIZE = 256, 512, 256
CLIP_FPS = 15.0
CLIP_SECONDS = 2.0
MAX_CLIP_FRAMES = 60
OUTFIT_CLIP = "wave"  # what an outfit's clip shows it doing (a 2 s one-shot from rest)
BACKGROUNDS = ROOT / "content" / "backgrounds"
STYLE_BACKDROP = (240, 240, 244)


@dataclasses.dataclass
class _Plan:
    subject: Subject
    pose: str = "idle"  # the state or variant of the stills
    pose_time: float = 0.0
    clip: str | None = None  # the animation of preview.webm (None: no clip)
    backdrop: np.ndarray | None = None  # (h, w, 3) uint8 behind Digi, or None: transparent
    effect: Any = None  # engine.effects.EffectData whose overlay goes over the picture


def render(folder: Path, kind: str, content: dict[str, Any]) -> None:
    """Writes the previews of one listing into `folder` (created if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    plan = _plan(folder, kind, content)
    # one GL renderer for every picture: making one (its atlas on the GPU, the parts' hulls)
    # costs more than all the frames together; the thumbnail is the preview scaled down
    renderer = FrameRenderer(plan.subject, PREVIEW_SIZE)
    try:
        pose = still(plan.subject, plan.pose, plan.pose_time)
        px = renderer.render(pose.frames[0], camera_for(pose, PREVIEW_SIZE))
        big = _finish(px, plan)
        small = Image.fromarray(big, "RGBA").convert("RGBa")
        small = small.resize((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS).convert("RGBA")
        if plan.clip is not None:
            from engine.export.webm import encode_take

            take = _clip_take(plan.subject, plan.clip)
            data = encode_take(_Shared(renderer), take, camera_for(take, CLIP_SIZE))  # type: ignore[arg-type]
            _write(folder / "preview.webm", data)
        _write(folder / "preview.png", _png(big))
        _write(folder / "thumb.png", _png(np.asarray(small)))  # last: the previews are ready
    finally:
        renderer.close()


class _Shared:
    """What `encode_take` asks of a Job: a renderer (ours, at any size: it resizes to the
    camera) and progress reports (none here)."""

    def __init__(self, renderer: FrameRenderer) -> None:
        self._renderer = renderer

    def renderer(self, width: int, height: int | None = None) -> FrameRenderer:
        return self._renderer

    def report(self, fraction: float, text: str) -> None:
        pass


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _png(straight_rgba: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(straight_rgba, "RGBA").save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _clip_take(subject: Subject, animation: str) -> Take:
    take = bake(subject, animation, CLIP_FPS, seconds=CLIP_SECONDS)
    if len(take.frames) > MAX_CLIP_FRAMES:  # a long one-shot: its first seconds
        take = dataclasses.replace(take, frames=take.frames[:MAX_CLIP_FRAMES])
    return take


# --- what each type shows ----------------------------------------------------------------------


def _plan(folder: Path, kind: str, content: dict[str, Any]) -> _Plan:
    if kind in ("outfit", "accessory"):
        return _Plan(_wearing(folder, content), clip=OUTFIT_CLIP)
    if kind == "animation":
        subject, name = _playing(content)
        clip = subject.bundle.clips.get(name)
        half = min(clip.length, CLIP_SECONDS) / 2 if clip is not None else 0.5
        return _Plan(subject, pose=name, pose_time=half, clip=name)
    if kind == "avatar":
        return _Plan(_avatar(content))
    if kind == "background":
        return _Plan(_digi(), backdrop=_background(folder, content))
    if kind == "effect":
        return _effect(folder, content)
    if kind == "style_pack":
        return _style(folder, content)
    raise ValueError(f"no previews for type {kind!r}")


def _digi(rig: str = "digi") -> Subject:
    return Subject(bundle(rig), rig)


def _wearing(folder: Path, content: dict[str, Any]) -> Subject:
    rig, category, label = content["rig"], content["category"], content["label"]
    base: AvatarBundle = bundle(rig)
    if not content.get("builtin"):
        from engine.wardrobe import with_outfit

        parts = {
            slot: (p["attachment"], _picture(folder, p["picture"]))
            for slot, p in content["parts"].items()
        }
        base = with_outfit(base, category, label, parts)
    return Subject(base, rig, {category: label})


def _picture(folder: Path, name: str) -> np.ndarray:
    if not name.startswith(FILES) or ".." in name.split("/"):
        raise ValueError(f"not a stored file name: {name!r}")
    return np.asarray(Image.open(folder / name).convert("RGBA"))


def _playing(content: dict[str, Any]) -> tuple[Subject, str]:
    """Digi able to play the animation, and the name that plays it."""
    rig = content["rig"]
    if content.get("builtin"):
        return _digi(rig), content.get("variant") or content["state"]
    from streaming.manager import with_clips

    clips = content["clips"]
    played = with_clips(bundle(rig), clips)
    return Subject(played, rig), next(iter(clips))


def _avatar(content: dict[str, Any]) -> Subject:
    from webapi.library.customizations import filter_of, rig_options

    rig, c = content["rig"], content.get("customizations") or {}
    library = c.get("library", "base")
    b = bundle(rig) if library == "base" else load_bundle(rig, sprites=library)
    colors = {part: filter_of(v) for part, v in (c.get("colors") or {}).items()}
    groups = dict(rig_options(rig).groups)
    return Subject(b, rig, dict(c.get("sprites") or {}), colors, groups, c.get("style", "none"))


def _cover(image: Image.Image, side: int) -> np.ndarray:
    """The picture scaled to cover a side x side square, centred."""
    w, h = image.size
    s = side / min(w, h)
    image = image.convert("RGB").resize((max(side, round(w * s)), max(side, round(h * s))),
                                        Image.Resampling.LANCZOS)  # fmt: skip
    x = (image.width - side) // 2
    y = (image.height - side) // 2
    return np.asarray(image.crop((x, y, x + side, y + side)))


def _background(folder: Path, content: dict[str, Any]) -> np.ndarray:
    if content.get("builtin"):
        path = BACKGROUNDS / f"{content['background']}.png"
    else:
        name = content["picture"]
        if not name.startswith(FILES) or ".." in name.split("/"):
            raise ValueError(f"not a stored file name: {name!r}")
        path = folder / name
    with Image.open(path) as im:
        return _cover(im, PREVIEW_SIZE)


def _effect(folder: Path, content: dict[str, Any]) -> _Plan:
    """Digi through the effect's colour filter, its overlay's first frame composited by the
    engine's reference (engine/effects.py `composite`), on a dark backdrop."""
    from engine.effects import builtin_effect, parse_effect

    if content.get("builtin"):
        effect = builtin_effect(content["effect"])
    else:
        effect = parse_effect(content, lambda name: _picture(folder, name), source="effect")
    colors = {WHOLE: effect.filter} if effect.filter not in (None, NEUTRAL) else {}
    subject = Subject(bundle("digi"), "digi", colors=colors)
    backdrop = np.full((PREVIEW_SIZE, PREVIEW_SIZE, 3), 56, np.uint8)
    return _Plan(subject, backdrop=backdrop, effect=effect)


def _style(folder: Path, content: dict[str, Any]) -> _Plan:
    params = _style_params(folder, content)

    def scalar(name: str, default: float) -> float:
        v = params.get(name)
        return float(np.asarray(v).reshape(-1)[0]) if v is not None else default

    colour: ColorFilter = (scalar("hue_shift", 0.0), scalar("saturation", 1.0),
                           1.0 + scalar("brightness", 0.0), scalar("contrast", 1.0))  # fmt: skip
    bg = params.get("background")
    backdrop = STYLE_BACKDROP
    if bg is not None:  # linear 0..1 -> sRGB bytes
        lin = np.clip(np.asarray(bg, np.float64).reshape(3), 0.0, 1.0)
        srgb = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)
        backdrop = tuple(round(float(c) * 255) for c in srgb)
    subject = Subject(bundle("digi"), "digi", colors={WHOLE: colour} if colour != NEUTRAL else {})
    return _Plan(subject, backdrop=np.full((PREVIEW_SIZE, PREVIEW_SIZE, 3), backdrop, np.uint8))


def _style_params(folder: Path, content: dict[str, Any]) -> dict[str, Any]:
    if content.get("builtin"):
        from engine.style.styles import style_params

        return {k: v.detach().cpu().numpy() for k, v in style_params(content["style"]).items()}
    from engine.style.packs import decode

    name = content["file"]
    if not name.startswith(FILES) or ".." in name.split("/"):
        raise ValueError(f"not a stored file name: {name!r}")
    tensors, _ = decode((folder / name).read_bytes(), name)
    return tensors


# --- compositing ----------------------------------------------------------------------------------


def _finish(px: np.ndarray, plan: _Plan) -> np.ndarray:
    """The rendered (premultiplied) picture with the plan's backdrop and overlay, straight
    RGBA for the PNG."""
    side = px.shape[0]
    if plan.effect is not None:
        from engine.effects import composite

        ys, xs = np.nonzero(px[..., 3])
        box = (
            (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            if len(xs)
            else None
        )
        px = composite(px, plan.effect, 0.0, box)
    out = px.astype(np.float32) / 255.0
    if plan.backdrop is not None:
        bg = plan.backdrop
        if bg.shape[0] != side:
            bg = np.asarray(Image.fromarray(bg).resize((side, side), Image.Resampling.LANCZOS))
        a = out[..., 3:4]
        rgb = out[..., :3] + bg.astype(np.float32) / 255.0 * (1.0 - a)
        return np.concatenate(
            [np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8),
             np.full((side, side, 1), 255, np.uint8)], axis=2)  # fmt: skip
    return straight(px)
