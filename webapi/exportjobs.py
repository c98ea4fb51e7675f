"""Export jobs for the API: queued, run one at a time on a worker thread (each holds a GL
context and renders hundreds of frames), watched over the `/ws` socket, downloaded once done.

A job's id is a 128-bit secret; it also belongs to whoever asked (an account or a guest), and
anyone else gets the same 404 as for a job that never existed. Finished jobs and their files
are kept for `keep_s`, then deleted; the folder is emptied when the server starts (a job is
never resumed after a restart)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.export.job import ExportError, Job, Progress
from engine.export.run import Format, run, single
from webapi.errors import NotFound, RateLimited

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
Watcher = Callable[[dict[str, Any]], None]
NOTIFY_EVERY_S = 0.2  # progress messages per job at most this often (the final one always)


@dataclass(eq=False)
class ExportJob:
    id: str
    owner: str | None
    avatar: str
    formats: list[str]
    state: str = QUEUED
    progress: float = 0.0  # 0..1
    stage: str = "waiting for its turn"
    error: str | None = None
    file: Path | None = None
    size: int = 0
    created: float = field(default_factory=time.monotonic)
    finished: float | None = None
    watchers: set[Watcher] = field(default_factory=set)
    _notified: float = 0.0

    @property
    def download(self) -> str | None:
        return f"/api/exports/{self.id}/download" if self.state == DONE else None

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "job": self.id,
            "avatar": self.avatar,
            "formats": self.formats,
            "state": self.state,
            "progress": round(self.progress * 100),
            "stage": self.stage,
            "url": f"/api/exports/{self.id}",
        }
        if self.state == DONE:
            assert self.file is not None
            out.update(download=self.download, filename=self.file.name, bytes=self.size)
        if self.error is not None:
            out["error"] = self.error
        return out

    def message(self) -> dict[str, Any]:
        """What a watcher gets now."""
        if self.state == DONE:
            return {"type": "export:done", "job": self.id, "download": self.download,
                    "filename": self.file.name if self.file else None, "bytes": self.size}  # fmt: skip
        if self.state == FAILED:
            return {"type": "export:failed", "job": self.id, "error": self.error}
        return {"type": "export:progress", "job": self.id, "state": self.state,
                "progress": round(self.progress * 100), "stage": self.stage}  # fmt: skip


class ExportJobs:
    def __init__(
        self,
        root: Path,
        *,
        max_waiting: int = 8,
        per_owner: int = 2,
        keep_s: float = 3600.0,
        max_bytes: int = 1024 * 1024 * 1024,
    ) -> None:
        self.root = root
        self.max_waiting = max_waiting  # queued or running, everyone's
        self.per_owner = per_owner  # queued or running, one owner's
        self.keep_s = keep_s
        self.max_bytes = max_bytes  # one export's file
        self.jobs: dict[str, ExportJob] = {}
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="export")
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        shutil.rmtree(self.root, ignore_errors=True)  # nothing is resumed after a restart
        self.root.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    # --- the API's side ---------------------------------------------------------------------

    def find(self, job_id: str, owner: str | None) -> ExportJob:
        """The job if `owner` may see it; NotFound (as for a job that never was) otherwise."""
        self.sweep()
        job = self.jobs.get(job_id)
        if job is None or (job.owner is not None and job.owner != owner):
            raise NotFound(f'no export "{job_id[:64]}"')
        return job

    def submit(
        self, owner: str | None, avatar: str, formats: list[Format], make: Callable[[Progress], Job]
    ) -> ExportJob:
        """Queue an export; `make(progress)` builds its (already checked) Job on the worker
        thread."""
        self.sweep()
        busy = [j for j in self.jobs.values() if j.state in (QUEUED, RUNNING)]
        if owner is not None and sum(j.owner == owner for j in busy) >= self.per_owner:
            raise RateLimited(
                f"at most {self.per_owner} exports of yours at a time: wait for one to finish"
            )
        if len(busy) >= self.max_waiting:
            raise RateLimited("the server is busy with other exports: try again in a minute")
        job = ExportJob(secrets.token_hex(16), owner, avatar, [f.name for f in formats])
        self.jobs[job.id] = job
        assert self._loop is not None, "ExportJobs.start() has not run"
        fut = self._loop.run_in_executor(self.pool, self._work, job, formats, make)
        fut.add_done_callback(lambda f: f.exception())  # _work reports its own failures
        return job

    def watch(self, job: ExportJob, watcher: Watcher) -> None:
        """Send `watcher` the job's state now and every change until it ends."""
        watcher(job.message())
        if job.state in (QUEUED, RUNNING):
            job.watchers.add(watcher)

    def unwatch(self, watcher: Watcher) -> None:
        for job in self.jobs.values():
            job.watchers.discard(watcher)

    def sweep(self) -> None:
        """Forget finished jobs older than keep_s, with their files."""
        now = time.monotonic()
        for job in [j for j in self.jobs.values() if j.finished and now - j.finished > self.keep_s]:
            del self.jobs[job.id]
            shutil.rmtree(self.root / job.id, ignore_errors=True)

    # --- the worker thread ------------------------------------------------------------------

    def _work(self, job: ExportJob, formats: list[Format], make: Callable[[Progress], Job]) -> None:
        self._update(job, state=RUNNING, stage="starting")
        try:

            def progress(fraction: float, text: str) -> None:
                self._update(job, progress=fraction, stage=text)

            outputs = run(make(progress), formats)
            result = single(outputs, f"{job.avatar}-export.zip")
            if len(result.data) > self.max_bytes:
                raise ExportError(
                    f"the export is {len(result.data) // 2**20} MB, over this server's limit of "
                    f"{self.max_bytes // 2**20} MB: ask for fewer formats, animations or a smaller size"
                )
            folder = self.root / job.id
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / Path(result.name).name
            tmp = path.with_name(path.name + ".part")
            tmp.write_bytes(result.data)
            tmp.replace(path)
            self._update(job, state=DONE, progress=1.0, stage="done", file=path,
                         size=len(result.data))  # fmt: skip
        except ExportError as e:
            self._update(job, state=FAILED, stage="failed", error=str(e))
        except Exception:
            log.exception("export %s failed", job.id)
            self._update(job, state=FAILED, stage="failed",
                         error="the export failed on the server (logged); nothing was written")  # fmt: skip

    def _update(self, job: ExportJob, **changes: Any) -> None:
        """From the worker thread: apply on the event loop, then tell the watchers."""
        assert self._loop is not None

        def apply() -> None:
            for k, v in changes.items():
                setattr(job, k, v)
            ended = job.state in (DONE, FAILED)
            if ended:
                job.finished = time.monotonic()
            now = time.monotonic()
            if not ended and "state" not in changes and now - job._notified < NOTIFY_EVERY_S:
                return
            job._notified = now
            msg = job.message()
            for w in list(job.watchers):
                with contextlib.suppress(Exception):
                    w(msg)
            if ended:
                job.watchers.clear()

        with contextlib.suppress(RuntimeError):  # the loop is closing: nobody is listening
            self._loop.call_soon_threadsafe(apply)
