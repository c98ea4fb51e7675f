"""The `digigami` command: the demo runs, and bad input is one clear line with exit code 2."""

from __future__ import annotations

import pytest

from webapi.cli import main


def test_demo_plays_the_bundled_avatar(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--seconds", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("rig digi:")
    assert "state: body=walk" in out and "ms per tick" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--rig", "nope"], "rigs/nope/rig.json: file not found"),
        (["render", "--state", "moonwalk"], 'unknown state "moonwalk" for rig "digi"'),
        (
            ["render", "--state", "dance", "--variant", "dance_99"],
            'state "dance" has no variant "dance_99"',
        ),
    ],
)
def test_bad_input_is_one_clear_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("digigami: error: ") and message in err and "Traceback" not in err
