"""Photo -> styled anime avatar (the issue's Stage 1-3), in torch: CUDA when present, CPU
otherwise.

    face.py      Stage 1: MediaPipe landmarks, expression and head pose, aligned crop
    pipeline.py  Stage 2: the differentiable toon pipeline (warp, smoothing, bands, ink)
    styles.py    the four built-in styles' parameters and the parameter schema
    packs.py     style packs: those parameters as validated safetensors
    post.py      Stage 3: enhancement, colour profile, transparent version, output sizes

`generate` is the entry point; the server's protocol lives in webapi/.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.style.errors import (
    GenerationCancelled,
    NoFaceDetectedError,
    StyleError,
    StylePackError,
    UnknownStyleError,
)
from engine.style.styles import STYLES, model_id, register_style, style_params

__all__ = [
    "STYLES",
    "GeneratedAvatar",
    "GenerationCancelled",
    "GenerationOptions",
    "NoFaceDetectedError",
    "StyleError",
    "StylePackError",
    "UnknownStyleError",
    "generate",
    "register_style",
]

Progress = Callable[[int, str, str], None]


@dataclass(frozen=True)
class GenerationOptions:
    preserve_expression: bool = True
    enhance_details: bool = False
    output_size: int = 512  # the "full" and "transparent" outputs' side


@dataclass
class GeneratedAvatar:
    # "full" (s, s, 3) RGB, "transparent" (s, s, 4) RGBA straight alpha, "thumbnail" 128,
    # "profile" 256, "hd" 1024 RGB; all uint8
    outputs: dict[str, np.ndarray]
    landmarks: np.ndarray  # (478, 2) pixels in the "full" output
    metadata: dict = field(default_factory=dict)


WORK_SIZE = 512  # Stage 2 runs at this size


def generate(
    image: np.ndarray,
    style: str,
    options: GenerationOptions = GenerationOptions(),
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> GeneratedAvatar:
    """A styled avatar of the (largest) face in an RGB uint8 photo of any size."""
    from engine.style import face as stage1
    from engine.style import pipeline, post

    t0 = time.perf_counter()
    params = style_params(style)  # UnknownStyleError before any work
    size = int(options.output_size)
    if not 64 <= size <= 2048:
        raise StyleError(f"output_size must be 64..2048 pixels, got {size}")

    def report(percent: int, stage: str, message: str) -> None:
        if cancelled is not None and cancelled():
            raise GenerationCancelled(f"generation cancelled before {stage}")
        if progress is not None:
            progress(percent, stage, message)

    report(5, "face", "Finding your face…")
    found = stage1.process_face(image, WORK_SIZE)
    report(25, "segmentation", "Cutting you out of the background…")
    mask = post.person_mask(found.crop)
    report(35, "style", "Painting your portrait…")
    dev = pipeline.device()
    styled, points, mask = pipeline.stylize(
        found.crop, found.landmarks, params, mask=mask,
        preserve_expression=options.preserve_expression, dev=dev,
    )  # fmt: skip
    report(80, "post", "Finishing touches…")
    outs = post.outputs(styled, mask, enhance_details=options.enhance_details, output_size=size)
    landmarks = points * (size / WORK_SIZE)
    ms = (time.perf_counter() - t0) * 1000
    metadata = {
        "style": style,
        "processingTime": round(ms, 1),
        "model": model_id(style),
        "device": dev.type,
        "expression": found.expression,
        "headPose": found.head_pose,
        "faces": found.faces,
    }
    report(100, "done", "Your avatar is ready")
    return GeneratedAvatar(outs, landmarks, metadata)
