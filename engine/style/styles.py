"""The four built-in styles as parameters of the toon pipeline (`pipeline.py`), and the
schema every style pack must fit: each parameter's name, shape and allowed range.

A style is a dict of float32 torch tensors, so a pack (`packs.py`) is those tensors as
safetensors. Scalars have shape (), colours shape (3,) in linear 0..1 RGB multipliers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.style.errors import UnknownStyleError

ARCHITECTURE = "digigami-toon-1"  # the published pipeline these parameters drive


@dataclass(frozen=True)
class Param:
    shape: tuple[int, ...]
    lo: float
    hi: float
    doc: str


SCHEMA: dict[str, Param] = {
    # landmark-guided proportions (fractions; 0 leaves the face as it is)
    "eye_scale": Param((), 0.0, 0.6, "eye magnification"),
    "nose_shrink": Param((), 0.0, 0.6, "nose reduction"),
    "mouth_shrink": Param((), 0.0, 0.6, "mouth reduction"),
    "jaw_narrow": Param((), 0.0, 0.4, "jaw and chin narrowing"),
    # edge-preserving smoothing (self-guided filter at half size)
    "smooth_radius": Param((), 1.0, 16.0, "guided-filter radius in half-size pixels"),
    "smooth_eps": Param((), 1e-4, 0.2, "guided-filter regularisation (more: flatter)"),
    "smooth_passes": Param((), 1.0, 4.0, "guided-filter passes"),
    # tone quantization (cel bands)
    "bands": Param((), 2.0, 6.0, "luminance bands"),
    "band_sharpness": Param((), 1.0, 60.0, "steepness of the band steps"),
    "tone_mix": Param((), 0.0, 1.0, "how much of the banded tone replaces the smooth tone"),
    # colour grading
    "saturation": Param((), 0.0, 2.5, "saturation multiplier"),
    "hue_shift": Param((), -60.0, 60.0, "hue rotation in degrees"),
    "brightness": Param((), -0.5, 0.5, "added brightness"),
    "contrast": Param((), 0.3, 2.0, "contrast about mid grey"),
    "gamma": Param((), 0.4, 2.5, "tone gamma (below 1 brightens)"),
    "shadow_tint": Param((3,), 0.0, 1.5, "colour multiplier in the shadows"),
    "highlight_tint": Param((3,), 0.0, 1.5, "colour multiplier in the highlights"),
    "pastel": Param((), 0.0, 0.6, "lift towards white (washed, pastel colour)"),
    # ink lines (XDoG on the smoothed luminance)
    "line_sigma": Param((), 0.3, 3.0, "XDoG inner blur in pixels"),
    "line_k": Param((), 1.2, 3.0, "XDoG outer blur over inner"),
    "line_tau": Param((), 0.9, 1.0, "XDoG edge strength"),
    "line_eps": Param((), -0.1, 0.1, "XDoG threshold"),
    "line_phi": Param((), 5.0, 300.0, "XDoG line sharpness"),
    "line_weight": Param((), 0.0, 1.0, "ink opacity"),
    "line_width": Param((), 1.0, 5.0, "ink thickness in pixels"),
    "line_color": Param((3,), 0.0, 1.0, "ink colour"),
    # anime features drawn from the landmarks
    "lash_weight": Param((), 0.0, 1.0, "upper-lid lash line opacity"),
    "catchlight": Param((), 0.0, 1.0, "white highlight in the irises"),
    "blush": Param((), 0.0, 1.0, "cheek blush"),
    # finish
    "paper": Param((), 0.0, 1.0, "watercolour paper grain and pigment pooling"),
    "background": Param((3,), 0.0, 1.0, "backdrop colour behind the person"),
    "background_mix": Param((), 0.0, 1.0, "how much of the backdrop replaces the photo's"),
}


def _style(**values: float | tuple[float, float, float]) -> dict[str, torch.Tensor]:
    missing = set(SCHEMA) - set(values)
    assert not missing, missing
    return {k: torch.tensor(v, dtype=torch.float32) for k, v in values.items()}


def builtin_styles() -> dict[str, dict[str, torch.Tensor]]:
    return {
        # bright, saturated, bold clean lines, big eyes
        "kingdom-hearts": _style(
            eye_scale=0.38, nose_shrink=0.35, mouth_shrink=0.22, jaw_narrow=0.16,
            smooth_radius=6.0, smooth_eps=0.01, smooth_passes=2.0,
            bands=4.0, band_sharpness=14.0, tone_mix=0.5,
            saturation=1.45, hue_shift=0.0, brightness=0.05, contrast=1.12, gamma=0.85,
            shadow_tint=(0.85, 0.9, 1.15), highlight_tint=(1.06, 1.02, 0.96), pastel=0.0,
            line_sigma=0.9, line_k=1.6, line_tau=0.99, line_eps=0.002, line_phi=90.0,
            line_weight=0.9, line_width=2.0, line_color=(0.08, 0.06, 0.12),
            lash_weight=0.95, catchlight=1.0, blush=0.35,
            paper=0.0, background=(0.55, 0.75, 1.0), background_mix=0.6,
        ),
        # darker, desaturated cool palette, heavy lines
        "dark-cloud": _style(
            eye_scale=0.24, nose_shrink=0.22, mouth_shrink=0.15, jaw_narrow=0.1,
            smooth_radius=5.0, smooth_eps=0.01, smooth_passes=2.0,
            bands=3.0, band_sharpness=10.0, tone_mix=0.6,
            saturation=0.75, hue_shift=-8.0, brightness=-0.06, contrast=1.2, gamma=1.25,
            shadow_tint=(0.62, 0.72, 1.0), highlight_tint=(0.95, 1.0, 1.08), pastel=0.0,
            line_sigma=1.2, line_k=1.6, line_tau=0.995, line_eps=0.002, line_phi=70.0,
            line_weight=1.0, line_width=3.0, line_color=(0.04, 0.05, 0.09),
            lash_weight=1.0, catchlight=0.6, blush=0.0,
            paper=0.15, background=(0.16, 0.2, 0.3), background_mix=0.7,
        ),
        # soft watercolour, pastel, thin lines, gentle warp
        # (eyes drawn clearly but small, thin warm-brown lines: the first cut washed them out)
        "ghibli": _style(
            eye_scale=0.22, nose_shrink=0.2, mouth_shrink=0.12, jaw_narrow=0.08,
            smooth_radius=6.0, smooth_eps=0.02, smooth_passes=2.0,
            bands=5.0, band_sharpness=6.0, tone_mix=0.4,
            saturation=1.3, hue_shift=4.0, brightness=0.02, contrast=1.02, gamma=0.9,
            shadow_tint=(0.9, 0.95, 1.05), highlight_tint=(1.04, 1.02, 0.94), pastel=0.02,
            line_sigma=0.8, line_k=1.6, line_tau=0.99, line_eps=0.002, line_phi=70.0,
            line_weight=0.9, line_width=1.4, line_color=(0.22, 0.14, 0.1),
            lash_weight=0.95, catchlight=0.9, blush=0.5,
            paper=0.45, background=(0.8, 0.9, 0.78), background_mix=0.65,
        ),
        # hard 2-3 tone bands, strong outlines
        "cel-shade": _style(
            eye_scale=0.3, nose_shrink=0.3, mouth_shrink=0.2, jaw_narrow=0.14,
            smooth_radius=7.0, smooth_eps=0.015, smooth_passes=2.0,
            bands=3.0, band_sharpness=40.0, tone_mix=0.85,
            saturation=1.25, hue_shift=0.0, brightness=0.02, contrast=1.05, gamma=0.95,
            shadow_tint=(0.8, 0.78, 1.0), highlight_tint=(1.05, 1.03, 1.0), pastel=0.0,
            line_sigma=1.0, line_k=1.6, line_tau=0.995, line_eps=0.002, line_phi=200.0,
            line_weight=1.0, line_width=2.5, line_color=(0.0, 0.0, 0.0),
            lash_weight=1.0, catchlight=1.0, blush=0.2,
            paper=0.0, background=(1.0, 0.85, 0.55), background_mix=0.85,
        ),
    }  # fmt: skip


STYLES: tuple[str, ...] = ("kingdom-hearts", "dark-cloud", "ghibli", "cel-shade")
MODEL_IDS = {
    "kingdom-hearts": "digigami-kh-pipeline-1",
    "dark-cloud": "digigami-dc-pipeline-1",
    "ghibli": "digigami-gb-pipeline-1",
    "cel-shade": "digigami-cel-pipeline-1",
}
_BUILTIN = builtin_styles()
_PACKS: dict[str, dict[str, torch.Tensor]] = {}  # styles added from packs (`register_style`)
PACK_MODEL = "digigami-pack-pipeline-1"


def register_style(name: str, params: dict[str, torch.Tensor]) -> None:
    """Make a style pack's (already validated, `packs.load_pack`) parameters available to
    `generate` under `name`. A built-in style cannot be replaced."""
    if name in _BUILTIN:
        raise ValueError(f"{name!r} is a built-in style and cannot be replaced by a pack")
    _PACKS[name] = {k: v.clone() for k, v in params.items()}


def known_styles() -> tuple[str, ...]:
    return STYLES + tuple(sorted(_PACKS))


def model_id(style: str) -> str:
    return MODEL_IDS.get(style, PACK_MODEL)


def style_params(style: str) -> dict[str, torch.Tensor]:
    """The parameters of a built-in or registered style, or UnknownStyleError naming the
    known ones."""
    found = _BUILTIN.get(style, _PACKS.get(style))
    if found is None:
        raise UnknownStyleError(
            f"unknown style {style!r}: the styles are {', '.join(known_styles())}"
        )
    return {k: v.clone() for k, v in found.items()}
