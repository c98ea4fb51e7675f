"""Style packs: safetensors round trip and strict validation (never unpickled)."""

from __future__ import annotations

import json
import struct

import pytest
import torch

from engine.style import STYLES, StylePackError
from engine.style.packs import encode, load_pack, parse_pack, save_pack
from engine.style.styles import ARCHITECTURE, SCHEMA, style_params

META = {"architecture": ARCHITECTURE, "style": "mine"}


@pytest.mark.parametrize("style", STYLES)
def test_round_trip(tmp_path, style) -> None:
    params = style_params(style)
    path = tmp_path / f"{style}.safetensors"
    save_pack(path, style, params)
    name, loaded = load_pack(path)
    assert name == style
    assert set(loaded) == set(SCHEMA)
    for k, v in params.items():
        assert loaded[k].dtype == torch.float32 and torch.equal(loaded[k], v), k


def _pack(**changes) -> bytes:
    params = style_params("ghibli")
    params.update(changes)
    return encode(params, META)


def test_a_valid_pack_loads() -> None:
    assert parse_pack(_pack())[0] == "mine"


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "too short"),
        (b"\x00" * 3, "too short"),
        (struct.pack("<Q", 10**9) + b"{}", "header length"),
        (struct.pack("<Q", 4) + b"nope", "not valid JSON"),
        (b"\x80\x04\x95" + b"\x00" * 40, "header length"),  # a pickle is not a pack
    ],
)
def test_corrupt_files_are_rejected(data, match) -> None:
    with pytest.raises(StylePackError, match=match):
        parse_pack(data)


def test_truncated_pack() -> None:
    with pytest.raises(StylePackError, match="data_offsets"):
        parse_pack(_pack()[:-8])


def test_bad_header_entries() -> None:
    def with_header(edit) -> bytes:
        data = _pack()
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + n])
        edit(header)
        head = json.dumps(header).encode()
        return struct.pack("<Q", len(head)) + head + data[8 + n :]

    with pytest.raises(StylePackError, match="dtype 'I64'"):
        parse_pack(with_header(lambda h: h["gamma"].update(dtype="I64")))
    with pytest.raises(StylePackError, match="architecture"):
        parse_pack(with_header(lambda h: h["__metadata__"].update(architecture="other")))
    with pytest.raises(StylePackError, match="overlap"):
        parse_pack(with_header(lambda h: h["gamma"].update(
            data_offsets=h["contrast"]["data_offsets"])))  # fmt: skip


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"gamma": torch.tensor(9.0)}, "gamma .* outside"),
        ({"gamma": torch.tensor(float("nan"))}, "gamma is not finite"),
        ({"line_color": torch.tensor([0.0, 0.0])}, r"line_color must have shape \(3,\)"),
        ({"extra": torch.tensor(1.0)}, "unknown parameters extra"),
    ],
)
def test_invalid_parameters(changes, match) -> None:
    with pytest.raises(StylePackError, match=match):
        parse_pack(_pack(**changes))


def test_missing_parameter() -> None:
    params = style_params("ghibli")
    del params["bands"]
    with pytest.raises(StylePackError, match="missing parameters bands"):
        parse_pack(encode(params, META))


def test_a_loaded_pack_can_be_generated_with(tmp_path) -> None:
    import numpy as np

    from engine.style import generate, register_style
    from tests.photos import astronaut

    params = style_params("cel-shade")
    params["line_color"] = torch.tensor([0.6, 0.0, 0.0])  # red ink
    params["background"] = torch.tensor([0.0, 1.0, 0.0])
    save_pack(tmp_path / "red.safetensors", "red-ink", params)
    name, loaded = load_pack(tmp_path / "red.safetensors")
    register_style(name, loaded)
    a = generate(astronaut(), name)
    assert a.metadata["style"] == "red-ink" and a.metadata["model"] == "digigami-pack-pipeline-1"
    top = a.outputs["full"][:20, :20].reshape(-1, 3).mean(axis=0)
    assert top[1] > top[0] + 60 and top[1] > top[2] + 60  # its green backdrop
    with pytest.raises(ValueError, match="built-in"):
        register_style("ghibli", loaded)
    assert np.isfinite(a.landmarks).all()
