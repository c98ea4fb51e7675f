"""Fixtures for the tracking tests on real photos: the bundled face photos with what the
tracker reads off them unchanged, one static landmarker for all stills, and contact sheets
of the warped pictures for looking at.

Set DIGIGAMI_WARP_SHEETS to a folder (e.g. /tmp) to have the photo tests write contact
sheets of their warps there (mouth_warps.png, rotation_warps.png, yaw_warps.png) at the end
of the session.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from engine.tracking.landmarker import FaceLandmarker, LandmarkResult
from engine.tracking.signals import FaceSignals
from engine.tracking.solver import solve
from tests.photos import PHOTOS
from tests.tracking import warps

SHEETS_ENV = "DIGIGAMI_WARP_SHEETS"


@dataclass(frozen=True)
class Photo:
    """A bundled face photo and what the static landmarker and solver read off it."""

    name: str
    image: np.ndarray  # (h, w, 3) uint8
    landmarks: np.ndarray  # (478, 3) normalized
    points: np.ndarray  # (478, 2) pixels
    signals: FaceSignals

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The face's landmark box in pixels."""
        return warps.box_of(self.points)

    @property
    def centre(self) -> tuple[float, float]:
        return warps.box_centre(self.box)

    @property
    def width(self) -> float:
        """The face's width in pixels (landmark box)."""
        x0, _, x1, _ = self.box
        return x1 - x0


Reader = Callable[[np.ndarray], tuple[LandmarkResult, FaceSignals]]


@pytest.fixture(scope="session")
def landmarker() -> Iterator[FaceLandmarker]:
    """One static (photo mode) landmarker for every still in the session."""
    with FaceLandmarker(static=True) as lm:
        yield lm


@pytest.fixture(scope="session")
def read(landmarker: FaceLandmarker) -> Reader:
    """image -> (landmark result, solved signals); fails the test when no face is found."""

    def read(image: np.ndarray) -> tuple[LandmarkResult, FaceSignals]:
        result = landmarker.process(image)
        assert result.found, f"no face found in a {image.shape[1]}x{image.shape[0]} picture"
        return result, solve(result.landmarks, result.image_size)

    return read


@pytest.fixture(scope="session")
def photos(read: Reader) -> dict[str, Photo]:
    """Every bundled photo, read once."""
    out = {}
    for name, load in PHOTOS.items():
        image = load()
        result, signals = read(image)
        points = warps.pixels(result.landmarks, result.image_size)
        out[name] = Photo(name, image, result.landmarks, points, signals)
    return out


@pytest.fixture(params=list(PHOTOS))
def photo(request: pytest.FixtureRequest, photos: dict[str, Photo]) -> Photo:
    """Each bundled photo in turn."""
    return photos[request.param]


@pytest.fixture(scope="session")
def sheets() -> Iterator[dict[str, list[list[np.ndarray]]]]:
    """Contact sheet rows by sheet name; tests append rows of pictures, and the sheets are
    written to $DIGIGAMI_WARP_SHEETS/<name>.png at the end of the session if it is set."""
    rows: dict[str, list[list[np.ndarray]]] = {}
    yield rows
    folder = os.environ.get(SHEETS_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for name, sheet_rows in rows.items():
            warps.save_png(warps.contact_sheet(sheet_rows), str(Path(folder) / f"{name}.png"))
