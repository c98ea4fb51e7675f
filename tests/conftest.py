"""Shared fixtures: a small hand-written rig for unit tests, and the bundled test rig."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.assets import AvatarBundle, load_bundle
from engine.rig import RigData, parse_rig
from engine.session import AvatarSession, Inputs

# Tests that must hold a frame rate in real time (live WebRTC streams, Chromium pages, a
# Ray cluster) run alone: beside another test on a 2-core box they would measure the
# neighbour. The rest are CPU work or idle waits (a slow client's deadline), and CI runs
# them on both cores first (README: `pytest -n 2 -m "not serial"`, then `pytest -m
# serial`); a plain `pytest` runs them all, one at a time.
SERIAL_DIRS = frozenset({"e2e", "streaming", "cluster"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(tests).parts
        if len(parts) > 1 and parts[0] in SERIAL_DIRS:
            item.add_marker(pytest.mark.serial)


@pytest.fixture(scope="session", autouse=True)
def _run_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every app and `digigami serve` this run starts without naming a database uses one in
    the run's temporary folder, never the checkout's out/digigami.db (subprocesses inherit
    the environment). Tests about the store pass their own file."""
    before = os.environ.get("DIGIGAMI_DB")
    os.environ["DIGIGAMI_DB"] = str(tmp_path_factory.mktemp("db") / "digigami.db")
    yield
    if before is None:
        os.environ.pop("DIGIGAMI_DB", None)
    else:
        os.environ["DIGIGAMI_DB"] = before


ARM_RIG: dict[str, Any] = {
    "schema": 1,
    "name": "arm",
    "bones": [
        {"name": "root"},
        {"name": "body", "parent": "root", "y": 10, "rotation": 90, "length": 30},
        {"name": "upper", "parent": "body", "x": 30, "rotation": -90, "length": 20},
        {"name": "lower", "parent": "upper", "x": 20, "length": 20},
        {"name": "hand", "parent": "lower", "x": 20, "length": 5},
        {"name": "target", "parent": "root", "x": 25, "y": 20},
    ],
    "slots": [
        {"name": "skin", "bone": "upper", "attachment": "arm"},
        {"name": "hand", "bone": "hand", "attachment": "open"},
    ],
    "attachments": {
        "skin": {
            "arm": {
                "type": "mesh",
                "vertices": [[0, 42], [0, 38], [20, 42], [20, 38], [40, 42], [40, 38]],
                "uvs": [[0, 0], [0, 1], [0.5, 0], [0.5, 1], [1, 0], [1, 1]],
                "triangles": [[0, 1, 2], [1, 3, 2], [2, 3, 4], [3, 5, 4]],
                "weights": [
                    [["upper", 1]],
                    [["upper", 1]],
                    [["upper", 0.5], ["lower", 0.5]],
                    [["upper", 0.5], ["lower", 0.5]],
                    [["lower", 1]],
                    [["lower", 1]],
                ],
            }
        },
        "hand": {
            "open": {"type": "region", "width": 8, "height": 8},
            "fist": {"type": "region", "width": 6, "height": 6},
        },
    },
    "ik": [
        {
            "name": "arm_ik",
            "solver": "limb",
            "bones": ["upper", "lower"],
            "target": "target",
            "mix": 0.0,
        }
    ],
    "parameters": [
        {
            "id": "ParamArm",
            "min": -10,
            "max": 10,
            "default": 0,
            "bindings": [{"bone": "upper", "property": "rotation", "keys": [[-10, -20], [10, 20]]}],
        }
    ],
}


def arm_rig_data() -> dict[str, Any]:
    return copy.deepcopy(ARM_RIG)


@pytest.fixture
def arm_rig() -> RigData:
    return parse_rig(arm_rig_data(), "arm.json")


@pytest.fixture(scope="session")
def testrig() -> AvatarBundle:
    return load_bundle("testrig")


@pytest.fixture(scope="session")
def digi() -> AvatarBundle:
    """Digi, the bundled avatar (rig, clips, state machine, sprites, tracking bindings)."""
    return load_bundle("digi")


def posed(bundle: AvatarBundle, inputs: Inputs, seconds: float, seed: int) -> AvatarSession:
    """A session given `inputs`, then run for `seconds` at 60 Hz."""
    s = AvatarSession(bundle, seed=seed)
    s.step(1 / 60, inputs)
    for _ in range(round(seconds * 60) - 1):
        s.step(1 / 60)
    return s
