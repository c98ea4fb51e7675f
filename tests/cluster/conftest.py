"""A Ray cluster on this machine for the cluster tests: Ray's own multi-node simulation
(`ray.cluster_utils.Cluster`: a head and two worker nodes, each a raylet of its own), with
the directory and RenderNode actors of webapi/cluster on it, and a front app on top.

The cluster is made once per test session (about 6 s); each test starts the render boxes
it needs (`boxes`) and stops them after, so the directory is empty between tests. A test
that removes a node (`remove`) gets a fresh one in its place before the next test's boxes
start (`refill`)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import ray
from ray.actor import ActorHandle
from ray.cluster_utils import Cluster

from webapi.cluster.connect import NAMESPACE
from webapi.cluster.directory import directory
from webapi.cluster.node import start_node, stop_node

# the head notices a dead node within about a second (defaults: 3 s period, 5 misses)
SYSTEM_CONFIG = {"health_check_period_ms": 500, "health_check_failure_threshold": 2}
WORKER_NODES = 2  # render boxes' nodes (the head holds the directory, no box)


@dataclass
class Box:
    id: str
    node_id: str
    slots: int
    handle: ActorHandle


@dataclass
class RayCluster:
    cluster: Cluster
    address: str
    nodes: list[Any]  # the worker nodes' handles (ray._private.node.Node), head excluded
    node_ids: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def boxes(
        self,
        slots: Sequence[int],
        data_root: Path,
        *,
        on: Sequence[int] | None = None,
        size: int = 512,
    ) -> Iterator[list[Box]]:
        """A RenderNode with slots[i] slots on worker node on[i] (default: the first
        len(slots) nodes), the data directory `data_root` (its avatars/ and backgrounds/
        are made); stopped (drained, left, killed) after, so the directory is clean for
        the next test. A context manager: `with ray_cluster.boxes((2, 3), tmp) as boxes`."""
        if len(slots) > WORKER_NODES:
            raise ValueError(f"at most {WORKER_NODES} boxes (one per worker node)")
        (data_root / "avatars").mkdir(parents=True, exist_ok=True)
        (data_root / "backgrounds").mkdir(parents=True, exist_ok=True)
        self.refill()
        chosen = [self.node_ids[i] for i in (on if on is not None else range(len(slots)))]
        made: list[Box] = []
        try:
            for node_id, n in zip(chosen, slots, strict=True):
                handle = start_node(node_id, n, data_root=data_root, size=size)
                made.append(Box(node_id[:16], node_id, n, handle))
            yield made
        finally:
            for box in made:
                with contextlib.suppress(Exception):  # a removed node's box is dead already
                    stop_node(box.handle)
            self.wait_empty()

    def wait_empty(self, timeout: float = 20.0) -> dict[str, Any]:
        """The directory once it holds no box (a dead box is dropped by its health loop)."""
        end = time.monotonic() + timeout
        while True:
            snap = ray.get(directory().snapshot.remote())
            if not snap["boxes"] or time.monotonic() > end:
                return snap
            time.sleep(0.2)

    def remove(self, node_id: str) -> None:
        """Kill worker node `node_id` as a machine dies (no goodbye). Safe off the main
        thread; `refill` (main thread: Ray registers signal handlers) adds one back."""
        i = self.node_ids.index(node_id)
        node = self.nodes.pop(i)
        self.node_ids.pop(i)
        self.cluster.remove_node(node, allow_graceful=False)

    def refill(self) -> None:
        """Worker nodes added until there are WORKER_NODES again (after a `remove`)."""
        while len(self.nodes) < WORKER_NODES:
            fresh = self.cluster.add_node(num_cpus=1)
            self.nodes.append(fresh)
            self.node_ids.append(fresh.node_id)

    def app(self, tmp: Path, **options: Any) -> Any:
        """A front: the aiohttp app on ClusterSessions (this process is its driver)."""
        from webapi.app import create_app
        from webapi.cluster.front import ClusterSessions

        return create_app(
            sessions=ClusterSessions(), db=tmp / "front.db", avatar_root=tmp / "avatars", **options
        )


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 2,
            "include_dashboard": False,
            "_system_config": SYSTEM_CONFIG,
        },
    )
    nodes = [cluster.add_node(num_cpus=1) for _ in range(WORKER_NODES)]
    ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False)
    try:
        yield RayCluster(cluster, cluster.address, nodes, [n.node_id for n in nodes])
    finally:
        with contextlib.suppress(Exception):
            ray.get(directory().stop.remote(), timeout=10)
        ray.shutdown()
        cluster.shutdown()
