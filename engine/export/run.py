"""The export runner: which formats exist, checking a request before anything is made, running
the formats of one job (a batch shares its baked animations and renderer), and packing the
files (one file as itself; several, or several formats, as one zip).

Everything a user can get wrong is checked by `check` first, so a bad request writes
nothing; a format that cannot meet a platform's limit raises ExportError while the job runs,
and the runner then writes nothing either."""

from __future__ import annotations

import importlib
import io
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.anim.controller import UnknownStateError
from engine.export.bake import animation_names, frame_count
from engine.export.job import (
    FPS_MAX,
    FPS_MIN,
    MAX_ANIMATIONS,
    SIZE_MAX,
    SIZE_MIN,
    ExportError,
    Job,
    Output,
)
from engine.export.subject import Subject
from engine.params.parameters import UnknownParameterError

ALL = "all"


@dataclass(frozen=True)
class Format:
    name: str
    module: str  # engine.export.<module>
    function: str
    description: str
    # renders every frame of an animation at the job's size and holds a take's frames at
    # once (what `check`'s memory limit counts)
    frames: bool = False

    def exporter(self) -> Callable[[Job], list[Output]]:
        return getattr(importlib.import_module(f"engine.export.{self.module}"), self.function)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("png", "raster", "export_png", "one pose or expression as a transparent PNG"),
        Format("sequence", "raster", "export_sequence", "each animation as numbered PNG frames", True),
        Format("spritesheet", "spritesheet", "export_spritesheet",
               "trimmed frames packed into atlas pages + TexturePacker JSON Hash (PixiJS, Phaser)", True),
        Format("gif", "raster", "export_gif", "each animation as a looping animated GIF", True),
        Format("apng", "raster", "export_apng", "each animation as a looping animated PNG", True),
        Format("webm", "webm", "export_webm", "each animation as WebM video (VP9 with alpha)", True),
        Format("svg", "svg", "export_svg", "one pose as vector art"),
        Format("spine", "spine", "export_spine", "Spine 4.2 JSON + .atlas + PNG pages"),
        Format("lottie", "lottie", "export_lottie", "each animation as Lottie JSON (bodymovin 5)"),
        Format("gltf", "gltf", "export_gltf", "glTF 2.0 binary: skinned meshes, one clip each"),
    )
}  # fmt: skip


def presets() -> dict[str, Format]:
    """The platform presets (engine/export/presets.py), as formats."""
    from engine.export.presets import PRESETS

    return {name: Format(name, "presets", p.function, p.description) for name, p in PRESETS.items()}


def known_formats() -> dict[str, Format]:
    return {**FORMATS, **presets()}


def check(
    subject: Subject,
    formats: Sequence[str],
    animations: Sequence[str] = (),
    size: int = 512,
    fps: float = 30.0,
    state: str | None = None,
    time_s: float = 0.0,
    parameters: Mapping[str, float] | None = None,
    max_take_bytes: int | None = None,
) -> list[Format]:
    """The formats to run, once every part of the request is known good; ExportError naming
    the first thing that is wrong otherwise. `max_take_bytes`: the most memory one
    animation's rendered frames may take (a server's limit; None: no limit)."""
    known = known_formats()
    if not formats:
        raise ExportError(f"name at least one format (known: {', '.join(known)}, or {ALL})")
    chosen: list[Format] = []
    for name in formats:
        if name == ALL:
            chosen += [f for f in known.values() if f not in chosen]
        elif name in known:
            if known[name] not in chosen:
                chosen.append(known[name])
        else:
            raise ExportError(f'unknown format "{name}" (known: {", ".join(known)}, or {ALL})')
    if isinstance(size, bool) or not isinstance(size, int) or not SIZE_MIN <= size <= SIZE_MAX:
        raise ExportError(f"size must be a whole number of pixels from {SIZE_MIN} to {SIZE_MAX}")
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not FPS_MIN <= fps <= FPS_MAX:
        raise ExportError(f"fps must be from {FPS_MIN} to {FPS_MAX}")
    if len(animations) > MAX_ANIMATIONS:
        raise ExportError(f"at most {MAX_ANIMATIONS} animations in one export")
    names = animation_names(subject.bundle)
    for a in [*animations, *([state] if state else [])]:
        if a not in names:
            raise ExportError(f'unknown animation "{a}" (known: {", ".join(names)})')
    if not 0.0 <= time_s <= 20.0:
        raise ExportError("time must be from 0 to 20 seconds")
    if max_take_bytes is not None and any(f.frames for f in chosen):
        for a in animations or ["idle"]:
            n = frame_count(subject.bundle, a, fps)
            if n * size * size * 4 > max_take_bytes:
                raise ExportError(
                    f'"{a}" would be {n} frames of {size}x{size} px, over this server\'s limit of '
                    f"{max_take_bytes // 2**20} MB of frames an animation: ask for a smaller size "
                    "or fewer frames a second"
                )
    rig = subject.rig
    for pid, value in (parameters or {}).items():
        if pid not in rig.parameter_index:
            raise ExportError(
                f'unknown parameter "{pid}" (known: {", ".join(rig.parameter_index)})'
            )
        p = rig.parameters[rig.parameter_index[pid]]
        if not isinstance(value, int | float) or not p.min <= value <= p.max:
            raise ExportError(f'parameter "{pid}" must be from {p.min:g} to {p.max:g}')
    return chosen


def run(job: Job, formats: Sequence[Format]) -> list[Output]:
    """Every format's files; with several formats, each under a folder named for it."""
    out: list[Output] = []
    n = len(formats)
    try:
        for i, f in enumerate(formats):
            job.within(i / n, (i + 1) / n)
            job.report(0.0, f"{f.name}: starting")
            try:
                files = f.exporter()(job)
            except (UnknownStateError, UnknownParameterError) as e:
                raise ExportError(str(e)) from None
            if n > 1:
                files = [Output(f"{f.name}/{o.name}", o.data) for o in files]
            out += files
            job.report(1.0, f"{f.name}: done ({len(files)} file{'s' * (len(files) != 1)})")
    finally:
        job.close()
    return out


# already compressed: stored as is in a zip (deflating them again costs time for nothing)
_STORED = (".png", ".gif", ".webm", ".glb", ".zip", ".jpg")


def pack(outputs: Sequence[Output]) -> bytes:
    """The files as one zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for o in outputs:
            info = zipfile.ZipInfo(o.name, time.localtime()[:6])
            info.compress_type = (
                zipfile.ZIP_STORED if o.name.lower().endswith(_STORED) else zipfile.ZIP_DEFLATED
            )
            z.writestr(info, o.data)
    return buf.getvalue()


def single(outputs: Sequence[Output], zip_name: str) -> Output:
    """One file: the only output as itself, several as `zip_name` (a zip)."""
    if len(outputs) == 1:
        return outputs[0]
    return Output(zip_name, pack(outputs))


def write(result: Output, out: Path | None) -> Path:
    """Write the result at `out` (a file path; an existing folder gets the result's own name;
    None: the current folder)."""
    if out is None:
        path = Path(Path(result.name).name)
    elif out.is_dir():
        path = out / Path(result.name).name
    else:
        path = out
        if result.name.endswith(".zip") and path.suffix.lower() != ".zip":
            path = path.with_name(path.name + ".zip")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(result.data)
    tmp.replace(path)  # a failed write never leaves half a file under the real name
    return path
