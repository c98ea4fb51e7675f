"""The toon pipeline's pieces: the warp's proportions and landmark inversion, and that the
pipeline is differentiable in its style parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.style.face import process_face
from engine.style.pipeline import Warp, grade, tone_bands, xdog
from engine.style.styles import STYLES, style_params
from tests.photos import astronaut


@pytest.fixture(scope="module")
def face():
    return process_face(astronaut())


def _eye_width(p: np.ndarray) -> float:
    return float(np.linalg.norm(p[33] - p[133]) + np.linalg.norm(p[263] - p[362]))


@pytest.mark.parametrize("style", STYLES)
def test_warp_gives_anime_proportions(face, style) -> None:
    params = style_params(style)
    warp = Warp(face.landmarks, params)
    out = warp.forward_points(face.landmarks)
    # the inverse is exact: sampling at the moved landmarks finds the photo's landmarks
    back = warp.source(torch.tensor(out)).numpy()
    assert np.abs(back - face.landmarks).max() < 0.05
    eyes = _eye_width(out) / _eye_width(face.landmarks)
    mouth = np.linalg.norm(out[61] - out[291]) / np.linalg.norm(
        face.landmarks[61] - face.landmarks[291]
    )
    jaw = np.linalg.norm(out[172] - out[397]) / np.linalg.norm(
        face.landmarks[172] - face.landmarks[397]
    )
    assert eyes > 1.05 + 0.5 * float(params["eye_scale"])  # larger eyes
    assert mouth < 1 - 0.3 * float(params["mouth_shrink"])  # a smaller mouth
    assert jaw < 1 - 0.2 * float(params["jaw_narrow"])  # a narrower jaw


def test_the_gentlest_and_strongest_warps() -> None:
    eye = {s: float(style_params(s)["eye_scale"]) for s in STYLES}
    assert max(eye, key=eye.get) == "kingdom-hearts" and min(eye, key=eye.get) == "ghibli"


def test_differentiable_in_the_style_parameters(face) -> None:
    params = {k: v.clone().requires_grad_(True) for k, v in style_params("cel-shade").items()}
    img = torch.from_numpy(face.crop[::4, ::4].copy()).permute(2, 0, 1)[None].float() / 255
    out = grade(tone_bands(img, params), params)
    ink = xdog(out.mean(1, keepdim=True), params)
    (out.mean() + ink.mean()).backward()
    for name in ("saturation", "tone_mix", "band_sharpness", "gamma", "pastel", "line_tau",
                 "line_phi", "line_weight", "shadow_tint"):  # fmt: skip
        g = params[name].grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0, name
