"""`digigami export`: an avatar to files, from the command line, with a progress bar.

AVATAR is `digi` (the bundled avatar) or a saved avatar's id in the server's database (the
command runs where the database is, as its operator: any saved avatar may be exported).
Everything is checked before anything renders; an error is one line and exit status 2, and
then nothing is written."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from engine.export.job import FPS_MAX, FPS_MIN, SIZE_MAX, SIZE_MIN, ExportError, Job, Still
from engine.export.run import ALL, check, known_formats, run, single, write
from engine.export.subject import Subject, digi

BUNDLED = "digi"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export an avatar to files: PNG, sequences, spritesheets, GIF/APNG/WebM, SVG, "
        "Spine, Lottie, glTF, platform presets",
        description="Export an avatar (docs/EXPORT.md). Several formats, or several files, "
        "are written as one zip.",
    )
    p.add_argument("--avatar", default=BUNDLED, help="digi, or a saved avatar's id")
    p.add_argument(
        "--format",
        dest="formats",
        action="append",
        default=None,
        metavar="FORMAT",
        help=f"a format or preset (repeat, or comma-separated; {ALL}: every one); "
        "--list shows them",
    )
    p.add_argument(
        "--animation",
        dest="animations",
        action="extend",
        nargs="+",
        default=[],
        metavar="NAME",
        help="animations to export (default: each format's own: idle, or all for Spine/glTF)",
    )
    p.add_argument("--size", type=int, default=512, help=f"pixels ({SIZE_MIN}-{SIZE_MAX})")
    p.add_argument("--fps", type=float, default=30.0, help=f"frames a second ({FPS_MIN}-{FPS_MAX})")
    p.add_argument("--out", type=Path, default=None, help="the file (or folder) to write")
    p.add_argument("--state", default="idle", help="the still formats' pose: an animation")
    p.add_argument("--time", type=float, default=0.0, help="seconds into --state for stills")
    p.add_argument(
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="hold a parameter for stills (an expression: ParamMouthOpenY=1)",
    )
    p.add_argument("--db", type=Path, default=None, help="the database of saved avatars")
    p.add_argument("--list", action="store_true", help="list formats and animations, then stop")


class Bar:
    """A one-line progress bar on a terminal; a line per tenth elsewhere (logs, CI)."""

    def __init__(self, stream: TextIO | None = None, width: int = 28) -> None:
        self.stream, self.width = stream or sys.stderr, width
        self.tty = self.stream.isatty()
        self.shown = -1
        self.started = time.monotonic()

    def __call__(self, fraction: float, text: str) -> None:
        pct = int(fraction * 100)
        if self.tty:
            filled = int(fraction * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r[{bar}] {pct:3d}% {text[:60]:<60}")
            self.stream.flush()
        elif pct // 10 > self.shown:
            self.shown = pct // 10
            self.stream.write(f"{pct:3d}% {text}\n")

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")


def _params(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise ExportError(f'--param "{item}" must be NAME=NUMBER (ParamMouthOpenY=1)') from None
    return out


def subject_for(avatar: str, db: Path | None, animations: Sequence[str] = ()) -> Subject:
    """The avatar, with the custom animations among `animations` (ids of the database's
    animations) added."""
    from webapi.handlers.exports import CLIP_ID, dress, with_animations
    from webapi.library import animations as clips_library
    from webapi.library import avatars
    from webapi.library.files import AvatarStore
    from webapi.store import Store, default_path

    custom = [a for a in animations if CLIP_ID.match(a)]
    if avatar != BUNDLED and not avatars.is_saved_id(avatar):
        raise ExportError(f'no avatar "{avatar[:64]}": use digi or a saved avatar\'s id')
    if avatar == BUNDLED and not custom:
        return digi()
    path = db or default_path()
    if not path.exists():
        missing = f'avatar "{avatar}"' if avatar != BUNDLED else f'animation "{custom[0]}"'
        raise ExportError(f"no {missing}: there is no database at {path}")

    async def read():
        store = Store(path)
        await store.start()
        try:
            look = None if avatar == BUNDLED else await avatars.avatar_for_operator(store, avatar)
            found = {cid: await clips_library.clip_for_operator(store, cid) for cid in custom}
            return look, found
        finally:
            await store.aclose()

    from webapi.errors import NotFound

    try:
        look, found = asyncio.run(read())
    except NotFound as e:
        raise ExportError(str(e)) from None
    for cid, clip in found.items():
        if clip is None or clip.rig != avatars.DEFAULT_RIG:
            raise ExportError(f'no animation "{cid}"')
    subject = digi() if look is None else dress(AvatarStore(), look, f"avatar-{avatar[:8]}")
    return with_animations(subject, found)  # type: ignore[arg-type]


def command(args: argparse.Namespace, say: TextIO | None = None) -> int:
    say = say or sys.stdout
    try:
        subject = subject_for(args.avatar, args.db, args.animations)
        if args.list:
            from engine.export.bake import animation_names

            say.write("formats:\n")
            for f in known_formats().values():
                say.write(f"  {f.name:<18} {f.description}\n")
            say.write(f"animations: {', '.join(animation_names(subject.bundle))}\n")
            return 0
        names = [n.strip() for item in (args.formats or []) for n in item.split(",") if n.strip()]
        size = args.size
        fps = int(args.fps) if float(args.fps).is_integer() else args.fps
        params = _params(args.params)
        formats = check(subject, names, args.animations, size, fps, args.state, args.time, params)
        bar = Bar()
        job = Job(subject, args.animations, size, fps, Still(args.state, args.time, params), bar)
        started = time.monotonic()
        try:
            outputs = run(job, formats)
        finally:
            bar.done()
        result = single(outputs, f"{subject.name}-export.zip")
        path = write(result, args.out)
    except (ExportError, ValueError) as e:
        print(f"digigami: error: {e}", file=sys.stderr)
        return 2
    seconds = time.monotonic() - started
    count = f"{len(outputs)} files in " if len(outputs) > 1 else ""
    say.write(f"digigami: wrote {count}{path} ({len(result.data):,} bytes) in {seconds:.1f} s\n")
    return 0
