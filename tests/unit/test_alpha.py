"""engine/kernels/alpha.py against the numpy formula it replaces, on every (colour, alpha)
pair, a strided view and Digi's atlas; the bundled atlas shared, read-only."""

from __future__ import annotations

import numpy as np
import pytest

from engine.kernels.alpha import premultiply


def _reference(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:4].astype(np.uint16)
    rgb = (rgba[..., :3].astype(np.uint16) * a + 127) // 255
    return np.concatenate([rgb, a], axis=-1).astype(np.uint8)


def test_every_colour_and_alpha_rounds_as_the_reference() -> None:
    c, a = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    rgba = np.stack([c, 255 - c, (c * 7) % 256, a], axis=-1).astype(np.uint8)  # (256, 256, 4)
    got = premultiply(rgba)
    assert got.shape == rgba.shape and got.dtype == np.uint8
    np.testing.assert_array_equal(got, _reference(rgba))
    assert (got[..., :3] <= got[..., 3:4]).all()  # never brighter than its alpha
    np.testing.assert_array_equal(got[255, :, 0], np.arange(256))  # full red: its alpha


def test_a_strided_view_and_the_input_left_alone() -> None:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (40, 70, 4), dtype=np.uint8)
    before = image.copy()
    view = image[5:30:2, ::3]  # not contiguous
    np.testing.assert_array_equal(premultiply(view), _reference(view))
    np.testing.assert_array_equal(image, before)


def test_anything_but_uint8_rgba_is_refused() -> None:
    with pytest.raises(ValueError, match="uint8 RGBA"):
        premultiply(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8 RGBA"):
        premultiply(np.zeros((4, 4, 4), np.float32))


def test_a_bundled_atlas_is_decoded_once_and_shared_read_only() -> None:
    """Every new renderer asks its bundle for its pictures on the render thread: a bundled
    rig's atlas comes from memory, and nobody sharing it can paint into it."""
    from engine.assets import load_base_atlas, load_bundle

    bundle = load_bundle("digi")
    atlas = bundle.pictures()
    assert bundle.pictures() is atlas and load_base_atlas("digi") is atlas
    with pytest.raises(ValueError, match="read-only"):
        atlas.image[0, 0, 0] = 1
    np.testing.assert_array_equal(atlas.premultiplied(), _reference(atlas.image))
