"""The export runner and `digigami export`: a request is checked whole before anything
renders (a bad one names what is wrong and writes nothing), one file is written as itself,
several (or several formats) as one zip, and the command shows its progress."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.export.job import ExportError
from engine.export.run import ALL, FORMATS, check, known_formats
from engine.export.subject import digi
from webapi.cli import main


@pytest.fixture(scope="module")
def subject():
    return digi()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"formats": []}, "name at least one format"),
        ({"formats": ["png", "bmp"]}, 'unknown format "bmp" (known: png, sequence'),
        ({"formats": ["png"], "size": 15}, "size must be a whole number of pixels from 16 to 2048"),
        ({"formats": ["png"], "size": 2049}, "from 16 to 2048"),
        ({"formats": ["png"], "size": True}, "size must be"),
        ({"formats": ["gif"], "fps": 0}, "fps must be from 1 to 60"),
        ({"formats": ["gif"], "fps": 61}, "fps must be from 1 to 60"),
        ({"formats": ["gif"], "animations": ["moonwalk"]}, 'unknown animation "moonwalk" (known: cheer'),
        ({"formats": ["png"], "state": "moonwalk"}, 'unknown animation "moonwalk"'),
        ({"formats": ["png"], "time_s": 21.0}, "time must be from 0 to 20 seconds"),
        ({"formats": ["png"], "parameters": {"ParamNose": 1.0}}, 'unknown parameter "ParamNose" (known: ParamAngleX'),
        ({"formats": ["png"], "parameters": {"ParamMouthOpenY": 2.0}}, 'parameter "ParamMouthOpenY" must be from 0 to 1'),
        ({"formats": ["gif"], "animations": ["walk"] * 41}, "at most 40 animations"),
    ],
)  # fmt: skip
def test_a_bad_request_names_what_is_wrong(subject, kwargs, message) -> None:
    with pytest.raises(ExportError) as e:
        check(subject, **kwargs)
    assert message in str(e.value)


def test_all_means_every_format_and_preset_once(subject) -> None:
    chosen = check(subject, [ALL, "png"])
    assert [f.name for f in chosen] == list(known_formats())
    assert set(FORMATS) < {f.name for f in chosen}  # the presets come on top
    assert len(chosen) > len(FORMATS)


def test_the_command_refuses_bad_input_and_writes_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "x.png"
    cases = [
        (["--format", "bmp"], 'unknown format "bmp"'),
        (["--format", "png", "--size", "4096"], "size must be"),
        (["--format", "gif", "--animation", "moonwalk"], 'unknown animation "moonwalk"'),
        (["--format", "png", "--param", "ParamMouthOpenY"], "must be NAME=NUMBER"),
        (["--format", "png", "--avatar", "0123456789abcdef0123456789abcdef",
          "--db", str(tmp_path / "none.db")], "no avatar"),
        (["--format", "png", "--avatar", "../../etc"], 'no avatar "../../etc"'),
    ]  # fmt: skip
    for args, message in cases:
        assert main(["export", *args, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("digigami: error: ") and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_one_file_is_written_as_itself_with_progress(tmp_path: Path, capsys) -> None:
    out = tmp_path / "digi.png"
    args = ["export", "--format", "png", "--size", "64", "--param", "ParamMouthOpenY=1"]
    assert main([*args, "--out", str(out)]) == 0
    said = capsys.readouterr()
    assert f"wrote {out}" in said.out
    lines = said.err.splitlines()  # the progress, a line per tenth off a terminal
    assert lines[0].startswith("  0% ") and lines[-1].startswith("100% "), lines
    img = Image.open(out)
    assert img.size == (64, 64) and img.mode == "RGBA"
    alpha = np.asarray(img)[..., 3]
    assert alpha[0, 0] == 0 and alpha.max() == 255  # transparent around an opaque avatar
    assert not any(p.name.endswith(".part") for p in tmp_path.iterdir())


def test_several_formats_go_into_one_zip_by_format(tmp_path: Path, capsys) -> None:
    out = tmp_path / "batch"
    args = ["export", "--format", "png,gif", "--animation", "wave", "jump", "--size", "48",
            "--fps", "8", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    path = tmp_path / "batch.zip"  # named for what it is
    assert f"wrote 3 files in {path}" in capsys.readouterr().out
    with zipfile.ZipFile(path) as z:
        names = sorted(z.namelist())
        assert names == ["gif/jump.gif", "gif/wave.gif", "png/digi.png"]
        wave = Image.open(io.BytesIO(z.read("gif/wave.gif")))
        assert wave.n_frames == 16  # 2 s at 8 fps
