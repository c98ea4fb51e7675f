"""Style packs: a style's pipeline parameters as a safetensors file, validated on load.

The safetensors format, read strictly and without any pickling: 8 bytes little-endian header
length N, N bytes of JSON header ({name: {"dtype", "shape", "data_offsets": [begin, end]}},
plus an optional "__metadata__" of strings), then the raw little-endian tensor bytes. A pack
must name the architecture it is for (`styles.ARCHITECTURE`) in its metadata and hold exactly
the parameters of `styles.SCHEMA`, each of the right shape, finite and within its range.
"""

from __future__ import annotations

import itertools
import json
import struct
from pathlib import Path

import numpy as np
import torch

from engine.style.errors import StylePackError
from engine.style.styles import ARCHITECTURE, SCHEMA

MAX_PACK_BYTES = 20 * 1024 * 1024  # the limit per style's weights
MAX_HEADER_BYTES = 1024 * 1024
_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8")}


def encode(params: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    header: dict[str, object] = {"__metadata__": dict(metadata)}
    blobs, offset = [], 0
    for name in sorted(params):
        a = params[name].detach().cpu().numpy().astype("<f4")
        raw = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}  # fmt: skip
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # the format pads the header to 8 bytes
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


def save_pack(path: str | Path, style: str, params: dict[str, torch.Tensor]) -> None:
    validate(params, where=str(path))
    meta = {"architecture": ARCHITECTURE, "style": style}
    Path(path).write_bytes(encode(params, meta))


def decode(data: bytes, where: str = "pack") -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and metadata of safetensors bytes, or StylePackError saying what is wrong."""
    if len(data) > MAX_PACK_BYTES:
        raise StylePackError(f"{where}: {len(data)} bytes is over the {MAX_PACK_BYTES} limit")
    if len(data) < 8:
        raise StylePackError(f"{where}: too short to be a safetensors file ({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise StylePackError(f"{where}: header length {n} does not fit the file")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StylePackError(f"{where}: the header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise StylePackError(f"{where}: the header must be a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise StylePackError(f"{where}: __metadata__ must map strings to strings")
    body = memoryview(data)[8 + n :]
    tensors: dict[str, np.ndarray] = {}
    spans = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise StylePackError(f"{where}: tensor {name!r} needs dtype, shape, data_offsets")
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise StylePackError(
                f"{where}: tensor {name!r} has dtype {info['dtype']!r}; allowed: "
                f"{', '.join(_DTYPES)}"
            )
        shape, offs = info["shape"], info["data_offsets"]
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise StylePackError(f"{where}: tensor {name!r} has a bad shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2
                and all(isinstance(o, int) for o in offs)):  # fmt: skip
            raise StylePackError(f"{where}: tensor {name!r} has bad data_offsets {offs!r}")
        begin, end = offs
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if not (0 <= begin <= end <= len(body)) or end - begin != size:
            raise StylePackError(
                f"{where}: tensor {name!r} data_offsets {offs} do not match its shape "
                f"{shape} and dtype, or run past the file's {len(body)} data bytes"
            )
        spans.append((begin, end, name))
        tensors[name] = np.frombuffer(body[begin:end], dtype=dtype).reshape(shape).copy()
    spans.sort()
    for (_, e0, a), (b1, _, b) in itertools.pairwise(spans):
        if b1 < e0:
            raise StylePackError(f"{where}: tensors {a!r} and {b!r} overlap")
    return tensors, meta


def validate(params: dict[str, torch.Tensor] | dict[str, np.ndarray], where: str = "pack"):
    missing = sorted(set(SCHEMA) - set(params))
    extra = sorted(set(params) - set(SCHEMA))
    if missing:
        raise StylePackError(f"{where}: missing parameters {', '.join(missing)}")
    if extra:
        raise StylePackError(f"{where}: unknown parameters {', '.join(extra)}")
    for name, spec in SCHEMA.items():
        a = np.asarray(params[name].cpu() if isinstance(params[name], torch.Tensor)
                       else params[name], dtype=np.float64)  # fmt: skip
        if a.shape != spec.shape:
            raise StylePackError(
                f"{where}: {name} must have shape {spec.shape}, got {tuple(a.shape)}"
            )
        if not np.isfinite(a).all():
            raise StylePackError(f"{where}: {name} is not finite")
        if a.min() < spec.lo or a.max() > spec.hi:
            raise StylePackError(
                f"{where}: {name} = {a.tolist()} is outside {spec.lo}..{spec.hi} ({spec.doc})"
            )


def load_pack(path: str | Path) -> tuple[str, dict[str, torch.Tensor]]:
    """(style name, parameters) of a pack file, or StylePackError."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise StylePackError(f"{p}: cannot read the style pack ({e.strerror})") from None
    return parse_pack(data, str(p))


def parse_pack(data: bytes, where: str = "pack") -> tuple[str, dict[str, torch.Tensor]]:
    tensors, meta = decode(data, where)
    arch = meta.get("architecture")
    if arch != ARCHITECTURE:
        raise StylePackError(
            f"{where}: made for architecture {arch!r}, this engine runs {ARCHITECTURE!r}"
        )
    style = meta.get("style", "")
    if not style:
        raise StylePackError(f"{where}: the metadata names no style")
    validate(tensors, where)
    return style, {k: torch.from_numpy(v.astype(np.float32)) for k, v in tensors.items()}
