"""Effects as data (engine/effects.py): the format's checks name the JSON path, the
built-ins load, and the numpy reference composites as its blend modes say."""

from __future__ import annotations

import numpy as np
import pytest

from engine.effects import (
    BUILTIN,
    EffectData,
    EffectFormatError,
    Overlay,
    builtin_effect,
    combined_filter,
    composite,
    parse_effect,
    placement_rect,
)


def _pictures(size: int = 8, colour=(255, 255, 255, 255)):
    def load(path: str) -> np.ndarray:
        if path == "missing.png":
            raise FileNotFoundError(path)
        if path == "big.png":
            return np.zeros((1025, 4, 4), np.uint8)
        if path == "small.png":
            return np.zeros((4, 4, 4), np.uint8)
        return np.full((size, size, 4), colour, np.uint8)

    return load


def _effect(**overlay) -> dict:
    return {"schema": 1, "overlay": {"frames": ["a.png", "b.png"], "fps": 10, **overlay}}


def test_parse_reads_filter_and_overlay() -> None:
    e = parse_effect(
        {"schema": 1, "filter": {"hue": 30, "brightness": -0.2},
         **_effect(blend="screen", opacity=0.5, placement="avatar")},
        _pictures(), name="m0123",
    )  # fmt: skip
    assert e.name == "m0123"
    assert e.filter == (30.0, 1.0, 0.8, 1.0)  # brightness is an offset: factor 1 - 0.2
    assert e.overlay is not None and len(e.overlay.frames) == 2
    assert (e.overlay.blend, e.overlay.opacity, e.overlay.placement) == ("screen", 0.5, "avatar")
    # frame = floor(t * fps) % n
    assert [e.overlay.frame_at(t) for t in (0.0, 0.09, 0.1, 0.25, 1.05)] == [0, 0, 1, 0, 0]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"schema": 2, "filter": {}}, "schema: unsupported version 2"),
        ({"schema": 1}, 'needs a "filter", an "overlay"'),
        ({"schema": 1, "filter": {"hue": 200}}, "filter.hue: must be <= 180"),
        ({"schema": 1, "filter": {"glow": 1}}, "filter.glow: unknown filter value"),
        ({"schema": 1, "filter": {"saturation": "lots"}}, "filter.saturation: expected a number"),
        ({"schema": 1, "sound": 1, "filter": {}}, 'sound: unknown field "sound"'),
        (_effect(fps=0), "overlay.fps: must be >= 1"),
        (_effect(blend="multiply"), 'overlay.blend: unknown value "multiply"'),
        (_effect(opacity=1.5), "overlay.opacity: must be <= 1"),
        (_effect(placement="head"), 'overlay.placement: unknown value "head"'),
        ({"schema": 1, "overlay": {"frames": []}}, "overlay.frames: expected at least 1"),
        ({"schema": 1, "overlay": {"frames": ["a.png"] * 49}}, "overlay.frames: at most 48"),
        ({"schema": 1, "overlay": {"frames": ["a.png", "missing.png"]}},
         'overlay.frames\\[1\\]: picture "missing.png" cannot be read'),
        ({"schema": 1, "overlay": {"frames": ["big.png"]}}, "overlay.frames\\[0\\]: a frame is at most"),
        ({"schema": 1, "overlay": {"frames": ["a.png", "small.png"]}}, "every frame must be 8x8"),
        ("sparkles", "expected an object"),
    ],
)  # fmt: skip
def test_refusals_name_the_json_path(obj, message: str) -> None:
    with pytest.raises(EffectFormatError, match=message):
        parse_effect(obj, _pictures())


def test_builtins_load_and_are_deterministic() -> None:
    assert set(BUILTIN) >= {"sparkles", "sepia", "neon-glow", "snowfall"}
    for name in BUILTIN:
        e = builtin_effect(name)
        assert e.filter is not None or e.overlay is not None
        if e.overlay is not None:
            frames = e.overlay.frames
            assert all(f[..., 3].any() for f in frames), f"{name}: every frame shows something"
            assert not np.array_equal(frames[0], frames[1]), f"{name}: it is animated"
    assert builtin_effect("sepia").overlay is None  # a filter only
    with pytest.raises(KeyError):
        builtin_effect("fireworks")


def _overlay(blend: str, opacity: float = 1.0, placement: str = "full", colour=(200, 100, 0, 128)):
    frame = np.full((4, 4, 4), colour, np.uint8)
    frame.setflags(write=False)
    return EffectData("t", None, Overlay((frame,), 10.0, blend, opacity, placement))


@pytest.mark.parametrize(
    ("blend", "expected"),
    [
        # src premultiplied: (100, 50, 0, 128); dst (40, 80, 120, 255)
        ("normal", (120, 90, 60, 255)),  # src + dst * (1 - 128/255)
        ("add", (140, 130, 120, 255)),  # src + dst, clamped
        ("screen", (124, 114, 120, 255)),  # src + dst * (1 - src)
    ],
)
def test_composite_blends(blend: str, expected) -> None:
    picture = np.full((6, 6, 4), (40, 80, 120, 255), np.uint8)
    out = composite(picture, _overlay(blend), 0.0)
    assert np.abs(out[3, 3].astype(int) - expected).max() <= 1
    assert np.array_equal(picture[0, 0], (40, 80, 120, 255)), "the input is not changed"


def test_opacity_and_avatar_placement() -> None:
    picture = np.zeros((100, 100, 4), np.uint8)
    faint = composite(picture, _overlay("add", opacity=0.5, colour=(255, 255, 255, 255)), 0.0)
    assert abs(int(faint[50, 50, 0]) - 128) <= 1
    e = _overlay("normal", placement="avatar", colour=(255, 255, 255, 255))
    assert composite(picture, e, 0.0, avatar=None).max() == 0, "no avatar drawn: no overlay"
    out = composite(picture, e, 0.0, avatar=(40, 20, 60, 70))
    rect = placement_rect(e.overlay, 100, 100, (40, 20, 60, 70))
    assert rect == (38, 14, 62, 76)  # grown by 12 % of the box's size each side
    assert out[14:76, 38:62].min() == 255 and out[:14].max() == 0 and out[:, :38].max() == 0


def test_combined_filter() -> None:
    assert combined_filter((10.0, 1.0, 1.0, 1.0), None) == (10.0, 1.0, 1.0, 1.0)
    assert combined_filter((170.0, 2.0, 0.5, 1.0), (20.0, 0.5, 1.2, 1.5)) == (-170.0, 1.0, 0.6, 1.5)
