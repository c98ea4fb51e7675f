"""Avatar generation on Ray Serve: the style pipeline (`engine.style.generate`, then the
likeness measured from the same photo) as a Serve deployment, and the adapter a front's
`Generator` (webapi/generate.py) hands its jobs to in cluster mode.

What stays on the front: the protocol (WebSocket and REST), the fair queue and its
positions, every limit and quota, saving to the avatar store and the library. What runs
on a replica: decoding the upload, the engine, the likeness. A replica streams its
progress back (a generator method called with `stream=True`), so the client sees the
same progress messages as on a single box; a cancel (`response.cancel()`) stops the engine
at its next stage. Replicas take a GPU where the cluster has one, else CPUs; how many run
is Serve's autoscaling between `min_replicas` and `max_replicas` (`--gen-replicas MIN:MAX`).

Only the front's cluster wiring imports this module: the single box never imports Ray.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import ray
from ray import serve
from ray.exceptions import RayActorError, RayError, RayTaskError
from ray.serve.exceptions import RayServeException, RequestCancelledError

from webapi.generate import HUGE_PIXELS, Cancelled, Unavailable, measure_likeness
from webapi.library.images import decode_image

log = logging.getLogger(__name__)

APP = "digigami-generation"  # the Serve application (one per cluster, found by name)
DEPLOYMENT = "StyleGeneration"
MAX_REPLICAS = 1024  # a bound on what a flag may ask for
MAX_ONGOING = 8  # generations one replica runs at once, at most
CONNECT_TIMEOUT_S = 120.0  # a front finding the deployment may wait for a replica to start


class GenerationUnavailable(Unavailable):
    """Serve has no generation deployment, or it lost the replica running a job."""


@dataclasses.dataclass(frozen=True)
class GenerationTask:
    """One job as it crosses to a replica: the encoded upload (decoded there), the engine's
    style name and keyword options, and a style pack's parameters when the style is one
    (the replica registers them under `style`: it has no database or market files)."""

    data: bytes
    style: str
    options: dict[str, Any]
    pixel_count: int
    pack: dict[str, np.ndarray] | None = None


@dataclasses.dataclass
class Generated:
    """What a replica made: the engine's avatar, the likeness fields, and which replica."""

    avatar: Any  # engine.style.GeneratedAvatar (numpy arrays and a dict: pickles as is)
    likeness: dict[str, Any]
    served_by: str  # the replica's full id: its actor's name, "SERVE_REPLICA::app#deployment#id"


class StyleReplica:
    """The deployment's class: one engine per replica process, `max_ongoing` jobs at once
    on its own threads (the engine is synchronous; the replica's event loop only streams)."""

    def __init__(self, max_ongoing: int = 1, capacity: int = 1) -> None:
        self.total = capacity  # the deployment's: max replicas x max_ongoing
        self.pool = ThreadPoolExecutor(max_ongoing, thread_name_prefix="generate")
        self.huge_decode = threading.Lock()
        self.served_by = serve.get_replica_context().replica_id.to_full_id_str()
        self.counts = {"made": 0, "failed": 0, "stopped": 0}  # this replica's jobs, by outcome

    def whoami(self) -> str:
        return self.served_by

    def capacity(self) -> int:
        return self.total

    def stats(self) -> dict[str, Any]:
        """This replica's jobs so far: made, failed (the job's own error), stopped (cancelled
        while the engine ran)."""
        return {"replica": self.served_by, **self.counts}

    async def generate(self, task: GenerationTask) -> AsyncIterator[tuple]:
        """Yields ("progress", percent 0..100 of the engine, stage, message) events, then
        one ("done", Generated). An error raised here reaches the front as its own class
        (the front unwraps Ray's wrapper: `ServeGeneration.generate`)."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple] = asyncio.Queue()
        stop = threading.Event()  # read by the engine between its stages

        def emit(*event: Any) -> None:  # on the worker thread
            loop.call_soon_threadsafe(events.put_nowait, event)

        running = loop.run_in_executor(self.pool, self._work, task, emit, stop)
        running.add_done_callback(lambda _: events.put_nowait(("end",)))
        try:
            while (event := await events.get())[0] != "end":
                yield event
            try:
                avatar, likeness = running.result()  # raises what the work raised
            except Exception:
                self.counts["failed"] += 1
                raise
            self.counts["made"] += 1
            yield ("done", Generated(avatar, likeness, self.served_by))
        finally:
            # cancelled by the front (or the stream closed): stop the engine and keep this
            # replica busy until it has stopped, so Serve's count of ongoing jobs stays true
            if not running.done():
                stop.set()
                self.counts["stopped"] += 1
                with contextlib.suppress(BaseException):
                    await running

    def _work(
        self, task: GenerationTask, emit: Callable[..., None], stop: threading.Event
    ) -> tuple[Any, dict[str, Any]]:
        import engine.style as engine

        if task.pack is not None:  # checked on the front (engine.style.packs); cheap to redo
            import torch

            engine.register_style(
                task.style, {k: torch.from_numpy(v) for k, v in task.pack.items()}
            )
        # one photo past HUGE_PIXELS decoded at a time, as on a single box
        big = task.pixel_count > HUGE_PIXELS
        with self.huge_decode if big else contextlib.nullcontext():
            pixels = decode_image(task.data)
        if stop.is_set():
            raise engine.GenerationCancelled("generation cancelled")
        emit("starting", f"Generating a {task.style} avatar...")
        avatar = engine.generate(
            pixels,
            task.style,
            engine.GenerationOptions(**task.options),
            progress=lambda percent, stage, message: emit("progress", percent, stage, message),
            cancelled=stop.is_set,
        )
        likeness = measure_likeness(pixels)
        return avatar, likeness


@dataclasses.dataclass
class ServeGeneration:
    """The front's side: a handle on the deployment. `capacity` is how many jobs the
    deployment runs at once at most (max replicas x jobs per replica): a front's queue
    with as many slots keeps jobs past it in its own fair line, where their position is
    reported, rather than in Serve's."""

    handle: Any  # ray.serve.handle.DeploymentHandle
    capacity: int = 1

    async def generate(
        self,
        task: GenerationTask,
        report: Callable[[str, float, str, str], None],
        cancelled: asyncio.Event,
    ) -> Generated:
        """Run `task` on a replica. `report(kind, percent, stage, message)` gets each event
        on the event loop (kind "starting": the photo is decoded; "progress": the engine's
        own 0..100). Setting `cancelled` cancels the request on the replica; this then
        raises `webapi.generate.Cancelled`. Errors the job caused come back as their own
        class (`ImageError`, `NoFaceDetectedError`, ...); a lost replica or no deployment
        is `Unavailable` (503)."""
        response = self.handle.options(stream=True).generate.remote(task)
        stopper = asyncio.ensure_future(cancelled.wait())
        stopper.add_done_callback(lambda f: None if f.cancelled() else response.cancel())
        try:
            async for event in response:
                if event[0] == "done":
                    return event[1]
                if event[0] == "starting":
                    report("starting", 0.0, "starting", event[1])
                else:
                    report("progress", float(event[1]), event[2], event[3])
            raise Unavailable("the generation replica ended the job without an avatar")
        except RequestCancelledError:
            raise Cancelled() from None
        except RayTaskError as e:  # the job's own error, raised on the replica
            cause = e.cause if isinstance(e.cause, BaseException) else None
            if cause is None:
                raise Unavailable(
                    f"avatar generation failed on its replica ({type(e).__name__})"
                ) from None
            raise cause from None
        except (RayActorError, RayServeException, RayError) as e:
            if cancelled.is_set():
                raise Cancelled() from None
            log.warning("a generation replica was lost: %s", e)
            raise Unavailable(
                "avatar generation is unavailable right now (its cluster replica was lost); "
                "try again in a minute"
            ) from None
        finally:
            stopper.cancel()


def parse_replicas(text: str) -> tuple[int, int]:
    """(min, max) replicas of `--gen-replicas MIN:MAX` (or one number N for N:N); a
    ValueError names what is wrong."""
    parts = text.strip().split(":")
    if len(parts) > 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(
            f"--gen-replicas must be MIN:MAX (whole numbers, e.g. 1:4) or one number, not {text[:40]!r}"
        )
    low, high = int(parts[0]), int(parts[-1])
    check_replicas(low, high)
    return low, high


def check_replicas(min_replicas: int, max_replicas: int) -> None:
    if not 0 <= min_replicas <= max_replicas:
        raise ValueError(
            f"generation replicas: the minimum ({min_replicas}) must be 0 or more and at most "
            f"the maximum ({max_replicas})"
        )
    if not 1 <= max_replicas <= MAX_REPLICAS:
        raise ValueError(
            f"generation replicas: the maximum must be 1 to {MAX_REPLICAS}, not {max_replicas}"
        )


def deploy(
    min_replicas: int = 1,
    max_replicas: int = 1,
    *,
    replica_cpus: float = 1.0,
    gpus: bool | None = None,
    max_ongoing: int = 1,
) -> ServeGeneration:
    """Deploy (or update) the generation application on the connected cluster and return
    the front's handle on it. `gpus`: one GPU per replica; None: when the cluster has any.
    Serve runs without its HTTP proxies: fronts call it by handle only."""
    check_replicas(min_replicas, max_replicas)
    if not 1 <= max_ongoing <= MAX_ONGOING:
        raise ValueError(f"max_ongoing must be 1 to {MAX_ONGOING}, not {max_ongoing}")
    if not 0 < replica_cpus <= 256:
        raise ValueError(f"replica_cpus must be more than 0 and at most 256, not {replica_cpus}")
    if gpus is None:
        gpus = ray.cluster_resources().get("GPU", 0) > 0
    actor_options: dict[str, Any] = {"num_cpus": replica_cpus}
    if gpus:
        actor_options["num_gpus"] = 1
    serve.start(proxy_location="Disabled")
    deployment = serve.deployment(
        StyleReplica,
        name=DEPLOYMENT,
        ray_actor_options=actor_options,
        max_ongoing_requests=max_ongoing,
        autoscaling_config={
            "min_replicas": min_replicas,
            "initial_replicas": max(min_replicas, 1),
            "max_replicas": max_replicas,
            "target_ongoing_requests": max_ongoing,
        },
    )
    capacity = max_replicas * max_ongoing
    handle = serve.run(deployment.bind(max_ongoing, capacity), name=APP, route_prefix=None)
    log.info(
        "generation deployed on Serve: %d..%d replicas, %g CPU%s each",
        min_replicas,
        max_replicas,
        replica_cpus,
        " and a GPU" if gpus else "",
    )
    return ServeGeneration(handle, capacity=capacity)


def connect_generation(capacity: int | None = None) -> ServeGeneration:
    """The handle on the generation application another front deployed; a
    `GenerationUnavailable` says how to deploy it when there is none. `capacity`: None asks
    a replica (synchronously: call it before the front's event loop runs)."""
    try:
        handle = serve.get_app_handle(APP)
        if capacity is None:
            capacity = int(handle.capacity.remote().result(timeout_s=CONNECT_TIMEOUT_S))
    except (RayServeException, ValueError, RayError, TimeoutError) as e:
        raise GenerationUnavailable(
            f'the cluster has no working generation deployment ("{APP}" on Ray Serve): start '
            f"a front with --gen-replicas MIN:MAX to deploy it ({type(e).__name__}: {e})"
        ) from None
    return ServeGeneration(handle, capacity=capacity)


def undeploy() -> None:
    """Delete the generation application (tests, and an operator taking it down)."""
    serve.delete(APP)
