"""One export's request and its working state, shared by every format's exporter.

An exporter is a function `export_<format>(job: Job) -> list[Output]`: it reads the subject,
the takes (baked once per job and shared between formats) and the size from the job, reports
progress through `job.report`, and returns its files; it writes nothing itself. The runner
(engine/export/run.py) validates the request first, so a bad one writes nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from engine.export.bake import Take, bake, still
from engine.export.frames import FrameRenderer
from engine.export.subject import Subject
from engine.pose.edits import PoseEdits

SIZE_MIN, SIZE_MAX = 16, 2048  # pixels, an output's larger side
FPS_MIN, FPS_MAX = 1, 60
MAX_ANIMATIONS = 40  # in one job


class ExportError(ValueError):
    """A request that cannot be exported, or a limit a format cannot meet; the message
    names what is wrong (shown as is by the CLI and the API)."""


@dataclass(frozen=True)
class Output:
    name: str  # a relative path inside the export ("walk/0001.png")
    data: bytes


@dataclass(frozen=True)
class Still:
    """The pose a still format shows: a state (or variant) played `time` seconds, with
    `parameters` held (an expression) and pose `edits` applied (the studio's pose editor)."""

    state: str = "idle"
    time: float = 0.0
    parameters: Mapping[str, float] = field(default_factory=dict)
    edits: PoseEdits | None = None


Progress = Callable[[float, str], None]


def _quiet(fraction: float, text: str) -> None:
    pass


class Job:
    def __init__(
        self,
        subject: Subject,
        animations: Sequence[str] = (),
        size: int = 512,
        fps: float = 30.0,
        pose: Still | None = None,
        progress: Progress = _quiet,
    ) -> None:
        self.subject = subject
        self.animations = list(animations)  # empty: each format's own default
        self.size = int(size)
        self.fps = float(fps)
        self.pose = pose or Still()
        self._progress = progress
        self._span = (0.0, 1.0)  # the runner's share of the whole job for this format
        self._takes: dict[str, Take] = {}
        self._still: Take | None = None
        self._renderers: dict[tuple[int, int], FrameRenderer] = {}

    # --- what to export -------------------------------------------------------------------

    def take_names(self, default: Sequence[str] = ("idle",)) -> list[str]:
        """The animations asked for, or the format's default when none were."""
        return self.animations or list(default)

    def take(self, name: str) -> Take:
        """`name` baked at the job's fps (once per job, shared between formats)."""
        if name not in self._takes:
            self._takes[name] = bake(self.subject, name, self.fps)
        return self._takes[name]

    def takes(self, default: Sequence[str] = ("idle",)) -> list[Take]:
        return [self.take(n) for n in self.take_names(default)]

    def still(self) -> Take:
        """The job's still pose (`pose`), as a one-frame take."""
        if self._still is None:
            p = self.pose
            self._still = still(self.subject, p.state, p.time, p.parameters, edits=p.edits)
        return self._still

    def renderer(self, width: int, height: int | None = None) -> FrameRenderer:
        """A GL renderer for the subject at this size, shared within the job."""
        key = (int(width), int(height or width))
        if key not in self._renderers:
            self._renderers[key] = FrameRenderer(self.subject, *key)
        return self._renderers[key]

    # --- progress ---------------------------------------------------------------------------

    def report(self, fraction: float, text: str) -> None:
        """How far the current format is (0..1), in words ("rendering walk, frame 12/30")."""
        lo, hi = self._span
        self._progress(lo + (hi - lo) * min(1.0, max(0.0, fraction)), text)

    def within(self, lo: float, hi: float) -> None:
        """The runner: the next format's reports fill [lo, hi] of the whole job."""
        self._span = (lo, hi)

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()
