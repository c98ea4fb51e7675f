"""Avatar generation (engine/style) on the bundled real face photos: outputs, transparency,
the landmarks on the styled face, errors, progress and cancellation."""

from __future__ import annotations

import numpy as np
import pytest

from engine.style import (
    STYLES,
    GeneratedAvatar,
    GenerationCancelled,
    GenerationOptions,
    NoFaceDetectedError,
    StyleError,
    UnknownStyleError,
    generate,
)
from tests.photos import PHOTOS

SIZES = {"full": (512, 512, 3), "transparent": (512, 512, 4), "thumbnail": (128, 128, 3),
         "profile": (256, 256, 3), "hd": (1024, 1024, 3)}  # fmt: skip
IRISES, MOUTH, UPPER_LIDS, CHEEKS = (468, 473), (13, 14), (159, 386), (50, 280)


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {name: load() for name, load in PHOTOS.items()}


@pytest.fixture(scope="module")
def avatars(photos) -> dict[tuple[str, str], GeneratedAvatar]:
    return {(p, s): generate(img, s) for p, img in photos.items() for s in STYLES}


CASES = [(p, s) for p in PHOTOS for s in STYLES]


def _lum(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_every_style_yields_all_five_outputs(avatars, case) -> None:
    a = avatars[case]
    assert set(a.outputs) == set(SIZES)
    for name, shape in SIZES.items():
        assert a.outputs[name].shape == shape, name
        assert a.outputs[name].dtype == np.uint8, name
    assert a.landmarks.shape == (478, 2)
    m = a.metadata
    assert m["style"] == case[1] and m["model"].startswith("digigami-")
    assert m["device"] in ("cpu", "cuda") and m["processingTime"] > 0
    assert set(m["expression"]) == {"smile", "eyebrowRaise", "eyeOpenness", "mouthOpen"}
    assert set(m["headPose"]) == {"yaw", "pitch", "roll"}
    # the styled image is not the photo: the styles differ from each other
    others = [avatars[(case[0], s)].outputs["full"] for s in STYLES if s != case[1]]
    for o in others:
        assert np.abs(o.astype(int) - a.outputs["full"]).mean() > 8


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_transparent_background(avatars, case) -> None:
    rgba = avatars[case].outputs["transparent"]
    alpha = rgba[..., 3]
    for corner in (alpha[:24, :24], alpha[:24, -24:]):  # the top corners are background
        assert corner.mean() < 10
    pts = avatars[case].landmarks
    face_centre = pts[[1, 4, 13, 14]].mean(axis=0).round().astype(int)
    x, y = face_centre
    assert alpha[y - 4 : y + 5, x - 4 : x + 5].min() > 240  # the face is opaque
    assert np.array_equal(rgba[..., :3], avatars[case].outputs["full"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_landmarks_lie_on_the_styled_face(avatars, case) -> None:
    a = avatars[case]
    pts = a.landmarks
    alpha = a.outputs["transparent"][..., 3]
    lum = _lum(a.outputs["full"])
    jaw_x = pts[[234, 454], 0]
    for i in (*IRISES, *MOUTH):
        x, y = pts[i].round().astype(int)
        assert 0 <= x < 512 and 0 <= y < 512
        assert jaw_x.min() < x < jaw_x.max()  # between the face's sides
        assert alpha[y, x] > 200  # on the person
    assert pts[list(IRISES), 1].max() < pts[list(MOUTH), 1].min() - 40  # eyes above mouth
    assert pts[IRISES[0], 0] < pts[IRISES[1], 0]  # the person's right eye on the left

    def around(i: int, r: int = 3) -> np.ndarray:
        x, y = pts[i].round().astype(int)
        return lum[y - r : y + r + 1, x - r : x + r + 1]

    cheek = min(float(np.median(around(i, 6))) for i in CHEEKS)
    for i in IRISES:  # the styled iris (pupil, ink) lies on the iris landmark
        assert around(i, 2).mean() < cheek - 40, (i, around(i, 2).mean(), cheek)
    for i in UPPER_LIDS:  # the lash line is inked along the upper-lid landmarks
        assert around(i, 3).min() < 0.5 * cheek


def test_landmarks_scale_with_the_output_size(photos) -> None:
    a = generate(photos["astronaut"], "ghibli", GenerationOptions(output_size=256))
    assert a.outputs["full"].shape == (256, 256, 3)
    assert a.outputs["transparent"].shape == (256, 256, 4)
    assert a.outputs["hd"].shape == (1024, 1024, 3)
    assert a.landmarks.max() < 256


def test_options_change_the_result(photos, avatars) -> None:
    base = avatars[("astronaut", "kingdom-hearts")]
    calm = generate(photos["astronaut"], "kingdom-hearts",
                    GenerationOptions(preserve_expression=False, enhance_details=True))  # fmt: skip
    assert np.abs(calm.outputs["full"].astype(int) - base.outputs["full"]).mean() > 0.5
    # a calmer mouth: the lips' landmarks are closer together
    gap = lambda a: a.landmarks[14, 1] - a.landmarks[13, 1]  # noqa: E731
    assert gap(calm) < gap(base)


def test_a_large_photo_is_scaled_down(photos) -> None:
    big = np.kron(photos["grace_hopper"], np.ones((3, 3, 1), dtype=np.uint8))  # 1536x1800
    a = generate(big, "cel-shade")
    assert a.outputs["full"].shape == (512, 512, 3)


@pytest.mark.parametrize("name", ["black", "cat"])
def test_no_face(name) -> None:
    from skimage import data

    image = np.zeros((480, 640, 3), np.uint8) if name == "black" else data.chelsea()
    with pytest.raises(NoFaceDetectedError, match="no face found in the photo"):
        generate(image, "ghibli")


def test_unknown_style_names_the_known_ones(photos) -> None:
    with pytest.raises(UnknownStyleError) as e:
        generate(photos["astronaut"], "vaporwave")
    for s in STYLES:
        assert s in str(e.value)
    assert isinstance(e.value, StyleError) and isinstance(e.value, ValueError)


@pytest.mark.parametrize(
    "image, match",
    [(np.zeros((4, 4, 3), np.uint8), "too small"), (np.zeros((64, 64), np.uint8), "RGB"),
     (np.zeros((64, 64, 3), np.float32), "uint8")],
)  # fmt: skip
def test_bad_images(image, match) -> None:
    with pytest.raises(StyleError, match=match):
        generate(image, "ghibli")


def test_progress_reports_increasing_percents_over_named_stages(photos) -> None:
    seen: list[tuple[int, str, str]] = []
    generate(photos["grace_hopper"], "dark-cloud", progress=lambda *a: seen.append(a))
    percents = [p for p, _, _ in seen]
    assert percents == sorted(percents) and len(set(percents)) == len(percents)
    assert percents[-1] == 100
    assert [s for _, s, _ in seen] == ["face", "segmentation", "style", "post", "done"]
    assert all(msg for _, _, msg in seen)


def test_cancellation(photos) -> None:
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 2

    seen = []
    with pytest.raises(GenerationCancelled, match="cancelled"):
        generate(photos["astronaut"], "ghibli", progress=lambda *a: seen.append(a[1]),
                 cancelled=cancelled)  # fmt: skip
    assert seen == ["face", "segmentation"]
