"""Joining a Ray cluster: the front (`digigami serve --ray`) and each render box
(`digigami worker --ray`) connect here, in the one namespace every Digigami actor lives in.

A Ray driver needs a Ray node on its own machine, and a render box must BE a node (its
RenderNode actor is pinned to it, and its media sockets are on it): when this machine runs
no Ray node yet, `join` runs `ray start --address ADDRESS` first (the ordinary way a
machine joins a cluster), then connects to that local node.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import ray

NAMESPACE = "digigami"
START_WITHIN = 120.0  # seconds `ray start` may take to join the cluster

log = logging.getLogger(__name__)

__all__ = ["NAMESPACE", "join", "this_node"]


def join(address: str, *, resources: Mapping[str, float] | None = None) -> None:
    """Connect this process to the cluster at `address` (host:port of its head, or "auto").
    A machine that runs no Ray node yet first becomes one (`ray start`), offering
    `resources` (e.g. {"digigami_render": 1}); a machine that is a node already is only
    connected to. Idempotent: a process connected already stays as it is."""
    if ray.is_initialized():
        return
    if not isinstance(address, str) or not address.strip():
        raise ValueError("the Ray address must be the cluster head's host:port (or auto)")
    if address != "auto" and not _local_node_of(address):
        _ray_start(address, resources or {})
        address = "auto"  # the node just started on this machine
    ray.init(
        address=address,
        namespace=NAMESPACE,
        log_to_driver=False,  # actors log on their own nodes; a front stays readable
        ignore_reinit_error=True,
    )


def this_node() -> str:
    """The Ray node id (hex) this process runs on."""
    return ray.get_runtime_context().get_node_id()


def _local_node_of(address: str) -> bool:
    """Whether a Ray process of the cluster at `address` (its head's GCS) runs on this
    machine: raylets and the head are started with that address as a flag."""
    try:
        from ray._private.services import find_gcs_addresses

        found = find_gcs_addresses()
    except Exception:  # an internal helper moved: `ray start` says if it is one already
        return False
    port = address.rsplit(":", 1)[-1]
    return any(a == address or a.rsplit(":", 1)[-1] == port for a in found)


def _ray_start(address: str, resources: Mapping[str, float]) -> None:
    ray_cli = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    cmd = [ray_cli, "start", "--address", address, "--disable-usage-stats"]
    if resources:
        cmd += ["--resources", json.dumps(dict(resources))]
    log.info("joining the Ray cluster at %s: %s", address, " ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=START_WITHIN)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise RuntimeError(
            f"`ray start --address {address}` failed (exit {done.returncode}): " + " | ".join(tail)
        )


def leave() -> None:
    """Disconnect this process from the cluster (the Ray node it joined keeps running:
    `ray stop` ends it)."""
    ray.shutdown()
