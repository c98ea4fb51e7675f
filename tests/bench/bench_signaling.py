"""Benchmark: signaling round trip, a single box against a cluster front (issue 19).

One round trip is `POST /api/sessions` with a real aiortc offer (camera-less, as a page
with browser tracking off sends) until its answer arrives; each session is closed right
after (`DELETE`), so every open is a fresh one on an idle server. The offer is made before
the clock starts: what is timed is the server's side (the single box: checks, slot, a peer
connection and its ICE gathering; the front: the same checks, the directory's `reserve` and
`commit`, and the RenderNode's open over Ray).

    .venv/bin/python -m tests.bench.bench_signaling [--n 30] [--slots 3]

The cluster is Ray's local simulation (`ray.cluster_utils.Cluster`: a head holding the
directory, one worker node with a RenderNode), on this machine. Prints p50/p95/mean/max
per mode and the machine. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from tests.bench.machine import machine
from tests.streaming.peers import Client
from webapi.app import create_app


async def round_trips(app, n: int) -> list[float]:
    """Seconds per POST /api/sessions (offer in, answer out), `n` times, each closed after."""
    took: list[float] = []
    async with TestClient(TestServer(app)) as http:
        for _ in range(n + 1):  # the first warms up (renderer views, imports): not counted
            client = Client()
            sdp = await client.offer()
            body = {"sdp": sdp, "type": "offer", "tracking": "none"}
            start = time.perf_counter()
            resp = await http.post("/api/sessions", json=body)
            answer = await resp.json()
            elapsed = time.perf_counter() - start
            if resp.status != 200:
                raise SystemExit(f"open failed: {resp.status} {answer}")
            await client.close()
            closed = await http.delete(f"/api/sessions/{answer['session']}?token={answer['token']}")
            if closed.status != 200:
                raise SystemExit(f"close failed: {closed.status} {await closed.text()}")
            took.append(elapsed)
    return took[1:]


@contextlib.contextmanager
def cluster(slots: int, root: Path) -> Iterator[None]:
    """A head (the directory) and one worker node running a RenderNode with `slots`."""
    import ray
    from ray.cluster_utils import Cluster

    from webapi.cluster.connect import NAMESPACE
    from webapi.cluster.node import start_node, stop_node

    sim = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    node = sim.add_node(num_cpus=1)
    ray.init(address=sim.address, namespace=NAMESPACE, log_to_driver=False)
    handle = None
    try:
        (root / "avatars").mkdir(parents=True, exist_ok=True)
        handle = start_node(node.node_id, slots, data_root=root)
        yield
    finally:
        if handle is not None:
            with contextlib.suppress(Exception):
                stop_node(handle)
        ray.shutdown()
        sim.shutdown()


def figures(name: str, took: list[float]) -> str:
    ms = sorted(t * 1000 for t in took)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return (
        f"{name:<22} {len(ms):>4} {statistics.median(ms):>9.1f} {p95:>9.1f} "
        f"{statistics.fmean(ms):>9.1f} {ms[-1]:>9.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=30, help="opens per mode (default 30)")
    parser.add_argument("--slots", type=int, default=3, help="the render box's slots")
    args = parser.parse_args()
    if args.n < 1:
        parser.error("--n must be at least 1")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        app = create_app(db=root / "single.db", avatar_root=root / "avatars")
        rows.append(figures("single box", asyncio.run(round_trips(app, args.n))))
        with cluster(args.slots, root):
            from webapi.cluster.front import ClusterSessions

            app = create_app(
                sessions=ClusterSessions(), db=root / "front.db", avatar_root=root / "avatars"
            )
            rows.append(figures("cluster front + Ray", asyncio.run(round_trips(app, args.n))))
    print(f"signaling round trip (POST /api/sessions, offer -> answer), {machine()}")
    print(f"{'mode':<22} {'n':>4} {'p50 ms':>9} {'p95 ms':>9} {'mean ms':>9} {'max ms':>9}")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
